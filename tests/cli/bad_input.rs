//! Bad input through the `passport` binary: truncated, non-JSON, forged, foreign,
//! misaddressed, equivocating and wrong-threshold packages, reused nonces, bad
//! signature shares, wrong passphrases and missing packages.
//!
//! Every case asserts the specific exit code, a one-line stderr error that names the
//! problem (and the member at fault where known), no panic, and that the stored state
//! of every affected home is byte-for-byte unchanged by the failing command.
//!
//! Hostile packages that the CLI cannot produce (non-member, equivocation, wrong
//! threshold, wrong roster hash, re-wrapped signature share) are built with the library:
//! `passport::envelope::seal` with the member's real identity read from its home.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use assert_cmd::Command;
use nostr::{Event, JsonUtil, Keys};
use passport::ceremony::{dkg as ceremony_dkg, Roster};
use passport::envelope::{self, Binding, Draft, Round};
use passport::home::{Home, OpenUnlock};
use serde_json::Value;
use tempfile::TempDir;

// --- commands -------------------------------------------------------------------------

use crate::util;
use util::{bare, json_ok, passport, snapshot};

/// Runs a command that must fail with `code`, without touching any of `homes`.
/// Asserts: exact exit code, no panic, exactly one stderr line `passport: error: …`
/// containing every needle, nothing on stdout, and every home unchanged.
/// Returns the error line.
fn fails(mut c: Command, code: i32, homes: &[&Path], needles: &[&str]) -> String {
    let before: Vec<_> = homes.iter().map(|h| snapshot(h)).collect();
    let line = util::expect_error_line(&mut c, code, needles);
    for (h, b) in homes.iter().zip(before) {
        assert_state_eq(h, &b, &snapshot(h));
    }
    line
}

/// Like [`fails`] with `--json`: one JSON error object on stdout, nothing on stderr.
fn fails_json(mut c: Command, code: i32, kind: &str, homes: &[&Path], needles: &[&str]) -> Value {
    let before: Vec<_> = homes.iter().map(|h| snapshot(h)).collect();
    let out = c.arg("--json").output().unwrap();
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
    assert!(
        stderr.trim().is_empty(),
        "--json must keep stderr quiet, got: {stderr}"
    );
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines.len(),
        1,
        "expected exactly one JSON line on stdout, got:\n{stdout}"
    );
    let v: Value = serde_json::from_str(lines[0]).expect("stdout is JSON");
    let obj = v.as_object().unwrap();
    assert_eq!(obj.len(), 1, "only an \"error\" key expected: {v}");
    let err = &v["error"];
    assert_eq!(err["exit_code"], code, "{v}");
    assert_eq!(err["kind"], kind, "{v}");
    let msg = err["message"].as_str().expect("message is a string");
    assert!(!msg.contains('\n'), "message should be one line: {msg}");
    for n in needles {
        assert!(
            msg.contains(n),
            "error message does not mention {n:?}:\n{msg}"
        );
    }
    for (h, b) in homes.iter().zip(before) {
        assert_state_eq(h, &b, &snapshot(h));
    }
    v
}

fn assert_state_eq(
    home: &Path,
    before: &BTreeMap<PathBuf, Vec<u8>>,
    after: &BTreeMap<PathBuf, Vec<u8>>,
) {
    if before == after {
        return;
    }
    let added: Vec<_> = after.keys().filter(|k| !before.contains_key(*k)).collect();
    let removed: Vec<_> = before.keys().filter(|k| !after.contains_key(*k)).collect();
    let changed: Vec<_> = before
        .iter()
        .filter(|(k, v)| after.get(*k).is_some_and(|a| a != *v))
        .map(|(k, _)| k)
        .collect();
    panic!(
        "stored state of {} changed: added {added:?}, removed {removed:?}, changed {changed:?}",
        home.display()
    );
}

/// The failing command must not have written any package either.
fn assert_empty(dir: &Path) {
    let files = snapshot(dir);
    assert!(
        files.is_empty(),
        "{} should be empty, has {:?}",
        dir.display(),
        files.keys().collect::<Vec<_>>()
    );
}

// --- fixtures -------------------------------------------------------------------------

struct Member {
    name: String,
    home: PathBuf,
    npub: String,
}

impl Member {
    fn cmd(&self) -> Command {
        passport(&self.home)
    }

    /// The member's identity keys, read from its (age-identity) home via the library.
    fn keys(&self) -> Keys {
        // Age-identity homes unlock from the config; no passphrase or PIN is asked.
        let home = Home::open(&self.home, OpenUnlock::none()).unwrap();
        home.identity().unwrap().clone()
    }
}

struct Fx {
    tmp: TempDir,
    members: Vec<Member>,
}

impl Fx {
    /// Homes (age identity, no passphrase) for `names`.
    fn new(names: &[&str]) -> Fx {
        let tmp = tempfile::tempdir().unwrap();
        let members = names.iter().map(|n| make_member(tmp.path(), n)).collect();
        Fx { tmp, members }
    }

    fn root(&self) -> &Path {
        self.tmp.path()
    }

