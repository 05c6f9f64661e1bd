//! Q&A through the API against the real broker (CONTRACT.md "Q&A"): asking, upvoting and
//! moderating with every error code, visibility (also over SSE), exact counts under concurrency,
//! after SIGKILL, and after the tally database is rebuilt from Kafka.

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::*;

pub async fn ask(api: &Api, voter: &str, body: Value) -> reqwest::Response {
    api.client
        .post(api.url("/api/questions"))
        .header("x-livepoll-voter", voter)
        .json(&body)
        .send()
        .await
        .unwrap()
}

/// Asks and returns the new question's id.
pub async fn ask_ok(api: &Api, voter: &str, text: &str) -> String {
    let res = ask(api, voter, json!({ "text": text })).await;
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    res.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string()
}

pub async fn upvote(api: &Api, voter: &str, id: &str, add: bool) -> StatusCode {
    let method = if add { Method::POST } else { Method::DELETE };
    api.client
        .request(method, api.url(&format!("/api/questions/{id}/upvote")))
        .header("x-livepoll-voter", voter)
        .send()
        .await
        .unwrap()
        .status()
}

pub async fn moderate(api: &Api, id: &str, action: &str) -> (StatusCode, Value) {
    let res = api
        .admin_post(&format!("/api/questions/{id}/{action}"), None)
        .await;
    let status = res.status();
    (status, res.json().await.unwrap_or(Value::Null))
}

async fn list_as(api: &Api, voter: Option<&str>) -> Vec<Value> {
    let mut req = api.client.get(api.url("/api/questions"));
    if let Some(v) = voter {
        req = req.header("x-livepoll-voter", v);
    }
    req.send().await.unwrap().json().await.unwrap()
}

