//! Poll endpoints: listing and reading (anyone), the organiser's commands and exports (admin).
//! The handlers only translate HTTP to the use cases in [`crate::service::polls`] and back.

use warp::Filter;
use warp::filters::BoxedFilter;
use warp::http::StatusCode;
use warp::reply::{Reply, Response};

use super::access;
use super::error::ApiError;
use super::{admin, json_body, json_reply, optional_voter, with_state};
use crate::auth::Role;
use crate::domain::moderation::moderated_results;
use crate::domain::poll::{PollDef, PollRecord};
use crate::export;
use crate::service::ServiceError;
use crate::service::moderation::with_rules;
use crate::service::polls::{self as service, Action, TextFix};
use crate::state::AppState;
use crate::view::{PollView, Viewer, results_visible};

pub fn routes(state: AppState) -> BoxedFilter<(Response,)> {
    let polls = warp::path!("api" / "polls");
    let one = warp::path!("api" / "polls" / String);
    let list = polls
        .and(warp::get())
        .and(with_state(state.clone()))
        .and(access::role(state.clone()))
        .and(optional_voter(state.clone()))
        .and_then(list);
    let get = one
        .and(warp::get())
        .and(with_state(state.clone()))
        .and(access::role(state.clone()))
        .and(optional_voter(state.clone()))
        .and_then(get_one);
    let create = polls
        .and(warp::post())
        .and(admin(state.clone()))
        .and(json_body())
        .and_then(create);
    let update = one
        .and(warp::put())
        .and(admin(state.clone()))
        .and(json_body())
        .and_then(update);
    let patch = one
        .and(warp::patch())
        .and(admin(state.clone()))
        .and(json_body())
        .and_then(patch);
    let delete = one
        .and(warp::delete())
        .and(admin(state.clone()))
        .and_then(delete);
    let action = warp::path!("api" / "polls" / String / String)
        .and(warp::post())
        .and_then(|id: String, name: String| async move {
            match Action::parse(&name) {
                Some(a) => Ok((id, a)),
                None => Err(warp::reject::not_found()),
            }
        })
        .untuple_one()
        .and(access::role(state.clone()))
        .and(with_state(state.clone()))
        .and_then(
            |id: String, a: Action, role: Option<Role>, state: AppState| async move {
                let allowed = if a.presenter_may() {
                    access::PRESENT
                } else {
                    access::ADMIN
                };
                access::check(role, allowed)?;
                action(id, a, state).await
            },
        );
    let csv = warp::path!("api" / "polls" / String / "results.csv")
        .and(warp::get())
        .and(admin(state.clone()))
        .and_then(results_csv);
    let json = warp::path!("api" / "polls" / String / "results.json")
        .and(warp::get())
        .and(admin(state))
        .and_then(results_json);
    list.or(get)
        .unify()
        .or(create)
        .unify()
        .or(update)
        .unify()
        .or(patch)
        .unify()
        .or(delete)
        .unify()
        .or(csv)
        .unify()
        .or(json)
        .unify()
        .or(action)
        .unify()
        .boxed()
}

/// The poll as this asker may see it: current-round results where visibility allows, else only
/// how many have answered; a voter also gets their own ballot.
pub(super) fn view(
    state: &AppState,
    p: &PollRecord,
    role: Option<Role>,
    voter: Option<&str>,
) -> Result<serde_json::Value, ApiError> {
    let internal = |e: &dyn std::fmt::Display| ApiError::internal(e);
    let ballot = match voter {
        Some(v) => state
            .store
            .ballot(&p.id, p.uid, p.round, v)
            .map_err(|e| internal(&e))?,
        None => None,
    };
    let viewer = if role.is_some() {
        Viewer::Admin
    } else {
        Viewer::Attendee {
            has_voted: ballot.is_some(),
        }
    };
    let visible = results_visible(p, viewer);
    let tally = state
        .store
        .tally(&p.id, p.uid, p.round)
        .map_err(|e| internal(&e))?;
    let results = with_rules(state, |rules| {
        moderated_results(&tally, &p.id, p.round, &p.def, rules)
    });
    let results = if role.is_some_and(|r| access::MODERATE.contains(&r)) {
        results
    } else {
        results.for_audience()
    };
    let mut v = serde_json::to_value(PollView::new(p, visible, Some(&results)))
        .map_err(|e| internal(&e))?;
    if voter.is_some() {
        v["my_ballot"] = serde_json::to_value(ballot).map_err(|e| internal(&e))?;
    }
    Ok(v)
}

/// The reply to an organiser's command: the poll as it is now.
pub(super) fn admin_view(
    state: &AppState,
    status: StatusCode,
    p: Result<PollRecord, ServiceError>,
) -> Result<Response, warp::Rejection> {
    let p = p.map_err(ApiError::from)?;
    Ok(json_reply(
        status,
        &view(state, &p, Some(Role::Admin), None)?,
    ))
}

async fn list(
    state: AppState,
    role: Option<Role>,
    voter: Option<String>,
) -> Result<Response, warp::Rejection> {
    let polls = state.polls();
    let out = polls
        .list()
        .into_iter()
        .map(|p| view(&state, p, role, voter.as_deref()))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(json_reply(StatusCode::OK, &out))
}

async fn get_one(
    id: String,
    state: AppState,
    role: Option<Role>,
    voter: Option<String>,
) -> Result<Response, warp::Rejection> {
    let p = service::live(&state, &id).map_err(ApiError::from)?;
    Ok(json_reply(
        StatusCode::OK,
        &view(&state, &p, role, voter.as_deref())?,
    ))
}

async fn create(state: AppState, def: PollDef) -> Result<Response, warp::Rejection> {
    let p = service::create(&state, def, None).await;
    admin_view(&state, StatusCode::CREATED, p)
}

async fn update(id: String, state: AppState, def: PollDef) -> Result<Response, warp::Rejection> {
    let p = service::update(&state, &id, def).await;
    admin_view(&state, StatusCode::OK, p)
}

async fn patch(id: String, state: AppState, fix: TextFix) -> Result<Response, warp::Rejection> {
    let p = service::fix(&state, &id, fix).await;
    admin_view(&state, StatusCode::OK, p)
}

async fn delete(id: String, state: AppState) -> Result<Response, warp::Rejection> {
    service::delete(&state, &id).await.map_err(ApiError::from)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn action(id: String, action: Action, state: AppState) -> Result<Response, warp::Rejection> {
    let p = service::act(&state, &id, action).await;
    admin_view(&state, StatusCode::OK, p)
}

fn report(state: &AppState, id: &str) -> Result<export::Report, ApiError> {
    let p = service::live(state, id)?;
    with_rules(state, |rules| {
        export::Report::build(&state.store, &p, rules)
    })
    .map_err(ApiError::internal)
}

async fn results_csv(id: String, state: AppState) -> Result<Response, warp::Rejection> {
    let report = report(&state, &id)?;
    let mut res = report.to_csv().into_response();
    let headers = res.headers_mut();
    headers.insert(
        "content-type",
        "text/csv; charset=utf-8".parse().expect("header"),
    );
    let disposition = format!("attachment; filename=\"{id}-results.csv\"");
    headers.insert(
        "content-disposition",
        disposition.parse().expect("id is [a-z0-9-]"),
    );
    Ok(res)
}

async fn results_json(id: String, state: AppState) -> Result<Response, warp::Rejection> {
    Ok(json_reply(StatusCode::OK, &report(&state, &id)?))
}
