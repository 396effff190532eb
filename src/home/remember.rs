//! Shares kept unsealed in memory by a long-running holder (serve's bunker), when the
//! keystore's own key lives in this process anyway: an age identity, never a token's.
//! With them, round-1 nonces made ahead of the next request (FROST's preprocessing,
//! RFC 9591 §5.1), so that a signature need not wait for them.

use std::collections::HashMap;
use std::sync::Mutex;

use super::*;
use crate::ceremony::frost::round1::{SigningCommitments, SigningNonces};
use crate::ceremony::signing;

/// Nonce pairs kept ready per remembered share ([`Home::prepare_nonces`]).
const READY_NONCES: usize = 2;

/// A share as it was last unsealed, with the sealed bytes it came from: each use reads
/// the sealed file again, so a share replaced (refresh, repair) is unsealed anew and one
/// removed (retire) is refused, exactly as without this.
struct Remembered {
    blob: Vec<u8>,
    context: String,
    // ZeroizeOnDrop (frost-core): wiped when replaced, and when serve stops.
    key: KeyPackage,
    /// Nonces made with `key` and not used yet. Each leaves this list before it is used
    /// (so never twice), none is ever written anywhere (a restart simply drops them),
    /// and they go with the share when its sealed file changes.
    nonces: Vec<(SigningNonces, SigningCommitments)>,
}

#[derive(Default)]
pub(super) struct Shares(Mutex<HashMap<String, Remembered>>);

impl Shares {
    /// The share unsealed from exactly `blob` under `name` and `context`, if any.
    pub(super) fn get(&self, name: &str, context: &str, blob: &[u8]) -> Option<KeyPackage> {
        let map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        map.get(name)
            .filter(|r| r.blob == blob && r.context == context)
            .map(|r| r.key.clone())
    }

    pub(super) fn put(&self, name: &str, context: &str, blob: Vec<u8>, key: &KeyPackage) {
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        map.insert(
            name.to_owned(),
            Remembered {
                blob,
                context: context.to_owned(),
                key: key.clone(),
                nonces: vec![],
            },
        );
    }

    /// A nonce pair made ahead for exactly `key` under `name`, taken out of the pool.
    pub(super) fn take_nonces(
        &self,
        name: &str,
        key: &KeyPackage,
    ) -> Option<(SigningNonces, SigningCommitments)> {
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        map.get_mut(name).filter(|r| r.key == *key)?.nonces.pop()
    }

    /// Tops up every remembered share's nonces to [`READY_NONCES`].
    fn refill(&self) {
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        for r in map.values_mut() {
            while r.nonces.len() < READY_NONCES {
                let made = signing::commit(&r.key, &mut rand::rngs::OsRng);
                r.nonces.push(made);
            }
        }
    }
}

impl Home {
    /// From now on keeps each share unsealed in memory after its first use, if the
    /// keystore's key is in memory anyway ([`Sealer::key_in_memory`]: an age identity,
    /// which can unseal every share at any time). Returns whether it does. For a process
    /// that signs for a long time (the bunker); a token keystore unseals on every use.
    pub fn remember_shares(&mut self) -> bool {
        if self.keystore.sealer().key_in_memory() {
            self.remembered.get_or_insert_with(Shares::default);
        }
        self.remembered.is_some()
    }

    /// Makes round-1 nonces ahead for the shares this home remembers (none otherwise;
    /// nothing is unsealed for it), for [`Home::sign_alone`] to use instead of making
    /// them while a request waits. Call it between requests.
    pub fn prepare_nonces(&self) {
        if let Some(r) = &self.remembered {
            r.refill();
        }
    }

    /// A nonce pair for `key`: one made ahead if there is one, else a fresh one.
    pub(super) fn nonces_for(
        &self,
        name: &str,
        key: &KeyPackage,
    ) -> (SigningNonces, SigningCommitments) {
        self.remembered
            .as_ref()
            .and_then(|r| r.take_nonces(name, key))
            .unwrap_or_else(|| signing::commit(key, &mut rand::rngs::OsRng))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ceremony::frost;

    fn key() -> KeyPackage {
        let (shares, _) = frost::keys::generate_with_dealer(
            3,
            2,
            frost::keys::IdentifierList::Default,
            rand::rngs::OsRng,
        )
        .unwrap();
        let share = shares.into_values().next().unwrap();
        KeyPackage::try_from(share).unwrap()
    }

    #[test]
    fn nonces_are_made_for_the_share_they_go_with_and_taken_once() {
        let shares = Shares::default();
        let (k, other) = (key(), key());
        assert!(
            shares.take_nonces("s", &k).is_none(),
            "nothing remembered yet"
        );
        shares.put("s", "ctx", b"blob".to_vec(), &k);
        assert!(shares.take_nonces("s", &k).is_none(), "none made yet");
        shares.refill();
        assert!(
            shares.take_nonces("s", &other).is_none(),
            "not for another share"
        );
        let a = shares.take_nonces("s", &k).unwrap().1;
        let b = shares.take_nonces("s", &k).unwrap().1;
        assert_ne!(a, b);
        assert!(
            shares.take_nonces("s", &k).is_none(),
            "{READY_NONCES} made, each once"
        );
        shares.refill();
        // A share unsealed anew (its file changed) starts with no nonces.
        shares.put("s", "ctx", b"new blob".to_vec(), &k);
        assert!(shares.take_nonces("s", &k).is_none());
        assert!(
            shares.get("s", "ctx", b"blob").is_none(),
            "the old blob is forgotten"
        );
        assert!(shares.get("s", "other ctx", b"new blob").is_none());
        assert_eq!(shares.get("s", "ctx", b"new blob"), Some(k));
    }
}
