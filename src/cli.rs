//! The command line (CONTRACT.md "Command line"). Every flag also reads `LIVEPOLL_<FLAG>`.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// A startup failure that is the user's to fix (exit code 2) rather than a runtime fault.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

#[derive(Debug, Parser)]
#[command(
    name = "livepoll",
    version,
    about = "Self-hosted live audience polling, backed by Kafka"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the polling server (starts the bundled Kafka unless --brokers is given).
    Serve(Box<ServeArgs>),
    /// Manage the bundled local Kafka broker, or read a topic (`kafka read TOPIC`).
    Kafka {
        #[arg(value_enum)]
        action: KafkaAction,
        /// The topic to read (`read` only), e.g. livepoll.polls.
        topic: Option<String>,
        #[command(flatten)]
        read: crate::tools::read::ReadArgs,
        #[command(flatten)]
        broker: BrokerArgs,
    },
    /// Simulate attendees voting against a running server.
    Simulate(crate::tools::simulate::SimulateArgs),
    /// Export a poll's results (every round) as CSV or JSON.
    Export(ExportArgs),
    /// Manage the secret that nodes of one deployment share (`serve --secret-file`).
    Secret {
        #[command(subcommand)]
        action: SecretAction,
    },
    /// Check that this machine is ready to run livepoll at a venue (one line per check).
    Doctor(DoctorArgs),
    /// Print a scannable QR code for a URL.
    Qr {
        /// The URL to encode.
        url: String,
    },
    /// Baselines and loads for scripts/bench.sh (raw Kafka produce/consume, SSE streams).
    #[command(subcommand, hide = true)]
    Bench(crate::tools::bench::BenchCommand),
}

#[derive(Debug, Subcommand)]
pub enum SecretAction {
    /// Write a fresh secret file (mode 0600); refuses to overwrite one.
    New {
        /// Where to write it.
        file: PathBuf,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum KafkaAction {
    Start,
    Stop,
    Status,
    /// Print a topic's records as JSON lines.
    Read,
}

/// Where the bundled broker lives.
#[derive(Debug, Clone, Args)]
pub struct BrokerArgs {
    /// Data directory (tally database, tokens, bundled broker's log).
    #[arg(long, env = "LIVEPOLL_DATA_DIR", default_value = "./livepoll-data")]
    pub data_dir: PathBuf,
    /// Port of the bundled Kafka broker on 127.0.0.1.
    #[arg(long, env = "LIVEPOLL_KAFKA_PORT", default_value_t = 9092)]
    pub kafka_port: u16,
}

#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "LIVEPOLL_BIND", default_value = "0.0.0.0:8080")]
    pub bind: SocketAddr,
    /// URL attendees use (default: http://FIRST-LAN-IPV4:PORT).
    #[arg(long, env = "LIVEPOLL_PUBLIC_URL")]
    pub public_url: Option<String>,
    #[command(flatten)]
    pub broker: BrokerArgs,
    /// Use this Kafka cluster instead of starting the bundled broker.
    #[arg(long, env = "LIVEPOLL_BROKERS")]
    pub brokers: Option<String>,
    /// Admin token (default: generated once and kept in the data dir, mode 0600).
    #[arg(long, env = "LIVEPOLL_ADMIN_TOKEN")]
    pub admin_token: Option<String>,
    /// Presenter key: may present, step, close, reveal and switch the screen's view (default:
    /// generated once and kept in the data dir, mode 0600).
    #[arg(long, env = "LIVEPOLL_PRESENTER_KEY")]
    pub presenter_key: Option<String>,
    /// Moderator key: may moderate Q&A, words and player names (default: generated once and
    /// kept in the data dir, mode 0600).
    #[arg(long, env = "LIVEPOLL_MODERATOR_KEY")]
    pub moderator_key: Option<String>,
    /// A block list: one word or phrase a line, matched case- and accent-insensitively on whole
    /// words in word-cloud answers, Q&A text and quiz names. Every node needs the same file.
    #[arg(long, env = "LIVEPOLL_BLOCK_WORDS")]
    pub block_words: Option<PathBuf>,
    /// Also block English profanity (with leetspeak) by a built-in filter.
    #[arg(long, env = "LIVEPOLL_PROFANITY_FILTER")]
    pub profanity_filter: bool,
    /// The event's name, shown on the idle projector screen.
    #[arg(long, env = "LIVEPOLL_TITLE", default_value = "")]
    pub title: String,
    /// Force the projector's language (en, de, fr, es, pt, ar); phones follow their browser.
    #[arg(long, env = "LIVEPOLL_LANGUAGE", value_parser = ["en", "de", "fr", "es", "pt", "ar"])]
    pub language: Option<String>,
    /// Start even though `secret.key` is missing next to an existing tally database: a new key
    /// gives every voter a new identity, so everyone can vote again in open polls.
    #[arg(long, env = "LIVEPOLL_NEW_SECRET")]
    pub new_secret: bool,
    /// Preload poll definitions (TOML or JSON list) as drafts, once.
    #[arg(long, env = "LIVEPOLL_POLLS")]
    pub polls: Option<PathBuf>,
    /// Prefix of the Kafka topic names (`PREFIX.votes`, `PREFIX.polls`).
    #[arg(long, env = "LIVEPOLL_TOPIC_PREFIX", default_value = "livepoll")]
    pub topic_prefix: String,
    /// Partitions of the votes topic when it is created. Every node reads every partition, so
    /// more partitions add no consumer parallelism; each one costs the broker work on every
    /// produce and fetch. 3 (against 6) cut the bundled broker's CPU per vote by a sixth and
    /// ack p99 at 10,000 votes/s from 50–58 to 29–37 ms (README "Benchmark"), and still lets a
    /// 3-broker cluster spread the load.
    #[arg(long, env = "LIVEPOLL_VOTE_PARTITIONS", default_value_t = 3)]
    pub vote_partitions: i32,
    /// The keys voter tokens and admin sessions are signed with, shared by every node of a
    /// deployment (`livepoll secret new FILE`; one key per line, the first signs, all verify).
    /// Default: DATA_DIR/secret.key, created on first use.
    #[arg(long, env = "LIVEPOLL_SECRET_FILE")]
    pub secret_file: Option<PathBuf>,
    /// This node's name in /healthz and /api/info (default: host name and HTTP port).
    #[arg(long, alias = "node-name", env = "LIVEPOLL_NODE_ID")]
    pub node_id: Option<String>,
    /// A librdkafka property for every Kafka client (e.g. security.protocol=SASL_SSL);
    /// repeatable. The environment variable takes them comma-separated.
    #[arg(
        long = "kafka-option",
        env = "LIVEPOLL_KAFKA_OPTIONS",
        value_delimiter = ',',
        value_name = "KEY=VALUE",
        value_parser = crate::cluster::parse_kafka_option
    )]
    pub kafka_options: Vec<(String, String)>,
    /// Copies of each partition when livepoll creates its topics (default: 1 with the bundled
    /// broker, else min(3, brokers in the cluster)).
    #[arg(long, env = "LIVEPOLL_REPLICATION_FACTOR", value_parser = clap::value_parser!(i32).range(1..))]
    pub replication_factor: Option<i32>,
    /// A load balancer whose X-Forwarded-For names the client for the per-client limits
    /// (ADDR or ADDR/BITS); repeatable. Nobody else's X-Forwarded-For is believed.
    #[arg(
        long = "trusted-proxy",
        env = "LIVEPOLL_TRUSTED_PROXIES",
        value_delimiter = ',',
        value_name = "ADDR"
    )]
    pub trusted_proxies: Vec<crate::cluster::IpNet>,
    /// Open connections one client address may hold (0: no cap). 127.0.0.1 and ::1 are never
    /// capped; other 127.x addresses are (a local proxy: name it with --trusted-proxy).
    #[arg(
        long,
        env = "LIVEPOLL_MAX_CONNECTIONS_PER_CLIENT",
        default_value_t = 512,
        value_name = "N"
    )]
    pub max_connections_per_client: usize,
    /// A code attendees need to join: `auto` (6 digits from the deployment's secret and topic
    /// prefix, the same on every node), `off`, or your own. The screen shows it beside the QR
    /// code; the QR code and printed URL carry it.
    #[arg(
        long,
        env = "LIVEPOLL_EVENT_CODE",
        default_value = "off",
        value_name = "auto|off|CODE"
    )]
    pub event_code: crate::eventcode::EventCodeSetting,
    /// New voter sessions per minute from one client address (0: no limit). The machine
    /// itself is not limited.
    #[arg(
        long,
        env = "LIVEPOLL_SESSION_RATE",
        default_value_t = 120,
        value_name = "N"
    )]
    pub session_rate: u32,
}

