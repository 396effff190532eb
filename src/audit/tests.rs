use std::io::Write;

use sha2::{Digest, Sha256};

use super::clock::{format_utc, parse_rfc3339};
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
