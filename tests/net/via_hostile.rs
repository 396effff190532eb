//! `--via http://…` against hostile servers on loopback, written here on raw TCP so they
//! can misbehave as no real server would: an endless body, a cursor that never moves, no
//! answer at all. The binary must stop by itself with one line naming the server, leave
//! the home as it was, and read no more than its cap.

use crate::util;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use util::*;

/// The client's cap on one package page (src/transport/http.rs): 16 MiB + 4 MiB + 1 MiB.
const PAGE_CAP: usize = (16 << 20) + (4 << 20) + (1 << 20);

#[derive(Clone, Copy)]
enum Mode {
    /// Registration works; every fetch answers a chunked body that never ends.
    EndlessFetch,
    /// Registration works; every fetch answers one package and cursor 5, forever.
    StuckCursor,
    /// Accepts, reads the request, never answers.
    Silent,
    /// Registration works; fetches are never answered.
    SilentFetch,
}

/// A hostile server: one thread per connection, each request answered as `mode` says.
struct Hostile {
    url: String,
    /// Body bytes written by the server for fetches, over all connections.
    sent: Arc<AtomicUsize>,
    /// Fetch requests seen.
    fetches: Arc<AtomicUsize>,
}

impl Hostile {
    fn start(mode: Mode, package: String) -> Hostile {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let sent = Arc::new(AtomicUsize::new(0));
        let fetches = Arc::new(AtomicUsize::new(0));
        let (s, f) = (sent.clone(), fetches.clone());
        // Detached: the threads end with the test process (or when the client hangs up).
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { return };
                let (s, f, p) = (s.clone(), f.clone(), package.clone());
                std::thread::spawn(move || serve_conn(conn, mode, &s, &f, &p));
            }
        });
        Hostile { url, sent, fetches }
    }
}

/// Reads one request head and its body; returns the request line, or None at EOF.
fn read_request(conn: &mut TcpStream) -> Option<String> {
    let mut head = vec![];
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if conn.read(&mut byte).ok()? == 0 || head.len() > 64 << 10 {
            return None;
        }
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head).into_owned();
    let len: usize = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse().ok())?
        })
        .unwrap_or(0);
    let mut body = vec![0u8; len];
    conn.read_exact(&mut body).ok()?;
    Some(head.lines().next().unwrap_or_default().to_owned())
}

