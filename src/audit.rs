//! A hash-chained, append-only audit log of HSM token operations.
//!
//! Every token operation (init, seal, unseal for signing, attest, migrate) appends
//! one line of JSON (JSON Lines) to the log:
//!
//! ```text
//! {"seq":1,"time":"2025-01-02T03:04:05Z","op":"seal","details":{...},"prev":"000…0","hash":"…"}
//! ```
//!
//! * `seq` counts from **1**; in an intact log entry `n` is on line `n`.
//! * `time` is the UTC time of the append, RFC 3339.
//! * `prev` is the `hash` of the entry before it (64 zeros for the first entry).
//! * `hash` is `sha256("passport audit v1\0" || canonical JSON of {seq, time, op,
//!   details, prev})`, hex encoded. The canonical JSON is `serde_json` output of those
//!   fields in that order, without whitespace, with the keys of every object in
//!   `details` sorted (we sort them ourselves, so the `preserve_order` feature of
//!   `serde_json` cannot change the hash).
//!
//! [`AuditLog::verify`] re-derives every hash and checks the chain, naming the first
//! line that is wrong: an edited entry, a removed, duplicated or reordered entry, a
//! broken `prev` link, or a garbled or truncated line. [`AuditLog::append`] verifies
//! the existing log first and refuses to extend a broken one.
//!
//! The chain detects edits by anyone who does not recompute every later hash; it is
//! not a signature. To make rewriting the whole log detectable too, record the `head`
//! that `verify` reports somewhere else (a ticket, a Nostr note, a printout).
//!
//! **Never log secrets.** The log is a plain-text file. Callers must pass only public
//! details — group ids, member ids, key fingerprints and hashes, npubs, token serial
//! numbers, event ids — never secret shares, nonces, passphrases, PINs or seeds.
//!
//! Concurrent appends (threads or processes) are serialised with an exclusive
//! advisory lock on the log file held across "read the chain head" and "write the
//! new line", so lines never interleave and the chain never forks. Each append is
//! fsynced before the lock is released.
//!
//! For tests, the hidden environment variable `PASSPORT_FAKE_TIME` (an RFC 3339
//! time such as `2025-01-02T03:04:05Z`) replaces the clock; it is normalised to UTC.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use time::format_description::well_known::Rfc3339;
use time::{OffsetDateTime, UtcOffset};

/// Domain separator prepended to the canonical JSON before hashing.
pub const HASH_DOMAIN: &[u8] = b"passport audit v1\0";

/// The `prev` of the first entry.
pub const GENESIS_PREV: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Hidden clock override for tests (RFC 3339).
pub const FAKE_TIME_ENV: &str = "PASSPORT_FAKE_TIME";

/// An append-only audit log at a path. Creating one does not touch the disk.
#[derive(Clone, Debug)]
pub struct AuditLog {
    path: PathBuf,
    /// The length and state of the log as this handle last verified and extended it:
    /// later appends verify only what was added since, not the whole log again (which
    /// made every token operation cost O(entries)). The first append of a handle
    /// verifies everything.
    verified: std::sync::Arc<std::sync::Mutex<Option<(u64, VerifyReport)>>>,
}

/// One line of the log.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Entry {
    /// Position in the log, starting at 1.
    pub seq: u64,
    /// UTC time of the append, RFC 3339.
    pub time: String,
    /// The operation: `init`, `seal`, `unseal`, `attest`, `migrate`, ...
    pub op: String,
    /// Public details only (ids, hashes, npubs) — never secrets.
    pub details: serde_json::Value,
    /// `hash` of the previous entry; 64 zeros for the first.
    pub prev: String,
    /// Hex sha256 over the domain separator and the canonical entry without `hash`.
    pub hash: String,
}

/// What the hash covers, in its fixed field order.
#[derive(Serialize)]
struct Hashed<'a> {
    seq: u64,
    time: &'a str,
    op: &'a str,
    details: &'a serde_json::Value,
    prev: &'a str,
}

