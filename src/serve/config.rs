//! Server configuration: defaults, then a TOML file, then overrides (flags and
//! `PASSPORT_SERVE_*` environment variables, which clap has already merged, flags first).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use super::Error;
use crate::envelope::MAX_PACKAGE_BYTES;

/// The default listen address: loopback only, so nothing is exposed by accident.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:7707";
/// Room for one maximal package plus JSON framing.
pub const DEFAULT_MAX_BODY_BYTES: usize = MAX_PACKAGE_BYTES + (64 << 10);
/// Honest clients send their headers in one write; ten seconds is room for a slow link.
pub const DEFAULT_HEADER_READ_TIMEOUT_SECS: u64 = 10;
/// A maximal package (4 MiB) at about 70 KB/s.
pub const DEFAULT_BODY_READ_TIMEOUT_SECS: u64 = 60;
pub const DEFAULT_IDLE_TIMEOUT_SECS: u64 = 30;
/// Lowered at startup to what the open-file limit allows.
pub const DEFAULT_MAX_CONNECTIONS: usize = 1024;
/// A member holds one connection (its long poll) at a time; a NAT or an office holds
/// several members.
pub const DEFAULT_MAX_CONNECTIONS_PER_IP: usize = 64;
/// New ceremonies per client IP per hour (a member registers a roster once per DKG,
/// refresh or repair; registering an existing roster again is free).
pub const DEFAULT_NEW_CEREMONIES_PER_IP_HOUR: u32 = 30;

pub use super::settings::Settings;

/// Token buckets (rates per second) for replies to clients without a grant: all such
/// clients together, and each one.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct UnknownBudget {
    pub rate: f64,
    pub burst: u32,
    pub rate_per_key: f64,
    pub burst_per_key: u32,
}

/// A stranger may learn it is not allowed a few times, and all strangers together cost
/// about one reply a second, far below what public relays let one key publish.
pub const DEFAULT_UNKNOWN_BUDGET: UnknownBudget = UnknownBudget {
    rate: 1.0,
    burst: 10,
    rate_per_key: 0.1,
    burst_per_key: 3,
};

#[derive(Clone, Debug)]
pub struct Config {
    pub listen: SocketAddr,
    /// The base URL clients use; `None` means `http://<bound address>`.
    pub public_url: Option<String>,
    pub max_body_bytes: usize,
    pub auth_window_secs: u64,
    pub rate_per_pubkey: f64,
    pub burst_per_pubkey: u32,
    pub rate_per_ip: f64,
    pub burst_per_ip: u32,
    pub long_poll_max_secs: u64,
    /// A request's headers must be complete this long after the connection opened or
    /// its previous answer was sent (so it also ends idle keep-alive connections).
    pub header_read_timeout_secs: u64,
    /// A request's body must be complete this long after its headers.
    pub body_read_timeout_secs: u64,
    /// A connection on which nothing moves for this long while no request is being
    /// handled (a long poll is being handled) is closed.
    pub idle_timeout_secs: u64,
    pub max_connections: usize,
    /// IPv6 clients count per /64.
    pub max_connections_per_ip: usize,
    pub new_ceremonies_per_ip_hour: u32,
    pub db: PathBuf,
    /// The bunker's replies to keys without a grant (keys `bunker_unknown_*`; the
    /// bunker reads them from here, serve only checks them).
    pub bunker_unknown: UnknownBudget,
    /// One stderr line per request (not a file/env key: a run option).
    pub log_requests: bool,
}

impl Config {
    /// The defaults, with the database at `db`.
    pub fn with_db(db: PathBuf) -> Self {
        Config {
            listen: DEFAULT_LISTEN.parse().expect("the default address parses"),
            public_url: None,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            auth_window_secs: 60,
            rate_per_pubkey: 20.0,
            burst_per_pubkey: 60,
            rate_per_ip: 100.0,
            burst_per_ip: 300,
            long_poll_max_secs: 60,
            header_read_timeout_secs: DEFAULT_HEADER_READ_TIMEOUT_SECS,
            body_read_timeout_secs: DEFAULT_BODY_READ_TIMEOUT_SECS,
            idle_timeout_secs: DEFAULT_IDLE_TIMEOUT_SECS,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            max_connections_per_ip: DEFAULT_MAX_CONNECTIONS_PER_IP,
            new_ceremonies_per_ip_hour: DEFAULT_NEW_CEREMONIES_PER_IP_HOUR,
            db,
            bunker_unknown: DEFAULT_UNKNOWN_BUDGET,
            log_requests: false,
        }
    }

    /// The default database path under an operator home.
    pub fn default_db(home: &Path) -> PathBuf {
        home.join("serve").join("serve.sqlite")
    }

