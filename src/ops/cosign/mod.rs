//! `passport cosign --via URL`: a co-signer agent for the bunker inside `passport serve`.
//!
//! It keeps a pool of single-commitment `sign-commit` packages on serve, long-polls the
//! group's ceremony, and answers requests that name its seat: a `sign-request` that uses
//! one of its open commitments gets a `sign-share` (the nonce is burnt durably first), an
//! `ecdh-request` gets an `ecdh-share` whose s_i·P and DLEQ proof are NIP-44 encrypted to
//! the request's author. Either may instead get a `sign-refusal` with the reason, when the
//! agent's policy (coordinator, kinds, methods, rate, the operator's approval) says no.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use nostr::{Event, Keys, PublicKey};
use serde::{Deserialize, Serialize};

use super::sign::Summary;
use crate::ceremony::MemberId;
use crate::group::Group;
use crate::home::Home;

mod agent;
mod ecdh_request;
mod policy;
mod sign_request;

pub use agent::run;

/// Requests older than this (by their `created_at`) are not answered: their coordinator
/// has given up on them.
pub const MAX_REQUEST_AGE: u64 = 120;

/// Pooled commitments are replaced this long before they expire, so a coordinator never
/// picks one that expires while the request is on its way.
const EXPIRY_MARGIN: u64 = 600;

/// The ECDH methods a co-signer may serve; `sign_event` is the signing method.
pub const METHODS: [&str; 5] = [
    "sign_event",
    "nip44_encrypt",
    "nip44_decrypt",
    "nip04_encrypt",
    "nip04_decrypt",
];

/// What the operator is asked before an ECDH contribution.
#[derive(Clone, Debug, Serialize)]
pub struct EcdhSummary {
    pub group: String,
    pub member: String,
    pub coordinator: String,
    pub method: String,
    pub peer: String,
}

/// The agent's own rules, checked before anything is computed.
#[derive(Clone, Debug, Default)]
pub struct Policy {
    /// Only these coordinators' requests are answered.
    pub coordinator: Option<PublicKey>,
    /// Event kinds it signs [default: any]; raw messages are refused when set.
    pub kinds: Option<Vec<u16>>,
    /// Methods it serves [default: all of [`METHODS`]].
    pub methods: Option<Vec<String>>,
    /// Answers (not refusals) per minute.
    pub rate_per_min: Option<u32>,
}

/// Asks the operator (interactive approval); `false` refuses.
pub trait Approver {
    fn sign(&mut self, s: &Summary) -> bool;
    fn ecdh(&mut self, s: &EcdhSummary) -> bool;
}

pub struct Options<'a> {
    pub group: &'a str,
    pub member: Option<&'a str>,
    pub pool: usize,
    pub policy: Policy,
    /// Stop after this long [default: run until stopped].
    pub timeout: Option<Duration>,
    /// Stop after this many answered or refused requests.
    pub max_requests: Option<u64>,
    /// Test only: send wrong signature shares and ECDH points.
    pub corrupt_for_testing: bool,
}

/// One request handled.
#[derive(Clone, Debug, Serialize)]
pub struct Answered {
    pub member: String,
    pub request: String,
    /// `sign_event` or an ECDH method.
    pub method: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<u16>,
    /// `answered` or `refused`.
    pub outcome: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub coordinator: String,
}

/// What a run did, when it stops.
#[derive(Clone, Debug, Serialize)]
pub struct Finished {
    pub group: String,
    pub member: String,
    pub answered: u64,
    pub refused: u64,
}

impl super::Report for Finished {
    fn human(&self) -> String {
        format!(
            "{} stopped co-signing for {}: {} answered, {} refused",
            self.member, self.group, self.answered, self.refused
        )
    }
}

/// Events an agent reports while it runs.
pub enum Note<'a> {
    /// Connected, with this many commitments published.
    Ready {
        member: &'a str,
        commitments: usize,
    },
    Answered(&'a Answered),
    /// Something went wrong that the agent survives (serve unreachable, a bad request).
    Problem(&'a str),
}

/// Saved in the home: the commitment packages this seat has published and not used.
#[derive(Serialize, Deserialize, Default)]
struct PoolState {
    commits: Vec<Event>,
}

struct Agent<'a> {
    home: &'a Home,
    group: Group,
    seat: MemberId,
    name: String,
    keys: Keys,
    opts: &'a Options<'a>,
    state_rel: String,
    pool: PoolState,
    recent: VecDeque<Instant>,
    answered_ecdh: VecDeque<String>,
}
