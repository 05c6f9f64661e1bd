//! What running several nodes on one Kafka cluster needs beyond one node (CONTRACT.md "Running
//! several nodes on one Kafka cluster"): a node's name, how far it is behind the topics (so a
//! load balancer can route around a node that is catching up), which peers are proxies whose
//! `X-Forwarded-For` names the real client, and `--kafka-option KEY=VALUE` parsing.

use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// A node whose lag stays above this many records ...
pub const LAG_LIMIT: u64 = 10_000;
/// ... for longer than this answers `/healthz` with 503.
pub const LAG_GRACE: Duration = Duration::from_secs(10);

/// The default node name: the host name and the HTTP port.
pub fn default_node_id(port: u16) -> String {
    let host = ["/proc/sys/kernel/hostname", "/etc/hostname"]
        .iter()
        .find_map(|p| {
            std::fs::read_to_string(p)
                .ok()
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
        })
        .or_else(|| std::env::var("HOSTNAME").ok().filter(|s| !s.is_empty()))
        .unwrap_or_else(|| "localhost".into());
    format!("{host}:{port}")
}

/// Records in the topics that this node has not applied yet, measured by the tally consumer
/// (high watermarks minus applied offsets), and since when it has been above [`LAG_LIMIT`].
#[derive(Debug, Default)]
pub struct Lag {
    records: AtomicU64,
    over_since: Mutex<Option<Instant>>,
}

impl Lag {
    /// Records a new measurement taken at `now`.
    pub fn record(&self, records: u64, now: Instant) {
        self.records.store(records, Ordering::Relaxed);
        let mut over = self.over_since.lock().expect("lag lock");
        if records > LAG_LIMIT {
            over.get_or_insert(now);
        } else {
            *over = None;
        }
    }

    /// The last measured lag (0 before the first measurement).
    pub fn records(&self) -> u64 {
        self.records.load(Ordering::Relaxed)
    }

    /// Why the node should be routed around at `now`: its lag has stayed above [`LAG_LIMIT`]
    /// for more than [`LAG_GRACE`].
    pub fn behind_at(&self, now: Instant) -> Option<String> {
        let since = (*self.over_since.lock().expect("lag lock"))?;
        let for_ = now.saturating_duration_since(since);
        (for_ > LAG_GRACE).then(|| {
            format!(
                "catching up: {} records not yet applied (more than {LAG_LIMIT} for {} s)",
                self.records(),
                for_.as_secs()
            )
        })
    }

    pub fn behind(&self) -> Option<String> {
        self.behind_at(Instant::now())
    }
}

/// An address or network (`ADDR` or `ADDR/BITS`) given with `--trusted-proxy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpNet {
    addr: IpAddr,
    bits: u8,
}

impl std::str::FromStr for IpNet {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("{s:?} is not an IP address or network (ADDR or ADDR/BITS)");
        let (addr, bits) = match s.trim().split_once('/') {
            Some((a, b)) => (a, Some(b.parse::<u8>().map_err(|_| bad())?)),
            None => (s.trim(), None),
        };
        let addr: IpAddr = addr.parse().map_err(|_| bad())?;
        let addr = addr.to_canonical();
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let bits = bits.unwrap_or(max);
        if bits > max {
            return Err(bad());
        }
        Ok(IpNet { addr, bits })
    }
}

impl IpNet {
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        let keep = |len: u32| -> u128 {
            if self.bits == 0 {
                0
            } else {
                u128::MAX << (len - self.bits as u32)
            }
        };
        match (self.addr, ip) {
            (IpAddr::V4(a), IpAddr::V4(b)) => {
                let m = keep(32);
                (u32::from(a) as u128 & m) == (u32::from(b) as u128 & m)
            }
            (IpAddr::V6(a), IpAddr::V6(b)) => {
                let m = keep(128);
                (u128::from(a) & m) == (u128::from(b) & m)
            }
            _ => false,
        }
    }
}

