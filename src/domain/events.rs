//! The Kafka event schemas (`"v": 1` JSON) and how a poll event folds into the poll state.

use serde::{Deserialize, Serialize};

use super::ballot_order::Stamp;
use super::moderation::ModerationEvent;
use super::poll::PollDef;
use super::quiz::QuizStamp;
use super::vote::Ballot;

pub const SCHEMA_VERSION: u32 = 1;

/// An event in `livepoll.polls` (one partition, so every node sees them in one order).
///
/// Commands that could race between nodes or be retried carry what they expect (`Reset` the
/// round it ends, `Stepped` the poll it steps from), so applying one twice changes nothing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum PollEvent {
    Created {
        id: String,
        def: PollDef,
        /// Place the new poll right after this one in the agenda (a duplicate).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        after: Option<String>,
    },
    /// A new definition for a draft.
    Updated {
        id: String,
        def: PollDef,
    },
    /// New texts for a poll in any state (the kind and settings stay).
    Fixed {
        id: String,
        def: PollDef,
    },
    Opened {
        id: String,
    },
    Closed {
        id: String,
    },
    Reset {
        id: String,
        /// The round this reset ends; absent in events written before it was added.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        round: Option<u32>,
    },
    Deleted {
        id: String,
    },
    /// Puts a poll on air (or none) without changing its state.
    Screen {
        poll: Option<String>,
    },
    /// Puts a poll on air, opening a draft and closing the poll that was on air; `None` closes
    /// what was on air and leaves the screen idle.
    Presented {
        poll: Option<String>,
    },
    /// Presents `to`, the poll Next (or Previous) chose when pressed, if `from` is still what is
    /// on air (a second press of the same Next is ignored). Events written before `to` existed
    /// step to the neighbour of `from` in agenda order.
    Stepped {
        from: Option<String>,
        forward: bool,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        to: Option<String>,
    },
    /// Round `round` of a poll leaves its results, exports and reports (its ballots stay in
    /// the log). The current round cannot be discarded.
    Discarded {
        id: String,
        round: u32,
    },
    /// Makes the results of this round visible to everyone.
    Revealed {
        id: String,
        round: u32,
    },
    /// The agenda order; live polls not listed keep their relative order after these.
    Agenda {
        order: Vec<String>,
    },
    /// What the projector shows: the poll on air (or the idle screen), Q&A, or the leaderboard.
    View {
        view: ScreenView,
    },
    /// Starts a new, empty quiz leaderboard, if `epoch` is still the current one (so a retried
    /// reset applies once). Answers count in the leaderboard stamped on their vote.
    #[serde(rename = "leaderboard_reset")]
    LeaderboardReset {
        epoch: u32,
    },
    /// Which secret and admin token the nodes on this topic prefix use, as public ids (keyed
    /// hashes, never the secrets); a node publishes its own at start (see [`crate::identity`]).
    Deployment {
        key: String,
        admin: String,
    },
    /// Moderation of words and players (each event has its own `type`).
    #[serde(untagged)]
    Moderation(ModerationEvent),
}

/// The projector's view. Putting a poll on air (or taking it off) switches back to `Poll`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ScreenView {
    #[default]
    Poll,
    Qa,
    Leaderboard,
}

impl PollEvent {
    /// The Kafka key: the poll id, or a fixed key for events about the whole agenda.
    pub fn key(&self) -> &str {
        match self {
            PollEvent::Created { id, .. }
            | PollEvent::Updated { id, .. }
            | PollEvent::Fixed { id, .. }
            | PollEvent::Opened { id }
            | PollEvent::Closed { id }
            | PollEvent::Reset { id, .. }
            | PollEvent::Deleted { id }
            | PollEvent::Discarded { id, .. }
            | PollEvent::Revealed { id, .. } => id,
            PollEvent::Screen { .. }
            | PollEvent::Presented { .. }
            | PollEvent::Stepped { .. }
            | PollEvent::View { .. } => "screen",
            PollEvent::Agenda { .. } => "agenda",
            PollEvent::LeaderboardReset { .. } => "leaderboard",
            PollEvent::Deployment { .. } => "deployment",
            PollEvent::Moderation(m) => m.poll().unwrap_or("moderation"),
        }
    }
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
    /// A quiz answer: what its score is computed from (absent for other polls).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quiz: Option<QuizStamp>,
    /// When and where it was accepted: orders the voter's ballots in the round whatever
    /// partition they are in ([`super::ballot_order`]); absent in records from before stamps.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stamp: Option<Stamp>,
}

