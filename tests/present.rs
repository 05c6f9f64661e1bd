//! Running a session through the API (docs/api.md "Presenting"): present, next/previous from
//! the presenter's position, reorder, duplicate, reveal, text fixes, and how many have answered.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::*;

async fn create(app: &TestApp, id: &str, extra: Value) -> Value {
    let mut def = json!({"id": id, "question": format!("Question {id}?"), "kind": "single", "options": ["yes", "no"]});
    for (k, v) in extra.as_object().unwrap() {
        def[k] = v.clone();
    }
    let res = app.admin_post("/api/polls", Some(def)).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    res.json().await.unwrap()
}

async fn ids(app: &TestApp) -> Vec<String> {
    let polls: Vec<Value> = app.admin_get("/api/polls").await;
    polls
        .iter()
        .map(|p| p["id"].as_str().unwrap().to_string())
        .collect()
}

async fn step(app: &TestApp, dir: &str) -> Value {
    let res = app.admin_post(&format!("/api/screen/{dir}"), None).await;
    assert_eq!(res.status(), StatusCode::OK);
    res.json::<Value>().await.unwrap()["poll"].clone()
}

async fn put(app: &TestApp, path: &str, body: Value) -> reqwest::Response {
    app.as_admin(Method::PUT, path)
        .json(&body)
        .send()
        .await
        .unwrap()
}

async fn patch(app: &TestApp, id: &str, body: Value) -> reqwest::Response {
    app.as_admin(Method::PATCH, &format!("/api/polls/{id}"))
        .json(&body)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn next_and_previous_present_the_agenda_in_the_order_the_organiser_set() {
    let app = spawn_app().await;
    for id in ["a", "b", "c"] {
        create(&app, id, json!({"duration_secs": 60})).await;
    }
    assert_eq!(ids(&app).await, ["a", "b", "c"]);

    // Reordering is checked first and changes nothing when wrong.
    for bad in [json!({"order": ["c", "zz"]}), json!({"order": ["c", "c"]})] {
        let res = put(&app, "/api/agenda", bad).await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST);
        assert_eq!(res.json::<Value>().await.unwrap()["error"], "bad_request");
    }
    assert_eq!(ids(&app).await, ["a", "b", "c"]);
    let res = put(&app, "/api/agenda", json!({"order": ["c", "a"]})).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        res.json::<Value>().await.unwrap()["order"],
        json!(["c", "a", "b"])
    );
    assert_eq!(ids(&app).await, ["c", "a", "b"]);

    // Next from an idle screen presents the first poll: opened now, its timer running.
    assert_eq!(step(&app, "next").await, "c");
    let c = app.poll("c").await;
    assert_eq!(c["state"], "open");
    assert!(
        c["closes_at"].as_u64().is_some(),
        "the timer starts when presented"
    );
    assert_eq!(app.poll("a").await["state"], "draft");

    // Next takes what was on air off it: a timed poll pauses (docs/api.md "Presenting").
    assert_eq!(step(&app, "next").await, "a");
    assert_eq!(app.poll("c").await["state"], "paused");
    assert_eq!(app.poll("a").await["state"], "open");
    assert_eq!(app.get::<Value>("/api/screen").await["poll"], "a");

    // Previous goes back to what was shown before, and its time runs on.
    assert_eq!(step(&app, "previous").await, "c");
    assert_eq!(app.poll("c").await["state"], "open");
    assert_eq!(app.poll("a").await["state"], "paused");
    assert_eq!(
        step(&app, "previous").await,
        "c",
        "before the first: nothing changes"
    );

    // A closed poll is shown again with its results, not reopened.
    let res = app.admin_post("/api/polls/a/close", None).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(step(&app, "next").await, "a");
    assert_eq!(app.poll("a").await["state"], "closed");
    assert_eq!(app.poll("c").await["state"], "paused");
    assert_eq!(step(&app, "next").await, "b");
    assert_eq!(app.poll("b").await["state"], "open");
    assert_eq!(
        step(&app, "next").await,
        Value::Null,
        "past the last: the join screen"
    );
    assert_eq!(app.poll("b").await["state"], "paused", "its timer ran");
    assert_eq!(
        app.get::<Value>("/api/screen").await["position"],
        "b",
        "the position stays"
    );

    // Present one poll directly; an unknown one is 404 and changes nothing.
    let res = app.admin_post("/api/polls/a/present", None).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(app.get::<Value>("/api/screen").await["poll"], "a");
    let res = app.admin_post("/api/polls/nope/present", None).await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    assert_eq!(app.get::<Value>("/api/screen").await["poll"], "a");
    for path in [
        "/api/screen/next",
        "/api/polls/a/present",
        "/api/polls/a/reveal",
        "/api/polls/a/duplicate",
    ] {
        let res = app.client.post(app.url(path)).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{path}");
    }
    assert_eq!(app.get::<Value>("/api/screen").await["poll"], "a");
    assert_eq!(ids(&app).await, ["c", "a", "b"]);
}

