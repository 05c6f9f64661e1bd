//! Moderation use cases (docs/moderation.md): hide, show and approve a word of a word cloud,
//! add to or remove from the event's block list, choose what a blocked text does, rename or hide
//! a quiz player. Each checks the request, then appends one event to `livepoll.polls` and
//! returns once it is applied here, so the caller sees its effect.

use serde::Serialize;

use super::{ServiceError, catch_up, command};
use crate::domain::events::PollEvent;
use crate::domain::moderation::{BlockedMode, ModerationEvent, WordRules};
use crate::domain::poll::{Kind, PollRecord};
use crate::domain::quiz::clean_name;
use crate::domain::vote::normalise_text;
use crate::state::AppState;

/// What an organiser does to a word (`POST /api/polls/{id}/words/{action}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WordAction {
    Hide,
    Show,
    Approve,
}

impl WordAction {
    pub fn parse(s: &str) -> Option<WordAction> {
        Some(match s {
            "hide" => WordAction::Hide,
            "show" => WordAction::Show,
            "approve" => WordAction::Approve,
            _ => return None,
        })
    }
}

/// The moderation rules in force on this node (the applied state and the configured list).
pub fn with_rules<T>(state: &AppState, f: impl FnOnce(WordRules<'_>) -> T) -> T {
    let polls = state.polls();
    f(WordRules {
        moderation: &polls.moderation,
        block: &state.block_list,
    })
}

/// Hides, shows or approves `word` (and every spelling the tally groups with it) in a word
/// cloud; returns the poll as it is afterwards.
pub async fn word(
    state: &AppState,
    poll: &str,
    action: WordAction,
    word: &str,
) -> Result<PollRecord, ServiceError> {
    catch_up(state).await?;
    let p = super::polls::live(state, poll)?;
    if p.def.kind != Kind::Wordcloud {
        return Err(ServiceError::BadRequest(format!(
            "poll {poll:?} is not a word cloud"
        )));
    }
    let word = normalise_text(word).map_err(|e| ServiceError::BadRequest(format!("word: {e}")))?;
    let poll = p.id.clone();
    let event = match action {
        WordAction::Hide => ModerationEvent::WordHidden { poll, word },
        WordAction::Show => ModerationEvent::WordShown { poll, word },
        WordAction::Approve => ModerationEvent::WordApproved { poll, word },
    };
    command(state, PollEvent::Moderation(event)).await?;
    super::polls::live(state, &p.id)
}

/// The event's moderation settings as organisers see them (`GET /api/moderation`).
#[derive(Debug, Serialize)]
pub struct Settings {
    /// What a blocked text does: `hold` (pending, for approval) or `drop`.
    pub blocked_mode: BlockedMode,
    /// Block-list entries added during the event (as compared: lower case, no accents).
    pub blocked: Vec<String>,
    /// How many entries the `--block-words` file gave (the entries are not shown).
    pub block_file_entries: usize,
    /// Whether `--profanity-filter` is on.
    pub profanity_filter: bool,
}

pub fn settings(state: &AppState) -> Settings {
    let polls = state.polls();
    Settings {
        blocked_mode: polls.moderation.blocked_mode,
        blocked: polls.moderation.blocked.iter().cloned().collect(),
        block_file_entries: state.block_list.len(),
        profanity_filter: state.block_list.profanity(),
    }
}

/// Chooses what a blocked text does.
pub async fn set_blocked_mode(
    state: &AppState,
    mode: BlockedMode,
) -> Result<Settings, ServiceError> {
    command(
        state,
        PollEvent::Moderation(ModerationEvent::ModerationSettings { blocked: mode }),
    )
    .await?;
    Ok(settings(state))
}

/// Adds an entry to the event's block list (`add`), or removes one added live.
pub async fn block(state: &AppState, word: &str, add: bool) -> Result<Settings, ServiceError> {
    let word = normalise_text(word).map_err(|e| ServiceError::BadRequest(format!("word: {e}")))?;
    if crate::domain::blocklist::words(&word).is_empty() {
        return Err(ServiceError::BadRequest(
            "word: a block-list entry needs at least one letter or digit".into(),
        ));
    }
    let event = if add {
        ModerationEvent::WordBlocked { word }
    } else {
        ModerationEvent::WordUnblocked { word }
    };
    command(state, PollEvent::Moderation(event)).await?;
    Ok(settings(state))
}

/// Shows a quiz player under `name` (empty: their own name again).
pub async fn rename_player(state: &AppState, voter: &str, name: &str) -> Result<(), ServiceError> {
    check_voter(voter)?;
    let name = if name.trim().is_empty() {
        String::new()
    } else {
        clean_name(name).map_err(ServiceError::BadRequest)?
    };
    let event = ModerationEvent::PlayerRenamed {
        voter: voter.to_string(),
        name,
    };
    command(state, PollEvent::Moderation(event)).await?;
    Ok(())
}

/// Hides a quiz player from the leaderboard (or shows them again).
pub async fn hide_player(state: &AppState, voter: &str, hidden: bool) -> Result<(), ServiceError> {
    check_voter(voter)?;
    let event = ModerationEvent::PlayerHidden {
        voter: voter.to_string(),
        hidden,
    };
    command(state, PollEvent::Moderation(event)).await?;
    Ok(())
}

/// A voter id is what a voter token holds before its dot: 22 URL-safe base64 characters.
fn check_voter(voter: &str) -> Result<(), ServiceError> {
    let ok = voter.len() == 22
        && voter
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(ServiceError::NotFound(format!("no player {voter:?}")))
    }
}
