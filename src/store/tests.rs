//! The store's exactly-once contract: batches, packs, non-durable commits.

use super::*;
use crate::domain::events::PollEvent;
use crate::domain::poll::PollDef;

fn poll_rec(offset: i64, event: PollEvent) -> Consumed {
    Consumed {
        topic: "polls".into(),
        partition: 0,
        offset,
        event: Event::Poll(PollEnvelope { v: 1, at: 1, event }),
    }
}

fn vote_rec(offset: i64, voter: &str, choice: u16) -> Consumed {
    Consumed {
        topic: "votes".into(),
        partition: 2,
        offset,
        event: Event::Vote(VoteEvent {
            v: 1,
            at: 1,
            poll: "p".into(),
            uid: 0,
            round: 1,
            voter: voter.into(),
            ballot: Ballot::Choices(vec![choice]),
            quiz: None,
            stamp: None,
        }),
    }
}

#[test]
fn a_batch_applies_once_even_if_delivered_again() {
    let dir = tempfile::tempdir().unwrap();
    let store = TallyStore::open(&dir.path().join("t.redb")).unwrap();
    let batch = vec![
        created("p"),
        opened("p"),
        vote_rec(0, "v1", 0),
        vote_rec(1, "v2", 1),
        vote_rec(2, "v1", 1),
    ];
    let out = store
        .apply_batch(&Polls::default(), &Qa::default(), &batch)
        .unwrap();
    let polls = out.polls.unwrap();
    let again = store.apply_batch(&polls, &Qa::default(), &batch).unwrap();
    assert!(again.polls.is_none() && again.tallied.is_empty());
    let t = store.tally("p", 0, 1).unwrap();
    assert_eq!((t.voters, t.counts.clone()), (2, vec![0, 2]));
    assert_eq!(store.offsets().unwrap()[&("votes".to_string(), 2)], 3);
    assert_eq!(
        store.ballot("p", 0, 1, "v1").unwrap(),
        Some(Ballot::Choices(vec![1]))
    );
    assert!(store.load_polls().unwrap().live("p").is_some());
}

/// A pack is its ballots in order at one offset: a ballot it replaces counts once, it
/// applies once however often it is delivered, and each ballot and name counts as applied.
#[test]
fn a_pack_applies_its_ballots_in_order_once_and_counts_each() {
    let dir = tempfile::tempdir().unwrap();
    let store = TallyStore::open(&dir.path().join("t.redb")).unwrap();
    assert_eq!(
        store.votes_applied(7).unwrap(),
        7,
        "a database from before packs"
    );
    let ballot = |offset: i64, voter: &str, choice: u16| match vote_rec(offset, voter, choice).event
    {
        Event::Vote(v) => v,
        _ => unreachable!(),
    };
    let pack = Consumed {
        topic: "votes".into(),
        partition: 2,
        offset: 1,
        event: Event::Votes(vec![
            ballot(1, "v1", 0),
            ballot(1, "v2", 1),
            ballot(1, "v1", 1),
        ]),
    };
    let name = Consumed {
        topic: "votes".into(),
        partition: 2,
        offset: 2,
        event: Event::Name(NameEvent {
            v: 1,
            at: 1,
            voter: "v2".into(),
            name: "Ada".into(),
        }),
    };
    let batch = vec![created("p"), opened("p"), vote_rec(0, "v3", 0), pack, name];
    let out = store
        .apply_batch(&Polls::default(), &Qa::default(), &batch)
        .unwrap();
    assert_eq!(out.votes_applied, Some(7 + 5));
    let again = store
        .apply_batch(&out.polls.unwrap(), &Qa::default(), &batch)
        .unwrap();
    assert_eq!(again.votes_applied, None, "nothing new");
    let t = store.tally("p", 0, 1).unwrap();
    assert_eq!((t.voters, t.counts.clone()), (3, vec![1, 2]));
    assert_eq!(
        store.ballot("p", 0, 1, "v1").unwrap(),
        Some(Ballot::Choices(vec![1]))
    );
    assert_eq!(store.offsets().unwrap()[&("votes".to_string(), 2)], 3);
    assert_eq!(store.votes_applied(0).unwrap(), 12, "kept");
}

/// Ballots are applied only for a poll that was opened.
fn opened(id: &str) -> Consumed {
    poll_rec(1, PollEvent::Opened { id: id.into() })
}

fn created(id: &str) -> Consumed {
    let def = PollDef::for_test();
    poll_rec(
        0,
        PollEvent::Created {
            id: id.into(),
            def,
            after: None,
        },
    )
}

/// Votes are committed without fsync for up to [`DURABLE_EVERY`]; what a crash takes back
/// must be the tallies and the offsets together, so the votes are read again and counted
/// once. A clean stop (`persist`) keeps everything.
#[test]
fn non_durable_votes_roll_back_with_their_offsets_and_persist_keeps_them() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.redb");
    let polls = {
        let store = TallyStore::open(&path).unwrap();
        let polls = store
            .apply_batch(
                &Polls::default(),
                &Qa::default(),
                &[created("p"), opened("p")],
            )
            .unwrap()
            .polls
            .unwrap();
        let votes = [vote_rec(0, "v1", 0), vote_rec(1, "v2", 1)];
        store.apply_batch(&polls, &Qa::default(), &votes).unwrap();
        assert_eq!(store.tally("p", 0, 1).unwrap().voters, 2);
        polls
        // Dropped without persist (redb itself may still make it durable on drop; the
        // SIGKILL test in tests/resilience.rs covers a real crash).
    };
    let store = TallyStore::open(&path).unwrap();
    let voters = store.tally("p", 0, 1).unwrap().voters;
    let offset = store
        .offsets()
        .unwrap()
        .get(&("votes".to_string(), 2))
        .copied();
    assert!(
        (voters, offset) == (2, Some(2)) || (voters, offset) == (0, None),
        "tallies and offsets come back from the same commit: {voters} voters, offset {offset:?}"
    );
    // Read again from the log (as the consumer does after a restart): counted once.
    let votes = [
        vote_rec(0, "v1", 0),
        vote_rec(1, "v2", 1),
        vote_rec(2, "v3", 0),
    ];
    store.apply_batch(&polls, &Qa::default(), &votes).unwrap();
    store.persist().unwrap();
    drop(store);
    let store = TallyStore::open(&path).unwrap();
    let t = store.tally("p", 0, 1).unwrap();
    assert_eq!((t.voters, t.counts.clone()), (3, vec![2, 1]));
    assert_eq!(store.offsets().unwrap()[&("votes".to_string(), 2)], 3);
}