impl Entry {
    /// Recomputes this entry's hash from its other fields (`hash` itself is ignored).
    pub fn compute_hash(&self) -> String {
        let details = canonical(&self.details);
        let body = serde_json::to_vec(&Hashed {
            seq: self.seq,
            time: &self.time,
            op: &self.op,
            details: &details,
            prev: &self.prev,
        })
        .expect("serialising JSON values to memory cannot fail");
        let mut h = Sha256::new();
        h.update(HASH_DOMAIN);
        h.update(&body);
        hex::encode(h.finalize())
    }

    /// The exact line (without the newline) passport writes for this entry.
    fn to_line(&self) -> String {
        let canon = Entry {
            details: canonical(&self.details),
            ..self.clone()
        };
        serde_json::to_string(&canon).expect("serialising JSON values to memory cannot fail")
    }
}

/// The result of a successful [`AuditLog::verify`].
#[derive(Serialize, Clone, Debug, PartialEq, Eq)]
pub struct VerifyReport {
    /// Number of entries in the log.
    pub entries: u64,
    /// `hash` of the last entry; 64 zeros for an empty log.
    pub head: String,
}

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

fn io(path: &std::path::Path, source: std::io::Error) -> AuditError {
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

impl AuditLog {
    /// A log at `path`. Does not touch the disk.
    pub fn new(path: PathBuf) -> Self {
        AuditLog {
            path,
            verified: Default::default(),
        }
    }

    /// Where the log lives.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one entry and fsyncs it. `details` must hold public data only.
    ///
    /// Creates the file (mode 0600) if it does not exist. Refuses to extend a log that
    /// fails verification.
    pub fn append(&self, op: &str, details: serde_json::Value) -> Result<Entry, AuditError> {
        let path = &self.path;
        let time = now()?;
        let mut opts = OpenOptions::new();
        opts.read(true).append(true).create(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
        let mut file = opts.open(path).map_err(|e| io(path, e))?;
        // Held until `file` is dropped at the end of this function.
        file.lock().map_err(|e| io(path, e))?;

        let len = file.metadata().map_err(|e| io(path, e))?.len();
        let known = self
            .verified
            .lock()
            .expect("audit cache")
            .clone()
            .filter(|(at, _)| *at <= len);
        let (start, first, head) = match known {
            Some((at, r)) => (at, r.entries + 1, r.head),
            None => (0, 1, GENESIS_PREV.to_owned()),
        };
        file.seek(std::io::SeekFrom::Start(start))
            .map_err(|e| io(path, e))?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes).map_err(|e| io(path, e))?;
        let created = len == 0;
        let report = verify_from(&bytes, first, head).map_err(|e| AuditError::Unverified {
            path: path.clone(),
            source: Box::new(e),
        })?;

        let mut entry = Entry {
            seq: report.entries + 1,
            time,
            op: op.to_owned(),
            details: canonical(&details),
            prev: report.head,
            hash: String::new(),
        };
        entry.hash = entry.compute_hash();
        let mut line = entry.to_line();
        line.push('\n');
        file.write_all(line.as_bytes()).map_err(|e| io(path, e))?;
        file.sync_all().map_err(|e| io(path, e))?;
        *self.verified.lock().expect("audit cache") = Some((
            len + line.len() as u64,
            VerifyReport {
                entries: entry.seq,
                head: entry.hash.clone(),
            },
        ));
        drop(file);
        if created {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                // The new file's directory entry made durable (as `fsutil::sync_dir`).
                #[cfg(unix)]
                std::fs::File::open(dir)
                    .and_then(|d| d.sync_all())
                    .map_err(|e| io(dir, e))?;
            }
        }
        Ok(entry)
    }

    /// Reads the whole log and checks every entry and link. A missing or empty log
    /// verifies as 0 entries.
    pub fn verify(&self) -> Result<VerifyReport, AuditError> {
        let io = |source| AuditError::Io {
            path: self.path.clone(),
            source,
        };
        let mut file = match File::open(&self.path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return verify_bytes(&[]);
            }
            Err(e) => return Err(io(e)),
        };
        // Shared lock: do not read a line an appender is halfway through writing.
        file.lock_shared().map_err(io)?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes).map_err(io)?;
        drop(file);
        verify_bytes(&bytes)
    }

    /// Reads all entries without verifying them (lines that do not parse are skipped).
    /// Use [`AuditLog::verify`] first if the answer matters.
    pub fn entries(&self) -> Result<Vec<Entry>, AuditError> {
        let bytes = match fs::read(&self.path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io(&self.path, e)),
        };
        Ok(bytes
            .split(|&b| b == b'\n')
            .filter_map(|l| serde_json::from_slice(l).ok())
            .collect())
    }
}

