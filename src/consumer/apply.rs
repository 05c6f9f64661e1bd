//! Applying one consumed batch: decoding, stopping at what cannot be read, committing through
//! the store, and what happens when that fails.
//!
//! A failing write (redb error) keeps the batch and tries again with a growing pause (up to
//! [`MAX_BACKOFF`]), reported unhealthy meanwhile: nothing is skipped and the log is not
//! flooded. A panic while applying (a bug the record checks did not foresee) is caught, rolls
//! its transaction back, and the batch is applied again record by record: the record that
//! panics stops its partition (see [`super::stalls`]) and everything else goes on. No lock is
//! left poisoned: the store recovers its durability lock, and nothing else is held across it.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use rdkafka::consumer::Consumer;
use rdkafka::{Offset, TopicPartitionList};
use tokio_util::sync::CancellationToken;

use super::decode::decode;
use super::{Raw, TallyConsumer};
use crate::domain::record_checks::{Refusal, awaits_polls};
use crate::store::{BatchOutcome, Consumed, Event, StoreError};

/// The longest pause between two attempts at a batch that fails.
pub const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// How one attempt at applying records ended.
enum Attempt {
    Applied(Box<BatchOutcome>),
    Failed(StoreError),
    Panicked(String),
}

impl TallyConsumer {
    /// Decodes `raw`, stops the partitions of unreadable records at them, and applies the rest.
    pub(super) async fn apply(&self, raw: Vec<Raw>, cancel: &CancellationToken) {
        let mut stopped: HashSet<(Arc<str>, i32)> = HashSet::new();
        let mut batch = Vec::with_capacity(raw.len());
        for (kind, topic, partition, offset, payload) in raw {
            if stopped.contains(&(topic.clone(), partition)) {
                continue;
            }
            match decode(kind, payload.as_deref()) {
                Ok(event) => batch.push(Consumed {
                    topic,
                    partition,
                    offset,
                    event,
                }),
                Err(Refusal::Unreadable(why) | Refusal::Invalid(why)) => {
                    self.stop_at(&topic, partition, offset, &why);
                    stopped.insert((topic, partition));
                }
            }
        }
        // Poll and Q&A records first, so that the ballots are judged against the poll state
        // they were accepted under (each part commits with its own offsets).
        let votes_topic = self.topics.votes.as_str();
        let (votes, others): (Vec<Consumed>, Vec<Consumed>) =
            batch.into_iter().partition(|r| &*r.topic == votes_topic);
        if !others.is_empty() {
            self.commit(others, cancel).await;
        }
        let votes = self.hold_unjudged(votes).await;
        if !votes.is_empty() {
            self.commit(votes, cancel).await;
        }
    }

    /// Takes out of `votes` the ballots that cannot be judged yet ([`awaits_polls`]) while the
    /// polls topic has records this node has not read, with every later record of their
    /// partitions, and seeks those partitions back to read them again.
    async fn hold_unjudged(&self, votes: Vec<Consumed>) -> Vec<Consumed> {
        let polls = self.polls_tx.borrow().clone();
        let awaits = |r: &Consumed| match &r.event {
            Event::Vote(v) => awaits_polls(v, &polls),
            Event::Votes(pack) => pack.iter().any(|v| awaits_polls(v, &polls)),
            _ => false,
        };
        if !votes.iter().any(awaits) {
            return votes;
        }
        let consumer = self.consumer.clone();
        let topic = self.topics.polls.clone();
        let end = tokio::task::spawn_blocking(move || {
            consumer.fetch_watermarks(&topic, 0, Duration::from_secs(5))
        })
        .await;
        match end {
            Ok(Ok((_, high))) if polls.applied >= high.max(0) as u64 => return votes,
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::warn!("reading the end of the polls topic: {e}"),
            Err(e) => tracing::warn!("reading the end of the polls topic: {e}"),
        }
        let mut held: HashSet<i32> = HashSet::new();
        let mut kept = Vec::with_capacity(votes.len());
        for r in votes {
            if held.contains(&r.partition) {
                continue;
            }
            if awaits(&r) {
                held.insert(r.partition);
                let at = Offset::Offset(r.offset);
                if let Err(e) =
                    self.consumer
                        .seek(&r.topic, r.partition, at, Duration::from_secs(5))
                {
                    tracing::warn!("holding {}/{}@{}: {e}", r.topic, r.partition, r.offset);
                }
                continue;
            }
            kept.push(r);
        }
        // Gives the polls topic a moment to arrive instead of reading the same ballots again.
        tokio::time::sleep(Duration::from_millis(20)).await;
        kept
    }

