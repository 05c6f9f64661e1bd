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
