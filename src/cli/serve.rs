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
    #[command(flatten)]
    bunker: BunkerArgs,
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
    /// How long one co-signer has to answer before the bunker asks another.
    #[arg(long, value_name = "SECS", default_value_t = 10, requires = "relays")]
    pub cosigner_timeout: u64,
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
}

impl GrantArgs {
    pub fn grant(&self) -> Result<crate::bunker::policy::Grant> {
        let expires_at = match &self.expires {
            Some(d) => Some(
                crate::bunker::unix_now()
                    + crate::bunker::policy::parse_duration(d)
                        .map_err(|e| Error::Invalid(format!("--expires: {e}")))?,
            ),
            None => None,
        };
        let g = crate::bunker::policy::Grant {
            methods: self.methods.clone(),
            kinds: self.kinds.clone(),
            expires_at,
            max_uses: self.max_uses,
            rate_per_min: self.rate,
        };
        g.validate()
            .map_err(|e| Error::Invalid(format!("--methods: {e}")))?;
        Ok(g)
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
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::Invalid(format!("cannot start the async runtime: {e}")))?;
    let bunker = match a.bunker.relays.is_empty() {
        true => None,
        false => Some(runtime.block_on(prepare_bunker(cli, &a.bunker, &config))?),
    };
    let qr = a.bunker.qr;
    runtime.block_on(serve_until_stopped(config, bunker, qr, out.json, false))
}

/// Serves (and, when given, answers NIP-46 as a bunker) until SIGINT/SIGTERM. Prints
/// `listening on http://ADDR` and the bunker:// URI on stdout (with `uri_first`, the URI
/// is the first line and the address goes to stderr).
pub async fn serve_until_stopped(
    config: Config,
    bunker: Option<Prepared>,
    qr: bool,
    json: bool,
    uri_first: bool,
) -> Result<()> {
    let announce = config.clone();
    let unknown = config.bunker_unknown;
    let uri = bunker.as_ref().map(|b| b.uri.clone());
    let qr = match (&uri, qr) {
        (Some(u), true) => Some(crate::bunker::qr(u)?),
        _ => None,
    };
    let sidecar = bunker.map(|b| {
        let f: serve::Sidecar = Box::new(move |state: &serve::AppState| {
            let stats = std::sync::Arc::new(crate::bunker::Stats::default());
            state.attach_bunker_stats(stats.clone());
            let state = state.clone();
            Box::pin(async move {
                let backend: std::sync::Arc<dyn crate::bunker::Backend> = match b.backend {
                    Choice::Ready(backend) => backend,
                    Choice::Cosigners(per_attempt) => std::sync::Arc::new(
                        crate::bunker::cosign::Cosigners::new(
                            state.clone(),
                            b.transport.clone(),
                            b.group.clone(),
                            per_attempt,
                            b.timeout,
                        )
                        .await?,
                    ),
                };
                eprintln!("passport serve: bunker answers with {}", backend.describe());
                let bunker = std::sync::Arc::new(
                    crate::bunker::Bunker::new(
                        b.transport,
                        b.relays,
                        b.group,
                        backend,
                        state.db().clone(),
                        b.timeout,
                    )
                    .with_stats(stats)
                    .with_unknown_limits(unknown),
                );
                bunker.start(state.shutdown_signal()).await
            })
        });
        f
    });
    serve::run_with(
        config,
        move |addr| {
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
        },
        sidecar,
    )
    .await?;
    Ok(())
}

/// What the bunker needs, prepared before the server starts: transport key, group,
/// backend, and a fresh single-use secret (stored) for the URI printed at startup.
pub struct Prepared {
    transport: nostr::Keys,
    relays: Vec<url::Url>,
    group: crate::group::Group,
    backend: Choice,
    timeout: std::time::Duration,
    pub uri: String,
}

/// Who answers: ready now (this home's shares), or co-signers, whose backend needs the
/// running server's store.
enum Choice {
    Ready(std::sync::Arc<dyn crate::bunker::Backend>),
    /// With this per-attempt timeout.
    Cosigners(std::time::Duration),
}

async fn prepare_bunker(cli: &Cli, a: &BunkerArgs, config: &Config) -> Result<Prepared> {
    let relays = parse_relays(&a.relays)?;
    let home = cli.open_home()?;
    let group = match &a.group {
        Some(g) => home.find_group(g)?,
        None => home.only_group()?,
    };
    let cosigners = std::time::Duration::from_secs(a.cosigner_timeout.max(1));
    prepare_with(
        home,
        group,
        relays,
        std::time::Duration::from_secs(a.request_timeout),
        &a.grant.grant()?,
        config,
        cosigners,
        a.cosigners,
    )
    .await
}

pub fn parse_relays(relays: &[String]) -> Result<Vec<url::Url>> {
    relays
        .iter()
        .map(|r| match url::Url::parse(r) {
            Ok(u) if matches!(u.scheme(), "ws" | "wss") => Ok(u),
            _ => Err(Error::Invalid(format!(
                "--relay {r:?} is not a ws:// or wss:// URL"
            ))),
        })
        .collect()
}

/// The bunker for `group` answered from `home`'s own shares (or, when it holds fewer
/// than t, from co-signers), with a fresh single-use secret (stored in serve's
/// database) in its URI.
pub async fn prepare(
    home: crate::home::Home,
    group: crate::group::Group,
    relays: Vec<url::Url>,
    timeout: std::time::Duration,
    grant: &crate::bunker::policy::Grant,
    config: &Config,
) -> Result<Prepared> {
    let per_attempt = crate::bunker::cosign::DEFAULT_COSIGNER_TIMEOUT;
    prepare_with(
        home,
        group,
        relays,
        timeout,
        grant,
        config,
        per_attempt,
        false,
    )
    .await
}

/// [`prepare`], choosing the backend: co-signers (each given `per_attempt` to answer)
/// when the home holds fewer than t shares or `force_cosigners`.
#[allow(clippy::too_many_arguments)]
pub async fn prepare_with(
    home: crate::home::Home,
    group: crate::group::Group,
    relays: Vec<url::Url>,
    timeout: std::time::Duration,
    grant: &crate::bunker::policy::Grant,
    config: &Config,
    per_attempt: std::time::Duration,
    force_cosigners: bool,
) -> Result<Prepared> {
    let transport = crate::bunker::transport_keys(&home)?;
    let secret = crate::bunker::new_secret();
    let db = serve::db::Db::open(&config.db)?;
    let (s, g, now) = (secret.clone(), grant.clone(), crate::bunker::unix_now());
    db.call(move |c| crate::bunker::policy::add_secret(c, &s, &g, now, None))
        .await?;
    let uri = crate::bunker::bunker_uri(&transport.public_key(), &relays, Some(&secret));
    let enough = home.active_seats(&group)?.len() >= group.roster.threshold as usize;
    let backend = if force_cosigners || !enough {
        Choice::Cosigners(per_attempt)
    } else {
        Choice::Ready(std::sync::Arc::new(crate::bunker::backend::Local::new(
            home,
            group.clone(),
        )?))
    };
    Ok(Prepared {
        transport,
        relays,
        group,
        backend,
        timeout,
        uri,
    })
}
