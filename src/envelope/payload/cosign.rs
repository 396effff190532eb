//! Wire types of the co-signer round family: the JSON payloads of the bunker's ECDH
//! requests and shares, and of a co-signer's refusal.

use serde::{Deserialize, Serialize};

use crate::ceremony::MemberId;

/// Payload of a `sign-refusal`: which request, and why (shown to the NIP-46 client).
#[derive(Serialize, Deserialize)]
pub struct RefusalPayload {
    pub request: String,
    pub reason: String,
}

/// Payload of an `ecdh-request` (public: the peer key is not secret).
#[derive(Serialize, Deserialize)]
pub struct EcdhRequestPayload {
    pub group: String,
    /// The peer's x-only key, hex.
    pub peer: String,
    /// Binds the DLEQ proofs to this request (random, hex).
    pub context: String,
    pub signers: Vec<MemberId>,
    /// The NIP-46 method that needs the ECDH (co-signer policy decides on it).
    pub method: String,
}

/// Payload of an `ecdh-share`: the [`ecdh::EcdhShare`] JSON, NIP-44 encrypted by the
/// member to the request's author, so neither serve nor other members see s_i·P.
#[derive(Serialize, Deserialize)]
pub struct EcdhSharePayload {
    pub request: String,
    pub share: String,
}
