//! Turning a consumed payload into an [`Event`], or saying why it is not applied.
//!
//! Three outcomes, the same on every node for the same bytes:
//! - an event, checked as strictly as intake checked it ([`crate::domain::record_checks`]);
//! - [`Event::Skipped`]: well-formed or not, it is invalid (not JSON, a missing field, a
//!   900 KB word, a poll with no options…): its offset is consumed and it is counted;
//! - [`Refusal::Unreadable`]: a newer schema version or a type this node does not know. Only a
//!   newer livepoll can read it, so consumption of its partition stops there (see
//!   [`super::stalls`]) instead of skipping what the newer version may rely on.

use serde::Deserialize;

use super::TopicKind;
use crate::domain::events::{PACK_TYPE, PollEnvelope, VoteEvent, VoterRecord};
use crate::domain::qa::QaEnvelope;
use crate::domain::record_checks::{
    Refusal, check_name, check_poll_event, check_qa_event, check_version, check_vote,
};
use crate::store::Event;

/// The fields every record has: its schema version and type.
#[derive(Deserialize)]
struct Probe {
    v: Option<u64>,
    #[serde(rename = "type")]
    kind: Option<String>,
}

/// Every `type` of `livepoll.polls` this build reads. (Serde cannot say which tag was unknown:
/// the moderation events are an untagged fallback of [`crate::domain::events::PollEvent`].)
/// The test `every_poll_event_type_is_listed` fails to compile when a variant is added.
pub const POLL_TYPES: &[&str] = &[
    "created",
    "updated",
    "fixed",
    "opened",
    "closed",
    "reset",
    "deleted",
    "screen",
    "presented",
    "stepped",
    "revealed",
    "discarded",
    "agenda",
    "view",
    "leaderboard_reset",
    "deployment",
    "word_hidden",
    "word_shown",
    "word_approved",
    "word_blocked",
    "word_unblocked",
    "moderation_settings",
    "player_renamed",
    "player_hidden",
];

/// Decodes and checks one payload.
pub fn decode(kind: TopicKind, payload: Option<&[u8]>) -> Result<Event, Refusal> {
    let Some(bytes) = payload else {
        return Ok(Event::Skipped("a record without a value".into()));
    };
    match checked(kind, bytes) {
        Ok(event) => Ok(event),
        Err(Refusal::Invalid(why)) => Ok(Event::Skipped(why)),
        Err(unreadable) => Err(unreadable),
    }
}

fn checked(kind: TopicKind, bytes: &[u8]) -> Result<Event, Refusal> {
    let probe: Probe = serde_json::from_slice(bytes)
        .map_err(|e| Refusal::Invalid(format!("not a JSON object: {e}")))?;
    let Some(v) = probe.v else {
        return Err(Refusal::Invalid("no schema version \"v\"".into()));
    };
    check_version(v)?;
    match kind {
        TopicKind::Polls => {
            let kind = probe.kind.as_deref().unwrap_or_default();
            if !POLL_TYPES.contains(&kind) {
                return Err(unknown_type(kind));
            }
            let env: PollEnvelope = parse(bytes, Some(kind))?;
            check_poll_event(&env)?;
            Ok(Event::Poll(env))
        }
        TopicKind::Qa => {
            let env: QaEnvelope = parse(bytes, probe.kind.as_deref())?;
            check_qa_event(&env)?;
            Ok(Event::Qa(env))
        }
        TopicKind::Votes => match probe.kind.as_deref() {
            None | Some("name") | Some(PACK_TYPE) => {
                let record = VoterRecord::from_json(bytes).map_err(|e| classify(&e, None))?;
                match &record {
                    VoterRecord::Vote(v) => check_vote(v)?,
                    VoterRecord::Votes(pack) => check_pack(pack)?,
                    VoterRecord::Name(n) => check_name(n)?,
                }
                Ok(Event::from(record))
            }
            Some(other) => Err(unknown_type(other)),
        },
    }
}

