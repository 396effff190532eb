//! The operator's side of the bunker: `bunker invite` names the relays the running serve
//! listens on and restates its grant, `bunker clients list` shows dates, and `serve -v`
//! logs one line per request without its content.

use std::io::BufRead;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use nostr::nips::nip46::NostrConnectURI;
use nostr::{EventBuilder, Keys, Kind, NostrSigner, PublicKey};
use nostr_connect::prelude::NostrConnect;
use serde_json::Value;

use crate::util::*;

/// `passport serve --relay RELAY` for the `ci` home of a 2-of-3 group, with stderr read
/// line by line into a channel.
struct Served {
    _dir: tempfile::TempDir,
    relay: TestRelay,
    ci: Member,
    group: String,
    child: KillOnDrop,
    uri: String,
    stderr: mpsc::Receiver<String>,
}

fn serve(extra: &[&str]) -> Served {
    let relay = start_relay();
    let dir = tempfile::tempdir().unwrap();
    let g = ci_group(dir.path(), None);
    let mut child = spawn_cmd(&g.ci.home)
        .args(["serve", "--listen", "127.0.0.1:0", "--relay", &relay.url])
        .args(extra)
        .env_remove("PASSPORT_SERVE_RELAYS")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, stderr) = mpsc::channel();
    let err = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for l in std::io::BufReader::new(err).lines() {
            let Ok(l) = l else { break };
            if tx.send(l).is_err() {
                break;
            }
        }
    });
    let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut lines = vec![];
    for _ in 0..2 {
        let mut l = String::new();
        out.read_line(&mut l).unwrap();
        lines.push(l.trim().to_owned());
    }
    assert!(lines[0].starts_with("listening on "), "{lines:?}");
    assert!(lines[1].starts_with("bunker://"), "{lines:?}");
    Served {
        _dir: dir,
        relay,
        ci: g.ci,
        group: g.group,
        child: KillOnDrop(child),
        uri: lines[1].clone(),
        stderr,
    }
}

/// `passport bunker …` for this home, without serve's relays in the environment.
fn bunker_cmd(home: &std::path::Path, args: &[&str]) -> assert_cmd::Command {
    let mut c = passport(home);
    c.arg("bunker")
        .args(args)
        .env_remove("PASSPORT_SERVE_RELAYS");
    c
}

fn short(relay: &str) -> String {
    relay.trim_end_matches('/').to_owned()
}

fn run(mut c: assert_cmd::Command) -> (String, String) {
    let out = c.output().unwrap();
    let (o, e) = (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    );
    assert!(out.status.success(), "stdout={o} stderr={e}");
    (o, e)
}

