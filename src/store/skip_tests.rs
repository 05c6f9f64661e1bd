//! Records that are skipped: their offsets commit with the batch, they are counted, and the
//! state is as if they were not there.

use super::*;
use crate::domain::events::PollEvent;
use crate::domain::poll::PollDef;

fn rec(topic: &str, offset: i64, event: Event) -> Consumed {
    Consumed {
        topic: topic.into(),
        partition: 0,
        offset,
        event,
    }
}

fn ballot(poll: &str, uid: u64, voter: &str, choice: u16) -> Event {
    Event::Vote(VoteEvent {
        v: 1,
        at: 1,
        poll: poll.into(),
        uid,
        round: 1,
        voter: voter.into(),
        ballot: Ballot::Choices(vec![choice]),
        quiz: None,
        stamp: None,
    })
}

#[test]
fn invalid_records_are_skipped_counted_and_consumed_the_same_every_time() {
    let dir = tempfile::tempdir().unwrap();
    let store = TallyStore::open(&dir.path().join("t.redb")).unwrap();
    let env = |event| Event::Poll(PollEnvelope { v: 1, at: 1, event });
    let batch = vec![
        rec(
            "polls",
            0,
            env(PollEvent::Created {
                id: "p".into(),
                def: PollDef::for_test(),
                after: None,
            }),
        ),
        rec("polls", 1, env(PollEvent::Opened { id: "p".into() })),
        rec("votes", 0, ballot("p", 0, "v1", 1)),
        rec("votes", 1, ballot("p", 0, "v2", 7)),
        rec("votes", 2, ballot("nope", 0, "v3", 0)),
        rec("votes", 3, Event::Skipped("not JSON".into())),
        rec("votes", 4, ballot("p", 0, "v4", 0)),
    ];
    let out = store
        .apply_batch(&Polls::default(), &Qa::default(), &batch)
        .unwrap();
    assert_eq!(out.skipped_records, Some(3));
    assert_eq!(out.votes_applied, Some(2));
    let t = store.tally("p", 0, 1).unwrap();
    assert_eq!((t.voters, t.counts.clone()), (2, vec![1, 1]));
    assert_eq!(store.offsets().unwrap()[&("votes".to_string(), 0)], 5);
    assert_eq!(store.skipped_records().unwrap(), 3);
    // Delivered again: nothing more is skipped or applied.
    let again = store
        .apply_batch(&out.polls.unwrap(), &Qa::default(), &batch)
        .unwrap();
    assert_eq!((again.skipped_records, again.votes_applied), (None, None));
}
