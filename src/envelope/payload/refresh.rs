//! Wire types of the refresh round family: the JSON payloads its packages carry.

use serde::{Deserialize, Serialize};

use crate::ceremony::frost::keys::dkg::round2;

/// The confidential payload of a refresh round-2 package.
#[derive(Serialize, Deserialize)]
pub struct RoundTwoPayload {
    /// Hash of the set of round-1 packages the sender used.
    pub view: String,
    pub package: round2::Package,
}
