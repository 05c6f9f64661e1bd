//! The agenda: every poll, their order and what is on air, as a pure fold of `livepoll.polls`.
//!
//! Every node applies the same events in the same order (one partition), so every node ends in
//! the same state. Invalid transitions are ignored rather than refused, which keeps the fold a
//! pure function of the log even when two nodes raced to append conflicting commands; intake
//! (the HTTP handlers) refuses them up front with a clear error.

use std::collections::{HashMap, HashSet};

use super::events::{PollEnvelope, PollEvent, ScreenView};
use super::moderation::Moderation;
use super::poll::{PollRecord, State};

/// All polls (including deleted tombstones), the agenda order and what is on air.
#[derive(Debug, Clone, Default)]
pub struct Polls {
    pub by_id: HashMap<String, PollRecord>,
    pub screen: Option<String>,
    /// Agenda order as the organiser set it; live polls not in it follow in creation order.
    pub order: Vec<String>,
    /// What the projector shows.
    pub view: ScreenView,
    /// The quiz leaderboard in play: how many times it was reset.
    pub leaderboard_epoch: u32,
    /// Next offset of `livepoll.polls` folded in (what ballots are judged against, see
    /// [`super::record_checks::judge_vote`]).
    pub applied: u64,
    /// The ids of the secret and admin token last published on this topic prefix (key id,
    /// admin token id), checked by a node at start (see [`crate::identity`]).
    pub deployment: Option<(String, String)>,
    /// Hidden, approved and blocked words; renamed and hidden players.
    pub moderation: Moderation,
}

impl Polls {
    /// A live (not deleted) poll.
    pub fn live(&self, id: &str) -> Option<&PollRecord> {
        self.by_id.get(id).filter(|p| !p.deleted)
    }

    /// Live polls in agenda order.
    pub fn list(&self) -> Vec<&PollRecord> {
        let pos: HashMap<&str, usize> = self
            .order
            .iter()
            .enumerate()
            .map(|(i, id)| (id.as_str(), i))
            .collect();
        let mut v: Vec<&PollRecord> = self.by_id.values().filter(|p| !p.deleted).collect();
        v.sort_by_key(|p| (pos.get(p.id.as_str()).copied().unwrap_or(usize::MAX), p.uid));
        v
    }

    /// Ids of live polls in agenda order.
    pub fn agenda(&self) -> Vec<String> {
        self.list().into_iter().map(|p| p.id.clone()).collect()
    }

    /// The poll Next (or Previous) would present after `from`: the first (last) poll when
    /// nothing is on air, `None` past either end.
    pub fn step_target(&self, from: Option<&str>, forward: bool) -> Option<String> {
        let ids = self.agenda();
        let at = from.and_then(|f| ids.iter().position(|id| id == f));
        match (at, forward) {
            (None, true) => ids.first().cloned(),
            (None, false) => ids.last().cloned(),
            (Some(i), true) => ids.get(i + 1).cloned(),
            (Some(i), false) => i.checked_sub(1).map(|j| ids[j].clone()),
        }
    }

