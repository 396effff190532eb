//! `passport recover-nsec`: the guarded exit from threshold custody.

use crate::util;

use std::path::Path;

use nostr::nips::nip49::EncryptedSecretKey;
use nostr::{FromBech32, Keys, SecretKey, ToBech32};
use util::tmux::{sh_quote, Tmux};
use util::*;

/// The shared CI-group fixture over a split of a fresh nsec; returns (ci, group, nsec).
fn split_into_one_home(root: &Path) -> (Member, String, Keys) {
    let original = Keys::generate();
    let nsec_file = root.join("nsec.txt");
    std::fs::write(&nsec_file, original.secret_key().to_bech32().unwrap()).unwrap();
    let g = ci_group(root, Some(&nsec_file));
    (g.ci, g.group, original)
}

#[test]
fn recovers_the_split_nsec_only_with_consent_and_logs_it() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let (ci, group, original) = split_into_one_home(root);
    let out = root.join("recovered.nsec");

    // No terminal and no danger flag: refused, nothing written, home unchanged.
    let before = snapshot(&ci.home);
    let mut c = passport(&ci.home);
    c.args(["recover-nsec", "--group", &group, "-o"]).arg(&out);
    expect_error_line(&mut c, 5, &["--i-understand-this-ends-threshold-custody"]);
    assert!(!out.exists());
    assert_eq!(snapshot(&ci.home), before);

    let mut c = passport(&ci.home);
    c.args([
        "recover-nsec",
        "--i-understand-this-ends-threshold-custody",
        "--group",
        &group,
        "-o",
    ])
    .arg(&out);
    let v = json_ok(c);
    assert_eq!(v["format"], "nsec");
    let text = std::fs::read_to_string(&out).unwrap();
    let recovered = SecretKey::from_bech32(text.trim()).unwrap();
    assert_eq!(
        recovered,
        *original.secret_key(),
        "the split nsec comes back exactly"
    );
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&out).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let log = std::fs::read_to_string(ci.home.join("audit.jsonl")).unwrap();
    assert!(
        log.contains("\"op\":\"recover-nsec\"") && !log.contains(text.trim()),
        "logged, without the key"
    );

    // An existing file is never overwritten.
    let mut c = passport(&ci.home);
    c.args([
        "recover-nsec",
        "--i-understand-this-ends-threshold-custody",
        "--group",
        &group,
        "-o",
    ])
    .arg(&out);
    expect_error_line(&mut c, 5, &["exists"]);
    assert_eq!(std::fs::read_to_string(&out).unwrap(), text);
}

#[test]
fn recovers_a_dkg_key_as_ncryptsec_that_signs_for_the_group() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    // One home holds two seats of a 2-of-3 DKG; the third seat is elsewhere.
    let a = make_member(root, "a");
    let a2 = Member {
        name: "a2".into(),
        home: a.home.clone(),
        npub: a.npub.clone(),
    };
    let c3 = make_member(root, "c");
    let roster = write_roster(root, "roster.json", 2, &[&a, &a2, &c3], None);
    let x = root.join("x");
    for step in ["round1", "round2", "finish", "confirm"] {
        for (home, seat) in [(&a.home, "a"), (&a.home, "a2"), (&c3.home, "c")] {
            let mut c = passport(home);
            c.args(["dkg", step, "--member", seat, "--roster"])
                .arg(&roster);
            if step != "confirm" {
                c.arg("--out").arg(&x);
            }
            if step != "round1" {
                c.arg("--in").arg(&x);
            }
            json_ok(c);
        }
    }
    let group = {
        let mut c = passport(&a.home);
        c.args(["group", "list"]);
        json_ok(c)["groups"][0]["npub"].as_str().unwrap().to_owned()
    };
    let out = root.join("group.ncryptsec");
    let mut c = passport(&a.home);
    c.env("PASSPORT_NCRYPTSEC_PASSPHRASE", "exit passphrase");
    c.args([
        "recover-nsec",
        "--ncryptsec",
        "--i-understand-this-ends-threshold-custody",
        "--group",
        &group,
        "-o",
    ])
    .arg(&out);
    assert_eq!(json_ok(c)["format"], "ncryptsec (NIP-49)");
    let enc =
        EncryptedSecretKey::from_bech32(std::fs::read_to_string(&out).unwrap().trim()).unwrap();
    let keys = Keys::new(enc.decrypt("exit passphrase").unwrap());
    assert_eq!(
        keys.public_key().to_bech32().unwrap(),
        group,
        "the taproot-tweaked DKG key is recovered"
    );
    // The recovered key signs events that verify under the group npub (libsecp256k1).
    let ev = nostr::EventBuilder::text_note("after threshold custody")
        .sign_with_keys(&keys)
        .unwrap();
    verify_event_independently(&serde_json::to_value(&ev).unwrap());

    // A home holding fewer than t shares cannot reconstruct.
    let mut c = passport(&c3.home);
    c.args([
        "recover-nsec",
        "--i-understand-this-ends-threshold-custody",
        "--group",
        &group,
        "-o",
    ])
    .arg(root.join("no.nsec"));
    expect_error_line(&mut c, 4, &["needs 2", "send-share"]);
    assert!(!root.join("no.nsec").exists());
}

