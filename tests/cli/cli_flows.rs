//! End-to-end ceremonies through the `passport` binary, one home per member, packages
//! exchanged as files. Every signature is checked by libsecp256k1 independently.

use crate::util;

use std::path::Path;

use serde_json::Value;
use util::*;

fn commit(m: &Member, group: &str, dir: &Path) {
    let mut c = passport(&m.home);
    c.args(["sign", "commit", "--group", group, "--out"])
        .arg(dir);
    json_ok(c);
}

fn share(m: &Member, request: &str, dir: &Path) {
    let mut c = passport(&m.home);
    c.args(["sign", "share", "--yes", "--request", request, "--out"])
        .arg(dir);
    json_ok(c);
}

fn template(dir: &Path, content: &str) -> std::path::PathBuf {
    let p = dir.join("template.json");
    std::fs::write(
        &p,
        format!(r#"{{"kind":1,"content":"{content}","tags":[["t","test"]]}}"#),
    )
    .unwrap();
    p
}

/// Signs `content` with the given signers via commit/request/share/aggregate.
fn sign_rounds(
    coordinator: &Member,
    signers: &[&Member],
    group: &str,
    dir: &Path,
    content: &str,
) -> Value {
    std::fs::create_dir_all(dir).unwrap();
    for m in signers {
        commit(m, group, dir);
    }
    let names: Vec<&str> = signers.iter().map(|m| m.name.as_str()).collect();
    let mut c = passport(&coordinator.home);
    c.args([
        "sign",
        "request",
        "--group",
        group,
        "--signers",
        &names.join(","),
        "--event",
    ])
    .arg(template(dir, content))
    .arg("--in")
    .arg(dir)
    .arg("--out")
    .arg(dir);
    let req = json_ok(c);
    let req_path = req["package"].as_str().unwrap().to_owned();
    for m in signers {
        share(m, &req_path, dir);
    }
    let mut c = passport(&coordinator.home);
    c.args(["sign", "aggregate", "--request", &req_path, "--in"])
        .arg(dir);
    let out = c.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let event: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(event["content"], content);
    event
}

#[test]
fn dealer_2_of_3_split_and_sign() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let dealer = make_member(root, "dealer");
    let ms: Vec<Member> = ["alice", "bob", "carol"]
        .iter()
        .map(|n| make_member(root, n))
        .collect();
    let refs: Vec<&Member> = ms.iter().collect();
    let roster = write_roster(root, "roster.json", 2, &refs, Some(&dealer.npub));

    // Split an existing nsec: the npub must not change.
    let keys = nostr::Keys::generate();
    let nsec_file = root.join("nsec.txt");
    std::fs::write(
        &nsec_file,
        nostr::ToBech32::to_bech32(keys.secret_key()).unwrap(),
    )
    .unwrap();
    let out_dir = root.join("dealt");
    let mut c = passport(&dealer.home);
    c.args(["keygen", "deal", "--roster"])
        .arg(&roster)
        .arg("--split")
        .arg(&nsec_file)
        .arg("--out")
        .arg(&out_dir);
    let dealt = json_ok(c);
    let group = dealt["group"].as_str().unwrap().to_owned();
    assert_eq!(
        group,
        nostr::ToBech32::to_bech32(&keys.public_key()).unwrap()
    );
    assert_eq!(dealt["split_existing_key"], true);

    for m in &ms {
        let mut c = passport(&m.home);
        c.args(["keygen", "import", "--roster"])
            .arg(&roster)
            .arg(util::pkg(&out_dir, &format!("dealer-share-{}", m.name)));
        let v = json_ok(c);
        assert_eq!(v["member"], m.name.as_str());
        assert_eq!(v["group"], group.as_str());
    }

    // The dealer (not a share holder) coordinates; alice and carol sign.
    let event = sign_rounds(
        &dealer,
        &[&ms[0], &ms[2]],
        &group,
        &root.join("s1"),
        "dealt and split",
    );
    assert_eq!(event["pubkey"], keys.public_key().to_hex());
    verify_event_independently(&event);

    // The same request again: alice's commitment is spent. The message names her, the
    // commitment and the group, not the keystore's internal path.
    let request = std::fs::read_dir(root.join("s1"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("sign-request-")
        })
        .unwrap();
    let mut c = passport(&ms[0].home);
    c.args(["sign", "share", "--yes", "--request"])
        .arg(&request)
        .arg("--out")
        .arg(root.join("again"));
    let line = util::expect_error_line(
        &mut c,
        5,
        &[
            "alice's commitment",
            &group,
            "was already used",
            "sign commit",
        ],
    );
    assert!(!line.contains("nonces/"), "{line}");

    // A second signing with another pair uses fresh nonces and also verifies.
    let event = sign_rounds(
        &ms[1],
        &[&ms[0], &ms[1]],
        &group,
        &root.join("s2"),
        "second signature",
    );
    verify_event_independently(&event);

    // passport verify agrees, and --expect pins the signer.
    let ev_file = root.join("event.json");
    std::fs::write(&ev_file, event.to_string()).unwrap();
    let mut c = bare();
    c.arg("verify").arg(&ev_file).args(["--expect", &group]);
    assert_eq!(json_ok(c)["valid"], true);
}

