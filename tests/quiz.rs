//! Quiz mode over the API (CONTRACT.md "Quiz"): scores from the log's own timestamps, the
//! final-answer rule, answers hidden while a question is open, names, the leaderboard with its
//! ties, reset and CSV, and identical scores after a SIGKILL and after a rebuild from Kafka.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use futures::StreamExt;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::*;

fn quiz(id: &str, correct: &[usize]) -> Value {
    json!({"id": id, "question": format!("Quiz {id}?"), "kind": "quiz",
           "options": ["red", "green", "blue", "gold"], "correct": correct, "duration_secs": 20})
}

/// Creates a quiz question and presents it (opened now, its timer running).
async fn present(api: &Api, def: Value) -> String {
    let res = api.admin_post("/api/polls", Some(def)).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let id = res.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let res = api
        .admin_post(&format!("/api/polls/{id}/present"), None)
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    id
}

async fn close(api: &Api, id: &str) {
    let res = api
        .admin_post(&format!("/api/polls/{id}/close"), None)
        .await;
    assert_eq!(res.status(), StatusCode::OK);
}

async fn as_voter(api: &Api, voter: &str, method: Method, path: &str) -> (StatusCode, Value) {
    let res = api
        .client
        .request(method, api.url(path))
        .header("x-livepoll-voter", voter)
        .send()
        .await
        .unwrap();
    let status = res.status();
    (status, res.json().await.unwrap_or(Value::Null))
}

async fn set_name(api: &Api, voter: &str, name: &str) -> (StatusCode, Value) {
    let res = api
        .client
        .put(api.url("/api/me"))
        .header("x-livepoll-voter", voter)
        .json(&json!({ "name": name }))
        .send()
        .await
        .unwrap();
    let status = res.status();
    (status, res.json().await.unwrap())
}

/// Waits until the admin sees `n` voters on the poll (the answers are applied).
async fn wait_voters(api: &Api, id: &str, n: u64) {
    api.wait_results(id, |r| r["voters"] == n).await;
}

/// The quiz answers in the votes topic: voter → (vote `at`, its stamp's `started_at`).
fn answers_in_log(brokers: &str, prefix: &str, want: usize) -> HashMap<String, (u64, u64)> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", "quiz-test-reader")
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    let topic = format!("{prefix}.votes");
    let meta = consumer
        .fetch_metadata(Some(&topic), Duration::from_secs(10))
        .unwrap();
    let mut tpl = TopicPartitionList::new();
    for p in meta.topics()[0].partitions() {
        tpl.add_partition_offset(&topic, p.id(), Offset::Beginning)
            .unwrap();
    }
    consumer.assign(&tpl).unwrap();
    let mut out = HashMap::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while out.len() < want && Instant::now() < deadline {
        if let Some(Ok(m)) = consumer.poll(Duration::from_millis(200)) {
            let v: Value = serde_json::from_slice(m.payload().unwrap()).unwrap();
            if v["quiz"].is_object() {
                out.entry(v["voter"].as_str().unwrap().to_string())
                    .or_insert((
                        v["at"].as_u64().unwrap(),
                        v["quiz"]["started_at"].as_u64().unwrap(),
                    ));
            }
        }
    }
    out
}

/// The contract's formula, computed here independently of the server.
fn expected_points(points: f64, ms: u64, duration_secs: f64) -> u64 {
    let t = (ms as f64 / 1000.0).min(duration_secs);
    (points * (1.0 - t / (2.0 * duration_secs))).round() as u64
}

