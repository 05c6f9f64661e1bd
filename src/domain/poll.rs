//! Poll definitions, their validation, and the poll lifecycle as a pure state machine.
//!
//! A poll's state is a fold of the events in `livepoll.polls` (see [`super::events`]); the
//! functions here decide both whether an admin command is allowed (at intake) and how an event
//! changes a record (when applied), so every node and every replay agrees.

use serde::{Deserialize, Serialize};

mod validation;

/// Which question type a poll asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Single,
    Multiple,
    Rating,
    Wordcloud,
    /// Single choice with right answers, a required timer and points for speed.
    Quiz,
}

/// Who may see a poll's results (admins and an admin screen always may).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Visibility {
    #[default]
    Always,
    AfterVote,
    AfterClose,
    Never,
}

/// Lifecycle state of a poll.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    Draft,
    Open,
    /// A timed poll taken off the screen before its time was up: it takes no votes and keeps
    /// its remaining time ([`PollRecord::remaining_ms`]) until it is presented again.
    Paused,
    Closed,
}

/// A poll definition as an organiser writes it (CONTRACT.md "Poll definition").
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PollDef {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub question: String,
    pub kind: Kind,
    #[serde(default)]
    pub options: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_choices: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scale: Option<u8>,
    #[serde(default)]
    pub visibility: Visibility,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_secs: Option<u64>,
    /// Rating only: words for the two ends of the scale, e.g. `["poor", "excellent"]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<Vec<String>>,
    /// Quiz only: the right option indexes (at least one). Never shown to attendees while the
    /// question is open.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correct: Option<Vec<u16>>,
    /// Quiz only: points of an immediate right answer (default 1000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub points: Option<u32>,
    /// Word cloud only: `pre` shows a word only once an organiser approved it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub moderation: Option<super::moderation::WordModeration>,
    /// Word cloud only: how many words one ballot may hold (1-5, default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_words: Option<u8>,
}

/// The most words one word-cloud ballot may hold.
pub const MAX_WORDS: u8 = 5;

pub const MAX_OPTIONS: usize = 20;
pub const MAX_OPTION_CHARS: usize = 200;
pub const MAX_QUESTION_CHARS: usize = 500;
pub const MAX_DURATION_SECS: u64 = 7 * 24 * 3600;
pub const MAX_LABEL_CHARS: usize = 40;

/// Checks a poll id against `[a-z0-9-]{1,40}`.
pub fn valid_id(id: &str) -> bool {
    (1..=40).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// Open/close times of one round (milliseconds since the Unix epoch).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RoundInfo {
    pub round: u32,
    pub started_at: u64,
    pub opened_at: Option<u64>,
    pub closed_at: Option<u64>,
    /// The organiser discarded this round (a rehearsal, a false start): its ballots stay in the
    /// log but leave results, exports and reports.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub discarded: bool,
}

/// A poll as the log has made it: definition plus lifecycle.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PollRecord {
    pub id: String,
    /// Offset of the `created` event in `livepoll.polls`: tells apart a poll from an earlier
    /// one of the same id that was deleted, so stale votes never leak into a new poll.
    pub uid: u64,
    pub def: PollDef,
    pub state: State,
    pub round: u32,
    pub created_at: u64,
    /// When an open poll with a duration closes by itself.
    pub closes_at: Option<u64>,
    pub rounds: Vec<RoundInfo>,
    pub deleted: bool,
    /// The organiser revealed this round's results to everyone, whatever the visibility.
    #[serde(default)]
    pub revealed: bool,
    /// Time left on the timer of a poll that left the air before its time was up; it runs
    /// again from there when the poll is presented.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remaining_ms: Option<u64>,
}

/// Why an admin command cannot be applied now (a 409).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conflict(pub String);

impl PollRecord {
    pub fn new(id: String, uid: u64, def: PollDef, at: u64) -> Self {
        PollRecord {
            id,
            uid,
            def,
            state: State::Draft,
            round: 1,
            created_at: at,
            closes_at: None,
            rounds: vec![RoundInfo {
                round: 1,
                started_at: at,
                opened_at: None,
                closed_at: None,
                discarded: false,
            }],
            deleted: false,
            revealed: false,
            remaining_ms: None,
        }
    }

    /// True if the poll takes votes at `now` (open and not past its timer).
    pub fn accepts_votes(&self, now: u64) -> bool {
        self.state == State::Open && self.closes_at.is_none_or(|c| now < c)
    }

    /// Whether round `round` counts as played: it was closed with at least one ballot
    /// (`voters` of that round) and not discarded. Next skips played polls.
    pub fn played(&self, voters: impl Fn(u32) -> u64) -> bool {
        self.rounds
            .iter()
            .any(|r| !r.discarded && r.closed_at.is_some() && voters(r.round) > 0)
    }