#[test]
fn dkg_3_of_5_files_and_sign() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let names = ["ann", "ben", "cat", "dan", "eve"];
    let ms: Vec<Member> = names.iter().map(|n| make_member(root, n)).collect();
    let refs: Vec<&Member> = ms.iter().collect();
    let roster = write_roster(root, "roster.json", 3, &refs, None);
    let x = root.join("exchange");

    // Rounds run in an arbitrary member order: any order of arrival works.
    let order = [3usize, 0, 4, 2, 1];
    for step in ["round1", "round2", "finish"] {
        for &i in &order {
            let mut c = passport(&ms[i].home);
            c.args(["dkg", step, "--roster"])
                .arg(&roster)
                .arg("--out")
                .arg(&x);
            if step != "round1" {
                c.arg("--in").arg(&x);
            }
            json_ok(c);
        }
    }
    // Before all agreements are in, signing is refused (group pending).
    let mut group = String::new();
    for &i in &order {
        let mut c = passport(&ms[i].home);
        c.args(["dkg", "confirm", "--roster"])
            .arg(&roster)
            .arg("--in")
            .arg(&x);
        let v = json_ok(c);
        assert_eq!(v["status"], "active");
        let g = v["group"].as_str().unwrap().to_owned();
        if !group.is_empty() {
            assert_eq!(g, group, "every member derived the same group key");
        }
        group = g;
    }
    // 5 round-1, 20 round-2, 5 agreement packages.
    let count = |prefix: &str| {
        std::fs::read_dir(&x)
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with(prefix))
            .count()
    };
    assert_eq!(
        (count("dkg-1-"), count("dkg-2-"), count("dkg-agree-")),
        (5, 20, 5)
    );

    let event = sign_rounds(
        &ms[4],
        &[&ms[1], &ms[3], &ms[4]],
        &group,
        &root.join("sig"),
        "3-of-5 via DKG",
    );
    assert_eq!(event["pubkey"], npub_hex(&group));
    verify_event_independently(&event);
}

#[test]
fn one_home_with_threshold_shares_signs_alone() {
    // The CI case: one home holds two seats of a 2-of-3 dealer group.
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let CiGroup { ci, group, .. } = ci_group(root, None);
    let t = template(root, "signed in CI");
    let mut c = passport(&ci.home);
    c.args(["sign", "event", "--yes", "--group", &group, "--event"])
        .arg(&t);
    let out = c.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let event: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(event["pubkey"], npub_hex(&group));
    verify_event_independently(&event);

    // A raw 32-byte message, verified as a plain BIP-340 signature.
    let msg = [7u8; 32];
    let mut c = passport(&ci.home);
    c.args([
        "sign",
        "event",
        "--yes",
        "--group",
        &group,
        "--message",
        &hex::encode(msg),
    ]);
    let v = json_ok(c);
    verify_raw_independently(
        &npub_hex(&group),
        &msg,
        v["raw"]["signature"].as_str().unwrap(),
    );

    // Without --yes and without a terminal, nothing is signed.
    let mut c = passport(&ci.home);
    c.args(["sign", "event", "--group", &group, "--event"])
        .arg(&t);
    c.assert()
        .code(5)
        .stderr(predicates::str::contains("--yes"));
}

#[test]
fn demo_json_last_line_has_verified_event() {
    let out = bare().args(["demo", "--json"]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let v: Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
    let event = &v["event"];
    assert_eq!(event["pubkey"], npub_hex(v["group"].as_str().unwrap()));
    verify_event_independently(event);
}

/// `demo --hsm`: every member's secrets in its own SoftHSM2 token (format v2), the event
/// verified, and each token's attestation verified.
#[test]
fn demo_hsm_signs_and_attests_with_three_tokens() {
    let out = bare()
        .args(["demo", "--hsm", "--json"])
        .env_remove("SOFTHSM2_CONF")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let v: Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
    verify_event_independently(&v["event"]);
    let att = v["attestations"].as_array().unwrap();
    assert_eq!(att.len(), 3, "{v}");
    for a in att {
        assert_eq!(a["valid"], true, "{a}");
        assert_eq!(a["shares"], 1, "{a}");
    }
}

#[test]
fn inspect_describes_without_secrets() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let a = make_member(root, "alice");
    let b = make_member(root, "bob");
    let roster = write_roster(root, "roster.json", 2, &[&a, &b], None);
    let mut c = bare();
    c.arg("inspect").arg(&roster);
    let v = json_ok(c);
    assert_eq!(v["kind"], "roster");
    assert_eq!(v["details"]["threshold"], 2);
    let x = root.join("x");
    let mut c = passport(&a.home);
    c.args(["dkg", "round1", "--roster"])
        .arg(&roster)
        .arg("--out")
        .arg(&x);
    json_ok(c);
    let mut c = bare();
    c.arg("inspect").arg(util::pkg(&x, "dkg-1-alice"));
    let v = json_ok(c);
    assert_eq!(v["details"]["round"], "dkg-1");
    // A sealed secret is described, never opened.
    let sealed = std::fs::read_dir(a.home.join("keystore"))
        .unwrap()
        .flatten()
        .find(|e| e.path().extension().is_some_and(|x| x == "sealed"))
        .unwrap()
        .path();
    let mut c = bare();
    c.arg("inspect").arg(&sealed);
    let out = c.arg("--json").output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("sealed secret"), "{text}");
    assert!(!text.contains("AGE-SECRET-KEY") && !text.contains("nsec1"));
}

