//! The bundled local Kafka broker, managed through `scripts/kafka.sh` (configured from `kafka/`).
//!
//! The scripts are the single place that knows how to install, start, probe and stop a broker;
//! this module only runs them. Inside a source checkout they are used in place; an installed
//! binary carries copies and writes them into the data dir.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const SCRIPT: &str = include_str!("../scripts/kafka.sh");
const TANSU_ENV: &str = include_str!("../kafka/tansu.env");
const SERVER_PROPERTIES: &str = include_str!("../kafka/server.properties");
/// Present while the data dir's broker is one that a `serve` started (kafka.sh knows the name).
const SERVE_MARK: &str = "kafka/started-by-serve";

#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    #[error("{0}")]
    Script(String),
    #[error(
        "port {0} is already in use by another process; pick another --kafka-port, or pass --brokers 127.0.0.1:{0} if it is a Kafka broker you want to use"
    )]
    PortTaken(u16),
    #[error("cannot run the broker script: {0}")]
    Io(#[from] std::io::Error),
}

/// Broker status as `scripts/kafka.sh status` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    Running(String),
    Stopped(String),
    Unresponsive(String),
}

/// Runs `scripts/kafka.sh` for one data dir and port.
#[derive(Debug, Clone)]
pub struct BundledBroker {
    script: PathBuf,
    data_dir: PathBuf,
    port: u16,
}

/// Finds the scripts: `$LIVEPOLL_SCRIPTS_DIR`, the source checkout, or embedded copies written
/// into `data_dir/runtime`.
fn script_path(data_dir: &Path) -> std::io::Result<PathBuf> {
    if let Ok(dir) = std::env::var("LIVEPOLL_SCRIPTS_DIR") {
        return Ok(PathBuf::from(dir).join("kafka.sh"));
    }
    let checkout = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/kafka.sh");
    if checkout.exists() {
        return Ok(checkout);
    }
    let runtime = data_dir.join("runtime");
    std::fs::create_dir_all(runtime.join("scripts"))?;
    std::fs::create_dir_all(runtime.join("kafka"))?;
    let script = runtime.join("scripts/kafka.sh");
    std::fs::write(&script, SCRIPT)?;
    std::fs::write(runtime.join("kafka/tansu.env"), TANSU_ENV)?;
    std::fs::write(runtime.join("kafka/server.properties"), SERVER_PROPERTIES)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755))?;
    }
    Ok(script)
}

impl BundledBroker {
    pub fn new(data_dir: &Path, port: u16) -> std::io::Result<Self> {
        std::fs::create_dir_all(data_dir)?;
        Ok(BundledBroker {
            script: script_path(data_dir)?,
            data_dir: data_dir.to_path_buf(),
            port,
        })
    }

    /// `HOST:PORT` for Kafka clients.
    pub fn bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    fn command(&self, action: &str) -> Command {
        let mut c = Command::new("bash");
        c.arg(&self.script)
            .arg(action)
            .env("LIVEPOLL_DATA_DIR", &self.data_dir)
            .env("KAFKA_PORT", self.port.to_string());
        c
    }

    /// Starts the broker (installing Tansu on first use; its progress goes to our stderr) and
    /// waits until it answers Kafka requests.
    pub fn start(&self) -> Result<(), BrokerError> {
        self.start_watched(None)
    }

    /// Like [`start`](Self::start), but the broker is stopped when process `pid` exits.
    pub fn start_watched(&self, pid: Option<u32>) -> Result<(), BrokerError> {
        let mut c = self.command("start");
        if let Some(pid) = pid {
            c.env("LIVEPOLL_WATCH_PID", pid.to_string());
        }
        let status = c.stdin(Stdio::null()).status()?;
        match status.code() {
            Some(0) => Ok(()),
            Some(4) => Err(BrokerError::PortTaken(self.port)),
            _ => Err(BrokerError::Script(format!(
                "starting the bundled Kafka on port {} failed (see the messages above, and {})",
                self.port,
                self.data_dir.join("kafka/broker.log").display()
            ))),
        }
    }

    /// Starts the broker for `serve` (see [`start`](Self::start)) and marks it as serve's: a
    /// later serve that finds it running (this one crashed or was killed) supervises it and
    /// stops it in turn. `kafka.sh stop`, and a start that is not serve's, remove the mark.
    pub fn start_for_serve(&self) -> Result<(), BrokerError> {
        self.start()?;
        std::fs::write(
            self.data_dir.join(SERVE_MARK),
            b"started by livepoll serve\n",
        )?;
        Ok(())
    }

    /// True if the broker that runs in this data dir was started by a `serve`.
    pub fn started_by_serve(&self) -> bool {
        self.data_dir.join(SERVE_MARK).exists()
    }

