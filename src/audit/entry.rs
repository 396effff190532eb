//! One entry of the log, the hash that chains it, and the canonical form it is written in.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::HASH_DOMAIN;

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
    pub(super) fn to_line(&self) -> String {
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

/// `v` with the keys of every object sorted, whatever map type `serde_json` uses.
pub(super) fn canonical(v: &serde_json::Value) -> serde_json::Value {
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