/// A ceremony cannot fork silently: a roster is dealt once; a split of a key this home
/// already holds under another roster is refused before any share is written; two
/// ceremonies' packages share a directory without clobbering; a package file that holds
/// something else is kept unless `--force`, and then nothing at all is written.
#[test]
fn dealing_is_all_or_nothing_and_once_per_roster() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let dealer = make_member(root, "dealer");
    let ms: Vec<Member> = ["alice", "bob"]
        .iter()
        .map(|n| make_member(root, n))
        .collect();
    let refs: Vec<&Member> = ms.iter().collect();
    let roster_a = write_roster(root, "a.json", 2, &refs, Some(&dealer.npub));
    let roster_b = write_roster(root, "b.json", 2, &refs, Some(&dealer.npub));
    let keys = nostr::Keys::generate();
    let nsec = root.join("nsec.txt");
    std::fs::write(
        &nsec,
        nostr::ToBech32::to_bech32(keys.secret_key()).unwrap(),
    )
    .unwrap();
    let out = root.join("dealt");
    let deal = |roster: &Path, split: bool, extra: &[&str]| {
        let mut c = passport(&dealer.home);
        c.args(["keygen", "deal", "--roster"])
            .arg(roster)
            .arg("--out")
            .arg(&out)
            .args(extra);
        if split {
            c.arg("--split").arg(&nsec);
        }
        c
    };
    let first = json_ok(deal(&roster_a, true, &[]));
    let a_files = snapshot(&out);
    assert_eq!(
        a_files.len(),
        3,
        "two shares and the group file: {:?}",
        a_files.keys()
    );

    // The same roster again: refused, nothing changes.
    let before = (snapshot(&out), snapshot(&dealer.home));
    let mut c = deal(&roster_a, false, &[]);
    util::expect_error_line(
        &mut c,
        5,
        &["this home already dealt roster", "write a new roster"],
    );
    assert_eq!(before, (snapshot(&out), snapshot(&dealer.home)));

    // The same key split under another roster: refused before any share is written.
    let mut c = deal(&roster_b, true, &[]);
    util::expect_error_line(
        &mut c,
        5,
        &[
            "already holds a different group file",
            first["group"].as_str().unwrap(),
            "nothing was written",
        ],
    );
    assert_eq!(before, (snapshot(&out), snapshot(&dealer.home)));

    // A new key under roster b lands beside roster a's packages, each name carrying its
    // ceremony; but a file in the way stops the whole deal unless --force.
    let cid_b = &serde_json::from_slice::<Value>(&std::fs::read(&roster_b).unwrap()).unwrap()
        ["ceremony_id"]
        .as_str()
        .unwrap()[..8]
        .to_owned();
    let in_the_way = out.join(format!("dealer-share-bob-{cid_b}.json"));
    std::fs::write(&in_the_way, b"someone else's file\n").unwrap();
    let before = (snapshot(&out), snapshot(&dealer.home));
    let mut c = deal(&roster_b, false, &[]);
    util::expect_error_line(
        &mut c,
        5,
        &[
            &in_the_way.display().to_string(),
            "already exists with other content",
            "--force",
        ],
    );
    assert_eq!(
        before,
        (snapshot(&out), snapshot(&dealer.home)),
        "nothing written"
    );
    let second = json_ok(deal(&roster_b, false, &["--force"]));
    assert_ne!(second["group"], first["group"]);
    let after = snapshot(&out);
    assert_eq!(after.len(), 6, "{:?}", after.keys());
    for (k, v) in &a_files {
        assert_eq!(after.get(k), Some(v), "roster a's {} kept", k.display());
    }
    for m in &ms {
        assert_eq!(
            util::pkgs(&out, &format!("dealer-share-{}", m.name)).len(),
            2
        );
    }
    // No staging file is left behind.
    assert!(after
        .keys()
        .all(|k| !k.to_string_lossy().contains("staged")));
}

