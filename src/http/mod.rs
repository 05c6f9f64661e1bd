//! The HTTP surface (CONTRACT.md "HTTP API" and "Pages"): routes and shared filters.

pub mod error;
mod events;
mod pages;
pub mod polls_api;
mod votes;
mod present_api;
pub mod server;

use warp::Filter;
use warp::filters::BoxedFilter;
use warp::reply::Response;

use crate::state::AppState;
use error::ApiError;

/// Request bodies larger than this get 413.
pub const MAX_BODY: u64 = 16 * 1024;
pub const VOTER_COOKIE: &str = "livepoll_voter";
pub const ADMIN_COOKIE: &str = "livepoll_admin";

pub fn with_state(
    state: AppState,
) -> impl Filter<Extract = (AppState,), Error = std::convert::Infallible> + Clone {
    warp::any().map(move || state.clone())
}

/// Requires `Authorization: Bearer ADMIN_TOKEN`; 401 otherwise.
pub fn admin(
    state: AppState,
) -> impl Filter<Extract = (AppState,), Error = warp::Rejection> + Clone {
    with_state(state)
        .and(warp::header::optional::<String>("authorization"))
        .and_then(|state: AppState, auth: Option<String>| async move {
            if state.keys.is_admin_bearer(auth.as_deref()) {
                Ok(state)
            } else {
                Err(warp::reject::custom(ApiError::Unauthorized(
                    "admin endpoints need Authorization: Bearer ADMIN_TOKEN".into(),
                )))
            }
        })
}

/// True for an admin: the bearer header or the admin session cookie.
pub fn is_admin(
    state: AppState,
) -> impl Filter<Extract = (bool,), Error = warp::Rejection> + Clone {
    with_state(state)
        .and(warp::header::optional::<String>("authorization"))
        .and(warp::cookie::optional::<String>(ADMIN_COOKIE))
        .map(
            |state: AppState, auth: Option<String>, cookie: Option<String>| {
                state.keys.is_admin_bearer(auth.as_deref())
                    || state.keys.is_admin_session(cookie.as_deref())
            },
        )
}

/// The raw voter token from the header or the cookie, if any.
fn voter_token() -> impl Filter<Extract = (Option<String>,), Error = warp::Rejection> + Clone {
    warp::header::optional::<String>("x-livepoll-voter")
        .and(warp::cookie::optional::<String>(VOTER_COOKIE))
        .map(|h: Option<String>, c: Option<String>| h.or(c))
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
            let Some(t) = t else {
                return Err(warp::reject::custom(ApiError::Unauthorized(
                    "no voter token: POST /api/session first".into(),
                )));
            };
            match state.keys.verify_voter(&t) {
                Some(id) => Ok(id.to_string()),
                None => Err(warp::reject::custom(ApiError::Unauthorized(
                    "invalid voter token".into(),
                ))),
            }
        })
}

/// A JSON body of at most [`MAX_BODY`] bytes, parsed with a clear 400 on failure.
pub fn json_body<T: serde::de::DeserializeOwned + Send>()
-> impl Filter<Extract = (T,), Error = warp::Rejection> + Clone {
    warp::body::content_length_limit(MAX_BODY)
        .and(warp::body::bytes())
        .and_then(|bytes: bytes::Bytes| async move {
            serde_json::from_slice::<T>(&bytes).map_err(|e| {
                warp::reject::custom(ApiError::BadRequest(format!("invalid JSON body: {e}")))
            })
        })
}

pub fn json_reply<T: serde::Serialize>(status: warp::http::StatusCode, body: &T) -> Response {
    use warp::Reply;
    warp::reply::with_status(warp::reply::json(body), status).into_response()
}

/// Every route of the server.
pub fn routes(state: AppState) -> BoxedFilter<(Response,)> {
    let api = polls_api::routes(state.clone())
        .or(votes::routes(state.clone()))
        .unify()
        .or(events::routes(state.clone()))
        .unify()
        .or(pages::routes(state))
        .unify();
    api.recover(error::recover)
        .unify()
        .with(warp::reply::with::header(
            "x-content-type-options",
            "nosniff",
        ))
        .map(|r| -> Response { warp::Reply::into_response(r) })
        .boxed()
}
        .or(present_api::routes(state.clone()))
        .unify()