    fn dir(&self, name: &str) -> PathBuf {
        let d = self.root().join(name);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    /// A path for a command's output directory that does not exist yet.
    fn fresh(&self, name: &str) -> PathBuf {
        let d = self.root().join(name);
        assert!(!d.exists());
        d
    }

    fn m(&self, name: &str) -> &Member {
        self.members.iter().find(|m| m.name == name).unwrap()
    }

    fn roster(&self, file: &str, t: u16, names: &[&str], dealer: Option<&str>) -> PathBuf {
        let path = self.root().join(file);
        let mut c = bare();
        c.args([
            "roster",
            "new",
            "--threshold",
            &t.to_string(),
            "--purpose",
            "bad-input test",
            "-o",
        ])
        .arg(&path);
        for n in names {
            let m = self.m(n);
            c.arg("--member").arg(format!("{}={}", m.name, m.npub));
        }
        if let Some(d) = dealer {
            c.args(["--dealer", &self.m(d).npub]);
        }
        json_ok(c);
        path
    }

    fn dkg(&self, names: &[&str], step: &str, roster: &Path, dir: &Path) -> Vec<Value> {
        names
            .iter()
            .map(|n| {
                let mut c = self.m(n).cmd();
                c.args(["dkg", step, "--roster"]).arg(roster);
                if step != "round1" {
                    c.arg("--in").arg(dir);
                }
                if step != "confirm" {
                    c.arg("--out").arg(dir);
                }
                json_ok(c)
            })
            .collect()
    }

    /// Runs a whole 2-of-3 DKG among alice, bob, carol; returns the group npub.
    fn full_dkg(&self, roster: &Path, dir: &Path) -> String {
        let all = ["alice", "bob", "carol"];
        self.dkg(&all, "round1", roster, dir);
        self.dkg(&all, "round2", roster, dir);
        let fin = self.dkg(&all, "finish", roster, dir);
        self.dkg(&all, "confirm", roster, dir);
        let group = fin[0]["group"].as_str().unwrap().to_owned();
        assert!(fin.iter().all(|f| f["group"] == group.as_str()));
        group
    }

    fn commit(&self, name: &str, group: &str, count: usize, dir: &Path) -> PathBuf {
        let mut c = self.m(name).cmd();
        c.args([
            "sign",
            "commit",
            "--group",
            group,
            "--count",
            &count.to_string(),
            "--out",
        ])
        .arg(dir);
        PathBuf::from(json_ok(c)["package"].as_str().unwrap())
    }

    /// Builds a raw-message signing request; returns (request file, request id).
    fn request(
        &self,
        coordinator: &str,
        group: &str,
        message: &str,
        inputs: &Path,
        out: &Path,
    ) -> (PathBuf, String) {
        let mut c = self.m(coordinator).cmd();
        c.args([
            "sign",
            "request",
            "--group",
            group,
            "--signers",
            "alice,bob",
            "--message",
            message,
            "--in",
        ])
        .arg(inputs)
        .arg("--out")
        .arg(out);
        let v = json_ok(c);
        (
            PathBuf::from(v["package"].as_str().unwrap()),
            v["request"].as_str().unwrap().to_owned(),
        )
    }

    fn share_cmd(&self, name: &str, request: &Path, out: &Path) -> Command {
        let mut c = self.m(name).cmd();
        c.args(["sign", "share", "--yes", "--request"])
            .arg(request)
            .arg("--out")
            .arg(out);
        c
    }

    fn share(&self, name: &str, request: &Path, out: &Path) -> PathBuf {
        PathBuf::from(
            json_ok(self.share_cmd(name, request, out))["package"]
                .as_str()
                .unwrap(),
        )
    }
}

fn make_member(root: &Path, name: &str) -> Member {
    let home = root.join(name);
    let mut c = passport(&home);
    c.arg("init")
        .arg("--age-identity")
        .arg(root.join(format!("{name}.agekey")));
    let v = json_ok(c);
    Member {
        name: name.into(),
        home,
        npub: v["npub"].as_str().unwrap().into(),
    }
}

fn load_roster(path: &Path) -> Roster {
    Roster::from_json(&std::fs::read(path).unwrap()).unwrap()
}

fn read_event(path: &Path) -> Event {
    Event::from_json(std::fs::read_to_string(path).unwrap().trim()).unwrap()
}

fn write_event(path: &Path, ev: &Event) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, ev.as_json() + "\n").unwrap();
}

fn copy(from: &Path, to_dir: &Path) -> PathBuf {
    std::fs::create_dir_all(to_dir).unwrap();
    let to = to_dir.join(from.file_name().unwrap());
    std::fs::copy(from, &to).unwrap();
    to
}

fn member_id(roster: &Roster, name: &str) -> u16 {
    roster.id_by_name(name).unwrap()
}

/// Seals a DKG round-1 package for `seat` with `keys` and `binding`.
fn seal_dkg1(keys: &Keys, binding: &Binding, seat: u16, payload: &impl serde::Serialize) -> Event {
    envelope::seal(
        keys,
        Draft {
            binding,
            round: Round::Dkg1,
            from: Some(seat),
            to: None,
            reference: None,
            payload,
        },
    )
    .unwrap()
}

/// alice, bob, carol with round 1 of a 2-of-3 DKG done, packages in `r1/`.
fn after_round1() -> (Fx, PathBuf, PathBuf) {
    let fx = Fx::new(&["alice", "bob", "carol"]);
    let roster = fx.roster("roster.json", 2, &["alice", "bob", "carol"], None);
    let r1 = fx.dir("r1");
    fx.dkg(&["alice", "bob", "carol"], "round1", &roster, &r1);
    (fx, roster, r1)
}

/// `alice dkg round2 --roster R --in <inputs…> --out OUT`.
fn alice_round2(fx: &Fx, roster: &Path, inputs: &[&Path], out: &Path) -> Command {
    let mut c = fx.m("alice").cmd();
    c.args(["dkg", "round2", "--roster"])
        .arg(roster)
        .arg("--out")
        .arg(out);
    for i in inputs {
        c.arg("--in").arg(i);
    }
    c
}

// --- cases 1, 2, 15: malformed files -----------------------------------------------------

#[test]
fn truncated_package_is_rejected() {
    let (fx, roster, r1) = after_round1();
    let alice = fx.m("alice").home.clone();
    let good = std::fs::read(util::pkg(&r1, "dkg-1-bob")).unwrap();
    let bad = fx.dir("bad").join("dkg-1-bob.json");
    std::fs::write(&bad, &good[..good.len() / 2]).unwrap();
    let out = fx.fresh("out");
    let line = fails(
        alice_round2(&fx, &roster, &[&bad], &out),
        3,
        &[&alice],
        &[&bad.display().to_string(), "not a passport package"],
    );
    assert!(line.contains("not a Nostr event"), "{line}");
    assert_empty(&out);

    // The same file found by scanning a directory is rejected too, not silently skipped.
    let dir = fx.dir("scan");
    copy(&util::pkg(&r1, "dkg-1-carol"), &dir);
    let bad2 = dir.join("dkg-1-bob.json");
    std::fs::write(&bad2, &good[..good.len() / 2]).unwrap();
    fails(
        alice_round2(&fx, &roster, &[&dir], &out),
        3,
        &[&alice],
        &[&bad2.display().to_string(), "not a passport package"],
    );
    assert_empty(&out);
}

#[test]
fn non_json_file_is_rejected_naming_it() {
    let (fx, roster, _r1) = after_round1();
    let alice = fx.m("alice").home.clone();
    let out = fx.fresh("out");
    let junk = fx.dir("bad").join("notes.txt");
    std::fs::write(&junk, "this is not JSON at all\n\x00\x01").unwrap();
    fails(
        alice_round2(&fx, &roster, &[&junk], &out),
        3,
        &[&alice],
        &[&junk.display().to_string(), "not a passport package"],
    );
    // Not even UTF-8.
    let binary = fx.dir("bad").join("blob.json");
    std::fs::write(&binary, [0xff, 0xfe, 0x00, 0x80, 0x7b]).unwrap();
    fails(
        alice_round2(&fx, &roster, &[&binary], &out),
        3,
        &[&alice],
        &[&binary.display().to_string(), "not UTF-8"],
    );
    // Empty file.
    let empty = fx.dir("bad").join("empty.json");
    std::fs::write(&empty, "").unwrap();
    fails(
        alice_round2(&fx, &roster, &[&empty], &out),
        3,
        &[&alice],
        &[&empty.display().to_string(), "empty file"],
    );
    assert_empty(&out);
}

