//! Wire types of the trusted-dealer round family: the JSON payloads its packages carry.

use serde::{Deserialize, Serialize};

use crate::ceremony::frost::keys::SecretShare;
use crate::group::Group;

/// The confidential payload of a dealer share package.
#[derive(Serialize, Deserialize)]
pub struct DealerShare {
    pub group: Group,
    pub share: SecretShare,
}
