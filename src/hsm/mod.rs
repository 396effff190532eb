//! PKCS#11 tokens (via `cryptoki`). A standard token cannot compute FROST or BIP-340,
//! so passport uses it for what it can honestly do: derive a fresh sealing key per blob
//! from a non-extractable key ([`kdf`]: AES-ECB or HMAC-SHA256, which nearly every token
//! offers), supply randomness, and sign attestation statements with a non-extractable
//! P-256 key. A sealed share is decrypted into host memory for the moment of one signing
//! step; the token protects it at rest, not while it is used.

pub mod attest;
mod blob;
pub mod kdf;
pub mod keys;
mod legacy;
pub mod once;
pub mod policy;
pub mod report;
pub mod seal;
pub mod token;
pub mod uri;

pub use token::{PinSource, Token, TokenSpec};
pub use uri::TokenUri;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An attestation statement that does not verify (what is wrong with it).
    #[error("{0}")]
    BadStatement(String),
    #[error("no PKCS#11 module: pass --pkcs11-module, set PASSPORT_PKCS11_MODULE, or add ?module-path= to the token URI")]
    NoModule,
    #[error("cannot load PKCS#11 module {path}: {detail}")]
    Module { path: String, detail: String },
    #[error("invalid PKCS#11 URI {uri:?}: {detail} (expected e.g. pkcs11:token=alice or pkcs11:serial=0123abcd)")]
    BadUri { uri: String, detail: String },
    #[error("no token matches {uri} in {module}; tokens present: {available}")]
    TokenNotFound {
        uri: String,
        module: String,
        available: String,
    },
    #[error("{uri} matches several tokens ({matches}); name one by a label no other token has (tpm2-pkcs11 gives every token the same serial)")]
    Ambiguous { uri: String, matches: String },
    #[error("no PIN for token {token}: set PASSPORT_PKCS11_PIN, use ?pin-source=file:… in the URI, or run in a terminal")]
    NoPin { token: String },
    #[error("token {token} refused the PIN; check PASSPORT_PKCS11_PIN or the pin-source file")]
    WrongPin { token: String },
    #[error("token {token} has locked its PIN after too many failures; unlock it with the security officer PIN")]
    PinLocked { token: String },
    #[error("token {token} has no passport {what}; run `passport hsm init` first")]
    KeysMissing { token: String, what: &'static str },
    #[error("token {token} (through {module}) offers neither CKM_AES_ECB nor CKM_SHA256_HMAC; passport needs one of them to seal (see `passport hsm list`)")]
    NoMechanism { token: String, module: String },
    #[error("token {token} cannot generate passport's seal key through PKCS#11; create it with the token's own tool, then run `passport hsm init` again to adopt it: {command}")]
    AdoptNeeded { token: String, command: String },
    #[error("token {token}: {op} with {mechanism} failed ({ckr}); {advice}")]
    TokenOp {
        token: String,
        op: &'static str,
        mechanism: &'static str,
        ckr: String,
        advice: &'static str,
    },
    #[error("token {token} already has passport keys; refusing to create a second set")]
    KeysExist { token: String },
    #[error("{key} on token {token} has {attribute} = {got}, passport requires {expected}; refusing to use it")]
    UnsafeKey {
        token: String,
        key: &'static str,
        attribute: &'static str,
        expected: bool,
        got: String,
    },
    #[error("sealed secret {label} was sealed by token {sealed_by} (key {key_id}), not by this token {this}; it cannot be opened here")]
    WrongToken {
        label: String,
        sealed_by: String,
        key_id: String,
        this: String,
    },
    #[error("the token behind {uri} is not the one this home was sealed by: it holds seal key {found}, the home needs {expected}; check the URI and the module")]
    NotThisToken {
        uri: String,
        found: String,
        expected: String,
    },
    #[error("token {token} refused to open sealed secret {label} (format v1, on-token AES-GCM) with {ckr}: either the blob is tampered, truncated or moved, or the token failed (SoftHSM2 reports a bad GCM tag this way); `passport hsm migrate` rewrites a home in format v2, where the two are told apart")]
    V1Refused {
        label: String,
        token: String,
        ckr: String,
    },
    #[error("sealed secret {label} failed authentication (tampered, truncated, or bound to another slot); refusing to use it")]
    Tampered { label: String },
    #[error("PKCS#11 {op} failed on token {token}: {detail}")]
    Pkcs11 {
        token: String,
        op: &'static str,
        detail: String,
    },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A token's error seen through the keystore trait; [`Error::of`] gets it back.
impl From<Error> for crate::keystore::Error {
    fn from(e: Error) -> Self {
        crate::keystore::Error::Backend(Box::new(e))
    }
}

impl Error {
    /// The token error inside a keystore error, if that is what it is.
    pub fn of(e: &crate::keystore::Error) -> Option<&Error> {
        match e {
            crate::keystore::Error::Backend(b) => b.downcast_ref(),
            _ => None,
        }
    }
}
