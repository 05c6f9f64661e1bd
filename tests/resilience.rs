//! Crash safety and broker outages: what got a 202 is counted exactly once, whatever happens.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::*;

/// Posts a ballot until the server gives a definite answer: 202 (true) or a 4xx (false).
async fn vote_until_answered(
    api: &Api,
    voter: &str,
    poll: &str,
    choice: usize,
    retries: &AtomicUsize,
) -> bool {
    let path = format!("/api/polls/{poll}/votes");
    let body = json!({ "choice": choice });
    post_until_answered(api, voter, &path, Some(body), retries).await == StatusCode::ACCEPTED
}

#[tokio::test]
async fn tallies_equal_the_acknowledged_ballots_after_sigkill_mid_vote() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let args = child_serve_args(dir.path());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut serve = ServeProcess::start(&args, port);
    let api = serve.api();
    let health = api.url("/healthz");
    wait_status(&api.client, &health, StatusCode::OK, 60).await;
    let id = api.open_poll(single(4)).await;

    let mut voters = Vec::new();
    for _ in 0..200 {
        voters.push(api.session().await);
    }
    // Each voter votes, and a third change their vote; concurrently, 8 clients at a time.
    let acked: Arc<Mutex<HashMap<String, usize>>> = Arc::default();
    let retries: Arc<AtomicUsize> = Arc::default();
    let workers: Vec<_> = voters
        .chunks(25)
        .map(|chunk| {
            let (chunk, api, id, acked, retries) = (
                chunk.to_vec(),
                api.clone(),
                id.clone(),
                acked.clone(),
                retries.clone(),
            );
            tokio::spawn(async move {
                for (i, v) in chunk.iter().enumerate() {
                    let mut choices = vec![i % 4];
                    if i % 3 == 0 {
                        choices.push((i + 1) % 4);
                    }
                    for c in choices {
                        if vote_until_answered(&api, v, &id, c, &retries).await {
                            acked.lock().unwrap().insert(v.clone(), c);
                        }
                        tokio::time::sleep(Duration::from_millis(30)).await;
                    }
                }
            })
        })
        .collect();
    // Kill the server twice while votes stream in, restarting it each time.
    for _ in 0..2 {
        tokio::time::sleep(Duration::from_millis(400)).await;
        let before_kill = acked.lock().unwrap().len();
        assert!(
            before_kill < 200,
            "votes are still streaming in when the server is killed"
        );
        serve.signal(libc::SIGKILL);
        serve.wait(10);
        tokio::time::sleep(Duration::from_millis(300)).await;
        serve = ServeProcess::start(&args, port);
        wait_status(&api.client, &health, StatusCode::OK, 60).await;
    }
    for w in workers {
        w.await.unwrap();
    }
    assert!(
        retries.load(Ordering::Relaxed) > 0,
        "the kills hit requests in flight"
    );
    let acked = acked.lock().unwrap().clone();
    assert_eq!(acked.len(), 200, "every voter eventually got a 202");
    let mut expected = [0u64; 4];
    for c in acked.values() {
        expected[*c] += 1;
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let p = api.poll(&id).await;
        if p["results"]["counts"] == json!(expected) && p["results"]["voters"] == 200 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "tallies {} != acknowledged ballots {expected:?}",
            p["results"]
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    serve.signal(libc::SIGTERM);
    assert_eq!(serve.wait(30), Some(0));
}