#[test]
fn json_error_format() {
    let (fx, roster, r1) = after_round1();
    let alice = fx.m("alice").home.clone();
    let good = std::fs::read(util::pkg(&r1, "dkg-1-bob")).unwrap();
    let bad = fx.dir("bad").join("dkg-1-bob.json");
    std::fs::write(&bad, &good[..good.len() / 2]).unwrap();
    let out = fx.fresh("out");
    fails_json(
        alice_round2(&fx, &roster, &[&bad], &out),
        3,
        "rejected",
        &[&alice],
        &[&bad.display().to_string(), "not a passport package"],
    );
    // Exit 4 in JSON too.
    fails_json(
        alice_round2(&fx, &roster, &[&util::pkg(&r1, "dkg-1-carol")], &out),
        4,
        "incomplete",
        &[&alice],
        &["bob"],
    );
    assert_empty(&out);
}

// --- case 3: forged / tampered ------------------------------------------------------------

#[test]
fn tampered_content_is_rejected_as_forged() {
    let (fx, roster, r1) = after_round1();
    let alice = fx.m("alice").home.clone();
    let mut v: Value =
        serde_json::from_slice(&std::fs::read(util::pkg(&r1, "dkg-1-bob")).unwrap()).unwrap();
    let content = v["content"].as_str().unwrap().to_owned();
    // Flip one hex digit inside the payload; id and sig stay as they were.
    let pos = content
        .find(|c: char| c.is_ascii_hexdigit() && c != '0')
        .unwrap();
    let mut bytes = content.into_bytes();
    bytes[pos] = if bytes[pos] == b'1' { b'2' } else { b'1' };
    v["content"] = Value::String(String::from_utf8(bytes).unwrap());
    let dir = fx.dir("forged");
    let forged = dir.join("dkg-1-bob.json");
    std::fs::write(&forged, v.to_string()).unwrap();
    copy(&util::pkg(&r1, "dkg-1-carol"), &dir);
    let out = fx.fresh("out");
    fails(
        alice_round2(&fx, &roster, &[&forged], &out),
        3,
        &[&alice],
        &[&forged.display().to_string(), "forged or tampered", "bob ("],
    );
    // Found in a directory next to a good package: same verdict.
    fails(
        alice_round2(&fx, &roster, &[&dir], &out),
        3,
        &[&alice],
        &["forged or tampered"],
    );

    // A tampered tag (the claimed seat) is caught the same way.
    let mut v: Value =
        serde_json::from_slice(&std::fs::read(util::pkg(&r1, "dkg-1-bob")).unwrap()).unwrap();
    for t in v["tags"].as_array_mut().unwrap() {
        if t[0] == "member" {
            t[1] = Value::String("3".into());
        }
    }
    let retagged = fx.dir("retagged").join("dkg-1-bob.json");
    std::fs::write(&retagged, v.to_string()).unwrap();
    fails(
        alice_round2(&fx, &roster, &[&retagged], &out),
        3,
        &[&alice],
        &["forged or tampered"],
    );
    assert_empty(&out);
}

// --- case 4: non-member ---------------------------------------------------------------------

#[test]
fn package_from_non_member_is_rejected() {
    let (fx, roster_path, r1) = after_round1();
    let alice = fx.m("alice").home.clone();
    let roster = load_roster(&roster_path);
    let outsider = Keys::generate();
    // The outsider claims carol's seat with a well-formed round-1 package.
    let (_secret, pkg) =
        ceremony_dkg::part1(&roster, member_id(&roster, "carol"), &mut rand::rngs::OsRng).unwrap();
    let ev = seal_dkg1(
        &outsider,
        &Binding::of(&roster),
        member_id(&roster, "carol"),
        &pkg,
    );
    let dir = fx.dir("mixed");
    copy(&util::pkg(&r1, "dkg-1-bob"), &dir);
    let bad = dir.join("dkg-1-zed.json");
    write_event(&bad, &ev);
    let out = fx.fresh("out");
    let short = envelope::short_npub(&outsider.public_key());
    fails(
        alice_round2(&fx, &roster_path, &[&dir], &out),
        3,
        &[&alice],
        &[&bad.display().to_string(), "not a member", &short],
    );
    fails(
        alice_round2(&fx, &roster_path, &[&bad], &out),
        3,
        &[&alice],
        &["not a member"],
    );
    assert_empty(&out);
}

// --- cases 5, 6: wrong ceremony / roster -------------------------------------------------------

#[test]
fn package_from_another_ceremony_is_rejected() {
    let (fx, roster, r1) = after_round1();
    let alice = fx.m("alice").home.clone();
    // A second 2-of-3 DKG with the same members: a different ceremony.
    let roster2 = fx.roster("roster2.json", 2, &["alice", "bob", "carol"], None);
    let other = fx.dir("other");
    fx.dkg(&["bob", "carol"], "round1", &roster2, &other);
    let ceremony1 = load_roster(&roster).ceremony_id;
    let ceremony2 = load_roster(&roster2).ceremony_id;
    let out = fx.fresh("out");

    // Case 6: given explicitly next to a good package.
    let foreign = util::pkg(&other, "dkg-1-carol");
    fails(
        alice_round2(
            &fx,
            &roster,
            &[&util::pkg(&r1, "dkg-1-bob"), &foreign],
            &out,
        ),
        3,
        &[&alice],
        &[
            &foreign.display().to_string(),
            "carol",
            &ceremony2,
            &ceremony1,
            "not to this ceremony",
        ],
    );

    // Case 5: found in the input directory among the right ceremony's packages.
    let dir = fx.dir("mixed");
    copy(&util::pkg(&r1, "dkg-1-bob"), &dir);
    copy(&util::pkg(&r1, "dkg-1-carol"), &dir);
    let stray = dir.join("stray-dkg-1-bob.json");
    std::fs::copy(util::pkg(&other, "dkg-1-bob"), &stray).unwrap();
    fails(
        alice_round2(&fx, &roster, &[&dir], &out),
        3,
        &[&alice],
        &[
            &stray.display().to_string(),
            "package from bob",
            &ceremony2,
            "not to this ceremony",
        ],
    );
    assert_empty(&out);
}

#[test]
fn package_binding_another_roster_hash_is_rejected() {
    let (fx, roster_path, r1) = after_round1();
    let alice = fx.m("alice").home.clone();
    let roster = load_roster(&roster_path);
    // Same ceremony id, but bob's roster says something else (here: the purpose).
    let mut bobs_roster = roster.clone();
    bobs_roster.purpose = "a different purpose".into();
    let binding = Binding {
        ceremony: roster.ceremony_id.clone(),
        roster_hash: bobs_roster.hash_hex(),
    };
    let bob = fx.m("bob");
    let real = read_event(&util::pkg(&r1, "dkg-1-bob"));
    let payload: Value = serde_json::from_str(&real.content).unwrap();
    let ev = seal_dkg1(&bob.keys(), &binding, member_id(&roster, "bob"), &payload);
    let dir = fx.dir("mixed");
    copy(&util::pkg(&r1, "dkg-1-carol"), &dir);
    let bad = dir.join("dkg-1-bob.json");
    write_event(&bad, &ev);
    let out = fx.fresh("out");
    fails(
        alice_round2(&fx, &roster_path, &[&dir], &out),
        3,
        &[&alice],
        &[
            &bad.display().to_string(),
            "package from bob",
            "roster",
            &bobs_roster.fingerprint(),
            &roster.fingerprint(),
        ],
    );

    // The operator side of the same mistake: a roster file edited after round 1.
    let mut edited = roster.clone();
    edited.threshold = 3;
    let edited_path = fx.root().join("roster-edited.json");
    std::fs::write(&edited_path, edited.to_json_pretty()).unwrap();
    fails(
        alice_round2(&fx, &edited_path, &[&r1], &out),
        3,
        &[&alice],
        &["roster"],
    );
    assert_empty(&out);
}

