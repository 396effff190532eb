//! Nonce rollback (issue 10, points 9 and 14) through the `passport` binary: a copied or
//! restored home must not sign with a nonce the original already used.
//!
//! - token keystores: the token is the nonce ledger (real SoftHSM2 tokens);
//! - commitments expire, for the signer and for the coordinator (the hidden clock
//!   override `PASSPORT_NOW_FOR_TESTING` moves time forward without sleeping);
//! - a coordinator never hands out a commitment twice;
//! - `sign commit --discard-all` burns every outstanding nonce;
//! - a crash between the burn rename and the tombstone is cleaned up on the next open.

use crate::util;

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use assert_cmd::Command;
use serde_json::Value;
use util::{
    expect_error_line, json_ok, npub_hex, snapshot, verify_event_independently, write_roster,
    Member,
};

const PIN: &str = "123456";
const TOMBSTONE: &[u8] = b"passport-consumed v1\n";
const NOW: &str = "PASSPORT_NOW_FOR_TESTING";

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// A SoftHSM2 token directory of this test only, and the commands that reach it.
struct Tokens {
    root: PathBuf,
    conf: PathBuf,
    tokendir: PathBuf,
    module: PathBuf,
}

impl Tokens {
    fn new(root: &Path) -> Tokens {
        let (tokendir, conf) = util::softhsm_dirs(root);
        Tokens {
            root: root.into(),
            conf,
            tokendir,
            module: passport::hsm::token::find_softhsm().expect(
                "SoftHSM2 is not installed (Debian package softhsm2; scripts/test.sh installs it)",
            ),
        }
    }

    /// Any passport command, with the token environment (harmless for file homes).
    fn cmd(&self, home: &Path) -> Command {
        let mut c = util::passport(home);
        c.env("HOME", &self.root)
            .env("SOFTHSM2_CONF", &self.conf)
            .env("PASSPORT_PKCS11_MODULE", &self.module)
            .env("PASSPORT_PKCS11_PIN", PIN)
            .env_remove(NOW)
            .env_remove("PASSPORT_VIA");
        c
    }

    /// A fresh token `label` with passport keys, and a home `name` sealed by it.
    fn token_member(&self, name: &str, label: &str) -> Member {
        let out = std::process::Command::new("softhsm2-util")
            .env("SOFTHSM2_CONF", &self.conf)
            .args(["--init-token", "--free", "--label", label])
            .args(["--so-pin", "87654321", "--pin", PIN])
            .output()
            .expect("softhsm2-util runs (Debian package softhsm2)");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut c = self.cmd(&self.root.join("unused-home"));
        c.args(["hsm", "init", "--token", &format!("pkcs11:token={label}")]);
        json_ok(c);
        let home = self.root.join(name);
        let mut c = self.cmd(&home);
        c.args(["init", "--keystore", &format!("pkcs11:token={label}")]);
        let v = json_ok(c);
        Member {
            name: name.into(),
            home,
            npub: v["npub"].as_str().unwrap().into(),
        }
    }

    fn file_member(&self, name: &str) -> Member {
        let home = self.root.join(name);
        let mut c = self.cmd(&home);
        c.arg("init")
            .arg("--age-identity")
            .arg(self.root.join(format!("{name}.agekey")));
        let v = json_ok(c);
        Member {
            name: name.into(),
            home,
            npub: v["npub"].as_str().unwrap().into(),
        }
    }

    /// How many objects the tokens hold (SoftHSM2 keeps one file per object).
    fn objects(&self) -> usize {
        snapshot(&self.tokendir)
            .keys()
            .filter(|p| {
                p.extension().is_some_and(|e| e == "object")
                    && p.file_name().is_some_and(|n| n != "token.object")
            })
            .count()
    }
}

/// A dealt 2-of-3 group of alice, bob and carol (alice in a token when `alice_token`).
struct Group {
    t: Tokens,
    alice: Member,
    bob: Member,
    carol: Member,
    group: String,
}

fn group(root: &Path, alice_token: bool) -> Group {
    let t = Tokens::new(root);
    let alice = if alice_token {
        t.token_member("alice", "tok-alice")
    } else {
        t.file_member("alice")
    };
    let bob = t.file_member("bob");
    let carol = t.file_member("carol");
    let dealer = t.file_member("dealer");
    let roster = write_roster(
        root,
        "roster.json",
        2,
        &[&alice, &bob, &carol],
        Some(&dealer.npub),
    );
    let dealt = root.join("dealt");
    let mut c = t.cmd(&dealer.home);
    c.args(["keygen", "deal", "--roster"])
        .arg(&roster)
        .arg("--out")
        .arg(&dealt);
    let group = json_ok(c)["group"].as_str().unwrap().to_owned();
    for m in [&alice, &bob, &carol] {
        let mut c = t.cmd(&m.home);
        c.args(["keygen", "import", "--roster"])
            .arg(&roster)
            .arg(util::pkg(&dealt, &format!("dealer-share-{}", m.name)));
        json_ok(c);
    }
    Group {
        t,
        alice,
        bob,
        carol,
        group,
    }
}

