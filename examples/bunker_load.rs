//! Load for NIP-46 bunkers through one relay, with the `nostr-connect` client:
//!
//!   bunker_load passport BUNKER_PK RELAY SERVE_DB REQUESTS CONCURRENCY [METHOD]
//!       sign_event (or METHOD: nip44_encrypt) against a running `passport serve --relay`
//!       (clients authorized by writing their grants into serve's database)
//!   bunker_load single-key-signer RELAY
//!       nostr-connect's own single-key remote signer (the baseline), in its own process
//!       like passport's: prints its bunker URI, serves until killed
//!   bunker_load uri URI REQUESTS CONCURRENCY [METHOD]
//!       the same load against any bunker URI that needs no authorization
//!   bunker_load clients BUNKER_PK RELAY SERVE_DB N
//!       authorize N clients and have each send one get_public_key
//!
//! Prints one JSON object: method, requests, seconds, per_sec, p50_ms, p99_ms, max_ms,
//! errors. Every answer is checked: a signed event must verify under the user's key, a
//! NIP-44 ciphertext must decrypt (by the peer) to the plaintext sent.

use std::sync::Arc;
use std::time::{Duration, Instant};

use nostr::nips::nip46::NostrConnectURI;
use nostr::{Event, EventBuilder, Filter, Keys, Kind, NostrSigner, PublicKey, Tag};
use nostr_connect::prelude::{
    NostrConnect, NostrConnectKeys, NostrConnectRemoteSigner, NostrConnectRequest,
    NostrConnectSignerActions,
};
use serde_json::json;
use tokio::sync::Mutex;

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn authorize(db: &str, keys: &[Keys]) {
    let mut conn = rusqlite::Connection::open(db).expect("serve database");
    conn.busy_timeout(Duration::from_secs(10))
        .expect("busy timeout");
    let now = passport::bunker::unix_now();
    for k in keys {
        passport::bunker::policy::allow(
            &mut conn,
            &k.public_key().to_hex(),
            &passport::bunker::policy::Grant::default(),
            now,
            Some("bench"),
        )
        .expect("allow");
    }
}

/// One timed request; Ok(false) is an answer that does not check out.
async fn one(
    c: &NostrConnect,
    method: &str,
    user: PublicKey,
    peer: &Keys,
    i: usize,
) -> Result<bool, String> {
    match method {
        "sign_event" => {
            let unsigned = EventBuilder::text_note(format!("bench {i}")).build(user);
            let ev = c.sign_event(unsigned).await.map_err(|e| e.to_string())?;
            Ok(ev.pubkey == user && ev.verify().is_ok())
        }
        "nip44_encrypt" => {
            let text = format!("bench {i}");
            let ct = c
                .nip44_encrypt(&peer.public_key(), &text)
                .await
                .map_err(|e| e.to_string())?;
            Ok(nostr::nips::nip44::decrypt(peer.secret_key(), &user, &ct).ok() == Some(text))
        }
        m => panic!("unsupported method {m} (sign_event or nip44_encrypt)"),
    }
}

