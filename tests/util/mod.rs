//! Shared helpers for the CLI tests: homes, commands, and an independent verifier
//! (NIP-01 id recomputed here, BIP-340 checked by libsecp256k1 via the `secp256k1`
//! crate — none of passport's own verification code).
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use serde_json::Value;
use sha2::{Digest, Sha256};

pub mod tmux;

/// `passport --home HOME`, with no passphrase, identity or home from the environment.
/// A home sealed by a passphrase keeps it beside itself in `HOME.passphrase` (see
/// [`passphrase_file`]); the shared helpers then open it like any other home.
pub fn passport(home: &Path) -> Command {
    let mut c = Command::cargo_bin("passport").unwrap();
    c.arg("--home").arg(home);
    let pf = passphrase_file(home);
    if pf.exists() {
        c.arg("--passphrase-file").arg(pf);
    }
    c.env_remove("PASSPORT_PASSPHRASE")
        .env_remove("PASSPORT_AGE_IDENTITY")
        .env_remove("PASSPORT_HOME");
    c
}

/// Where a test keeps the passphrase of a passphrase-sealed home.
pub fn passphrase_file(home: &Path) -> PathBuf {
    home.with_extension("passphrase")
}

pub fn bare() -> Command {
    let mut c = Command::cargo_bin("passport").unwrap();
    c.env_remove("PASSPORT_PASSPHRASE")
        .env_remove("PASSPORT_AGE_IDENTITY")
        .env_remove("PASSPORT_HOME");
    c
}

/// Runs with `--json`, asserts success, returns the parsed stdout object.
pub fn json_ok(mut c: Command) -> Value {
    let out = c.arg("--json").output().unwrap();
    assert!(
        out.status.success(),
        "command failed ({:?}): stdout={} stderr={}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    serde_json::from_str(text.lines().last().expect("one JSON line")).unwrap()
}

/// Runs a command that must fail: exactly `code`, no panic, nothing on stdout, and one
/// `passport: error:` line on stderr that mentions every needle. Returns that line.
pub fn expect_error_line(c: &mut Command, code: i32, needles: &[&str]) -> String {
    let out = c.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        !stderr.contains("panicked"),
        "the command panicked:\n{stderr}"
    );
    assert_eq!(
        out.status.code(),
        Some(code),
        "wrong exit code; stdout={stdout} stderr={stderr}"
    );
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(
        lines.len(),
        1,
        "expected a one-line error on stderr, got:\n{stderr}"
    );
    let line = lines[0];
    assert!(
        line.starts_with("passport: error: "),
        "not an error line: {line}"
    );
    for n in needles {
        assert!(
            line.contains(n),
            "error line does not mention {n:?}:\n{line}"
        );
    }
    assert!(stdout.trim().is_empty(), "unexpected stdout: {stdout}");
    line.to_owned()
}

/// A member home unlocked by an age identity file (no passphrase prompts).
pub struct Member {
    pub name: String,
    pub home: PathBuf,
    pub npub: String,
}

pub fn make_member(root: &Path, name: &str) -> Member {
    let home = root.join(name);
    let v = json_ok({
        let mut c = passport(&home);
        c.arg("init")
            .arg("--age-identity")
            .arg(root.join(format!("{name}.agekey")));
        c
    });
    Member {
        name: name.into(),
        home,
        npub: v["npub"].as_str().unwrap().into(),
    }
}

pub fn write_roster(
    root: &Path,
    file: &str,
    t: u16,
    members: &[&Member],
    dealer: Option<&str>,
) -> PathBuf {
    let path = root.join(file);
    let mut c = bare();
    c.args([
        "roster",
        "new",
        "--threshold",
        &t.to_string(),
        "--purpose",
        "test",
        "-o",
    ])
    .arg(&path);
    for m in members {
        c.arg("--member").arg(format!("{}={}", m.name, m.npub));
    }
    // One npub holding t seats (the CI layout) must be asked for explicitly.
    if members
        .iter()
        .any(|m| members.iter().filter(|o| o.npub == m.npub).count() >= t as usize)
    {
        c.arg("--allow-shared-seats");
    }
    if let Some(d) = dealer {
        c.args(["--dealer", d]);
    }
    json_ok(c);
    path
}

/// A dealer 2-of-3 group whose seats `ci` and `ci-b` are held by one home (so it can
/// sign alone), plus `offsite`. With `split`, the dealer splits the nsec in that file.
pub struct CiGroup {
    pub ci: Member,
    pub offsite: Member,
    pub group: String,
}

