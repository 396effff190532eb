//! `passport serve --relay` as a NIP-46 bunker, driven by an independent NIP-46 client
//! (the `nostr-connect` crate) through a real relay on loopback. Every signature is
//! checked with libsecp256k1; NIP-44/NIP-04 round trips use a third party's own key.

use crate::util;

mod approval;
mod console;
mod operator;
mod restart;

use std::time::Duration;

use nostr::nips::nip46::NostrConnectURI;
use nostr::{EventBuilder, JsonUtil, Keys, Kind, NostrSigner, PublicKey};
use nostr_connect::prelude::NostrConnect;
use util::*;

struct Setup {
    _dir: tempfile::TempDir,
    relay: TestRelay,
    ci: Member,
    group: String,
    _serve: Serve,
    uri: String,
}

/// A 2-of-3 dealer group whose `ci` home holds two seats, serving as a bunker.
fn bunker(extra: &[&str]) -> Setup {
    let relay = start_relay();
    let dir = tempfile::tempdir().unwrap();
    let g = ci_group(dir.path(), None);
    let mut args = vec!["--relay", relay.url.as_str()];
    args.extend_from_slice(extra);
    let (serve, lines) = Serve::start_with(&g.ci.home, "127.0.0.1:0", &args);
    let uri = lines[0].clone();
    assert!(uri.starts_with("bunker://"), "{uri}");
    Setup {
        _dir: dir,
        relay,
        ci: g.ci,
        group: g.group,
        _serve: serve,
        uri,
    }
}

fn client(s: &Setup, uri: &str, keys: Keys) -> NostrConnect {
    let uri = NostrConnectURI::parse(uri).unwrap();
    let _ = &s.relay;
    NostrConnect::new(uri, keys, Duration::from_secs(20), None).unwrap()
}

#[test]
fn nip46_client_gets_key_signs_and_round_trips_nip44_and_nip04() {
    let s = bunker(&[]);
    let group_pk = PublicKey::parse(&s.group).unwrap();
    s.relay.rt.block_on(async {
        let nc = client(&s, &s.uri, Keys::generate());
        assert_eq!(nc.get_public_key().await.unwrap(), group_pk);

        let unsigned = EventBuilder::text_note("signed by a bunker nobody holds").build(group_pk);
        let ev = nc.sign_event(unsigned).await.unwrap();
        assert_eq!(ev.pubkey, group_pk);
        assert_eq!(ev.kind, Kind::TextNote);
        verify_event_independently(&serde_json::from_str(&ev.as_json()).unwrap());

        // NIP-44 both ways with a third party's own key.
        let third = Keys::generate();
        let ct = nc
            .nip44_encrypt(&third.public_key(), "to the third party")
            .await
            .unwrap();
        let pt = nostr::nips::nip44::decrypt(third.secret_key(), &group_pk, &ct).unwrap();
        assert_eq!(pt, "to the third party");
        let ct = nostr::nips::nip44::encrypt(
            third.secret_key(),
            &group_pk,
            "to the group",
            nostr::nips::nip44::Version::default(),
        )
        .unwrap();
        assert_eq!(
            nc.nip44_decrypt(&third.public_key(), &ct).await.unwrap(),
            "to the group"
        );

        // NIP-04 likewise.
        let ct = nc
            .nip04_encrypt(&third.public_key(), "legacy")
            .await
            .unwrap();
        assert_eq!(
            nostr::nips::nip04::decrypt(third.secret_key(), &group_pk, &ct).unwrap(),
            "legacy"
        );
        let ct = nostr::nips::nip04::encrypt(third.secret_key(), &group_pk, "legacy back").unwrap();
        assert_eq!(
            nc.nip04_decrypt(&third.public_key(), &ct).await.unwrap(),
            "legacy back"
        );
        nc.shutdown().await;
    });
    let _ = &s.ci;
}