/// A pack is livepoll's own: one invalid ballot in it means the record was not written by
/// livepoll, and the whole record is skipped; one from a newer schema stops consumption.
fn check_pack(pack: &[VoteEvent]) -> Result<(), Refusal> {
    if pack.is_empty() {
        return Err(Refusal::Invalid("an empty pack of ballots".into()));
    }
    pack.iter().try_for_each(check_vote)
}

fn parse<T: serde::de::DeserializeOwned>(bytes: &[u8], kind: Option<&str>) -> Result<T, Refusal> {
    serde_json::from_slice(bytes).map_err(|e| classify(&e, kind))
}

/// An unknown enum variant (a record type, a ballot kind) is something a newer livepoll
/// wrote; any other decoding error makes the record invalid.
fn classify(e: &serde_json::Error, kind: Option<&str>) -> Refusal {
    let text = e.to_string();
    if text.starts_with("unknown variant") {
        return match kind {
            Some(k) if text.contains(&format!("`{k}`")) => unknown_type(k),
            _ => Refusal::Unreadable(format!(
                "holds something this node does not know ({text}) — upgrade livepoll"
            )),
        };
    }
    Refusal::Invalid(format!("does not decode: {text}"))
}

fn unknown_type(kind: &str) -> Refusal {
    Refusal::Unreadable(format!(
        "has type {kind:?}, which this node does not know — upgrade livepoll"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn votes(json: &str) -> Result<Event, Refusal> {
        decode(TopicKind::Votes, Some(json.as_bytes()))
    }

    const BALLOT: &str =
        r#"{"v":1,"at":5,"poll":"p","uid":0,"round":1,"voter":"a","ballot":{"choices":[1]}}"#;

    #[test]
    fn a_good_ballot_decodes_and_garbage_is_skipped() {
        assert!(matches!(votes(BALLOT), Ok(Event::Vote(_))));
        for bad in ["not json", "[1]", r#"{"at":5}"#, r#"{"v":1,"poll":"p"}"#] {
            assert!(matches!(votes(bad), Ok(Event::Skipped(_))), "{bad}");
        }
        assert!(matches!(
            decode(TopicKind::Votes, None),
            Ok(Event::Skipped(_))
        ));
        let word = format!(
            r#"{{"v":1,"at":5,"poll":"p","uid":0,"round":1,"voter":"a","ballot":{{"text":"{}"}}}}"#,
            "w".repeat(900_000)
        );
        assert!(matches!(votes(&word), Ok(Event::Skipped(w)) if w.contains("word")));
    }

    #[test]
    fn a_newer_version_or_an_unknown_type_cannot_be_read() {
        let v2 = BALLOT.replace(r#""v":1"#, r#""v":2"#);
        assert!(matches!(votes(&v2), Err(Refusal::Unreadable(w)) if w.contains("v2")));
        let pack = format!(r#"{{"v":1,"type":"votes","votes":[{v2}]}}"#);
        assert!(matches!(votes(&pack), Err(Refusal::Unreadable(_))));
        assert!(
            matches!(votes(r#"{"v":1,"type":"tip"}"#), Err(Refusal::Unreadable(w)) if w.contains("\"tip\""))
        );
        let polls = decode(
            TopicKind::Polls,
            Some(br#"{"v":1,"at":1,"type":"teleported","id":"p"}"#),
        );
        assert!(matches!(polls, Err(Refusal::Unreadable(w)) if w.contains("teleported")));
        let qa = decode(
            TopicKind::Qa,
            Some(br#"{"v":1,"at":1,"type":"starred","id":"q"}"#),
        );
        assert!(matches!(qa, Err(Refusal::Unreadable(_))));
        let ballot = BALLOT.replace(r#"{"choices":[1]}"#, r#"{"emoji":"x"}"#);
        assert!(
            matches!(votes(&ballot), Err(Refusal::Unreadable(_))),
            "a ballot kind from later"
        );
    }

    /// One example of each poll event; the matches below stop compiling when a variant is
    /// added, until it gets an example here (and its type in [`POLL_TYPES`]).
    #[test]
    fn every_poll_event_type_is_listed() {
        use crate::domain::events::{PollEvent, ScreenView};
        use crate::domain::moderation::{BlockedMode, ModerationEvent as M};
        let id = || "p".to_string();
        let def = crate::domain::poll::PollDef::for_test();
        let moderation = [
            M::WordHidden {
                poll: id(),
                word: id(),
            },
            M::WordShown {
                poll: id(),
                word: id(),
            },
            M::WordApproved {
                poll: id(),
                word: id(),
            },
            M::WordBlocked { word: id() },
            M::WordUnblocked { word: id() },
            M::ModerationSettings {
                blocked: BlockedMode::Hold,
            },
            M::PlayerRenamed {
                voter: id(),
                name: id(),
            },
            M::PlayerHidden {
                voter: id(),
                hidden: true,
            },
        ];
        for m in &moderation {
            match m {
                M::WordHidden { .. }
                | M::WordShown { .. }
                | M::WordApproved { .. }
                | M::WordBlocked { .. }
                | M::WordUnblocked { .. }
                | M::ModerationSettings { .. }
                | M::PlayerRenamed { .. }
                | M::PlayerHidden { .. } => {}
            }
        }
        let mut events = vec![
            PollEvent::Created {
                id: id(),
                def: def.clone(),
                after: None,
            },
            PollEvent::Updated {
                id: id(),
                def: def.clone(),
            },
            PollEvent::Fixed { id: id(), def },
            PollEvent::Opened { id: id() },
            PollEvent::Closed { id: id() },
            PollEvent::Reset {
                id: id(),
                round: None,
            },
            PollEvent::Deleted { id: id() },
            PollEvent::Screen { poll: None },
            PollEvent::Presented { poll: None },
            PollEvent::Stepped {
                from: None,
                forward: true,
                to: None,
            },
            PollEvent::Discarded { id: id(), round: 1 },
            PollEvent::Revealed { id: id(), round: 1 },
            PollEvent::Agenda { order: vec![] },
            PollEvent::View {
                view: ScreenView::Poll,
            },
            PollEvent::LeaderboardReset { epoch: 0 },
            PollEvent::Deployment {
                key: "ab".into(),
                admin: "cd".into(),
            },
        ];
        events.extend(moderation.into_iter().map(PollEvent::Moderation));
        for e in &events {
            match e {
                PollEvent::Created { .. }
                | PollEvent::Updated { .. }
                | PollEvent::Fixed { .. }
                | PollEvent::Opened { .. }
                | PollEvent::Closed { .. }
                | PollEvent::Reset { .. }
                | PollEvent::Deleted { .. }
                | PollEvent::Screen { .. }
                | PollEvent::Presented { .. }
                | PollEvent::Stepped { .. }
                | PollEvent::Revealed { .. }
                | PollEvent::Discarded { .. }
                | PollEvent::Agenda { .. }
                | PollEvent::View { .. }
                | PollEvent::LeaderboardReset { .. }
                | PollEvent::Deployment { .. }
                | PollEvent::Moderation(_) => {}
            }
            let json = serde_json::to_value(e).unwrap();
            let kind = json["type"].as_str().unwrap();
            assert!(POLL_TYPES.contains(&kind), "{kind} is not in POLL_TYPES");
        }
        assert_eq!(events.len(), POLL_TYPES.len());
    }

    #[test]
    fn a_pack_with_one_invalid_ballot_is_skipped_whole() {
        let bad = BALLOT.replace(r#""round":1"#, r#""round":0"#);
        let pack = format!(r#"{{"v":1,"type":"votes","votes":[{BALLOT},{bad}]}}"#);
        assert!(matches!(votes(&pack), Ok(Event::Skipped(_))));
        let pack = format!(r#"{{"v":1,"type":"votes","votes":[{BALLOT},{BALLOT}]}}"#);
        assert!(matches!(votes(&pack), Ok(Event::Votes(v)) if v.len() == 2));
        assert!(matches!(
            votes(r#"{"v":1,"type":"votes","votes":[]}"#),
            Ok(Event::Skipped(_))
        ));
    }
}
