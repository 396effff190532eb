//! Share lifecycle through the `passport` binary: proactive refresh (same npub, new
//! shares; a stale share is named by the aggregator) and repair of a lost share by t
//! helpers. Every signature is checked by libsecp256k1 independently. Bad input (a
//! non-member's package, a package of another refresh or repair, missing packages)
//! fails with a one-line error, the right exit code, and nothing stored or written.

use crate::util;

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use nostr::{JsonUtil, Keys};
use passport::ceremony::{refresh as ceremony_refresh, repair as ceremony_repair};
use passport::envelope::{self, Binding, Draft, Round};
use passport::group::Group;
use passport::home::{Home, OpenUnlock};
use serde_json::Value;
use util::*;

const RID: &str = "00112233445566778899aabbccddeeff";
const RID_OTHER: &str = "ffeeddccbbaa99887766554433221100";

// --- fixtures -------------------------------------------------------------------------

/// A 2-of-3 DKG group (alice, bob, carol), confirmed. Returns members and group npub.
fn dkg_group(root: &Path) -> (Vec<Member>, String) {
    let ms: Vec<Member> = ["alice", "bob", "carol"]
        .iter()
        .map(|n| make_member(root, n))
        .collect();
    let refs: Vec<&Member> = ms.iter().collect();
    let roster = write_roster(root, "roster.json", 2, &refs, None);
    let x = root.join("dkg");
    let mut group = String::new();
    for step in ["round1", "round2", "finish", "confirm"] {
        for m in &ms {
            let mut c = passport(&m.home);
            c.args(["dkg", step, "--roster"]).arg(&roster);
            if step != "confirm" {
                c.arg("--out").arg(&x);
            }
            if step != "round1" {
                c.arg("--in").arg(&x);
            }
            let v = json_ok(c);
            if step == "confirm" {
                assert_eq!(v["status"], "active");
                group = v["group"].as_str().unwrap().to_owned();
            }
        }
    }
    (ms, group)
}

fn group_file(m: &Member, group: &str) -> PathBuf {
    m.home
        .join("groups")
        .join(npub_hex(group))
        .join("group.json")
}

fn load_group(m: &Member, group: &str) -> Group {
    Group::from_json(&std::fs::read(group_file(m, group)).unwrap()).unwrap()
}

fn identity(m: &Member) -> Keys {
    let home = Home::open(&m.home, OpenUnlock::none()).unwrap();
    home.identity().unwrap().clone()
}

/// `cp -rp`: modes kept, as an operator's backup copy would (passport refuses a keystore
/// whose modes were loosened).
fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    std::fs::set_permissions(to, std::fs::metadata(from).unwrap().permissions()).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        let p = e.path();
        let dest = to.join(e.file_name());
        if p.is_dir() {
            copy_dir(&p, &dest);
        } else {
            std::fs::copy(&p, &dest).unwrap();
        }
    }
}

fn refresh_step(m: &Member, step: &str, group: &str, rid: &str, x: &Path) -> Command {
    let mut c = passport(&m.home);
    c.args(["refresh", step, "--group", group, "--refresh-id", rid]);
    if step != "round1" {
        c.arg("--in").arg(x);
    }
    if step != "finish" {
        c.arg("--out").arg(x);
    }
    c
}

fn repair_step(m: &Member, step: &str, group: &str, x: &Path) -> Command {
    repair_step_to(m, step, group, x, x)
}

fn repair_step_to(m: &Member, step: &str, group: &str, x: &Path, out: &Path) -> Command {
    let mut c = passport(&m.home);
    c.args([
        "repair",
        step,
        "--group",
        group,
        "--lost",
        "carol",
        "--helpers",
        "alice,bob",
        "--out",
    ])
    .arg(out);
    if step == "step2" {
        c.arg("--in").arg(x);
    }
    c
}

