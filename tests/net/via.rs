//! Rounds carried over `--via`: a real relay on loopback (nostr-relay-builder) and
//! `passport serve`, each member a separate process with its own home.

use crate::util;

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

/// alice, bob and carol, each with a home, and their 2-of-3 DKG roster.
fn three_members(root: &std::path::Path) -> (Vec<Member>, std::path::PathBuf) {
    let ms: Vec<Member> = ["alice", "bob", "carol"]
        .iter()
        .map(|n| make_member(root, n))
        .collect();
    let roster = write_roster(root, "roster.json", 2, &ms.iter().collect::<Vec<_>>(), None);
    (ms, roster)
}

#[test]
fn dkg_run_through_a_relay() {
    let relay = start_relay();
    let dir = tempfile::tempdir().unwrap();
    let (ms, roster) = three_members(dir.path());
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

fn ok(home: &std::path::Path, args: &[&str]) -> serde_json::Value {
    let mut c = passport(home);
    c.args(args);
    json_ok(c)
}

/// Every single-step round command takes `--via`: dealt keys, a refresh, a repair and
/// the four signing steps, all through one relay, each member in its own home.
#[test]
fn every_round_command_takes_via() {
    let relay = start_relay();
    let via = relay.url.as_str();
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let dealer = make_member(root, "dealer");
    let ms: Vec<Member> = ["alice", "bob", "carol"]
        .iter()
        .map(|n| make_member(root, n))
        .collect();
    let (alice, bob, carol) = (&ms[0], &ms[1], &ms[2]);
    let roster = write_roster(
        root,
        "roster.json",
        2,
        &[alice, bob, carol],
        Some(&dealer.npub),
    );
    let r = roster.to_str().unwrap();

    // Trusted dealer: packages go to the relay, members fetch their own.
    let out = root.join("dealer-out");
    let v = ok(
        &dealer.home,
        &[
            "keygen",
            "deal",
            "--roster",
            r,
            "--via",
            via,
            "--out",
            out.to_str().unwrap(),
        ],
    );
    let group = v["group"].as_str().unwrap().to_owned();
    assert_eq!(v["packages"].as_array().unwrap().len(), 3);
    assert!(v["packages"][0]
        .as_str()
        .unwrap()
        .contains(via.trim_end_matches('/')));
    assert!(
        util::pkgs(&out, "dealer-share-alice").is_empty(),
        "no share file when sent"
    );
    for m in &ms {
        let v = ok(&m.home, &["keygen", "import", "--roster", r, "--via", via]);
        assert_eq!(v["member"], m.name.as_str());
        assert_eq!(v["group"], group.as_str());
    }

    // A stranger's junk on the relay, tagged with this group's ceremony, is ignored.
    let ceremony: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&roster).unwrap()).unwrap();
    relay.rt.block_on(async {
        use nostr::{EventBuilder, Keys, Kind, Tag};
        let junk = EventBuilder::new(Kind::Custom(7707), "{}")
            .tag(Tag::parse(["c", ceremony["ceremony_id"].as_str().unwrap()]).unwrap())
            .tag(Tag::parse(["round", "refresh-1"]).unwrap())
            .sign_with_keys(&Keys::generate())
            .unwrap();
        let client = nostr_sdk::Client::default();
        client.add_relay(&relay.url).await.unwrap();
        client.connect().await;
        client.send_event(&junk).await.unwrap();
        client.shutdown().await;
    });

    // Proactive refresh, round by round.
    let rid = "00112233445566778899aabbccddeeff";
    for step in ["round1", "round2", "finish"] {
        for m in &ms {
            let v = ok(
                &m.home,
                &[
                    "refresh",
                    step,
                    "--group",
                    &group,
                    "--refresh-id",
                    rid,
                    "--via",
                    via,
                ],
            );
            assert_eq!(v["already_done"], false, "{step} {}", m.name);
        }
    }

    // Repair carol's lost share with alice and bob.
    let gid = npub_hex(&group);
    std::fs::remove_file(
        carol
            .home
            .join("keystore/shares")
            .join(format!("{gid}.3.sealed")),
    )
    .unwrap();
    let state = carol.home.join("groups").join(&gid).join("state.json");
    let mut s: serde_json::Value = serde_json::from_slice(&std::fs::read(&state).unwrap()).unwrap();
    s["seats"] = serde_json::json!([]);
    std::fs::write(&state, s.to_string()).unwrap();
    for step in ["step1", "step2"] {
        for m in [alice, bob] {
            ok(
                &m.home,
                &[
                    "repair",
                    step,
                    "--group",
                    &group,
                    "--lost",
                    "carol",
                    "--helpers",
                    "alice,bob",
                    "--via",
                    via,
                ],
            );
        }
    }
    let v = ok(
        &carol.home,
        &[
            "repair",
            "finish",
            "--group",
            &group,
            "--helpers",
            "alice,bob",
            "--via",
            via,
        ],
    );
    assert_eq!(v["member"], "carol");

    // The four signing steps: carol (repaired, refreshed) and bob sign, alice coordinates.
    for m in [bob, carol] {
        ok(
            &m.home,
            &["sign", "commit", "--group", &group, "--via", via],
        );
    }
    let tpl = root.join("note.json");
    std::fs::write(&tpl, r#"{"kind":1,"content":"step by step","tags":[]}"#).unwrap();
    let v = ok(
        &alice.home,
        &[
            "sign",
            "request",
            "--group",
            &group,
            "--event",
            tpl.to_str().unwrap(),
            "--via",
            via,
        ],
    );
    let request = v["request"].as_str().unwrap().to_owned();
    assert_eq!(v["signers"], serde_json::json!(["bob", "carol"]));
    for m in [bob, carol] {
        // Without --request: the newest request waiting for this home.
        let v = ok(
            &m.home,
            &["sign", "share", "--group", &group, "--yes", "--via", via],
        );
        assert_eq!(v["request"], request.as_str());
    }
    let v = ok(
        &alice.home,
        &[
            "sign",
            "aggregate",
            "--group",
            &group,
            "--request",
            &request[..16],
            "--via",
            via,
        ],
    );
    verify_event_independently(&v["event"]);
    assert_eq!(v["event"]["pubkey"].as_str().unwrap(), gid);
    assert_eq!(v["event"]["content"], "step by step");
}

