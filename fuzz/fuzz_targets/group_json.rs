//! `Group::from_json`; an accepted group file must yield its key and survive a round trip.
#![no_main]

use libfuzzer_sys::fuzz_target;
use passport::group::Group;

fuzz_target!(|data: &[u8]| {
    let Ok(group) = Group::from_json(data) else { return };
    let pk = group.public_key();
    assert_eq!(pk.to_bytes(), group.xonly());
    assert_eq!(group.id(), hex::encode(group.xonly()));
    let _ = passport::ceremony::public_package_hash(&group.public_key_package);
    let pretty = group.to_json_pretty();
    let again = Group::from_json(pretty.as_bytes())
        .unwrap_or_else(|e| panic!("a parsed group must parse again after serializing: {e}\n{pretty}"));
    assert_eq!(again.npub, group.npub);
    assert_eq!(again.roster, group.roster);
    assert_eq!(again.xonly(), group.xonly());
});