/// Argument errors follow `--json` like every other error (one JSON object on stdout,
/// exit 2), and `sign commit --count` is bounded.
#[test]
fn argument_errors_are_json_with_json_and_count_is_bounded() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let a = make_member(root, "alice");
    for (args, needle) in [
        (
            &["--json", "sign", "commit"][..],
            "the following required arguments were not provided: --group <GROUP>",
        ),
        (
            &[
                "sign", "commit", "--json", "--group", "npub1x", "--count", "0",
            ][..],
            "must be 1 to 1000",
        ),
        (
            &[
                "--json", "sign", "commit", "--group", "npub1x", "--count", "10000",
            ][..],
            "must be 1 to 1000",
        ),
        (
            &["--json", "no-such-command"][..],
            "unrecognized subcommand",
        ),
    ] {
        let before = snapshot(&a.home);
        let out = passport(&a.home).args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let v: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "{args:?}: not JSON ({e}): {}",
                String::from_utf8_lossy(&out.stdout)
            )
        });
        assert_eq!(v["error"]["exit_code"], 2);
        assert_eq!(v["error"]["kind"], "usage");
        let msg = v["error"]["message"].as_str().unwrap();
        assert!(msg.contains(needle), "{args:?}: {msg}");
        assert!(
            out.stderr.is_empty(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(before, snapshot(&a.home));
    }
    // Without --json: clap's own text on stderr, same exit code.
    let out = passport(&a.home).args(["sign", "commit"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--group <GROUP>"));
}

/// Every row of the README's exit-code table, through the binary, with `--json`: the
/// code, and the error kind that names it.
#[test]
fn exit_codes_match_the_documented_table() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let a = make_member(root, "alice");
    let b = make_member(root, "bob");
    let roster = write_roster(root, "roster.json", 2, &[&a, &b], None);
    let not_a_member = nostr::ToBech32::to_bech32(&nostr::Keys::generate().public_key()).unwrap();
    let broken = root.join("broken.json");
    std::fs::write(&broken, b"{\"version\":1,").unwrap();
    let pass_home = root.join("pass");
    let mut c = bare();
    c.arg("--home")
        .arg(&pass_home)
        .env("PASSPORT_PASSPHRASE", "right passphrase")
        .arg("init");
    let pass = Member {
        name: "pass".into(),
        home: pass_home.clone(),
        npub: json_ok(c)["npub"].as_str().unwrap().to_owned(),
    };
    let pass_roster = write_roster(root, "pass-roster.json", 2, &[&pass, &b], None);
    let run = |c: &mut assert_cmd::Command| {
        let out = c.arg("--json").output().unwrap();
        let v: Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
        (out.status.code().unwrap_or(-1), v)
    };
    let cases: Vec<(i32, &str, assert_cmd::Command)> = vec![
        (0, "", {
            let mut c = passport(&a.home);
            c.arg("id");
            c
        }),
        (1, "failure", {
            let mut c = passport(&root.join("nowhere"));
            c.arg("id");
            c
        }),
        (1, "failure", {
            let mut c = passport(&a.home);
            c.args(["sign", "commit", "--group", &not_a_member]);
            c
        }),
        (2, "usage", {
            let mut c = passport(&a.home);
            c.args(["sign", "commit", "--group", &not_a_member, "--count", "0"]);
            c
        }),
        (3, "rejected", {
            let mut c = passport(&a.home);
            c.args(["dkg", "round1", "--roster"])
                .arg(&broken)
                .arg("--out")
                .arg(root.join("x"));
            c
        }),
        (4, "incomplete", {
            let mut c = passport(&a.home);
            c.args(["dkg", "round2", "--roster"])
                .arg(&roster)
                .arg("--in")
                .arg(root.join("empty"))
                .arg("--out")
                .arg(root.join("x"));
            c
        }),
        (5, "refused", {
            let mut c = bare();
            c.args(["roster", "new", "-t", "2", "-m"])
                .arg(format!("a={}", a.npub))
                .arg("-m")
                .arg(format!("b={}", b.npub))
                .arg("-o")
                .arg(&roster);
            c
        }),
        (6, "locked", {
            let mut c = bare();
            c.arg("--home")
                .arg(&pass_home)
                .env("PASSPORT_PASSPHRASE", "wrong passphrase")
                .args(["dkg", "round1", "--roster"])
                .arg(&pass_roster)
                .arg("--out")
                .arg(root.join("y"));
            c
        }),
    ];
    std::fs::create_dir_all(root.join("empty")).unwrap();
    let mut dkg_first = passport(&a.home);
    dkg_first
        .args(["dkg", "round1", "--roster"])
        .arg(&roster)
        .arg("--out")
        .arg(root.join("x"));
    json_ok(dkg_first);
    for (code, kind, mut c) in cases {
        let (got, v) = run(&mut c);
        assert_eq!(got, code, "{c:?}: {v}");
        if code != 0 {
            assert_eq!(v["error"]["kind"], kind, "{c:?}: {v}");
            assert_eq!(v["error"]["exit_code"], code, "{v}");
        }
    }
    // A missing age identity file is locked too, and names the file init recorded.
    let key = root.join("alice.agekey");
    std::fs::rename(&key, root.join("moved.agekey")).unwrap();
    let fresh = write_roster(root, "fresh.json", 2, &[&a, &b], None);
    let mut c = passport(&a.home);
    c.args(["dkg", "round1", "--roster"])
        .arg(&fresh)
        .arg("--out")
        .arg(root.join("z"));
    let (got, v) = run(&mut c);
    assert_eq!(got, 6, "{v}");
    let msg = v["error"]["message"].as_str().unwrap();
    assert!(
        msg.contains("alice.agekey") && msg.contains("recorded at `passport init`"),
        "{msg}"
    );
}

/// `passport passwd`: the old passphrase opens the keystore, the new one replaces it,
/// the old no longer works, every secret is kept; a wrong old passphrase changes
/// nothing; a home without a passphrase says there is nothing to change.
#[test]
fn passwd_changes_the_keystore_passphrase_and_keeps_every_secret() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let home = root.join("h");
    let with = |pass: &str| {
        let mut c = bare();
        c.arg("--home").arg(&home).env("PASSPORT_PASSPHRASE", pass);
        c
    };
    let mut c = with("old passphrase");
    c.arg("init");
    let npub = json_ok(c)["npub"].as_str().unwrap().to_owned();
    let other = make_member(root, "other");
    let me = Member {
        name: "me".into(),
        home: home.clone(),
        npub: npub.clone(),
    };
    let roster = write_roster(root, "roster.json", 2, &[&me, &other], None);
    let mut c = with("old passphrase");
    c.args(["dkg", "round1", "--roster"])
        .arg(&roster)
        .arg("--out")
        .arg(root.join("x"));
    json_ok(c);
    let keystore_before: Vec<_> = snapshot(&home.join("keystore"))
        .into_iter()
        .filter(|(p, _)| !p.ends_with("master.age"))
        .collect();

    // A wrong current passphrase: locked, nothing changes.
    let before = snapshot(&home);
    let mut c = with("wrong");
    c.env("PASSPORT_NEW_PASSPHRASE", "new passphrase")
        .arg("passwd");
    util::expect_error_line(&mut c, 6, &["wrong passphrase"]);
    assert_eq!(before, snapshot(&home));

    let mut c = with("old passphrase");
    c.env("PASSPORT_NEW_PASSPHRASE", "new passphrase")
        .arg("passwd");
    assert_eq!(json_ok(c)["npub"], npub.as_str());
    let keystore_after: Vec<_> = snapshot(&home.join("keystore"))
        .into_iter()
        .filter(|(p, _)| !p.ends_with("master.age"))
        .collect();
    assert_eq!(
        keystore_before, keystore_after,
        "only master.age is rewritten"
    );
    // The old passphrase no longer opens it; the new one does (round 1 resumes).
    let mut c = with("old passphrase");
    c.args(["dkg", "round2", "--roster"])
        .arg(&roster)
        .arg("--in")
        .arg(root.join("x"))
        .arg("--out")
        .arg(root.join("x"));
    util::expect_error_line(&mut c, 6, &["wrong passphrase"]);
    let mut c = with("new passphrase");
    c.args(["dkg", "round1", "--roster"])
        .arg(&roster)
        .arg("--out")
        .arg(root.join("x"));
    json_ok(c);
    let log = std::fs::read_to_string(home.join("audit.jsonl")).unwrap();
    assert!(log.contains("\"op\":\"passwd\""), "{log}");

    // An age-identity home has no passphrase to change.
    let mut c = passport(&other.home);
    c.env("PASSPORT_NEW_PASSPHRASE", "x").arg("passwd");
    util::expect_error_line(&mut c, 2, &["not protected by a passphrase"]);
}

