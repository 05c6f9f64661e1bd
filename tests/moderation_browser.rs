//! Word moderation in headless Chromium: phones send words, the organiser hides one in the
//! console and both nodes' projectors (1920 × 1080) drop it, also after a rebuild from Kafka; a
//! blocked word never reaches the projector; a pre-moderated word shows once the moderator
//! approves it on `/moderate` (a 360-px phone signed in from its link); a name blocked live
//! leaves the projected leaderboard. Screenshots: target/test-artifacts/words-*.png.

use fantoccini::{Client, Locator};
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::*;
use crate::moderation::wait_audience;
use crate::webdriver::*;

/// Types `word` into the phone's word input and sends it; waits until it is recorded.
async fn send_word(phone: &Client, word: &str) {
    wait_js(
        phone,
        "the word input",
        "const i = document.querySelector('#form input'); return !!i && !i.disabled;",
        vec![],
    )
    .await;
    let input = phone.find(Locator::Css("#form input")).await.unwrap();
    input.clear().await.unwrap();
    input.send_keys(word).await.unwrap();
    tap_button(phone, "#form", "Send").await;
    wait_contains(phone, "#status", "recorded").await;
}

/// Waits until the page's visible text contains (or, with `present` false, no longer contains)
/// `word`, case-insensitively.
async fn wait_page_text(client: &Client, word: &str, present: bool) {
    wait_js(
        client,
        &format!(
            "the page to {}show {word:?}",
            if present { "" } else { "no longer " }
        ),
        "return document.body.innerText.toLowerCase().includes(arguments[0]) === arguments[1];",
        vec![json!(word.to_lowercase()), json!(present)],
    )
    .await;
}

async fn page_text(client: &Client) -> String {
    client
        .execute("return document.body.innerText;", vec![])
        .await
        .unwrap()
        .as_str()
        .unwrap_or_default()
        .to_lowercase()
}

async fn open_screen(client: &Client, api: &Api) {
    client.goto(&format!("{}/screen", api.base)).await.unwrap();
}

#[tokio::test]
async fn a_word_hidden_in_the_console_leaves_both_projectors_and_stays_hidden_after_a_rebuild() {
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
        .open_poll(
            json!({"id": "cloud", "question": "One word for this talk?", "kind": "wordcloud"}),
        )
        .await;
    a.put_on_air(Some(&id)).await;
    for w in ["Kafka", "exactly-once", "redb", "Kafka"] {
        let v = a.session().await;
        assert_eq!(a.vote(&v, &id, json!({ "text": w })).await, 202);
    }

    let driver = Driver::start();
    let screen_a = driver.browser(Viewport::Projector).await;
    let screen_b = driver.browser(Viewport::Projector).await;
    open_screen(&screen_a, &a).await;
    open_screen(&screen_b, &b).await;
    for phone_word in ["idiots", "Idiots"] {
        let phone = driver.browser(Viewport::Phone).await;
        phone.goto(&a.url("/")).await.unwrap();
        send_word(&phone, phone_word).await;
        phone.close().await.unwrap();
    }
    for s in [&screen_a, &screen_b] {
        wait_page_text(s, "idiots", true).await;
    }

    // The organiser hides it in the console.
    let console = driver.browser(Viewport::Console).await;
    console
        .goto(&a.url(&format!("/admin#token={ADMIN}")))
        .await
        .unwrap();
    wait_contains(&console, "#words-shown", "Idiots").await;
    console
        .execute(
            "document.getElementById('words-panel').scrollIntoView();",
            vec![],
        )
        .await
        .unwrap();
    screenshot(&console, "words-console-1366x900").await;
    let chip = "#words-shown li[data-word='Idiots']";
    tap_button(&console, chip, "Hide").await;
    wait_contains(&console, "#words-hidden", "Idiots").await;
    for s in [&screen_a, &screen_b] {
        wait_page_text(s, "idiots", false).await;
        assert!(
            page_text(s).await.contains("kafka"),
            "the rest of the cloud stays"
        );
    }
    screenshot(&screen_b, "words-projector-after-hide-1920x1080").await;

    // The export lists it as hidden, still counted.
    let csv = a.admin_text(&format!("/api/polls/{id}/results.csv")).await;
    assert!(
        csv.lines()
            .any(|l| l.contains("Idiots") && l.ends_with(",2,hidden")),
        "{csv}"
    );

    // Node A's tally database is deleted; rebuilt from Kafka, its projector still hides it.
    a.stop().await;
    std::fs::remove_file(dir.path().join("a/tallies.redb")).unwrap();
    let a = spawn_app_with(args).await;
    wait_audience(&a, &id, |w| w.as_array().is_some_and(|l| l.len() == 3)).await;
    open_screen(&screen_a, &a).await;
    wait_page_text(&screen_a, "kafka", true).await;
    assert!(!page_text(&screen_a).await.contains("idiots"));
    assert_eq!(a.poll(&id).await["results"]["hidden_words"][0][1], 2);
}