/// A member who never shows up: the others time out naming it (exit 4), then resume and
/// finish once it runs.
#[test]
fn dkg_run_times_out_naming_the_silent_member_then_resumes() {
    let relay = start_relay();
    let dir = tempfile::tempdir().unwrap();
    let (ms, roster) = three_members(dir.path());
    let quick = |m: &Member| {
        let mut c = spawn_cmd(&m.home);
        c.args([
            "dkg",
            "run",
            "--timeout",
            "2",
            "--via",
            &relay.url,
            "--roster",
        ])
        .arg(&roster);
        c
    };
    let outs = run_parallel(vec![quick(&ms[0]), quick(&ms[1])]);
    for o in &outs {
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(4), "{err}");
        let line = err.lines().last().unwrap();
        assert!(
            line.starts_with("passport: error: timed out waiting for round-1 packages from carol"),
            "{line}"
        );
        assert!(!line.contains("bob") && !line.contains("alice"), "{line}");
        // stderr is not a terminal here: progress comes as lines, naming who is awaited.
        assert!(
            err.lines().any(|l| l.starts_with("passport: ")
                && l.contains("waiting for")
                && l.contains("carol")),
            "{err}"
        );
    }
    // Everyone runs again (alice and bob resume from their saved round 1).
    let outs = run_parallel(ms.iter().map(|m| dkg_run(&relay.url, &roster, m)).collect());
    let v: Vec<serde_json::Value> = outs.iter().map(json_of).collect();
    assert_eq!(v[0]["group"], v[2]["group"]);
    assert_eq!(v[1]["group"], v[2]["group"]);
    // The resumed members did not redo round 1.
    assert!(
        !v[0]["steps"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s == "round 1"),
        "{}",
        v[0]
    );
    assert!(
        v[2]["steps"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s == "round 1"),
        "{}",
        v[2]
    );
}

