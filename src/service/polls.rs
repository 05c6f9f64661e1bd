//! What an organiser does with polls: create, edit, open, close, reset, delete, present, step
//! through the agenda, reveal, reorder, duplicate. Each checks the request against the current
//! state (so a bad one changes nothing and says why), then appends one event.

use serde::Deserialize;

use super::{ServiceError, catch_up, command, command_at};
use crate::domain::events::{PollEvent, ScreenView};
use crate::domain::poll::{Conflict, Kind, PollDef, PollRecord, State, valid_id};
use crate::state::AppState;

impl From<Conflict> for ServiceError {
    fn from(c: Conflict) -> Self {
        ServiceError::Conflict(c.0)
    }
}

/// A live poll, or 404.
pub fn live(state: &AppState, id: &str) -> Result<PollRecord, ServiceError> {
    if !valid_id(id) {
        return Err(ServiceError::NotFound(format!("no poll {id:?}")));
    }
    state
        .polls()
        .live(id)
        .cloned()
        .ok_or_else(|| ServiceError::NotFound(format!("no poll {id:?}")))
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

/// Creates a draft, placed right after `after` in the agenda (or last).
pub async fn create(
    state: &AppState,
    def: PollDef,
    after: Option<String>,
) -> Result<PollRecord, ServiceError> {
    catch_up(state).await?;
    let mut def = def.validate().map_err(ServiceError::BadRequest)?;
    let id = def.id.take().unwrap_or_else(|| generated_id(&def.question));
    if state.polls().live(&id).is_some() {
        return Err(ServiceError::Conflict(format!(
            "a poll with id {id:?} already exists"
        )));
    }
    let offset = command(
        state,
        PollEvent::Created {
            id: id.clone(),
            def,
            after,
        },
    )
    .await?;
    match state.polls().live(&id) {
        Some(p) if p.uid == offset => Ok(p.clone()),
        _ => Err(ServiceError::Conflict(format!(
            "a poll with id {id:?} was created at the same time"
        ))),
    }
}

/// Replaces a draft's whole definition.
pub async fn update(state: &AppState, id: &str, def: PollDef) -> Result<PollRecord, ServiceError> {
    catch_up(state).await?;
    let p = live(state, id)?;
    let mut def = def.validate().map_err(ServiceError::BadRequest)?;
    if def.id.take().is_some_and(|given| given != id) {
        return Err(ServiceError::BadRequest(
            "the id of a poll cannot be changed".into(),
        ));
    }
    p.check_edit()?;
    let id = id.to_string();
    command(
        state,
        PollEvent::Updated {
            id: id.clone(),
            def,
        },
    )
    .await?;
    live(state, &id)
}

/// New texts for a poll in any state (`PATCH /api/polls/{id}`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TextFix {
    pub question: Option<String>,
    pub options: Option<Vec<String>>,
    pub labels: Option<Vec<String>>,
}

/// Fixes the texts of a poll; the number of options may change only while nobody has voted in
/// this round.
pub async fn fix(state: &AppState, id: &str, fix: TextFix) -> Result<PollRecord, ServiceError> {
    catch_up(state).await?;
    let p = live(state, id)?;
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
    let def = def.validate().map_err(ServiceError::BadRequest)?;
    let voted = state
        .store
        .tally(&p.id, p.uid, p.round)
        .map_err(ServiceError::internal)?
        .voters
        > 0;
    p.check_fix(&def, voted)?;
    command(
        state,
        PollEvent::Fixed {
            id: p.id.clone(),
            def,
        },
    )
    .await?;
    live(state, id)
}

pub async fn delete(state: &AppState, id: &str) -> Result<(), ServiceError> {
    catch_up(state).await?;
    let p = live(state, id)?;
    command(state, PollEvent::Deleted { id: p.id }).await?;
    Ok(())
}

/// The lifecycle commands an organiser gives one poll.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Open,
    Close,
    Reset,
    Present,
    Reveal,
}

impl Action {
    pub fn parse(name: &str) -> Option<Action> {
        Some(match name {
            "open" => Action::Open,
            "close" => Action::Close,
            "reset" => Action::Reset,
            "present" => Action::Present,
            "reveal" => Action::Reveal,
            _ => return None,
        })
    }

    /// Whether the presenter key may do this (see docs/api.md "Scoped keys").
    pub fn presenter_may(self) -> bool {
        matches!(self, Action::Present | Action::Close | Action::Reveal)
    }
}

/// Carries out `action` on a poll; returns the poll as it is afterwards.
pub async fn act(state: &AppState, id: &str, action: Action) -> Result<PollRecord, ServiceError> {
    catch_up(state).await?;
    let p = live(state, id)?;
    let id = p.id.clone();
    let event = match action {
        Action::Open => {
            p.check_open()?;
            PollEvent::Opened { id: id.clone() }
        }
        Action::Close => {
            p.check_close()?;
            PollEvent::Closed { id: id.clone() }
        }
        Action::Reset => PollEvent::Reset {
            id: id.clone(),
            round: Some(p.round),
        },
        Action::Present => PollEvent::Presented {
            poll: Some(id.clone()),
        },
        Action::Reveal if p.def.kind == Kind::Quiz && p.state != State::Closed => {
            return Err(ServiceError::Conflict(
                "a quiz question shows its answer and results when it closes".into(),
            ));
        }
        Action::Reveal => PollEvent::Revealed {
            id: id.clone(),
            round: p.round,
        },
    };
    command(state, event).await?;
    live(state, &id)
}