    /// Applies one poll event found at `offset`; returns the ids of the poll records it changed.
    pub fn apply(&mut self, env: &PollEnvelope, offset: u64) -> HashSet<String> {
        let at = env.at;
        let mut changed = HashSet::new();
        self.applied = self.applied.max(offset + 1);
        match &env.event {
            PollEvent::Created { id, def, after } => {
                if self.live(id).is_none() {
                    self.order.retain(|o| o != id);
                    if let Some(a) = after.as_deref().filter(|a| self.live(a).is_some()) {
                        let mut order = self.agenda();
                        let i = order
                            .iter()
                            .position(|o| o == a)
                            .map_or(order.len(), |i| i + 1);
                        order.insert(i, id.clone());
                        self.order = order;
                    }
                    let record = PollRecord::new(id.clone(), offset, def.clone(), at);
                    self.by_id.insert(id.clone(), record);
                    changed.insert(id.clone());
                }
            }
            PollEvent::View { view } => self.view = *view,
            PollEvent::Deployment { key, admin } => {
                self.deployment = Some((key.clone(), admin.clone()));
            }
            PollEvent::Moderation(m) => {
                if m.poll().is_none_or(|id| self.live(id).is_some()) {
                    self.moderation.apply(m);
                }
            }
            PollEvent::LeaderboardReset { epoch } => {
                if *epoch == self.leaderboard_epoch {
                    self.leaderboard_epoch += 1;
                }
            }
            PollEvent::Screen { poll } => {
                if poll.as_ref().is_none_or(|id| self.live(id).is_some()) {
                    self.screen = poll.clone();
                    self.view = ScreenView::Poll;
                    if let Some(id) = poll {
                        self.edit(id, &mut changed, |p| p.start_timer(at));
                    }
                }
            }
            PollEvent::Presented { poll } => self.present(poll.as_deref(), at, &mut changed),
            PollEvent::Stepped { from, forward } => {
                if *from == self.screen {
                    let target = self.step_target(from.as_deref(), *forward);
                    self.present(target.as_deref(), at, &mut changed);
                }
            }
            PollEvent::Agenda { order } => {
                let mut seen = HashSet::new();
                let mut next: Vec<String> = order
                    .iter()
                    .filter(|id| self.live(id).is_some() && seen.insert(id.as_str()))
                    .cloned()
                    .collect();
                let rest: Vec<String> = self
                    .agenda()
                    .into_iter()
                    .filter(|id| !seen.contains(id.as_str()))
                    .collect();
                next.extend(rest);
                self.order = next;
            }
            PollEvent::Updated { id, def } => {
                self.edit(id, &mut changed, |p| p.update(def.clone()))
            }
            PollEvent::Fixed { id, def } => self.edit(id, &mut changed, |p| p.fix(def.clone())),
            PollEvent::Opened { id } => {
                let on_air = self.screen.as_deref() == Some(id);
                self.edit(id, &mut changed, |p| p.open(at, on_air));
            }
            PollEvent::Closed { id } => self.edit(id, &mut changed, |p| p.close(at)),
            PollEvent::Reset { id, round } => {
                let on_air = self.screen.as_deref() == Some(id);
                self.edit(id, &mut changed, |p| {
                    if round.is_none_or(|r| r == p.round) {
                        p.reset(at, on_air);
                    }
                });
            }
            PollEvent::Revealed { id, round } => self.edit(id, &mut changed, |p| {
                if p.round == *round {
                    p.revealed = true;
                }
            }),
            PollEvent::Deleted { id } => {
                self.edit(id, &mut changed, |p| p.deleted = true);
                self.moderation.forget_poll(id);
                self.order.retain(|o| o != id);
                if self.screen.as_deref() == Some(id) {
                    self.screen = None;
                }
            }
        }
        changed
    }

    /// Changes a live poll in place and records it as changed if `f` changed it.
    fn edit(&mut self, id: &str, changed: &mut HashSet<String>, f: impl FnOnce(&mut PollRecord)) {
        if let Some(p) = self.by_id.get_mut(id).filter(|p| !p.deleted) {
            let before = p.clone();
            f(p);
            if *p != before {
                changed.insert(id.to_string());
            }
        }
    }