    /// Commits `batch` through the store, trying again (with a growing pause) while it fails.
    async fn commit(&self, batch: Vec<Consumed>, cancel: &CancellationToken) {
        let batch = Arc::new(batch);
        let mut pause = Duration::from_secs(1);
        let mut attempts = 0u32;
        loop {
            attempts += 1;
            match self.attempt(batch.clone()).await {
                Attempt::Applied(outcome) => {
                    if attempts > 1 {
                        tracing::info!("the batch applied after {attempts} attempts");
                    }
                    self.healthy.store(true, Ordering::Relaxed);
                    self.publish(*outcome);
                    return;
                }
                Attempt::Failed(e) => tracing::error!(
                    "applying a batch to the tally database failed (attempt {attempts}, next in \
                     {}s): {e}",
                    pause.as_secs()
                ),
                Attempt::Panicked(why) => {
                    tracing::error!(
                        "applying a batch panicked ({why}); applying it record by record"
                    );
                    if self.apply_one_by_one(&batch).await {
                        return;
                    }
                }
            }
            self.healthy.store(false, Ordering::Relaxed);
            tokio::select! {
                _ = tokio::time::sleep(pause) => {}
                _ = cancel.cancelled() => return,
            }
            pause = (pause * 2).min(MAX_BACKOFF);
        }
    }

    /// Applies the records one at a time in order, stopping the partition of any record whose
    /// application panics. True if every record was applied or stopped at; false if the store
    /// failed (the caller tries the whole batch again later: records already applied are
    /// skipped by their offsets).
    async fn apply_one_by_one(&self, batch: &[Consumed]) -> bool {
        let mut stopped: HashSet<(Arc<str>, i32)> = HashSet::new();
        for rec in batch {
            let key = (rec.topic.clone(), rec.partition);
            if stopped.contains(&key) {
                continue;
            }
            match self.attempt(Arc::new(vec![rec.clone()])).await {
                Attempt::Applied(outcome) => self.publish(*outcome),
                Attempt::Panicked(why) => {
                    let why = format!("made the consumer panic ({why}); a fix is needed");
                    self.stop_at(&rec.topic, rec.partition, rec.offset, &why);
                    stopped.insert(key);
                }
                Attempt::Failed(e) => {
                    tracing::error!("applying a record to the tally database failed: {e}");
                    return false;
                }
            }
        }
        self.healthy.store(true, Ordering::Relaxed);
        true
    }

    async fn attempt(&self, batch: Arc<Vec<Consumed>>) -> Attempt {
        let store = self.store.clone();
        let current = self.polls_tx.borrow().clone();
        let qa = self.qa.current();
        let result =
            tokio::task::spawn_blocking(move || store.apply_batch(&current, &qa, &batch)).await;
        match result {
            Ok(Ok(outcome)) => Attempt::Applied(Box::new(outcome)),
            Ok(Err(e)) => Attempt::Failed(e),
            Err(e) if e.is_panic() => {
                let panic = e.into_panic();
                let why = panic
                    .downcast_ref::<String>()
                    .map(String::as_str)
                    .or_else(|| panic.downcast_ref::<&str>().copied())
                    .unwrap_or("no message");
                Attempt::Panicked(why.lines().next().unwrap_or_default().to_string())
            }
            Err(e) => Attempt::Panicked(e.to_string()),
        }
    }

    /// Stops consuming `topic`/`partition` at `offset`: recorded for `/healthz`, and the
    /// partition paused so no later record of it is fetched.
    fn stop_at(&self, topic: &str, partition: i32, offset: i64, why: &str) {
        self.stalls.stop(topic, partition, offset, why);
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition(topic, partition);
        if let Err(e) = self.consumer.pause(&tpl) {
            tracing::warn!("pausing {topic}/{partition}: {e}");
        }
    }

    /// Makes a committed batch visible: poll and Q&A state, offsets, counters, live updates.
    fn publish(&self, outcome: BatchOutcome) {
        let polls_topic = self.topics.polls.as_str();
        let new_polls = outcome.polls.map(Arc::new);
        if let Some(p) = &new_polls {
            self.polls_tx.send_replace(p.clone());
        }
        let mut positions = self
            .vote_positions
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for (topic, partition, next) in &outcome.offsets {
            if &**topic == polls_topic {
                self.applied_tx.send_replace(*next);
            } else if topic == self.qa.topic() {
                // Published by `self.qa.committed` below.
            } else {
                positions.insert(*partition, *next);
            }
        }
        drop(positions);
        if let Some(n) = outcome.votes_applied {
            self.votes_applied.store(n, Ordering::Relaxed);
        }
        if let Some(n) = outcome.skipped_records {
            self.skipped_records.store(n, Ordering::Relaxed);
        }
        self.qa.committed(outcome.qa, &outcome.offsets, &self.live);
        self.live.mark(new_polls, outcome.tallied);
    }
}
