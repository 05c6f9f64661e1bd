//! Quiz use cases: the final-answer rule and score stamp of a quiz vote, display names, the
//! leaderboard and its reset.
//!
//! A quiz answer counts once the question closes: while a question is open its answers are
//! left out of every total anyone can read, so no score or rank gives the right answer away.

use crate::domain::names::{distinct_names, player_id};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::Serialize;

use super::{ServiceError, command};
use crate::domain::events::{NameEvent, PollEvent, SCHEMA_VERSION};
use crate::domain::poll::{Kind, PollRecord, State};
use crate::domain::quiz::{Answer, Player, QuizStamp, clean_name, generated_name, rank};
use crate::state::{AppState, now_ms};
use crate::store::{Polls, RoundKey};

/// Entries `GET /api/leaderboard` lists.
pub const TOP: usize = 10;
/// How long a name change waits to be applied here before answering anyway.
const NAME_APPLY_WAIT: Duration = Duration::from_secs(5);
/// How long an answer sent from this node blocks a second one while it reaches the tally.
const IN_FLIGHT: Duration = Duration::from_secs(60);

/// Answers sent from this node and maybe not yet applied: a second answer that arrives before
/// the first is in the tally database still gets 409. (Across nodes, the fold keeps the first
/// answer in the log and ignores the rest.) Keys include the voter id, which is random, so
/// in-process servers in tests never share an entry.
static SENT: Mutex<Option<HashMap<AnswerKey, Instant>>> = Mutex::new(None);

/// (poll id, uid, round, voter)
type AnswerKey = (String, u64, u32, String);

/// For a vote on a quiz question: refuses a second answer (409 `already_answered`) and returns
/// the stamp the score is computed from. The question takes answers only while its timer runs
/// (it is on air), and its start is when the timer started.
pub fn stamp_answer(
    state: &AppState,
    poll: &PollRecord,
    voter: &str,
    epoch: u32,
) -> Result<QuizStamp, ServiceError> {
    let (Some(closes_at), Some(duration)) = (poll.closes_at, poll.def.duration_secs) else {
        return Err(ServiceError::Conflict(format!(
            "quiz question {:?} takes answers once it is on the screen",
            poll.id
        )));
    };
    let answered = state
        .store
        .ballot(&poll.id, poll.uid, poll.round, voter)
        .map_err(ServiceError::internal)?
        .is_some();
    let key = (poll.id.clone(), poll.uid, poll.round, voter.to_string());
    let mut sent = SENT.lock().expect("sent lock");
    let sent = sent.get_or_insert_with(HashMap::new);
    let now = Instant::now();
    sent.retain(|_, at| now.duration_since(*at) < IN_FLIGHT);
    if answered || sent.contains_key(&key) {
        return Err(ServiceError::AlreadyAnswered(
            "you already answered this question; a quiz answer is final".into(),
        ));
    }
    sent.insert(key, now);
    Ok(QuizStamp {
        started_at: closes_at.saturating_sub(duration * 1000),
        duration_secs: duration,
        points: poll
            .def
            .points
            .unwrap_or(crate::domain::quiz::DEFAULT_POINTS),
        correct: poll.def.correct.clone().unwrap_or_default(),
        epoch,
    })
}

/// Forgets an answer that was not recorded (Kafka refused it), so the voter may send it again.
pub fn unsent(poll: &PollRecord, voter: &str) {
    let key = (poll.id.clone(), poll.uid, poll.round, voter.to_string());
    if let Some(sent) = SENT.lock().expect("sent lock").as_mut() {
        sent.remove(&key);
    }
}

/// Quiz rounds whose answers do not count: those still open (or paused) and those the
/// organiser discarded.
fn open_rounds(polls: &Polls) -> Vec<RoundKey> {
    let quizzes = polls
        .list()
        .into_iter()
        .filter(|p| p.def.kind == Kind::Quiz);
    let mut out: Vec<RoundKey> = quizzes
        .clone()
        .filter(|p| matches!(p.state, State::Open | State::Paused))
        .map(|p| (p.id.clone(), p.uid, p.round))
        .collect();
    for p in quizzes {
        for r in p.rounds.iter().filter(|r| r.discarded) {
            out.push((p.id.clone(), p.uid, r.round));
        }
    }
    out
}

