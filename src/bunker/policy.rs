//! Who may use the bunker, for what: per-client grants (methods, event kinds, expiry,
//! uses, rate) and single-use connect secrets, persisted in the bunker's tables in serve's SQLite.

use crate::serve::door::Db;
use rusqlite::{params, Connection, OptionalExtension};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub use super::limits::{parse_duration, BadDuration, RateWindow};
use super::method::Method;

/// What one client may do.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grant {
    /// Allowed methods besides connect/ping/switch_relays/logout; `None`: all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub methods: Option<Vec<Method>>,
    /// Event kinds `sign_event` may sign; `None`: any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kinds: Option<Vec<u16>>,
    /// Unix time after which the grant is void.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<u64>,
    /// Counted requests (everything but connect/ping/switch_relays/logout).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_uses: Option<u64>,
    /// Counted requests per minute.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_per_min: Option<u32>,
    /// What needs the operator's approval first (NIP-46 `auth_url`); `None`: nothing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ask: Option<Ask>,
}

/// Requests a grant allows only once the operator approves each: these methods, and
/// `sign_event` of these kinds.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ask {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub methods: Vec<Method>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub kinds: Vec<u16>,
}

impl Ask {
    /// True when `method` (with `kind` for `sign_event`) waits for the operator. The
    /// always-allowed methods never do.
    pub fn needs(&self, method: Method, kind: Option<u16>) -> bool {
        !method.always_allowed()
            && (self.methods.contains(&method)
                || (method == Method::SignEvent && kind.is_some_and(|k| self.kinds.contains(&k))))
    }
}

impl Grant {
    /// This grant narrowed to what a client asked for in `connect`'s third parameter
    /// (NIP-46 `optional_requested_permissions`): never more than the operator granted,
    /// and no more than the client wants. Expiry, uses, rate and asking stay the
    /// operator's.
    pub fn narrowed_to(&self, asked: &Grant) -> Grant {
        fn meet<T: Clone + PartialEq>(a: &Option<Vec<T>>, b: &Option<Vec<T>>) -> Option<Vec<T>> {
            match (a, b) {
                (None, x) | (x, None) => x.clone(),
                (Some(a), Some(b)) => Some(a.iter().filter(|x| b.contains(x)).cloned().collect()),
            }
        }
        Grant {
            methods: meet(&self.methods, &asked.methods),
            kinds: meet(&self.kinds, &asked.kinds),
            ..self.clone()
        }
    }

    /// True when this request waits for the operator's approval.
    pub fn asks(&self, method: Method, kind: Option<u16>) -> bool {
        self.ask.as_ref().is_some_and(|a| a.needs(method, kind))
    }
}

/// An authorized client as stored.
#[derive(Clone, Debug, Serialize)]
pub struct Client {
    pub pubkey: String,
    pub grant: Grant,
    pub uses: u64,
    pub created_at: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// What the client said about itself when it connected: a display hint only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub meta: Option<super::nostrconnect::ClientMeta>,
}

/// Why a request is refused. The message goes back to the client as the error reply.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Refusal {
    #[error("unauthorized: this client is not allowed; connect with a valid secret from the bunker's operator")]
    Unknown,
    #[error("unauthorized: the secret is unknown, expired or already used")]
    BadSecret,
    #[error("forbidden: this client's grant expired")]
    Expired,
    #[error("forbidden: this client's grant allowed {0} uses and they are spent")]
    UsedUp(u64),
    #[error("forbidden: method {0} is not allowed for this client")]
    Method(Method),
    #[error("forbidden: event kind {0} is not allowed for this client")]
    Kind(u16),
    #[error("rate limited: at most {0} requests per minute for this client; retry later")]
    Rate(u32),
    /// Counted and answered before (a restart later): a duplicate, never a reply's text.
    #[error("duplicate: this request was answered before")]
    Replayed,
}

fn hash_secret(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

fn to_json(g: &Grant) -> String {
    serde_json::to_string(g).expect("grants serialize")
}

fn from_json(s: &str) -> rusqlite::Result<Grant> {
    serde_json::from_str(s).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, Box::new(e))
    })
}

