//! Q&A as a pure fold of `livepoll.qa`: audience questions, their upvotes and the organiser's
//! moderation.
//!
//! The topic has several partitions, keyed by question id, so every event about one question is
//! in one partition, in the order it was appended; settings events share the key `settings`.
//! Events of different partitions reach a node in no fixed order, so nothing here lets one
//! question's events affect another question: what would (rate limit, open/closed, moderated)
//! is decided at intake and written into the event (`Asked::pending`), and "one pinned at a
//! time" is derived from pin stamps ([`Qa::pinned`]) rather than applied as a side effect. So
//! every node that applied the same records holds the same state, whatever their interleaving.
//!
//! Upvotes are a set per question: applying an `Upvoted` twice (a producer retry) counts once,
//! and undoing is an explicit `Unupvoted` event.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::question::{QState, Question, valid_name, valid_text};

/// The open/moderated switches (`GET /api/qa`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct QaSettings {
    pub open: bool,
    pub moderated: bool,
}

impl Default for QaSettings {
    fn default() -> Self {
        QaSettings {
            open: true,
            moderated: false,
        }
    }
}

/// An event in `livepoll.qa` (`"v": 1` JSON, keyed by [`QaEvent::key`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum QaEvent {
    /// A new question; `pending` when Q&A was moderated at intake.
    Asked {
        id: String,
        text: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
        voter: String,
        pending: bool,
    },
    Upvoted {
        id: String,
        voter: String,
    },
    Unupvoted {
        id: String,
        voter: String,
    },
    /// Pending, hidden or answered → live.
    Approved {
        id: String,
    },
    Hidden {
        id: String,
    },
    Answered {
        id: String,
    },
    /// `stamp` orders pins across partitions: the live question with the highest stamp is
    /// the pinned one.
    Pinned {
        id: String,
        stamp: u64,
    },
    Unpinned {
        id: String,
    },
    Deleted {
        id: String,
    },
    Settings {
        open: bool,
        moderated: bool,
    },
}

impl QaEvent {
    /// The Kafka key: the question id (one partition per question), or `settings`.
    pub fn key(&self) -> &str {
        match self {
            QaEvent::Asked { id, .. }
            | QaEvent::Upvoted { id, .. }
            | QaEvent::Unupvoted { id, .. }
            | QaEvent::Approved { id }
            | QaEvent::Hidden { id }
            | QaEvent::Answered { id }
            | QaEvent::Pinned { id, .. }
            | QaEvent::Unpinned { id }
            | QaEvent::Deleted { id } => id,
            QaEvent::Settings { .. } => "settings",
        }
    }
}

/// What goes on the wire: schema version, time (ms since epoch) and the event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QaEnvelope {
    pub v: u32,
    pub at: u64,
    #[serde(flatten)]
    pub event: QaEvent,
}

/// What applying events changed, for the store to write in the same transaction.
#[derive(Debug, Default)]
pub struct QaChanges {
    /// Questions whose record changed.
    pub questions: HashSet<String>,
    /// (question, voter, added) in the order applied.
    pub upvotes: Vec<(String, String, bool)>,
    /// Questions deleted: their upvote rows go.
    pub purged: HashSet<String>,
    pub settings: bool,
}

impl QaChanges {
    pub fn is_empty(&self) -> bool {
        self.questions.is_empty() && self.upvotes.is_empty() && !self.settings
    }
}

/// Every question (deleted ones as tombstones), who upvoted each, and the settings.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Qa {
    pub questions: HashMap<String, Question>,
    /// Voters who upvoted each question; shared until a batch changes them.
    pub upvoters: HashMap<String, Arc<HashSet<String>>>,
    pub settings: QaSettings,
}

/// Who is looking: visibility of pending and hidden questions depends on it.
#[derive(Debug, Clone, Copy)]
pub enum QaViewer<'a> {
    Admin,
    Voter(&'a str),
    Anonymous,
}

