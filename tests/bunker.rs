//! `passport serve --relay` as a NIP-46 bunker, driven by an independent NIP-46 client
//! (the `nostr-connect` crate) through a real relay on loopback. Every signature is
//! checked with libsecp256k1; NIP-44/NIP-04 round trips use a third party's own key.

mod util;

use std::time::Duration;

use nostr::nips::nip46::NostrConnectURI;
use nostr::{EventBuilder, JsonUtil, Keys, Kind, NostrSigner, PublicKey};
use nostr_connect::prelude::NostrConnect;
use util::*;

struct Setup {
    _dir: tempfile::TempDir,
    relay: TestRelay,
    ci: Member,
    group: String,
    _serve: Serve,
    uri: String,
}

/// A 2-of-3 dealer group whose `ci` home holds two seats, serving as a bunker.
fn bunker(extra: &[&str]) -> Setup {
    let relay = start_relay();
    let dir = tempfile::tempdir().unwrap();
    let g = ci_group(dir.path(), None);
    let mut args = vec!["--relay", relay.url.as_str()];
    args.extend_from_slice(extra);
    let (serve, lines) = Serve::start_with(&g.ci.home, "127.0.0.1:0", &args);
    let uri = lines[0].clone();
    assert!(uri.starts_with("bunker://"), "{uri}");
    Setup {
        _dir: dir,
        relay,
        ci: g.ci,
        group: g.group,
        _serve: serve,
        uri,
    }
}

fn client(s: &Setup, uri: &str, keys: Keys) -> NostrConnect {
    let uri = NostrConnectURI::parse(uri).unwrap();
    let _ = &s.relay;
    NostrConnect::new(uri, keys, Duration::from_secs(20), None).unwrap()
}

#[test]
fn nip46_client_gets_key_signs_and_round_trips_nip44_and_nip04() {
    let s = bunker(&[]);
    let group_pk = PublicKey::parse(&s.group).unwrap();
    s.relay.rt.block_on(async {
        let nc = client(&s, &s.uri, Keys::generate());
        assert_eq!(nc.get_public_key().await.unwrap(), group_pk);

        let unsigned = EventBuilder::text_note("signed by a bunker nobody holds").build(group_pk);
        let ev = nc.sign_event(unsigned).await.unwrap();
        assert_eq!(ev.pubkey, group_pk);
        assert_eq!(ev.kind, Kind::TextNote);
        verify_event_independently(&serde_json::from_str(&ev.as_json()).unwrap());

        // NIP-44 both ways with a third party's own key.
        let third = Keys::generate();
        let ct = nc
            .nip44_encrypt(&third.public_key(), "to the third party")
            .await
            .unwrap();
        let pt = nostr::nips::nip44::decrypt(third.secret_key(), &group_pk, &ct).unwrap();
        assert_eq!(pt, "to the third party");
        let ct = nostr::nips::nip44::encrypt(
            third.secret_key(),
            &group_pk,
            "to the group",
            nostr::nips::nip44::Version::default(),
        )
        .unwrap();
        assert_eq!(
            nc.nip44_decrypt(&third.public_key(), &ct).await.unwrap(),
            "to the group"
        );

        // NIP-04 likewise.
        let ct = nc
            .nip04_encrypt(&third.public_key(), "legacy")
            .await
            .unwrap();
        assert_eq!(
            nostr::nips::nip04::decrypt(third.secret_key(), &group_pk, &ct).unwrap(),
            "legacy"
        );
        let ct = nostr::nips::nip04::encrypt(third.secret_key(), &group_pk, "legacy back").unwrap();
        assert_eq!(
            nc.nip04_decrypt(&third.public_key(), &ct).await.unwrap(),
            "legacy back"
        );
        nc.shutdown().await;
    });
    let _ = &s.ci;
}