/// DKG and signing through `passport serve`, with the server killed (-9) in the middle
/// of the DKG and restarted, and a member killed (-9) between rounds: the ceremony
/// completes, and the server holds exactly the packages sent, none lost or doubled.
#[test]
fn serve_survives_kill_9_mid_dkg_and_a_killed_member_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let serve_home = root.join("serve-home");
    let mut serve = Serve::start(&serve_home, "127.0.0.1:0");
    let addr = serve.addr().to_owned();
    let url = serve.url.clone();
    let ms: Vec<Member> = ["alice", "bob", "carol"]
        .iter()
        .map(|n| make_member(root, n))
        .collect();
    let roster = write_roster(root, "roster.json", 2, &ms.iter().collect::<Vec<_>>(), None);

    // alice and bob start; carol has not yet. Both send round 1 and wait for carol.
    let mut alice = dkg_run(&url, &roster, &ms[0]).spawn().unwrap();
    let bob = dkg_run(&url, &roster, &ms[1])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let keys = member_keys(&ms[2]);
    // carol's key registers the same roster and learns the server's ceremony id, once
    // alice's and bob's round-1 packages are in.
    let ceremony = wait_for(|| {
        let list = serve_packages(&keys, &url, &roster);
        (list.1 >= 2).then_some(list.0)
    });
    // Kill the server mid-DKG, and alice while she waits.
    serve.kill9();
    alice.kill().unwrap();
    alice.wait().unwrap();
    let mut serve = Serve::start(&serve_home, &addr);
    assert_eq!(serve.url, url);
    // carol joins; alice restarts and resumes.
    let outs = run_parallel(vec![
        dkg_run(&url, &roster, &ms[0]),
        dkg_run(&url, &roster, &ms[2]),
    ]);
    let bob_out = bob.wait_with_output().unwrap();
    let (a, c, b) = (json_of(&outs[0]), json_of(&outs[1]), json_of(&bob_out));
    assert_eq!(a["group"], b["group"]);
    assert_eq!(a["group"], c["group"]);
    assert!(
        !a["steps"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s == "round 1"),
        "alice resumed: {a}"
    );
    // Exactly 4 packages per member: round 1, two round-2 packages, the agreement.
    let status = serve_get(&keys, &format!("{url}/v1/ceremonies/{ceremony}"));
    assert_eq!(status["packages"], 12, "{status}");
    assert_eq!(status["state"], "agreed", "{status}");
    for m in status["members"].as_array().unwrap() {
        assert_eq!(m["sent"]["dkg-1"], 1, "{status}");
        assert_eq!(m["sent"]["dkg-2"], 2, "{status}");
        assert_eq!(m["sent"]["dkg-agree"], 1, "{status}");
    }

    // Signing: bob waits as a signer, is killed, restarts (re-sending the same
    // commitment), and answers alice's request.
    let group = a["group"].as_str().unwrap().to_owned();
    let signer = |m: &Member| {
        let mut c = spawn_cmd(&m.home);
        c.args([
            "--json",
            "sign",
            "run",
            "--yes",
            "--timeout",
            "60",
            "--via",
            &url,
            "--group",
            &group,
        ]);
        c
    };
    let mut first = signer(&ms[1]).spawn().unwrap();
    wait_for(|| {
        let s = serve_get(&keys, &format!("{url}/v1/ceremonies/{ceremony}"));
        (s["members"][1]["sent"]["sign-commit"] == 1).then_some(())
    });
    first.kill().unwrap();
    first.wait().unwrap();
    let tpl = root.join("note.json");
    std::fs::write(&tpl, r#"{"kind":1,"content":"through serve","tags":[]}"#).unwrap();
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
            &url,
            "--group",
            &group,
            "--event",
        ])
        .arg(&tpl);
    let outs = run_parallel(vec![signer(&ms[1]), coord]);
    let (s, c) = (json_of(&outs[0]), json_of(&outs[1]));
    assert_eq!(s["signed_by_me"], serde_json::json!(["bob"]));
    verify_event_independently(&c["result"]["event"]);
    assert_eq!(
        c["result"]["event"]["pubkey"].as_str().unwrap(),
        npub_hex(&group)
    );
    let st = serve_get(&keys, &format!("{url}/v1/ceremonies/{ceremony}"));
    // bob's restarted run re-sent the same commitment: still one.
    assert_eq!(st["members"][1]["sent"]["sign-commit"], 1, "{st}");
    serve.kill9();
}

