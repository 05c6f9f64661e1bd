//! The bundled broker and `serve`'s handling of it, through the real binary and scripts.

use std::time::Duration;

use reqwest::StatusCode;

use crate::helpers::*;

fn kafka_cli(action: &str, dir: &std::path::Path, port: u16) -> std::process::Output {
    bin()
        .args(["kafka", action, "--data-dir"])
        .arg(dir)
        .args(["--kafka-port", &port.to_string()])
        .output()
        .unwrap()
}

#[test]
fn kafka_start_status_stop_through_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let out = kafka_cli("status", dir.path(), port);
    assert!(!out.status.success(), "nothing runs yet");
    let out = kafka_cli("start", dir.path(), port);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = kafka_cli("status", dir.path(), port);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("running"));
    // Each engine has its own file (scripts/kafka.sh, LIVEPOLL_BROKER).
    let log = match std::env::var("LIVEPOLL_BROKER").as_deref() {
        Ok("nisshi") => "kafka/nisshi.db",
        _ => "kafka/tansu.db",
    };
    assert!(
        dir.path().join(log).exists(),
        "the log is a SQLite file in the data dir"
    );
    let pid: i32 = std::fs::read_to_string(dir.path().join("kafka/broker.pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let out = kafka_cli("start", dir.path(), port);
    assert!(
        out.status.success(),
        "starting twice reuses the running broker"
    );
    let out = kafka_cli("stop", dir.path(), port);
    assert!(out.status.success());
    assert!(!pid_alive(pid), "the broker process is gone");
    assert!(!kafka_cli("status", dir.path(), port).status.success());
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_err());
}

#[tokio::test]
async fn serve_starts_the_bundled_broker_and_ctrl_c_stops_both() {
    let dir = tempfile::tempdir().unwrap();
    let (kport, hport) = (free_port(), free_port());
    let mut serve = ServeProcess::start_bundled(dir.path(), kport, hport);
    let client = reqwest::Client::new();
    serve.wait_healthy(120).await;
    let pid: i32 = std::fs::read_to_string(dir.path().join("kafka/broker.pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(pid_alive(pid));
    // An open screen (SSE stream) must not hold the stop up.
    let sse = client
        .get(format!("{}/api/events", serve.base))
        .send()
        .await
        .unwrap();
    assert_eq!(sse.status(), StatusCode::OK);
    serve.signal(libc::SIGINT);
    assert_eq!(serve.wait(30), Some(0), "Ctrl-C is a clean stop");
    drop(sse);
    let out = serve.stdout();
    assert!(out.contains("/screen") && out.contains("/admin"), "{out}");
    assert!(out.contains(ADMIN), "the admin token is printed");
    assert!(
        out.contains("http://") && out.contains('█'),
        "attendee URL with a QR code: {out}"
    );
    assert!(out.contains("bundled broker"), "{out}");
    std::thread::sleep(Duration::from_millis(200));
    assert!(
        !pid_alive(pid),
        "the broker serve started is stopped with it"
    );
}

#[tokio::test]
async fn serve_reuses_a_running_bundled_broker_and_leaves_it_running() {
    let dir = tempfile::tempdir().unwrap();
    let (kport, hport) = (free_port(), free_port());
    assert!(kafka_cli("start", dir.path(), kport).status.success());
    let mut serve = ServeProcess::start_bundled(dir.path(), kport, hport);
    serve.wait_healthy(60).await;
    serve.signal(libc::SIGTERM);
    assert_eq!(serve.wait(30), Some(0));
    assert!(serve.stdout().contains("already running"));
    assert!(
        kafka_cli("status", dir.path(), kport).status.success(),
        "still running"
    );
    assert!(kafka_cli("stop", dir.path(), kport).status.success());
}

#[tokio::test]
async fn serve_with_brokers_uses_that_cluster_and_leaves_it_running() {
    let broker = shared_broker();
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut serve = ServeProcess::start(
        &[
            "--data-dir",
            dir.path().to_str().unwrap(),
            "--brokers",
            &broker.bootstrap(),
            "--topic-prefix",
            &unique_prefix(),
        ],
        port,
    );
    serve.wait_healthy(60).await;
    assert!(
        !dir.path().join("kafka").exists(),
        "no bundled broker was started"
    );
    serve.signal(libc::SIGTERM);
    assert_eq!(serve.wait(30), Some(0));
    assert!(
        serve
            .stdout()
            .contains(&format!("external cluster {}", broker.bootstrap()))
    );
    assert!(
        pid_alive(broker.pid().unwrap()),
        "the external broker is left running"
    );
}

#[tokio::test]
async fn a_second_serve_on_the_same_data_dir_or_port_fails_with_one_clear_line() {
    let app = spawn_app().await;
    let port: u16 = app.base.rsplit(':').next().unwrap().parse().unwrap();
    let brokers = shared_broker().bootstrap();
    let out = bin()
        .args([
            "serve",
            "--bind",
            &format!("127.0.0.1:{}", free_port()),
            "--brokers",
            &brokers,
            "--data-dir",
        ])
        .arg(&app.data_dir)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("already using the data dir"), "{err}");
    let other = tempfile::tempdir().unwrap();
    let out = bin()
        .args([
            "serve",
            "--bind",
            &format!("127.0.0.1:{port}"),
            "--brokers",
            &brokers,
            "--data-dir",
        ])
        .arg(other.path())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("cannot listen on"), "{err}");
    assert_eq!(
        err.trim()
            .lines()
            .filter(|l| l.starts_with("livepoll:"))
            .count(),
        1
    );
}

