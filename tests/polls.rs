//! Polls an organiser runs: kinds, lifecycle, visibility, timers, agenda, export, admin security.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::*;

#[tokio::test]
async fn each_kind_tallies_its_votes() {
    let app = spawn_app().await;
    let multi = app
        .open_poll(json!({"question": "Pick two", "kind": "multiple", "options": ["a", "b", "c"], "max_choices": 2}))
        .await;
    let rating = app
        .open_poll(json!({"question": "Rate it", "kind": "rating", "scale": 4}))
        .await;
    let words = app
        .open_poll(json!({"question": "One word", "kind": "wordcloud"}))
        .await;
    let (v1, v2) = (app.session().await, app.session().await);
    assert_eq!(
        app.vote(&v1, &multi, json!({"choices": [0, 2]})).await,
        StatusCode::ACCEPTED
    );
    assert_eq!(
        app.vote(&v2, &multi, json!({"choices": [2]})).await,
        StatusCode::ACCEPTED
    );
    assert_eq!(
        app.vote(&v1, &multi, json!({"choices": [0, 1, 2]})).await,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        app.vote(&v1, &rating, json!({"rating": 4})).await,
        StatusCode::ACCEPTED
    );
    assert_eq!(
        app.vote(&v2, &rating, json!({"rating": 1})).await,
        StatusCode::ACCEPTED
    );
    assert_eq!(
        app.vote(&v2, &rating, json!({"rating": 5})).await,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        app.vote(&v1, &words, json!({"text": "  Ünïcode  RUST "}))
            .await,
        StatusCode::ACCEPTED
    );
    assert_eq!(
        app.vote(&v2, &words, json!({"text": "ünïcode rust"})).await,
        StatusCode::ACCEPTED
    );
    let r = app.wait_results(&multi, |r| r["voters"] == 2).await;
    assert_eq!(r["counts"], json!([1, 0, 2]));
    let r = app.wait_results(&rating, |r| r["voters"] == 2).await;
    assert_eq!(
        (r["counts"].clone(), r["mean"].clone()),
        (json!([1, 0, 0, 1]), json!(2.5))
    );
    let r = app.wait_results(&words, |r| r["voters"] == 2).await;
    // One word whatever its case, shown as most people spelled it (a tie: the first in order).
    assert_eq!(r["words"], json!([["Ünïcode RUST", 2]]));
}

#[tokio::test]
async fn invalid_definitions_get_400_saying_what_is_wrong() {
    let app = spawn_app().await;
    for (def, says) in [
        (
            json!({"question": "Q", "kind": "single", "options": ["only one"]}),
            "2-20 options",
        ),
        (
            json!({"question": "", "kind": "single", "options": ["a", "b"]}),
            "question",
        ),
        (
            json!({"question": "Q", "kind": "rating", "scale": 11}),
            "scale",
        ),
        (
            json!({"question": "Q", "kind": "multiple", "options": ["a", "b"], "max_choices": 3}),
            "max_choices",
        ),
        (
            json!({"id": "Not Valid", "question": "Q", "kind": "wordcloud"}),
            "id",
        ),
        (
            json!({"question": "Q", "kind": "poll"}),
            "unknown variant `poll`",
        ),
        (
            json!({"question": "Q", "kind": "single", "options": ["a", "b"], "visibility": "sometimes"}),
            "unknown variant `sometimes`",
        ),
    ] {
        let res = app.admin_post("/api/polls", Some(def.clone())).await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{def}");
        let body: Value = res.json().await.unwrap();
        assert!(
            body["message"].as_str().unwrap().contains(says),
            "{def}: {body}"
        );
    }
    let list: Vec<Value> = app.get("/api/polls").await;
    assert!(list.is_empty(), "nothing was created");
}

