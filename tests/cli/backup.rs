//! `passport backup create|verify|restore` through the binary: round trips for every
//! recipient type, every rejected input (with state snapshots), and golden backups in
//! `testdata/backups/` that later versions must still verify and decrypt
//! (`PASSPORT_BLESS=1 cargo test --test cli backup::` regenerates them).

use crate::util;

use std::path::{Path, PathBuf};
use std::process::Command as Proc;

use age::secrecy::ExposeSecret;
use passport::home::{Home, OpenUnlock};
use serde_json::Value;
use util::*;

const PASS: &str = "correct horse battery staple";
const GOLDEN_PASS: &str = "passport golden backup passphrase";

/// The shared CI-group fixture: (ci, offsite, group npub).
fn setup(root: &Path) -> (Member, Member, String) {
    let g = ci_group(root, None);
    (g.ci, g.offsite, g.group)
}

fn age_identity(path: &Path) -> String {
    let id = age::x25519::Identity::generate();
    std::fs::write(
        path,
        format!(
            "# test identity\n# public key: {}\n{}\n",
            id.to_public(),
            id.to_string().expose_secret()
        ),
    )
    .unwrap();
    id.to_public().to_string()
}

fn have_ssh_keygen() -> bool {
    Proc::new("which")
        .arg("ssh-keygen")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

/// Generates an unencrypted ssh-ed25519 key; returns the public key line.
fn ssh_key(path: &Path) -> String {
    let st = Proc::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "passport-test", "-f"])
        .arg(path)
        .status()
        .unwrap();
    assert!(st.success());
    std::fs::read_to_string(format!("{}.pub", path.display()))
        .unwrap()
        .trim()
        .to_owned()
}

fn create(home: &Path, group: &str, to: &[&str], out: &Path) -> Value {
    let mut c = passport(home);
    c.args(["backup", "create", "--group", group, "--member", "ci"]);
    for r in to {
        c.arg("--recipient").arg(r);
    }
    c.arg("-o").arg(out);
    json_ok(c)
}

fn create_pass(home: &Path, group: &str, out: &Path) -> Value {
    let mut c = passport(home);
    c.env("PASSPORT_BACKUP_PASSPHRASE", PASS)
        .args(["backup", "create", "--group", group, "--member", "ci"])
        .arg("--backup-passphrase")
        .arg("-o")
        .arg(out);
    json_ok(c)
}

/// Forgets seat 1's share: its sealed file and its seat in the group state.
fn forget_share(home: &Path, group: &str) {
    let gid = npub_hex(group);
    std::fs::remove_file(home.join(format!("keystore/shares/{gid}.1.sealed"))).unwrap();
    let state = home.join(format!("groups/{gid}/state.json"));
    let mut v: Value = serde_json::from_slice(&std::fs::read(&state).unwrap()).unwrap();
    v["seats"]
        .as_array_mut()
        .unwrap()
        .retain(|s| s.as_u64() != Some(1));
    std::fs::write(&state, serde_json::to_vec_pretty(&v).unwrap()).unwrap();
}

fn seats(home: &Path, group: &str) -> Vec<u64> {
    let gid = npub_hex(group);
    let v: Value = serde_json::from_slice(
        &std::fs::read(home.join(format!("groups/{gid}/state.json"))).unwrap(),
    )
    .unwrap();
    v["seats"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_u64().unwrap())
        .collect()
}

