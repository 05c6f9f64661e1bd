//! What a record read back from Kafka must be before it is applied.
//!
//! Intake validates what livepoll writes, but the topics can hold anything a Kafka client
//! wrote (a bug in an older version, a hand-made record, a bit flip). The consumer therefore
//! checks every record as strictly as intake did: types, ranges, sizes, and the arithmetic the
//! fold will do on it. These are pure functions of the record (and, for a ballot, of facts
//! about its poll that no later event can change), so every node and every rebuild decides the
//! same way. See docs/kafka.md "Records that are not applied".

use super::ballot_order::Stamp;
use super::events::{NameEvent, PollEnvelope, PollEvent, SCHEMA_VERSION, VoteEvent};
use super::moderation::ModerationEvent;
use super::poll::{Kind, MAX_DURATION_SECS, MAX_OPTIONS, MAX_WORDS, PollRecord, State, valid_id};
use super::polls::Polls;
use super::qa::{QaEnvelope, QaEvent};
use super::quiz::{MAX_POINTS, QuizStamp, clean_name};
use super::vote::{Ballot, normalise_text};

/// The latest time a record may carry (ms since the epoch; the year 3000): far beyond any
/// real clock, and small enough that adding a week of milliseconds cannot overflow.
pub const MAX_AT: u64 = 32_503_680_000_000;

/// Longest voter id accepted (livepoll's own are 22 characters).
pub const MAX_VOTER_CHARS: usize = 64;

/// Longest node id a ballot's stamp may carry.
pub const MAX_NODE_ID: usize = 128;

/// Most poll ids an agenda event may list.
pub const MAX_AGENDA: usize = 10_000;

/// Why a record is not applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// Well-formed but invalid: skipped on every node (its offset is consumed) and counted.
    Invalid(String),
    /// This node cannot read it (a newer schema or an unknown type): consumption stops there.
    Unreadable(String),
}

/// Checks a record's schema version: 1 is read, a newer one needs a newer livepoll.
pub fn check_version(v: u64) -> Result<(), Refusal> {
    match v {
        0 => Err(Refusal::Invalid("schema version 0".into())),
        v if v > SCHEMA_VERSION as u64 => Err(Refusal::Unreadable(format!(
            "has schema v{v}; this node understands v{SCHEMA_VERSION} — upgrade livepoll"
        ))),
        _ => Ok(()),
    }
}

fn invalid(why: impl Into<String>) -> Refusal {
    Refusal::Invalid(why.into())
}

fn check_at(at: u64) -> Result<(), Refusal> {
    if at > MAX_AT {
        return Err(invalid(format!("time {at} is past the year 3000")));
    }
    Ok(())
}

