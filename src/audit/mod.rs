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

mod clock;
mod entry;
mod error;
mod verify;

pub use clock::now;
pub use entry::{Entry, VerifyReport};
pub use error::{AuditError, Error};

use entry::canonical;
use error::io;
use verify::{verify_bytes, verify_from};

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

#[cfg(test)]
mod tests;
