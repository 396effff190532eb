//! A large ceremony says when a DKG step is long: at n = 30 part 3 alone is O(n t)
//! scalar multiplications per member, so the operator sees that work is under way.

use nostr::ToBech32;

use crate::util::*;

/// `me`'s round-2 attempt in a ceremony of `n` (t = ceil(2n/3)) whose other members
/// have sent nothing: it fails for want of their round-1 packages, after saying (or
/// not) that a long step starts. Returns the stderr.
fn round2_stderr(n: u16) -> String {
    let dir = tempfile::tempdir().unwrap();
    let me = make_member(dir.path(), "m1");
    let others: Vec<Member> = (2..=n)
        .map(|i| Member {
            name: format!("m{i}"),
            home: dir.path().join(format!("m{i}")),
            npub: nostr::Keys::generate().public_key().to_bech32().unwrap(),
        })
        .collect();
    let all: Vec<&Member> = std::iter::once(&me).chain(others.iter()).collect();
    let roster = write_roster(dir.path(), "roster.json", (2 * n).div_ceil(3), &all, None);
    let packages = dir.path().join("packages");
    std::fs::create_dir(&packages).unwrap();
    let mut c = passport(&me.home);
    c.args(["dkg", "round1", "--roster"])
        .arg(&roster)
        .arg("--out")
        .arg(&packages);
    json_ok(c);
    let out = passport(&me.home)
        .args(["dkg", "round2", "--roster"])
        .arg(&roster)
        .arg("--in")
        .arg(&packages)
        .arg("--out")
        .arg(&packages)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        !out.status.success(),
        "round 2 without the others: {stderr}"
    );
    assert!(stderr.contains("m2"), "names a missing member: {stderr}");
    stderr
}

#[test]
fn a_large_dkg_says_a_long_step_is_under_way_and_a_small_one_does_not() {
    let large = round2_stderr(30);
    assert!(
        large.contains(
            "passport: checking the round-1 packages, making the shares (n = 30, t = 20)…"
        ),
        "{large}"
    );
    let small = round2_stderr(3);
    assert!(!small.contains("making the shares"), "{small}");
}