/// A normal roster (one npub per member): the exit goes through share hand-overs. Bob
/// types his confirmation and hands his share, NIP-44 encrypted, to alice; alice types
/// hers and reconstructs the key from her share and bob's, in memory. Misaddressed,
/// tampered and unconfirmed hand-overs are refused, and nothing is written.
#[test]
fn a_normal_roster_recovers_through_typed_share_handovers() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let (a, b, c) = (
        make_member(root, "alice"),
        make_member(root, "bob"),
        make_member(root, "carol"),
    );
    let roster = write_roster(root, "roster.json", 2, &[&a, &b, &c], None);
    let group = dkg_files(&[&a, &b, &c], &roster, &root.join("dkg"));
    let bin = assert_cmd::cargo::cargo_bin("passport");
    let out = root.join("handed");

    // Alice alone: not enough shares; the message says who must do what.
    let mut cmd = passport(&a.home);
    cmd.args([
        "recover-nsec",
        "--i-understand-this-ends-threshold-custody",
        "--group",
        &group,
        "-o",
    ])
    .arg(root.join("no.nsec"));
    let line = expect_error_line(
        &mut cmd,
        4,
        &[
            "1 share(s)",
            "needs 2",
            "bob, carol",
            "send-share",
            "--to alice",
        ],
    );
    assert!(
        !line.contains("nonces/") && !line.contains("shares/"),
        "{line}"
    );

    // No terminal and no flag: refused, no package, bob's home unchanged.
    let before = snapshot(&b.home);
    let mut cmd = passport(&b.home);
    cmd.args([
        "recover-nsec",
        "send-share",
        "--group",
        &group,
        "--to",
        "alice",
        "--out",
    ])
    .arg(&out);
    expect_error_line(&mut cmd, 5, &["--i-understand-this-ends-threshold-custody"]);
    assert!(!out.exists());
    assert_eq!(snapshot(&b.home), before);

    // Bob on a terminal: a wrong phrase refuses, the right one hands the share over.
    let give = |name: &str| {
        format!(
            "env -u PASSPORT_HOME -u PASSPORT_PASSPHRASE -u PASSPORT_AGE_IDENTITY {} --home {} \
             recover-nsec send-share --group {group} --to alice --out {}; echo \"exit status $?\"; read x",
            sh_quote(&bin),
            sh_quote(&b.home),
            sh_quote(&out),
        ) + &format!(" # {name}")
    };
    let t = Tmux::start("give-wrong", &give("wrong"));
    let screen = t.wait_for("Type \"hand over my share\"", "bob's typed confirmation");
    assert!(
        screen.contains("bob's share of") && screen.contains("to alice"),
        "{screen}"
    );
    t.send("yes");
    t.send("Enter");
    t.wait_for("exit status 5", "the refusal");
    assert!(!out.exists(), "a refused hand-over writes nothing");
    drop(t);
    let t = Tmux::start("give", &give("right"));
    t.wait_for("Type \"hand over my share\"", "bob's typed confirmation");
    t.send("hand over my share");
    t.send("Enter");
    t.wait_for("exit status 0", "bob's hand-over");
    drop(t);
    let handed: Vec<_> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(handed.len(), 1, "{handed:?}");
    let bob_file = handed[0].clone();
    let name = bob_file.file_name().unwrap().to_string_lossy().into_owned();
    assert!(
        name.starts_with("handover-bob-to-alice-") && name.ends_with(".json"),
        "{name}"
    );
    let pkg = std::fs::read_to_string(&bob_file).unwrap();
    assert!(
        pkg.contains("nip44") && !pkg.contains("key_package"),
        "the share travels encrypted"
    );
    let log = std::fs::read_to_string(b.home.join("audit.jsonl")).unwrap();
    assert!(
        log.contains("\"op\":\"share-handover\""),
        "bob's home records the hand-over"
    );

    // Carol's share addressed to bob is not alice's to use.
    let mut cmd = passport(&c.home);
    cmd.args([
        "recover-nsec",
        "send-share",
        "--i-understand-this-ends-threshold-custody",
        "--group",
        &group,
        "--to",
        "bob",
        "--out",
    ])
    .arg(root.join("to-bob"));
    let carol_to_bob = std::path::PathBuf::from(json_ok(cmd)["file"].as_str().unwrap());
    // A tampered copy of bob's package.
    let tampered = root.join("tampered.json");
    let mut v: serde_json::Value = serde_json::from_str(&pkg).unwrap();
    let content = v["content"].as_str().unwrap().to_owned();
    let flipped = if content.ends_with('A') { "B" } else { "A" };
    v["content"] = format!("{}{flipped}", &content[..content.len() - 1]).into();
    std::fs::write(&tampered, v.to_string()).unwrap();
    let nsec = root.join("group.nsec");
    for (file, code, needles) in [
        (
            &carol_to_bob,
            3,
            &["carol", "handed to bob, not to this home"][..],
        ),
        (&tampered, 3, &["tampered.json", "forged or tampered"][..]),
    ] {
        let mut cmd = passport(&a.home);
        cmd.args([
            "recover-nsec",
            "--i-understand-this-ends-threshold-custody",
            "--group",
            &group,
            "-o",
        ])
        .arg(&nsec)
        .arg("--share")
        .arg(file);
        expect_error_line(&mut cmd, code, needles);
        assert!(!nsec.exists());
    }

    // Alice on a terminal types the phrase; the key comes from her share and bob's.
    let cmd = format!(
        "env -u PASSPORT_HOME -u PASSPORT_PASSPHRASE -u PASSPORT_AGE_IDENTITY {} --home {} \
         recover-nsec --group {group} -o {} --share {}; echo \"exit status $?\"; read x",
        sh_quote(&bin),
        sh_quote(&a.home),
        sh_quote(&nsec),
        sh_quote(&out),
    );
    let t = Tmux::start("recover", &cmd);
    let screen = t.wait_for(
        "Type \"end threshold custody\"",
        "alice's typed confirmation",
    );
    assert!(
        screen.contains("alice (this home)") && screen.contains("bob (handed over in"),
        "{screen}"
    );
    t.send("end threshold custody");
    t.send("Enter");
    t.wait_for("exit status 0", "the reconstruction");
    drop(t);
    let key = SecretKey::from_bech32(std::fs::read_to_string(&nsec).unwrap().trim()).unwrap();
    let keys = Keys::new(key);
    assert_eq!(keys.public_key().to_bech32().unwrap(), group);
    let ev = nostr::EventBuilder::text_note("the exit, through hand-overs")
        .sign_with_keys(&keys)
        .unwrap();
    verify_event_independently(&serde_json::to_value(&ev).unwrap());
    let log = std::fs::read_to_string(a.home.join("audit.jsonl")).unwrap();
    assert!(
        log.contains("\"op\":\"recover-nsec\"") && log.contains("bob (handed over"),
        "{log}"
    );
    // The handed share was used, not kept: alice's home still holds only her seat.
    let mut cmd = passport(&a.home);
    cmd.args(["group", "list"]);
    let v = json_ok(cmd);
    assert_eq!(v["groups"][0]["seats"], serde_json::json!(["alice"]));
}

