//! Refusing a tally database built from another log: offsets past the log's end, or a polls
//! topic whose first record is not the one the database started from.

use std::time::{Duration, Instant};

use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};

use crate::kafka::consumer_config;
use crate::store::TallyStore;

/// Refuses a tally database that has consumed further than the log goes: it was built from
/// another log (the data dir's broker switched engine, its `kafka/` was deleted, or `--brokers`
/// names another cluster). Consuming from there would skip every new record below the stored
/// offset: votes acknowledged with 202 and never counted.
pub(super) fn check_same_log(
    consumer: &StreamConsumer,
    stored: &std::collections::BTreeMap<(String, i32), u64>,
    topics: &[&str],
) -> anyhow::Result<()> {
    for ((topic, partition), next) in stored {
        if !topics.contains(&topic.as_str()) {
            continue;
        }
        let (_, high) = consumer.fetch_watermarks(topic, *partition, Duration::from_secs(10))?;
        if *next > high.max(0) as u64 {
            return Err(crate::cli::ConfigError(format!(
                "the tally database has read {topic} partition {partition} up to offset {next}, but \
                 that log ends at {high}: it belongs to another Kafka log (another broker engine, a \
                 deleted kafka/ directory, or another cluster). Point livepoll at the log it was \
                 built from, or delete tallies.redb in the data dir to rebuild it from this log"
            ))
            .into());
        }
    }
    Ok(())
}

/// Refuses a tally database whose recorded first record of the polls topic is not this log's
/// (another log that has not reached the stored offsets yet passes [`check_same_log`]); records
/// it when the database has none yet.
pub(super) fn check_first_record(
    brokers: &str,
    consumer: &StreamConsumer,
    store: &TallyStore,
    topic: &str,
) -> anyhow::Result<()> {
    let (low, high) = consumer.fetch_watermarks(topic, 0, Duration::from_secs(10))?;
    let recorded = store.identity()?.first_record;
    let at = match &recorded {
        Some((offset, _)) if (*offset as i64) < low => return Ok(()), // gone by retention
        Some((offset, _)) => *offset as i64,
        None if high > low => low,
        None => return Ok(()),
    };
    let hash = (at < high)
        .then(|| read_record(brokers, topic, at))
        .transpose()?
        .map(|v| crate::identity::record_hash(&v.unwrap_or_default()));
    match (recorded, hash) {
        (None, Some(h)) => store.record_first_record(at as u64, &h)?,
        (Some((_, h)), Some(now)) if h == now => {}
        (Some(_), _) => {
            return Err(crate::cli::ConfigError(format!(
                "the tally database was built from another log: the record at {topic}/0@{at} is                  not the one it started from (another broker, a deleted kafka/ directory, or                  another cluster). Point livepoll at the log it was built from, or delete                  tallies.redb in the data dir to rebuild it from this log"
            ))
            .into());
        }
        (None, None) => {}
    }
    Ok(())
}

/// The value of one record, read by a consumer of its own.
fn read_record(brokers: &str, topic: &str, offset: i64) -> anyhow::Result<Option<Vec<u8>>> {
    use rdkafka::consumer::BaseConsumer;
    let c: BaseConsumer = consumer_config(brokers).create()?;
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic, 0, Offset::Offset(offset))?;
    c.assign(&tpl)?;
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        match c.poll(Duration::from_millis(200)) {
            Some(Ok(m)) if m.offset() == offset => return Ok(m.payload().map(<[u8]>::to_vec)),
            Some(Ok(_)) | None => {}
            Some(Err(e)) => return Err(e.into()),
        }
    }
    anyhow::bail!("reading {topic}/0@{offset} timed out")
}