/// Stores a new single-use secret with the grant it confers.
pub fn add_secret(
    conn: &mut Connection,
    secret: &str,
    grant: &Grant,
    now: u64,
    expires_at: Option<u64>,
) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT INTO bunker_secrets (secret_hash, grant_json, created_at, expires_at) \
         VALUES (?1, ?2, ?3, ?4)",
        params![
            hash_secret(secret),
            to_json(grant),
            now as i64,
            expires_at.map(|e| e as i64)
        ],
    )?;
    Ok(())
}

/// Adds or replaces a client's grant (keeping its use count).
pub fn allow(
    conn: &mut Connection,
    pubkey: &str,
    grant: &Grant,
    now: u64,
    label: Option<&str>,
) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT INTO bunker_clients (pubkey, grant_json, uses, created_at, label) \
         VALUES (?1, ?2, 0, ?3, ?4) \
         ON CONFLICT(pubkey) DO UPDATE SET grant_json = excluded.grant_json, \
         label = COALESCE(excluded.label, bunker_clients.label)",
        params![pubkey, to_json(grant), now as i64, label],
    )?;
    Ok(())
}

/// Removes a client; true when it existed.
pub fn revoke(conn: &mut Connection, pubkey: &str) -> rusqlite::Result<bool> {
    Ok(conn.execute("DELETE FROM bunker_clients WHERE pubkey = ?1", [pubkey])? > 0)
}

pub fn list(conn: &mut Connection) -> rusqlite::Result<Vec<Client>> {
    let mut stmt = conn.prepare(
        "SELECT pubkey, grant_json, uses, created_at, label, meta_json FROM bunker_clients ORDER BY created_at, pubkey",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok(Client {
            pubkey: r.get(0)?,
            grant: from_json(&r.get::<_, String>(1)?)?,
            uses: r.get::<_, i64>(2)?.max(0) as u64,
            created_at: r.get::<_, i64>(3)?.max(0) as u64,
            label: r.get(4)?,
            meta: r
                .get::<_, Option<String>>(5)?
                .and_then(|j| super::nostrconnect::ClientMeta::from_json(&j)),
        })
    })?;
    rows.collect()
}

/// The keys of every client with a grant (for the bunker's in-memory budget).
pub fn client_keys(conn: &mut Connection) -> rusqlite::Result<Vec<String>> {
    let mut stmt = conn.prepare("SELECT pubkey FROM bunker_clients")?;
    let rows = stmt.query_map([], |r| r.get(0))?;
    rows.collect()
}

pub fn get(conn: &Connection, pubkey: &str) -> rusqlite::Result<Option<Client>> {
    conn.query_row(
        "SELECT pubkey, grant_json, uses, created_at, label, meta_json FROM bunker_clients WHERE pubkey = ?1",
        [pubkey],
        |r| {
            Ok(Client {
                pubkey: r.get(0)?,
                grant: from_json(&r.get::<_, String>(1)?)?,
                uses: r.get::<_, i64>(2)?.max(0) as u64,
                created_at: r.get::<_, i64>(3)?.max(0) as u64,
                label: r.get(4)?,
                meta: r
                    .get::<_, Option<String>>(5)?
                    .and_then(|j| super::nostrconnect::ClientMeta::from_json(&j)),
            })
        },
    )
    .optional()
}