impl QaViewer<'_> {
    /// Pending questions only to their asker and admins; hidden ones only to admins.
    pub fn sees(&self, q: &Question) -> bool {
        if q.deleted {
            return false;
        }
        match (q.state, self) {
            (_, QaViewer::Admin) | (QState::Live | QState::Answered, _) => true,
            (QState::Pending, QaViewer::Voter(v)) => q.asker == *v,
            _ => false,
        }
    }
}

impl Qa {
    /// A question that exists and is not deleted.
    pub fn get(&self, id: &str) -> Option<&Question> {
        self.questions.get(id).filter(|q| !q.deleted)
    }

    /// True if `voter` upvoted question `id`.
    pub fn upvoted(&self, id: &str, voter: &str) -> bool {
        self.upvoters.get(id).is_some_and(|s| s.contains(voter))
    }

    /// The pinned question: the live one with the highest pin stamp (ties by id).
    pub fn pinned(&self) -> Option<&str> {
        self.questions
            .values()
            .filter(|q| !q.deleted && q.state == QState::Live)
            .filter_map(|q| q.pinned.map(|s| (s, q.id.as_str())))
            .max()
            .map(|(_, id)| id)
    }

    /// Highest pin stamp held by any question (a new pin goes above it).
    pub fn max_pin_stamp(&self) -> u64 {
        self.questions
            .values()
            .filter_map(|q| q.pinned)
            .max()
            .unwrap_or(0)
    }

    /// Questions not deleted, in display order: the pinned one, then most upvoted, then oldest.
    pub fn ordered(&self) -> Vec<&Question> {
        let pinned = self.pinned();
        let mut v: Vec<&Question> = self.questions.values().filter(|q| !q.deleted).collect();
        v.sort_by(|a, b| {
            let pa = Some(a.id.as_str()) == pinned;
            let pb = Some(b.id.as_str()) == pinned;
            pb.cmp(&pa)
                .then(b.upvotes.cmp(&a.upvotes))
                .then(a.at.cmp(&b.at))
                .then(a.id.cmp(&b.id))
        });
        v
    }

    /// When `voter` last asked a question (ms), if ever.
    pub fn last_asked(&self, voter: &str) -> Option<u64> {
        self.questions
            .values()
            .filter(|q| q.asker == voter)
            .map(|q| q.at)
            .max()
    }

    /// Applies one event; an event that does not fit the state (unknown question, invalid
    /// text, a transition that is not allowed) changes nothing.
    pub fn apply(&mut self, env: &QaEnvelope, changes: &mut QaChanges) {
        let at = env.at;
        match &env.event {
            QaEvent::Asked {
                id,
                text,
                name,
                voter,
                pending,
            } => {
                let valid = valid_text(text) && name.as_deref().is_none_or(valid_name);
                if valid && !self.questions.contains_key(id) {
                    let state = if *pending {
                        QState::Pending
                    } else {
                        QState::Live
                    };
                    let q = Question {
                        id: id.clone(),
                        text: text.clone(),
                        name: name.clone(),
                        asker: voter.clone(),
                        state,
                        pinned: None,
                        upvotes: 0,
                        at,
                        answered_at: None,
                        deleted: false,
                    };
                    self.questions.insert(id.clone(), q);
                    changes.questions.insert(id.clone());
                }
            }
            QaEvent::Upvoted { id, voter } | QaEvent::Unupvoted { id, voter } => {
                let add = matches!(env.event, QaEvent::Upvoted { .. });
                let Some(q) = self.questions.get_mut(id).filter(|q| !q.deleted) else {
                    return;
                };
                let set = Arc::make_mut(self.upvoters.entry(id.clone()).or_default());
                let changed = if add {
                    set.insert(voter.clone())
                } else {
                    set.remove(voter)
                };
                if changed {
                    q.upvotes = set.len() as u64;
                    changes.questions.insert(id.clone());
                    changes.upvotes.push((id.clone(), voter.clone(), add));
                }
            }
            QaEvent::Approved { id } => self.edit(id, changes, |q| {
                q.state = QState::Live;
                q.answered_at = None;
            }),
            QaEvent::Hidden { id } => self.edit(id, changes, |q| {
                q.state = QState::Hidden;
                q.pinned = None;
            }),
            QaEvent::Answered { id } => self.edit(id, changes, |q| {
                if matches!(q.state, QState::Pending | QState::Live) {
                    q.state = QState::Answered;
                    q.answered_at = Some(at);
                    q.pinned = None;
                }
            }),
            QaEvent::Pinned { id, stamp } => self.edit(id, changes, |q| {
                if q.state == QState::Live {
                    q.pinned = Some(*stamp);
                }
            }),
            QaEvent::Unpinned { id } => self.edit(id, changes, |q| q.pinned = None),
            QaEvent::Deleted { id } => {
                self.edit(id, changes, |q| {
                    q.deleted = true;
                    q.text.clear();
                    q.name = None;
                    q.pinned = None;
                    q.upvotes = 0;
                });
                if self.upvoters.remove(id).is_some() {
                    changes.purged.insert(id.clone());
                }
            }
            QaEvent::Settings { open, moderated } => {
                self.settings = QaSettings {
                    open: *open,
                    moderated: *moderated,
                };
                changes.settings = true;
            }
        }
    }

