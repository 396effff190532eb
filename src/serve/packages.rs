//! Posting and fetching packages (with long polling).

use std::time::Duration;

use axum::body::Body;
use axum::extract::rejection::PathRejection;
use axum::extract::{OriginalUri, Path, Query, State};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::json;

use super::api::{authenticate, ceremony_id, load_for, read_body};
use super::error::{ApiError, Body as BodyOf};
use super::problem::{Clash, Misround, Unclear};
use super::rules::{self, Judged};
use super::store::{self, Fetch, Inserted};
use super::waiters::Audience;
use super::{now, AppState};
use crate::envelope::Round;

/// Packages per fetch response; clients page on with the cursor.
pub const MAX_PER_FETCH: usize = 1000;
/// Event bytes per fetch response (at least one package is always returned).
const MAX_FETCH_BYTES: usize = 16 << 20;

/// Packages up to this size are judged on the async worker that received them: parsing
/// and one signature check, well under 0.1 ms.
const JUDGE_HERE_BYTES: usize = 16 * 1024;

pub async fn post_package(
    State(st): State<AppState>,
    path: Result<Path<String>, PathRejection>,
    method: Method,
    uri: OriginalUri,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let body = read_body(&st, &headers, body, BodyOf::Package).await?;
    let pk = authenticate(&st, &method, &uri, &headers, Some(&body)).await?;
    let c = load_for(&st, ceremony_id(path)?, &pk).await?;
    // Parsing up to 4 MiB and verifying a signature: a large body goes off the async
    // workers; a small one (most packages) costs less here than the trip there.
    let Judged {
        package,
        requires,
        unique,
        sender,
    } = match body.len() <= JUDGE_HERE_BYTES {
        true => rules::judge_stored(&c, &body, false)?,
        false => {
            let stored = c.clone();
            tokio::task::spawn_blocking(move || rules::judge_stored(&stored, &body, false))
                .await
                .map_err(|_| ApiError::Internal)??
        }
    };
    let round = package.round;
    let reference = requires.reference().map(str::to_owned);
    let event_id = package.event_id.clone();
    let audience = Audience::of(&package);
    let outcome = store::insert(&st.0.db, &c, package, requires, unique, now()).await?;
    let (status, seq, duplicate) = match outcome {
        Inserted::Accepted(seq) => {
            st.0.waiters.notify(&c.id, seq, &audience);
            (StatusCode::CREATED, seq, false)
        }
        Inserted::Duplicate(seq) => (StatusCode::OK, seq, true),
        Inserted::Conflict { existing } => {
            return Err(ApiError::Conflict(Clash {
                sender,
                round: round.describe(),
                existing: short_id(&existing).to_owned(),
            }))
        }
        Inserted::Missing => {
            return Err(ApiError::WrongRound(match reference {
                Some(r) => Misround::Unanswered {
                    sender,
                    round: round.describe(),
                    answers: short_id(&r).to_owned(),
                    wanted: match round {
                        Round::EcdhShare => "an ECDH request",
                        Round::SignRefusal => "a signing or ECDH request",
                        _ => "a signing request",
                    },
                },
                None => Misround::BeforeRound1 {
                    sender,
                    round: round.describe(),
                },
            }))
        }
    };
    Ok((
        status,
        Json(json!({ "seq": seq, "id": event_id, "duplicate": duplicate })),
    )
        .into_response())
}

fn short_id(id: &str) -> &str {
    id.get(..16).unwrap_or(id)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FetchQuery {
    #[serde(default)]
    since: i64,
    #[serde(default)]
    wait: u64,
    round: Option<String>,
}

pub async fn fetch_packages(
    State(st): State<AppState>,
    path: Result<Path<String>, PathRejection>,
    method: Method,
    uri: OriginalUri,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let pk = authenticate(&st, &method, &uri, &headers, None).await?;
    let q = Query::<FetchQuery>::try_from_uri(&uri.0)
        .map_err(|e| {
            ApiError::BadRequest(Unclear::Query {
                reason: e.body_text(),
            })
        })?
        .0;
    let round = match q.round.as_deref() {
        None => None,
        Some(r) => Some(Round::parse(r).ok_or_else(|| {
            ApiError::BadRequest(Unclear::Round {
                given: r.to_owned(),
            })
        })?),
    };
    let c = load_for(&st, ceremony_id(path)?, &pk).await?;
    let viewer = pk.to_hex();
    // Subscribe before the first look, so a package accepted in between still wakes us.
    let mut news = st.0.waiters.subscribe(&c.id, &viewer);
    let fetch = Fetch {
        since: q.since.max(0),
        viewer,
        round,
        max_count: MAX_PER_FETCH,
        max_bytes: MAX_FETCH_BYTES,
    };
    let _polling = st.0.presence.poll(&c.id, &pk);
    let wait = Duration::from_secs(q.wait.min(st.0.config.long_poll_max_secs));
    let deadline = tokio::time::Instant::now() + wait;
    let mut stop = st.0.shutdown.subscribe();
    let mut polling = None;
    let fetch = std::sync::Arc::new(fetch);
    let found = loop {
        let (id, f) = (c.id.clone(), std::sync::Arc::clone(&fetch));
        let found =
            st.0.db
                .read(move |conn| store::fetch(conn, &id, &f))
                .await?;
        if !found.rows.is_empty() || wait.is_zero() || *stop.borrow() {
            break found;
        }
        polling.get_or_insert_with(|| st.0.metrics.long_poll());
        tokio::select! {
            r = tokio::time::timeout_at(deadline, news.changed()) => match r {
                Ok(Ok(())) => continue,
                _ => break found,
            },
            _ = stop.changed() => break found,
        }
    };
    drop(polling);
    Ok((
        [(header::CONTENT_TYPE, "application/json")],
        page_json(&found, fetch.since),
    )
        .into_response())
}

/// `{"packages":[{"seq":N,"event":{…}}],"cursor":M,"more":B}`, with events spliced in
/// as stored (they are JSON the server wrote itself) rather than parsed and
/// re-serialized. `more` says a limit cut the page: without it a client that got
/// packages would ask again at once just to learn there are no more.
fn page_json(found: &store::Found, since: i64) -> String {
    let rows = &found.rows;
    let cursor = rows.last().map_or(since, |(seq, _)| *seq);
    let size: usize = rows.iter().map(|(_, e)| e.len() + 32).sum();
    let mut out = String::with_capacity(size + 48);
    out.push_str("{\"packages\":[");
    for (i, (seq, event)) in rows.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&format!("{{\"seq\":{seq},\"event\":{event}}}"));
    }
    out.push_str(&format!("],\"cursor\":{cursor},\"more\":{}}}", found.more));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_json_is_valid_json_with_cursor() {
        let found = store::Found {
            rows: vec![(3, "{\"a\":1}".into()), (9, "{\"b\":2}".into())],
            more: true,
        };
        let v: serde_json::Value = serde_json::from_str(&page_json(&found, 0)).expect("json");
        assert_eq!(v["cursor"], 9);
        assert_eq!(v["more"], true);
        assert_eq!(v["packages"][1]["event"]["b"], 2);
        let empty: serde_json::Value =
            serde_json::from_str(&page_json(&store::Found::default(), 5)).expect("json");
        assert_eq!(empty["cursor"], 5);
        assert_eq!(empty["more"], false);
        assert_eq!(empty["packages"].as_array().map(Vec::len), Some(0));
    }
}