/// The client a request is from: the TCP peer, or — when the peer is a trusted proxy — the
/// address that proxy appended to `X-Forwarded-For`. Entries are read right to left (each proxy
/// appends), skipping trusted proxies; anything a client wrote itself sits further left and is
/// never believed. A malformed entry ends the walk at the last trusted hop.
pub fn forwarded_client(
    peer: SocketAddr,
    trusted: &[IpNet],
    forwarded_for: &[&[u8]],
) -> SocketAddr {
    let is_trusted = |ip: IpAddr| trusted.iter().any(|n| n.contains(ip));
    if !is_trusted(peer.ip()) {
        return peer;
    }
    let entries = forwarded_for
        .iter()
        .flat_map(|h| h.split(|b| *b == b','))
        .collect::<Vec<_>>();
    let mut client = peer;
    for raw in entries.into_iter().rev() {
        let Some(ip) = std::str::from_utf8(raw)
            .ok()
            .and_then(|s| parse_forwarded_ip(s.trim()))
        else {
            return client;
        };
        client = SocketAddr::new(ip, 0);
        if !is_trusted(ip) {
            return client;
        }
    }
    client
}

/// An `X-Forwarded-For` entry: an address, possibly with a port (`1.2.3.4:5`, `[::1]:5`).
fn parse_forwarded_ip(s: &str) -> Option<IpAddr> {
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Some(ip.to_canonical());
    }
    s.parse::<SocketAddr>().ok().map(|a| a.ip().to_canonical())
}

/// librdkafka properties `--kafka-option` may not change: acknowledgement, ordering of one voter's
/// ballots through retries, and offsets kept in redb rather than in Kafka depend on them.
const GUARANTEES: [&str; 9] = [
    "acks",
    "request.required.acks",
    "enable.idempotence",
    "max.in.flight.requests.per.connection",
    "max.in.flight",
    "enable.auto.commit",
    "enable.auto.offset.store",
    "auto.offset.reset",
    "group.id",
];

/// Parses `--kafka-option KEY=VALUE`.
pub fn parse_kafka_option(s: &str) -> Result<(String, String), String> {
    let (k, v) = s
        .split_once('=')
        .ok_or_else(|| format!("{s:?} is not KEY=VALUE (a librdkafka property)"))?;
    let k = k.trim();
    if k.is_empty() || k.contains(char::is_whitespace) {
        return Err(format!("{s:?}: the property name is empty or has spaces"));
    }
    if k == "bootstrap.servers" {
        return Err("bootstrap.servers is set with --brokers".into());
    }
    if GUARANTEES.contains(&k) {
        return Err(format!(
            "{k} is livepoll's own setting: it carries the guarantee that an acknowledged vote is \
             kept, in order, and applied exactly once (see docs/kafka.md)"
        ));
    }
    Ok((k.to_string(), v.trim().to_string()))
}

/// Refuses `--kafka-option`s librdkafka does not know or accept, before any client is made.
pub fn check_kafka_options(options: &[(String, String)]) -> Result<(), String> {
    for (k, v) in options {
        let mut c = rdkafka::ClientConfig::new();
        c.set(k, v);
        c.create_native_config()
            .map_err(|e| format!("--kafka-option {k}={v}: {e}"))?;
    }
    Ok(())
}