/// A raw NIP-46 client: sends hand-made requests and collects every reply, to test
/// what libraries do not send (unknown methods, duplicate ids, NIP-04 requests).
pub(crate) struct Raw {
    keys: Keys,
    bunker: PublicKey,
    client: nostr_sdk::Client,
}

impl Raw {
    pub(crate) async fn new(relay: &str, bunker: PublicKey) -> Raw {
        Raw::with_keys(relay, bunker, Keys::generate()).await
    }

    async fn with_keys(relay: &str, bunker: PublicKey, keys: Keys) -> Raw {
        let client = nostr_sdk::Client::new(keys.clone());
        client.add_relay(relay).await.unwrap();
        client.try_connect(Duration::from_secs(5)).await;
        subscribe_confirmed(
            &client,
            nostr::Filter::new()
                .kind(Kind::NostrConnect)
                .pubkey(keys.public_key()),
        )
        .await;
        Raw {
            keys,
            bunker,
            client,
        }
    }

    /// Sends `{id, method, params}` (NIP-04 encrypted with `nip04`) `times` times, returns
    /// the parsed replies that arrive within `wait` (the first one, when sent once), with
    /// the scheme each used.
    pub(crate) async fn ask(
        &self,
        id: &str,
        method: &str,
        params: serde_json::Value,
        nip04: bool,
        times: usize,
        wait: Duration,
    ) -> Vec<(serde_json::Value, bool)> {
        let body = serde_json::json!({"id": id, "method": method, "params": params}).to_string();
        let content = if nip04 {
            nostr::nips::nip04::encrypt(self.keys.secret_key(), &self.bunker, body).unwrap()
        } else {
            nostr::nips::nip44::encrypt(
                self.keys.secret_key(),
                &self.bunker,
                body,
                nostr::nips::nip44::Version::default(),
            )
            .unwrap()
        };
        let mut news = self.client.notifications();
        for _ in 0..times {
            // Distinct events (created_at/signature differ) carrying the same request id.
            let ev = EventBuilder::new(Kind::NostrConnect, content.clone())
                .tag(nostr::Tag::public_key(self.bunker))
                .tag(nostr::Tag::parse(["n", &hex::encode(rand::random::<[u8; 8]>())]).unwrap())
                .sign_with_keys(&self.keys)
                .unwrap();
            self.client.send_event(&ev).await.unwrap();
        }
        let mut out = vec![];
        let deadline = tokio::time::Instant::now() + wait;
        while let Ok(Ok(n)) = tokio::time::timeout_at(deadline, news.recv()).await {
            if let nostr_sdk::RelayPoolNotification::Event { event, .. } = n {
                if event.kind != Kind::NostrConnect || event.pubkey != self.bunker {
                    continue;
                }
                let is04 = event.content.contains("?iv=");
                let text = if is04 {
                    nostr::nips::nip04::decrypt(
                        self.keys.secret_key(),
                        &self.bunker,
                        &event.content,
                    )
                } else {
                    nostr::nips::nip44::decrypt(
                        self.keys.secret_key(),
                        &self.bunker,
                        &event.content,
                    )
                    .map_err(|_| nostr::nips::nip04::Error::InvalidContentFormat)
                }
                .unwrap();
                let v: serde_json::Value = serde_json::from_str(&text).unwrap();
                if v["id"] == id {
                    out.push((v, is04));
                    // One request: its reply is all there is to wait for. Sent several
                    // times: wait out the window to see that no second reply comes.
                    if times == 1 {
                        break;
                    }
                }
            }
        }
        out
    }
}

/// The error message of the one reply in `r` (panics, showing `r`, if it has none).
fn error_of(r: &[(serde_json::Value, bool)]) -> &str {
    r.first()
        .and_then(|(v, _)| v["error"].as_str())
        .unwrap_or_else(|| panic!("no error reply: {r:?}"))
}

fn secret_of(uri: &str) -> String {
    url::Url::parse(uri)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "secret")
        .unwrap()
        .1
        .into_owned()
}

