//! Human approval through NIP-46 `auth_url`: a grant with `--ask`/`--ask-kinds` makes the
//! bunker answer `auth_url` with a link to serve's approval page, and the real answer on
//! the same request id once `passport bunker approve` (another process, writing serve's
//! database) decides; `deny` and the approval timeout end it with an error. Driven by a
//! raw client and by nostr-tools' BunkerSigner (its `onauth` callback).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use nostr::{EventBuilder, Kind};
use nostr_sdk::RelayPoolNotification;
use serde_json::{json, Value};
use tokio::sync::broadcast::Receiver;

use super::{bunker_pk, secret_of, Raw};
use crate::util::*;

/// Bound on every wait for a reply: generous, the machine may be busy.
pub(super) const WAIT: Duration = Duration::from_secs(30);

/// Sends `{id, method, params}` from `raw` (NIP-44), without waiting.
pub(super) async fn send(raw: &Raw, id: &str, method: &str, params: Value) {
    let body = json!({"id": id, "method": method, "params": params}).to_string();
    let content = nostr::nips::nip44::encrypt(
        raw.keys.secret_key(),
        &raw.bunker,
        body,
        nostr::nips::nip44::Version::default(),
    )
    .unwrap();
    let ev = EventBuilder::new(Kind::NostrConnect, content)
        .tag(nostr::Tag::public_key(raw.bunker))
        .sign_with_keys(&raw.keys)
        .unwrap();
    raw.client.send_event(&ev).await.unwrap();
}

/// The next reply to request `id` (panics, naming `what`, when none comes in time).
pub(super) async fn reply(
    raw: &Raw,
    news: &mut Receiver<RelayPoolNotification>,
    id: &str,
    what: &str,
) -> Value {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let n = match tokio::time::timeout_at(deadline, news.recv()).await {
            Ok(Ok(n)) => n,
            Ok(Err(tokio::sync::broadcast::error::RecvError::Lagged(_))) => continue,
            _ => panic!("no reply to request {id} ({what}) within {WAIT:?}"),
        };
        let RelayPoolNotification::Event { event, .. } = n else {
            continue;
        };
        if event.kind != Kind::NostrConnect || event.pubkey != raw.bunker {
            continue;
        }
        let text = nostr::nips::nip44::decrypt(raw.keys.secret_key(), &raw.bunker, &event.content)
            .unwrap();
        let v: Value = serde_json::from_str(&text).unwrap();
        if v["id"] == id {
            return v;
        }
    }
}

/// The pending id of an `auth_url` reply pointing at serve `url`'s approval page.
fn auth_url_id(v: &Value, serve_url: &str) -> String {
    assert_eq!(v["result"], "auth_url", "{v}");
    let url = v["error"].as_str().unwrap_or_else(|| panic!("no URL: {v}"));
    let prefix = format!("{serve_url}/console/pending/");
    let id = url
        .strip_prefix(&prefix)
        .unwrap_or_else(|| panic!("{url} is not under {prefix}"));
    assert!(
        id.len() == 16 && id.chars().all(|c| c.is_ascii_hexdigit()),
        "{id}"
    );
    id.to_owned()
}

fn bunker_cmd(home: &Path, args: &[&str]) -> assert_cmd::Command {
    let mut c = passport(home);
    c.arg("bunker")
        .args(args)
        .env_remove("PASSPORT_SERVE_RELAYS");
    c
}

/// A connected raw client of the bunker at `uri`, with its reply stream open.
async fn connected(relay: &str, uri: &str) -> (Raw, Receiver<RelayPoolNotification>) {
    let raw = Raw::new(relay, bunker_pk(uri)).await;
    let mut news = raw.client.notifications();
    send(&raw, "c", "connect", json!(["", secret_of(uri)])).await;
    assert_eq!(
        reply(&raw, &mut news, "c", "connect").await["result"],
        "ack"
    );
    (raw, news)
}

fn note(kind: u16, content: &str) -> Value {
    json!([
        json!({"kind": kind, "content": content, "tags": [["t", "x"]],
        "created_at": nostr::Timestamp::now().as_secs()})
        .to_string()
    ])
}