/// A voter id: 1–64 characters of `A-Z a-z 0-9 - _` (livepoll issues 22 of them).
pub fn valid_voter(voter: &str) -> bool {
    (1..=MAX_VOTER_CHARS).contains(&voter.len())
        && voter
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn check_voter(voter: &str) -> Result<(), Refusal> {
    if !valid_voter(voter) {
        return Err(invalid(format!(
            "voter id of {} bytes is not a livepoll voter id",
            voter.len()
        )));
    }
    Ok(())
}

/// A ballot on its own: options distinct, ascending and below [`MAX_OPTIONS`], a rating of
/// 1–10, a word as intake normalises it.
pub fn check_ballot(ballot: &Ballot) -> Result<(), String> {
    match ballot {
        Ballot::Choices(c) => {
            if c.is_empty() || c.len() > MAX_OPTIONS {
                return Err(format!("{} choices", c.len()));
            }
            if c.windows(2).any(|w| w[0] >= w[1]) {
                return Err("choices are not distinct and ascending".into());
            }
            if let Some(big) = c.iter().find(|c| **c as usize >= MAX_OPTIONS) {
                return Err(format!("choice {big} is out of range"));
            }
        }
        Ballot::Rating(r) => {
            if !(1..=10).contains(r) {
                return Err(format!("rating {r} is out of range 1-10"));
            }
        }
        Ballot::Text(t) => check_word(t)?,
        Ballot::Words(ws) => {
            if !(2..=MAX_WORDS as usize).contains(&ws.len()) {
                return Err(format!("{} words in one ballot", ws.len()));
            }
            ws.iter().try_for_each(|w| check_word(w))?;
            let keys: std::collections::HashSet<String> =
                ws.iter().map(|w| super::tally::word_key(w)).collect();
            if keys.len() != ws.len() {
                return Err("a word repeated in one ballot".into());
            }
        }
    }
    Ok(())
}

/// A word as intake normalises it.
fn check_word(t: &str) -> Result<(), String> {
    if normalise_text(t).as_deref() != Ok(t) {
        return Err(format!(
            "word of {} bytes is not a normalised word (1-{} characters)",
            t.len(),
            super::vote::MAX_TEXT_CHARS
        ));
    }
    Ok(())
}

/// A quiz stamp's numbers as intake makes them: the score's arithmetic stays in range.
pub fn check_stamp(s: &QuizStamp) -> Result<(), String> {
    if !(1..=MAX_DURATION_SECS).contains(&s.duration_secs) {
        return Err(format!(
            "quiz duration_secs {} is out of range 1-{MAX_DURATION_SECS}",
            s.duration_secs
        ));
    }
    if !(1..=MAX_POINTS).contains(&s.points) {
        return Err(format!("quiz points {} are out of range", s.points));
    }
    if s.started_at > MAX_AT {
        return Err(format!("quiz start {} is past the year 3000", s.started_at));
    }
    let sorted = s.correct.windows(2).all(|w| w[0] < w[1]);
    if s.correct.is_empty() || !sorted || s.correct.iter().any(|c| *c as usize >= MAX_OPTIONS) {
        return Err("quiz right options are not distinct indexes".into());
    }
    Ok(())
}

/// A ballot record on its own (schema version, ids, round, ballot, quiz stamp).
pub fn check_vote(v: &VoteEvent) -> Result<(), Refusal> {
    check_version(v.v as u64)?;
    check_at(v.at)?;
    if !valid_id(&v.poll) {
        return Err(invalid("poll id is not a poll id"));
    }
    check_voter(&v.voter)?;
    if v.round == 0 {
        return Err(invalid("round 0"));
    }
    check_ballot(&v.ballot).map_err(Refusal::Invalid)?;
    if let Some(s) = &v.quiz {
        check_stamp(s).map_err(Refusal::Invalid)?;
    }
    if let Some(Stamp(ms, node)) = &v.stamp
        && (*ms > MAX_AT || node.len() > MAX_NODE_ID)
    {
        return Err(invalid("acceptance stamp out of range"));
    }
    Ok(())
}

/// A display name record: a clean name, as `PUT /api/me` stores it.
pub fn check_name(n: &NameEvent) -> Result<(), Refusal> {
    check_version(n.v as u64)?;
    check_at(n.at)?;
    check_voter(&n.voter)?;
    if clean_name(&n.name).as_deref() != Ok(n.name.as_str()) {
        return Err(invalid(format!(
            "display name of {} bytes is not a clean name",
            n.name.len()
        )));
    }
    Ok(())
}

/// A poll event: ids, a definition that validates, a bounded agenda.
pub fn check_poll_event(env: &PollEnvelope) -> Result<(), Refusal> {
    check_version(env.v as u64)?;
    check_at(env.at)?;
    let id = |id: &str| -> Result<(), Refusal> {
        if valid_id(id) {
            Ok(())
        } else {
            Err(invalid("poll id is not a poll id"))
        }
    };
    match &env.event {
        PollEvent::Created { id: i, def, after } => {
            id(i)?;
            if let Some(a) = after {
                id(a)?;
            }
            def.clone()
                .validate()
                .map_err(|e| invalid(format!("poll definition: {e}")))?;
        }
        PollEvent::Updated { id: i, def } | PollEvent::Fixed { id: i, def } => {
            id(i)?;
            def.clone()
                .validate()
                .map_err(|e| invalid(format!("poll definition: {e}")))?;
        }
        PollEvent::Opened { id: i }
        | PollEvent::Closed { id: i }
        | PollEvent::Reset { id: i, .. }
        | PollEvent::Deleted { id: i }
        | PollEvent::Revealed { id: i, .. }
        | PollEvent::Discarded { id: i, .. } => id(i)?,
        PollEvent::Screen { poll } | PollEvent::Presented { poll } => {
            poll.as_deref().map(id).transpose()?;
        }
        PollEvent::Stepped { from, to, .. } => {
            from.as_deref().map(id).transpose()?;
            to.as_deref().map(id).transpose()?;
        }
        PollEvent::Deployment { key, admin } => {
            let hex =
                |s: &str| (1..=64).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_hexdigit());
            if !hex(key) || !hex(admin) {
                return Err(invalid("deployment ids are not hex ids"));
            }
        }
        PollEvent::Moderation(m) => check_moderation(m)?,
        PollEvent::Agenda { order } => {
            if order.len() > MAX_AGENDA {
                return Err(invalid(format!("agenda of {} polls", order.len())));
            }
            order.iter().try_for_each(|i| id(i))?;
        }
        _ => {}
    }
    Ok(())
}

