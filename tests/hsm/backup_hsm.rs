//! A backup restored into a home whose keystore is a PKCS#11 token (SoftHSM2): the share
//! is sealed by the token again, and the home signs with it.

use crate::util;

use std::path::{Path, PathBuf};
use std::process::Command as Std;

use age::secrecy::ExposeSecret;
use serde_json::Value;
use util::*;

const PIN: &str = "123456";

/// A fresh SoftHSM2 token directory with one token; returns (conf, module).
fn softhsm(root: &Path, label: &str) -> Option<(PathBuf, PathBuf)> {
    let module = passport::hsm::token::find_softhsm()?;
    let (_, conf) = softhsm_dirs(root);
    let ok = Std::new("softhsm2-util")
        .env("SOFTHSM2_CONF", &conf)
        .args([
            "--init-token",
            "--free",
            "--label",
            label,
            "--so-pin",
            "87654321",
            "--pin",
            PIN,
        ])
        .output()
        .ok()?
        .status
        .success();
    ok.then_some((conf, module))
}

/// [`softhsm`], which the tests require.
fn softhsm_token(root: &Path, label: &str) -> (PathBuf, PathBuf) {
    softhsm(root, label).expect("SoftHSM2 is required (scripts/test.sh installs softhsm2)")
}

/// `passport --home HOME` pointed at the SoftHSM2 token of `conf`, PIN in the environment.
fn token_cmd(home: &Path, conf: &Path, module: &Path) -> assert_cmd::Command {
    let mut c = passport(home);
    c.env("SOFTHSM2_CONF", conf)
        .env("PASSPORT_PKCS11_MODULE", module)
        .env("PASSPORT_PKCS11_PIN", PIN);
    c
}

#[test]
fn backup_restores_into_a_token_sealed_home() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let (conf, module) = softhsm_token(root, "ci-token");
    let hsm = |home: &Path| token_cmd(home, &conf, &module);
    // The CI home seals everything in the token and holds two seats of a dealer group.
    let ci_home = root.join("ci");
    let mut c = hsm(&ci_home);
    c.args(["hsm", "init", "--token", "pkcs11:token=ci-token"]);
    json_ok(c);
    let mut c = hsm(&ci_home);
    c.args(["init", "--keystore", "pkcs11:token=ci-token"]);
    let ci_npub = json_ok(c)["npub"].as_str().unwrap().to_owned();
    let ci = Member {
        name: "ci".into(),
        home: ci_home.clone(),
        npub: ci_npub.clone(),
    };
    let ci_b = Member {
        name: "ci-b".into(),
        home: ci_home.clone(),
        npub: ci_npub,
    };
    let dealer = make_member(root, "dealer");
    let other = make_member(root, "offsite");
    let roster = write_roster(
        root,
        "roster.json",
        2,
        &[&ci, &ci_b, &other],
        Some(&dealer.npub),
    );
    let dealt = root.join("dealt");
    let mut c = passport(&dealer.home);
    c.args(["keygen", "deal", "--roster"])
        .arg(&roster)
        .arg("--out")
        .arg(&dealt);
    let group = json_ok(c)["group"].as_str().unwrap().to_owned();
    for seat in ["ci", "ci-b"] {
        let mut c = hsm(&ci_home);
        c.args(["keygen", "import", "--roster"])
            .arg(&roster)
            .arg(util::pkg(&dealt, &format!("dealer-share-{seat}")));
        json_ok(c);
    }

    // Back up seat 1 to an age recipient.
    let id = age::x25519::Identity::generate();
    let id_file = root.join("backup.agekey");
    std::fs::write(&id_file, format!("{}\n", id.to_string().expose_secret())).unwrap();
    let backup = root.join("ci.age");
    let mut c = hsm(&ci_home);
    c.args([
        "backup",
        "create",
        "--group",
        &group,
        "--member",
        "ci",
        "--recipient",
        &id.to_public().to_string(),
        "-o",
    ])
    .arg(&backup);
    json_ok(c);

    // The token home loses the share (file and seat), then restores it from the backup.
    let gid = npub_hex(&group);
    let sealed = ci_home.join(format!("keystore/shares/{gid}.1.sealed"));
    std::fs::remove_file(&sealed).unwrap();
    let state = ci_home.join(format!("groups/{gid}/state.json"));
    let mut v: Value = serde_json::from_slice(&std::fs::read(&state).unwrap()).unwrap();
    v["seats"]
        .as_array_mut()
        .unwrap()
        .retain(|s| s.as_u64() != Some(1));
    std::fs::write(&state, serde_json::to_vec(&v).unwrap()).unwrap();

    let mut c = hsm(&ci_home);
    c.args(["backup", "restore"])
        .arg(&backup)
        .arg("--identity")
        .arg(&id_file);
    json_ok(c);
    // The restored share is sealed by the token (format v2, key derived in the token),
    // not by age.
    let blob: Value = serde_json::from_slice(&std::fs::read(&sealed).unwrap()).unwrap();
    assert_eq!(blob["v"], 2);
    assert_eq!(blob["scheme"], "aes-ecb-rfc8452");
    assert_eq!(blob["alg"], "AES-256-GCM-SIV");

    // And the home signs again with both seats; libsecp256k1 checks the event.
    let tpl = root.join("note.json");
    std::fs::write(
        &tpl,
        r#"{"kind":1,"content":"restored into a token","tags":[]}"#,
    )
    .unwrap();
    let mut c = hsm(&ci_home);
    c.args(["sign", "event", "--yes", "--group", &group, "--event"])
        .arg(&tpl);
    let out = c.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let event: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(event["pubkey"], npub_hex(&group));
    verify_event_independently(&event);
}

