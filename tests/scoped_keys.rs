//! The presenter and moderator keys: each opens its part of the admin's API (and gets 403 for
//! the rest, changing nothing); the admin token still opens everything.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::*;

async fn with_key(
    app: &TestApp,
    key: &str,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut r = app.client.request(method, app.url(path)).bearer_auth(key);
    if let Some(b) = body {
        r = r.json(&b);
    }
    let res = r.send().await.unwrap();
    let status = res.status();
    let text = res.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

#[tokio::test]
async fn the_presenter_key_presents_and_is_refused_deleting_editing_and_exporting() {
    let app = spawn_app().await;
    let created = app
        .admin_post("/api/polls", Some(json!({"id": "lang", "question": "Lang?", "kind": "single", "options": ["Rust", "Go"], "visibility": "never"})))
        .await;
    assert_eq!(created.status(), 201);
    let p = PRESENTER;
    for (method, path, body) in [
        (Method::DELETE, "/api/polls/lang", None),
        (
            Method::PUT,
            "/api/polls/lang",
            Some(json!({"question": "X?", "kind": "single", "options": ["a", "b"]})),
        ),
        (
            Method::PATCH,
            "/api/polls/lang",
            Some(json!({"question": "X?"})),
        ),
        (Method::GET, "/api/polls/lang/results.csv", None),
        (Method::POST, "/api/polls/lang/reset", None),
        (
            Method::POST,
            "/api/polls",
            Some(json!({"question": "New?", "kind": "wordcloud"})),
        ),
        (
            Method::POST,
            "/api/polls/lang/words/hide",
            Some(json!({"word": "x"})),
        ),
    ] {
        let (status, body) = with_key(&app, p, method.clone(), path, body).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{method} {path}: {body}");
        assert_eq!(body["error"], "forbidden", "{body}");
    }
    let after = app.poll("lang").await;
    assert_eq!(
        (after["question"].as_str(), after["state"].as_str()),
        (Some("Lang?"), Some("draft")),
        "nothing changed"
    );

    // What it may do: present, reveal, close, step, switch the view, and read results.
    let (s, body) = with_key(&app, p, Method::POST, "/api/polls/lang/present", None).await;
    assert_eq!(
        (s, body["state"].as_str()),
        (StatusCode::OK, Some("open")),
        "{body}"
    );
    let voter = app.session().await;
    assert_eq!(app.vote(&voter, "lang", json!({"choice": 0})).await, 202);
    app.wait_results("lang", |r| r["voters"] == 1).await;
    let (s, body) = with_key(&app, p, Method::GET, "/api/polls/lang", None).await;
    assert_eq!(
        (s, body["results"]["counts"].clone()),
        (StatusCode::OK, json!([1, 0])),
        "hidden results reach the presenter: {body}"
    );
    let (s, _) = with_key(&app, p, Method::POST, "/api/polls/lang/reveal", None).await;
    assert_eq!(s, StatusCode::OK);
    let (s, body) = with_key(&app, p, Method::POST, "/api/polls/lang/close", None).await;
    assert_eq!(
        (s, body["state"].as_str()),
        (StatusCode::OK, Some("closed"))
    );
    let (s, _) = with_key(
        &app,
        p,
        Method::PUT,
        "/api/screen",
        Some(json!({"view": "qa"})),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let (s, body) = with_key(&app, p, Method::POST, "/api/screen/previous", None).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    // No key at all is still 401.
    let res = app
        .client
        .delete(app.url("/api/polls/lang"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let res = app
        .client
        .delete(app.url("/api/polls/lang"))
        .bearer_auth("wrong")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn the_moderator_key_moderates_questions_and_words_and_is_refused_deleting_and_presenting() {
    let app = spawn_app().await;
    let cloud = app
        .open_poll(json!({"id": "cloud", "question": "Word?", "kind": "wordcloud"}))
        .await;
    let m = MODERATOR;
    for (method, path, body) in [
        (Method::DELETE, "/api/polls/cloud", None),
        (Method::POST, "/api/polls/cloud/present", None),
        (Method::POST, "/api/polls/cloud/close", None),
        (Method::POST, "/api/screen/next", None),
        (Method::PUT, "/api/screen", Some(json!({"view": "qa"}))),
        (Method::PUT, "/api/qa", Some(json!({"moderated": true}))),
        (Method::GET, "/api/polls/cloud/results.csv", None),
    ] {
        let (status, body) = with_key(&app, m, method.clone(), path, body).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{method} {path}: {body}");
        assert_eq!(body["error"], "forbidden");
    }
    assert_eq!(app.poll(&cloud).await["state"], "open", "nothing changed");

    // Words: hide one, and the moderator sees it among the hidden words.
    let voter = app.session().await;
    assert_eq!(
        app.vote(&voter, &cloud, json!({"text": "Idiots"})).await,
        202
    );
    app.wait_results(&cloud, |r| r["voters"] == 1).await;
    let (s, body) = with_key(
        &app,
        m,
        Method::POST,
        "/api/polls/cloud/words/hide",
        Some(json!({"word": "idiots"})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert_eq!(body["results"]["hidden_words"], json!([["Idiots", 1]]));
    assert_eq!(body["results"]["words"], json!([]));

    // Q&A: the moderator sees pending questions and approves one.
    app.as_admin(Method::PUT, "/api/qa")
        .json(&json!({"moderated": true}))
        .send()
        .await
        .unwrap();
    let asker = app.session().await;
    let q: Value = app
        .client
        .post(app.url("/api/questions"))
        .header("x-livepoll-voter", &asker)
        .json(&json!({"text": "Why Kafka?"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = q["id"].as_str().unwrap();
    let (s, list) = with_key(&app, m, Method::GET, "/api/questions", None).await;
    assert_eq!(s, StatusCode::OK);
    assert!(
        list.as_array()
            .unwrap()
            .iter()
            .any(|q| q["id"] == id && q["state"] == "pending"),
        "{list}"
    );
    let (s, body) = with_key(
        &app,
        m,
        Method::POST,
        &format!("/api/questions/{id}/approve"),
        None,
    )
    .await;
    assert_eq!(
        (s, body["state"].as_str()),
        (StatusCode::OK, Some("live")),
        "{body}"
    );
    let (s, _) = with_key(
        &app,
        m,
        Method::DELETE,
        &format!("/api/questions/{id}"),
        None,
    )
    .await;
    assert_eq!(
        s,
        StatusCode::FORBIDDEN,
        "deleting a question is the admin's"
    );

    // A moderator session cookie (what /moderate holds) works like the key.
    let jar = reqwest::Client::builder()
        .cookie_store(true)
        .build()
        .unwrap();
    let res = jar
        .post(app.url("/api/admin/session"))
        .bearer_auth(m)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let res = jar
        .post(app.url("/api/polls/cloud/words/show"))
        .json(&json!({"word": "IDIOTS"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let res = jar
        .delete(app.url("/api/polls/cloud"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn a_scoped_key_equal_to_the_admin_token_is_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let brokers = shared_broker().bootstrap();
    for (presenter, moderator) in [(ADMIN, MODERATOR), (PRESENTER, ADMIN)] {
        let mut args = serve_args(&brokers, dir.path(), &unique_prefix());
        args.presenter_key = Some(presenter.into());
        args.moderator_key = Some(moderator.into());
        let err = match livepoll::app::Application::build(args).await {
            Ok(_) => panic!("a scoped key equal to the admin token was accepted"),
            Err(e) => e.to_string(),
        };
        assert!(err.contains("differ from the admin token"), "{err}");
    }
}
