//! Voter sessions and vote intake: validate, append to Kafka, answer 202 only once the broker
//! acknowledged the vote.

use hyper::Request;
use hyper::body::Incoming;
use warp::Filter;
use warp::filters::BoxedFilter;
use warp::http::header::{AUTHORIZATION, CONTENT_LENGTH};
use warp::http::{HeaderMap, Method, StatusCode};
use warp::reply::{Reply, Response};

use super::error::{self, ApiError, error_reply};
use super::origin::{self, Authority};
use super::{
    ADMIN_COOKIE, BODY_READ_TIMEOUT, MAX_BODY, VOTER_COOKIE, body_bytes, cookie, json_reply,
    read_incoming, voter_in, with_state,
};
use crate::auth::{ADMIN_SESSION_TTL, ROLE_COOKIE, Role};
use crate::domain::vote::VoteBody;
use crate::state::AppState;

pub fn routes(state: AppState) -> BoxedFilter<(Response,)> {
    let session = warp::path!("api" / "session")
        .and(warp::post())
        .and(with_state(state.clone()))
        .and(warp::header::headers_cloned())
        .and(super::client_addr())
        .and(
            warp::query::<CodeQuery>()
                .or(warp::any().map(CodeQuery::default))
                .unify(),
        )
        .and(warp::header::optional::<u64>("content-length"))
        .and(warp::body::stream())
        .then(
            |state: AppState, headers: HeaderMap, client, q: CodeQuery, len, body| async move {
                let existing = cookie(&headers, VOTER_COOKIE);
                session(state, existing, client, q.code, len, body).await
            },
        );
    // The admin token gets the admin session cookie; a presenter or moderator key gets a
    // session cookie for its role (the phone pages sign in with it). Only the key itself opens a
    // session: a cookie that could renew itself would never end.
    let admin_session = warp::path!("api" / "admin" / "session")
        .and(warp::post())
        .and(with_state(state.clone()))
        .and(warp::header::headers_cloned())
        .map(|s: AppState, headers: HeaderMap| {
            let bearer = headers.get(AUTHORIZATION).map(|v| v.as_bytes());
            let role = if s.keys.is_admin_bearer(bearer) {
                Some(Role::Admin)
            } else {
                s.roles.bearer_role(bearer)
            };
            let (name, value) = match role {
                None => {
                    return ApiError::Unauthorized(
                        "a session needs Authorization: Bearer with the admin token or a key \
                         (a session cookie cannot renew itself: it ends 12 h after sign-in)"
                            .into(),
                    )
                    .reply();
                }
                Some(r @ (Role::Presenter | Role::Moderator)) => (
                    ROLE_COOKIE,
                    s.roles.issue_session(r).expect("a scoped role has a key"),
                ),
                Some(_) => (ADMIN_COOKIE, s.keys.issue_admin_session()),
            };
            let cookie = format!(
                "{name}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}",
                ADMIN_SESSION_TTL.as_secs()
            );
            with_cookie(StatusCode::NO_CONTENT.into_response(), &cookie)
        });
    session.or(admin_session).unify().boxed()
}

fn with_cookie(mut res: Response, cookie: &str) -> Response {
    res.headers_mut()
        .append("set-cookie", cookie.parse().expect("cookie is ASCII"));
    res
}

/// `POST /api/session?code=…`
#[derive(Debug, Default, serde::Deserialize)]
struct CodeQuery {
    code: Option<String>,
}

/// `POST /api/session` with `{"code": "…"}`; an empty body is no code.
#[derive(Debug, Default, serde::Deserialize)]
struct CodeBody {
    code: Option<String>,
}

/// The code in the optional JSON body of `POST /api/session` (an empty body is none), read
/// like [`super::json_body`] (size and time limits, whatever the transfer encoding).
async fn code_in_body<B: bytes::Buf>(
    len: Option<u64>,
    body: impl futures::Stream<Item = Result<B, warp::Error>>,
) -> Result<Option<String>, ApiError> {
    let bytes = super::read_limited(len, body).await?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    serde_json::from_slice::<CodeBody>(&bytes)
        .map(|b| b.code)
        .map_err(|e| ApiError::bad_request(format!("invalid JSON body: {e}")))
}