#[tokio::test]
async fn a_right_answer_scores_by_the_times_in_the_log_and_a_ballot_is_final() {
    let app = spawn_app().await;
    let id = present(&app, quiz("q1", &[1])).await;
    let p = app.poll(&id).await;
    let closes_at = p["closes_at"].as_u64().unwrap();
    assert_eq!(
        p["rounds"][0]["opened_at"].as_u64().unwrap() + 20_000,
        closes_at
    );
    let (fast, slow, wrong) = (
        app.session().await,
        app.session().await,
        app.session().await,
    );
    assert_eq!(
        app.vote(&fast, &id, json!({"choice": 1})).await,
        StatusCode::ACCEPTED
    );
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(
        app.vote(&slow, &id, json!({"choice": 1})).await,
        StatusCode::ACCEPTED
    );
    assert_eq!(
        app.vote(&wrong, &id, json!({"choice": 3})).await,
        StatusCode::ACCEPTED
    );

    // A second answer, right away or once applied, is refused and changes nothing.
    let res = app
        .client
        .post(app.url(&format!("/api/polls/{id}/votes")))
        .header("x-livepoll-voter", &wrong)
        .json(&json!({"choice": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CONFLICT);
    assert_eq!(
        res.json::<Value>().await.unwrap()["error"],
        "already_answered"
    );
    wait_voters(&app, &id, 3).await;
    assert_eq!(
        app.vote(&fast, &id, json!({"choice": 2})).await,
        StatusCode::CONFLICT
    );
    assert_eq!(
        app.poll(&id).await["results"]["counts"],
        json!([0, 2, 0, 1]),
        "the first answers stand"
    );
    close(&app, &id).await;

    let log = answers_in_log(&app.brokers, &app.prefix, 3);
    assert_eq!(log.len(), 3, "every answer is in the votes topic");
    for (voter, right) in [(&fast, true), (&slow, true), (&wrong, false)] {
        let id_part = voter.split_once('.').unwrap().0; // a token is "id.signature"
        let (at, started) = log[id_part];
        assert_eq!(
            started,
            closes_at - 20_000,
            "the round's start, from the polls topic"
        );
        let (status, me) = as_voter(&app, voter, Method::GET, &format!("/api/me?poll={id}")).await;
        assert_eq!(status, StatusCode::OK);
        let a = &me["answer"];
        assert_eq!(a["correct"], right);
        assert_eq!(a["ms"], at - started, "t is the vote's at minus the start");
        let want = if right {
            expected_points(1000.0, at - started, 20.0)
        } else {
            0
        };
        assert_eq!(a["points"], want, "{me}");
        assert_eq!(me["score"], want);
        if right {
            assert!((500..=1000).contains(&want));
        }
    }
    let f = as_voter(&app, &fast, Method::GET, "/api/me").await.1;
    let s = as_voter(&app, &slow, Method::GET, "/api/me").await.1;
    assert!(f["score"].as_u64() > s["score"].as_u64(), "{f} {s}");
    assert_eq!((f["rank"].clone(), s["rank"].clone()), (json!(1), json!(2)));
}

/// Reads the SSE stream until `until` appears (or a few seconds pass); returns what came.
async fn sse_text(res: reqwest::Response, until: &str) -> String {
    let mut stream = res.bytes_stream();
    let mut buf = String::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), async {
        while let Some(Ok(chunk)) = stream.next().await {
            buf.push_str(&String::from_utf8_lossy(&chunk));
            if buf.contains(until) {
                break;
            }
        }
    })
    .await;
    buf
}