/// Waits until the admin's list satisfies `ok`; returns it.
pub async fn wait_questions(api: &Api, ok: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let list: Vec<Value> = api.admin_get("/api/questions").await;
        if ok(&list) {
            return list;
        }
        assert!(
            Instant::now() < deadline,
            "questions never matched; last: {list:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn upvotes_of(list: &[Value], id: &str) -> Option<u64> {
    list.iter().find(|q| q["id"] == id)?["upvotes"].as_u64()
}

async fn error_code(res: reqwest::Response) -> (StatusCode, String) {
    let status = res.status();
    let body: Value = res.json().await.unwrap();
    (
        status,
        body["error"].as_str().unwrap_or_default().to_string(),
    )
}

#[tokio::test]
async fn qa_ask_upvote_undo_and_moderate_with_every_error_code() {
    let app = spawn_app().await;
    let (a, b) = (app.session().await, app.session().await);

    // Asking: voter needed, text 1–280 after trimming, name ≤ 40, JSON only.
    let res = app
        .client
        .post(app.url("/api/questions"))
        .json(&json!({"text": "hi"}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_code(res).await,
        (StatusCode::UNAUTHORIZED, "unauthorized".into())
    );
    assert_eq!(
        error_code(ask(&app, "forged.token", json!({"text": "hi"})).await)
            .await
            .0,
        StatusCode::UNAUTHORIZED
    );
    for bad in [
        json!({"text": "   \u{200B} "}),
        json!({"text": "x".repeat(281)}),
        json!({"text": "ok", "name": "n".repeat(41)}),
        json!({"text": 5}),
        json!({"text": "ok", "extra": 1}),
        json!({}),
    ] {
        let (status, code) = error_code(ask(&app, &a, bad.clone()).await).await;
        assert_eq!(
            (status, code.as_str()),
            (StatusCode::BAD_REQUEST, "bad_request"),
            "{bad}"
        );
    }
    assert!(
        list_as(&app, Some(&a)).await.is_empty(),
        "bad input changed nothing"
    );

    let res = ask(
        &app,
        &a,
        json!({"text": "  Why\u{202E} Kafka? ", "name": " Ann "}),
    )
    .await;
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    let q: Value = res.json().await.unwrap();
    assert_eq!(
        (
            &q["text"],
            &q["name"],
            &q["state"],
            &q["own"],
            &q["mine"],
            &q["upvotes"],
            &q["pinned"]
        ),
        (
            &json!("Why Kafka?"),
            &json!("Ann"),
            &json!("live"),
            &json!(true),
            &json!(false),
            &json!(0),
            &json!(false)
        )
    );
    assert!(q["at"].as_u64().unwrap() > 0);
    let id = q["id"].as_str().unwrap().to_string();
    let (status, code) = error_code(ask(&app, &a, json!({"text": "again"})).await).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::TOO_MANY_REQUESTS, "rate_limited")
    );

    // Upvotes: one per voter, repeating is harmless, undo withdraws it.
    assert_eq!(upvote(&app, &b, &id, true).await, StatusCode::ACCEPTED);
    assert_eq!(upvote(&app, &b, &id, true).await, StatusCode::ACCEPTED);
    assert_eq!(upvote(&app, &a, &id, true).await, StatusCode::ACCEPTED);
    wait_questions(&app, |l| upvotes_of(l, &id) == Some(2)).await;
    let mine = list_as(&app, Some(&b)).await;
    assert_eq!(
        (&mine[0]["mine"], &mine[0]["own"]),
        (&json!(true), &json!(false))
    );
    assert_eq!(list_as(&app, None).await[0]["mine"], false);
    assert_eq!(upvote(&app, &b, &id, false).await, StatusCode::ACCEPTED);
    assert_eq!(upvote(&app, &b, &id, false).await, StatusCode::ACCEPTED);
    wait_questions(&app, |l| upvotes_of(l, &id) == Some(1)).await;
    assert_eq!(list_as(&app, Some(&b)).await[0]["mine"], false);
    assert_eq!(
        upvote(&app, &b, "q000000000000", true).await,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        upvote(&app, &b, "..%2Fetc", true).await,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        upvote(&app, "forged", &id, true).await,
        StatusCode::UNAUTHORIZED
    );

    // Moderation: admin only, unknown actions and questions 404, impossible ones 409.
    let res = app
        .client
        .post(app.url(&format!("/api/questions/{id}/pin")))
        .header("x-livepoll-voter", &a)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        moderate(&app, &id, "promote").await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        moderate(&app, "q000000000000", "pin").await.0,
        StatusCode::NOT_FOUND
    );
    let (status, q) = moderate(&app, &id, "pin").await;
    assert_eq!((status, &q["pinned"]), (StatusCode::OK, &json!(true)));
    let other = ask_ok(&app, &b, "Second question").await;
    let (_, q2) = moderate(&app, &other, "pin").await;
    assert_eq!(q2["pinned"], true);
    let list: Vec<Value> = app.admin_get("/api/questions").await;
    assert_eq!(list[0]["id"], other.as_str(), "pinned first");
    assert_eq!(
        list.iter().filter(|q| q["pinned"] == true).count(),
        1,
        "one pinned at a time"
    );
    let (status, q) = moderate(&app, &other, "answer").await;
    assert_eq!(
        (status, &q["state"], &q["pinned"]),
        (StatusCode::OK, &json!("answered"), &json!(false))
    );
    assert_eq!(upvote(&app, &a, &other, true).await, StatusCode::CONFLICT);
    assert_eq!(moderate(&app, &other, "pin").await.0, StatusCode::CONFLICT);
    assert_eq!(moderate(&app, &other, "hide").await.1["state"], "hidden");
    assert_eq!(
        moderate(&app, &other, "answer").await.0,
        StatusCode::CONFLICT
    );
    assert_eq!(moderate(&app, &other, "approve").await.1["state"], "live");
    let res = app
        .as_admin(Method::DELETE, &format!("/api/questions/{other}"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let res = app
        .as_admin(Method::DELETE, &format!("/api/questions/{other}"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    let res = app
        .client
        .delete(app.url(&format!("/api/questions/{id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(list_as(&app, None).await.len(), 1);

    // Settings: closed refuses new questions with 409; admin only; bad bodies 400.
    let get: Value = app.get("/api/qa").await;
    assert_eq!(get, json!({"open": true, "moderated": false}));
    let put = |body: Value| app.as_admin(Method::PUT, "/api/qa").json(&body).send();
    let res = put(json!({"open": false})).await.unwrap();
    assert_eq!(
        res.json::<Value>().await.unwrap(),
        json!({"open": false, "moderated": false})
    );
    let c = app.session().await;
    let (status, code) = error_code(ask(&app, &c, json!({"text": "closed?"})).await).await;
    assert_eq!((status, code.as_str()), (StatusCode::CONFLICT, "conflict"));
    assert_eq!(
        put(json!({"open": "yes"})).await.unwrap().status(),
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        put(json!({"shut": true})).await.unwrap().status(),
        StatusCode::BAD_REQUEST
    );
    let res = app
        .client
        .put(app.url("/api/qa"))
        .json(&json!({"open": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(app.get::<Value>("/api/qa").await["open"], false);

    // CSV: admin only; a formula is neutralised.
    put(json!({"open": true})).await.unwrap();
    ask_ok(&app, &c, "=HYPERLINK(\"http://evil\")").await;
    let res = app
        .client
        .get(app.url("/api/questions.csv"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let res = app
        .as_admin(Method::GET, "/api/questions.csv")
        .send()
        .await
        .unwrap();
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    let csv = res.text().await.unwrap();
    assert!(
        csv.starts_with("id,state,pinned,upvotes,name,question,asked_at,answered_at\n"),
        "{csv}"
    );
    assert!(
        csv.contains(&format!("{id},live,,1,Ann,Why Kafka?,")),
        "{csv}"
    );
    assert!(csv.contains("'=HYPERLINK"), "{csv}");
    assert_eq!(
        csv.lines().count(),
        3,
        "deleted questions are not exported: {csv}"
    );
}

/// Reads SSE `questions` events until one satisfies `ok`; returns it.
async fn sse_questions(
    stream: &mut (impl futures::Stream<Item = reqwest::Result<bytes::Bytes>> + Unpin),
    ok: impl Fn(&Value) -> bool,
) -> Value {
    let mut buf = String::new();
    tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            buf.push_str(&String::from_utf8_lossy(
                &stream.next().await.unwrap().unwrap(),
            ));
            while let Some(end) = buf.find("\n\n") {
                let frame: String = buf.drain(..end + 2).collect();
                if !frame.contains("event:questions") {
                    continue;
                }
                let data = frame.lines().find_map(|l| l.strip_prefix("data:")).unwrap();
                let v: Value = serde_json::from_str(data).unwrap();
                if ok(&v) {
                    return v;
                }
            }
        }
    })
    .await
    .expect("a matching questions event")
}

#[tokio::test]
async fn qa_pending_is_seen_by_its_asker_and_admins_and_hidden_by_admins_only() {
    let app = spawn_app().await;
    let res = app
        .as_admin(Method::PUT, "/api/qa")
        .json(&json!({"moderated": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.json::<Value>().await.unwrap(),
        json!({"open": true, "moderated": true})
    );
    let (asker, other) = (app.session().await, app.session().await);
    let sse = |voter: Option<&str>, admin: bool, query: &str| {
        let mut req = app.client.get(app.url(&format!("/api/events{query}")));
        if let Some(v) = voter {
            req = req.header("x-livepoll-voter", v);
        }
        if admin {
            req = req.bearer_auth(ADMIN);
        }
        req.send()
    };
    let mut other_sse = sse(Some(&other), false, "").await.unwrap().bytes_stream();
    let mut asker_sse = sse(Some(&asker), false, "").await.unwrap().bytes_stream();
    let mut admin_sse = sse(None, true, "").await.unwrap().bytes_stream();
    let mut screen_sse = sse(None, true, "?page=screen")
        .await
        .unwrap()
        .bytes_stream();

    let res = ask(&app, &asker, json!({"text": "secret pending"})).await;
    let q: Value = res.json().await.unwrap();
    assert_eq!(q["state"], "pending");
    let id = q["id"].as_str().unwrap().to_string();
    let own = list_as(&app, Some(&asker)).await;
    assert_eq!((own.len(), &own[0]["own"]), (1, &json!(true)));
    assert!(list_as(&app, Some(&other)).await.is_empty());
    assert!(list_as(&app, None).await.is_empty());
    assert_eq!(app.admin_get::<Vec<Value>>("/api/questions").await.len(), 1);
    assert_eq!(
        upvote(&app, &other, &id, true).await,
        StatusCode::NOT_FOUND,
        "unseen"
    );
    assert_eq!(
        upvote(&app, &asker, &id, true).await,
        StatusCode::CONFLICT,
        "not live yet"
    );
    sse_questions(&mut asker_sse, |v| {
        v[0]["state"] == "pending" && v[0]["own"] == true
    })
    .await;
    sse_questions(&mut admin_sse, |v| v[0]["id"] == id.as_str()).await;

    let later = ask_ok(&app, &other, "approved later").await;
    moderate(&app, &later, "approve").await;
    // Streams deliver in order: once the approved question arrives, the pending one would have.
    let seen = sse_questions(&mut other_sse, |v| {
        v.as_array()
            .unwrap()
            .iter()
            .any(|q| q["id"] == later.as_str() && q["state"] == "live")
    })
    .await;
    assert_eq!(seen.as_array().unwrap().len(), 1, "{seen}");
    let on_screen = sse_questions(&mut screen_sse, |v| {
        v.as_array()
            .unwrap()
            .iter()
            .any(|q| q["id"] == later.as_str())
    })
    .await;
    assert_eq!(
        on_screen.as_array().unwrap().len(),
        1,
        "the projector shows the room's view: {on_screen}"
    );

    moderate(&app, &later, "hide").await;
    let admin_view = sse_questions(&mut admin_sse, |v| {
        v.as_array().unwrap().iter().any(|q| q["state"] == "hidden")
    })
    .await;
    assert_eq!(admin_view.as_array().unwrap().len(), 2);
    sse_questions(&mut other_sse, |v| v.as_array().unwrap().is_empty()).await;
    assert!(
        list_as(&app, Some(&other)).await.is_empty(),
        "its own asker no longer sees a hidden one"
    );
    assert!(list_as(&app, None).await.is_empty());
    let all: Vec<Value> = app.admin_get("/api/questions").await;
    assert_eq!(all.len(), 2);
}

#[tokio::test]
async fn qa_300_voters_upvoting_at_once_count_exactly() {
    let app = spawn_app().await;
    let asker = app.session().await;
    let q1 = ask_ok(&app, &asker, "First?").await;
    let q2 = ask_ok(&app, &app.session().await, "Second?").await;
    let mut voters = Vec::new();
    for _ in 0..300 {
        voters.push(app.session().await);
    }
    // Everyone upvotes q1 (a third twice); every other voter upvotes q2, a quarter of those
    // undo it again.
    let tasks: Vec<_> = voters
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let (api, v, q1, q2) = ((*app).clone(), v.clone(), q1.clone(), q2.clone());
            tokio::spawn(async move {
                assert_eq!(upvote(&api, &v, &q1, true).await, StatusCode::ACCEPTED);
                if i % 3 == 0 {
                    assert_eq!(upvote(&api, &v, &q1, true).await, StatusCode::ACCEPTED);
                }
                if i % 2 == 0 {
                    assert_eq!(upvote(&api, &v, &q2, true).await, StatusCode::ACCEPTED);
                    if i % 8 == 0 {
                        assert_eq!(upvote(&api, &v, &q2, false).await, StatusCode::ACCEPTED);
                    }
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let expected_q2 = (0..300).filter(|i| i % 2 == 0 && i % 8 != 0).count() as u64;
    let list = wait_questions(&app, |l| {
        upvotes_of(l, &q1) == Some(300) && upvotes_of(l, &q2) == Some(expected_q2)
    })
    .await;
    assert_eq!(list[0]["id"], q1.as_str(), "most upvoted first");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let list: Vec<Value> = app.admin_get("/api/questions").await;
    assert_eq!(
        upvotes_of(&list, &q1),
        Some(300),
        "and nothing more arrives"
    );
    assert_eq!(upvotes_of(&list, &q2), Some(expected_q2));
}

/// Upvotes until the server answers 202, retrying connection errors and 503 as a page does.
async fn upvote_until_answered(api: &Api, voter: &str, id: &str, retries: &AtomicUsize) {
    let path = format!("/api/questions/{id}/upvote");
    let status = post_until_answered(api, voter, &path, None, retries).await;
    assert_eq!(status, StatusCode::ACCEPTED, "upvote refused");
}

#[tokio::test]
async fn qa_upvotes_equal_the_acknowledged_ones_after_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let args = child_serve_args(dir.path());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut serve = ServeProcess::start(&args, port);
    let api = serve.api();
    let health = api.url("/healthz");
    wait_status(&api.client, &health, StatusCode::OK, 60).await;
    let mut ids = Vec::new();
    for i in 0..3 {
        ids.push(ask_ok(&api, &api.session().await, &format!("Question {i}?")).await);
    }
    let mut voters = Vec::new();
    for _ in 0..150 {
        voters.push(api.session().await);
    }
    let acked: Arc<Mutex<HashSet<(String, String)>>> = Arc::default();
    let retries: Arc<AtomicUsize> = Arc::default();
    let workers: Vec<_> = voters
        .chunks(15)
        .map(|chunk| {
            let (chunk, api, ids, acked, retries) = (
                chunk.to_vec(),
                api.clone(),
                ids.clone(),
                acked.clone(),
                retries.clone(),
            );
            tokio::spawn(async move {
                for (i, v) in chunk.iter().enumerate() {
                    for id in ids.iter().take(1 + i % 3) {
                        upvote_until_answered(&api, v, id, &retries).await;
                        acked.lock().unwrap().insert((id.clone(), v.clone()));
                        tokio::time::sleep(Duration::from_millis(40)).await;
                    }
                }
            })
        })
        .collect();
    // Kill the server twice while upvotes stream in (once a sixth and once half were acknowledged).
    for at_least in [50, 150] {
        while acked.lock().unwrap().len() < at_least {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert!(
            acked.lock().unwrap().len() < 300,
            "upvotes still stream in at the kill"
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
    assert_eq!(acked.len(), 300, "every upvote eventually got a 202");
    let expected: Vec<u64> = ids
        .iter()
        .map(|id| acked.iter().filter(|(q, _)| q == id).count() as u64)
        .collect();
    wait_questions(&api, |l| {
        ids.iter()
            .zip(&expected)
            .all(|(id, n)| upvotes_of(l, id) == Some(*n))
    })
    .await;
    serve.signal(libc::SIGTERM);
    assert_eq!(serve.wait(30), Some(0));
}

#[tokio::test]
async fn qa_deleting_the_tally_database_rebuilds_the_same_qa_from_kafka() {
    let mut app = spawn_app().await;
    let asker = app.session().await;
    let mut ids = Vec::new();
    for i in 0..6 {
        ids.push(ask_ok(&app, &app.session().await, &format!("Question {i}?")).await);
    }
    for i in 0..40 {
        let v = app.session().await;
        for id in ids.iter().take(1 + i % 6) {
            assert_eq!(upvote(&app, &v, id, true).await, StatusCode::ACCEPTED);
        }
        if i % 5 == 0 {
            assert_eq!(upvote(&app, &v, &ids[0], false).await, StatusCode::ACCEPTED);
        }
    }
    assert_eq!(
        upvote(&app, &asker, &ids[2], true).await,
        StatusCode::ACCEPTED
    );
    moderate(&app, &ids[1], "pin").await;
    moderate(&app, &ids[2], "answer").await;
    moderate(&app, &ids[3], "hide").await;
    let res = app
        .as_admin(Method::DELETE, &format!("/api/questions/{}", ids[4]))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    app.as_admin(Method::PUT, "/api/qa")
        .json(&json!({"moderated": true}))
        .send()
        .await
        .unwrap();
    let pending = ask_ok(&app, &asker, "Pending one?").await;
    let expected_q0 = 40 - (0..40).filter(|i| i % 5 == 0).count() as u64;
    wait_questions(&app, |l| {
        upvotes_of(l, &ids[0]) == Some(expected_q0) && upvotes_of(l, &ids[5]) == Some(6)
    })
    .await;
    let before: Vec<Value> = app.admin_get("/api/questions").await;
    let before_mine = list_as(&app, Some(&asker)).await;
    let before_csv = app.admin_text("/api/questions.csv").await;
    assert_eq!(before.len(), 6, "{before:?}");
    assert!(
        before_mine
            .iter()
            .any(|q| q["id"] == pending.as_str() && q["own"] == true)
    );
    assert!(
        before_mine
            .iter()
            .any(|q| q["id"] == ids[2].as_str() && q["mine"] == true)
    );
    app.stop().await;

    std::fs::remove_file(app.data_dir.join("tallies.redb")).unwrap();
    let again = spawn_app_with(serve_args(&app.brokers, &app.data_dir, &app.prefix)).await;
    // The start waits until the Q&A topic is replayed: the first answer is already complete.
    let after: Vec<Value> = again.admin_get("/api/questions").await;
    assert_eq!(after, before);
    assert_eq!(list_as(&again, Some(&asker)).await, before_mine);
    assert_eq!(again.admin_text("/api/questions.csv").await, before_csv);
    assert_eq!(
        again.get::<Value>("/api/qa").await,
        json!({"open": true, "moderated": true})
    );
}
