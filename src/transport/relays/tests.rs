use super::*;
use crate::ceremony::Member;
use nostr::{EventBuilder, Tag};
use nostr_relay_builder::prelude::{LocalRelay, RateLimit, RelayBuilder};

async fn relay() -> (LocalRelay, Url) {
    let mut attempt = 0;
    let r = loop {
        let r = LocalRelay::new(
            RelayBuilder::default()
                .addr(std::net::IpAddr::from([127, 0, 0, 1]))
                .rate_limit(RateLimit {
                    max_reqs: 500,
                    notes_per_minute: 100_000,
                }),
        );
        match r.run().await {
            Ok(()) => break r,
            // A picked port can be taken before it is bound: try another.
            Err(_) if attempt < 20 => attempt += 1,
            Err(e) => panic!("no relay: {e}"),
        }
    };
    let url = Url::parse(&r.url().await.to_string()).expect("relay url");
    (r, url)
}

/// `n` events of the package kind tagged with the ceremony, signed by `keys`.
async fn publish(url: &Url, keys: &Keys, ceremony: &str, n: usize, content: &str) {
    let c = SdkClient::new(Keys::generate());
    c.add_relay(url.as_str()).await.expect("add relay");
    c.try_connect(CONNECT).await;
    for i in 0..n {
        let ev = EventBuilder::new(Kind::Custom(PACKAGE_KIND), format!("{content}{i}"))
            .tag(Tag::parse(["c", ceremony]).expect("tag"))
            .sign_with_keys(keys)
            .expect("sign");
        let out = c.send_event(&ev).await.expect("send");
        assert!(!out.success.is_empty(), "{out:?}");
    }
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relay_sending_more_than_the_bounds_is_named_and_cut_off() {
    let (_relay, url) = relay().await;
    let (alice, bob, stranger) = (Keys::generate(), Keys::generate(), Keys::generate());
    let members = [("alice", &alice), ("bob", &bob)]
        .iter()
        .map(|(n, k)| Member {
            name: (*n).into(),
            npub: k.public_key(),
        })
        .collect();
    let roster = Roster::new("t", 2, members, None, &mut rand::rngs::OsRng).expect("roster");
    let authors = [alice.public_key(), bob.public_key()];
    // Strangers' events under the ceremony's (public) tag are not even asked for.
    publish(&url, &stranger, &roster.ceremony_id, 40, "x").await;
    publish(&url, &alice, &roster.ceremony_id, 12, "a").await;
    let fetch = |bounds: Bounds| {
        let (url, roster) = (url.clone(), roster.clone());
        async move {
            let mut c = Client::open(
                &[url],
                &Keys::generate(),
                &roster,
                &authors,
                None,
                false,
                bounds,
            )
            .await
            .expect("open");
            let mut got = vec![];
            let r = c.fetch(Duration::ZERO, &mut |evs| got.extend(evs)).await;
            c.close().await;
            (r, got)
        }
    };
    let roomy = Bounds {
        relay_events: 20,
        ..Bounds::default()
    };
    let (r, got) = fetch(roomy).await;
    r.expect("within bounds");
    // The live subscription brings the stored ones again; the view drops repeats.
    let ids: HashSet<EventId> = got.iter().map(|e| e.id).collect();
    assert_eq!(ids.len(), 12);
    assert!(got.iter().all(|e| e.pubkey == alice.public_key()));

    let few = Bounds {
        relay_events: 10,
        ..Bounds::default()
    };
    let e = fetch(few).await.0.expect_err("too many events").to_string();
    assert!(e.contains(url.as_str().trim_end_matches('/')), "{e}");
    assert!(e.contains("more than 10 events"), "{e}");

    let small = Bounds {
        relay_bytes: 2000,
        ..Bounds::default()
    };
    let e = fetch(small)
        .await
        .0
        .expect_err("too many bytes")
        .to_string();
    assert!(e.contains("more than 2000 bytes"), "{e}");
}