// --- passport doctor ---------------------------------------------------------------------

/// `doctor` on a home: (exit code, the JSON checks, the human lines).
fn doctor(m: &Member, extra: &[&str]) -> (i32, Vec<Value>, String) {
    let out = passport(&m.home)
        .arg("doctor")
        .args(extra)
        .output()
        .unwrap();
    let human = String::from_utf8(out.stderr).unwrap();
    let json = passport(&m.home)
        .args(["--json", "doctor"])
        .args(extra)
        .output()
        .unwrap();
    assert_eq!(
        json.status.code(),
        out.status.code(),
        "human and --json agree on the exit status"
    );
    let v: Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(v["healthy"], out.status.code() == Some(0), "{v}");
    (
        out.status.code().unwrap(),
        v["checks"].as_array().unwrap().clone(),
        human,
    )
}

fn with_status<'a>(checks: &'a [Value], status: &str) -> Vec<&'a Value> {
    checks.iter().filter(|c| c["status"] == status).collect()
}

fn dkg_of_three(root: &Path) -> (Vec<Member>, String) {
    let ms: Vec<Member> = ["alice", "bob", "carol"]
        .iter()
        .map(|n| make_member(root, n))
        .collect();
    let refs: Vec<&Member> = ms.iter().collect();
    let roster = write_roster(root, "roster.json", 2, &refs, None);
    let group = dkg_files(&refs, &roster, &root.join("x"));
    (ms, group)
}

fn backup(m: &Member, group: &str, file: &Path) {
    let mut c = passport(&m.home);
    c.env("PASSPORT_BACKUP_PASSPHRASE", "backup pass")
        .args(["backup", "create", "--group", group, "--passphrase", "-o"])
        .arg(file);
    json_ok(c);
}

