//! Serialized formats pinned over fixed-seed data in `testdata/`. A change to any of
//! these bytes is a format change: bump the version and regenerate deliberately with
//! `PASSPORT_BLESS=1 cargo test --test cli formats::`.

use std::path::PathBuf;

use nostr::{JsonUtil, Keys, SecretKey, Timestamp};
use passport::ceremony::{dealer, dkg, Member, Roster};
use passport::envelope::{self, Binding, Draft, Round, Sender};
use passport::group::{Group, Origin};
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;

fn testdata(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("testdata")
        .join(rel)
}

fn bless() -> bool {
    std::env::var_os("PASSPORT_BLESS").is_some()
}

fn golden(rel: &str, actual: &str) {
    let path = testdata(rel);
    if bless() {
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|_| panic!("missing {}; run with PASSPORT_BLESS=1 once", path.display()));
    assert_eq!(expected, actual, "{rel} changed: this is a format change");
}

fn members() -> (Vec<Keys>, Vec<Member>) {
    let keys: Vec<Keys> = (1..=3u8)
        .map(|i| Keys::new(SecretKey::from_slice(&[i; 32]).unwrap()))
        .collect();
    let names = ["alice", "bob", "carol"];
    let members = keys
        .iter()
        .zip(names)
        .map(|(k, n)| Member {
            name: n.into(),
            npub: k.public_key(),
        })
        .collect();
    (keys, members)
}

fn fixed_roster(dealer_key: Option<&Keys>) -> Roster {
    let (_, members) = members();
    let mut rng = ChaCha20Rng::seed_from_u64(42);
    Roster::new(
        "golden",
        2,
        members,
        dealer_key.map(|k| k.public_key()),
        &mut rng,
    )
    .unwrap()
}

#[test]
fn roster_format_and_hash_are_pinned() {
    let roster = fixed_roster(None);
    golden("golden/roster.json", &(roster.to_json_pretty() + "\n"));
    golden(
        "golden/roster.hash",
        &format!("{}\n{}\n", roster.hash_hex(), roster.fingerprint()),
    );
    // Parsing the pinned file gives the same roster back.
    let parsed =
        Roster::from_json(&std::fs::read(testdata("golden/roster.json")).unwrap()).unwrap();
    assert_eq!(parsed, roster);
}

#[test]
fn dealer_group_file_is_pinned() {
    let dealer_key = Keys::new(SecretKey::from_slice(&[9; 32]).unwrap());
    let roster = fixed_roster(Some(&dealer_key));
    let mut rng = ChaCha20Rng::seed_from_u64(7);
    let dealt = dealer::deal(&roster, None, &mut rng).unwrap();
    let group = Group::new(roster, dealt.public, Origin::Dealer);
    golden("golden/group-dealer.json", &(group.to_json_pretty() + "\n"));
    let parsed =
        Group::from_json(&std::fs::read(testdata("golden/group-dealer.json")).unwrap()).unwrap();
    assert_eq!(parsed.npub, group.npub);
}

#[test]
fn dkg_round1_payload_is_pinned() {
    let roster = fixed_roster(None);
    let mut rng = ChaCha20Rng::seed_from_u64(11);
    let (_, package) = dkg::part1(&roster, 1, &mut rng).unwrap();
    golden(
        "golden/dkg-1-payload.json",
        &(serde_json::to_string_pretty(&package).unwrap() + "\n"),
    );
}

#[test]
fn event_template_id_is_pinned() {
    let (keys, _) = members();
    let t = br#"{"kind":1,"content":"golden","tags":[["t","passport"]],"created_at":1700000000}"#;
    let ev = passport::events::from_template(t, &keys[0].public_key(), Timestamp::from(1)).unwrap();
    golden("golden/template-event.json", &(ev.as_json() + "\n"));
}

