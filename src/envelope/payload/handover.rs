//! Wire type of the share hand-over round: one member gives its share to the member
//! who will reconstruct the group key (`recover-nsec --share`). The package is signed by
//! the giver's identity, bound to the group's ceremony and roster, addressed to the
//! recipient's seat and NIP-44 encrypted to its key (see [`super::seal`]).

use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::ceremony::MemberId;

#[derive(Serialize, Deserialize, Zeroize, ZeroizeOnDrop)]
pub struct Payload {
    /// The group's npub, so a share of one group cannot be used for another with the
    /// same roster.
    pub group: String,
    /// The giver's seat.
    pub seat: MemberId,
    /// The giver's FROST key package, serialized and hex encoded (secret).
    pub key_package: String,
}

impl std::fmt::Debug for Payload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Payload")
            .field("group", &self.group)
            .field("seat", &self.seat)
            .finish_non_exhaustive()
    }
}
