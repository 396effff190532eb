//! `passport serve` killed with SIGKILL while members post DKG packages: every package
//! it acknowledged (201) is in its database after the restart. Acknowledged means
//! committed, and for key-making rounds fsynced (group commit, `serve::db::durable`).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use nostr::hashes::sha256::Hash as Sha256Hash;
use nostr::hashes::Hash;
use nostr::nips::nip98::{HttpData, HttpMethod};
use nostr::{EventBuilder, JsonUtil, Keys, Url};
use passport::ceremony::{Member, Roster};
use passport::envelope::{self, Binding, Draft, Round};

use crate::util::*;

const MEMBERS: usize = 4;
const CEREMONIES: usize = 40;
/// Acknowledged packages to see before the kill: well into the run, far from its end
/// (MEMBERS^2 * CEREMONIES = 640 posts in all).
const KILL_AFTER: usize = 60;

fn auth(keys: &Keys, url: &str, method: HttpMethod, body: Option<&[u8]>) -> String {
    let mut data = HttpData::new(Url::parse(url).unwrap(), method);
    if let Some(b) = body {
        data = data.payload(Sha256Hash::hash(b));
    }
    let ev = EventBuilder::http_auth(data).sign_with_keys(keys).unwrap();
    format!(
        "Nostr {}",
        base64::engine::general_purpose::STANDARD.encode(ev.as_json())
    )
}

#[test]
fn kill_9_mid_load_loses_no_acknowledged_package() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("serve-home");
    // Limits far above this load: the test is about durability, not throttling.
    let config = dir.path().join("serve.toml");
    std::fs::write(
        &config,
        "rate_per_pubkey = 100000\nburst_per_pubkey = 100000\n\
         rate_per_ip = 1000000\nburst_per_ip = 1000000\nnew_ceremonies_per_ip_hour = 1000\n",
    )
    .unwrap();
    let args = ["--config", config.to_str().unwrap()];
    let mut serve = Serve::start_with(&home, "127.0.0.1:0", &args).0;
    let keys: Vec<Keys> = (0..MEMBERS).map(|_| Keys::generate()).collect();
    let members: Vec<Member> = keys
        .iter()
        .enumerate()
        .map(|(i, k)| Member {
            name: format!("m{i}"),
            npub: k.public_key(),
        })
        .collect();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let http = http_client();
    let acked = Arc::new(Mutex::new(Vec::<String>::new()));

    let ceremonies: Vec<(Binding, String)> = rt.block_on(async {
        let mut out = vec![];
        for _ in 0..CEREMONIES {
            let roster =
                Roster::new("crash", 2, members.clone(), None, &mut rand::rngs::OsRng).unwrap();
            let url = format!("{}/v1/ceremonies", serve.url);
            let body = roster.to_json_pretty().into_bytes();
            let r = http
                .post(&url)
                .header(
                    "authorization",
                    auth(&keys[0], &url, HttpMethod::POST, Some(&body)),
                )
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
                .unwrap();
            assert!(r.status().is_success(), "create: {}", r.status());
            let v: serde_json::Value = r.json().await.unwrap();
            let id = v["id"].as_str().unwrap().to_owned();
            out.push((
                Binding::of(&roster),
                format!("{}/v1/ceremonies/{id}/packages", serve.url),
            ));
        }
        out
    });
    let ceremonies = Arc::new(ceremonies);

    // Each member, through every ceremony: its round-1 package, then one round-2
    // package to each other member; stops at the first post serve cannot take.
    let posters: Vec<_> = (0..MEMBERS)
        .map(|i| {
            let (http, acked, cs) = (http.clone(), acked.clone(), ceremonies.clone());
            let keys = keys.clone();
            rt.spawn(async move {
                let seat = i as u16 + 1;
                for (binding, url) in cs.iter() {
                    for step in 0..MEMBERS {
                        let (round, to) = match step {
                            0 => (Round::Dkg1, None),
                            s => {
                                let other = if s <= i { s - 1 } else { s };
                                (
                                    Round::Dkg2,
                                    Some((keys[other].public_key(), other as u16 + 1)),
                                )
                            }
                        };
                        let ev = envelope::seal(
                            &keys[i],
                            Draft {
                                binding,
                                round,
                                from: Some(seat),
                                to,
                                reference: None,
                                payload: &serde_json::json!({ "step": step }),
                            },
                        )
                        .unwrap();
                        let body = ev.as_json().into_bytes();
                        let sent = http
                            .post(url)
                            .header(
                                "authorization",
                                auth(&keys[i], url, HttpMethod::POST, Some(&body)),
                            )
                            .header("content-type", "application/json")
                            .body(body)
                            .send()
                            .await;
                        match sent {
                            Ok(r) if r.status().as_u16() == 201 => {
                                acked.lock().unwrap().push(ev.id.to_hex())
                            }
                            Ok(r) => panic!("post: {} {}", r.status(), r.text().await.unwrap()),
                            Err(_) => return,
                        }
                    }
                }
            })
        })
        .collect();

    let deadline = Instant::now() + Duration::from_secs(120);
    while acked.lock().unwrap().len() < KILL_AFTER {
        assert!(
            Instant::now() < deadline,
            "waited 120 s for {KILL_AFTER} acknowledged posts; got {}",
            acked.lock().unwrap().len()
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    serve.kill9();
    for p in posters {
        rt.block_on(p).unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    assert!(
        acked.len() < MEMBERS * MEMBERS * CEREMONIES,
        "the kill came after the last post: nothing was tested"
    );

    // The restart recovers the WAL; then every acknowledged id must be stored.
    let _again = Serve::start_with(&home, "127.0.0.1:0", &args).0;
    let db = rusqlite::Connection::open_with_flags(
        home.join("serve").join("serve.sqlite"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .unwrap();
    let mut q = db
        .prepare("SELECT count(*) FROM packages WHERE event_id = ?1")
        .unwrap();
    let missing: Vec<&String> = acked
        .iter()
        .filter(|id| q.query_row([id.as_str()], |r| r.get::<_, i64>(0)).unwrap() != 1)
        .collect();
    assert!(
        missing.is_empty(),
        "{} of {} acknowledged packages are gone after kill -9: {missing:?}",
        missing.len(),
        acked.len()
    );
}