#[tokio::test]
async fn a_kafka_port_taken_by_something_else_is_a_clear_error() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let kport = taken.local_addr().unwrap().port();
    let dir = tempfile::tempdir().unwrap();
    let out = bin()
        .args([
            "serve",
            "--bind",
            &format!("127.0.0.1:{}", free_port()),
            "--kafka-port",
            &kport.to_string(),
            "--data-dir",
        ])
        .arg(dir.path())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains(&format!("port {kport} is already in use")),
        "{err}"
    );
}

#[test]
fn qr_prints_a_code_and_the_url() {
    let out = bin().args(["qr", "http://10.0.0.5:8080"]).output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains('█') && text.contains("http://10.0.0.5:8080"));
    let out = bin()
        .args(["serve", "--bind", "not-an-address"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "bad usage exits 2");
}

#[test]
fn a_watched_broker_stops_when_its_watcher_exits() {
    let dir = tempfile::tempdir().unwrap();
    let broker = livepoll::broker::BundledBroker::new(dir.path(), free_port()).unwrap();
    let mut watcher = std::process::Command::new("sleep")
        .arg("30")
        .spawn()
        .unwrap();
    broker.start_watched(Some(watcher.id())).unwrap();
    let pid: i32 = std::fs::read_to_string(dir.path().join("kafka/broker.pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(pid_alive(pid));
    watcher.kill().unwrap();
    watcher.wait().unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    while pid_alive(pid) {
        assert!(
            std::time::Instant::now() < deadline,
            "the broker outlived its watcher"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[tokio::test]
async fn sigterm_while_serve_is_still_starting_stops_it_cleanly_with_its_broker() {
    let dir = tempfile::tempdir().unwrap();
    let (kport, hport) = (free_port(), free_port());
    let mut serve = ServeProcess::start_bundled(dir.path(), kport, hport);
    // Early: the bundled broker is still starting, nothing answers yet.
    tokio::time::sleep(Duration::from_millis(300)).await;
    serve.signal(libc::SIGTERM);
    let code = tokio::task::spawn_blocking(move || serve.wait(60))
        .await
        .unwrap();
    assert_eq!(code, Some(0), "a clean exit, not death by signal");
    assert!(
        !kafka_cli("status", dir.path(), kport).status.success(),
        "the broker it started is stopped"
    );
}

/// Does to the broker what livepoll's idempotent producer used to do after an outage: a message
/// that times out makes librdkafka bump the idempotent producer's epoch locally (no request to
/// the broker), and the next produce carries that epoch. Tansu 0.6.0 has no row for it and
/// panics in `idempotent_message_check` (tansu-storage src/lite.rs:503). The broker is frozen
/// with SIGSTOP for the timeout, so nothing is killed. Returns the last produce's result.
async fn produce_with_a_locally_bumped_epoch(bootstrap: &str, pid: i32, topic: &str) -> String {
    use rdkafka::producer::{FutureProducer, FutureRecord};
    let topics = livepoll::kafka::Topics {
        votes: topic.to_string(),
        polls: format!("{topic}.polls"),
        qa: format!("{topic}.qa"),
    };
    livepoll::kafka::ensure_topics(bootstrap, &topics, 1)
        .await
        .unwrap();
    let producer: FutureProducer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("enable.idempotence", "true")
        .set("message.timeout.ms", "2000")
        .set("request.timeout.ms", "1000")
        .create()
        .unwrap();
    let send = |n: u32| {
        let p = producer.clone();
        let topic = topic.to_string();
        async move {
            p.send(
                FutureRecord::to(&topic)
                    .key("k")
                    .payload(&format!("record {n}")),
                Duration::from_secs(5),
            )
            .await
            .map(|d| format!("delivered at offset {}", d.offset))
            .map_err(|(e, _)| e.to_string())
        }
    };
    send(1).await.expect("the first record is delivered");
    unsafe { libc::kill(pid, libc::SIGSTOP) };
    let timed_out = send(2).await;
    unsafe { libc::kill(pid, libc::SIGCONT) };
    assert!(timed_out.is_err(), "{timed_out:?}");
    match send(3).await {
        Ok(s) | Err(s) => s,
    }
}

fn broker_log(data_dir: &std::path::Path) -> String {
    std::fs::read_to_string(data_dir.join("kafka/broker.log")).unwrap_or_default()
}

fn broker_pid(data_dir: &std::path::Path) -> Option<i32> {
    std::fs::read_to_string(data_dir.join("kafka/broker.pid"))
        .ok()?
        .trim()
        .parse()
        .ok()
}

#[tokio::test]
async fn kafka_status_tells_a_wedged_broker_from_a_working_one() {
    let broker = TestBroker::start();
    let (dir, port) = (&broker.data_dir, broker.port);
    let out = kafka_cli("status", dir, port);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("running"));

    let pid = broker.pid().unwrap();
    let last = produce_with_a_locally_bumped_epoch(&broker.bootstrap(), pid, "wedge").await;
    assert!(
        broker_log(dir).contains("more or less than one row"),
        "Tansu 0.6.0 panicked on the bumped epoch (last produce: {last})"
    );
    // The panic took Tansu's storage task down: the process lives and still answers
    // ApiVersions, but no request that needs storage.
    assert!(pid_alive(pid));
    let out = kafka_cli("status", dir, port);
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{text}");
    assert!(text.contains("unresponsive"), "{text}");
    assert!(
        text.contains("answers ApiVersions but not Metadata"),
        "{text}"
    );
    let out = kafka_cli("start", dir, port);
    assert!(
        !out.status.success(),
        "start does not pass a wedged broker off as running"
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("does not answer Kafka requests"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // stop + start is the cure, and livepoll's producer writes to the restarted broker.
    assert!(kafka_cli("stop", dir, port).status.success());
    broker.restart();
    assert!(kafka_cli("status", dir, port).status.success());
    let producer = livepoll::kafka::VoteProducer::new(&broker.bootstrap()).unwrap();
    producer
        .send("wedge", "k", b"after the restart")
        .await
        .expect("the restarted broker takes writes");
    broker.broker.stop().unwrap();
}

/// Waits until the bundled broker in `dir` runs under a pid other than `old`; returns it.
async fn wait_for_new_broker_pid(dir: &std::path::Path, old: i32, secs: u64) -> i32 {
    let deadline = std::time::Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(pid) = broker_pid(dir)
            && pid != old
            && pid_alive(pid)
        {
            return pid;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the broker was not restarted within {secs} s; its log ends: {}",
            broker_log(dir)
                .lines()
                .rev()
                .take(5)
                .collect::<Vec<_>>()
                .join(" | ")
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Retries one vote until it gets a 202 (panics after `secs`).
async fn vote_within(api: &Api, voter: &str, poll: &str, choice: usize, secs: u64) {
    let deadline = std::time::Instant::now() + Duration::from_secs(secs);
    loop {
        let res = api
            .client
            .post(api.url(&format!("/api/polls/{poll}/votes")))
            .header("x-livepoll-voter", voter)
            .json(&serde_json::json!({ "choice": choice }))
            .send()
            .await;
        if res.is_ok_and(|r| r.status() == StatusCode::ACCEPTED) {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no 202 within {secs} s"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn serve_restarts_the_bundled_broker_it_started_when_it_dies_or_wedges() {
    let dir = tempfile::tempdir().unwrap();
    let (kport, hport) = (free_port(), free_port());
    let mut serve = ServeProcess::start_bundled(dir.path(), kport, hport);
    serve.wait_healthy(120).await;
    let api = serve.api();
    let id = api.open_poll(single(2)).await;
    let voter = api.session().await;
    vote_within(&api, &voter, &id, 0, 5).await;

    // Killed: restarted within a watch interval or two.
    let first = broker_pid(dir.path()).unwrap();
    unsafe { libc::kill(first, libc::SIGKILL) };
    let second = wait_for_new_broker_pid(dir.path(), first, 20).await;
    vote_within(&api, &voter, &id, 1, 15).await;

    // Wedged (alive, answering ApiVersions, failing everything else): restarted once it has
    // not answered for the watcher's patience.
    produce_with_a_locally_bumped_epoch(&format!("127.0.0.1:{kport}"), second, "wedge").await;
    assert!(broker_log(dir.path()).contains("more or less than one row"));
    let third = wait_for_new_broker_pid(dir.path(), second, 60).await;
    assert!(!pid_alive(second), "the wedged broker was stopped");
    vote_within(&api, &voter, &id, 0, 15).await;
    let r = api
        .wait_results(&id, |r| r["counts"] == serde_json::json!([1, 0]))
        .await;
    assert_eq!(r["voters"], 1, "the last acknowledged ballot counts, once");

    serve.signal(libc::SIGTERM);
    assert_eq!(serve.wait(60), Some(0));
    std::thread::sleep(Duration::from_millis(200));
    assert!(
        !pid_alive(third),
        "the broker serve restarted is stopped with it"
    );
}

/// `scripts/kafka.sh ACTION` run directly, with `LIVEPOLL_BROKER=broker` (whatever the test
/// process has), stopped with this test process if a test fails before its `stop`.
fn kafka_script(
    broker: &str,
    action: &str,
    dir: &std::path::Path,
    port: u16,
) -> std::process::Output {
    std::process::Command::new("bash")
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/kafka.sh"))
        .arg(action)
        .env("LIVEPOLL_BROKER", broker)
        .env("LIVEPOLL_DATA_DIR", dir)
        .env("KAFKA_PORT", port.to_string())
        .env_remove("KAFKA_HOME")
        .env("LIVEPOLL_WATCH_PID", std::process::id().to_string())
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap()
}

#[test]
fn an_unknown_bundled_broker_is_bad_usage_with_one_clear_line() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let out = kafka_script("bogus", "status", &data, free_port());
    assert_eq!(out.status.code(), Some(2), "bad usage exits 2");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("LIVEPOLL_BROKER=bogus") && err.contains("tansu") && err.contains("nisshi"),
        "names the bad value and the good ones: {err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(
        !data.exists(),
        "nothing is created for a bad LIVEPOLL_BROKER"
    );
}

/// Only where Nisshi is already installed (it needs a newer Rust than the rest to compile, so the
/// test never builds it): `LIVEPOLL_BROKER=nisshi` starts it with its own log file.
#[test]
fn nisshi_is_the_bundled_broker_when_selected() {
    let settings =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/kafka/tansu.env")).unwrap();
    let version = settings
        .lines()
        .find_map(|l| l.strip_prefix("NISSHI_VERSION="))
        .expect("kafka/tansu.env pins NISSHI_VERSION")
        .trim();
    let cache = std::env::var_os("LIVEPOLL_CACHE")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            std::path::Path::new(&std::env::var_os("HOME").unwrap()).join(".cache/livepoll")
        });
    let nisshi = cache.join(format!("nisshi-{version}/bin/nisshi"));
    if !nisshi.exists() {
        eprintln!(
            "skipped: Nisshi is not installed at {} (LIVEPOLL_BROKER=nisshi scripts/kafka.sh install)",
            nisshi.display()
        );
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let engine = format!("engine=nisshi-{version}");
    let out = kafka_script("nisshi", "start", dir.path(), port);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = kafka_script("nisshi", "status", dir.path(), port);
    let status = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{status}");
    assert!(
        status.starts_with("running") && status.contains(&engine),
        "{status}"
    );
    let out = kafka_script("tansu", "status", dir.path(), port);
    let status = String::from_utf8_lossy(&out.stdout);
    assert!(
        status.starts_with("running") && status.contains(&engine),
        "status names the engine that runs, whichever is selected: {status}"
    );
    assert!(
        dir.path().join("kafka/nisshi.db").exists(),
        "Nisshi's own log file"
    );
    assert!(!dir.path().join("kafka/tansu.db").exists());
    let pid = broker_pid(dir.path()).expect("a pid file");
    let out = kafka_script("nisshi", "stop", dir.path(), port);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!pid_alive(pid), "the broker process is gone");
    let out = kafka_script("nisshi", "status", dir.path(), port);
    assert_eq!(out.status.code(), Some(1), "stopped");
    assert!(String::from_utf8_lossy(&out.stdout).contains(&engine));
}