/// Issues a voter token, or returns the caller's own if its cookie is still valid (so a page
/// reload keeps the voter's identity and ballot). A new token counts against the caller's
/// address's session rate and needs the event code, if one is set. The body (which may carry
/// the code) is read only once the rate allows a new session: a refused caller costs no read.
async fn session<B: bytes::Buf>(
    state: AppState,
    existing: Option<String>,
    client: Option<std::net::SocketAddr>,
    query_code: Option<String>,
    len: Option<u64>,
    body: impl futures::Stream<Item = Result<B, warp::Error>>,
) -> Response {
    let existing = existing.filter(|t| state.keys.verify_voter(t).is_some());
    if existing.is_none()
        && let Err(wait) = state.gate.admit(client)
    {
        let mut res = error_reply(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            "too many new sessions from this address; try again shortly",
        );
        let secs = wait.as_secs_f64().ceil().clamp(1.0, 3600.0) as u64;
        res.headers_mut()
            .insert("retry-after", secs.to_string().parse().expect("digits"));
        return res;
    }
    let code = match code_in_body(len, body).await {
        Ok(body_code) => body_code.or(query_code),
        Err(e) => return e.reply(),
    };
    if existing.is_none() && !state.gate.accepts(code.as_deref()) {
        let message = if code.is_some() {
            "that is not this event's code: check the code on the screen"
        } else {
            "this event needs its code: scan the QR code on the screen or type the code shown beside it"
        };
        return error_reply(StatusCode::FORBIDDEN, "bad_code", message);
    }
    let token = existing.unwrap_or_else(|| state.keys.issue_voter());
    let cookie =
        format!("{VOTER_COOKIE}={token}; Path=/; HttpOnly; SameSite=Lax; Max-Age=31536000");
    with_cookie(
        json_reply(StatusCode::OK, &serde_json::json!({ "voter": token })),
        &cookie,
    )
}

/// The poll id in a request for `/api/polls/{id}/votes`, whatever its method.
pub(super) fn vote_target(req: &Request<Incoming>) -> Option<&str> {
    let id = req
        .uri()
        .path()
        .strip_prefix("/api/polls/")?
        .strip_suffix("/votes")?;
    (!id.is_empty() && !id.contains('/')).then_some(id)
}

/// `POST /api/polls/{id}/votes`, answered straight from hyper: votes are nearly every request
/// at a session's peak, and warp's filters around the same work took a twentieth of serve's
/// CPU samples under load. The checks and answers are warp's, in warp's order: the origin guard
/// (403), the method (405), the voter (401), the body's size (413, whatever the transfer encoding), the body (400), then
/// [`crate::service::votes::cast`]'s own.
pub(super) async fn vote(
    state: &AppState,
    public: Option<&Authority>,
    poll: String,
    req: Request<Incoming>,
) -> Response {
    match checked_vote(state, public, poll, req).await {
        Ok(()) => super::accepted_reply(),
        Err(res) => res,
    }
}

async fn checked_vote(
    state: &AppState,
    public: Option<&Authority>,
    poll: String,
    req: Request<Incoming>,
) -> Result<(), Response> {
    let (parts, body) = req.into_parts();
    origin::check(&parts.method, &parts.headers, public)
        .map_err(|m| ApiError::Forbidden(m).reply())?;
    if parts.method != Method::POST {
        return Err(error::method_not_allowed());
    }
    let voter = voter_in(state, &parts.headers).map_err(|e| e.reply())?;
    let declared = parts
        .headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.trim().parse::<u64>().ok());
    if declared.is_some_and(|l| l > MAX_BODY) {
        return Err(ApiError::TooLarge.reply());
    }
    let read = tokio::time::timeout(BODY_READ_TIMEOUT, read_incoming(body)).await;
    let body: VoteBody = body_bytes(read)
        .and_then(|b| {
            serde_json::from_slice(&b)
                .map_err(|e| ApiError::bad_request(format!("invalid JSON body: {e}")))
        })
        .map_err(|e| e.reply())?;
    crate::service::votes::cast(state, &poll, voter, body)
        .await
        .map_err(|e| ApiError::from(e).reply())
}