/// Verifies the bytes of a whole log.
fn verify_bytes(bytes: &[u8]) -> Result<VerifyReport, AuditError> {
    verify_from(bytes, 1, GENESIS_PREV.to_owned())
}

/// Checks `bytes`, the entries from number `first` on, whose predecessor's hash is
/// `head`.
fn verify_from(bytes: &[u8], first: u64, head: String) -> Result<VerifyReport, AuditError> {
    let mut lines: Vec<&[u8]> = bytes.split(|&b| b == b'\n').collect();
    // A well-formed log ends with '\n', leaving one empty piece after it.
    let last = lines.pop().unwrap_or_default();
    let truncated = !last.is_empty();
    if truncated {
        lines.push(last);
    }

    let mut head = head;
    for (i, raw) in lines.iter().enumerate() {
        let line = i as u64 + first;
        if truncated && i + 1 == lines.len() {
            return Err(AuditError::Truncated { line });
        }
        let entry = parse(raw).map_err(|detail| AuditError::Garbled { line, detail })?;
        if entry.compute_hash() != entry.hash {
            return Err(AuditError::Edited {
                seq: entry.seq,
                line,
            });
        }
        if entry.to_line().as_bytes() != *raw {
            return Err(AuditError::NotCanonical {
                seq: entry.seq,
                line,
            });
        }
        let expected = line;
        if entry.seq != expected {
            let found = entry.seq;
            let later = lines[i + 1..]
                .iter()
                .any(|l| parse(l).is_ok_and(|e| e.seq == expected));
            return Err(if found > expected && !later {
                AuditError::Removed {
                    expected,
                    found,
                    line,
                }
            } else {
                AuditError::Reordered {
                    expected,
                    found,
                    line,
                }
            });
        }
        if entry.prev != head {
            return Err(AuditError::PrevMismatch {
                seq: entry.seq,
                line,
            });
        }
        head = entry.hash;
    }
    Ok(VerifyReport {
        entries: first - 1 + lines.len() as u64,
        head,
    })
}

fn parse(raw: &[u8]) -> Result<Entry, String> {
    if raw.is_empty() {
        return Err("the line is empty".into());
    }
    serde_json::from_slice(raw).map_err(|e| e.to_string())
}

/// `v` with the keys of every object sorted, whatever map type `serde_json` uses.
fn canonical(v: &serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match v {
        Value::Object(map) => {
            let mut pairs: Vec<_> = map.iter().collect();
            pairs.sort_by(|a, b| a.0.cmp(b.0));
            Value::Object(
                pairs
                    .into_iter()
                    .map(|(k, v)| (k.clone(), canonical(v)))
                    .collect(),
            )
        }
        Value::Array(items) => Value::Array(items.iter().map(canonical).collect()),
        other => other.clone(),
    }
}

/// The current UTC time as RFC 3339, or `PASSPORT_FAKE_TIME` if set.
pub fn now() -> Result<String, AuditError> {
    let t = match std::env::var(FAKE_TIME_ENV) {
        Ok(s) => parse_rfc3339(&s).ok_or(AuditError::FakeTime(s))?,
        Err(_) => OffsetDateTime::now_utc(),
    };
    format_utc(t).ok_or(AuditError::Unwritable(t))
}

fn format_utc(t: OffsetDateTime) -> Option<String> {
    t.checked_to_offset(UtcOffset::UTC)?.format(&Rfc3339).ok()
}

