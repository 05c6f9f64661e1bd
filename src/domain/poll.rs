//! Poll definitions, their validation, and the poll lifecycle as a pure state machine.
//!
//! A poll's state is a fold of the events in `livepoll.polls` (see [`super::events`]); the
//! functions here decide both whether an admin command is allowed (at intake) and how an event
//! changes a record (when applied), so every node and every replay agrees.

use serde::{Deserialize, Serialize};

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

impl PollDef {
    /// Validates and normalises a definition (trims text, fills kind-specific defaults).
    /// The error says exactly what is wrong, for a 400 message.
    pub fn validate(mut self) -> Result<PollDef, String> {
        if let Some(id) = &self.id
            && !valid_id(id)
        {
            return Err(format!(
                "id {id:?} must be 1-40 characters of a-z, 0-9 and '-'"
            ));
        }
        super::text::clean_texts(&mut self.question, &mut self.options);
        self.question = self.question.trim().to_string();
        let q = self.question.chars().count();
        if !(1..=MAX_QUESTION_CHARS).contains(&q) {
            return Err(format!(
                "question must be 1-{MAX_QUESTION_CHARS} characters (got {q})"
            ));
        }
        match self.kind {
            Kind::Single | Kind::Multiple | Kind::Quiz => {
                self.options = self.options.iter().map(|o| o.trim().to_string()).collect();
                let n = self.options.len();
                if !(2..=MAX_OPTIONS).contains(&n) {
                    return Err(format!(
                        "a {:?} poll needs 2-{MAX_OPTIONS} options (got {n})",
                        self.kind
                    )
                    .to_lowercase());
                }
                for (i, o) in self.options.iter().enumerate() {
                    let c = o.chars().count();
                    if !(1..=MAX_OPTION_CHARS).contains(&c) {
                        return Err(format!(
                            "option {i} must be 1-{MAX_OPTION_CHARS} characters (got {c})"
                        ));
                    }
                }
                if self.scale.is_some() {
                    return Err("scale applies only to rating polls".into());
                }
                if self.labels.is_some() {
                    return Err("labels apply only to rating polls".into());
                }
                if self.kind == Kind::Quiz {
                    self.validate_quiz()?;
                } else if self.correct.is_some() || self.points.is_some() {
                    return Err("correct and points apply only to quiz polls".into());
                }
                if matches!(self.kind, Kind::Single | Kind::Quiz) {
                    if self.max_choices.is_some() {
                        return Err("max_choices applies only to multiple-choice polls".into());
                    }
                } else {
                    let m = self.max_choices.unwrap_or(n as u16);
                    if m < 1 || m as usize > n {
                        return Err(format!("max_choices must be 1-{n} (got {m})"));
                    }
                    self.max_choices = Some(m);
                }
            }
            Kind::Rating => {
                if self.correct.is_some() || self.points.is_some() {
                    return Err("correct and points apply only to quiz polls".into());
                }
                if !self.options.is_empty() {
                    return Err("a rating poll takes no options (use scale)".into());
                }
                if self.max_choices.is_some() {
                    return Err("max_choices applies only to multiple-choice polls".into());
                }
                let s = self.scale.unwrap_or(5);
                if !(2..=10).contains(&s) {
                    return Err(format!("scale must be 2-10 (got {s})"));
                }
                self.scale = Some(s);
                if let Some(labels) = &mut self.labels {
                    for l in labels.iter_mut() {
                        *l = super::text::strip_invisible(l).trim().to_string();
                    }
                    if labels.iter().all(String::is_empty) {
                        self.labels = None;
                    } else if labels.len() != 2
                        || labels.iter().any(|l| l.chars().count() > MAX_LABEL_CHARS)
                    {
                        return Err(format!(
                            "labels must be two texts of at most {MAX_LABEL_CHARS} characters (the low and the high end)"
                        ));
                    }
                }
            }
            Kind::Wordcloud => {
                if !self.options.is_empty() {
                    return Err("a wordcloud poll takes no options".into());
                }
                let m = self.max_words.unwrap_or(1);
                if !(1..=MAX_WORDS).contains(&m) {
                    return Err(format!("max_words must be 1-{MAX_WORDS} (got {m})"));
                }
                self.max_words = (m > 1).then_some(m);
                if self.max_choices.is_some()
                    || self.scale.is_some()
                    || self.labels.is_some()
                    || self.correct.is_some()
                    || self.points.is_some()
                {
                    return Err(
                        "max_choices, scale, labels, correct and points do not apply to wordcloud polls"
                            .into(),
                    );
                }
            }
        }
        if self.kind != Kind::Wordcloud && (self.moderation.is_some() || self.max_words.is_some()) {
            return Err("moderation and max_words apply only to wordcloud polls".into());
        }
        if let Some(d) = self.duration_secs
            && !(1..=MAX_DURATION_SECS).contains(&d)
        {
            return Err(format!(
                "duration_secs must be 1-{MAX_DURATION_SECS} (got {d})"
            ));
        }
        Ok(self)
    }