#[test]
fn doctor_passes_a_healthy_home_and_asks_for_a_backup() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let (ms, group) = dkg_of_three(root);
    let a = &ms[0];

    // Right after the DKG: nothing fails; the one warning asks for a backup of the share.
    let (code, checks, human) = doctor(a, &[]);
    assert_eq!(code, 0, "{human}");
    assert!(with_status(&checks, "fail").is_empty(), "{checks:?}");
    let warns = with_status(&checks, "warn");
    assert_eq!(warns.len(), 1, "{checks:?}");
    assert!(
        warns[0]["detail"]
            .as_str()
            .unwrap()
            .contains("no backup of alice's share"),
        "{checks:?}"
    );
    for (check, needle) in [
        ("keystore", "unlocked"),
        ("identity", a.npub.as_str()),
        ("share alice (seat 1)", "opens and matches"),
        ("nonces alice (seat 1)", "0 unused, 0 spent"),
        ("rounds", "no unfinished"),
    ] {
        let c = checks
            .iter()
            .find(|c| c["check"] == check)
            .unwrap_or_else(|| panic!("no {check} check in {checks:?}"));
        assert_eq!(c["status"], "ok", "{c}");
        assert!(c["detail"].as_str().unwrap().contains(needle), "{c}");
    }
    assert!(
        human.contains(&format!(
            "  ok    group {group}: 2-of-3, active; seats here: alice (seat 1)"
        )),
        "{human}"
    );

    // With a backup, every check is ok.
    let file = root.join("alice.age");
    backup(a, &group, &file);
    let (code, checks, human) = doctor(a, &[]);
    assert_eq!(code, 0, "{human}");
    assert!(checks.iter().all(|c| c["status"] == "ok"), "{checks:?}");
    assert!(
        human.contains("backup ") && human.contains("alice.age: alice's current share"),
        "{human}"
    );
    assert!(human.contains("checks: 0 failed, 0 warnings"), "{human}");

    // --no-unlock checks presence only, and says so.
    let (code, checks, _) = doctor(a, &["--no-unlock"]);
    assert_eq!(code, 0);
    let ks = checks.iter().find(|c| c["check"] == "keystore").unwrap();
    assert_eq!(ks["status"], "skip", "{ks}");
    let share = checks
        .iter()
        .find(|c| c["check"] == "share alice (seat 1)")
        .unwrap();
    assert!(
        share["detail"].as_str().unwrap().contains("not opened"),
        "{share}"
    );

    // A passphrase home without a passphrase in reach is not unlocked (no prompt hangs).
    let p = root.join("p");
    let mut c = bare();
    c.arg("--home")
        .arg(&p)
        .env("PASSPORT_PASSPHRASE", "pp")
        .arg("init");
    json_ok(c);
    let pm = Member {
        name: "p".into(),
        home: p,
        npub: String::new(),
    };
    let (code, checks, _) = doctor(&pm, &[]);
    assert_eq!(code, 0, "{checks:?}");
    let ks = checks.iter().find(|c| c["check"] == "keystore").unwrap();
    assert_eq!(ks["status"], "skip", "{ks}");
    assert!(
        ks["detail"]
            .as_str()
            .unwrap()
            .contains("PASSPORT_PASSPHRASE"),
        "{ks}"
    );

    // No home at all: one failing check, exit 1.
    let none = Member {
        name: "none".into(),
        home: root.join("nowhere"),
        npub: String::new(),
    };
    let (code, checks, human) = doctor(&none, &[]);
    assert_eq!(code, 1, "{human}");
    assert_eq!(checks.len(), 1);
    assert!(human.contains("passport init"), "{human}");
}

#[test]
fn doctor_fails_on_a_deleted_share_naming_group_and_seat() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let (ms, group) = dkg_of_three(root);
    let b = &ms[1];
    let share = b
        .home
        .join("keystore/shares")
        .join(format!("{}.2.sealed", npub_hex(&group)));
    assert!(share.exists());
    std::fs::remove_file(&share).unwrap();

    let (code, checks, human) = doctor(b, &[]);
    assert_eq!(code, 1, "{human}");
    let fails = with_status(&checks, "fail");
    assert_eq!(fails.len(), 1, "{checks:?}");
    assert_eq!(fails[0]["check"], "share bob (seat 2)");
    let detail = fails[0]["detail"].as_str().unwrap();
    assert!(
        detail.contains("MISSING") && detail.contains(&group) && detail.contains("backup restore"),
        "{detail}"
    );
    assert!(
        human.contains("  FAIL  share bob (seat 2): MISSING") && human.contains("1 failed"),
        "{human}"
    );
    // group list agrees: the seat is missing, not held.
    let mut c = passport(&b.home);
    c.args(["group", "list"]);
    let v = json_ok(c);
    assert_eq!(v["groups"][0]["seats"], serde_json::json!([]), "{v}");
    assert_eq!(v["groups"][0]["missing"], serde_json::json!(["bob"]), "{v}");
    let out = passport(&b.home).args(["group", "list"]).output().unwrap();
    let text = String::from_utf8(out.stderr).unwrap();
    assert!(text.starts_with("group "), "{text}");
    assert!(text.contains("seat 2 (bob) SHARE MISSING"), "{text}");
}

