//! `passport bunker clients list|allow|revoke`, `bunker invite`, `bunker connect`: the
//! NIP-46 bunker's clients, kept in the bunker's tables of serve's database (the running server sees changes
//! at once).

use std::path::PathBuf;

use clap::{Args, Subcommand};
use nostr::PublicKey;
use serde::Serialize;

use super::serve::GrantArgs;
use super::{Cli, Output};
use crate::bunker::{self, approval, policy};
use crate::error::{OperatorError, Result};
use crate::ops::Report;

mod console;
mod invite;
mod pending;
mod shown;

mod connect;

#[derive(Debug, Subcommand)]
pub enum BunkerCmd {
    /// Authorized clients: list them, allow one (or change its grant), revoke one.
    #[command(subcommand)]
    Clients(ClientsCmd),
    /// Print a bunker:// URI with a new single-use secret that grants what the flags say,
    /// naming the relays the running `serve --relay` listens on.
    Invite(invite::InviteArgs),
    /// Answer a client's nostrconnect:// URI: authorize it and send it the connect reply.
    Connect(ConnectArgs),
    /// The requests waiting for the operator's approval (grants with --ask, --ask-kinds).
    Pending(DbArg),
    /// Approve a waiting request: the bunker answers the client on the request's id.
    Approve(pending::DecideArgs),
    /// Deny a waiting request: the client gets the error "denied by the operator".
    Deny(pending::DecideArgs),
    /// Print a one-time login link to the approval pages of the running serve
    /// (/console: the waiting requests, Approve and Deny).
    Console(console::ConsoleArgs),
}

#[derive(Debug, Subcommand)]
pub enum ClientsCmd {
    /// Every authorized client with its grant and use count.
    List(DbArg),
    /// Authorize a client pubkey (npub or hex), or replace its grant.
    Allow(AllowArgs),
    /// Remove a client; its next request is refused.
    Revoke(RevokeArgs),
}

#[derive(Debug, Args)]
pub struct DbArg {
    /// serve's database [default: HOME/serve/serve.sqlite].
    #[arg(long, env = "PASSPORT_SERVE_DB", value_name = "FILE")]
    db: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct AllowArgs {
    /// The client's pubkey (npub or hex).
    client: String,
    /// A name to remember the client by.
    #[arg(long)]
    label: Option<String>,
    #[command(flatten)]
    grant: GrantArgs,
    #[command(flatten)]
    db: DbArg,
}

#[derive(Debug, Args)]
pub struct RevokeArgs {
    /// The client's pubkey (npub or hex).
    client: String,
    #[command(flatten)]
    db: DbArg,
}

#[derive(Debug, Args)]
pub struct ConnectArgs {
    /// The client's nostrconnect://… URI (with its perms, name, url and image
    /// parameters, or the older metadata={json}).
    uri: String,
    /// A name to remember the client by.
    #[arg(long)]
    label: Option<String>,
    /// Grant what the URI's perms ask for without asking (scripts); without it the
    /// request is shown and asked at the terminal. --methods or --kinds grant that instead.
    #[arg(long, conflicts_with_all = ["methods", "kinds"])]
    accept_perms: bool,
    #[command(flatten)]
    grant: GrantArgs,
    #[command(flatten)]
    db: DbArg,
}

fn db_path(cli: &Cli, a: &DbArg) -> PathBuf {
    a.db.clone()
        .unwrap_or_else(|| cli.home_path().join("serve").join("serve.sqlite"))
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| OperatorError::Runtime(e).into())
}

fn with_db<T: Send + 'static>(
    cli: &Cli,
    a: &DbArg,
    f: impl FnOnce(&mut rusqlite::Connection) -> rusqlite::Result<T> + Send + 'static,
) -> Result<T> {
    let path = db_path(cli, a);
    let rt = runtime()?;
    let db = rt.block_on(bunker::store::open(&path))?;
    Ok(rt.block_on(db.call(f))?)
}

fn parse_client(s: &str) -> Result<PublicKey> {
    PublicKey::parse(s.trim()).map_err(|source| {
        OperatorError::NotAPublicKey {
            input: s.into(),
            source,
        }
        .into()
    })
}

