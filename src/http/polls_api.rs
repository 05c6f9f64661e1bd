//! Poll endpoints: listing and reading (anyone), and the organiser's commands (admin).

use serde::Deserialize;
use warp::Filter;
use warp::filters::BoxedFilter;
use warp::http::StatusCode;
use warp::reply::{Reply, Response};

use super::error::ApiError;
use super::{admin, is_admin, json_body, json_reply, optional_voter, with_state};
use crate::domain::events::PollEvent;
use crate::domain::poll::{PollDef, PollRecord, valid_id};
use crate::domain::tally::Results;
use crate::export;
use crate::state::AppState;
use crate::view::{PollView, Viewer, results_visible};

pub fn routes(state: AppState) -> BoxedFilter<(Response,)> {
    let polls = warp::path!("api" / "polls");
    let one = warp::path!("api" / "polls" / String);
    let list = polls
        .and(warp::get())
        .and(with_state(state.clone()))
        .and(is_admin(state.clone()))
        .and(optional_voter(state.clone()))
        .and_then(list);
    let get = one
        .and(warp::get())
        .and(with_state(state.clone()))
        .and(is_admin(state.clone()))
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
        .and_then(|id: String, action: String| async move {
            if matches!(action.as_str(), "open" | "close" | "reset") {
                Ok((id, action))
            } else {
                Err(warp::reject::not_found())
            }
        })
        .untuple_one()
        .and(admin(state.clone()))
        .and_then(action);
    let screen_put = warp::path!("api" / "screen")
        .and(warp::put())
        .and(admin(state.clone()))
        .and(json_body())
        .and_then(put_screen);
    let screen_get = warp::path!("api" / "screen")
        .and(warp::get())
        .and(with_state(state.clone()))
        .map(|s: AppState| {
            json_reply(
                StatusCode::OK,
                &serde_json::json!({ "poll": s.polls().screen }),
            )
        });
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
        .or(screen_put)
        .unify()
        .or(screen_get)
        .unify()
        .boxed()
}

pub(super) fn live(state: &AppState, id: &str) -> Result<PollRecord, ApiError> {
    state
        .polls()
        .live(id)
        .cloned()
        .ok_or_else(|| ApiError::NotFound(format!("no poll {id:?}")))
}

pub(super) fn internal(e: impl std::fmt::Display) -> ApiError {
    ApiError::Internal(e.to_string())
}

/// The poll as this asker may see it, with current-round results where allowed.
pub(super) fn view(
    state: &AppState,
    p: &PollRecord,
    admin: bool,
    voter: Option<&str>,
) -> Result<serde_json::Value, ApiError> {
    let ballot = match voter {
        Some(v) => state
            .store
            .ballot(&p.id, p.uid, p.round, v)
            .map_err(internal)?,
        None => None,
    };
    let viewer = if admin {
        Viewer::Admin
    } else {
        Viewer::Attendee {
            has_voted: ballot.is_some(),
        }
    };
    let visible = results_visible(p, viewer);
    let tally = state.store.tally(&p.id, p.uid, p.round).map_err(internal)?;
    let results: Option<Results> = Some(tally.results(&p.id, p.round, &p.def));
    let mut v =
        serde_json::to_value(PollView::new(p, visible, results.as_ref())).map_err(internal)?;
    if voter.is_some() {
        v["my_ballot"] = serde_json::to_value(ballot).map_err(internal)?;
    }
    Ok(v)
}

async fn list(
    state: AppState,
    admin: bool,
    voter: Option<String>,
) -> Result<Response, warp::Rejection> {
    let polls = state.polls();
    let out = polls
        .list()
        .into_iter()
        .map(|p| view(&state, p, admin, voter.as_deref()))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(json_reply(StatusCode::OK, &out))
}

async fn get_one(
    id: String,
    state: AppState,
    admin: bool,
    voter: Option<String>,
) -> Result<Response, warp::Rejection> {
    let p = live(&state, &id)?;
    Ok(json_reply(
        StatusCode::OK,
        &view(&state, &p, admin, voter.as_deref())?,
    ))
}

fn generated_id(question: &str) -> String {
    let mut slug = String::new();
    for c in question.to_lowercase().chars() {
        if c.is_ascii_alphanumeric() {
            slug.push(c);
        } else if !slug.ends_with('-') && !slug.is_empty() {
            slug.push('-');
        }
        if slug.len() >= 24 {
            break;
        }
    }
    let slug = slug.trim_end_matches('-');
    let suffix = format!("{:04x}", rand::random::<u16>());
    if slug.is_empty() {
        format!("poll-{suffix}")
    } else {
        format!("{slug}-{suffix}")
    }
}

/// Creates a poll as a draft; used by the API and the agenda preload.
pub async fn create_poll(state: &AppState, def: PollDef) -> Result<PollRecord, ApiError> {
    create_poll_after(state, def, None).await
}