#[tokio::test]
async fn blocked_words_and_names_never_reach_the_projector_and_the_moderator_approves_from_a_phone()
{
    let dir = tempfile::tempdir().unwrap();
    let list = dir.path().join("blocked.txt");
    std::fs::write(&list, "# made-up test words\nzorblax\n").unwrap();
    let mut args = serve_args(
        &shared_broker().bootstrap(),
        &dir.path().join("d"),
        &unique_prefix(),
    );
    args.block_words = Some(list);
    let app = spawn_app_with(args).await;
    let id = app
        .open_poll(
            json!({"id": "cloud", "question": "One word?", "kind": "wordcloud", "max_words": 3}),
        )
        .await;
    app.put_on_air(Some(&id)).await;

    let driver = Driver::start();
    let screen = driver.browser(Viewport::Projector).await;
    open_screen(&screen, &app).await;
    // A phone sends a blocked word among others in one ballot (three inputs).
    let phone = driver.browser(Viewport::Phone).await;
    phone.goto(&app.url("/")).await.unwrap();
    wait_js(
        &phone,
        "three word inputs",
        "return document.querySelectorAll('#form input').length === 3;",
        vec![],
    )
    .await;
    let inputs = phone.find_all(Locator::Css("#form input")).await.unwrap();
    for (input, w) in inputs.iter().zip(["Zörblax", "rust", "kafka"]) {
        input.send_keys(w).await.unwrap();
    }
    tap_button(&phone, "#form", "Send").await;
    wait_contains(&phone, "#status", "recorded").await;
    screenshot(&phone, "words-phone-three-words-360x740").await;
    let r = app
        .wait_results(&id, |r| {
            r["pending_words"].as_array().is_some_and(|p| !p.is_empty())
        })
        .await;
    assert_eq!(r["pending_words"], json!([["Zörblax", 1]]));
    wait_page_text(&screen, "kafka", true).await;
    wait_page_text(&screen, "rust", true).await;
    let text = page_text(&screen).await;
    assert!(
        !text.contains("zörblax") && !text.contains("zorblax"),
        "{text}"
    );

    // A pre-moderated cloud: the word shows only once the moderator approves it on a phone.
    let pre = app.open_poll(json!({"id": "pre", "question": "Approved words only?", "kind": "wordcloud", "moderation": "pre"})).await;
    app.put_on_air(Some(&pre)).await;
    let v = app.session().await;
    assert_eq!(app.vote(&v, &pre, json!({"text": "Tansu"})).await, 202);
    app.wait_results(&pre, |r| r["pending_words"] == json!([["Tansu", 1]]))
        .await;
    wait_page_text(&screen, "approved words only", true).await;
    assert!(!page_text(&screen).await.contains("tansu"));

    let moderator = driver.browser(Viewport::Phone).await;
    moderator
        .goto(&app.url(&format!("/moderate#key={MODERATOR}")))
        .await
        .unwrap();
    wait_contains(&moderator, "#words-pending", "Tansu").await;
    let url = moderator.current_url().await.unwrap();
    assert!(
        url.fragment().is_none(),
        "the key leaves the address bar: {url}"
    );
    let axe = axe_source();
    let problems = axe_serious(&moderator, &axe).await;
    assert!(problems.is_empty(), "{problems:#?}");
    screenshot(&moderator, "words-moderate-phone-360x740").await;
    tap_button(
        &moderator,
        "#words-pending li[data-word='Tansu']",
        "Approve",
    )
    .await;
    wait_page_text(&screen, "tansu", true).await;
    wait_contains(&moderator, "#words-shown", "Tansu").await;
    assert_eq!(
        outside_viewport(&moderator, false).await,
        Vec::<String>::new(),
        "nothing sticks out of a 360-px phone"
    );

    // A name blocked while shown leaves the projected leaderboard.
    let ada = app.session().await;
    let res = app
        .client
        .put(app.url("/api/me"))
        .header("x-livepoll-voter", &ada)
        .json(&json!({"name": "Ada Zed"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let q = app.admin_post("/api/polls", Some(json!({"id": "q", "question": "2+2?", "kind": "quiz", "options": ["3", "4"], "correct": [1], "duration_secs": 60}))).await;
    assert_eq!(q.status(), 201);
    assert!(
        app.admin_post("/api/polls/q/present", None)
            .await
            .status()
            .is_success()
    );
    assert_eq!(app.vote(&ada, "q", json!({"choice": 1})).await, 202);
    app.wait_results("q", |r| r["voters"] == 1).await;
    assert!(
        app.admin_post("/api/polls/q/close", None)
            .await
            .status()
            .is_success()
    );
    let res = app
        .as_admin(Method::PUT, "/api/screen")
        .json(&json!({"view": "leaderboard"}))
        .send()
        .await
        .unwrap();
    assert!(res.status().is_success());
    wait_page_text(&screen, "ada zed", true).await;
    let res = app
        .client
        .post(app.url("/api/moderation/block"))
        .bearer_auth(MODERATOR)
        .json(&json!({"word": "zed"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    wait_page_text(&screen, "ada zed", false).await;

    // The moderator renames the player from the phone; the projector follows.
    let ada_id = ada.split('.').next().unwrap();
    let row = format!("#players-list li[data-player='{ada_id}']");
    wait_contains(&moderator, "#players-list", "1.").await;
    tap_button(&moderator, &row, "Rename").await;
    let input = moderator
        .find(Locator::Css(&format!("{row} input")))
        .await
        .unwrap();
    input.clear().await.unwrap();
    input.send_keys("Grace").await.unwrap();
    tap_button(&moderator, &row, "Save").await;
    wait_page_text(&screen, "grace", true).await;
    wait_contains(&moderator, &row, "Grace").await;
    moderator
        .execute(
            "document.getElementById('players-panel').scrollIntoView();",
            vec![],
        )
        .await
        .unwrap();
    screenshot(&moderator, "words-moderate-players-360x740").await;

    // Q&A: a question waits at the top of the moderator's page until approved there.
    let res = app
        .as_admin(Method::PUT, "/api/qa")
        .json(&json!({"moderated": true}))
        .send()
        .await
        .unwrap();
    assert!(res.status().is_success());
    let asker = app.session().await;
    let res = app
        .client
        .post(app.url("/api/questions"))
        .header("x-livepoll-voter", &asker)
        .json(&json!({"text": "Will the slides be shared?"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    wait_contains(&moderator, "#qa-queue", "slides").await;
    wait_contains(&moderator, ".mod-tabs", "Q&A (1)").await;
    tap_button(&moderator, "#qa-queue", "Approve").await;
    wait_contains(&moderator, "#qa-live", "slides").await;
    tap_button(&moderator, "#qa-live", "Pin").await;
    wait_contains(&moderator, "#qa-live", "Unpin").await;
}

#[tokio::test]
async fn the_presenter_link_signs_a_phone_in_to_step_close_and_reveal() {
    let app = spawn_app().await;
    for (id, q) in [("first", "First question?"), ("second", "Second question?")] {
        let res = app
            .admin_post("/api/polls", Some(json!({"id": id, "question": q, "kind": "single", "options": ["a", "b"], "visibility": "never"})))
            .await;
        assert_eq!(res.status(), StatusCode::CREATED);
    }
    let driver = Driver::start();
    let phone = driver.browser(Viewport::Phone).await;
    phone
        .goto(&app.url(&format!("/present#key={PRESENTER}")))
        .await
        .unwrap();
    wait_text(&phone, "#air-question", "Nothing on air").await;
    assert!(phone.current_url().await.unwrap().fragment().is_none());
    tap_button(&phone, ".present-buttons", "Next ▶").await;
    wait_text(&phone, "#air-question", "First question?").await;
    tap_button(&phone, ".present-buttons", "Reveal results").await;
    wait_contains(&phone, "#air-state", "revealed").await;
    tap_button(&phone, ".present-buttons", "Close voting").await;
    wait_contains(&phone, "#air-state", "closed").await;
    assert_eq!(app.poll("first").await["state"], "closed");
    let axe = axe_source();
    let problems = axe_serious(&phone, &axe).await;
    assert!(problems.is_empty(), "{problems:#?}");
    screenshot(&phone, "present-phone-360x740").await;
    // The presenter's session may not delete: the page's cookie is scoped.
    let deleted = phone
        .execute_async(
            "const done = arguments[0]; fetch('/api/polls/second', {method: 'DELETE', credentials: 'same-origin'}).then(async (r) => done(`${r.status} ${await r.text()}`));",
            vec![],
        )
        .await
        .unwrap();
    let deleted = deleted.as_str().unwrap();
    assert!(
        deleted.starts_with("403 ") && deleted.contains("admin token"),
        "{deleted}"
    );
}
