//! `livepoll doctor` (CONTRACT.md "Doctor"): is this machine ready to run livepoll at a venue?
//! One line per check, ✓ or ✗ with what to do; exit 1 if any failed. `serve` runs the cheap
//! checks at start too ([`startup_warnings`]) and warns instead of refusing.
//! docs/troubleshooting.md explains every failure this can report.

use std::fmt;
use std::net::{IpAddr, SocketAddr, TcpListener};
use std::path::Path;
use std::time::{Duration, SystemTime};

use crate::broker::{BundledBroker, Status};
use crate::cli::DoctorArgs;

pub mod running;

const TANSU_ENV: &str = include_str!("../kafka/tansu.env");
/// Less free space than this in the data dir fails the check.
const MIN_FREE_MB: u64 = 200;

/// The outcome of one check.
#[derive(Debug, Clone)]
pub struct Check {
    pub ok: bool,
    pub text: String,
    /// What to do about a failure.
    pub fix: Option<String>,
}

impl Check {
    fn pass(text: impl Into<String>) -> Check {
        Check {
            ok: true,
            text: text.into(),
            fix: None,
        }
    }

    fn fail(text: impl Into<String>, fix: impl Into<String>) -> Check {
        Check {
            ok: false,
            text: text.into(),
            fix: Some(fix.into()),
        }
    }
}

impl fmt::Display for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.fix, self.ok) {
            (Some(fix), false) => write!(f, "✗ {} — {fix}", self.text),
            _ => write!(f, "✓ {}", self.text),
        }
    }
}

pub async fn run(args: DoctorArgs) -> anyhow::Result<()> {
    let mut checks = Vec::new();
    let mut report = |c: Check| {
        println!("{c}");
        checks.push(c);
    };
    let dir = &args.broker.data_dir;
    // During the event: check the serve that holds the data dir instead of its port and files.
    let serving = running::find(dir);
    let mut listener = None;
    match &serving {
        Some(serve) => {
            for c in running::check(dir, serve).await {
                report(c);
            }
        }
        None => {
            let (port_check, l) = http_port(args.bind);
            listener = l;
            report(port_check);
            for c in kafka(&args).await {
                report(c);
            }
            report(data_dir_writable(dir));
            report(tally_db(dir));
        }
    }
    report(secret(dir, args.secret_file.as_deref()));
    let host = match (&args.public_url, &serving) {
        (Some(url), _) => url_host(url),
        (None, Some(serve)) => url_host(&serve.join_url),
        (None, None) => crate::app::join_host(args.bind.ip()),
    };
    report(lan_addresses());
    let public = args.public_url.is_some()
        || serving
            .as_ref()
            .is_some_and(|s| url_host(&s.join_url) != crate::app::join_host(s.addr.ip()));
    report(join_address(&host, public));
    if let (Some(listener), None) = (listener, &args.public_url) {
        report(join_url_answers(listener, &host).await);
    }
    report(clock(dir));
    report(match crate::descriptors::doctor_summary() {
        Ok(text) => Check::pass(text),
        Err((text, fix)) => Check::fail(text, fix),
    });
    println!(
        "  Phones on the venue Wi-Fi still cannot open the page? Guest networks often keep devices \
         apart (client isolation): use a phone hotspot or the venue's wired LAN \
         (docs/troubleshooting.md)."
    );
    let failed = checks.iter().filter(|c| !c.ok).count();
    anyhow::ensure!(
        failed == 0,
        "{failed} of {} checks failed (see docs/troubleshooting.md)",
        checks.len()
    );
    println!("All {} checks passed.", checks.len());
    Ok(())
}

/// The cheap checks, for `serve` to warn about at start: the join URL's address, free space
/// and the clock.
pub fn startup_warnings(join_url: &str, data_dir: &Path) -> Vec<String> {
    [
        join_address(&url_host(join_url), false),
        free_space(data_dir),
        clock(data_dir),
    ]
    .into_iter()
    .filter(|c| !c.ok)
    .map(|c| format!("{} — {}", c.text, c.fix.unwrap_or_default()))
    .collect()
}

