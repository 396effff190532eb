//! Wire types of the signing round family: the JSON payloads its packages carry
//! (commitments, requests, shares) and the commitments' lifetime.

use std::collections::BTreeMap;

use nostr::Event;
use serde::{Deserialize, Serialize};

use crate::ceremony::frost::round1::SigningCommitments;
use crate::ceremony::frost::round2::SignatureShare;
use crate::ceremony::frost::SigningPackage;
use crate::ceremony::MemberId;
use crate::events::Message;

/// How long a commitment may be used unless `sign commit --valid-for` says otherwise.
pub const DEFAULT_VALID_FOR: u64 = 24 * 3600;
pub const MIN_VALID_FOR: u64 = 60;
/// Coordinators cap a package's stated lifetime at this.
pub const MAX_VALID_FOR: u64 = 30 * 86_400;

/// When a commitment package stops being usable, as a coordinator sees it: the package
/// event's (signed) `created_at` plus the lifetime it states (the default when it states
/// none, capped at [`MAX_VALID_FOR`]).
pub fn package_expires(created_at: u64, valid_for: Option<u64>) -> u64 {
    created_at.saturating_add(valid_for.unwrap_or(DEFAULT_VALID_FOR).min(MAX_VALID_FOR))
}

#[derive(Serialize, Deserialize)]
pub struct CommitEntry {
    pub id: String,
    #[serde(deserialize_with = "super::frost_wire::commitments")]
    pub commitments: SigningCommitments,
}

/// Public payload of a commitment package: one or more preprocessed commitments.
#[derive(Serialize, Deserialize)]
pub struct CommitPayload {
    pub group: String,
    pub commitments: Vec<CommitEntry>,
    /// How long after the package's `created_at` its commitments may be used (seconds;
    /// absent in packages of older versions: [`DEFAULT_VALID_FOR`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_for: Option<u64>,
}

impl CommitPayload {
    /// When this package's commitments expire (see [`package_expires`]).
    pub fn expires_at(&self, ev: &Event) -> u64 {
        package_expires(ev.created_at.as_secs(), self.valid_for)
    }
}

/// What a commitment package's own maker keeps its pool by: the ids and the lifetime,
/// without decoding the FROST points (each decode costs a square root in the field,
/// and an agent looks at its whole pool whenever anything arrives).
#[derive(Deserialize)]
pub struct CommitPeek {
    pub commitments: Vec<IdPeek>,
    #[serde(default)]
    pub valid_for: Option<u64>,
}

#[derive(Deserialize)]
pub struct IdPeek {
    pub id: String,
}

impl CommitPeek {
    /// As [`CommitPayload::expires_at`].
    pub fn expires_at(&self, ev: &Event) -> u64 {
        package_expires(ev.created_at.as_secs(), self.valid_for)
    }
}

/// Which commitment a signing request names for each seat, read without checking or
/// decoding the rest: enough to tell whether a request is ours at all.
#[derive(Deserialize)]
pub struct RequestPeek {
    pub commitment_ids: BTreeMap<MemberId, String>,
}

/// Public payload of a signing request.
#[derive(Serialize, Deserialize)]
pub struct RequestPayload {
    pub group: String,
    pub message: Message,
    #[serde(deserialize_with = "super::frost_wire::signing_package")]
    pub signing_package: SigningPackage,
    /// Which preprocessed commitment each signer must use, by seat.
    pub commitment_ids: BTreeMap<MemberId, String>,
}

/// Public payload of a signature share package.
#[derive(Serialize, Deserialize)]
pub struct SharePayload {
    pub request: String,
    pub share: SignatureShare,
}
