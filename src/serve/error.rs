//! API errors: every one is `{"error": "<kind>", "message": "<sentence>"}` with its status.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use super::auth::AuthError;
use super::problem::{Bad, Clash, Misaddressed, Misround, Missing, Outsider, Unclear};

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("unauthorized: {0}")]
    Unauthorized(#[from] AuthError),
    #[error("auth event {0} was already used; sign a fresh NIP-98 event for every request")]
    Replayed(String),
    #[error(transparent)]
    NotAMember(Outsider),
    #[error(transparent)]
    NotFound(Missing),
    #[error(transparent)]
    Conflict(Clash),
    #[error("the request body is larger than {limit} bytes; {}", .of.rule())]
    TooLarge { limit: usize, of: Body },
    #[error(
        "the request body did not arrive within {secs} s of its headers \
         (body_read_timeout_secs)"
    )]
    Timeout { secs: u64 },
    #[error(transparent)]
    Malformed(Bad),
    #[error(transparent)]
    BadRequest(Unclear),
    #[error(transparent)]
    WrongCeremony(crate::envelope::Error),
    #[error(transparent)]
    WrongRound(Misround),
    #[error(transparent)]
    WrongRecipient(Misaddressed),
    #[error("too many requests from {who}; retry in {retry_after} s")]
    RateLimited { who: &'static str, retry_after: u64 },
    #[error(
        "this address registered too many new ceremonies (new_ceremonies_per_ip_hour); \
         retry in {retry_after} s"
    )]
    TooManyCeremonies { retry_after: u64 },
    #[error("{method} is not allowed here; see /v1/openapi.json")]
    MethodNotAllowed { method: String },
    #[error("the server's database is unavailable; see the server log")]
    Unavailable,
    #[error("internal server error; see the server log")]
    Internal,
}

/// What a body is, for the size rule a too-large error quotes.
#[derive(Clone, Copy, Debug)]
pub enum Body {
    Package,
    Roster,
}

impl Body {
    fn rule(self) -> String {
        match self {
            Body::Package => format!(
                "a package must be at most {} bytes",
                crate::envelope::MAX_PACKAGE_BYTES
            ),
            Body::Roster => format!(
                "a roster is at most {} bytes of JSON",
                crate::ceremony::roster::MAX_JSON_BYTES
            ),
        }
    }
}

/// The error kind, put in response extensions so the metrics layer can count it.
#[derive(Clone, Copy, Debug)]
pub struct ErrorKind(pub &'static str);

impl ApiError {
    pub fn kind(&self) -> &'static str {
        match self {
            ApiError::Unauthorized(_) => "unauthorized",
            ApiError::Replayed(_) => "replayed",
            ApiError::NotAMember(_) => "not-a-member",
            ApiError::NotFound(_) => "not-found",
            ApiError::Conflict(_) => "conflict",
            ApiError::TooLarge { .. } => "too-large",
            ApiError::Timeout { .. } => "timeout",
            ApiError::Malformed(_) => "malformed",
            ApiError::BadRequest(_) => "bad-request",
            ApiError::WrongCeremony(_) => "wrong-ceremony",
            ApiError::WrongRound(_) => "wrong-round",
            ApiError::WrongRecipient(_) => "wrong-recipient",
            ApiError::RateLimited { .. } | ApiError::TooManyCeremonies { .. } => "rate-limited",
            ApiError::MethodNotAllowed { .. } => "method-not-allowed",
            ApiError::Unavailable => "unavailable",
            ApiError::Internal => "internal",
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::Unauthorized(_) | ApiError::Replayed(_) => StatusCode::UNAUTHORIZED,
            ApiError::NotAMember(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Timeout { .. } => StatusCode::REQUEST_TIMEOUT,
            ApiError::Malformed(_) | ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::WrongCeremony(_) | ApiError::WrongRound(_) | ApiError::WrongRecipient(_) => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            ApiError::RateLimited { .. } | ApiError::TooManyCeremonies { .. } => {
                StatusCode::TOO_MANY_REQUESTS
            }
            ApiError::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// Every kind the API can answer with (for the OpenAPI document).
    pub const KINDS: [&'static str; 16] = [
        "unauthorized",
        "replayed",
        "not-a-member",
        "not-found",
        "conflict",
        "too-large",
        "timeout",
        "malformed",
        "bad-request",
        "wrong-ceremony",
        "wrong-round",
        "wrong-recipient",
        "rate-limited",
        "method-not-allowed",
        "unavailable",
        "internal",
    ];
}

impl From<super::Error> for ApiError {
    /// Storage failures: the detail goes to the server log, not to the client.
    fn from(e: super::Error) -> Self {
        tracing::error!(
            "passport serve: {}",
            crate::untrusted::one_line(&e.to_string())
        );
        ApiError::Internal
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let kind = self.kind();
        let mut res = (
            self.status(),
            Json(json!({ "error": kind, "message": self.to_string() })),
        )
            .into_response();
        if let ApiError::RateLimited { retry_after, .. }
        | ApiError::TooManyCeremonies { retry_after } = self
        {
            res.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(retry_after.max(1)));
        }
        res.extensions_mut().insert(ErrorKind(kind));
        res
    }
}