/// Binds the HTTP address; the listener is kept to test the join URL with.
fn http_port(bind: SocketAddr) -> (Check, Option<TcpListener>) {
    match TcpListener::bind(bind) {
        Ok(l) => (
            Check::pass(format!(
                "HTTP port {} on {} is free",
                bind.port(),
                bind.ip()
            )),
            Some(l),
        ),
        Err(e) if e.kind() == std::io::ErrorKind::AddrNotAvailable => (
            Check::fail(
                format!(
                    "cannot listen on {bind}: {} is not an address of this machine",
                    bind.ip()
                ),
                "use --bind 0.0.0.0:PORT, or one of the addresses listed below",
            ),
            None,
        ),
        Err(e) => (
            Check::fail(
                format!("HTTP port {} on {} is taken ({e})", bind.port(), bind.ip()),
                format!(
                    "stop what uses it (another livepoll serve? `ss -ltnp | grep :{0}`), or use \
                     --bind {1}:{2}",
                    bind.port(),
                    bind.ip(),
                    bind.port().wrapping_add(1)
                ),
            ),
            None,
        ),
    }
}

async fn kafka(args: &DoctorArgs) -> Vec<Check> {
    if let Some(brokers) = &args.brokers {
        let b = brokers.clone();
        let answer = tokio::task::spawn_blocking(move || kafka_metadata(&b)).await;
        return vec![match answer {
            Ok(Ok(n)) => Check::pass(format!("Kafka at {brokers} answers ({n} brokers)")),
            Ok(Err(e)) => Check::fail(
                format!("Kafka at {brokers} does not answer: {e}"),
                "check --brokers, the network path to the cluster, and its security settings",
            ),
            Err(e) => Check::fail(format!("Kafka check failed: {e}"), "run doctor again"),
        }];
    }
    let port = args.broker.kafka_port;
    let broker = match BundledBroker::new(&args.broker.data_dir, port) {
        Ok(b) => b,
        Err(e) => {
            return vec![Check::fail(
                format!("cannot prepare the bundled broker: {e}"),
                "check that the data dir is writable",
            )];
        }
    };
    let b = broker.clone();
    if let Ok(Ok(Status::Running(s))) = tokio::task::spawn_blocking(move || b.status()).await {
        return vec![Check::pass(format!(
            "the bundled broker of this data dir is running ({s})"
        ))];
    }
    let mut checks = vec![match TcpListener::bind(("127.0.0.1", port)) {
        Ok(_) => Check::pass(format!("Kafka port {port} on 127.0.0.1 is free")),
        Err(e) => {
            return vec![Check::fail(
                format!("Kafka port {port} on 127.0.0.1 is taken ({e})"),
                format!(
                    "stop what uses it (`ss -ltnp | grep :{port}`), or use --kafka-port {}",
                    port.wrapping_add(1)
                ),
            )];
        }
    }];
    if let Some(missing) = bundled_broker_missing() {
        checks.push(missing);
        return checks;
    }
    let log = args.broker.data_dir.join("kafka/broker.log");
    let started = tokio::task::spawn_blocking(move || {
        let r = broker.start_watched(Some(std::process::id()));
        let _ = broker.stop();
        r
    })
    .await;
    checks.push(match started {
        Ok(Ok(())) => Check::pass(format!(
            "the bundled broker starts and answers on 127.0.0.1:{port} (stopped again)"
        )),
        Ok(Err(e)) => Check::fail(
            format!("the bundled broker does not start: {e}"),
            format!("read {} and scripts/kafka.sh", log.display()),
        ),
        Err(e) => Check::fail(format!("broker check failed: {e}"), "run doctor again"),
    });
    checks
}

/// Number of brokers in the cluster's metadata.
fn kafka_metadata(brokers: &str) -> anyhow::Result<usize> {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    let c: BaseConsumer = crate::kafka::consumer_config(brokers).create()?;
    let md = c.fetch_metadata(None, Duration::from_secs(5))?;
    Ok(md.brokers().len())
}

/// The bundled broker engine `scripts/kafka.sh` runs, chosen the way it chooses it:
/// `LIVEPOLL_BROKER` unset or empty is Tansu, `nisshi` is Nisshi, anything else is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Engine {
    /// Also the name of its binary and of its cache dir (`NAME-VERSION`).
    name: &'static str,
    title: &'static str,
    version: String,
}

fn engine(selected: Option<&str>) -> Result<Engine, String> {
    let (name, title, key) = match selected.unwrap_or_default() {
        "" | "tansu" => ("tansu", "Tansu", "TANSU_VERSION"),
        "nisshi" => ("nisshi", "Nisshi", "NISSHI_VERSION"),
        other => return Err(other.to_string()),
    };
    Ok(Engine {
        name,
        title,
        version: broker_setting(key).to_string(),
    })
}

