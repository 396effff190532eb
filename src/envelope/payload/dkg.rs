//! Wire types of the DKG round family: the agreement payload (rounds 1 and 2 carry
//! frost-core's own packages).

use serde::{Deserialize, Serialize};

/// The public payload of an agreement package.
#[derive(Serialize, Deserialize)]
pub struct Agreement {
    pub group: String,
    pub public_key_package_hash: String,
}