/// RFC 3339 (`YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)`), by the `time` crate; the
/// space that RFC 3339 §5.6 lets readers accept instead of `T` is refused, so a time
/// has one spelling.
fn parse_rfc3339(s: &str) -> Option<OffsetDateTime> {
    if s.as_bytes().get(10) == Some(&b' ') {
        return None;
    }
    OffsetDateTime::parse(s, &Rfc3339).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A handle verifies only what was added since its last append, including entries
    /// another writer added meanwhile, and still refuses a tail that does not chain.
    #[test]
    fn appends_verify_what_was_added_since() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        let a = AuditLog::new(path.clone());
        let b = AuditLog::new(path.clone());
        for i in 0..3 {
            a.append("a", serde_json::json!({ "i": i })).unwrap();
        }
        for i in 0..2 {
            b.append("b", serde_json::json!({ "i": i })).unwrap();
        }
        assert_eq!(a.append("a", serde_json::json!({})).unwrap().seq, 6);
        assert_eq!(AuditLog::new(path.clone()).verify().unwrap().entries, 6);
        // A garbled line appended behind the handle's back is refused.
        std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap()
            .write_all(b"{not an entry}\n")
            .unwrap();
        assert!(a.append("a", serde_json::json!({})).is_err());
    }

    fn utc(s: &str) -> Option<String> {
        parse_rfc3339(s).and_then(format_utc)
    }

    #[test]
    fn rfc3339_parses_and_normalises_to_utc() {
        assert_eq!(
            utc("2025-01-02T03:04:05Z").as_deref(),
            Some("2025-01-02T03:04:05Z")
        );
        assert_eq!(
            utc("2025-01-02T03:04:05+01:30").as_deref(),
            Some("2025-01-02T01:34:05Z")
        );
        assert_eq!(
            utc("2025-01-01T23:00:00-02:00").as_deref(),
            Some("2025-01-02T01:00:00Z")
        );
        assert_eq!(
            utc("2025-01-02t03:04:05.25z").as_deref(),
            Some("2025-01-02T03:04:05.25Z")
        );
        // RFC 3339 puts no bound on the fraction; beyond nanoseconds it is cut.
        assert_eq!(
            utc("2025-01-02T03:04:05.1234567891Z").as_deref(),
            Some("2025-01-02T03:04:05.123456789Z")
        );
    }

    #[test]
    fn rfc3339_rejects_garbage() {
        for bad in [
            "",
            "now",
            "2025-01-02",
            "2025-01-02T03:04:05",
            "2025-01-02 03:04:05Z",
            "2025-13-02T03:04:05Z",
            "2025-02-30T03:04:05Z",
            "2025-01-02T24:00:00Z",
            "2025-01-02T03:04:60Z",
            "2025-01-02T03:04:05.Z",
            "2025-01-02T03:04:05+0100",
            "2025-01-02T03:04:05+01:00x",
            "+025-01-02T03:04:05Z",
            "2025-01-02T03:04:05+1:000",
        ] {
            assert!(parse_rfc3339(bad).is_none(), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn canonical_sorts_nested_keys() {
        let v = serde_json::json!({"b": 1, "a": {"d": [{"z": 1, "y": 2}], "c": null}});
        assert_eq!(
            serde_json::to_string(&canonical(&v)).unwrap(),
            r#"{"a":{"c":null,"d":[{"y":2,"z":1}]},"b":1}"#
        );
    }

    #[test]
    fn hash_is_domain_separated_sha256_of_fixed_field_order() {
        let e = Entry {
            seq: 1,
            time: "2025-01-02T03:04:05Z".into(),
            op: "init".into(),
            details: serde_json::json!({"token": "abc"}),
            prev: GENESIS_PREV.into(),
            hash: String::new(),
        };
        let body = format!(
            r#"{{"seq":1,"time":"2025-01-02T03:04:05Z","op":"init","details":{{"token":"abc"}},"prev":"{GENESIS_PREV}"}}"#
        );
        let mut h = Sha256::new();
        h.update(b"passport audit v1\0");
        h.update(body.as_bytes());
        assert_eq!(e.compute_hash(), hex::encode(h.finalize()));
    }
}
