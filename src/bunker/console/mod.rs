//! The operator's console: web pages under `/console` on serve's own address (mounted
//! through [`crate::serve::door::Door::mount`]) that show the requests waiting for
//! approval ([`super::approval`]) and approve or deny them.
//!
//! Operators only: `passport bunker console` makes a one-time login link; visiting it
//! opens a short session (an `HttpOnly; SameSite=Strict` cookie) and redirects, so the
//! token leaves the address bar. Every change is a POST carrying the session's CSRF
//! token, from this origin (`Origin`, `Sec-Fetch-Site` where the browser sends them);
//! GETs change nothing but the login link's own token. Pages have no script and load
//! nothing: the security headers say so.

pub mod login;
pub mod page;

use std::time::Duration;

use axum::body::Body;
use axum::extract::{Path, RawQuery, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use http_body_util::{BodyExt, Limited};

use super::approval::{self, Decided, Decision};
use crate::serve::door::Db;

pub use login::TABLES;

/// The session cookie's name.
pub const COOKIE: &str = "passport_console";

/// A form is one CSRF token; anything larger is not ours.
const MAX_FORM: usize = 4096;
/// A form body slower than this is dropped.
const FORM_TIMEOUT: Duration = Duration::from_secs(10);

const SECURITY_HEADERS: [(&str, &str); 6] = [
    (
        "content-security-policy",
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'",
    ),
    ("x-frame-options", "DENY"),
    ("referrer-policy", "no-referrer"),
    ("cache-control", "no-store"),
    ("x-content-type-options", "nosniff"),
    ("cross-origin-opener-policy", "same-origin"),
];

#[derive(Clone)]
struct Console {
    db: Db,
    /// serve's public URL is https: the cookie says `Secure`.
    secure: bool,
}

/// The console's routes, for [`crate::serve::door::Door::mount`]; `public_url` is
/// serve's (`https://…` makes the cookie `Secure`).
pub fn router(db: Db, public_url: &str) -> Router {
    let state = Console {
        db,
        secure: public_url.starts_with("https://"),
    };
    Router::new()
        .route("/console", get(index))
        .route("/console/login", get(log_in))
        .route("/console/pending/{id}", get(show))
        .route("/console/pending/{id}/{action}", post(decide))
        .route("/console/logout", post(log_out))
        .layer(axum::middleware::map_response(with_security_headers))
        .with_state(state)
}

async fn with_security_headers(mut res: Response) -> Response {
    let h = res.headers_mut();
    for (name, value) in SECURITY_HEADERS {
        h.insert(name, HeaderValue::from_static(value));
    }
    res
}

fn html(status: StatusCode, body: String) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        body,
    )
        .into_response()
}

fn refused(status: StatusCode, title: &str, said: &str) -> Response {
    html(status, page::message(title, said))
}

fn log_in_first() -> Response {
    refused(
        StatusCode::FORBIDDEN,
        "Log in first",
        "log in first: run `passport bunker console` and open the link it prints",
    )
}

fn broken(e: impl std::fmt::Display) -> Response {
    tracing::warn!("passport serve: console: {e}");
    refused(
        StatusCode::INTERNAL_SERVER_ERROR,
        "Error",
        "the console cannot read serve's database; see serve's log",
    )
}

/// The session id in the request's cookie, if any.
fn cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|kv| kv.trim().strip_prefix(COOKIE)?.strip_prefix('='))
        .map(str::to_owned)
}

/// The live session of the request, if it has one.
async fn session(c: &Console, headers: &HeaderMap) -> Result<Option<String>, Response> {
    let Some(id) = cookie(headers) else {
        return Ok(None);
    };
    let (s, now) = (id.clone(), super::unix_now());
    match c.db.call(move |conn| login::valid(conn, &s, now)).await {
        Ok(true) => Ok(Some(id)),
        Ok(false) => Ok(None),
        Err(e) => Err(broken(e)),
    }
}

