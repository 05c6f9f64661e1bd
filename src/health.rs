//! Is Kafka reachable, does it take our writes, and is the tally consumer applying? Probed in
//! the background once a second so `/healthz` and vote intake answer at once instead of waiting
//! on a dead broker.
//!
//! The probe is a metadata request through the vote producer's own client. Once it succeeds,
//! the probe also checks that the producer makes progress ([`VoteProducer::replace_if_stalled`]):
//! a producer with only failed deliveries since the broker came back is replaced, so livepoll
//! recovers from any client state an outage leaves behind without anybody restarting it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use crate::kafka::VoteProducer;

/// How long the tally consumer may still fail to write once a full disk has space again before
/// serve starts itself again to reopen the database (see [`crate::disk`]).
const WEDGED_AFTER: Duration = Duration::from_secs(5);

pub const PROBE_INTERVAL: Duration = Duration::from_secs(1);
const PROBE_TIMEOUT: Duration = Duration::from_millis(1500);

/// Shared health flags; cheap to clone.
#[derive(Clone)]
pub struct Health {
    kafka: Arc<RwLock<Result<(), String>>>,
    /// Fresh producers keep failing although the broker answers metadata requests.
    writes_stalled: Arc<AtomicBool>,
    consumer: Arc<AtomicBool>,
    /// This node's name in a deployment of several (`--node-id`).
    node: Arc<str>,
    /// Open files: the shares of connections and attendee streams, and what is held.
    descriptors: crate::descriptors::Budget,
    /// Where the node writes (the tally database, the bundled broker's log).
    disks: crate::disk::Watched,
    /// Why a watched disk is full, while it is.
    disk_full: Arc<RwLock<Option<String>>>,
}

impl Health {
    pub fn new(consumer: Arc<AtomicBool>) -> Self {
        Health {
            kafka: Arc::new(RwLock::new(Ok(()))),
            writes_stalled: Arc::new(AtomicBool::new(false)),
            consumer,
            node: "".into(),
            descriptors: crate::descriptors::Budget::unlimited(),
            disks: crate::disk::Watched::default(),
            disk_full: Arc::new(RwLock::new(None)),
        }
    }

    /// The same flags, also watching the free space of these places.
    pub fn with_disks(mut self, disks: crate::disk::Watched) -> Self {
        self.disks = disks;
        self
    }

    /// Why this node cannot apply what it would acknowledge now (a full disk, a tally
    /// database that refuses writes), if so: votes are then refused instead of taken.
    pub fn cannot_apply(&self) -> Option<String> {
        if let Some(full) = self.disk_full.read().expect("health lock").clone() {
            return Some(full);
        }
        (!self.consumer.load(Ordering::Relaxed))
            .then(|| "the tally consumer cannot write to the tally database".to_string())
    }

    /// The same flags, with this budget of open files.
    pub fn with_descriptors(mut self, budget: crate::descriptors::Budget) -> Self {
        self.descriptors = budget;
        self
    }

    /// The open-files budget connections and attendee streams take places from.
    pub fn descriptors(&self) -> &crate::descriptors::Budget {
        &self.descriptors
    }

    /// The same flags, reported under this node name.
    pub fn with_node(mut self, node: &str) -> Self {
        self.node = node.into();
        self
    }

    /// This node's name (`--node-id`).
    pub fn node(&self) -> &str {
        &self.node
    }

    /// Ok, or the reason livepoll cannot take votes now.
    pub fn check(&self) -> Result<(), String> {
        if let Some(full) = self.disk_full.read().expect("health lock").clone() {
            return Err(full);
        }
        self.kafka.read().expect("health lock").clone()?;
        if self.writes_stalled() {
            return Err(
                "Kafka unavailable: the broker answers but has accepted no write since it came back"
                    .into(),
            );
        }
        if !self.consumer.load(Ordering::Relaxed) {
            return Err("the tally consumer cannot write to the tally database".into());
        }
        Ok(())
    }

    /// Whether a broker answers. Vote intake tries the broker whenever this holds (even while
    /// writes are stalled: a vote that goes through is how recovery shows).
    pub fn kafka_ok(&self) -> bool {
        self.kafka.read().expect("health lock").is_ok()
    }

    /// Fresh producers were replaced twice in a row without a delivery while the broker answers
    /// metadata: the broker is up but wedged (the bundled broker's watcher restarts it).
    pub fn writes_stalled(&self) -> bool {
        self.writes_stalled.load(Ordering::Relaxed)
    }

    /// Probes Kafka until cancelled.
    pub async fn run(self, producer: VoteProducer, topic: String, cancel: CancellationToken) {
        // Since when the broker has answered without a break.
        let mut reachable_since: Option<Instant> = None;
        let mut disks = DiskWatch::default();
        loop {
            disks.probe(&self);
            let p = producer.clone();
            let t = topic.clone();
            let result = tokio::task::spawn_blocking(move || p.probe(&t, PROBE_TIMEOUT))
                .await
                .unwrap_or_else(|e| Err(format!("probe panicked: {e}")));
            let was_ok = self.kafka_ok();
            match &result {
                Err(e) if was_ok => tracing::warn!("Kafka unavailable: {e}"),
                Ok(()) if !was_ok => tracing::info!("Kafka is reachable again"),
                _ => {}
            }
            if result.is_ok() {
                let since = *reachable_since.get_or_insert_with(Instant::now);
                producer.replace_if_stalled(since);
            } else {
                reachable_since = None;
            }
            self.writes_stalled
                .store(producer.writes_stalled(), Ordering::Relaxed);
            *self.kafka.write().expect("health lock") =
                result.map_err(|e| format!("Kafka unavailable: {e}"));
            tokio::select! {
                _ = tokio::time::sleep(PROBE_INTERVAL) => {}
                _ = cancel.cancelled() => return,
            }
        }
    }
}

/// What the probe remembers about the disks between two rounds.
#[derive(Default)]
struct DiskWatch {
    /// A disk was full since the tally consumer last wrote.
    full_while_failing: bool,
    /// Since when every disk has room again while the consumer still fails.
    room_since: Option<Instant>,
}

impl DiskWatch {
    /// Reports a full disk (logged when it fills and when it has room again), and starts serve
    /// again in place when the tally database stays wedged after the space came back.
    fn probe(&mut self, health: &Health) {
        let full = health.disks.short_of(crate::disk::FULL_BELOW);
        let mut slot = health.disk_full.write().expect("health lock");
        match (&*slot, &full) {
            (None, Some(reason)) => tracing::error!("{reason}; votes are refused meanwhile"),
            (Some(_), None) => tracing::info!("the disk has room again"),
            _ => {}
        }
        *slot = full.clone();
        drop(slot);
        if health.consumer.load(Ordering::Relaxed) {
            *self = DiskWatch::default();
            return;
        }
        if full.is_some() {
            self.full_while_failing = true;
            self.room_since = None;
            return;
        }
        if !self.full_while_failing || health.disks.short_of(crate::disk::FREE_AGAIN).is_some() {
            return;
        }
        let since = *self.room_since.get_or_insert_with(Instant::now);
        if since.elapsed() >= WEDGED_AFTER {
            crate::disk::restart_in_place(
                "the disk has room again but the tally database still refuses writes since it \
                 was full",
            );
            self.room_since = None;
        }
    }
}