#[tokio::test]
async fn a_broker_outage_gives_503_and_loses_nothing_acknowledged() {
    let broker = TestBroker::start();
    let app = spawn_app_on(&broker).await;
    let health = app.url("/healthz");
    wait_status(&app.client, &health, StatusCode::OK, 10).await;
    let id = app.open_poll(single(2)).await;
    let mut acked = 0;
    for _ in 0..20 {
        let v = app.session().await;
        assert_eq!(
            app.vote(&v, &id, json!({"choice": 0})).await,
            StatusCode::ACCEPTED
        );
        acked += 1;
    }

    // Kill the broker hard.
    let pid = broker.pid().unwrap();
    unsafe { libc::kill(pid, libc::SIGKILL) };
    wait_status(&app.client, &health, StatusCode::SERVICE_UNAVAILABLE, 15).await;
    let body: Value = app.get("/healthz").await;
    assert!(body["reason"].as_str().unwrap().contains("Kafka"), "{body}");
    let voter = app.session().await;
    let t0 = Instant::now();
    let res = app
        .client
        .post(app.url(&format!("/api/polls/{id}/votes")))
        .header("x-livepoll-voter", &voter)
        .json(&json!({"choice": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(res.headers().contains_key("retry-after"));
    assert!(
        t0.elapsed() < Duration::from_secs(2),
        "503 comes quickly, not after a hang"
    );

    // Bring it back: the same data dir, so the log survives.
    broker.restart();
    wait_status(&app.client, &health, StatusCode::OK, 30).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    while app.vote(&voter, &id, json!({"choice": 1})).await != StatusCode::ACCEPTED {
        assert!(
            Instant::now() < deadline,
            "votes work again after the broker is back"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let r = app.wait_results(&id, |r| r["voters"] == acked + 1).await;
    assert_eq!(
        r["counts"],
        json!([acked, 1]),
        "nothing acknowledged was lost"
    );
    broker.broker.stop().unwrap();
}

/// What the voting clients of [`the_broker_killed_ten_times_with_votes_arriving_comes_back_every_time`]
/// saw.
#[derive(Default)]
struct Intake {
    /// Each voter's last acknowledged choice.
    acked: HashMap<String, usize>,
    /// When the latest 202 came.
    last_accepted: Option<Instant>,
}

#[tokio::test]
async fn the_broker_killed_ten_times_with_votes_arriving_comes_back_every_time() {
    const OUTAGES: usize = 10;
    // Longer than the producer's delivery timeout (5 s), so the votes caught in the producer
    // when the broker dies time out during the outage: what used to leave livepoll at 503.
    const OUTAGE: Duration = Duration::from_millis(5_500);
    let broker = TestBroker::start();
    let app = spawn_app_on(&broker).await;
    let health = app.url("/healthz");
    wait_status(&app.client, &health, StatusCode::OK, 10).await;
    let id = app.open_poll(single(3)).await;
    let mut voters = Vec::new();
    for _ in 0..24 {
        voters.push(app.session().await);
    }

    // Four clients vote without a pause, each ballot retried until it gets a 202 (a real phone
    // retries); every voter changes their choice again and again. `refused` counts the answers
    // other than 202 (503s, connection errors) that made a client retry.
    let intake: Arc<Mutex<Intake>> = Arc::default();
    let stop = tokio_util::sync::CancellationToken::new();
    let refused: Arc<AtomicUsize> = Arc::default();
    let workers: Vec<_> = voters
        .chunks(6)
        .map(|chunk| {
            let (chunk, api, id, intake, stop, refused) = (
                chunk.to_vec(),
                (*app).clone(),
                id.clone(),
                intake.clone(),
                stop.clone(),
                refused.clone(),
            );
            tokio::spawn(async move {
                let mut n = 0usize;
                while !stop.is_cancelled() {
                    let voter = &chunk[n % chunk.len()];
                    let choice = (n / chunk.len()) % 3;
                    if vote_until_answered(&api, voter, &id, choice, &refused).await {
                        let mut i = intake.lock().unwrap();
                        i.acked.insert(voter.clone(), choice);
                        i.last_accepted = Some(Instant::now());
                    }
                    n += 1;
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            })
        })
        .collect();

    let mut recoveries = Vec::new();
    for round in 1..=OUTAGES {
        tokio::time::sleep(Duration::from_millis(700)).await;
        let accepted_before = intake.lock().unwrap().last_accepted;
        assert!(
            accepted_before.is_some_and(|t| t.elapsed() < Duration::from_secs(1)),
            "outage {round}: votes are flowing when the broker is killed"
        );
        let refused_before = refused.load(Ordering::Relaxed);
        unsafe { libc::kill(broker.pid().unwrap(), libc::SIGKILL) };
        tokio::time::sleep(OUTAGE).await;
        assert!(
            refused.load(Ordering::Relaxed) > refused_before,
            "outage {round}: votes arrived during the outage and were refused"
        );
        broker.restart();
        // `restart` returns once the broker answers Kafka requests.
        let answering = Instant::now();
        loop {
            let last = intake.lock().unwrap().last_accepted;
            if last.is_some_and(|t| t > answering) {
                break;
            }
            assert!(
                answering.elapsed() < Duration::from_secs(10),
                "outage {round}: no vote got a 202 within 10 s of the broker answering again \
                 (recoveries so far: {recoveries:?})"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        recoveries.push(answering.elapsed());
    }
    eprintln!("202 again after the broker answered: {recoveries:?}");

    stop.cancel();
    for w in workers {
        w.await.unwrap();
    }
    let acked = intake.lock().unwrap().acked.clone();
    assert_eq!(acked.len(), voters.len());
    let mut expected = [0u64; 3];
    for c in acked.values() {
        expected[*c] += 1;
    }
    let r = app
        .wait_results(&id, |r| r["counts"] == json!(expected))
        .await;
    assert_eq!(
        r["voters"],
        voters.len(),
        "every voter counted once, with their last acknowledged ballot"
    );
    broker.broker.stop().unwrap();
}
