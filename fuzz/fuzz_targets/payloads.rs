//! Package payloads (`serde_json::from_slice`) of every round: they embed FROST serde
//! types (commitments, signing packages, shares, DKG packages) with their own parsers.
//! What parses is then used the way the ops layer uses it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use passport::ceremony::frost::keys::dkg::{round1, round2};
use passport::ceremony::{dealer, dkg};
use passport::envelope::payload::dkg::Agreement;
use passport::envelope::payload::keygen::DealerShare;
use passport::envelope::payload::sign::{CommitPayload, RequestPayload, SharePayload};

fuzz_target!(|data: &[u8]| {
    let fx = passport_fuzz::fixture();

    if let Ok(p) = serde_json::from_slice::<CommitPayload>(data) {
        let _ = serde_json::to_string(&p);
    }
    if let Ok(p) = serde_json::from_slice::<RequestPayload>(data) {
        let _ = p.message.bytes();
        let _ = p.signing_package.message();
        for ident in p.signing_package.signing_commitments().keys() {
            let _ = fx.roster.id_of_identifier(ident);
        }
        let _ = serde_json::to_string(&p);
    }
    if let Ok(p) = serde_json::from_slice::<SharePayload>(data) {
        let _ = serde_json::to_string(&p);
    }
    if let Ok(p) = serde_json::from_slice::<Agreement>(data) {
        let _ = hex::decode(&p.public_key_package_hash);
    }
    if let Ok(p) = serde_json::from_slice::<DealerShare>(data) {
        // As `keygen::import` does once the roster matches: the group file inside a
        // dealer share is not validated by deserializing it.
        let group = p.group;
        if group.roster.validate().is_ok() {
            let xonly = group.xonly();
            for seat in group.roster.ids() {
                let _ = dealer::accept_share(
                    &group.roster,
                    seat,
                    p.share.clone(),
                    &group.public_key_package,
                    &xonly,
                );
            }
        }
        let _ = serde_json::to_string(&p.share);
    }
    if let Ok(p) = serde_json::from_slice::<round1::Package>(data) {
        for seat in fx.roster.ids() {
            let _ = dkg::check_round1(&fx.roster, seat, &p);
        }
    }
    if let Ok(p) = serde_json::from_slice::<round2::Package>(data) {
        let _ = serde_json::to_string(&p);
    }
});
