//! The agenda: every poll, their order and what is on air, as a pure fold of `livepoll.polls`.
//!
//! Every node applies the same events in the same order (one partition), so every node ends in
//! the same state. Invalid transitions are ignored rather than refused, which keeps the fold a
//! pure function of the log even when two nodes raced to append conflicting commands; intake
//! (the HTTP handlers) refuses them up front with a clear error.

use std::collections::{HashMap, HashSet};

use super::events::{PollEnvelope, PollEvent, ScreenView};
use super::moderation::Moderation;
use super::poll::PollRecord;
pub use super::presenter::Presenter;

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
    /// Where the presenter is in the agenda.
    pub presenter: Presenter,
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
                    self.pause_leaving(poll.as_deref(), at, &mut changed);
                    self.screen = poll.clone();
                    self.view = ScreenView::Poll;
                    if let Some(id) = poll {
                        self.edit(id, &mut changed, |p| p.start_timer(at));
                        self.remember(id);
                    }
                }
            }
            PollEvent::Presented { poll } => self.present(poll.as_deref(), at, &mut changed),
            PollEvent::Stepped { from, forward, to } => {
                if *from == self.screen {
                    match to {
                        Some(to) => {
                            let on_air = self.screen.is_some()
                                && self.screen == self.presenter.cursor
                                && self.presenter.shown.last() == self.screen.as_ref();
                            if !*forward && on_air {
                                self.presenter.shown.pop();
                            }
                            self.present(Some(to), at, &mut changed);
                        }
                        None => {
                            let target = self.step_target(from.as_deref(), *forward);
                            self.present(target.as_deref(), at, &mut changed);
                        }
                    }
                }
            }
            PollEvent::Discarded { id, round } => {
                self.edit(id, &mut changed, |p| p.discard(*round))
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
                if self.live(id).is_some() && self.presenter.cursor.as_deref() == Some(id) {
                    self.presenter.cursor = self.step_target(Some(id), false);
                }
                self.presenter.shown.retain(|s| s != id);
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

    /// Present: the poll that was on air (if another) leaves it (a running timer pauses, an
    /// untimed open poll closes), the new one goes on air (see [`PollRecord::go_on_air`]) and
    /// becomes the presenter's position. An unknown poll changes nothing.
    fn present(&mut self, poll: Option<&str>, at: u64, changed: &mut HashSet<String>) {
        if poll.is_some_and(|id| self.live(id).is_none()) {
            return;
        }
        if let Some(prev) = self.screen.clone()
            && Some(prev.as_str()) != poll
        {
            self.edit(&prev, changed, |p| p.leave_air(at));
        }
        if let Some(id) = poll {
            self.edit(id, changed, |p| p.go_on_air(at));
            self.remember(id);
        }
        self.screen = poll.map(str::to_string);
        self.view = ScreenView::Poll;
    }

    /// A poll with a running timer that leaves the air for `next` pauses (nothing else changes).
    fn pause_leaving(&mut self, next: Option<&str>, at: u64, changed: &mut HashSet<String>) {
        if let Some(prev) = self.screen.clone()
            && Some(prev.as_str()) != next
        {
            self.edit(&prev, changed, |p| {
                if p.closes_at.is_some() {
                    p.leave_air(at);
                }
            });
        }
    }
}

#[cfg(test)]
mod tests;
