//! A bounded load run against a running `passport serve`: M members each post packages
//! in a closed loop and long-poll for everyone else's, for S seconds. Prints one JSON
//! object: packages accepted per second, p50/p99 latency of a post and of delivery
//! (post accepted → seen by another member's long-poll), and errors.
//!
//! cargo run --release --example serve_load -- URL [MEMBERS] [SECS] [MODE] [ACKED]
//!
//! MODE `commit` (default) posts signing commitments, which serve commits relaxed
//! (they survive kill -9, not a power loss: `serve::store::fsynced`); `dkg` posts what a
//! DKG does, a round-1 package and then one round-2 package to each other member, one
//! ceremony after another, each acknowledged only once fsynced. ACKED: a file that gets
//! the event id of every package acknowledged (201), one per line, to check after a
//! `kill -9` that none is missing.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine;
use nostr::hashes::sha256::Hash as Sha256Hash;
use nostr::hashes::Hash;
use nostr::nips::nip98::{HttpData, HttpMethod};
use nostr::{EventBuilder, JsonUtil, Keys, Url};
use passport::ceremony::{Member, Roster};
use passport::envelope::{self, Binding, Draft, Round};
use serde_json::{json, Value};

fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_micros() as u64
}

fn auth(keys: &Keys, url: &Url, method: HttpMethod, body: Option<&[u8]>) -> String {
    let mut data = HttpData::new(url.clone(), method);
    if let Some(b) = body {
        data = data.payload(Sha256Hash::hash(b));
    }
    let ev = EventBuilder::http_auth(data)
        .sign_with_keys(keys)
        .expect("local signing");
    format!(
        "Nostr {}",
        base64::engine::general_purpose::STANDARD.encode(ev.as_json())
    )
}

