//! Serialized formats pinned over fixed-seed data in `testdata/`. A change to any of
//! these bytes is a format change: bump the version and regenerate deliberately with
//! `PASSPORT_BLESS=1 cargo test --test formats`.

use std::path::PathBuf;

use nostr::{JsonUtil, Keys, SecretKey, Timestamp};
use passport::ceremony::{dealer, dkg, Member, Roster};
use passport::envelope::{self, Binding, Draft, Round, Sender};
use passport::group::{Group, Origin};
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;

fn testdata(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("testdata")
        .join(rel)
}

fn bless() -> bool {
    std::env::var_os("PASSPORT_BLESS").is_some()
}

fn golden(rel: &str, actual: &str) {
    let path = testdata(rel);
    if bless() {
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|_| panic!("missing {}; run with PASSPORT_BLESS=1 once", path.display()));
    assert_eq!(expected, actual, "{rel} changed: this is a format change");
}

fn members() -> (Vec<Keys>, Vec<Member>) {
    let keys: Vec<Keys> = (1..=3u8)
        .map(|i| Keys::new(SecretKey::from_slice(&[i; 32]).unwrap()))
        .collect();
    let names = ["alice", "bob", "carol"];
    let members = keys
        .iter()
        .zip(names)
        .map(|(k, n)| Member {
            name: n.into(),
            npub: k.public_key(),
        })
        .collect();
    (keys, members)
}

fn fixed_roster(dealer_key: Option<&Keys>) -> Roster {
    let (_, members) = members();
    let mut rng = ChaCha20Rng::seed_from_u64(42);
    Roster::new(
        "golden",
        2,
        members,
        dealer_key.map(|k| k.public_key()),
        &mut rng,
    )
    .unwrap()
}

#[test]
fn roster_format_and_hash_are_pinned() {
    let roster = fixed_roster(None);
    golden("golden/roster.json", &(roster.to_json_pretty() + "\n"));
    golden(
        "golden/roster.hash",
        &format!("{}\n{}\n", roster.hash_hex(), roster.fingerprint()),
    );
    // Parsing the pinned file gives the same roster back.
    let parsed =
        Roster::from_json(&std::fs::read(testdata("golden/roster.json")).unwrap()).unwrap();
    assert_eq!(parsed, roster);
}

#[test]
fn dealer_group_file_is_pinned() {
    let dealer_key = Keys::new(SecretKey::from_slice(&[9; 32]).unwrap());
    let roster = fixed_roster(Some(&dealer_key));
    let mut rng = ChaCha20Rng::seed_from_u64(7);
    let dealt = dealer::deal(&roster, None, &mut rng).unwrap();
    let group = Group::new(roster, dealt.public, Origin::Dealer);
    golden("golden/group-dealer.json", &(group.to_json_pretty() + "\n"));
    let parsed =
        Group::from_json(&std::fs::read(testdata("golden/group-dealer.json")).unwrap()).unwrap();
    assert_eq!(parsed.npub, group.npub);
}

#[test]
fn dkg_round1_payload_is_pinned() {
    let roster = fixed_roster(None);
    let mut rng = ChaCha20Rng::seed_from_u64(11);
    let (_, package) = dkg::part1(&roster, 1, &mut rng).unwrap();
    golden(
        "golden/dkg-1-payload.json",
        &(serde_json::to_string_pretty(&package).unwrap() + "\n"),
    );
}

#[test]
fn event_template_id_is_pinned() {
    let (keys, _) = members();
    let t = br#"{"kind":1,"content":"golden","tags":[["t","passport"]],"created_at":1700000000}"#;
    let ev = passport::events::from_template(t, &keys[0].public_key(), Timestamp::from(1)).unwrap();
    golden("golden/template-event.json", &(ev.as_json() + "\n"));
}

#[test]
fn envelope_tag_layout_is_pinned() {
    let (keys, _) = members();
    let roster = fixed_roster(None);
    let mut rng = ChaCha20Rng::seed_from_u64(11);
    let (_, package) = dkg::part1(&roster, 1, &mut rng).unwrap();
    let binding = Binding::of(&roster);
    let ev = envelope::seal(
        &keys[0],
        Draft {
            binding: &binding,
            round: Round::Dkg1,
            from: Some(1),
            to: None,
            reference: None,
            payload: &package,
        },
    )
    .unwrap();
    let tags: Vec<Vec<String>> = ev.tags.iter().map(|t| t.as_slice().to_vec()).collect();
    let layout = serde_json::json!({ "kind": ev.kind.as_u16(), "tags": tags });
    golden(
        "golden/envelope-dkg-1-tags.json",
        &(serde_json::to_string_pretty(&layout).unwrap() + "\n"),
    );

    // A signed package captured once must keep parsing and verifying in later versions.
    let pinned = testdata("packages/dkg-1-alice.json");
    if bless() && !pinned.exists() {
        std::fs::write(&pinned, ev.as_json() + "\n").unwrap();
    }
    let (event, meta) = envelope::parse(&std::fs::read(&pinned).unwrap()).unwrap();
    let checked = envelope::check(&roster, event, meta, Round::Dkg1, Sender::Member).unwrap();
    assert_eq!(checked.sender, "alice");
    let _: passport::ceremony::frost::keys::dkg::round1::Package = checked.payload(None).unwrap();
}

#[test]
fn confidential_package_round_trips_only_for_its_recipient() {
    let (keys, _) = members();
    let roster = fixed_roster(None);
    let binding = Binding::of(&roster);
    let payload = serde_json::json!({"secret": "for bob only"});
    let ev = envelope::seal(
        &keys[0],
        Draft {
            binding: &binding,
            round: Round::Dkg2,
            from: Some(1),
            to: Some((keys[1].public_key(), 2)),
            reference: None,
            payload: &payload,
        },
    )
    .unwrap();
    assert!(
        !ev.content.contains("for bob only"),
        "confidential payloads are encrypted"
    );
    let (event, meta) = envelope::parse(ev.as_json().as_bytes()).unwrap();
    let checked = envelope::check(&roster, event, meta, Round::Dkg2, Sender::Member).unwrap();
    let opened: serde_json::Value = checked.payload(Some(&keys[1])).unwrap();
    assert_eq!(opened, payload);
    assert!(
        checked
            .payload::<serde_json::Value>(Some(&keys[2]))
            .is_err(),
        "carol cannot read bob's package"
    );
    assert!(checked.require_for(&roster, &keys[2], 3).is_err());
}