fn bunker_pk(uri: &str) -> PublicKey {
    PublicKey::parse(
        uri.trim_start_matches("bunker://")
            .split('?')
            .next()
            .unwrap(),
    )
    .unwrap()
}

#[test]
fn refusals_duplicates_unknown_methods_and_nip04_requests() {
    let s = bunker(&[]);
    let pk = bunker_pk(&s.uri);
    let secret = secret_of(&s.uri);
    let w = Duration::from_secs(10);
    s.relay.rt.block_on(async {
        let stranger = Raw::new(&s.relay.url, pk).await;
        // No secret: refused with an error reply, for any method.
        let r = stranger
            .ask("1", "get_public_key", serde_json::json!([]), false, 1, w)
            .await;
        assert_eq!(r.len(), 1);
        assert!(error_of(&r).starts_with("unauthorized"), "{:?}", r);
        let r = stranger
            .ask(
                "2",
                "connect",
                serde_json::json!([pk.to_hex(), "wrong"]),
                false,
                1,
                w,
            )
            .await;
        assert!(error_of(&r).contains("secret is unknown"), "{:?}", r);

        // The secret works once, with an empty first parameter tolerated.
        let app = Raw::new(&s.relay.url, pk).await;
        let r = app
            .ask("3", "connect", serde_json::json!(["", secret]), false, 1, w)
            .await;
        assert_eq!(r[0].0["result"], "ack", "{:?}", r);
        let r = stranger
            .ask(
                "4",
                "connect",
                serde_json::json!([pk.to_hex(), secret]),
                false,
                1,
                w,
            )
            .await;
        assert!(error_of(&r).contains("already used"), "{:?}", r);

        // A request id sent three times is answered once.
        let r = app
            .ask(
                "5",
                "ping",
                serde_json::json!([]),
                false,
                3,
                Duration::from_secs(4),
            )
            .await;
        assert_eq!(r.len(), 1, "{:?}", r);
        assert_eq!(r[0].0["result"], "pong");

        // Unknown methods get an error reply, never silence.
        let r = app
            .ask("6", "sign_psbt", serde_json::json!([]), false, 1, w)
            .await;
        assert!(error_of(&r).contains("unsupported method"), "{:?}", r);

        // A NIP-04 request gets a NIP-04 reply.
        let r = app
            .ask("7", "get_public_key", serde_json::json!([]), true, 1, w)
            .await;
        assert!(r[0].1, "reply must be NIP-04");
        assert_eq!(
            r[0].0["result"],
            PublicKey::parse(&s.group).unwrap().to_hex()
        );

        // switch_relays answers the bunker's relays; logout ends the grant.
        let r = app
            .ask("8", "switch_relays", serde_json::json!([]), false, 1, w)
            .await;
        let relays: Vec<String> = serde_json::from_str(r[0].0["result"].as_str().unwrap()).unwrap();
        assert_eq!(relays.len(), 1);
        let r = app
            .ask("9", "logout", serde_json::json!([]), false, 1, w)
            .await;
        assert_eq!(r[0].0["result"], "ack");
        let r = app
            .ask("10", "ping", serde_json::json!([]), false, 1, w)
            .await;
        assert!(error_of(&r).starts_with("unauthorized"), "{:?}", r);
    });
}