#[test]
fn doctor_warns_about_a_backup_made_stale_by_a_refresh() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let (ms, group) = dkg_of_three(root);
    let a = &ms[0];
    let old = root.join("alice-before.age");
    backup(a, &group, &old);
    let x = root.join("refresh");
    for step in ["round1", "round2", "finish"] {
        for m in &ms {
            let mut c = passport(&m.home);
            c.args(["refresh", step, "--group", &group])
                .args(["--refresh-id", "0123456789abcdef0123456789abcdef"]);
            if step != "round1" {
                c.arg("--in").arg(&x);
            }
            if step != "finish" {
                c.arg("--out").arg(&x);
            }
            json_ok(c);
        }
    }
    let (code, checks, human) = doctor(a, &[]);
    assert_eq!(code, 0, "a stale backup is a warning: {human}");
    let stale = checks
        .iter()
        .find(|c| c["check"] == format!("backup {}", old.display()))
        .unwrap_or_else(|| panic!("{checks:?}"));
    assert_eq!(stale["status"], "warn");
    assert!(
        stale["detail"].as_str().unwrap().contains("STALE"),
        "{stale}"
    );
    assert!(
        human.contains(&format!("  warn  backup {}: STALE", old.display())),
        "{human}"
    );
    // A new backup is current; the old one stays named as stale.
    let new = root.join("alice-after.age");
    backup(a, &group, &new);
    let (_, checks, _) = doctor(a, &[]);
    let fresh = checks
        .iter()
        .find(|c| c["check"] == format!("backup {}", new.display()))
        .unwrap();
    assert_eq!(fresh["status"], "ok", "{fresh}");
    assert_eq!(with_status(&checks, "warn").len(), 1, "{checks:?}");
    // A backup moved away is named too.
    std::fs::remove_file(&new).unwrap();
    let (_, checks, _) = doctor(a, &[]);
    let gone = checks
        .iter()
        .find(|c| c["check"] == format!("backup {}", new.display()))
        .unwrap();
    assert_eq!(gone["status"], "warn", "{gone}");
    assert!(
        gone["detail"].as_str().unwrap().contains("not there"),
        "{gone}"
    );
    // A refresh this home started and did not finish is named.
    let mut c = passport(&a.home);
    c.args(["refresh", "round1", "--group", &group])
        .args(["--refresh-id", "fedcba9876543210fedcba9876543210", "--out"])
        .arg(root.join("r2"));
    json_ok(c);
    let (code, checks, _) = doctor(a, &[]);
    assert_eq!(code, 0);
    let round = checks
        .iter()
        .find(|c| c["check"] == "refresh round")
        .unwrap_or_else(|| panic!("{checks:?}"));
    assert_eq!(round["status"], "warn");
    assert!(
        round["detail"]
            .as_str()
            .unwrap()
            .contains("alice's refresh is unfinished (at round1"),
        "{round}"
    );
}

/// `roster show` and `group list` in labelled columns, naming this home's seats.
#[test]
fn roster_show_and_group_list_say_which_seats_are_yours() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let ci = ci_group(root, None);
    let dealer = root.join("dealer");
    let dealer_npub = {
        let mut c = passport(&dealer);
        c.arg("id");
        json_ok(c)["npub"].as_str().unwrap().to_owned()
    };
    let out = passport(&dealer)
        .args(["roster", "show"])
        .arg(root.join("roster.json"))
        .output()
        .unwrap();
    let text = String::from_utf8(out.stderr).unwrap();
    let rows: Vec<&str> = text.lines().collect();
    let at = |needle: &str| {
        rows.iter()
            .position(|l| l.starts_with(needle))
            .unwrap_or_else(|| panic!("no row {needle:?} in:\n{text}"))
    };
    assert!(at("  ceremony:") < at("  purpose:     test"));
    assert!(at("  purpose:") < at("  threshold:   2 of 3 signatures (trusted dealer)"));
    assert!(at("  threshold:") < at(&format!("  dealer:      {dealer_npub}  <- you")));
    assert!(at("  dealer:") < at("  seat  name     npub"));
    assert!(at("  seat  name") < at(&format!("  3     offsite  {}", ci.offsite.npub)));
    assert!(text.contains("you hold no seat in this roster"), "{text}");
    assert!(at("  3     offsite") < at("  fingerprint: "));
    let mut c = passport(&dealer);
    c.args(["roster", "show"]).arg(root.join("roster.json"));
    let v = json_ok(c);
    assert_eq!(v["dealer_is_you"], true, "{v}");
    assert_eq!(v["n"], 3, "{v}");
    assert_eq!(v["purpose"], "test", "{v}");

    let out = passport(&ci.ci.home)
        .args(["group", "list"])
        .output()
        .unwrap();
    let text = String::from_utf8(out.stderr).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert!(
        lines[0].starts_with("group ") && lines[0].contains("  t-of-n  origin  status  this home"),
        "{text}"
    );
    assert!(
        lines[1].starts_with(&format!(
            "{}  2-of-3  dealer  active  you are seat 1 (ci), seat 2 (ci-b)",
            ci.group
        )),
        "{text}"
    );
    let mut c = passport(&ci.ci.home);
    c.args(["group", "list"]);
    let v = json_ok(c);
    let g = &v["groups"][0];
    assert_eq!(g["seats"], serde_json::json!(["ci", "ci-b"]), "{v}");
    assert_eq!(g["you"], serde_json::json!([1, 2]), "{v}");
    assert_eq!(g["held"][1]["share"], "present", "{v}");
    assert_eq!(g["origin"], "dealer", "{v}");
    assert_eq!(g["threshold"], 2, "{v}");
    // The dealer holds no share: a coordinator only.
    let out = passport(&dealer).args(["group", "list"]).output().unwrap();
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no seat (coordinator only)"),
        "{out:?}"
    );
}