    /// Whether round `round` may be discarded: a past round of this poll.
    pub fn check_discard(&self, round: u32) -> Result<(), Conflict> {
        if round == self.round {
            return Err(Conflict(format!(
                "round {round} is the current round: reset the poll first (it starts round {}), then discard round {round}",
                round + 1
            )));
        }
        Ok(())
    }

    /// Marks a past round discarded (the current round cannot be).
    pub fn discard(&mut self, round: u32) {
        if self.check_discard(round).is_err() {
            return;
        }
        if let Some(r) = self.rounds.iter_mut().find(|r| r.round == round) {
            r.discarded = true;
        }
    }

    pub fn check_open(&self) -> Result<(), Conflict> {
        match self.state {
            State::Open => Err(Conflict("poll is already open".into())),
            _ => Ok(()),
        }
    }

    pub fn check_close(&self) -> Result<(), Conflict> {
        match self.state {
            State::Open | State::Paused => Ok(()),
            State::Draft => Err(Conflict("poll is a draft: open it before closing".into())),
            State::Closed => Err(Conflict("poll is already closed".into())),
        }
    }

    pub fn check_edit(&self) -> Result<(), Conflict> {
        match self.state {
            State::Draft => Ok(()),
            _ => Err(Conflict("only a draft poll can be edited".into())),
        }
    }

    /// Opens the poll. Its timer runs only while it is presented: `on_air` says whether it is on
    /// the screen now (otherwise [`PollRecord::start_timer`] starts it when it is presented).
    pub fn open(&mut self, at: u64, on_air: bool) {
        if self.check_open().is_err() {
            return;
        }
        self.state = State::Open;
        self.closes_at = None;
        if on_air {
            self.start_timer(at);
        }
        if let Some(r) = self.rounds.last_mut() {
            r.opened_at.get_or_insert(at);
            r.closed_at = None;
        }
    }

    /// Starts the timer of an open (or paused) poll that has a duration and no running timer:
    /// from the time it had left if it was paused, else from its full duration.
    pub fn start_timer(&mut self, at: u64) {
        if self.state == State::Paused {
            self.state = State::Open;
        }
        if self.state == State::Open && self.closes_at.is_none() {
            let full = self.def.duration_secs.map(|d| d * 1000);
            self.closes_at = self.remaining_ms.take().or(full).map(|ms| at + ms);
        }
    }

    /// The poll left the air: a running timer pauses with the time it has left (a timer that
    /// has run out closes it, at its end time); an open poll without a running timer closes.
    pub fn leave_air(&mut self, at: u64) {
        if self.state != State::Open {
            return;
        }
        match self.closes_at {
            Some(end) if end > at => {
                self.state = State::Paused;
                self.remaining_ms = Some(end - at);
                self.closes_at = None;
            }
            Some(end) => self.close(end),
            None => self.close(at),
        }
    }

    /// The poll goes on air: a draft opens; a paused poll, or an open one waiting for its timer,
    /// runs it; a round that a reset started and nobody opened yet opens. A played round
    /// (closed) is shown with its results.
    pub fn go_on_air(&mut self, at: u64) {
        let fresh_round = self.rounds.last().is_some_and(|r| r.opened_at.is_none());
        match self.state {
            State::Draft => self.open(at, true),
            State::Closed if fresh_round => self.open(at, true),
            State::Closed => {}
            State::Open | State::Paused => self.start_timer(at),
        }
    }

    pub fn close(&mut self, at: u64) {
        if self.check_close().is_err() {
            return;
        }
        self.state = State::Closed;
        self.closes_at = None;
        self.remaining_ms = None;
        if let Some(r) = self.rounds.last_mut() {
            r.closed_at = Some(at);
        }
    }

    /// Starts a new, empty round with its full time. On air it opens now (and its timer runs);
    /// off air an open poll stays open, and any other (but a draft) waits closed with a round
    /// nobody opened yet, which opens when it is presented. A reveal applies to one round only.
    pub fn reset(&mut self, at: u64, on_air: bool) {
        if let Some(r) = self.rounds.last_mut()
            && r.closed_at.is_none()
            && r.opened_at.is_some()
        {
            r.closed_at = Some(at);
        }
        self.round += 1;
        self.revealed = false;
        self.remaining_ms = None;
        self.closes_at = None;
        let open = self.state == State::Open || (on_air && self.state != State::Draft);
        if self.state == State::Paused || open {
            self.state = if open { State::Open } else { State::Closed };
        }
        self.rounds.push(RoundInfo {
            round: self.round,
            started_at: at,
            opened_at: open.then_some(at),
            closed_at: None,
            discarded: false,
        });
        if open && on_air {
            self.start_timer(at);
        }
    }