#[test]
fn client_grants_limit_kinds_methods_uses_and_expire() {
    let s = bunker(&[]);
    let pk = bunker_pk(&s.uri);
    let group_pk = PublicKey::parse(&s.group).unwrap();
    let w = Duration::from_secs(10);
    let app = Keys::generate();
    let npub = nostr::ToBech32::to_bech32(&app.public_key()).unwrap();
    // Only kind 1, only sign_event and get_public_key, two uses.
    let v = json_ok({
        let mut c = passport(&s.ci.home);
        c.args([
            "bunker", "clients", "allow", &npub, "--label", "laptop", "--kinds", "1",
        ])
        .args(["--methods", "sign_event,get_public_key", "--max-uses", "2"]);
        c
    });
    assert_eq!(v["action"], "allowed");
    let list = json_ok({
        let mut c = passport(&s.ci.home);
        c.args(["bunker", "clients", "list"]);
        c
    });
    assert_eq!(list["clients"][0]["label"], "laptop");
    s.relay.rt.block_on(async {
        let raw = Raw::with_keys(&s.relay.url, pk, app.clone()).await;
        let note = |kind: u16| {
            serde_json::json!([serde_json::json!({
                "kind": kind, "content": "k", "tags": [], "created_at": 1_700_000_000u64,
                "pubkey": group_pk.to_hex()
            })
            .to_string()])
        };
        let r = raw.ask("a", "sign_event", note(7), false, 1, w).await;
        assert!(
            error_of(&r).contains("event kind 7 is not allowed"),
            "{:?}",
            r
        );
        let r = raw
            .ask(
                "b",
                "nip44_encrypt",
                serde_json::json!([group_pk.to_hex(), "x"]),
                false,
                1,
                w,
            )
            .await;
        assert!(
            error_of(&r).contains("method nip44_encrypt is not allowed"),
            "{:?}",
            r
        );
        let r = raw.ask("c", "sign_event", note(1), false, 1, w).await;
        let ev: serde_json::Value =
            serde_json::from_str(r[0].0["result"].as_str().unwrap()).unwrap();
        verify_event_independently(&ev);
        let r = raw
            .ask("d", "get_public_key", serde_json::json!([]), false, 1, w)
            .await;
        assert_eq!(r[0].0["result"], group_pk.to_hex());
        let r = raw
            .ask("e", "get_public_key", serde_json::json!([]), false, 1, w)
            .await;
        assert!(error_of(&r).contains("2 uses"), "{:?}", r);
    });
    // A grant that expires: allowed for one second.
    json_ok({
        let mut c = passport(&s.ci.home);
        c.args(["bunker", "clients", "allow", &npub, "--expires", "1s"]);
        c
    });
    std::thread::sleep(Duration::from_millis(2100));
    s.relay.rt.block_on(async {
        let raw = Raw::with_keys(&s.relay.url, pk, app.clone()).await;
        let r = raw
            .ask("f", "get_public_key", serde_json::json!([]), false, 1, w)
            .await;
        assert!(error_of(&r).contains("expired"), "{:?}", r);
    });
    // Revoked: refused as unknown.
    let v = json_ok({
        let mut c = passport(&s.ci.home);
        c.args(["bunker", "clients", "revoke", &npub]);
        c
    });
    assert_eq!(v["action"], "revoked");
    let mut c = passport(&s.ci.home);
    c.args(["bunker", "clients", "revoke", &npub]);
    expect_error_line(&mut c, 2, &["not an authorized client"]);
}

#[test]
fn perms_in_connect_narrow_the_invitation_never_widen_it() {
    // The startup secret grants everything; the client asks, in connect's third
    // parameter, for kind-1 notes only (and for nip04_encrypt, which it then gets:
    // the invitation allowed it). What it did not ask for, it does not get.
    let s = bunker(&[]);
    let pk = bunker_pk(&s.uri);
    let group_pk = PublicKey::parse(&s.group).unwrap();
    let w = Duration::from_secs(10);
    s.relay.rt.block_on(async {
        let app = Raw::new(&s.relay.url, pk).await;
        let perms = "sign_event:1,nip04_encrypt,not_a_method";
        let r = app
            .ask(
                "1",
                "connect",
                serde_json::json!([pk.to_hex(), secret_of(&s.uri), perms]),
                false,
                1,
                w,
            )
            .await;
        assert_eq!(r[0].0["result"], "ack", "{:?}", r);
        let note = |kind: u16| {
            serde_json::json!([serde_json::json!({
                "kind": kind, "content": "k", "tags": [], "created_at": 1_700_000_000u64,
                "pubkey": group_pk.to_hex()
            })
            .to_string()])
        };
        let r = app.ask("2", "sign_event", note(7), false, 1, w).await;
        assert!(
            error_of(&r).contains("event kind 7 is not allowed"),
            "{r:?}"
        );
        let r = app
            .ask(
                "3",
                "nip44_encrypt",
                serde_json::json!([group_pk.to_hex(), "x"]),
                false,
                1,
                w,
            )
            .await;
        assert!(
            error_of(&r).contains("method nip44_encrypt is not allowed"),
            "{r:?}"
        );
        let r = app.ask("4", "sign_event", note(1), false, 1, w).await;
        let ev: serde_json::Value =
            serde_json::from_str(r[0].0["result"].as_str().unwrap()).unwrap();
        verify_event_independently(&ev);
    });
    let list = json_ok({
        let mut c = passport(&s.ci.home);
        c.args(["bunker", "clients", "list"]);
        c
    });
    let grant = &list["clients"][0]["grant"];
    assert_eq!(grant["kinds"], serde_json::json!([1]), "{list}");
    assert_eq!(
        grant["methods"],
        serde_json::json!(["get_public_key", "sign_event", "nip04_encrypt"]),
        "{list}"
    );
}

