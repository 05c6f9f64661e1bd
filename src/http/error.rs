//! API errors and the one place they become HTTP responses (CONTRACT.md error codes).

use std::convert::Infallible;

use warp::http::StatusCode;
use warp::reply::Reply;
use warp::{Rejection, reject};

use crate::service::ServiceError;

/// Seconds a client should wait before retrying after a 503.
pub const RETRY_AFTER_SECS: u64 = 2;

/// Why a request was refused: what only HTTP knows (who is asking, from which page), or what
/// the service layer said.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    Unauthorized(String),
    /// A state-changing request that another web page made a browser send (see `origin.rs`).
    #[error("{0}")]
    Forbidden(String),
    /// A body over [`super::MAX_BODY`], whatever its transfer encoding.
    #[error("the request body is over {} bytes", super::MAX_BODY)]
    TooLarge,
    #[error(transparent)]
    Service(#[from] ServiceError),
}

impl reject::Reject for ApiError {}

impl ApiError {
    /// A 400 saying what is wrong with the request.
    pub fn bad_request(message: impl Into<String>) -> Self {
        ApiError::Service(ServiceError::BadRequest(message.into()))
    }

    /// A 500.
    pub fn internal(e: impl std::fmt::Display) -> Self {
        ApiError::Service(ServiceError::internal(e))
    }

    /// The JSON error response for this error.
    pub fn reply(&self) -> warp::reply::Response {
        let (status, code) = self.status_and_code();
        error_reply(status, code, &self.to_string())
    }

    fn status_and_code(&self) -> (StatusCode, &'static str) {
        use ServiceError as S;
        match self {
            ApiError::Unauthorized(_) => (StatusCode::UNAUTHORIZED, "unauthorized"),
            ApiError::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden"),
            ApiError::TooLarge => (StatusCode::PAYLOAD_TOO_LARGE, "too_large"),
            ApiError::Service(e) => match e {
                S::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad_request"),
                S::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
                S::Conflict(_) => (StatusCode::CONFLICT, "conflict"),
                S::AlreadyAnswered(_) => (StatusCode::CONFLICT, "already_answered"),
                S::RateLimited | S::TooMany(_) => (StatusCode::TOO_MANY_REQUESTS, "rate_limited"),
                S::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
                S::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
            },
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

/// 413: a body over [`super::MAX_BODY`].
pub fn too_large() -> warp::reply::Response {
    error_reply(
        StatusCode::PAYLOAD_TOO_LARGE,
        "too_large",
        "request body over 16 KiB",
    )
}

/// 411: a request that must say how long its body is.
pub fn length_required() -> warp::reply::Response {
    error_reply(
        StatusCode::LENGTH_REQUIRED,
        "length_required",
        "send a Content-Length",
    )
}

/// 405: the path exists, but not for this method.
pub fn method_not_allowed() -> warp::reply::Response {
    error_reply(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "method not allowed",
    )
}

/// Maps every rejection to a JSON error.
///
/// A request rejected by several routes carries all their rejections; the one that says most
/// about this request wins: ours (a route matched and refused), then what is wrong with the
/// request itself, then 405 (another method would match), then 404.
pub async fn recover(err: Rejection) -> Result<warp::reply::Response, Infallible> {
    if let Some(e) = err.find::<ApiError>() {
        return Ok(e.reply());
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
        return Ok(too_large());
    } else if let Some(e) = err.find::<warp::filters::body::BodyDeserializeError>() {
        (
            StatusCode::BAD_REQUEST,
            "bad_request",
            format!("malformed JSON body: {e}"),
        )
    } else if err.find::<reject::LengthRequired>().is_some() {
        return Ok(length_required());
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
        return Ok(method_not_allowed());
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
