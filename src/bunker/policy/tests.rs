use super::*;

fn db() -> (tempfile::TempDir, Connection) {
    let dir = tempfile::tempdir().unwrap();
    let mut conn = Connection::open(dir.path().join("s.sqlite")).unwrap();
    super::super::store::create_tables(&mut conn).unwrap();
    (dir, conn)
}

/// [`authorize`] for a new request each time (ids never repeat), its decision only.
fn auth(
    c: &mut Connection,
    pubkey: &str,
    method: Method,
    kind: Option<u16>,
    now: u64,
) -> rusqlite::Result<Result<Grant, Refusal>> {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let id = NEXT
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        .to_string();
    let request = RequestKey {
        pubkey,
        id: &id,
        keep_until: now + 600,
    };
    Ok(authorize(c, &request, method, kind, now)?.0)
}

#[test]
fn a_request_counted_once_is_not_counted_again_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.sqlite");
    let g = Grant {
        max_uses: Some(5),
        ..Grant::default()
    };
    let request = RequestKey {
        pubkey: "aa",
        id: "r1",
        keep_until: 700,
    };
    {
        let mut c = Connection::open(&path).unwrap();
        super::super::store::create_tables(&mut c).unwrap();
        allow(&mut c, "aa", &g, 100, None).unwrap();
        let (d, counted) = authorize(&mut c, &request, Method::SignEvent, Some(1), 100).unwrap();
        assert_eq!((d, counted), (Ok(g.clone()), true));
        // What asks nothing of the grant is not written.
        let ping = RequestKey { id: "p", ..request };
        assert!(!authorize(&mut c, &ping, Method::Ping, None, 100).unwrap().1);
    }
    // A new connection, as after serve is killed and started again.
    let mut c = Connection::open(&path).unwrap();
    assert_eq!(
        authorize(&mut c, &request, Method::SignEvent, Some(1), 200).unwrap(),
        (Err(Refusal::Replayed), false)
    );
    assert_eq!(
        list(&mut c).unwrap()[0].uses,
        1,
        "the replay is not counted"
    );
    // Another client may use the same id; and after the keep time the id is free.
    allow(&mut c, "bb", &g, 100, None).unwrap();
    let other = RequestKey {
        pubkey: "bb",
        ..request
    };
    assert!(
        authorize(&mut c, &other, Method::SignEvent, Some(1), 200)
            .unwrap()
            .1
    );
    let later = authorize(&mut c, &request, Method::SignEvent, Some(1), 701).unwrap();
    assert_eq!(later, (Ok(g), true));
    assert_eq!(list(&mut c).unwrap()[0].uses, 2);
}

#[test]
fn a_secret_works_once_and_grants_what_it_carries() {
    let (_d, mut c) = db();
    let g = Grant {
        kinds: Some(vec![1]),
        ..Grant::default()
    };
    add_secret(&mut c, "s3cret", &g, 100, None).unwrap();
    assert_eq!(
        connect(&mut c, "aa", None, None, 100).unwrap(),
        Err(Refusal::Unknown)
    );
    assert_eq!(
        connect(&mut c, "aa", Some("nope"), None, 100).unwrap(),
        Err(Refusal::BadSecret)
    );
    assert_eq!(
        connect(&mut c, "aa", Some("s3cret"), None, 100).unwrap(),
        Ok(())
    );
    // Used up: another client cannot reuse it; the first stays connected.
    assert_eq!(
        connect(&mut c, "bb", Some("s3cret"), None, 100).unwrap(),
        Err(Refusal::BadSecret)
    );
    assert_eq!(connect(&mut c, "aa", None, None, 101).unwrap(), Ok(()));
    assert_eq!(
        auth(&mut c, "aa", Method::SignEvent, Some(1), 101).unwrap(),
        Ok(g.clone())
    );
    assert_eq!(
        auth(&mut c, "aa", Method::SignEvent, Some(7), 101).unwrap(),
        Err(Refusal::Kind(7))
    );
}

#[test]
fn a_client_asking_for_less_gets_less_and_never_more() {
    let (_d, mut c) = db();
    let invite = Grant {
        methods: Some(vec![
            Method::GetPublicKey,
            Method::SignEvent,
            Method::Nip44Encrypt,
        ]),
        kinds: Some(vec![1, 7]),
        max_uses: Some(10),
        ..Grant::default()
    };
    add_secret(&mut c, "s", &invite, 100, None).unwrap();
    // Asks for sign_event:1 and nip04_encrypt (not in the invite) only.
    let asked = super::super::nostrconnect::Perms::parse("sign_event:1,nip04_encrypt")
        .unwrap()
        .grant()
        .grant;
    assert_eq!(
        connect(&mut c, "aa", Some("s"), Some(&asked), 100).unwrap(),
        Ok(())
    );
    let got = list(&mut c).unwrap().remove(0).grant;
    assert_eq!(
        got,
        Grant {
            methods: Some(vec![Method::GetPublicKey, Method::SignEvent]),
            kinds: Some(vec![1]),
            max_uses: Some(10),
            ..Grant::default()
        }
    );
    assert_eq!(
        auth(&mut c, "aa", Method::SignEvent, Some(7), 101).unwrap(),
        Err(Refusal::Kind(7))
    );
    assert_eq!(
        auth(&mut c, "aa", Method::Nip04Encrypt, None, 101).unwrap(),
        Err(Refusal::Method(Method::Nip04Encrypt))
    );
    // An operator's grant of anything, narrowed by a client asking for any kind.
    let all = Grant::default();
    let any_kind = Grant {
        methods: Some(vec![Method::SignEvent]),
        ..Grant::default()
    };
    assert_eq!(all.narrowed_to(&any_kind), any_kind);
    assert_eq!(invite.narrowed_to(&Grant::default()), invite);
}

#[test]
fn expired_secrets_and_grants_and_spent_uses_are_refused() {
    let (_d, mut c) = db();
    add_secret(&mut c, "old", &Grant::default(), 100, Some(150)).unwrap();
    assert_eq!(
        connect(&mut c, "aa", Some("old"), None, 200).unwrap(),
        Err(Refusal::BadSecret)
    );
    let g = Grant {
        methods: Some(vec![Method::GetPublicKey]),
        expires_at: Some(300),
        max_uses: Some(2),
        ..Grant::default()
    };
    allow(&mut c, "aa", &g, 100, Some("laptop")).unwrap();
    assert!(auth(&mut c, "aa", Method::GetPublicKey, None, 200)
        .unwrap()
        .is_ok());
    assert_eq!(
        auth(&mut c, "aa", Method::Nip44Encrypt, None, 200).unwrap(),
        Err(Refusal::Method(Method::Nip44Encrypt))
    );
    assert!(auth(&mut c, "aa", Method::GetPublicKey, None, 200)
        .unwrap()
        .is_ok());
    assert_eq!(
        auth(&mut c, "aa", Method::GetPublicKey, None, 200).unwrap(),
        Err(Refusal::UsedUp(2))
    );
    // ping is always allowed while the grant lives, and not counted.
    assert!(auth(&mut c, "aa", Method::Ping, None, 200).unwrap().is_ok());
    assert_eq!(
        auth(&mut c, "aa", Method::Ping, None, 301).unwrap(),
        Err(Refusal::Expired)
    );
    assert_eq!(list(&mut c).unwrap()[0].uses, 2);
    assert!(revoke(&mut c, "aa").unwrap());
    assert_eq!(
        auth(&mut c, "aa", Method::Ping, None, 200).unwrap(),
        Err(Refusal::Unknown)
    );
}