/// Signs a note with the home's two seats and checks it with libsecp256k1.
fn sign_and_check(root: &Path, home: &Path, group: &str) {
    let tpl = root.join("note.json");
    std::fs::write(&tpl, r#"{"kind":1,"content":"after restore","tags":[]}"#).unwrap();
    let mut c = passport(home);
    c.args(["sign", "event", "--yes", "--group", group, "--event"])
        .arg(&tpl);
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

fn assert_private_armored(path: &Path) {
    let bytes = std::fs::read(path).unwrap();
    assert!(bytes.starts_with(b"-----BEGIN AGE ENCRYPTED FILE-----\n"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        for p in [path.to_path_buf(), manifest_of(path)] {
            let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{}", p.display());
        }
    }
}

fn manifest_of(path: &Path) -> PathBuf {
    PathBuf::from(format!("{}.manifest.json", path.display()))
}

/// Back up, verify, forget the share, restore, sign: for one way of opening the backup.
fn round_trip(root: &Path, ci: &Member, group: &str, file: &Path, open: &[&str], pass: bool) {
    assert_private_armored(file);
    // Without secrets.
    let mut c = passport(&ci.home);
    c.args(["backup", "verify"]).arg(file);
    let v = json_ok(c);
    assert_eq!(v["decrypted"], false);
    assert_eq!(v["member"], "ci");
    assert_eq!(v["signer"], ci.npub.as_str());
    // With the key.
    let mut c = passport(&ci.home);
    c.args(["backup", "verify"]).arg(file).args(open);
    if pass {
        c.env("PASSPORT_BACKUP_PASSPHRASE", PASS);
    }
    let v = json_ok(c);
    assert_eq!(v["decrypted"], true);

    // The share is still held: restore is refused and changes nothing.
    let before = snapshot(&ci.home);
    let mut c = passport(&ci.home);
    c.args(["backup", "restore"]).arg(file).args(open);
    if pass {
        c.env("PASSPORT_BACKUP_PASSPHRASE", PASS);
    }
    expect_error_line(&mut c, 5, &["already holds", "--force"]);
    assert_eq!(snapshot(&ci.home), before);

    forget_share(&ci.home, group);
    assert_eq!(seats(&ci.home, group), vec![2]);
    let mut c = passport(&ci.home);
    c.args(["backup", "restore"]).arg(file).args(open);
    if pass {
        c.env("PASSPORT_BACKUP_PASSPHRASE", PASS);
    }
    let v = json_ok(c);
    assert_eq!(v["seat"], 1);
    assert_eq!(v["replaced"], false);
    assert_eq!(seats(&ci.home, group), vec![1, 2]);
    sign_and_check(root, &ci.home, group);
}

#[test]
fn round_trips_for_every_recipient_type() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let (ci, _offsite, group) = setup(root);

    let age_pub = age_identity(&root.join("backup.agekey"));
    let file = root.join("x25519.age");
    let v = create(&ci.home, &group, &[&age_pub], &file);
    assert_eq!(v["recipients"], serde_json::json!([age_pub]));
    let id = root.join("backup.agekey");
    let id = id.to_str().unwrap();
    round_trip(root, &ci, &group, &file, &["--identity", id], false);

    let file = root.join("pass.age");
    let v = create_pass(&ci.home, &group, &file);
    assert_eq!(v["recipients"], serde_json::json!(["passphrase"]));
    round_trip(root, &ci, &group, &file, &["--passphrase"], true);

    if !have_ssh_keygen() {
        eprintln!("note: ssh-keygen not found; skipping the ssh-ed25519 round trip");
        return;
    }
    let ssh_pub = ssh_key(&root.join("id_backup"));
    let file = root.join("ssh.age");
    let v = create(&ci.home, &group, &[&ssh_pub], &file);
    // The manifest names the key without its comment.
    let listed = v["recipients"][0].as_str().unwrap();
    assert!(ssh_pub.starts_with(listed) && listed.starts_with("ssh-ed25519 "));
    let key = root.join("id_backup");
    round_trip(
        root,
        &ci,
        &group,
        &file,
        &["--identity", key.to_str().unwrap()],
        false,
    );

    // Several recipients at once: either one opens it.
    let file = root.join("both.age");
    create(&ci.home, &group, &[&age_pub, &ssh_pub], &file);
    round_trip(root, &ci, &group, &file, &["--identity", id], false);
    let mut c = passport(&ci.home);
    c.args(["backup", "verify"])
        .arg(&file)
        .arg("--identity")
        .arg(&key);
    assert_eq!(json_ok(c)["recipients"].as_array().unwrap().len(), 2);
}

#[test]
fn every_bad_backup_is_rejected_and_nothing_changes() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let (ci, offsite, group) = setup(root);
    let age_pub = age_identity(&root.join("backup.agekey"));
    let id = root.join("backup.agekey");
    let file = root.join("b.age");
    create(&ci.home, &group, &[&age_pub], &file);
    let pfile = root.join("p.age");
    create_pass(&ci.home, &group, &pfile);
    forget_share(&ci.home, &group);

    let restore = |f: &Path, m: Option<&Path>, key: &Path| {
        let mut c = passport(&ci.home);
        c.args(["backup", "restore"])
            .arg(f)
            .arg("--identity")
            .arg(key);
        if let Some(m) = m {
            c.arg("--manifest").arg(m);
        }
        c
    };
    let before = snapshot(&ci.home);
    let check_unchanged = || assert_eq!(snapshot(&ci.home), before, "the home changed");

    // Wrong identity: locked.
    age_identity(&root.join("other.agekey"));
    expect_error_line(
        &mut restore(&file, None, &root.join("other.agekey")),
        6,
        &["does not open"],
    );
    check_unchanged();
    // Wrong passphrase: locked.
    let mut c = passport(&ci.home);
    c.env("PASSPORT_BACKUP_PASSPHRASE", "not it")
        .args(["backup", "restore", "--passphrase"])
        .arg(&pfile);
    expect_error_line(&mut c, 6, &["wrong backup passphrase"]);
    check_unchanged();

    // Tampered armor: one base64 character flipped (manifest kept).
    let armored = std::fs::read_to_string(&file).unwrap();
    let mut lines: Vec<String> = armored.lines().map(String::from).collect();
    let mid = lines.len() / 2;
    let first = lines[mid].remove(0);
    lines[mid].insert(0, if first == 'A' { 'B' } else { 'A' });
    let tampered = root.join("tampered.age");
    std::fs::write(&tampered, lines.join("\n") + "\n").unwrap();
    std::fs::copy(manifest_of(&file), manifest_of(&tampered)).unwrap();
    expect_error_line(&mut restore(&tampered, None, &id), 3, &["SHA-256"]);
    check_unchanged();
    // Truncated armor.
    let truncated = root.join("truncated.age");
    std::fs::write(&truncated, &armored[..armored.len() / 2]).unwrap();
    std::fs::copy(manifest_of(&file), manifest_of(&truncated)).unwrap();
    expect_error_line(&mut restore(&truncated, None, &id), 3, &["truncated"]);
    check_unchanged();
    // Without the key, verify rejects the same files.
    let mut c = passport(&ci.home);
    c.args(["backup", "verify"]).arg(&truncated);
    expect_error_line(&mut c, 3, &["SHA-256"]);

    // Manifest content edited: the signature no longer verifies.
    let mut ev: Value =
        serde_json::from_slice(&std::fs::read(manifest_of(&file)).unwrap()).unwrap();
    let content = ev["content"]
        .as_str()
        .unwrap()
        .replace("\"seat\":1", "\"seat\":2");
    ev["content"] = content.into();
    let forged = root.join("forged.json");
    std::fs::write(&forged, ev.to_string()).unwrap();
    expect_error_line(
        &mut restore(&file, Some(&forged), &id),
        3,
        &["forged or tampered manifest"],
    );
    check_unchanged();

    // A manifest signed by another member (offsite) for ci's backup.
    let ev: Value = serde_json::from_slice(&std::fs::read(manifest_of(&file)).unwrap()).unwrap();
    let manifest: passport::backup::Manifest =
        serde_json::from_str(ev["content"].as_str().unwrap()).unwrap();
    let other = Home::open(&offsite.home, OpenUnlock::none()).unwrap();
    let event = passport::backup::sign_manifest(other.identity().unwrap(), &manifest).unwrap();
    let by_other = root.join("by-offsite.json");
    std::fs::write(&by_other, nostr::JsonUtil::as_json(&event)).unwrap();
    expect_error_line(
        &mut restore(&file, Some(&by_other), &id),
        3,
        &["signed by offsite"],
    );
    check_unchanged();
    let mut c = passport(&ci.home);
    c.args(["backup", "verify"])
        .arg(&file)
        .arg("--manifest")
        .arg(&by_other);
    expect_error_line(&mut c, 3, &["signed by offsite"]);

    // A backup of another group: checked against that group's file, and restored into
    // the home of a member of that other group only.
    let zed = make_member(root, "zed");
    let yan = make_member(root, "yan");
    let dealer2 = make_member(root, "dealer2");
    let roster2 = write_roster(root, "roster2.json", 2, &[&zed, &yan], Some(&dealer2.npub));
    let mut c = passport(&dealer2.home);
    c.args(["keygen", "deal", "--roster"])
        .arg(&roster2)
        .arg("--out")
        .arg(root.join("dealt2"));
    let group2 = json_ok(c)["group"].as_str().unwrap().to_owned();
    let mut c = passport(&zed.home);
    c.args(["keygen", "import", "--roster"])
        .arg(&roster2)
        .arg(util::pkg(&root.join("dealt2"), "dealer-share-zed"));
    json_ok(c);
    let group2_file = zed
        .home
        .join(format!("groups/{}/group.json", npub_hex(&group2)));
    let mut c = passport(&root.join("no-home"));
    c.args(["backup", "verify"])
        .arg(&file)
        .arg("--group-file")
        .arg(&group2_file);
    expect_error_line(&mut c, 3, &["backup of group", &group2]);
    let zed_before = snapshot(&zed.home);
    let mut c = passport(&zed.home);
    c.args(["backup", "restore"])
        .arg(&file)
        .arg("--identity")
        .arg(&id);
    expect_error_line(&mut c, 3, &["not by this home's identity"]);
    let mut c = passport(&zed.home);
    c.args(["backup", "restore"])
        .arg(&file)
        .arg("--identity")
        .arg(&id)
        .arg("--group-file")
        .arg(&group2_file);
    expect_error_line(&mut c, 3, &["backup of group"]);
    assert_eq!(snapshot(&zed.home), zed_before);

    // Mixing a passphrase with recipients: usage error, nothing written.
    let mixed = root.join("mixed.age");
    let mut c = passport(&ci.home);
    c.env("PASSPORT_BACKUP_PASSPHRASE", PASS)
        .args([
            "backup",
            "create",
            "--group",
            &group,
            "--passphrase",
            "--recipient",
            &age_pub,
            "-o",
        ])
        .arg(&mixed);
    expect_error_line(&mut c, 2, &["--backup-passphrase cannot be combined"]);
    assert!(!mixed.exists() && !manifest_of(&mixed).exists());
    check_unchanged();

    // After all that, the genuine backup still restores.
    let v = json_ok(restore(&file, None, &id));
    assert_eq!(v["seat"], 1);
}

// --- golden backups -------------------------------------------------------------------

fn testdata(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("testdata/backups")
        .join(rel)
}

fn bless() -> bool {
    std::env::var_os("PASSPORT_BLESS").is_some()
}

/// Regenerates the golden backups (fixed identities are kept if present).
fn bless_backups() {
    let dir = testdata("");
    std::fs::create_dir_all(&dir).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let (ci, _offsite, group) = setup(root);
    let gid = npub_hex(&group);
    std::fs::copy(
        ci.home.join(format!("groups/{gid}/group.json")),
        testdata("group.json"),
    )
    .unwrap();
    if !testdata("age.key").exists() {
        age_identity(&testdata("age.key"));
    }
    let age_pub = {
        let text = std::fs::read_to_string(testdata("age.key")).unwrap();
        let line = text
            .lines()
            .find(|l| l.starts_with("AGE-SECRET-KEY-1"))
            .unwrap();
        let id: age::x25519::Identity = line.parse().unwrap();
        id.to_public().to_string()
    };
    let write = |name: &str, to: &[&str], pass: bool| {
        let out = testdata(name);
        let _ = std::fs::remove_file(&out);
        let _ = std::fs::remove_file(manifest_of(&out));
        let mut c = passport(&ci.home);
        c.args(["backup", "create", "--group", &group, "--member", "ci"]);
        if pass {
            c.env("PASSPORT_BACKUP_PASSPHRASE", GOLDEN_PASS)
                .arg("--passphrase");
        }
        for r in to {
            c.arg("--recipient").arg(r);
        }
        c.arg("-o").arg(&out);
        json_ok(c);
    };
    write("x25519.age", &[&age_pub], false);
    write("passphrase.age", &[], true);
    if !testdata("ssh.key").exists() {
        if have_ssh_keygen() {
            ssh_key(&testdata("ssh.key"));
        } else {
            eprintln!("note: ssh-keygen not found; no ssh golden backup blessed");
            return;
        }
    }
    let ssh_pub = std::fs::read_to_string(testdata("ssh.key.pub")).unwrap();
    write("ssh.age", &[ssh_pub.trim()], false);
}

#[test]
fn golden_backups_still_verify_and_decrypt() {
    if bless() {
        bless_backups();
    }
    let group_file = testdata("group.json");
    let group: Value = serde_json::from_slice(&std::fs::read(&group_file).unwrap()).unwrap();
    let cases: [(&str, &[&str], bool); 3] = [
        ("x25519.age", &["--identity", "age.key"], false),
        ("passphrase.age", &["--passphrase"], true),
        ("ssh.age", &["--identity", "ssh.key"], false),
    ];
    let tmp = tempfile::tempdir().unwrap();
    for (file, open, pass) in cases {
        let path = testdata(file);
        if !path.exists() {
            panic!("missing {}; run with PASSPORT_BLESS=1 once", path.display());
        }
        let mut c = passport(&tmp.path().join("no-home"));
        c.args(["backup", "verify"])
            .arg(&path)
            .arg("--group-file")
            .arg(&group_file);
        for a in open {
            if a.ends_with(".key") {
                c.arg(testdata(a));
            } else {
                c.arg(a);
            }
        }
        if pass {
            c.env("PASSPORT_BACKUP_PASSPHRASE", GOLDEN_PASS);
        }
        let v = json_ok(c);
        assert_eq!(v["decrypted"], true, "{file}");
        assert_eq!(v["group"], group["npub"], "{file}");
        assert_eq!(v["member"], "ci");
        assert_eq!(v["group_source"], "group-file");
    }
}

// --- rebuilding a lost home ------------------------------------------------------------

/// A member's whole home (and the age identity that unlocked it) is deleted; from what
/// it kept elsewhere — an identity backup and a share backup — a fresh home is rebuilt
/// with the same npub, takes the share back, and signs with another member. An identity
/// backup verifies without secrets, and a tampered one is refused.
#[test]
fn a_lost_home_is_rebuilt_from_its_identity_and_share_backups() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let ms: Vec<Member> = ["alice", "bob", "carol"]
        .iter()
        .map(|n| make_member(root, n))
        .collect();
    let refs: Vec<&Member> = ms.iter().collect();
    let roster = write_roster(root, "roster.json", 2, &refs, None);
    let group = dkg_files(&refs, &roster, &root.join("dkg"));
    let kept = root.join("kept");
    std::fs::create_dir_all(&kept).unwrap();
    let recipient = age_identity(&kept.join("offline.agekey"));

    // What alice keeps, away from her laptop.
    let mut c = passport(&ms[0].home);
    c.args(["backup", "identity", "--recipient", &recipient, "-o"])
        .arg(kept.join("alice-identity.age"));
    let v = json_ok(c);
    assert_eq!(v["npub"], ms[0].npub.as_str());
    let mut c = passport(&ms[0].home);
    c.args([
        "backup",
        "create",
        "--group",
        &group,
        "--recipient",
        &recipient,
        "-o",
    ])
    .arg(kept.join("alice-share.age"));
    json_ok(c);
    // Without any secret, the identity backup verifies; a changed byte does not.
    let mut c = bare();
    c.args(["backup", "verify"])
        .arg(kept.join("alice-identity.age"));
    let v = json_ok(c);
    assert_eq!(v["npub"], ms[0].npub.as_str());
    assert_eq!(v["decrypted"], false);
    let idfile = kept.join("alice-identity.age");
    let orig = std::fs::read(&idfile).unwrap();
    let mut bad = orig.clone();
    let at = bad.len() / 2;
    bad[at] ^= 1;
    std::fs::write(&idfile, &bad).unwrap();
    let mut c = bare();
    c.args(["backup", "verify"]).arg(&idfile);
    expect_error_line(&mut c, 3, &["SHA-256 is not the one the manifest pins"]);
    std::fs::write(&idfile, &orig).unwrap();

    // The laptop is gone: home and keystore identity file.
    std::fs::remove_dir_all(&ms[0].home).unwrap();
    std::fs::remove_file(root.join("alice.agekey")).unwrap();

    // A fresh home from the identity backup, then the share backup.
    let home = root.join("alice-new");
    let mut c = passport(&home);
    c.arg("init")
        .arg("--age-identity")
        .arg(root.join("alice-new.agekey"))
        .arg("--restore-identity")
        .arg(&idfile)
        .arg("--backup-identity")
        .arg(kept.join("offline.agekey"));
    let v = json_ok(c);
    assert_eq!(
        v["npub"],
        ms[0].npub.as_str(),
        "the same identity as before"
    );
    let mut c = passport(&home);
    c.args(["group", "import"]).arg(
        ms[1]
            .home
            .join("groups")
            .join(npub_hex(&group))
            .join("group.json"),
    );
    json_ok(c);
    let mut c = passport(&home);
    c.args(["backup", "restore"])
        .arg(kept.join("alice-share.age"))
        .arg("--identity")
        .arg(kept.join("offline.agekey"));
    json_ok(c);
    let alice = Member {
        name: "alice".into(),
        home,
        npub: ms[0].npub.clone(),
    };
    sign_files(&[&alice, &ms[2]], &group, &root.join("s"));
}

