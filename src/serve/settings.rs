//! The config file's keys and the flag/env overrides, all optional; merged into a
//! [`super::Config`] by `Config::resolve`.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::Error;

/// Every key, optional: used for the file and for the flag/env overrides.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub listen: Option<String>,
    pub public_url: Option<String>,
    pub max_body_bytes: Option<usize>,
    pub auth_window_secs: Option<u64>,
    pub rate_per_pubkey: Option<f64>,
    pub burst_per_pubkey: Option<u32>,
    pub rate_per_ip: Option<f64>,
    pub burst_per_ip: Option<u32>,
    pub long_poll_max_secs: Option<u64>,
    pub header_read_timeout_secs: Option<u64>,
    pub body_read_timeout_secs: Option<u64>,
    pub idle_timeout_secs: Option<u64>,
    pub max_connections: Option<usize>,
    pub max_connections_per_ip: Option<usize>,
    pub new_ceremonies_per_ip_hour: Option<u32>,
    pub db: Option<PathBuf>,
    pub bunker_unknown_rate: Option<f64>,
    pub bunker_unknown_burst: Option<u32>,
    pub bunker_unknown_rate_per_key: Option<f64>,
    pub bunker_unknown_burst_per_key: Option<u32>,
}

impl Settings {
    /// Parses a TOML config file; unknown keys are an error naming the key.
    pub fn from_file(path: &Path) -> Result<Self, Error> {
        let bytes = crate::fsutil::read_bounded(path, 1 << 20).map_err(|e| Error::Io {
            path: path.to_owned(),
            source: e,
        })?;
        let text = String::from_utf8_lossy(&bytes);
        toml::from_str(&text).map_err(|e| Error::Config {
            path: path.display().to_string(),
            detail: e.message().to_owned(),
        })
    }

    /// Fields set in `over` win over fields set here.
    pub(super) fn overlay(self, over: Settings) -> Settings {
        Settings {
            listen: over.listen.or(self.listen),
            public_url: over.public_url.or(self.public_url),
            max_body_bytes: over.max_body_bytes.or(self.max_body_bytes),
            auth_window_secs: over.auth_window_secs.or(self.auth_window_secs),
            rate_per_pubkey: over.rate_per_pubkey.or(self.rate_per_pubkey),
            burst_per_pubkey: over.burst_per_pubkey.or(self.burst_per_pubkey),
            rate_per_ip: over.rate_per_ip.or(self.rate_per_ip),
            burst_per_ip: over.burst_per_ip.or(self.burst_per_ip),
            long_poll_max_secs: over.long_poll_max_secs.or(self.long_poll_max_secs),
            header_read_timeout_secs: over
                .header_read_timeout_secs
                .or(self.header_read_timeout_secs),
            body_read_timeout_secs: over.body_read_timeout_secs.or(self.body_read_timeout_secs),
            idle_timeout_secs: over.idle_timeout_secs.or(self.idle_timeout_secs),
            max_connections: over.max_connections.or(self.max_connections),
            max_connections_per_ip: over.max_connections_per_ip.or(self.max_connections_per_ip),
            new_ceremonies_per_ip_hour: over
                .new_ceremonies_per_ip_hour
                .or(self.new_ceremonies_per_ip_hour),
            db: over.db.or(self.db),
            bunker_unknown_rate: over.bunker_unknown_rate.or(self.bunker_unknown_rate),
            bunker_unknown_burst: over.bunker_unknown_burst.or(self.bunker_unknown_burst),
            bunker_unknown_rate_per_key: over
                .bunker_unknown_rate_per_key
                .or(self.bunker_unknown_rate_per_key),
            bunker_unknown_burst_per_key: over
                .bunker_unknown_burst_per_key
                .or(self.bunker_unknown_burst_per_key),
        }
    }
}