#[test]
fn nostrconnect_uri_and_invitations() {
    let s = bunker(&[]);
    let group_pk = PublicKey::parse(&s.group).unwrap();
    s.relay.rt.block_on(async {
        // The client shows a nostrconnect:// URI; the operator answers it.
        let app = Keys::generate();
        let uri = NostrConnectURI::client(
            app.public_key(),
            [nostr::RelayUrl::parse(&s.relay.url).unwrap()],
            "test app",
        );
        let nc = NostrConnect::new(uri.clone(), app, Duration::from_secs(20), None).unwrap();
        let home = s.ci.home.clone();
        let uri_text = uri.to_string();
        let answer = tokio::task::spawn_blocking(move || {
            // Give the client a moment to subscribe before the reply is sent.
            std::thread::sleep(Duration::from_millis(500));
            let mut c = passport(&home);
            c.args(["bunker", "connect", &uri_text, "--kinds", "1"]);
            json_ok(c)
        });
        let pk = nc.get_public_key().await.unwrap();
        assert_eq!(pk, group_pk);
        assert_eq!(answer.await.unwrap()["action"], "connected and allowed");
        nc.shutdown().await;
    });
    // An invitation is a fresh single-use bunker URI with its own grant.
    let mut c = passport(&s.ci.home);
    c.args([
        "bunker",
        "invite",
        "--relay",
        &s.relay.url,
        "--kinds",
        "1",
        "--valid-for",
        "10m",
    ]);
    let out = c.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let invite = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    assert!(
        invite.starts_with(&format!("bunker://{}", bunker_pk(&s.uri).to_hex())),
        "{invite}"
    );
    assert_ne!(secret_of(&invite), secret_of(&s.uri));
    s.relay.rt.block_on(async {
        let nc = client(&s, &invite, Keys::generate());
        assert_eq!(nc.get_public_key().await.unwrap(), group_pk);
        let bad = EventBuilder::new(Kind::Reaction, "+").build(group_pk);
        let e = nc.sign_event(bad).await.unwrap_err().to_string();
        assert!(e.contains("event kind 7 is not allowed"), "{e}");
        nc.shutdown().await;
    });
}

/// A relay in a runtime of its own, so dropping the runtime really kills it (every
/// connection closed), as a crashed relay would.
fn relay_on(port: u16) -> (tokio::runtime::Runtime, String) {
    use nostr_relay_builder::prelude::*;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let relay = LocalRelay::new(RelayBuilder::default());
    let url = rt
        .block_on(crate::util::relay::listen(relay, port))
        .unwrap_or_else(|e| panic!("relay on port {port}: {e}"));
    (rt, url)
}

