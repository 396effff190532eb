//! Keystore properties: single-use consumption under races, blobs bound to their name,
//! passphrase locking, the session agent (`passport unlock` / `passport lock`).

use crate::util;

use std::sync::Arc;

use age::secrecy::SecretString;
use passport::home::{Home, InitUnlock, OpenUnlock};
use passport::keystore::{file::AgeSealer, Error, Keystore};

fn store(dir: &std::path::Path) -> Keystore {
    Keystore::new(
        dir.to_path_buf(),
        Box::new(AgeSealer::unlocked(age::x25519::Identity::generate())),
    )
}

#[test]
fn a_nonce_is_consumed_exactly_once_even_when_raced() {
    let tmp = tempfile::tempdir().unwrap();
    let ks = Arc::new(store(tmp.path()));
    for round in 0..20 {
        let name = format!("nonces/g.1/n{round}");
        ks.put(&name, b"nonce bytes", false).unwrap();
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let ks = ks.clone();
                let name = name.clone();
                std::thread::spawn(move || ks.consume(&name).is_ok())
            })
            .collect();
        let wins = handles
            .into_iter()
            .map(|h| h.join().unwrap())
            .filter(|&w| w)
            .count();
        assert_eq!(wins, 1, "exactly one consumer wins");
        assert!(matches!(ks.get(&name), Err(Error::NonceConsumed(_))));
        assert!(matches!(ks.consume(&name), Err(Error::NonceConsumed(_))));
        // The sealed bytes are gone from disk: only a tombstone remains.
        let left = std::fs::read(tmp.path().join(format!("{name}.consumed"))).unwrap();
        assert!(left.starts_with(b"passport-consumed"));
    }
}

#[test]
fn a_sealed_blob_moved_to_another_name_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let ks = store(tmp.path());
    ks.put("shares/a.1", b"share one", false).unwrap();
    ks.put("shares/a.2", b"share two", false).unwrap();
    std::fs::copy(
        tmp.path().join("shares/a.1.sealed"),
        tmp.path().join("shares/a.2.sealed"),
    )
    .unwrap();
    assert!(matches!(ks.get("shares/a.2"), Err(Error::Tampered(_))));
    assert_eq!(&**ks.get("shares/a.1").unwrap(), b"share one");
    assert!(matches!(
        ks.put("shares/a.1", b"x", false),
        Err(Error::Exists { .. })
    ));
}

#[test]
fn passphrase_home_unlocks_only_with_the_right_passphrase() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("home");
    let home = Home::init(
        &root,
        InitUnlock::Passphrase(SecretString::from("correct horse".to_owned())),
    )
    .unwrap();
    let npub = home.public_key();
    drop(home);
    let open = |p: &'static str| {
        Home::open(
            &root,
            OpenUnlock {
                passphrase: Box::new(move || Ok(SecretString::from(p.to_owned()))),
                ..OpenUnlock::none()
            },
        )
        .unwrap()
    };
    let wrong = open("wrong");
    assert_eq!(wrong.public_key(), npub, "public data needs no unlock");
    let err = passport::Error::from(
        wrong
            .identity()
            .map(|_| ())
            .expect_err("wrong passphrase fails"),
    );
    assert_eq!(err.exit_code(), passport::error::exit::LOCKED);
    assert!(err.to_string().contains("wrong passphrase"), "{err}");
    assert_eq!(open("correct horse").identity().unwrap().public_key(), npub);
    // Keystore files are private.
    use std::os::unix::fs::PermissionsExt;
    for f in [
        "config.json",
        "keystore/master.age",
        "keystore/identity.sealed",
    ] {
        let mode = std::fs::metadata(root.join(f))
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600, "{f} is 0600");
    }
}

// --- the session agent ------------------------------------------------------------------

use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::Value;

const PASS: &str = "session passphrase";

/// A fresh passphrase home.
fn pass_home(root: &Path) -> PathBuf {
    let home = root.join("home");
    let mut c = util::passport(&home);
    c.arg("init").env("PASSPORT_PASSPHRASE", PASS);
    util::json_ok(c);
    home
}

