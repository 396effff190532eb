//! `passport bunker connect URI`: the nostrconnect:// URIs clients write today, answered
//! through a real relay on loopback. The client is nostr-tools (tests/js, run with the
//! machine's node), an implementation independent of the rust-nostr crates passport
//! uses; its signed event is checked with libsecp256k1.

use crate::util;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::{json, Value};
use util::*;

/// tests/js with its node_modules (scripts/test.sh runs `npm ci --prefix tests/js`).
fn js_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/js");
    assert!(
        dir.join("node_modules/nostr-tools").is_dir(),
        "nostr-tools is not installed: run `npm ci --prefix tests/js` (scripts/test.sh does)"
    );
    dir
}

/// One JSON line of the node client's stdout; at its end (it exited), what it said.
fn next_line(r: &mut impl BufRead, child: &mut KillOnDrop, what: &str) -> Value {
    let mut line = String::new();
    r.read_line(&mut line).unwrap();
    if line.trim().is_empty() {
        let status = child.0.wait().unwrap();
        panic!(
            "the nostr-tools client exited ({status}) before printing {what}; its stderr is above"
        );
    }
    serde_json::from_str(&line).unwrap_or_else(|e| panic!("{what}: {e}: {line:?}"))
}

#[test]
fn nostr_tools_client_uri_with_perms_is_accepted_and_signs() {
    let relay = start_relay();
    let dir = tempfile::tempdir().unwrap();
    let g = ci_group(dir.path(), None);
    let (_serve, lines) =
        Serve::start_with(&g.ci.home, "127.0.0.1:0", &["--relay", relay.url.as_str()]);
    assert!(lines[0].starts_with("bunker://"), "{lines:?}");

    // The node client prints its URI once it listens for the reply (bounded: it gives up
    // by itself after 60 s, so every read below ends).
    let mut node = KillOnDrop(
        Command::new("node")
            .arg("--experimental-websocket")
            .arg(js_dir().join("nostrconnect-client.mjs"))
            .arg(&relay.url)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("node (20 or later) runs the nostr-tools client"),
    );
    let mut out = BufReader::new(node.0.stdout.take().unwrap());
    let uri = next_line(&mut out, &mut node, "its URI")["uri"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        uri.contains("&perms=sign_event%3A1%2Cnip44_encrypt&"),
        "{uri}"
    );

    // Without a terminal and without --accept-perms nothing is granted.
    let mut c = passport(&g.ci.home);
    c.args(["bunker", "connect", &uri]);
    expect_error_line(&mut c, 5, &["--accept-perms", "--methods/--kinds"]);
    let mut c = passport(&g.ci.home);
    c.args(["bunker", "clients", "list"]);
    assert_eq!(json_ok(c)["clients"], json!([]));

    let mut c = passport(&g.ci.home);
    c.args([
        "bunker",
        "connect",
        &uri,
        "--accept-perms",
        "--max-uses",
        "5",
    ]);
    let r = json_ok(c);
    assert_eq!(r["action"], "connected and allowed");
    assert_eq!(r["grant_from"], "perms");
    assert_eq!(r["asked"], json!(["sign_event:1", "nip44_encrypt"]));
    assert_eq!(
        r["grant"],
        json!({"methods": ["get_public_key", "sign_event", "nip44_encrypt"], "kinds": [1], "max_uses": 5})
    );
    assert_eq!(
        r["meta"],
        json!({"name": "Tools & Co", "url": "https://example.org/app?x=1", "image": "https://example.org/icon.png"})
    );

    let ev = next_line(&mut out, &mut node, "the signed event")["event"].clone();
    assert!(node.0.wait().unwrap().success());
    verify_event_independently(&ev);
    let group_hex = nostr::PublicKey::parse(&g.group).unwrap().to_hex();
    assert_eq!(ev["pubkey"], group_hex);
    assert_eq!(ev["kind"], 1);
    assert_eq!(
        ev["content"],
        "signed through nostr-tools by a bunker nobody holds"
    );

    // The client's hint is listed beside its grant, as a claim; the use was counted.
    let mut c = passport(&g.ci.home);
    c.args(["bunker", "clients", "list"]);
    let list = json_ok(c);
    let client = &list["clients"][0];
    assert_eq!(client["meta"]["name"], "Tools & Co");
    assert_eq!(client["uses"], 1);
    let out = passport(&g.ci.home)
        .args(["bunker", "clients", "list"])
        .output()
        .unwrap();
    let human = String::from_utf8_lossy(&out.stderr);
    assert!(
        human.contains(r#"client says: name "Tools & Co", url "https://example.org/app?x=1", image "https://example.org/icon.png" (unverified)"#),
        "{human}"
    );

    // A name that would rewrite the terminal is kept as it came and shown as markers.
    let other = nostr::Keys::generate().public_key().to_hex();
    let evil = format!(
        "nostrconnect://{other}?relay={}&perms=ping&name=%1B%5B2KEvil",
        relay.url
    );
    let out = passport(&g.ci.home)
        .args(["bunker", "connect", &evil, "--accept-perms"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let told = String::from_utf8_lossy(&out.stderr);
    for needle in [
        "connected and allowed npub1",
        r#"client says: name "⟨ESC⟩[2KEvil" (unverified)"#,
        "grant: methods: get_public_key  kinds: any  uses: unlimited  rate: unlimited  expires: never",
    ] {
        assert!(told.contains(needle), "{needle}: {told}");
    }
    assert!(!told.contains('\u{1b}'), "{told:?}");
    let mut c = passport(&g.ci.home);
    c.args(["bunker", "clients", "list"]);
    let list = json_ok(c);
    let evil_client = list["clients"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["pubkey"] == other.as_str())
        .unwrap();
    assert_eq!(evil_client["meta"]["name"], "\u{1b}[2KEvil");
    let out = passport(&g.ci.home)
        .args(["bunker", "clients", "list"])
        .output()
        .unwrap();
    let human = String::from_utf8_lossy(&out.stderr);
    assert!(human.contains(r#"name "⟨ESC⟩[2KEvil""#), "{human}");
    assert!(!human.contains('\u{1b}'), "{human:?}");
}

#[test]
fn connect_names_the_bad_part_of_a_uri_and_escapes_hints() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    let pk = "79be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798";
    for (uri, needle) in [
        (
            format!("bunker://{pk}?relay=ws://127.0.0.1:1"),
            "that is a bunker:// URI",
        ),
        (
            "nostrconnect://npub1abc?relay=ws://127.0.0.1:1".into(),
            "the client key \"npub1abc\"",
        ),
        (
            format!("nostrconnect://{pk}?secret=x"),
            "no relay= parameter",
        ),
        (
            format!("nostrconnect://{pk}?relay=http://127.0.0.1:1"),
            "relay \"http://127.0.0.1:1\"",
        ),
        (
            format!("nostrconnect://{pk}?relay=ws://127.0.0.1:1&perms=sign_event:note"),
            "perms: sign_event:note",
        ),
    ] {
        let mut c = passport(&home);
        c.args(["bunker", "connect", &uri, "--accept-perms"]);
        expect_error_line(&mut c, 2, &["not a nostrconnect:// URI", needle]);
    }
    // --accept-perms takes the client's perms; --methods/--kinds are the operator's own.
    let out = passport(&home)
        .args(["bunker", "connect", "x", "--accept-perms", "--kinds", "1"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let e = String::from_utf8_lossy(&out.stderr);
    assert!(e.contains("--accept-perms") && e.contains("--kinds"), "{e}");
    // A relay that would move the cursor is shown as markers in the error.
    let mut c = passport(&home);
    c.args([
        "bunker",
        "connect",
        &format!("nostrconnect://{pk}?relay=%1B%5B1A"),
    ]);
    let e = expect_error_line(&mut c, 2, &["relay \"⟨ESC⟩[1A\""]);
    assert!(!e.contains('\u{1b}'), "{e:?}");
}

#[test]
fn a_fourth_connect_parameter_is_kept_as_the_clients_hint() {
    use nostr::nips::nip46::NostrConnectURI;
    let relay = start_relay();
    let dir = tempfile::tempdir().unwrap();
    let g = ci_group(dir.path(), None);
    let (_serve, lines) =
        Serve::start_with(&g.ci.home, "127.0.0.1:0", &["--relay", relay.url.as_str()]);
    let uri = NostrConnectURI::parse(&lines[0]).unwrap();
    let bunker = *uri.remote_signer_public_key().unwrap();
    let secret = uri.secret().unwrap().to_owned();
    let meta = r#"{"name":"Raw\u001b[2K","url":"https://raw.example","extra":1}"#;
    let replies = relay.rt.block_on(async {
        let raw = super::bunker::Raw::new(&relay.url, bunker).await;
        raw.ask(
            "c1",
            "connect",
            json!([bunker.to_hex(), secret, "sign_event:1", meta]),
            false,
            1,
            std::time::Duration::from_secs(20),
        )
        .await
    });
    assert_eq!(replies.len(), 1, "{replies:?}");
    assert_eq!(replies[0].0["result"], "ack", "{replies:?}");
    let mut c = passport(&g.ci.home);
    c.args(["bunker", "clients", "list"]);
    let list = json_ok(c);
    assert_eq!(
        list["clients"][0]["meta"],
        json!({"name": "Raw\u{1b}[2K", "url": "https://raw.example"})
    );
    let out = passport(&g.ci.home)
        .args(["bunker", "clients", "list"])
        .output()
        .unwrap();
    let human = String::from_utf8_lossy(&out.stderr);
    assert!(
        human
            .contains(r#"client says: name "Raw⟨ESC⟩[2K", url "https://raw.example" (unverified)"#),
        "{human}"
    );
}

#[test]
fn the_operator_sees_the_request_escaped_and_answers_it_at_a_prompt() {
    use util::tmux::{sh_quote, Tmux};
    let relay = start_relay();
    let dir = tempfile::tempdir().unwrap();
    let m = make_member(dir.path(), "op");
    let app = nostr::Keys::generate().public_key().to_hex();
    let uri = format!(
        "nostrconnect://{app}?relay={}&secret=abc&perms=sign_event%3A1%2Cget_relays&name=%1B%5B2KEvil%0Dx",
        relay.url
    );
    let bin = assert_cmd::cargo::cargo_bin("passport");
    let cmd = format!(
        "env -u PASSPORT_HOME -u PASSPORT_PASSPHRASE -u PASSPORT_AGE_IDENTITY {} --home {} \
         bunker connect '{uri}'; echo \"exit status $?\"; read x",
        sh_quote(&bin),
        sh_quote(&m.home),
    );
    let clients = || {
        let mut c = passport(&m.home);
        c.args(["bunker", "clients", "list"]);
        json_ok(c)["clients"].clone()
    };

    // Declined: nothing is granted.
    let t = Tmux::start("perms-no", &cmd);
    let screen = t.wait_for("[y/N]", "the question");
    for needle in [
        r#"says: name "⟨ESC⟩[2KEvil⟨CR⟩x" (unverified)"#,
        r#"asks for: "sign_event:1", "get_relays""#,
        r#"not granted (this bunker does not answer them): "get_relays""#,
        "grant: methods: get_public_key,sign_event  kinds: 1  uses: unlimited",
        "Grant this to the client?",
    ] {
        assert!(screen.contains(needle), "{needle}:\n{screen}");
    }
    t.send("n");
    let screen = t.wait_for("exit status", "the command to end");
    assert!(screen.contains("exit status 5"), "{screen}");
    assert!(screen.contains("nothing was granted"), "{screen}");
    assert_eq!(clients(), json!([]));

    // Accepted: the grant the question showed is the one created.
    let t = Tmux::start("perms-yes", &cmd);
    t.wait_for("[y/N]", "the question");
    t.send("y");
    let screen = t.wait_for("exit status", "the command to end");
    assert!(screen.contains("exit status 0"), "{screen}");
    assert!(screen.contains("connected and allowed npub1"), "{screen}");
    let list = clients();
    assert_eq!(list[0]["pubkey"], app.as_str());
    assert_eq!(
        list[0]["grant"]["methods"],
        json!(["get_public_key", "sign_event"])
    );
    assert_eq!(list[0]["grant"]["kinds"], json!([1]));
}
