//! Supervision that survives restarts: a serve killed and started again takes over the bundled
//! broker the first one started, and brings it back when it dies.

use std::time::Duration;

use serde_json::json;

use crate::helpers::{ServeProcess, free_port, pid_alive, single};

fn broker_pid(dir: &std::path::Path) -> Option<i32> {
    std::fs::read_to_string(dir.join("kafka/broker.pid"))
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// Votes until one gets a 202 (panics after `secs`).
async fn vote_within(api: &crate::helpers::Api, voter: &str, poll: &str, choice: usize, secs: u64) {
    let deadline = std::time::Instant::now() + Duration::from_secs(secs);
    loop {
        if api.vote(voter, poll, json!({ "choice": choice })).await == reqwest::StatusCode::ACCEPTED
        {
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
async fn a_serve_restarted_after_a_crash_brings_a_killed_broker_back() {
    let dir = tempfile::tempdir().unwrap();
    let (kport, hport) = (free_port(), free_port());
    let mut first = ServeProcess::start_bundled(dir.path(), kport, hport);
    first.wait_healthy(120).await;
    let api = first.api();
    let poll = api.open_poll(single(2)).await;
    let voter = api.session().await;
    vote_within(&api, &voter, &poll, 0, 10).await;
    let broker = broker_pid(dir.path()).unwrap();

    // serve crashes; its broker keeps running (it is in its own session).
    first.signal(libc::SIGKILL);
    first.wait(10);
    assert!(pid_alive(broker));
    let mut second = ServeProcess::start_bundled(dir.path(), kport, hport);
    second.wait_healthy(120).await;

    // The broker dies: the second serve starts it again.
    unsafe { libc::kill(broker, libc::SIGKILL) };
    super::wait_for(30, "a new broker", || async {
        broker_pid(dir.path()).filter(|p| *p != broker && pid_alive(*p))
    })
    .await;
    vote_within(&api, &voter, &poll, 1, 30).await;
    api.wait_results(&poll, |r| r["counts"] == json!([0, 1]))
        .await;

    // It took the broker over: stopping it stops the broker too.
    let restarted = broker_pid(dir.path()).unwrap();
    second.signal(libc::SIGTERM);
    assert_eq!(second.wait(60), Some(0));
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        !pid_alive(restarted),
        "the broker it supervised stopped with it"
    );
}

/// A broker whose log was lost is not replaced by an empty one under a running serve: an empty
/// broker would make every node forget the event, and librdkafka clients still connected to
/// the old log crashed on its fetch answers (serve died with SIGSEGV). serve stays up, says why
/// on `/healthz`, and refuses votes instead of acknowledging them into a log that is gone.
#[tokio::test]
async fn a_broker_whose_log_is_gone_is_not_restarted_empty_and_serve_says_why() {
    let dir = tempfile::tempdir().unwrap();
    let (kport, hport) = (free_port(), free_port());
    let mut serve = ServeProcess::start_bundled(dir.path(), kport, hport);
    serve.wait_healthy(120).await;
    let api = serve.api();
    let poll = api.open_poll(single(2)).await;
    let voter = api.session().await;
    vote_within(&api, &voter, &poll, 0, 10).await;
    let broker = broker_pid(dir.path()).unwrap();

    // The log goes (a wrong `rm`, a disk swapped), then the broker dies.
    let logs = || {
        std::fs::read_dir(dir.path().join("kafka"))
            .unwrap()
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                let name = p.file_name().unwrap().to_string_lossy().to_string();
                name.ends_with(".db") || name.ends_with(".db-wal") || name.ends_with(".db-shm")
            })
            .collect::<Vec<_>>()
    };
    assert!(!logs().is_empty(), "the broker's log is in the data dir");
    for f in logs() {
        std::fs::remove_file(f).unwrap();
    }
    unsafe { libc::kill(broker, libc::SIGKILL) };

    let reason = super::wait_for(30, "/healthz naming the lost log", || async {
        let res = api
            .client
            .get(format!("{}/healthz", api.base))
            .send()
            .await
            .ok()?;
        let status = res.status();
        let body: serde_json::Value = res.json().await.ok()?;
        let reason = body["reason"].as_str()?.to_string();
        (status == reqwest::StatusCode::SERVICE_UNAVAILABLE && reason.contains("is gone"))
            .then_some(reason)
    })
    .await;
    assert!(reason.contains("restore"), "it says what to do: {reason}");
    assert_eq!(
        api.vote(&voter, &poll, json!({ "choice": 1 })).await,
        reqwest::StatusCode::SERVICE_UNAVAILABLE
    );
    // Checks run every 2 s: a few of them later, still no empty broker, and serve is alive.
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert!(
        logs().is_empty(),
        "no empty broker took the lost log's place"
    );
    assert!(
        serve.child.try_wait().unwrap().is_none(),
        "serve is still running"
    );
    serve.signal(libc::SIGTERM);
    assert_eq!(serve.wait(60), Some(0));
}