#[tokio::test]
async fn a_duplicate_is_a_draft_copy_right_after_its_original() {
    let app = spawn_app().await;
    create(&app, "a", json!({"visibility": "after_close"})).await;
    create(&app, "b", json!({})).await;
    app.admin_post("/api/polls/a/open", None).await;
    let res = app.admin_post("/api/polls/a/duplicate", None).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let copy: Value = res.json().await.unwrap();
    let id = copy["id"].as_str().unwrap();
    assert_ne!(id, "a");
    assert_eq!(copy["state"], "draft");
    assert_eq!(copy["question"], "Question a?");
    assert_eq!(copy["visibility"], "after_close");
    assert_eq!(ids(&app).await, ["a", id, "b"]);
}

#[tokio::test]
async fn hidden_results_show_how_many_answered_and_a_reveal_shows_everyone_this_round() {
    let app = spawn_app().await;
    create(&app, "h", json!({"visibility": "never"})).await;
    app.admin_post("/api/polls/h/present", None).await;
    let voter = app.session().await;
    assert_eq!(
        app.vote(&voter, "h", json!({"choice": 1})).await,
        StatusCode::ACCEPTED
    );
    app.wait_results("h", |r| r["voters"] == 1).await;
    let seen: Value = app.get("/api/polls/h").await;
    assert_eq!(seen["results_visible"], false);
    assert_eq!(
        seen["results"],
        json!({"poll": "h", "round": 1, "voters": 1}),
        "only the number who answered"
    );

    let res = app.admin_post("/api/polls/h/reveal", None).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.json::<Value>().await.unwrap()["revealed"], true);
    let seen: Value = app.get("/api/polls/h").await;
    assert_eq!(seen["results_visible"], true);
    assert_eq!(seen["results"]["counts"], json!([0, 1]));

    // A new round is hidden again.
    app.admin_post("/api/polls/h/reset", None).await;
    let seen: Value = app.get("/api/polls/h").await;
    assert_eq!(
        (seen["round"].clone(), seen["revealed"].clone()),
        (json!(2), json!(false))
    );
    assert_eq!(
        seen["results"],
        json!({"poll": "h", "round": 2, "voters": 0})
    );
}

