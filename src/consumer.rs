//! The tally consumer: where Kafka records become redb state.
//!
//! Partitions are assigned by hand at the offsets stored in redb (not a consumer group), records
//! are applied in batches, and each batch's offsets commit with its results (see [`crate::store`]).
//! Alongside, a watcher picks up partitions added to the votes topic while running and measures
//! the lag (records in Kafka not yet applied here) that `/healthz` reports.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use futures::FutureExt;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::cluster::Lag;
use crate::kafka::{Topics, consumer_config, partition_count};
use crate::live::Live;
use crate::store::{Polls, TallyStore};

mod apply;
mod same_log;
use same_log::{check_first_record, check_same_log};
pub mod decode;
mod qa;
pub mod stalls;
pub use qa::QaHandles;
pub use stalls::Stalls;

/// Largest number of records applied in one redb transaction.
pub const MAX_BATCH: usize = 20_000;

/// How often the watcher looks for new partitions and measures the lag.
pub const WATCH_INTERVAL: Duration = Duration::from_secs(2);

/// Which of livepoll's topics a record came from: decoding and routing match on it, so a new
/// topic is a new variant that the compiler makes every match handle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TopicKind {
    Polls,
    Votes,
    Qa,
}

/// A consumed record before decoding: topic, its name, partition, offset, payload.
type Raw = (TopicKind, Arc<str>, i32, i64, Option<Vec<u8>>);

/// What the rest of the app sees of the consumer.
#[derive(Clone)]
pub struct ConsumerHandles {
    /// Current poll state, replaced after every batch that changed it.
    pub polls: watch::Receiver<Arc<Polls>>,
    /// Next offset of the polls partition that has been applied.
    pub polls_applied: watch::Receiver<u64>,
    /// False while the consumer cannot apply records.
    pub healthy: Arc<AtomicBool>,
    /// Ballots and names applied from the votes topic so far (a pack counts as its ballots).
    pub votes_applied: Arc<AtomicU64>,
    /// Records (and ballots of packs) skipped as invalid so far, the same on every node.
    pub skipped_records: Arc<AtomicU64>,
    /// Partitions stopped at a record this node cannot read (`/healthz` 503 while any is).
    pub stalls: Stalls,
    /// Records in the topics not yet applied, measured every [`WATCH_INTERVAL`].
    pub lag: Arc<Lag>,
    pub qa: QaHandles,
    /// Partitions of the votes topic when the consumer started.
    pub vote_partitions: i32,
}

pub struct TallyConsumer {
    store: Arc<TallyStore>,
    topics: Topics,
    consumer: Arc<StreamConsumer>,
    live: Live,
    polls_tx: watch::Sender<Arc<Polls>>,
    applied_tx: watch::Sender<u64>,
    healthy: Arc<AtomicBool>,
    vote_positions: Arc<Mutex<HashMap<i32, u64>>>,
    votes_applied: Arc<AtomicU64>,
    skipped_records: Arc<AtomicU64>,
    stalls: Stalls,
    /// Partitions of the votes topic assigned so far.
    vote_partitions: i32,
    lag: Arc<Lag>,
    qa: qa::QaFeed,
    /// The Q&A topic's applied offsets and partitions, for the lag.
    qa_applied: watch::Receiver<HashMap<i32, u64>>,
    qa_partitions: i32,
}

