//! Wire types of the repair round family: the JSON payloads its packages carry.

use serde::{Deserialize, Serialize};

use crate::ceremony::frost::keys::repairable::{Delta, Sigma};

/// The confidential payload of a delta package.
#[derive(Serialize, Deserialize)]
pub struct DeltaPayload {
    pub delta: Delta,
}

/// The confidential payload of a sigma package.
#[derive(Serialize, Deserialize)]
pub struct SigmaPayload {
    pub sigma: Sigma,
}