    /// Defaults < `file` < `overrides`, validated.
    pub fn resolve(home: &Path, file: Option<&Path>, overrides: Settings) -> Result<Self, Error> {
        let from_file = match file {
            Some(p) => Settings::from_file(p)?,
            None => Settings::default(),
        };
        let s = from_file.overlay(overrides);
        let mut c = Config::with_db(s.db.unwrap_or_else(|| Config::default_db(home)));
        if let Some(l) = s.listen {
            c.listen = l.parse().map_err(|_| {
                bad(
                    "listen",
                    format!("{l:?} is not an address like 127.0.0.1:7707"),
                )
            })?;
        }
        c.public_url = s.public_url;
        c.max_body_bytes = s.max_body_bytes.unwrap_or(c.max_body_bytes);
        c.auth_window_secs = s.auth_window_secs.unwrap_or(c.auth_window_secs);
        c.rate_per_pubkey = s.rate_per_pubkey.unwrap_or(c.rate_per_pubkey);
        c.burst_per_pubkey = s.burst_per_pubkey.unwrap_or(c.burst_per_pubkey);
        c.rate_per_ip = s.rate_per_ip.unwrap_or(c.rate_per_ip);
        c.burst_per_ip = s.burst_per_ip.unwrap_or(c.burst_per_ip);
        c.long_poll_max_secs = s.long_poll_max_secs.unwrap_or(c.long_poll_max_secs);
        let u = &mut c.bunker_unknown;
        u.rate = s.bunker_unknown_rate.unwrap_or(u.rate);
        u.burst = s.bunker_unknown_burst.unwrap_or(u.burst);
        u.rate_per_key = s.bunker_unknown_rate_per_key.unwrap_or(u.rate_per_key);
        u.burst_per_key = s.bunker_unknown_burst_per_key.unwrap_or(u.burst_per_key);
        c.header_read_timeout_secs = s
            .header_read_timeout_secs
            .unwrap_or(c.header_read_timeout_secs);
        c.body_read_timeout_secs = s.body_read_timeout_secs.unwrap_or(c.body_read_timeout_secs);
        c.idle_timeout_secs = s.idle_timeout_secs.unwrap_or(c.idle_timeout_secs);
        c.max_connections = s.max_connections.unwrap_or(c.max_connections);
        c.max_connections_per_ip = s.max_connections_per_ip.unwrap_or(c.max_connections_per_ip);
        c.new_ceremonies_per_ip_hour = s
            .new_ceremonies_per_ip_hour
            .unwrap_or(c.new_ceremonies_per_ip_hour);
        c.validate()?;
        Ok(c)
    }

    /// Refuses values that would make the server useless or unsafe.
    pub fn validate(&self) -> Result<(), Error> {
        if let Some(u) = &self.public_url {
            check_public_url(u)?;
        }
        if self.max_body_bytes < 1024 {
            return Err(bad("max_body_bytes", "must be at least 1024".into()));
        }
        if !(1..=3600).contains(&self.auth_window_secs) {
            return Err(bad("auth_window_secs", "must be 1 to 3600".into()));
        }
        for (key, rate) in [
            ("rate_per_pubkey", self.rate_per_pubkey),
            ("rate_per_ip", self.rate_per_ip),
            ("bunker_unknown_rate", self.bunker_unknown.rate),
            (
                "bunker_unknown_rate_per_key",
                self.bunker_unknown.rate_per_key,
            ),
        ] {
            if !(rate.is_finite() && rate > 0.0) {
                return Err(bad(
                    key,
                    "must be a positive number of requests per second".into(),
                ));
            }
        }
        for (key, burst) in [
            ("burst_per_pubkey", self.burst_per_pubkey),
            ("burst_per_ip", self.burst_per_ip),
            ("bunker_unknown_burst", self.bunker_unknown.burst),
            (
                "bunker_unknown_burst_per_key",
                self.bunker_unknown.burst_per_key,
            ),
        ] {
            if burst == 0 {
                return Err(bad(key, "must be at least 1".into()));
            }
        }
        if self.long_poll_max_secs > 3600 {
            return Err(bad("long_poll_max_secs", "must be at most 3600".into()));
        }
        for (key, secs, max) in [
            (
                "header_read_timeout_secs",
                self.header_read_timeout_secs,
                300,
            ),
            ("body_read_timeout_secs", self.body_read_timeout_secs, 3600),
            ("idle_timeout_secs", self.idle_timeout_secs, 3600),
        ] {
            if !(1..=max).contains(&secs) {
                return Err(bad(key, format!("must be 1 to {max}")));
            }
        }
        for (key, n) in [
            ("max_connections", self.max_connections),
            ("max_connections_per_ip", self.max_connections_per_ip),
            (
                "new_ceremonies_per_ip_hour",
                self.new_ceremonies_per_ip_hour as usize,
            ),
        ] {
            if n == 0 {
                return Err(bad(key, "must be at least 1".into()));
            }
        }
        Ok(())
    }

