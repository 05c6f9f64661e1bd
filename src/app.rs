//! Building and running the server: the caller supplies the configuration and the shutdown
//! signal; tests bind port 0 and stop the app at will.

use std::fs::File;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::agenda;
use crate::auth::Keys;
use crate::broker::{BundledBroker, OwnedBroker, Status};
use crate::cli::ServeArgs;
use crate::consumer::TallyConsumer;
use crate::domain::blocklist::BlockList;
use crate::health::Health;
use crate::http::server::ConnLimits;
use crate::kafka::{Topics, VoteProducer, ensure_topics_replicated};
use crate::live::Live;
use crate::packer::VotePacker;
use crate::ratelimit::RateLimiter;
use crate::state::{AppState, Inner};
use crate::timer;

/// What `serve` prints on start.
#[derive(Debug, Clone)]
pub struct StartupInfo {
    pub join_url: String,
    pub local_url: String,
    pub admin_token: String,
    /// The presenter key (`--presenter-key`, else kept in the data dir).
    pub presenter_key: String,
    /// The moderator key (`--moderator-key`, else kept in the data dir).
    pub moderator_key: String,
    pub kafka: String,
    /// The event code attendees need (`--event-code`), if any.
    pub event_code: Option<String>,
    /// The join URL with the event code: what the printed QR code carries.
    pub attendee_url: String,
}

/// A built, not yet running, server.
pub struct Application {
    listener: tokio::net::TcpListener,
    addr: SocketAddr,
    state: AppState,
    tasks: JoinSet<()>,
    broker: Option<OwnedBroker>,
    info: StartupInfo,
    /// `--trusted-proxy`: added to the connection limits `run` serves with.
    trusted_proxies: Vec<crate::cluster::IpNet>,
    /// `--max-connections-per-client` (0: no cap), for the limits `run` serves with.
    max_per_client: usize,
    _lock: File,
}

pub use crate::cli::ConfigError;

/// The host phones should use for a server listening on `ip`: that address itself, or for a
/// wildcard bind the machine's first LAN IPv4 (127.0.0.1 if it has none).
pub fn join_host(ip: std::net::IpAddr) -> String {
    match ip {
        ip if ip.is_unspecified() => first_lan_ipv4()
            .map(|ip| ip.to_string())
            .unwrap_or_else(|| "127.0.0.1".into()),
        std::net::IpAddr::V6(v6) => format!("[{v6}]"),
        ip => ip.to_string(),
    }
}

pub fn first_lan_ipv4() -> Option<std::net::Ipv4Addr> {
    if_addrs::get_if_addrs()
        .ok()?
        .into_iter()
        .find_map(|i| match i.ip() {
            std::net::IpAddr::V4(v4) if !v4.is_loopback() && !v4.is_link_local() => Some(v4),
            _ => None,
        })
}

