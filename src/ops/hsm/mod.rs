//! `passport hsm list|init|attest|verify-attestation|migrate` and `audit verify`.

use std::path::{Path, PathBuf};

use serde::Serialize;
use sha2::{Digest, Sha256};

use super::Report;
use crate::audit::AuditLog;
use crate::ceremony::Roster;
use crate::error::{Error, Result, TokenError};
use crate::home::{self, Home};
use crate::hsm::attest::{self, ProtectedShare, SignedStatement};
use crate::hsm::kdf::Scheme;
use crate::hsm::seal::Pkcs11Sealer;
use crate::hsm::token::{self, LibraryInfo, TokenInfo};
use crate::hsm::{keys, PinSource, Token, TokenSpec};
use cryptoki::mechanism::MechanismType;

mod migrate;

pub use migrate::{migrate, MigrateReport};

#[derive(Serialize)]
pub struct ListedToken {
    #[serde(flatten)]
    pub info: TokenInfo,
    pub mechanisms: std::collections::BTreeMap<String, bool>,
    /// The scheme `hsm init` would pick from the mechanisms offered (`None`: none usable).
    pub scheme: Option<&'static str>,
    /// Whether passport's attestation public key is visible (public objects need no PIN).
    pub passport_keys: bool,
}

#[derive(Serialize)]
pub struct HsmList {
    pub library: LibraryInfo,
    pub tokens: Vec<ListedToken>,
}

impl Report for HsmList {
    fn human(&self) -> String {
        let mut s = format!(
            "{} ({} {})",
            self.library.module_path, self.library.manufacturer, self.library.version
        );
        if self.tokens.is_empty() {
            s.push_str("\n  no initialized tokens");
        }
        for t in &self.tokens {
            let attest = ["EC_KEY_PAIR_GEN", "ECDSA"]
                .iter()
                .filter(|m| t.mechanisms.get(**m) != Some(&true))
                .map(|m| format!("CKM_{m}"))
                .collect::<Vec<_>>();
            s.push_str(&format!(
                "\n  {}  {} {}  seals with: {}{}  passport keys: {}",
                t.info.uri,
                t.info.manufacturer,
                t.info.model,
                t.scheme
                    .unwrap_or("NOTHING (offers neither CKM_AES_ECB nor CKM_SHA256_HMAC)"),
                if attest.is_empty() {
                    String::new()
                } else {
                    format!("  cannot attest: MISSING {}", attest.join(", "))
                },
                if t.passport_keys { "yes" } else { "no" }
            ));
        }
        s
    }
}

pub fn list(module: &Path) -> Result<HsmList> {
    let library = token::library_info(module)?;
    let mut tokens = vec![];
    for (slot, info) in token::tokens(module)? {
        let have = token::mechanism_list(module, slot)?;
        let mechanisms = token::relevant_mechanisms(&have)
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect();
        let spec = TokenSpec {
            module: module.to_path_buf(),
            uri: crate::hsm::TokenUri::parse(&info.uri)?,
        };
        let passport_keys = Token::open(&spec)
            .map(|t| keys::has_public_attestation_key(&t))
            .unwrap_or(false);
        tokens.push(ListedToken {
            info,
            mechanisms,
            scheme: keys::usable_scheme(&have).map(Scheme::name),
            passport_keys,
        });
    }
    Ok(HsmList { library, tokens })
}

#[derive(Serialize)]
pub struct InitReport {
    pub token: TokenInfo,
    /// How this token seals: a [`Scheme`] name, or `aes-gcm-v1` for the old format.
    pub scheme: &'static str,
    /// The seal key was made with the token's own tool and adopted, not generated here.
    pub adopted: bool,
    pub seal_key_id: String,
    pub attestation_key_id: String,
    pub attestation_public_key: String,
    pub attributes_verified: bool,
}

impl Report for InitReport {
    fn human(&self) -> String {
        let seal = match Scheme::parse(self.scheme) {
            Some(Scheme::AesEcb) => {
                "AES-256 key-derivation key, RFC 8452 §4 over CKM_AES_ECB; ECB encryption only"
            }
            Some(Scheme::HmacSha256) => {
                "HMAC-SHA256 key-derivation key, NIST SP 800-108 over CKM_SHA256_HMAC; MAC only"
            }
            None => "AES-256, on-token AES-GCM (format v1); encrypt/decrypt only",
        };
        format!(
            "{} passport keys in {}\n  seals with {}\n  seal key {} ({seal}, sensitive, non-extractable){}\n  attestation key {} (P-256, sign only)\n  every attribute read back and verified",
            if self.adopted { "adopted" } else { "created" },
            self.token.uri,
            self.scheme,
            self.seal_key_id,
            if self.adopted { ", adopted" } else { "" },
            self.attestation_key_id
        )
    }
}

/// How `hsm init` should make the seal key.
#[derive(Clone, Copy, Debug, Default)]
pub struct InitOptions {
    /// Force a scheme instead of picking the first the token offers.
    pub scheme: Option<Scheme>,
    /// Make a format-v1 (on-token AES-GCM) key, for compatibility tests.
    pub legacy: bool,
}