#[test]
fn the_bunker_resubscribes_when_its_relay_comes_back() {
    let (relay_rt, relay_url) = relay_on(0);
    let port = url::Url::parse(&relay_url).unwrap().port().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let g = ci_group(dir.path(), None);
    let (_serve, lines) =
        Serve::start_with(&g.ci.home, "127.0.0.1:0", &["--relay", relay_url.as_str()]);
    let group_pk = PublicKey::parse(&g.group).unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let nc = NostrConnect::new(
            NostrConnectURI::parse(&lines[0]).unwrap(),
            Keys::generate(),
            Duration::from_secs(20),
            None,
        )
        .unwrap();
        assert_eq!(nc.get_public_key().await.unwrap(), group_pk);
        nc.shutdown().await;
    });
    // The relay dies with every subscription and comes back on the same port, empty.
    drop(relay_rt);
    std::thread::sleep(Duration::from_millis(500));
    let (_relay_rt, again) = relay_on(port);
    assert_eq!(again, relay_url);
    let invite = {
        let mut c = passport(&g.ci.home);
        c.args(["bunker", "invite", "--relay", &relay_url]);
        String::from_utf8(c.output().unwrap().stdout)
            .unwrap()
            .trim()
            .to_owned()
    };
    let started = std::time::Instant::now();
    let pk = bunker_pk(&invite);
    let secret = secret_of(&invite);
    rt.block_on(async {
        // NIP-46 requests are ephemeral (relays keep none), so a client repeats its
        // request until the bunker, reconnected and resubscribed, answers.
        let app = Raw::new(&relay_url, pk).await;
        let mut acked = false;
        for i in 0..40 {
            let id = format!("c{i}");
            let r = app
                .ask(
                    &id,
                    "connect",
                    serde_json::json!([pk.to_hex(), secret]),
                    false,
                    1,
                    Duration::from_secs(2),
                )
                .await;
            if let Some((v, _)) = r.first() {
                assert_eq!(v["result"], "ack", "{v}");
                acked = true;
                break;
            }
        }
        assert!(acked, "the bunker never answered after the relay came back");
        let params = serde_json::json!([serde_json::json!({
            "kind": 1, "content": "after the relay restarted", "tags": [],
            "created_at": 1_700_000_000u64
        })
        .to_string()]);
        let r = app
            .ask("s", "sign_event", params, false, 1, Duration::from_secs(10))
            .await;
        let ev: serde_json::Value =
            serde_json::from_str(r[0].0["result"].as_str().unwrap()).unwrap();
        assert_eq!(ev["pubkey"], group_pk.to_hex());
        verify_event_independently(&ev);
    });
    eprintln!("answered {:?} after the relay restart", started.elapsed());
}

#[test]
fn demo_bunker_prints_its_uri_first_and_signs() {
    use std::io::BufRead;
    let relay = start_relay();
    let child = std::process::Command::new(assert_cmd::cargo::cargo_bin("passport"))
        .args(["demo", "bunker", "--relay", &relay.url])
        .env_remove("PASSPORT_HOME")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut child = KillOnDrop(child);
    let mut first = String::new();
    std::io::BufReader::new(child.0.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    let uri = first.trim().to_owned();
    assert!(
        uri.starts_with("bunker://") && uri.contains("secret="),
        "{uri}"
    );
    relay.rt.block_on(async {
        let nc = NostrConnect::new(
            NostrConnectURI::parse(&uri).unwrap(),
            Keys::generate(),
            Duration::from_secs(20),
            None,
        )
        .unwrap();
        let pk = nc.get_public_key().await.unwrap();
        let ev = nc
            .sign_event(EventBuilder::text_note("from the demo bunker").build(pk))
            .await
            .unwrap();
        verify_event_independently(&serde_json::from_str(&ev.as_json()).unwrap());
        nc.shutdown().await;
    });
    // It serves until interrupted, then exits cleanly.
    std::process::Command::new("kill")
        .args(["-INT", &child.0.id().to_string()])
        .status()
        .unwrap();
    let status = child.0.wait().unwrap();
    assert!(status.success(), "{status:?}");
}