/// A voter's display name (`PUT /api/me`), in `livepoll.votes` keyed by voter: the same
/// partition as the voter's ballots, so the last name set is the one every node shows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NameEvent {
    pub v: u32,
    pub at: u64,
    pub voter: String,
    pub name: String,
}

/// A record in `livepoll.votes`: a ballot, a pack of ballots (`"type": "votes"`, see
/// [`encode_pack`]), or (with `"type": "name"`) a display name.
#[derive(Debug, Clone, PartialEq)]
pub enum VoterRecord {
    Vote(VoteEvent),
    /// Ballots sent together in one record, in the order they were accepted.
    Votes(Vec<VoteEvent>),
    Name(NameEvent),
}

/// The `"type"` of a pack record in `livepoll.votes`.
pub const PACK_TYPE: &str = "votes";

/// One record carrying several ballots: `{"v":1,"type":"votes","votes":[BALLOT,…]}`, each
/// element exactly what a single-ballot record's value is. `votes` are already-serialised
/// [`VoteEvent`]s, so a pack costs one copy of each, not a second serialisation.
pub fn encode_pack<'a>(votes: impl ExactSizeIterator<Item = &'a [u8]> + Clone) -> Vec<u8> {
    const HEAD: &[u8] = br#"{"v":1,"type":"votes","votes":["#;
    let commas = votes.len().saturating_sub(1);
    let len = HEAD.len() + votes.clone().map(<[u8]>::len).sum::<usize>() + commas + 2;
    let mut out = Vec::with_capacity(len);
    out.extend_from_slice(HEAD);
    for (i, v) in votes.enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(v);
    }
    out.extend_from_slice(b"]}");
    out
}

impl VoterRecord {
    /// Decodes a votes-topic payload; ballots have no `type` (they were the only record once).
    pub fn from_json(bytes: &[u8]) -> Result<VoterRecord, serde_json::Error> {
        #[derive(Deserialize)]
        struct Probe {
            #[serde(rename = "type")]
            kind: Option<String>,
        }
        #[derive(Deserialize)]
        struct Pack {
            votes: Vec<VoteEvent>,
        }
        match serde_json::from_slice::<Probe>(bytes)?.kind.as_deref() {
            Some("name") => serde_json::from_slice(bytes).map(VoterRecord::Name),
            Some(PACK_TYPE) => {
                serde_json::from_slice::<Pack>(bytes).map(|p| VoterRecord::Votes(p.votes))
            }
            Some(other) => Err(serde::de::Error::custom(format!(
                "unknown votes record type {other:?}"
            ))),
            None => serde_json::from_slice(bytes).map(VoterRecord::Vote),
        }
    }
}