    /// Present: close what was on air (if it is another poll and open), open a draft, start a
    /// waiting timer, and put it on air. An unknown poll changes nothing.
    fn present(&mut self, poll: Option<&str>, at: u64, changed: &mut HashSet<String>) {
        if poll.is_some_and(|id| self.live(id).is_none()) {
            return;
        }
        if let Some(prev) = self.screen.clone()
            && Some(prev.as_str()) != poll
        {
            self.edit(&prev, changed, |p| {
                if p.state == State::Open {
                    p.close(at);
                }
            });
        }
        if let Some(id) = poll {
            self.edit(id, changed, |p| {
                if p.state == State::Draft {
                    p.open(at, true);
                } else {
                    p.start_timer(at);
                }
            });
        }
        self.screen = poll.map(str::to_string);
        self.view = ScreenView::Poll;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::poll::PollDef;

    fn env(at: u64, event: PollEvent) -> PollEnvelope {
        PollEnvelope { v: 1, at, event }
    }

    fn def(duration: Option<u64>) -> PollDef {
        PollDef {
            duration_secs: duration,
            ..PollDef::for_test()
        }
    }

    fn created(id: &str) -> PollEvent {
        PollEvent::Created {
            id: id.into(),
            def: def(Some(30)),
            after: None,
        }
    }

    fn agenda_of(ids: &[&str]) -> Polls {
        let mut s = Polls::default();
        for (i, id) in ids.iter().enumerate() {
            s.apply(&env(1, created(id)), i as u64);
        }
        s
    }

    #[test]
    fn a_recreated_poll_gets_a_new_incarnation_and_leaves_the_screen() {
        let mut s = agenda_of(&["p"]);
        s.apply(&env(1, created("p")), 4);
        assert_eq!(s.live("p").unwrap().uid, 0, "a duplicate create is ignored");
        s.apply(
            &env(
                1,
                PollEvent::Screen {
                    poll: Some("p".into()),
                },
            ),
            5,
        );
        s.apply(&env(1, PollEvent::Opened { id: "p".into() }), 6);
        assert_eq!(s.live("p").unwrap().state, State::Open);
        s.apply(&env(1, PollEvent::Deleted { id: "p".into() }), 7);
        assert_eq!(s.screen, None);
        s.apply(&env(1, PollEvent::Opened { id: "p".into() }), 8);
        assert!(s.by_id["p"].deleted);
        s.apply(&env(1, created("p")), 9);
        let p = s.live("p").unwrap();
        assert_eq!((p.uid, p.state, p.deleted), (9, State::Draft, false));
    }

    #[test]
    fn presenting_opens_a_draft_starts_its_timer_and_closes_what_was_on_air() {
        let mut s = agenda_of(&["a", "b"]);
        s.apply(&env(1000, PollEvent::Opened { id: "a".into() }), 2);
        assert_eq!(
            s.live("a").unwrap().closes_at,
            None,
            "off air: no timer yet"
        );
        let changed = s.apply(
            &env(
                2000,
                PollEvent::Presented {
                    poll: Some("a".into()),
                },
            ),
            3,
        );
        assert_eq!(s.live("a").unwrap().closes_at, Some(32_000));
        assert!(changed.contains("a"));
        let changed = s.apply(
            &env(
                5000,
                PollEvent::Presented {
                    poll: Some("b".into()),
                },
            ),
            4,
        );
        let (a, b) = (s.live("a").unwrap(), s.live("b").unwrap());
        assert_eq!((a.state, b.state), (State::Closed, State::Open));
        assert_eq!(b.closes_at, Some(35_000));
        assert_eq!(s.screen.as_deref(), Some("b"));
        assert_eq!(changed, HashSet::from(["a".to_string(), "b".to_string()]));
        // A closed poll is shown again with its results, not reopened.
        s.apply(
            &env(
                6000,
                PollEvent::Presented {
                    poll: Some("a".into()),
                },
            ),
            5,
        );
        assert_eq!(s.live("a").unwrap().state, State::Closed);
        assert_eq!(s.live("b").unwrap().state, State::Closed);
        // An unknown poll changes nothing.
        s.apply(
            &env(
                7000,
                PollEvent::Presented {
                    poll: Some("zz".into()),
                },
            ),
            6,
        );
        assert_eq!(s.screen.as_deref(), Some("a"));
    }

    #[test]
    fn next_walks_the_agenda_and_a_repeated_press_is_ignored() {
        let mut s = agenda_of(&["a", "b", "c"]);
        let step = |s: &mut Polls, from: Option<&str>, forward, off| {
            let from = from.map(str::to_string);
            s.apply(&env(10, PollEvent::Stepped { from, forward }), off);
            s.screen.clone()
        };
        assert_eq!(step(&mut s, None, true, 3).as_deref(), Some("a"));
        assert_eq!(step(&mut s, Some("a"), true, 4).as_deref(), Some("b"));
        assert_eq!(
            step(&mut s, Some("a"), true, 5).as_deref(),
            Some("b"),
            "stale Next"
        );
        assert_eq!(step(&mut s, Some("b"), false, 6).as_deref(), Some("a"));
        assert_eq!(s.live("b").unwrap().state, State::Closed);
        assert_eq!(
            step(&mut s, Some("a"), false, 7),
            None,
            "before the first: idle"
        );
        assert_eq!(s.live("a").unwrap().state, State::Closed);
        assert_eq!(step(&mut s, None, false, 8).as_deref(), Some("c"));
        assert_eq!(
            step(&mut s, Some("c"), true, 9),
            None,
            "past the last: idle"
        );
    }

    #[test]
    fn the_agenda_order_is_an_event_and_duplicates_go_right_after_their_original() {
        let mut s = agenda_of(&["a", "b", "c"]);
        s.apply(
            &env(
                1,
                PollEvent::Agenda {
                    order: vec!["c".into(), "a".into(), "x".into(), "c".into()],
                },
            ),
            3,
        );
        assert_eq!(s.agenda(), ["c", "a", "b"]);
        s.apply(&env(1, created("d")), 4);
        assert_eq!(s.agenda(), ["c", "a", "b", "d"], "new polls go last");
        s.apply(
            &env(
                1,
                PollEvent::Created {
                    id: "a2".into(),
                    def: def(None),
                    after: Some("a".into()),
                },
            ),
            5,
        );
        assert_eq!(s.agenda(), ["c", "a", "a2", "b", "d"]);
        s.apply(&env(1, PollEvent::Deleted { id: "a".into() }), 6);
        assert_eq!(s.agenda(), ["c", "a2", "b", "d"]);
    }

    #[test]
    fn the_view_switches_back_to_the_poll_when_one_is_presented() {
        let mut s = agenda_of(&["a"]);
        s.apply(
            &env(
                1,
                PollEvent::View {
                    view: ScreenView::Qa,
                },
            ),
            1,
        );
        assert_eq!((s.view, s.screen.as_deref()), (ScreenView::Qa, None));
        s.apply(
            &env(
                1,
                PollEvent::Presented {
                    poll: Some("a".into()),
                },
            ),
            2,
        );
        assert_eq!((s.view, s.screen.as_deref()), (ScreenView::Poll, Some("a")));
        s.apply(
            &env(
                1,
                PollEvent::View {
                    view: ScreenView::Leaderboard,
                },
            ),
            3,
        );
        assert_eq!(
            s.screen.as_deref(),
            Some("a"),
            "the poll stays on air behind the view"
        );
    }

    #[test]
    fn a_repeated_reset_or_reveal_applies_once() {
        let mut s = agenda_of(&["a"]);
        let reset = PollEvent::Reset {
            id: "a".into(),
            round: Some(1),
        };
        s.apply(&env(1, reset.clone()), 1);
        s.apply(&env(1, reset), 2);
        assert_eq!(s.live("a").unwrap().round, 2);
        s.apply(
            &env(
                1,
                PollEvent::Revealed {
                    id: "a".into(),
                    round: 1,
                },
            ),
            3,
        );
        assert!(!s.live("a").unwrap().revealed, "a reveal of an old round");
        s.apply(
            &env(
                1,
                PollEvent::Revealed {
                    id: "a".into(),
                    round: 2,
                },
            ),
            4,
        );
        assert!(s.live("a").unwrap().revealed);
        s.apply(
            &env(
                1,
                PollEvent::Reset {
                    id: "a".into(),
                    round: Some(2),
                },
            ),
            5,
        );
        assert!(
            !s.live("a").unwrap().revealed,
            "a new round is hidden again"
        );
    }
}