/// `KEY=value` from `kafka/tansu.env`.
fn broker_setting(key: &str) -> &'static str {
    TANSU_ENV
        .lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix('='))
        .unwrap_or_default()
        .trim()
}

/// A failed check if the selected bundled broker is not installed (or `LIVEPOLL_BROKER` names
/// none); `None` with `KAFKA_HOME`, which `scripts/kafka.sh` runs instead.
fn bundled_broker_missing() -> Option<Check> {
    if std::env::var_os("KAFKA_HOME").is_some() {
        return None;
    }
    let selected = std::env::var_os("LIVEPOLL_BROKER").map(|v| v.to_string_lossy().into_owned());
    let engine = match engine(selected.as_deref()) {
        Ok(e) => e,
        Err(value) => {
            return Some(Check::fail(
                format!("LIVEPOLL_BROKER={value} is not a bundled broker"),
                "set LIVEPOLL_BROKER to tansu (the default) or nisshi, or unset it",
            ));
        }
    };
    let cache = std::env::var_os("LIVEPOLL_CACHE")
        .map(std::path::PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cache/livepoll")));
    let binary = format!("{0}-{1}/bin/{0}", engine.name, engine.version);
    if cache.is_some_and(|c| c.join(&binary).exists()) {
        return None;
    }
    let how = if engine.name == "nisshi" {
        format!(
            "run LIVEPOLL_BROKER=nisshi scripts/kafka.sh install once while online (compiling \
             Nisshi needs Rust {} or newer), use the default Tansu broker (unset \
             LIVEPOLL_BROKER), or use --brokers HOST:PORT",
            broker_setting("NISSHI_MIN_RUST")
        )
    } else {
        "run scripts/setup.sh (or scripts/kafka.sh install) once while online, or use --brokers \
         HOST:PORT"
            .to_string()
    };
    Some(Check::fail(
        format!(
            "the bundled broker ({} {}) is not installed",
            engine.title, engine.version
        ),
        how,
    ))
}

fn data_dir_writable(dir: &Path) -> Check {
    let probe = dir.join(".doctor-probe");
    let written = std::fs::create_dir_all(dir).and_then(|()| std::fs::write(&probe, b"ok"));
    let _ = std::fs::remove_file(&probe);
    match written {
        Ok(()) => free_space(dir),
        Err(e) => Check::fail(
            format!("cannot write to the data dir {}: {e}", dir.display()),
            "choose a writable directory with --data-dir",
        ),
    }
}

fn free_space(dir: &Path) -> Check {
    let Some(mb) = free_mb(dir) else {
        return Check::pass(format!("data dir {} (free space unknown)", dir.display()));
    };
    if mb < MIN_FREE_MB {
        Check::fail(
            format!("only {mb} MB free for the data dir {}", dir.display()),
            format!("free some space or use a --data-dir on a disk with at least {MIN_FREE_MB} MB"),
        )
    } else {
        Check::pass(format!(
            "data dir {} is writable, {mb} MB free",
            dir.display()
        ))
    }
}

/// Free space by `df -Pk` (POSIX output, on Linux and macOS alike).
fn free_mb(dir: &Path) -> Option<u64> {
    let existing = dir.ancestors().find(|d| d.exists())?;
    let out = std::process::Command::new("df")
        .arg("-Pk")
        .arg(existing)
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let kb: u64 = text
        .lines()
        .nth(1)?
        .split_whitespace()
        .nth(3)?
        .parse()
        .ok()?;
    Some(kb / 1024)
}

fn tally_db(dir: &Path) -> Check {
    let path = dir.join("tallies.redb");
    if !path.exists() {
        return Check::pass("no tally database yet (made on the first start)");
    }
    if let Ok(lock) = std::fs::File::open(dir.join("serve.lock"))
        && lock.try_lock().is_err()
    {
        return Check::fail(
            format!("a livepoll serve is running on {}", dir.display()),
            "stop it first (Ctrl-C), or check another --data-dir",
        );
    }
    match crate::store::TallyStore::open(&path) {
        Ok(_) => Check::pass(format!("the tally database {} opens", path.display())),
        Err(e) => Check::fail(
            format!("the tally database {} cannot be used: {e}", path.display()),
            "delete it: the next start rebuilds every tally from Kafka",
        ),
    }
}

fn secret(dir: &Path, secret_file: Option<&Path>) -> Check {
    if let Some(file) = secret_file {
        return match crate::auth::read_secret_file(file) {
            Ok(keys) => Check::pass(format!(
                "the secret file {} holds {} key(s)",
                file.display(),
                keys.len()
            )),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Check::fail(
                format!("the secret file {} does not exist", file.display()),
                format!(
                    "create it once with `livepoll secret new {}` and give it to every node",
                    file.display()
                ),
            ),
            Err(e) => Check::fail(
                format!("the secret file cannot be used: {e}"),
                "restore it from another node, or make a new one with `livepoll secret new`",
            ),
        };
    }
    let key = dir.join("secret.key");
    match (key.exists(), dir.join("tallies.redb").exists()) {
        (true, _) => match crate::auth::read_secret_file(&key) {
            Ok(_) => Check::pass(format!("the secret {} is readable", key.display())),
            Err(e) => Check::fail(
                format!("the secret cannot be used: {e}"),
                "restore it from a backup, or delete it and start with --new-secret",
            ),
        },
        (false, true) => Check::fail(
            format!("{} is missing but the tally database exists", key.display()),
            "restore the key (voters keep their identity), or start with --new-secret (every \
             voter can then vote again)",
        ),
        (false, false) => Check::pass("no secret yet (made on the first start)"),
    }
}

/// This machine's addresses other than loopback, with their interface names.
fn lan_ips() -> Vec<(String, IpAddr)> {
    if_addrs::get_if_addrs()
        .unwrap_or_default()
        .into_iter()
        .filter(|i| !i.ip().is_loopback())
        .filter(|i| match i.ip() {
            IpAddr::V4(v4) => !v4.is_link_local(),
            IpAddr::V6(v6) => !v6.is_unicast_link_local(),
        })
        .map(|i| (i.name.clone(), i.ip()))
        .collect()
}

fn lan_addresses() -> Check {
    let ips = lan_ips();
    if ips.is_empty() {
        return Check::fail(
            "this machine has no network address but loopback",
            "join the venue's network (Wi-Fi, wired LAN) or a phone hotspot",
        );
    }
    let list: Vec<String> = ips.iter().map(|(n, ip)| format!("{ip} ({n})")).collect();
    Check::pass(format!("addresses phones could use: {}", list.join(", ")))
}

/// The host of a URL (`http://[::1]:80/x` → `[::1]`).
fn url_host(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let authority = authority.rsplit_once('@').map_or(authority, |(_, a)| a);
    match authority.strip_prefix('[') {
        Some(v6) => format!("[{}]", v6.split(']').next().unwrap_or_default()),
        None => authority.split(':').next().unwrap_or_default().to_string(),
    }
}

/// The join URL's host must be reachable from phones: not loopback, and (unless it is a public
/// URL served elsewhere) an address of this machine.
fn join_address(host: &str, public: bool) -> Check {
    let ip: Option<IpAddr> = host.trim_matches(['[', ']']).parse().ok();
    match ip {
        Some(ip) if ip.is_loopback() || host.eq_ignore_ascii_case("localhost") => Check::fail(
            format!(
                "the join URL uses {host}: phones cannot reach this machine's loopback address"
            ),
            "serve with --bind 0.0.0.0:PORT (or a LAN address), or give --public-url",
        ),
        Some(ip) if !public && !lan_ips().iter().any(|(_, a)| *a == ip) => Check::fail(
            format!("the join URL uses {ip}, which is not an address of this machine"),
            "use --bind 0.0.0.0:PORT or one of the addresses listed above",
        ),
        Some(_) => Check::pass(format!("the join URL uses {host}")),
        None if host.eq_ignore_ascii_case("localhost") => Check::fail(
            "the join URL uses localhost: phones cannot reach it",
            "give --public-url with this machine's LAN address or name",
        ),
        None => Check::pass(format!(
            "the join URL uses the name {host} (phones must be able to resolve it)"
        )),
    }
}

/// Serves one marker on the listener and fetches it through the join address: the address is
/// this machine's and nothing on it (a firewall for local traffic) blocks the port.
async fn join_url_answers(listener: TcpListener, host: &str) -> Check {
    let port = listener.local_addr().map(|a| a.port()).unwrap_or_default();
    let url = format!("http://{host}:{port}/");
    let marker = format!("livepoll-doctor-{}", std::process::id());
    let body = marker.clone();
    let served = listener.set_nonblocking(true).and_then(|()| {
        let l = tokio::net::TcpListener::from_std(listener)?;
        Ok(tokio::spawn(async move {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            while let Ok((mut s, _)) = l.accept().await {
                let mut buf = [0u8; 1024];
                let _ = s.read(&mut buf).await;
                let reply = format!(
                    "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = s.write_all(reply.as_bytes()).await;
            }
        }))
    });
    let Ok(task) = served else {
        return Check::fail("could not test the join URL", "run doctor again");
    };
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(3))
        .build();
    let answer = match client {
        Ok(c) => match c.get(&url).send().await {
            Ok(r) => r.text().await.map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        },
        Err(e) => Err(e.to_string()),
    };
    task.abort();
    match answer {
        Ok(text) if text == marker => Check::pass(format!("{url} answers from this machine")),
        Ok(_) => Check::fail(
            format!("{url} is answered by something else"),
            "another program or a proxy intercepts it: choose another port with --bind",
        ),
        Err(e) => Check::fail(
            format!("{url} does not answer from this machine: {e}"),
            "a firewall may block the port: allow it (e.g. `sudo ufw allow PORT/tcp`)",
        ),
    }
}

/// A clock behind the build of this program, or behind what this data dir last wrote, is wrong:
/// countdowns, quiz points and admin sessions depend on it (machines without a battery-backed
/// clock start in the past when offline).
fn clock(dir: &Path) -> Check {
    let now = SystemTime::now();
    let newest = [std::env::current_exe().ok(), Some(dir.join("tallies.redb"))]
        .into_iter()
        .flatten()
        .filter_map(|p| std::fs::metadata(p).and_then(|m| m.modified()).ok())
        .max();
    let shown = humantime::format_rfc3339_seconds(now);
    match newest {
        Some(t) if t > now + Duration::from_secs(3600) => Check::fail(
            format!(
                "the clock reads {shown}, before files this machine wrote ({})",
                humantime::format_rfc3339_seconds(t)
            ),
            "set the date and time (`sudo timedatectl set-ntp true`, or `sudo date -s …`)",
        ),
        _ => Check::pass(format!("the clock reads {shown}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_hosts_and_loopback_join_addresses() {
        assert_eq!(url_host("http://10.0.0.5:8080/x?y"), "10.0.0.5");
        assert_eq!(url_host("https://[::1]:80"), "[::1]");
        assert_eq!(url_host("http://poll.example"), "poll.example");
        assert!(!join_address("127.0.0.1", false).ok);
        assert!(!join_address("[::1]", true).ok);
        assert!(!join_address("localhost", true).ok);
        assert!(!join_address("203.0.113.250", false).ok, "not this machine");
        assert!(
            join_address("203.0.113.250", true).ok,
            "a public URL elsewhere"
        );
        assert!(join_address("poll.example", true).ok);
    }

    #[test]
    fn the_bundled_broker_engine_is_read_like_kafka_sh_reads_it() {
        let tansu = engine(None).unwrap();
        assert_eq!(tansu.name, "tansu");
        assert_eq!(tansu.version, broker_setting("TANSU_VERSION"));
        assert!(tansu.version.starts_with(|c: char| c.is_ascii_digit()));
        assert_eq!(engine(Some("")).unwrap(), tansu);
        assert_eq!(engine(Some("tansu")).unwrap(), tansu);
        let nisshi = engine(Some("nisshi")).unwrap();
        assert_eq!(nisshi.name, "nisshi");
        assert!(nisshi.version.starts_with(|c: char| c.is_ascii_digit()));
        assert_ne!(nisshi.version, tansu.version);
        assert!(!broker_setting("NISSHI_MIN_RUST").is_empty());
        assert_eq!(engine(Some("Kafka")), Err("Kafka".to_string()));
    }

    #[test]
    fn a_missing_secret_next_to_tallies_fails_with_the_fix() {
        let dir = tempfile::tempdir().unwrap();
        assert!(secret(dir.path(), None).ok);
        std::fs::write(dir.path().join("tallies.redb"), b"").unwrap();
        let c = secret(dir.path(), None);
        assert!(!c.ok && c.to_string().contains("--new-secret"), "{c}");
        let missing = dir.path().join("cluster.key");
        let c = secret(dir.path(), Some(&missing));
        assert!(
            !c.ok && c.to_string().contains("livepoll secret new"),
            "{c}"
        );
    }
}
