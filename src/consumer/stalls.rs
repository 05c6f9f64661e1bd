//! Partitions whose consumption stopped at a record this node cannot apply.
//!
//! A record from a newer livepoll (a newer schema version, an unknown type), or one whose
//! application panicked, is not skipped: skipping it could make this node's state differ from a
//! node that can read it. Its partition stops at that offset (the offset is not committed, so a
//! restart stops there again), the other partitions go on, and `/healthz` answers 503 with the
//! reason until a livepoll that can read it is started. Every node stops at the same record.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

/// (topic, partition) → (offset, reason).
type Stopped = BTreeMap<(String, i32), (i64, String)>;

/// Stopped partitions. Cheap to clone.
#[derive(Clone, Default)]
pub struct Stalls(Arc<Mutex<Stopped>>);

impl Stalls {
    /// Stops `topic`/`partition` at `offset`; the first reason recorded stays.
    pub fn stop(&self, topic: &str, partition: i32, offset: i64, why: &str) {
        let mut map = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let key = (topic.to_string(), partition);
        if map.contains_key(&key) {
            return;
        }
        let reason = format!("record at {topic}/{partition}@{offset} {why}");
        tracing::error!("consumption of {topic}/{partition} stopped: {reason}");
        map.insert(key, (offset, reason));
    }

    /// Whether this partition has stopped.
    pub fn stopped(&self, topic: &str, partition: i32) -> bool {
        let map = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        map.contains_key(&(topic.to_string(), partition))
    }

    /// Ok, or why this node has stopped consuming (every stopped partition, one per line).
    pub fn check(&self) -> Result<(), String> {
        let map = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if map.is_empty() {
            return Ok(());
        }
        Err(map
            .values()
            .map(|(_, r)| r.as_str())
            .collect::<Vec<_>>()
            .join("; "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stop_is_reported_with_its_record_and_kept_once() {
        let s = Stalls::default();
        assert_eq!(s.check(), Ok(()));
        s.stop("livepoll.votes", 1, 1234, "has schema v2");
        s.stop("livepoll.votes", 1, 1300, "later");
        assert!(s.stopped("livepoll.votes", 1) && !s.stopped("livepoll.votes", 0));
        assert_eq!(
            s.check(),
            Err("record at livepoll.votes/1@1234 has schema v2".into())
        );
    }
}