/// Pids of the session agents running for `home` (read from /proc).
fn agents_of(home: &Path) -> Vec<u32> {
    let needle = format!(
        "--home\0{}\0agent\0",
        home.canonicalize().unwrap().display()
    );
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            let live = !std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .unwrap_or_default()
                .contains(") Z ");
            live && String::from_utf8_lossy(&cmd).contains(&needle)
        })
        .collect()
}

/// Locks the home and kills any agent still running for it, however the test ended.
struct AgentGuard(PathBuf);

impl Drop for AgentGuard {
    fn drop(&mut self) {
        let _ = util::passport(&self.0).arg("lock").output();
        for pid in agents_of(&self.0) {
            let _ = std::process::Command::new("kill")
                .args(["-9", &pid.to_string()])
                .status();
        }
    }
}

/// `passport unlock --for span` with the passphrase; the `--json` report.
fn unlock(home: &Path, span: &str) -> Value {
    let mut c = util::passport(home);
    c.args(["unlock", "--for", span])
        .env("PASSPORT_PASSPHRASE", PASS);
    util::json_ok(c)
}

/// A command that reads a secret (the identity key) and nothing slow: an identity backup
/// to a throwaway age recipient, into a new file each time.
fn read_secret(home: &Path) -> assert_cmd::Command {
    let out = home.parent().unwrap().join(format!(
        "id-{}.age",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    ));
    let mut c = util::passport(home);
    c.args(["backup", "identity", "--recipient"])
        .arg(age::x25519::Identity::generate().to_public().to_string())
        .arg("-o")
        .arg(out);
    c
}

fn run_ok(mut c: assert_cmd::Command) -> String {
    let out = c.output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        out.status.success(),
        "failed ({:?}): {stderr}",
        out.status.code()
    );
    assert!(!stderr.contains("AGE-SECRET-KEY"), "{stderr}");
    stderr
}