#[test]
fn asked_sign_event_gets_auth_url_and_the_signed_event_once_approved() {
    let relay = start_relay();
    let dir = tempfile::tempdir().unwrap();
    let g = ci_group(dir.path(), None);
    let group_hex = nostr::PublicKey::parse(&g.group).unwrap().to_hex();
    let (serve, lines) = Serve::start_with(
        &g.ci.home,
        "127.0.0.1:0",
        &[
            "--relay",
            relay.url.as_str(),
            "--ask",
            "sign_event,nip44_encrypt",
        ],
    );
    let uri = lines[0].clone();
    let home = g.ci.home.clone();
    let id = relay.rt.block_on(async {
        let (raw, mut news) = connected(&relay.url, &uri).await;
        // get_public_key is not asked about.
        send(&raw, "k", "get_public_key", json!([])).await;
        let k = reply(&raw, &mut news, "k", "get_public_key").await;
        assert_eq!(k["result"], group_hex.as_str());

        let content = "hello operator\u{1b}[31m red";
        send(&raw, "s1", "sign_event", note(1, content)).await;
        let first = reply(&raw, &mut news, "s1", "the auth_url").await;
        let id = auth_url_id(&first, &serve.url);

        let v = json_ok(bunker_cmd(&home, &["pending"]));
        assert_eq!(v["pending"].as_array().unwrap().len(), 1, "{v}");
        let p = &v["pending"][0];
        assert_eq!(p["id"], id.as_str());
        assert_eq!(p["method"], "sign_event");
        assert_eq!(p["kind"], 1);
        assert_eq!(p["client"], raw.keys.public_key().to_hex());
        assert_eq!(p["event"]["content"], content);
        assert!(p["expires"].as_str().unwrap().ends_with('Z'), "{p}");
        // For people: the request on a line, its content escaped.
        let out = bunker_cmd(&home, &["pending"]).output().unwrap();
        // (people's output is on stderr)
        let text = String::from_utf8(out.stderr).unwrap();
        assert!(
            text.contains(&id) && text.contains("sign_event kind 1: \"hello operator⟨ESC⟩[31m"),
            "{text}"
        );
        assert!(
            !text.contains('\u{1b}'),
            "raw escape on the terminal: {text:?}"
        );

        let v = json_ok(bunker_cmd(&home, &["approve", &id]));
        assert_eq!(v["decision"], "approve");
        assert_eq!(v["request"]["method"], "sign_event");
        let done = reply(&raw, &mut news, "s1", "the signed event").await;
        let ev = done["result"]
            .as_str()
            .unwrap_or_else(|| panic!("no result: {done}"));
        let ev: Value = serde_json::from_str(ev).unwrap();
        assert_eq!(ev["content"], content);
        assert_eq!(ev["pubkey"], group_hex.as_str());
        verify_event_independently(&ev);

        // An encrypt is queued with its peer and the plaintext's length, never the text.
        let third = nostr::Keys::generate();
        let words = "for your eyes only";
        send(
            &raw,
            "x",
            "nip44_encrypt",
            json!([third.public_key().to_hex(), words]),
        )
        .await;
        let xid = auth_url_id(&reply(&raw, &mut news, "x", "auth_url").await, &serve.url);
        let v = json_ok(bunker_cmd(&home, &["pending"]));
        let p = &v["pending"][0];
        assert_eq!(
            (&p["id"], &p["method"]),
            (&json!(xid), &json!("nip44_encrypt"))
        );
        assert_eq!(p["peer"], third.public_key().to_hex());
        assert_eq!(p["text_len"], words.len());
        assert!(!v.to_string().contains(words), "{v}");
        json_ok(bunker_cmd(&home, &["approve", &xid]));
        let r = reply(&raw, &mut news, "x", "the ciphertext").await;
        let group = nostr::PublicKey::parse(&g.group).unwrap();
        let ct = r["result"].as_str().unwrap_or_else(|| panic!("{r}"));
        assert_eq!(
            nostr::nips::nip44::decrypt(third.secret_key(), &group, ct).unwrap(),
            words
        );
        id
    });
    // Decided once; an unknown id is named as such.
    expect_error_line(
        &mut bunker_cmd(&home, &["approve", &id]),
        5,
        &[&id, "already approved or denied"],
    );
    expect_error_line(
        &mut bunker_cmd(&home, &["deny", "0123456789abcdef"]),
        2,
        &["\"0123456789abcdef\"", "bunker pending"],
    );
    let clients = json_ok(bunker_cmd(&home, &["clients", "list"]));
    let c = &clients["clients"][0];
    assert_eq!(
        c["uses"], 3,
        "get_public_key and the two approved: {clients}"
    );
    assert_eq!(
        c["grant"]["ask"]["methods"],
        json!(["sign_event", "nip44_encrypt"])
    );
    assert!(json_ok(bunker_cmd(&home, &["pending"]))["pending"]
        .as_array()
        .unwrap()
        .is_empty());
}

/// `passport serve -v --relay RELAY ARGS…`: its URL and bunker URI, and its stderr line
/// by line.
fn serve_logged(
    home: &Path,
    relay: &str,
    extra: &[&str],
) -> (KillOnDrop, String, String, mpsc::Receiver<String>) {
    let mut child = spawn_cmd(home)
        .args(["serve", "-v", "--listen", "127.0.0.1:0", "--relay", relay])
        .args(extra)
        .env_remove("PASSPORT_SERVE_RELAYS")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, rx) = mpsc::channel();
    let err = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for l in BufReader::new(err).lines().map_while(Result::ok) {
            if tx.send(l).is_err() {
                break;
            }
        }
    });
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = || {
        let mut l = String::new();
        out.read_line(&mut l).unwrap();
        l.trim().to_owned()
    };
    let url = line();
    let url = url
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("{url:?}"))
        .to_owned();
    let uri = line();
    assert!(uri.starts_with("bunker://"), "{uri}");
    (KillOnDrop(child), url, uri, rx)
}

