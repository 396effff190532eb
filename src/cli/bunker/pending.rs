//! `passport bunker pending`, `approve ID`, `deny ID`: the requests that wait for the
//! operator (a grant's --ask, --ask-kinds), decided from the terminal. They write serve's
//! database directly; the running bunker sees the decision within a fraction of a
//! second and answers the client on the request's id.

use clap::Args;
use serde::Serialize;
use serde_json::{json, Value};

use super::{shown, with_db, DbArg};
use crate::bunker::approval::{self, Decided, Decision, Pending};
use crate::cli::{Cli, Output};
use crate::error::{OperatorError, Result};
use crate::ops::Report;
use crate::untrusted;

#[derive(Debug, Args)]
pub struct DecideArgs {
    /// The request's id, as `passport bunker pending` lists it.
    id: String,
    #[command(flatten)]
    db: DbArg,
}

/// Longest content shown in a list line.
const SUMMARY: usize = 60;

/// A request as JSON, with dates beside its Unix times.
fn pending_json(p: &Pending) -> Value {
    let mut v = serde_json::to_value(p).expect("requests serialize");
    if let Some(o) = v.as_object_mut() {
        o.insert("created".into(), json!(crate::clock::date(p.created_at)));
        o.insert("expires".into(), json!(crate::clock::date(p.expires_at)));
    }
    v
}

fn all<S: serde::Serializer>(ps: &[Pending], s: S) -> std::result::Result<S::Ok, S::Error> {
    s.collect_seq(ps.iter().map(pending_json))
}

/// The client as the operator knows it: its hint name (escaped, unverified) and npub.
fn who(p: &Pending) -> String {
    match p.meta.as_ref().and_then(|m| m.name.as_deref()) {
        Some(n) => format!("{} {}", untrusted::quoted(n), p.client_npub),
        None => p.client_npub.clone(),
    }
}

/// What is asked, on one line: `sign_event kind 1: "content…"`, `nip44_encrypt for
/// npub… (12 bytes)`.
fn what(p: &Pending) -> String {
    let peer = p
        .peer
        .as_deref()
        .and_then(|h| nostr::PublicKey::from_hex(h).ok());
    let peer = peer.map(|k| crate::bunker::npub(&k));
    match (&p.event, peer) {
        (Some(e), _) => {
            let content = e.get("content").and_then(Value::as_str).unwrap_or("");
            let mut cut: String = content.chars().take(SUMMARY).collect();
            if cut.len() < content.len() {
                cut.push('…');
            }
            format!(
                "{} kind {}: {}",
                p.method,
                p.kind.map_or("?".into(), |k| k.to_string()),
                untrusted::quoted(&cut)
            )
        }
        (None, Some(peer)) => match p.text_len {
            Some(n) => format!("{} for {peer} ({n} bytes)", p.method),
            None => format!("{} with {peer}", p.method),
        },
        (None, None) => p.method.clone(),
    }
}

#[derive(Serialize)]
struct PendingList {
    #[serde(serialize_with = "all")]
    pending: Vec<Pending>,
}

impl Report for PendingList {
    fn human(&self) -> String {
        if self.pending.is_empty() {
            return "no requests wait for the operator".into();
        }
        let now = crate::bunker::unix_now();
        let mut s = String::new();
        for p in &self.pending {
            s.push_str(&format!(
                "{}  {}\n  {}\n  asked {}, expires {}\n",
                p.id,
                who(p),
                what(p),
                shown::when(p.created_at, now),
                shown::when(p.expires_at, now),
            ));
        }
        s.push_str("approve or deny one with `passport bunker approve ID` / `deny ID`");
        s
    }
}

#[derive(Serialize)]
struct DecidedReport {
    id: String,
    decision: Decision,
    #[serde(serialize_with = "one")]
    request: Pending,
}

fn one<S: serde::Serializer>(p: &Pending, s: S) -> std::result::Result<S::Ok, S::Error> {
    serde::Serialize::serialize(&pending_json(p), s)
}

impl Report for DecidedReport {
    fn human(&self) -> String {
        let done = match self.decision {
            Decision::Approve => "approved",
            Decision::Deny => "denied",
        };
        format!(
            "{done} {}: {} from {}",
            self.id,
            what(&self.request),
            who(&self.request)
        )
    }
}

pub fn list(cli: &Cli, a: &DbArg, out: &Output, now: u64) -> Result<()> {
    let pending = with_db(cli, a, move |c| approval::list(c, now))?;
    out.report(&PendingList { pending })
}

pub fn decide(cli: &Cli, a: &DecideArgs, d: Decision, out: &Output, now: u64) -> Result<()> {
    let id = a.id.trim().to_owned();
    let key = id.clone();
    let (request, r) = with_db(cli, &a.db, move |c| {
        let Some(p) = approval::get(c, &key)? else {
            return Ok((None, Decided::NotFound));
        };
        Ok((Some(p), approval::decide(c, &key, d, now)?))
    })?;
    // What the operator typed is theirs, but shown escaped like anything echoed.
    let shown_id = untrusted::line(&id);
    match (request, r) {
        (Some(request), Decided::Done) => out.report(&DecidedReport {
            id,
            decision: d,
            request,
        }),
        (_, Decided::AlreadyDecided) => Err(OperatorError::PendingDecided { id: shown_id }.into()),
        (_, Decided::Expired) => Err(OperatorError::PendingExpired { id: shown_id }.into()),
        _ => Err(OperatorError::NoPending { id: shown_id }.into()),
    }
}