// --- case 7: misaddressed packages -------------------------------------------------------------

/// alice, bob, carol with rounds 1 and 2 of a 2-of-3 DKG done, packages in `x/`.
fn after_round2() -> (Fx, PathBuf, PathBuf) {
    let fx = Fx::new(&["alice", "bob", "carol"]);
    let roster = fx.roster("roster.json", 2, &["alice", "bob", "carol"], None);
    let x = fx.dir("x");
    fx.dkg(&["alice", "bob", "carol"], "round1", &roster, &x);
    fx.dkg(&["alice", "bob", "carol"], "round2", &roster, &x);
    (fx, roster, x)
}

/// `bob dkg finish --roster R --in <inputs…> --out OUT`.
fn bob_finish(fx: &Fx, roster: &Path, inputs: &[&Path], out: &Path) -> Command {
    let mut c = fx.m("bob").cmd();
    c.args(["dkg", "finish", "--roster"])
        .arg(roster)
        .arg("--out")
        .arg(out);
    for i in inputs {
        c.arg("--in").arg(i);
    }
    c
}

/// Positive control for the misaddressed case below: naming the round-2 files addressed
/// to you explicitly (`--in FILE`, as the help text allows) must work.
#[test]
fn dkg_finish_accepts_explicit_round2_files() {
    let (fx, roster, x) = after_round2();
    let out = fx.dir("out");
    let c = bob_finish(
        &fx,
        &roster,
        &[
            &util::pkg(&x, "dkg-2-alice-to-bob"),
            &util::pkg(&x, "dkg-2-carol-to-bob"),
        ],
        &out,
    );
    json_ok(c);
    assert!(!util::pkgs(&out, "dkg-agree-bob").is_empty());
}

#[test]
fn dkg_package_for_another_recipient_is_rejected() {
    let (fx, roster, x) = after_round2();
    let bob = fx.m("bob").home.clone();
    let out = fx.fresh("out");

    // In a directory, packages for others are skipped: bob is still waiting for his own.
    let others = fx.dir("others");
    for f in [
        "dkg-2-alice-to-carol",
        "dkg-2-carol-to-alice",
        "dkg-2-bob-to-carol",
    ] {
        copy(&util::pkg(&x, f), &others);
    }
    fails(
        bob_finish(&fx, &roster, &[&others], &out),
        4,
        &[&bob],
        &["waiting for round-2 packages from alice, carol"],
    );
    assert_empty(&out);

    // alice's share for carol, handed to bob explicitly next to a good one.
    let for_carol = util::pkg(&x, "dkg-2-alice-to-carol");
    fails(
        bob_finish(
            &fx,
            &roster,
            &[&util::pkg(&x, "dkg-2-carol-to-bob"), &for_carol],
            &out,
        ),
        3,
        &[&bob],
        &[
            &for_carol.display().to_string(),
            "package from alice",
            "addressed to carol",
            "not to you",
        ],
    );
    // bob's own outgoing package addressed to carol.
    let own = util::pkg(&x, "dkg-2-bob-to-carol");
    fails(
        bob_finish(&fx, &roster, &[&own], &out),
        3,
        &[&bob],
        &["package from bob", "addressed to carol"],
    );
    assert_empty(&out);

    // Sanity: the untouched state still finishes from the full directory.
    json_ok(bob_finish(&fx, &roster, &[&x], &x));
}

#[test]
fn keygen_import_of_another_members_share_is_rejected() {
    let fx = Fx::new(&["alice", "bob", "carol", "dave"]);
    let roster = fx.roster(
        "dealer-roster.json",
        2,
        &["alice", "bob", "carol"],
        Some("dave"),
    );
    let deal = fx.dir("deal");
    let mut c = fx.m("dave").cmd();
    c.args(["keygen", "deal", "--roster"])
        .arg(&roster)
        .arg("--out")
        .arg(&deal);
    json_ok(c);
    let bob = fx.m("bob").home.clone();
    let carols = util::pkg(&deal, "dealer-share-carol");
    let mut c = fx.m("bob").cmd();
    c.args(["keygen", "import", "--roster"])
        .arg(&roster)
        .arg(&carols);
    fails(
        c,
        3,
        &[&bob],
        &[
            &carols.display().to_string(),
            "addressed to carol",
            "not to you",
        ],
    );
    // And bob's own share still imports afterwards.
    let mut c = fx.m("bob").cmd();
    c.args(["keygen", "import", "--roster"])
        .arg(&roster)
        .arg(util::pkg(&deal, "dealer-share-bob"));
    json_ok(c);
}

// --- case 8: equivocation ---------------------------------------------------------------------

#[test]
fn two_different_round1_packages_from_one_member_are_rejected() {
    let (fx, roster_path, r1) = after_round1();
    let alice = fx.m("alice").home.clone();
    let roster = load_roster(&roster_path);
    let bob = fx.m("bob");
    let seat = member_id(&roster, "bob");
    let (_secret, pkg) = ceremony_dkg::part1(&roster, seat, &mut rand::rngs::OsRng).unwrap();
    let second = seal_dkg1(&bob.keys(), &Binding::of(&roster), seat, &pkg);
    let dir = fx.dir("both");
    copy(&util::pkg(&r1, "dkg-1-bob"), &dir);
    copy(&util::pkg(&r1, "dkg-1-carol"), &dir);
    let second_path = dir.join("dkg-1-bob-again.json");
    write_event(&second_path, &second);
    let out = fx.fresh("out");
    fails(
        alice_round2(&fx, &roster_path, &[&dir], &out),
        3,
        &[&alice],
        &[
            "bob sent two different",
            "DKG round-1 package",
            &second.id.to_hex()[..12],
        ],
    );
    assert_empty(&out);

    // After alice used bob's first package in round 2, the second one shows up at finish.
    json_ok(alice_round2(&fx, &roster_path, &[&r1], &r1));
    fx.dkg(&["bob", "carol"], "round2", &roster_path, &r1);
    let late = fx.dir("late");
    for f in ["dkg-2-bob-to-alice", "dkg-2-carol-to-alice"] {
        copy(&util::pkg(&r1, f), &late);
    }
    copy(&second_path, &late);
    let mut c = fx.m("alice").cmd();
    c.args(["dkg", "finish", "--roster"])
        .arg(&roster_path)
        .arg("--in")
        .arg(&late)
        .arg("--out")
        .arg(&out);
    fails(
        c,
        3,
        &[&alice],
        &["bob sent a different round-1 package", "equivocated"],
    );
    assert_empty(&out);
}

