//! NIP-44 v2 between two single keys, byte for byte as `nostr::nips::nip44` does it, with
//! each pair's conversation key derived once per process.
//!
//! NIP-44's conversation key, HKDF-extract(salt = "nip44-v2", IKM = ECDH x), is the same
//! for every message between two keys and in both directions. Deriving it is a scalar
//! multiplication, the largest part of sealing or opening a small package. A ceremony
//! member opens a package from a peer and seals its answer to the same peer; a bunker
//! and its co-signers exchange packages with each other for as long as they run. Each of
//! those pairs now pays for one derivation.
//!
//! The keys stay in this process's memory only (at most [`CAPACITY`], the oldest
//! dropped first, zeroized when dropped), found by both public keys: a caller reaches a
//! key only by passing the secret key that derives it.

use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, PoisonError};

use nostr::nips::nip44::v2::ConversationKey;
use nostr::{Keys, PublicKey};
use zeroize::Zeroizing;

use super::{nip44_decrypt_with_key, nip44_encrypt_with_key, Error, Result};

/// Conversation keys kept: more than the peers of a 100-member ceremony or of a bunker
/// with its co-signers, few enough to be nothing in memory.
pub const CAPACITY: usize = 1024;

/// Own x-only key, then the peer's.
type Pair = [u8; 64];

#[derive(Default)]
struct Known {
    keys: HashMap<Pair, Zeroizing<[u8; 32]>>,
    order: VecDeque<Pair>,
}

static KNOWN: Mutex<Option<Known>> = Mutex::new(None);

/// The conversation key of `keys` with `peer`.
fn conversation_key(keys: &Keys, peer: &PublicKey) -> Result<ConversationKey> {
    let mut pair = [0u8; 64];
    pair[..32].copy_from_slice(&keys.public_key().to_bytes());
    pair[32..].copy_from_slice(&peer.to_bytes());
    // A poisoned lock only means another thread panicked while holding plain data.
    let mut known = KNOWN.lock().unwrap_or_else(PoisonError::into_inner);
    let known = known.get_or_insert_with(Known::default);
    if let Some(k) = known.keys.get(&pair) {
        return Ok(ConversationKey::new(**k));
    }
    let key = ConversationKey::derive(keys.secret_key(), peer)
        .map_err(|e| Error::Nip44(e.to_string()))?;
    if known.order.len() >= CAPACITY {
        if let Some(old) = known.order.pop_front() {
            known.keys.remove(&old);
        }
    }
    let mut bytes = Zeroizing::new([0u8; 32]);
    bytes.copy_from_slice(key.as_bytes());
    known.keys.insert(pair, bytes);
    known.order.push_back(pair);
    Ok(key)
}

/// NIP-44 v2 encryption from `keys` to `peer`: the base64 payload.
pub fn encrypt(keys: &Keys, peer: &PublicKey, plaintext: &[u8]) -> Result<String> {
    let key = conversation_key(keys, peer)?;
    nip44_encrypt_with_key(&mut rand::rngs::OsRng, &key, plaintext)
}

/// NIP-44 decryption of `peer`'s base64 payload to `keys`, to a UTF-8 string.
pub fn decrypt(keys: &Keys, peer: &PublicKey, payload: &str) -> Result<String> {
    let key = conversation_key(keys, peer)?;
    String::from_utf8(nip44_decrypt_with_key(&key, payload)?).map_err(|_| Error::NotUtf8)
}

/// Drops every kept conversation key (benchmarks measure the first message of a pair
/// with it).
pub fn forget_all() {
    *KNOWN.lock().unwrap_or_else(PoisonError::into_inner) = None;
}