/// `livepoll doctor`: the settings `serve` would be started with.
#[derive(Debug, Clone, Args)]
pub struct DoctorArgs {
    /// The address `serve` will listen on.
    #[arg(long, env = "LIVEPOLL_BIND", default_value = "0.0.0.0:8080")]
    pub bind: SocketAddr,
    /// The URL attendees will use, if not this machine's address.
    #[arg(long, env = "LIVEPOLL_PUBLIC_URL")]
    pub public_url: Option<String>,
    #[command(flatten)]
    pub broker: BrokerArgs,
    /// The Kafka cluster `serve` will use (default: the bundled broker).
    #[arg(long, env = "LIVEPOLL_BROKERS")]
    pub brokers: Option<String>,
    /// The shared secret file `serve` will use (default: DATA_DIR/secret.key).
    #[arg(long, env = "LIVEPOLL_SECRET_FILE")]
    pub secret_file: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExportFormat {
    Csv,
    Json,
}

#[derive(Debug, Clone, Args)]
pub struct ExportArgs {
    /// Poll id.
    #[arg(long, env = "LIVEPOLL_POLL")]
    pub poll: String,
    #[arg(long, env = "LIVEPOLL_FORMAT", value_enum, default_value = "csv")]
    pub format: ExportFormat,
    /// Read from this data dir (the server must not be running on it).
    #[arg(long, env = "LIVEPOLL_DATA_DIR", conflicts_with = "url")]
    pub data_dir: Option<PathBuf>,
    /// Read from a running server.
    #[arg(long, env = "LIVEPOLL_URL", requires = "admin_token")]
    pub url: Option<String>,
    #[arg(long, env = "LIVEPOLL_ADMIN_TOKEN")]
    pub admin_token: Option<String>,
}
