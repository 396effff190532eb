//! One process at a time changes a home.
//!
//! Two `dkg round1` racing in one home used to both compute a package for the same seat
//! (an honest member then looks like an equivocator). Every command that changes a home
//! holds an exclusive advisory lock (`flock(2)` via `File::try_lock`) on `<home>/lock`
//! for as long as it runs, and re-reads its state after taking it. The lock dies with
//! the process, so a crash never leaves a home locked. The holder writes who it is into
//! the lock file so the one that waits can say whom it waited for, and clears it when
//! done. `init` creates the (empty) file with the home.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::Path;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::{Error, Result};

/// How long a second process waits for the lock before giving up (override:
/// `PASSPORT_LOCK_WAIT`, in seconds).
pub const DEFAULT_WAIT: Duration = Duration::from_secs(10);

/// Held while a command changes a home; released on drop (or process exit).
#[derive(Debug)]
pub struct HomeLock {
    file: File,
}

impl Drop for HomeLock {
    /// Clears the holder record, so a home at rest is byte-for-byte what it was (the
    /// lock is released when the file closes, right after).
    fn drop(&mut self) {
        let _ = self.file.set_len(0);
    }
}

#[derive(Serialize, Deserialize)]
struct Holder {
    pid: u32,
    command: String,
    since: u64,
}

/// The wait from `PASSPORT_LOCK_WAIT`, else [`DEFAULT_WAIT`].
pub fn wait_from_env() -> Duration {
    std::env::var("PASSPORT_LOCK_WAIT")
        .ok()
        .and_then(|s| s.trim().parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map(Duration::from_secs_f64)
        .unwrap_or(DEFAULT_WAIT)
}

/// Takes the home's lock for `command` (a label such as "dkg round1"), waiting up to
/// `wait` for another holder to finish.
pub fn acquire(root: &Path, command: &str, wait: Duration) -> Result<HomeLock> {
    let path = root.join("lock");
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(|e| Error::io(&path, e))?;
    let start = Instant::now();
    loop {
        match file.try_lock() {
            Ok(()) => break,
            Err(TryLockError::WouldBlock) if start.elapsed() < wait => {
                std::thread::sleep(Duration::from_millis(50));
            }
            Err(TryLockError::WouldBlock) => {
                return Err(Error::Busy {
                    root: root.to_owned(),
                    holder: describe_holder(&mut file),
                    secs: wait.as_secs_f64(),
                });
            }
            Err(TryLockError::Error(e)) => return Err(Error::io(&path, e)),
        }
    }
    let me = Holder {
        pid: std::process::id(),
        command: command.to_owned(),
        since: crate::clock::now(),
    };
    // Best effort: the record only improves the waiting side's message.
    let _ = file.set_len(0).and_then(|_| {
        file.rewind()?;
        file.write_all(&serde_json::to_vec(&me).expect("holder serializes"))
    });
    Ok(HomeLock { file })
}

fn describe_holder(file: &mut File) -> String {
    let mut text = String::new();
    let holder = file
        .rewind()
        .and_then(|_| file.take(4096).read_to_string(&mut text))
        .ok()
        .and_then(|_| serde_json::from_str::<Holder>(&text).ok());
    match holder {
        Some(h) => {
            let since = crate::clock::rfc3339(h.since).unwrap_or_else(|| "an unknown time".into());
            format!(
                "another passport process (pid {}, `passport {}`, since {since})",
                h.pid,
                // The file is writable by whoever owns the home; show only plain text.
                h.command
                    .chars()
                    .filter(|c| c.is_ascii_graphic() || *c == ' ')
                    .take(64)
                    .collect::<String>()
            )
        }
        None => "another passport process".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_holder_waits_then_names_the_first() {
        let dir = tempfile::tempdir().unwrap();
        let first = acquire(dir.path(), "dkg round1", DEFAULT_WAIT).unwrap();
        let err = acquire(dir.path(), "dkg round2", Duration::from_millis(200)).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("`passport dkg round1`"), "{msg}");
        assert!(
            msg.contains(&format!("pid {}", std::process::id())),
            "{msg}"
        );
        drop(first);
        acquire(dir.path(), "dkg round2", Duration::from_millis(200)).unwrap();
    }
}