/// How many conversation keys are kept.
#[cfg(test)]
fn kept() -> usize {
    KNOWN
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .as_ref()
        .map_or(0, |k| k.keys.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use nostr::nips::nip44;

    #[test]
    fn both_directions_match_nostr_and_each_other() {
        let (a, b) = (Keys::generate(), Keys::generate());
        for round in 0..2 {
            // The second round finds both pairs' keys kept.
            let ours = encrypt(&a, &b.public_key(), b"to b").unwrap();
            assert_eq!(
                nip44::decrypt(b.secret_key(), &a.public_key(), &ours).unwrap(),
                "to b",
                "round {round}"
            );
            let theirs =
                nip44::encrypt(b.secret_key(), &a.public_key(), "to a", nip44::Version::V2)
                    .unwrap();
            assert_eq!(decrypt(&a, &b.public_key(), &theirs).unwrap(), "to a");
            let back = encrypt(&b, &a.public_key(), b"reply").unwrap();
            assert_eq!(decrypt(&a, &b.public_key(), &back).unwrap(), "reply");
        }
    }

    #[test]
    fn the_official_vector_decrypts() {
        // nostr's nip44.vectors.json, valid.encrypt_decrypt[0]: sec1 = 1, sec2 = 2.
        let sk = |h: &str| Keys::new(nostr::SecretKey::from_hex(h).unwrap());
        let one = sk("0000000000000000000000000000000000000000000000000000000000000001");
        let two = sk("0000000000000000000000000000000000000000000000000000000000000002");
        let payload = "AgAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAABee0G5VSK0/9YypIObAtDKfYEAjD35uVkHyB0F4DwrcNaCXlCWZKaArsGrY6M9wnuTMxWfp1RTN9Xga8no+kF5Vsb";
        assert_eq!(decrypt(&two, &one.public_key(), payload).unwrap(), "a");
        assert_eq!(decrypt(&one, &two.public_key(), payload).unwrap(), "a");
        assert_eq!(
            hex::encode(
                conversation_key(&one, &two.public_key())
                    .unwrap()
                    .as_bytes()
            ),
            "c41c775356fd92eadc63ff5a0dc1da211b268cbea22316767095b2871ea1412d"
        );
    }

    #[test]
    fn a_kept_key_is_found_only_under_its_own_pair() {
        let (a, b, c) = (Keys::generate(), Keys::generate(), Keys::generate());
        let to_b = encrypt(&a, &b.public_key(), b"for b only").unwrap();
        // The (a, b) key is kept now; c, or a with another peer, still cannot open it.
        assert!(decrypt(&c, &a.public_key(), &to_b).is_err());
        assert!(decrypt(&a, &c.public_key(), &to_b).is_err());
        assert_eq!(decrypt(&b, &a.public_key(), &to_b).unwrap(), "for b only");
    }

    #[test]
    fn damage_is_refused_as_nostr_refuses_it() {
        let (a, b) = (Keys::generate(), Keys::generate());
        let good = encrypt(&a, &b.public_key(), b"payload").unwrap();
        let mut flipped = good.clone().into_bytes();
        let mid = flipped.len() / 2;
        flipped[mid] = if flipped[mid] == b'A' { b'B' } else { b'A' };
        let flipped = String::from_utf8(flipped).unwrap();
        for bad in [
            "",
            "#future",
            "not base64!",
            &good[..good.len() - 8],
            &flipped,
        ] {
            let nostr_says = nip44::decrypt(b.secret_key(), &a.public_key(), bad);
            let we_say = decrypt(&b, &a.public_key(), bad);
            assert!(nostr_says.is_err(), "{bad:?}");
            assert!(we_say.is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_oldest_keys_go_first_when_full() {
        let a = Keys::generate();
        let first = Keys::generate();
        encrypt(&a, &first.public_key(), b"x").unwrap();
        for _ in 0..CAPACITY {
            encrypt(&a, &Keys::generate().public_key(), b"x").unwrap();
        }
        assert!(kept() <= CAPACITY);
        // Dropped, derived again, and still right.
        let sealed = encrypt(&a, &first.public_key(), b"again").unwrap();
        assert_eq!(decrypt(&first, &a.public_key(), &sealed).unwrap(), "again");
    }
}
