//! How polls and results are shown over HTTP and SSE, and who may see results.

use serde::Serialize;

use crate::domain::moderation::WordModeration;
use crate::domain::poll::{Kind, PollRecord, RoundInfo, State, Visibility};
use crate::domain::tally::Results;

/// Who is asking: admins (bearer or admin session) see everything.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Viewer {
    Admin,
    Attendee { has_voted: bool },
}

/// CONTRACT.md visibility rules.
pub fn results_visible(poll: &PollRecord, viewer: Viewer) -> bool {
    // A quiz's results (and its right answer) reach attendees only once the question closed.
    if poll.def.kind == Kind::Quiz {
        return viewer == Viewer::Admin || poll.state == State::Closed;
    }
    if poll.revealed {
        return true;
    }
    match (viewer, poll.def.visibility) {
        (Viewer::Admin, _) | (_, Visibility::Always) => true,
        (Viewer::Attendee { has_voted }, Visibility::AfterVote) => {
            has_voted || poll.state == State::Closed
        }
        (_, Visibility::AfterClose) => poll.state == State::Closed,
        (_, Visibility::Never) => false,
    }
}

/// The `poll` object of the HTTP API.
#[derive(Debug, Serialize)]
pub struct PollView<'a> {
    pub id: &'a str,
    pub question: &'a str,
    pub kind: Kind,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    pub options: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_choices: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scale: Option<u8>,
    pub visibility: Visibility,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration_secs: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub labels: Option<&'a [String]>,
    /// Quiz: the right options, only to those who may see the results.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub correct: Option<&'a [u16]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub points: Option<u32>,
    /// Word cloud: `pre` when words show only once approved.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub moderation: Option<WordModeration>,
    /// Word cloud: how many words one ballot may hold (absent: 1).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_words: Option<u8>,
    pub state: State,
    pub round: u32,
    pub created_at: u64,
    /// When the poll closes by itself (ms since the Unix epoch), if it has a timer and is open.
    pub closes_at: Option<u64>,
    /// A paused poll's time left (ms): its timer runs again from there when it is presented.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remaining_ms: Option<u64>,
    pub rounds: &'a [RoundInfo],
    /// The organiser revealed this round's results to everyone.
    pub revealed: bool,
    /// Whether the asker may see results (false: only the number of voters is shown).
    pub results_visible: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub results: Option<Results>,
}

impl<'a> PollView<'a> {
    /// The poll with `results` as this viewer may see them: whole if `visible`, else only the
    /// number of voters (everyone may see how many have answered).
    pub fn new(p: &'a PollRecord, visible: bool, results: Option<&Results>) -> Self {
        PollView {
            id: &p.id,
            question: &p.def.question,
            kind: p.def.kind,
            options: &p.def.options,
            max_choices: p.def.max_choices,
            scale: p.def.scale,
            visibility: p.def.visibility,
            duration_secs: p.def.duration_secs,
            labels: p.def.labels.as_deref(),
            correct: p.def.correct.as_deref().filter(|_| visible),
            points: p.def.points,
            moderation: p.def.moderation,
            max_words: p.def.max_words,
            state: p.state,
            round: p.round,
            created_at: p.created_at,
            closes_at: p.closes_at,
            remaining_ms: p.remaining_ms,
            rounds: &p.rounds,
            revealed: p.revealed,
            results_visible: visible,
            results: results.map(|r| if visible { r.clone() } else { r.count_only() }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::poll::PollDef;

    fn poll(visibility: Visibility, state: State) -> PollRecord {
        let def = PollDef {
            visibility,
            ..PollDef::for_test()
        };
        let mut p = PollRecord::new("p".into(), 0, def, 0);
        p.state = state;
        p
    }

    #[test]
    fn visibility_rules_per_mode() {
        let voted = Viewer::Attendee { has_voted: true };
        let not_voted = Viewer::Attendee { has_voted: false };
        use State::*;
        use Visibility::*;
        assert!(results_visible(&poll(Always, Open), not_voted));
        assert!(!results_visible(&poll(AfterVote, Open), not_voted));
        assert!(results_visible(&poll(AfterVote, Open), voted));
        assert!(!results_visible(&poll(AfterClose, Open), voted));
        assert!(results_visible(&poll(AfterClose, Closed), not_voted));
        assert!(!results_visible(&poll(Never, Closed), voted));
        assert!(results_visible(&poll(Never, Open), Viewer::Admin));
    }

    #[test]
    fn a_quiz_shows_results_and_its_answer_to_attendees_only_once_closed() {
        let mut p = poll(Visibility::AfterClose, State::Open);
        p.def.kind = Kind::Quiz;
        p.def.correct = Some(vec![1]);
        p.revealed = true;
        let voted = Viewer::Attendee { has_voted: true };
        assert!(!results_visible(&p, voted), "not even revealed");
        assert!(results_visible(&p, Viewer::Admin));
        let json = serde_json::to_value(PollView::new(&p, false, None)).unwrap();
        assert!(json.get("correct").is_none(), "{json}");
        p.state = State::Closed;
        assert!(results_visible(&p, voted));
        let json = serde_json::to_value(PollView::new(&p, true, None)).unwrap();
        assert_eq!(json["correct"], serde_json::json!([1]));
    }
}