#[derive(Serialize)]
struct ClientList {
    #[serde(serialize_with = "shown::clients")]
    clients: Vec<policy::Client>,
}

impl Report for ClientList {
    fn human(&self) -> String {
        if self.clients.is_empty() {
            return "no authorized clients".into();
        }
        let now = crate::bunker::unix_now();
        let mut s = String::new();
        for c in &self.clients {
            let pk = PublicKey::parse(&c.pubkey)
                .map(|p| bunker::npub(&p))
                .unwrap_or_else(|_| c.pubkey.clone());
            s.push_str(&format!(
                "{pk}{}\n  methods: {}  kinds: {}  uses: {}{}  rate: {}  expires: {}\n  ask the operator: {}\n  added: {}\n",
                c.label
                    .as_deref()
                    .map(|l| format!(" ({l})"))
                    .unwrap_or_default(),
                c.grant.methods.as_ref().map_or("all".into(), |m| m
                    .iter()
                    .map(|m| m.as_str())
                    .collect::<Vec<_>>()
                    .join(",")),
                c.grant.kinds.as_ref().map_or("any".into(), |k| k
                    .iter()
                    .map(u16::to_string)
                    .collect::<Vec<_>>()
                    .join(",")),
                c.uses,
                c.grant
                    .max_uses
                    .map(|m| format!("/{m}"))
                    .unwrap_or_default(),
                c.grant
                    .rate_per_min
                    .map_or("unlimited".into(), |r| format!("{r}/min")),
                shown::expiry(c.grant.expires_at, now),
                shown::ask(&c.grant),
                shown::when(c.created_at, now),
            ));
            if let Some(m) = &c.meta {
                s.push_str(&format!("  client says: {}\n", connect::says(m)));
            }
        }
        s.trim_end().to_owned()
    }
}

#[derive(Serialize)]
struct Changed {
    client: String,
    action: &'static str,
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "shown::grant_opt"
    )]
    grant: Option<policy::Grant>,
}

impl Report for Changed {
    fn human(&self) -> String {
        format!("{} {}", self.action, self.client)
    }
}

pub fn run(cli: &Cli, cmd: &BunkerCmd, out: &Output) -> Result<()> {
    let now = crate::bunker::unix_now();
    match cmd {
        BunkerCmd::Clients(ClientsCmd::List(a)) => {
            let clients = with_db(cli, a, policy::list)?;
            out.report(&ClientList { clients })
        }
        BunkerCmd::Clients(ClientsCmd::Allow(a)) => {
            let pk = parse_client(&a.client)?;
            let grant = a.grant.grant()?;
            let (g, hex, label) = (grant.clone(), pk.to_hex(), a.label.clone());
            with_db(cli, &a.db, move |c| {
                policy::allow(c, &hex, &g, now, label.as_deref())
            })?;
            out.report(&Changed {
                client: bunker::npub(&pk),
                action: "allowed",
                grant: Some(grant),
            })
        }
        BunkerCmd::Clients(ClientsCmd::Revoke(a)) => {
            let pk = parse_client(&a.client)?;
            let hex = pk.to_hex();
            if !with_db(cli, &a.db, move |c| policy::revoke(c, &hex))? {
                return Err(OperatorError::NotAClient {
                    npub: bunker::npub(&pk),
                }
                .into());
            }
            out.report(&Changed {
                client: bunker::npub(&pk),
                action: "revoked",
                grant: None,
            })
        }
        BunkerCmd::Invite(a) => invite::run(cli, a, out, now),
        BunkerCmd::Connect(a) => connect::run(cli, a, out, now),
        BunkerCmd::Pending(a) => pending::list(cli, a, out, now),
        BunkerCmd::Approve(a) => pending::decide(cli, a, approval::Decision::Approve, out, now),
        BunkerCmd::Deny(a) => pending::decide(cli, a, approval::Decision::Deny, out, now),
        BunkerCmd::Console(a) => console::run(cli, a, out, now),
    }
}