impl Group {
    fn commit(&self, m: &Member, dir: &Path, extra: &[&str]) -> PathBuf {
        let mut c = self.t.cmd(&m.home);
        c.args(["sign", "commit", "--group", &self.group, "--out"])
            .arg(dir)
            .args(extra);
        PathBuf::from(json_ok(c)["package"].as_str().unwrap())
    }

    fn request_cmd(
        &self,
        coordinator: &Member,
        signers: &[&Member],
        inputs: &[&Path],
        out: &Path,
        content: &str,
    ) -> Command {
        std::fs::create_dir_all(out).unwrap();
        let template = out.join(format!("template-{}.json", content.replace(' ', "-")));
        std::fs::write(
            &template,
            format!(r#"{{"kind":1,"content":"{content}","tags":[]}}"#),
        )
        .unwrap();
        let names: Vec<&str> = signers.iter().map(|m| m.name.as_str()).collect();
        let mut c = self.t.cmd(&coordinator.home);
        c.args(["sign", "request", "--group", &self.group, "--signers"])
            .arg(names.join(","))
            .arg("--event")
            .arg(&template)
            .arg("--out")
            .arg(out);
        for i in inputs {
            c.arg("--in").arg(i);
        }
        c
    }

    fn request(
        &self,
        coordinator: &Member,
        signers: &[&Member],
        inputs: &[&Path],
        out: &Path,
        content: &str,
    ) -> PathBuf {
        let c = self.request_cmd(coordinator, signers, inputs, out, content);
        PathBuf::from(json_ok(c)["package"].as_str().unwrap())
    }

    fn share_cmd(&self, home: &Path, req: &Path, out: &Path) -> Command {
        std::fs::create_dir_all(out).unwrap();
        let mut c = self.t.cmd(home);
        c.args(["sign", "share", "--yes", "--request"])
            .arg(req)
            .arg("--out")
            .arg(out);
        c
    }

    fn share(&self, m: &Member, req: &Path, out: &Path) {
        json_ok(self.share_cmd(&m.home, req, out));
    }

    fn aggregate(&self, coordinator: &Member, req: &Path, shares: &Path) -> Value {
        let mut c = self.t.cmd(&coordinator.home);
        c.args(["sign", "aggregate", "--request"])
            .arg(req)
            .arg("--in")
            .arg(shares);
        let out = c.output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let ev: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(ev["pubkey"], npub_hex(&self.group));
        verify_event_independently(&ev);
        ev
    }

    fn discard_all(&self, m: &Member, extra: &[&str]) -> Value {
        let mut c = self.t.cmd(&m.home);
        c.args(["sign", "commit", "--discard-all"]).args(extra);
        json_ok(c)
    }
}

/// A command that must fail with `code` and one error line naming `needles`, leaving
/// every directory in `dirs` as it was.
fn fails(mut c: Command, code: i32, dirs: &[&Path], needles: &[&str]) -> String {
    let before: Vec<_> = dirs.iter().map(|d| snapshot(d)).collect();
    let line = expect_error_line(&mut c, code, needles);
    for (d, b) in dirs.iter().zip(before) {
        assert!(b == snapshot(d), "{} changed", d.display());
    }
    line
}

fn cp_a(from: &Path, to: &Path) {
    let st = std::process::Command::new("cp")
        .arg("-a")
        .arg(from)
        .arg(to)
        .status()
        .unwrap();
    assert!(st.success(), "cp -a");
}

/// The (relative) nonce files of a home with extension `ext`.
fn nonce_files(home: &Path, ext: &str) -> Vec<PathBuf> {
    snapshot(&home.join("keystore/nonces"))
        .into_keys()
        .filter(|p| p.extension().is_some_and(|e| e == ext))
        .collect()
}

/// The commitment id of a single-commitment package file.
fn commitment_id(package: &Path) -> String {
    let ev: Value = serde_json::from_slice(&std::fs::read(package).unwrap()).unwrap();
    let p: Value = serde_json::from_str(ev["content"].as_str().unwrap()).unwrap();
    p["commitments"][0]["id"].as_str().unwrap().to_owned()
}

// --- 14a: the token is the nonce ledger -----------------------------------------------------

#[test]
fn a_copied_token_home_cannot_sign_with_a_nonce_the_original_used() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let g = group(root, true);
    let s = root.join("s1");
    let before = g.t.objects();
    let a = g.commit(&g.alice, &s, &[]);
    let b = g.commit(&g.bob, &s, &[]);
    assert_eq!(
        g.t.objects(),
        before + 1,
        "one one-time object per token nonce"
    );
    let sealed: Value = serde_json::from_slice(
        &std::fs::read(
            g.alice
                .home
                .join("keystore/nonces")
                .join(&nonce_files(&g.alice.home, "sealed")[0]),
        )
        .unwrap(),
    )
    .unwrap();
    assert_eq!(sealed["once"].as_str().unwrap().len(), 32, "{sealed}");