async fn log_in(State(c): State<Console>, RawQuery(q): RawQuery) -> Response {
    let token = url::form_urlencoded::parse(q.unwrap_or_default().as_bytes())
        .find(|(k, _)| k == "token")
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default();
    let now = super::unix_now();
    match c
        .db
        .call(move |conn| login::log_in(conn, &token, now))
        .await
    {
        Ok(Some(session)) => {
            let cookie = format!(
                "{COOKIE}={session}; HttpOnly; SameSite=Strict; Path=/console; Max-Age={}{}",
                login::SESSION_LIFETIME,
                if c.secure { "; Secure" } else { "" }
            );
            (
                StatusCode::SEE_OTHER,
                [
                    (header::SET_COOKIE, cookie),
                    (header::LOCATION, "/console".into()),
                ],
            )
                .into_response()
        }
        Ok(None) => refused(
            StatusCode::FORBIDDEN,
            "Login link not valid",
            "this login link is used, unknown or expired: each works once, for a few \
             minutes; run `passport bunker console` for a new one",
        ),
        Err(e) => broken(e),
    }
}

async fn index(State(c): State<Console>, headers: HeaderMap) -> Response {
    let session = match session(&c, &headers).await {
        Ok(Some(s)) => s,
        Ok(None) => return log_in_first(),
        Err(r) => return r,
    };
    let now = super::unix_now();
    match c.db.call(move |conn| approval::list(conn, now)).await {
        Ok(all) => html(StatusCode::OK, page::list(&all, &login::csrf(&session))),
        Err(e) => broken(e),
    }
}

async fn show(State(c): State<Console>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    let session = match session(&c, &headers).await {
        Ok(Some(s)) => s,
        Ok(None) => return log_in_first(),
        Err(r) => return r,
    };
    let now = super::unix_now();
    // (waiting, known): only a waiting request gets buttons.
    let found =
        c.db.call(move |conn| {
            let waiting = approval::list(conn, now)?.into_iter().find(|p| p.id == id);
            let known = waiting.is_some() || approval::get(conn, &id)?.is_some();
            Ok((waiting, known))
        })
        .await;
    match found {
        Ok((Some(p), _)) => html(StatusCode::OK, page::one(&p, &login::csrf(&session))),
        // Whether it was approved is the terminal's to tell (`bunker pending`).
        Ok((None, true)) => refused(
            StatusCode::GONE,
            "No longer waiting",
            "this request was decided or has expired",
        ),
        Ok((None, false)) => refused(StatusCode::NOT_FOUND, "Not found", "no such request"),
        Err(e) => broken(e),
    }
}

/// True when the browser says the request comes from another site: `Sec-Fetch-Site`
/// where sent (browsers set it and pages cannot), else `Origin`. (Under
/// `Referrer-Policy: no-referrer` Chromium's own form posts say `Origin: null`, so
/// with `Sec-Fetch-Site` the origin is not asked.)
fn cross_site(headers: &HeaderMap) -> bool {
    if let Some(site) = headers.get("sec-fetch-site") {
        return site.as_bytes() != b"same-origin";
    }
    let Some(origin) = headers.get(header::ORIGIN) else {
        return false;
    };
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
    match (origin.to_str().ok(), host) {
        (Some(o), Some(h)) => o != format!("http://{h}") && o != format!("https://{h}"),
        _ => true,
    }
}

/// The form's `csrf` field, or nothing for a body that is too large, slow or odd.
async fn csrf_field(body: Body) -> Option<String> {
    let read = tokio::time::timeout(FORM_TIMEOUT, Limited::new(body, MAX_FORM).collect());
    let bytes = read.await.ok()?.ok()?.to_bytes();
    url::form_urlencoded::parse(&bytes)
        .find(|(k, _)| k == "csrf")
        .map(|(_, v)| v.into_owned())
}