/// `requests` of `method` spread over `concurrency` clients, each with its own key.
async fn load(
    uri: NostrConnectURI,
    keys: Vec<Keys>,
    requests: usize,
    method: &str,
) -> serde_json::Value {
    let user = {
        let c = NostrConnect::new(uri.clone(), keys[0].clone(), Duration::from_secs(30), None)
            .expect("client");
        let pk = c.get_public_key().await.expect("get_public_key");
        c.shutdown().await;
        pk
    };
    let per = requests.div_ceil(keys.len());
    let lat = Arc::new(Mutex::new(Vec::new()));
    let errors = Arc::new(Mutex::new(0usize));
    let start = Instant::now();
    let mut tasks = vec![];
    for k in keys {
        let (uri, lat, errors, method) =
            (uri.clone(), lat.clone(), errors.clone(), method.to_owned());
        tasks.push(tokio::spawn(async move {
            let c = NostrConnect::new(uri, k, Duration::from_secs(30), None).expect("client");
            // Connect first (not timed): the handshake is not what is measured.
            if c.get_public_key().await.is_err() {
                *errors.lock().await += per;
                return;
            }
            let peer = Keys::generate();
            for i in 0..per {
                let t0 = Instant::now();
                match one(&c, &method, user, &peer, i).await {
                    Ok(true) => lat.lock().await.push(t0.elapsed().as_secs_f64() * 1e3),
                    Ok(false) => *errors.lock().await += 1,
                    Err(e) => {
                        eprintln!("{method}: {e}");
                        *errors.lock().await += 1
                    }
                }
            }
            c.shutdown().await;
        }));
    }
    for t in tasks {
        t.await.expect("task");
    }
    let secs = start.elapsed().as_secs_f64();
    let mut l = lat.lock().await.clone();
    l.sort_by(f64::total_cmp);
    json!({
        "method": method,
        "requests": l.len(),
        "seconds": secs,
        "per_sec": l.len() as f64 / secs,
        "p50_ms": percentile(&l, 0.5),
        "p99_ms": percentile(&l, 0.99),
        "max_ms": l.last().copied().unwrap_or(0.0),
        "errors": *errors.lock().await,
    })
}

struct Approve;

impl NostrConnectSignerActions for Approve {
    fn approve(&self, _: &PublicKey, _: &NostrConnectRequest) -> bool {
        true
    }
}

fn bunker_uri(pk: &str, relay: &str) -> NostrConnectURI {
    NostrConnectURI::parse(format!("bunker://{pk}?relay={relay}")).expect("bunker URI")
}

