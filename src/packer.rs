//! Votes on their way to Kafka: the ballots that arrive while a partition's previous record is
//! being acknowledged travel together in one record (a pack, [`encode_pack`]).
//!
//! Why: a Kafka-API broker's cost is per record as much as per byte, and the bundled broker's
//! most of all: Tansu keeps one SQLite row per record, and prepares a statement for every
//! record it writes and another for every record a consumer fetches. One record per ballot
//! made the broker the largest CPU cost of a vote (46 µs of 100 at full speed on 2 cores); with
//! packs, 11 µs (README "Benchmark").
//!
//! How: one lane per partition of the votes topic. A voter's ballots always take the lane of
//! the partition their voter id hashes to — the same CRC-32 as librdkafka's default
//! partitioner, so a voter's display names (keyed records) land on the same partition — so
//! one voter's ballots stay in order. A lane sends one record at a time and waits for its
//! acknowledgement (acks=all); whatever arrived meanwhile is the next record. There is no
//! timer: a lone ballot leaves at once, as a plain single-ballot record keyed by its voter,
//! exactly as before packs; under load, the packs grow with the load.
//!
//! Every ballot's caller learns the outcome of the record that carried it, so a 202 still
//! means acknowledged by Kafka, and an error still means not recorded.

use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};

use crate::domain::events::encode_pack;
use crate::kafka::{KafkaFailure, VoteProducer};

/// Most ballots in one pack.
pub const MAX_PACK_VOTES: usize = 2_000;
/// A pack stops growing once it is this large (broker limits are 1 MiB by default).
pub const MAX_PACK_BYTES: usize = 256 * 1024;

/// The partition of the votes topic a voter's ballots go to: librdkafka's default
/// (`consistent_random`) choice for a record keyed by `voter`.
pub fn partition_of(voter: &str, partitions: i32) -> i32 {
    (crc32fast::hash(voter.as_bytes()) % partitions.max(1) as u32) as i32
}

/// A ballot waiting in a lane: its record value, its voter (the key if it travels alone),
/// and whom to tell how its record fared.
struct Pending {
    vote: Vec<u8>,
    voter: String,
    done: oneshot::Sender<Result<(), String>>,
}

/// Sends ballots to the votes topic, packed per partition (a cheap clonable handle).
#[derive(Clone)]
pub struct VotePacker {
    lanes: Arc<[mpsc::UnboundedSender<Pending>]>,
}

impl VotePacker {
    /// One lane per partition of `topic`, each a task on the current runtime that ends when
    /// the last handle is dropped (after sending what it holds).
    pub fn new(producer: VoteProducer, topic: &str, partitions: i32) -> Self {
        let topic: Arc<str> = topic.into();
        let lanes = (0..partitions.max(1))
            .map(|partition| {
                let (tx, rx) = mpsc::unbounded_channel();
                tokio::spawn(lane(rx, producer.clone(), topic.clone(), partition));
                tx
            })
            .collect();
        VotePacker { lanes }
    }

    /// Appends one ballot (`vote`: a serialised [`VoteEvent`](crate::domain::events::VoteEvent)
    /// of `voter`) and resolves once the record carrying it was acknowledged.
    pub async fn send(&self, voter: String, vote: Vec<u8>) -> Result<(), KafkaFailure> {
        let lane = &self.lanes[partition_of(&voter, self.lanes.len() as i32) as usize];
        let (done, outcome) = oneshot::channel();
        lane.send(Pending { vote, voter, done })
            .map_err(|_| KafkaFailure::Unavailable("livepoll is stopping".into()))?;
        match outcome.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(KafkaFailure::Unavailable(e)),
            Err(_) => Err(KafkaFailure::Unavailable("livepoll is stopping".into())),
        }
    }
}

/// One partition's lane: takes everything queued (up to a pack's limits), sends it as one
/// record, tells each ballot's caller, and again.
///
/// When a record fails, the ballots that queued behind it fail with it without being sent:
/// the broker has just failed to take a record within the delivery timeout, and each
/// waiting caller should hear so now rather than after another timeout of its own.
async fn lane(
    mut queue: mpsc::UnboundedReceiver<Pending>,
    producer: VoteProducer,
    topic: Arc<str>,
    partition: i32,
) {
    let mut batch: Vec<Pending> = Vec::new();
    while let Some(first) = queue.recv().await {
        let mut bytes = first.vote.len();
        batch.push(first);
        while batch.len() < MAX_PACK_VOTES && bytes < MAX_PACK_BYTES {
            match queue.try_recv() {
                Ok(p) => {
                    bytes += p.vote.len() + 1;
                    batch.push(p);
                }
                Err(_) => break,
            }
        }
        let result = match batch.as_slice() {
            [one] => {
                producer
                    .send_to(&topic, Some(partition), Some(&one.voter), &one.vote)
                    .await
            }
            many => {
                let pack = encode_pack(many.iter().map(|p| p.vote.as_slice()));
                producer.send_to(&topic, Some(partition), None, &pack).await
            }
        };
        // The reason alone: `send` wraps it again.
        let result = result
            .map(|_| ())
            .map_err(|KafkaFailure::Unavailable(reason)| reason);
        if result.is_err() {
            while let Ok(p) = queue.try_recv() {
                batch.push(p);
            }
        }
        for p in batch.drain(..) {
            let _ = p.done.send(result.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_voter_goes_where_librdkafka_would_send_their_keyed_records() {
        // librdkafka's consistent_random: crc32(key) % partitions; crc32("abc") = 0x352441c2.
        assert_eq!(crc32fast::hash(b"abc"), 0x352441c2);
        assert_eq!(partition_of("abc", 3), (0x352441c2u32 % 3) as i32);
        assert_eq!(partition_of("abc", 1), 0);
        assert_eq!(partition_of("abc", 0), 0, "no partitions known: the first");
        let spread: std::collections::HashSet<i32> = (0..100)
            .map(|i| partition_of(&format!("v{i}"), 3))
            .collect();
        assert_eq!(spread.len(), 3);
    }

    /// Ballots that queued behind a record that failed fail with it, at once: without that,
    /// each would wait out a delivery timeout of its own before its 503.
    #[tokio::test]
    async fn ballots_queued_behind_a_failed_record_fail_with_it() {
        use crate::kafka::DELIVERY_TIMEOUT;
        let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let brokers = dead.local_addr().unwrap().to_string();
        drop(dead);
        let packer = VotePacker::new(VoteProducer::new(&brokers).unwrap(), "t.votes", 1);
        let start = std::time::Instant::now();
        let first = tokio::spawn({
            let p = packer.clone();
            async move { p.send("a".into(), b"{}".to_vec()).await }
        });
        // The lane has taken the first ballot and is waiting for its record's outcome.
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        let behind = futures::future::join_all(
            ["b", "c"].map(|v| packer.send(v.to_string(), b"{}".to_vec())),
        )
        .await;
        assert!(first.await.unwrap().is_err());
        assert!(behind.iter().all(Result::is_err), "{behind:?}");
        let said = behind[0].as_ref().unwrap_err().to_string();
        assert_eq!(said.matches("unavailable").count(), 1, "{said}");
        let took = start.elapsed();
        assert!(
            took < 2 * DELIVERY_TIMEOUT,
            "the ballots behind waited for a second timeout: {took:?}"
        );
    }
}
