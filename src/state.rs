//! The shared application state (a cheap clonable handle) that the use cases in
//! [`crate::service`] and the HTTP handlers work on.

use std::sync::Arc;

use crate::auth::Keys;
use crate::consumer::ConsumerHandles;
use crate::health::Health;
use crate::kafka::{Topics, VoteProducer};
use crate::live::Live;
use crate::packer::VotePacker;
use crate::ratelimit::RateLimiter;
use crate::store::{Polls, TallyStore};

pub struct Inner {
    pub keys: Keys,
    /// The configured block list (`--block-words`, `--profanity-filter`).
    pub block_list: Arc<crate::domain::blocklist::BlockList>,
    /// The presenter and moderator keys.
    pub roles: crate::auth::ScopedKeys,
    pub store: Arc<TallyStore>,
    pub producer: VoteProducer,
    /// Ballots to the votes topic, packed per partition (names and commands use `producer`).
    pub packer: VotePacker,
    pub topics: Topics,
    pub consumer: ConsumerHandles,
    pub live: Live,
    pub health: Health,
    pub limiter: RateLimiter,
    pub public_url: String,
    pub kafka_desc: String,
    /// The event's name on the idle screen (`serve --title`).
    pub title: String,
    /// The projector's language when forced (`serve --language`).
    pub language: Option<String>,
    pub qr_svg: String,
    /// Who gets a new voter token: the event code and the per-address session limit.
    pub gate: crate::eventcode::Gate,
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

/// Now, in ms since the Unix epoch, from this node's clock ([`crate::clock`]): never goes
/// backwards, unaffected by wall-clock steps.
pub fn now_ms() -> u64 {
    crate::clock::Clock::system().now_ms()
}

impl AppState {
    /// The current poll state (as applied from Kafka).
    pub fn polls(&self) -> Arc<Polls> {
        self.consumer.polls.borrow().clone()
    }
}
