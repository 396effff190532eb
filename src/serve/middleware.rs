//! Layers around every route, outermost first: metrics and request log, panic catcher,
//! per-IP rate limit; plus JSON answers for unknown paths and methods.

use std::net::SocketAddr;
use std::time::Instant;

use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::{Method, Uri};
use axum::middleware::{from_fn_with_state, Next};
use axum::response::{IntoResponse, Response};
use axum::Router;
use tower_http::catch_panic::CatchPanicLayer;

use super::error::{ApiError, ErrorKind};
use super::AppState;

pub fn wrap(routes: Router<AppState>, state: AppState) -> Router<AppState> {
    routes
        .fallback(no_route)
        .method_not_allowed_fallback(no_method)
        .layer(from_fn_with_state(state.clone(), limit_ip))
        .layer(CatchPanicLayer::custom(on_panic))
        .layer(from_fn_with_state(state, track))
}

async fn no_route(uri: Uri) -> ApiError {
    ApiError::NotFound(super::problem::Missing::Route {
        path: uri.path().to_owned(),
    })
}

async fn no_method(method: Method) -> ApiError {
    ApiError::MethodNotAllowed {
        method: method.to_string(),
    }
}

fn on_panic(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    tracing::error!("passport serve: a request handler panicked; the request got a 500");
    ApiError::Internal.into_response()
}

/// The client address as the listener saw it (in-process tests have none).
pub fn client_ip(req: &Request) -> String {
    req.extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map_or_else(|| "local".to_owned(), |c| c.0.ip().to_string())
}

async fn limit_ip(State(st): State<AppState>, req: Request, next: Next) -> Response {
    match st.0.ip_limit.take(&client_ip(&req), Instant::now()) {
        Ok(()) => next.run(req).await,
        Err(retry_after) => ApiError::RateLimited {
            who: "this address",
            retry_after,
        }
        .into_response(),
    }
}

/// A fixed set of method labels, so odd methods cannot grow the metrics.
fn method_label(m: &Method) -> &'static str {
    match *m {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::HEAD => "HEAD",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

async fn track(State(st): State<AppState>, req: Request, next: Next) -> Response {
    let start = Instant::now();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", |m| m.as_str())
        .to_owned();
    let method = method_label(req.method());
    // Path only: queries carry nothing secret, but keep log lines short.
    let path =
        st.0.config
            .log_requests
            .then(|| req.uri().path().to_owned());
    let ip = client_ip(&req);
    let res = next.run(req).await;
    let secs = start.elapsed().as_secs_f64();
    let status = res.status().as_u16();
    st.0.metrics.request(&route, method, status, secs);
    let kind = res.extensions().get::<ErrorKind>().map(|k| k.0);
    if let Some(k) = kind {
        st.0.metrics.error(k);
    }
    if let Some(path) = path {
        let path = crate::untrusted::one_line(&path);
        let ms = secs * 1000.0;
        tracing::info!(
            target: "passport::serve::request",
            %ip,
            method,
            path = %path,
            status,
            ms,
            kind,
            "{ip} {method} {path} {status} {ms:.1}ms{}",
            kind.map(|k| format!(" {k}")).unwrap_or_default()
        );
    }
    res
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::StatusCode;
    use axum::routing::get;
    use tower::ServiceExt;

    async fn boom() -> &'static str {
        panic!("a handler bug")
    }

    #[tokio::test]
    async fn a_panicking_handler_gets_a_json_500_and_the_router_lives_on() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let state = AppState::open(crate::serve::Config::with_db(tmp.path().join("db.sqlite")))
            .expect("state");
        let routes = Router::new()
            .route("/boom", get(boom))
            .route("/fine", get(|| async { "fine" }));
        let app = wrap(routes, state.clone()).with_state(state);
        let get_path = |p: &str| {
            Request::builder()
                .uri(p)
                .body(Body::empty())
                .expect("request")
        };
        let res = app
            .clone()
            .oneshot(get_path("/boom"))
            .await
            .expect("response");
        assert_eq!(res.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let body = axum::body::to_bytes(res.into_body(), 1 << 16)
            .await
            .expect("body");
        let v: serde_json::Value = serde_json::from_slice(&body).expect("json");
        assert_eq!(v["error"], "internal");
        let res = app.oneshot(get_path("/fine")).await.expect("response");
        assert_eq!(res.status(), StatusCode::OK);
    }
}