/// The server's ceremony id for a roster (registering it as `keys`), and how many
/// packages it holds.
fn serve_packages(keys: &nostr::Keys, url: &str, roster: &std::path::Path) -> (String, u64) {
    use base64::Engine;
    use nostr::hashes::{sha256::Hash as Sha256Hash, Hash};
    use nostr::nips::nip98::{HttpData, HttpMethod};
    use nostr::{EventBuilder, JsonUtil, Url};
    let body = std::fs::read(roster).unwrap();
    let create = format!("{url}/v1/ceremonies");
    let ev = EventBuilder::http_auth(
        HttpData::new(Url::parse(&create).unwrap(), HttpMethod::POST)
            .payload(Sha256Hash::hash(&body)),
    )
    .sign_with_keys(keys)
    .unwrap();
    let auth = format!(
        "Nostr {}",
        base64::engine::general_purpose::STANDARD.encode(ev.as_json())
    );
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let v: serde_json::Value = rt.block_on(async {
        http_client()
            .post(&create)
            .header("authorization", auth)
            .body(body)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    });
    let id = v["id"].as_str().unwrap().to_owned();
    let st = serve_get(keys, &format!("{url}/v1/ceremonies/{id}"));
    (id, st["packages"].as_u64().unwrap())
}

/// Polls `f` every 100 ms for up to 30 s.
fn wait_for<T>(mut f: impl FnMut() -> Option<T>) -> T {
    for _ in 0..300 {
        if let Some(v) = f() {
            return v;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    panic!("condition not reached in 30 s");
}

/// Refusals reach the user as one clear line: an outsider is refused by serve (exit 3,
/// nothing stored), an unreachable serve or relay is named (exit 1).
#[test]
fn via_refusals_and_unreachable_endpoints_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let serve = Serve::start(&root.join("serve-home"), "127.0.0.1:0");
    let ms: Vec<Member> = ["alice", "bob"]
        .iter()
        .map(|n| make_member(root, n))
        .collect();
    let mallory = make_member(root, "mallory");
    let roster = write_roster(root, "roster.json", 2, &ms.iter().collect::<Vec<_>>(), None);
    let mut c = passport(&mallory.home);
    c.args(["dkg", "round1", "--via", &serve.url, "--roster"])
        .arg(&roster);
    expect_error_line(
        &mut c,
        3,
        &["refused the roster", "403 not-a-member", &serve.url],
    );
    // alice registers the roster; nothing from mallory is on the server.
    let keys = member_keys(&ms[0]);
    let (_, count) = serve_packages(&keys, &serve.url, &roster);
    assert_eq!(count, 0);

    for (via, needle) in [
        ("http://127.0.0.1:9", "is `passport serve` running there?"),
        (
            "ws://127.0.0.1:9",
            "cannot connect to any relay of ws://127.0.0.1:9",
        ),
    ] {
        let mut c = passport(&ms[0].home);
        c.args(["dkg", "round1", "--via", via, "--roster"])
            .arg(&roster);
        expect_error_line(&mut c, 1, &[needle]);
    }
    let mut c = passport(&ms[0].home);
    c.args(["dkg", "round1", "--via", "ftp://x", "--roster"])
        .arg(&roster);
    expect_error_line(&mut c, 2, &["ftp://", "neither a serve URL"]);
}

/// Issue 10, point 6: the ceremony id is public, so an outsider registered it on the
/// server first, with a roster of its own (two real members' npubs and its own key), and
/// the real members got 409. Now the real members' `dkg run --via` completes, and the
/// outsider's ceremony holds none of their packages.
#[test]
fn dkg_through_serve_completes_after_an_outsider_registered_the_ceremony_id() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let serve = Serve::start(&root.join("serve-home"), "127.0.0.1:0");
    let (ms, roster) = three_members(root);
    let mallory = nostr::Keys::generate();
    let mut squat =
        passport::ceremony::Roster::from_json(&std::fs::read(&roster).unwrap()).unwrap();
    squat.members[2].npub = mallory.public_key();
    let squat_file = root.join("squat.json");
    std::fs::write(&squat_file, squat.to_json_pretty()).unwrap();
    let (squatted, _) = serve_packages(&mallory, &serve.url, &squat_file);

    let outs = run_parallel(ms.iter().map(|m| dkg_run(&serve.url, &roster, m)).collect());
    let groups: Vec<String> = outs
        .iter()
        .map(|o| json_of(o)["group"].as_str().unwrap().to_owned())
        .collect();
    assert!(groups.iter().all(|g| g == &groups[0]), "{groups:?}");
    let (real, count) = serve_packages(&member_keys(&ms[0]), &serve.url, &roster);
    assert_ne!(real, squatted);
    assert_eq!(count, 12, "4 packages per member in the real ceremony");
    let (_, theirs) = serve_packages(&mallory, &serve.url, &squat_file);
    assert_eq!(theirs, 0, "nothing reached the outsider's ceremony");
}

