//! Shared helpers for the CLI tests: homes, commands, and an independent verifier
//! (NIP-01 id recomputed here, BIP-340 checked by libsecp256k1 via the `secp256k1`
//! crate — none of passport's own verification code).

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use serde_json::Value;
use sha2::{Digest, Sha256};

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
