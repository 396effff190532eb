//! Loading modules, finding a token by URI, logging in. One `Pkcs11` context per module
//! per process (PKCS#11 forbids initializing a module twice).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error as CkError, RvError};
use cryptoki::mechanism::MechanismType;
use cryptoki::session::{Session, UserType};
use cryptoki::slot::Slot;
use cryptoki::types::AuthPin;
use serde::Serialize;
use zeroize::Zeroizing;

use super::{Error, Result, TokenUri};

/// Supplies the user PIN when (and only when) a login is needed.
pub type PinSource = Box<dyn Fn() -> std::result::Result<Zeroizing<String>, String> + Send + Sync>;

/// Which module and token to use.
#[derive(Clone, Debug)]
pub struct TokenSpec {
    pub module: PathBuf,
    pub uri: TokenUri,
}

impl TokenSpec {
    /// Resolves the module: the URI's module-path first (it names this one token's
    /// module, e.g. the target of `hsm migrate` while the flag or environment names the
    /// source's), then the flag or `PASSPORT_PKCS11_MODULE`.
    pub fn new(uri: TokenUri, module: Option<PathBuf>) -> Result<Self> {
        let module = uri.module_path.clone().or(module).ok_or(Error::NoModule)?;
        Ok(TokenSpec { module, uri })
    }
}

fn registry() -> &'static Mutex<HashMap<PathBuf, Arc<Pkcs11>>> {
    static R: OnceLock<Mutex<HashMap<PathBuf, Arc<Pkcs11>>>> = OnceLock::new();
    R.get_or_init(|| Mutex::new(HashMap::new()))
}

/// The process-wide context for a module, loaded and initialized on first use.
pub fn module(path: &Path) -> Result<Arc<Pkcs11>> {
    let mut reg = registry().lock().expect("module registry");
    if let Some(ctx) = reg.get(path) {
        return Ok(ctx.clone());
    }
    let err = |detail: String| Error::Module {
        path: path.display().to_string(),
        detail,
    };
    if !path.exists() {
        return Err(err("no such file".into()));
    }
    let ctx = Pkcs11::new(path).map_err(|e| err(e.to_string()))?;
    match ctx.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
        Ok(()) | Err(CkError::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) => {}
        Err(e) => return Err(err(e.to_string())),
    }
    let ctx = Arc::new(ctx);
    reg.insert(path.to_path_buf(), ctx.clone());
    Ok(ctx)
}

/// Public facts about a token.
#[derive(Clone, Debug, Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct TokenInfo {
    pub label: String,
    pub serial: String,
    pub manufacturer: String,
    pub model: String,
    pub firmware: String,
    pub uri: String,
}

/// Facts about the module library.
#[derive(Clone, Debug, Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct LibraryInfo {
    pub manufacturer: String,
    pub description: String,
    pub version: String,
    pub cryptoki_version: String,
    pub module_path: String,
}

pub fn library_info(module_path: &Path) -> Result<LibraryInfo> {
    let ctx = module(module_path)?;
    let i = ctx.get_library_info().map_err(|e| Error::Module {
        path: module_path.display().to_string(),
        detail: e.to_string(),
    })?;
    Ok(LibraryInfo {
        manufacturer: clean(i.manufacturer_id()),
        description: clean(i.library_description()),
        version: i.library_version().to_string(),
        cryptoki_version: i.cryptoki_version().to_string(),
        module_path: module_path.display().to_string(),
    })
}

/// Every token a module offers, with its slot.
pub fn tokens(module_path: &Path) -> Result<Vec<(Slot, TokenInfo)>> {
    let ctx = module(module_path)?;
    let fail = |e: CkError| Error::Module {
        path: module_path.display().to_string(),
        detail: e.to_string(),
    };
    let mut out = vec![];
    for slot in ctx.get_slots_with_token().map_err(fail)? {
        let t = ctx.get_token_info(slot).map_err(fail)?;
        if !t.token_initialized() {
            continue;
        }
        let label = clean(t.label());
        let serial = clean(t.serial_number());
        out.push((
            slot,
            TokenInfo {
                uri: TokenUri::for_token(&label, &serial),
                label,
                serial,
                manufacturer: clean(t.manufacturer_id()),
                model: clean(t.model()),
                firmware: t.firmware_version().to_string(),
            },
        ));
    }
    Ok(out)
}

/// The mechanisms a token offers (as the module in between reports them).
pub fn mechanism_list(module_path: &Path, slot: Slot) -> Result<Vec<MechanismType>> {
    module(module_path)?
        .get_mechanism_list(slot)
        .map_err(|e| Error::Module {
            path: module_path.display().to_string(),
            detail: e.to_string(),
        })
}

