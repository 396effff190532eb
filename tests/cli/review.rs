//! The signing review on a real terminal emulator (tmux, `capture-pane`): a request
//! crafted to repaint the screen shows its real text, and its fake line cannot pass
//! for a field of the review.
//!
//! The attack (issue 10, point 1): whoever hands a member a signing request chooses
//! its content. `…mallory\r\x1b[2K  content: gm, have a nice day` printed raw returns to
//! the start of the line, erases it and writes a harmless-looking field in its place.

use std::path::Path;

use serde_json::Value;

use crate::util;
use util::tmux::{sh_quote, Tmux};
use util::{json_ok, make_member, passport, write_roster};

const ATTACK: &str =
    "I hereby transfer everything to mallory\r\x1b[2K  content: gm, have a nice day";
const TAG: &str = "x\x1b[1A";

/// The terminal really obeys the attack: printed raw, "mallory" is gone and the fake
/// field is all that shows. (Without this, the test below could pass on a terminal
/// that ignores control characters.)
#[test]
fn tmux_executes_the_attack_when_printed_raw() {
    let tmp = tempfile::tempdir().unwrap();
    let raw = tmp.path().join("raw.txt");
    std::fs::write(&raw, format!("  content:     {ATTACK}\n")).unwrap();
    let t = Tmux::start(
        "raw",
        &format!("cat {}; echo printed; read x", sh_quote(&raw)),
    );
    let screen = t.wait_for("printed", "the raw text");
    assert!(
        !screen.contains("mallory"),
        "tmux did not execute CR + ESC[2K:\n{screen}"
    );
    assert!(
        screen.contains("  content: gm, have a nice day"),
        "{screen}"
    );
}

#[test]
fn review_of_a_spoofing_request_shows_the_real_text() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let alice = make_member(root, "alice");
    let bob = make_member(root, "bob");
    let mallory = make_member(root, "mallory");
    let roster = write_roster(root, "roster.json", 2, &[&alice, &bob], Some(&alice.npub));
    let dealt = root.join("dealt");
    let mut c = passport(&alice.home);
    c.args(["keygen", "deal", "--roster"])
        .arg(&roster)
        .arg("--out")
        .arg(&dealt);
    let deal = json_ok(c);
    let group = deal["group"].as_str().unwrap().to_owned();
    for m in [&alice, &bob] {
        let mut c = passport(&m.home);
        c.args(["keygen", "import", "--roster"])
            .arg(&roster)
            .arg(util::pkg(&dealt, &format!("dealer-share-{}", m.name)));
        json_ok(c);
    }
    // Mallory holds no seat; the group file is public, so she can coordinate.
    let mut c = passport(&mallory.home);
    c.args(["group", "import"]).arg(util::pkg(&dealt, "group"));
    json_ok(c);
    let s = root.join("s");
    for m in [&alice, &bob] {
        let mut c = passport(&m.home);
        c.args(["sign", "commit", "--group", &group, "--out"])
            .arg(&s);
        json_ok(c);
    }
    let template = root.join("evil.json");
    std::fs::write(
        &template,
        serde_json::json!({ "kind": 1, "content": ATTACK, "tags": [["t", TAG]] }).to_string(),
    )
    .unwrap();
    let mut c = passport(&mallory.home);
    c.args(["sign", "request", "--group", &group, "--event"])
        .arg(&template)
        .arg("--in")
        .arg(&s)
        .arg("--out")
        .arg(&s);
    let req = json_ok(c);
    let req_file = Path::new(req["package"].as_str().unwrap()).to_path_buf();
    let request: Value = serde_json::from_slice(&std::fs::read(&req_file).unwrap()).unwrap();
    let payload: Value = serde_json::from_str(request["content"].as_str().unwrap()).unwrap();
    let event_id = payload["message"]["event"]["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let bin = assert_cmd::cargo::cargo_bin("passport");
    let cmd = format!(
        "env -u PASSPORT_HOME -u PASSPORT_PASSPHRASE -u PASSPORT_AGE_IDENTITY {} --home {} \
         sign share --request {} --out {}; echo \"exit status $?\"; read x",
        sh_quote(&bin),
        sh_quote(&alice.home),
        sh_quote(&req_file),
        sh_quote(&s)
    );
    let t = Tmux::start("share", &cmd);
    let screen = t.wait_for("[y/N]", "the review's question");
    let rows: Vec<&str> = screen.lines().collect();

    // The attacker's real words are on the screen.
    assert!(screen.contains("mallory"), "{screen}");
    // Exactly one content field, and it carries the markers and the fake text inside it.
    let content: Vec<&&str> = rows
        .iter()
        .filter(|r| r.starts_with("  content:"))
        .collect();
    assert_eq!(content.len(), 1, "one content field expected:\n{screen}");
    assert!(
        content[0].contains("mallory⟨CR⟩⟨ESC⟩[2K  content: gm, have a nice day"),
        "{screen}"
    );
    // The tag's cursor-up did not hide the row above it.
    let tag = rows
        .iter()
        .position(|r| r.starts_with("  tag:"))
        .unwrap_or_else(|| panic!("no tag row:\n{screen}"));
    assert!(rows[tag].contains(r#"["t", "x⟨ESC⟩[1A"]"#), "{screen}");
    assert!(rows[tag - 1].starts_with("  content:"), "{screen}");
    // No row of attacker text passes for a field: every row of the review starts with
    // passport's label or its gutter.
    let start = rows
        .iter()
        .position(|r| r.starts_with("About to sign"))
        .expect("review header");
    for r in &rows[start + 1..] {
        if r.starts_with("Sign event") || r.trim().is_empty() {
            break;
        }
        let labelled = r.len() > 2 && r.starts_with("  ") && !r[2..].starts_with(' ');
        assert!(labelled || r.starts_with("             "), "{r}\n{screen}");
    }
    // The other facts of the review.
    assert!(
        screen.contains(&format!("event id:    {event_id}")),
        "the id that will be signed:\n{screen}"
    );
    assert!(
        screen.contains("kind:        1: short text note"),
        "{screen}"
    );
    assert!(
        screen.contains(&format!(
            "coordinator: NOT A ROSTER MEMBER {}",
            mallory.npub
        )),
        "{screen}"
    );
    let created = rows
        .iter()
        .find(|r| r.starts_with("  created at:"))
        .unwrap_or_else(|| panic!("no created at:\n{screen}"));
    assert!(
        created.contains("Z (") && created.contains(" ago)"),
        "RFC 3339 date and distance from now: {created}"
    );
    assert!(
        screen.contains(&format!("Sign event {}…", &event_id[..16])),
        "{screen}"
    );

    // Declining writes nothing and exits 5.
    t.send("n");
    let screen = t.wait_for("exit status", "passport to exit");
    assert!(screen.contains("exit status 5"), "{screen}");
    assert!(screen.contains("signing declined"), "{screen}");
}