/// Creates (or adopts) the seal key and the attestation keys in a token and checks them.
pub fn init(
    spec: &TokenSpec,
    pin: &PinSource,
    audit: Option<&AuditLog>,
    opts: InitOptions,
) -> Result<InitReport> {
    if let Some(log) = audit {
        // Check before touching the token: a failure after key creation would leave keys
        // behind that a retry then refuses.
        log.verify()?;
    }
    let token = Token::open(spec)?;
    let have = token::mechanism_list(&spec.module, token.slot)?;
    let need: Vec<MechanismType> = match (opts.legacy, opts.scheme) {
        (true, _) => vec![MechanismType::AES_GCM],
        (false, Some(Scheme::AesEcb)) => vec![MechanismType::AES_ECB],
        (false, Some(Scheme::HmacSha256)) => vec![MechanismType::SHA256_HMAC],
        (false, None) => {
            if keys::usable_scheme(&have).is_none() {
                return Err(crate::hsm::Error::NoMechanism {
                    token: token.info.label.clone(),
                    module: spec.module.display().to_string(),
                }
                .into());
            }
            vec![]
        }
    };
    let missing: Vec<String> = need
        .into_iter()
        .chain([MechanismType::ECC_KEY_PAIR_GEN, MechanismType::ECDSA])
        .filter(|m| !have.contains(m))
        .map(|m| m.to_string())
        .collect();
    if !missing.is_empty() {
        return Err(TokenError::MissingMechanisms {
            uri: token.info.uri.clone(),
            module: spec.module.clone(),
            missing,
        }
        .into());
    }
    token.login(pin)?;
    let created = keys::init(&token, &have, opts.scheme, opts.legacy)?;
    let k = &created.keys;
    let scheme = k.scheme().map(Scheme::name).unwrap_or("aes-gcm-v1");
    if let Some(log) = audit {
        log.append("hsm-init", serde_json::json!({ "token_serial": token.info.serial, "token": token.info.label, "scheme": scheme, "adopted": created.adopted, "seal_key_id": k.seal_id(), "attestation_key_id": k.attest_id }))?;
    }
    Ok(InitReport {
        token: token.info.clone(),
        scheme,
        adopted: created.adopted,
        seal_key_id: k.seal_id().to_owned(),
        attestation_key_id: k.attest_id.clone(),
        attestation_public_key: hex::encode(&k.attest_point),
        attributes_verified: true,
    })
}

fn token_sealer(home: &Home) -> Result<&Pkcs11Sealer> {
    let sealer = home.keystore().sealer().as_any();
    sealer
        .downcast_ref::<crate::hsm::seal::Pkcs11Sealer>()
        .ok_or_else(|| TokenError::NotInToken.into())
}

/// The sealed shares a home holds, as an attestation reports them.
fn protected_shares(home: &Home) -> Result<Vec<ProtectedShare>> {
    let mut out = vec![];
    for gid in home.group_ids()? {
        let group = home.find_group(&gid)?;
        let Some(state) = home.group_state(&group)? else {
            continue;
        };
        for seat in state.seats {
            let name = Home::share_name(&group, seat);
            let path = home.keystore().dir().join(format!("{name}.sealed"));
            let blob = std::fs::read(&path).map_err(|e| Error::io(&path, e))?;
            let vs = group
                .public_key_package
                .verifying_shares()
                .get(&Roster::identifier(seat))
                .and_then(|v| v.serialize().ok())
                .map(hex::encode)
                .unwrap_or_default();
            out.push(ProtectedShare {
                group: group.npub.clone(),
                member: group.roster.name(seat),
                seat,
                verifying_share: vs,
                blob_sha256: hex::encode(Sha256::digest(&blob)),
            });
        }
    }
    Ok(out)
}

impl Report for SignedStatement {
    fn human(&self) -> String {
        format!(
            "attestation ({}) by token {} for {}: {} share(s) protected",
            self.statement.assurance,
            self.statement.token.uri,
            self.statement.member.npub,
            self.statement.shares.len()
        )
    }
    fn stdout(&self) -> Option<String> {
        Some(serde_json::to_string_pretty(self).expect("statement"))
    }
}

/// Writes an attestation statement answering `challenge` (hex).
pub fn attest(home: &Home, challenge: &str) -> Result<SignedStatement> {
    let c = challenge.trim();
    if c.len() < 16 || hex::decode(c).is_err() {
        return Err(TokenError::BadChallenge.into());
    }
    let sealer = token_sealer(home)?;
    let ready = sealer.ready()?;
    let identity = home.identity()?;
    let shares = protected_shares(home)?;
    let log = home::audit_log(&home.root).verify()?;
    let head = attest::AuditHead {
        entries: log.entries,
        head: log.head,
    };
    let statement = attest::attest(ready, identity, c, shares, head, crate::audit::now()?)?;
    home::audit_log(&home.root).append(
        "attest",
        serde_json::json!({ "challenge": c, "token_serial": ready.token.info.serial, "shares": statement.statement.shares.len() }),
    )?;
    Ok(statement)
}

impl Report for attest::Verified {
    fn human(&self) -> String {
        format!(
            "valid {} attestation: token {} (serial {}) bound to {}, protecting {} share(s)",
            self.assurance, self.token, self.token_serial, self.member, self.shares
        )
    }
}

#[derive(Serialize)]
pub struct AuditReport {
    pub path: PathBuf,
    pub entries: u64,
    pub head: String,
}

impl Report for AuditReport {
    fn human(&self) -> String {
        format!(
            "audit log {} intact: {} entries, head {}",
            self.path.display(),
            self.entries,
            self.head
        )
    }
}

pub fn audit_verify(root: &Path) -> Result<AuditReport> {
    let log = home::audit_log(root);
    let r = log.verify().map_err(TokenError::AuditLog)?;
    Ok(AuditReport {
        path: log.path().to_path_buf(),
        entries: r.entries,
        head: r.head,
    })
}