#[tokio::main]
async fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let a: Vec<String> = std::env::args().skip(1).collect();
    let num = |i: usize| -> usize { a[i].parse().expect("a number") };
    let method = |i: usize| a.get(i).map_or("sign_event", String::as_str);
    let out = match a.first().map(String::as_str) {
        Some("passport") => {
            let keys: Vec<Keys> = (0..num(5)).map(|_| Keys::generate()).collect();
            authorize(&a[3], &keys);
            load(bunker_uri(&a[1], &a[2]), keys, num(4), method(6)).await
        }
        Some("single-key-signer") => {
            let signer = NostrConnectRemoteSigner::new(
                NostrConnectKeys {
                    signer: Keys::generate(),
                    user: Keys::generate(),
                },
                [a[1].as_str()],
                None,
                None,
            )
            .expect("signer");
            println!("{}", signer.bunker_uri());
            use std::io::Write;
            std::io::stdout().flush().expect("stdout");
            signer.serve(Approve).await.expect("serve");
            return;
        }
        Some("uri") => {
            let keys: Vec<Keys> = (0..num(3)).map(|_| Keys::generate()).collect();
            let uri = NostrConnectURI::parse(&a[1]).expect("bunker URI");
            load(uri, keys, num(2), method(4)).await
        }
        Some("clients") => {
            let n = num(4);
            let keys: Vec<Keys> = (0..n).map(|_| Keys::generate()).collect();
            authorize(&a[3], &keys);
            let bunker = PublicKey::parse(&a[1]).expect("bunker pubkey");
            let client = nostr_sdk::Client::default();
            client.add_relay(a[2].as_str()).await.expect("relay");
            client.try_connect(Duration::from_secs(5)).await;
            let mut news = client.notifications();
            client
                .subscribe(
                    Filter::new()
                        .kind(Kind::NostrConnect)
                        .author(bunker)
                        .pubkeys(keys.iter().map(Keys::public_key)),
                    None,
                )
                .await
                .expect("subscribe");
            // Replies are ephemeral: send only once the relay has the subscription (EOSE).
            let eose = tokio::time::Instant::now() + Duration::from_secs(10);
            loop {
                match tokio::time::timeout_at(eose, news.recv()).await {
                    Ok(Ok(nostr_sdk::RelayPoolNotification::Message {
                        message: nostr::RelayMessage::EndOfStoredEvents(_),
                        ..
                    })) => break,
                    Ok(Ok(_)) => {}
                    _ => panic!("no EOSE from the relay within 10 s"),
                }
            }
            let ask = |i: usize, k: &Keys| {
                let body = json!({"id": format!("c{i}"), "method": "get_public_key", "params": []})
                    .to_string();
                let content = nostr::nips::nip44::encrypt(
                    k.secret_key(),
                    &bunker,
                    body,
                    nostr::nips::nip44::Version::default(),
                )
                .expect("encrypt");
                EventBuilder::new(Kind::NostrConnect, content)
                    .tag(Tag::public_key(bunker))
                    .sign_with_keys(k)
                    .expect("sign")
            };
            // The grants were written by another process: the bunker learns them when it
            // next re-reads its clients. Until one probe is answered, the others would
            // count as strangers (and mostly get silence), so probe first, as a client
            // retrying would, until the probe gets the group's key: a stranger within the
            // unknown budget is answered too, with an error.
            let probe_until = tokio::time::Instant::now() + Duration::from_secs(30);
            'probe: loop {
                client.send_event(&ask(0, &keys[0])).await.expect("send");
                let again = tokio::time::Instant::now() + Duration::from_secs(1);
                loop {
                    match tokio::time::timeout_at(again.min(probe_until), news.recv()).await {
                        Ok(Ok(nostr_sdk::RelayPoolNotification::Event { event, .. }))
                            if event.kind == Kind::NostrConnect =>
                        {
                            let said = nostr::nips::nip44::decrypt(
                                keys[0].secret_key(),
                                &bunker,
                                &event.content,
                            )
                            .unwrap_or_default();
                            let said: serde_json::Value =
                                serde_json::from_str(&said).unwrap_or_default();
                            // The group's key (the bunker's own is only its transport).
                            let key = said["result"].as_str().unwrap_or_default();
                            if key.len() == 64 && said["error"].is_null() {
                                break 'probe;
                            }
                        }
                        Ok(Ok(_)) => {}
                        _ if tokio::time::Instant::now() >= probe_until => {
                            panic!("the bunker did not answer an authorized client within 30 s")
                        }
                        _ => break,
                    }
                }
            }
            // The probe's key is learnt from its own request; the others only at the
            // bunker's next re-read of its clients (every 2 s, `RELOAD_KNOWN` in
            // src/bunker/service.rs). Sent before that, they count as strangers: with
            // Nagle off all 999 went out within a second and 9 were answered.
            tokio::time::sleep(Duration::from_millis(2500)).await;
            let start = Instant::now();
            // Sent from a task of its own while this one reads the replies: reading only
            // after sending let the notification channel overflow (Lagged), and the count
            // stopped there (7 of 1,000).
            let requests: Vec<Event> = keys
                .iter()
                .enumerate()
                .skip(1)
                .map(|(i, k)| ask(i, k))
                .collect();
            let sender = {
                let client = client.clone();
                tokio::spawn(async move {
                    for ev in &requests {
                        client.send_event(ev).await.expect("send");
                    }
                })
            };
            let mut answered = 1usize;
            let mut lost = 0u64;
            let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
            while answered < n {
                match tokio::time::timeout_at(deadline, news.recv()).await {
                    Ok(Ok(nostr_sdk::RelayPoolNotification::Event { event, .. }))
                        if event.kind == Kind::NostrConnect =>
                    {
                        answered += 1
                    }
                    Ok(Ok(_)) => {}
                    Ok(Err(tokio::sync::broadcast::error::RecvError::Lagged(k))) => lost += k,
                    _ => break,
                }
            }
            sender.await.expect("sender");
            json!({"clients": n, "answered": answered, "unread": lost,
                   "seconds": start.elapsed().as_secs_f64()})
        }
        _ => {
            eprintln!("usage: see the comment at the top of examples/bunker_load.rs");
            std::process::exit(2);
        }
    };
    println!("{out}");
}