#[test]
fn envelope_tag_layout_is_pinned() {
    let (keys, _) = members();
    let roster = fixed_roster(None);
    let mut rng = ChaCha20Rng::seed_from_u64(11);
    let (_, package) = dkg::part1(&roster, 1, &mut rng).unwrap();
    let binding = Binding::of(&roster);
    let ev = envelope::seal(
        &keys[0],
        Draft {
            binding: &binding,
            round: Round::Dkg1,
            from: Some(1),
            to: None,
            reference: None,
            payload: &package,
        },
    )
    .unwrap();
    let tags: Vec<Vec<String>> = ev.tags.iter().map(|t| t.as_slice().to_vec()).collect();
    let layout = serde_json::json!({ "kind": ev.kind.as_u16(), "tags": tags });
    golden(
        "golden/envelope-dkg-1-tags.json",
        &(serde_json::to_string_pretty(&layout).unwrap() + "\n"),
    );

    // A signed package captured once must keep parsing and verifying in later versions.
    let pinned = testdata("packages/dkg-1-alice.json");
    if bless() && !pinned.exists() {
        std::fs::write(&pinned, ev.as_json() + "\n").unwrap();
    }
    let (event, meta) = envelope::parse(&std::fs::read(&pinned).unwrap()).unwrap();
    let checked = envelope::check(&roster, event, meta, Round::Dkg1, Sender::Member).unwrap();
    assert_eq!(checked.sender, "alice");
    let _: passport::ceremony::frost::keys::dkg::round1::Package = checked.payload(None).unwrap();
}

#[test]
fn confidential_package_round_trips_only_for_its_recipient() {
    let (keys, _) = members();
    let roster = fixed_roster(None);
    let binding = Binding::of(&roster);
    let payload = serde_json::json!({"secret": "for bob only"});
    let ev = envelope::seal(
        &keys[0],
        Draft {
            binding: &binding,
            round: Round::Dkg2,
            from: Some(1),
            to: Some((keys[1].public_key(), 2)),
            reference: None,
            payload: &payload,
        },
    )
    .unwrap();
    assert!(
        !ev.content.contains("for bob only"),
        "confidential payloads are encrypted"
    );
    let (event, meta) = envelope::parse(ev.as_json().as_bytes()).unwrap();
    let checked = envelope::check(&roster, event, meta, Round::Dkg2, Sender::Member).unwrap();
    let opened: serde_json::Value = checked.payload(Some(&keys[1])).unwrap();
    assert_eq!(opened, payload);
    assert!(
        checked
            .payload::<serde_json::Value>(Some(&keys[2]))
            .is_err(),
        "carol cannot read bob's package"
    );
    assert!(checked.require_for(&roster, &keys[2], 3).is_err());
}

// --- `passport inspect` over every file passport writes -----------------------------------
//
// Each file is made by the real binary, then inspected twice: human output (rows in a fixed
// order, member names, dates, no JSON) and `--json` (stable keys).

use crate::util;

use std::path::Path;

use serde_json::Value;

/// `inspect FILE` (human, on stderr) and `inspect --json FILE`, both from `home`.
fn inspect(home: &Path, file: &Path) -> (String, Value) {
    let out = util::passport(home)
        .arg("inspect")
        .arg(file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "inspect {}: {}",
        file.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let human = String::from_utf8(out.stderr).unwrap();
    assert!(
        !human.contains('{') && !human.contains("\":"),
        "JSON in the human output of {}:\n{human}",
        file.display()
    );
    let mut c = util::passport(home);
    c.arg("inspect").arg(file);
    (human, util::json_ok(c))
}

/// Each needle appears in `human`, in this order.
fn in_order(human: &str, needles: &[&str]) {
    let mut at = 0;
    for n in needles {
        let i = human[at..]
            .find(n)
            .unwrap_or_else(|| panic!("{n:?} missing (or out of order) in:\n{human}"));
        at += i + n.len();
    }
}

fn age_recipient(root: &Path, name: &str) -> String {
    let text = std::fs::read_to_string(root.join(format!("{name}.agekey"))).unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix("# public key: "))
        .unwrap()
        .to_owned()
}

fn only_file(dir: &Path, ext: &str) -> std::path::PathBuf {
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == ext) {
                return p;
            }
        }
    }
    panic!("no *.{ext} under {}", dir.display())
}