    /// A quiz: right answers among the options, a timer (the score needs it), points; results
    /// are shown after the question closes, whatever was asked.
    fn validate_quiz(&mut self) -> Result<(), String> {
        let n = self.options.len();
        let mut correct = self.correct.take().unwrap_or_default();
        correct.sort_unstable();
        correct.dedup();
        if correct.is_empty() {
            return Err("a quiz needs \"correct\": the indexes of the right options".into());
        }
        if let Some(c) = correct.iter().find(|c| **c as usize >= n) {
            return Err(format!("correct option {c} is out of range 0-{}", n - 1));
        }
        if correct.len() == n {
            return Err("a quiz needs at least one wrong option".into());
        }
        self.correct = Some(correct);
        if self.duration_secs.is_none() {
            return Err("a quiz needs duration_secs (the time to answer)".into());
        }
        let points = self.points.unwrap_or(super::quiz::DEFAULT_POINTS);
        if !(1..=super::quiz::MAX_POINTS).contains(&points) {
            return Err(format!(
                "points must be 1-{} (got {points})",
                super::quiz::MAX_POINTS
            ));
        }
        self.points = Some(points);
        if !matches!(self.visibility, Visibility::Always | Visibility::AfterClose) {
            return Err(
                "a quiz shows its results when the question closes (visibility after_close)".into(),
            );
        }
        self.visibility = Visibility::AfterClose;
        Ok(())
    }

    /// Number of tally buckets: options, or rating values 1..=scale.
    pub fn buckets(&self) -> usize {
        match self.kind {
            Kind::Single | Kind::Multiple | Kind::Quiz => self.options.len(),
            Kind::Rating => self.scale.unwrap_or(5) as usize,
            Kind::Wordcloud => 0,
        }
    }
}

/// Open/close times of one round (milliseconds since the Unix epoch).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RoundInfo {
    pub round: u32,
    pub started_at: u64,
    pub opened_at: Option<u64>,
    pub closed_at: Option<u64>,
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
            }],
            deleted: false,
            revealed: false,
        }
    }

    /// True if the poll takes votes at `now` (open and not past its timer).
    pub fn accepts_votes(&self, now: u64) -> bool {
        self.state == State::Open && self.closes_at.is_none_or(|c| now < c)
    }

    pub fn check_open(&self) -> Result<(), Conflict> {
        match self.state {
            State::Open => Err(Conflict("poll is already open".into())),
            _ => Ok(()),
        }
    }

    pub fn check_close(&self) -> Result<(), Conflict> {
        match self.state {
            State::Open => Ok(()),
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

    /// Starts the timer of an open poll that has a duration and no running timer.
    pub fn start_timer(&mut self, at: u64) {
        if self.state == State::Open && self.closes_at.is_none() {
            self.closes_at = self.def.duration_secs.map(|d| at + d * 1000);
        }
    }

    pub fn close(&mut self, at: u64) {
        if self.check_close().is_err() {
            return;
        }
        self.state = State::Closed;
        self.closes_at = None;
        if let Some(r) = self.rounds.last_mut() {
            r.closed_at = Some(at);
        }
    }

    /// Starts a new, empty round; an open poll stays open (and its timer restarts if it is on
    /// air). A reveal applies to one round only.
    pub fn reset(&mut self, at: u64, on_air: bool) {
        if let Some(r) = self.rounds.last_mut()
            && r.closed_at.is_none()
            && r.opened_at.is_some()
        {
            r.closed_at = Some(at);
        }
        self.round += 1;
        self.revealed = false;
        let open = self.state == State::Open;
        self.rounds.push(RoundInfo {
            round: self.round,
            started_at: at,
            opened_at: open.then_some(at),
            closed_at: None,
        });
        if open {
            self.closes_at = None;
            if on_air {
                self.start_timer(at);
            }
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
    fn validation_trims_and_fills_defaults() {
        let d = def(Kind::Multiple).validate().unwrap();
        assert_eq!(d.question, "Q?");
        assert_eq!(d.max_choices, Some(3));
        let mut r = def(Kind::Rating);
        r.options.clear();
        assert_eq!(r.validate().unwrap().scale, Some(5));
    }

    #[test]
    fn validation_rejects_bad_definitions_with_a_reason() {
        let mut d = def(Kind::Single);
        d.options.truncate(1);
        assert!(d.validate().unwrap_err().contains("2-20 options"));
        let mut d = def(Kind::Single);
        d.id = Some("Bad Id".into());
        assert!(d.validate().unwrap_err().contains("id"));
        let mut d = def(Kind::Rating);
        d.options.clear();
        d.scale = Some(11);
        assert!(d.validate().unwrap_err().contains("scale"));
        let mut d = def(Kind::Multiple);
        d.max_choices = Some(4);
        assert!(d.validate().unwrap_err().contains("max_choices"));
        let mut d = def(Kind::Single);
        d.question = "   ".into();
        assert!(d.validate().unwrap_err().contains("question"));
        let mut d = def(Kind::Single);
        d.options[1] = "x".repeat(201);
        assert!(d.validate().unwrap_err().contains("option 1"));
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

    #[test]
    fn rating_labels_are_two_short_texts() {
        let mut r = def(Kind::Rating);
        r.options.clear();
        r.labels = Some(vec![" poor\u{202e} ".into(), "excellent".into()]);
        assert_eq!(r.clone().validate().unwrap().labels.unwrap()[0], "poor");
        r.labels = Some(vec!["only one".into()]);
        assert!(r.clone().validate().unwrap_err().contains("labels"));
        let mut s = def(Kind::Single);
        s.labels = Some(vec!["a".into(), "b".into()]);
        assert!(s.validate().unwrap_err().contains("labels"));
    }
}