/// A signer the coordinator did not pick learns that the request was signed without it
/// and exits 0 saying so, instead of waiting out its timeout.
#[test]
fn a_signer_left_out_learns_the_request_completed_and_exits_0() {
    let relay = start_relay();
    let dir = tempfile::tempdir().unwrap();
    let (ms, roster) = three_members(dir.path());
    let outs = run_parallel(ms.iter().map(|m| dkg_run(&relay.url, &roster, m)).collect());
    let group = json_of(&outs[0])["group"].as_str().unwrap().to_owned();
    let tpl = dir.path().join("note.json");
    std::fs::write(&tpl, r#"{"kind":1,"content":"two of three","tags":[]}"#).unwrap();
    let run = |m: &Member, extra: &[&str]| {
        let mut c = spawn_cmd(&m.home);
        c.args([
            "--json",
            "sign",
            "run",
            "--yes",
            "--timeout",
            "120",
            "--via",
        ])
        .arg(&relay.url)
        .args(["--group", &group])
        .args(extra);
        c
    };
    let mut coord = run(&ms[0], &["--signers", "alice,bob", "--event"]);
    coord.arg(&tpl);
    let outs = run_parallel(vec![coord, run(&ms[1], &[]), run(&ms[2], &[])]);
    let (c, b, left_out) = (json_of(&outs[0]), json_of(&outs[1]), json_of(&outs[2]));
    verify_event_independently(&c["result"]["event"]);
    assert_eq!(b["signed_by_me"], serde_json::json!(["bob"]));
    assert_eq!(left_out["role"], "signer");
    assert_eq!(left_out["signed_by_me"], serde_json::json!([]));
    assert_eq!(
        left_out["completed_without_me"],
        serde_json::json!(["alice", "bob"])
    );
    assert_eq!(left_out["request"], c["request"]);
}

/// One relay of two is dead: the command warns naming it, uses the live one, and does
/// not report the package as sent to the dead one.
#[test]
fn a_dead_relay_of_two_is_named_and_not_reported_as_sent() {
    let relay = start_relay();
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("ws://127.0.0.1:{}", l.local_addr().unwrap().port())
    }; // the listener is dropped: connections to that port are refused
    let dir = tempfile::tempdir().unwrap();
    let (ms, roster) = three_members(dir.path());
    let out = passport(&ms[0].home)
        .args(["--json", "dkg", "round1", "--via"])
        .arg(format!("{},{dead}", relay.url))
        .arg("--roster")
        .arg(&roster)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains(&format!("relay {dead}"))
            && err.contains("unreachable")
            && err.contains("using the others"),
        "{err}"
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let sent = v["packages"][0].as_str().unwrap();
    assert!(sent.contains(relay.url.trim_end_matches('/')), "{sent}");
    let (claimed, _) = sent.split_once(", NOT to").unwrap_or((sent, ""));
    assert!(!claimed.contains(&dead), "claims the dead relay: {sent}");
    assert!(sent.contains(&format!("NOT to {dead}")), "{sent}");
}

/// `passport refresh run` for one member, JSON out.
fn refresh_run(
    via: &str,
    group: &str,
    rid: &str,
    timeout: &str,
    m: &Member,
) -> std::process::Command {
    let mut c = spawn_cmd(&m.home);
    c.args([
        "--json",
        "refresh",
        "run",
        "--timeout",
        timeout,
        "--via",
        via,
    ])
    .args(["--group", group, "--refresh-id", rid]);
    c
}

/// `passport repair run` for one home (helper or lost member, the home decides).
fn repair_run(
    via: &str,
    group: &str,
    lost: &str,
    helpers: &str,
    m: &Member,
) -> std::process::Command {
    let mut c = spawn_cmd(&m.home);
    c.args(["--json", "repair", "run", "--timeout", "120", "--via", via])
        .args(["--group", group, "--lost", lost, "--helpers", helpers]);
    c
}

fn steps_of(v: &serde_json::Value) -> Vec<String> {
    v["steps"]
        .as_array()
        .unwrap_or_else(|| panic!("no steps in {v}"))
        .iter()
        .map(|s| s.as_str().unwrap().to_owned())
        .collect()
}

fn group_json(m: &Member, group: &str) -> std::path::PathBuf {
    m.home
        .join("groups")
        .join(npub_hex(group))
        .join("group.json")
}

