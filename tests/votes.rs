//! Votes end to end against the real broker: tallies, re-votes, errors, SSE, rebuild.

use std::time::{Duration, Instant};

use futures::StreamExt;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::*;

#[tokio::test]
async fn votes_from_many_voters_are_tallied_exactly() {
    let app = spawn_app().await;
    let id = app.open_poll(single(4)).await;
    let mut expected = [0u64; 4];
    let voters: Vec<(String, usize)> = futures::future::join_all((0..300).map(|i| {
        let app = &app;
        async move { (app.session().await, i % 4) }
    }))
    .await;
    for (_, c) in &voters {
        expected[*c] += 1;
    }
    let statuses = futures::stream::iter(voters.iter())
        .map(|(v, c)| app.vote(v, &id, json!({ "choice": c })))
        .buffer_unordered(32)
        .collect::<Vec<_>>()
        .await;
    assert!(
        statuses.iter().all(|s| *s == StatusCode::ACCEPTED),
        "{statuses:?}"
    );
    let r = app.wait_results(&id, |r| r["voters"] == 300).await;
    assert_eq!(r["counts"], json!(expected));
    // /healthz counts the ballots applied (packed or not), in this test's own topic.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let health: Value = app.get("/healthz").await;
        if health["votes_applied"] == 300 {
            break;
        }
        assert!(Instant::now() < deadline, "{health}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_second_vote_replaces_the_first() {
    let app = spawn_app().await;
    let id = app.open_poll(single(3)).await;
    let (a, b) = (app.session().await, app.session().await);
    assert_eq!(
        app.vote(&a, &id, json!({"choice": 0})).await,
        StatusCode::ACCEPTED
    );
    assert_eq!(
        app.vote(&b, &id, json!({"choice": 0})).await,
        StatusCode::ACCEPTED
    );
    app.wait_results(&id, |r| r["counts"] == json!([2, 0, 0]))
        .await;
    assert_eq!(
        app.vote(&a, &id, json!({"choice": 2})).await,
        StatusCode::ACCEPTED
    );
    let r = app
        .wait_results(&id, |r| r["counts"] == json!([1, 0, 1]))
        .await;
    assert_eq!(r["voters"], 2);
    // The voter's own ballot comes back with the poll (pages remember it across reloads).
    let mine: Value = app
        .client
        .get(app.url(&format!("/api/polls/{id}")))
        .header("x-livepoll-voter", &a)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(mine["my_ballot"], json!({"choices": [2]}));
}

#[tokio::test]
async fn rejected_votes_get_their_error_code_and_change_nothing() {
    let app = spawn_app().await;
    let id = app.open_poll(single(2)).await;
    let voter = app.session().await;
    assert_eq!(
        app.vote(&voter, &id, json!({"choice": 0})).await,
        StatusCode::ACCEPTED
    );
    let before = app.wait_results(&id, |r| r["voters"] == 1).await;

    let post = |voter: Option<&str>, path: String, body: String| {
        let mut r = app
            .client
            .post(app.url(&path))
            .header("content-type", "application/json")
            .body(body);
        if let Some(v) = voter {
            r = r.header("x-livepoll-voter", v);
        }
        async move { r.send().await.unwrap() }
    };
    let votes = format!("/api/polls/{id}/votes");
    let check = |res: reqwest::Response, want: StatusCode, code: &'static str| async move {
        assert_eq!(res.status(), want);
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["error"], code, "{body}");
        assert!(!body["message"].as_str().unwrap().is_empty());
    };
    check(
        post(Some(&voter), votes.clone(), "{not json".into()).await,
        StatusCode::BAD_REQUEST,
        "bad_request",
    )
    .await;
    check(
        post(Some(&voter), votes.clone(), r#"{"choice": 7}"#.into()).await,
        StatusCode::BAD_REQUEST,
        "bad_request",
    )
    .await;
    check(
        post(Some(&voter), votes.clone(), r#"{"rating": 1}"#.into()).await,
        StatusCode::BAD_REQUEST,
        "bad_request",
    )
    .await;
    check(
        post(None, votes.clone(), r#"{"choice": 1}"#.into()).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
    let forged = format!("{}x", &voter[..voter.len() - 1]);
    check(
        post(Some(&forged), votes.clone(), r#"{"choice": 1}"#.into()).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
    check(
        post(
            Some(&voter),
            "/api/polls/nope/votes".into(),
            r#"{"choice": 1}"#.into(),
        )
        .await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    let big = format!(r#"{{"text": "{}"}}"#, "a".repeat(17 * 1024));
    check(
        post(Some(&voter), votes.clone(), big).await,
        StatusCode::PAYLOAD_TOO_LARGE,
        "too_large",
    )
    .await;
    // A draft and a closed poll are not open: 409.
    let draft = app
        .admin_post("/api/polls", Some(single(2)))
        .await
        .json::<Value>()
        .await
        .unwrap();
    let draft_votes = format!("/api/polls/{}/votes", draft["id"].as_str().unwrap());
    check(
        post(Some(&voter), draft_votes, r#"{"choice": 1}"#.into()).await,
        StatusCode::CONFLICT,
        "conflict",
    )
    .await;
    // Rate limit: a burst far above a human's pace gets 429 with Retry-After.
    let flood = app.session().await;
    let mut limited = None;
    for _ in 0..40 {
        let res = post(Some(&flood), votes.clone(), r#"{"choice": 1}"#.into()).await;
        if res.status() == StatusCode::TOO_MANY_REQUESTS {
            limited = Some(res);
            break;
        }
    }
    let limited = limited.expect("the flood was rate limited");
    assert!(limited.headers().contains_key("retry-after"));
    // Everything above changed nothing except the flood voter's accepted ballot (choice 1).
    let after = app.wait_results(&id, |r| r["voters"] == 2).await;
    assert_eq!(after["counts"], json!([1, 1]), "before: {before}");
    assert_eq!(
        app.admin_post(&format!("/api/polls/{id}/close"), None)
            .await
            .status(),
        StatusCode::OK
    );
    check(
        post(Some(&voter), votes.clone(), r#"{"choice": 1}"#.into()).await,
        StatusCode::CONFLICT,
        "conflict",
    )
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(app.poll(&id).await["results"], after);
}

#[tokio::test]
async fn an_sse_client_sees_a_vote_within_a_blink() {
    let app = spawn_app().await;
    let id = app.open_poll(single(2)).await;
    let res = app.client.get(app.url("/api/events")).send().await.unwrap();
    assert_eq!(res.headers()["content-type"], "text/event-stream");
    let mut stream = res.bytes_stream();
    let mut buf = String::new();
    // The current state comes first: polls with their results, then what is on air.
    while !buf.contains("event:screen") {
        buf.push_str(&String::from_utf8_lossy(
            &stream.next().await.unwrap().unwrap(),
        ));
    }
    assert!(buf.contains("event:poll") && buf.contains("event:results"));
    assert!(
        buf.find("event:poll") < buf.find("event:screen"),
        "a page learns the poll's state before it is put on air"
    );
    buf.clear();
    let voter = app.session().await;
    let t0 = Instant::now();
    assert_eq!(
        app.vote(&voter, &id, json!({"choice": 1})).await,
        StatusCode::ACCEPTED
    );
    let deadline = Duration::from_secs(10);
    let seen = tokio::time::timeout(deadline, async {
        loop {
            buf.push_str(&String::from_utf8_lossy(
                &stream.next().await.unwrap().unwrap(),
            ));
            if buf.contains(r#""counts":[0,1]"#) {
                return t0.elapsed();
            }
        }
    })
    .await
    .expect("the vote reached the stream");
    eprintln!("vote to SSE: {seen:?}");
}

#[tokio::test]
async fn deleting_the_tally_database_rebuilds_identical_results_from_kafka() {
    let mut app = spawn_app().await;
    let id = app.open_poll(single(3)).await;
    let word = app
        .open_poll(json!({"question": "One word?", "kind": "wordcloud"}))
        .await;
    for i in 0..60 {
        let v = app.session().await;
        assert_eq!(
            app.vote(&v, &id, json!({"choice": i % 3})).await,
            StatusCode::ACCEPTED
        );
        if i % 4 == 0 {
            assert_eq!(
                app.vote(&v, &id, json!({"choice": 2})).await,
                StatusCode::ACCEPTED
            );
        }
        assert_eq!(
            app.vote(
                &v,
                &word,
                json!({"text": if i % 2 == 0 { "Rust" } else { "kafka " }})
            )
            .await,
            StatusCode::ACCEPTED
        );
    }
    assert_eq!(
        app.admin_post(&format!("/api/polls/{id}/reset"), None)
            .await
            .status(),
        StatusCode::OK
    );
    let v = app.session().await;
    assert_eq!(
        app.vote(&v, &id, json!({"choice": 1})).await,
        StatusCode::ACCEPTED
    );
    app.wait_results(&id, |r| r["voters"] == 1).await;
    app.wait_results(&word, |r| r["voters"] == 60).await;
    let before_csv = app
        .admin_text(&format!("/api/polls/{id}/results.csv"))
        .await;
    let before_words = app.poll(&word).await["results"].clone();
    assert_eq!(before_words["words"], json!([["kafka", 30], ["Rust", 30]]));
    app.stop().await;

    std::fs::remove_file(app.data_dir.join("tallies.redb")).unwrap();
    let again = spawn_app_with(serve_args(&app.brokers, &app.data_dir, &app.prefix)).await;
    again.wait_results(&word, |r| r["voters"] == 60).await;
    again.wait_results(&id, |r| r["voters"] == 1).await;
    assert_eq!(again.poll(&word).await["results"], before_words);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let after_csv = again
            .admin_text(&format!("/api/polls/{id}/results.csv"))
            .await;
        if after_csv == before_csv {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "every round rebuilds identically:\n{before_csv}\n---\n{after_csv}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        before_csv.lines().count() == 7,
        "two rounds of three options: {before_csv}"
    );
}

/// A tally database that has read further than the log goes was built from another log (the
/// bundled broker switched engine, its `kafka/` was deleted, another cluster): consuming from
/// its offsets would skip every new vote below them. `serve` refuses to start, saying what to
/// do, and starts once the database is deleted.
#[tokio::test]
async fn a_tally_database_from_another_log_is_refused_at_start() {
    let mut app = spawn_app().await;
    app.open_poll_with_one_vote(1).await;
    app.stop().await;

    // The same data dir and topics, on an empty log.
    let other = TestBroker::start();
    let args = serve_args(&other.bootstrap(), &app.data_dir, &app.prefix);
    let err = match livepoll::app::Application::build(args).await {
        Ok(_) => panic!("serve started on a log its tally database was not built from"),
        Err(e) => e,
    };
    assert!(
        err.downcast_ref::<livepoll::app::ConfigError>().is_some(),
        "a configuration error (exit code 2): {err:#}"
    );
    let msg = format!("{err:#}");
    assert!(
        msg.contains("belongs to another Kafka log") && msg.contains("delete tallies.redb"),
        "says why and what to do: {msg}"
    );

    std::fs::remove_file(app.data_dir.join("tallies.redb")).unwrap();
    let args = serve_args(&other.bootstrap(), &app.data_dir, &app.prefix);
    let mut fresh = spawn_app_with(args).await;
    fresh.open_poll_with_one_vote(0).await;
    fresh.stop().await;
    other.broker.stop().ok();
}