/// One line of the leaderboard.
#[derive(Debug, Clone, Serialize)]
pub struct Entry {
    pub rank: u32,
    /// The row's key: one player, whatever their name ([`player_id`]).
    pub player: String,
    pub name: String,
    pub score: u64,
    pub correct: u32,
    pub answered: u32,
    /// Total time of the right answers (ms): the tie-break between equal scores.
    pub time_ms: u64,
    /// This entry is the caller.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub me: bool,
}

/// `GET /api/leaderboard`.
#[derive(Debug, Serialize)]
pub struct Board {
    pub entries: Vec<Entry>,
    /// The caller's own line (also when outside the top 10), if the caller has played.
    pub me: Option<Entry>,
    pub players: usize,
}

/// Every player of the current leaderboard that an organiser did not hide, ranked (see
/// [`crate::domain::quiz::board_order`]), under the name the audience may see.
/// The players the audience sees, ranked, with names that never look alike on screen
/// ([`distinct_names`]: "Ada", "Ada (2)").
pub fn ranked(state: &AppState) -> Result<Vec<(u32, Player)>, ServiceError> {
    let mut ranked = rank(
        players(state)?
            .into_iter()
            .filter(|(_, hidden)| !hidden)
            .map(|(p, _)| p)
            .collect(),
    );
    let shown = distinct_names(ranked.iter().map(|(_, p)| p.name.as_str()));
    for ((_, p), name) in ranked.iter_mut().zip(shown) {
        p.name = name;
    }
    Ok(ranked)
}

/// Every player who answered, with the name the audience may see, and whether an organiser
/// hid them.
fn players(state: &AppState) -> Result<Vec<(Player, bool)>, ServiceError> {
    let polls = state.polls();
    let players = state
        .store
        .quiz_players(polls.leaderboard_epoch, &open_rounds(&polls))
        .map_err(ServiceError::internal)?;
    Ok(super::moderation::with_rules(state, |rules| {
        players
            .into_iter()
            .filter(|p| p.totals.answered > 0)
            .map(|mut p| {
                let hidden = rules.moderate_player(&p.voter, &mut p.name);
                (p, hidden)
            })
            .collect()
    }))
}

/// A player as a moderator sees them (`GET /api/players`).
#[derive(Debug, Serialize)]
pub struct ModeratedPlayer {
    pub rank: u32,
    /// The player's id (for `/api/players/{player}/rename` etc.).
    pub player: String,
    /// The name the audience sees.
    pub name: String,
    pub hidden: bool,
    pub score: u64,
}

/// Every player, hidden ones too, ranked as if none were hidden.
pub fn moderated_players(state: &AppState) -> Result<Vec<ModeratedPlayer>, ServiceError> {
    let all = players(state)?;
    let hidden: std::collections::HashSet<String> = all
        .iter()
        .filter(|(_, h)| *h)
        .map(|(p, _)| p.voter.clone())
        .collect();
    Ok(rank(all.into_iter().map(|(p, _)| p).collect())
        .into_iter()
        .map(|(rank, p)| ModeratedPlayer {
            rank,
            hidden: hidden.contains(&p.voter),
            score: p.totals.score,
            name: p.name,
            player: p.voter,
        })
        .collect())
}

fn entry(rank: u32, p: &Player, me: Option<&str>) -> Entry {
    Entry {
        rank,
        player: player_id(&p.voter),
        name: p.name.clone(),
        score: p.totals.score,
        correct: p.totals.correct,
        answered: p.totals.answered,
        time_ms: p.totals.ms,
        me: me == Some(p.voter.as_str()),
    }
}

pub fn leaderboard(state: &AppState, voter: Option<&str>) -> Result<Board, ServiceError> {
    let all = ranked(state)?;
    let entries = all
        .iter()
        .take(TOP)
        .map(|(r, p)| entry(*r, p, voter))
        .collect();
    let me = voter.and_then(|v| {
        all.iter()
            .find(|(_, p)| p.voter == v)
            .map(|(r, p)| entry(*r, p, voter))
    });
    Ok(Board {
        entries,
        me,
        players: all.len(),
    })
}

