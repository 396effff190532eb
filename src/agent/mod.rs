//! The session agent (`passport unlock`): a background process that holds a passphrase
//! home's unlocked keystore key, so an operator pays scrypt once per session instead of
//! once per command (like ssh-agent or gpg-agent).
//!
//! It listens on `<home>/agent.sock` (0600, same-uid peers only), holds nothing but the
//! keystore's age identity (zeroized when it locks), and locks itself at its deadline,
//! on `passport lock`, on SIGTERM/SIGINT/SIGHUP, and when its socket is removed or
//! replaced. Commands that need the keystore key ask it first and fall back to the
//! passphrase when no agent answers (see `keystore::file::Unlock::Agent`).
//!
//! The protocol is one JSON line each way, versioned ([`VERSION`]), with bounded reads:
//! `{"v":1,"op":"status"|"key"|"extend"|"lock","secs":N}` and
//! `{"v":1,"ok":true,"pid":…,"until":…,"recipient":…,"identity":…}` or
//! `{"v":1,"ok":false,"error":"…"}`. Only `key` answers carry the identity.

#[cfg(unix)]
pub mod client;
#[cfg(unix)]
pub mod server;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The protocol version both sides speak.
pub const VERSION: u32 = 1;
/// The longest a session may last.
pub const MAX_SECS: u64 = 24 * 3600;
/// The default session length of `passport unlock`.
pub const DEFAULT_FOR: &str = "15m";
/// Bounds on one request line and one response line (an identity is ~75 bytes).
pub const MAX_REQUEST: usize = 1024;
pub const MAX_RESPONSE: usize = 4096;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("the session agent socket {} belongs to another user (uid {uid}); refusing to use it. Remove it, and check who can write to this home", .path.display())]
    Foreign { path: PathBuf, uid: u32 },
    #[error("the session agent of this home holds another keystore key than the home's; run `passport lock`, then `passport unlock` again")]
    WrongKey,
    /// The agent's own words, as received (another passport's agent may say anything).
    #[error("the session agent refused: {reason}")]
    Refusal { reason: String },
    /// The home records no keystore key the agent could check its key against.
    #[error("the session agent refused: {0}")]
    Unrecorded(#[source] Box<dyn std::error::Error + Send + Sync>),
    #[error("the session agent's answer is not understood ({0}); run `passport lock`, then `passport unlock` again")]
    Protocol(Misread),
    #[error("the session agent did not start: {0}")]
    Start(StartError),
    #[error("session agent socket {}: {source}", .path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// How an agent's answer breaks the protocol.
#[derive(Debug, thiserror::Error)]
pub enum Misread {
    #[error("an answer longer than the protocol allows")]
    TooLong,
    #[error("an unterminated answer")]
    Unterminated,
    #[error("not a JSON answer of this protocol")]
    NotJson,
    #[error("protocol version {0} (this passport speaks {VERSION})")]
    Version(u32),
    #[error("an answer without pid or deadline")]
    NoStatus,
    #[error("a key answer without a key")]
    NoKey,
    #[error("a key answer whose key is not an age identity")]
    NotAnIdentity,
}

/// Why a new agent did not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("a session lasts between 1s and 24h")]
    Span,
    #[error("what it was given is not an age identity")]
    NotAnIdentity,
    #[error("{0}")]
    Runtime(#[source] std::io::Error),
    #[error("{0}")]
    Signals(#[source] std::io::Error),
    /// The key could not be written to the new agent's stdin.
    #[error("{0}")]
    Handover(#[source] std::io::Error),
    /// It exited early; `why` is what it printed on its way out.
    #[error("{why} ({status})")]
    Exited {
        why: String,
        status: std::process::ExitStatus,
    },
    #[error("it did not answer on {} within {secs} s", .socket.display())]
    NoAnswer { socket: PathBuf, secs: u64 },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Where a home's agent listens.
pub fn socket_path(root: &Path) -> PathBuf {
    root.join("agent.sock")
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Request {
    pub v: u32,
    pub op: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secs: Option<u64>,
}

impl Request {
    pub fn new(op: &str, secs: Option<u64>) -> Self {
        Request {
            v: VERSION,
            op: op.into(),
            secs,
        }
    }
}

/// One answer. `identity` borrows from the (zeroized) line buffer, so the secret is
/// never copied into a string of its own on the way in.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Response<'a> {
    pub v: u32,
    pub ok: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<u32>,
    /// Unix seconds at which the agent locks itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<u64>,
    /// The age recipient (public) of the key the agent holds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recipient: Option<String>,
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    pub identity: Option<&'a str>,
}

/// What a running agent says about itself.
#[derive(Clone, Debug, Serialize)]
pub struct Status {
    pub pid: u32,
    pub until: u64,
}

/// Parses a session length: `90s`, `15m`, `2h`, `1h30m`; at least 1 s, at most 24 h.
pub fn parse_span(s: &str) -> std::result::Result<u64, String> {
    let hint = "give a duration such as 90s, 15m, 2h or 1h30m";
    let (mut total, mut num, mut any) = (0u64, String::new(), false);
    for c in s.trim().chars() {
        if c.is_ascii_digit() {
            num.push(c);
            continue;
        }
        let unit = match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            _ => return Err(format!("{s:?} is not a duration: {hint}")),
        };
        let n: u64 = num
            .parse()
            .map_err(|_| format!("{s:?} is not a duration: {hint}"))?;
        total = n
            .checked_mul(unit)
            .and_then(|v| total.checked_add(v))
            .ok_or_else(|| format!("{s:?} is longer than 24h"))?;
        num.clear();
        any = true;
    }
    if !num.is_empty() || !any {
        return Err(format!(
            "{s:?} is not a duration (a unit is needed): {hint}"
        ));
    }
    match total {
        0 => Err("a session must last at least 1s".into()),
        t if t > MAX_SECS => Err(format!(
            "{s:?} is longer than 24h, the longest session `passport unlock` allows"
        )),
        t => Ok(t),
    }
}

#[cfg(test)]
mod tests {
    use super::parse_span;

    #[test]
    fn spans_parse_with_units_and_bounds() {
        assert_eq!(parse_span("90s"), Ok(90));
        assert_eq!(parse_span("15m"), Ok(900));
        assert_eq!(parse_span("1h30m"), Ok(5400));
        assert_eq!(parse_span("24h"), Ok(86_400));
        for bad in [
            "",
            "15",
            "m",
            "0s",
            "25h",
            "1d",
            "-5m",
            "99999999999999999999h",
        ] {
            assert!(parse_span(bad).is_err(), "{bad:?} should be refused");
        }
    }
}