/// Registers `roster`'s ceremony with serve; returns its id.
async fn create(http: &reqwest::Client, base: &Url, keys: &Keys, roster: &Roster) -> String {
    let create = base.join("v1/ceremonies").expect("url");
    let body = roster.to_json_pretty().into_bytes();
    let resp = http
        .post(create.clone())
        .header(
            "authorization",
            auth(keys, &create, HttpMethod::POST, Some(&body)),
        )
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .expect("serve answers");
    let created: Value = resp.json().await.expect("JSON");
    created["id"].as_str().expect("ceremony id").to_owned()
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

#[derive(Default)]
struct Stats {
    post_ms: Mutex<Vec<f64>>,
    delivery_ms: Mutex<Vec<f64>>,
    accepted: AtomicU64,
    errors: AtomicU64,
    polls: AtomicU64,
    /// When the last poster stopped, in µs since the start: the posting window, which
    /// the pollers' last long-polls outlast by up to their wait.
    posting_us: AtomicU64,
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let base = args.next().expect("usage: serve_load URL [MEMBERS] [SECS]");
    let n: usize = args.next().map_or(50, |s| s.parse().expect("MEMBERS"));
    let secs: u64 = args.next().map_or(20, |s| s.parse().expect("SECS"));
    let dkg = match args.next().as_deref() {
        None | Some("commit") => false,
        Some("dkg") => true,
        Some(other) => panic!("MODE is commit or dkg, not {other}"),
    };
    let acked_file = args.next();
    let base = Url::parse(&format!("{}/", base.trim_end_matches('/'))).expect("URL");

    let keys: Vec<Keys> = (0..n).map(|_| Keys::generate()).collect();
    let members: Vec<Member> = keys
        .iter()
        .enumerate()
        .map(|(i, k)| Member {
            name: format!("m{i}"),
            npub: k.public_key(),
        })
        .collect();
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(4 * n)
        .build()
        .expect("client");
    // One ceremony for signing commitments; for DKG packages, as many as the run could
    // fill at 5,000 posts/s (each takes n^2 posts), all made before the clock starts.
    let count = if dkg {
        (secs as usize * 5000).div_ceil(n * n).max(1)
    } else {
        1
    };
    let mut ceremonies = vec![];
    for _ in 0..count {
        let roster =
            Roster::new("load", 2, members.clone(), None, &mut rand::rngs::OsRng).expect("roster");
        let id = create(&http, &base, &keys[0], &roster).await;
        let packages = base
            .join(&format!("v1/ceremonies/{id}/packages"))
            .expect("url");
        ceremonies.push((Binding::of(&roster), packages));
    }
    let ceremonies = Arc::new(ceremonies);
    let acked = Arc::new(Mutex::new(Vec::<String>::new()));

    let stats = Arc::new(Stats::default());
    let start = Instant::now();
    let deadline = start + Duration::from_secs(secs);
    let mut tasks = vec![];
    for (seat, k) in keys.iter().enumerate() {
        let seat = seat as u16 + 1;
        // Poster: closed loop, one package at a time.
        let (h, k2, st, cs, acked) = (
            http.clone(),
            k.clone(),
            stats.clone(),
            ceremonies.clone(),
            acked.clone(),
        );
        let peers: Vec<_> = keys.iter().map(Keys::public_key).collect();
        // The ceremony this member is in, for its poller to follow.
        let current = Arc::new(AtomicU64::new(0));
        let at = current.clone();
        tasks.push(tokio::spawn(async move {
            // DKG mode: (ceremony, step) where step 0 is round 1 and step i the round-2
            // package to the i-th other member.
            let (mut ceremony, mut step) = (0usize, 0usize);
            while Instant::now() < deadline {
                let Some((b, url)) = cs.get(ceremony) else {
                    break;
                };
                let (round, to) = match (dkg, step) {
                    (false, _) => (Round::SignCommit, None),
                    (true, 0) => (Round::Dkg1, None),
                    (true, i) => {
                        let other = if i < seat as usize { i } else { i + 1 };
                        (Round::Dkg2, Some((peers[other - 1], other as u16)))
                    }
                };
                let ev = envelope::seal(
                    &k2,
                    Draft {
                        binding: b,
                        round,
                        from: Some(seat),
                        to,
                        reference: None,
                        payload: &json!({ "sent_us": now_us() }),
                    },
                )
                .expect("seal");
                let body = ev.as_json().into_bytes();
                let t0 = Instant::now();
                let r = h
                    .post(url.clone())
                    .header(
                        "authorization",
                        auth(&k2, url, HttpMethod::POST, Some(&body)),
                    )
                    .header("content-type", "application/json")
                    .body(body)
                    .send()
                    .await;
                let ms = t0.elapsed().as_secs_f64() * 1e3;
                match r {
                    Ok(r) if r.status().as_u16() == 201 => {
                        st.accepted.fetch_add(1, Ordering::Relaxed);
                        st.post_ms.lock().expect("lock").push(ms);
                        acked.lock().expect("lock").push(ev.id.to_hex());
                        if dkg {
                            step += 1;
                            if step == peers.len() {
                                (ceremony, step) = (ceremony + 1, 0);
                                at.store(ceremony as u64, Ordering::Relaxed);
                            }
                        }
                    }
                    Ok(r) => {
                        st.errors.fetch_add(1, Ordering::Relaxed);
                        eprintln!(
                            "post: {} {}",
                            r.status(),
                            r.text().await.unwrap_or_default()
                        );
                    }
                    Err(e) => {
                        st.errors.fetch_add(1, Ordering::Relaxed);
                        eprintln!("post: {e}");
                        // serve is gone (the kill -9 check): do not spin.
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                }
            }
            st.posting_us
                .fetch_max(start.elapsed().as_micros() as u64, Ordering::Relaxed);
        }));
        // Poller: long-poll from a cursor; delivery latency of everyone else's packages.
        let (h, k2, st, cs) = (http.clone(), k.clone(), stats.clone(), ceremonies.clone());
        let me = k.public_key().to_hex();
        tasks.push(tokio::spawn(async move {
            let (mut cursor, mut following) = (0u64, 0u64);
            while Instant::now() < deadline {
                // DKG mode: the ceremony its poster is in, from its start.
                let now_in = current.load(Ordering::Relaxed);
                if now_in != following {
                    (following, cursor) = (now_in, 0);
                }
                let Some((_, url)) = cs.get(following as usize) else {
                    break;
                };
                let mut u = url.clone();
                u.query_pairs_mut()
                    .append_pair("since", &cursor.to_string())
                    .append_pair("wait", "5");
                let r = h
                    .get(u.clone())
                    .header("authorization", auth(&k2, &u, HttpMethod::GET, None))
                    .send()
                    .await;
                let seen = now_us();
                st.polls.fetch_add(1, Ordering::Relaxed);
                let page: Value = match r {
                    Ok(r) if r.status().is_success() => match r.json().await {
                        Ok(v) => v,
                        Err(e) => {
                            st.errors.fetch_add(1, Ordering::Relaxed);
                            eprintln!("poll body: {e}");
                            continue;
                        }
                    },
                    Ok(r) => {
                        st.errors.fetch_add(1, Ordering::Relaxed);
                        eprintln!(
                            "poll: {} {}",
                            r.status(),
                            r.text().await.unwrap_or_default()
                        );
                        continue;
                    }
                    Err(e) => {
                        st.errors.fetch_add(1, Ordering::Relaxed);
                        eprintln!("poll: {e}");
                        // serve is gone (the kill -9 check): do not spin.
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                cursor = page["cursor"].as_u64().unwrap_or(cursor);
                let mut lat = vec![];
                for p in page["packages"].as_array().into_iter().flatten() {
                    let ev = &p["event"];
                    if ev["pubkey"].as_str() == Some(me.as_str()) {
                        continue;
                    }
                    let sent = ev["content"]
                        .as_str()
                        .and_then(|c| serde_json::from_str::<Value>(c).ok())
                        .and_then(|c| c["sent_us"].as_u64());
                    if let Some(s) = sent {
                        lat.push(seen.saturating_sub(s) as f64 / 1e3);
                    }
                }
                st.delivery_ms.lock().expect("lock").extend(lat);
            }
        }));
    }
    for t in tasks {
        t.await.expect("task");
    }
    let elapsed = start.elapsed().as_secs_f64();
    let posting = (stats.posting_us.load(Ordering::Relaxed) as f64 / 1e6).max(1e-3);
    let mut post = stats.post_ms.lock().expect("lock").clone();
    let mut delivery = stats.delivery_ms.lock().expect("lock").clone();
    post.sort_by(f64::total_cmp);
    delivery.sort_by(f64::total_cmp);
    let accepted = stats.accepted.load(Ordering::Relaxed);
    if let Some(path) = acked_file {
        let mut ids = acked.lock().expect("lock").join("\n");
        ids.push('\n');
        std::fs::write(&path, ids).expect("write the acknowledged ids");
    }
    println!(
        "{}",
        json!({
            "members": n,
            "mode": if dkg { "dkg" } else { "commit" },
            "seconds": elapsed,
            "accepted": accepted,
            "accepted_per_sec": accepted as f64 / posting,
            "posting_seconds": posting,
            "post_p50_ms": percentile(&post, 0.50),
            "post_p99_ms": percentile(&post, 0.99),
            "deliveries": delivery.len(),
            "delivery_p50_ms": percentile(&delivery, 0.50),
            "delivery_p99_ms": percentile(&delivery, 0.99),
            "polls": stats.polls.load(Ordering::Relaxed),
            "errors": stats.errors.load(Ordering::Relaxed),
            "load_cpu_s": cpu_seconds("/proc/self/stat"),
        })
    );
}

/// User + system CPU seconds of a process so far, from `/proc/PID/stat` (Linux; null
/// elsewhere): with the server's, it shows how the two cores were shared.
fn cpu_seconds(stat: &str) -> Option<f64> {
    let s = std::fs::read_to_string(stat).ok()?;
    // Fields after the parenthesised command name; utime and stime are the 14th and
    // 15th of the whole line, in clock ticks (100 per second on Linux).
    let rest = s.get(s.rfind(')')? + 2..)?;
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    Some(ticks as f64 / 100.0)
}
