//! `passport sign commit|request|share|aggregate|event`: threshold signing over files.

use std::collections::BTreeMap;
use std::path::Path;

use nostr::{Event, JsonUtil, Timestamp};
use serde::{Deserialize, Serialize};

use super::{
    collect, delivered_lines, nonce, pick_seat, read_source, Exchange, Input, Report, Want,
};
use crate::ceremony::frost::round2::SignatureShare;
use crate::ceremony::{signing, MemberId, Roster};
use crate::envelope::payload::sign::{CommitEntry, CommitPayload, RequestPayload, SharePayload};
use crate::envelope::{self, Binding, Draft, Round, Sender};
use crate::error::{Error, Result, SignError};
use crate::events::{self, Message};
use crate::group::Group;
use crate::home::Home;

/// What a member is asked to consent to before producing a signature share.
#[derive(Clone, Debug, Serialize)]
pub struct Summary {
    pub group: String,
    pub member: String,
    /// How the coordinator is named in messages (a roster name, or a short npub).
    pub coordinator: String,
    /// The key that signed the request (`None`: this home, signing alone).
    pub coordinator_npub: Option<String>,
    /// The roster seats that key holds, by name (empty: not a roster member).
    pub coordinator_seats: Vec<String>,
    pub signers: Vec<String>,
    /// `None` for a raw message.
    pub kind: Option<u16>,
    pub content: Option<String>,
    pub tags: Vec<Vec<String>>,
    pub created_at: Option<u64>,
    /// What FROST signs, hex: the event id (NIP-01) or the raw 32-byte message.
    pub message: String,
}

/// Asked before a share is produced; `false` refuses.
pub type Consent<'a> = &'a mut dyn FnMut(&Summary) -> bool;

pub fn nonce_name(group: &Group, seat: MemberId, id: &str) -> String {
    format!("nonces/{}.{seat}/{id}", group.id())
}

pub(super) fn rejected(path: &str) -> impl Fn(envelope::Error) -> Error + '_ {
    move |source| {
        SignError::Package {
            path: path.to_owned(),
            source,
        }
        .into()
    }
}

mod aggregate;
mod commit;
mod request;
mod share;

pub use aggregate::*;
pub use commit::*;
pub use request::*;
pub use share::*;