fn wait_until(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(
            start.elapsed() < limit,
            "timed out after {limit:?} waiting until {what}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Runs `cmd` (a shell command line over the environment below) on a pseudo-terminal,
/// where the scrypt notice is printed; returns what the terminal showed.
fn on_a_terminal(home: &Path, cmd: &str) -> String {
    let out = std::process::Command::new("script")
        .args(["-qec", cmd, "/dev/null"])
        .env("PASSPORT_BIN", assert_cmd::cargo::cargo_bin("passport"))
        .env("H", home)
        .env(
            "R",
            age::x25519::Identity::generate().to_public().to_string(),
        )
        .env("O", home.parent().unwrap().join("tty.age"))
        .env("PASSPORT_PASSPHRASE", PASS)
        .env_remove("PASSPORT_HOME")
        .output()
        .expect("script(1) from util-linux runs");
    let _ = std::fs::remove_file(home.parent().unwrap().join("tty.age"));
    let _ = std::fs::remove_file(home.parent().unwrap().join("tty.age.manifest.json"));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn unlock_spares_the_passphrase_until_lock() {
    let tmp = tempfile::tempdir().unwrap();
    let home = pass_home(tmp.path());
    let _guard = AgentGuard(home.clone());
    let socket = home.join("agent.sock");
    let v = unlock(&home, "5m");
    assert_eq!(v["agent"], "started", "{v}");
    let pid = v["pid"].as_u64().unwrap() as u32;
    assert_eq!(agents_of(&home), vec![pid]);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let until = v["until_unix"].as_u64().unwrap();
    assert!((now + 295..=now + 305).contains(&until), "{v}");
    assert!(!v.to_string().contains("AGE-SECRET-KEY"));
    let meta = std::fs::symlink_metadata(&socket).unwrap();
    assert!(meta.file_type().is_socket());
    assert_eq!(
        meta.permissions().mode() & 0o777,
        0o600,
        "the socket is 0600"
    );
    // Neither the passphrase nor the key is in the agent's environment or argv.
    for f in ["environ", "cmdline"] {
        let text = std::fs::read(format!("/proc/{pid}/{f}")).unwrap_or_default();
        let text = String::from_utf8_lossy(&text);
        assert!(
            !text.contains(PASS) && !text.contains("AGE-SECRET-KEY"),
            "{f}: {text}"
        );
    }

    // Two secret-reading commands with no passphrase anywhere.
    for _ in 0..2 {
        let stderr = run_ok(read_secret(&home));
        assert!(!stderr.contains("scrypt"), "{stderr}");
    }
    // On a terminal, where the scrypt notice would show: none while the agent answers.
    let tty = on_a_terminal(
        &home,
        r#""$PASSPORT_BIN" --home "$H" backup identity --recipient "$R" -o "$O""#,
    );
    assert!(tty.contains("identity backup of"), "{tty}");
    assert!(!tty.contains("unlocking the keystore"), "{tty}");

    // A second unlock extends the running agent, without a passphrase.
    let mut c = util::passport(&home);
    c.args(["unlock", "--for", "10m"]);
    let again = util::json_ok(c);
    assert_eq!(again["agent"], "extended", "{again}");
    assert_eq!(again["pid"].as_u64(), Some(pid as u64));
    assert!(
        again["until_unix"].as_u64().unwrap() >= until + 295,
        "{again}"
    );
    assert_eq!(agents_of(&home), vec![pid], "still one agent");

    let mut c = util::passport(&home);
    c.arg("lock");
    let locked = util::json_ok(c);
    assert_eq!(locked["was_running"], true, "{locked}");
    assert_eq!(locked["pid"].as_u64(), Some(pid as u64));
    assert!(
        socket.symlink_metadata().is_err(),
        "lock removes the socket"
    );
    wait_until("the agent exits", Duration::from_secs(10), || {
        agents_of(&home).is_empty()
    });
    util::expect_error_line(&mut read_secret(&home), 6, &["no passphrase"]);
    // The notice is back on a terminal, with the passphrase (the check above is not idle).
    let tty = on_a_terminal(
        &home,
        r#""$PASSPORT_BIN" --home "$H" backup identity --recipient "$R" -o "$O""#,
    );
    assert!(tty.contains("unlocking the keystore (scrypt"), "{tty}");
    let mut c = util::passport(&home);
    c.arg("lock");
    let again = util::json_ok(c);
    assert_eq!(again["was_running"], false, "{again}");
}

#[test]
fn an_unlock_ends_by_itself_at_its_deadline() {
    let tmp = tempfile::tempdir().unwrap();
    let home = pass_home(tmp.path());
    let _guard = AgentGuard(home.clone());
    let v = unlock(&home, "2s");
    assert_eq!(v["for"], "2s", "{v}");
    run_ok(read_secret(&home));
    wait_until("the agent locks itself", Duration::from_secs(15), || {
        home.join("agent.sock").symlink_metadata().is_err()
    });
    wait_until("the agent exits", Duration::from_secs(10), || {
        agents_of(&home).is_empty()
    });
    util::expect_error_line(&mut read_secret(&home), 6, &["no passphrase"]);
}

#[test]
fn a_wrong_passphrase_starts_no_agent_and_bad_durations_are_usage_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let home = pass_home(tmp.path());
    let _guard = AgentGuard(home.clone());
    let mut c = util::passport(&home);
    c.args(["unlock", "--for", "1m"])
        .env("PASSPORT_PASSPHRASE", "not it");
    util::expect_error_line(&mut c, 6, &["wrong passphrase"]);
    assert!(home.join("agent.sock").symlink_metadata().is_err());
    assert!(agents_of(&home).is_empty());
    for (span, needle) in [
        ("25h", "longer than 24h"),
        ("15", "unit"),
        ("soon", "duration"),
    ] {
        let out = util::passport(&home)
            .args(["--json", "unlock", "--for", span])
            .env("PASSPORT_PASSPHRASE", PASS)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "--for {span}");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains(needle), "--for {span}: {text}");
    }
    assert!(agents_of(&home).is_empty());
}

