//! Voter sessions and vote intake: validate, append to Kafka, answer 202 only once the broker
//! acknowledged the vote.

use warp::Filter;
use warp::filters::BoxedFilter;
use warp::http::{HeaderMap, StatusCode};
use warp::reply::{Reply, Response};

use super::error::ApiError;
use super::{ADMIN_COOKIE, VOTER_COOKIE, admin, cookie, json_body, json_reply, voter, with_state};
use crate::auth::ADMIN_SESSION_TTL;
use crate::domain::vote::VoteBody;
use crate::state::AppState;

pub fn routes(state: AppState) -> BoxedFilter<(Response,)> {
    let session = warp::path!("api" / "session")
        .and(warp::post())
        .and(with_state(state.clone()))
        .and(warp::header::headers_cloned())
        .map(|state: AppState, headers: HeaderMap| session(state, cookie(&headers, VOTER_COOKIE)));
    let admin_session = warp::path!("api" / "admin" / "session")
        .and(warp::post())
        .and(admin(state.clone()))
        .map(|s: AppState| {
            let cookie = format!(
                "{ADMIN_COOKIE}={}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}",
                s.keys.issue_admin_session(),
                ADMIN_SESSION_TTL.as_secs()
            );
            with_cookie(StatusCode::NO_CONTENT.into_response(), &cookie)
        });
    let vote = warp::path!("api" / "polls" / String / "votes")
        .and(warp::post())
        .and(with_state(state.clone()))
        .and(voter(state))
        .and(json_body())
        .and_then(vote);
    session.or(admin_session).unify().or(vote).unify().boxed()
}

fn with_cookie(mut res: Response, cookie: &str) -> Response {
    res.headers_mut()
        .append("set-cookie", cookie.parse().expect("cookie is ASCII"));
    res
}

/// Issues a voter token, or returns the caller's own if its cookie is still valid (so a page
/// reload keeps the voter's identity and ballot).
fn session(state: AppState, existing: Option<String>) -> Response {
    let token = existing
        .filter(|t| state.keys.verify_voter(t).is_some())
        .unwrap_or_else(|| state.keys.issue_voter());
    let cookie =
        format!("{VOTER_COOKIE}={token}; Path=/; HttpOnly; SameSite=Lax; Max-Age=31536000");
    with_cookie(
        json_reply(StatusCode::OK, &serde_json::json!({ "voter": token })),
        &cookie,
    )
}

async fn vote(
    id: String,
    state: AppState,
    voter: String,
    body: VoteBody,
) -> Result<Response, warp::Rejection> {
    crate::service::votes::cast(&state, &id, voter, body)
        .await
        .map_err(ApiError::from)?;
    Ok(json_reply(
        StatusCode::ACCEPTED,
        &serde_json::json!({ "accepted": true }),
    ))
}
