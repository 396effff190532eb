//! Attestation statements: what a token says about itself and the shares it protects,
//! signed by its non-extractable P-256 attestation key, whose public key is in turn
//! signed (BIP-340) by the member's identity key so the statement is bound to a roster
//! npub. Labelled `self-reported`: attribute reads prove nothing about the hardware;
//! `evidence` has room for vendor certificate chains later.

use cryptoki::mechanism::Mechanism;
use nostr::{Keys, PublicKey, ToBech32};
use p256::ecdsa::signature::hazmat::PrehashVerifier;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::report::{self, KeyReport};
use super::seal::Ready;
use super::token::{library_info, LibraryInfo, TokenInfo};
use super::Result;

pub const STATEMENT_TYPE: &str = "passport-hsm-attestation";

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Library {
    #[serde(flatten)]
    pub info: LibraryInfo,
    pub module_sha256: String,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct AttestationKey {
    #[serde(flatten)]
    pub report: KeyReport,
    /// SEC1 uncompressed P-256 public key, hex.
    pub public_key: String,
}

/// One sealed share the token protects.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct ProtectedShare {
    pub group: String,
    pub member: String,
    pub seat: u16,
    pub verifying_share: String,
    pub blob_sha256: String,
}

/// The member identity's signature over the attestation key.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct MemberBinding {
    pub npub: String,
    /// BIP-340 signature over SHA-256("passport attestation key v1\0" || key || serial).
    pub signature: String,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Evidence {
    pub kind: String,
    pub detail: serde_json::Value,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Statement {
    #[serde(rename = "type")]
    pub kind: String,
    pub version: u8,
    pub assurance: String,
    pub challenge: String,
    pub time: String,
    pub token: TokenInfo,
    pub library: Library,
    pub seal_key: KeyReport,
    pub attestation_key: AttestationKey,
    pub shares: Vec<ProtectedShare>,
    /// The home's audit log head when the statement was made: a verifier who keeps
    /// statements can later detect a log whose tail was cut off.
    pub audit: AuditHead,
    pub member: MemberBinding,
    pub evidence: Vec<Evidence>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct AuditHead {
    pub entries: u64,
    pub head: String,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignedStatement {
    pub statement: Statement,
    /// ECDSA P-256 over SHA-256 of the statement's canonical JSON, r||s hex.
    pub signature: String,
}

fn binding_digest(point: &[u8], serial: &str) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(b"passport attestation key v1\0");
    h.update(point);
    h.update(serial.as_bytes());
    h.finalize().into()
}

fn statement_digest(s: &Statement) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(b"passport attestation statement v1\0");
    h.update(serde_json::to_vec(s).expect("statement serializes"));
    h.finalize().into()
}

fn file_sha256(path: &std::path::Path) -> String {
    std::fs::read(path)
        .map(|b| hex::encode(Sha256::digest(b)))
        .unwrap_or_else(|_| "unreadable".into())
}

/// Builds and signs a statement in the token.
pub fn attest(
    ready: &Ready,
    identity: &Keys,
    challenge: &str,
    shares: Vec<ProtectedShare>,
    audit: AuditHead,
    time: String,
) -> Result<SignedStatement> {
    let token = &ready.token;
    let (seal_key, attest_report) = report::report(token, &ready.keys)?;
    let info = library_info(&token.spec.module)?;
    let point = &ready.keys.attest_point;
    let msg = nostr::secp256k1::Message::from_digest(binding_digest(point, &token.info.serial));
    let binding_sig = identity.sign_schnorr(&msg);
    let statement = Statement {
        kind: STATEMENT_TYPE.into(),
        version: 1,
        assurance: "self-reported".into(),
        challenge: challenge.to_lowercase(),
        time,
        token: token.info.clone(),
        library: Library {
            module_sha256: file_sha256(&token.spec.module),
            info,
        },
        seal_key,
        attestation_key: AttestationKey {
            report: attest_report,
            public_key: hex::encode(point),
        },
        shares,
        audit,
        member: MemberBinding {
            npub: identity.public_key().to_bech32().expect("bech32"),
            signature: hex::encode(binding_sig.as_ref()),
        },
        evidence: vec![Evidence {
            kind: "pkcs11-attributes".into(),
            detail: serde_json::json!({ "note": "attributes read over PKCS#11 from the token itself; no vendor certificate chain" }),
        }],
    };
    let digest = statement_digest(&statement);
    let sig = token
        .session()
        .sign(&Mechanism::Ecdsa, ready.keys.attest_private, &digest)
        .map_err(|e| token.fail("C_Sign (ECDSA)", e))?;
    Ok(SignedStatement {
        statement,
        signature: hex::encode(sig),
    })
}

/// What a successful verification established.
#[derive(Debug, Serialize)]
pub struct Verified {
    pub valid: bool,
    pub assurance: String,
    pub member: String,
    pub token: String,
    pub token_serial: String,
    pub shares: usize,
    pub groups: Vec<String>,
}

/// Checks the ECDSA signature, the identity binding, the challenge, and optional
/// expectations. Any failure is one sentence naming what is wrong.
pub fn verify(
    bytes: &[u8],
    challenge: &str,
    expect_group: Option<&str>,
    expect_member: Option<&str>,
) -> std::result::Result<Verified, super::Error> {
    let rej = super::Error::BadStatement;
    let signed: SignedStatement = serde_json::from_slice(bytes)
        .map_err(|e| rej(format!("not an attestation statement: {e}")))?;
    let s = &signed.statement;
    if s.kind != STATEMENT_TYPE || s.version != 1 {
        return Err(rej(format!(
            "unsupported statement type {} v{}",
            s.kind, s.version
        )));
    }
    let point = hex::decode(&s.attestation_key.public_key)
        .map_err(|_| rej("attestation key is not hex".into()))?;
    let vk = p256::ecdsa::VerifyingKey::from_sec1_bytes(&point)
        .map_err(|_| rej("attestation key is not a P-256 point".into()))?;
    let sig_bytes =
        hex::decode(&signed.signature).map_err(|_| rej("signature is not hex".into()))?;
    let sig = p256::ecdsa::Signature::from_slice(&sig_bytes)
        .map_err(|_| rej("signature is not a P-256 r||s pair".into()))?;
    vk.verify_prehash(&statement_digest(s), &sig)
        .map_err(|_| rej("the statement's signature does not verify: it was tampered with or signed by another key".into()))?;
    let member =
        crate::ceremony::roster::parse_npub(&s.member.npub).map_err(|e| rej(e.to_string()))?;
    let bind = hex::decode(&s.member.signature).unwrap_or_default();
    crate::events::verify_raw(&member, &binding_digest(&point, &s.token.serial), &bind).map_err(
        |_| {
            rej(format!(
                "the attestation key is not signed by the member identity {}",
                s.member.npub
            ))
        },
    )?;
    if !s.challenge.eq_ignore_ascii_case(challenge.trim()) {
        return Err(rej(format!(
            "the statement answers challenge {}, not {}: it may be a replay",
            s.challenge,
            challenge.trim()
        )));
    }
    let groups: Vec<String> = s.shares.iter().map(|p| p.group.clone()).collect();
    if let Some(g) = expect_group {
        let want = crate::ceremony::roster::parse_npub(g).map_err(|e| rej(e.to_string()))?;
        if !groups
            .iter()
            .any(|x| crate::ceremony::roster::parse_npub(x).ok() == Some(want))
        {
            return Err(rej(format!("the token protects no share of group {g}")));
        }
    }
    if let Some(m) = expect_member {
        let want: PublicKey =
            crate::ceremony::roster::parse_npub(m).map_err(|e| rej(e.to_string()))?;
        if want != member {
            return Err(rej(format!(
                "the statement is bound to {}, not to {m}",
                s.member.npub
            )));
        }
    }
    Ok(Verified {
        valid: true,
        assurance: s.assurance.clone(),
        member: s.member.npub.clone(),
        token: s.token.label.clone(),
        token_serial: s.token.serial.clone(),
        shares: s.shares.len(),
        groups,
    })
}
