//! API errors and the one place they become HTTP responses (CONTRACT.md error codes).

use std::convert::Infallible;

use warp::http::StatusCode;
use warp::reply::Reply;
use warp::{Rejection, reject};

/// Seconds a client should wait before retrying after a 503.
pub const RETRY_AFTER_SECS: u64 = 2;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Unauthorized(String),
    /// A state-changing request that another web page made a browser send (see `origin.rs`).
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    AlreadyAnswered(String),
    #[error("too many votes from this voter; slow down")]
    RateLimited,
    #[error("{0}")]
    TooMany(String),
    #[error("{0}")]
    Unavailable(String),
    #[error("internal error: {0}")]
    Internal(String),
}

impl reject::Reject for ApiError {}

impl From<crate::service::ServiceError> for ApiError {
    fn from(e: crate::service::ServiceError) -> Self {
        use crate::service::ServiceError as S;
        match e {
            S::BadRequest(m) => ApiError::BadRequest(m),
            S::NotFound(m) => ApiError::NotFound(m),
            S::Conflict(m) => ApiError::Conflict(m),
            S::AlreadyAnswered(m) => ApiError::AlreadyAnswered(m),
            S::RateLimited => ApiError::RateLimited,
            S::TooMany(m) => ApiError::TooMany(m),
            S::Unavailable(m) => ApiError::Unavailable(m),
            S::Internal(m) => ApiError::Internal(m),
        }
    }
}

impl ApiError {
    fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            ApiError::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad_request"),
            ApiError::Unauthorized(_) => (StatusCode::UNAUTHORIZED, "unauthorized"),
            ApiError::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden"),
            ApiError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            ApiError::Conflict(_) => (StatusCode::CONFLICT, "conflict"),
            ApiError::AlreadyAnswered(_) => (StatusCode::CONFLICT, "already_answered"),
            ApiError::RateLimited | ApiError::TooMany(_) => {
                (StatusCode::TOO_MANY_REQUESTS, "rate_limited")
            }
            ApiError::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
            ApiError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        }
    }
}

pub fn error_reply(status: StatusCode, code: &str, message: &str) -> warp::reply::Response {
    let body = serde_json::json!({ "error": code, "message": message });
    let mut res = warp::reply::with_status(warp::reply::json(&body), status).into_response();
    if status == StatusCode::SERVICE_UNAVAILABLE || status == StatusCode::TOO_MANY_REQUESTS {
        res.headers_mut().insert(
            "retry-after",
            RETRY_AFTER_SECS.to_string().parse().expect("header"),
        );
    }
    res
}

/// Maps every rejection to a JSON error.
///
/// A request rejected by several routes carries all their rejections; the one that says most
/// about this request wins: ours (a route matched and refused), then what is wrong with the
/// request itself, then 405 (another method would match), then 404.
pub async fn recover(err: Rejection) -> Result<warp::reply::Response, Infallible> {
    if let Some(e) = err.find::<ApiError>() {
        let (status, code) = e.status_and_code();
        return Ok(error_reply(status, code, &e.to_string()));
    }
    let (status, code, message) = if err.is_not_found() {
        (
            StatusCode::NOT_FOUND,
            "not_found",
            "no such page or endpoint".to_string(),
        )
    } else if let Some(e) = err.find::<reject::InvalidQuery>() {
        (StatusCode::BAD_REQUEST, "bad_request", e.to_string())
    } else if err.find::<reject::PayloadTooLarge>().is_some() {
        (
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            "request body over 16 KiB".to_string(),
        )
    } else if let Some(e) = err.find::<warp::filters::body::BodyDeserializeError>() {
        (
            StatusCode::BAD_REQUEST,
            "bad_request",
            format!("malformed JSON body: {e}"),
        )
    } else if err.find::<reject::LengthRequired>().is_some() {
        (
            StatusCode::LENGTH_REQUIRED,
            "length_required",
            "send a Content-Length".to_string(),
        )
    } else if err.find::<reject::UnsupportedMediaType>().is_some() {
        (
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "bad_request",
            "send JSON".to_string(),
        )
    } else if let Some(e) = err.find::<reject::InvalidHeader>() {
        (StatusCode::BAD_REQUEST, "bad_request", e.to_string())
    } else if let Some(e) = err.find::<reject::MissingHeader>() {
        (StatusCode::BAD_REQUEST, "bad_request", e.to_string())
    } else if let Some(e) = err.find::<reject::MissingCookie>() {
        (StatusCode::BAD_REQUEST, "bad_request", e.to_string())
    } else if err.find::<reject::MethodNotAllowed>().is_some() {
        (
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "method not allowed".to_string(),
        )
    } else {
        tracing::warn!("unhandled rejection: {err:?}");
        (
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal error".to_string(),
        )
    };
    Ok(error_reply(status, code, &message))
}