fn template(dir: &Path, content: &str) -> PathBuf {
    let p = dir.join("template.json");
    std::fs::write(
        &p,
        format!(r#"{{"kind":1,"content":"{content}","tags":[]}}"#),
    )
    .unwrap();
    p
}

/// commit + request; returns the request path.
fn sign_request(coordinator: &Member, signers: &[&Member], group: &str, dir: &Path) -> String {
    std::fs::create_dir_all(dir).unwrap();
    for m in signers {
        let mut c = passport(&m.home);
        c.args(["sign", "commit", "--group", group, "--out"])
            .arg(dir);
        json_ok(c);
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
    .arg(template(dir, "lifecycle"))
    .arg("--in")
    .arg(dir)
    .arg("--out")
    .arg(dir);
    let req = json_ok(c);
    let req_path = req["package"].as_str().unwrap().to_owned();
    for m in signers {
        let mut c = passport(&m.home);
        c.args(["sign", "share", "--yes", "--request", &req_path, "--out"])
            .arg(dir);
        json_ok(c);
    }
    req_path
}

fn aggregate(coordinator: &Member, req: &str, dir: &Path) -> Command {
    let mut c = passport(&coordinator.home);
    c.args(["sign", "aggregate", "--request", req, "--in"])
        .arg(dir);
    c
}

/// Signs with commit/request/share/aggregate and verifies with libsecp256k1.
fn sign_and_verify(coordinator: &Member, signers: &[&Member], group: &str, dir: &Path) {
    let req = sign_request(coordinator, signers, group, dir);
    let out = aggregate(coordinator, &req, dir).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let event: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(event["pubkey"], npub_hex(group));
    verify_event_independently(&event);
}

/// The command fails with `code` and a one-line error naming every needle; the homes
/// and `untouched` directories are byte-for-byte unchanged.
fn fails(mut c: Command, code: i32, dirs: &[&Path], needles: &[&str]) -> String {
    let before: Vec<_> = dirs.iter().map(|d| snapshot(d)).collect();
    let line = expect_error_line(&mut c, code, needles);
    for (d, b) in dirs.iter().zip(before) {
        assert!(
            snapshot(d) == b,
            "{} changed although the command failed",
            d.display()
        );
    }
    line
}

// --- refresh --------------------------------------------------------------------------

#[test]
fn refresh_keeps_npub_signs_and_names_a_stale_share() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let (ms, group) = dkg_group(root);
    let before = load_group(&ms[0], &group);
    // A copy of alice's home from before the refresh: it keeps the old share.
    let stale = Member {
        name: "alice".into(),
        home: root.join("alice-stale"),
        npub: ms[0].npub.clone(),
    };
    copy_dir(&ms[0].home, &stale.home);
    // And a backup of alice's share from before the refresh.
    let backup = root.join("alice-before.age");
    let mut c = passport(&ms[0].home);
    c.env("PASSPORT_BACKUP_PASSPHRASE", "backup pass")
        .args(["backup", "create", "--group", &group, "--passphrase", "-o"])
        .arg(&backup);
    json_ok(c);

    let x = root.join("refresh");
    for step in ["round1", "round2", "finish"] {
        for m in ms.iter().rev() {
            let v = json_ok(refresh_step(m, step, &group, RID, &x));
            assert_eq!(v["group"], group.as_str());
            assert_eq!(v["already_done"], false);
        }
    }
    // 3 round-1 packages, 6 encrypted round-2 packages.
    let names: Vec<String> = std::fs::read_dir(&x)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        names.iter().filter(|n| n.starts_with("refresh-1-")).count(),
        3
    );
    assert_eq!(
        names.iter().filter(|n| n.starts_with("refresh-2-")).count(),
        6
    );
    let r2: Value =
        serde_json::from_slice(&std::fs::read(util::pkg(&x, "refresh-2-alice-to-bob")).unwrap())
            .unwrap();
    assert!(
        r2["tags"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t[0] == "enc" && t[1] == "nip44"),
        "round-2 packages are NIP-44 encrypted"
    );

    // Same npub, new verifying shares, identical group files everywhere.
    let after = load_group(&ms[0], &group);
    assert_eq!(after.npub, before.npub);
    assert_eq!(
        after.public_key_package.verifying_key(),
        before.public_key_package.verifying_key()
    );
    for id in 1..=3u16 {
        let ident = passport::ceremony::Roster::identifier(id);
        assert_ne!(
            after.public_key_package.verifying_shares()[&ident],
            before.public_key_package.verifying_shares()[&ident],
            "verifying share {id} changed"
        );
    }
    for m in &ms[1..] {
        assert_eq!(
            std::fs::read(group_file(m, &group)).unwrap(),
            std::fs::read(group_file(&ms[0], &group)).unwrap()
        );
    }

    // Re-running finish is a no-op.
    let v = json_ok(refresh_step(&ms[0], "finish", &group, RID, &x));
    assert_eq!(v["already_done"], true);
    // finish says that earlier backups are stale, and verify recognizes one.
    let w = v["stale_backups"].as_str().unwrap();
    assert!(
        w.contains("alice's share") && w.contains("backup create"),
        "{w}"
    );
    let mut c = passport(&ms[0].home);
    c.args(["backup", "verify"]).arg(&backup);
    util::expect_error_line(&mut c, 3, &["the backup is stale", "made before a refresh"]);

    // Refreshed shares sign (two different pairs).
    sign_and_verify(&ms[1], &[&ms[0], &ms[1]], &group, &root.join("s1"));
    sign_and_verify(&ms[2], &[&ms[1], &ms[2]], &group, &root.join("s2"));

    // A stale (pre-refresh) share with a refreshed one: the aggregator, holding the new
    // public key package, names the stale member and outputs nothing.
    let dir = root.join("s-mixed");
    let req = sign_request(&ms[1], &[&stale, &ms[1]], &group, &dir);
    fails(
        aggregate(&ms[1], &req, &dir),
        3,
        &[&ms[1].home],
        &["alice", "invalid signature share"],
    );
}