impl Application {
    /// Starts everything but the HTTP server: the bundled broker (unless `--brokers`), topics,
    /// the tally store and consumer, and the background tasks.
    pub async fn build(args: ServeArgs) -> anyhow::Result<Application> {
        let data_dir: PathBuf = args.broker.data_dir.clone();
        std::fs::create_dir_all(&data_dir)
            .with_context(|| format!("cannot create data dir {}", data_dir.display()))?;
        let lock = File::create(data_dir.join("serve.lock"))?;
        if lock.try_lock().is_err() {
            return Err(ConfigError(format!(
                "another livepoll serve is already using the data dir {}",
                data_dir.display()
            ))
            .into());
        }
        crate::cluster::check_kafka_options(&args.kafka_options).map_err(ConfigError)?;
        crate::kafka::set_client_options(args.kafka_options.clone());
        // Secrets and the tally database first: a damaged data dir fails before any broker starts.
        let keys = open_keys(&data_dir, &args)?;
        let roles = crate::auth::ScopedKeys::load_or_create(
            &data_dir,
            args.presenter_key.as_deref(),
            args.moderator_key.as_deref(),
        )
        .map_err(|e| ConfigError(format!("cannot read or create the scoped keys: {e}")))?;
        // A scoped key equal to the admin token would make its phone link an admin link.
        if [roles.presenter_key(), roles.moderator_key()].contains(&keys.admin_token()) {
            return Err(ConfigError(
                "the presenter and moderator keys must differ from the admin token: a phone \
                 link with either key would otherwise carry every admin right"
                    .into(),
            )
            .into());
        }
        let block_list = match &args.block_words {
            Some(file) => BlockList::from_file(file, args.profanity_filter)
                .map_err(|e| ConfigError(format!("cannot read the block list: {e}")))?,
            None => BlockList::from_lines("", args.profanity_filter),
        };
        let block_list = Arc::new(block_list);
        let store = Arc::new(crate::store::TallyStore::open(
            &data_dir.join("tallies.redb"),
        )?);
        log_open_files_limit();
        crate::identity::enforce_data_dir(&store, &keys, &args.topic_prefix, args.new_secret)?;
        let listener = listen(args.bind)
            .map_err(|e| ConfigError(format!("cannot listen on {}: {e}", args.bind)))?;
        let addr = listener.local_addr()?;

        let mut owned = None;
        let brokers = match &args.brokers {
            Some(b) => b.clone(),
            None => {
                let broker = BundledBroker::new(&data_dir, args.broker.kafka_port)?;
                let b2 = broker.clone();
                let status = tokio::task::spawn_blocking(move || b2.status()).await??;
                match status {
                    // An earlier serve started it and did not stop it (it crashed or was
                    // killed): this one takes over, so the broker is supervised again.
                    Status::Running(s) if broker.started_by_serve() => {
                        tracing::info!(
                            "reusing the running bundled broker ({s}) that an earlier serve \
                             started: this serve supervises it (restarts it if it dies) and \
                             stops it when it stops"
                        );
                        owned = Some(OwnedBroker::new(broker.clone()));
                    }
                    Status::Running(s) => {
                        tracing::info!("reusing the running bundled broker ({s})")
                    }
                    _ => {
                        let b2 = broker.clone();
                        tokio::task::spawn_blocking(move || b2.start_for_serve())
                            .await?
                            .map_err(|e| match e {
                                crate::broker::BrokerError::PortTaken(_) => {
                                    anyhow::Error::new(ConfigError(e.to_string()))
                                }
                                e => e.into(),
                            })?;
                        owned = Some(OwnedBroker::new(broker.clone()));
                    }
                }
                broker.bootstrap()
            }
        };
        let kafka_desc = match (&args.brokers, &owned) {
            (Some(b), _) => format!("external cluster {b}"),
            (None, Some(_)) => {
                format!("bundled broker on {brokers} (supervised by this serve; stopped with it)")
            }
            (None, None) => format!("bundled broker on {brokers} (already running; left running)"),
        };

        let topics = Topics::with_prefix(&args.topic_prefix);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            match create_topics(&args, &brokers, &topics).await {
                Ok(()) => break,
                Err(e) if tokio::time::Instant::now() < deadline => {
                    tracing::warn!("creating topics: {e}; retrying");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
                Err(e) => {
                    return Err(anyhow::anyhow!(
                        "cannot create the Kafka topics on {brokers}: {e}"
                    ));
                }
            }
        }

        let producer = VoteProducer::new(&brokers)?;
        let live = Live::new();
        let (consumer, handles) =
            TallyConsumer::new(store.clone(), &brokers, topics.clone(), live.clone()).await?;
        let node_id = match &args.node_id {
            Some(n) if !n.trim().is_empty() => n.trim().to_string(),
            _ => crate::cluster::default_node_id(addr.port()),
        };
        // Measured now that the Kafka clients and the database are open: what they hold is not
        // for clients.
        let health = Health::new(handles.healthy.clone())
            .with_node(&node_id)
            .with_descriptors(crate::descriptors::Budget::for_this_process())
            .with_disks(crate::disk::Watched(
                [(data_dir.clone(), "the tally database")]
                    .into_iter()
                    .chain(
                        args.brokers
                            .is_none()
                            .then(|| (data_dir.join("kafka"), "the bundled broker's log")),
                    )
                    .collect(),
            ));
        let shutdown = CancellationToken::new();

        let join_url = match &args.public_url {
            Some(u) => u.trim_end_matches('/').to_string(),
            None => format!("http://{}:{}", join_host(addr.ip()), addr.port()),
        };
        let gate = event_gate(&args, &data_dir)?;
        let attendee_url = match gate.code() {
            Some(code) => crate::eventcode::url_with_code(&join_url, code),
            None => join_url.clone(),
        };
        crate::doctor::running::note(&data_dir, addr, &join_url);
        let qr_svg = crate::qr::svg(&join_url)
            .map_err(|e| ConfigError(format!("cannot encode {join_url} as QR: {e}")))?;
        let state = AppState(Arc::new(Inner {
            keys: keys.clone(),
            roles: roles.clone(),
            store: store.clone(),
            producer: producer.clone(),
            packer: VotePacker::new(producer.clone(), &topics.votes, handles.vote_partitions),
            topics: topics.clone(),
            consumer: handles.clone(),
            live: live.clone(),
            block_list: block_list.clone(),
            health: health.clone(),
            limiter: RateLimiter::new(20, 5),
            public_url: join_url.clone(),
            kafka_desc: kafka_desc.clone(),
            title: args.title.trim().to_string(),
            language: args.language.clone(),
            qr_svg,
            gate,
            shutdown: shutdown.clone(),
        }));

        let mut tasks = JoinSet::new();
        tasks.spawn(consumer.run(shutdown.clone()));
        tasks.spawn(health.run(producer.clone(), topics.polls.clone(), shutdown.clone()));
        // A bundled broker this serve started is kept running: restarted if it dies, hangs, or
        // stops taking writes (see `broker::watch`).
        if let Some(broker) = owned.as_ref().and_then(OwnedBroker::broker) {
            let (h, report) = (state.health.clone(), state.health.clone());
            tasks.spawn(crate::broker::watch(
                broker.clone(),
                move || h.writes_stalled(),
                move |why| report.set_broker_down(why),
                shutdown.clone(),
            ));
        }
        catch_up_polls(&state).await?;
        crate::identity::enforce_deployment(&state, args.new_secret).await?;
        crate::service::qa::catch_up(&state, &brokers).await?;
        tasks.spawn(
            live.clone()
                .run(store.clone(), state.polls(), block_list, shutdown.clone()),
        );
        tasks.spawn(timer::run(state.clone(), shutdown.clone()));
        if let Some(file) = &args.polls {
            agenda::preload(&state, file).await?;
        }

        let local_host = if addr.ip().is_unspecified() {
            "127.0.0.1".to_string()
        } else {
            addr.ip().to_string()
        };
        let info = StartupInfo {
            join_url,
            local_url: format!("http://{local_host}:{}", addr.port()),
            admin_token: keys.admin_token().to_string(),
            presenter_key: roles.presenter_key().to_string(),
            moderator_key: roles.moderator_key().to_string(),
            kafka: kafka_desc,
            event_code: state.gate.code().map(str::to_string),
            attendee_url,
        };
        Ok(Application {
            listener,
            addr,
            state,
            tasks,
            broker: owned,
            info,
            trusted_proxies: args.trusted_proxies.clone(),
            max_per_client: args.max_connections_per_client,
            _lock: lock,
        })
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    pub fn info(&self) -> &StartupInfo {
        &self.info
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until `shutdown` resolves, then stops in order: HTTP, consumer (its last batch
    /// committed), producer flush, and the bundled broker if this serve started it.
    pub async fn run(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let limits = ConnLimits {
            max_per_client: match self.max_per_client {
                0 => usize::MAX,
                n => n,
            },
            ..ConnLimits::default()
        };
        self.run_with(shutdown, limits).await
    }

    /// [`run`](Self::run) with other connection limits (tests use short timeouts).
    pub async fn run_with(
        mut self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
        mut limits: ConnLimits,
    ) -> anyhow::Result<()> {
        limits
            .trusted_proxies
            .extend(self.trusted_proxies.iter().copied());
        let cancel = self.state.shutdown.clone();
        let routes = crate::http::routes(self.state.clone());
        // The stop signal also ends the SSE streams (they follow `cancel`); otherwise a graceful
        // shutdown would wait forever for every open screen and phone.
        let stop = async {
            tokio::select! {
                _ = shutdown => {}
                _ = cancel.cancelled() => {}
            }
            cancel.cancel();
        };
        let server = crate::http::server::serve(self.listener, routes, limits, cancel.clone());
        tokio::join!(stop, server);
        while self.tasks.join_next().await.is_some() {}
        let producer = self.state.producer.clone();
        tokio::task::spawn_blocking(move || producer.flush(Duration::from_secs(5))).await?;
        if let Some(b) = self.broker.take() {
            tokio::task::spawn_blocking(move || b.stop()).await?;
        }
        Ok(())
    }
}

/// Raises the open-files limit as far as allowed and says how many phones it takes.
fn log_open_files_limit() {
    use crate::descriptors::{phones_allowed, raise_limit};
    match raise_limit() {
        Ok(l) if l.soft > l.was => tracing::info!(
            "open files: raised the soft limit from {} to the hard limit {} (about {} phones at once)",
            l.was,
            l.soft,
            phones_allowed(l.soft)
        ),
        Ok(l) => tracing::info!(
            "open files: limit {} (hard {}; about {} phones at once)",
            l.soft,
            l.hard,
            phones_allowed(l.soft)
        ),
        Err(e) => tracing::warn!("open files: cannot read or raise the limit: {e}"),
    }
}

/// Creates the topics if missing, with `--replication-factor` copies (or the default for this
/// cluster: see [`crate::cluster::replication_factor`]).
async fn create_topics(args: &ServeArgs, brokers: &str, topics: &Topics) -> anyhow::Result<()> {
    let (given, bundled) = (args.replication_factor, args.brokers.is_none());
    let b = brokers.to_string();
    let replication =
        tokio::task::spawn_blocking(move || crate::cluster::replication_factor(given, bundled, &b))
            .await??;
    ensure_topics_replicated(brokers, topics, args.vote_partitions, replication).await?;
    Ok(())
}

/// The event code and session limit. `auto` derives the code from the deployment's keys (the
/// shared secret file, or the data dir's `secret.key`), so every node shows the same one.
fn event_gate(
    args: &ServeArgs,
    data_dir: &std::path::Path,
) -> anyhow::Result<crate::eventcode::Gate> {
    use crate::eventcode::{EventCodeSetting, Gate};
    let keys = match args.event_code {
        EventCodeSetting::Auto => {
            let file = (args.secret_file.clone()).unwrap_or_else(|| data_dir.join("secret.key"));
            crate::auth::read_secret_file(&file)
                .map_err(|e| ConfigError(format!("cannot derive the event code: {e}")))?
        }
        _ => Vec::new(),
    };
    Ok(Gate::new(
        &args.event_code,
        &keys,
        &args.topic_prefix,
        args.session_rate,
    ))
}

/// Waits until the consumer has applied every poll event present at start, so intake and pages
/// see the current polls before the first request.
async fn catch_up_polls(state: &AppState) -> anyhow::Result<()> {
    match crate::service::catch_up_within(state, Duration::from_secs(120)).await {
        // A polls record this node cannot read stops it there: it still serves (pages, results
        // so far, `/healthz` 503 with the reason) rather than never opening its port.
        Err(_) if state.consumer.stalls.stopped(&state.topics.polls, 0) => {
            tracing::error!(
                "the polls topic stopped at a record this node cannot read; serving what it has \
                 (see /healthz)"
            );
            Ok(())
        }
        r => r.context("replaying the polls topic"),
    }
}

/// The signing key and admin token. A missing `secret.key` next to an existing tally database
/// is refused unless `--new-secret` says so: a new key gives every voter a new identity, so
/// everyone could vote again in the polls that are open.
/// A `--secret-file` is never created here: nodes of one deployment must share it, so it is
/// written once with `livepoll secret new` and handed to each.
fn open_keys(data_dir: &std::path::Path, args: &ServeArgs) -> anyhow::Result<Keys> {
    if let Some(file) = &args.secret_file {
        if !file.exists() {
            return Err(ConfigError(format!(
                "the secret file {} does not exist: create it once with `livepoll secret new {0}` \
                 and give the same file to every node",
                file.display()
            ))
            .into());
        }
        return Keys::load_shared(file, data_dir, args.admin_token.as_deref())
            .map_err(|e| ConfigError(format!("cannot use the secret file: {e}")).into());
    }
    let key = data_dir.join("secret.key");
    let tallies = data_dir.join("tallies.redb");
    if !key.exists() && tallies.exists() && !args.new_secret {
        return Err(ConfigError(format!(
            "{} is missing but {} exists: restore the key (voters keep their identity), or start \
             with --new-secret to make a new one (every voter can then vote again)",
            key.display(),
            tallies.display()
        ))
        .into());
    }
    Keys::load_or_create(data_dir, args.admin_token.as_deref()).with_context(|| {
        format!(
            "cannot read or create the secrets in {}",
            data_dir.display()
        )
    })
}

/// Connections the kernel queues for `accept` before it drops new ones. The standard library's
/// 128 overflowed when a few hundred phones connected at once (the room scanning the QR code,
/// or a load test's 512 connections): the dropped ones retried a second later.
const LISTEN_BACKLOG: u32 = 4096;

/// A listening socket on `addr` (address reuse as the standard library sets it, a deep backlog).
fn listen(addr: std::net::SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(LISTEN_BACKLOG)
}
