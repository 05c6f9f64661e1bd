//! Quiz endpoints (CONTRACT.md "Quiz"): the voter's name and standing, the leaderboard, its
//! reset and CSV. Thin: the rules live in [`crate::service::quiz`].

use serde::Deserialize;
use warp::Filter;
use warp::filters::BoxedFilter;
use warp::http::StatusCode;
use warp::reply::{Reply, Response};

use super::error::ApiError;
use super::{admin, json_body, json_reply, optional_voter, voter, with_state};
use crate::service::quiz as service;
use crate::state::AppState;

pub fn routes(state: AppState) -> BoxedFilter<(Response,)> {
    let get_me = warp::path!("api" / "me")
        .and(warp::get())
        .and(with_state(state.clone()))
        .and(voter(state.clone()))
        .and(warp::query::<MeQuery>())
        .and_then(get_me);
    let put_me = warp::path!("api" / "me")
        .and(warp::put())
        .and(with_state(state.clone()))
        .and(voter(state.clone()))
        .and(json_body())
        .and_then(put_me);
    let board = warp::path!("api" / "leaderboard")
        .and(warp::get())
        .and(with_state(state.clone()))
        .and(optional_voter(state.clone()))
        .and_then(board);
    let reset = warp::path!("api" / "leaderboard" / "reset")
        .and(warp::post())
        .and(admin(state.clone()))
        .and_then(reset);
    let csv = warp::path!("api" / "leaderboard.csv")
        .and(warp::get())
        .and(admin(state))
        .and_then(csv);
    get_me
        .or(put_me)
        .unify()
        .or(board)
        .unify()
        .or(reset)
        .unify()
        .or(csv)
        .unify()
        .boxed()
}

/// `?poll=ID`: also return the voter's answer to that quiz question, once it closed.
#[derive(Deserialize)]
struct MeQuery {
    poll: Option<String>,
}

/// The body of `PUT /api/me`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NameBody {
    name: String,
}

async fn get_me(state: AppState, voter: String, q: MeQuery) -> Result<Response, warp::Rejection> {
    let me = service::me(&state, &voter, q.poll.as_deref()).map_err(ApiError::from)?;
    Ok(json_reply(StatusCode::OK, &me))
}

async fn put_me(
    state: AppState,
    voter: String,
    body: NameBody,
) -> Result<Response, warp::Rejection> {
    let me = service::set_name(&state, &voter, &body.name)
        .await
        .map_err(ApiError::from)?;
    Ok(json_reply(StatusCode::OK, &me))
}

async fn board(state: AppState, voter: Option<String>) -> Result<Response, warp::Rejection> {
    let board = service::leaderboard(&state, voter.as_deref()).map_err(ApiError::from)?;
    Ok(json_reply(StatusCode::OK, &board))
}

async fn reset(state: AppState) -> Result<Response, warp::Rejection> {
    let board = service::reset(&state).await.map_err(ApiError::from)?;
    Ok(json_reply(StatusCode::OK, &board))
}

async fn csv(state: AppState) -> Result<Response, warp::Rejection> {
    let body = service::csv(&state).map_err(ApiError::from)?;
    let mut res = body.into_response();
    let headers = res.headers_mut();
    headers.insert(
        "content-type",
        "text/csv; charset=utf-8".parse().expect("header"),
    );
    headers.insert(
        "content-disposition",
        "attachment; filename=\"leaderboard.csv\""
            .parse()
            .expect("header"),
    );
    Ok(res)
}