/// Walk-through "forgotten passphrase" (and "lost everything but the identity backup"):
/// alice's home is sealed by a passphrase she no longer knows and she kept no share
/// backup. From her identity backup she builds a new home, imports the public group file
/// from bob, and bob and carol repair her share into it; she then signs with bob.
#[test]
fn a_forgotten_passphrase_is_survived_with_the_identity_backup_and_a_repair() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let alice_home = root.join("alice");
    std::fs::write(passphrase_file(&alice_home), "the one she forgets\n").unwrap();
    let mut c = passport(&alice_home);
    c.arg("init");
    let alice_npub = json_ok(c)["npub"].as_str().unwrap().to_owned();
    let alice = Member {
        name: "alice".into(),
        home: alice_home.clone(),
        npub: alice_npub.clone(),
    };
    let (bob, carol) = (make_member(root, "bob"), make_member(root, "carol"));
    let roster = write_roster(root, "roster.json", 2, &[&alice, &bob, &carol], None);
    let group = dkg_files(&[&alice, &bob, &carol], &roster, &root.join("dkg"));
    let kept = root.join("kept");
    std::fs::create_dir_all(&kept).unwrap();
    let recipient = age_identity(&kept.join("offline.agekey"));
    let mut c = passport(&alice_home);
    c.args(["backup", "identity", "--recipient", &recipient, "-o"])
        .arg(kept.join("alice-identity.age"));
    json_ok(c);

    // Months later: the passphrase is gone. Every guess is "locked" (exit 6).
    std::fs::write(passphrase_file(&alice_home), "a guess\n").unwrap();
    let mut c = passport(&alice_home);
    c.args(["sign", "commit", "--group", &group, "--out"])
        .arg(root.join("nope"));
    expect_error_line(&mut c, 6, &[]);

    // A new home with the same identity, a new passphrase, and the public group file.
    let new_home = root.join("alice-new");
    std::fs::write(passphrase_file(&new_home), "a new one, written down\n").unwrap();
    let mut c = passport(&new_home);
    c.arg("init")
        .arg("--restore-identity")
        .arg(kept.join("alice-identity.age"))
        .arg("--backup-identity")
        .arg(kept.join("offline.agekey"));
    assert_eq!(json_ok(c)["npub"], alice_npub.as_str());
    let mut c = passport(&new_home);
    c.args(["group", "import"]).arg(
        bob.home
            .join("groups")
            .join(npub_hex(&group))
            .join("group.json"),
    );
    json_ok(c);

    // Bob and carol repair alice's seat; alice finishes in the new home.
    let p = root.join("repair");
    for step in ["step1", "step2"] {
        for m in [&bob, &carol] {
            let mut c = passport(&m.home);
            c.args([
                "repair",
                step,
                "--group",
                &group,
                "--lost",
                "alice",
                "--helpers",
                "bob,carol",
                "--out",
            ])
            .arg(&p);
            if step == "step2" {
                c.arg("--in").arg(&p);
            }
            json_ok(c);
        }
    }
    let mut c = passport(&new_home);
    c.args([
        "repair",
        "finish",
        "--group",
        &group,
        "--helpers",
        "bob,carol",
        "--in",
    ])
    .arg(&p);
    assert_eq!(json_ok(c)["member"], "alice");
    let rebuilt = Member {
        name: "alice".into(),
        home: new_home,
        npub: alice_npub,
    };
    sign_files(&[&rebuilt, &bob], &group, &root.join("s"));
}

