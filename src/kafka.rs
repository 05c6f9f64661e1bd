//! Kafka clients: the shared idempotent producer, topic creation, and the tally consumer's
//! configuration. Everything here talks to whatever cluster `--brokers` (or the bundled broker)
//! names; nothing is Tansu-specific.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{Consumer, ConsumerContext};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use rdkafka::util::Timeout;

/// Names of the two topics (CONTRACT.md "Kafka").
#[derive(Debug, Clone)]
pub struct Topics {
    pub votes: String,
    pub polls: String,
}

impl Topics {
    pub fn with_prefix(prefix: &str) -> Self {
        Topics {
            votes: format!("{prefix}.votes"),
            polls: format!("{prefix}.polls"),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum KafkaFailure {
    #[error("Kafka is unavailable: {0}")]
    Unavailable(String),
}

/// How long a produce may wait for the broker before the request fails with 503 (librdkafka scans for timed-out messages once a second: 3.5 s keeps the 503 within the README's 5 s).
pub const DELIVERY_TIMEOUT: Duration = Duration::from_millis(3500);

/// livepoll's producer settings (also the benchmark's baseline producer).
pub fn producer_config(brokers: &str) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", brokers)
        .set("client.id", "livepoll")
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("linger.ms", "1")
        .set("batch.num.messages", "10000")
        .set("queue.buffering.max.messages", "1000000")
        .set(
            "message.timeout.ms",
            DELIVERY_TIMEOUT.as_millis().to_string(),
        )
        .set("request.timeout.ms", "3000")
        .set("reconnect.backoff.max.ms", "1000")
        .set("topic.metadata.refresh.interval.ms", "10000");
    c
}

/// The one producer of the process. Idempotent with `acks=all`; if librdkafka reports a fatal
/// error (which makes an idempotent producer unusable), it is replaced on the next send.
#[derive(Clone)]
pub struct VoteProducer {
    brokers: Arc<str>,
    inner: Arc<RwLock<FutureProducer>>,
}

impl VoteProducer {
    pub fn new(brokers: &str) -> Result<Self, KafkaError> {
        Ok(VoteProducer {
            brokers: brokers.into(),
            inner: Arc::new(RwLock::new(producer_config(brokers).create()?)),
        })
    }

    fn current(&self) -> FutureProducer {
        self.inner.read().expect("producer lock").clone()
    }

    /// Appends a record and resolves once the broker acknowledged it (acks=all), returning its
    /// (partition, offset).
    pub async fn send(
        &self,
        topic: &str,
        key: &str,
        payload: &[u8],
    ) -> Result<(i32, i64), KafkaFailure> {
        let producer = self.current();
        let record = FutureRecord::to(topic).key(key).payload(payload);
        match producer
            .send(record, Timeout::After(DELIVERY_TIMEOUT))
            .await
        {
            Ok(d) => Ok((d.partition, d.offset)),
            Err((e, _)) => {
                if let Some((code, reason)) = producer.client().fatal_error() {
                    tracing::warn!(?code, reason, "producer hit a fatal error; replacing it");
                    if let Ok(fresh) = producer_config(&self.brokers).create::<FutureProducer>() {
                        *self.inner.write().expect("producer lock") = fresh;
                    }
                }
                Err(KafkaFailure::Unavailable(e.to_string()))
            }
        }
    }

    /// Asks the cluster for the topic's metadata: succeeds only if a broker answers in time.
    /// Blocking: call from a blocking thread.
    pub fn probe(&self, topic: &str, timeout: Duration) -> Result<(), String> {
        let producer = self.current();
        let md = producer
            .client()
            .fetch_metadata(Some(topic), timeout)
            .map_err(|e| format!("no broker answered: {e}"))?;
        match md.topics().first() {
            Some(t) if t.error().is_none() && !t.partitions().is_empty() => Ok(()),
            Some(t) => Err(format!("topic {} unavailable: {:?}", t.name(), t.error())),
            None => Err(format!("topic {topic} missing")),
        }
    }

    /// Waits for queued messages to be delivered (used on shutdown).
    pub fn flush(&self, timeout: Duration) {
        let _ = self.current().flush(timeout);
    }
}

/// Creates the topics if they are missing (6 partitions for votes by default, 1 for polls).
pub async fn ensure_topics(
    brokers: &str,
    topics: &Topics,
    vote_partitions: i32,
) -> Result<(), KafkaError> {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("client.id", "livepoll-admin")
        .create()?;
    let new = [
        NewTopic::new(&topics.votes, vote_partitions, TopicReplication::Fixed(1)),
        NewTopic::new(&topics.polls, 1, TopicReplication::Fixed(1)),
    ];
    let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
    for result in admin.create_topics(&new, &opts).await? {
        match result {
            Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((name, code)) => {
                return Err(KafkaError::AdminOp(code))
                    .inspect_err(|_| tracing::error!(name, ?code, "create topic failed"));
            }
        }
    }
    Ok(())
}

/// How many partitions `topic` has; an error if it has none (missing or not ready).
/// Blocking: call from a blocking thread.
pub fn partition_count<C, K>(consumer: &K, topic: &str) -> anyhow::Result<i32>
where
    C: ConsumerContext,
    K: Consumer<C>,
{
    let md = consumer.fetch_metadata(Some(topic), Duration::from_secs(10))?;
    let n = md.topics().first().map_or(0, |t| t.partitions().len());
    anyhow::ensure!(n > 0, "topic {topic} has no partitions");
    Ok(n as i32)
}

/// Configuration of the tally consumer: partitions are assigned by hand at offsets kept in redb,
/// so no consumer group and no commits to Kafka are involved.
pub fn consumer_config(brokers: &str) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", brokers)
        .set("client.id", "livepoll-tally")
        .set("group.id", "livepoll-tally-unused")
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        // Tansu answers an empty fetch only after this wait, even when records arrive meanwhile,
        // and every fetch costs it SQL work: at 10 ms an idle server kept half a core of the
        // broker busy, at 50 ms a sixth (measured), and vote-to-screen stays under 250 ms.
        .set("fetch.wait.max.ms", "50")
        .set("fetch.min.bytes", "1")
        .set("enable.partition.eof", "false")
        .set("reconnect.backoff.max.ms", "1000");
    c
}
