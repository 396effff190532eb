//! The `passport serve` binary: prints its address, answers over real TCP, takes its
//! settings from flags > environment > config file, and stops cleanly on SIGTERM.

use crate::util;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use nostr::hashes::{sha256::Hash as Sha256Hash, Hash};
use nostr::nips::nip98::{HttpData, HttpMethod};
use nostr::{EventBuilder, JsonUtil, Keys, Tag, Url};
use serde_json::Value;

use passport::ceremony::{Member, Roster};

struct Server {
    child: Child,
    /// The first stdout line.
    line: String,
}

/// A failing assertion must not leave the server running.
impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(home: &Path, args: &[&str], env: &[(&str, &str)]) -> Server {
    let mut c = Command::new(assert_cmd::cargo::cargo_bin("passport"));
    c.arg("--home").arg(home).args(args);
    for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("PASSPORT_")) {
        c.env_remove(k);
    }
    c.envs(env.iter().copied());
    let mut child = c
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn passport serve");
    let stdout = child.stdout.take().expect("stdout");
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("read the ready line");
    Server { child, line }
}

impl Server {
    fn addr(&self) -> String {
        let l = self.line.trim();
        let url = match serde_json::from_str::<Value>(l) {
            Ok(v) => v["listening"].as_str().expect("listening").to_owned(),
            Err(_) => l
                .strip_prefix("listening on ")
                .expect("`listening on` line")
                .to_owned(),
        };
        url.strip_prefix("http://").expect("http URL").to_owned()
    }

    /// SIGTERM, then waits (bounded) for the exit; returns the exit code and stderr.
    fn stop(mut self) -> (Option<i32>, String) {
        let pid = self.child.id().to_string();
        let ok = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("run kill");
        assert!(ok.success());
        let deadline = Instant::now() + Duration::from_secs(15);
        let status = loop {
            if let Some(s) = self.child.try_wait().expect("try_wait") {
                break s;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("passport serve did not exit within 15 s of SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        let mut err = String::new();
        if let Some(mut e) = self.child.stderr.take() {
            let _ = e.read_to_string(&mut err);
        }
        (status.code(), err)
    }
}

/// One HTTP/1.1 request over a fresh connection: (status, body).
fn http(addr: &str, method: &str, path: &str, auth: Option<&str>, body: &[u8]) -> (u16, String) {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(90)))
        .expect("timeout");
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    if let Some(a) = auth {
        req.push_str(&format!("Authorization: {a}\r\n"));
    }
    req.push_str("Content-Type: application/json\r\n\r\n");
    s.write_all(req.as_bytes()).expect("write");
    s.write_all(body).expect("write body");
    let mut out = String::new();
    s.read_to_string(&mut out).expect("read");
    let status = out
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .expect("status line");
    let body = out.split_once("\r\n\r\n").map_or("", |(_, b)| b).to_owned();
    (status, body)
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

#[cfg(unix)]
fn mode(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).expect("metadata").permissions().mode() & 0o777
}

#[test]
fn serves_health_on_a_free_port_and_stops_on_sigterm() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let home = tmp.path().join("home");
    let s = start(&home, &["serve", "--listen", "127.0.0.1:0", "-v"], &[]);
    assert!(
        s.line.starts_with("listening on http://127.0.0.1:"),
        "{}",
        s.line
    );
    let addr = s.addr();
    let (status, body) = http(&addr, "GET", "/healthz", None, b"");
    assert_eq!(status, 200, "{body}");
    let v: Value = serde_json::from_str(&body).expect("json");
    assert_eq!(v["status"], "ok");
    // No initialized home needed: only the database directory, private.
    let db = home.join("serve").join("serve.sqlite");
    assert!(db.exists());
    assert!(!home.join("config.json").exists());
    #[cfg(unix)]
    {
        assert_eq!(mode(&db), 0o600);
        assert_eq!(mode(&home.join("serve")), 0o700);
    }
    let (code, stderr) = s.stop();
    assert_eq!(code, Some(0), "stderr: {stderr}");
    assert!(stderr.contains("GET /healthz 200"), "request log: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn json_ready_line_and_setting_precedence() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let config = tmp.path().join("serve.toml");
    std::fs::write(
        &config,
        "public_url = \"http://file.example\"\nlisten = \"127.0.0.1:1\"\n",
    )
    .expect("write config");
    let db = tmp.path().join("elsewhere").join("x.sqlite");
    let config_arg = config.to_str().expect("utf-8 path");
    let db_arg = db.to_str().expect("utf-8 path");
    // Env beats the file (public_url); the flag beats the file (listen).
    let s = start(
        &tmp.path().join("home"),
        &[
            "--json",
            "serve",
            "--config",
            config_arg,
            "--listen",
            "127.0.0.1:0",
            "--db",
            db_arg,
        ],
        &[("PASSPORT_SERVE_PUBLIC_URL", "http://env.example/")],
    );
    let v: Value = serde_json::from_str(s.line.trim()).expect("one JSON line");
    assert!(v["listening"]
        .as_str()
        .expect("listening")
        .starts_with("http://127.0.0.1:"));
    assert_ne!(v["listening"], "http://127.0.0.1:1");
    assert_eq!(v["public_url"], "http://env.example");
    assert_eq!(v["db"], db_arg);
    assert!(db.exists());
    let (code, _) = s.stop();
    assert_eq!(code, Some(0));

    // And a flag beats the environment.
    let s = start(
        &tmp.path().join("home"),
        &[
            "--json",
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--public-url",
            "http://flag.example",
        ],
        &[("PASSPORT_SERVE_PUBLIC_URL", "http://env.example")],
    );
    let v: Value = serde_json::from_str(s.line.trim()).expect("one JSON line");
    assert_eq!(v["public_url"], "http://flag.example");
    assert_eq!(s.stop().0, Some(0));
}

#[test]
fn bad_configuration_is_a_usage_error() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let config = tmp.path().join("serve.toml");
    std::fs::write(&config, "lisen = \"127.0.0.1:0\"\n").expect("write config");
    let mut c = util::passport(&tmp.path().join("home"));
    c.arg("serve").arg("--config").arg(&config);
    util::expect_error_line(&mut c, 2, &["lisen", "serve.toml"]);

