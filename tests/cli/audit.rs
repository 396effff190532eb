//! The hash-chained audit log: append, verify, tamper detection, concurrency.

use std::fs;
use std::path::{Path, PathBuf};

use passport::audit::*;
use serde_json::{json, Value};

fn fresh() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    (dir, path)
}

/// A log with five entries, ops `op1`..`op5`.
fn five() -> (tempfile::TempDir, PathBuf, Vec<Entry>) {
    let (dir, path) = fresh();
    let log = AuditLog::new(path.clone());
    let entries = (1..=5)
        .map(|i| {
            log.append(
                &format!("op{i}"),
                json!({"token": format!("serial-{i}"), "npub": "npub1xyz"}),
            )
            .unwrap()
        })
        .collect();
    (dir, path, entries)
}

fn lines(path: &Path) -> Vec<String> {
    fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

fn write_lines(path: &Path, lines: &[String]) {
    let mut s = lines.join("\n");
    s.push('\n');
    fs::write(path, s).unwrap();
}

fn verify_err(path: &Path) -> AuditError {
    AuditLog::new(path.to_path_buf())
        .verify()
        .expect_err("tampered log must not verify")
}

#[test]
fn five_appends_verify_and_head_is_last_hash() {
    let (_dir, path, entries) = five();
    let report = AuditLog::new(path.clone()).verify().unwrap();
    assert_eq!(report.entries, 5);
    assert_eq!(report.head, entries[4].hash);

    for (i, e) in entries.iter().enumerate() {
        assert_eq!(e.seq, i as u64 + 1, "seq counts from 1");
        assert_eq!(e.op, format!("op{}", i + 1));
        assert_eq!(e.hash, e.compute_hash());
        assert_eq!(e.hash.len(), 64);
        let want_prev = if i == 0 {
            GENESIS_PREV.to_owned()
        } else {
            entries[i - 1].hash.clone()
        };
        assert_eq!(e.prev, want_prev);
    }

    // Each line is exactly the returned entry.
    let on_disk: Vec<Entry> = lines(&path)
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(on_disk, entries);
    assert!(fs::read_to_string(&path).unwrap().ends_with('\n'));

    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}

#[test]
fn new_does_not_touch_disk_and_missing_or_empty_log_verifies_empty() {
    let (_dir, path) = fresh();
    let log = AuditLog::new(path.clone());
    assert!(!path.exists());
    let report = log.verify().unwrap();
    assert_eq!(report.entries, 0);
    assert_eq!(report.head, GENESIS_PREV);
    assert!(!path.exists(), "verify must not create the log");

    fs::write(&path, "").unwrap();
    let report = log.verify().unwrap();
    assert_eq!((report.entries, report.head.as_str()), (0, GENESIS_PREV));

    // Appending to an empty file starts the chain.
    let e = log.append("init", json!({})).unwrap();
    assert_eq!((e.seq, e.prev.as_str()), (1, GENESIS_PREV));
}

#[test]
fn report_serialises() {
    let (_dir, path, entries) = five();
    let report = AuditLog::new(path).verify().unwrap();
    let v = serde_json::to_value(&report).unwrap();
    assert_eq!(v, json!({"entries": 5, "head": entries[4].hash}));
}

#[test]
fn details_keys_are_canonically_ordered() {
    let (_dir, path) = fresh();
    let e = AuditLog::new(path.clone())
        .append("attest", json!({"z": 1, "a": {"y": true, "b": [1, 2]}}))
        .unwrap();
    let line = &lines(&path)[0];
    assert!(
        line.contains(r#""details":{"a":{"b":[1,2],"y":true},"z":1}"#),
        "{line}"
    );
    assert!(line.starts_with(r#"{"seq":1,"time":""#), "{line}");
    assert!(
        line.ends_with(&format!(r#","hash":"{}"}}"#, e.hash)),
        "{line}"
    );
}

#[test]
fn edited_entry_is_named() {
    let (_dir, path, _) = five();
    let mut ls = lines(&path);
    let mut v: Value = serde_json::from_str(&ls[2]).unwrap();
    v["details"]["token"] = json!("serial-EVIL");
    ls[2] = serde_json::to_string(&v).unwrap();
    write_lines(&path, &ls);

    let err = verify_err(&path);
    assert!(
        matches!(err, AuditError::Edited { seq: 3, line: 3 }),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "audit log entry 3 (line 3) was edited: its hash does not match its contents"
    );
    assert_eq!(err.line(), Some(3));
}

#[test]
fn edited_seq_is_caught_as_an_edit() {
    let (_dir, path, _) = five();
    let mut ls = lines(&path);
    ls[2] = ls[2].replacen(r#""seq":3"#, r#""seq":7"#, 1);
    write_lines(&path, &ls);
    let err = verify_err(&path);
    assert!(
        matches!(err, AuditError::Edited { seq: 7, line: 3 }),
        "{err:?}"
    );
}

#[test]
fn removed_entry_is_named() {
    let (_dir, path, _) = five();
    let mut ls = lines(&path);
    ls.remove(1);
    write_lines(&path, &ls);

    let err = verify_err(&path);
    assert!(
        matches!(
            err,
            AuditError::Removed {
                expected: 2,
                found: 3,
                line: 2
            }
        ),
        "{err:?}"
    );
    let msg = err.to_string();
    assert!(msg.contains("entry 2 is missing"), "{msg}");
    assert!(msg.contains("line 2"), "{msg}");
}

#[test]
fn removed_first_entry_is_named() {
    let (_dir, path, _) = five();
    let mut ls = lines(&path);
    ls.remove(0);
    write_lines(&path, &ls);
    let err = verify_err(&path);
    assert!(
        matches!(
            err,
            AuditError::Removed {
                expected: 1,
                found: 2,
                line: 1
            }
        ),
        "{err:?}"
    );
}

#[test]
fn swapped_entries_are_named() {
    let (_dir, path, _) = five();
    let mut ls = lines(&path);
    ls.swap(1, 2);
    write_lines(&path, &ls);

    let err = verify_err(&path);
    assert!(
        matches!(
            err,
            AuditError::Reordered {
                expected: 2,
                found: 3,
                line: 2
            }
        ),
        "{err:?}"
    );
    let msg = err.to_string();
    assert!(msg.contains("entry 3 (line 2) is out of order"), "{msg}");
}

#[test]
fn duplicated_entry_is_named() {
    let (_dir, path, _) = five();
    let mut ls = lines(&path);
    let dup = ls[1].clone();
    ls.insert(2, dup);
    write_lines(&path, &ls);
    let err = verify_err(&path);
    assert!(
        matches!(
            err,
            AuditError::Reordered {
                expected: 3,
                found: 2,
                line: 3
            }
        ),
        "{err:?}"
    );
}

#[test]
fn truncated_last_line_is_named() {
    let (_dir, path, _) = five();
    let text = fs::read_to_string(&path).unwrap();
    let last_start = text[..text.len() - 1].rfind('\n').unwrap() + 1;
    let cut = last_start + (text.len() - last_start) / 2;
    fs::write(&path, &text[..cut]).unwrap();

    let err = verify_err(&path);
    assert!(matches!(err, AuditError::Truncated { line: 5 }), "{err:?}");
    assert!(err.to_string().contains("line 5"), "{err}");
}

#[test]
fn missing_final_newline_is_truncation() {
    let (_dir, path, _) = five();
    let text = fs::read_to_string(&path).unwrap();
    fs::write(&path, text.trim_end_matches('\n')).unwrap();
    let err = verify_err(&path);
    assert!(matches!(err, AuditError::Truncated { line: 5 }), "{err:?}");
}

#[test]
fn garbled_line_is_named() {
    let (_dir, path, _) = five();
    let mut ls = lines(&path);
    ls[1] = "this is not json".into();
    write_lines(&path, &ls);
    let err = verify_err(&path);
    assert!(
        matches!(err, AuditError::Garbled { line: 2, .. }),
        "{err:?}"
    );

    let mut ls = lines(&path);
    ls[1] = String::new();
    write_lines(&path, &ls);
    let err = verify_err(&path);
    assert!(
        matches!(err, AuditError::Garbled { line: 2, .. }),
        "{err:?}"
    );
}

#[test]
fn rehashed_entry_with_wrong_prev_is_named() {
    let (_dir, path, _) = five();
    let mut ls = lines(&path);
    let mut e: Entry = serde_json::from_str(&ls[2]).unwrap();
    e.prev = "ab".repeat(32);
    e.hash = e.compute_hash();
    ls[2] = serde_json::to_string(&e).unwrap();
    write_lines(&path, &ls);

    let err = verify_err(&path);
    assert!(
        matches!(err, AuditError::PrevMismatch { seq: 3, line: 3 }),
        "{err:?}"
    );
    assert!(err.to_string().contains("entry 3 (line 3)"), "{err}");
}

#[test]
fn replaced_entry_breaks_the_next_link() {
    // Rewrite entry 2 consistently (new details, new hash): entry 3 no longer follows.
    let (_dir, path, _) = five();
    let mut ls = lines(&path);
    let mut e: Entry = serde_json::from_str(&ls[1]).unwrap();
    e.details = json!({"token": "forged"});
    e.hash = e.compute_hash();
    ls[1] = serde_json::to_string(&e).unwrap();
    write_lines(&path, &ls);

    let err = verify_err(&path);
    assert!(
        matches!(err, AuditError::PrevMismatch { seq: 3, line: 3 }),
        "{err:?}"
    );
}

#[test]
fn non_canonical_line_is_named() {
    let (_dir, path, _) = five();
    let mut ls = lines(&path);
    let v: Value = serde_json::from_str(&ls[3]).unwrap();
    ls[3] = serde_json::to_string_pretty(&v).unwrap().replace('\n', " ");
    write_lines(&path, &ls);
    let err = verify_err(&path);
    assert!(
        matches!(err, AuditError::NotCanonical { seq: 4, line: 4 }),
        "{err:?}"
    );

    // An extra field the hash does not cover is caught too.
    let (_dir, path, _) = five();
    let mut ls = lines(&path);
    ls[0] = ls[0].replacen('{', r#"{"note":"hi","#, 1);
    write_lines(&path, &ls);
    let err = verify_err(&path);
    assert!(
        matches!(err, AuditError::NotCanonical { seq: 1, line: 1 }),
        "{err:?}"
    );
}

#[test]
fn append_refuses_on_a_broken_log() {
    let (_dir, path, _) = five();
    let mut ls = lines(&path);
    ls.remove(1);
    write_lines(&path, &ls);
    let before = fs::read(&path).unwrap();

    // Seen as the binary sees it: the crate's error, with its exit-code kind.
    let err = passport::Error::from(
        AuditLog::new(path.clone())
            .append("seal", json!({}))
            .unwrap_err(),
    );
    let msg = err.to_string();
    assert!(msg.contains("passport audit verify"), "{msg}");
    assert!(msg.contains("entry 2 is missing"), "{msg}");
    assert_eq!(err.kind(), "rejected");
    assert_eq!(
        fs::read(&path).unwrap(),
        before,
        "broken log left untouched"
    );

    // Truncated tail: appending would glue two lines together, so it is refused too.
    let (_dir, path, _) = five();
    let text = fs::read_to_string(&path).unwrap();
    fs::write(&path, &text[..text.len() - 10]).unwrap();
    assert!(AuditLog::new(path).append("seal", json!({})).is_err());
}

#[test]
fn audit_error_converts_to_crate_error() {
    let (_dir, path, _) = five();
    let mut ls = lines(&path);
    ls.swap(1, 2);
    write_lines(&path, &ls);
    let err: passport::Error = verify_err(&path).into();
    assert_eq!(err.kind(), "rejected");
    assert!(err.to_string().contains("out of order"), "{err}");
}

#[test]
fn concurrent_appends_never_fork_the_chain() {
    let (_dir, path) = fresh();
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let path = path.clone();
            std::thread::spawn(move || {
                let log = AuditLog::new(path);
                for i in 0..25 {
                    log.append("unseal", json!({"thread": t, "i": i})).unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }

    let log = AuditLog::new(path.clone());
    let report = log.verify().unwrap();
    assert_eq!(report.entries, 100);
    let entries = log.entries().unwrap();
    let seqs: Vec<u64> = entries.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, (1..=100).collect::<Vec<_>>());
    assert_eq!(report.head, entries[99].hash);
    for t in 0..4 {
        let mine: Vec<_> = entries
            .iter()
            .filter(|e| e.details["thread"] == t)
            .map(|e| e.details["i"].as_u64().unwrap())
            .collect();
        assert_eq!(mine, (0..25).collect::<Vec<_>>(), "thread {t}");
    }
}

#[test]
fn fake_time_pins_the_clock_in_utc() {
    // The variable is the whole process's (every test of tests/cli, and the `passport`
    // processes they start, would see it): set only around the one append. A test that
    // reads the clock meanwhile gets the pinned time; none of them checks the time.
    std::env::set_var(FAKE_TIME_ENV, "2024-02-29T23:30:00-01:00");
    let (_dir, path) = fresh();
    let e = AuditLog::new(path).append("init", json!({}));
    std::env::remove_var(FAKE_TIME_ENV);
    let e = e.unwrap();
    assert_eq!(e.time, "2024-03-01T00:30:00Z");
}

#[test]
fn real_time_is_rfc3339_utc() {
    let (_dir, path) = fresh();
    let e = AuditLog::new(path).append("init", json!({})).unwrap();
    assert!(e.time.ends_with('Z'), "{}", e.time);
    assert_eq!(&e.time[4..5], "-");
    assert_eq!(&e.time[10..11], "T");
}