fn respond(conn: &mut TcpStream, status: &str, body: &str) -> std::io::Result<()> {
    write!(
        conn,
        "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
}

fn serve_conn(
    mut conn: TcpStream,
    mode: Mode,
    sent: &AtomicUsize,
    fetches: &AtomicUsize,
    pkg: &str,
) {
    while let Some(line) = read_request(&mut conn) {
        if let Mode::Silent = mode {
            // Hold the connection open, answering nothing, until the client hangs up.
            let mut sink = [0u8; 1024];
            while matches!(conn.read(&mut sink), Ok(n) if n > 0) {}
            return;
        }
        let r = if line.starts_with("POST /v1/ceremonies ") {
            respond(&mut conn, "201 Created", r#"{"id":"c1"}"#)
        } else if line.starts_with("GET /v1/ceremonies/c1/packages") {
            fetches.fetch_add(1, Ordering::SeqCst);
            match mode {
                Mode::SilentFetch => {
                    let mut sink = [0u8; 1024];
                    while matches!(conn.read(&mut sink), Ok(n) if n > 0) {}
                    return;
                }
                Mode::EndlessFetch => {
                    let _ = write!(
                        conn,
                        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n"
                    );
                    let chunk = vec![b' '; 64 << 10];
                    loop {
                        let framed = write!(conn, "{:x}\r\n", chunk.len())
                            .and_then(|_| conn.write_all(&chunk))
                            .and_then(|_| conn.write_all(b"\r\n"));
                        if framed.is_err() {
                            return;
                        }
                        sent.fetch_add(chunk.len(), Ordering::SeqCst);
                    }
                }
                _ => respond(
                    &mut conn,
                    "200 OK",
                    &format!(r#"{{"packages":[{{"seq":5,"event":{pkg}}}],"cursor":5}}"#),
                ),
            }
        } else {
            respond(&mut conn, "404 Not Found", r#"{"error":"x","message":"x"}"#)
        };
        if r.is_err() {
            return;
        }
    }
}

struct Setup {
    _dir: tempfile::TempDir,
    alice: Member,
    roster: PathBuf,
    /// alice's round-1 package (a real signed event), for the stuck server to repeat.
    package: String,
}

/// alice and bob's 2-of-2 roster; alice has done round 1 with files.
fn setup() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let alice = make_member(root, "alice");
    let bob = make_member(root, "bob");
    let roster = write_roster(root, "roster.json", 2, &[&alice, &bob], None);
    let out = root.join("out");
    std::fs::create_dir(&out).unwrap();
    let mut c = passport(&alice.home);
    c.args(["dkg", "round1", "--roster"])
        .arg(&roster)
        .arg("-o")
        .arg(&out);
    json_ok(c);
    let package = std::fs::read_to_string(util::pkg(&out, "dkg-1-alice")).unwrap();
    let package = serde_json::from_str::<serde_json::Value>(&package)
        .unwrap()
        .to_string();
    Setup {
        _dir: dir,
        alice,
        roster,
        package,
    }
}

/// Runs `dkg <step> --via URL` as alice, bounded (a hang is a failure, not a stuck
/// test); expects one error line naming `needles`, and the home unchanged.
fn fails_cleanly(s: &Setup, step: &str, url: &str, extra: &[&str], needles: &[&str]) {
    let before = snapshot(&s.alice.home);
    let mut c = passport(&s.alice.home);
    c.args(["dkg", step, "--via", url, "--roster"])
        .arg(&s.roster)
        .args(extra)
        .timeout(Duration::from_secs(120));
    expect_error_line(&mut c, 1, needles);
    assert!(
        snapshot(&s.alice.home) == before,
        "the failed {step} changed alice's home"
    );
}

#[test]
fn an_endless_body_is_cut_at_the_page_cap_naming_the_server() {
    let s = setup();
    let h = Hostile::start(Mode::EndlessFetch, s.package.clone());
    fails_cleanly(
        &s,
        "round2",
        &h.url,
        &[],
        &[&h.url, "sent more than", &PAGE_CAP.to_string(), "fetch"],
    );
    // The client hung up at its cap: what the server managed to write is the cap plus
    // what the sockets buffer, not the gigabytes an unbounded read takes in.
    let sent = h.sent.load(Ordering::SeqCst);
    eprintln!("the server wrote {sent} body bytes before the client hung up (cap {PAGE_CAP})");
    assert!(sent >= PAGE_CAP, "the server sent only {sent} bytes");
    assert!(
        sent < PAGE_CAP + (16 << 20),
        "the client read on past its cap: {sent} bytes sent"
    );
    assert_eq!(h.fetches.load(Ordering::SeqCst), 1);
}

#[test]
fn a_cursor_that_never_advances_stops_the_paging_naming_the_server() {
    let s = setup();
    let h = Hostile::start(Mode::StuckCursor, s.package.clone());
    fails_cleanly(
        &s,
        "round2",
        &h.url,
        &[],
        &[&h.url, "does not advance its cursor", "stuck at 5"],
    );
    // One page to learn the cursor, one that repeats it: then the client stops.
    assert_eq!(h.fetches.load(Ordering::SeqCst), 2);
}

#[test]
fn a_server_that_never_answers_hits_the_deadline_naming_the_server() {
    let s = setup();
    // Registration is the first request: it hangs, and round 1 writes nothing.
    let h = Hostile::start(Mode::Silent, String::new());
    let dir = tempfile::tempdir().unwrap();
    let carol = make_member(dir.path(), "carol");
    let dave = make_member(dir.path(), "dave");
    let roster = write_roster(dir.path(), "r.json", 2, &[&carol, &dave], None);
    let before = snapshot(&carol.home);
    let mut c = passport(&carol.home);
    c.args([
        "dkg",
        "round1",
        "--via",
        &h.url,
        "--via-timeout",
        "2",
        "--roster",
    ])
    .arg(&roster)
    .timeout(Duration::from_secs(120));
    expect_error_line(
        &mut c,
        1,
        &[&h.url, "did not finish the roster registration within 2 s"],
    );
    assert!(snapshot(&carol.home) == before, "round 1 wrote something");

    // A server that registers, then never answers the fetch (the deadline set through
    // the environment this time).
    let h = Hostile::start(Mode::SilentFetch, String::new());
    let before = snapshot(&s.alice.home);
    let mut c = passport(&s.alice.home);
    c.env("PASSPORT_VIA_TIMEOUT", "1")
        .args(["dkg", "round2", "--via", &h.url, "--roster"])
        .arg(&s.roster)
        .timeout(Duration::from_secs(120));
    expect_error_line(
        &mut c,
        1,
        &[
            &h.url,
            "did not finish the fetch within 1 s",
            "--via-timeout",
        ],
    );
    assert!(snapshot(&s.alice.home) == before, "round 2 wrote something");
    assert_eq!(h.fetches.load(Ordering::SeqCst), 1);

    let mut c = passport(&carol.home);
    c.args([
        "dkg",
        "round1",
        "--via",
        &h.url,
        "--via-timeout",
        "0",
        "--roster",
    ])
    .arg(&roster);
    expect_error_line(&mut c, 2, &["--via-timeout must be at least 1"]);
}