/// Longest word or block-list entry a moderation event may carry.
pub const MAX_MODERATED_CHARS: usize = 200;

/// A moderation event: a poll id, a bounded word, a voter id and a clean name.
fn check_moderation(m: &ModerationEvent) -> Result<(), Refusal> {
    let word = |w: &str| -> Result<(), Refusal> {
        if w.chars().count() > MAX_MODERATED_CHARS {
            return Err(invalid(format!("moderated word of {} bytes", w.len())));
        }
        Ok(())
    };
    match m {
        ModerationEvent::WordHidden { poll, word: w }
        | ModerationEvent::WordShown { poll, word: w }
        | ModerationEvent::WordApproved { poll, word: w } => {
            if !valid_id(poll) {
                return Err(invalid("poll id is not a poll id"));
            }
            word(w)
        }
        ModerationEvent::WordBlocked { word: w } | ModerationEvent::WordUnblocked { word: w } => {
            word(w)
        }
        ModerationEvent::PlayerRenamed { voter, name } => {
            check_voter(voter)?;
            if !name.is_empty() && clean_name(name).as_deref() != Ok(name.as_str()) {
                return Err(invalid("a player's new name is not a clean name"));
            }
            Ok(())
        }
        ModerationEvent::PlayerHidden { voter, .. } => check_voter(voter),
        ModerationEvent::ModerationSettings { .. } => Ok(()),
    }
}

/// A Q&A event: ids, voters, sizes and a pin stamp that the next pin can go above.
pub fn check_qa_event(env: &QaEnvelope) -> Result<(), Refusal> {
    use super::question::{valid_id as question_id, valid_name, valid_text};
    check_version(env.v as u64)?;
    check_at(env.at)?;
    let qid = |id: &str| -> Result<(), Refusal> {
        if question_id(id) {
            Ok(())
        } else {
            Err(invalid("question id is not a question id"))
        }
    };
    match &env.event {
        QaEvent::Asked {
            id,
            text,
            name,
            voter,
            ..
        } => {
            qid(id)?;
            check_voter(voter)?;
            if !valid_text(text) || name.as_deref().is_some_and(|n| !valid_name(n)) {
                return Err(invalid(format!(
                    "question text of {} bytes is too long or empty",
                    text.len()
                )));
            }
        }
        QaEvent::Upvoted { id, voter } | QaEvent::Unupvoted { id, voter } => {
            qid(id)?;
            check_voter(voter)?;
        }
        QaEvent::Pinned { id, stamp } => {
            qid(id)?;
            if *stamp > MAX_AT {
                return Err(invalid(format!("pin stamp {stamp} is out of range")));
            }
        }
        QaEvent::Approved { id }
        | QaEvent::Hidden { id }
        | QaEvent::Answered { id }
        | QaEvent::Unpinned { id }
        | QaEvent::Deleted { id } => qid(id)?,
        QaEvent::Settings { .. } => {}
    }
    Ok(())
}