#[test]
fn inspect_describes_every_file_of_a_dkg_and_signing() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let a = util::make_member(root, "alice");
    let b = util::make_member(root, "bob");
    let c = util::make_member(root, "carol");
    let roster = util::write_roster(root, "roster.json", 2, &[&a, &b, &c], None);
    let x = root.join("x");
    let group = util::dkg_files(&[&a, &b, &c], &roster, &x);

    let (h, v) = inspect(&a.home, &roster);
    assert_eq!(v["kind"], "roster");
    assert_eq!(v["details"]["threshold"], 2);
    assert_eq!(v["details"]["seats"][1]["name"], "bob");
    assert_eq!(v["details"]["seats"][1]["npub"], b.npub.as_str());
    in_order(
        &h,
        &[
            "ceremony:",
            "purpose:",
            "test",
            "threshold:",
            "2 of 3",
            "dealer:",
            "none (DKG)",
            "seats:",
            "seat  name",
            "1     alice  ",
            &a.npub,
            "3     carol  ",
            &c.npub,
            "fingerprint:",
        ],
    );

    // Packages: seats by name (the roster is in the directory above), dates as dates.
    let (h, v) = inspect(&a.home, &util::pkg(&x, "dkg-1-alice"));
    assert_eq!(v["details"]["round"], "dkg-1");
    assert_eq!(v["details"]["member"], "alice");
    assert_eq!(v["details"]["member_seat"], 1);
    assert!(
        v["details"]["created_at_date"]
            .as_str()
            .unwrap()
            .ends_with('Z'),
        "{v}"
    );
    in_order(
        &h,
        &[
            "round:",
            "dkg-1",
            "from:",
            "alice (seat 1)",
            "created at:",
            "T",
            "Z",
            "signature:",
            "valid",
            "names from",
        ],
    );
    let (h, v) = inspect(&a.home, &util::pkg(&x, "dkg-2-alice-to-bob"));
    assert_eq!(v["details"]["encrypted"], true);
    assert_eq!(v["details"]["recipient_name"], "bob");
    in_order(
        &h,
        &[
            "from:",
            "alice (seat 1)",
            "to:",
            "bob (seat 2)",
            "encrypted:",
            "NIP-44",
        ],
    );
    let (h, v) = inspect(&a.home, &util::pkg(&x, "dkg-agree-carol"));
    assert_eq!(v["details"]["group"], group.as_str());
    in_order(
        &h,
        &[
            "from:",
            "carol (seat 3)",
            "group:",
            &group,
            "key package hash:",
        ],
    );

    // The home's public files.
    let gid = util::npub_hex(&group);
    let gdir = a.home.join("groups").join(&gid);
    let (h, v) = inspect(&a.home, &gdir.join("group.json"));
    assert_eq!(v["kind"], "group file (public)");
    assert_eq!(v["details"]["group"], group.as_str());
    assert_eq!(v["details"]["origin"], "dkg");
    in_order(
        &h,
        &[
            "group:",
            &group,
            "origin:",
            "DKG",
            "ceremony:",
            "threshold:",
            "seats:",
            "2     bob",
            "fingerprint:",
            "key package fingerprint:",
        ],
    );
    let (h, v) = inspect(&a.home, &gdir.join("state.json"));
    assert_eq!(v["details"]["status"], "active");
    assert_eq!(v["details"]["seats"], serde_json::json!([1]));
    in_order(
        &h,
        &[
            "group:",
            &group,
            "status:",
            "active",
            "seats held here:",
            "seat 1 (alice)",
        ],
    );
    let dkg_state = only_file(&a.home.join("dkg"), "json");
    let (h, v) = inspect(&a.home, &dkg_state);
    assert_eq!(v["details"]["stage"], "confirmed");
    assert_eq!(v["details"]["done"], true);
    in_order(
        &h,
        &["DKG progress", "member:", "alice", "stage:", "confirmed"],
    );
    let (h, v) = inspect(&a.home, &a.home.join("config.json"));
    assert_eq!(v["kind"], "passport home config");
    assert_eq!(v["details"]["npub"], a.npub.as_str());
    in_order(
        &h,
        &["identity:", &a.npub, "keystore:", "age identity file"],
    );
    let (h, v) = inspect(&a.home, &root.join("alice.agekey"));
    assert_eq!(v["kind"], "age identity file (SECRET)");
    assert!(!h.contains("AGE-SECRET-KEY") && !v.to_string().contains("AGE-SECRET-KEY"));
    assert_eq!(v["details"]["recipient"], age_recipient(root, "alice"));
    let share = only_file(&a.home.join("keystore/shares"), "sealed");
    let (h, v) = inspect(&a.home, &share);
    assert_eq!(v["kind"], "sealed secret (age)");
    in_order(
        &h,
        &["secret:", "the share of alice (seat 1) of group", &group],
    );
    let (h, _) = inspect(&a.home, &a.home.join("keystore/identity.sealed"));
    assert!(h.contains("this home's identity key"), "{h}");

    // Signing: commitments, request, shares, the signed event, claims and tombstones.
    let s = root.join("s");
    util::sign_files(&[&a, &b], &group, &s);
    let (h, v) = inspect(&a.home, &util::pkg(&s, "sign-commit-bob"));
    assert_eq!(v["details"]["commitments"], 1);
    in_order(
        &h,
        &[
            "from:",
            "bob (seat 2)",
            "group:",
            "commitments:",
            "usable until:",
            "Z",
        ],
    );
    let request = util::pkgs(&s, "sign-request").remove(0);
    let (h, v) = inspect(&a.home, &request);
    assert_eq!(v["details"]["signers"], serde_json::json!([1, 2]));
    assert_eq!(v["details"]["message_kind"], 1);
    in_order(
        &h,
        &[
            "from:",
            "alice (seat 1)",
            "signers:",
            "alice (seat 1)",
            "bob (seat 2)",
            "event kind:",
            "1: short text note",
            "event content:",
            "rebuilt",
        ],
    );
    let (h, v) = inspect(&a.home, &util::pkg(&s, "sign-share-bob"));
    assert!(v["details"]["request"].is_string(), "{v}");
    in_order(&h, &["from:", "bob (seat 2)", "answers request:"]);
    let event = root.join("event.json");
    let mut cmd = util::passport(&a.home);
    cmd.args(["sign", "aggregate", "--request"])
        .arg(&request)
        .arg("--in")
        .arg(&s)
        .arg("-o")
        .arg(&event);
    util::json_ok(cmd);
    let (h, v) = inspect(&a.home, &event);
    assert_eq!(v["kind"], "signed Nostr event");
    assert_eq!(v["details"]["npub"], group.as_str());
    assert_eq!(v["details"]["content"], "rebuilt");
    assert_eq!(v["details"]["valid"], true);
    in_order(
        &h,
        &[
            "signer:",
            &group,
            "id:",
            "kind:",
            "1: short text note",
            "created at:",
            "Z",
            "content:",
            "rebuilt",
            "tags:",
            "⟨none⟩",
            "signature:",
            "valid",
        ],
    );
    let claim = std::fs::read_dir(a.home.join("sign").join(&gid).join("used"))
        .unwrap()
        .flatten()
        .next()
        .unwrap()
        .path();
    let (h, v) = inspect(&a.home, &claim);
    assert!(v["details"]["commitment"].is_string(), "{v}");
    in_order(&h, &["group:", "seat:", "commitment:", "in request:"]);
    assert!(h.contains(" (alice)\n") || h.contains(" (bob)\n"), "{h}");
    let spent = only_file(&a.home.join("keystore/nonces"), "consumed");
    let (h, v) = inspect(&a.home, &spent);
    assert_eq!(v["kind"], "consumed nonce (tombstone)");
    in_order(
        &h,
        &["a signing nonce of alice (seat 1)", "can never sign again"],
    );

    // Multi-line, hostile content is shown whole under a gutter, escaped.
    let note = root.join("evil.json");
    std::fs::write(
        &note,
        r#"{"kind":1,"content":"line one\n  signature:   valid\u001b[2K","tags":[]}"#,
    )
    .unwrap();
    let mut cmd = util::passport(&a.home);
    cmd.args([
        "sign",
        "request",
        "--group",
        &group,
        "--signers",
        "alice,bob",
        "--event",
    ])
    .arg(&note)
    .arg("--in")
    .arg(&s)
    .arg("--out")
    .arg(root.join("s2"));
    // Both commitments were used above: the request needs new ones.
    for m in [&a, &b] {
        let mut c = util::passport(&m.home);
        c.args(["sign", "commit", "--group", &group, "--out"])
            .arg(&s);
        util::json_ok(c);
    }
    let req = util::json_ok(cmd)["package"].as_str().unwrap().to_owned();
    let (h, _) = inspect(&a.home, Path::new(&req));
    assert!(
        h.contains("event content:    ⟨33 characters, 2 lines, shown whole⟩"),
        "{h}"
    );
    assert!(
        h.contains("    │ line one") && h.contains("    │   signature:   valid⟨ESC⟩[2K"),
        "{h}"
    );
    assert!(!h.contains('\u{1b}'));
}