impl NameEvent {
    /// The wire form: the event with `"type": "name"`.
    pub fn to_json(&self) -> Vec<u8> {
        let mut v = serde_json::to_value(self).expect("name serialises");
        v["type"] = "name".into();
        serde_json::to_vec(&v).expect("name serialises")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wire_format_is_versioned_json() {
        let e = PollEnvelope {
            v: 1,
            at: 10,
            event: PollEvent::Opened { id: "x".into() },
        };
        let json = serde_json::to_string(&e).unwrap();
        assert_eq!(json, r#"{"v":1,"at":10,"type":"opened","id":"x"}"#);
        assert_eq!(serde_json::from_str::<PollEnvelope>(&json).unwrap(), e);
        let old = r#"{"v":1,"at":10,"type":"reset","id":"x"}"#;
        assert_eq!(
            serde_json::from_str::<PollEnvelope>(old).unwrap().event,
            PollEvent::Reset {
                id: "x".into(),
                round: None
            },
            "events written before a field was added still read"
        );
    }

    #[test]
    fn moderation_events_travel_with_their_own_type() {
        let e = PollEnvelope {
            v: 1,
            at: 3,
            event: PollEvent::Moderation(ModerationEvent::WordHidden {
                poll: "p".into(),
                word: "x".into(),
            }),
        };
        let json = serde_json::to_string(&e).unwrap();
        assert_eq!(
            json,
            r#"{"v":1,"at":3,"type":"word_hidden","poll":"p","word":"x"}"#
        );
        assert_eq!(serde_json::from_str::<PollEnvelope>(&json).unwrap(), e);
        assert_eq!(e.event.key(), "p");
        let blocked = r#"{"v":1,"at":3,"type":"word_blocked","word":"zorblax"}"#;
        let e = serde_json::from_str::<PollEnvelope>(blocked).unwrap();
        assert_eq!(e.event.key(), "moderation");
        assert!(serde_json::from_str::<PollEnvelope>(r#"{"v":1,"at":3,"type":"nope"}"#).is_err());
    }

    #[test]
    fn the_votes_topic_holds_ballots_and_names() {
        let old =
            r#"{"v":1,"at":5,"poll":"p","uid":0,"round":1,"voter":"a","ballot":{"choices":[1]}}"#;
        match VoterRecord::from_json(old.as_bytes()).unwrap() {
            VoterRecord::Vote(v) => assert_eq!((v.at, v.quiz), (5, None)),
            other => panic!("{other:?}"),
        }
        let name = NameEvent {
            v: 1,
            at: 7,
            voter: "a".into(),
            name: "Ada".into(),
        };
        let json = name.to_json();
        assert!(String::from_utf8_lossy(&json).contains(r#""type":"name""#));
        assert_eq!(
            VoterRecord::from_json(&json).unwrap(),
            VoterRecord::Name(name)
        );
        assert!(VoterRecord::from_json(br#"{"type":"other"}"#).is_err());
        let reset = r#"{"v":1,"at":1,"type":"leaderboard_reset","epoch":0}"#;
        assert_eq!(
            serde_json::from_str::<PollEnvelope>(reset).unwrap().event,
            PollEvent::LeaderboardReset { epoch: 0 }
        );
    }

    #[test]
    fn a_pack_is_ballot_records_side_by_side_and_decodes_to_them_in_order() {
        let a =
            br#"{"v":1,"at":5,"poll":"p","uid":0,"round":1,"voter":"a","ballot":{"choices":[1]}}"#;
        let b = br#"{"v":1,"at":6,"poll":"p","uid":0,"round":1,"voter":"b","ballot":{"text":"x, \"y\""}}"#;
        let pack = encode_pack([&a[..], &b[..]].into_iter());
        assert_eq!(pack.len(), pack.capacity(), "sized exactly");
        let json: serde_json::Value = serde_json::from_slice(&pack).unwrap();
        assert_eq!(
            (json["v"].as_u64(), json["type"].as_str()),
            (Some(1), Some(PACK_TYPE))
        );
        match VoterRecord::from_json(&pack).unwrap() {
            VoterRecord::Votes(v) => {
                let who: Vec<_> = v.iter().map(|v| (v.voter.as_str(), v.at)).collect();
                assert_eq!(who, [("a", 5), ("b", 6)]);
                assert_eq!(
                    v[1].ballot,
                    crate::domain::vote::Ballot::Text("x, \"y\"".into())
                );
            }
            other => panic!("{other:?}"),
        }
        assert!(VoterRecord::from_json(br#"{"v":1,"type":"votes","votes":[{"v":1}]}"#).is_err());
    }
}
