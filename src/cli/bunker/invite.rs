//! `passport bunker invite`: a bunker:// URI with a fresh single-use secret, naming the
//! relays the running `passport serve --relay` answers on (recorded beside its
//! database, [`crate::bunker::listening`]), and the grant the secret confers restated.

use clap::Args;
use serde::Serialize;
use serde_json::Value;

use super::shown;
use super::{with_db, Cli, DbArg, Output};
use crate::bunker::{self, listening, policy};
use crate::cli::serve::GrantArgs;
use crate::error::{OperatorError, Result};
use crate::ops::Report;

#[derive(Debug, Args)]
pub struct InviteArgs {
    /// Relays to name in the URI [default: those the running `serve --relay` listens
    /// on]; a relay serve does not listen on is refused.
    #[arg(long = "relay", value_name = "URL", value_delimiter = ',')]
    relays: Vec<String>,
    /// The secret stops working after this long if unused (e.g. 15m, 1d) [default: never].
    #[arg(long, value_name = "DURATION")]
    valid_for: Option<String>,
    /// Also draw the bunker:// URI as a QR code on stderr (a phone scans it).
    #[arg(long)]
    qr: bool,
    #[command(flatten)]
    grant: GrantArgs,
    #[command(flatten)]
    db: DbArg,
}

#[derive(Serialize)]
struct Invite {
    uri: String,
    relays: Vec<String>,
    /// `serve` (what the running serve listens on) or `--relay`.
    relays_from: &'static str,
    #[serde(serialize_with = "grant_with_dates")]
    grant: policy::Grant,
    /// Unix seconds after which the unused secret stops working.
    valid_until: Option<u64>,
    valid_until_date: Option<String>,
    #[serde(skip)]
    now: u64,
}

fn grant_with_dates<S: serde::Serializer>(g: &policy::Grant, s: S) -> Result<S::Ok, S::Error> {
    Value::serialize(&shown::grant_json(g), s)
}

impl Report for Invite {
    fn human(&self) -> String {
        format!(
            "a single-use invitation (give it to one client):\n  relays: {} ({})\n{}\n  secret valid until: {}",
            self.relays.join(", "),
            match self.relays_from {
                "serve" => "where serve listens",
                _ => "from --relay",
            },
            shown::grant_lines(&self.grant, self.now),
            self.valid_until
                .map_or("used (no time limit)".into(), |t| shown::when(t, self.now)),
        )
    }
    fn stdout(&self) -> Option<String> {
        Some(self.uri.clone())
    }
}

pub fn run(cli: &Cli, a: &InviteArgs, out: &Output, now: u64) -> Result<()> {
    let grant = a.grant.grant()?;
    let valid = match &a.valid_for {
        Some(d) => Some(
            now + policy::parse_duration(d).map_err(|source| OperatorError::BadDuration {
                flag: "--valid-for",
                source,
            })?,
        ),
        None => None,
    };
    // serve's relays as serve itself is configured: its record, else the variable it reads.
    let configured: Option<Vec<String>> = std::env::var("PASSPORT_SERVE_RELAYS").ok().map(|v| {
        v.split(',')
            .map(str::trim)
            .filter(|r| !r.is_empty())
            .map(str::to_owned)
            .collect()
    });
    let chosen = listening::for_invite(
        &super::db_path(cli, &a.db),
        &a.relays,
        configured.as_deref(),
    )?;
    if let Some(w) = &chosen.warning {
        out.warning(&format!("warning: {w}"));
    }
    let home = cli.open_home()?;
    let transport = bunker::transport_keys(&home)?;
    let secret = bunker::new_secret();
    let (s, g) = (secret.clone(), grant.clone());
    with_db(cli, &a.db, move |c| {
        policy::add_secret(c, &s, &g, now, valid)
    })?;
    let uri = bunker::bunker_uri(&transport.public_key(), &chosen.relays, Some(&secret));
    let report = Invite {
        relays: chosen
            .relays
            .iter()
            .map(|r| listening::short(r).to_owned())
            .collect(),
        relays_from: if chosen.from_serve {
            "serve"
        } else {
            "--relay"
        },
        grant,
        valid_until: valid,
        valid_until_date: valid.map(crate::clock::date),
        now,
        uri,
    };
    out.report(&report)?;
    if a.qr {
        // On stderr, like `serve --qr`: stdout stays the URI (or the one JSON object).
        eprintln!("{}", crate::cli::qr::qr(&report.uri)?);
    }
    Ok(())
}
