//! Rounds carried over `--via`: a real relay on loopback (nostr-relay-builder) and
//! `passport serve`, each member a separate process with its own home.

mod util;

use util::*;

fn dkg_run(relay_or_url: &str, roster: &std::path::Path, m: &Member) -> std::process::Command {
    let mut c = spawn_cmd(&m.home);
    c.args(["--json", "dkg", "run", "--timeout", "60", "--via", relay_or_url, "--roster"])
        .arg(roster);
    c
}

#[test]
fn dkg_run_through_a_relay() {
    let relay = start_relay();
    let dir = tempfile::tempdir().unwrap();
    let ms: Vec<Member> = ["alice", "bob", "carol"]
        .iter()
        .map(|n| make_member(dir.path(), n))
        .collect();
    let roster = write_roster(dir.path(), "roster.json", 2, &ms.iter().collect::<Vec<_>>(), None);
    let outs = run_parallel(ms.iter().map(|m| dkg_run(&relay.url, &roster, m)).collect());
    let groups: Vec<String> = outs
        .iter()
        .map(|o| json_of(o)["group"].as_str().unwrap().to_owned())
        .collect();
    assert!(groups[0].starts_with("npub1"));
    assert!(groups.iter().all(|g| g == &groups[0]), "{groups:?}");
    // Each home now holds an active share of that group.
    for m in &ms {
        let v = json_ok({
            let mut c = passport(&m.home);
            c.args(["group", "list"]);
            c
        });
        assert!(v.to_string().contains(&groups[0]), "{v}");
    }
    drop(relay);
}