#[test]
fn refresh_bad_input_is_refused_without_changes() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let (ms, group) = dkg_group(root);
    let (alice, bob, carol) = (&ms[0], &ms[1], &ms[2]);
    let g = load_group(alice, &group);
    let binding_roster =
        ceremony_refresh::binding_roster(&g.roster, &g.public_key_package, RID, &[]).unwrap();

    let x = root.join("x");
    json_ok(refresh_step(alice, "round1", &group, RID, &x));
    let out = root.join("out");

    // Missing packages: exit 4, naming who is awaited; nothing written.
    fails(
        {
            let mut c = passport(&alice.home);
            c.args(["refresh", "round2", "--group", &group, "--refresh-id", RID])
                .arg("--in")
                .arg(&x)
                .arg("--out")
                .arg(&out);
            c
        },
        4,
        &[&alice.home],
        &["bob", "carol"],
    );
    assert!(!out.exists());

    // A package for another refresh id (carol started a second refresh).
    json_ok(refresh_step(bob, "round1", &group, RID, &x));
    let other = root.join("other");
    json_ok(refresh_step(carol, "round1", &group, RID_OTHER, &other));
    std::fs::copy(
        util::pkg(&other, "refresh-1-carol"),
        x.join("refresh-1-carol.json"),
    )
    .unwrap();
    fails(
        {
            let mut c = passport(&alice.home);
            c.args(["refresh", "round2", "--group", &group, "--refresh-id", RID])
                .arg("--in")
                .arg(&x)
                .arg("--out")
                .arg(&out);
            c
        },
        3,
        &[&alice.home],
        &["carol", RID_OTHER, "not to this ceremony"],
    );
    assert!(!out.exists());
    std::fs::remove_file(x.join("refresh-1-carol.json")).unwrap();

    // A non-member's package, correctly bound to this refresh.
    let outsider = Keys::generate();
    let (_, package) =
        ceremony_refresh::part1(&binding_roster, 3, &[1, 2, 3], &mut rand::rngs::OsRng).unwrap();
    let ev = envelope::seal(
        &outsider,
        Draft {
            binding: &Binding::of(&binding_roster),
            round: Round::RefreshOne,
            from: Some(3),
            to: None,
            reference: None,
            payload: &package,
        },
    )
    .unwrap();
    std::fs::write(x.join("refresh-1-mallory.json"), ev.as_json()).unwrap();
    fails(
        {
            let mut c = passport(&alice.home);
            c.args(["refresh", "round2", "--group", &group, "--refresh-id", RID])
                .arg("--in")
                .arg(&x)
                .arg("--out")
                .arg(&out);
            c
        },
        3,
        &[&alice.home],
        &["not a member"],
    );
    assert!(!out.exists());
    std::fs::remove_file(x.join("refresh-1-mallory.json")).unwrap();

    // A malformed refresh id is a usage error.
    let mut c = passport(&alice.home);
    c.args([
        "refresh",
        "round1",
        "--group",
        &group,
        "--refresh-id",
        "1234",
    ])
    .arg("--out")
    .arg(&out);
    fails(c, 2, &[&alice.home], &["--refresh-id"]);

    // With the right packages, the refresh still completes and signs.
    json_ok(refresh_step(carol, "round1", &group, RID, &x));
    for step in ["round2", "finish"] {
        for m in &ms {
            json_ok(refresh_step(m, step, &group, RID, &x));
        }
    }
    sign_and_verify(alice, &[alice, carol], &group, &root.join("s"));
}

