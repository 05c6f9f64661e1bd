//! The presenter's position in the agenda and what Next and Previous choose from it (see
//! docs/api.md "Presenting"). The position is folded from `livepoll.polls` like the rest of
//! [`Polls`], so every node, every console and a rebuild agree on it; which polls were played
//! needs the tallies, so Next's choice is made when it is pressed and written into its event.

use serde::{Deserialize, Serialize};

use super::poll::PollRecord;
use super::polls::Polls;

/// How many presented polls Previous can step back through.
const SHOWN_KEPT: usize = 500;

/// The presenter's position in the agenda (see docs/api.md "Presenting").
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Presenter {
    /// The last poll presented; kept while the screen shows nothing, Q&A or the leaderboard.
    /// Next continues after it.
    pub cursor: Option<String>,
    /// The polls presented, oldest first (a poll shown twice in a row once): what Previous
    /// steps back through.
    pub shown: Vec<String>,
}

impl Polls {
    /// The poll Next presents: the first poll after the presenter's position (from the start
    /// without one) that is not `played` and not on air; `None` at the end of the agenda.
    pub fn next_target(&self, played: impl Fn(&PollRecord) -> bool) -> Option<String> {
        let list = self.list();
        let start = self
            .presenter
            .cursor
            .as_deref()
            .and_then(|c| list.iter().position(|p| p.id == c))
            .map_or(0, |i| i + 1);
        list[start.min(list.len())..]
            .iter()
            .find(|p| self.screen.as_deref() != Some(p.id.as_str()) && !played(p))
            .map(|p| p.id.clone())
    }

    /// The poll Previous presents: back to the position when it is off the screen, else the
    /// poll shown before it (or, with no history, the poll before it in the agenda).
    pub fn previous_target(&self) -> Option<String> {
        let cursor = self.presenter.cursor.as_deref()?;
        if self.live(cursor).is_some() && self.screen.as_deref() != Some(cursor) {
            return Some(cursor.to_string());
        }
        let shown = &self.presenter.shown;
        match shown.len() {
            n if n >= 2 && shown[n - 1] == cursor => Some(shown[n - 2].clone()),
            _ => self.step_target(Some(cursor), false),
        }
    }