    pub fn stop(&self) -> Result<(), BrokerError> {
        let status = self.command("stop").stdin(Stdio::null()).status()?;
        if status.success() {
            Ok(())
        } else {
            Err(BrokerError::Script(
                "stopping the bundled Kafka failed".into(),
            ))
        }
    }

    pub fn status(&self) -> Result<Status, BrokerError> {
        let out = self
            .command("status")
            .stdin(Stdio::null())
            .stderr(Stdio::inherit())
            .output()?;
        let text = String::from_utf8_lossy(&out.stdout).trim().to_string();
        Ok(match out.status.code() {
            Some(0) => Status::Running(text),
            Some(1) => Status::Stopped(text),
            _ => Status::Unresponsive(text),
        })
    }
}

/// A broker that `serve` started (or an earlier serve started and this one took over) and must
/// keep running and stop when it stops.
pub struct OwnedBroker {
    broker: Option<BundledBroker>,
}

impl OwnedBroker {
    pub fn new(broker: BundledBroker) -> Self {
        OwnedBroker {
            broker: Some(broker),
        }
    }

    /// The broker, for the watcher.
    pub fn broker(&self) -> Option<&BundledBroker> {
        self.broker.as_ref()
    }

    pub fn stop(mut self) {
        if let Some(b) = self.broker.take()
            && let Err(e) = b.stop()
        {
            tracing::error!("{e}");
        }
    }
}

impl Drop for OwnedBroker {
    fn drop(&mut self) {
        if let Some(b) = self.broker.take() {
            let _ = b.stop();
        }
    }
}

/// How often `serve` checks the bundled broker it started.
pub const WATCH_INTERVAL: Duration = Duration::from_secs(2);
/// How long the broker may fail to answer Kafka requests (with its process alive) before it
/// counts as hung and is restarted. Each check waits 2 s for an answer, and a loaded broker
/// answers late rather than never; a wedged Tansu (see README) never answers again.
pub const HUNG_AFTER: Duration = Duration::from_secs(10);
/// Least time between two restarts for taking no writes (the fresh broker gets a chance).
const WRITE_STALL_RESTART_GAP: Duration = Duration::from_secs(60);

/// Keeps a bundled broker that `serve` started running, until `cancel`: restarts it when its
/// process is gone, when it has not answered Kafka requests for [`HUNG_AFTER`], or when
/// `writes_stalled()` says it answers but takes no writes. Every restart is logged with why.
/// A restart that is under way is finished even if `cancel` fires meanwhile, so the broker is
/// never started behind the back of the shutdown that stops it.
pub async fn watch(
    broker: BundledBroker,
    writes_stalled: impl Fn() -> bool + Send + 'static,
    cancel: tokio_util::sync::CancellationToken,
) {
    let mut unanswered_since: Option<Instant> = None;
    let mut last_restart: Option<Instant> = None;
    loop {
        tokio::select! {
            _ = tokio::time::sleep(WATCH_INTERVAL) => {}
            _ = cancel.cancelled() => return,
        }
        let b = broker.clone();
        let status = match tokio::task::spawn_blocking(move || b.status()).await {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => {
                tracing::warn!("cannot check the bundled Kafka broker: {e}");
                continue;
            }
            Err(_) => continue,
        };
        if cancel.is_cancelled() {
            return;
        }
        let why = match status {
            Status::Stopped(s) => Some(format!("its process is gone ({s})")),
            Status::Unresponsive(s) => {
                let since = *unanswered_since.get_or_insert_with(Instant::now);
                (since.elapsed() >= HUNG_AFTER).then(|| {
                    format!(
                        "it has not answered Kafka requests for {} s ({s})",
                        since.elapsed().as_secs()
                    )
                })
            }
            Status::Running(_) => {
                unanswered_since = None;
                (writes_stalled()
                    && last_restart.is_none_or(|t| t.elapsed() >= WRITE_STALL_RESTART_GAP))
                .then(|| "it answers requests but takes no writes".to_string())
            }
        };
        let Some(why) = why else { continue };
        tracing::error!(
            "the bundled Kafka broker on {} needs a restart: {why}; restarting it",
            broker.bootstrap()
        );
        last_restart = Some(Instant::now());
        unanswered_since = None;
        let b = broker.clone();
        // Not raced against `cancel`: see above.
        let result = tokio::task::spawn_blocking(move || {
            b.stop()?;
            b.start_for_serve()
        })
        .await;
        match result {
            Ok(Ok(())) => tracing::warn!(
                "the bundled Kafka broker on {} was restarted",
                broker.bootstrap()
            ),
            Ok(Err(e)) => tracing::error!("restarting the bundled Kafka broker failed: {e}"),
            Err(e) => tracing::error!("restarting the bundled Kafka broker failed: {e}"),
        }
    }
}