#[test]
fn inspect_describes_backups_manifests_deals_and_logs() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let ci = util::ci_group(root, None);
    let group = ci.group.clone();
    let recipient = age_recipient(root, "ci");

    // A share backup and its manifest, and the record backup create keeps.
    let backup = root.join("ci-b.age");
    let mut c = util::passport(&ci.ci.home);
    c.args(["backup", "create", "--group", &group, "--member", "ci-b"])
        .args(["--recipient", &recipient, "-o"])
        .arg(&backup);
    util::json_ok(c);
    let (h, v) = inspect(&ci.ci.home, &backup);
    assert_eq!(v["kind"], "share backup (armored age)");
    assert_eq!(v["details"]["member"], "ci-b");
    assert_eq!(v["details"]["seat"], 2);
    assert_eq!(v["details"]["manifest_matches"], true);
    in_order(
        &h,
        &[
            "group:",
            &group,
            "member:",
            "ci-b (seat 2)",
            "signed by:",
            &ci.ci.npub,
            "created:",
            "Z",
            "encrypted to:",
            &recipient,
            "verifying share:",
            "manifest:",
            "pins this file's SHA-256",
            "backup verify",
        ],
    );
    let manifest = root.join("ci-b.age.manifest.json");
    let (h, v) = inspect(&ci.ci.home, &manifest);
    assert_eq!(v["kind"], "share backup manifest (signed, kind 7709)");
    assert_eq!(
        v["details"]["backup_file_state"],
        "present, SHA-256 matches"
    );
    in_order(
        &h,
        &[
            "group:",
            "member:",
            "ci-b (seat 2)",
            "created:",
            "backup file:",
            "ci-b.age (present, SHA-256 matches)",
        ],
    );
    // A changed backup is named as such by both.
    let mut bytes = std::fs::read(&backup).unwrap();
    let n = bytes.len();
    bytes.truncate(n - 40);
    bytes.extend_from_slice(b"\n-----END AGE ENCRYPTED FILE-----\n");
    let copy = root.join("copy");
    std::fs::create_dir(&copy).unwrap();
    std::fs::write(copy.join("ci-b.age"), &bytes).unwrap();
    std::fs::copy(&manifest, copy.join("ci-b.age.manifest.json")).unwrap();
    let out = util::passport(&ci.ci.home)
        .arg("inspect")
        .arg(copy.join("ci-b.age.manifest.json"))
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("DIFFERS"),
        "{out:?}"
    );
    let (h, v) = inspect(&ci.ci.home, &ci.ci.home.join("backups.jsonl"));
    assert_eq!(v["kind"], "backup record (backups this home made)");
    assert_eq!(v["details"]["entries"][0]["member"], "ci-b");
    in_order(&h, &["backups:", "1", "made:", "ci-b (seat 2)", "ci-b.age"]);

    // An identity backup, its manifest, and the audit log entry it leaves.
    let idb = root.join("ci-identity.age");
    let mut c = util::passport(&ci.ci.home);
    c.args(["backup", "identity", "--recipient", &recipient, "-o"])
        .arg(&idb);
    util::json_ok(c);
    let (h, v) = inspect(&ci.ci.home, &idb);
    assert_eq!(v["kind"], "identity backup (armored age)");
    assert_eq!(v["details"]["npub"], ci.ci.npub.as_str());
    in_order(
        &h,
        &[
            "identity:",
            &ci.ci.npub,
            "created:",
            "encrypted to:",
            "manifest:",
            "pins",
        ],
    );
    let (h, v) = inspect(&ci.ci.home, &root.join("ci-identity.age.manifest.json"));
    assert_eq!(v["kind"], "identity backup manifest (signed, kind 7710)");
    in_order(
        &h,
        &[
            "identity:",
            "signed by:",
            "that identity",
            "created:",
            "backup file:",
            "present",
        ],
    );
    let (h, v) = inspect(&ci.ci.home, &ci.ci.home.join("audit.jsonl"));
    assert_eq!(v["details"]["chain"], "valid");
    assert_eq!(v["details"]["operations"]["backup-identity"], 1);
    in_order(
        &h,
        &[
            "entries:",
            "operations:",
            "backup-identity",
            "hash chain:",
            "valid",
        ],
    );

    // An armored file without its manifest says what is missing.
    let lone = root.join("lone.age");
    std::fs::copy(&backup, &lone).unwrap();
    let (h, v) = inspect(&ci.ci.home, &lone);
    assert_eq!(v["details"]["manifest"], Value::Null);
    assert!(h.contains("none found at"), "{h}");

    // The dealer's record of the deal, and a dealer package.
    let dealer = root.join("dealer");
    let record = only_file(&dealer.join("dealt"), "json");
    let (h, v) = inspect(&dealer, &record);
    assert_eq!(v["details"]["group"], group.as_str());
    in_order(
        &h,
        &[
            "group:",
            "ceremony:",
            "roster fingerprint:",
            "refuses to deal",
        ],
    );
    let (h, v) = inspect(
        &dealer,
        &util::pkg(&root.join("dealt"), "dealer-share-offsite"),
    );
    assert_eq!(v["details"]["recipient_name"], "offsite");
    in_order(
        &h,
        &[
            "round:",
            "dealer-share",
            "to:",
            "offsite (seat 3)",
            "encrypted:",
        ],
    );

    // A raw signature and a recovered nsec.
    let raw = root.join("raw.json");
    let mut c = util::passport(&ci.ci.home);
    c.args([
        "sign",
        "event",
        "--yes",
        "--group",
        &group,
        "--message",
        &"ab".repeat(32),
        "-o",
    ])
    .arg(&raw);
    util::json_ok(c);
    let (h, v) = inspect(&ci.ci.home, &raw);
    assert_eq!(v["details"]["npub"], group.as_str());
    in_order(&h, &["signer:", "message:", "signature:", "valid"]);
    let nsec = root.join("group.nsec");
    let mut c = util::passport(&ci.ci.home);
    c.args([
        "recover-nsec",
        "--i-understand-this-ends-threshold-custody",
        "--group",
        &group,
        "-o",
    ])
    .arg(&nsec);
    util::json_ok(c);
    let (h, v) = inspect(&ci.ci.home, &nsec);
    assert_eq!(v["details"]["npub"], group.as_str());
    assert!(
        !h.contains("nsec1") && !v.to_string().contains("nsec1"),
        "{h}"
    );

    // Unknown files: a clear error naming the file, exit 3.
    let junk = root.join("junk.json");
    std::fs::write(&junk, r#"{"hello":"world"}"#).unwrap();
    let mut c = util::bare();
    c.arg("inspect").arg(&junk);
    util::expect_error_line(
        &mut c,
        3,
        &[&junk.display().to_string(), "not a file passport writes"],
    );
    let mut c = util::bare();
    c.arg("inspect").arg(&backup).arg("--roster").arg(&junk);
    util::expect_error_line(
        &mut c,
        3,
        &[
            &junk.display().to_string(),
            "neither a roster nor a group file",
        ],
    );
    // --roster names the seats of a package found anywhere.
    let far = root.join("far");
    std::fs::create_dir_all(far.join("deep")).unwrap();
    let moved = far.join("deep/pkg.json");
    std::fs::copy(util::pkg(&root.join("dealt"), "dealer-share-ci-b"), &moved).unwrap();
    let (h, _) = inspect(&far, &moved);
    assert!(h.contains("to:          seat 2 ("), "{h}");
    let mut c = util::bare();
    c.arg("--json")
        .arg("inspect")
        .arg(&moved)
        .arg("--roster")
        .arg(root.join("roster.json"));
    let out = c.output().unwrap();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["details"]["recipient_name"], "ci-b", "{v}");
    let mut c = util::bare();
    c.arg("inspect").arg(lone.with_extension("nope"));
    let out = c.output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{out:?}");
}

