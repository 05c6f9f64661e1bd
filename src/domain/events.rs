//! The Kafka event schemas (`"v": 1` JSON) and how a poll event folds into the poll state.

use serde::{Deserialize, Serialize};

use super::poll::{PollDef, PollRecord};
use super::vote::Ballot;

pub const SCHEMA_VERSION: u32 = 1;

/// An event in `livepoll.polls` (one partition, so every node sees them in one order).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum PollEvent {
    Created { id: String, def: PollDef },
    Updated { id: String, def: PollDef },
    Opened { id: String },
    Closed { id: String },
    Reset { id: String },
    Deleted { id: String },
    Screen { poll: Option<String> },
}

/// What goes on the wire: schema version, time (ms since epoch) and the event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PollEnvelope {
    pub v: u32,
    pub at: u64,
    #[serde(flatten)]
    pub event: PollEvent,
}

/// An event in `livepoll.votes`, keyed by voter: a voter's ballot for one poll round.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VoteEvent {
    pub v: u32,
    pub at: u64,
    pub poll: String,
    /// The poll incarnation ([`PollRecord::uid`]) the vote was validated against.
    pub uid: u64,
    pub round: u32,
    pub voter: String,
    pub ballot: Ballot,
}

/// The poll-side state every node folds from `livepoll.polls`.
pub trait PollState {
    fn get(&self, id: &str) -> Option<PollRecord>;
    fn put(&mut self, record: PollRecord);
    fn screen(&self) -> Option<String>;
    fn set_screen(&mut self, poll: Option<String>);
}

/// Applies one poll event found at `offset`. Invalid transitions are ignored, which keeps this a
/// pure function of the log even if two nodes raced to append conflicting commands.
pub fn apply_poll_event(state: &mut impl PollState, env: &PollEnvelope, offset: u64) {
    let at = env.at;
    let live =
        |state: &dyn Fn(&str) -> Option<PollRecord>, id: &str| state(id).filter(|p| !p.deleted);
    let get = |id: &str| state.get(id);
    match &env.event {
        PollEvent::Created { id, def } => {
            if live(&get, id).is_none() {
                state.put(PollRecord::new(id.clone(), offset, def.clone(), at));
            }
        }
        PollEvent::Screen { poll } => {
            let target = poll.as_ref().filter(|id| live(&get, id).is_some()).cloned();
            if poll.is_none() || target.is_some() {
                state.set_screen(target);
            }
        }
        PollEvent::Updated { id, .. }
        | PollEvent::Opened { id }
        | PollEvent::Closed { id }
        | PollEvent::Reset { id }
        | PollEvent::Deleted { id } => {
            let Some(mut p) = live(&get, id) else { return };
            match &env.event {
                PollEvent::Updated { def, .. } => p.update(def.clone()),
                PollEvent::Opened { .. } => p.open(at),
                PollEvent::Closed { .. } => p.close(at),
                PollEvent::Reset { .. } => p.reset(at),
                _ => {
                    p.deleted = true;
                    if state.screen().as_deref() == Some(id) {
                        state.set_screen(None);
                    }
                }
            }
            state.put(p);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::domain::poll::{Kind, State, Visibility};

    #[derive(Default)]
    struct Mem(HashMap<String, PollRecord>, Option<String>);

    impl PollState for Mem {
        fn get(&self, id: &str) -> Option<PollRecord> {
            self.0.get(id).cloned()
        }
        fn put(&mut self, r: PollRecord) {
            self.0.insert(r.id.clone(), r);
        }
        fn screen(&self) -> Option<String> {
            self.1.clone()
        }
        fn set_screen(&mut self, p: Option<String>) {
            self.1 = p;
        }
    }

    fn env(event: PollEvent) -> PollEnvelope {
        PollEnvelope {
            v: 1,
            at: 10,
            event,
        }
    }

    fn def() -> PollDef {
        PollDef {
            id: None,
            question: "Q".into(),
            kind: Kind::Single,
            options: vec!["a".into(), "b".into()],
            max_choices: None,
            scale: None,
            visibility: Visibility::Always,
            duration_secs: None,
        }
    }

    #[test]
    fn a_recreated_poll_gets_a_new_incarnation_and_leaves_the_screen() {
        let mut s = Mem::default();
        let id = "p".to_string();
        apply_poll_event(
            &mut s,
            &env(PollEvent::Created {
                id: id.clone(),
                def: def(),
            }),
            3,
        );
        apply_poll_event(
            &mut s,
            &env(PollEvent::Created {
                id: id.clone(),
                def: def(),
            }),
            4,
        );
        assert_eq!(s.get("p").unwrap().uid, 3, "a duplicate create is ignored");
        apply_poll_event(
            &mut s,
            &env(PollEvent::Screen {
                poll: Some(id.clone()),
            }),
            5,
        );
        apply_poll_event(&mut s, &env(PollEvent::Opened { id: id.clone() }), 6);
        assert_eq!(s.get("p").unwrap().state, State::Open);
        apply_poll_event(&mut s, &env(PollEvent::Deleted { id: id.clone() }), 7);
        assert_eq!(s.screen(), None);
        apply_poll_event(&mut s, &env(PollEvent::Opened { id: id.clone() }), 8);
        assert!(s.get("p").unwrap().deleted);
        apply_poll_event(
            &mut s,
            &env(PollEvent::Created {
                id: id.clone(),
                def: def(),
            }),
            9,
        );
        let p = s.get("p").unwrap();
        assert_eq!((p.uid, p.state, p.deleted), (9, State::Draft, false));
    }

    #[test]
    fn the_wire_format_is_versioned_json() {
        let e = env(PollEvent::Opened { id: "x".into() });
        let json = serde_json::to_string(&e).unwrap();
        assert_eq!(json, r#"{"v":1,"at":10,"type":"opened","id":"x"}"#);
        assert_eq!(serde_json::from_str::<PollEnvelope>(&json).unwrap(), e);
    }
}