/// Creates a draft placed right after `after` in the agenda (or last).
pub async fn create_poll_after(
    state: &AppState,
    def: PollDef,
    after: Option<String>,
) -> Result<PollRecord, ApiError> {
    let mut def = def.validate().map_err(ApiError::BadRequest)?;
    let id = def.id.take().unwrap_or_else(|| generated_id(&def.question));
    if state.polls().live(&id).is_some() {
        return Err(ApiError::Conflict(format!(
            "a poll with id {id:?} already exists"
        )));
    }
    let offset = state
        .command(PollEvent::Created {
            id: id.clone(),
            def,
            after,
        })
        .await?;
    match state.polls().live(&id) {
        Some(p) if p.uid == offset => Ok(p.clone()),
        _ => Err(ApiError::Conflict(format!(
            "a poll with id {id:?} was created at the same time"
        ))),
    }
}

async fn create(state: AppState, def: PollDef) -> Result<Response, warp::Rejection> {
    let p = create_poll(&state, def).await?;
    Ok(json_reply(
        StatusCode::CREATED,
        &view(&state, &p, true, None)?,
    ))
}

async fn update(id: String, state: AppState, def: PollDef) -> Result<Response, warp::Rejection> {
    let p = live(&state, &id)?;
    let mut def = def.validate().map_err(ApiError::BadRequest)?;
    if def.id.take().is_some_and(|given| given != id) {
        return Err(ApiError::BadRequest("the id of a poll cannot be changed".into()).into());
    }
    p.check_edit().map_err(|c| ApiError::Conflict(c.0))?;
    state
        .command(PollEvent::Updated {
            id: id.clone(),
            def,
        })
        .await?;
    let p = live(&state, &id)?;
    Ok(json_reply(StatusCode::OK, &view(&state, &p, true, None)?))
}

/// `PATCH /api/polls/{id}`: new texts for a poll in any state.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TextFix {
    question: Option<String>,
    options: Option<Vec<String>>,
    labels: Option<Vec<String>>,
}

async fn patch(id: String, state: AppState, fix: TextFix) -> Result<Response, warp::Rejection> {
    let p = live(&state, &id)?;
    let mut def = p.def.clone();
    if let Some(q) = fix.question {
        def.question = q;
    }
    if let Some(o) = fix.options {
        if let Some(m) = def.max_choices {
            def.max_choices = Some(m.min(o.len().max(1) as u16));
        }
        def.options = o;
    }
    if let Some(l) = fix.labels {
        def.labels = Some(l);
    }
    let def = def.validate().map_err(ApiError::BadRequest)?;
    let voted = state.store.tally(&p.id, p.uid, p.round).map_err(internal)?.voters > 0;
    p.check_fix(&def, voted).map_err(|c| ApiError::Conflict(c.0))?;
    state
        .command(PollEvent::Fixed {
            id: id.clone(),
            def,
        })
        .await?;
    let p = live(&state, &id)?;
    Ok(json_reply(StatusCode::OK, &view(&state, &p, true, None)?))
}

async fn delete(id: String, state: AppState) -> Result<Response, warp::Rejection> {
    live(&state, &id)?;
    state.command(PollEvent::Deleted { id }).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn action(id: String, action: String, state: AppState) -> Result<Response, warp::Rejection> {
    if !valid_id(&id) {
        return Err(ApiError::NotFound(format!("no poll {id:?}")).into());
    }
    let p = live(&state, &id)?;
    let conflict = |c: crate::domain::poll::Conflict| ApiError::Conflict(c.0);
    let event = match action.as_str() {
        "open" => {
            p.check_open().map_err(conflict)?;
            PollEvent::Opened { id: id.clone() }
        }
        "close" => {
            p.check_close().map_err(conflict)?;
            PollEvent::Closed { id: id.clone() }
        }
        "reset" => PollEvent::Reset {
            id: id.clone(),
            round: Some(p.round),
        },
        _ => {
            return Err(ApiError::NotFound(format!(
                "no action {action:?}: use open, close or reset"
            ))
            .into());
        }
    };
    state.command(event).await?;
    let p = live(&state, &id)?;
    Ok(json_reply(StatusCode::OK, &view(&state, &p, true, None)?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ScreenBody {
    poll: Option<String>,
}

async fn put_screen(state: AppState, body: ScreenBody) -> Result<Response, warp::Rejection> {
    if let Some(id) = &body.poll {
        live(&state, id)?;
    }
    state.command(PollEvent::Screen { poll: body.poll }).await?;
    Ok(json_reply(
        StatusCode::OK,
        &serde_json::json!({ "poll": state.polls().screen }),
    ))
}

async fn results_csv(id: String, state: AppState) -> Result<Response, warp::Rejection> {
    let p = live(&state, &id)?;
    let report = export::Report::build(&state.store, &p).map_err(internal)?;
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
    let p = live(&state, &id)?;
    let report = export::Report::build(&state.store, &p).map_err(internal)?;
    Ok(json_reply(StatusCode::OK, &report))
}
