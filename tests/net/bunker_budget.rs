//! What the bunker spends on strangers: a flood of requests from throwaway keys through
//! a relay that budgets what each connection may publish (as public relays do) must not
//! cost the authorized client its replies; strangers past the bunker's budget get
//! silence; a relay that refuses a reply is logged and another relay carries it.
//! Real relays on loopback (nostr-relay-builder), the `nostr-connect` client.

use crate::util;

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nostr::nips::nip46::NostrConnectURI;
use nostr::{EventBuilder, Filter, Keys, Kind, NostrSigner, PublicKey, Tag};
use nostr_connect::prelude::NostrConnect;
use util::*;

fn relay(per_minute: u32) -> TestRelay {
    start_relay_limited(per_minute)
}

/// `passport serve` as a bunker with its stderr in a file; killed when dropped.
struct Bunker {
    child: std::process::Child,
    url: String,
    uri: String,
    log: PathBuf,
}

impl Bunker {
    fn start(home: &Path, log: PathBuf, args: &[&str]) -> Bunker {
        let mut child = spawn_cmd(home)
            .args(["serve", "--listen", "127.0.0.1:0"])
            .args(args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
        let first = lines.next().unwrap().unwrap();
        let url = first
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected ready line {first:?}"))
            .to_owned();
        let uri = lines.next().unwrap().unwrap();
        assert!(uri.starts_with("bunker://"), "{uri}");
        Bunker {
            child,
            url,
            uri,
            log,
        }
    }

    fn pk(&self) -> PublicKey {
        PublicKey::parse(
            self.uri
                .trim_start_matches("bunker://")
                .split('?')
                .next()
                .unwrap(),
        )
        .unwrap()
    }

    /// A counter from `/metrics`.
    async fn metric(&self, name: &str) -> u64 {
        let text = http_client()
            .get(format!("{}/metrics", self.url))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{name} ")))
            .unwrap_or_else(|| panic!("no {name} in /metrics:\n{text}"))
            .parse()
            .unwrap()
    }

    /// Waits (bounded) for a log line containing every needle; returns it.
    fn wait_log(&self, needles: &[&str]) -> String {
        let until = Instant::now() + Duration::from_secs(60);
        loop {
            let text = std::fs::read_to_string(&self.log).unwrap_or_default();
            if let Some(l) = text.lines().find(|l| needles.iter().all(|n| l.contains(n))) {
                return l.to_owned();
            }
            assert!(
                Instant::now() < until,
                "no bunker log line with {needles:?} within 60 s; log:\n{text}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Bunker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A NIP-46 request from `from` to `bunker`, NIP-44 encrypted; `body` is the JSON sent.
fn request(from: &Keys, bunker: &PublicKey, body: &str) -> nostr::Event {
    let content = nostr::nips::nip44::encrypt(
        from.secret_key(),
        bunker,
        body,
        nostr::nips::nip44::Version::default(),
    )
    .unwrap();
    EventBuilder::new(Kind::NostrConnect, content)
        .tag(Tag::public_key(*bunker))
        .sign_with_keys(from)
        .unwrap()
}

/// A plain relay connection (its own per-connection budget on the relay).
async fn connection(relays: &[&str]) -> nostr_sdk::Client {
    let c = nostr_sdk::Client::new(Keys::generate());
    for r in relays {
        c.add_relay(*r).await.unwrap();
    }
    c.try_connect(Duration::from_secs(5)).await;
    c
}

/// The decrypted replies from `bunker` to `to` that arrive on `news` until `done` says
/// enough or `wait` passes.
async fn replies(
    news: &mut tokio::sync::broadcast::Receiver<nostr_sdk::RelayPoolNotification>,
    bunker: &PublicKey,
    to: &Keys,
    wait: Duration,
    mut done: impl FnMut(&[serde_json::Value]) -> bool,
) -> Vec<serde_json::Value> {
    let mut out = vec![];
    let deadline = tokio::time::Instant::now() + wait;
    let mut ids = std::collections::HashSet::new();
    while !done(&out) {
        let Ok(Ok(n)) = tokio::time::timeout_at(deadline, news.recv()).await else {
            break;
        };
        if let nostr_sdk::RelayPoolNotification::Event { event, .. } = n {
            if event.pubkey != *bunker || !ids.insert(event.id) {
                continue;
            }
            if let Ok(text) = nostr::nips::nip44::decrypt(to.secret_key(), bunker, &event.content) {
                out.push(serde_json::from_str(&text).unwrap());
            }
        }
    }
    out
}

/// Sends request `id` (`body`) through `to` (or every relay of `c`) until its reply
/// comes, at most 10 times: requests are ephemeral, and one that reaches a relay before
/// the bunker's subscription does is lost. The same id is answered once.
async fn ask(
    c: &nostr_sdk::Client,
    to: Option<&str>,
    news: &mut tokio::sync::broadcast::Receiver<nostr_sdk::RelayPoolNotification>,
    (me, bunker): (&Keys, &PublicKey),
    id: &str,
    body: &str,
) -> serde_json::Value {
    for _ in 0..10 {
        let ev = request(me, bunker, body);
        match to {
            Some(r) => c.send_event_to([r], &ev).await.unwrap(),
            None => c.send_event(&ev).await.unwrap(),
        };
        let got = replies(news, bunker, me, Duration::from_secs(2), |v| {
            v.iter().any(|r| r["id"] == id)
        })
        .await;
        if let Some(r) = got.into_iter().find(|r| r["id"] == id) {
            return r;
        }
    }
    panic!("no reply to {id}: {body}");
}

#[test]
fn a_flood_of_strangers_gets_silence_and_the_authorized_client_its_replies() {
    // 40 events per connection per minute: the bunker's own connection included. Without
    // a budget, 65 stranger replies would spend it and the client's replies be dropped.
    let r = relay(40);
    let dir = tempfile::tempdir().unwrap();
    let g = ci_group(dir.path(), None);
    let b = Bunker::start(
        &g.ci.home,
        dir.path().join("serve.log"),
        &[
            "--relay",
            &r.url,
            "--bunker-unknown-burst",
            "5",
            "--bunker-unknown-rate",
            "0.01",
            "--bunker-unknown-burst-per-key",
            "2",
        ],
    );
    let pk = b.pk();
    let group_pk = PublicKey::parse(&g.group).unwrap();
    let third = Keys::generate();
    let (loud, strangers): (Keys, Vec<Keys>) = (
        Keys::generate(),
        (0..60).map(|_| Keys::generate()).collect(),
    );
    r.rt.block_on(async {
        // The authorized client connects with the startup secret before the flood.
        let nc = NostrConnect::new(
            NostrConnectURI::parse(&b.uri).unwrap(),
            Keys::generate(),
            Duration::from_secs(20),
            None,
        )
        .unwrap();
        assert_eq!(nc.get_public_key().await.unwrap(), group_pk);

        // Whoever listens for the strangers' replies.
        let ears = connection(&[&r.url]).await;
        let mut news = ears.notifications();
        let all: Vec<PublicKey> = strangers
            .iter()
            .chain([&loud])
            .map(|k| k.public_key())
            .collect();
        subscribe_confirmed(
            &ears,
            Filter::new()
                .kind(Kind::NostrConnect)
                .author(pk)
                .pubkeys(all.clone()),
        )
        .await;

        // One key asks five times (its own bucket holds two), then sixty throwaway keys
        // ask once each, through three connections (each under the relay's budget).
        let c = connection(&[&r.url]).await;
        for i in 0..5 {
            let body = format!(r#"{{"id":"l{i}","method":"get_public_key","params":[]}}"#);
            c.send_event(&request(&loud, &pk, &body)).await.unwrap();
        }
        for chunk in strangers.chunks(20) {
            let c = connection(&[&r.url]).await;
            for k in chunk {
                let body = r#"{"id":"s","method":"get_public_key","params":[]}"#;
                c.send_event(&request(k, &pk, body)).await.unwrap();
            }
        }

        // Meanwhile the authorized client keeps working: every request answered.
        for i in 0..10 {
            let ct = nc
                .nip44_encrypt(&third.public_key(), &format!("during the flood {i}"))
                .await
                .unwrap_or_else(|e| panic!("request {i} of the authorized client: {e}"));
            let pt = nostr::nips::nip44::decrypt(third.secret_key(), &group_pk, &ct).unwrap();
            assert_eq!(pt, format!("during the flood {i}"));
        }
        nc.shutdown().await;

        // Every stranger request is accounted for: answered (within the budget) or
        // silenced. Count the replies until the two add up to all 65.
        let mut answered: Vec<(PublicKey, serde_json::Value)> = vec![];
        let until = Instant::now() + Duration::from_secs(60);
        loop {
            let silenced = b.metric("passport_bunker_unknown_silenced_total").await;
            if silenced + answered.len() as u64 >= 65 {
                assert_eq!(silenced + answered.len() as u64, 65, "{answered:?}");
                break;
            }
            assert!(
                Instant::now() < until,
                "only {silenced} silenced and {} answered of 65 within 60 s",
                answered.len()
            );
            // Replies are addressed by `p` tag; decrypt with whichever stranger it names.
            let got = tokio::time::timeout(Duration::from_millis(500), news.recv()).await;
            if let Ok(Ok(nostr_sdk::RelayPoolNotification::Event { event, .. })) = got {
                let to = event.tags.public_keys().next().copied().unwrap();
                let keys = strangers
                    .iter()
                    .chain([&loud])
                    .find(|k| k.public_key() == to);
                let text =
                    nostr::nips::nip44::decrypt(keys.unwrap().secret_key(), &pk, &event.content)
                        .unwrap();
                answered.push((to, serde_json::from_str(&text).unwrap()));
            }
        }
        // Within the budget, strangers hear why (an error reply), never a result.
        for (_, v) in &answered {
            assert!(
                v["error"].as_str().unwrap().starts_with("unauthorized"),
                "{v}"
            );
        }
        let from_loud = answered
            .iter()
            .filter(|(k, _)| *k == loud.public_key())
            .count();
        assert_eq!(from_loud, 2, "the loud key is held to its own bucket");
        // The shared burst of 5, less the client's own first `connect` (it was unknown
        // until then) and the loud key's 2, plus at most one refilled token.
        assert!(
            (4..=5).contains(&answered.len()),
            "{} stranger replies: {answered:?}",
            answered.len()
        );
        assert_eq!(
            b.metric("passport_bunker_reply_rejections_total").await,
            0,
            "the relay refused replies: the budget did not keep the bunker under its limit"
        );
        ears.shutdown().await;
    });
}

#[test]
fn a_request_whose_params_is_not_an_array_gets_an_error_reply() {
    let r = relay(10_000);
    let dir = tempfile::tempdir().unwrap();
    let g = ci_group(dir.path(), None);
    // Room for resends (see `ask`).
    let b = Bunker::start(
        &g.ci.home,
        dir.path().join("serve.log"),
        &["--relay", &r.url, "--bunker-unknown-burst-per-key", "30"],
    );
    let pk = b.pk();
    r.rt.block_on(async {
        let me = Keys::generate();
        let c = connection(&[&r.url]).await;
        let mut news = c.notifications();
        subscribe_confirmed(
            &c,
            Filter::new()
                .kind(Kind::NostrConnect)
                .pubkey(me.public_key()),
        )
        .await;
        for (id, params) in [("p1", r#"{"0":"x"}"#), ("p2", r#""x""#), ("p3", "7")] {
            let body = format!(r#"{{"id":"{id}","method":"get_public_key","params":{params}}}"#);
            let reply = ask(&c, None, &mut news, (&me, &pk), id, &body).await;
            assert!(
                reply["error"]
                    .as_str()
                    .unwrap()
                    .contains("\"params\" must be an array"),
                "{reply}"
            );
            assert!(reply["result"].is_null(), "{reply}");
        }
    });
}

#[test]
fn a_reply_a_relay_refuses_is_logged_and_sent_through_another_relay() {
    // Relay A lets each connection publish 3 events; B is roomy.
    let (a, bb) = (relay(3), relay(10_000));
    let dir = tempfile::tempdir().unwrap();
    let g = ci_group(dir.path(), None);
    let b = Bunker::start(
        &g.ci.home,
        dir.path().join("serve.log"),
        &["--relay", &format!("{},{}", a.url, bb.url)],
    );
    let pk = b.pk();
    let app = Keys::generate();
    let npub = nostr::ToBech32::to_bech32(&app.public_key()).unwrap();
    json_ok({
        let mut c = passport(&g.ci.home);
        c.args(["bunker", "clients", "allow", &npub]);
        c
    });
    a.rt.block_on(async {
        for i in 0..6 {
            // A fresh connection per request (the relay's budget is per connection):
            // requests go in through A only; replies are awaited on both.
            let c = connection(&[&a.url, &bb.url]).await;
            let mut news = c.notifications();
            subscribe_confirmed(
                &c,
                Filter::new()
                    .kind(Kind::NostrConnect)
                    .pubkey(app.public_key()),
            )
            .await;
            let id = format!("r{i}");
            let body = format!(r#"{{"id":"{id}","method":"ping","params":[]}}"#);
            let reply = ask(&c, Some(&a.url), &mut news, (&app, &pk), &id, &body).await;
            assert_eq!(reply["result"], "pong", "{reply}");
            c.shutdown().await;
        }
    });
    // The bunker's connection to A ran out after 3 replies: A's refusals are logged,
    // naming A and its words, and the replies went through B.
    let a_url = a.url.trim_end_matches('/');
    let line = b.wait_log(&["relay", a_url, "did not take the reply", "rate-limited"]);
    assert!(
        line.contains(&nostr::ToBech32::to_bech32(&app.public_key()).unwrap()),
        "{line}"
    );
    assert!(a.rt.block_on(b.metric("passport_bunker_reply_rejections_total")) >= 1);
}