/// The session of a POST from one of its own pages (same origin, its CSRF token), or
/// the page that refuses it.
async fn posted_by_session(c: &Console, req: Request) -> Result<String, Response> {
    let (parts, body) = req.into_parts();
    if cross_site(&parts.headers) {
        return Err(refused(
            StatusCode::FORBIDDEN,
            "Refused",
            "a console form must come from the console's own page",
        ));
    }
    let session = match session(c, &parts.headers).await {
        Ok(Some(s)) => s,
        Ok(None) => return Err(log_in_first()),
        Err(r) => return Err(r),
    };
    if !csrf_field(body)
        .await
        .is_some_and(|t| login::csrf_ok(&session, &t))
    {
        return Err(refused(
            StatusCode::FORBIDDEN,
            "Refused",
            "this form is not from your console session; open the request again",
        ));
    }
    Ok(session)
}

/// `POST /console/logout`: ends the session and clears the cookie.
async fn log_out(State(c): State<Console>, req: Request) -> Response {
    let session = match posted_by_session(&c, req).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    if let Err(e) = c.db.call(move |conn| login::log_out(conn, &session)).await {
        return broken(e);
    }
    let cleared = format!(
        "{COOKIE}=; HttpOnly; SameSite=Strict; Path=/console; Max-Age=0{}",
        if c.secure { "; Secure" } else { "" }
    );
    let mut res = html(
        StatusCode::OK,
        page::message(
            "Logged out",
            "logged out: run `passport bunker console` for a new login link",
        ),
    );
    if let Ok(v) = HeaderValue::from_str(&cleared) {
        res.headers_mut().insert(header::SET_COOKIE, v);
    }
    res
}

async fn decide(
    State(c): State<Console>,
    Path((id, action)): Path<(String, String)>,
    req: Request,
) -> Response {
    let d = match action.as_str() {
        "approve" => Decision::Approve,
        "deny" => Decision::Deny,
        _ => return refused(StatusCode::NOT_FOUND, "Not found", "no such action"),
    };
    if let Err(r) = posted_by_session(&c, req).await {
        return r;
    }
    match approval::decide_now(&c.db, &id, d, super::unix_now()).await {
        Ok(Decided::Done) => match d {
            Decision::Approve => html(
                StatusCode::OK,
                page::message("Approved", "approved: the client receives the signed event"),
            ),
            Decision::Deny => html(
                StatusCode::OK,
                page::message("Denied", "denied: the client is told so"),
            ),
        },
        Ok(Decided::NotFound) => refused(StatusCode::NOT_FOUND, "Not found", "no such request"),
        Ok(Decided::AlreadyDecided) => refused(
            StatusCode::CONFLICT,
            "Already decided",
            "this request was already approved or denied",
        ),
        Ok(Decided::Expired) => refused(
            StatusCode::GONE,
            "Expired",
            "this request expired before the decision: the client got an error",
        ),
        Err(e) => broken(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cookie_is_found_among_others() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; passport_console=abc; b=2"),
        );
        assert_eq!(cookie(&h).as_deref(), Some("abc"));
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("passport_consolex=1"),
        );
        assert_eq!(cookie(&h), None);
    }

    #[test]
    fn only_same_origin_posts_pass() {
        let mut h = HeaderMap::new();
        assert!(!cross_site(&h), "a client without these headers");
        h.insert(header::HOST, HeaderValue::from_static("127.0.0.1:8080"));
        h.insert(
            header::ORIGIN,
            HeaderValue::from_static("http://127.0.0.1:8080"),
        );
        assert!(!cross_site(&h));
        for other in ["http://evil.example", "null", "http://127.0.0.1:8081"] {
            h.insert(header::ORIGIN, HeaderValue::from_str(other).expect("value"));
            assert!(cross_site(&h), "{other}");
        }
        // A browser's own form post under no-referrer: Origin null, same-origin fetch.
        h.insert("sec-fetch-site", HeaderValue::from_static("same-origin"));
        assert!(!cross_site(&h));
        for site in ["cross-site", "same-site", "none"] {
            h.insert("sec-fetch-site", HeaderValue::from_static(site));
            assert!(cross_site(&h), "{site}");
        }
    }
}
