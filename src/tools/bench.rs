//! `livepoll bench`: the baselines and loads that `scripts/bench.sh` measures livepoll against.
//!
//! - `produce`: librdkafka alone, with livepoll's own producer settings (acks=all, one request in flight),
//!   appending vote-sized records as fast as the broker takes them. With `--poll` the records are
//!   real votes for that poll, which is how the benchmark fills the log for the rebuild test.
//! - `consume`: librdkafka alone, with livepoll's consumer settings, reading a topic from the
//!   start to its end: the baseline for rebuilding tallies.
//! - `sse`: holds many `/api/events` streams open, as phones and screens do.
//! - `fanout`: phones holding the attendee stream while they vote in a burst (src/tools/fanout.rs).
//!
//! Each prints its figure as `key=value` on stdout (for scripts) and a sentence on stderr.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use clap::{Args, Subcommand};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::RDKafkaErrorCode;
use rdkafka::message::Message;
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};
use rdkafka::{ClientContext, Offset, TopicPartitionList};

use crate::domain::events::VoteEvent;
use crate::domain::vote::Ballot;
use crate::kafka::{Topics, consumer_config, ensure_topics, partition_count, producer_config};

#[derive(Debug, Clone, Subcommand)]
pub enum BenchCommand {
    /// Append vote-sized records with livepoll's producer settings, as fast as possible.
    Produce(ProduceArgs),
    /// Read a topic from its start to its current end with livepoll's consumer settings.
    Consume(ConsumeArgs),
    /// Hold SSE streams open against a server.
    Sse(SseArgs),
    /// Phones holding the attendee stream open while they vote in a burst: how current each
    /// stays, and the intake achieved (src/tools/fanout.rs).
    Fanout(crate::tools::fanout::FanoutArgs),
}

#[derive(Debug, Clone, Args)]
pub struct ProduceArgs {
    #[arg(long)]
    pub brokers: String,
    #[arg(long)]
    pub topic: String,
    #[arg(long, default_value_t = 1_000_000)]
    pub messages: u64,
    /// Instead of --messages: append until the topic holds this many records in all.
    #[arg(long)]
    pub fill_to: Option<u64>,
    /// At most this many unacknowledged records at a time (0: no limit), to mimic that many
    /// HTTP clients each waiting for their vote's answer.
    #[arg(long, default_value_t = 0)]
    pub in_flight: u64,
    /// Partitions if the topic has to be created.
    #[arg(long, default_value_t = 6)]
    pub partitions: i32,
    /// Write valid votes for this poll (with --uid and --round); otherwise votes for "bench".
    #[arg(long, default_value = "bench")]
    pub poll: String,
    #[arg(long, default_value_t = 0)]
    pub uid: u64,
    #[arg(long, default_value_t = 1)]
    pub round: u32,
    /// Distinct voters the records are spread over.
    #[arg(long, default_value_t = 100_000)]
    pub voters: u64,
    /// Options of the poll (choices are spread over them).
    #[arg(long, default_value_t = 4)]
    pub options: u32,
}

#[derive(Debug, Clone, Args)]
pub struct ConsumeArgs {
    #[arg(long)]
    pub brokers: String,
    #[arg(long)]
    pub topic: String,
}

#[derive(Debug, Clone, Args)]
pub struct SseArgs {
    #[arg(long)]
    pub url: String,
    #[arg(long, default_value_t = 5000)]
    pub streams: usize,
    /// Keep them open this long (seconds).
    #[arg(long, default_value_t = 30)]
    pub seconds: u64,
}

pub async fn run(cmd: BenchCommand) -> anyhow::Result<()> {
    match cmd {
        BenchCommand::Produce(a) => {
            // The same layout as livepoll's votes topic (a polls topic comes along, unused).
            let topics = Topics {
                votes: a.topic.clone(),
                polls: format!("{}.polls", a.topic),
                qa: format!("{}.qa", a.topic),
            };
            ensure_topics(&a.brokers, &topics, a.partitions).await?;
            tokio::task::spawn_blocking(move || produce(&a)).await?
        }
        BenchCommand::Consume(a) => tokio::task::spawn_blocking(move || consume(&a)).await?,
        BenchCommand::Sse(a) => sse(&a).await,
        BenchCommand::Fanout(a) => crate::tools::fanout::run(a).await,
    }
}

/// A voter id as long as livepoll's (22 characters), so records have the real size.
pub fn bench_voter(i: u64) -> String {
    format!("b{i:021}")
}

#[derive(Default)]
struct Deliveries {
    ok: AtomicU64,
    failed: AtomicU64,
}

impl ClientContext for Deliveries {}

impl ProducerContext for Deliveries {
    type DeliveryOpaque = ();
    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        match result {
            Ok(_) => self.ok.fetch_add(1, Ordering::Relaxed),
            Err(_) => self.failed.fetch_add(1, Ordering::Relaxed),
        };
    }
}

/// How many records the topic holds (the sum of its partitions' high watermarks).
fn topic_size(brokers: &str, topic: &str) -> anyhow::Result<u64> {
    let consumer: BaseConsumer = consumer_config(brokers).create()?;
    let mut total = 0;
    for p in 0..partition_count(&consumer, topic)? {
        total += consumer
            .fetch_watermarks(topic, p, Duration::from_secs(10))?
            .1 as u64;
    }
    Ok(total)
}

