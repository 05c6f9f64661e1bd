//! Q&A endpoints (CONTRACT.md "Q&A"): thin handlers over [`crate::service::qa`].

use serde::Deserialize;
use warp::Filter;
use warp::filters::BoxedFilter;
use warp::http::StatusCode;
use warp::reply::{Reply, Response};

use super::error::ApiError;
use super::{admin, json_body, json_reply, optional_voter, voter, with_state};
use crate::domain::qa::{Qa, QaViewer};
use crate::domain::question::{Question, QuestionView};
use crate::live::qa::QaSnapshot;
use crate::service::qa::{self as service, Moderation};
use crate::state::AppState;

pub fn routes(state: AppState) -> BoxedFilter<(Response,)> {
    let list = warp::path!("api" / "questions")
        .and(warp::get())
        .and(with_state(state.clone()))
        .and(super::access::is_one_of(
            state.clone(),
            super::access::MODERATE,
        ))
        .and(optional_voter(state.clone()))
        .map(|state: AppState, admin: bool, voter: Option<String>| {
            let viewer = match (admin, &voter) {
                (true, _) => QaViewer::Admin,
                (false, Some(v)) => QaViewer::Voter(v),
                (false, None) => QaViewer::Anonymous,
            };
            let snap = QaSnapshot::render(&service::current(&state), 0);
            json_text(StatusCode::OK, snap.list_for(viewer))
        });
    let ask = warp::path!("api" / "questions")
        .and(warp::post())
        .and(with_state(state.clone()))
        .and(voter(state.clone()))
        .and(json_body())
        .and_then(|state: AppState, voter: String, body: AskBody| async move {
            let q = service::ask(&state, &voter, &body.text, body.name.as_deref())
                .await
                .map_err(ApiError::from)?;
            let qa = service::current(&state);
            Ok::<_, warp::Rejection>(json_reply(
                StatusCode::ACCEPTED,
                &view(&qa, &q, false, true),
            ))
        });
    let upvote = warp::path!("api" / "questions" / String / "upvote")
        .and(
            warp::post()
                .map(|| true)
                .or(warp::delete().map(|| false))
                .unify(),
        )
        .and(with_state(state.clone()))
        .and(voter(state.clone()))
        .and_then(
            |id: String, add: bool, state: AppState, voter: String| async move {
                service::upvote(&state, &voter, &id, add)
                    .await
                    .map_err(ApiError::from)?;
                Ok::<_, warp::Rejection>(super::accepted_reply())
            },
        );
    let moderate = warp::path!("api" / "questions" / String / String)
        .and(warp::post())
        .and_then(|id: String, name: String| async move {
            match Moderation::parse(&name) {
                Some(a) => Ok((id, a)),
                None => Err(warp::reject::not_found()),
            }
        })
        .untuple_one()
        .and(super::access::allow(state.clone(), super::access::MODERATE))
        .and_then(
            |id: String, action: Moderation, state: AppState| async move {
                let q = service::moderate(&state, &id, action)
                    .await
                    .map_err(ApiError::from)?;
                let qa = service::current(&state);
                Ok::<_, warp::Rejection>(json_reply(StatusCode::OK, &view(&qa, &q, false, false)))
            },
        );
    let delete = warp::path!("api" / "questions" / String)
        .and(warp::delete())
        .and(admin(state.clone()))
        .and_then(|id: String, state: AppState| async move {
            service::delete(&state, &id).await.map_err(ApiError::from)?;
            Ok::<_, warp::Rejection>(StatusCode::NO_CONTENT.into_response())
        });
    let settings_get = warp::path!("api" / "qa")
        .and(warp::get())
        .and(with_state(state.clone()))
        .map(|state: AppState| json_reply(StatusCode::OK, &service::current(&state).settings));
    let settings_put = warp::path!("api" / "qa")
        .and(warp::put())
        .and(admin(state.clone()))
        .and(json_body())
        .and_then(|state: AppState, body: SettingsBody| async move {
            let s = service::set_settings(&state, body.open, body.moderated)
                .await
                .map_err(ApiError::from)?;
            Ok::<_, warp::Rejection>(json_reply(StatusCode::OK, &s))
        });
    let csv = warp::path!("api" / "questions.csv")
        .and(warp::get())
        .and(admin(state))
        .map(|state: AppState| {
            let mut res = service::csv(&service::current(&state)).into_response();
            let h = res.headers_mut();
            h.insert(
                "content-type",
                "text/csv; charset=utf-8".parse().expect("header"),
            );
            h.insert(
                "content-disposition",
                "attachment; filename=\"questions.csv\""
                    .parse()
                    .expect("header"),
            );
            res
        });
    list.or(ask)
        .unify()
        .or(upvote)
        .unify()
        .or(moderate)
        .unify()
        .or(delete)
        .unify()
        .or(settings_get)
        .unify()
        .or(settings_put)
        .unify()
        .or(csv)
        .unify()
        .boxed()
}

/// A question with this caller's flags; `pinned` as the state says.
fn view<'a>(qa: &Qa, q: &'a Question, mine: bool, own: bool) -> QuestionView<'a> {
    QuestionView::new(q, qa.pinned() == Some(q.id.as_str()), mine, own)
}

fn json_text(status: StatusCode, body: String) -> Response {
    let mut res = warp::reply::with_status(body, status).into_response();
    res.headers_mut()
        .insert("content-type", "application/json".parse().expect("header"));
    res
}

/// `POST /api/questions`
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AskBody {
    text: String,
    #[serde(default)]
    name: Option<String>,
}

/// `PUT /api/qa`: a field not given keeps its value.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SettingsBody {
    open: Option<bool>,
    moderated: Option<bool>,
}
