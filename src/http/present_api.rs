//! Running the session (CONTRACT.md "Presenting"): present a poll, step through the agenda,
//! reveal hidden results, reorder and duplicate. Each is one event in `livepoll.polls`, so
//! every node (and every replay) agrees on what is on air.

use serde::Deserialize;
use warp::Filter;
use warp::filters::BoxedFilter;
use warp::http::StatusCode;
use warp::reply::Response;

use super::error::ApiError;
use super::polls_api::{create_poll_after, live, view};
use super::{admin, json_body, json_reply};
use crate::domain::events::PollEvent;
use crate::domain::poll::valid_id;
use crate::state::AppState;

pub fn routes(state: AppState) -> BoxedFilter<(Response,)> {
    let poll_action = warp::path!("api" / "polls" / String / String)
        .and(warp::post())
        .and_then(|id: String, action: String| async move {
            if matches!(action.as_str(), "present" | "reveal" | "duplicate") {
                Ok((id, action))
            } else {
                Err(warp::reject::not_found())
            }
        })
        .untuple_one()
        .and(admin(state.clone()))
        .and_then(poll_action);
    let step = warp::path!("api" / "screen" / String)
        .and(warp::post())
        .and_then(|dir: String| async move {
            match dir.as_str() {
                "next" => Ok(true),
                "previous" => Ok(false),
                _ => Err(warp::reject::not_found()),
            }
        })
        .and(admin(state.clone()))
        .and_then(step);
    let agenda = warp::path!("api" / "agenda")
        .and(warp::put())
        .and(admin(state.clone()))
        .and(json_body())
        .and_then(put_agenda);
    let agenda_get = warp::path!("api" / "agenda")
        .and(warp::get())
        .and(super::with_state(state))
        .map(|s: AppState| json_reply(StatusCode::OK, &serde_json::json!({ "order": s.polls().agenda() })));
    poll_action
        .or(step)
        .unify()
        .or(agenda)
        .unify()
        .or(agenda_get)
        .unify()
        .boxed()
}

async fn poll_action(
    id: String,
    action: String,
    state: AppState,
) -> Result<Response, warp::Rejection> {
    if !valid_id(&id) {
        return Err(ApiError::NotFound(format!("no poll {id:?}")).into());
    }
    let p = live(&state, &id)?;
    match action.as_str() {
        "present" => {
            state
                .command(PollEvent::Presented {
                    poll: Some(id.clone()),
                })
                .await?;
        }
        "reveal" => {
            state
                .command(PollEvent::Revealed {
                    id: id.clone(),
                    round: p.round,
                })
                .await?;
        }
        _ => {
            let mut def = p.def.clone();
            def.id = None;
            let copy = create_poll_after(&state, def, Some(id)).await?;
            return Ok(json_reply(
                StatusCode::CREATED,
                &view(&state, &copy, true, None)?,
            ));
        }
    }
    let p = live(&state, &id)?;
    Ok(json_reply(StatusCode::OK, &view(&state, &p, true, None)?))
}

async fn step(forward: bool, state: AppState) -> Result<Response, warp::Rejection> {
    let from = state.polls().screen.clone();
    state.command(PollEvent::Stepped { from, forward }).await?;
    Ok(json_reply(
        StatusCode::OK,
        &serde_json::json!({ "poll": state.polls().screen }),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AgendaBody {
    order: Vec<String>,
}

async fn put_agenda(state: AppState, body: AgendaBody) -> Result<Response, warp::Rejection> {
    let polls = state.polls();
    let mut seen = std::collections::HashSet::new();
    for id in &body.order {
        if polls.live(id).is_none() {
            return Err(ApiError::BadRequest(format!("no poll {id:?} in the agenda")).into());
        }
        if !seen.insert(id) {
            return Err(ApiError::BadRequest(format!("poll {id:?} is listed twice")).into());
        }
    }
    state
        .command(PollEvent::Agenda { order: body.order })
        .await?;
    Ok(json_reply(
        StatusCode::OK,
        &serde_json::json!({ "order": state.polls().agenda() }),
    ))
}
