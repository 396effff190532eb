//! `passport serve`: builds the server config and runs it. Needs no initialized home;
//! only `<home>/serve/` for the database.

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use serde_json::json;

use super::{Cli, Output};
use crate::bunker;
use crate::error::{Error, OperatorError, Result};
use crate::serve::{self, Config, Settings};

#[derive(Debug, Args)]
#[command(after_long_help = "\
Every setting also comes from a TOML file (--config; keys as the flags, with
underscores: listen, public_url, max_body_bytes, auth_window_secs, rate_per_pubkey,
burst_per_pubkey, rate_per_ip, burst_per_ip, long_poll_max_secs,
header_read_timeout_secs, body_read_timeout_secs, idle_timeout_secs, max_connections,
max_connections_per_ip, new_ceremonies_per_ip_hour, db, bunker_unknown_rate,
bunker_unknown_burst, bunker_unknown_rate_per_key, bunker_unknown_burst_per_key).
Flags win over environment variables, which win over the file.

max_connections is lowered at startup to what the open-file limit (ulimit -n) leaves
room for; a note on stderr says so. At a connection limit, the connection that has
waited longest for a complete request is closed to make room; if every connection is
busy with a request, the new one gets 429 (per IP) or 503 (in total).

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
    /// Time for a request's headers, from connect or the previous answer [default: 10].
    #[arg(
        long,
        env = "PASSPORT_SERVE_HEADER_READ_TIMEOUT_SECS",
        value_name = "SECS"
    )]
    header_read_timeout_secs: Option<u64>,
    /// Time for a request's body, from its headers [default: 60].
    #[arg(
        long,
        env = "PASSPORT_SERVE_BODY_READ_TIMEOUT_SECS",
        value_name = "SECS"
    )]
    body_read_timeout_secs: Option<u64>,
    /// Closes a connection where nothing moves and no request is handled [default: 30].
    #[arg(long, env = "PASSPORT_SERVE_IDLE_TIMEOUT_SECS", value_name = "SECS")]
    idle_timeout_secs: Option<u64>,
    /// Open connections in total, within the open-file limit [default: 1024].
    #[arg(long, env = "PASSPORT_SERVE_MAX_CONNECTIONS", value_name = "N")]
    max_connections: Option<usize>,
    /// Open connections per client IP (IPv6: per /64) [default: 64].
    #[arg(long, env = "PASSPORT_SERVE_MAX_CONNECTIONS_PER_IP", value_name = "N")]
    max_connections_per_ip: Option<usize>,
    /// New ceremonies a client IP may register per hour [default: 30].
    #[arg(
        long,
        env = "PASSPORT_SERVE_NEW_CEREMONIES_PER_IP_HOUR",
        value_name = "N"
    )]
    new_ceremonies_per_ip_hour: Option<u32>,
    /// SQLite database [default: HOME/serve/serve.sqlite].
    #[arg(long, env = "PASSPORT_SERVE_DB", value_name = "FILE")]
    db: Option<PathBuf>,
    /// Log one line per request to stderr.
    #[arg(short, long)]
    verbose: bool,
    /// How stderr logs are written: text lines, or one JSON object per line.
    #[arg(long, value_enum, value_name = "FORMAT", default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    #[command(flatten)]
    bunker: BunkerArgs,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// The NIP-46 bunker beside the HTTP API.
#[derive(Debug, Args)]
pub struct BunkerArgs {
    /// Answer NIP-46 requests (kind 24133) on these relays (repeatable or comma-separated).
    /// Needs an initialized home: the bunker's transport key lives in its keystore.
    #[arg(
        long = "relay",
        value_name = "URL",
        value_delimiter = ',',
        env = "PASSPORT_SERVE_RELAYS"
    )]
    pub relays: Vec<String>,
    /// The group whose key the bunker signs with [default: the only group in the home].
    #[arg(long, value_name = "NPUB", requires = "relays")]
    pub group: Option<String>,
    /// Also draw the bunker:// URI as a QR code on stderr.
    #[arg(long, requires = "relays")]
    pub qr: bool,
    /// Every request gets a reply or an error within this many seconds.
    #[arg(long, value_name = "SECS", default_value_t = 30, requires = "relays")]
    pub request_timeout: u64,
    /// Answer with `passport cosign` agents connected to this server instead of this
    /// home's shares (the default when the home holds fewer than t shares).
    #[arg(long, requires = "relays")]
    pub cosigners: bool,
    /// How long the bunker goes on waiting when nothing progresses (fewer than t
    /// co-signers ready, no answer coming) before it gives up and names who did not
    /// answer. No request waits this out while t co-signers answer: a silent one is
    /// signed around at once.
    #[arg(long, value_name = "SECS", default_value_t = 10, requires = "relays")]
    pub cosigner_timeout: u64,
    /// How long a request that its grant asks the operator about (--ask, --ask-kinds)
    /// waits for approval before the client gets an error.
    #[arg(long, value_name = "SECS", default_value_t = 300, requires = "relays")]
    pub approval_timeout: u64,
    /// Replies per second to all clients without a grant together; requests past this
    /// budget (or the per-key one) get no reply [default: 1].
    #[arg(long, env = "PASSPORT_SERVE_BUNKER_UNKNOWN_RATE", value_name = "N")]
    pub bunker_unknown_rate: Option<f64>,
    /// Burst allowance of that budget [default: 10].
    #[arg(long, env = "PASSPORT_SERVE_BUNKER_UNKNOWN_BURST", value_name = "N")]
    pub bunker_unknown_burst: Option<u32>,
    /// Replies per second to one client without a grant [default: 0.1].
    #[arg(
        long,
        env = "PASSPORT_SERVE_BUNKER_UNKNOWN_RATE_PER_KEY",
        value_name = "N"
    )]
    pub bunker_unknown_rate_per_key: Option<f64>,
    /// Burst allowance per client without a grant [default: 3].
    #[arg(
        long,
        env = "PASSPORT_SERVE_BUNKER_UNKNOWN_BURST_PER_KEY",
        value_name = "N"
    )]
    pub bunker_unknown_burst_per_key: Option<u32>,
    #[command(flatten)]
    pub grant: GrantArgs,
}