// --- case 9: wrong threshold ----------------------------------------------------------------------

#[test]
fn round1_package_for_wrong_threshold_is_rejected() {
    let (fx, roster_path, r1) = after_round1();
    let alice = fx.m("alice").home.clone();
    let roster = load_roster(&roster_path);
    let seat = member_id(&roster, "bob");
    let mut t3 = roster.clone();
    t3.threshold = 3;
    let (_secret, pkg) = ceremony_dkg::part1(&t3, seat, &mut rand::rngs::OsRng).unwrap();
    let ev = seal_dkg1(&fx.m("bob").keys(), &Binding::of(&roster), seat, &pkg);
    let dir = fx.dir("t3");
    copy(&util::pkg(&r1, "dkg-1-carol"), &dir);
    write_event(&dir.join("dkg-1-bob.json"), &ev);
    let out = fx.fresh("out");
    fails(
        alice_round2(&fx, &roster_path, &[&dir], &out),
        3,
        &[&alice],
        &["bob", "threshold 3", "the roster says 2"],
    );
    assert_empty(&out);
}

// --- case 13: incomplete -------------------------------------------------------------------------

#[test]
fn round2_with_missing_round1_packages_is_incomplete() {
    let (fx, roster, r1) = after_round1();
    let alice = fx.m("alice").home.clone();
    let out = fx.fresh("out");
    fails(
        alice_round2(&fx, &roster, &[&util::pkg(&r1, "dkg-1-carol")], &out),
        4,
        &[&alice],
        &["waiting for round-1 packages from bob"],
    );
    // Only her own package: both others are named.
    let own_only = fx.dir("own");
    copy(&util::pkg(&r1, "dkg-1-alice"), &own_only);
    fails(
        alice_round2(&fx, &roster, &[&own_only], &out),
        4,
        &[&alice],
        &["bob, carol"],
    );
    assert_empty(&out);
    // Once everything is there, the unchanged state completes round 2.
    json_ok(alice_round2(&fx, &roster, &[&r1], &out));
}

// --- case 10: nonce reuse -------------------------------------------------------------------------

#[test]
fn consumed_nonce_is_never_used_twice() {
    let fx = Fx::new(&["alice", "bob", "carol"]);
    let roster = fx.roster("roster.json", 2, &["alice", "bob", "carol"], None);
    let group = fx.full_dkg(&roster, &fx.dir("dkg"));
    let s = fx.dir("s");
    fx.commit("alice", &group, 1, &s);
    fx.commit("bob", &group, 1, &s);
    let (req, _) = fx.request("alice", &group, &"11".repeat(32), &s, &s);
    fx.share("bob", &req, &s);
    let bob = fx.m("bob").home.clone();

    // Same request again.
    let out = fx.fresh("out");
    fails(
        fx.share_cmd("bob", &req, &out),
        5,
        &[&bob],
        &["already used"],
    );
    fails_json(
        fx.share_cmd("bob", &req, &out),
        5,
        "refused",
        &[&bob],
        &["already used"],
    );
    assert_empty(&out);

    // A second coordinator that never saw the first request builds a new one from the
    // same commitment file; bob must still refuse.
    let carol = fx.m("carol").home.clone();
    let (req2, _) = fx.request("carol", &group, &"22".repeat(32), &s, &fx.dir("s2"));
    fails(
        fx.share_cmd("bob", &req2, &out),
        5,
        &[&bob, &carol],
        &["already used"],
    );
    assert_empty(&out);
}

// --- cases 11, 14: aggregate ------------------------------------------------------------------------

