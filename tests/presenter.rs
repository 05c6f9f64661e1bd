//! The presenter's flow through the API (docs/api.md "Presenting"): Next continues from the
//! presenter's position and skips played polls, Previous steps back through what was shown, a
//! timed poll that leaves the air pauses and resumes its remaining time, Reset then Present opens
//! the next round, a discarded round leaves results and exports (on every node and after a
//! rebuild), and `simulate` never votes on a poll by itself.

use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::*;

async fn create(app: &Api, id: &str, extra: Value) {
    let mut def = json!({"id": id, "question": format!("Question {id}?"), "kind": "single", "options": ["yes", "no"]});
    for (k, v) in extra.as_object().unwrap() {
        def[k] = v.clone();
    }
    let res = app.admin_post("/api/polls", Some(def)).await;
    assert_eq!(res.status(), StatusCode::CREATED);
}

async fn step(app: &Api, dir: &str) -> Value {
    let res = app.admin_post(&format!("/api/screen/{dir}"), None).await;
    assert_eq!(res.status(), StatusCode::OK);
    res.json::<Value>().await.unwrap()["poll"].clone()
}

async fn present(app: &Api, id: &str) -> Value {
    let res = app
        .admin_post(&format!("/api/polls/{id}/present"), None)
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    res.json().await.unwrap()
}

/// Casts one ballot from a new voter and waits until it is counted.
async fn vote_counted(app: &Api, id: &str) {
    let before = app.poll(id).await["results"]["voters"].as_u64().unwrap();
    let voter = app.session().await;
    assert_eq!(
        app.vote(&voter, id, json!({"choice": 0})).await,
        StatusCode::ACCEPTED
    );
    app.wait_results(id, |r| r["voters"].as_u64() == Some(before + 1))
        .await;
}

async fn screen(app: &Api) -> Value {
    app.get("/api/screen").await
}

