//! Moderation endpoints (docs/api.md "Moderation"): words of a word cloud, the event's block
//! list and its setting, quiz players. Open to the admin token and the moderator key; thin
//! handlers over [`crate::service::moderation`].

use serde::Deserialize;
use warp::Filter;
use warp::filters::BoxedFilter;
use warp::http::StatusCode;
use warp::reply::{Reply, Response};

use super::access::{self, MODERATE};
use super::error::ApiError;
use super::{json_body, json_reply};
use crate::auth::Role;
use crate::domain::moderation::BlockedMode;
use crate::service::moderation::{self as service, WordAction};
use crate::state::AppState;

pub fn routes(state: AppState) -> BoxedFilter<(Response,)> {
    let word = warp::path!("api" / "polls" / String / "words" / String)
        .and(warp::post())
        .and_then(|id: String, name: String| async move {
            match WordAction::parse(&name) {
                Some(a) => Ok((id, a)),
                None => Err(warp::reject::not_found()),
            }
        })
        .untuple_one()
        .and(access::allow(state.clone(), MODERATE))
        .and(json_body())
        .and_then(
            |id: String, action: WordAction, state: AppState, body: WordBody| async move {
                let p = service::word(&state, &id, action, &body.word)
                    .await
                    .map_err(ApiError::from)?;
                let v = super::polls_api::view(&state, &p, Some(Role::Moderator), None)?;
                Ok::<_, warp::Rejection>(json_reply(StatusCode::OK, &v))
            },
        );
    let get = warp::path!("api" / "moderation")
        .and(warp::get())
        .and(access::allow(state.clone(), MODERATE))
        .map(|state: AppState| json_reply(StatusCode::OK, &service::settings(&state)));
    let put = warp::path!("api" / "moderation")
        .and(warp::put())
        .and(access::allow(state.clone(), MODERATE))
        .and(json_body())
        .and_then(|state: AppState, body: SettingsBody| async move {
            let s = service::set_blocked_mode(&state, body.blocked_mode)
                .await
                .map_err(ApiError::from)?;
            Ok::<_, warp::Rejection>(json_reply(StatusCode::OK, &s))
        });
    let block = warp::path!("api" / "moderation" / String)
        .and(warp::post())
        .and_then(|name: String| async move {
            match name.as_str() {
                "block" => Ok(true),
                "unblock" => Ok(false),
                _ => Err(warp::reject::not_found()),
            }
        })
        .and(access::allow(state.clone(), MODERATE))
        .and(json_body())
        .and_then(|add: bool, state: AppState, body: WordBody| async move {
            let s = service::block(&state, &body.word, add)
                .await
                .map_err(ApiError::from)?;
            Ok::<_, warp::Rejection>(json_reply(StatusCode::OK, &s))
        });
    let rename = warp::path!("api" / "players" / String / "rename")
        .and(warp::post())
        .and(access::allow(state.clone(), MODERATE))
        .and(json_body())
        .and_then(
            |voter: String, state: AppState, body: RenameBody| async move {
                service::rename_player(&state, &voter, &body.name)
                    .await
                    .map_err(ApiError::from)?;
                Ok::<_, warp::Rejection>(StatusCode::NO_CONTENT.into_response())
            },
        );
    let hide = warp::path!("api" / "players" / String / String)
        .and(warp::post())
        .and_then(|voter: String, name: String| async move {
            match name.as_str() {
                "hide" => Ok((voter, true)),
                "show" => Ok((voter, false)),
                _ => Err(warp::reject::not_found()),
            }
        })
        .untuple_one()
        .and(access::allow(state.clone(), MODERATE))
        .and_then(|voter: String, hidden: bool, state: AppState| async move {
            service::hide_player(&state, &voter, hidden)
                .await
                .map_err(ApiError::from)?;
            Ok::<_, warp::Rejection>(StatusCode::NO_CONTENT.into_response())
        });
    let players = warp::path!("api" / "players")
        .and(warp::get())
        .and(access::allow(state, MODERATE))
        .and_then(|state: AppState| async move {
            let list = crate::service::quiz::moderated_players(&state).map_err(ApiError::from)?;
            Ok::<_, warp::Rejection>(json_reply(StatusCode::OK, &list))
        });
    word.or(get)
        .unify()
        .or(players)
        .unify()
        .or(put)
        .unify()
        .or(block)
        .unify()
        .or(rename)
        .unify()
        .or(hide)
        .unify()
        .boxed()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WordBody {
    word: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SettingsBody {
    blocked_mode: BlockedMode,
}

/// `{"name": TEXT}`; an empty name gives the player their own name back.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RenameBody {
    name: String,
}