#[tokio::test]
async fn the_lifecycle_allows_only_valid_transitions_and_reset_starts_a_new_round() {
    let app = spawn_app().await;
    let res = app
        .admin_post(
            "/api/polls",
            Some(json!({"id": "life", "question": "Q", "kind": "single", "options": ["a", "b"]})),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    assert_eq!(res.json::<Value>().await.unwrap()["state"], "draft");
    let dup = app
        .admin_post(
            "/api/polls",
            Some(json!({"id": "life", "question": "Q", "kind": "wordcloud"})),
        )
        .await;
    assert_eq!(dup.status(), StatusCode::CONFLICT);
    assert_eq!(
        app.admin_post("/api/polls/life/close", None).await.status(),
        StatusCode::CONFLICT,
        "closing a draft"
    );
    assert_eq!(
        app.admin_post("/api/polls/life/open", None).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        app.admin_post("/api/polls/life/open", None).await.status(),
        StatusCode::CONFLICT
    );
    let v = app.session().await;
    assert_eq!(
        app.vote(&v, "life", json!({"choice": 0})).await,
        StatusCode::ACCEPTED
    );
    app.wait_results("life", |r| r["voters"] == 1).await;
    assert_eq!(
        app.admin_post("/api/polls/life/close", None).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        app.vote(&v, "life", json!({"choice": 1})).await,
        StatusCode::CONFLICT
    );
    let reopened = app
        .admin_post("/api/polls/life/open", None)
        .await
        .json::<Value>()
        .await
        .unwrap();
    assert_eq!(reopened["state"], "open");
    let reset = app
        .admin_post("/api/polls/life/reset", None)
        .await
        .json::<Value>()
        .await
        .unwrap();
    assert_eq!(
        (reset["round"].clone(), reset["results"]["voters"].clone()),
        (json!(2), json!(0))
    );
    assert_eq!(
        app.vote(&v, "life", json!({"choice": 1})).await,
        StatusCode::ACCEPTED
    );
    let r = app.wait_results("life", |r| r["voters"] == 1).await;
    assert_eq!(
        (r["round"].clone(), r["counts"].clone()),
        (json!(2), json!([0, 1]))
    );
    let report: Value = app.admin_get("/api/polls/life/results.json").await;
    assert_eq!(
        report["rounds"][0]["rows"][0]["count"], 1,
        "round 1 stays readable: {report}"
    );
    assert_eq!(report["rounds"][1]["rows"][1]["count"], 1);
    let res = app
        .as_admin(reqwest::Method::DELETE, "/api/polls/life")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        app.client
            .get(app.url("/api/polls/life"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.vote(&v, "life", json!({"choice": 1})).await,
        StatusCode::NOT_FOUND
    );
    // A new poll with the same id starts empty: the deleted one's votes never leak into it.
    let again = app
        .admin_post(
            "/api/polls",
            Some(json!({"id": "life", "question": "Q2", "kind": "single", "options": ["a", "b"]})),
        )
        .await;
    assert_eq!(again.json::<Value>().await.unwrap()["results"]["voters"], 0);
}

/// Results withheld from this asker: only how many answered, no counts.
fn hidden(p: &Value) -> bool {
    p["results"].get("counts").is_none() && p["results"]["voters"].is_u64()
}

#[tokio::test]
async fn visibility_hides_results_from_attendees_but_never_from_admins() {
    let app = spawn_app().await;
    let mut ids = Vec::new();
    for vis in ["after_vote", "after_close", "never"] {
        let def = json!({"id": vis.replace('_', "-"), "question": "Q", "kind": "single", "options": ["a", "b"], "visibility": vis});
        ids.push(app.open_poll(def).await);
    }
    let voter = app.session().await;
    let as_attendee = |id: String, voter: Option<String>| {
        let mut r = app.client.get(app.url(&format!("/api/polls/{id}")));
        if let Some(v) = voter {
            r = r.header("x-livepoll-voter", v);
        }
        async move { r.send().await.unwrap().json::<Value>().await.unwrap() }
    };
    for id in &ids {
        let p = as_attendee(id.clone(), Some(voter.clone())).await;
        assert!(hidden(&p) && p["results_visible"] == false, "{p}");
        assert!(app.poll(id).await["results"].is_object(), "admin sees {id}");
        assert_eq!(
            app.vote(&voter, id, json!({"choice": 1})).await,
            StatusCode::ACCEPTED
        );
    }
    app.wait_results(&ids[0], |r| r["voters"] == 1).await;
    let p = as_attendee(ids[0].clone(), Some(voter.clone())).await;
    assert_eq!(
        p["results"]["counts"],
        json!([0, 1]),
        "after_vote: shown once voted"
    );
    assert!(
        hidden(&as_attendee(ids[0].clone(), None).await),
        "but not to others"
    );
    assert!(hidden(
        &as_attendee(ids[1].clone(), Some(voter.clone())).await
    ));
    for id in &ids[1..] {
        assert_eq!(
            app.admin_post(&format!("/api/polls/{id}/close"), None)
                .await
                .status(),
            StatusCode::OK
        );
    }
    assert_eq!(
        as_attendee(ids[1].clone(), None).await["results"]["voters"],
        1,
        "after_close: shown when closed"
    );
    let p = as_attendee(ids[2].clone(), Some(voter)).await;
    assert!(hidden(&p), "never: never");
    assert_eq!(p["results"]["voters"], 1, "but how many answered is shown");
    // A screen holding the admin session sees hidden results too.
    let res = app.admin_post("/api/admin/session", None).await;
    let cookie = res.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    assert!(
        res.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .contains("HttpOnly")
    );
    let p: Value = app
        .client
        .get(app.url(&format!("/api/polls/{}", ids[2])))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(p["results"]["voters"], 1);
}

#[tokio::test]
async fn a_timer_starts_when_the_poll_is_presented_and_closes_it_by_itself() {
    let app = spawn_app().await;
    let id = app.open_poll(json!({"question": "Quick!", "kind": "single", "options": ["a", "b"], "duration_secs": 1})).await;
    assert_eq!(
        app.poll(&id).await["closes_at"],
        Value::Null,
        "open but not on air: the timer waits"
    );
    let res = app
        .admin_post(&format!("/api/polls/{id}/present"), None)
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let p = app.poll(&id).await;
    let closes_at = p["closes_at"]
        .as_u64()
        .expect("an open timed poll exposes closes_at");
    assert!(closes_at > p["created_at"].as_u64().unwrap());
    let v = app.session().await;
    assert_eq!(
        app.vote(&v, &id, json!({"choice": 0})).await,
        StatusCode::ACCEPTED
    );
    tokio::time::sleep(Duration::from_millis(1300)).await;
    assert_eq!(
        app.vote(&v, &id, json!({"choice": 1})).await,
        StatusCode::CONFLICT
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while app.poll(&id).await["state"] != "closed" {
        assert!(
            std::time::Instant::now() < deadline,
            "the timer closed the poll"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let p = app.poll(&id).await;
    assert_eq!(
        p["rounds"][0]["closed_at"].as_u64(),
        Some(closes_at),
        "closed at the timer's end"
    );
}

#[tokio::test]
async fn an_agenda_is_preloaded_once_as_drafts() {
    let dir = tempfile::tempdir().unwrap();
    let agenda = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/agenda.toml");
    let prefix = unique_prefix();
    let mut args = serve_args(&shared_broker().bootstrap(), dir.path(), &prefix);
    args.polls = Some(agenda.into());
    let mut app = spawn_app_with(args.clone()).await;
    let list: Vec<Value> = app.get("/api/polls").await;
    assert_eq!(list.len(), 5);
    assert!(list.iter().all(|p| p["state"] == "draft"));
    assert_eq!(list[0]["id"], "warmup", "in the file's order");
    assert_eq!(list[3]["labels"], json!(["poor", "excellent"]));
    app.stop().await;
    let app = spawn_app_with(args).await;
    let list: Vec<Value> = app.get("/api/polls").await;
    assert_eq!(list.len(), 5, "a restart with the same file adds nothing");
}

#[tokio::test]
async fn csv_export_quotes_text_so_a_real_parser_reads_it_back() {
    let app = spawn_app().await;
    let question = "Best \"tool\", really?\nPick one";
    let options = ["a, b", "say \"hi\"", "multi\nline"];
    let id = app
        .open_poll(json!({"question": question, "kind": "single", "options": options}))
        .await;
    let v = app.session().await;
    assert_eq!(
        app.vote(&v, &id, json!({"choice": 1})).await,
        StatusCode::ACCEPTED
    );
    app.wait_results(&id, |r| r["voters"] == 1).await;
    let res = app
        .as_admin(
            reqwest::Method::GET,
            &format!("/api/polls/{id}/results.csv"),
        )
        .send()
        .await
        .unwrap();
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    let text = res.text().await.unwrap();
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 3);
    for (row, option) in rows.iter().zip(options) {
        assert_eq!(&row[1], question);
        assert_eq!(&row[8], option);
    }
    assert_eq!((&rows[1][9], &rows[1][6]), ("1", "1"));
    // The same export from the command line, against the running server.
    let mut cmd = bin();
    cmd.args([
        "export",
        "--poll",
        &id,
        "--url",
        &app.base,
        "--admin-token",
        ADMIN,
    ]);
    // The server runs on this test's runtime: wait for the child without blocking it.
    let out = tokio::task::spawn_blocking(move || cmd.output())
        .await
        .unwrap()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8(out.stdout).unwrap(), text);
}

#[tokio::test]
async fn every_admin_endpoint_refuses_without_the_token_and_changes_nothing() {
    let app = spawn_app().await;
    let id = app.open_poll(single(2)).await;
    let before = app.poll(&id).await;
    let def = single(3);
    for auth in [None, Some("Bearer wrong"), Some("Basic dGVzdA==")] {
        let reqs = vec![
            app.client.post(app.url("/api/polls")).json(&def),
            app.client
                .put(app.url(&format!("/api/polls/{id}")))
                .json(&def),
            app.client.post(app.url(&format!("/api/polls/{id}/open"))),
            app.client.post(app.url(&format!("/api/polls/{id}/close"))),
            app.client.post(app.url(&format!("/api/polls/{id}/reset"))),
            app.client.delete(app.url(&format!("/api/polls/{id}"))),
            app.client
                .put(app.url("/api/screen"))
                .json(&json!({"poll": id})),
            app.client
                .get(app.url(&format!("/api/polls/{id}/results.csv"))),
            app.client.post(app.url("/api/admin/session")),
        ];
        for req in reqs {
            let req = match auth {
                Some(a) => req.header("authorization", a),
                None => req,
            };
            let res = req.send().await.unwrap();
            assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{:?}", res.url());
            assert_eq!(res.json::<Value>().await.unwrap()["error"], "unauthorized");
        }
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(app.poll(&id).await, before);
    let screen: Value = app.get("/api/screen").await;
    assert_eq!(screen["poll"], Value::Null);
    let list: Vec<Value> = app.get("/api/polls").await;
    assert_eq!(list.len(), 1);
}

#[tokio::test]
async fn the_screen_follows_put_api_screen() {
    let app = spawn_app().await;
    let id = app.open_poll(single(2)).await;
    let res = app
        .as_admin(reqwest::Method::PUT, "/api/screen")
        .json(&json!({"poll": id}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let screen: Value = app.get("/api/screen").await;
    assert_eq!(screen["poll"], json!(id));
    let res = app
        .as_admin(reqwest::Method::PUT, "/api/screen")
        .json(&json!({"poll": "missing"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    let svg = app.client.get(app.url("/qr.svg")).send().await.unwrap();
    assert_eq!(svg.headers()["content-type"], "image/svg+xml");
    assert!(svg.text().await.unwrap().contains("<svg"));
}

#[tokio::test]
async fn pages_are_embedded_and_reference_no_outside_host() {
    let app = spawn_app().await;
    for path in [
        "/",
        "/screen",
        "/admin",
        "/assets/common.js",
        "/assets/attendee.js",
        "/assets/screen.js",
        "/assets/admin.js",
        "/assets/style.css",
    ] {
        let res = app.client.get(app.url(path)).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK, "{path}");
        let csp = res.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .to_string();
        assert!(csp.contains("default-src 'self'"), "{path}: {csp}");
        let body = res.text().await.unwrap();
        for outside in ["http://", "https://", "//cdn", "fonts.googleapis"] {
            assert!(!body.contains(outside), "{path} references {outside}");
        }
        assert!(
            !body.contains("innerHTML"),
            "{path}: user text must go through textContent"
        );
    }
}
