//! Running the session (docs/api.md "Presenting"): what is on air, Next/Previous from the
//! presenter's position, the agenda order itself, duplicates, discarding a rehearsal round.
//! Thin handlers over [`crate::service::polls`].

use serde::Deserialize;
use warp::Filter;
use warp::filters::BoxedFilter;
use warp::http::StatusCode;
use warp::reply::Response;

use super::access;
use super::error::ApiError;
use super::polls_api::admin_view;
use super::{admin, json_body, json_reply, with_state};
use crate::domain::events::ScreenView;
use crate::service::polls as service;
use crate::state::AppState;

pub fn routes(state: AppState) -> BoxedFilter<(Response,)> {
    let duplicate = warp::path!("api" / "polls" / String / "duplicate")
        .and(warp::post())
        .and(admin(state.clone()))
        .and_then(|id: String, state: AppState| async move {
            let p = service::duplicate(&state, &id).await;
            admin_view(&state, StatusCode::CREATED, p)
        });
    let discard = warp::path!("api" / "polls" / String / "rounds" / u32 / "discard")
        .and(warp::post())
        .and(admin(state.clone()))
        .and_then(|id: String, round: u32, state: AppState| async move {
            let p = service::discard_round(&state, &id, round).await;
            admin_view(&state, StatusCode::OK, p)
        });
    let step = warp::path!("api" / "screen" / String)
        .and(warp::post())
        .and_then(|dir: String| async move {
            match dir.as_str() {
                "next" => Ok(true),
                "previous" => Ok(false),
                _ => Err(warp::reject::not_found()),
            }
        })
        .and(access::allow(state.clone(), access::PRESENT))
        .and_then(|forward: bool, state: AppState| async move {
            let poll = service::step(&state, forward)
                .await
                .map_err(ApiError::from)?;
            Ok::<_, warp::Rejection>(json_reply(
                StatusCode::OK,
                &serde_json::json!({ "poll": poll }),
            ))
        });
    let screen_put = warp::path!("api" / "screen")
        .and(warp::put())
        .and(access::allow(state.clone(), access::PRESENT))
        .and(json_body())
        .and_then(|state: AppState, body: ScreenBody| async move {
            if body.poll.is_none() && body.view.is_none() {
                return Err(ApiError::bad_request(
                    "give {\"poll\": ID or null} or {\"view\": \"poll\"|\"qa\"|\"leaderboard\"}",
                )
                .into());
            }
            if let Some(poll) = body.poll {
                service::set_screen(&state, poll)
                    .await
                    .map_err(ApiError::from)?;
            }
            if let Some(view) = body.view {
                service::set_view(&state, view)
                    .await
                    .map_err(ApiError::from)?;
            }
            Ok::<_, warp::Rejection>(screen_reply(&state))
        });
    let screen_get = warp::path!("api" / "screen")
        .and(warp::get())
        .and(with_state(state.clone()))
        .map(|s: AppState| screen_reply(&s));
    let agenda_put = warp::path!("api" / "agenda")
        .and(warp::put())
        .and(admin(state.clone()))
        .and(json_body())
        .and_then(|state: AppState, body: AgendaBody| async move {
            let order = service::set_agenda(&state, body.order)
                .await
                .map_err(ApiError::from)?;
            Ok::<_, warp::Rejection>(json_reply(
                StatusCode::OK,
                &serde_json::json!({ "order": order }),
            ))
        });
    let agenda_get = warp::path!("api" / "agenda")
        .and(warp::get())
        .and(with_state(state))
        .map(|s: AppState| {
            json_reply(
                StatusCode::OK,
                &serde_json::json!({ "order": s.polls().agenda() }),
            )
        });
    duplicate
        .or(discard)
        .unify()
        .or(step)
        .unify()
        .or(screen_put)
        .unify()
        .or(screen_get)
        .unify()
        .or(agenda_put)
        .unify()
        .or(agenda_get)
        .unify()
        .boxed()
}

/// What is on air, the presenter's position and what Next would present.
fn screen_reply(state: &AppState) -> Response {
    let polls = state.polls();
    let next = service::next_target(state);
    json_reply(
        StatusCode::OK,
        &serde_json::json!({
            "poll": polls.screen,
            "view": polls.view,
            "position": polls.presenter.cursor,
            "next": next,
        }),
    )
}

/// `PUT /api/screen`: `poll` (an id, or null for none) and/or `view`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ScreenBody {
    #[serde(default, deserialize_with = "present")]
    poll: Option<Option<String>>,
    view: Option<ScreenView>,
}

/// `Some(None)` for an explicit null, so "take off air" differs from "not given".
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AgendaBody {
    order: Vec<String>,
}