/// Waits for a stderr line containing every needle; every line read on the way is
/// checked not to contain `never`.
fn log_line(rx: &mpsc::Receiver<String>, needles: &[&str], never: &str) -> String {
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        let l = rx
            .recv_timeout(left)
            .unwrap_or_else(|_| panic!("no log line with {needles:?} within {WAIT:?}"));
        assert!(!l.contains(never), "logged content: {l}");
        if needles.iter().all(|n| l.contains(n)) {
            return l;
        }
    }
}

#[test]
fn denied_and_expired_requests_end_in_errors_and_use_nothing() {
    let relay = start_relay();
    let dir = tempfile::tempdir().unwrap();
    let g = ci_group(dir.path(), None);
    let (_serve, serve_url, uri, log) = serve_logged(
        &g.ci.home,
        &relay.url,
        &["--ask-kinds", "7", "--approval-timeout", "2"],
    );
    let home = g.ci.home.clone();
    let expired = relay.rt.block_on(async {
        let (raw, mut news) = connected(&relay.url, &uri).await;
        // Kind 1 is not asked about: signed at once.
        send(&raw, "n", "sign_event", note(1, "plain")).await;
        let r = reply(&raw, &mut news, "n", "kind 1 signed").await;
        assert!(
            r["result"].as_str().unwrap_or("").contains("\"sig\""),
            "{r}"
        );

        send(&raw, "d", "sign_event", note(7, "secret-ish")).await;
        let id = auth_url_id(&reply(&raw, &mut news, "d", "auth_url").await, &serve_url);
        let v = json_ok(bunker_cmd(&home, &["deny", &id]));
        assert_eq!(v["decision"], "deny");
        let r = reply(&raw, &mut news, "d", "the denial").await;
        assert_eq!(r["error"], "denied by the operator", "{r}");
        assert!(r["result"].is_null(), "{r}");
        // serve -v: the ask, then the decision, never the content.
        log_line(
            &log,
            &["sign_event kind 7: ask (operator approval)"],
            "secret-ish",
        );
        log_line(
            &log,
            &["sign_event kind 7: denied (operator denied)"],
            "secret-ish",
        );

        send(&raw, "e", "sign_event", note(7, "+")).await;
        let id = auth_url_id(&reply(&raw, &mut news, "e", "auth_url").await, &serve_url);
        let r = reply(&raw, &mut news, "e", "the expiry").await;
        assert_eq!(r["error"], "not approved by the operator within 2 s", "{r}");
        log_line(
            &log,
            &["sign_event kind 7: expired (operator did not decide)"],
            "secret-ish",
        );
        id
    });
    expect_error_line(
        &mut bunker_cmd(&home, &["approve", &expired]),
        5,
        &[&expired, "expired"],
    );
    let clients = json_ok(bunker_cmd(&home, &["clients", "list"]));
    assert_eq!(clients["clients"][0]["uses"], 1, "only kind 1: {clients}");
}

/// tests/js with its node_modules (scripts/test.sh runs `npm ci --prefix tests/js`).
fn js_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/js");
    assert!(
        dir.join("node_modules/nostr-tools").is_dir(),
        "nostr-tools is not installed: run `npm ci --prefix tests/js` (scripts/test.sh does)"
    );
    dir
}

#[test]
fn nostr_tools_onauth_gets_the_url_and_the_event_once_approved() {
    let relay = start_relay();
    let dir = tempfile::tempdir().unwrap();
    let g = ci_group(dir.path(), None);
    let (serve, lines) = Serve::start_with(
        &g.ci.home,
        "127.0.0.1:0",
        &["--relay", relay.url.as_str(), "--ask", "sign_event"],
    );
    let mut node = KillOnDrop(
        Command::new("node")
            .arg("--experimental-websocket")
            .arg(js_dir().join("authurl-client.mjs"))
            .arg(&lines[0])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("node (20 or later) runs the nostr-tools client"),
    );
    // The script gives up by itself after 60 s, so every read below ends.
    let mut out = BufReader::new(node.0.stdout.take().unwrap());
    let mut next = |what: &str| -> Value {
        let mut line = String::new();
        out.read_line(&mut line).unwrap();
        assert!(
            !line.trim().is_empty(),
            "the nostr-tools client ended before printing {what}; its stderr is above"
        );
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("{what}: {e}: {line:?}"))
    };
    assert_eq!(next("connected")["connected"], true);
    let auth = next("the auth_url");
    let url = auth["auth_url"]
        .as_str()
        .unwrap_or_else(|| panic!("{auth}"));
    let id = auth_url_id(&json!({"result": "auth_url", "error": url}), &serve.url);
    let v = json_ok(bunker_cmd(&g.ci.home, &["approve", &id]));
    assert_eq!(v["request"]["kind"], 1);
    let ev = next("the signed event");
    let ev = &ev["event"];
    assert_eq!(
        ev["content"], "approved by a human, signed by a bunker nobody holds",
        "{ev}"
    );
    assert_eq!(
        ev["pubkey"],
        nostr::PublicKey::parse(&g.group).unwrap().to_hex()
    );
    verify_event_independently(ev);
    assert!(node.0.wait().unwrap().success());
}
