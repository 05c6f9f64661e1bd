//! Voter sessions and vote intake: validate, append to Kafka, answer 202 only once the broker
//! acknowledged the vote.

use http_body_util::BodyExt;
use hyper::Request;
use hyper::body::Incoming;
use warp::Filter;
use warp::filters::BoxedFilter;
use warp::http::header::CONTENT_LENGTH;
use warp::http::{HeaderMap, Method, StatusCode};
use warp::reply::{Reply, Response};

use super::error::{self, ApiError, error_reply};
use super::origin::{self, Authority};
use super::{
    ADMIN_COOKIE, BODY_READ_TIMEOUT, MAX_BODY, VOTER_COOKIE, cookie, json_reply, parse_body,
    voter_in, with_state,
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
        .and(session_body())
        .map(
            |state: AppState, headers: HeaderMap, client, q: CodeQuery, b: CodeBody| {
                let code = b.code.or(q.code);
                session(state, cookie(&headers, VOTER_COOKIE), client, code)
            },
        );
    // The admin token gets the admin session cookie; a presenter or moderator key gets a
    // session cookie for its role (the phone pages sign in with it).
    let admin_session = warp::path!("api" / "admin" / "session")
        .and(warp::post())
        .and(super::access::allow(
            state.clone(),
            &[Role::Admin, Role::Presenter, Role::Moderator],
        ))
        .and(super::access::role(state.clone()))
        .map(|s: AppState, role: Option<Role>| {
            let (name, value) = match role {
                Some(r @ (Role::Presenter | Role::Moderator)) => (
                    ROLE_COOKIE,
                    s.roles.issue_session(r).expect("a scoped role has a key"),
                ),
                _ => (ADMIN_COOKIE, s.keys.issue_admin_session()),
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

/// The optional JSON body of `POST /api/session`, read like [`super::json_body`] (size limit,
/// time limit) but with no body at all allowed (no `Content-Length` needed).
fn session_body() -> impl Filter<Extract = (CodeBody,), Error = warp::Rejection> + Clone {
    warp::header::optional::<u64>("content-length")
        .and(warp::body::stream())
        .and_then(|len: Option<u64>, body| async move {
            let bad = |m: String| warp::reject::custom(ApiError::bad_request(m));
            if len.is_some_and(|l| l > super::MAX_BODY) {
                return Err(bad(format!("the body is over {} bytes", super::MAX_BODY)));
            }
            let bytes = tokio::time::timeout(super::BODY_READ_TIMEOUT, super::read_body(body))
                .await
                .map_err(|_| bad("the request body did not arrive in time".into()))?
                .map_err(|e| bad(format!("the request body ended early: {e}")))?;
            if bytes.iter().all(u8::is_ascii_whitespace) {
                return Ok(CodeBody::default());
            }
            serde_json::from_slice(&bytes).map_err(|e| bad(format!("invalid JSON body: {e}")))
        })
}

/// Issues a voter token, or returns the caller's own if its cookie is still valid (so a page
/// reload keeps the voter's identity and ballot). A new token needs the event code, if one is
/// set, and counts against the caller's address's session rate.
fn session(
    state: AppState,
    existing: Option<String>,
    client: Option<std::net::SocketAddr>,
    code: Option<String>,
) -> Response {
    let existing = existing.filter(|t| state.keys.verify_voter(t).is_some());
    if existing.is_none() {
        if let Err(wait) = state.gate.admit(client) {
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
        if !state.gate.accepts(code.as_deref()) {
            let message = if code.is_some() {
                "that is not this event's code: check the code on the screen"
            } else {
                "this event needs its code: scan the QR code on the screen or type the code shown beside it"
            };
            return error_reply(StatusCode::FORBIDDEN, "bad_code", message);
        }
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
/// (403), the method (405), the voter (401), the Content-Length (411, 413), the body (400), then
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
    let length = parts
        .headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.trim().parse::<u64>().ok())
        .ok_or_else(error::length_required)?;
    if length > MAX_BODY {
        return Err(error::too_large());
    }
    let read = tokio::time::timeout(BODY_READ_TIMEOUT, body.collect())
        .await
        .map(|r| r.map(|b| b.to_bytes()));
    let body: VoteBody = parse_body(read).map_err(|e| e.reply())?;
    crate::service::votes::cast(state, &poll, voter, body)
        .await
        .map_err(|e| ApiError::from(e).reply())
}
