use super::*;
use crate::domain::events::PollEvent;
use crate::domain::poll::PollDef;

fn vote(ballot: Ballot) -> VoteEvent {
    VoteEvent {
        v: 1,
        at: 5,
        poll: "p".into(),
        uid: 0,
        round: 1,
        voter: "AAAAAAAAAAAAAAAAAAAAAA".into(),
        ballot,
        quiz: None,
        stamp: None,
    }
}

fn stamp(duration_secs: u64) -> QuizStamp {
    QuizStamp {
        started_at: 1,
        duration_secs,
        points: 1000,
        correct: vec![1],
        epoch: 0,
    }
}

#[test]
fn versions_past_this_one_cannot_be_read_and_zero_is_invalid() {
    assert_eq!(check_version(1), Ok(()));
    assert!(matches!(check_version(0), Err(Refusal::Invalid(_))));
    match check_version(2) {
        Err(Refusal::Unreadable(why)) => assert!(why.contains("v2") && why.contains("upgrade")),
        other => panic!("{other:?}"),
    }
    let mut v = vote(Ballot::Choices(vec![0]));
    v.v = 2;
    assert!(matches!(check_vote(&v), Err(Refusal::Unreadable(_))));
}

#[test]
fn a_quiz_stamp_whose_score_would_overflow_is_invalid() {
    let mut v = vote(Ballot::Choices(vec![1]));
    v.quiz = Some(stamp(2_305_843_009_213_693_952));
    assert!(matches!(check_vote(&v), Err(Refusal::Invalid(w)) if w.contains("duration_secs")));
    v.quiz = Some(stamp(0));
    assert!(check_vote(&v).is_err());
    v.quiz = Some(stamp(30));
    assert_eq!(check_vote(&v), Ok(()));
    let mut s = stamp(30);
    s.points = 0;
    assert!(check_stamp(&s).is_err());
    s.points = 10;
    s.correct = vec![2, 1];
    assert!(check_stamp(&s).is_err());
}

#[test]
fn ballots_are_checked_as_intake_makes_them() {
    assert_eq!(check_ballot(&Ballot::Choices(vec![0, 3])), Ok(()));
    assert!(check_ballot(&Ballot::Choices(vec![])).is_err());
    assert!(check_ballot(&Ballot::Choices(vec![3, 0])).is_err());
    assert!(check_ballot(&Ballot::Choices(vec![1, 1])).is_err());
    assert!(check_ballot(&Ballot::Choices(vec![65535])).is_err());
    assert!(check_ballot(&Ballot::Rating(0)).is_err());
    assert!(check_ballot(&Ballot::Rating(11)).is_err());
    assert_eq!(check_ballot(&Ballot::Text("rust lang".into())), Ok(()));
    assert!(
        check_ballot(&Ballot::Text("x".repeat(900_000))).is_err(),
        "a 900 KB word"
    );
    assert!(check_ballot(&Ballot::Text(" padded ".into())).is_err());
    assert!(check_ballot(&Ballot::Text(String::new())).is_err());
}

#[test]
fn ids_times_and_rounds_are_bounded() {
    let ok = vote(Ballot::Choices(vec![0]));
    assert_eq!(check_vote(&ok), Ok(()));
    let bad = [
        VoteEvent {
            at: u64::MAX,
            ..ok.clone()
        },
        VoteEvent {
            poll: "Not An Id".into(),
            ..ok.clone()
        },
        VoteEvent {
            voter: "x".repeat(65),
            ..ok.clone()
        },
        VoteEvent {
            voter: "a.b".into(),
            ..ok.clone()
        },
        VoteEvent {
            round: 0,
            ..ok.clone()
        },
    ];
    for b in bad {
        assert!(matches!(check_vote(&b), Err(Refusal::Invalid(_))), "{b:?}");
    }
    let name = |name: &str| NameEvent {
        v: 1,
        at: 1,
        voter: "v1".into(),
        name: name.into(),
    };
    assert_eq!(check_name(&name("Ada")), Ok(()));
    assert!(check_name(&name(&"A".repeat(41))).is_err());
    assert!(check_name(&name(" Ada")).is_err());
}