#[test]
fn a_killed_agent_leaves_a_socket_that_the_next_command_removes() {
    let tmp = tempfile::tempdir().unwrap();
    let home = pass_home(tmp.path());
    let _guard = AgentGuard(home.clone());
    let socket = home.join("agent.sock");
    let pid = unlock(&home, "5m")["pid"].as_u64().unwrap();
    std::process::Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status()
        .unwrap();
    wait_until("the killed agent is gone", Duration::from_secs(10), || {
        agents_of(&home).is_empty()
    });
    assert!(
        socket.symlink_metadata().is_ok(),
        "SIGKILL leaves the socket"
    );
    // Falls back to the passphrase, silently, and cleans up.
    let mut c = read_secret(&home);
    c.env("PASSPORT_PASSPHRASE", PASS);
    let stderr = run_ok(c);
    assert!(!stderr.contains("agent"), "{stderr}");
    assert!(
        socket.symlink_metadata().is_err(),
        "the stale socket is removed"
    );
    util::expect_error_line(&mut read_secret(&home), 6, &["no passphrase"]);
    // `lock` on a stale socket: nothing was running, says so, exit 0.
    let pid = unlock(&home, "5m")["pid"].as_u64().unwrap();
    std::process::Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status()
        .unwrap();
    wait_until("the killed agent is gone", Duration::from_secs(10), || {
        agents_of(&home).is_empty()
    });
    let mut c = util::passport(&home);
    c.arg("lock");
    let v = util::json_ok(c);
    assert_eq!(v["was_running"], false, "{v}");
    assert_eq!(v["stale_socket_removed"], true, "{v}");
}

#[test]
fn homes_that_pay_no_scrypt_are_not_unlocked() {
    let tmp = tempfile::tempdir().unwrap();
    let m = util::make_member(tmp.path(), "idfile");
    let _guard = AgentGuard(m.home.clone());
    util::expect_error_line(
        util::passport(&m.home).args(["unlock", "--for", "1m"]),
        2,
        &["age identity file", "costs no scrypt"],
    );
    assert!(m.home.join("agent.sock").symlink_metadata().is_err());
    let mut c = util::passport(&m.home);
    c.arg("lock");
    assert_eq!(util::json_ok(c)["was_running"], false);
}

/// Sends `bytes` on a fresh connection; the answer line (empty if the agent hung up).
fn poke(socket: &Path, bytes: &[u8]) -> String {
    let mut s = UnixStream::connect(socket).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let _ = s.write_all(bytes);
    let _ = s.shutdown(std::net::Shutdown::Write);
    let mut line = String::new();
    let _ = BufReader::new(&s).read_line(&mut line);
    line
}

#[test]
fn garbage_on_the_socket_does_not_hurt_the_agent() {
    let tmp = tempfile::tempdir().unwrap();
    let home = pass_home(tmp.path());
    let _guard = AgentGuard(home.clone());
    let socket = home.join("agent.sock");
    let pid = unlock(&home, "5m")["pid"].as_u64().unwrap() as u32;
    let long = vec![b'x'; 64 << 10];
    for bytes in [
        &b"garbage\n"[..],
        b"\xff\xfe\x00\n",
        b"{\"v\":1}\n",
        b"{\"v\":1,\"op\":\"nope\"}\n",
        b"{\"v\":2,\"op\":\"key\"}\n",
        b"{\"v\":1,\"op\":\"extend\",\"secs\":999999}\n",
        b"[1,2,3]\n",
        &long[..],
        b"",
    ] {
        let answer = poke(&socket, bytes);
        assert!(!answer.contains("AGE-SECRET-KEY"), "{answer}");
        if !answer.is_empty() {
            let v: Value = serde_json::from_str(&answer).expect("a JSON answer");
            assert_eq!(v["ok"], false, "{answer}");
        }
    }
    // A connection that says nothing and one that goes away do not block the others.
    let _silent = UnixStream::connect(&socket).unwrap();
    drop(UnixStream::connect(&socket).unwrap());
    let status: Value =
        serde_json::from_str(&poke(&socket, b"{\"v\":1,\"op\":\"status\"}\n")).unwrap();
    assert_eq!(status["ok"], true, "{status}");
    assert_eq!(status["pid"].as_u64(), Some(pid as u64));
    assert_eq!(agents_of(&home), vec![pid], "the agent is still up");
    run_ok(read_secret(&home));
}

