//! The HTTP surface (CONTRACT.md "HTTP API" and "Pages"): routes and shared filters.

pub mod access;
pub mod error;
mod events;
mod moderation_api;
mod origin;
mod pages;
pub mod polls_api;
mod present_api;
mod qa_api;
mod quiz_api;
pub mod server;
mod votes;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::BufMut;
use futures::StreamExt;
use warp::Filter;
use warp::filters::BoxedFilter;
use warp::http::HeaderMap;
use warp::http::header::{CACHE_CONTROL, CONTENT_TYPE, COOKIE};
use warp::reply::Response;

use crate::state::AppState;
use error::ApiError;

/// Request bodies larger than this get 413.
pub const MAX_BODY: u64 = 16 * 1024;
pub const VOTER_COOKIE: &str = "livepoll_voter";
pub const ADMIN_COOKIE: &str = "livepoll_admin";
/// The whole request body must arrive within this long, or the request gets 400.
pub const BODY_READ_TIMEOUT: Duration = Duration::from_secs(10);

pub fn with_state(
    state: AppState,
) -> impl Filter<Extract = (AppState,), Error = std::convert::Infallible> + Clone {
    warp::any().map(move || state.clone())
}

/// Requires `Authorization: Bearer ADMIN_TOKEN` or the admin session cookie: 401 otherwise,
/// 403 for a presenter or moderator key. The cookie is safe here because
/// [`origin::same_origin`] refuses state-changing requests that other pages make a browser send.
pub fn admin(
    state: AppState,
) -> impl Filter<Extract = (AppState,), Error = warp::Rejection> + Clone {
    access::allow(state, access::ADMIN)
}

/// True for an admin: the bearer header or the admin session cookie.
pub fn is_admin(
    state: AppState,
) -> impl Filter<Extract = (bool,), Error = warp::Rejection> + Clone {
    access::role(state).map(|r: Option<crate::auth::Role>| r == Some(crate::auth::Role::Admin))
}

/// The value of cookie `name`, if the request carries it.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(COOKIE)
        .iter()
        .flat_map(|v| v.as_bytes().split(|b| *b == b';'))
        .filter_map(|pair| std::str::from_utf8(pair).ok()?.split_once('='))
        .find(|(k, _)| k.trim() == name)
        .map(|(_, v)| v.trim().trim_matches('"').to_string())
}

/// The raw voter token from the header or the cookie, if any.
fn voter_token() -> impl Filter<Extract = (Option<String>,), Error = warp::Rejection> + Clone {
    warp::header::headers_cloned()
        .and_then(|h: HeaderMap| async move { Ok::<_, warp::Rejection>(voter_token_in(&h)) })
}

/// The raw voter token in `headers`: `X-Livepoll-Voter`, else the voter cookie.
fn voter_token_in(headers: &HeaderMap) -> Option<String> {
    headers
        .get("x-livepoll-voter")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .or_else(|| cookie(headers, VOTER_COOKIE))
}

/// The verified voter id in `headers`; 401 if the token is missing, malformed or forged.
fn voter_in(state: &AppState, headers: &HeaderMap) -> Result<String, ApiError> {
    verified_voter(state, voter_token_in(headers))
}

fn verified_voter(state: &AppState, token: Option<String>) -> Result<String, ApiError> {
    let Some(t) = token else {
        return Err(ApiError::Unauthorized(
            "no voter token: POST /api/session first".into(),
        ));
    };
    match state.keys.verify_voter(&t) {
        Some(id) => Ok(id.to_string()),
        None => Err(ApiError::Unauthorized("invalid voter token".into())),
    }
}

/// The client's address (the TCP peer, or the forwarded client), set by [`server`] on every
/// request it hands to warp.
#[derive(Debug, Clone, Copy)]
pub struct ClientAddr(pub SocketAddr);

/// The client's address; `None` only for requests that did not come through [`server`]
/// (`warp::test`). Use this, not `warp::addr::remote()`, which livepoll's server does not fill.
pub fn client_addr()
-> impl Filter<Extract = (Option<SocketAddr>,), Error = std::convert::Infallible> + Clone {
    warp::ext::optional::<ClientAddr>().map(|a: Option<ClientAddr>| a.map(|a| a.0))
}

