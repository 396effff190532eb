//! Rounds carried over `--via`: a real relay on loopback (nostr-relay-builder) and
//! `passport serve`, each member a separate process with its own home.

mod util;

use util::*;

fn dkg_run(relay_or_url: &str, roster: &std::path::Path, m: &Member) -> std::process::Command {
    let mut c = spawn_cmd(&m.home);
    c.args([
        "--json",
        "dkg",
        "run",
        "--timeout",
        "60",
        "--via",
        relay_or_url,
        "--roster",
    ])
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
    let roster = write_roster(
        dir.path(),
        "roster.json",
        2,
        &ms.iter().collect::<Vec<_>>(),
        None,
    );
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
    // Signing through the same relay: alice coordinates (and signs), bob answers.
    let tpl = dir.path().join("note.json");
    std::fs::write(&tpl, r#"{"kind":1,"content":"over a relay","tags":[]}"#).unwrap();
    let mut coord = spawn_cmd(&ms[0].home);
    coord
        .args([
            "--json",
            "sign",
            "run",
            "--yes",
            "--timeout",
            "60",
            "--via",
            &relay.url,
        ])
        .args(["--group", &groups[0], "--event"])
        .arg(&tpl);
    let mut signer = spawn_cmd(&ms[1].home);
    signer
        .args([
            "--json",
            "sign",
            "run",
            "--yes",
            "--timeout",
            "60",
            "--via",
            &relay.url,
        ])
        .args(["--group", &groups[0]]);
    let outs = run_parallel(vec![coord, signer]);
    let c = json_of(&outs[0]);
    let s = json_of(&outs[1]);
    assert_eq!(c["role"], "coordinator");
    assert_eq!(s["role"], "signer");
    assert_eq!(s["signed_by_me"], serde_json::json!(["bob"]));
    assert_eq!(c["request"], s["request"]);
    let event = &c["result"]["event"];
    assert_eq!(event["content"], "over a relay");
    assert_eq!(event["pubkey"].as_str().unwrap(), npub_hex(&groups[0]));
    verify_event_independently(event);
    drop(relay);
}