    /// Changes a question that is not deleted; records it if `f` changed it.
    fn edit(&mut self, id: &str, changes: &mut QaChanges, f: impl FnOnce(&mut Question)) {
        if let Some(q) = self.questions.get_mut(id).filter(|q| !q.deleted) {
            let before = q.clone();
            f(q);
            if *q != before {
                changes.questions.insert(id.to_string());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(at: u64, event: QaEvent) -> QaEnvelope {
        QaEnvelope { v: 1, at, event }
    }

    fn asked(id: &str, voter: &str, pending: bool) -> QaEvent {
        QaEvent::Asked {
            id: id.into(),
            text: format!("question {id}?"),
            name: None,
            voter: voter.into(),
            pending,
        }
    }

    fn up(id: &str, voter: &str) -> QaEvent {
        QaEvent::Upvoted {
            id: id.into(),
            voter: voter.into(),
        }
    }

    fn fold(events: &[QaEvent]) -> Qa {
        let mut qa = Qa::default();
        for (i, e) in events.iter().enumerate() {
            qa.apply(&env(i as u64, e.clone()), &mut QaChanges::default());
        }
        qa
    }

    #[test]
    fn qa_the_wire_format_is_versioned_json() {
        let e = env(5, up("q1", "v"));
        let json = serde_json::to_string(&e).unwrap();
        assert_eq!(
            json,
            r#"{"v":1,"at":5,"type":"upvoted","id":"q1","voter":"v"}"#
        );
        assert_eq!(serde_json::from_str::<QaEnvelope>(&json).unwrap(), e);
    }

    #[test]
    fn qa_a_repeated_upvote_counts_once_and_undo_is_explicit() {
        let qa = fold(&[
            asked("q", "a", false),
            up("q", "v1"),
            up("q", "v1"),
            up("q", "v2"),
            QaEvent::Unupvoted {
                id: "q".into(),
                voter: "v2".into(),
            },
            QaEvent::Unupvoted {
                id: "q".into(),
                voter: "v2".into(),
            },
            up("nope", "v1"),
        ]);
        assert_eq!(qa.get("q").unwrap().upvotes, 1);
        assert!(qa.upvoted("q", "v1") && !qa.upvoted("q", "v2"));
        assert!(qa.get("nope").is_none(), "an upvote creates nothing");
    }

    #[test]
    fn qa_questions_in_different_partitions_fold_the_same_in_any_interleaving() {
        // Partition A holds q1's events, partition B q2's: two nodes may see them interleaved
        // differently, and must end in the same state, pinned question included.
        let a = [
            asked("q1", "x", false),
            up("q1", "v"),
            QaEvent::Pinned {
                id: "q1".into(),
                stamp: 10,
            },
        ];
        let b = [
            asked("q2", "y", true),
            QaEvent::Approved { id: "q2".into() },
            QaEvent::Pinned {
                id: "q2".into(),
                stamp: 11,
            },
            up("q2", "v"),
        ];
        let one: Vec<QaEvent> = a.iter().chain(&b).cloned().collect();
        let two: Vec<QaEvent> = b.iter().chain(&a).cloned().collect();
        let zipped: Vec<QaEvent> = a
            .iter()
            .zip(&b)
            .flat_map(|(x, y)| [y.clone(), x.clone()])
            .chain(b[3..].iter().cloned())
            .collect();
        let (s1, s2, s3) = (fold(&one), fold(&two), fold(&zipped));
        assert_eq!(s1.pinned(), Some("q2"));
        for s in [&s2, &s3] {
            assert_eq!(s.pinned(), s1.pinned());
            assert_eq!(s.upvoters, s1.upvoters);
            for (id, q) in &s1.questions {
                let other = &s.questions[id];
                assert_eq!((other.state, other.upvotes), (q.state, q.upvotes));
            }
        }
    }

    #[test]
    fn qa_moderation_moves_a_question_through_its_states() {
        let mut qa = fold(&[asked("q", "a", true)]);
        assert_eq!(qa.get("q").unwrap().state, QState::Pending);
        let pin = QaEvent::Pinned {
            id: "q".into(),
            stamp: 1,
        };
        qa.apply(&env(1, pin.clone()), &mut QaChanges::default());
        assert_eq!(qa.pinned(), None, "a pending question cannot be pinned");
        for (e, want) in [
            (QaEvent::Approved { id: "q".into() }, QState::Live),
            (pin, QState::Live),
            (QaEvent::Answered { id: "q".into() }, QState::Answered),
            (QaEvent::Approved { id: "q".into() }, QState::Live),
            (QaEvent::Hidden { id: "q".into() }, QState::Hidden),
            (QaEvent::Answered { id: "q".into() }, QState::Hidden),
        ] {
            qa.apply(&env(2, e.clone()), &mut QaChanges::default());
            assert_eq!(qa.get("q").unwrap().state, want, "after {e:?}");
        }
        assert_eq!(qa.pinned(), None, "answering or hiding unpins");
        let mut ch = QaChanges::default();
        qa.apply(&env(3, up("q", "v")), &mut ch);
        qa.apply(&env(4, QaEvent::Deleted { id: "q".into() }), &mut ch);
        assert!(qa.get("q").is_none() && ch.purged.contains("q"));
        qa.apply(&env(5, asked("q", "a", false)), &mut QaChanges::default());
        assert!(qa.get("q").is_none(), "a deleted id is never reused");
    }

    #[test]
    fn qa_lists_are_pinned_first_then_by_upvotes_then_oldest() {
        let qa = fold(&[
            asked("old", "a", false),
            asked("new", "b", false),
            asked("top", "c", false),
            asked("pin", "d", false),
            up("top", "v1"),
            up("top", "v2"),
            up("new", "v1"),
            QaEvent::Pinned {
                id: "pin".into(),
                stamp: 5,
            },
        ]);
        let ids: Vec<&str> = qa.ordered().iter().map(|q| q.id.as_str()).collect();
        assert_eq!(ids, ["pin", "top", "new", "old"]);
    }

    #[test]
    fn qa_invalid_text_in_the_log_is_ignored() {
        let qa = fold(&[QaEvent::Asked {
            id: "q".into(),
            text: "x".repeat(281),
            name: None,
            voter: "v".into(),
            pending: false,
        }]);
        assert!(qa.questions.is_empty());
    }

    #[test]
    fn qa_pending_is_seen_by_its_asker_and_hidden_only_by_admins() {
        let qa = fold(&[
            asked("p", "asker", true),
            asked("h", "asker", false),
            QaEvent::Hidden { id: "h".into() },
        ]);
        let (p, h) = (qa.get("p").unwrap(), qa.get("h").unwrap());
        assert!(QaViewer::Voter("asker").sees(p) && QaViewer::Admin.sees(p));
        assert!(!QaViewer::Voter("other").sees(p) && !QaViewer::Anonymous.sees(p));
        assert!(!QaViewer::Voter("asker").sees(h) && QaViewer::Admin.sees(h));
    }
}