#[test]
fn a_key_that_is_not_the_homes_is_refused_by_client_and_agent() {
    let tmp = tempfile::tempdir().unwrap();
    let home = pass_home(tmp.path());
    let _guard = AgentGuard(home.clone());
    let socket = home.join("agent.sock");

    // Something on the socket that hands out another key: the command refuses it.
    let other = age::x25519::Identity::generate();
    let answer = format!(
        "{{\"v\":1,\"ok\":true,\"pid\":1,\"until\":4000000000,\"recipient\":\"{}\",\"identity\":\"{}\"}}\n",
        other.to_public(),
        age::secrecy::ExposeSecret::expose_secret(&other.to_string())
    );
    let listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
    let fake = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        let mut line = String::new();
        BufReader::new(&s).read_line(&mut line).unwrap();
        s.write_all(answer.as_bytes()).unwrap();
    });
    let mut c = read_secret(&home);
    c.env("PASSPORT_PASSPHRASE", PASS);
    let line = util::expect_error_line(&mut c, 6, &["another keystore key", "passport lock"]);
    assert!(!line.contains("AGE-SECRET-KEY"), "{line}");
    fake.join().unwrap();
    std::fs::remove_file(&socket).unwrap();

    // The agent checks the home's recorded key before it gives its own out, and locks
    // itself when they differ (a home re-created at the same path).
    unlock(&home, "5m");
    let config_path = home.join("config.json");
    let config = std::fs::read_to_string(&config_path).unwrap();
    let mut v: Value = serde_json::from_str(&config).unwrap();
    v["keystore"]["recipient"] = other.to_public().to_string().into();
    std::fs::write(&config_path, v.to_string()).unwrap();
    let mut c = read_secret(&home);
    util::expect_error_line(&mut c, 6, &["refused", "locked itself"]);
    wait_until("the agent exits", Duration::from_secs(10), || {
        agents_of(&home).is_empty()
    });
    assert!(socket.symlink_metadata().is_err());
}

/// Rotating the keystore's age identity is one command: `passwd --new-age-identity FILE`
/// re-seals every secret under a fresh identity in a new 0600 file; the old file no
/// longer opens anything, the home still signs, an existing target file is refused with
/// nothing changed, and a passphrase home becomes an unattended one.
#[test]
fn passwd_rotates_the_age_identity_and_the_home_still_signs() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let ms: Vec<util::Member> = ["alice", "bob", "carol"]
        .iter()
        .map(|n| util::make_member(root, n))
        .collect();
    let refs: Vec<&util::Member> = ms.iter().collect();
    let roster = util::write_roster(root, "roster.json", 2, &refs, None);
    let group = util::dkg_files(&refs, &roster, &root.join("dkg"));
    let alice = &ms[0];
    let old_key = root.join("alice.agekey");

    // Onto an existing file: refused, home unchanged.
    let before = util::snapshot(&alice.home);
    let mut c = util::passport(&alice.home);
    c.args(["passwd", "--new-age-identity"]).arg(&old_key);
    util::expect_error_line(&mut c, 5, &["exists"]);
    assert_eq!(before, util::snapshot(&alice.home));

    let new_key = root.join("alice-2026.agekey");
    let mut c = util::passport(&alice.home);
    c.args(["passwd", "--new-age-identity"]).arg(&new_key);
    let v = util::json_ok(c);
    assert!(
        v["secrets"].as_u64().unwrap() >= 2,
        "identity and share: {v}"
    );
    assert_eq!(
        std::fs::metadata(&new_key).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let config: serde_json::Value =
        serde_json::from_slice(&std::fs::read(alice.home.join("config.json")).unwrap()).unwrap();
    assert_eq!(
        config["keystore"]["path"],
        std::fs::canonicalize(&new_key)
            .unwrap()
            .display()
            .to_string()
    );
    assert_eq!(config["keystore"]["recipient"], v["recipient"]);
    // The old identity opens nothing any more.
    let mut c = util::passport(&alice.home);
    c.arg("--age-identity")
        .arg(&old_key)
        .args(["sign", "commit", "--group", &group, "--out"])
        .arg(root.join("nope"));
    util::expect_error_line(&mut c, 6, &[]);
    let log = std::fs::read_to_string(alice.home.join("audit.jsonl")).unwrap();
    assert!(log.contains("\"op\":\"rotate-identity\""), "{log}");
    util::sign_files(&[alice, &ms[1]], &group, &root.join("s"));

    // A passphrase home turns into an identity-file home; its passphrase is gone.
    let ph = root.join("ph");
    std::fs::write(util::passphrase_file(&ph), "some passphrase\n").unwrap();
    let mut c = util::passport(&ph);
    c.arg("init");
    let npub = util::json_ok(c)["npub"].as_str().unwrap().to_owned();
    let mut c = util::passport(&ph);
    c.args(["passwd", "--new-age-identity"])
        .arg(root.join("ph.agekey"));
    assert_eq!(util::json_ok(c)["replaced"], "the passphrase");
    std::fs::remove_file(util::passphrase_file(&ph)).unwrap();
    assert!(!ph.join("keystore/master.age").exists());
    let mut c = util::passport(&ph);
    c.args(["backup", "identity", "--recipient"])
        .arg(age::x25519::Identity::generate().to_public().to_string())
        .arg("-o")
        .arg(root.join("ph-id.age"));
    assert_eq!(util::json_ok(c)["npub"], npub.as_str());
}