#[tokio::test]
async fn while_a_question_is_open_nobody_but_the_organiser_sees_the_answer_or_the_results() {
    let app = spawn_app().await;
    // Earlier points already on the leaderboard, so a change there could give an answer away.
    let warmup = present(&app, quiz("warmup", &[0])).await;
    let voter = app.session().await;
    assert_eq!(
        app.vote(&voter, &warmup, json!({"choice": 0})).await,
        StatusCode::ACCEPTED
    );
    wait_voters(&app, &warmup, 1).await;
    close(&app, &warmup).await;
    let before = as_voter(&app, &voter, Method::GET, "/api/me").await.1;
    assert!(before["score"].as_u64().unwrap() >= 500);

    let id = present(&app, quiz("secret", &[2])).await;
    assert_eq!(
        app.vote(&voter, &id, json!({"choice": 2})).await,
        StatusCode::ACCEPTED
    );
    wait_voters(&app, &id, 1).await;
    let admin = app.poll(&id).await;
    assert_eq!(admin["correct"], json!([2]));
    assert_eq!(admin["results"]["counts"], json!([0, 0, 1, 0]));

    let (_, attendee) = as_voter(&app, &voter, Method::GET, &format!("/api/polls/{id}")).await;
    assert!(attendee.get("correct").is_none(), "{attendee}");
    assert_eq!(
        attendee["results"],
        json!({"poll": id, "round": 1, "voters": 1})
    );
    let (_, me) = as_voter(&app, &voter, Method::GET, &format!("/api/me?poll={id}")).await;
    assert_eq!(
        me["score"], before["score"],
        "an open question's points are not counted yet"
    );
    assert!(me.get("answer").is_none());
    let board: Value = app.get("/api/leaderboard").await;
    assert_eq!(board["entries"][0]["score"], before["score"]);
    let reveal = app
        .admin_post(&format!("/api/polls/{id}/reveal"), None)
        .await;
    assert_eq!(reveal.status(), StatusCode::CONFLICT);

    for page in ["", "?page=screen"] {
        let res = app
            .client
            .get(app.url(&format!("/api/events{page}")))
            .header("x-livepoll-voter", &voter)
            .send()
            .await
            .unwrap();
        let text = sse_text(res, "event:screen").await;
        assert!(text.contains("event:screen") && text.contains("\"secret\""));
        let ours: Vec<&str> = text.lines().filter(|l| l.contains("\"secret\"")).collect();
        for line in ours {
            assert!(
                !line.contains("correct") && !line.contains("counts"),
                "{line}"
            );
        }
    }
    // The organiser's stream has it all.
    let res = app
        .as_admin(Method::GET, "/api/events")
        .send()
        .await
        .unwrap();
    assert!(
        sse_text(res, "\"correct\":[2]")
            .await
            .contains("\"correct\":[2]")
    );

    // Closed: the answer, the distribution and the points reach everyone.
    close(&app, &id).await;
    let (_, attendee) = as_voter(&app, &voter, Method::GET, &format!("/api/polls/{id}")).await;
    assert_eq!(attendee["correct"], json!([2]));
    assert_eq!(attendee["results"]["counts"], json!([0, 0, 1, 0]));
    assert_eq!(attendee["results"]["correct"], json!([2]));
    let (_, me) = as_voter(&app, &voter, Method::GET, &format!("/api/me?poll={id}")).await;
    assert_eq!(me["answer"]["correct"], true);
    assert!(me["score"].as_u64() > before["score"].as_u64());
    let res = app.client.get(app.url("/api/events")).send().await.unwrap();
    let text = sse_text(res, "\"correct\":[2]").await;
    assert!(text.contains("\"correct\":[2]") && text.contains("\"counts\":[0,0,1,0]"));
}