/// After the exit, `group retire` destroys the home's shares and nonces (typed
/// confirmation or the explicit flag): the group stays listed as retired, and signing
/// with it is refused.
#[test]
fn group_retire_destroys_the_shares_after_the_exit() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let (ci, group, _) = split_into_one_home(root);
    for seat in ["ci", "ci-b"] {
        let mut c = passport(&ci.home);
        c.args([
            "sign", "commit", "--group", &group, "--member", seat, "--count", "3", "--out",
        ])
        .arg(root.join("c"));
        json_ok(c);
    }
    let before = snapshot(&ci.home);
    let mut c = passport(&ci.home);
    c.args(["group", "retire", &group]);
    expect_error_line(&mut c, 5, &["--i-understand-this-destroys-my-shares"]);
    assert_eq!(snapshot(&ci.home), before, "refused: nothing destroyed");

    let mut c = passport(&ci.home);
    c.args([
        "group",
        "retire",
        &group,
        "--i-understand-this-destroys-my-shares",
    ]);
    let v = json_ok(c);
    assert_eq!(v["destroyed"], serde_json::json!(["ci", "ci-b"]));
    assert_eq!(v["nonces_burned"], 6, "3 per seat: {v}");
    let left: Vec<_> = std::fs::read_dir(ci.home.join("keystore/shares"))
        .map(|d| d.flatten().collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "no share left: {left:?}");
    let mut c = passport(&ci.home);
    c.args(["group", "list"]);
    let v = json_ok(c);
    assert_eq!(v["groups"][0]["status"], "retired");
    let mut c = passport(&ci.home);
    c.args([
        "sign", "commit", "--group", &group, "--member", "ci", "--out",
    ])
    .arg(root.join("c2"));
    expect_error_line(&mut c, 5, &["retired"]);
    let log = std::fs::read_to_string(ci.home.join("audit.jsonl")).unwrap();
    assert!(log.contains("\"op\":\"group-retire\""), "{log}");
    let mut c = passport(&ci.home);
    c.args([
        "group",
        "retire",
        &group,
        "--i-understand-this-destroys-my-shares",
    ]);
    expect_error_line(&mut c, 5, &["already retired"]);
}
