use super::*;

const PK: &str = "79be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798";

fn parse(q: &str) -> Result<ClientUri, BadUri> {
    ClientUri::parse(&format!("nostrconnect://{PK}?{q}"))
}

#[test]
fn reads_the_form_nostr_tools_writes() {
    // createNostrConnectURI: URLSearchParams, so `:` and `/` percent-encoded, spaces `+`.
    let u = parse(
        "relay=wss%3A%2F%2Frelay.example%2F&relay=ws%3A%2F%2F127.0.0.1%3A7777&secret=s3cr3t\
         &perms=sign_event%3A1%2Csign_event%3A7%2Cnip44_encrypt&name=My+App\
         &url=https%3A%2F%2Fapp.example&image=https%3A%2F%2Fapp.example%2Fi.png",
    )
    .unwrap();
    assert_eq!(u.client.to_hex(), PK);
    assert_eq!(
        u.relays.iter().map(|r| r.to_string()).collect::<Vec<_>>(),
        ["wss://relay.example/", "ws://127.0.0.1:7777"]
    );
    assert_eq!(u.secret.as_deref(), Some("s3cr3t"));
    assert_eq!(u.meta.name.as_deref(), Some("My App"));
    assert_eq!(u.meta.url.as_deref(), Some("https://app.example"));
    assert_eq!(u.meta.image.as_deref(), Some("https://app.example/i.png"));
    let p = u.perms.unwrap().grant();
    assert_eq!(
        p.grant.methods,
        Some(vec![
            Method::GetPublicKey,
            Method::SignEvent,
            Method::Nip44Encrypt
        ])
    );
    assert_eq!(p.grant.kinds, Some(vec![1, 7]));
    assert!(p.ignored.is_empty());
}

#[test]
fn reads_the_older_form_with_metadata_json() {
    let meta = r#"{"name":"Old App","url":"https://old.example","perms":"nip04_encrypt"}"#;
    let q = format!(
        "relay=wss://relay.example&metadata={}",
        percent_encoding::utf8_percent_encode(meta, percent_encoding::NON_ALPHANUMERIC)
    );
    let u = parse(&q).unwrap();
    assert_eq!(u.secret, None);
    assert_eq!(u.meta.name.as_deref(), Some("Old App"));
    assert_eq!(u.meta.url.as_deref(), Some("https://old.example"));
    let p = u.perms.unwrap().grant();
    assert_eq!(
        p.grant.methods,
        Some(vec![Method::GetPublicKey, Method::Nip04Encrypt])
    );
    assert_eq!(p.grant.kinds, None);
    // What nostr 0.44 writes reads the same.
    let relay = RelayUrl::parse("ws://127.0.0.1:1234").unwrap();
    let pk = PublicKey::from_hex(PK).unwrap();
    let theirs = nostr::nips::nip46::NostrConnectURI::client(pk, [relay.clone()], "test app");
    let u = ClientUri::parse(&theirs.to_string()).unwrap();
    assert_eq!((u.client, u.relays), (pk, vec![relay]));
    assert_eq!(u.meta.name.as_deref(), Some("test app"));
    assert_eq!(u.perms, None);
}

#[test]
fn perms_become_a_grant() {
    let grant = |p: &str| Perms::parse(p).unwrap().grant();
    // A bare sign_event: any kind, even beside sign_event:1.
    let g = grant("sign_event:1,sign_event").grant;
    assert_eq!(g.kinds, None);
    assert_eq!(
        g.methods,
        Some(vec![Method::GetPublicKey, Method::SignEvent])
    );
    // Always-allowed methods need no entry; unknown ones are shown, not granted.
    let p = grant("ping,connect,get_relays,nip44_decrypt,get_relays");
    assert_eq!(
        p.grant.methods,
        Some(vec![Method::GetPublicKey, Method::Nip44Decrypt])
    );
    assert_eq!(p.grant.kinds, None);
    assert_eq!(p.ignored, ["get_relays"]);
    // No perms: the client did not narrow what it asks.
    assert_eq!(grant(" , ").grant, Grant::default());
}

#[test]
fn bad_uris_name_the_bad_part() {
    let bad = [
        (
            "nostrconnect",
            BadUri::NotUri("relative URL without a base".into()),
        ),
        (
            &format!("bunker://{PK}?relay=wss://r.example") as &str,
            BadUri::Bunker,
        ),
        (
            &format!("https://{PK}?relay=wss://r.example"),
            BadUri::Scheme("\"https\"".into()),
        ),
        (
            "nostrconnect://npub1xyz?relay=wss://r.example",
            BadUri::ClientKey("\"npub1xyz\"".into()),
        ),
        (
            &format!("nostrconnect://{}?relay=wss://r.example", &PK[1..]),
            BadUri::ClientKey(format!("\"{}\"", &PK[1..])),
        ),
        (&format!("nostrconnect://{PK}?secret=a"), BadUri::NoRelay),
        (&format!("nostrconnect://{PK}"), BadUri::NoRelay),
    ];
    for (uri, want) in bad {
        assert_eq!(ClientUri::parse(uri).unwrap_err(), want, "{uri}");
    }
    let bad = [
        (
            "relay=https://r.example",
            BadUri::Relay("\"https://r.example\"".into()),
        ),
        ("relay=nope", BadUri::Relay("\"nope\"".into())),
        (
            "relay=wss://r.example&secret=a&secret=b",
            BadUri::Repeated("secret"),
        ),
        (
            &format!(
                "relay=wss://r.example&secret={}",
                "x".repeat(MAX_SECRET + 1)
            ) as &str,
            BadUri::Secret,
        ),
        (
            "relay=wss://r.example&secret=&secret=a",
            BadUri::Repeated("secret"),
        ),
        ("relay=wss://r.example&secret=a%0Ab", BadUri::Secret),
        (
            "relay=wss://r.example&perms=sign_event:note",
            BadUri::PermKind("sign_event:note".into()),
        ),
        ("relay=wss://r.example&perms=:1", BadUri::Perm(":1".into())),
    ];
    for (q, want) in bad {
        assert_eq!(parse(q).unwrap_err(), want, "{q}");
    }
    assert_eq!(parse("relay=wss://r.example&secret=").unwrap().secret, None);
    // A relay URL that would rewrite the terminal is shown escaped.
    let e = parse("relay=%1B%5B2Kx").unwrap_err().to_string();
    assert!(e.contains("⟨ESC⟩"), "{e}");
}

#[test]
fn hints_are_lenient_and_bounded() {
    assert_eq!(ClientMeta::from_json("not json"), None);
    assert_eq!(ClientMeta::from_json(r#"{"name": 5}"#), None);
    let long = "x".repeat(2000);
    let m = ClientMeta::from_json(&format!(r#"{{"name":"{long}","url":" "}}"#)).unwrap();
    assert_eq!(m.name.unwrap().len(), MAX_HINT);
    assert_eq!(m.url, None);
}
