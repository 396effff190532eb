//! Issue 10, point 2: `passport serve` starved without authentication. The review held
//! 320 slow connections against an open-file limit of 256 and `/healthz` timed out;
//! half-sent requests were never closed. These tests attack the real binary over
//! loopback (attackers from other 127.0.0.x addresses, so per-IP caps tell them apart
//! from the honest client on 127.0.0.1) while an honest client keeps asking.
#![cfg(target_os = "linux")]

use std::io::{BufRead, BufReader};
use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use nostr::hashes::{sha256::Hash as Sha256Hash, Hash};
use nostr::nips::nip98::{HttpData, HttpMethod};
use nostr::{EventBuilder, JsonUtil, Keys, Tag, Url};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

use passport::ceremony::{Member, Roster};
use passport::envelope::{self, Binding, Draft, Round};

const HONEST: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 1);

/// `passport serve` under `ulimit -n 256`, killed on drop.
struct Serve {
    child: Child,
    addr: SocketAddr,
    stderr: Arc<Mutex<String>>,
}

impl Serve {
    fn start(home: &Path, args: &[&str]) -> Serve {
        let mut c = Command::new("sh");
        c.arg("-c")
            .arg("ulimit -n 256 && exec \"$0\" \"$@\"")
            .arg(assert_cmd::cargo::cargo_bin("passport"))
            .arg("--home")
            .arg(home)
            .args(["serve", "--listen", "127.0.0.1:0"])
            .args(args);
        for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("PASSPORT_")) {
            c.env_remove(k);
        }
        let mut child = c
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn passport serve");
        let stderr = Arc::new(Mutex::new(String::new()));
        let (err, sink) = (child.stderr.take().expect("stderr"), Arc::clone(&stderr));
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                sink.lock()
                    .expect("stderr lock")
                    .push_str(&format!("{line}\n"));
            }
        });
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("read the ready line");
        let addr = line
            .trim()
            .strip_prefix("listening on http://")
            .unwrap_or_else(|| panic!("no ready line, got {line:?}"))
            .parse()
            .expect("address");
        Serve {
            child,
            addr,
            stderr,
        }
    }

    fn stderr(&self) -> String {
        self.stderr.lock().expect("stderr lock").clone()
    }

    fn wait_stderr(&self, needle: &str) {
        let t = Instant::now();
        while !self.stderr().contains(needle) {
            assert!(
                t.elapsed() < Duration::from_secs(20),
                "stderr never said {needle:?}: {}",
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Descriptors the server process holds now.
    fn fds(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.child.id()))
            .map(|d| d.count())
            .unwrap_or(0)
    }

    fn base(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits until the server holds fewer than `n` descriptors (the attackers' are closed);
/// returns how many it holds.
async fn wait_fds_below(s: &Serve, n: usize) -> usize {
    let t = Instant::now();
    loop {
        let fds = s.fds();
        if fds < n {
            return fds;
        }
        assert!(
            t.elapsed() < Duration::from_secs(20),
            "the server still holds {fds} descriptors"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn connect_from(from: Ipv4Addr, to: SocketAddr) -> std::io::Result<TcpStream> {
    let s = TcpSocket::new_v4()?;
    s.bind(SocketAddr::new(from.into(), 0))?;
    s.connect(to).await
}

/// One request on a fresh connection from `from` (`Connection: close`): status and body,
/// within 5 s (generous for a busy machine; the unprotected server never answered).
async fn http(
    from: Ipv4Addr,
    to: SocketAddr,
    method: &str,
    path: &str,
    auth: Option<&str>,
    body: &[u8],
) -> Result<(u16, String), String> {
    http_within(Duration::from_secs(5), from, to, method, path, auth, body).await
}

async fn http_within(
    within: Duration,
    from: Ipv4Addr,
    to: SocketAddr,
    method: &str,
    path: &str,
    auth: Option<&str>,
    body: &[u8],
) -> Result<(u16, String), String> {
    let go = async {
        let mut s = connect_from(from, to).await.map_err(|e| e.to_string())?;
        let mut req = format!(
            "{method} {path} HTTP/1.1\r\nHost: {to}\r\nConnection: close\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\n",
            body.len()
        );
        if let Some(a) = auth {
            req.push_str(&format!("Authorization: {a}\r\n"));
        }
        req.push_str("\r\n");
        s.write_all(req.as_bytes())
            .await
            .map_err(|e| e.to_string())?;
        s.write_all(body).await.map_err(|e| e.to_string())?;
        let mut out = Vec::new();
        s.read_to_end(&mut out).await.map_err(|e| e.to_string())?;
        let out = String::from_utf8_lossy(&out).into_owned();
        let status = out
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .ok_or_else(|| format!("no status line in {out:?}"))?;
        Ok((
            status,
            out.split_once("\r\n\r\n").map_or("", |(_, b)| b).to_owned(),
        ))
    };
    tokio::time::timeout(within, go)
        .await
        .map_err(|_| format!("{method} {path}: no answer within {within:?}"))?
}

fn nip98(keys: &Keys, method: HttpMethod, url: &str, body: Option<&[u8]>) -> String {
    let mut data = HttpData::new(Url::parse(url).expect("url"), method);
    if let Some(b) = body {
        data = data.payload(Sha256Hash::hash(b));
    }
    let nonce = Tag::parse(["nonce", &hex::encode(rand::random::<[u8; 16]>())]).expect("tag");
    let ev = EventBuilder::http_auth(data)
        .tag(nonce)
        .sign_with_keys(keys)
        .expect("sign");
    format!(
        "Nostr {}",
        base64::engine::general_purpose::STANDARD.encode(ev.as_json())
    )
}

/// Two members, their roster, and the server's id for it.
struct Party {
    keys: Vec<Keys>,
    roster: Roster,
}

impl Party {
    fn new() -> Party {
        let keys: Vec<Keys> = (0..2).map(|_| Keys::generate()).collect();
        let members = ["alice", "bob"]
            .iter()
            .zip(&keys)
            .map(|(n, k)| Member {
                name: (*n).into(),
                npub: k.public_key(),
            })
            .collect();
        let roster =
            Roster::new("limits", 2, members, None, &mut rand::rngs::OsRng).expect("roster");
        Party { keys, roster }
    }

    async fn register(&self, s: &Serve) -> String {
        let body = self.roster.to_json_pretty();
        let url = format!("{}/v1/ceremonies", s.base());
        let auth = nip98(&self.keys[0], HttpMethod::POST, &url, Some(body.as_bytes()));
        let (status, text) = http(
            HONEST,
            s.addr,
            "POST",
            "/v1/ceremonies",
            Some(&auth),
            body.as_bytes(),
        )
        .await
        .expect("register");
        assert!(status == 201 || status == 200, "register: {status} {text}");
        serde_json::from_str::<Value>(&text).expect("json")["id"]
            .as_str()
            .expect("id")
            .to_owned()
    }

    async fn post_dkg1(&self, s: &Serve, id: &str) -> (u16, String) {
        let event = envelope::seal(
            &self.keys[0],
            Draft {
                binding: &Binding::of(&self.roster),
                round: Round::Dkg1,
                from: Some(1),
                to: None,
                reference: None,
                payload: &json!({ "n": rand::random::<u64>() }),
            },
        )
        .expect("seal");
        let body = event.as_json();
        let path = format!("/v1/ceremonies/{id}/packages");
        let auth = nip98(
            &self.keys[0],
            HttpMethod::POST,
            &format!("{}{path}", s.base()),
            Some(body.as_bytes()),
        );
        http(HONEST, s.addr, "POST", &path, Some(&auth), body.as_bytes())
            .await
            .expect("post")
    }

    /// A fetch by bob that long-polls `wait` seconds past the first package.
    async fn long_poll(&self, s: &Serve, id: &str, wait: u64) -> (u16, String, Duration) {
        let path = format!("/v1/ceremonies/{id}/packages?since=1&wait={wait}");
        let auth = nip98(
            &self.keys[1],
            HttpMethod::GET,
            &format!("{}{path}", s.base()),
            None,
        );
        let t = Instant::now();
        let within = Duration::from_secs(wait + 10);
        let (status, body) = http_within(within, HONEST, s.addr, "GET", &path, Some(&auth), b"")
            .await
            .expect("the long poll answers");
        (status, body, t.elapsed())
    }
}

/// Keeps a half-sent request open from `from`, reconnecting 250 ms after the server
/// closes it (a slowloris proper), until `stop`.
async fn slowloris(from: Ipv4Addr, to: SocketAddr, stop: Arc<AtomicBool>) {
    while !stop.load(Ordering::Relaxed) {
        if let Ok(mut s) = connect_from(from, to).await {
            let _ = s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n").await;
            let mut buf = [0u8; 512];
            // Until the server closes it (after a refusal, for room, or at the timeout).
            while !stop.load(Ordering::Relaxed) {
                match tokio::time::timeout(Duration::from_millis(200), s.read(&mut buf)).await {
                    Ok(Ok(0)) | Ok(Err(_)) => break,
                    _ => {}
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Sends a request's headers one byte every 200 ms, never finishing; returns how long
/// the server let it go on.
async fn trickle(from: Ipv4Addr, to: SocketAddr) -> Duration {
    let mut s = connect_from(from, to).await.expect("connect");
    let t = Instant::now();
    let head = b"GET /healthz HTTP/1.1\r\nHost: x\r\n";
    let mut buf = [0u8; 64];
    for b in head.iter().chain(std::iter::repeat(&b'a')) {
        if s.write_all(&[*b]).await.is_err() {
            break;
        }
        match tokio::time::timeout(Duration::from_millis(200), s.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break,
            _ => {}
        }
        assert!(
            t.elapsed() < Duration::from_secs(30),
            "a trickling request was never closed"
        );
    }
    t.elapsed()
}

/// Sends half a request and waits for the server to close it; returns how long it took.
async fn half_sent(from: Ipv4Addr, to: SocketAddr) -> Duration {
    let mut s = connect_from(from, to).await.expect("connect");
    let t = Instant::now();
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .await
        .expect("write");
    let mut buf = [0u8; 64];
    let r = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await;
    assert!(r.is_ok(), "a half-sent request was never closed");
    t.elapsed()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slowloris_does_not_starve_honest_clients() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let s = Serve::start(
        &tmp.path().join("home"),
        &[
            "--header-read-timeout-secs",
            "2",
            "--idle-timeout-secs",
            "10",
            "--max-connections",
            "10000",
            "--max-connections-per-ip",
            "16",
        ],
    );
    // 256 descriptors cannot hold 10000 connections: the server says what it holds.
    s.wait_stderr("max_connections lowered from 10000 to 160: the open-file limit is 256");
    let party = Party::new();
    let id = party.register(&s).await;

    // Phase 1: 320 half-sent connections from one address (more than the cap of 16 and
    // than the server has descriptors), re-opened as they are closed; 8 more that
    // trickle their headers; 8 that send half a request once.
    let stop = Arc::new(AtomicBool::new(false));
    let attackers: Vec<_> = (0..320)
        .map(|_| {
            tokio::spawn(slowloris(
                Ipv4Addr::new(127, 0, 0, 2),
                s.addr,
                Arc::clone(&stop),
            ))
        })
        .collect();
    let trickles: Vec<_> = (0..8)
        .map(|_| tokio::spawn(trickle(Ipv4Addr::new(127, 0, 0, 3), s.addr)))
        .collect();
    let halves: Vec<_> = (0..8)
        .map(|_| tokio::spawn(half_sent(Ipv4Addr::new(127, 0, 0, 4), s.addr)))
        .collect();

    // Meanwhile the honest client gets every answer: health, a package, a long poll
    // that outlasts the header timeout.
    let t = Instant::now();
    let mut answered = 0;
    while t.elapsed() < Duration::from_secs(5) {
        let (status, body) = http(HONEST, s.addr, "GET", "/healthz", None, b"")
            .await
            .expect("health under attack");
        assert_eq!(status, 200, "{body}");
        answered += 1;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(answered >= 20, "only {answered} health checks in 5 s");
    let (status, body) = party.post_dkg1(&s, &id).await;
    assert_eq!(status, 201, "{body}");
    let (status, body, took) = party.long_poll(&s, &id, 4).await;
    assert_eq!(status, 200, "{body}");
    assert!(
        took >= Duration::from_millis(3500),
        "the long poll waited {took:?}"
    );
    assert!(
        s.fds() < 150,
        "the single-address attack holds {} descriptors",
        s.fds()
    );

    // Half-sent and trickling requests were closed at the 2 s header timeout (the idle
    // timeout is 10 s, and trickles keep bytes moving).
    for h in halves {
        let took = h.await.expect("half-sent task");
        assert!(
            (Duration::from_millis(1500)..Duration::from_secs(8)).contains(&took),
            "a half-sent request lasted {took:?}"
        );
    }
    for h in trickles {
        let took = h.await.expect("trickle task");
        assert!(
            (Duration::from_millis(1500)..Duration::from_secs(8)).contains(&took),
            "a trickling request lasted {took:?}"
        );
    }
    stop.store(true, Ordering::Relaxed);
    for a in attackers {
        a.await.expect("attacker task");
    }

    // Phase 2: more half-sent connections from many addresses (11 × 16) than the 160
    // the descriptors allow. The server holds no more than its cap (plus the few being
    // refused or closed for room), never runs out of descriptors, lets the honest client
    // in (a newcomer displaces the connection that has waited longest), and closes them
    // all at the header timeout.
    let base = wait_fds_below(&s, 40).await;
    let flood: Vec<_> = (10..21u8)
        .flat_map(|last| (0..16).map(move |_| Ipv4Addr::new(127, 0, 0, last)))
        .map(|from| tokio::spawn(half_sent(from, s.addr)))
        .collect();
    let mut most = 0;
    let t = Instant::now();
    let mut ok = 0;
    while t.elapsed() < Duration::from_secs(4) {
        most = most.max(s.fds());
        if let Ok((200, _)) = http(HONEST, s.addr, "GET", "/healthz", None, b"").await {
            ok += 1;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        ok >= 5,
        "the honest client got {ok} answers during the flood"
    );
    let room = base + 160 + 2 * 16;
    assert!(
        (base + 100..=room).contains(&most),
        "the server held {most} descriptors ({base} before the flood, at most {room} allowed)"
    );
    for h in flood {
        let took = h.await.expect("flood task");
        assert!(
            took < Duration::from_secs(8),
            "a flood connection lasted {took:?}"
        );
    }
    let (status, _) = http(HONEST, s.addr, "GET", "/healthz", None, b"")
        .await
        .expect("health after the attack");
    assert_eq!(status, 200);
    let err = s.stderr();
    assert!(
        !err.contains("cannot accept"),
        "ran out of descriptors: {err}"
    );
    assert!(!err.contains("panicked"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_and_slow_bodies_are_closed_but_long_polls_are_not() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let s = Serve::start(
        &tmp.path().join("home"),
        &[
            "--header-read-timeout-secs",
            "60",
            "--body-read-timeout-secs",
            "2",
            "--idle-timeout-secs",
            "2",
        ],
    );
    // A keep-alive connection that got its answer and then says nothing is closed at the
    // idle timeout (the header timeout is a minute).
    let mut c = connect_from(HONEST, s.addr).await.expect("connect");
    c.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .expect("write");
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    while !String::from_utf8_lossy(&got).contains("\"ok\"") {
        let n = tokio::time::timeout(Duration::from_secs(5), c.read(&mut buf))
            .await
            .expect("the answer")
            .expect("read");
        assert!(n > 0, "closed before answering");
        got.extend_from_slice(&buf[..n]);
    }
    let t = Instant::now();
    let n = tokio::time::timeout(Duration::from_secs(15), c.read(&mut buf))
        .await
        .expect("an idle connection is closed")
        .unwrap_or(0);
    assert_eq!(n, 0, "nothing more is sent");
    let took = t.elapsed();
    assert!(
        (Duration::from_millis(1500)..Duration::from_secs(8)).contains(&took),
        "idle for {took:?}"
    );

    // A body that trickles in is cut off at the body timeout with 408, although its
    // bytes keep moving.
    let mut c = connect_from(HONEST, s.addr).await.expect("connect");
    c.write_all(
        b"POST /v1/ceremonies HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
          Content-Length: 1000\r\n\r\n{",
    )
    .await
    .expect("write");
    let t = Instant::now();
    let mut got = Vec::new();
    loop {
        match tokio::time::timeout(Duration::from_millis(300), c.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break,
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
            Err(_) => {
                let _ = c.write_all(b" ").await;
            }
        }
        assert!(
            t.elapsed() < Duration::from_secs(15),
            "the slow body was never cut off"
        );
    }
    let text = String::from_utf8_lossy(&got);
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(
        text.contains("\"timeout\"") && text.contains("body_read_timeout_secs"),
        "{text}"
    );
    assert!(
        t.elapsed() >= Duration::from_millis(1500),
        "cut at {:?}",
        t.elapsed()
    );

    // A long poll is a request being handled: it outlasts the idle timeout.
    let party = Party::new();
    let id = party.register(&s).await;
    let (status, body) = party.post_dkg1(&s, &id).await;
    assert_eq!(status, 201, "{body}");
    let (status, body, took) = party.long_poll(&s, &id, 5).await;
    assert_eq!(status, 200, "{body}");
    assert!(
        took >= Duration::from_millis(4500),
        "the long poll waited {took:?}"
    );
    let v: Value = serde_json::from_str(&body).expect("json");
    assert_eq!(v["packages"].as_array().map(Vec::len), Some(0), "{body}");
}
