//! The bunker's own errors: preparing it (keys, shares, relays) and running it. What a
//! NIP-46 client hears is built from these only where the reply is made.

/// Why the bunker cannot start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Serve(#[from] crate::serve::Error),
    #[error(transparent)]
    Store(#[from] crate::serve::door::Error),
    #[error(transparent)]
    Keystore(#[from] crate::keystore::Error),
    /// What the home said (a group it does not hold, a share that does not open), whole.
    #[error(transparent)]
    Home(Box<dyn std::error::Error + Send + Sync>),
    #[error(
        "this home holds {held} share(s) of {group}; answering alone needs {needed} (or use co-signers)"
    )]
    TooFewShares {
        held: usize,
        group: String,
        needed: u16,
    },
    #[error("--relay {0:?} is not a ws:// or wss:// URL")]
    RelayUrl(String),
    #[error("relay {relay}: {detail}")]
    Relay { relay: String, detail: String },
    #[error("cannot subscribe: {0}")]
    Subscribe(String),
    /// `bunker invite` without `--relay` when no running serve recorded its relays.
    #[error("no running `passport serve --relay` is using this database, so its relays are unknown; name them with --relay")]
    RelaysUnknown,
    /// `bunker invite --relay` naming relays serve does not answer on.
    #[error("serve does not listen on {}; it listens on {}: name those (or leave out --relay), or restart serve with --relay", .relays.join(", "), .serve.join(", "))]
    NotServeRelay {
        relays: Vec<String>,
        serve: Vec<String>,
    },
    /// `bunker console` when no running `serve --relay` recorded its address.
    #[error("no running `passport serve --relay` is using this database, so there is no console to log in to; start serve with --relay (the console is part of its bunker)")]
    ConsoleUnknown,
}

impl Error {
    /// Keeps a home error whole (the CLI maps it to its exit code).
    pub fn home(e: impl std::error::Error + Send + Sync + 'static) -> Error {
        Error::Home(Box::new(e))
    }

    /// True for mistakes in what the operator asked for.
    pub fn is_usage(&self) -> bool {
        matches!(
            self,
            Error::TooFewShares { .. }
                | Error::RelayUrl(_)
                | Error::RelaysUnknown
                | Error::NotServeRelay { .. }
        ) || matches!(self, Error::Serve(e) if e.is_usage())
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