/// `init --identity-nsec` makes an existing Nostr key the home's identity: from stdin or
/// a file, as an nsec or a NIP-49 ncryptsec; the key never lands in the log or config,
/// and bad input creates no home.
#[test]
fn init_takes_an_existing_nsec_as_the_identity() {
    use nostr::ToBech32;
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let keys = nostr::Keys::generate();
    let nsec = keys.secret_key().to_bech32().unwrap();
    let npub = keys.public_key().to_bech32().unwrap();

    let home = root.join("from-stdin");
    let mut c = util::passport(&home);
    c.arg("init")
        .arg("--age-identity")
        .arg(root.join("a.agekey"))
        .args(["--identity-nsec", "-"])
        .write_stdin(format!("{nsec}\n"));
    assert_eq!(util::json_ok(c)["npub"], npub.as_str());
    for f in ["audit.jsonl", "config.json"] {
        let text = std::fs::read_to_string(home.join(f)).unwrap();
        assert!(!text.contains(&nsec), "{f} holds the key");
    }
    assert!(std::fs::read_to_string(home.join("audit.jsonl"))
        .unwrap()
        .contains("identity-imported"));

    let enc = nostr::nips::nip49::EncryptedSecretKey::new(
        keys.secret_key(),
        "exit passphrase",
        16,
        nostr::nips::nip49::KeySecurity::Medium,
    )
    .unwrap();
    let file = root.join("key.ncryptsec");
    std::fs::write(&file, enc.to_bech32().unwrap()).unwrap();
    let home = root.join("from-ncryptsec");
    let mut c = util::passport(&home);
    c.env("PASSPORT_NCRYPTSEC_PASSPHRASE", "wrong")
        .arg("init")
        .arg("--age-identity")
        .arg(root.join("b.agekey"))
        .arg("--identity-nsec")
        .arg(&file);
    util::expect_error_line(&mut c, 6, &["wrong ncryptsec passphrase"]);
    assert!(
        !home.join("config.json").exists(),
        "no home after a failure"
    );
    let mut c = util::passport(&home);
    c.env("PASSPORT_NCRYPTSEC_PASSPHRASE", "exit passphrase")
        .arg("init")
        .arg("--age-identity")
        .arg(root.join("b.agekey"))
        .arg("--identity-nsec")
        .arg(&file);
    assert_eq!(util::json_ok(c)["npub"], npub.as_str());

    let junk = root.join("junk.txt");
    std::fs::write(&junk, "npub1notasecret").unwrap();
    let home = root.join("junk");
    let mut c = util::passport(&home);
    c.arg("init")
        .arg("--age-identity")
        .arg(root.join("c.agekey"))
        .arg("--identity-nsec")
        .arg(&junk);
    let line = util::expect_error_line(&mut c, 2, &["junk.txt", "not an nsec"]);
    assert!(!line.contains("npub1notasecret"), "{line}");
    assert!(!home.exists() || !home.join("config.json").exists());
}