#[test]
fn aggregate_rejects_foreign_misreferenced_and_invalid_shares() {
    let fx = Fx::new(&["alice", "bob", "carol", "dave"]);
    let roster = fx.roster("roster.json", 2, &["alice", "bob", "carol"], None);
    let group = fx.full_dkg(&roster, &fx.dir("dkg"));
    let s = fx.dir("s");
    fx.commit("alice", &group, 2, &s);
    fx.commit("bob", &group, 2, &s);
    let r1 = fx.dir("r1");
    let r2 = fx.dir("r2");
    let (req1, rid1) = fx.request("alice", &group, &"11".repeat(32), &s, &r1);
    let (req2, _rid2) = fx.request("alice", &group, &"22".repeat(32), &s, &r2);
    let alice_share = fx.share("alice", &req1, &r1);
    let bob_share = fx.share("bob", &req1, &r1);
    let bob_share2 = fx.share("bob", &req2, &r2);
    let alice = fx.m("alice").home.clone();
    let aggregate = |inputs: &[&Path]| {
        let mut c = fx.m("alice").cmd();
        c.args(["sign", "aggregate", "--request"]).arg(&req1);
        for i in inputs {
            c.arg("--in").arg(i);
        }
        c
    };

    // Case 11: bob's share for another request of the same group, given explicitly.
    fails(
        aggregate(&[&alice_share, &bob_share2]),
        3,
        &[&alice],
        &[
            &bob_share2.display().to_string(),
            "from bob",
            "answers another request",
        ],
    );

    // Case 11: a share from another group (a dealer group with the same members).
    let dealer_roster = fx.roster(
        "dealer-roster.json",
        2,
        &["alice", "bob", "carol"],
        Some("dave"),
    );
    let deal = fx.dir("deal");
    let mut c = fx.m("dave").cmd();
    c.args(["keygen", "deal", "--roster"])
        .arg(&dealer_roster)
        .arg("--out")
        .arg(&deal);
    let group2 = json_ok(c)["group"].as_str().unwrap().to_owned();
    for n in ["alice", "bob"] {
        let mut c = fx.m(n).cmd();
        c.args(["keygen", "import", "--roster"])
            .arg(&dealer_roster)
            .arg(util::pkg(&deal, &format!("dealer-share-{n}")));
        json_ok(c);
    }
    let g2 = fx.dir("g2");
    fx.commit("alice", &group2, 1, &g2);
    fx.commit("bob", &group2, 1, &g2);
    let (g2req, _) = fx.request("alice", &group2, &"33".repeat(32), &g2, &g2);
    let foreign = fx.share("bob", &g2req, &g2);
    let ceremony2 = load_roster(&dealer_roster).ceremony_id;
    fails(
        aggregate(&[&alice_share, &foreign]),
        3,
        &[&alice],
        &[
            &foreign.display().to_string(),
            "from bob",
            &ceremony2,
            "not to this ceremony",
        ],
    );

    // Case 14: bob's share for request 2, re-wrapped by bob as an answer to request 1:
    // the envelope is valid, the FROST share is not.
    let roster1 = load_roster(&roster);
    let mut payload: Value = serde_json::from_str(&read_event(&bob_share2).content).unwrap();
    payload["request"] = Value::String(rid1.clone());
    let rewrapped = envelope::seal(
        &fx.m("bob").keys(),
        Draft {
            binding: &Binding::of(&roster1),
            round: Round::SignShare,
            from: Some(member_id(&roster1, "bob")),
            to: None,
            reference: Some(rid1.clone()),
            payload: &payload,
        },
    )
    .unwrap();
    let bad_dir = fx.dir("bad-share");
    copy(&alice_share, &bad_dir);
    write_event(&bad_dir.join(bob_share.file_name().unwrap()), &rewrapped);
    fails(
        aggregate(&[&bad_dir]),
        3,
        &[&alice],
        &["bob", "invalid signature share"],
    );
    fails_json(
        aggregate(&[&bad_dir]),
        3,
        "rejected",
        &[&alice],
        &["bob", "invalid signature share"],
    );

    // A share payload that names another request than its `e` tag.
    let mut payload2: Value = serde_json::from_str(&read_event(&bob_share).content).unwrap();
    payload2["request"] = Value::String("ab".repeat(32));
    let mismatched = envelope::seal(
        &fx.m("bob").keys(),
        Draft {
            binding: &Binding::of(&roster1),
            round: Round::SignShare,
            from: Some(member_id(&roster1, "bob")),
            to: None,
            reference: Some(rid1.clone()),
            payload: &payload2,
        },
    )
    .unwrap();
    let mm = fx.dir("mismatch").join("sign-share-bob.json");
    write_event(&mm, &mismatched);
    fails(
        aggregate(&[&alice_share, &mm]),
        3,
        &[&alice],
        &["bob", "another request"],
    );

    // Sanity: the real shares still aggregate.
    let out = aggregate(&[&r1]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn keygen_import_with_another_roster_is_rejected() {
    let fx = Fx::new(&["alice", "bob", "carol", "dave"]);
    let roster_a = fx.roster("roster-a.json", 2, &["alice", "bob", "carol"], Some("dave"));
    let roster_b = fx.roster("roster-b.json", 2, &["alice", "bob", "carol"], Some("dave"));
    let deal = fx.dir("deal-a");
    let mut c = fx.m("dave").cmd();
    c.args(["keygen", "deal", "--roster"])
        .arg(&roster_a)
        .arg("--out")
        .arg(&deal);
    json_ok(c);
    let bob = fx.m("bob").home.clone();
    let pkg = util::pkg(&deal, "dealer-share-bob");
    let import = |roster: &Path| {
        let mut c = fx.m("bob").cmd();
        c.args(["keygen", "import", "--roster"])
            .arg(roster)
            .arg(&pkg);
        c
    };
    // Another dealer ceremony's roster.
    let ca = load_roster(&roster_a).ceremony_id;
    let cb = load_roster(&roster_b).ceremony_id;
    fails(
        import(&roster_b),
        3,
        &[&bob],
        &[
            &pkg.display().to_string(),
            "the dealer",
            &ca,
            &cb,
            "not to this ceremony",
        ],
    );
    // Same ceremony id, roster altered (threshold): the binding no longer matches.
    let mut edited = load_roster(&roster_a);
    edited.threshold = 3;
    let edited_path = fx.root().join("roster-a-edited.json");
    std::fs::write(&edited_path, edited.to_json_pretty()).unwrap();
    fails(
        import(&edited_path),
        3,
        &[&bob],
        &[
            "the dealer",
            "binds roster",
            "members disagree on the roster",
        ],
    );
    json_ok(import(&roster_a));
}

// --- case 12: passphrases ----------------------------------------------------------------------------

#[test]
fn wrong_or_missing_passphrase_is_locked() {
    let fx = Fx::new(&["alice"]);
    let pat = fx.root().join("pat");
    let mut c = passport(&pat);
    c.arg("init").env("PASSPORT_PASSPHRASE", "right");
    let pat_npub = json_ok(c)["npub"].as_str().unwrap().to_owned();
    let roster = fx.root().join("roster.json");
    let mut c = bare();
    c.args(["roster", "new", "--threshold", "2", "-o"])
        .arg(&roster)
        .arg("--member")
        .arg(format!("pat={pat_npub}"))
        .arg("--member")
        .arg(format!("alice={}", fx.m("alice").npub));
    json_ok(c);
    let out = fx.fresh("out");
    let round1 = || {
        let mut c = passport(&pat);
        c.args(["dkg", "round1", "--roster"])
            .arg(&roster)
            .arg("--out")
            .arg(&out);
        c
    };
    let mut c = round1();
    c.env("PASSPORT_PASSPHRASE", "wrong");
    fails(
        c,
        6,
        &[&pat],
        &["cannot unlock the keystore", "wrong passphrase"],
    );
    assert_empty(&out);

    // No passphrase anywhere and no terminal (stdin is not a tty under the test harness).
    fails(
        round1(),
        6,
        &[&pat],
        &["no passphrase", "PASSPORT_PASSPHRASE"],
    );
    assert_empty(&out);

    // An empty --passphrase-file is no passphrase either.
    let empty = fx.root().join("empty-pass");
    std::fs::write(&empty, "").unwrap();
    let mut c = round1();
    c.arg("--passphrase-file").arg(&empty);
    fails(c, 6, &[&pat], &["passphrase file is empty"]);
    assert_empty(&out);

    // Sanity: the right passphrase still works on the unchanged home.
    let mut c = round1();
    c.env("PASSPORT_PASSPHRASE", "right");
    json_ok(c);
}

// --- issue 10: what is shown and what is written ---------------------------------------------

/// `inspect` vouches only for real events: malformed JSON with a `sig` (kind as a
/// string, a 5-character pubkey), a tampered id and a foreign signature are rejected
/// (exit 3), where it used to print "signed Nostr event" and exit 0.
#[test]
fn inspect_rejects_what_is_not_a_valid_event() {
    let fx = Fx::new(&["alice"]);
    let root = fx.root();
    let keys = fx.m("alice").keys();
    let sign = |text: &str| {
        nostr::EventBuilder::text_note(text)
            .sign_with_keys(&keys)
            .unwrap()
    };
    let good = sign("gm");
    let good_path = root.join("good.json");
    write_event(&good_path, &good);
    let mut c = bare();
    c.arg("inspect").arg(&good_path);
    let v = json_ok(c);
    assert_eq!(v["kind"], "signed Nostr event", "{v}");
    assert_eq!(v["details"]["valid"], true, "{v}");
    assert_eq!(v["details"]["id"], good.id.to_hex(), "{v}");

    let base: Value = serde_json::from_str(&good.as_json()).unwrap();
    let with = |f: &dyn Fn(&mut Value)| {
        let mut v = base.clone();
        f(&mut v);
        v
    };
    let other_sig = sign("another note").sig.to_string();
    let cases: Vec<(&str, Value, &str)> = vec![
        (
            "kind-as-string",
            with(&|v| v["kind"] = serde_json::json!("1")),
            "not a valid Nostr event",
        ),
        (
            "pubkey-of-5",
            with(&|v| v["pubkey"] = serde_json::json!("abcde")),
            "not a valid Nostr event",
        ),
        (
            "tampered-content",
            with(&|v| v["content"] = serde_json::json!("gn")),
            "id is not the hash of its content",
        ),
        (
            "foreign-signature",
            with(&|v| v["sig"] = serde_json::json!(other_sig)),
            "signature does not verify",
        ),
    ];
    for (name, v, needle) in cases {
        let p = root.join(format!("{name}.json"));
        std::fs::write(&p, v.to_string()).unwrap();
        let mut c = bare();
        c.arg("inspect").arg(&p);
        fails(
            c,
            3,
            &[],
            &[&p.display().to_string(), "not a valid Nostr event", needle],
        );
        let mut c = bare();
        c.arg("inspect").arg(&p);
        fails_json(c, 3, "rejected", &[], &["not a valid Nostr event", needle]);
        // `verify` agrees.
        let mut c = bare();
        c.arg("verify").arg(&p);
        util::expect_error_line(&mut c, 3, &[&p.display().to_string()]);
    }

    // A raw signature that does not verify is not described as one either.
    let raw = root.join("raw.json");
    std::fs::write(
        &raw,
        serde_json::json!({
            "pubkey": keys.public_key().to_hex(),
            "message": "11".repeat(32),
            "signature": "22".repeat(64),
        })
        .to_string(),
    )
    .unwrap();
    let mut c = bare();
    c.arg("inspect").arg(&raw);
    fails(c, 3, &[], &["not a valid raw signature"]);
}

/// A dealt 2-of-2 group of alice (also the dealer) and bob, with a raw-message request
/// and both shares: (fx, group, request file, share dir).
fn signed_shares() -> (Fx, String, PathBuf, PathBuf) {
    let fx = Fx::new(&["alice", "bob"]);
    let roster = fx.roster("roster.json", 2, &["alice", "bob"], Some("alice"));
    let deal = fx.dir("deal");
    let mut c = fx.m("alice").cmd();
    c.args(["keygen", "deal", "--roster"])
        .arg(&roster)
        .arg("--out")
        .arg(&deal);
    let group = json_ok(c)["group"].as_str().unwrap().to_owned();
    for n in ["alice", "bob"] {
        let mut c = fx.m(n).cmd();
        c.args(["keygen", "import", "--roster"])
            .arg(&roster)
            .arg(util::pkg(&deal, &format!("dealer-share-{n}")));
        json_ok(c);
    }
    let s = fx.dir("s");
    fx.commit("alice", &group, 1, &s);
    fx.commit("bob", &group, 1, &s);
    let (req, _) = fx.request("alice", &group, &"44".repeat(32), &s, &s);
    fx.share("alice", &req, &s);
    fx.share("bob", &req, &s);
    (fx, group, req, s)
}

/// `sign aggregate -o FILE` used to replace an existing FILE silently.
#[test]
fn aggregate_output_never_replaces_a_file_silently() {
    let (fx, _group, req, s) = signed_shares();
    let alice = fx.m("alice").home.clone();
    let precious = fx.root().join("precious.json");
    std::fs::write(&precious, "not to be lost\n").unwrap();
    let aggregate = |out: &Path| {
        let mut c = fx.m("alice").cmd();
        c.args(["sign", "aggregate", "--request"])
            .arg(&req)
            .arg("--in")
            .arg(&s)
            .arg("-o")
            .arg(out);
        c
    };
    fails(
        aggregate(&precious),
        5,
        &[&alice, &s],
        &[&precious.display().to_string(), "exists", "--force"],
    );
    fails_json(
        aggregate(&precious),
        5,
        "refused",
        &[&alice, &s],
        &[&precious.display().to_string(), "--force"],
    );
    assert_eq!(
        std::fs::read_to_string(&precious).unwrap(),
        "not to be lost\n"
    );

    // A new file is written; --force replaces an existing one.
    let fresh = fx.root().join("fresh.json");
    json_ok(aggregate(&fresh));
    let mut c = aggregate(&precious);
    c.arg("--force");
    json_ok(c);
    for f in [&fresh, &precious] {
        let v: Value = serde_json::from_slice(&std::fs::read(f).unwrap()).unwrap();
        assert_eq!(v["message"], "44".repeat(32), "{v}");
    }
}

/// One npub holding t seats can sign alone; `roster new` refuses that unless asked
/// (the CI layout), and every ceremony that loads such a roster says so.
#[test]
fn roster_where_one_key_can_sign_alone_needs_the_flag() {
    let fx = Fx::new(&["alice", "bob"]);
    let (a, b) = (fx.m("alice"), fx.m("bob"));
    let path = fx.root().join("ci.json");
    let new = || {
        let mut c = bare();
        c.args(["roster", "new", "-t", "2", "--dealer", &a.npub, "-o"])
            .arg(&path)
            .arg("-m")
            .arg(format!("ci={}", a.npub))
            .arg("-m")
            .arg(format!("ci-b={}", a.npub))
            .arg("-m")
            .arg(format!("offsite={}", b.npub));
        c
    };
    fails(
        new(),
        5,
        &[],
        &[
            &a.npub,
            "2 of the 3 seats",
            "ci, ci-b",
            "--allow-shared-seats",
        ],
    );
    assert!(!path.exists(), "nothing written");

    let mut c = new();
    c.arg("--allow-shared-seats");
    let out = c.output().unwrap();
    assert!(out.status.success(), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("WARNING") && stderr.contains(&a.npub) && stderr.contains("sign alone"),
        "{stderr}"
    );

    // roster show: npubs in labelled columns, whose seats are this home's, the warning.
    let mut c = a.cmd();
    c.args(["roster", "show"]).arg(&path);
    let out = c.output().unwrap();
    assert!(out.status.success(), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("WARNING"), "{stderr}");
    assert!(stderr.contains("  seat  name     npub"), "{stderr}");
    assert!(
        stderr.contains(&format!("  1     ci       {}  <- you", a.npub))
            && stderr.contains(&format!("  2     ci-b     {}  <- you", a.npub))
            && stderr.contains(&format!("  3     offsite  {}\n", b.npub)),
        "{stderr}"
    );
    assert!(
        stderr.contains("you are seat 1 (ci), seat 2 (ci-b)"),
        "{stderr}"
    );
    let mut c = b.cmd();
    c.args(["roster", "show"]).arg(&path);
    let v = json_ok(c);
    assert_eq!(v["you"], serde_json::json!([3]), "{v}");
    assert_eq!(v["seats"][1]["npub"], a.npub.as_str(), "{v}");
    assert_eq!(v["signs_alone"], serde_json::json!([a.npub]), "{v}");

    // Loading it for a ceremony warns too.
    let deal = fx.dir("deal");
    let mut c = a.cmd();
    c.args(["keygen", "deal", "--roster"])
        .arg(&path)
        .arg("--out")
        .arg(&deal);
    let out = c.output().unwrap();
    assert!(out.status.success(), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("WARNING"));
    let mut c = b.cmd();
    c.args(["keygen", "import", "--roster"])
        .arg(&path)
        .arg(util::pkg(&deal, "dealer-share-offsite"));
    let out = c.output().unwrap();
    assert!(out.status.success(), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("WARNING"));

    // Two seats each of a 3-of-5 cannot sign alone: no flag needed, no warning.
    let carol = make_member(fx.root(), "carol");
    let ok = fx.root().join("ok.json");
    let mut c = bare();
    c.args(["roster", "new", "-t", "3", "-o"]).arg(&ok);
    for (n, k) in [
        ("p", &a.npub),
        ("q", &a.npub),
        ("r", &b.npub),
        ("s", &b.npub),
        ("u", &carol.npub),
    ] {
        c.arg("-m").arg(format!("{n}={k}"));
    }
    let out = c.output().unwrap();
    assert!(out.status.success(), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("WARNING"), "{stderr}");
}

/// Text from files reaches the terminal escaped: a roster purpose holding a newline
/// cannot print a second, forged fingerprint line; a file name holding escape
/// sequences cannot repaint the error line that quotes it.
#[test]
fn untrusted_text_in_reports_and_errors_is_escaped() {
    let fx = Fx::new(&["alice", "bob"]);
    let (a, b) = (fx.m("alice"), fx.m("bob"));
    let path = fx.root().join("roster.json");
    let mut c = bare();
    c.args(["roster", "new", "-t", "2", "-o"])
        .arg(&path)
        .arg("--purpose")
        .arg("ops\n  fingerprint: 0000-0000-0000-0000-0000  <- compare this\u{202e}")
        .arg("-m")
        .arg(format!("alice={}", a.npub))
        .arg("-m")
        .arg(format!("bob={}", b.npub));
    json_ok(c);
    let mut c = bare();
    c.args(["roster", "show"]).arg(&path);
    let out = c.output().unwrap();
    assert!(out.status.success(), "{out:?}");
    let stderr = String::from_utf8(out.stderr).unwrap();
    let fingerprints: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("  fingerprint:"))
        .collect();
    assert_eq!(fingerprints.len(), 1, "{stderr}");
    assert!(!fingerprints[0].contains("0000-0000"), "{stderr}");
    assert!(
        stderr.contains("  purpose:     ops⟨LF⟩  fingerprint: 0000-0000-0000-0000-0000  <- compare this⟨U+202E⟩"),
        "{stderr}"
    );
    assert!(!stderr.contains('\u{202e}'), "{stderr}");

    let evil = fx.root().join("x\x1b[2K\rpassport: all good.json");
    std::fs::write(&evil, "not json").unwrap();
    let mut c = bare();
    c.arg("inspect").arg(&evil);
    let line = fails(c, 3, &[], &["x⟨ESC⟩[2K⟨CR⟩passport: all good.json"]);
    assert!(!line.chars().any(char::is_control), "{line:?}");
}

/// Messages name what the operator knows: a share whose sealed file is gone is named by
/// group and member (never `shares/<hex>.1`), and `dkg finish` run again on a confirmed
/// group says "active", not "(pending)".
#[test]
fn a_missing_share_is_named_by_group_and_member_and_finish_tells_the_real_status() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let ms: Vec<util::Member> = ["alice", "bob", "carol"]
        .iter()
        .map(|n| util::make_member(root, n))
        .collect();
    let refs: Vec<&util::Member> = ms.iter().collect();
    let roster = util::write_roster(root, "roster.json", 2, &refs, None);
    let x = root.join("dkg");
    let group = util::dkg_files(&refs, &roster, &x);
    let mut c = passport(&ms[1].home);
    c.args(["dkg", "finish", "--roster"])
        .arg(&roster)
        .arg("--in")
        .arg(&x)
        .arg("--out")
        .arg(&x);
    let v = json_ok(c);
    assert_eq!(
        (v["already_done"].as_bool(), v["status"].as_str()),
        (Some(true), Some("active"))
    );

    for e in std::fs::read_dir(ms[0].home.join("keystore/shares")).unwrap() {
        std::fs::remove_file(e.unwrap().path()).unwrap();
    }
    let mut c = passport(&ms[0].home);
    c.args(["sign", "commit", "--group", &group, "--out"])
        .arg(root.join("s"));
    let line = fails(
        c,
        1,
        &[&ms[0].home],
        &[
            "no share of",
            &group,
            "for alice",
            "backup restore",
            "repair",
        ],
    );
    assert!(!line.contains("shares/"), "{line}");
}