pub fn ci_group(root: &Path, split: Option<&Path>) -> CiGroup {
    let dealer = make_member(root, "dealer");
    let ci = make_member(root, "ci");
    let offsite = make_member(root, "offsite");
    let ci_b = Member {
        name: "ci-b".into(),
        home: ci.home.clone(),
        npub: ci.npub.clone(),
    };
    let roster = write_roster(
        root,
        "roster.json",
        2,
        &[&ci, &ci_b, &offsite],
        Some(&dealer.npub),
    );
    let dealt = root.join("dealt");
    let mut c = passport(&dealer.home);
    c.args(["keygen", "deal", "--roster"])
        .arg(&roster)
        .arg("--out")
        .arg(&dealt);
    if let Some(f) = split {
        c.arg("--split").arg(f);
    }
    let group = json_ok(c)["group"].as_str().unwrap().to_owned();
    for (m, seat) in [(&ci, "ci"), (&ci, "ci-b"), (&offsite, "offsite")] {
        let mut c = passport(&m.home);
        c.args(["keygen", "import", "--roster"])
            .arg(&roster)
            .arg(pkg(&dealt, &format!("dealer-share-{seat}")));
        json_ok(c);
    }
    CiGroup { ci, offsite, group }
}

/// Recomputes the NIP-01 id and checks the BIP-340 signature with libsecp256k1.
pub fn verify_event_independently(event: &Value) {
    let serialized = serde_json::json!([
        0,
        event["pubkey"],
        event["created_at"],
        event["kind"],
        event["tags"],
        event["content"]
    ])
    .to_string();
    let id: [u8; 32] = Sha256::digest(serialized.as_bytes()).into();
    assert_eq!(
        hex::encode(id),
        event["id"].as_str().unwrap(),
        "NIP-01 id mismatch"
    );
    verify_raw_independently(
        event["pubkey"].as_str().unwrap(),
        &id,
        event["sig"].as_str().unwrap(),
    );
}

pub fn verify_raw_independently(pubkey_hex: &str, msg: &[u8; 32], sig_hex: &str) {
    use secp256k1::{schnorr::Signature, Message, Secp256k1, XOnlyPublicKey};
    let secp = Secp256k1::verification_only();
    let pk = XOnlyPublicKey::from_slice(&hex::decode(pubkey_hex).unwrap()).unwrap();
    let sig = Signature::from_slice(&hex::decode(sig_hex).unwrap()).unwrap();
    secp.verify_schnorr(&sig, &Message::from_digest(*msg), &pk)
        .expect("libsecp256k1 rejects the signature");
}

/// Every file under `dir` (relative path -> bytes), and every directory, for
/// "nothing changed" assertions.
pub fn snapshot(dir: &Path) -> std::collections::BTreeMap<PathBuf, Vec<u8>> {
    fn walk(base: &Path, d: &Path, out: &mut std::collections::BTreeMap<PathBuf, Vec<u8>>) {
        let mut entries: Vec<_> = std::fs::read_dir(d)
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .collect();
        entries.sort();
        for p in entries {
            let rel = p.strip_prefix(base).unwrap().to_path_buf();
            if p.is_dir() {
                // Directories count too, so a newly created empty directory is a change.
                out.insert(rel.join(""), b"<dir>".to_vec());
                walk(base, &p, out);
            } else {
                out.insert(rel, std::fs::read(&p).unwrap());
            }
        }
    }
    let mut out = std::collections::BTreeMap::new();
    if dir.exists() {
        walk(dir, dir, &mut out);
    }
    out
}

/// A bech32 npub to its 64-hex x-only key.
pub fn npub_hex(npub: &str) -> String {
    use nostr::{FromBech32, PublicKey};
    PublicKey::from_bech32(npub).unwrap().to_hex()
}

/// A real Nostr relay (nostr-relay-builder's in-memory relay) on a loopback port, kept
/// alive by the returned runtime.
pub struct TestRelay {
    pub url: String,
    pub rt: tokio::runtime::Runtime,
    pub relay: nostr_relay_builder::LocalRelay,
}

pub fn start_relay() -> TestRelay {
    start_relay_limited(10_000)
}

