//! `events::from_template` with a fixed group key, and `events::raw_message` on the
//! same bytes as text; what they accept must give the bytes FROST would sign.
#![no_main]

use libfuzzer_sys::fuzz_target;
use nostr::Timestamp;
use passport::events::{self, Message};

fuzz_target!(|data: &[u8]| {
    let fx = passport_fuzz::fixture();
    let now = Timestamp::from(1_700_000_000);
    if let Ok(event) = events::from_template(data, &fx.group_key, now) {
        assert_eq!(event.pubkey, fx.group_key);
        let msg = Message::Event { event };
        assert_eq!(msg.bytes().len(), 32);
        // The message travels inside signing requests: it must round-trip.
        let json = serde_json::to_string(&msg).expect("message serializes");
        let back: Message = serde_json::from_str(&json)
            .unwrap_or_else(|e| panic!("message does not parse back: {e}\n{json}"));
        assert_eq!(back.bytes(), msg.bytes());
    }
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(msg) = events::raw_message(text) {
            assert_eq!(msg.bytes().len(), 32);
        }
    }
});