    /// `id` was put on air: it is the presenter's position and the newest of what was shown.
    pub(super) fn remember(&mut self, id: &str) {
        self.presenter.cursor = Some(id.to_string());
        if self.presenter.shown.last().map(String::as_str) != Some(id) {
            self.presenter.shown.push(id.to_string());
            if self.presenter.shown.len() > SHOWN_KEPT {
                self.presenter.shown.remove(0);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::events::{PollEnvelope, PollEvent, ScreenView};
    use crate::domain::poll::{PollDef, State};

    fn apply(s: &mut Polls, at: u64, event: PollEvent) {
        let offset = s.by_id.len() as u64 + at;
        s.apply(&PollEnvelope { v: 1, at, event }, offset);
    }

    fn agenda(ids: &[&str], duration: Option<u64>) -> Polls {
        let mut s = Polls::default();
        for id in ids {
            let def = PollDef {
                duration_secs: duration,
                ..PollDef::for_test()
            };
            let created = PollEvent::Created {
                id: id.to_string(),
                def,
                after: None,
            };
            apply(&mut s, 1, created);
        }
        s
    }

    fn present(s: &mut Polls, at: u64, id: Option<&str>) {
        let poll = id.map(str::to_string);
        apply(s, at, PollEvent::Presented { poll });
    }

    /// Steps like the service does: the target is chosen at intake and written into the event.
    fn step(s: &mut Polls, at: u64, forward: bool, played: &[&str]) -> Option<String> {
        let to = if forward {
            s.next_target(|p| played.contains(&p.id.as_str()))
        } else {
            s.previous_target()
        };
        if let Some(to) = to {
            let from = s.screen.clone();
            let to = Some(to);
            apply(s, at, PollEvent::Stepped { from, forward, to });
        }
        s.screen.clone()
    }

    #[test]
    fn next_continues_after_the_position_and_skips_played_polls() {
        let mut s = agenda(&["a", "b", "c", "d"], None);
        assert_eq!(s.next_target(|_| false).as_deref(), Some("a"));
        present(&mut s, 10, Some("b"));
        present(&mut s, 20, None);
        assert_eq!(s.presenter.cursor.as_deref(), Some("b"), "kept off air");
        apply(
            &mut s,
            30,
            PollEvent::View {
                view: ScreenView::Qa,
            },
        );
        assert_eq!(step(&mut s, 40, true, &[]).as_deref(), Some("c"));
        present(&mut s, 50, Some("a"));
        assert_eq!(
            step(&mut s, 60, true, &["b", "c"]).as_deref(),
            Some("d"),
            "played polls are skipped"
        );
        assert_eq!(s.next_target(|_| false), None, "the end of the agenda");
        assert_eq!(step(&mut s, 70, true, &[]).as_deref(), Some("d"));
    }

    #[test]
    fn previous_steps_back_through_what_was_shown_and_off_air_returns_to_the_position() {
        let mut s = agenda(&["a", "b", "c", "d"], None);
        for (at, id) in [(10, "a"), (20, "c"), (30, "b")] {
            present(&mut s, at, Some(id));
        }
        assert_eq!(step(&mut s, 40, false, &[]).as_deref(), Some("c"));
        present(&mut s, 50, None);
        assert_eq!(
            step(&mut s, 60, false, &[]).as_deref(),
            Some("c"),
            "off air: back to the position"
        );
        assert_eq!(step(&mut s, 70, false, &[]).as_deref(), Some("a"));
        assert_eq!(
            step(&mut s, 80, false, &[]).as_deref(),
            Some("a"),
            "nothing before the first"
        );
        // A stale press (written for another screen) changes nothing.
        let stale = PollEvent::Stepped {
            from: Some("c".into()),
            forward: true,
            to: Some("d".into()),
        };
        apply(&mut s, 90, stale);
        assert_eq!(s.screen.as_deref(), Some("a"));
    }

    #[test]
    fn a_timed_poll_leaving_the_air_pauses_and_resumes_where_it_was() {
        let mut s = agenda(&["a", "b"], Some(90));
        present(&mut s, 1_000, Some("a"));
        assert_eq!(s.live("a").unwrap().closes_at, Some(91_000));
        // Off air 13 s later: 77 s left, kept.
        present(&mut s, 14_000, Some("b"));
        let a = s.live("a").unwrap();
        assert_eq!((a.state, a.remaining_ms), (State::Paused, Some(77_000)));
        assert!(!a.accepts_votes(14_001));
        apply(
            &mut s,
            20_000,
            PollEvent::Screen {
                poll: Some("a".into()),
            },
        );
        let a = s.live("a").unwrap();
        assert_eq!((a.state, a.closes_at), (State::Open, Some(97_000)));
        assert_eq!(s.live("b").unwrap().state, State::Paused);
        // Reset on air: a new round with the full time, open at once.
        apply(&mut s, 30_000, PollEvent::Closed { id: "a".into() });
        apply(
            &mut s,
            31_000,
            PollEvent::Reset {
                id: "a".into(),
                round: Some(1),
            },
        );
        let a = s.live("a").unwrap();
        assert_eq!(
            (a.round, a.state, a.closes_at),
            (2, State::Open, Some(121_000))
        );
        // Reset off air: the round opens when presented.
        present(&mut s, 32_000, Some("b"));
        apply(&mut s, 33_000, PollEvent::Closed { id: "a".into() });
        apply(
            &mut s,
            34_000,
            PollEvent::Reset {
                id: "a".into(),
                round: Some(2),
            },
        );
        assert_eq!(s.live("a").unwrap().state, State::Closed);
        present(&mut s, 35_000, Some("a"));
        let a = s.live("a").unwrap();
        assert_eq!(
            (a.round, a.state, a.closes_at),
            (3, State::Open, Some(125_000))
        );
    }

    #[test]
    fn only_a_past_round_can_be_discarded_and_a_deleted_position_falls_back() {
        let mut s = agenda(&["a", "b"], None);
        present(&mut s, 10, Some("a"));
        apply(
            &mut s,
            20,
            PollEvent::Discarded {
                id: "a".into(),
                round: 1,
            },
        );
        assert!(
            !s.live("a").unwrap().rounds[0].discarded,
            "the current round"
        );
        apply(
            &mut s,
            30,
            PollEvent::Reset {
                id: "a".into(),
                round: Some(1),
            },
        );
        apply(
            &mut s,
            40,
            PollEvent::Discarded {
                id: "a".into(),
                round: 1,
            },
        );
        let a = s.live("a").unwrap();
        assert!(a.rounds[0].discarded && !a.rounds[1].discarded);
        assert!(
            !a.played(|_| 5),
            "round 2 is not closed, round 1 is discarded"
        );
        present(&mut s, 50, Some("b"));
        apply(&mut s, 60, PollEvent::Deleted { id: "b".into() });
        assert_eq!(s.presenter.cursor.as_deref(), Some("a"));
        assert_eq!(s.presenter.shown, ["a"]);
    }
}