fn verifying_shares(m: &Member, group: &str) -> serde_json::Value {
    let g: serde_json::Value =
        serde_json::from_slice(&std::fs::read(group_json(m, group)).unwrap()).unwrap();
    g["public_key_package"]["verifying_shares"].clone()
}

/// The lost share of tests/cli/lifecycle.rs: carol's share file and seat are gone, her
/// identity and group file stay.
fn lose_carols_share(carol: &Member, group: &str) {
    let gid = npub_hex(group);
    let share = carol
        .home
        .join("keystore/shares")
        .join(format!("{gid}.3.sealed"));
    std::fs::remove_file(&share).unwrap();
    let state = carol.home.join("groups").join(&gid).join("state.json");
    let mut s: serde_json::Value = serde_json::from_slice(&std::fs::read(&state).unwrap()).unwrap();
    s["seats"] = serde_json::json!([]);
    std::fs::write(&state, s.to_string()).unwrap();
}

/// Issue 12: `refresh run` and `repair run` through `passport serve`, all members in
/// parallel. The refresh keeps the npub, changes every verifying share and the new
/// shares sign; alice, killed (-9) in the middle of her refresh, resumes. Then carol's
/// lost share is repaired by alice and bob (helpers) while carol (the lost member)
/// waits, and she signs with it.
#[test]
fn refresh_run_and_repair_run_through_serve() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let serve = Serve::start(&root.join("serve-home"), "127.0.0.1:0");
    let url = serve.url.clone();
    let (ms, roster) = three_members(root);
    let outs = run_parallel(ms.iter().map(|m| dkg_run(&url, &roster, m)).collect());
    let group = json_of(&outs[0])["group"].as_str().unwrap().to_owned();
    let before = verifying_shares(&ms[0], &group);

    // alice starts alone, is killed once her round 1 is saved, and runs again with the others.
    let rid = "0123456789abcdef0123456789abcdef";
    let mut alice = KillOnDrop(
        refresh_run(&url, &group, rid, "120", &ms[0])
            .spawn()
            .unwrap(),
    );
    let saved = ms[0]
        .home
        .join("refresh")
        .join(npub_hex(&group))
        .join(format!("{rid}.1.json"));
    wait_for(|| saved.exists().then_some(()));
    alice.0.kill().unwrap();
    alice.0.wait().unwrap();
    let outs = run_parallel(
        ms.iter()
            .map(|m| refresh_run(&url, &group, rid, "120", m))
            .collect(),
    );
    let v: Vec<serde_json::Value> = outs.iter().map(json_of).collect();
    for (m, r) in ms.iter().zip(&v) {
        assert_eq!(r["command"], "refresh run", "{r}");
        assert_eq!(r["member"], m.name.as_str(), "{r}");
        assert_eq!(r["group"], group.as_str(), "{r}");
        assert!(
            r["stale_backups"].as_str().unwrap().contains("stale"),
            "{r}"
        );
        assert_eq!(r["public_key_package"], v[0]["public_key_package"], "{r}");
        assert_eq!(r["already_done"], false, "{r}");
    }
    assert_eq!(
        steps_of(&v[0]),
        ["refresh round 2", "refresh finish"],
        "alice resumed"
    );
    assert_eq!(
        steps_of(&v[1]),
        ["refresh round 1", "refresh round 2", "refresh finish"]
    );
    let after = verifying_shares(&ms[0], &group);
    for id in ["1", "2", "3"] {
        let find = |vs: &serde_json::Value| {
            vs.as_object()
                .unwrap()
                .iter()
                .find(|(k, _)| k.trim_start_matches('0') == id)
                .map(|(_, v)| v.clone())
                .unwrap_or_else(|| panic!("no verifying share {id} in {vs}"))
        };
        assert_ne!(find(&before), find(&after), "verifying share {id} changed");
    }
    for m in &ms[1..] {
        assert_eq!(
            std::fs::read(group_json(m, &group)).unwrap(),
            std::fs::read(group_json(&ms[0], &group)).unwrap(),
            "{} holds the same refreshed group file",
            m.name
        );
    }
    sign_files(&[&ms[0], &ms[2]], &group, &root.join("sign-after-refresh"));
    // Running it again finds everything done.
    let again = json_of(
        &refresh_run(&url, &group, rid, "120", &ms[1])
            .output()
            .unwrap(),
    );
    assert_eq!(again["already_done"], true, "{again}");
    assert!(steps_of(&again).is_empty(), "{again}");

    // Repair: carol lost her share; the home tells which side of the repair it is on.
    lose_carols_share(&ms[2], &group);
    let outs = run_parallel(
        ms.iter()
            .map(|m| repair_run(&url, &group, "carol", "alice,bob", m))
            .collect(),
    );
    let v: Vec<serde_json::Value> = outs.iter().map(json_of).collect();
    for r in &v[..2] {
        assert_eq!(r["role"], "helper", "{r}");
        assert_eq!(r["lost"], "carol", "{r}");
        assert_eq!(steps_of(r), ["repair step 1", "repair step 2"], "{r}");
    }
    assert_eq!(v[2]["role"], "lost member", "{}", v[2]);
    assert_eq!(v[2]["member"], "carol", "{}", v[2]);
    assert_eq!(steps_of(&v[2]), ["repair finish"], "{}", v[2]);
    let err = String::from_utf8_lossy(&outs[2].stderr);
    assert!(!err.contains("error"), "{err}");
    sign_files(&[&ms[2], &ms[1]], &group, &root.join("sign-after-repair"));
    let again = json_of(
        &repair_run(&url, &group, "carol", "alice,bob", &ms[2])
            .output()
            .unwrap(),
    );
    assert_eq!(again["role"], "lost member", "{again}");
    assert_eq!(again["already_done"], true, "{again}");
}

