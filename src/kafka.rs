//! Kafka clients: the shared vote producer, topic creation, and the tally consumer's
//! configuration. Everything here talks to whatever cluster `--brokers` (or the bundled broker)
//! names; nothing depends on it being Tansu (though the producer settings avoid a Tansu fault).

use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{Consumer, ConsumerContext};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use rdkafka::util::Timeout;

/// Names of the topics (CONTRACT.md "Kafka").
#[derive(Debug, Clone)]
pub struct Topics {
    pub votes: String,
    pub polls: String,
    /// Q&A: questions, upvotes, moderation ([`QA_PARTITIONS`] partitions, keyed by question).
    pub qa: String,
}

/// Partitions of the Q&A topic when livepoll creates it.
pub const QA_PARTITIONS: i32 = 3;

impl Topics {
    pub fn with_prefix(prefix: &str) -> Self {
        Topics {
            votes: format!("{prefix}.votes"),
            polls: format!("{prefix}.polls"),
            qa: format!("{prefix}.qa"),
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
///
/// Not idempotent, on purpose. An idempotent librdkafka producer whose message timed out
/// (as a vote sent while the broker is down does) bumps its producer epoch locally; Tansu 0.6.0
/// has no row for that epoch and panics on every later produce of that producer, so the bundled
/// broker never took a vote again after such an outage (README "When the broker goes away").
/// Nothing here needs the broker's deduplication: a voter's ballot replaces their previous one
/// in the same round, so a retried append that lands twice counts once. What must hold is the
/// order of one voter's ballots, which one request in flight per connection keeps through
/// retries (librdkafka retries a failed batch before sending the next).
pub fn producer_config(brokers: &str) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", brokers)
        .set("client.id", "livepoll")
        .set("enable.idempotence", "false")
        .set("max.in.flight.requests.per.connection", "1")
        .set("acks", "all")
        // Ballots are packed before they get here (crate::packer): a partition's next record
        // waits for its previous one's acknowledgement, which is most of what linger did. At a
        // steady 10,000 votes/s on the bundled broker (2026-11-22, packs), 2 ms gave ack p50
        // 6 ms / p99 17 ms against 10–11 / 19–23 ms at 5 ms, for more broker CPU per vote
        // (43 against 28–34 µs); 1 ms cost still more CPU for no better p99. At full speed 2
        // and 5 ms were alike (27,000–29,000 votes/s). One request in flight keeps a retried
        // batch in order (above).
        .set("linger.ms", "2")
        .set("batch.num.messages", "10000")
        .set("queue.buffering.max.messages", "1000000")
        .set(
            "message.timeout.ms",
            DELIVERY_TIMEOUT.as_millis().to_string(),
        )
        .set("request.timeout.ms", "3000")
        .set("reconnect.backoff.max.ms", "1000")
        .set("topic.metadata.refresh.interval.ms", "10000");
    with_client_options(&mut c);
    c
}

/// The one producer of the process, replaced when it stops making progress.
///
/// librdkafka recovers from most outages by itself, but not from every state a broker can
/// leave it in: a fatal error (fenced or failed idempotent producer), or a broker that answers
/// metadata requests yet fails every write this producer sends (Tansu 0.6.0 panics on an
/// idempotent producer's locally bumped epoch, see `producer_config`). So every delivery is
/// counted, and [`VoteProducer::replace_if_stalled`] (called by the health probe once the
/// broker answers) swaps in a fresh producer — a new connection, a new producer id — when the
/// current one had only failures since the broker came back.
#[derive(Clone)]
pub struct VoteProducer {
    brokers: Arc<str>,
    inner: Arc<RwLock<Current>>,
    progress: Arc<Mutex<Progress>>,
}

#[derive(Clone)]
struct Current {
    producer: FutureProducer,
    generation: u64,
}

/// Deliveries of the current producer.
#[derive(Debug)]
struct Progress {
    generation: u64,
    created: Instant,
    last_success: Option<Instant>,
    /// Failed deliveries since the last success, and when the latest one failed.
    failures: u32,
    last_failure: Option<Instant>,
    /// Producers replaced in a row without any of them delivering a record.
    replacements_without_success: u32,
}

/// How long the broker must have been answering before a failed delivery counts as the
/// producer's fault: librdkafka reconnects within `reconnect.backoff.max.ms`.
pub const STALL_GRACE: Duration = Duration::from_secs(2);

impl VoteProducer {
    pub fn new(brokers: &str) -> Result<Self, KafkaError> {
        Ok(VoteProducer {
            brokers: brokers.into(),
            inner: Arc::new(RwLock::new(Current {
                producer: producer_config(brokers).create()?,
                generation: 0,
            })),
            progress: Arc::new(Mutex::new(Progress {
                generation: 0,
                created: Instant::now(),
                last_success: None,
                failures: 0,
                last_failure: None,
                replacements_without_success: 0,
            })),
        })
    }

    fn current(&self) -> Current {
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
        self.send_to(topic, None, Some(key), payload).await
    }

    /// [`send`](Self::send) to a given partition (else the one the key hashes to), with or
    /// without a key.
    pub async fn send_to(
        &self,
        topic: &str,
        partition: Option<i32>,
        key: Option<&str>,
        payload: &[u8],
    ) -> Result<(i32, i64), KafkaFailure> {
        let Current {
            producer,
            generation,
        } = self.current();
        let mut record = FutureRecord::<str, [u8]>::to(topic).payload(payload);
        if let Some(key) = key {
            record = record.key(key);
        }
        if let Some(partition) = partition {
            record = record.partition(partition);
        }
        let result = producer
            .send(record, Timeout::After(DELIVERY_TIMEOUT))
            .await;
        let mut p = self.progress.lock().expect("progress lock");
        // A delivery of a producer that has been replaced meanwhile says nothing about the
        // current one.
        let current = p.generation == generation;
        match result {
            Ok(d) => {
                if current {
                    p.last_success = Some(Instant::now());
                    p.failures = 0;
                    p.replacements_without_success = 0;
                }
                Ok((d.partition, d.offset))
            }
            Err((e, _)) => {
                if current {
                    p.failures += 1;
                    p.last_failure = Some(Instant::now());
                    if let Some((code, reason)) = producer.client().fatal_error() {
                        tracing::warn!(?code, reason, "the Kafka producer hit a fatal error");
                        self.replace(&mut p, "it hit a fatal error");
                    }
                }
                Err(KafkaFailure::Unavailable(e.to_string()))
            }
        }
    }

    /// Replaces the producer if it made no progress although the broker has been answering
    /// since `reachable_since`: at least one delivery failed more than [`STALL_GRACE`] after
    /// both that instant and the producer's creation, and none succeeded since then.
    /// Returns whether it replaced the producer.
    pub fn replace_if_stalled(&self, reachable_since: Instant) -> bool {
        let mut p = self.progress.lock().expect("progress lock");
        let since = reachable_since.max(p.created) + STALL_GRACE;
        let failed_since = p.last_failure.is_some_and(|t| t > since);
        let succeeded_since = p.last_success.is_some_and(|t| t > since);
        if p.failures > 0 && failed_since && !succeeded_since {
            let why = format!(
                "{} deliveries failed in a row while the broker answers",
                p.failures
            );
            self.replace(&mut p, &why);
            true
        } else {
            false
        }
    }

    /// True when producers were replaced twice in a row without any delivery succeeding: the
    /// broker answers requests but does not take writes.
    pub fn writes_stalled(&self) -> bool {
        self.progress
            .lock()
            .expect("progress lock")
            .replacements_without_success
            >= 2
    }

    /// Swaps in a fresh producer. The old one keeps delivering what it already has in flight
    /// until those deliveries time out, then it is dropped on a blocking thread (dropping a
    /// producer flushes, which must not stall the async runtime).
    fn replace(&self, p: &mut Progress, why: &str) {
        let fresh = match producer_config(&self.brokers).create::<FutureProducer>() {
            Ok(f) => f,
            Err(e) => {
                tracing::error!("cannot create a new Kafka producer: {e}");
                return;
            }
        };
        let generation = p.generation + 1;
        let old = std::mem::replace(
            &mut *self.inner.write().expect("producer lock"),
            Current {
                producer: fresh,
                generation,
            },
        );
        *p = Progress {
            generation,
            created: Instant::now(),
            last_success: None,
            failures: 0,
            last_failure: None,
            replacements_without_success: p.replacements_without_success + 1,
        };
        tracing::warn!(
            "replaced the Kafka producer: {why} (replacement {} without a delivery)",
            p.replacements_without_success
        );
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn_blocking(move || {
                std::thread::sleep(DELIVERY_TIMEOUT + Duration::from_secs(1));
                drop(old);
            });
        }
    }

    /// Asks the cluster for the topic's metadata: succeeds only if a broker answers in time.
    /// Blocking: call from a blocking thread.
    pub fn probe(&self, topic: &str, timeout: Duration) -> Result<(), String> {
        let producer = self.current().producer;
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

    /// The offset the next record of partition 0 of `topic` will get (its high watermark).
    /// Blocking: call from a blocking thread.
    pub fn high_watermark(&self, topic: &str, timeout: Duration) -> Result<i64, String> {
        let producer = self.current().producer;
        producer
            .client()
            .fetch_watermarks(topic, 0, timeout)
            .map(|(_, high)| high)
            .map_err(|e| format!("no broker answered: {e}"))
    }

    /// Waits for queued messages to be delivered (used on shutdown).
    pub fn flush(&self, timeout: Duration) {
        let _ = self.current().producer.flush(timeout);
    }
}

/// Creates the topics if they are missing (3 partitions for votes by default, 1 for polls).
pub async fn ensure_topics(
    brokers: &str,
    topics: &Topics,
    vote_partitions: i32,
) -> Result<(), KafkaError> {
    ensure_topics_replicated(brokers, topics, vote_partitions, 1).await
}

/// [`ensure_topics`] with `replication` copies of every partition (`--replication-factor`).
pub async fn ensure_topics_replicated(
    brokers: &str,
    topics: &Topics,
    vote_partitions: i32,
    replication: i32,
) -> Result<(), KafkaError> {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", brokers)
        .set("client.id", "livepoll-admin");
    with_client_options(&mut config);
    let admin: AdminClient<DefaultClientContext> = config.create()?;
    let new = [
        NewTopic::new(
            &topics.votes,
            vote_partitions,
            TopicReplication::Fixed(replication),
        ),
        NewTopic::new(&topics.polls, 1, TopicReplication::Fixed(replication)),
        NewTopic::new(
            &topics.qa,
            QA_PARTITIONS,
            TopicReplication::Fixed(replication),
        ),
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
    with_client_options(&mut c);
    c
}

/// librdkafka properties from `--kafka-option KEY=VALUE` (SASL, TLS, ...), applied last to
/// every client this process makes (producer, consumers, admin). Process-wide: one process
/// talks to one cluster.
static CLIENT_OPTIONS: RwLock<Vec<(String, String)>> = RwLock::new(Vec::new());

/// Sets the extra properties of every client made from now on.
pub fn set_client_options(options: Vec<(String, String)>) {
    *CLIENT_OPTIONS.write().expect("options lock") = options;
}

/// Adds the `--kafka-option` properties to a client configuration.
pub fn with_client_options(c: &mut ClientConfig) -> &mut ClientConfig {
    for (k, v) in CLIENT_OPTIONS.read().expect("options lock").iter() {
        c.set(k, v);
    }
    c
}
