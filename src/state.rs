//! The shared application state handed to every HTTP handler (a cheap clonable handle), and the
//! one way admin commands are carried out: append to `livepoll.polls`, then wait until the
//! consumer applied it, so the reply shows the new state and every node agrees on it.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::auth::Keys;
use crate::consumer::ConsumerHandles;
use crate::domain::events::{PollEnvelope, PollEvent, SCHEMA_VERSION};
use crate::health::Health;
use crate::http::error::ApiError;
use crate::kafka::{Topics, VoteProducer};
use crate::live::Live;
use crate::ratelimit::RateLimiter;
use crate::store::{Polls, TallyStore};

/// How long an admin command waits for its event to come back from Kafka.
const APPLY_TIMEOUT: Duration = Duration::from_secs(10);

pub struct Inner {
    pub keys: Keys,
    pub store: Arc<TallyStore>,
    pub producer: VoteProducer,
    pub topics: Topics,
    pub consumer: ConsumerHandles,
    pub live: Live,
    pub health: Health,
    pub limiter: RateLimiter,
    pub public_url: String,
    pub kafka_desc: String,
    /// The event's name on the idle screen (`serve --title`).
    pub title: String,
    pub qr_svg: String,
    /// Cancelled when the server stops; long-lived streams end on it.
    pub shutdown: tokio_util::sync::CancellationToken,
}

#[derive(Clone)]
pub struct AppState(pub Arc<Inner>);

impl std::ops::Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

impl AppState {
    /// The current poll state (as applied from Kafka).
    pub fn polls(&self) -> Arc<Polls> {
        self.consumer.polls.borrow().clone()
    }

    /// Appends a poll event and waits until it has been applied locally. Returns its offset.
    pub async fn command(&self, event: PollEvent) -> Result<u64, ApiError> {
        self.command_at(event, now_ms()).await
    }

    pub async fn command_at(&self, event: PollEvent, at: u64) -> Result<u64, ApiError> {
        if let Err(reason) = self.health.check() {
            return Err(ApiError::Unavailable(reason));
        }
        let key = event.key().to_string();
        let env = PollEnvelope {
            v: SCHEMA_VERSION,
            at,
            event,
        };
        let payload = serde_json::to_vec(&env).expect("event serialises");
        let (_, offset) = self
            .producer
            .send(&self.topics.polls, &key, &payload)
            .await
            .map_err(|e| ApiError::Unavailable(e.to_string()))?;
        let mut applied = self.consumer.polls_applied.clone();
        let wait = applied.wait_for(|next| *next > offset as u64);
        match tokio::time::timeout(APPLY_TIMEOUT, wait).await {
            Ok(Ok(_)) => Ok(offset as u64),
            _ => Err(ApiError::Unavailable(
                "the command was recorded in Kafka but not yet applied; it will take effect shortly".into(),
            )),
        }
    }
}
