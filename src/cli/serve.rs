//! `passport serve`: builds the server config and runs it. Needs no initialized home;
//! only `<home>/serve/` for the database.

use std::io::Write;
use std::path::PathBuf;

use clap::Args;
use serde_json::json;

use super::{Cli, Output};
use crate::error::{Error, Result};
use crate::serve::{self, Config, Settings};

#[derive(Debug, Args)]
#[command(after_long_help = "\
Every setting also comes from a TOML file (--config; keys as the flags, with
underscores: listen, public_url, max_body_bytes, auth_window_secs, rate_per_pubkey,
burst_per_pubkey, rate_per_ip, burst_per_ip, long_poll_max_secs, db). Flags win over
environment variables, which win over the file.

When bound, prints `listening on http://ADDR` (with --json: one object with listening,
public_url and db) on stdout. Stops on SIGINT or SIGTERM.")]
pub struct ServeArgs {
    /// TOML config file.
    #[arg(long, env = "PASSPORT_SERVE_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,
    /// Address to listen on [default: 127.0.0.1:7707]; port 0 picks a free port.
    #[arg(long, env = "PASSPORT_SERVE_LISTEN", value_name = "ADDR")]
    listen: Option<String>,
    /// Base URL clients use, which NIP-98 auth events must name [default: http://ADDR].
    #[arg(long, env = "PASSPORT_SERVE_PUBLIC_URL", value_name = "URL")]
    public_url: Option<String>,
    /// Largest request body accepted [default: 4 MiB + 64 KiB].
    #[arg(long, env = "PASSPORT_SERVE_MAX_BODY_BYTES", value_name = "BYTES")]
    max_body_bytes: Option<usize>,
    /// How old a NIP-98 auth event may be [default: 60].
    #[arg(long, env = "PASSPORT_SERVE_AUTH_WINDOW_SECS", value_name = "SECS")]
    auth_window_secs: Option<u64>,
    /// Requests per second per authenticated key [default: 20].
    #[arg(long, env = "PASSPORT_SERVE_RATE_PER_PUBKEY", value_name = "N")]
    rate_per_pubkey: Option<f64>,
    /// Burst allowance per authenticated key [default: 60].
    #[arg(long, env = "PASSPORT_SERVE_BURST_PER_PUBKEY", value_name = "N")]
    burst_per_pubkey: Option<u32>,
    /// Requests per second per client IP [default: 100].
    #[arg(long, env = "PASSPORT_SERVE_RATE_PER_IP", value_name = "N")]
    rate_per_ip: Option<f64>,
    /// Burst allowance per client IP [default: 300].
    #[arg(long, env = "PASSPORT_SERVE_BURST_PER_IP", value_name = "N")]
    burst_per_ip: Option<u32>,
    /// Longest a package fetch waits for new packages [default: 60].
    #[arg(long, env = "PASSPORT_SERVE_LONG_POLL_MAX_SECS", value_name = "SECS")]
    long_poll_max_secs: Option<u64>,
    /// SQLite database [default: HOME/serve/serve.sqlite].
    #[arg(long, env = "PASSPORT_SERVE_DB", value_name = "FILE")]
    db: Option<PathBuf>,
    /// Log one line per request to stderr.
    #[arg(short, long)]
    verbose: bool,
}

pub fn run(cli: &Cli, a: &ServeArgs, out: &Output) -> Result<()> {
    let overrides = Settings {
        listen: a.listen.clone(),
        public_url: a.public_url.clone(),
        max_body_bytes: a.max_body_bytes,
        auth_window_secs: a.auth_window_secs,
        rate_per_pubkey: a.rate_per_pubkey,
        burst_per_pubkey: a.burst_per_pubkey,
        rate_per_ip: a.rate_per_ip,
        burst_per_ip: a.burst_per_ip,
        long_poll_max_secs: a.long_poll_max_secs,
        db: a.db.clone(),
    };
    let mut config = Config::resolve(&cli.home_path(), a.config.as_deref(), overrides)?;
    config.log_requests = a.verbose;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::Invalid(format!("cannot start the async runtime: {e}")))?;
    let announce = config.clone();
    let json = out.json;
    runtime.block_on(serve::run(config, move |addr| {
        let listening = format!("http://{addr}");
        let line = if json {
            json!({
                "listening": listening,
                "public_url": announce.public_url_for(addr),
                "db": announce.db,
            })
            .to_string()
        } else {
            format!("listening on {listening}")
        };
        // Flushed at once: scripts and tests read the address from this line.
        let mut o = std::io::stdout().lock();
        let _ = writeln!(o, "{line}").and_then(|_| o.flush());
    }))?;
    Ok(())
}