/// Through a relay: a member who never shows up makes the others' `refresh run` time out
/// naming it (exit 4, progress lines on stderr); everyone runs again and the refresh
/// completes, the waiting members resuming after their round 1.
#[test]
fn refresh_run_through_a_relay_times_out_naming_the_silent_member_then_resumes() {
    let relay = start_relay();
    let dir = tempfile::tempdir().unwrap();
    let (ms, roster) = three_members(dir.path());
    let outs = run_parallel(ms.iter().map(|m| dkg_run(&relay.url, &roster, m)).collect());
    let group = json_of(&outs[0])["group"].as_str().unwrap().to_owned();
    let rid = "fedcba9876543210fedcba9876543210";
    // Without --json: the error line and the progress lines are on stderr.
    let quick = |m: &Member| {
        let mut c = spawn_cmd(&m.home);
        c.args(["refresh", "run", "--timeout", "5", "--via", &relay.url])
            .args(["--group", &group, "--refresh-id", rid]);
        c
    };
    let outs = run_parallel(vec![quick(&ms[0]), quick(&ms[1])]);
    for o in &outs {
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(4), "{err}");
        let line = err.lines().last().unwrap();
        assert!(
            line.starts_with(
                "passport: error: timed out waiting for refresh round-1 packages from carol"
            ),
            "{line}"
        );
        assert!(!line.contains("bob") && !line.contains("alice"), "{line}");
        assert!(
            err.lines()
                .any(|l| l.starts_with("passport: refresh round-1 packages: ")
                    && l.contains("waiting for carol")),
            "{err}"
        );
    }
    // Carol also names a relay that is not there: she is warned, and the round goes on
    // through the live one (the connect-on-first-step transport warns like dkg run).
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("ws://127.0.0.1:{}", l.local_addr().unwrap().port())
    };
    let with_dead = format!("{},{dead}", relay.url);
    let outs = run_parallel(
        ms.iter()
            .enumerate()
            .map(|(i, m)| {
                let via = if i == 2 { &with_dead } else { &relay.url };
                refresh_run(via, &group, rid, "120", m)
            })
            .collect(),
    );
    let carol_err = String::from_utf8_lossy(&outs[2].stderr);
    assert!(
        carol_err.contains(&format!("relay {dead}")) && carol_err.contains("is unreachable"),
        "{carol_err}"
    );
    let v: Vec<serde_json::Value> = outs.iter().map(json_of).collect();
    assert_eq!(
        steps_of(&v[0]),
        ["refresh round 2", "refresh finish"],
        "{}",
        v[0]
    );
    assert_eq!(
        steps_of(&v[2]),
        ["refresh round 1", "refresh round 2", "refresh finish"],
        "{}",
        v[2]
    );
    assert!(v
        .iter()
        .all(|r| r["public_key_package"] == v[0]["public_key_package"]));
    sign_files(&[&ms[1], &ms[2]], &group, &dir.path().join("sign"));
}