/// Closes a poll at its timer's end time (appended by the timer of any node; a second close is
/// ignored by the fold).
pub async fn close_at(state: &AppState, id: &str, at: u64) -> Result<(), ServiceError> {
    command_at(state, PollEvent::Closed { id: id.to_string() }, at).await?;
    Ok(())
}

/// A draft copy with a new id, right after the original.
pub async fn duplicate(state: &AppState, id: &str) -> Result<PollRecord, ServiceError> {
    catch_up(state).await?;
    let p = live(state, id)?;
    let mut def = p.def.clone();
    def.id = None;
    create(state, def, Some(p.id)).await
}

/// Whether a poll was played: a round of it closed with at least one ballot (and was not
/// discarded). A poll whose tallies cannot be read counts as not played.
pub fn played(state: &AppState, p: &PollRecord) -> bool {
    let keys: Vec<(String, u64, u32)> = p
        .rounds
        .iter()
        .filter(|r| r.closed_at.is_some() && !r.discarded)
        .map(|r| (p.id.clone(), p.uid, r.round))
        .collect();
    if keys.is_empty() {
        return false;
    }
    match state.store.tallies(&keys) {
        Ok(tallies) => {
            let voters: std::collections::HashMap<u32, u64> = keys
                .iter()
                .zip(tallies)
                .map(|((_, _, round), t)| (*round, t.voters))
                .collect();
            p.played(|round| voters.get(&round).copied().unwrap_or(0))
        }
        Err(e) => {
            tracing::warn!("reading the tallies of {}: {e}", p.id);
            false
        }
    }
}

/// The poll Next would present now (see [`crate::domain::polls::Polls::next_target`]).
pub fn next_target(state: &AppState) -> Option<String> {
    state.polls().next_target(|p| played(state, p))
}

/// Presents the poll Next (the first unplayed one after the presenter's position) or Previous
/// (back through what was shown) chooses. Past the end of the agenda Next shows the join screen
/// (the position stays); before the start Previous changes nothing. Returns what is on air
/// afterwards.
pub async fn step(state: &AppState, forward: bool) -> Result<Option<String>, ServiceError> {
    catch_up(state).await?;
    let polls = state.polls();
    let target = if forward {
        next_target(state)
    } else {
        polls.previous_target()
    };
    if let Some(to) = target {
        let from = polls.screen.clone();
        let event = PollEvent::Stepped {
            from,
            forward,
            to: Some(to),
        };
        command(state, event).await?;
    } else if forward && polls.screen.is_some() {
        command(state, PollEvent::Presented { poll: None }).await?;
    }
    Ok(state.polls().screen.clone())
}

/// Discards a past round of a poll: its ballots leave results, exports and reports.
pub async fn discard_round(
    state: &AppState,
    id: &str,
    round: u32,
) -> Result<PollRecord, ServiceError> {
    catch_up(state).await?;
    let p = live(state, id)?;
    if !p.rounds.iter().any(|r| r.round == round) {
        return Err(ServiceError::NotFound(format!(
            "poll {id:?} has no round {round}"
        )));
    }
    p.check_discard(round)?;
    command(
        state,
        PollEvent::Discarded {
            id: p.id.clone(),
            round,
        },
    )
    .await?;
    live(state, id)
}

/// Puts a poll on air (or none) without opening or closing anything.
pub async fn set_screen(
    state: &AppState,
    poll: Option<String>,
) -> Result<Option<String>, ServiceError> {
    catch_up(state).await?;
    if let Some(id) = &poll {
        live(state, id)?;
    }
    command(state, PollEvent::Screen { poll }).await?;
    Ok(state.polls().screen.clone())
}

/// Switches the projector between the poll on air, Q&A and the leaderboard.
pub async fn set_view(state: &AppState, view: ScreenView) -> Result<ScreenView, ServiceError> {
    command(state, PollEvent::View { view }).await?;
    Ok(state.polls().view)
}

/// Sets the agenda order: every id a live poll, none twice; polls not listed follow.
pub async fn set_agenda(state: &AppState, order: Vec<String>) -> Result<Vec<String>, ServiceError> {
    catch_up(state).await?;
    let polls = state.polls();
    let mut seen = std::collections::HashSet::new();
    for id in &order {
        if polls.live(id).is_none() {
            return Err(ServiceError::BadRequest(format!(
                "no poll {id:?} in the agenda"
            )));
        }
        if !seen.insert(id) {
            return Err(ServiceError::BadRequest(format!(
                "poll {id:?} is listed twice"
            )));
        }
    }
    command(state, PollEvent::Agenda { order }).await?;
    Ok(state.polls().agenda())
}