    // A snapshot of alice's home, taken while the nonce is outstanding.
    let copy = root.join("alice-copy");
    cp_a(&g.alice.home, &copy);

    // The original signs with it.
    let req1 = g.request(&g.carol, &[&g.alice, &g.bob], &[&a, &b], &s, "first");
    g.share(&g.alice, &req1, &s);
    g.share(&g.bob, &req1, &s);
    assert_eq!(g.aggregate(&g.carol, &req1, &s)["content"], "first");
    assert_eq!(g.t.objects(), before, "the nonce's object is destroyed");

    // Another coordinator (one that never saw the first request) asks for a second
    // message with alice's same commitment: the copy must refuse.
    let s2 = root.join("s2");
    let c = g.commit(&g.carol, &s2, &[]);
    let req2 = g.request(&g.bob, &[&g.alice, &g.carol], &[&a, &c], &s2, "second");
    let out = root.join("copy-out");
    std::fs::create_dir_all(&out).unwrap();
    let line = fails(
        g.share_cmd(&copy, &req2, &out),
        5,
        &[&out],
        &["another copy of this home", "Nothing was signed"],
    );
    assert!(line.contains(&commitment_id(&a)), "{line}");
    assert!(
        std::fs::read_dir(&out).unwrap().next().is_none(),
        "no share written"
    );
    // The copy burned its stale nonce: no sealed bytes left, and a retry says so.
    assert!(nonce_files(&copy, "sealed").is_empty());
    for f in nonce_files(&copy, "consumed") {
        assert_eq!(
            std::fs::read(copy.join("keystore/nonces").join(f)).unwrap(),
            TOMBSTONE
        );
    }
    fails(
        g.share_cmd(&copy, &req2, &out),
        5,
        &[&out],
        &["already used"],
    );
    assert_eq!(g.t.objects(), before);
}

// --- 14b: commitments expire ----------------------------------------------------------------