// --- repair ---------------------------------------------------------------------------

/// Deletes carol's share and her seat from the group state (the group file stays).
fn lose_carols_share(carol: &Member, group: &str) {
    let gid = npub_hex(group);
    let share = carol
        .home
        .join("keystore/shares")
        .join(format!("{gid}.3.sealed"));
    assert!(share.exists(), "{} should exist", share.display());
    std::fs::remove_file(share).unwrap();
    let state = carol.home.join("groups").join(&gid).join("state.json");
    let mut v: Value = serde_json::from_slice(&std::fs::read(&state).unwrap()).unwrap();
    v["seats"] = serde_json::json!([]);
    std::fs::write(&state, v.to_string()).unwrap();
}

#[test]
fn repair_restores_a_lost_share_that_signs() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let (ms, group) = dkg_group(root);
    let (alice, bob, carol) = (&ms[0], &ms[1], &ms[2]);
    lose_carols_share(carol, &group);
    let mut c = passport(&carol.home);
    c.args(["sign", "commit", "--group", &group, "--out"])
        .arg(root.join("nope"));
    fails(c, 2, &[&carol.home], &["no seat"]);

    let x = root.join("repair");
    for step in ["step1", "step2"] {
        for m in [bob, alice] {
            let v = json_ok(repair_step(m, step, &group, &x));
            assert_eq!(v["already_done"], false);
        }
    }
    // Deltas and sigmas are NIP-44 encrypted to their recipients.
    for f in ["repair-delta-alice-to-bob", "repair-sigma-bob-to-carol"] {
        let v: Value = serde_json::from_slice(&std::fs::read(util::pkg(&x, f)).unwrap()).unwrap();
        assert!(
            v["tags"]
                .as_array()
                .unwrap()
                .iter()
                .any(|t| t[0] == "enc" && t[1] == "nip44"),
            "{f} is encrypted"
        );
    }
    // The lost member finishes with a group file from another member.
    let gf = root.join("group-from-alice.json");
    std::fs::copy(group_file(alice, &group), &gf).unwrap();
    let mut c = passport(&carol.home);
    c.args(["repair", "finish", "--helpers", "alice,bob", "--group-file"])
        .arg(&gf)
        .arg("--in")
        .arg(&x);
    let v = json_ok(c);
    assert_eq!(v["member"], "carol");
    assert_eq!(v["already_done"], false);
    // Idempotent.
    let mut c = passport(&carol.home);
    c.args([
        "repair",
        "finish",
        "--helpers",
        "alice,bob",
        "--group",
        &group,
        "--in",
    ])
    .arg(&x);
    assert_eq!(json_ok(c)["already_done"], true);

    sign_and_verify(carol, &[alice, carol], &group, &root.join("s1"));
    sign_and_verify(bob, &[carol, bob], &group, &root.join("s2"));
}