/// A backup passphrase file given alone means "decrypt with this passphrase" (it used to
/// be ignored, and `verify` exited 0 without decrypting); a wrong one is "locked" (6)
/// without talk of a keystore, which a backup does not involve.
#[test]
fn a_backup_passphrase_file_alone_decrypts_and_errors_name_the_backup() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let (ci, _, group) = setup(root);
    let file = root.join("pw.age");
    let right = root.join("right.txt");
    std::fs::write(&right, "correct horse\n").unwrap();
    let mut c = passport(&ci.home);
    c.args([
        "backup",
        "create",
        "--group",
        &group,
        "--member",
        "ci",
        "--backup-passphrase-file",
    ])
    .arg(&right)
    .arg("-o")
    .arg(&file);
    assert_eq!(json_ok(c)["recipients"], serde_json::json!(["passphrase"]));
    let mut c = passport(&ci.home);
    c.args(["backup", "verify"])
        .arg(&file)
        .arg("--backup-passphrase-file")
        .arg(&right);
    assert_eq!(json_ok(c)["decrypted"], true);
    let wrong = root.join("wrong.txt");
    std::fs::write(&wrong, "battery staple\n").unwrap();
    let mut c = passport(&ci.home);
    c.args(["backup", "verify"])
        .arg(&file)
        .arg("--backup-passphrase-file")
        .arg(&wrong);
    let line = expect_error_line(&mut c, 6, &["wrong backup passphrase", "pw.age"]);
    assert!(!line.contains("keystore"), "{line}");
    // With recipients, a passphrase file is a contradiction, not a silent choice.
    let mut c = passport(&ci.home);
    c.args([
        "backup",
        "create",
        "--group",
        &group,
        "--member",
        "ci",
        "--recipient",
    ])
    .arg(age_identity(&root.join("k.agekey")))
    .arg("--backup-passphrase-file")
    .arg(&right)
    .arg("-o")
    .arg(root.join("both.age"));
    expect_error_line(&mut c, 2, &["--backup-passphrase-file cannot be combined"]);
    assert!(!root.join("both.age").exists());
}