/// The mechanisms passport can use, and whether `have` includes each.
pub fn relevant_mechanisms(have: &[MechanismType]) -> Vec<(&'static str, bool)> {
    [
        ("AES_ECB", MechanismType::AES_ECB),
        ("SHA256_HMAC", MechanismType::SHA256_HMAC),
        ("AES_KEY_GEN", MechanismType::AES_KEY_GEN),
        (
            "GENERIC_SECRET_KEY_GEN",
            MechanismType::GENERIC_SECRET_KEY_GEN,
        ),
        ("AES_GCM", MechanismType::AES_GCM),
        ("EC_KEY_PAIR_GEN", MechanismType::ECC_KEY_PAIR_GEN),
        ("ECDSA", MechanismType::ECDSA),
    ]
    .into_iter()
    .map(|(n, m)| (n, have.contains(&m)))
    .collect()
}

/// An open, logged-in session on one token.
pub struct Token {
    pub spec: TokenSpec,
    pub info: TokenInfo,
    pub slot: Slot,
    session: Mutex<Session>,
}

impl Token {
    /// Finds the token the URI names and opens a read-write session (not logged in).
    pub fn open(spec: &TokenSpec) -> Result<Token> {
        let all = tokens(&spec.module)?;
        let hits: Vec<_> = all
            .iter()
            .filter(|(_, t)| {
                spec.uri
                    .matches(&t.label, &t.serial, &t.manufacturer, &t.model)
            })
            .collect();
        let (slot, info) = match hits.as_slice() {
            [one] => (*one).clone(),
            [] => {
                return Err(Error::TokenNotFound {
                    uri: spec.uri.text.clone(),
                    module: spec.module.display().to_string(),
                    available: if all.is_empty() {
                        "none".into()
                    } else {
                        all.iter()
                            .map(|(_, t)| t.uri.clone())
                            .collect::<Vec<_>>()
                            .join(", ")
                    },
                })
            }
            many => {
                return Err(Error::Ambiguous {
                    uri: spec.uri.text.clone(),
                    matches: many
                        .iter()
                        .map(|(_, t)| t.uri.clone())
                        .collect::<Vec<_>>()
                        .join(", "),
                })
            }
        };
        let ctx = module(&spec.module)?;
        let session = ctx.open_rw_session(slot).map_err(|e| Error::Pkcs11 {
            token: info.label.clone(),
            op: "C_OpenSession",
            detail: e.to_string(),
        })?;
        Ok(Token {
            spec: spec.clone(),
            info,
            slot,
            session: Mutex::new(session),
        })
    }

    /// Logs the user in with a PIN from `pin` (the URI's pin-source wins when present).
    pub fn login(&self, pin: &PinSource) -> Result<()> {
        let pin = match &self.spec.uri.pin_source {
            Some(path) => crate::fsutil::read_secret_line(path).map_err(|e| Error::Pkcs11 {
                token: self.info.label.clone(),
                op: "reading pin-source",
                detail: format!("{}: {e}", path.display()),
            })?,
            None => pin().map_err(|_| Error::NoPin {
                token: self.info.label.clone(),
            })?,
        };
        let auth = AuthPin::from(pin.as_str().to_owned());
        match self.session().login(UserType::User, Some(&auth)) {
            Ok(()) | Err(CkError::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => Ok(()),
            Err(CkError::Pkcs11(RvError::PinIncorrect, _))
            | Err(CkError::Pkcs11(RvError::PinLenRange, _)) => Err(Error::WrongPin {
                token: self.info.label.clone(),
            }),
            Err(CkError::Pkcs11(RvError::PinLocked, _)) => Err(Error::PinLocked {
                token: self.info.label.clone(),
            }),
            Err(e) => Err(self.fail("C_Login", e)),
        }
    }

    pub fn session(&self) -> MutexGuard<'_, Session> {
        self.session.lock().expect("token session")
    }

    pub(crate) fn fail(&self, op: &'static str, e: CkError) -> Error {
        match e {
            CkError::Pkcs11(rv, _) => Error::Pkcs11 {
                token: self.info.label.clone(),
                op,
                detail: format!("{}; {}", ckr_name(rv), advice(rv)),
            },
            e => Error::Pkcs11 {
                token: self.info.label.clone(),
                op,
                detail: e.to_string(),
            },
        }
    }

    /// A failed cryptographic operation, named with its mechanism and what to do.
    /// Never "tampered": only the host AEAD can say that.
    pub(crate) fn fail_mech(&self, op: &'static str, mechanism: &'static str, e: CkError) -> Error {
        match e {
            CkError::Pkcs11(RvError::PinLocked, _) => Error::PinLocked {
                token: self.info.label.clone(),
            },
            CkError::Pkcs11(rv, _) => Error::TokenOp {
                token: self.info.label.clone(),
                op,
                mechanism,
                ckr: ckr_name(rv),
                advice: advice(rv),
            },
            e => Error::Pkcs11 {
                token: self.info.label.clone(),
                op,
                detail: e.to_string(),
            },
        }
    }