#[test]
fn repair_bad_input_is_refused_without_changes() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let (ms, group) = dkg_group(root);
    let (alice, bob, carol) = (&ms[0], &ms[1], &ms[2]);
    lose_carols_share(carol, &group);
    let g = load_group(alice, &group);
    let binding =
        ceremony_repair::binding_roster(&g.roster, &g.public_key_package, 3, &[1, 2]).unwrap();
    let x = root.join("x");
    let out = root.join("out");

    // Helper sets below the threshold, or naming the lost member, are usage errors.
    let mut c = passport(&alice.home);
    c.args([
        "repair",
        "step1",
        "--group",
        &group,
        "--lost",
        "carol",
        "--helpers",
        "alice",
    ])
    .arg("--out")
    .arg(&out);
    fails(c, 2, &[&alice.home], &["at least 2 helpers"]);
    let mut c = passport(&alice.home);
    c.args([
        "repair",
        "step1",
        "--group",
        &group,
        "--lost",
        "carol",
        "--helpers",
        "alice,carol",
    ])
    .arg("--out")
    .arg(&out);
    fails(c, 2, &[&alice.home], &["carol", "own helper"]);
    assert!(!out.exists());

    json_ok(repair_step(alice, "step1", &group, &x));

    // Missing: bob's delta has not arrived.
    let c = repair_step_to(alice, "step2", &group, &x, &out);
    fails(c, 4, &[&alice.home], &["waiting for repair deltas", "bob"]);
    assert!(!out.exists());

    // A delta for another repair (another ceremony id), signed by bob himself.
    let bob_keys = identity(bob);
    let alice_pk = identity(alice).public_key();
    let alice_key = {
        let home = Home::open(&alice.home, OpenUnlock::none()).unwrap();
        home.share(&g, 1).unwrap()
    };
    let deltas = ceremony_repair::part1(&[1, 2], &alice_key, 3, &mut rand::rngs::OsRng).unwrap();
    let foreign = Binding {
        ceremony: "0123456789abcdef0123456789abcdef".into(),
        roster_hash: binding.hash_hex(),
    };
    let ev = envelope::seal(
        &bob_keys,
        Draft {
            binding: &foreign,
            round: Round::RepairDelta,
            from: Some(2),
            to: Some((alice_pk, 1)),
            reference: None,
            payload: &serde_json::json!({ "delta": deltas[&1] }),
        },
    )
    .unwrap();
    let bad = x.join("repair-delta-bob-to-alice.json");
    std::fs::write(&bad, ev.as_json()).unwrap();
    let c = repair_step_to(alice, "step2", &group, &x, &out);
    fails(
        c,
        3,
        &[&alice.home],
        &[
            "bob",
            "0123456789abcdef0123456789abcdef",
            "not to this ceremony",
        ],
    );
    assert!(!out.exists());
    std::fs::remove_file(&bad).unwrap();

    // A non-member's delta, correctly bound to this repair.
    let outsider = Keys::generate();
    let ev = envelope::seal(
        &outsider,
        Draft {
            binding: &Binding::of(&binding),
            round: Round::RepairDelta,
            from: Some(2),
            to: Some((alice_pk, 1)),
            reference: None,
            payload: &serde_json::json!({ "delta": deltas[&1] }),
        },
    )
    .unwrap();
    std::fs::write(&bad, ev.as_json()).unwrap();
    let c = repair_step_to(alice, "step2", &group, &x, &out);
    fails(c, 3, &[&alice.home], &["not a member"]);
    assert!(!out.exists());
    std::fs::remove_file(&bad).unwrap();

    // The real flow; the lost member's finish waits for every helper's sigma.
    json_ok(repair_step(bob, "step1", &group, &x));
    json_ok(repair_step(alice, "step2", &group, &x));
    let mut c = passport(&carol.home);
    c.args([
        "repair",
        "finish",
        "--group",
        &group,
        "--helpers",
        "alice,bob",
        "--in",
    ])
    .arg(&x);
    fails(c, 4, &[&carol.home], &["waiting for repair sigmas", "bob"]);

    // Once bob's sigma is there, finish succeeds (the helper set in any order).
    json_ok(repair_step(bob, "step2", &group, &x));
    let mut c = passport(&carol.home);
    c.args([
        "repair",
        "finish",
        "--group",
        &group,
        "--helpers",
        "bob,alice",
        "--in",
    ])
    .arg(&x);
    json_ok(c);
    sign_and_verify(alice, &[alice, carol], &group, &root.join("s"));
}

