//! Token buckets per key (a voter, a client address), so one phone or script cannot flood the
//! log or mint identities without end.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

const SHARDS: usize = 16;
/// A shard is pruned once it holds this many keys, and then whenever it has doubled since.
const PRUNE_FROM: usize = 4096;

/// One shard: each key's tokens and when they were counted.
#[derive(Default)]
struct Shard {
    buckets: HashMap<String, (f64, Instant)>,
    /// Prune when `buckets` grows to this.
    prune_at: usize,
}

/// Allows `burst` requests at once and `per_sec` sustained, per key.
pub struct RateLimiter {
    burst: f64,
    per_sec: f64,
    shards: Vec<Mutex<Shard>>,
}

impl RateLimiter {
    pub fn new(burst: u32, per_sec: u32) -> Self {
        RateLimiter {
            burst: burst as f64,
            per_sec: per_sec as f64,
            shards: (0..SHARDS).map(|_| Mutex::new(Shard::default())).collect(),
        }
    }

    /// `per_minute` requests a minute sustained, all of them at once after a quiet minute.
    pub fn per_minute(per_minute: u32) -> Self {
        let mut l = RateLimiter::new(per_minute, 0);
        l.per_sec = per_minute as f64 / 60.0;
        l
    }

    /// Takes one token for `key`; false if the bucket is empty.
    pub fn allow(&self, key: &str) -> bool {
        self.allow_at(key, Instant::now()).is_ok()
    }

    /// Takes one token for `key`, or says how long until the next one is there.
    pub fn check(&self, key: &str) -> Result<(), std::time::Duration> {
        self.allow_at(key, Instant::now())
    }

    fn allow_at(&self, key: &str, now: Instant) -> Result<(), std::time::Duration> {
        let shard = key
            .bytes()
            .fold(0usize, |h, b| h.wrapping_mul(31).wrapping_add(b as usize))
            % SHARDS;
        let mut shard = self.shards[shard].lock().expect("limiter lock");
        // Forget keys whose buckets are full again: they are indistinguishable from new ones.
        // Done at sizes that double each time, so the work per call stays constant on average
        // and the memory follows the keys active now, not every key ever seen (every voter of a
        // long event is one).
        if shard.buckets.len() >= shard.prune_at.max(PRUNE_FROM) {
            let (burst, rate) = (self.burst, self.per_sec);
            shard.buckets.retain(|_, (tokens, at)| {
                *tokens + now.duration_since(*at).as_secs_f64() * rate < burst
            });
            shard.prune_at = 2 * shard.buckets.len();
        }
        let map = &mut shard.buckets;
        // One lookup for a key seen before (nearly every call); the key is copied only when new.
        let (tokens, at) = match map.get_mut(key) {
            Some(entry) => entry,
            None => map.entry(key.to_string()).or_insert((self.burst, now)),
        };
        *tokens = (*tokens + now.duration_since(*at).as_secs_f64() * self.per_sec).min(self.burst);
        *at = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            Ok(())
        } else if self.per_sec > 0.0 {
            Err(std::time::Duration::from_secs_f64(
                (1.0 - *tokens) / self.per_sec,
            ))
        } else {
            Err(std::time::Duration::MAX)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_burst_is_allowed_then_refilled_over_time() {
        let l = RateLimiter::new(3, 2);
        let t = Instant::now();
        assert!((0..3).all(|_| l.allow_at("a", t).is_ok()));
        assert!(l.allow_at("a", t).is_err());
        assert!(l.allow_at("b", t).is_ok(), "other voters are not affected");
        assert!(l.allow_at("a", t + Duration::from_millis(500)).is_ok());
        assert!(l.allow_at("a", t + Duration::from_millis(500)).is_err());
    }

    #[test]
    fn keys_whose_buckets_refilled_are_dropped_as_the_map_grows() {
        let held = |l: &RateLimiter| -> usize {
            l.shards
                .iter()
                .map(|s| s.lock().unwrap().buckets.len())
                .sum()
        };
        let l = RateLimiter::new(2, 10);
        let t = Instant::now();
        let keys = 4 * SHARDS * PRUNE_FROM;
        for i in 0..keys {
            assert!(l.allow_at(&format!("voter{i}"), t).is_ok());
        }
        assert_eq!(held(&l), keys, "keys still being limited are all kept");
        // A second later every bucket has refilled: new keys push the old ones out.
        let later = t + Duration::from_secs(1);
        for i in 0..keys {
            assert!(l.allow_at(&format!("later{i}"), later).is_ok());
        }
        assert!(held(&l) < keys * 3 / 2, "{} keys held", held(&l));
        // A key whose bucket is still empty survives a prune.
        let busy = RateLimiter::new(1, 1);
        assert!(busy.allow_at("busy", t).is_ok());
        for i in 0..2 * SHARDS * PRUNE_FROM {
            let _ = busy.allow_at(&format!("k{i}"), t + Duration::from_millis(500));
        }
        assert!(
            busy.allow_at("busy", t + Duration::from_millis(500))
                .is_err(),
            "its half-empty bucket was kept"
        );
    }

    #[test]
    fn a_per_minute_limit_says_when_the_next_request_is_allowed() {
        let l = RateLimiter::per_minute(120);
        let t = Instant::now();
        assert!((0..120).all(|_| l.allow_at("a", t).is_ok()));
        let wait = l.allow_at("a", t).unwrap_err();
        assert_eq!(wait, Duration::from_millis(500), "two a second come back");
        assert!(l.allow_at("a", t + wait).is_ok());
    }
}
