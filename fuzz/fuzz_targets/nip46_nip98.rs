//! What the network hands `serve` and the bunker before anything is authenticated:
//! NIP-98 `Authorization` headers, NIP-46 request JSON, ECDH share JSON from co-signers,
//! and NIP-44/NIP-04 payloads decrypted with a threshold-ECDH secret.
#![no_main]

use libfuzzer_sys::fuzz_target;
use passport::bunker::rpc;
use passport::ceremony::ecdh::{EcdhShare, SharedX};
use passport::serve::auth;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    // The header as sent, and base64 of arbitrary bytes behind the `Nostr ` prefix.
    for header in [
        text.to_string(),
        format!("Nostr {}", base64_std(data)),
    ] {
        let _ = auth::verify(
            Some(&header),
            &auth::Request {
                url: "http://127.0.0.1:7707/v1/ceremonies",
                method: "POST",
                body: Some(data),
            },
            1_700_000_000,
            60,
        );
    }
    if let Ok(req) = std::str::from_utf8(data)
        .map_err(|_| ())
        .and_then(|t| rpc::parse(t).map_err(|_| ()))
    {
        for i in 0..req.params.len().min(4) {
            let _ = req.param(i);
        }
    }
    if let Ok(share) = serde_json::from_slice::<EcdhShare>(data) {
        let _ = serde_json::to_string(&share);
    }
    let shared = SharedX::from_bytes([7u8; 32]);
    let _ = passport::conversation::nip44_decrypt(&shared, &text);
    let _ = passport::conversation::nip04_decrypt(&shared, &text);
});

fn base64_std(data: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(data)
}