/// An empty passphrase at `init` is refused with a reason on the terminal, then the
/// prompt asks again.
#[test]
fn an_empty_init_passphrase_is_refused_with_a_reason() {
    use util::tmux::{sh_quote, Tmux};
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("h");
    let cmd = format!(
        "env -u PASSPORT_HOME -u PASSPORT_PASSPHRASE -u PASSPORT_AGE_IDENTITY {} --home {} init; echo \"exit status $?\"; read x",
        sh_quote(&assert_cmd::cargo::cargo_bin("passport")),
        sh_quote(&home)
    );
    let t = Tmux::start("empty-pass", &cmd);
    t.wait_for("New keystore passphrase", "the passphrase prompt");
    t.send("Enter");
    t.wait_for("Repeat passphrase", "the confirmation prompt");
    t.send("Enter");
    t.wait_for("an empty passphrase protects nothing", "the reason");
    assert!(!home.join("config.json").exists());
    for _ in 0..2 {
        t.send("not empty");
        t.send("Enter");
    }
    t.wait_for("exit status 0", "init with a real passphrase");
    assert!(home.join("config.json").exists());
}

/// A variable set but empty (`export PASSPORT_HOME=`) means unset, as for most tools:
/// clap used to fail every command with "a value is required for '--home'".
#[test]
fn an_empty_passport_home_variable_means_unset() {
    let tmp = tempfile::tempdir().unwrap();
    let m = util::make_member(tmp.path(), "alice");
    let mut c = passport(&m.home);
    c.env("PASSPORT_HOME", "")
        .env("PASSPORT_VIA_TIMEOUT", "")
        .arg("id");
    let out = c.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), m.npub);
    let mut c = bare();
    c.env("PASSPORT_HOME", "")
        .env("HOME", tmp.path().join("nohome"))
        .arg("id");
    util::expect_error_line(&mut c, 1, &["no passport home at", ".passport"]);
}
