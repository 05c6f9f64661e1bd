//! The agenda fold: creating, presenting, stepping, ordering, resetting and revealing.

use super::*;
use crate::domain::poll::{PollDef, State};

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
    assert_eq!((a.state, b.state), (State::Paused, State::Open));
    assert_eq!((a.remaining_ms, a.closes_at), (Some(27_000), None));
    assert_eq!(b.closes_at, Some(35_000));
    assert_eq!(s.screen.as_deref(), Some("b"));
    assert_eq!(changed, HashSet::from(["a".to_string(), "b".to_string()]));
    // Back on air, a paused poll runs the time it had left.
    let present = |s: &mut Polls, id: &str, at, off| {
        let poll = Some(id.to_string());
        s.apply(&env(at, PollEvent::Presented { poll }), off);
    };
    present(&mut s, "a", 6000, 5);
    let (a, b) = (s.live("a").unwrap(), s.live("b").unwrap());
    assert_eq!((a.state, a.closes_at), (State::Open, Some(33_000)));
    assert_eq!((b.state, b.remaining_ms), (State::Paused, Some(29_000)));
    // A closed poll is shown again with its results, not reopened.
    s.apply(&env(6500, PollEvent::Closed { id: "a".into() }), 6);
    present(&mut s, "b", 7000, 7);
    present(&mut s, "a", 8000, 8);
    assert_eq!(s.live("a").unwrap().state, State::Closed);
    assert_eq!(s.live("b").unwrap().state, State::Paused);
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
        s.apply(
            &env(
                10,
                PollEvent::Stepped {
                    from,
                    forward,
                    to: None,
                },
            ),
            off,
        );
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
    assert_eq!(s.live("b").unwrap().state, State::Paused, "its timer ran");
    assert_eq!(
        step(&mut s, Some("a"), false, 7),
        None,
        "before the first: idle"
    );
    assert_eq!(s.live("a").unwrap().state, State::Paused);
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
