//! Moderation of words, names and questions through the API: a hidden word leaves every
//! audience results object but stays counted (and in the export), on a second node and after
//! the tally database is rebuilt from Kafka; the block list and pre-moderation hold words back
//! until approved; several words per ballot; blocked quiz names and questions.

use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::*;

/// The poll as an attendee (no key) sees it.
pub async fn audience_words(api: &Api, id: &str) -> Value {
    let p: Value = api.get(&format!("/api/polls/{id}")).await;
    p["results"]["words"].clone()
}

/// Waits until `ok` holds for the audience's words of poll `id` on `api`.
pub async fn wait_audience(api: &Api, id: &str, ok: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let w = audience_words(api, id).await;
        if ok(&w) {
            return w;
        }
        assert!(
            Instant::now() < deadline,
            "audience words never matched; last: {w}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub async fn word_action(api: &Api, id: &str, action: &str, word: &str) -> Value {
    let res = api
        .as_admin(Method::POST, &format!("/api/polls/{id}/words/{action}"))
        .json(&json!({ "word": word }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    res.json().await.unwrap()
}

fn has(words: &Value, w: &str) -> bool {
    words
        .as_array()
        .is_some_and(|a| a.iter().any(|x| x[0] == w))
}

#[tokio::test]
async fn a_hidden_word_leaves_every_screen_on_every_node_and_after_a_rebuild_but_stays_counted() {
    let dir = tempfile::tempdir().unwrap();
    let prefix = unique_prefix();
    let brokers = shared_broker().bootstrap();
    let args = serve_args(&brokers, &dir.path().join("a"), &prefix);
    let mut a = spawn_app_with(args.clone()).await;
    let b = spawn_app_with(node_args(
        &brokers,
        &dir.path().join("b"),
        &prefix,
        &dir.path().join("a"),
    ))
    .await;
    let id = a
        .open_poll(json!({"id": "cloud", "question": "One word?", "kind": "wordcloud"}))
        .await;
    for w in ["idiots", "Idiots", "Kafka"] {
        let v = a.session().await;
        assert_eq!(a.vote(&v, &id, json!({ "text": w })).await, 202);
    }
    // All three ballots applied (the answer to the hide below shows what is left: Kafka).
    wait_audience(&a, &id, |w| {
        (has(w, "Idiots") || has(w, "idiots")) && has(w, "Kafka")
    })
    .await;

    let p = word_action(&a, &id, "hide", "IDIOTS").await;
    assert_eq!(p["results"]["words"], json!([["Kafka", 1]]));
    assert_eq!(p["results"]["voters"], 3, "ballots stay counted");
    let hidden = &p["results"]["hidden_words"];
    assert_eq!(hidden.as_array().map(Vec::len), Some(1), "{hidden}");
    assert_eq!(hidden[0][1], 2, "every spelling grouped: {hidden}");
    for node in [&*a, &*b] {
        let w = wait_audience(node, &id, |w| *w == json!([["Kafka", 1]])).await;
        assert!(!w.to_string().to_lowercase().contains("idiots"));
    }
    // The audience never gets the organisers' lists.
    let attendee: Value = b.get(&format!("/api/polls/{id}")).await;
    assert!(
        attendee["results"].get("hidden_words").is_none(),
        "{attendee}"
    );

    // The export keeps the word, marked hidden.
    let csv = a.admin_text(&format!("/api/polls/{id}/results.csv")).await;
    let line = csv
        .lines()
        .find(|l| l.to_lowercase().contains("idiots"))
        .expect("in the CSV");
    assert!(line.ends_with(",2,hidden"), "{csv}");
    assert!(
        csv.lines()
            .any(|l| l.contains("Kafka") && l.ends_with(",1,shown")),
        "{csv}"
    );

    // Rebuilt from Kafka: the word is still hidden.
    a.stop().await;
    std::fs::remove_file(dir.path().join("a/tallies.redb")).unwrap();
    let a = spawn_app_with(args).await;
    let w = wait_audience(&a, &id, |w| *w == json!([["Kafka", 1]])).await;
    assert_eq!(w, json!([["Kafka", 1]]));
    // The audience view can match before the rebuild has read both hidden ballots.
    a.wait_results(&id, |r| r["hidden_words"][0][1] == 2).await;

    // Shown again, with its count as it is.
    word_action(&b, &id, "show", "idiots").await;
    for node in [&*a, &*b] {
        wait_audience(node, &id, |w| w.as_array().is_some_and(|a| a.len() == 2)).await;
    }
}

#[tokio::test]
async fn blocked_words_wait_for_approval_or_are_dropped_and_pre_moderation_shows_only_approved_words()
 {
    let dir = tempfile::tempdir().unwrap();
    let list = dir.path().join("blocked.txt");
    std::fs::write(&list, "# made-up test words\nzorblax\nquux frob\n").unwrap();
    let mut args = serve_args(
        &shared_broker().bootstrap(),
        &dir.path().join("d"),
        &unique_prefix(),
    );
    args.block_words = Some(list);
    args.profanity_filter = true;
    let app = spawn_app_with(args).await;
    let id = app
        .open_poll(json!({"id": "cloud", "question": "Word?", "kind": "wordcloud"}))
        .await;
    for w in ["Zörblax", "rust", "quux  frob"] {
        let v = app.session().await;
        assert_eq!(app.vote(&v, &id, json!({ "text": w })).await, 202);
    }
    let r = app.wait_results(&id, |r| r["voters"] == 3).await;
    assert_eq!(r["words"], json!([["rust", 1]]));
    assert_eq!(r["pending_words"].as_array().map(Vec::len), Some(2), "{r}");
    assert_eq!(audience_words(&app, &id).await, json!([["rust", 1]]));

    // Dropped instead: organisers see them as blocked, the audience still not.
    let res = app
        .as_admin(Method::PUT, "/api/moderation")
        .json(&json!({"blocked_mode": "drop"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let r = app.poll(&id).await["results"].clone();
    assert_eq!(r["blocked_words"].as_array().map(Vec::len), Some(2), "{r}");
    assert_eq!(audience_words(&app, &id).await, json!([["rust", 1]]));

    // Approving lets one through; a word blocked live joins the list.
    word_action(&app, &id, "approve", "zörblax").await;
    wait_audience(&app, &id, |w| has(w, "Zörblax")).await;
    let res = app
        .as_admin(Method::POST, "/api/moderation/block")
        .json(&json!({"word": "Rust"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let settings: Value = res.json().await.unwrap();
    assert_eq!(settings["blocked"], json!(["rust"]));
    assert_eq!(settings["block_file_entries"], 2);
    assert_eq!(settings["profanity_filter"], true);
    wait_audience(&app, &id, |w| !has(w, "rust")).await;

    // Pre-moderation: nothing shows until approved.
    let pre = app
        .open_poll(
            json!({"id": "pre", "question": "Pre?", "kind": "wordcloud", "moderation": "pre"}),
        )
        .await;
    let v = app.session().await;
    assert_eq!(app.vote(&v, &pre, json!({"text": "Redb"})).await, 202);
    let r = app.wait_results(&pre, |r| r["voters"] == 1).await;
    assert_eq!(
        (r["words"].clone(), r["pending_words"].clone()),
        (json!([]), json!([["Redb", 1]]))
    );
    assert_eq!(audience_words(&app, &pre).await, json!([]));
    word_action(&app, &pre, "approve", "redb").await;
    wait_audience(&app, &pre, |w| *w == json!([["Redb", 1]])).await;
    // A definition with pre-moderation on another kind is refused.
    let res = app.admin_post("/api/polls", Some(json!({"question": "X?", "kind": "single", "options": ["a", "b"], "moderation": "pre"}))).await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn a_ballot_takes_up_to_max_words_each_counted_once_and_the_fourth_is_refused() {
    let app = spawn_app().await;
    let id = app
        .open_poll(
            json!({"id": "three", "question": "Three words?", "kind": "wordcloud", "max_words": 3}),
        )
        .await;
    assert_eq!(app.poll(&id).await["max_words"], 3);
    let v = app.session().await;
    assert_eq!(
        app.vote(&v, &id, json!({"words": ["Rust", "kafka", "RUST", "redb"]}))
            .await,
        202,
        "a repeat counts once"
    );
    let r = app.wait_results(&id, |r| r["voters"] == 1).await;
    let mut words: Vec<(String, u64)> = serde_json::from_value(r["words"].clone()).unwrap();
    words.sort();
    assert_eq!(
        words,
        [("Rust".into(), 1), ("kafka".into(), 1), ("redb".into(), 1)]
    );
    let res = app
        .client
        .post(app.url(&format!("/api/polls/{id}/votes")))
        .header("x-livepoll-voter", &v)
        .json(&json!({"words": ["a", "b", "c", "d"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let body: Value = res.json().await.unwrap();
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("at most 3 words per person"),
        "{body}"
    );
    // A second ballot replaces the first; {"text"} still works.
    assert_eq!(app.vote(&v, &id, json!({"text": "zig"})).await, 202);
    app.wait_results(&id, |r| r["words"] == json!([["zig", 1]]))
        .await;
    let res = app
        .admin_post(
            "/api/polls",
            Some(json!({"question": "X?", "kind": "wordcloud", "max_words": 6})),
        )
        .await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn blocked_names_and_questions_never_show_and_players_can_be_renamed_or_hidden() {
    let dir = tempfile::tempdir().unwrap();
    let list = dir.path().join("blocked.txt");
    std::fs::write(&list, "zorblax\n").unwrap();
    let mut args = serve_args(
        &shared_broker().bootstrap(),
        &dir.path().join("d"),
        &unique_prefix(),
    );
    args.block_words = Some(list);
    let app = spawn_app_with(args).await;
    let put_name = |v: String, name: &'static str| {
        let app = &app;
        async move {
            app.client
                .put(app.url("/api/me"))
                .header("x-livepoll-voter", v)
                .json(&json!({ "name": name }))
                .send()
                .await
                .unwrap()
        }
    };
    let troll = app.session().await;
    let res = put_name(troll.clone(), "Captain Zorblax").await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let body: Value = res.json().await.unwrap();
    assert!(
        body["message"].as_str().unwrap().contains("not allowed"),
        "{body}"
    );

    // A quiz answered by two players; one named, one renamed by the moderator, then hidden.
    let ada = app.session().await;
    assert_eq!(put_name(ada.clone(), "Ada").await.status(), StatusCode::OK);
    let q = app.admin_post("/api/polls", Some(json!({"id": "q", "question": "2+2?", "kind": "quiz", "options": ["3", "4"], "correct": [1], "duration_secs": 60}))).await;
    assert_eq!(q.status(), 201);
    assert!(
        app.admin_post("/api/polls/q/present", None)
            .await
            .status()
            .is_success()
    );
    for v in [&ada, &troll] {
        assert_eq!(app.vote(v, "q", json!({"choice": 1})).await, 202);
    }
    app.wait_results("q", |r| r["voters"] == 2).await;
    assert!(
        app.admin_post("/api/polls/q/close", None)
            .await
            .status()
            .is_success()
    );
    let board = |app: &TestApp| {
        let api = (**app).clone();
        async move {
            let b: Value = api.get("/api/leaderboard").await;
            b["entries"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["name"].as_str().unwrap().to_string())
                .collect::<Vec<_>>()
        }
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    while board(&app).await.len() < 2 {
        assert!(Instant::now() < deadline, "two players on the board");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let players: Value = app
        .client
        .get(app.url("/api/players"))
        .bearer_auth(MODERATOR)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let troll_id = troll.split('.').next().unwrap();
    assert!(
        players
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["player"] == troll_id),
        "{players}"
    );
    let res = app
        .client
        .post(app.url(&format!("/api/players/{troll_id}/rename")))
        .bearer_auth(MODERATOR)
        .json(&json!({"name": "Renamed Player"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let names = board(&app).await;
    assert!(
        names.contains(&"Renamed Player".to_string()) && names.contains(&"Ada".to_string()),
        "{names:?}"
    );
    let res = app
        .client
        .post(app.url(&format!("/api/players/{troll_id}/hide")))
        .bearer_auth(MODERATOR)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_eq!(board(&app).await, ["Ada"]);

    // A name blocked later (live) shows as the generated name.
    let res = app
        .as_admin(Method::POST, "/api/moderation/block")
        .json(&json!({"word": "ada"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let names = board(&app).await;
    assert!(
        !names.iter().any(|n| n.to_lowercase().contains("ada")),
        "{names:?}"
    );

    // A blocked question waits for approval even without Q&A moderation.
    let asker = app.session().await;
    let q: Value = app
        .client
        .post(app.url("/api/questions"))
        .header("x-livepoll-voter", &asker)
        .json(&json!({"text": "What about zorblax?"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(q["state"], "pending", "{q}");
    let public: Value = app.get("/api/questions").await;
    assert!(!public.to_string().contains("zorblax"), "{public}");
}