#[tokio::test]
async fn the_texts_of_an_open_poll_can_be_fixed_but_not_its_options_count_once_voted() {
    let app = spawn_app().await;
    create(&app, "t", json!({"options": ["Rsut", "Go", "Zig"]})).await;
    app.admin_post("/api/polls/t/open", None).await;
    let voter = app.session().await;
    assert_eq!(
        app.vote(&voter, "t", json!({"choice": 0})).await,
        StatusCode::ACCEPTED
    );
    app.wait_results("t", |r| r["voters"] == 1).await;

    let res = patch(
        &app,
        "t",
        json!({"question": "Favourite language?", "options": ["Rust", "Go", "Zig"]}),
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    let p: Value = res.json().await.unwrap();
    assert_eq!(p["question"], "Favourite language?");
    assert_eq!(p["options"], json!(["Rust", "Go", "Zig"]));
    assert_eq!(p["state"], "open");
    assert_eq!(p["results"]["counts"], json!([1, 0, 0]), "ballots stay");

    let refused = [
        (json!({"options": ["Rust", "Go"]}), StatusCode::CONFLICT),
        (json!({"question": ""}), StatusCode::BAD_REQUEST),
        (
            json!({"options": ["Rust", "", "Zig"]}),
            StatusCode::BAD_REQUEST,
        ),
        (json!({"kind": "rating"}), StatusCode::BAD_REQUEST),
        (json!({"labels": ["low", "high"]}), StatusCode::BAD_REQUEST),
    ];
    for (body, want) in refused {
        let res = patch(&app, "t", body.clone()).await;
        assert_eq!(res.status(), want, "{body}");
    }
    let res = patch(&app, "nope", json!({"question": "x"})).await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    let p = app.poll("t").await;
    assert_eq!(p["question"], "Favourite language?");
    assert_eq!(p["options"], json!(["Rust", "Go", "Zig"]));

    // A full edit is still only for drafts.
    let res = put(
        &app,
        "/api/polls/t",
        json!({"question": "Q", "kind": "single", "options": ["a", "b"]}),
    )
    .await;
    assert_eq!(res.status(), StatusCode::CONFLICT);
    // Before anyone voted in a new round, the number of options may change.
    app.admin_post("/api/polls/t/reset", None).await;
    let res = patch(&app, "t", json!({"options": ["Rust", "Go"]})).await;
    assert_eq!(res.status(), StatusCode::OK);
}

#[tokio::test]
async fn rating_end_labels_are_kept_and_checked() {
    let app = spawn_app().await;
    let p = create(
        &app,
        "r",
        json!({"kind": "rating", "options": [], "scale": 10, "labels": ["poor", "excellent"]}),
    )
    .await;
    assert_eq!(p["labels"], json!(["poor", "excellent"]));
    let res = app
        .admin_post(
            "/api/polls",
            Some(json!({"question": "Q", "kind": "rating", "labels": ["one"]})),
        )
        .await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let res = app
        .admin_post(
            "/api/polls",
            Some(json!({"question": "Q", "kind": "single", "options": ["a", "b"], "labels": ["x", "y"]})),
        )
        .await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn the_event_title_and_the_agenda_order_survive_a_rebuild_from_kafka() {
    let app = spawn_app().await;
    for id in ["a", "b", "c"] {
        create(&app, id, json!({})).await;
    }
    put(&app, "/api/agenda", json!({"order": ["b", "c", "a"]})).await;
    app.admin_post("/api/polls/c/present", None).await;
    let mut app = app;
    let (dir, prefix, brokers) = (
        app.data_dir.clone(),
        app.prefix.clone(),
        app.brokers.clone(),
    );
    app.stop().await;
    std::fs::remove_file(dir.join("tallies.redb")).unwrap();
    let mut args = serve_args(&brokers, &dir, &prefix);
    args.title = "RustConf night".into();
    let again = spawn_app_with(args).await;
    assert_eq!(ids(&again).await, ["b", "c", "a"]);
    assert_eq!(again.get::<Value>("/api/screen").await["poll"], "c");
    assert_eq!(
        again.get::<Value>("/api/info").await["title"],
        "RustConf night"
    );
}

#[tokio::test]
async fn the_projector_view_switches_between_the_poll_qa_and_the_leaderboard() {
    let app = spawn_app().await;
    create(&app, "a", json!({})).await;
    create(&app, "b", json!({})).await;
    app.admin_post("/api/polls/a/present", None).await;
    let res = put(&app, "/api/screen", json!({"view": "qa"})).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        res.json::<Value>().await.unwrap(),
        json!({"poll": "a", "view": "qa", "position": "a", "next": "b"})
    );
    for bad in [json!({}), json!({"view": "nope"}), json!({"poll": "zz"})] {
        let res = put(&app, "/api/screen", bad.clone()).await;
        assert!(res.status().is_client_error(), "{bad}: {}", res.status());
    }
    assert_eq!(
        app.get::<Value>("/api/screen").await,
        json!({"poll": "a", "view": "qa", "position": "a", "next": "b"}),
        "refused requests changed nothing"
    );
    put(&app, "/api/screen", json!({"view": "leaderboard"})).await;
    assert_eq!(app.get::<Value>("/api/screen").await["view"], "leaderboard");
    // Presenting (or Next) brings the poll view back.
    assert_eq!(step(&app, "next").await, "b");
    assert_eq!(
        app.get::<Value>("/api/screen").await,
        json!({"poll": "b", "view": "poll", "position": "b", "next": null})
    );
    // Taking off air is an explicit null.
    app.admin_post("/api/polls/a/present", None).await;
    put(&app, "/api/screen", json!({"poll": null})).await;
    assert_eq!(app.get::<Value>("/api/screen").await["poll"], Value::Null);
}
