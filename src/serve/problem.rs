//! What is wrong with a request, by the API error kind it is answered with: one typed
//! enum per kind that can have several causes, so the reply's sentence is written once,
//! here, from the values it names.

use crate::envelope;

/// `not-found`.
#[derive(Debug, thiserror::Error)]
pub enum Missing {
    /// An id that cannot be a ceremony's (shown quoted, as given).
    #[error("no ceremony {given:?} on this server; create it with POST /v1/ceremonies")]
    NoSuchId { given: String },
    #[error("no ceremony {id} on this server; create it with POST /v1/ceremonies")]
    Ceremony { id: String },
    #[error("there is no {path} here; the API is described at /v1/openapi.json")]
    Route { path: String },
}

/// `not-a-member`.
#[derive(Debug, thiserror::Error)]
pub enum Outsider {
    #[error("{who} is neither a member nor the dealer of ceremony {ceremony}")]
    OfCeremony { who: String, ceremony: String },
    #[error("{who} is neither a member nor the dealer of this roster; only they may register it")]
    OfRoster { who: String },
    #[error(transparent)]
    Package(envelope::Error),
}

/// `bad-request`.
#[derive(Debug, thiserror::Error)]
pub enum Unclear {
    #[error("the request body could not be read: {reason}")]
    Body { reason: String },
    #[error("bad query: {reason}")]
    Query { reason: String },
    #[error("{given:?} is not a round (e.g. dkg-1, sign-share)")]
    Round { given: String },
}

/// `malformed`.
#[derive(Debug, thiserror::Error)]
pub enum Bad {
    #[error("the body is not a valid roster: {0}")]
    Roster(#[source] crate::ceremony::Error),
    #[error(transparent)]
    Package(envelope::Error),
}

/// `wrong-round`.
#[derive(Debug, thiserror::Error)]
pub enum Misround {
    #[error(transparent)]
    Package(envelope::Error),
    /// A round this ceremony or this server does not carry (`round`: as described).
    #[error("{sender} sent a {round}, but {why}")]
    NotCarried {
        sender: String,
        round: &'static str,
        why: NotCarried,
    },
    /// An answer to a request the server does not hold (`answers`: short event id).
    #[error(
        "{sender}'s {round} answers {answers}, which is not {wanted} accepted in this \
         ceremony; post the request first"
    )]
    Unanswered {
        sender: String,
        round: &'static str,
        answers: String,
        wanted: &'static str,
    },
    #[error("{sender} sent a {round} before its DKG round-1 package; post round 1 first")]
    BeforeRound1 { sender: String, round: &'static str },
}

/// Why a round is not carried.
#[derive(Debug, Clone, Copy, thiserror::Error)]
pub enum NotCarried {
    #[error("this roster has no dealer")]
    NoDealer,
    #[error("this roster has a dealer, so it runs no DKG")]
    HasDealer,
    #[error(
        "share hand-overs are never carried by serve; give the file to the recovering member \
         directly"
    )]
    Handover,
    #[error("only the bunker inside `passport serve` issues ECDH requests")]
    EcdhOutside,
    #[error("it names no signing request (`e` tag)")]
    NoSigningRequest,
    #[error("it names no request (`e` tag)")]
    NoRequest,
    #[error("it names no ECDH request (`e` tag)")]
    NoEcdhRequest,
}

/// `wrong-recipient`.
#[derive(Debug, thiserror::Error)]
pub enum Misaddressed {
    #[error(transparent)]
    Package(envelope::Error),
    #[error(
        "{sender}'s {round} is addressed to seat {seat} ({member}) but encrypted for {key}, \
         which is not {member}'s key"
    )]
    OtherKey {
        sender: String,
        round: &'static str,
        seat: u16,
        member: String,
        key: String,
    },
    #[error("{sender}'s {round} is addressed to seat {seat}, which is not in the roster")]
    NoSuchSeat {
        sender: String,
        round: &'static str,
        seat: u16,
    },
}

/// `conflict`: a second, different package for the same slot (`existing`: short id).
#[derive(Debug, thiserror::Error)]
#[error(
    "{sender} already sent a different {round} (event {existing}); a member sends one per round \
     and recipient"
)]
pub struct Clash {
    pub sender: String,
    pub round: &'static str,
    pub existing: String,
}