    /// Whether `def` may replace this poll's definition: a draft takes any valid definition; an
    /// open or closed poll only new texts (question, option texts, rating labels), and the
    /// number of options only while nobody has voted in this round (`anyone_voted`).
    pub fn check_fix(&self, def: &PollDef, anyone_voted: bool) -> Result<(), Conflict> {
        if self.state == State::Draft {
            return Ok(());
        }
        let old = &self.def;
        let same_shape = def.kind == old.kind
            && def.scale == old.scale
            && def.visibility == old.visibility
            && def.duration_secs == old.duration_secs
            && def.correct == old.correct
            && def.points == old.points;
        if !same_shape {
            return Err(Conflict(
                "only the question and option texts of an open or closed poll can be changed"
                    .into(),
            ));
        }
        if def.options.len() != old.options.len() && anyone_voted {
            return Err(Conflict(
                "people have voted in this round: the number of options cannot change (fix the texts, or reset first)".into(),
            ));
        }
        Ok(())
    }

    pub fn update(&mut self, def: PollDef) {
        if self.check_edit().is_ok() {
            self.def = def;
        }
    }

    /// Applies a text fix (PATCH) to a poll in any state. The kind never changes here, so the
    /// fold stays valid for ballots already cast; intake refused anything else.
    pub fn fix(&mut self, def: PollDef) {
        if def.kind == self.def.kind {
            self.def.question = def.question;
            self.def.options = def.options;
            self.def.labels = def.labels;
            self.def.max_choices = def.max_choices;
        }
    }
}

/// A single-choice poll "Q" with options "a" and "b", shown always, every optional field unset:
/// the fixture tests change with struct update syntax.
#[cfg(test)]
impl PollDef {
    pub(crate) fn for_test() -> Self {
        PollDef {
            id: None,
            question: "Q".into(),
            kind: Kind::Single,
            options: vec!["a".into(), "b".into()],
            max_choices: None,
            scale: None,
            visibility: Visibility::Always,
            duration_secs: None,
            labels: None,
            correct: None,
            points: None,
            moderation: None,
            max_words: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn def(kind: Kind) -> PollDef {
        PollDef {
            question: " Q? ".into(),
            kind,
            options: vec!["a".into(), "b".into(), "c".into()],
            ..PollDef::for_test()
        }
    }

    #[test]
    fn lifecycle_follows_draft_open_closed_and_reset_opens_a_new_round() {
        let mut d = def(Kind::Single);
        d.duration_secs = Some(10);
        let mut p = PollRecord::new("p".into(), 0, d.validate().unwrap(), 1);
        assert!(p.check_close().is_err());
        p.close(2);
        assert_eq!(p.state, State::Draft);
        p.open(1000, true);
        assert_eq!(p.closes_at, Some(11_000));
        assert!(p.accepts_votes(10_999));
        assert!(!p.accepts_votes(11_000));
        p.reset(5000, true);
        assert_eq!((p.round, p.state), (2, State::Open));
        assert_eq!(p.rounds[0].closed_at, Some(5000));
        assert_eq!(p.closes_at, Some(15_000));
        p.close(6000);
        assert_eq!(p.state, State::Closed);
        assert!(p.check_close().is_err());
        p.open(7000, true);
        assert_eq!(p.state, State::Open);
        assert_eq!(p.rounds[1].opened_at, Some(5000));
    }

    #[test]
    fn a_timer_runs_only_once_the_poll_is_presented() {
        let mut d = def(Kind::Single);
        d.duration_secs = Some(10);
        let mut p = PollRecord::new("p".into(), 0, d.validate().unwrap(), 1);
        p.open(1000, false);
        assert_eq!((p.state, p.closes_at), (State::Open, None));
        p.start_timer(4000);
        assert_eq!(p.closes_at, Some(14_000));
        p.start_timer(5000);
        assert_eq!(p.closes_at, Some(14_000), "a running timer is kept");
        p.reset(6000, false);
        assert_eq!(p.closes_at, None);
    }

    #[test]
    fn texts_of_an_open_poll_can_be_fixed_but_not_its_shape_once_voted() {
        let mut p = PollRecord::new("p".into(), 0, def(Kind::Single).validate().unwrap(), 1);
        p.open(1, true);
        let mut fixed = p.def.clone();
        fixed.question = "Fixed?".into();
        fixed.options[0] = "A".into();
        assert!(p.check_fix(&fixed, true).is_ok());
        p.fix(fixed.clone());
        assert_eq!(
            (p.def.question.as_str(), p.def.options[0].as_str()),
            ("Fixed?", "A")
        );
        fixed.options.push("d".into());
        assert!(p.check_fix(&fixed, true).is_err());
        assert!(p.check_fix(&fixed, false).is_ok());
        fixed.kind = Kind::Multiple;
        assert!(p.check_fix(&fixed, false).is_err());
    }
}