/// A token home: its sealed blobs and a signed attestation statement (SoftHSM2).
#[test]
fn inspect_describes_an_attestation_statement_and_token_blobs() {
    let Some(module) = passport::hsm::token::find_softhsm() else {
        panic!("SoftHSM2 is not installed (Debian package softhsm2; scripts/test.sh installs it)");
    };
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let (_, conf) = util::softhsm_dirs(root);
    let token = |c: &mut assert_cmd::Command| {
        c.env("SOFTHSM2_CONF", &conf)
            .env("PASSPORT_PKCS11_MODULE", &module)
            .env("PASSPORT_PKCS11_PIN", "123456");
    };
    let out = std::process::Command::new("softhsm2-util")
        .env("SOFTHSM2_CONF", &conf)
        .args(["--init-token", "--free", "--label", "alice"])
        .args(["--so-pin", "87654321", "--pin", "123456"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let home = root.join("alice");
    let mut c = util::passport(&home);
    token(&mut c);
    c.args(["hsm", "init", "--token", "pkcs11:token=alice"]);
    util::json_ok(c);
    let mut c = util::passport(&home);
    token(&mut c);
    c.args(["init", "--keystore", "pkcs11:token=alice"]);
    let npub = util::json_ok(c)["npub"].as_str().unwrap().to_owned();
    let challenge = "00112233445566778899aabbccddeeff";
    let att = root.join("attestation.json");
    let mut c = util::passport(&home);
    token(&mut c);
    c.args(["hsm", "attest", "--challenge", challenge, "-o"])
        .arg(&att);
    util::json_ok(c);

    let (h, v) = inspect(&home, &att);
    assert_eq!(v["kind"], "HSM attestation statement");
    assert_eq!(v["details"]["member"], npub.as_str());
    assert_eq!(v["details"]["challenge"], challenge);
    in_order(
        &h,
        &[
            "member:",
            &npub,
            "assurance:",
            "self-reported",
            "made at:",
            "challenge:",
            challenge,
            "token:",
            "alice (serial",
            "keys:",
            "seal key",
            "attestation key",
            "P-256",
            "protects:",
            "signatures:",
            "intact",
            "passport hsm verify-attestation",
        ],
    );
    // A statement changed after signing is refused.
    let text = std::fs::read_to_string(&att).unwrap();
    let forged = root.join("forged.json");
    std::fs::write(&forged, text.replace("self-reported", "hardware-backed")).unwrap();
    let mut c = util::bare();
    c.arg("inspect").arg(&forged);
    util::expect_error_line(
        &mut c,
        3,
        &["forged.json", "not a valid attestation statement"],
    );

    let (h, v) = inspect(&home, &home.join("keystore/identity.sealed"));
    assert_eq!(v["kind"], "sealed secret (PKCS#11 token)");
    in_order(
        &h,
        &[
            "secret:",
            "this home's identity key",
            "format:",
            "v2",
            "scheme:",
            "sealed by token:",
        ],
    );
    let (h, v) = inspect(&home, &home.join("config.json"));
    assert_eq!(v["details"]["keystore"], "pkcs11");
    in_order(
        &h,
        &["identity:", &npub, "keystore:", "PKCS#11 token", "pkcs11:"],
    );
}
