//! `passport recover-nsec`: the guarded exit from threshold custody.

mod util;

use std::path::Path;

use nostr::nips::nip49::EncryptedSecretKey;
use nostr::{FromBech32, Keys, SecretKey, ToBech32};
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
    expect_error_line(&mut c, 2, &["needs 2"]);
    assert!(!root.join("no.nsec").exists());
}