/// What a client may do: for the startup secret, `bunker invite` and `bunker clients allow`.
#[derive(Debug, Args, Clone, Default)]
pub struct GrantArgs {
    /// Methods allowed (comma-separated) [default: all]; connect, ping, switch_relays and
    /// logout are always allowed.
    #[arg(long, value_delimiter = ',', value_name = "METHOD,…")]
    pub methods: Option<Vec<String>>,
    /// Event kinds `sign_event` may sign (comma-separated) [default: any].
    #[arg(long, value_delimiter = ',', value_name = "KIND,…")]
    pub kinds: Option<Vec<u16>>,
    /// The grant ends after this long (e.g. 90s, 15m, 12h, 30d) [default: never].
    #[arg(long, value_name = "DURATION")]
    pub expires: Option<String>,
    /// At most this many counted requests [default: unlimited].
    #[arg(long, value_name = "N")]
    pub max_uses: Option<u64>,
    /// At most this many counted requests per minute [default: unlimited].
    #[arg(long, value_name = "N")]
    pub rate: Option<u32>,
    /// These methods (comma-separated) wait for the operator's approval of each request:
    /// the client gets an auth_url link to the approval page, and the answer once
    /// approved (`passport bunker pending|approve|deny` decide from the terminal).
    #[arg(long, value_delimiter = ',', value_name = "METHOD,…")]
    pub ask: Option<Vec<String>>,
    /// sign_event of these kinds (comma-separated) waits for the operator's approval.
    #[arg(long, value_delimiter = ',', value_name = "KIND,…")]
    pub ask_kinds: Option<Vec<u16>>,
}

impl GrantArgs {
    pub fn grant(&self) -> Result<bunker::policy::Grant> {
        let expires_at = match &self.expires {
            Some(d) => Some(
                bunker::unix_now()
                    + bunker::policy::parse_duration(d).map_err(|source| {
                        OperatorError::BadDuration {
                            flag: "--expires",
                            source,
                        }
                    })?,
            ),
            None => None,
        };
        let parse = |ms: &[String]| {
            ms.iter()
                .map(|m| m.parse::<bunker::method::Method>())
                .collect::<std::result::Result<Vec<_>, _>>()
                .map_err(OperatorError::UnknownMethod)
        };
        let methods = match &self.methods {
            Some(ms) => Some(parse(ms)?),
            None => None,
        };
        let ask_methods = parse(self.ask.as_deref().unwrap_or_default())?;
        if let Some(m) = ask_methods.iter().find(|m| m.always_allowed()) {
            return Err(OperatorError::NotAskable(m.to_string()).into());
        }
        let ask_kinds = self.ask_kinds.clone().unwrap_or_default();
        let ask =
            (!ask_methods.is_empty() || !ask_kinds.is_empty()).then_some(bunker::policy::Ask {
                methods: ask_methods,
                kinds: ask_kinds,
            });
        Ok(bunker::policy::Grant {
            methods,
            kinds: self.kinds.clone(),
            expires_at,
            max_uses: self.max_uses,
            rate_per_min: self.rate,
            ask,
        })
    }
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
        header_read_timeout_secs: a.header_read_timeout_secs,
        body_read_timeout_secs: a.body_read_timeout_secs,
        idle_timeout_secs: a.idle_timeout_secs,
        max_connections: a.max_connections,
        max_connections_per_ip: a.max_connections_per_ip,
        new_ceremonies_per_ip_hour: a.new_ceremonies_per_ip_hour,
        db: a.db.clone(),
        bunker_unknown_rate: a.bunker.bunker_unknown_rate,
        bunker_unknown_burst: a.bunker.bunker_unknown_burst,
        bunker_unknown_rate_per_key: a.bunker.bunker_unknown_rate_per_key,
        bunker_unknown_burst_per_key: a.bunker.bunker_unknown_burst_per_key,
    };
    let mut config = Config::resolve(&cli.home_path(), a.config.as_deref(), overrides)?;
    config.log_requests = a.verbose;
    serve::logging::init(match a.log_format {
        LogFormat::Text => serve::logging::LogFormat::Text,
        LogFormat::Json => serve::logging::LogFormat::Json,
    });
    let runtime = runtime()?;
    let b = &a.bunker;
    let prepared = match b.relays.is_empty() {
        true => None,
        false => {
            let relays = parse_relays(&b.relays)?;
            let home = cli.open_home()?;
            let group = match &b.group {
                Some(g) => home.find_group(g)?,
                None => home.only_group()?,
            };
            let options = bunker::Options {
                relays,
                request_timeout: Duration::from_secs(b.request_timeout),
                grant: b.grant.grant()?,
                per_attempt: Duration::from_secs(b.cosigner_timeout.max(1)),
                force_cosigners: b.cosigners,
                approval_timeout: Duration::from_secs(b.approval_timeout.max(1)),
            };
            Some(runtime.block_on(bunker::prepare(home, group, &config, options))?)
        }
    };
    runtime.block_on(serve_until_stopped(config, prepared, b.qr, out.json, false))
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| OperatorError::Runtime(e).into())
}