    /// Random bytes from the token's RNG.
    pub fn random(&self, n: u32) -> Result<Vec<u8>> {
        self.session()
            .generate_random_vec(n)
            .map_err(|e| self.fail("C_GenerateRandom", e))
    }
}

/// `CKR_MECHANISM_INVALID` for `RvError::MechanismInvalid`: the names operators search.
pub fn ckr_name(rv: RvError) -> String {
    let camel = format!("{rv:?}");
    let mut s = String::from("CKR");
    for c in camel.chars() {
        if c.is_ascii_uppercase() {
            s.push('_');
        }
        s.push(c.to_ascii_uppercase());
    }
    s
}

/// What an operator can do about a return value.
fn advice(rv: RvError) -> &'static str {
    use RvError as R;
    match rv {
        R::MechanismInvalid | R::MechanismParamInvalid | R::FunctionNotSupported | R::KeyTypeInconsistent => {
            "the token, or the module in between (p11-kit-client 0.24 forwards no mechanism parameters), does not offer it; `passport hsm list` shows what this token can do, and `passport hsm migrate` moves a home to a scheme it offers"
        }
        R::KeyFunctionNotPermitted => "the key's usage attributes forbid this operation; check the key with `passport hsm list` and pkcs11-tool",
        R::DeviceError | R::DeviceRemoved | R::TokenNotPresent | R::SessionHandleInvalid | R::SessionClosed | R::DeviceMemory | R::GeneralError | R::FunctionFailed | R::CryptokiNotInitialized => {
            "the token or the connection to it failed (for a remote token: is `p11-kit server` or the ssh connection still up?); nothing was written, retry when it is back"
        }
        R::UserNotLoggedIn | R::PinExpired => "the token no longer has this session logged in; run the command again",
        _ => "see the token's documentation for this return value",
    }
}

/// A fixed-width token string: space-padded by the standard, NUL-padded by some tokens
/// (tpm2-pkcs11's model).
fn clean(s: &str) -> String {
    s.trim_matches(|c: char| c == ' ' || c == '\0').to_owned()
}

/// Initializes a fresh token in the module's first empty slot (C_InitToken) and sets its
/// user PIN (C_InitPIN). For SoftHSM2-backed demos and tests; real tokens are
/// initialized with their vendor's tools.
pub fn create_token(
    module_path: &Path,
    label: &str,
    so_pin: &str,
    user_pin: &str,
) -> Result<TokenInfo> {
    let ctx = module(module_path)?;
    let fail = |op: &'static str, e: CkError| Error::Pkcs11 {
        token: label.to_owned(),
        op,
        detail: e.to_string(),
    };
    let empty = ctx
        .get_all_slots()
        .map_err(|e| fail("C_GetSlotList", e))?
        .into_iter()
        .find(|s| ctx.get_token_info(*s).is_ok_and(|t| !t.token_initialized()))
        .ok_or_else(|| Error::Pkcs11 {
            token: label.to_owned(),
            op: "C_InitToken",
            detail: "no free slot".into(),
        })?;
    let so = AuthPin::from(so_pin.to_owned());
    ctx.init_token(empty, &so, label)
        .map_err(|e| fail("C_InitToken", e))?;
    // Slot numbers may change after initialization; find the token by label again.
    let (slot, info) = tokens(module_path)?
        .into_iter()
        .find(|(_, t)| t.label == label)
        .ok_or_else(|| Error::Pkcs11 {
            token: label.to_owned(),
            op: "C_InitToken",
            detail: "token vanished".into(),
        })?;
    let session = ctx
        .open_rw_session(slot)
        .map_err(|e| fail("C_OpenSession", e))?;
    session
        .login(UserType::So, Some(&so))
        .map_err(|e| fail("C_Login (SO)", e))?;
    session
        .init_pin(&AuthPin::from(user_pin.to_owned()))
        .map_err(|e| fail("C_InitPIN", e))?;
    session.logout().map_err(|e| fail("C_Logout", e))?;
    Ok(info)
}

/// Where Debian and friends install SoftHSM2's module.
pub fn find_softhsm() -> Option<PathBuf> {
    [
        "/usr/lib/softhsm/libsofthsm2.so",
        "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
        "/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so",
        "/usr/local/lib/softhsm/libsofthsm2.so",
    ]
    .iter()
    .map(PathBuf::from)
    .find(|p| p.exists())
}
