//! Who holds the shares the bunker answers with: this home (at least t shares, e.g. each
//! in its own token) or co-signers connected to serve.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use nostr::{Event, PublicKey};

use crate::ceremony::ecdh::{self, SharedX};
use crate::group::Group;
use crate::home::Home;
use crate::ops::sign::{self, ToSign};

pub type BoxFut<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Signs events and computes ECDH with the group key. Errors are sentences for the
/// client's error reply (no secrets in them).
pub trait Backend: Send + Sync {
    /// Signs an event template (JSON: kind, content, tags, created_at) as the group.
    fn sign(&self, template: Vec<u8>) -> BoxFut<'_, Result<Event, String>>;
    fn ecdh(&self, peer: PublicKey) -> BoxFut<'_, Result<SharedX, String>>;
    /// ECDH for a named NIP-46 method (co-signers apply their policy to it).
    fn ecdh_for<'a>(
        &'a self,
        peer: PublicKey,
        method: &'a str,
    ) -> BoxFut<'a, Result<SharedX, String>> {
        let _ = method;
        self.ecdh(peer)
    }
    /// For logs and the startup line.
    fn describe(&self) -> String;
}

/// Shares held by the serve home itself.
pub struct Local {
    home: Arc<Mutex<Home>>,
    group: Group,
}

impl Local {
    /// Fails unless the home holds at least t active shares of `group`.
    pub fn new(home: Home, group: Group) -> super::Result<Local> {
        let seats = home.active_seats(&group).map_err(super::Error::home)?;
        if seats.len() < group.roster.threshold as usize {
            return Err(super::Error::TooFewShares {
                held: seats.len(),
                group: group.npub.clone(),
                needed: group.roster.threshold,
            });
        }
        Ok(Local {
            home: Arc::new(Mutex::new(home)),
            group,
        })
    }

    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Home, &Group) -> Result<T, String> + Send + 'static,
    ) -> Result<T, String> {
        let home = Arc::clone(&self.home);
        let group = self.group.clone();
        tokio::task::spawn_blocking(move || {
            let h = home.lock().unwrap_or_else(|p| p.into_inner());
            f(&h, &group)
        })
        .await
        .map_err(|e| format!("internal error: {e}"))?
    }
}

impl Backend for Local {
    fn sign(&self, template: Vec<u8>) -> BoxFut<'_, Result<Event, String>> {
        Box::pin(self.blocking(move |home, group| {
            let signed =
                sign::sign_local(home, &group.npub, ToSign::Template(template), &mut |_| true)
                    .map_err(|e| e.to_string())?;
            signed
                .event
                .ok_or_else(|| "internal error: no event was signed".to_owned())
        }))
    }

    fn ecdh(&self, peer: PublicKey) -> BoxFut<'_, Result<SharedX, String>> {
        Box::pin(self.blocking(move |home, group| {
            let seats = home.active_seats(group).map_err(|e| e.to_string())?;
            let keys = seats
                .iter()
                .take(group.roster.threshold as usize)
                .map(|&s| home.share(group, s).map_err(|e| e.to_string()))
                .collect::<Result<Vec<_>, _>>()?;
            let refs: Vec<_> = keys.iter().collect();
            ecdh::local(&refs, &group.public_key_package, &group.roster, &peer)
                .map_err(|e| e.to_string())
        }))
    }

    fn describe(&self) -> String {
        format!("local shares of {}", self.group.npub)
    }
}