/// The verified voter id, if the request carries a valid token (never rejects).
pub fn optional_voter(
    state: AppState,
) -> impl Filter<Extract = (Option<String>,), Error = warp::Rejection> + Clone {
    with_state(state)
        .and(voter_token())
        .map(|state: AppState, t: Option<String>| {
            t.and_then(|t| state.keys.verify_voter(&t).map(str::to_string))
        })
}

/// The verified voter id; 401 if the token is missing, malformed or forged.
pub fn voter(state: AppState) -> impl Filter<Extract = (String,), Error = warp::Rejection> + Clone {
    with_state(state)
        .and(voter_token())
        .and_then(|state: AppState, t: Option<String>| async move {
            verified_voter(&state, t).map_err(warp::reject::custom)
        })
}

/// A JSON body of at most [`MAX_BODY`] bytes, parsed with a clear 400 on failure. The limit
/// holds whatever the transfer encoding: a `Content-Length` over it is refused before a byte
/// is read, and a chunked body is read only up to it (413, the rest never buffered). A body
/// that ends early, or does not arrive within [`BODY_READ_TIMEOUT`], is a 400.
/// Put this filter after the ones that can refuse the request (auth, rate limits), so a
/// refused request costs no body read.
pub fn json_body<T: serde::de::DeserializeOwned + Send>()
-> impl Filter<Extract = (T,), Error = warp::Rejection> + Clone {
    limited_body().and_then(|bytes: Vec<u8>| async move {
        serde_json::from_slice::<T>(&bytes).map_err(|e| {
            warp::reject::custom(ApiError::bad_request(format!("invalid JSON body: {e}")))
        })
    })
}

/// The raw body, at most [`MAX_BODY`] bytes whatever the transfer encoding (see [`json_body`]).
pub fn limited_body() -> impl Filter<Extract = (Vec<u8>,), Error = warp::Rejection> + Clone {
    warp::header::optional::<u64>("content-length")
        .and(warp::body::stream())
        .and_then(|len: Option<u64>, body| async move {
            read_limited(len, body).await.map_err(warp::reject::custom)
        })
}

/// Reads a body of declared length `len` (none when chunked) from `body`: 413 over
/// [`MAX_BODY`] (before a byte is read when `len` says so), 400 when it breaks or is late.
async fn read_limited<B: bytes::Buf>(
    len: Option<u64>,
    body: impl futures::Stream<Item = Result<B, warp::Error>>,
) -> Result<Vec<u8>, ApiError> {
    if len.is_some_and(|l| l > MAX_BODY) {
        return Err(ApiError::TooLarge);
    }
    body_bytes(tokio::time::timeout(BODY_READ_TIMEOUT, read_body(body)).await)
}

/// Why a body could not be read whole.
#[derive(Debug)]
enum BodyFailure {
    /// It grew past [`MAX_BODY`]; reading stopped there.
    TooLarge,
    /// The connection failed or the body ended before its declared length.
    Broken(String),
}

/// The bytes of a body read within [`BODY_READ_TIMEOUT`] (the `Err(Elapsed)` if not), or the
/// error that says what was wrong with it (413 over the limit, else 400).
fn body_bytes(
    read: Result<Result<Vec<u8>, BodyFailure>, tokio::time::error::Elapsed>,
) -> Result<Vec<u8>, ApiError> {
    match read {
        Ok(Ok(bytes)) => Ok(bytes),
        Ok(Err(BodyFailure::TooLarge)) => Err(ApiError::TooLarge),
        Ok(Err(BodyFailure::Broken(e))) => Err(ApiError::bad_request(format!(
            "the request body ended before its end: {e}"
        ))),
        Err(_) => Err(ApiError::bad_request(format!(
            "the request body did not arrive within {} s",
            BODY_READ_TIMEOUT.as_secs()
        ))),
    }
}