#[test]
fn expired_commitments_are_refused_by_coordinator_and_signer() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let g = group(root, false);
    let later = (now() + 25 * 3600).to_string();

    // The coordinator refuses commitments past their lifetime (default 24 h).
    let s = root.join("s1");
    let a = g.commit(&g.alice, &s, &[]);
    let b = g.commit(&g.bob, &s, &[]);
    let mut c = g.request_cmd(&g.carol, &[&g.alice, &g.bob], &[&a, &b], &s, "late");
    c.env(NOW, &later);
    fails(
        c,
        5,
        &[&s, &g.carol.home],
        &["expired at", "alice", "bob", "fresh"],
    );

    // The signer refuses by its own record, even if a coordinator asks.
    let req = g.request(&g.carol, &[&g.alice, &g.bob], &[&a, &b], &s, "on time");
    let out = root.join("out");
    let mut c = g.share_cmd(&g.bob.home, &req, &out);
    c.env(NOW, &later);
    let line = expect_error_line(
        &mut c,
        5,
        &["bob's commitment", "expired at", "valid for 1d"],
    );
    assert!(line.contains(&commitment_id(&b)[..12]), "{line}");
    assert!(
        std::fs::read_dir(&out).unwrap().next().is_none(),
        "no share written"
    );
    // An expired nonce is burned, so it cannot come back when the clock does.
    fails(
        g.share_cmd(&g.bob.home, &req, &out),
        5,
        &[&out],
        &["already used"],
    );
    // Alice, in time, still signs.
    g.share(&g.alice, &req, &out);

    // A shorter lifetime: usable at +30 min, refused at +2 h.
    let s2 = root.join("s2");
    let mut c = g.t.cmd(&g.alice.home);
    c.args([
        "sign",
        "commit",
        "--group",
        &g.group,
        "--valid-for",
        "1h",
        "--out",
    ])
    .arg(&s2);
    let v = json_ok(c);
    let exp = v["expires_at"].as_u64().unwrap();
    assert!((now() + 3590..=now() + 3600).contains(&exp), "{v}");
    let a2 = PathBuf::from(v["package"].as_str().unwrap());
    let c2 = g.commit(&g.carol, &s2, &["--valid-for", "1h"]);
    let soon = (now() + 1800).to_string();
    let mut c = g.request_cmd(
        &g.bob,
        &[&g.alice, &g.carol],
        &[&a2, &c2],
        &s2,
        "in the hour",
    );
    c.env(NOW, &soon);
    let req2 = PathBuf::from(json_ok(c)["package"].as_str().unwrap());
    let mut c = g.share_cmd(&g.alice.home, &req2, &s2);
    c.env(NOW, &soon);
    json_ok(c);
    let mut c = g.share_cmd(&g.carol.home, &req2, &s2);
    c.env(NOW, (now() + 7200).to_string());
    expect_error_line(
        &mut c,
        5,
        &["carol's commitment", "expired at", "valid for 1h"],
    );

    // The clock override only moves time forward: an old time does not revive anything.
    let s3 = root.join("s3");
    let a3 = g.commit(&g.alice, &s3, &["--valid-for", "1m"]);
    let b3 = g.commit(&g.bob, &s3, &["--valid-for", "1m"]);
    let mut c = g.request_cmd(&g.carol, &[&g.alice, &g.bob], &[&a3, &b3], &s3, "past");
    c.env(NOW, "1");
    json_ok(c);

    // Bad lifetimes are usage errors, and nothing is sealed.
    for bad in ["0", "30s", "31d", "forever", "1y"] {
        let mut c = g.t.cmd(&g.alice.home);
        c.args([
            "sign",
            "commit",
            "--group",
            &g.group,
            "--valid-for",
            bad,
            "--out",
        ])
        .arg(&s3);
        fails(c, 2, &[&g.alice.home, &s3], &["--valid-for"]);
    }
}

#[test]
fn a_copied_file_home_is_bounded_by_expiry() {
    // File keystores keep no ledger outside the home: what stops a stale copy is the
    // nonce's lifetime (and coordinators' records).
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let g = group(root, false);
    let s = root.join("s1");
    let a = g.commit(&g.alice, &s, &[]);
    let b = g.commit(&g.bob, &s, &[]);
    let copy = root.join("alice-copy");
    cp_a(&g.alice.home, &copy);
    let req1 = g.request(&g.carol, &[&g.alice, &g.bob], &[&a, &b], &s, "first");
    g.share(&g.alice, &req1, &s);
    let s2 = root.join("s2");
    let c = g.commit(&g.carol, &s2, &[]);
    let req2 = g.request(&g.bob, &[&g.alice, &g.carol], &[&a, &c], &s2, "second");
    let out = root.join("out");
    let mut cmd = g.share_cmd(&copy, &req2, &out);
    cmd.env(NOW, (now() + 24 * 3600 + 60).to_string());
    expect_error_line(&mut cmd, 5, &["alice's commitment", "expired at"]);
    assert!(std::fs::read_dir(&out).unwrap().next().is_none());
}

// --- 14c: a coordinator never hands out a commitment twice -----------------------------------

#[test]
fn a_coordinator_refuses_to_hand_out_a_commitment_twice() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let g = group(root, false);
    let s = root.join("s");
    let a = g.commit(&g.alice, &s, &[]);
    let b = g.commit(&g.bob, &s, &[]);
    let first = root.join("first");
    g.request(&g.carol, &[&g.alice, &g.bob], &[&a, &b], &first, "one");
    // Recorded durably, one claim per commitment, before the request was written.
    let gid = npub_hex(&g.group);
    let claims = g.carol.home.join(format!("sign/{gid}/used"));
    assert_eq!(std::fs::read_dir(&claims).unwrap().count(), 2);

    // A second request with the same files (a new process: a restart) is refused.
    let second = root.join("second");
    let c = g.request_cmd(&g.carol, &[&g.alice, &g.bob], &[&a, &b], &second, "two");
    let before: Vec<_> = std::fs::read_dir(&second)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    let line = fails(
        c,
        5,
        &[&g.carol.home],
        &["already handed out", "never used twice", "alice", "bob"],
    );
    let after: Vec<_> = std::fs::read_dir(&second)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    assert_eq!(before, after, "no second request written: {line}");
    // With one fresh commitment the other is still refused, naming who lacks one.
    let a2 = g.commit(&g.alice, &s, &[]);
    let c = g.request_cmd(&g.carol, &[&g.alice, &g.bob], &[&a2, &b], &second, "three");
    fails(c, 5, &[&g.carol.home], &["bob", "already handed out"]);
}