/// A token home: doctor reaches the token (no login needed) and, with the PIN, unlocks it;
/// a token that is gone fails the token check and skips the unlock.
#[test]
fn doctor_checks_that_the_token_is_reachable() {
    let module = passport::hsm::token::find_softhsm()
        .expect("SoftHSM2 is not installed (Debian package softhsm2; scripts/test.sh installs it)");
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let (_, conf) = util::softhsm_dirs(root);
    let env = |c: &mut assert_cmd::Command, pin: bool| {
        c.env("SOFTHSM2_CONF", &conf)
            .env("PASSPORT_PKCS11_MODULE", &module)
            .env_remove("PASSPORT_PKCS11_PIN");
        if pin {
            c.env("PASSPORT_PKCS11_PIN", "123456");
        }
    };
    let softhsm = |args: &[&str]| {
        let out = std::process::Command::new("softhsm2-util")
            .env("SOFTHSM2_CONF", &conf)
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
    };
    softhsm(&[
        "--init-token",
        "--free",
        "--label",
        "alice",
        "--so-pin",
        "87654321",
        "--pin",
        "123456",
    ]);
    let home = root.join("alice");
    for args in [
        &["hsm", "init", "--token", "pkcs11:token=alice"][..],
        &["init", "--keystore", "pkcs11:token=alice"][..],
    ] {
        let mut c = passport(&home);
        env(&mut c, true);
        c.args(args);
        json_ok(c);
    }
    let run = |pin: bool| {
        let mut c = passport(&home);
        env(&mut c, pin);
        let out = c.args(["--json", "doctor"]).output().unwrap();
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        (
            out.status.code().unwrap(),
            v["checks"].as_array().unwrap().clone(),
        )
    };
    let find = |checks: &[Value], name: &str| {
        checks
            .iter()
            .find(|c| c["check"] == name)
            .unwrap_or_else(|| panic!("no {name} in {checks:?}"))
            .clone()
    };
    let (code, checks) = run(true);
    assert_eq!(code, 0, "{checks:?}");
    let token = find(&checks, "token");
    assert_eq!(token["status"], "ok", "{token}");
    assert!(
        token["detail"].as_str().unwrap().contains("alice (serial"),
        "{token}"
    );
    assert_eq!(find(&checks, "keystore")["status"], "ok");
    // Without a PIN the token is still probed, the unlock skipped.
    let (code, checks) = run(false);
    assert_eq!(code, 0, "{checks:?}");
    assert_eq!(find(&checks, "token")["status"], "ok");
    let ks = find(&checks, "keystore");
    assert_eq!(ks["status"], "skip", "{ks}");
    assert!(
        ks["detail"]
            .as_str()
            .unwrap()
            .contains("PASSPORT_PKCS11_PIN"),
        "{ks}"
    );
    // The token is gone.
    softhsm(&["--delete-token", "--token", "alice"]);
    let (code, checks) = run(true);
    assert_eq!(code, 1, "{checks:?}");
    let token = find(&checks, "token");
    assert_eq!(token["status"], "fail", "{token}");
    assert!(
        token["detail"]
            .as_str()
            .unwrap()
            .contains("plug the token in"),
        "{token}"
    );
    assert_eq!(find(&checks, "keystore")["status"], "skip");
}

/// After recover-nsec and group retire: the group is retired (not a failure) and a share
/// backup still lying around is named for destruction.
#[test]
fn doctor_names_backups_of_a_retired_group() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let ci = ci_group(root, None);
    let m = &ci.ci;
    let file = root.join("ci.age");
    let mut c = passport(&m.home);
    c.env("PASSPORT_BACKUP_PASSPHRASE", "backup pass")
        .args(["backup", "create", "--group", &ci.group, "--member", "ci"])
        .args(["--passphrase", "-o"])
        .arg(&file);
    json_ok(c);
    let mut c = passport(&m.home);
    c.args(["recover-nsec", "--i-understand-this-ends-threshold-custody"])
        .args(["--group", &ci.group, "-o"])
        .arg(root.join("group.nsec"));
    json_ok(c);
    let mut c = passport(&m.home);
    c.args([
        "group",
        "retire",
        &ci.group,
        "--i-understand-this-destroys-my-shares",
    ]);
    json_ok(c);
    let (code, checks, human) = doctor(m, &[]);
    assert_eq!(code, 0, "{human}");
    let g = checks
        .iter()
        .find(|c| c["check"] == format!("group {}", ci.group))
        .unwrap();
    assert!(g["detail"].as_str().unwrap().contains("retired"), "{g}");
    let b = checks
        .iter()
        .find(|c| c["check"] == format!("backup {}", file.display()))
        .unwrap();
    assert_eq!(b["status"], "warn", "{b}");
    assert!(
        b["detail"].as_str().unwrap().contains("destroy the backup"),
        "{b}"
    );
    assert!(!checks
        .iter()
        .any(|c| c["check"].as_str().unwrap().starts_with("share ")));
}