/// Reads a warp body stream, stopping with [`BodyFailure::TooLarge`] as soon as it passes
/// [`MAX_BODY`].
async fn read_body<B: bytes::Buf>(
    body: impl futures::Stream<Item = Result<B, warp::Error>>,
) -> Result<Vec<u8>, BodyFailure> {
    let mut body = std::pin::pin!(body);
    let mut out = Vec::new();
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| BodyFailure::Broken(e.to_string()))?;
        if (out.len() + chunk.remaining()) as u64 > MAX_BODY {
            return Err(BodyFailure::TooLarge);
        }
        out.put(chunk);
    }
    Ok(out)
}

/// Reads a hyper request body like [`read_body`]: at most [`MAX_BODY`] bytes.
async fn read_incoming(mut body: hyper::body::Incoming) -> Result<Vec<u8>, BodyFailure> {
    use http_body_util::BodyExt;
    let mut out = Vec::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| BodyFailure::Broken(e.to_string()))?;
        if let Ok(data) = frame.into_data() {
            if (out.len() + data.len()) as u64 > MAX_BODY {
                return Err(BodyFailure::TooLarge);
            }
            out.extend_from_slice(&data);
        }
    }
    Ok(out)
}

pub fn json_reply<T: serde::Serialize>(status: warp::http::StatusCode, body: &T) -> Response {
    use warp::Reply;
    warp::reply::with_status(warp::reply::json(body), status).into_response()
}

/// `202 {"accepted":true}`, the answer to every vote and upvote, built without serialising.
pub fn accepted_reply() -> Response {
    let mut res = Response::new(bytes::Bytes::from_static(br#"{"accepted":true}"#).into());
    *res.status_mut() = warp::http::StatusCode::ACCEPTED;
    res.headers_mut().insert(
        CONTENT_TYPE,
        warp::http::HeaderValue::from_static("application/json"),
    );
    res
}

/// Every route of the server: votes, nearly every request at a session's peak, straight from
/// hyper ([`Routes::vote`]); everything else through warp's filters ([`Routes::warp`]).
pub struct Routes {
    state: AppState,
    public: Option<origin::Authority>,
    warp: BoxedFilter<(Response,)>,
}

impl Routes {
    /// The poll id if `req` is for `/api/polls/{id}/votes`: answer it with [`Routes::vote`].
    pub fn vote_target(req: &hyper::Request<hyper::body::Incoming>) -> Option<String> {
        votes::vote_target(req).map(str::to_string)
    }

    /// Answers a request for `/api/polls/{poll}/votes`.
    pub async fn vote(
        self: Arc<Self>,
        poll: String,
        req: hyper::Request<hyper::body::Incoming>,
    ) -> Response {
        common_headers(votes::vote(&self.state, self.public.as_ref(), poll, req).await)
    }

    /// The open-files budget every connection takes a place from.
    pub fn descriptors(&self) -> crate::descriptors::Budget {
        self.state.health.descriptors().clone()
    }

    /// Every other route.
    pub fn warp(&self) -> BoxedFilter<(Response,)> {
        self.warp.clone()
    }
}

/// Every route of the server.
pub fn routes(state: AppState) -> Arc<Routes> {
    let guard = origin::same_origin(&state.public_url);
    let api = votes::routes(state.clone())
        .or(polls_api::routes(state.clone()))
        .unify()
        .or(present_api::routes(state.clone()))
        .unify()
        .or(qa_api::routes(state.clone()))
        .unify()
        .or(quiz_api::routes(state.clone()))
        .unify()
        .or(moderation_api::routes(state.clone()))
        .unify()
        .or(events::routes(state.clone()))
        .unify()
        .or(pages::routes(state.clone()))
        .unify();
    let warp = guard
        .and(api)
        .recover(error::recover)
        .unify()
        .map(|r| -> Response { common_headers(warp::Reply::into_response(r)) })
        .boxed();
    Arc::new(Routes {
        public: origin::parse_origin(&state.public_url),
        state,
        warp,
    })
}

/// Headers every response carries; API answers (JSON, CSV) are never stored by caches.
fn common_headers(mut res: Response) -> Response {
    use warp::http::HeaderValue;
    let is_data = res.headers().get(CONTENT_TYPE).is_some_and(|ct| {
        let ct = ct.as_bytes();
        ct.starts_with(b"application/json") || ct.starts_with(b"text/csv")
    });
    let h = res.headers_mut();
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    h.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
    if is_data {
        h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    res
}
