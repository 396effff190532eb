//! `Roster::from_json`; an accepted roster must hash, fingerprint and survive a
//! serialize/parse round trip unchanged (same value, same hash).
#![no_main]

use libfuzzer_sys::fuzz_target;
use passport::ceremony::Roster;

fuzz_target!(|data: &[u8]| {
    let Ok(roster) = Roster::from_json(data) else { return };
    let hash = roster.hash();
    let fp = roster.fingerprint();
    assert_eq!(fp.len(), 24, "fingerprint {fp:?}");
    assert_eq!(roster.hash_hex(), hex::encode(hash));
    for id in 0..=roster.n().saturating_add(1) {
        let _ = roster.name(id);
        if let Some(m) = roster.member(id) {
            assert!(roster.ids_of(&m.npub).contains(&id));
            assert_eq!(roster.id_by_name(&m.name), Some(id));
            assert_eq!(roster.id_of_identifier(&Roster::identifier(id)), Some(id));
        }
    }

    let pretty = roster.to_json_pretty();
    let again = Roster::from_json(pretty.as_bytes())
        .unwrap_or_else(|e| panic!("a parsed roster must parse again after serializing: {e}\n{pretty}"));
    assert_eq!(again, roster, "roster changed in a round trip");
    assert_eq!(again.hash(), hash, "roster hash changed in a round trip");

    let compact = serde_json::to_vec(&roster).expect("roster serializes");
    let again = Roster::from_json(&compact).expect("compact form parses");
    assert_eq!(again, roster);
});