/// Serves (and, when given, answers NIP-46 as a bunker) until SIGINT/SIGTERM. Prints
/// `listening on http://ADDR` and the bunker:// URI on stdout (with `uri_first`, the URI
/// is the first line and the address goes to stderr).
pub async fn serve_until_stopped(
    config: Config,
    prepared: Option<bunker::Prepared>,
    qr: bool,
    json: bool,
    uri_first: bool,
) -> Result<()> {
    // Text unless `run` chose already.
    serve::logging::init(serve::logging::LogFormat::Text);
    let announce = config.clone();
    let uri = prepared.as_ref().map(|b| b.uri.clone());
    let qr = match (&uri, qr) {
        (Some(u), true) => Some(super::qr::qr(u)?),
        _ => None,
    };
    let ready = move |addr| {
        let listening = format!("http://{addr}");
        let mut lines = vec![];
        if json {
            lines.push(
                json!({
                    "listening": listening,
                    "public_url": announce.public_url_for(addr),
                    "db": announce.db,
                    "bunker": uri,
                })
                .to_string(),
            );
        } else if uri_first {
            lines.extend(uri);
            eprintln!("listening on {listening}");
        } else {
            lines.push(format!("listening on {listening}"));
            lines.extend(uri);
        }
        // Flushed at once: scripts and tests read the address from these lines.
        let mut o = std::io::stdout().lock();
        for l in lines {
            let _ = writeln!(o, "{l}");
        }
        let _ = o.flush();
        if let Some(q) = qr {
            eprintln!("{q}");
        }
    };
    bunker::serve(config, prepared, ready).await?;
    Ok(())
}

pub fn parse_relays(relays: &[String]) -> Result<Vec<url::Url>> {
    Ok(bunker::parse_relays(relays)?)
}

/// The bunker for `group` answered from `home`'s own shares (or, when it holds fewer
/// than t, from co-signers), for `demo bunker`.
pub async fn prepare(
    home: crate::home::Home,
    group: crate::group::Group,
    relays: Vec<url::Url>,
    timeout: Duration,
    grant: &bunker::policy::Grant,
    config: &Config,
) -> Result<bunker::Prepared> {
    let options = bunker::Options {
        relays,
        request_timeout: timeout,
        grant: grant.clone(),
        per_attempt: bunker::cosign::DEFAULT_COSIGNER_TIMEOUT,
        force_cosigners: false,
        approval_timeout: bunker::asking::DEFAULT_WAIT,
    };
    Ok(bunker::prepare(home, group, config, options).await?)
}

impl From<bunker::Error> for Error {
    /// The bunker's errors keep their exit codes: a home's error as it was, the
    /// operator's mistakes as usage errors (see `OperatorError::exit_code`).
    fn from(e: bunker::Error) -> Error {
        match e {
            bunker::Error::Serve(e) => Error::Serve(e),
            bunker::Error::Keystore(e) => Error::Keystore(e),
            bunker::Error::Home(b) => match b.downcast::<Error>() {
                Ok(e) => *e,
                Err(b) => OperatorError::Bunker(bunker::Error::Home(b)).into(),
            },
            e => OperatorError::Bunker(e).into(),
        }
    }
}