#[test]
fn a_poll_definition_with_no_options_is_invalid() {
    let env = |event| PollEnvelope { v: 1, at: 1, event };
    let good = PollDef::for_test();
    let created = |def: PollDef| {
        env(PollEvent::Created {
            id: "p".into(),
            def,
            after: None,
        })
    };
    assert_eq!(check_poll_event(&created(good.clone())), Ok(()));
    let empty = PollDef {
        options: vec![],
        ..good.clone()
    };
    assert!(
        matches!(check_poll_event(&created(empty)), Err(Refusal::Invalid(w)) if w.contains("options"))
    );
    let long = PollDef {
        duration_secs: Some(u64::MAX),
        ..good
    };
    assert!(check_poll_event(&created(long)).is_err());
    let agenda = env(PollEvent::Agenda {
        order: vec!["p".into(); MAX_AGENDA + 1],
    });
    assert!(check_poll_event(&agenda).is_err());
    assert!(check_poll_event(&env(PollEvent::Opened { id: "../x".into() })).is_err());
}

#[test]
fn qa_events_are_bounded() {
    let env = |event| QaEnvelope { v: 1, at: 1, event };
    let asked = |text: &str| {
        env(QaEvent::Asked {
            id: "q0123456789ab".into(),
            text: text.into(),
            name: None,
            voter: "v1".into(),
            pending: false,
        })
    };
    assert_eq!(check_qa_event(&asked("Why?")), Ok(()));
    assert!(check_qa_event(&asked(&"x".repeat(281))).is_err());
    let pin = env(QaEvent::Pinned {
        id: "q0123456789ab".into(),
        stamp: u64::MAX,
    });
    assert!(
        check_qa_event(&pin).is_err(),
        "the next pin could not go above it"
    );
    assert!(check_qa_event(&env(QaEvent::Hidden { id: "x".into() })).is_err());
}

fn polls_with(def: PollDef, applied: u64, state: State) -> Polls {
    let mut p = PollRecord::new("p".into(), 3, def, 1);
    p.state = state;
    let mut polls = Polls {
        applied,
        ..Polls::default()
    };
    polls.by_id.insert("p".into(), p);
    polls
}

#[test]
fn a_ballot_is_judged_against_its_poll_once_the_poll_is_read_here() {
    let mut v = vote(Ballot::Choices(vec![5]));
    v.uid = 3;
    let polls = polls_with(PollDef::for_test(), 10, State::Open);
    assert!(judge_vote(&v, &polls).unwrap_err().contains("does not fit"));
    v.ballot = Ballot::Choices(vec![1]);
    assert_eq!(judge_vote(&v, &polls), Ok(()));
    v.ballot = Ballot::Rating(1);
    assert!(
        judge_vote(&v, &polls).is_err(),
        "a rating for a choice poll"
    );

    // Not read up to the poll's creation or its opening yet: held, then judged.
    let behind = polls_with(PollDef::for_test(), 3, State::Open);
    assert!(awaits_polls(&v, &behind) && !awaits_polls(&v, &polls));
    let draft = polls_with(PollDef::for_test(), 10, State::Draft);
    assert!(awaits_polls(&v, &draft));
    assert!(judge_vote(&v, &draft).unwrap_err().contains("never opened"));
    assert!(
        judge_vote(&v, &behind)
            .unwrap_err()
            .contains("past the end")
    );

    // Unknown poll, or an incarnation never created.
    v.poll = "other".into();
    assert!(judge_vote(&v, &polls).unwrap_err().contains("unknown poll"));
    v.poll = "p".into();
    v.uid = 5;
    assert!(
        judge_vote(&v, &polls)
            .unwrap_err()
            .contains("unknown incarnation")
    );
    // An earlier incarnation (deleted, the id created again since): its tally is never shown.
    v.uid = 1;
    assert_eq!(judge_vote(&v, &polls), Ok(()));
}

#[test]
fn a_closed_round_does_not_refuse_a_ballot_accepted_before_the_close() {
    let mut v = vote(Ballot::Choices(vec![1]));
    v.uid = 3;
    assert_eq!(
        judge_vote(&v, &polls_with(PollDef::for_test(), 10, State::Closed)),
        Ok(())
    );
}