impl TallyConsumer {
    /// Assigns every partition of both topics at the offsets stored in redb.
    pub async fn new(
        store: Arc<TallyStore>,
        brokers: &str,
        topics: Topics,
        live: Live,
    ) -> anyhow::Result<(Self, ConsumerHandles)> {
        let offsets = store.offsets()?;
        let (consumer, partitions, qa_partitions) = {
            let (brokers, topic) = (brokers.to_string(), topics.votes.clone());
            let qa_topic = topics.qa.clone();
            let stored = offsets.clone();
            let polls_topic = topics.polls.clone();
            let store_for_check = store.clone();
            tokio::task::spawn_blocking(move || -> anyhow::Result<(StreamConsumer, i32, i32)> {
                let consumer: StreamConsumer = consumer_config(&brokers).create()?;
                let partitions = partition_count(&consumer, &topic)?;
                let qa_partitions = partition_count(&consumer, &qa_topic)?;
                check_same_log(&consumer, &stored, &[&topic, &polls_topic, &qa_topic])?;
                check_first_record(&brokers, &consumer, &store_for_check, &polls_topic)?;
                Ok((consumer, partitions, qa_partitions))
            })
            .await??
        };
        let mut tpl = TopicPartitionList::new();
        let mut assign = |topic: &str, partition: i32| -> anyhow::Result<()> {
            let offset = match offsets.get(&(topic.to_string(), partition)) {
                Some(n) => Offset::Offset(*n as i64),
                None => Offset::Beginning,
            };
            tpl.add_partition_offset(topic, partition, offset)?;
            Ok(())
        };
        assign(&topics.polls, 0)?;
        for p in 0..partitions {
            assign(&topics.votes, p)?;
        }
        for p in 0..qa_partitions {
            assign(&topics.qa, p)?;
        }
        consumer.assign(&tpl)?;
        let (qa, qa_handles) = qa::QaFeed::new(&store, &offsets, &topics.qa, qa_partitions)?;
        live.mark_qa(qa.current());
        let applied = offsets
            .get(&(topics.polls.clone(), 0))
            .copied()
            .unwrap_or(0);
        let mut loaded = store.load_polls()?;
        loaded.applied = applied;
        let (polls_tx, polls) = watch::channel(Arc::new(loaded));
        let (applied_tx, polls_applied) = watch::channel(applied);
        let healthy = Arc::new(AtomicBool::new(true));
        let vote_positions: HashMap<i32, u64> = offsets
            .iter()
            .filter(|((topic, _), _)| *topic == topics.votes)
            .map(|((_, partition), next)| (*partition, *next))
            .collect();
        let votes_applied = Arc::new(AtomicU64::new(
            store.votes_applied(vote_positions.values().sum())?,
        ));
        let skipped_records = Arc::new(AtomicU64::new(store.skipped_records()?));
        let stalls = Stalls::default();
        let lag = Arc::new(Lag::default());
        let handles = ConsumerHandles {
            skipped_records: skipped_records.clone(),
            stalls: stalls.clone(),
            polls,
            polls_applied,
            healthy: healthy.clone(),
            votes_applied: votes_applied.clone(),
            lag: lag.clone(),
            qa: qa_handles.clone(),
            vote_partitions: partitions,
        };
        Ok((
            TallyConsumer {
                store,
                topics,
                consumer: Arc::new(consumer),
                live,
                polls_tx,
                applied_tx,
                healthy,
                vote_positions: Arc::new(Mutex::new(vote_positions)),
                votes_applied,
                skipped_records,
                stalls,
                vote_partitions: partitions,
                lag,
                qa,
                qa_applied: qa_handles.applied.clone(),
                qa_partitions: qa_handles.partitions,
            },
            handles,
        ))
    }

    /// The watcher of this consumer's partitions (see [`PartitionWatcher::run`]).
    fn watcher(&self) -> PartitionWatcher {
        PartitionWatcher {
            consumer: self.consumer.clone(),
            store: self.store.clone(),
            topics: self.topics.clone(),
            vote_positions: self.vote_positions.clone(),
            polls_applied: self.applied_tx.subscribe(),
            qa_applied: self.qa_applied.clone(),
            qa_partitions: self.qa_partitions,
            assigned: self.vote_partitions,
            lag: self.lag.clone(),
        }
    }

    /// Consumes and applies until cancelled (see [`apply`] for what happens when a batch fails
    /// or a record cannot be read).
    pub async fn run(self, cancel: CancellationToken) {
        let watcher = tokio::spawn(self.watcher().run(cancel.clone()));
        self.consume(cancel).await;
        let store = self.store.clone();
        match tokio::task::spawn_blocking(move || store.persist()).await {
            Ok(Err(e)) => tracing::warn!("making the last tallies durable on stop: {e}"),
            Err(e) => tracing::warn!("making the last tallies durable on stop: {e}"),
            Ok(Ok(())) => {}
        }
        // Returns only once the watcher (and its handle on the store) is gone.
        let _ = watcher.await;
    }

