//! Handlers for health, metrics, the OpenAPI document and ceremonies, plus what every
//! ceremony route shares: body limits, NIP-98 auth, membership.

use std::collections::BTreeMap;
use std::time::Instant;

use axum::body::Body;
use axum::extract::rejection::PathRejection;
use axum::extract::{OriginalUri, Path, Request, State};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use nostr::{PublicKey, ToBech32};
use rand::RngCore;
use serde_json::{json, Value};

use super::auth::{self, Authed};
use super::error::{ApiError, Body as BodyOf};
use super::problem::{Bad, Missing, Outsider, Unclear};
use super::store::{self, Ceremony};
use super::{db, metrics, now, AppState};
use crate::ceremony::{roster, Roster};
use crate::envelope::{short_npub, Round};

pub async fn healthz(State(st): State<AppState>) -> Result<Json<Value>, ApiError> {
    st.0.db.call(db::ping).await.map_err(|e| {
        tracing::error!("passport serve: health check failed: {e}");
        ApiError::Unavailable
    })?;
    Ok(Json(json!({ "status": "ok" })))
}

pub async fn metrics(State(st): State<AppState>) -> Result<Response, ApiError> {
    let (ceremonies, packages) = st
        .0
        .db
        .call(|c| {
            let ceremonies =
                db::counts(c, "SELECT state, count(*) FROM ceremonies GROUP BY state")?;
            let packages = db::counts(c, "SELECT round, count(*) FROM packages GROUP BY round")?;
            Ok((ceremonies, packages))
        })
        .await?;
    // Every state and round appears, at 0 when absent, so series do not come and go.
    let mut by_state: BTreeMap<String, u64> = [store::OPEN, store::AGREED]
        .into_iter()
        .map(|s| (s.to_owned(), 0))
        .collect();
    by_state.extend(ceremonies);
    let mut by_round: BTreeMap<String, u64> = Round::ALL
        .into_iter()
        .map(|r| (r.as_str().to_owned(), 0))
        .collect();
    by_round.extend(packages);
    let text = st.0.metrics.render(metrics::Gauges {
        ceremonies: by_state.into_iter().collect(),
        packages: by_round.into_iter().collect(),
        writes: st.0.db.write_stats(),
    });
    Ok(([(header::CONTENT_TYPE, metrics::CONTENT_TYPE)], text).into_response())
}

pub async fn openapi() -> Json<Value> {
    Json(super::openapi::document())
}

/// Reads the body, refusing more than `max_body_bytes` (and, for a roster, more than a
/// roster may be) or a body slower than `body_read_timeout_secs`.
pub async fn read_body(
    st: &AppState,
    headers: &HeaderMap,
    body: Body,
    of: BodyOf,
) -> Result<Vec<u8>, ApiError> {
    let limit = match of {
        BodyOf::Package => st.0.config.max_body_bytes,
        BodyOf::Roster => st.0.config.max_body_bytes.min(roster::MAX_JSON_BYTES),
    };
    let too_large = || ApiError::TooLarge { limit, of };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(too_large());
    }
    let secs = st.0.config.body_read_timeout_secs;
    let read = tokio::time::timeout(
        std::time::Duration::from_secs(secs),
        Limited::new(body, limit).collect(),
    );
    match read.await.map_err(|_| ApiError::Timeout { secs })? {
        Ok(c) => Ok(c.to_bytes().to_vec()),
        Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => Err(too_large()),
        Err(e) => Err(ApiError::BadRequest(Unclear::Body {
            reason: e.to_string(),
        })),
    }
}

/// Verifies the NIP-98 header for this exact request, refuses replays, and applies the
/// per-pubkey limit. Returns the authenticated key.
pub async fn authenticate(
    st: &AppState,
    method: &Method,
    uri: &OriginalUri,
    headers: &HeaderMap,
    body: Option<&[u8]>,
) -> Result<PublicKey, ApiError> {
    let path = uri.0.path_and_query().map_or("/", |p| p.as_str());
    let url = format!("{}{path}", st.0.public_url);
    let header = match headers.get(header::AUTHORIZATION) {
        None => None,
        Some(v) => Some(
            v.to_str()
                .map_err(|_| auth::AuthError::Malformed("it is not ASCII".into()))?,
        ),
    };
    let now = now();
    let Authed {
        pubkey,
        event_id,
        replay_key,
        expires_at,
    } = auth::verify(
        header,
        &auth::Request {
            url: &url,
            method: method.as_str(),
            body,
        },
        now,
        st.0.config.auth_window_secs,
    )?;
    let id = event_id.to_hex();
    // Relaxed, without waiting for an fsync: the record survives kill -9, and what a
    // power loss could forget is an auth already used, for the rest of its short window.
    // Replayed then, a read returns what its signer may read anyway, and a post carries
    // the same package (a duplicate). A key-making round's post is acknowledged only
    // after a durable commit, which covers this record too.
    let (fresh, _) =
        st.0.db
            .relaxed(move |c| Ok((db::remember_auth(c, &replay_key, now, expires_at)?, true)))
            .await?;
    if !fresh {
        return Err(ApiError::Replayed(id.get(..16).unwrap_or(&id).to_owned()));
    }
    st.0.key_limit
        .take(&pubkey.to_hex(), Instant::now())
        .map_err(|retry_after| ApiError::RateLimited {
            who: "this key",
            retry_after,
        })?;
    Ok(pubkey)
}