/// Whether a ballot cannot be judged until this node has read more of `livepoll.polls`: the
/// `created` event at offset `uid` is not read yet, or the poll has not been opened here yet.
/// A ballot is accepted only after both, so the consumer holds it while the polls topic has
/// records it has not read (see docs/kafka.md "Records that are not applied").
pub fn awaits_polls(v: &VoteEvent, polls: &Polls) -> bool {
    polls.applied <= v.uid
        || polls
            .by_id
            .get(&v.poll)
            .is_some_and(|p| p.uid == v.uid && p.state == State::Draft)
}

/// A ballot against its poll, as far as the log lets every node judge alike.
///
/// `polls` is this node's poll state, read up to the poll's creation and opening (the consumer
/// holds the ballot until then, [`awaits_polls`], unless the polls topic has nothing more):
/// - a poll with this id must exist and not have been created after `uid`, else the ballot
///   is for an unknown poll; the poll must have been opened;
/// - a ballot for the current incarnation must fit its kind and options (which no longer
///   change once people voted); one for an earlier incarnation (deleted since, the id created
///   again) is kept without judging: its tally is never shown.
///
/// Whether the round was still open is not judged: a ballot accepted (202) just before a close
/// reaches nodes before or after the close, and it counts on every one.
pub fn judge_vote(v: &VoteEvent, polls: &Polls) -> Result<(), String> {
    if polls.applied <= v.uid {
        return Err(format!(
            "ballot for poll {} created at offset {}, past the end of the polls topic",
            v.poll, v.uid
        ));
    }
    let Some(p) = polls.by_id.get(&v.poll) else {
        return Err(format!("ballot for unknown poll {}", v.poll));
    };
    if p.uid < v.uid {
        return Err(format!(
            "ballot for an unknown incarnation {} of poll {}",
            v.uid, v.poll
        ));
    }
    if p.uid > v.uid {
        return Ok(());
    }
    if p.state == State::Draft {
        return Err(format!(
            "ballot for poll {}, which was never opened",
            v.poll
        ));
    }
    ballot_fits(p, &v.ballot, v.quiz.is_some())
}

/// Whether a ballot fits the poll's definition (kind, option range, rating scale).
fn ballot_fits(p: &PollRecord, ballot: &Ballot, quiz: bool) -> Result<(), String> {
    let def = &p.def;
    let n = def.buckets();
    let fits = match (def.kind, ballot) {
        (Kind::Single, Ballot::Choices(c)) => c.len() == 1 && (c[0] as usize) < n && !quiz,
        (Kind::Quiz, Ballot::Choices(c)) => c.len() == 1 && (c[0] as usize) < n && quiz,
        (Kind::Multiple, Ballot::Choices(c)) => {
            let max = def.max_choices.map_or(n, usize::from);
            c.len() <= max && c.iter().all(|c| (*c as usize) < n)
        }
        (Kind::Rating, Ballot::Rating(r)) => (*r as usize) <= n,
        (Kind::Wordcloud, Ballot::Text(_)) => true,
        (Kind::Wordcloud, Ballot::Words(w)) => w.len() <= def.max_words.map_or(1, usize::from),
        _ => false,
    };
    if fits {
        Ok(())
    } else {
        Err(format!(
            "ballot {} does not fit poll {} ({:?}, {n} options)",
            serde_json::to_string(ballot).unwrap_or_default(),
            p.id,
            def.kind
        ))
    }
}

#[cfg(test)]
#[path = "record_checks_tests.rs"]
mod tests;