/// [`start_relay`] that accepts at most `notes_per_minute` events per connection (a
/// relay that refuses with `OK false` beyond it).
pub fn start_relay_limited(notes_per_minute: u32) -> TestRelay {
    use nostr_relay_builder::prelude::*;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let relay = rt.block_on(async {
        // The relay picks a free port and binds it afterwards, so another process can
        // take the port in between (seen under parallel tests): try again.
        let mut attempt = 0;
        loop {
            let builder = RelayBuilder::default()
                .addr(std::net::IpAddr::from([127, 0, 0, 1]))
                .rate_limit(RateLimit {
                    max_reqs: 500,
                    notes_per_minute,
                });
            let relay = LocalRelay::new(builder);
            match relay.run().await {
                Ok(()) => break relay,
                Err(e) if attempt < 20 => {
                    attempt += 1;
                    eprintln!("relay did not start ({e}); trying another port");
                }
                Err(e) => panic!("no relay after 20 attempts: {e}"),
            }
        }
    });
    let url = rt.block_on(relay.url()).to_string();
    TestRelay { url, rt, relay }
}

/// Spawns `passport` commands in parallel and waits for all; returns their outputs.
pub fn run_parallel(cmds: Vec<std::process::Command>) -> Vec<std::process::Output> {
    let children: Vec<_> = cmds
        .into_iter()
        .map(|mut c| {
            c.stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    children
        .into_iter()
        .map(|c| c.wait_with_output().unwrap())
        .collect()
}

/// The parsed last stdout line of a successful `--json` run.
pub fn json_of(out: &std::process::Output) -> Value {
    assert!(
        out.status.success(),
        "command failed ({:?}): stdout={} stderr={}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(text.lines().last().expect("one JSON line")).unwrap()
}

/// A std Command for the passport binary with this home (for spawning).
pub fn spawn_cmd(home: &Path) -> std::process::Command {
    let mut c = std::process::Command::new(assert_cmd::cargo::cargo_bin("passport"));
    c.arg("--home").arg(home);
    c.env_remove("PASSPORT_PASSPHRASE")
        .env_remove("PASSPORT_AGE_IDENTITY")
        .env_remove("PASSPORT_HOME")
        .env_remove("PASSPORT_VIA");
    c
}

/// A `passport serve` process on a loopback port; killed (SIGKILL) when dropped.
pub struct Serve {
    pub url: String,
    pub child: std::process::Child,
}

impl Serve {
    /// Starts `passport serve` with `home` on `listen` (e.g. `127.0.0.1:0`) and waits for
    /// its ready line.
    pub fn start(home: &Path, listen: &str) -> Serve {
        Serve::start_with(home, listen, &[]).0
    }

    /// With extra `serve` arguments; also returns the further stdout lines printed at
    /// startup (`count` of them, e.g. the bunker URI).
    pub fn start_with(home: &Path, listen: &str, extra: &[&str]) -> (Serve, Vec<String>) {
        use std::io::BufRead;
        let mut child = spawn_cmd(home)
            .args(["serve", "--listen", listen])
            .args(extra)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::inherit())
            .spawn()
            .unwrap();
        let mut reader = std::io::BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        let url = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected ready line {line:?}"))
            .to_owned();
        let mut more = vec![];
        if extra.contains(&"--relay") {
            let mut l = String::new();
            reader.read_line(&mut l).unwrap();
            more.push(l.trim().to_owned());
        }
        (Serve { url, child }, more)
    }

    /// SIGKILL, no chance to clean up.
    pub fn kill9(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    pub fn addr(&self) -> &str {
        self.url.trim_start_matches("http://")
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A member's identity keys, read from its home with its age identity file.
pub fn member_keys(m: &Member) -> nostr::Keys {
    use passport::home::{Home, OpenUnlock};
    let id_file = m.home.parent().unwrap().join(format!("{}.agekey", m.name));
    let home = Home::open(
        &m.home,
        OpenUnlock {
            identity_file: Some(id_file),
            ..OpenUnlock::none()
        },
    )
    .unwrap();
    home.identity().unwrap().clone()
}

/// A NIP-98 signed GET against `passport serve`, parsed as JSON.
pub fn serve_get(keys: &nostr::Keys, url: &str) -> Value {
    use base64::Engine;
    use nostr::nips::nip98::{HttpData, HttpMethod};
    use nostr::{EventBuilder, JsonUtil, Url};
    let ev = EventBuilder::http_auth(HttpData::new(Url::parse(url).unwrap(), HttpMethod::GET))
        .sign_with_keys(keys)
        .unwrap();
    let auth = format!(
        "Nostr {}",
        base64::engine::general_purpose::STANDARD.encode(ev.as_json())
    );
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let r = http_client()
            .get(url)
            .header("authorization", auth)
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "GET {url}: {}", r.status());
        r.json().await.unwrap()
    })
}

/// A reqwest client (rustls with the ring provider, as passport uses).
pub fn http_client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
}

/// A fresh SoftHSM2 token directory under `root/softhsm` (no tokens yet) and the
/// configuration file that points the module at it: `(tokendir, conf)`.
pub fn softhsm_dirs(root: &Path) -> (PathBuf, PathBuf) {
    let dir = root.join("softhsm");
    let tokendir = dir.join("tokens");
    std::fs::create_dir_all(&tokendir).unwrap();
    let conf = dir.join("softhsm2.conf");
    std::fs::write(
        &conf,
        format!(
            "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n",
            tokendir.display()
        ),
    )
    .unwrap();
    (tokendir, conf)
}

/// A spawned child that is killed (SIGKILL) and reaped when dropped, so a failing
/// assertion never leaves a server running.
pub struct KillOnDrop(pub std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The package passport wrote into `dir` as `{stem}-{8 hex of the ceremony id}.json`
/// (e.g. `pkg(&out, "dkg-1-alice")`); panics naming what is there if it is not exactly
/// one file.
pub fn pkg(dir: &Path, stem: &str) -> PathBuf {
    let found = pkgs(dir, stem);
    match found.as_slice() {
        [one] => one.clone(),
        _ => panic!(
            "expected one {stem}-<id>.json in {}, found {found:?} among {:?}",
            dir.display(),
            std::fs::read_dir(dir)
                .map(|r| r.flatten().map(|e| e.file_name()).collect::<Vec<_>>())
                .unwrap_or_default()
        ),
    }
}

/// Every `{stem}-{8 hex}.json` in `dir`.
pub fn pkgs(dir: &Path, stem: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|r| r.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    v.retain(|p| {
        p.file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_prefix(stem))
            .and_then(|n| n.strip_prefix('-'))
            .and_then(|n| n.strip_suffix(".json"))
            .is_some_and(|id| id.len() == 8 && id.bytes().all(|b| b.is_ascii_hexdigit()))
    });
    v.sort();
    v
}

/// A full DKG through files (round1, round2, finish, confirm) among `ms`, each member in
/// its own home; returns the group npub.
pub fn dkg_files(ms: &[&Member], roster: &Path, dir: &Path) -> String {
    dkg_files_with(ms, roster, dir, &|m| passport(&m.home))
}

/// [`dkg_files`] with each member's command made by `cmd` (e.g. a token's environment).
pub fn dkg_files_with(
    ms: &[&Member],
    roster: &Path,
    dir: &Path,
    cmd: &dyn Fn(&Member) -> Command,
) -> String {
    let mut group = String::new();
    for step in ["round1", "round2", "finish", "confirm"] {
        for m in ms {
            let mut c = cmd(m);
            c.args(["dkg", step, "--roster"]).arg(roster);
            if step != "round1" {
                c.arg("--in").arg(dir);
            }
            if step != "confirm" {
                c.arg("--out").arg(dir);
            }
            let v = json_ok(c);
            if step == "confirm" {
                group = v["group"].as_str().unwrap().to_owned();
            }
        }
    }
    group
}

/// Commit, request, share, aggregate among `signers`; the event is checked with
/// libsecp256k1.
pub fn sign_files(signers: &[&Member], group: &str, dir: &Path) {
    sign_files_with(signers, group, dir, &|m| passport(&m.home))
}

/// [`sign_files`] with each member's command made by `cmd`.
pub fn sign_files_with(
    signers: &[&Member],
    group: &str,
    dir: &Path,
    cmd: &dyn Fn(&Member) -> Command,
) {
    std::fs::create_dir_all(dir).unwrap();
    for m in signers {
        let mut c = cmd(m);
        c.args(["sign", "commit", "--group", group, "--out"])
            .arg(dir);
        json_ok(c);
    }
    let tpl = dir.join("note.json");
    std::fs::write(&tpl, r#"{"kind":1,"content":"rebuilt","tags":[]}"#).unwrap();
    let names: Vec<&str> = signers.iter().map(|m| m.name.as_str()).collect();
    let mut c = cmd(signers[0]);
    c.args([
        "sign",
        "request",
        "--group",
        group,
        "--signers",
        &names.join(","),
    ])
    .arg("--event")
    .arg(&tpl)
    .arg("--in")
    .arg(dir)
    .arg("--out")
    .arg(dir);
    let req = json_ok(c)["package"].as_str().unwrap().to_owned();
    for m in signers {
        let mut c = cmd(m);
        c.args(["sign", "share", "--yes", "--request", &req, "--out"])
            .arg(dir);
        json_ok(c);
    }
    let mut c = cmd(signers[0]);
    c.args(["sign", "aggregate", "--request", &req, "--in"])
        .arg(dir);
    let out = c.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let event: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(event["pubkey"], npub_hex(group));
    verify_event_independently(&event);
}
