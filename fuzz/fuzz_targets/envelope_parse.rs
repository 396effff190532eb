//! `envelope::parse` on arbitrary bytes, then `check` against a fixed roster for two
//! rounds (its own and a wrong one) and every sender kind, then the payload (decrypted by the
//! recipient and by someone else).
//!
//! Raw bytes almost never carry a valid signature, so inputs starting with a NUL byte
//! are instead read as tags + content that the harness signs with a fixed key (see
//! `passport_fuzz::Structured`); that reaches the tag reader, `check` and `payload`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use passport::envelope::{self, Round, Sender, PACKAGE_KIND};
use passport_fuzz::{fixture, Fixture, Structured};

fuzz_target!(|data: &[u8]| {
    let fx = fixture();
    exercise(fx, data);
    if let Some(s) = Structured::decode(data) {
        if let Some(json) = s.seal_json(fx) {
            exercise(fx, &json);
        }
    }
});

fn exercise(fx: &Fixture, bytes: &[u8]) {
    let Ok((event, meta)) = envelope::parse(bytes) else { return };
    assert_eq!(event.kind.as_u16(), PACKAGE_KIND);
    assert!(!meta.round.confidential() || (meta.encrypted && meta.to.is_some()));
    let _ = envelope::short_npub(&event.pubkey);
    let dealer = fx.dealer.public_key();
    // The package's own round (the deepest path) and one other (the wrong-round error,
    // which `check` reports last, after every other check).
    let i = Round::ALL.iter().position(|&r| r == meta.round).expect("a known round");
    for round in [meta.round, Round::ALL[(i + 1) % Round::ALL.len()]] {
        for sender in [Sender::Member, Sender::Key(&dealer, "the dealer"), Sender::Anyone] {
            let member = matches!(sender, Sender::Member);
            let Ok(c) = envelope::check(&fx.roster, event.clone(), meta.clone(), round, sender) else { continue };
            assert_eq!(c.meta.round, round);
            if member {
                let seat = c.from.expect("member packages have a seat");
                assert_eq!(fx.roster.member(seat).map(|m| m.npub), Some(event.pubkey));
            }
            let _ = c.payload::<serde_json::Value>(None);
            for (i, keys) in fx.identities().into_iter().enumerate() {
                let seat = i as u16;
                let _ = c.is_for(&keys.public_key(), seat);
                let _ = c.require_for(&fx.roster, keys, seat);
            }
            if c.meta.encrypted {
                // The recipient (when it is one of ours) and someone else.
                let to = c.meta.to.map(|(pk, _)| pk);
                let ids = fx.identities();
                let recipient = ids.iter().find(|k| Some(k.public_key()) == to);
                let other = ids.iter().find(|k| Some(k.public_key()) != to).expect("five identities");
                for keys in recipient.into_iter().chain([other]) {
                    let _ = c.payload::<serde_json::Value>(Some(keys));
                }
            }
        }
    }
}