fn produce(a: &ProduceArgs) -> anyhow::Result<()> {
    let mut a = a.clone();
    if let Some(target) = a.fill_to {
        a.messages = target.saturating_sub(topic_size(&a.brokers, &a.topic)?);
    }
    let a = &a;
    // livepoll's settings, except that a benchmark queues far more than a vote request ever
    // waits behind, so records get time to be delivered rather than a 5 s deadline.
    let producer: ThreadedProducer<Deliveries> = producer_config(&a.brokers)
        .set("message.timeout.ms", "120000")
        .set("queue.buffering.max.messages", "200000")
        .create_with_context(Deliveries::default())?;
    let now = crate::state::now_ms();
    let mut bytes = 0u64;
    let start = Instant::now();
    for i in 0..a.messages {
        let voter = bench_voter(i % a.voters.max(1));
        let event = VoteEvent {
            v: 1,
            at: now,
            poll: a.poll.clone(),
            uid: a.uid,
            round: a.round,
            voter,
            ballot: Ballot::Choices(vec![(i % u64::from(a.options.max(1))) as u16]),
            quiz: None,
            stamp: None,
        };
        let payload = serde_json::to_vec(&event)?;
        bytes += payload.len() as u64;
        if a.in_flight > 0 {
            let ctx = producer.context();
            while i - ctx.ok.load(Ordering::Relaxed) - ctx.failed.load(Ordering::Relaxed)
                >= a.in_flight
            {
                std::thread::sleep(Duration::from_micros(100));
            }
        }
        let mut record = BaseRecord::to(&a.topic).key(&event.voter).payload(&payload);
        loop {
            match producer.send(record) {
                Ok(()) => break,
                Err((e, r)) if e.rdkafka_error_code() == Some(RDKafkaErrorCode::QueueFull) => {
                    record = r;
                    std::thread::sleep(Duration::from_millis(1));
                }
                Err((e, _)) => return Err(e.into()),
            }
        }
    }
    producer.flush(Duration::from_secs(120))?;
    let secs = start.elapsed().as_secs_f64();
    let ctx = producer.context();
    let ok = ctx.ok.load(Ordering::Relaxed);
    let failed = ctx.failed.load(Ordering::Relaxed);
    anyhow::ensure!(failed == 0, "{failed} records were not acknowledged");
    eprintln!(
        "bench produce: {ok} records of {} bytes acknowledged in {secs:.2}s: {:.0} records/s",
        bytes / a.messages.max(1),
        ok as f64 / secs
    );
    println!("produced={ok}");
    println!("record_bytes={}", bytes / a.messages.max(1));
    println!("produce_rate={:.0}", ok as f64 / secs);
    Ok(())
}

fn consume(a: &ConsumeArgs) -> anyhow::Result<()> {
    let consumer: BaseConsumer = consumer_config(&a.brokers).create()?;
    let partitions = partition_count(&consumer, &a.topic)?;
    let mut tpl = TopicPartitionList::new();
    let mut ends = Vec::new();
    for p in 0..partitions {
        let (_, high) = consumer.fetch_watermarks(&a.topic, p, Duration::from_secs(10))?;
        ends.push(high);
        tpl.add_partition_offset(&a.topic, p, Offset::Beginning)?;
    }
    let total: i64 = ends.iter().sum();
    consumer.assign(&tpl)?;
    let start = Instant::now();
    let mut read = 0i64;
    let mut bytes = 0u64;
    let mut done = vec![false; partitions as usize];
    for (p, end) in ends.iter().enumerate() {
        done[p] = *end == 0;
    }
    while !done.iter().all(|d| *d) {
        match consumer.poll(Duration::from_secs(10)) {
            Some(Ok(m)) => {
                read += 1;
                bytes += m.payload().map_or(0, <[u8]>::len) as u64;
                let p = m.partition() as usize;
                if m.offset() + 1 >= ends[p] {
                    done[p] = true;
                }
            }
            Some(Err(e)) => return Err(e.into()),
            None => anyhow::bail!("no record for 10 s after {read} of {total}"),
        }
    }
    let secs = start.elapsed().as_secs_f64();
    eprintln!(
        "bench consume: {read} records ({:.1} MB) read in {secs:.2}s: {:.0} records/s",
        bytes as f64 / 1e6,
        read as f64 / secs
    );
    println!("consumed={read}");
    println!("consume_rate={:.0}", read as f64 / secs);
    Ok(())
}

async fn sse(a: &SseArgs) -> anyhow::Result<()> {
    use futures::StreamExt;
    let connected = Arc::new(AtomicU64::new(0));
    let events = Arc::new(AtomicU64::new(0));
    let url = format!("{}/api/events", a.url.trim_end_matches('/'));
    let mut tasks = Vec::with_capacity(a.streams);
    for _ in 0..a.streams {
        // One client per stream: each phone is its own connection.
        let client = reqwest::Client::builder().build()?;
        let (url, connected, events) = (url.clone(), connected.clone(), events.clone());
        tasks.push(tokio::spawn(async move {
            let Ok(res) = client.get(&url).send().await else {
                return;
            };
            if !res.status().is_success() {
                return;
            }
            connected.fetch_add(1, Ordering::Relaxed);
            let mut body = res.bytes_stream();
            while let Some(Ok(_)) = body.next().await {
                events.fetch_add(1, Ordering::Relaxed);
            }
            connected.fetch_sub(1, Ordering::Relaxed);
        }));
    }
    let deadline = Instant::now() + Duration::from_secs(a.seconds);
    let mut announced = false;
    while Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let n = connected.load(Ordering::Relaxed) as usize;
        if n == a.streams && !announced {
            eprintln!("bench sse: {n} streams open");
            println!("sse_open={n}");
            announced = true;
        }
    }
    let n = connected.load(Ordering::Relaxed);
    eprintln!(
        "bench sse: {n} of {} streams still open after {}s; {} chunks received",
        a.streams,
        a.seconds,
        events.load(Ordering::Relaxed)
    );
    println!("sse_still_open={n}");
    for t in tasks {
        t.abort();
    }
    Ok(())
}