/// Server ids are 32 lowercase hex digits; anything else cannot exist.
pub fn ceremony_id(path: Result<Path<String>, PathRejection>) -> Result<String, ApiError> {
    let unknown = |what: &str| {
        ApiError::NotFound(Missing::NoSuchId {
            given: what.to_owned(),
        })
    };
    let Path(id) = path.map_err(|_| unknown("?"))?;
    if id.len() == 32
        && id
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        Ok(id)
    } else {
        Err(unknown(&id))
    }
}

fn is_party(roster: &Roster, pk: &PublicKey) -> bool {
    !roster.ids_of(pk).is_empty() || roster.dealer.as_ref() == Some(pk)
}

/// Loads ceremony `id` for `pk`, who must be a member or its dealer.
pub async fn load_for(st: &AppState, id: String, pk: &PublicKey) -> Result<Ceremony, ApiError> {
    let lookup = id.clone();
    let c =
        st.0.db
            .lookup(move |c| store::load(c, &lookup))
            .await?
            .ok_or(ApiError::NotFound(Missing::Ceremony { id }))?;
    if !is_party(&c.roster, pk) {
        return Err(ApiError::NotAMember(Outsider::OfCeremony {
            who: short_npub(pk),
            ceremony: c.roster.ceremony_id,
        }));
    }
    Ok(c)
}

pub async fn create_ceremony(
    State(st): State<AppState>,
    method: Method,
    uri: OriginalUri,
    headers: HeaderMap,
    req: Request,
) -> Result<Response, ApiError> {
    let ip = super::middleware::client_ip(&req);
    let body = read_body(&st, &headers, req.into_body(), BodyOf::Roster).await?;
    let pk = authenticate(&st, &method, &uri, &headers, Some(&body)).await?;
    let roster = Roster::from_json(&body).map_err(|e| ApiError::Malformed(Bad::Roster(e)))?;
    if !is_party(&roster, &pk) {
        return Err(ApiError::NotAMember(Outsider::OfRoster {
            who: short_npub(&pk),
        }));
    }
    let lookup = roster.clone();
    let found = st.0.db.call(move |c| store::find(c, &lookup)).await?;
    let registered = match found {
        Some(r) => r,
        None => {
            // Only new ceremonies take from the budget: every member registers the
            // same roster, and re-running a step registers it again.
            st.0.ceremony_limit
                .take(&ip, Instant::now())
                .map_err(|retry_after| ApiError::TooManyCeremonies { retry_after })?;
            let mut raw = [0u8; 16];
            rand::rngs::OsRng.fill_bytes(&mut raw);
            let new_id = hex::encode(raw);
            let stored = roster.clone();
            st.0.db
                .call(move |c| store::create(c, &stored, &new_id, now()))
                .await?
        }
    };
    let status = match registered.created {
        true => StatusCode::CREATED,
        false => StatusCode::OK,
    };
    let c = registered.ceremony;
    Ok((
        status,
        Json(json!({
            "id": c.id,
            "ceremony": c.roster.ceremony_id,
            "roster_hash": c.roster_hash,
            "created": registered.created,
            "other_rosters": registered.others,
        })),
    )
        .into_response())
}

pub async fn ceremony_status(
    State(st): State<AppState>,
    path: Result<Path<String>, PathRejection>,
    method: Method,
    uri: OriginalUri,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let pk = authenticate(&st, &method, &uri, &headers, None).await?;
    let id = ceremony_id(path)?;
    let c = load_for(&st, id, &pk).await?;
    let cid = c.id.clone();
    let (sent, total) =
        st.0.db
            .call(move |conn| store::sent_counts(conn, &cid))
            .await?;
    let members: Vec<Value> = c
        .roster
        .ids()
        .map(|seat| {
            let counts: BTreeMap<&str, u64> = sent
                .iter()
                .filter(|(s, _, _)| *s == seat)
                .map(|(_, round, n)| (round.as_str(), *n))
                .collect();
            let m = c.roster.member(seat);
            json!({
                "seat": seat,
                "name": m.map(|m| m.name.clone()),
                "npub": m.and_then(|m| m.npub.to_bech32().ok()),
                "sent": counts,
            })
        })
        .collect();
    Ok(Json(json!({
        "id": c.id,
        "ceremony": c.roster.ceremony_id,
        "roster_hash": c.roster_hash,
        "purpose": c.roster.purpose,
        "state": c.state,
        "threshold": c.roster.threshold,
        "dealer": c.roster.dealer.and_then(|d| d.to_bech32().ok()),
        "members": members,
        "packages": total,
    })))
}