    let mut c = util::passport(&tmp.path().join("home"));
    c.args(["serve", "--listen", "127.0.0.1:0", "--rate-per-ip", "0"]);
    util::expect_error_line(&mut c, 2, &["rate_per_ip"]);

    let mut c = util::passport(&tmp.path().join("home"));
    c.args(["serve", "--config"])
        .arg(tmp.path().join("missing.toml"));
    util::expect_error_line(&mut c, 1, &["missing.toml"]);
}

#[test]
fn sigterm_ends_a_pending_long_poll() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let s = start(
        &tmp.path().join("home"),
        &["serve", "--listen", "127.0.0.1:0"],
        &[],
    );
    let addr = s.addr();
    let base = format!("http://{addr}");
    let keys: Vec<Keys> = (0..2).map(|_| Keys::generate()).collect();
    let members = ["alice", "bob"]
        .iter()
        .zip(&keys)
        .map(|(n, k)| Member {
            name: (*n).into(),
            npub: k.public_key(),
        })
        .collect();
    let roster = Roster::new("cli", 2, members, None, &mut rand::rngs::OsRng).expect("roster");
    let body = roster.to_json_pretty();
    let auth = nip98(
        &keys[0],
        HttpMethod::POST,
        &format!("{base}/v1/ceremonies"),
        Some(body.as_bytes()),
    );
    let (status, created) = http(
        &addr,
        "POST",
        "/v1/ceremonies",
        Some(&auth),
        body.as_bytes(),
    );
    assert_eq!(status, 201, "{created}");
    let id = serde_json::from_str::<Value>(&created).expect("json")["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let path = format!("/v1/ceremonies/{id}/packages?since=0&wait=60");
    let auth = nip98(&keys[1], HttpMethod::GET, &format!("{base}{path}"), None);
    let poll = std::thread::spawn(move || http(&addr, "GET", &path, Some(&auth), b""));
    std::thread::sleep(Duration::from_millis(500));
    let t = Instant::now();
    let (code, stderr) = s.stop();
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        t.elapsed() < Duration::from_secs(10),
        "shutdown waited for the long poll"
    );
    let (status, page) = poll.join().expect("join");
    assert_eq!(status, 200, "{page}");
    let v: Value = serde_json::from_str(&page).expect("json");
    assert_eq!(v["packages"].as_array().map(Vec::len), Some(0));
}