#[tokio::test]
async fn next_continues_from_the_presenter_position_and_skips_played_polls() {
    let app = spawn_app().await;
    for id in ["a", "b", "c", "d", "e"] {
        create(&app, id, json!({})).await;
    }
    assert_eq!(screen(&app).await["next"], "a");
    assert_eq!(step(&app, "next").await, "a");
    vote_counted(&app, "a").await;
    assert_eq!(step(&app, "next").await, "b");
    assert_eq!(app.poll("a").await["state"], "closed", "untimed: closes");
    vote_counted(&app, "b").await;
    assert_eq!(step(&app, "next").await, "c");
    vote_counted(&app, "c").await;

    // Off air for Q&A: the position stays, and Next continues after it (not at poll 1).
    app.put_on_air(None).await;
    let s = screen(&app).await;
    assert_eq!(
        (s["poll"].clone(), s["position"].clone(), s["next"].clone()),
        (Value::Null, json!("c"), json!("d"))
    );
    let res = app
        .as_admin(Method::PUT, "/api/screen")
        .json(&json!({"view": "qa"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        app.poll("c").await["state"],
        "open",
        "off air keeps an untimed poll's state"
    );
    assert_eq!(step(&app, "next").await, "d");
    app.admin_post("/api/polls/c/close", None).await;
    vote_counted(&app, "d").await;

    // Showing a played poll again is an explicit choice; it keeps its results and state, and Next
    // after it skips every played poll.
    let a = present(&app, "a").await;
    assert_eq!(
        (a["state"].clone(), a["round"].clone()),
        (json!("closed"), json!(1))
    );
    assert_eq!(screen(&app).await["next"], "e");
    assert_eq!(step(&app, "next").await, "e");
    vote_counted(&app, "e").await;

    // Previous steps back through what was shown, most recent first.
    assert_eq!(step(&app, "previous").await, "a");
    assert_eq!(step(&app, "previous").await, "d");
    assert_eq!(
        app.poll("d").await["state"],
        "closed",
        "shown with its results"
    );
    assert_eq!(step(&app, "previous").await, "c");

    // Past the end Next shows the join screen; the position stays.
    present(&app, "e").await;
    assert_eq!(screen(&app).await["next"], Value::Null);
    assert_eq!(step(&app, "next").await, Value::Null);
    assert_eq!(screen(&app).await["position"], "e");

    // Every node (and a rebuild) agrees on the position: it is in the log.
    let other_dir = tempfile::tempdir().unwrap();
    let other = spawn_app_with(node_args(
        &app.brokers,
        other_dir.path(),
        &app.prefix,
        &app.data_dir,
    ))
    .await;
    let deadline = Instant::now() + Duration::from_secs(20);
    while screen(&other).await["position"] != "e" {
        assert!(Instant::now() < deadline, "the second node never caught up");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(screen(&other).await["next"], Value::Null);
    assert_eq!(step(&other, "previous").await, "e", "back to the position");
    assert_eq!(step(&other, "previous").await, "c");
}

/// The server's clock, as the pages see it.
async fn server_now(app: &Api) -> u64 {
    app.get::<Value>("/api/info").await["now"].as_u64().unwrap()
}

#[tokio::test]
async fn a_timed_poll_that_leaves_the_air_pauses_and_resumes_its_remaining_time() {
    let app = spawn_app().await;
    create(&app, "timed", json!({"duration_secs": 90})).await;
    create(&app, "other", json!({})).await;
    let on = present(&app, "timed").await;
    let first_end = on["closes_at"].as_u64().unwrap();
    // Three seconds of its time go by on air.
    let deadline = Instant::now() + Duration::from_secs(20);
    while server_now(&app).await < first_end - 87_000 {
        assert!(Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Next (a clicker slip) pauses it: no votes, its time left kept.
    assert_eq!(step(&app, "next").await, "other");
    let paused = app.poll("timed").await;
    assert_eq!(paused["state"], "paused", "{paused}");
    assert_eq!(paused["closes_at"], Value::Null);
    let left = paused["remaining_ms"].as_u64().unwrap();
    assert!((1..=87_000).contains(&left), "{left}");
    let voter = app.session().await;
    let res = app
        .client
        .post(app.url("/api/polls/timed/votes"))
        .header("x-livepoll-voter", &voter)
        .json(&json!({"choice": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CONFLICT);
    let body: Value = res.json().await.unwrap();
    assert!(
        body["message"].as_str().unwrap().contains("paused"),
        "{body}"
    );

    // Previous puts it back on air: the remaining time runs again, not the whole timer.
    assert_eq!(step(&app, "previous").await, "timed");
    let resumed = app.poll("timed").await;
    assert_eq!(resumed["state"], "open");
    let end = resumed["closes_at"].as_u64().unwrap();
    let now = server_now(&app).await;
    assert!(
        end <= now + left,
        "resumed with {} ms, had {left}",
        end - now
    );
    assert!(end > now);
    assert_eq!(
        app.vote(&voter, "timed", json!({"choice": 1})).await,
        StatusCode::ACCEPTED
    );

    // Off air it pauses again; Close closes a paused poll.
    app.put_on_air(None).await;
    assert_eq!(app.poll("timed").await["state"], "paused");
    let closed = app.admin_post("/api/polls/timed/close", None).await;
    assert_eq!(closed.json::<Value>().await.unwrap()["state"], "closed");
}

#[tokio::test]
async fn reset_then_present_opens_the_next_round_with_its_timer() {
    let app = spawn_app().await;
    create(&app, "r", json!({"duration_secs": 60})).await;
    create(&app, "s", json!({})).await;
    present(&app, "r").await;
    vote_counted(&app, "r").await;
    app.admin_post("/api/polls/r/close", None).await;
    present(&app, "s").await;

    // Off air: the new round waits, and opens with its full timer when presented.
    let reset: Value = app
        .admin_post("/api/polls/r/reset", None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        (reset["round"].clone(), reset["state"].clone()),
        (json!(2), json!("closed"))
    );
    let on = present(&app, "r").await;
    assert_eq!(
        (on["round"].clone(), on["state"].clone()),
        (json!(2), json!("open"))
    );
    assert!(on["closes_at"].as_u64().is_some());
    let voter = app.session().await;
    assert_eq!(
        app.vote(&voter, "r", json!({"choice": 1})).await,
        StatusCode::ACCEPTED
    );

    // On air: Reset of a closed poll opens the new round at once.
    app.admin_post("/api/polls/r/close", None).await;
    let again: Value = app
        .admin_post("/api/polls/r/reset", None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        (again["round"].clone(), again["state"].clone()),
        (json!(3), json!("open"))
    );
    assert!(again["closes_at"].as_u64().is_some());
}

/// The CSV export of a poll, as an admin downloads it.
async fn csv(app: &Api, id: &str) -> String {
    app.admin_text(&format!("/api/polls/{id}/results.csv"))
        .await
}

/// The round column of each row of a poll's CSV export.
fn csv_rounds(csv: &str) -> Vec<u32> {
    csv.lines()
        .skip(1)
        .map(|row| row.split(',').nth(3).unwrap().parse().unwrap())
        .collect()
}

#[tokio::test]
async fn a_discarded_round_leaves_results_and_exports_on_every_node_and_after_a_rebuild() {
    let app = spawn_app().await;
    create(&app, "rehearsed", json!({})).await;
    present(&app, "rehearsed").await;
    vote_counted(&app, "rehearsed").await;
    vote_counted(&app, "rehearsed").await;
    let res = app
        .admin_post("/api/polls/rehearsed/rounds/1/discard", None)
        .await;
    assert_eq!(res.status(), StatusCode::CONFLICT, "the current round");
    assert_eq!(res.json::<Value>().await.unwrap()["error"], "conflict");
    app.admin_post("/api/polls/rehearsed/reset", None).await;
    vote_counted(&app, "rehearsed").await;
    assert_eq!(csv_rounds(&csv(&app, "rehearsed").await), [1, 1, 2, 2]);

    let res = app
        .admin_post("/api/polls/rehearsed/rounds/9/discard", None)
        .await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    let res = app
        .client
        .post(app.url("/api/polls/rehearsed/rounds/1/discard"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let res = app
        .admin_post("/api/polls/rehearsed/rounds/1/discard", None)
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let p: Value = res.json().await.unwrap();
    assert_eq!(p["rounds"][0]["discarded"], true, "{p}");
    assert_eq!(p["rounds"][1].get("discarded"), None);

    let check = |csv: String, report: Value| {
        assert_eq!(csv_rounds(&csv), [2, 2], "only round 2: {csv}");
        assert_eq!(report["discarded_rounds"], json!([1]), "{report}");
        assert_eq!(report["rounds"].as_array().unwrap().len(), 1);
        assert_eq!(report["rounds"][0]["voters"], 1);
    };
    check(
        csv(&app, "rehearsed").await,
        app.admin_get("/api/polls/rehearsed/results.json").await,
    );
    assert_eq!(app.poll("rehearsed").await["results"]["voters"], 1);

    // A second node on the same topics.
    let other_dir = tempfile::tempdir().unwrap();
    let other = spawn_app_with(node_args(
        &app.brokers,
        other_dir.path(),
        &app.prefix,
        &app.data_dir,
    ))
    .await;
    let deadline = Instant::now() + Duration::from_secs(20);
    while other.poll("rehearsed").await["rounds"][0]["discarded"] != true {
        assert!(
            Instant::now() < deadline,
            "the second node never saw the discard"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    other.wait_results("rehearsed", |r| r["voters"] == 1).await;
    check(
        csv(&other, "rehearsed").await,
        other.admin_get("/api/polls/rehearsed/results.json").await,
    );
    drop(other);

    // A rebuild from Kafka.
    let mut app = app;
    let (dir, prefix, brokers) = (
        app.data_dir.clone(),
        app.prefix.clone(),
        app.brokers.clone(),
    );
    app.stop().await;
    std::fs::remove_file(dir.join("tallies.redb")).unwrap();
    let again = spawn_app_with(serve_args(&brokers, &dir, &prefix)).await;
    again.wait_results("rehearsed", |r| r["voters"] == 1).await;
    let p = again.poll("rehearsed").await;
    assert_eq!(p["rounds"][0]["discarded"], true, "{p}");
    check(
        csv(&again, "rehearsed").await,
        again.admin_get("/api/polls/rehearsed/results.json").await,
    );
    assert_eq!(screen(&again).await["position"], "rehearsed");
}

#[tokio::test]
async fn simulate_needs_a_poll_and_refuses_one_people_voted_in() {
    let out = bin()
        .args(["simulate", "--url", "http://127.0.0.1:9", "--voters", "1"])
        .env_remove("LIVEPOLL_POLL")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--poll ID"), "{err}");

    let app = spawn_app().await;
    create(&app, "real", json!({})).await;
    present(&app, "real").await;
    vote_counted(&app, "real").await;
    // The server runs on this test's runtime: the command waits on another thread.
    let base = app.base.clone();
    let out = tokio::task::spawn_blocking(move || {
        bin()
            .args([
                "simulate", "--url", &base, "--poll", "real", "--voters", "1",
            ])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("already voted") && err.contains("--force"),
        "{err}"
    );
    assert_eq!(
        app.poll("real").await["results"]["voters"],
        1,
        "nothing was cast"
    );
}

#[tokio::test]
async fn doctor_during_the_event_checks_the_running_serve_instead_of_its_port_and_data_dir() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let child = bin()
        .arg("serve")
        .args(["--bind", &format!("0.0.0.0:{port}"), "--admin-token", ADMIN])
        .args(child_serve_args(dir.path()))
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let serve = ServeProcess {
        child,
        base: format!("http://127.0.0.1:{port}"),
    };
    serve.wait_healthy(60).await;
    let out = bin()
        .arg("doctor")
        .args(["--data-dir", dir.path().to_str().unwrap()])
        .args(["--bind", &format!("0.0.0.0:{port}")])
        .args(["--brokers", &shared_broker().bootstrap()])
        .env_remove("LIVEPOLL_BIND")
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    let passed = |needle: &str| {
        text.lines()
            .any(|l| l.starts_with('✓') && l.contains(needle))
    };
    assert!(passed("a livepoll serve (pid"), "{text}");
    assert!(passed("/healthz answers: ok"), "{text}");
    assert!(passed("Kafka answers the serve"), "{text}");
    assert!(passed("reaches the serve"), "{text}");
    for fault in ["is taken", "stop it first", "cannot be used"] {
        assert!(!text.contains(fault), "{fault}: {text}");
    }
    if livepoll::app::first_lan_ipv4().is_some() {
        assert_eq!(out.status.code(), Some(0), "{text}");
    }
    drop(serve);
}
