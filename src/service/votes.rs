//! Casting a vote: validate it against the poll as it is now, append it to `livepoll.votes`
//! on its voter's partition (alone or in a pack, see [`crate::packer`]), and succeed only once
//! Kafka acknowledged it (a vote that returns Ok is never lost; one that returns an error was
//! not recorded).

use super::ServiceError;
use crate::domain::ballot_order::Stamp;
use crate::domain::events::{SCHEMA_VERSION, VoteEvent};
use crate::domain::poll::Kind;
use crate::domain::vote::VoteBody;
use crate::state::{AppState, now_ms};

pub async fn cast(
    state: &AppState,
    poll: &str,
    voter: String,
    body: VoteBody,
) -> Result<(), ServiceError> {
    let mut polls = state.polls();
    // A poll that is missing or closed here may just have been created or opened on another
    // node of a cluster: catch up with the polls topic before refusing.
    if polls.live(poll).is_none_or(|p| !p.accepts_votes(now_ms())) {
        // Asking the broker costs a round trip: a client hammering a closed poll is limited
        // like one hammering an open one.
        if !state.limiter.allow(&voter) {
            return Err(ServiceError::RateLimited);
        }
        super::catch_up(state).await?;
        polls = state.polls();
    }
    let poll = polls
        .live(poll)
        .ok_or_else(|| ServiceError::NotFound(format!("no poll {poll:?}")))?;
    let now = now_ms();
    if poll.state == crate::domain::poll::State::Paused {
        return Err(ServiceError::Conflict(format!(
            "poll {:?} is paused: voting goes on when it is back on the screen",
            poll.id
        )));
    }
    if !poll.accepts_votes(now) {
        return Err(ServiceError::Conflict(format!(
            "poll {:?} is not open for voting",
            poll.id
        )));
    }
    let ballot = body
        .into_ballot(&poll.def)
        .map_err(ServiceError::BadRequest)?;
    if !state.limiter.allow(&voter) {
        return Err(ServiceError::RateLimited);
    }
    if !state.health.kafka_ok() {
        return Err(ServiceError::Unavailable(
            "Kafka is unavailable; the vote was not recorded".into(),
        ));
    }
    // A node that cannot apply what it takes (a full disk) refuses rather than acknowledges.
    if let Some(why) = state.health.cannot_apply() {
        return Err(ServiceError::Unavailable(format!(
            "{why}; the vote was not recorded"
        )));
    }
    let quiz = match poll.def.kind {
        Kind::Quiz => Some(super::quiz::stamp_answer(
            state,
            poll,
            &voter,
            polls.leaderboard_epoch,
        )?),
        _ => None,
    };
    let event = VoteEvent {
        v: SCHEMA_VERSION,
        at: now,
        poll: poll.id.clone(),
        uid: poll.uid,
        round: poll.round,
        voter,
        ballot,
        quiz,
        stamp: Some(Stamp(
            crate::clock::Clock::system().stamp(),
            state.health.node().to_string(),
        )),
    };
    let payload = serde_json::to_vec(&event).expect("vote serialises");
    let is_quiz = event.quiz.is_some();
    let voter = event.voter;
    // The packer takes the voter (its lane, its key); a quiz answer that fails needs it again.
    let result = state.packer.send(voter.clone(), payload).await;
    result.map_err(|e| {
        if is_quiz {
            super::quiz::unsent(poll, &voter);
        }
        ServiceError::Unavailable(format!("{e}; the vote was not recorded"))
    })
}