/// A `connect`: an authorized client is acknowledged; otherwise a valid secret is
/// consumed (atomically, so it works once) and its grant given to the client.
pub fn connect(
    conn: &mut Connection,
    pubkey: &str,
    secret: Option<&str>,
    asked: Option<&Grant>,
    now: u64,
) -> rusqlite::Result<Result<(), Refusal>> {
    let tx = crate::serve::door::Db::write_tx(conn)?;
    let known: Option<i64> = tx
        .query_row(
            "SELECT 1 FROM bunker_clients WHERE pubkey = ?1",
            [pubkey],
            |r| r.get(0),
        )
        .optional()?;
    if known.is_some() {
        return Ok(Ok(()));
    }
    let Some(secret) = secret.filter(|s| !s.is_empty()) else {
        return Ok(Err(Refusal::Unknown));
    };
    let h = hash_secret(secret);
    let row: Option<(String, Option<i64>)> = tx
        .query_row(
            "SELECT grant_json, expires_at FROM bunker_secrets WHERE secret_hash = ?1",
            [&h],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    let Some((grant, expires)) = row else {
        return Ok(Err(Refusal::BadSecret));
    };
    tx.execute("DELETE FROM bunker_secrets WHERE secret_hash = ?1", [&h])?;
    if expires.is_some_and(|e| (e as u64) < now) {
        tx.commit()?;
        return Ok(Err(Refusal::BadSecret));
    }
    let grant = match asked {
        Some(a) => to_json(&from_json(&grant)?.narrowed_to(a)),
        None => grant,
    };
    tx.execute(
        "INSERT INTO bunker_clients (pubkey, grant_json, uses, created_at) VALUES (?1, ?2, 0, ?3)",
        params![pubkey, grant, now as i64],
    )?;
    tx.commit()?;
    Ok(Ok(()))
}

/// A request's identity for the durable replay record: the client's key and the
/// request id, remembered until `keep_until` (Unix seconds).
#[derive(Clone, Copy)]
pub struct RequestKey<'a> {
    pub pubkey: &'a str,
    pub id: &'a str,
    pub keep_until: u64,
}

/// What [`authorize`] decided: the grant, or why not; and whether it counted the
/// request (wrote the use and the replay record, which must be durable before the
/// answer leaves: [`crate::serve::door::Db::durable`]).
pub type Decision = (Result<Grant, Refusal>, bool);

/// Checks a request against the client's grant and counts it. `kind` is the event kind
/// for `sign_event`. A request the grant [asks](Grant::asks) about is checked but not
/// counted; it is counted by [`authorize_approved`] once the operator approves it.
/// Counting also records the request id, so one delivered again after a restart is
/// [`Refusal::Replayed`] rather than answered and counted twice.
pub fn authorize(
    conn: &mut Connection,
    request: &RequestKey<'_>,
    method: Method,
    kind: Option<u16>,
    now: u64,
) -> rusqlite::Result<Decision> {
    check(conn, request, method, kind, now, false)
}

/// [`authorize`] for a request the operator approved: checked again (the grant may have
/// been revoked or spent while it waited) and counted.
pub fn authorize_approved(
    conn: &mut Connection,
    request: &RequestKey<'_>,
    method: Method,
    kind: Option<u16>,
    now: u64,
) -> rusqlite::Result<Decision> {
    check(conn, request, method, kind, now, true)
}

fn check(
    conn: &mut Connection,
    request: &RequestKey<'_>,
    method: Method,
    kind: Option<u16>,
    now: u64,
    approved: bool,
) -> rusqlite::Result<Decision> {
    // One write transaction: the uses read are the uses counted.
    let tx = Db::write_tx(conn)?;
    let refused = |r: Refusal| -> rusqlite::Result<Decision> { Ok((Err(r), false)) };
    let Some(c) = get(&tx, request.pubkey)? else {
        return refused(Refusal::Unknown);
    };
    let g = c.grant;
    if g.expires_at.is_some_and(|e| e < now) {
        return refused(Refusal::Expired);
    }
    if method.always_allowed() {
        return Ok((Ok(g), false));
    }
    if let Some(ms) = &g.methods {
        if !ms.contains(&method) {
            return refused(Refusal::Method(method));
        }
    }
    if let (Some(k), Some(kinds)) = (kind, &g.kinds) {
        if !kinds.contains(&k) {
            return refused(Refusal::Kind(k));
        }
    }
    if let Some(max) = g.max_uses {
        if c.uses >= max {
            return refused(Refusal::UsedUp(max));
        }
    }
    if g.asks(method, kind) && !approved {
        return Ok((Ok(g), false));
    }
    if !super::store::first_answer(&tx, request, now)? {
        return refused(Refusal::Replayed);
    }
    tx.execute(
        "UPDATE bunker_clients SET uses = uses + 1 WHERE pubkey = ?1",
        [request.pubkey],
    )?;
    tx.commit()?;
    Ok((Ok(g), true))
}

#[cfg(test)]
mod tests;