/// `GET /api/me`: the voter's name and standing, and their answer to `poll` once it closed.
#[derive(Debug, Serialize)]
pub struct Me {
    pub name: String,
    /// The voter chose the name (false: the generated one).
    pub custom: bool,
    pub score: u64,
    pub correct: u32,
    pub answered: u32,
    pub rank: Option<u32>,
    pub players: usize,
    /// The answer to the asked poll's current round, once that question is closed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub answer: Option<Answer>,
}

pub fn me(state: &AppState, voter: &str, poll: Option<&str>) -> Result<Me, ServiceError> {
    let chosen = state
        .store
        .chosen_name(voter)
        .map_err(ServiceError::internal)?;
    let all = ranked(state)?;
    let mine = all.iter().find(|(_, p)| p.voter == voter);
    let answer = match poll.and_then(|id| state.polls().live(id).cloned()) {
        Some(p) if p.def.kind == Kind::Quiz && p.state == State::Closed => state
            .store
            .quiz_answer(&p.id, p.uid, p.round, voter)
            .map_err(ServiceError::internal)?,
        _ => None,
    };
    let totals = mine.map(|(_, p)| p.totals.clone()).unwrap_or_default();
    Ok(Me {
        custom: chosen.is_some(),
        name: chosen.unwrap_or_else(|| generated_name(voter)),
        score: totals.score,
        correct: totals.correct,
        answered: totals.answered,
        rank: mine.map(|(r, _)| *r),
        players: all.len(),
        answer,
    })
}

/// Sets the voter's display name: a record in the votes topic (keyed by voter), answered once
/// Kafka acknowledged it and (normally) once it is applied here.
pub async fn set_name(state: &AppState, voter: &str, raw: &str) -> Result<Me, ServiceError> {
    let name = clean_name(raw).map_err(ServiceError::BadRequest)?;
    if super::moderation::with_rules(state, |rules| rules.blocks(&name)) {
        return Err(ServiceError::BadRequest(
            "that name is not allowed here; please choose another".into(),
        ));
    }
    if !state.limiter.allow(voter) {
        return Err(ServiceError::RateLimited);
    }
    if !state.health.kafka_ok() {
        return Err(ServiceError::Unavailable(
            "Kafka is unavailable; the name was not changed".into(),
        ));
    }
    let event = NameEvent {
        v: SCHEMA_VERSION,
        at: now_ms(),
        voter: voter.to_string(),
        name: name.clone(),
    };
    state
        .producer
        .send(&state.topics.votes, voter, &event.to_json())
        .await
        .map_err(|e| ServiceError::Unavailable(format!("{e}; the name was not changed")))?;
    let deadline = Instant::now() + NAME_APPLY_WAIT;
    while Instant::now() < deadline {
        let applied = state
            .store
            .chosen_name(voter)
            .map_err(ServiceError::internal)?;
        if applied.as_deref() == Some(name.as_str()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut me = me(state, voter, None)?;
    me.name = name;
    me.custom = true;
    Ok(me)
}

/// Starts a new, empty leaderboard (earlier answers stay in the log and in their rounds).
pub async fn reset(state: &AppState) -> Result<Board, ServiceError> {
    let epoch = state.polls().leaderboard_epoch;
    command(state, PollEvent::LeaderboardReset { epoch }).await?;
    leaderboard(state, None)
}

/// `GET /api/leaderboard.csv`: every player of the current leaderboard, in rank order.
pub fn csv(state: &AppState) -> Result<String, ServiceError> {
    use crate::export::csv_cell;
    let mut w = csv::Writer::from_writer(Vec::new());
    let write =
        |w: &mut csv::Writer<Vec<u8>>, row: &[&str]| w.write_record(row).expect("in-memory write");
    write(
        &mut w,
        &["rank", "name", "score", "correct", "answered", "time_ms"],
    );
    for (r, p) in ranked(state)? {
        let t = &p.totals;
        write(
            &mut w,
            &[
                &r.to_string(),
                &csv_cell(&p.name),
                &t.score.to_string(),
                &t.correct.to_string(),
                &t.answered.to_string(),
                &t.ms.to_string(),
            ],
        );
    }
    let bytes = w.into_inner().map_err(ServiceError::internal)?;
    String::from_utf8(bytes).map_err(ServiceError::internal)
}
