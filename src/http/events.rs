//! `GET /api/events`: the Server-Sent Events stream pages follow.
//!
//! Each stream first sends the whole current state (so a reconnect, with or without
//! `Last-Event-ID`, resumes from the present), then only what changed, reading the shared
//! pre-rendered [`Snapshot`](crate::live::Snapshot). Event ids are snapshot versions.

use std::collections::{HashMap, HashSet};
use std::convert::Infallible;
use std::time::Duration;

use warp::Filter;
use warp::filters::BoxedFilter;
use warp::reply::{Reply, Response};
use warp::sse::Event;

use super::{access, optional_voter, with_state};
use crate::auth::Role;
use crate::domain::qa::QaViewer;
use crate::state::{AppState, now_ms};
use crate::view::{Viewer, results_visible};

pub fn routes(state: AppState) -> BoxedFilter<(Response,)> {
    warp::path!("api" / "events")
        .and(warp::get())
        .and(with_state(state.clone()))
        .and(access::role(state.clone()))
        .and(optional_voter(state))
        .and(warp::query::<EventsQuery>())
        .map(
            |state: AppState, role: Option<Role>, voter: Option<String>, q: EventsQuery| {
                let screen = q.page.as_deref() == Some("screen");
                // Every key sees results whatever their visibility; only a phone counts as joined.
                let admin = role.is_some();
                let attendee = !admin && !screen;
                // The projector shows the room's view of Q&A and words, never pending or hidden
                // ones; the console and the moderator's phone see them.
                let moderator = role.is_some_and(|r| access::MODERATE.contains(&r)) && !screen;
                // Phones share what the open-files limit leaves beside the server's reserve;
                // the console, the keys' phones and the projector always get their stream.
                let place = match attendee.then(|| state.health.descriptors().stream()) {
                    Some(None) => return busy(),
                    Some(place) => place,
                    None => None,
                };
                let stream = events(state, admin, voter, attendee, moderator, place);
                let mut res = warp::sse::reply(
                    warp::sse::keep_alive()
                        .interval(Duration::from_secs(15))
                        .stream(stream),
                )
                .into_response();
                res.headers_mut()
                    .insert("x-accel-buffering", "no".parse().expect("header"));
                res
            },
        )
        .boxed()
}

/// 503 `busy` for an attendee stream past its share of open files; the pages retry later.
fn busy() -> Response {
    let mut res = super::error::error_reply(
        warp::http::StatusCode::SERVICE_UNAVAILABLE,
        "busy",
        "this server holds as many live streams as its open-files limit allows; retry later",
    );
    res.headers_mut()
        .insert("retry-after", crate::descriptors::BUSY_RETRY_SECS.into());
    res
}

/// `?page=screen` tells a projector from a phone, so only phones count as joined.
#[derive(serde::Deserialize)]
struct EventsQuery {
    page: Option<String>,
}

fn event(name: &str, id: u64, data: &str) -> Result<Event, Infallible> {
    Ok(Event::default().event(name).id(id.to_string()).data(data))
}

fn events(
    state: AppState,
    admin: bool,
    voter: Option<String>,
    attendee: bool,
    qa_admin: bool,
    place: Option<crate::descriptors::Place>,
) -> impl futures::Stream<Item = Result<Event, Infallible>> + Send {
    async_stream::stream! {
        let _place = place;
        let _joined = attendee.then(|| state.live.join());
        let mut rx = state.live.subscribe();
        let mut joined_sent = None;
        let cancel = state.shutdown.clone();
        let mut sent: HashMap<String, (u64, u64)> = HashMap::new();
        let mut screen_sent: Option<(Option<String>, crate::domain::events::ScreenView)> = None;
        let mut voted: HashSet<(String, u64, u32)> = HashSet::new();
        let mut qa_sent = 0u64;
        yield Ok(Event::default().retry(Duration::from_secs(2)).comment("livepoll"));
        loop {
            let snap = rx.borrow_and_update().clone();
            let v = snap.version;
            if joined_sent != Some(snap.joined) {
                yield event("stats", v, &serde_json::json!({ "joined": snap.joined }).to_string());
                joined_sent = Some(snap.joined);
            }
            for (id, e) in &snap.polls {
                let (pv, rv) = sent.get(id).copied().unwrap_or((0, 0));
                if pv == e.poll_version && rv == e.results_version {
                    continue;
                }
                if pv != e.poll_version {
                    yield event("poll", v, &e.poll_json);
                }
                let p = &e.record;
                let viewer = if admin {
                    Viewer::Admin
                } else {
                    let key = (p.id.clone(), p.uid, p.round);
                    let mut has_voted = voted.contains(&key);
                    if !has_voted && let Some(voter) = &voter {
                        has_voted = matches!(state.store.ballot(&p.id, p.uid, p.round, voter), Ok(Some(_)));
                        if has_voted {
                            voted.insert(key);
                        }
                    }
                    Viewer::Attendee { has_voted }
                };
                if results_visible(p, viewer) {
                    yield event("results", v, if qa_admin { &e.results_json } else { &e.public_json });
                } else {
                    yield event("results", v, &e.count_json);
                }
                sent.insert(id.clone(), (e.poll_version, e.results_version));
            }
            let gone: Vec<String> = sent.keys().filter(|id| !snap.polls.contains_key(*id)).cloned().collect();
            for id in gone {
                sent.remove(&id);
                yield event("poll", v, &serde_json::json!({ "id": id, "deleted": true }).to_string());
            }
            // Questions as this viewer may see them (pending to its asker, hidden to admins).
            if snap.qa.version != qa_sent && snap.qa.version > 0 {
                let viewer = match (&voter, qa_admin) {
                    (_, true) => QaViewer::Admin,
                    (Some(v), false) => QaViewer::Voter(v),
                    (None, false) => QaViewer::Anonymous,
                };
                yield event("qa", v, &snap.qa.settings_json);
                yield event("questions", v, &snap.qa.list_for(viewer));
                qa_sent = snap.qa.version;
            }
            // After the polls, so a page never shows the poll on air in its previous state.
            let screen = (snap.screen.clone(), snap.view);
            if screen_sent.as_ref() != Some(&screen) {
                let data = serde_json::json!({ "poll": snap.screen, "view": snap.view, "now": now_ms() }).to_string();
                yield event("screen", v, &data);
                screen_sent = Some(screen);
            }
            tokio::select! {
                changed = rx.changed() => if changed.is_err() { break },
                _ = cancel.cancelled() => break,
            }
        }
    }
}