/// The replication factor for topics livepoll creates: `given`, else 1 on the bundled broker,
/// else min(3, brokers in the cluster). Blocking: asks the cluster for its brokers.
pub fn replication_factor(given: Option<i32>, bundled: bool, brokers: &str) -> anyhow::Result<i32> {
    if let Some(n) = given {
        return Ok(n);
    }
    if bundled {
        return Ok(1);
    }
    use rdkafka::consumer::{BaseConsumer, Consumer};
    let c: BaseConsumer = crate::kafka::consumer_config(brokers).create()?;
    let md = c.fetch_metadata(None, Duration::from_secs(10))?;
    Ok((md.brokers().len() as i32).clamp(1, 3))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lag_turns_behind_only_after_staying_high_for_the_grace_period() {
        let lag = Lag::default();
        let t = Instant::now();
        assert_eq!(lag.behind_at(t), None);
        lag.record(LAG_LIMIT + 1, t);
        assert_eq!(lag.behind_at(t + LAG_GRACE), None);
        assert!(
            lag.behind_at(t + LAG_GRACE + Duration::from_secs(1))
                .is_some()
        );
        lag.record(LAG_LIMIT + 5, t + Duration::from_secs(5));
        assert!(
            lag.behind_at(t + LAG_GRACE + Duration::from_secs(1))
                .is_some(),
            "a later high measurement keeps the first instant"
        );
        lag.record(LAG_LIMIT, t + Duration::from_secs(12));
        assert_eq!(lag.behind_at(t + Duration::from_secs(30)), None);
        assert_eq!(lag.records(), LAG_LIMIT);
    }

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies() {
        let trusted: Vec<IpNet> = vec!["127.0.0.1".parse().unwrap(), "10.0.0.0/8".parse().unwrap()];
        let proxy: SocketAddr = "127.0.0.1:5000".parse().unwrap();
        let stranger: SocketAddr = "192.0.2.9:5000".parse().unwrap();
        let ip = |a: SocketAddr| a.ip().to_string();
        assert_eq!(
            ip(forwarded_client(proxy, &trusted, &[b"198.51.100.4"])),
            "198.51.100.4"
        );
        assert_eq!(
            ip(forwarded_client(stranger, &trusted, &[b"198.51.100.4"])),
            "192.0.2.9"
        );
        // A client's own header is further left than what the proxies appended.
        assert_eq!(
            ip(forwarded_client(
                proxy,
                &trusted,
                &[b"6.6.6.6, 198.51.100.4, 10.1.2.3"]
            )),
            "198.51.100.4"
        );
        assert_eq!(
            ip(forwarded_client(
                proxy,
                &trusted,
                &[b"6.6.6.6", b"198.51.100.4:1234"]
            )),
            "198.51.100.4"
        );
        assert_eq!(
            ip(forwarded_client(proxy, &trusted, &[b"junk"])),
            "127.0.0.1"
        );
        assert_eq!(ip(forwarded_client(proxy, &trusted, &[])), "127.0.0.1");
        assert_eq!(
            ip(forwarded_client(proxy, &[], &[b"198.51.100.4"])),
            "127.0.0.1"
        );
        assert_eq!(
            ip(forwarded_client(proxy, &trusted, &[b"[2001:db8::1]:80"])),
            "2001:db8::1"
        );
    }

    #[test]
    fn networks_and_options_parse_with_clear_errors() {
        let n: IpNet = "10.0.0.0/8".parse().unwrap();
        assert!(n.contains("10.200.0.1".parse().unwrap()));
        assert!(n.contains("::ffff:10.0.0.1".parse().unwrap()));
        assert!(!n.contains("11.0.0.1".parse().unwrap()));
        assert!(
            "0.0.0.0/0"
                .parse::<IpNet>()
                .unwrap()
                .contains("8.8.8.8".parse().unwrap())
        );
        assert!(
            "::1"
                .parse::<IpNet>()
                .unwrap()
                .contains("::1".parse().unwrap())
        );
        assert!("10.0.0.0/33".parse::<IpNet>().is_err());
        assert!("proxy.local".parse::<IpNet>().is_err());
        assert_eq!(
            parse_kafka_option("security.protocol=SASL_SSL").unwrap(),
            ("security.protocol".into(), "SASL_SSL".into())
        );
        assert_eq!(parse_kafka_option("sasl.password=a=b").unwrap().1, "a=b");
        assert!(parse_kafka_option("novalue").is_err());
        assert!(parse_kafka_option("=x").is_err());
        assert!(parse_kafka_option("bootstrap.servers=x:9092").is_err());
        assert!(parse_kafka_option("enable.idempotence=true").is_err());
        assert!(parse_kafka_option("acks=1").is_err());
        assert!(check_kafka_options(&[("client.rack".into(), "a".into())]).is_ok());
        let e = check_kafka_options(&[("no.such.property".into(), "1".into())]).unwrap_err();
        assert!(e.contains("no.such.property"), "{e}");
    }
}