/// Walk-through "lost token": alice's identity and share are sealed by her token, which
/// is gone. Her old home says which token it misses; from her identity and share
/// backups she builds a new home sealed by a new token, and signs with bob.
#[test]
fn a_lost_token_is_replaced_from_the_identity_and_share_backups() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let (conf, module) = softhsm_token(root, "alice-token");
    let hsm = |home: &Path| token_cmd(home, &conf, &module);
    let old_home = root.join("alice");
    let mut c = hsm(&old_home);
    c.args(["hsm", "init", "--token", "pkcs11:token=alice-token"]);
    json_ok(c);
    let mut c = hsm(&old_home);
    c.args(["init", "--keystore", "pkcs11:token=alice-token"]);
    let npub = json_ok(c)["npub"].as_str().unwrap().to_owned();
    let alice = Member {
        name: "alice".into(),
        home: old_home.clone(),
        npub: npub.clone(),
    };
    let (bob, carol) = (make_member(root, "bob"), make_member(root, "carol"));
    let roster = write_roster(root, "roster.json", 2, &[&alice, &bob, &carol], None);
    // The DKG through files, alice's steps with her token.
    let with_token = |m: &Member| {
        if m.name == "alice" {
            hsm(&m.home)
        } else {
            passport(&m.home)
        }
    };
    let group = dkg_files_with(
        &[&alice, &bob, &carol],
        &roster,
        &root.join("dkg"),
        &with_token,
    );
    // What alice keeps away from the token: identity and share backups, and their key.
    let id = age::x25519::Identity::generate();
    let offline = root.join("offline.agekey");
    std::fs::write(&offline, format!("{}\n", id.to_string().expose_secret())).unwrap();
    let to = id.to_public().to_string();
    let mut c = hsm(&old_home);
    c.args(["backup", "identity", "--recipient", &to, "-o"])
        .arg(root.join("alice-identity.age"));
    json_ok(c);
    let mut c = hsm(&old_home);
    c.args([
        "backup",
        "create",
        "--group",
        &group,
        "--recipient",
        &to,
        "-o",
    ])
    .arg(root.join("alice-share.age"));
    json_ok(c);

    // The token is lost: its objects are gone. The old home names what it misses.
    let (tokendir, _) = softhsm_dirs(root);
    for e in std::fs::read_dir(&tokendir).unwrap() {
        std::fs::remove_dir_all(e.unwrap().path()).unwrap();
    }
    let mut c = hsm(&old_home);
    c.args(["sign", "commit", "--group", &group, "--out"])
        .arg(root.join("nope"));
    let out = c.arg("--json").output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stdout);
    assert!(
        err.contains("alice-token"),
        "names the missing token: {err}"
    );

    // A new token, its passport keys, and a new home with the same identity.
    let ok = Std::new("softhsm2-util")
        .env("SOFTHSM2_CONF", &conf)
        .args([
            "--init-token",
            "--free",
            "--label",
            "alice-token-2",
            "--so-pin",
            "87654321",
            "--pin",
            PIN,
        ])
        .status()
        .unwrap()
        .success();
    assert!(ok, "softhsm2-util --init-token");
    let new_home = root.join("alice-new");
    let mut c = hsm(&new_home);
    c.args(["hsm", "init", "--token", "pkcs11:token=alice-token-2"]);
    json_ok(c);
    let mut c = hsm(&new_home);
    c.args([
        "init",
        "--keystore",
        "pkcs11:token=alice-token-2",
        "--restore-identity",
    ])
    .arg(root.join("alice-identity.age"))
    .arg("--backup-identity")
    .arg(&offline);
    assert_eq!(json_ok(c)["npub"], npub.as_str());
    let mut c = hsm(&new_home);
    c.args(["group", "import"]).arg(
        bob.home
            .join("groups")
            .join(npub_hex(&group))
            .join("group.json"),
    );
    json_ok(c);
    let mut c = hsm(&new_home);
    c.args(["backup", "restore"])
        .arg(root.join("alice-share.age"))
        .arg("--identity")
        .arg(&offline);
    json_ok(c);
    // The share is sealed by the new token now.
    let sealed = new_home.join(format!("keystore/shares/{}.1.sealed", npub_hex(&group)));
    let blob: Value = serde_json::from_slice(&std::fs::read(&sealed).unwrap()).unwrap();
    assert_eq!(blob["v"], 2);

    // Alice (through the new token) and bob sign; libsecp256k1 checks the event.
    let rebuilt = Member {
        name: "alice".into(),
        home: new_home,
        npub,
    };
    sign_files_with(&[&rebuilt, &bob], &group, &root.join("s"), &with_token);
}
