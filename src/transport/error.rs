//! Errors of the transport layer: the network's ([`ViaError`]), the files', and the
//! packages an exchange refuses before a round reads them.

use std::path::PathBuf;

use crate::envelope;
use crate::fsutil;

/// Errors of the transport layer. Each names the file, package or endpoint.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Net(#[from] ViaError),
    #[error(transparent)]
    File(#[from] fsutil::Error),
    /// A package that fails its checks; `at` is the file or the package as fetched.
    #[error("{at}: {source}")]
    Package {
        at: String,
        #[source]
        source: envelope::Error,
    },
    #[error("{at}: package from {sender} answers another request, not {request}")]
    OtherRequest {
        at: String,
        sender: String,
        request: String,
    },
    #[error(
        "{at}: {sender} sent two different {round}s ({first} and {second}); one is forged or the member ran the round twice. Ask {sender} which is real and remove the other"
    )]
    Equivocation {
        at: String,
        sender: String,
        round: &'static str,
        first: String,
        second: String,
    },
    #[error(
        "{} already exists with other content (a package of another attempt?); move it away, or pass --force to overwrite it",
        .0.display()
    )]
    Exists(PathBuf),
    #[error("--via {part:?} is not a URL ({detail})")]
    NotAUrl { part: String, detail: String },
    #[error("--via {part}: scheme {scheme}:// is neither a serve URL (http, https) nor a relay (ws, wss)")]
    Scheme { part: String, scheme: String },
    #[error("--via needs a URL")]
    NoUrl,
    #[error("--via takes one serve URL, or relay URLs, not both")]
    Mixed,
    #[error("this connection carries ceremony {carries}, not {asked}")]
    OtherCeremony { carries: String, asked: String },
    #[error("cannot start the network runtime: {0}")]
    Runtime(String),
    #[error("internal: a round used --via before naming its roster")]
    Unbound,
    /// The transport stayed down until the deadline.
    #[error("timed out waiting for {step}: {detail}. Run the same command again to resume")]
    OutageTimeout { step: String, detail: String },
    #[error(
        "timed out waiting for {step} from {}; they did not answer. Run the same command again to resume where it stopped",
        .missing.join(", ")
    )]
    Timeout { step: String, missing: Vec<String> },
}

impl Error {
    /// A server or relay that is down or misbehaving for now (worth waiting out), as
    /// opposed to a refusal (a 4xx other than 429) or a bad package.
    pub fn is_outage(&self) -> bool {
        match self {
            Error::Net(ViaError::Refused { status, .. }) => {
                !(400..500).contains(status) || *status == 429
            }
            Error::Net(_) | Error::Runtime(_) | Error::OutageTimeout { .. } => true,
            _ => false,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Failures of a transport. Messages say where and what to check.
#[derive(Debug, thiserror::Error)]
pub enum ViaError {
    #[error("cannot reach {url}: {detail}; is `passport serve` running there?")]
    Unreachable { url: String, detail: String },
    #[error("{url} refused the {what} ({status} {kind}): {message}")]
    Refused {
        url: String,
        what: String,
        status: u16,
        kind: String,
        message: String,
    },
    #[error("{url} sent an answer passport cannot read: {detail}")]
    BadAnswer { url: String, detail: String },
    #[error("no relay accepted package {id}: {detail}")]
    NotPublished { id: String, detail: String },
    #[error("cannot connect to any relay of {relays}; check the URLs and that they are up")]
    NoRelay { relays: String },
    #[error("{url} sent more than {limit} bytes in answer to the {what}; stopped reading (a passport serve answer is never that large)")]
    TooLarge {
        url: String,
        what: String,
        limit: usize,
    },
    #[error("{url} keeps answering the fetch with packages but does not advance its cursor (stuck at {cursor}); stopped paging")]
    StuckCursor { url: String, cursor: u64 },
    #[error("{url} did not finish the {what} within {secs} s (--via-timeout); stopped waiting")]
    Deadline {
        url: String,
        what: String,
        secs: u64,
    },
    #[error("relay {url} sent {detail} for one fetch; stopped reading it (drop it from --via if it keeps doing so)")]
    RelayFlood { url: String, detail: String },
}
