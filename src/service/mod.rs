//! The use cases: what an organiser or a voter can do, whoever asks — the HTTP handlers, the
//! agenda preload, the poll timer. Commands are appended to Kafka; a command returns once the
//! fold of the log has applied it here, so the caller sees the new state and every node agrees.

pub mod moderation;
pub mod polls;
pub mod qa;
pub mod quiz;
pub mod votes;

use std::time::Duration;

use crate::domain::events::{PollEnvelope, PollEvent, SCHEMA_VERSION};
use crate::state::{AppState, now_ms};

/// How long a command waits for its event to come back from Kafka.
pub(crate) const APPLY_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a use case could not be carried out; `http` maps each to its status code once.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// The request is invalid; the message says what is wrong.
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    NotFound(String),
    /// Not allowed in the current state (a 409).
    #[error("{0}")]
    Conflict(String),
    /// A second answer to a quiz question (a 409 `already_answered`).
    #[error("{0}")]
    AlreadyAnswered(String),
    #[error("too many votes from this voter; slow down")]
    RateLimited,
    /// A 429 that says why (one question per 30 s).
    #[error("{0}")]
    TooMany(String),
    /// Kafka (or the tally consumer) cannot take it now; nothing was recorded, unless the
    /// message says it was recorded but not yet applied.
    #[error("{0}")]
    Unavailable(String),
    #[error("internal error: {0}")]
    Internal(String),
}

impl ServiceError {
    pub fn internal(e: impl std::fmt::Display) -> Self {
        ServiceError::Internal(e.to_string())
    }
}

/// How long a node waits to catch up with the polls topic before it judges a request.
const CATCH_UP_TIMEOUT: Duration = Duration::from_secs(5);

/// Waits until this node has applied every poll event already in Kafka, so a request that
/// follows a change made on another node of a cluster is judged against that change (not
/// refused as "no poll" or "not open" by a node a few milliseconds behind).
pub async fn catch_up(state: &AppState) -> Result<(), ServiceError> {
    catch_up_within(state, CATCH_UP_TIMEOUT).await
}

/// [`catch_up`] waiting up to `timeout` (start-up replays the whole topic).
pub async fn catch_up_within(state: &AppState, timeout: Duration) -> Result<(), ServiceError> {
    let producer = state.producer.clone();
    let topic = state.topics.polls.clone();
    let ask = timeout.min(Duration::from_secs(10));
    let high = tokio::task::spawn_blocking(move || producer.high_watermark(&topic, ask))
        .await
        .map_err(ServiceError::internal)?
        .map_err(ServiceError::Unavailable)?;
    let mut applied = state.consumer.polls_applied.clone();
    let polls = &state.topics.polls;
    let stalled = || state.consumer.stalls.stopped(polls, 0);
    // The polls partition may have stopped at a record this node cannot read: it will not
    // catch up then, and saying why beats waiting for the timeout.
    let caught_up = async {
        loop {
            if *applied.borrow_and_update() as i64 >= high || stalled() {
                return;
            }
            let _ = tokio::time::timeout(Duration::from_millis(250), applied.changed()).await;
        }
    };
    let _ = tokio::time::timeout(timeout, caught_up).await;
    if stalled() {
        let why = state.consumer.stalls.check().err().unwrap_or_default();
        return Err(ServiceError::Unavailable(why));
    }
    if *applied.borrow() as i64 >= high {
        return Ok(());
    }
    Err(ServiceError::Unavailable(
        "this node is still catching up with Kafka; try again in a moment".into(),
    ))
}

/// Appends a poll event stamped now and waits until it has been applied locally. Returns its
/// offset in the polls topic.
pub async fn command(state: &AppState, event: PollEvent) -> Result<u64, ServiceError> {
    command_at(state, event, now_ms()).await
}

/// [`command`] with the event's time given (the timer closes a poll at its end time).
pub async fn command_at(state: &AppState, event: PollEvent, at: u64) -> Result<u64, ServiceError> {
    if let Err(reason) = state.health.check() {
        return Err(ServiceError::Unavailable(reason));
    }
    let key = event.key().to_string();
    let env = PollEnvelope {
        v: SCHEMA_VERSION,
        at,
        event,
    };
    let payload = serde_json::to_vec(&env).expect("event serialises");
    let (_, offset) = state
        .producer
        .send(&state.topics.polls, &key, &payload)
        .await
        .map_err(|e| ServiceError::Unavailable(e.to_string()))?;
    let mut applied = state.consumer.polls_applied.clone();
    let wait = applied.wait_for(|next| *next > offset as u64);
    match tokio::time::timeout(APPLY_TIMEOUT, wait).await {
        Ok(Ok(_)) => Ok(offset as u64),
        _ => Err(ServiceError::Unavailable(
            "the command was recorded in Kafka but not yet applied; it will take effect shortly"
                .into(),
        )),
    }
}
