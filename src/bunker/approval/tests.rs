use super::*;

fn db() -> (tempfile::TempDir, Connection) {
    let dir = tempfile::tempdir().unwrap();
    let mut conn = Connection::open(dir.path().join("s.sqlite")).unwrap();
    super::super::store::create_tables(&mut conn).unwrap();
    (dir, conn)
}

fn new(client: &str) -> New {
    New {
        client: client.into(),
        method: "sign_event".into(),
        kind: Some(1),
        event: Some(serde_json::json!({"kind": 1, "content": "hi"})),
        ..New::default()
    }
}

#[test]
fn a_request_is_listed_until_decided_once() {
    let (_d, mut c) = db();
    let id = insert(&mut c, &new("aa"), 100, 60).unwrap().unwrap();
    assert_eq!(id.len(), 16);
    let all = list(&c, 100).unwrap();
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].kind, Some(1));
    assert_eq!(all[0].event.as_ref().unwrap()["content"], "hi");
    assert_eq!(state(&mut c, &id, 101).unwrap(), State::Waiting);
    assert_eq!(
        decide(&mut c, &id, Decision::Approve, 101).unwrap(),
        Decided::Done
    );
    assert_eq!(
        decide(&mut c, &id, Decision::Deny, 102).unwrap(),
        Decided::AlreadyDecided
    );
    assert_eq!(state(&mut c, &id, 102).unwrap(), State::Approved);
    assert_eq!(status(&c, &id, 102).unwrap(), Some(State::Approved));
    assert_eq!(status(&c, "nope", 102).unwrap(), None);
    assert!(list(&c, 102).unwrap().is_empty());
    assert!(get(&c, &id).unwrap().is_some());
    assert_eq!(
        decide(&mut c, "nope", Decision::Deny, 102).unwrap(),
        Decided::NotFound
    );
}

#[test]
fn expiry_wins_over_a_late_decision_and_restarts_abandon() {
    let (_d, mut c) = db();
    let id = insert(&mut c, &new("aa"), 100, 60).unwrap().unwrap();
    assert!(list(&c, 160).unwrap().is_empty());
    assert_eq!(state(&mut c, &id, 160).unwrap(), State::Expired);
    assert_eq!(
        decide(&mut c, &id, Decision::Approve, 150).unwrap(),
        Decided::Expired
    );
    let other = insert(&mut c, &new("aa"), 100, 60).unwrap().unwrap();
    assert_eq!(abandon_all(&mut c, 101).unwrap(), 1);
    assert_eq!(
        decide(&mut c, &other, Decision::Approve, 101).unwrap(),
        Decided::Expired
    );
}

#[test]
fn one_client_cannot_fill_the_queue() {
    let (_d, mut c) = db();
    for _ in 0..MAX_PER_CLIENT {
        assert!(insert(&mut c, &new("aa"), 100, 60).unwrap().is_some());
    }
    assert!(insert(&mut c, &new("aa"), 100, 60).unwrap().is_none());
    assert!(insert(&mut c, &new("bb"), 100, 60).unwrap().is_some());
}