    /// The base URL clients use once the server is bound to `bound`.
    pub fn public_url_for(&self, bound: SocketAddr) -> String {
        match &self.public_url {
            Some(u) => u.trim_end_matches('/').to_owned(),
            None => format!("http://{bound}"),
        }
    }
}

fn bad(key: &'static str, detail: String) -> Error {
    Error::Setting { key, detail }
}

fn check_public_url(u: &str) -> Result<(), Error> {
    let parsed =
        nostr::Url::parse(u).map_err(|e| bad("public_url", format!("{u:?} is not a URL ({e})")))?;
    if !matches!(parsed.scheme(), "http" | "https")
        || parsed.query().is_some()
        || parsed.fragment().is_some()
    {
        return Err(bad(
            "public_url",
            format!("{u:?} must be an http(s) base URL without query or fragment"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, text: &str) -> PathBuf {
        let p = dir.join("serve.toml");
        std::fs::write(&p, text).expect("write config");
        p
    }

    #[test]
    fn flags_beat_file_beats_defaults() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let file = write(
            tmp.path(),
            "listen = \"127.0.0.1:9000\"\nrate_per_ip = 5.0\nburst_per_ip = 7\n\
             max_connections = 50\nidle_timeout_secs = 9\n",
        );
        let over = Settings {
            listen: Some("127.0.0.1:0".into()),
            max_connections: Some(40),
            ..Settings::default()
        };
        let c = Config::resolve(tmp.path(), Some(&file), over).expect("resolves");
        assert_eq!(c.listen.port(), 0);
        assert_eq!(c.rate_per_ip, 5.0);
        assert_eq!(c.burst_per_ip, 7);
        assert_eq!(c.rate_per_pubkey, 20.0);
        assert_eq!(c.db, tmp.path().join("serve").join("serve.sqlite"));
        assert_eq!(c.max_body_bytes, DEFAULT_MAX_BODY_BYTES);
        assert_eq!(c.max_connections, 40);
        assert_eq!(c.idle_timeout_secs, 9);
        assert_eq!(c.max_connections_per_ip, DEFAULT_MAX_CONNECTIONS_PER_IP);
        assert_eq!(c.header_read_timeout_secs, DEFAULT_HEADER_READ_TIMEOUT_SECS);
        assert_eq!(c.bunker_unknown, DEFAULT_UNKNOWN_BUDGET);
        let file = write(tmp.path(), "bunker_unknown_burst = 2\n");
        let over = Settings {
            bunker_unknown_rate_per_key: Some(0.5),
            ..Settings::default()
        };
        let c = Config::resolve(tmp.path(), Some(&file), over).expect("resolves");
        assert_eq!(c.bunker_unknown.burst, 2);
        assert_eq!(c.bunker_unknown.rate_per_key, 0.5);
        assert_eq!(c.bunker_unknown.rate, 1.0);
    }

    #[test]
    fn unknown_key_is_named() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let file = write(tmp.path(), "lisen = \"127.0.0.1:1\"\n");
        let e =
            Config::resolve(tmp.path(), Some(&file), Settings::default()).expect_err("unknown key");
        assert!(e.to_string().contains("lisen"), "{e}");
    }

    #[test]
    fn bad_values_are_refused() {
        let tmp = tempfile::tempdir().expect("tempdir");
        for (text, key) in [
            ("rate_per_ip = 0.0\n", "rate_per_ip"),
            ("burst_per_pubkey = 0\n", "burst_per_pubkey"),
            ("public_url = \"ftp://x\"\n", "public_url"),
            ("listen = \"nowhere\"\n", "listen"),
            ("bunker_unknown_rate = -1.0\n", "bunker_unknown_rate"),
            (
                "bunker_unknown_burst_per_key = 0\n",
                "bunker_unknown_burst_per_key",
            ),
            ("header_read_timeout_secs = 0\n", "header_read_timeout_secs"),
            ("body_read_timeout_secs = 3601\n", "body_read_timeout_secs"),
            ("idle_timeout_secs = 0\n", "idle_timeout_secs"),
            ("max_connections = 0\n", "max_connections"),
            ("max_connections_per_ip = 0\n", "max_connections_per_ip"),
            (
                "new_ceremonies_per_ip_hour = 0\n",
                "new_ceremonies_per_ip_hour",
            ),
        ] {
            let file = write(tmp.path(), text);
            let e =
                Config::resolve(tmp.path(), Some(&file), Settings::default()).expect_err("invalid");
            assert!(e.to_string().contains(key), "{e}");
        }
    }

    #[test]
    fn public_url_defaults_to_bound_address() {
        let c = Config::with_db("x".into());
        let addr: SocketAddr = "127.0.0.1:4321".parse().expect("addr");
        assert_eq!(c.public_url_for(addr), "http://127.0.0.1:4321");
        let c = Config {
            public_url: Some("https://p.example/".into()),
            ..c
        };
        assert_eq!(c.public_url_for(addr), "https://p.example");
    }
}
