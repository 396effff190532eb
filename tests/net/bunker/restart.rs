//! What the bunker counts survives `kill -9`: a request answered before the crash and
//! delivered again after the restart is neither answered nor counted a second time.

use super::*;

fn uses(home: &std::path::Path) -> u64 {
    let mut c = passport(home);
    c.args(["bunker", "clients", "list"]);
    json_ok(c)["clients"][0]["uses"].as_u64().unwrap()
}

#[test]
fn a_request_answered_before_kill_9_is_not_answered_or_counted_again() {
    let mut s = bunker(&[]);
    let pk = bunker_pk(&s.uri);
    let group_pk = PublicKey::parse(&s.group).unwrap();
    let w = Duration::from_secs(20);
    let app = Keys::generate();
    let npub = nostr::ToBech32::to_bech32(&app.public_key()).unwrap();
    json_ok({
        let mut c = passport(&s.ci.home);
        c.args(["bunker", "clients", "allow", &npub, "--max-uses", "10"]);
        c
    });
    let note = serde_json::json!([serde_json::json!({
        "kind": 1, "content": "once", "tags": [], "created_at": 1_700_000_000u64,
        "pubkey": group_pk.to_hex()
    })
    .to_string()]);
    let raw = s
        .relay
        .rt
        .block_on(Raw::with_keys(&s.relay.url, pk, app.clone()));
    let r = s
        .relay
        .rt
        .block_on(raw.ask("r1", "sign_event", note.clone(), false, 1, w));
    let ev: serde_json::Value =
        serde_json::from_str(r[0].0["result"].as_str().unwrap_or_else(|| panic!("{r:?}"))).unwrap();
    verify_event_independently(&ev);
    // The reply left only once the count was on disk.
    assert_eq!(uses(&s.ci.home), 1);

    s._serve.kill9();
    let args = ["--relay", s.relay.url.as_str()];
    let (serve, lines) = Serve::start_with(&s.ci.home, "127.0.0.1:0", &args);
    assert_eq!(
        bunker_pk(&lines[0]),
        pk,
        "the bunker keeps its key across restarts"
    );
    s._serve = serve;

    s.relay.rt.block_on(async {
        // The same request id again: silence, as for a duplicate within one run...
        let again = raw
            .ask(
                "r1",
                "sign_event",
                note.clone(),
                false,
                1,
                Duration::from_secs(3),
            )
            .await;
        assert!(
            again.is_empty(),
            "answered again after the restart: {again:?}"
        );
        // ...while a new request is answered.
        let r = raw.ask("r2", "sign_event", note, false, 1, w).await;
        assert!(r[0].0["result"].is_string(), "{r:?}");
    });
    assert_eq!(uses(&s.ci.home), 2, "the replay was not counted");
}
