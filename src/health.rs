//! Is Kafka reachable and is the tally consumer applying? Probed in the background once a
//! second so `/healthz` and vote intake answer at once instead of waiting on a dead broker.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::kafka::VoteProducer;

pub const PROBE_INTERVAL: Duration = Duration::from_secs(1);
const PROBE_TIMEOUT: Duration = Duration::from_millis(1500);

/// Shared health flags; cheap to clone.
#[derive(Clone)]
pub struct Health {
    kafka: Arc<RwLock<Result<(), String>>>,
    consumer: Arc<AtomicBool>,
}

impl Health {
    pub fn new(consumer: Arc<AtomicBool>) -> Self {
        Health {
            kafka: Arc::new(RwLock::new(Ok(()))),
            consumer,
        }
    }

    /// Ok, or the reason livepoll cannot take votes now.
    pub fn check(&self) -> Result<(), String> {
        self.kafka.read().expect("health lock").clone()?;
        if !self.consumer.load(Ordering::Relaxed) {
            return Err("the tally consumer cannot write to the tally database".into());
        }
        Ok(())
    }

    pub fn kafka_ok(&self) -> bool {
        self.kafka.read().expect("health lock").is_ok()
    }

    /// Probes Kafka until cancelled.
    pub async fn run(self, producer: VoteProducer, topic: String, cancel: CancellationToken) {
        loop {
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
            *self.kafka.write().expect("health lock") =
                result.map_err(|e| format!("Kafka unavailable: {e}"));
            tokio::select! {
                _ = tokio::time::sleep(PROBE_INTERVAL) => {}
                _ = cancel.cancelled() => return,
            }
        }
    }
}