    async fn consume(&self, cancel: CancellationToken) {
        let votes: Arc<str> = self.topics.votes.as_str().into();
        let polls: Arc<str> = self.topics.polls.as_str().into();
        loop {
            let first = tokio::select! {
                m = self.consumer.recv() => m,
                _ = cancel.cancelled() => return,
            };
            let mut raw = Vec::with_capacity(256);
            let push = |raw: &mut Vec<Raw>, m: &rdkafka::message::BorrowedMessage<'_>| {
                let (kind, name) = if m.topic() == &*votes {
                    (TopicKind::Votes, votes.clone())
                } else if m.topic() == &*polls {
                    (TopicKind::Polls, polls.clone())
                } else if m.topic() == &**self.qa.topic() {
                    (TopicKind::Qa, self.qa.topic().clone())
                } else {
                    tracing::warn!(topic = m.topic(), "a record from a topic never assigned");
                    return;
                };
                // Records of a stopped partition fetched before it was paused.
                if self.stalls.stopped(&name, m.partition()) {
                    return;
                }
                raw.push((
                    kind,
                    name,
                    m.partition(),
                    m.offset(),
                    m.payload().map(<[u8]>::to_vec),
                ));
            };
            match first {
                Ok(m) => push(&mut raw, &m),
                Err(e) => {
                    tracing::warn!("consumer: {e}");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    continue;
                }
            }
            while raw.len() < MAX_BATCH {
                match self.consumer.recv().now_or_never() {
                    Some(Ok(m)) => push(&mut raw, &m),
                    _ => break,
                }
            }
            self.apply(raw, &cancel).await;
        }
    }
}

/// Looks after the assignment and the lag while the consumer runs.
struct PartitionWatcher {
    consumer: Arc<StreamConsumer>,
    store: Arc<TallyStore>,
    topics: Topics,
    vote_positions: Arc<Mutex<HashMap<i32, u64>>>,
    polls_applied: watch::Receiver<u64>,
    qa_applied: watch::Receiver<HashMap<i32, u64>>,
    qa_partitions: i32,
    assigned: i32,
    lag: Arc<Lag>,
}

impl PartitionWatcher {
    /// Every [`WATCH_INTERVAL`] until cancelled: assigns partitions added to the votes topic
    /// (at their stored offsets, or from the beginning), then measures the lag. A failure (the
    /// broker is away) is logged once and tried again next time.
    async fn run(mut self, cancel: CancellationToken) {
        let mut failing = false;
        loop {
            // Stop at once on shutdown, even mid-check: the watcher holds the tally store,
            // which a restart in the same process must be able to open again.
            let result = tokio::select! {
                r = self.check() => r,
                _ = cancel.cancelled() => return,
            };
            match (&result, failing) {
                (Err(e), false) => tracing::warn!("watching the topics' partitions: {e}"),
                (Ok(()), true) => tracing::info!("watching the topics' partitions works again"),
                _ => {}
            }
            failing = result.is_err();
            tokio::select! {
                _ = tokio::time::sleep(WATCH_INTERVAL) => {}
                _ = cancel.cancelled() => return,
            }
        }
    }

    async fn check(&mut self) -> anyhow::Result<()> {
        let consumer = self.consumer.clone();
        let topic = self.topics.votes.clone();
        let partitions =
            tokio::task::spawn_blocking(move || partition_count(&*consumer, &topic)).await??;
        if partitions > self.assigned {
            let offsets = self.store.offsets()?;
            let mut tpl = TopicPartitionList::new();
            for p in self.assigned..partitions {
                let offset = match offsets.get(&(self.topics.votes.clone(), p)) {
                    Some(n) => Offset::Offset(*n as i64),
                    None => Offset::Beginning,
                };
                tpl.add_partition_offset(&self.topics.votes, p, offset)?;
            }
            self.consumer.incremental_assign(&tpl)?;
            tracing::info!(
                "the votes topic grew from {} to {partitions} partitions; consuming the new ones",
                self.assigned
            );
            self.assigned = partitions;
        }
        let mut applied: Vec<(String, i32, u64)> = {
            let positions = self
                .vote_positions
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            (0..self.assigned)
                .map(|p| {
                    let next = positions.get(&p).copied().unwrap_or(0);
                    (self.topics.votes.clone(), p, next)
                })
                .collect()
        };
        applied.push((self.topics.polls.clone(), 0, *self.polls_applied.borrow()));
        {
            let qa = self.qa_applied.borrow();
            for p in 0..self.qa_partitions {
                let next = qa.get(&p).copied().unwrap_or(0);
                applied.push((self.topics.qa.clone(), p, next));
            }
        }
        let consumer = self.consumer.clone();
        let lag = tokio::task::spawn_blocking(move || -> anyhow::Result<u64> {
            let mut lag = 0u64;
            for (topic, partition, next) in applied {
                let (low, high) =
                    consumer.fetch_watermarks(&topic, partition, Duration::from_secs(5))?;
                // Records below the log start are gone (retention): they cannot be applied.
                lag += (high.max(0) as u64).saturating_sub(next.max(low.max(0) as u64));
            }
            Ok(lag)
        })
        .await??;
        self.lag.record(lag, Instant::now());
        Ok(())
    }
}