#[test]
fn invite_names_serves_relays_restates_its_grant_and_refuses_other_relays() {
    let s = serve(&[]);
    let relay = short(&s.relay.url);
    let v = json_ok(bunker_cmd(
        &s.ci.home,
        &[
            "invite",
            "--kinds",
            "1,7",
            "--methods",
            "sign_event",
            "--expires",
            "73h",
            "--valid-for",
            "10m",
        ],
    ));
    assert_eq!(v["relays"], serde_json::json!([relay]));
    assert_eq!(v["relays_from"], "serve");
    assert_eq!(v["grant"]["kinds"], serde_json::json!([1, 7]));
    assert_eq!(v["grant"]["methods"], serde_json::json!(["sign_event"]));
    let expires_at = v["grant"]["expires_at"].as_u64().unwrap();
    let date = v["grant"]["expires"].as_str().unwrap();
    assert!(
        date.ends_with('Z') && date.len() == 20,
        "an RFC 3339 UTC date: {date}"
    );
    assert!(v["valid_until"].as_u64().unwrap() < expires_at);
    assert!(v["valid_until_date"].as_str().unwrap().ends_with('Z'));
    let uri = v["uri"].as_str().unwrap();
    let parsed = NostrConnectURI::parse(uri).unwrap();
    assert_eq!(
        parsed
            .relays()
            .iter()
            .map(|r| short(&r.to_string()))
            .collect::<Vec<_>>(),
        vec![relay.clone()]
    );

    // For people: the URI alone on stdout, the grant restated on stderr, the QR code.
    let (stdout, stderr) = run(bunker_cmd(
        &s.ci.home,
        &["invite", "--kinds", "1", "--expires", "73h", "--qr"],
    ));
    assert!(stdout.trim().starts_with("bunker://"), "{stdout}");
    for needle in [
        &format!("relays: {relay} (where serve listens)"),
        "kinds: 1\n",
        "methods: all",
        "(in 3 days) (for 3d1h)",
        "secret valid until: used (no time limit)",
        "█",
    ] {
        assert!(stderr.contains(needle), "{needle:?} in {stderr}");
    }

    // The invitation works: a client connects through serve's relay.
    let group_pk = PublicKey::parse(&s.group).unwrap();
    s.relay.rt.block_on(async {
        let nc = NostrConnect::new(
            NostrConnectURI::parse(stdout.trim()).unwrap(),
            Keys::generate(),
            Duration::from_secs(20),
            None,
        )
        .unwrap();
        assert_eq!(nc.get_public_key().await.unwrap(), group_pk);
        nc.shutdown().await;
    });

    // A relay serve does not listen on is refused, naming the ones it does.
    let mut c = bunker_cmd(&s.ci.home, &["invite", "--relay", "ws://127.0.0.1:9"]);
    expect_error_line(&mut c, 2, &["does not listen on ws://127.0.0.1:9", &relay]);
    // The relay serve listens on, named, is fine.
    json_ok(bunker_cmd(&s.ci.home, &["invite", "--relay", &s.relay.url]));

    // serve killed: its relays are still the default, with a warning.
    let Served {
        mut child,
        ci,
        _dir,
        ..
    } = s;
    child.0.kill().unwrap();
    child.0.wait().unwrap();
    let (_, stderr) = run(bunker_cmd(&ci.home, &["invite"]));
    let stopped = format!(
        "the bunker of serve (--relay) is not running now; the link works once serve listens on {relay} again"
    );
    assert!(stderr.contains(&stopped), "{stderr}");
}

#[test]
fn invite_without_a_known_serve_needs_relays_and_warns() {
    let dir = tempfile::tempdir().unwrap();
    let g = ci_group(dir.path(), None);
    let mut c = bunker_cmd(&g.ci.home, &["invite"]);
    expect_error_line(&mut c, 2, &["relays are unknown", "--relay"]);
    let (stdout, stderr) = run(bunker_cmd(
        &g.ci.home,
        &["invite", "--relay", "ws://127.0.0.1:9"],
    ));
    assert!(stdout.starts_with("bunker://"), "{stdout}");
    assert!(
        stderr.contains("warning: cannot tell which relays serve listens on")
            && stderr.contains("only if serve listens on ws://127.0.0.1:9"),
        "{stderr}"
    );
    // serve's variable, as serve would read it, is serve's configuration.
    let mut c = bunker_cmd(&g.ci.home, &["invite", "--relay", "ws://127.0.0.1:9"]);
    c.env("PASSPORT_SERVE_RELAYS", "ws://127.0.0.1:8");
    expect_error_line(
        &mut c,
        2,
        &["ws://127.0.0.1:9", "listens on ws://127.0.0.1:8"],
    );
}

#[test]
fn clients_list_shows_dates_and_how_far_they_are() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    let app = nostr::ToBech32::to_bech32(&Keys::generate().public_key()).unwrap();
    let old = nostr::ToBech32::to_bech32(&Keys::generate().public_key()).unwrap();
    let allow = |npub: &str, expires: &str| {
        json_ok(bunker_cmd(
            &home,
            &["clients", "allow", npub, "--expires", expires],
        ))
    };
    let v = allow(&app, "73h");
    assert!(v["grant"]["expires_at"].is_u64(), "{v}");
    assert!(
        v["grant"]["expires"].as_str().unwrap().ends_with('Z'),
        "{v}"
    );
    allow(&old, "1s");
    // Wait (bounded) for the one-second grant to lie in the past.
    let deadline = Instant::now() + Duration::from_secs(10);
    let text = loop {
        let (_, text) = run(bunker_cmd(&home, &["clients", "list"]));
        if text.contains("(expired ") {
            break text;
        }
        assert!(Instant::now() < deadline, "never expired: {text}");
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(text.contains("Z (in 3 days)"), "{text}");
    assert!(
        text.contains("Z (expired ") && text.contains(" s ago)"),
        "{text}"
    );
    assert!(text.contains("added: 20"), "{text}");
    assert!(!text.contains("expires: 17"), "no Unix seconds: {text}");
    let list = json_ok(bunker_cmd(&home, &["clients", "list"]));
    let c = &list["clients"][0];
    let at = c["grant"]["expires_at"].as_u64().unwrap();
    let date = c["grant"]["expires"].as_str().unwrap();
    assert!(date.ends_with('Z'), "{c}");
    assert!(c["created_at"].as_u64().unwrap() < at);
    assert!(c["created"].as_str().unwrap().ends_with('Z'), "{c}");
}