#[tokio::test]
async fn the_leaderboard_ranks_by_score_breaks_ties_by_speed_then_name_and_resets() {
    let app = spawn_app().await;
    let mut voters = HashMap::new();
    for name in ["Zoe", "Amy", "Max", "Bea"] {
        let v = app.session().await;
        let (status, me) = set_name(&app, &v, &format!("  {name}\u{200b} ")).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(
            (me["name"].as_str(), me["custom"].clone()),
            (Some(name), json!(true))
        );
        voters.insert(name, v);
    }
    let anonymous = app.session().await;
    let (_, me) = as_voter(&app, &anonymous, Method::GET, "/api/me").await;
    assert_eq!(me["custom"], false);
    assert_eq!(me["name"].as_str().unwrap().split(' ').count(), 2, "{me}");
    assert!(me["rank"].is_null());
    for bad in ["", "   ", &"x".repeat(41)] {
        assert_eq!(
            set_name(&app, &anonymous, bad).await.0,
            StatusCode::BAD_REQUEST
        );
    }
    let res = app
        .client
        .put(app.url("/api/me"))
        .json(&json!({"name": "x"}))
        .send()
        .await;
    assert_eq!(res.unwrap().status(), StatusCode::UNAUTHORIZED);

    // Max and Bea are right; Zoe, Amy and the anonymous player wrong (0 points: a tie).
    let id = present(&app, quiz("lb", &[0, 1])).await;
    assert_eq!(
        app.vote(&voters["Max"], &id, json!({"choice": 0})).await,
        StatusCode::ACCEPTED
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        app.vote(&voters["Bea"], &id, json!({"choice": 1})).await,
        StatusCode::ACCEPTED
    );
    for v in [&voters["Zoe"], &voters["Amy"], &anonymous] {
        assert_eq!(
            app.vote(v, &id, json!({"choice": 3})).await,
            StatusCode::ACCEPTED
        );
    }
    wait_voters(&app, &id, 5).await;
    close(&app, &id).await;

    let res = app
        .client
        .get(app.url("/api/leaderboard"))
        .header("x-livepoll-voter", &voters["Amy"])
        .send()
        .await
        .unwrap();
    let board: Value = res.json().await.unwrap();
    let rows: Vec<(u64, String, u64)> = board["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["rank"].as_u64().unwrap(),
                e["name"].as_str().unwrap().to_string(),
                e["score"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(rows.len(), 5);
    assert_eq!((rows[0].0, rows[0].1.as_str()), (1, "Max"), "{board}");
    assert_eq!((rows[1].0, rows[1].1.as_str()), (2, "Bea"));
    assert!(rows[0].2 > rows[1].2);
    let zeros: Vec<&str> = rows[2..].iter().map(|r| r.1.as_str()).collect();
    assert!(rows[2..].iter().all(|r| r.0 == 3 && r.2 == 0), "{board}");
    let mut sorted = zeros.clone();
    sorted.sort();
    assert_eq!(zeros, sorted, "equal scores and times list by name");
    assert_eq!(board["me"]["name"], "Amy");
    assert_eq!(board["me"]["rank"], 3);
    assert_eq!(board["entries"][0]["correct"], 1);

    let res = app
        .client
        .get(app.url("/api/leaderboard.csv"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let csv = app.admin_text("/api/leaderboard.csv").await;
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines[0], "rank,name,score,correct,answered,time_ms");
    assert_eq!(lines.len(), 6, "{csv}");
    assert!(
        lines[1].starts_with(&format!("1,Max,{},1,1,", rows[0].2)),
        "{csv}"
    );

    let res = app
        .client
        .post(app.url("/api/leaderboard/reset"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let res = app.admin_post("/api/leaderboard/reset", None).await;
    assert_eq!(res.status(), StatusCode::OK);
    let board: Value = app.get("/api/leaderboard").await;
    assert_eq!(board["entries"], json!([]));
    assert_eq!(
        app.admin_text("/api/leaderboard.csv").await.lines().count(),
        1
    );
    let (_, me) = as_voter(&app, &voters["Max"], Method::GET, "/api/me").await;
    assert_eq!(
        (me["score"].clone(), me["name"].clone()),
        (json!(0), json!("Max"))
    );

    // The next question counts in the new leaderboard only.
    let id = present(&app, quiz("after", &[2])).await;
    assert_eq!(
        app.vote(&voters["Zoe"], &id, json!({"choice": 2})).await,
        StatusCode::ACCEPTED
    );
    wait_voters(&app, &id, 1).await;
    close(&app, &id).await;
    let board: Value = app.get("/api/leaderboard").await;
    assert_eq!(board["entries"].as_array().unwrap().len(), 1);
    assert_eq!(board["entries"][0]["name"], "Zoe");
}

#[tokio::test]
async fn a_quiz_definition_needs_right_answers_and_a_timer() {
    let app = spawn_app().await;
    for (bad, says) in [
        (
            json!({"question": "Q", "kind": "quiz", "options": ["a", "b"], "duration_secs": 10}),
            "correct",
        ),
        (
            json!({"question": "Q", "kind": "quiz", "options": ["a", "b"], "correct": [2], "duration_secs": 10}),
            "out of range",
        ),
        (
            json!({"question": "Q", "kind": "quiz", "options": ["a", "b"], "correct": [0]}),
            "duration_secs",
        ),
        (
            json!({"question": "Q", "kind": "single", "options": ["a", "b"], "correct": [0]}),
            "quiz",
        ),
    ] {
        let res = app.admin_post("/api/polls", Some(bad)).await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST);
        let body: Value = res.json().await.unwrap();
        assert!(body["message"].as_str().unwrap().contains(says), "{body}");
    }
    let res = app.admin_post("/api/polls", Some(quiz("ok", &[1]))).await;
    let p: Value = res.json().await.unwrap();
    assert_eq!(
        (p["points"].clone(), p["visibility"].clone()),
        (json!(1000), json!("after_close"))
    );
    // Opened but not on air: no timer runs, so no answers yet.
    let res = app.admin_post("/api/polls/ok/open", None).await;
    assert_eq!(res.status(), StatusCode::OK);
    let v = app.session().await;
    assert_eq!(
        app.vote(&v, "ok", json!({"choice": 1})).await,
        StatusCode::CONFLICT
    );
}

/// The leaderboard CSV rows (rank, name, score, correct, answered, time).
async fn scores(api: &Api) -> Vec<String> {
    let csv = api.admin_text("/api/leaderboard.csv").await;
    csv.lines().skip(1).map(str::to_string).collect()
}

#[tokio::test]
async fn scores_are_the_same_after_a_sigkill_mid_quiz_and_after_a_rebuild_from_kafka() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let args = child_serve_args(dir.path());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut serve = ServeProcess::start(&args, port);
    let api = serve.api();
    serve.wait_healthy(60).await;
    let mut voters = Vec::new();
    for i in 0..12 {
        let v = api.session().await;
        if i % 3 == 0 {
            assert_eq!(
                set_name(&api, &v, &format!("Player {i}")).await.0,
                StatusCode::OK
            );
        }
        voters.push(v);
    }
    let q1 = present(&api, quiz("k1", &[1])).await;
    for (i, v) in voters.iter().enumerate().take(6) {
        assert_eq!(
            api.vote(v, &q1, json!({"choice": i % 3})).await,
            StatusCode::ACCEPTED
        );
    }
    // Killed mid-question: answers acknowledged before the kill count, once.
    serve.signal(libc::SIGKILL);
    serve.wait(10);
    serve = ServeProcess::start(&args, port);
    serve.wait_healthy(60).await;
    for (i, v) in voters.iter().enumerate().skip(6) {
        assert_eq!(
            api.vote(v, &q1, json!({"choice": i % 3})).await,
            StatusCode::ACCEPTED
        );
    }
    assert_eq!(
        api.vote(&voters[0], &q1, json!({"choice": 1})).await,
        StatusCode::CONFLICT
    );
    wait_voters(&api, &q1, 12).await;
    close(&api, &q1).await;
    let q2 = present(&api, quiz("k2", &[0, 2])).await;
    for (i, v) in voters.iter().enumerate() {
        assert_eq!(
            api.vote(v, &q2, json!({"choice": i % 4})).await,
            StatusCode::ACCEPTED
        );
    }
    wait_voters(&api, &q2, 12).await;
    close(&api, &q2).await;
    let before = scores(&api).await;
    assert_eq!(before.len(), 12, "{before:?}");
    assert_eq!(
        api.admin_get::<Value>("/api/polls/k1").await["results"]["counts"],
        json!([4, 4, 4, 0])
    );
    assert!(before.iter().any(|l| l.contains("Player 3")));

    // A rebuild: the tally database deleted, everything read again from Kafka.
    serve.signal(libc::SIGTERM);
    assert_eq!(serve.wait(30), Some(0));
    std::fs::remove_file(dir.path().join("tallies.redb")).unwrap();
    serve = ServeProcess::start(&args, port);
    serve.wait_healthy(60).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let after = scores(&api).await;
        if after == before {
            break;
        }
        assert!(Instant::now() < deadline, "{after:?} != {before:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    serve.signal(libc::SIGTERM);
    serve.wait(30);
}

mod browser {
    //! Three phones answer a quiz question in Chromium (two right at different times, one
    //! wrong); the projector shows the count, then the right answer with the distribution, then
    //! (L on the signed-in screen) the leaderboard in order. Screenshots: `quiz-*`.

    use std::time::Duration;

    use fantoccini::Client;
    use serde_json::json;

    use super::{close, present, quiz};
    use crate::helpers::*;
    use crate::webdriver::*;

    async fn answer(phone: &Client, i: usize) {
        wait_js(
            phone,
            &format!("answer {i} tapped"),
            "const b = document.querySelector(`#form .quiz-answer[data-i=\"${arguments[0]}\"]`);
             if (!b || b.disabled) return false; b.click(); return true;",
            vec![json!(i.to_string())],
        )
        .await;
        wait_text(phone, "#status", "✓ Answer locked in.").await;
    }

    async fn fits(client: &Client, name: &str, vertical: bool) {
        tokio::time::sleep(Duration::from_millis(900)).await;
        let outside = outside_viewport(client, vertical).await;
        screenshot(client, name).await;
        assert!(outside.is_empty(), "{name}: {outside:#?}");
    }

    #[tokio::test]
    async fn three_phones_play_and_the_projector_shows_the_answer_then_the_leaderboard() {
        let app = spawn_app().await;
        let driver = Driver::start();
        let mut phones = Vec::new();
        for _ in 0..3 {
            let phone = driver.browser(Viewport::Phone).await;
            phone.goto(&app.url("/")).await.unwrap();
            phones.push(phone);
        }
        let screen = driver.browser(Viewport::Projector).await;
        screen
            .goto(&app.url(&format!("/screen#token={ADMIN}")))
            .await
            .unwrap();
        let small = driver.browser(Viewport::Laptop).await;
        small.goto(&app.url("/screen")).await.unwrap();

        // The first phone chooses its name on the page; the others play under generated ones.
        let mut def = quiz("colour", &[1]);
        def["question"] = json!("Which colour is a ripe lime?");
        def["options"] = json!(["Red", "Green", "Blue", "Purple"]);
        def["duration_secs"] = json!(60);
        let id = present(&app, def).await;
        for p in &phones {
            wait_text(p, "#question", "Which colour is a ripe lime?").await;
        }
        tap_button(&phones[0], "#form", "Change name").await;
        wait_js(
            &phones[0],
            "name typed",
            "const i = document.querySelector('.quiz-name input'); if (!i) return false;
             i.value = 'Ada'; i.nextElementSibling.click(); return true;",
            vec![],
        )
        .await;
        wait_contains(&phones[0], ".quiz-name", "Playing as Ada").await;

        answer(&phones[0], 1).await;
        tokio::time::sleep(Duration::from_millis(700)).await;
        answer(&phones[1], 1).await;
        answer(&phones[2], 3).await;
        wait_text(&screen, "#results .answered-n", "3").await;
        fits(&phones[0], "quiz-phone-locked", false).await;
        fits(&screen, "quiz-projector-open", true).await;
        let text = screen
            .execute("return document.body.innerText", vec![])
            .await
            .unwrap();
        assert!(
            !text.as_str().unwrap().contains('✓'),
            "no answer shown while open"
        );

        close(&app, &id).await;
        wait_contains(&phones[0], ".quiz-outcome", "Correct! +").await;
        wait_contains(&phones[1], ".quiz-outcome", "Correct! +").await;
        wait_text(&phones[2], ".quiz-outcome", "Not this time.").await;
        wait_contains(&phones[0], ".quiz-rank", "You are #1 of 3").await;
        wait_contains(&phones[2], ".quiz-rank", "You are #3 of 3").await;
        fits(&phones[0], "quiz-phone-correct", false).await;
        fits(&phones[2], "quiz-phone-wrong", false).await;
        for s in [&screen, &small] {
            wait_js(
                s,
                "the right option highlighted with the distribution",
                "const r = document.querySelectorAll('#results li');
                 return r.length === 4 && r[1].classList.contains('quiz-right')
                   && r[1].querySelector('.count').textContent.startsWith('2')
                   && r[3].querySelector('.count').textContent.startsWith('1');",
                vec![],
            )
            .await;
        }
        fits(&screen, "quiz-projector-closed-1080", true).await;
        fits(&small, "quiz-projector-closed-720", true).await;

        // L on the signed-in screen shows the leaderboard, on every screen.
        screen
            .find(fantoccini::Locator::Css("body"))
            .await
            .unwrap()
            .send_keys("l")
            .await
            .unwrap();
        for s in [&screen, &small] {
            wait_js(
                s,
                "the leaderboard in order",
                "const n = [...document.querySelectorAll('#view .lb-row .lb-name')].map(e => e.textContent);
                 return n.length === 3 && n[0] === 'Ada' ? n : false;",
                vec![],
            )
            .await;
        }
        let board: serde_json::Value = app.get("/api/leaderboard").await;
        let names: Vec<&str> = board["entries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["name"].as_str().unwrap())
            .collect();
        let shown = screen
            .execute(
                "return [...document.querySelectorAll('#view .lb-name')].map(e => e.textContent)",
                vec![],
            )
            .await
            .unwrap();
        assert_eq!(shown, json!(names), "the screen lists the API's order");
        fits(&screen, "quiz-leaderboard-1080", true).await;
        fits(&small, "quiz-leaderboard-720", true).await;
        for c in phones.into_iter().chain([screen, small]) {
            c.close().await.unwrap();
        }
    }
}

#[tokio::test]
async fn players_with_names_that_look_alike_keep_rows_of_their_own() {
    let app = spawn_app().await;
    // The second "Ada" starts with a Cyrillic А: on a projector the two look the same.
    let (ada, impostor) = (app.session().await, app.session().await);
    assert_eq!(set_name(&app, &ada, "Ada").await.0, StatusCode::OK);
    assert_eq!(
        set_name(&app, &impostor, "\u{410}da").await.0,
        StatusCode::OK
    );
    let id = present(&app, quiz("alike", &[0])).await;
    for v in [&ada, &impostor] {
        assert_eq!(
            app.vote(v, &id, json!({"choice": 0})).await,
            StatusCode::ACCEPTED
        );
    }
    wait_voters(&app, &id, 2).await;
    close(&app, &id).await;

    let board: Value = app.get("/api/leaderboard").await;
    let entries = board["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 2, "{board}");
    let players: std::collections::HashSet<&str> = entries
        .iter()
        .map(|e| e["player"].as_str().unwrap())
        .collect();
    assert_eq!(players.len(), 2, "one row key per player: {board}");
    let mut names: Vec<&str> = entries
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    names.sort();
    // The first in rank keeps the name; the other gets a suffix. Which is first depends on
    // who answered faster, so both orders are right.
    assert!(
        names == ["Ada", "\u{410}da (2)"] || names == ["Ada (2)", "\u{410}da"],
        "{names:?}"
    );
    for e in entries {
        assert!(
            !e["player"].as_str().unwrap().contains(&ada)
                && !e["player"].as_str().unwrap().contains(&impostor),
            "the row key does not show the voter's token"
        );
    }
}
