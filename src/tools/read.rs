//! `livepoll kafka read TOPIC`: prints a topic's records as JSON lines. Debian's `kcat` cannot
//! read the bundled broker (its librdkafka asks for fetch versions Tansu does not answer), so
//! livepoll reads with its own client, the one that already works against every broker it
//! supports. See docs/kafka.md "Reading the topics".

use std::io::Write;
use std::time::{Duration, Instant};

use base64::Engine;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};

/// What to read and when to stop.
#[derive(Debug, Clone, clap::Args)]
pub struct ReadArgs {
    /// Start at each partition's first record (default: only records produced from now on).
    #[arg(long)]
    pub from_beginning: bool,
    /// Stop after this many records.
    #[arg(long)]
    pub limit: Option<u64>,
    /// Keep waiting for new records once the end is reached (the default without
    /// --from-beginning).
    #[arg(long)]
    pub follow: bool,
    /// Read from this Kafka cluster instead of the bundled broker.
    #[arg(long, env = "LIVEPOLL_BROKERS")]
    pub brokers: Option<String>,
}

/// Prints the records of `topic` on `brokers` to `out`, one JSON object a line:
/// `{"topic","partition","offset","timestamp","key","value"}` where `value` is the record's
/// JSON when it is JSON, else its text, else `value_base64` carries the bytes. Returns how
/// many were printed.
pub fn read(
    brokers: &str,
    topic: &str,
    args: &ReadArgs,
    out: &mut impl Write,
) -> anyhow::Result<u64> {
    let consumer: BaseConsumer = crate::kafka::consumer_config(brokers)
        .set("client.id", "livepoll-read")
        .create()?;
    let partitions = crate::kafka::partition_count(&consumer, topic)?;
    let mut assignment = TopicPartitionList::new();
    // Where each partition ends now: without --follow, reading stops there.
    let mut ends = Vec::new();
    for p in 0..partitions {
        let (low, high) = consumer.fetch_watermarks(topic, p, Duration::from_secs(10))?;
        let start = if args.from_beginning { low } else { high };
        assignment.add_partition_offset(topic, p, Offset::Offset(start))?;
        ends.push((start, high));
    }
    consumer.assign(&assignment)?;
    let follow = args.follow || !args.from_beginning;
    let caught_up = |ends: &[(i64, i64)]| ends.iter().all(|(next, end)| next >= end);
    let mut printed = 0u64;
    let mut last_record = Instant::now();
    loop {
        if args.limit.is_some_and(|l| printed >= l) || (!follow && caught_up(&ends)) {
            return Ok(printed);
        }
        let Some(msg) = consumer.poll(Duration::from_millis(200)) else {
            // A partition deleted or emptied under us never reaches its old end.
            if !follow && last_record.elapsed() > Duration::from_secs(10) {
                anyhow::bail!("no records for 10 s before the end of {topic} was reached");
            }
            continue;
        };
        let msg = msg?;
        last_record = Instant::now();
        if let Some(e) = ends.get_mut(msg.partition() as usize) {
            e.0 = msg.offset() + 1;
        }
        let mut line = serde_json::json!({
            "topic": msg.topic(),
            "partition": msg.partition(),
            "offset": msg.offset(),
            "timestamp": msg.timestamp().to_millis(),
            "key": msg.key().map(|k| String::from_utf8_lossy(k).into_owned()),
        });
        match msg.payload() {
            None => line["value"] = serde_json::Value::Null,
            Some(bytes) => match serde_json::from_slice::<serde_json::Value>(bytes) {
                Ok(json) => line["value"] = json,
                Err(_) => match std::str::from_utf8(bytes) {
                    Ok(text) => line["value"] = text.into(),
                    Err(_) => {
                        line["value_base64"] = base64::engine::general_purpose::STANDARD
                            .encode(bytes)
                            .into()
                    }
                },
            },
        }
        writeln!(out, "{line}")?;
        out.flush()?;
        printed += 1;
    }
}