/// Walk-through "a member leaving": alice and bob refresh `--without carol` (frost-core
/// refreshes with fewer participants than the group had). The npub stays, carol's seat
/// has no verifying share any more and the group file says she left; alice and bob
/// sign; carol's commitments and any request naming her are refused, and a refresh
/// that would leave fewer than t shares, or that carol herself tries to run, is refused.
#[test]
fn a_member_leaves_at_a_refresh_and_the_others_still_sign() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let (ms, group) = dkg_group(root);
    let (alice, bob, carol) = (&ms[0], &ms[1], &ms[2]);
    let x = root.join("leave");
    let without = |m: &Member, step: &str, who: &str| {
        let mut c = refresh_step(m, step, &group, RID, &x);
        c.args(["--without", who]);
        c
    };
    // Below the threshold, or carol leaving herself: usage errors, nothing written.
    fails(
        without(alice, "round1", "bob,carol"),
        2,
        &[&alice.home],
        &["fewer than the threshold 2"],
    );
    fails(
        without(carol, "round1", "carol"),
        2,
        &[&carol.home],
        &["carol is leaving at this refresh"],
    );
    let old_vs = load_group(alice, &group).public_key_package.clone();
    for step in ["round1", "round2", "finish"] {
        for m in [alice, bob] {
            json_ok(without(m, step, "carol"));
        }
    }
    let g = load_group(alice, &group);
    assert_eq!(g.npub, group, "same npub");
    assert_eq!(g.left, vec![3], "carol's seat left");
    let vs = g.public_key_package.verifying_shares();
    assert_eq!(vs.len(), 2, "only alice and bob hold shares");
    for id in [1u16, 2] {
        let ident = passport::ceremony::Roster::identifier(id);
        assert_ne!(
            vs.get(&ident),
            old_vs.verifying_shares().get(&ident),
            "refreshed"
        );
    }
    assert_eq!(
        std::fs::read(group_file(alice, &group)).unwrap(),
        std::fs::read(group_file(bob, &group)).unwrap(),
        "alice and bob agree on the group file"
    );
    let mut c = passport(&alice.home);
    c.args(["group", "list"]);
    assert_eq!(
        json_ok(c)["groups"][0]["left"],
        serde_json::json!(["carol"])
    );
    let mut c = bare();
    c.arg("inspect").arg(group_file(alice, &group));
    assert_eq!(json_ok(c)["details"]["left"], serde_json::json!(["carol"]));
    sign_and_verify(bob, &[alice, bob], &group, &root.join("s1"));

    // Carol still has her old share and group file: her commitments are no use.
    let s2 = root.join("s2");
    for m in [alice, carol] {
        let mut c = passport(&m.home);
        c.args(["sign", "commit", "--group", &group, "--out"])
            .arg(&s2);
        json_ok(c);
    }
    let mut c = passport(&alice.home);
    c.args([
        "sign",
        "request",
        "--group",
        &group,
        "--signers",
        "alice,carol",
        "--event",
    ])
    .arg(template(&s2, "with carol"))
    .arg("--in")
    .arg(&s2)
    .arg("--out")
    .arg(&s2);
    fails(c, 2, &[&alice.home], &["carol left the group at a refresh"]);
    // A later refresh (without --without) runs among the two who hold shares.
    let y = root.join("again");
    for step in ["round1", "round2", "finish"] {
        for m in [alice, bob] {
            json_ok(refresh_step(m, step, &group, RID_OTHER, &y));
        }
    }
    assert_eq!(load_group(bob, &group).left, vec![3]);
    sign_and_verify(alice, &[alice, bob], &group, &root.join("s3"));
}
