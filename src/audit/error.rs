//! Why the log cannot be read, extended or trusted.

use std::path::PathBuf;

use time::OffsetDateTime;

use super::FAKE_TIME_ENV;

/// Errors of the audit log. Why the log failed verification names the line (1-based).
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("could not read the audit log {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("line {line} of the audit log is cut short: the log ends in the middle of a line")]
    Truncated { line: u64 },
    #[error("line {line} of the audit log is not a valid entry: {detail}")]
    Garbled { line: u64, detail: String },
    #[error(
        "audit log entry {seq} (line {line}) was edited: its hash does not match its contents"
    )]
    Edited { seq: u64, line: u64 },
    #[error(
        "audit log entry {seq} (line {line}) was altered: it is not byte-for-byte the line passport wrote"
    )]
    NotCanonical { seq: u64, line: u64 },
    #[error(
        "audit log entry {expected} is missing: line {line} holds entry {found}, so entries were removed"
    )]
    Removed {
        expected: u64,
        found: u64,
        line: u64,
    },
    #[error(
        "audit log entry {found} (line {line}) is out of order: entry {expected} belongs there, so entries were reordered or duplicated"
    )]
    Reordered {
        expected: u64,
        found: u64,
        line: u64,
    },
    #[error(
        "audit log entry {seq} (line {line}) does not follow the entry before it: its prev hash does not match, so an entry was removed or replaced"
    )]
    PrevMismatch { seq: u64, line: u64 },
    /// An append to a log that does not verify.
    #[error(
        "refusing to append to the audit log {} because it failed verification ({source}); run `passport audit verify` and restore the log before recording more operations",
        .path.display()
    )]
    Unverified {
        path: PathBuf,
        source: Box<AuditError>,
    },
    #[error(
        "{FAKE_TIME_ENV} is set to {0:?}, which is not an RFC 3339 time like 2025-01-02T03:04:05Z"
    )]
    FakeTime(String),
    #[error("the time {0} cannot be written as RFC 3339 in UTC")]
    Unwritable(OffsetDateTime),
}

pub(super) fn io(path: &std::path::Path, source: std::io::Error) -> AuditError {
    AuditError::Io {
        path: path.to_owned(),
        source,
    }
}

/// The audit layer's error under its short name.
pub type Error = AuditError;

impl AuditError {
    /// The 1-based line the problem was found on, if any.
    pub fn line(&self) -> Option<u64> {
        match self {
            AuditError::Io { .. } | AuditError::FakeTime(_) | AuditError::Unwritable(_) => None,
            AuditError::Unverified { source, .. } => source.line(),
            AuditError::Truncated { line }
            | AuditError::Garbled { line, .. }
            | AuditError::Edited { line, .. }
            | AuditError::NotCanonical { line, .. }
            | AuditError::Removed { line, .. }
            | AuditError::Reordered { line, .. }
            | AuditError::PrevMismatch { line, .. } => Some(*line),
        }
    }
}
