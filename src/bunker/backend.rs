//! Who holds the shares the bunker answers with: this home (at least t shares, e.g. each
//! in its own token) or co-signers connected to serve.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use nostr::{Event, PublicKey, UnsignedEvent};

use super::method::Method;
use crate::ceremony::ecdh::{self, SharedX};
use crate::group::Group;
use crate::home::Home;

pub type BoxFut<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Why a backend could not sign or compute ECDH. Each is a sentence for the client's
/// error reply (no secrets in them), made into text only when the reply is built.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// What this home's signer said (a locked keystore, a share that does not open).
    #[error(transparent)]
    Signer(BoxError),
    #[error(transparent)]
    Ceremony(#[from] crate::ceremony::Error),
    /// The co-signers were asked until none were left or time ran out.
    #[error("the co-signers could not {what}: {}", reasons.join("; "))]
    GaveUp { what: String, reasons: Vec<String> },
    #[error(transparent)]
    Store(#[from] crate::serve::door::Error),
    #[error("internal error: {0}")]
    Db(#[from] crate::serve::Error),
    #[error("internal error: {0}")]
    Internal(String),
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

impl Error {
    pub fn signer(e: impl std::error::Error + Send + Sync + 'static) -> Error {
        Error::Signer(Box::new(e))
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Signs events and computes ECDH with the group key.
pub trait Backend: Send + Sync {
    /// Signs an event as the group.
    fn sign(&self, unsigned: UnsignedEvent) -> BoxFut<'_, Result<Event>>;
    /// ECDH with `peer` for a NIP-46 method (co-signers apply their policy to it).
    fn ecdh(&self, peer: PublicKey, method: Method) -> BoxFut<'_, Result<SharedX>>;
    /// For logs and the startup line.
    fn describe(&self) -> String;
    /// Whether answering asks others (co-signers, whose operators' policy decides).
    fn asks(&self) -> bool {
        false
    }
}

/// Shares held by the serve home itself.
pub struct Local {
    home: Arc<Mutex<Home>>,
    group: Group,
    /// Whether the home keeps its shares unsealed between requests.
    remembers: bool,
}

impl Local {
    /// Fails unless the home holds at least t active shares of `group`. With an age
    /// keystore, whose identity serve holds in memory from the start, each share stays
    /// unsealed after its first use (unsealing and reading it was a fifth of a local
    /// signature's time); a token keystore still unseals, and audits, every use.
    pub fn new(mut home: Home, group: Group) -> super::Result<Local> {
        let seats = home.active_seats(&group).map_err(super::Error::home)?;
        if seats.len() < group.roster.threshold as usize {
            return Err(super::Error::TooFewShares {
                held: seats.len(),
                group: group.npub.clone(),
                needed: group.roster.threshold,
            });
        }
        let remembers = home.remember_shares();
        Ok(Local {
            home: Arc::new(Mutex::new(home)),
            group,
            remembers,
        })
    }

    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Home, &Group) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let home = Arc::clone(&self.home);
        let group = self.group.clone();
        tokio::task::spawn_blocking(move || {
            let h = home.lock().unwrap_or_else(|p| p.into_inner());
            f(&h, &group)
        })
        .await
        .map_err(|e| Error::Internal(e.to_string()))?
    }

    async fn sign_now(&self, unsigned: UnsignedEvent) -> Result<Event> {
        self.blocking(move |home, group| {
            let message = crate::events::Message::Event {
                event: unsigned.clone(),
            };
            let (sig, _) = home
                .sign_alone(
                    group,
                    || Ok::<_, crate::home::Error>(message.bytes()),
                    |_| true,
                )
                .map_err(Error::signer)?;
            crate::events::finish_aggregate(unsigned, &sig).map_err(Error::signer)
        })
        .await
    }
}

impl Backend for Local {
    fn sign(&self, unsigned: UnsignedEvent) -> BoxFut<'_, Result<Event>> {
        Box::pin(async move {
            let signed = self.sign_now(unsigned).await;
            if self.remembers {
                // Off the request's path: the reply goes out while the next nonces are
                // made, so the next request need not wait for them.
                let home = Arc::clone(&self.home);
                tokio::task::spawn_blocking(move || {
                    home.lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .prepare_nonces()
                });
            }
            signed
        })
    }

    fn ecdh(&self, peer: PublicKey, _: Method) -> BoxFut<'_, Result<SharedX>> {
        Box::pin(self.blocking(move |home, group| {
            let seats = home.active_seats(group).map_err(Error::signer)?;
            let keys = seats
                .iter()
                .take(group.roster.threshold as usize)
                .map(|&s| home.share(group, s).map_err(Error::signer))
                .collect::<Result<Vec<_>>>()?;
            let refs: Vec<_> = keys.iter().collect();
            Ok(ecdh::local(
                &refs,
                &group.public_key_package,
                &group.roster,
                &peer,
            )?)
        }))
    }

    fn describe(&self) -> String {
        match self.remembers {
            true => format!(
                "local shares of {} (kept unsealed in memory)",
                self.group.npub
            ),
            false => format!("local shares of {}", self.group.npub),
        }
    }
}