// --- 14d: burning every outstanding nonce after a restore -------------------------------------

#[test]
fn discard_all_burns_every_outstanding_nonce() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let g = group(root, true);
    let s = root.join("s");
    let objects = g.t.objects();
    let a = g.commit(&g.alice, &s, &["--count", "3"]);
    let b = g.commit(&g.bob, &s, &["--count", "2"]);
    assert_eq!(g.t.objects(), objects + 3);

    // --member needs --group; an unknown member is named.
    let mut c = g.t.cmd(&g.alice.home);
    c.args(["sign", "commit", "--discard-all", "--member", "alice"]);
    fails(c, 2, &[&g.alice.home], &["--member needs --group"]);
    let mut c = g.t.cmd(&g.alice.home);
    c.args([
        "sign",
        "commit",
        "--discard-all",
        "--group",
        &g.group,
        "--member",
        "mallory",
    ]);
    fails(c, 2, &[&g.alice.home], &["mallory"]);

    // The token home: every nonce burned, every one-time object destroyed.
    let v = g.discard_all(&g.alice, &["--group", &g.group, "--member", "alice"]);
    assert_eq!(v["discarded"], 3, "{v}");
    assert_eq!(v["token_objects_destroyed"], 3, "{v}");
    assert_eq!(v["groups"][0], g.group.as_str());
    assert_eq!(g.t.objects(), objects);
    assert!(nonce_files(&g.alice.home, "sealed").is_empty());
    assert_eq!(nonce_files(&g.alice.home, "consumed").len(), 3);
    assert_eq!(g.discard_all(&g.alice, &[])["discarded"], 0);

    // The file home, in human form too.
    let mut c = g.t.cmd(&g.bob.home);
    c.args(["sign", "commit", "--discard-all"]);
    let out = c.output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(text.contains("discarded 2 outstanding nonce(s)"), "{text}");
    assert_eq!(nonce_files(&g.bob.home, "consumed").len(), 2);

    // A coordinator that still has the packages gets nowhere with them.
    let req = g.request(
        &g.carol,
        &[&g.alice, &g.bob],
        &[&a, &b],
        &s,
        "after restore",
    );
    let out = root.join("out");
    for m in [&g.alice, &g.bob] {
        fails(
            g.share_cmd(&m.home, &req, &out),
            5,
            &[&out],
            &["already used"],
        );
    }
}

// --- 9: a crash between the burn rename and the tombstone -------------------------------------

#[test]
fn a_half_consumed_nonce_is_tombstoned_on_the_next_open() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let g = group(root, true);
    let s = root.join("s");
    let objects = g.t.objects();
    for m in [&g.alice, &g.bob] {
        let pkg = g.commit(m, &s, &[]);
        // The state a crash (or ENOSPC) leaves after `rename(x.sealed, x.consumed)`.
        let dir = m.home.join("keystore/nonces");
        let rel = nonce_files(&m.home, "sealed").remove(0);
        let sealed = std::fs::read(dir.join(&rel)).unwrap();
        std::fs::rename(dir.join(&rel), dir.join(rel.with_extension("consumed"))).unwrap();

        // Any command that opens the home cleans it up.
        let mut c = g.t.cmd(&m.home);
        c.args(["group", "list"]);
        json_ok(c);
        let left = std::fs::read(dir.join(rel.with_extension("consumed"))).unwrap();
        assert_eq!(left, TOMBSTONE, "{}: sealed bytes erased", m.name);
        assert_ne!(left, sealed);
        assert!(commitment_id(&pkg).len() == 32);
    }
    // Alice's token object is listed for destruction, and destroyed with the token at hand.
    let pending = g.alice.home.join("keystore/pending-destroy");
    assert_eq!(std::fs::read_dir(&pending).unwrap().count(), 1);
    assert_eq!(g.t.objects(), objects + 1);
    let v = g.discard_all(&g.alice, &[]);
    assert_eq!(
        (
            v["discarded"].as_u64(),
            v["token_objects_destroyed"].as_u64()
        ),
        (Some(0), Some(1))
    );
    assert_eq!(std::fs::read_dir(&pending).unwrap().count(), 0);
    assert_eq!(g.t.objects(), objects);
}