/// The JSON log events on `rx` until one per wanted method has arrived (bounded).
fn log_events(rx: &mpsc::Receiver<String>, methods: &[&str], seen: &mut Vec<String>) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut events: Vec<Value> = vec![];
    while !methods
        .iter()
        .all(|m| events.iter().any(|e| e["fields"]["method"] == *m))
    {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = rx
            .recv_timeout(left)
            .unwrap_or_else(|_| panic!("no log line for each of {methods:?}; got {seen:#?}"));
        seen.push(line.clone());
        if let Ok(v) = serde_json::from_str::<Value>(&line) {
            if v["target"] == "passport::bunker::request" {
                events.push(v);
            }
        }
    }
    events
}

#[test]
fn verbose_serve_logs_each_request_without_its_content() {
    let s = serve(&["-v", "--log-format", "json", "--kinds", "1"]);
    let group_pk = PublicKey::parse(&s.group).unwrap();
    const CONTENT: &str = "MARKER-note-content-5b1e";
    const PLAIN: &str = "MARKER-plaintext-c04d";
    let client_keys = Keys::generate();
    let client_npub = nostr::ToBech32::to_bech32(&client_keys.public_key()).unwrap();
    let ciphertext = s.relay.rt.block_on(async {
        let nc = NostrConnect::new(
            NostrConnectURI::parse(&s.uri).unwrap(),
            client_keys,
            Duration::from_secs(20),
            None,
        )
        .unwrap();
        let ev = nc
            .sign_event(EventBuilder::text_note(CONTENT).build(group_pk))
            .await
            .unwrap();
        assert_eq!(ev.content, CONTENT);
        let refused = nc
            .sign_event(EventBuilder::new(Kind::Reaction, CONTENT).build(group_pk))
            .await
            .unwrap_err();
        assert!(refused.to_string().contains("kind 7"), "{refused}");
        let third = Keys::generate().public_key();
        let ct = nc.nip44_encrypt(&third, PLAIN).await.unwrap();
        nc.shutdown().await;
        ct
    });
    let mut seen = vec![];
    let events = log_events(&s.stderr, &["sign_event", "nip44_encrypt"], &mut seen);
    let of = |m: &str| -> Vec<&Value> {
        events
            .iter()
            .map(|e| &e["fields"])
            .filter(|f| f["method"] == m)
            .collect()
    };
    let signs = of("sign_event");
    let allowed = signs
        .iter()
        .find(|f| f["decision"] == "allowed")
        .unwrap_or_else(|| panic!("{signs:?}"));
    assert_eq!(allowed["kind"], 1);
    assert_eq!(allowed["why"], "grant");
    assert!(allowed["latency_ms"].is_u64(), "{allowed}");
    assert!(client_npub.starts_with(
        allowed["client"]
            .as_str()
            .unwrap()
            .split('…')
            .next()
            .unwrap()
    ));
    let text = allowed["message"].as_str().unwrap();
    assert!(
        text.contains("sign_event kind 1: allowed (grant)") && text.ends_with(" ms"),
        "{text}"
    );
    let refused = signs
        .iter()
        .find(|f| f["decision"] == "refused")
        .unwrap_or_else(|| panic!("no refusal logged: {seen:#?}"));
    assert_eq!(refused["kind"], 7);
    assert_eq!(refused["why"], "kind not allowed");
    let nip44 = of("nip44_encrypt");
    assert_eq!(nip44[0]["decision"], "allowed");
    assert!(nip44[0]["latency_ms"].is_u64());
    assert!(nip44[0].get("kind").is_none(), "{}", nip44[0]);
    // Nothing of what was signed or encrypted, nor the secret, is in the log.
    let secret = s.uri.split("secret=").nth(1).unwrap();
    for line in &seen {
        for needle in [CONTENT, PLAIN, ciphertext.as_str(), secret] {
            assert!(!line.contains(needle), "{needle:?} logged: {line}");
        }
    }
}
