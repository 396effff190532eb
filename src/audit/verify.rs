//! Re-deriving every hash and link of the chain, naming the first line that is wrong.

use super::{AuditError, Entry, VerifyReport, GENESIS_PREV};

/// Verifies the bytes of a whole log.
pub(super) fn verify_bytes(bytes: &[u8]) -> Result<VerifyReport, AuditError> {
    verify_from(bytes, 1, GENESIS_PREV.to_owned())
}

/// Checks `bytes`, the entries from number `first` on, whose predecessor's hash is
/// `head`.
pub(super) fn verify_from(
    bytes: &[u8],
    first: u64,
    head: String,
) -> Result<VerifyReport, AuditError> {
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
