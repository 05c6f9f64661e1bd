//! The attendee, screen and admin pages in a real headless Chromium, against a real server and
//! broker. Screenshots land in `target/test-artifacts/`.

use std::time::Duration;

use fantoccini::{Client, Locator};
use serde_json::{Value, json};

use crate::helpers::*;
use crate::webdriver::*;

/// The count column of each result bar in `scope`, e.g. `["3 · 75%", "1 · 25%"]`.
async fn wait_counts(client: &Client, scope: &str, want: &[&str]) {
    wait_js(
        client,
        &format!("{scope} counts {want:?}"),
        "return JSON.stringify([...document.querySelectorAll(arguments[0] + ' .bar-label')].map(l => l.lastChild.textContent)) === arguments[1];",
        vec![json!(scope), json!(serde_json::to_string(want).unwrap())],
    )
    .await;
}

async fn js(client: &Client, script: &str) -> Value {
    client.execute(script, vec![]).await.unwrap()
}

/// Opens /admin already signed in (the token kept in the browser session, as after a sign-in).
async fn open_admin(client: &Client, app: &TestApp) {
    client.goto(&app.url("/admin")).await.unwrap();
    client
        .execute(
            "sessionStorage.setItem('livepoll-admin', arguments[0]);",
            vec![json!(ADMIN)],
        )
        .await
        .unwrap();
    client.refresh().await.unwrap();
    wait_js(
        client,
        "the console",
        "return !document.getElementById('console').hidden;",
        vec![],
    )
    .await;
}

async fn vote_many(app: &TestApp, id: &str, ballots: &[Value]) {
    for b in ballots {
        let v = app.session().await;
        assert_eq!(app.vote(&v, id, b.clone()).await, 202);
    }
}

#[tokio::test]
async fn an_attendee_taps_a_choice_sees_the_confirmation_and_the_screen_moves() {
    let app = spawn_app().await;
    let id = app
        .open_poll(json!({"question": "Best talk?", "kind": "single", "options": ["Rust", "Kafka", "redb"]}))
        .await;
    app.put_on_air(Some(&id)).await;
    let driver = Driver::start();
    let phone = driver.browser(Viewport::Phone).await;
    let screen = driver.browser(Viewport::Projector).await;

    screen.goto(&app.url("/screen")).await.unwrap();
    wait_text(&screen, "#question", "Best talk?").await;
    wait_counts(&screen, "#results", &["0 · 0%", "0 · 0%", "0 · 0%"]).await;

    phone.goto(&app.url("/")).await.unwrap();
    wait_text(&phone, "#question", "Best talk?").await;
    assert_eq!(
        js(
            &phone,
            "return document.getElementById('status').textContent"
        )
        .await,
        ""
    );
    tap_button(&phone, "#form", "Kafka").await;
    wait_contains(&phone, "#status", "Vote recorded").await;
    assert_eq!(pressed_choices(&phone).await, ["Kafka"]);
    app.wait_results(&id, |r| r["counts"] == json!([0, 1, 0]))
        .await;
    wait_counts(&screen, "#results", &["0 · 0%", "1 · 100%", "0 · 0%"]).await;

    vote_many(
        &app,
        &id,
        &[
            json!({"choice": 0}),
            json!({"choice": 0}),
            json!({"choice": 0}),
        ],
    )
    .await;
    wait_counts(&screen, "#results", &["3 · 75%", "1 · 25%", "0 · 0%"]).await;
    wait_counts(&phone, "#results", &["3 · 75%", "1 · 25%", "0 · 0%"]).await;
    wait_text(&screen, "#turnout", "4 voters").await;

    // A reload keeps the voter's choice; the voter can still change it.
    phone.refresh().await.unwrap();
    wait_js(
        &phone,
        "the remembered choice",
        "return [...document.querySelectorAll('#form button.choice[aria-pressed=true]')].map(b => b.textContent).join() === 'Kafka';",
        vec![],
    )
    .await;
    tap_button(&phone, "#form", "Rust").await;
    wait_contains(&phone, "#status", "Vote recorded").await;
    app.wait_results(&id, |r| r["counts"] == json!([4, 0, 0]))
        .await;
    phone.refresh().await.unwrap();
    wait_js(
        &phone,
        "the changed choice",
        "return [...document.querySelectorAll('#form button.choice[aria-pressed=true]')].map(b => b.textContent).join() === 'Rust';",
        vec![],
    )
    .await;
    wait_counts(&screen, "#results", &["4 · 100%", "0 · 0%", "0 · 0%"]).await;

    // Closed: the page says so and a tap changes nothing.
    assert_eq!(
        app.admin_post(&format!("/api/polls/{id}/close"), None)
            .await
            .status(),
        200
    );
    wait_contains(&phone, "#status", "Voting is closed.").await;
    wait_contains(&screen, "#turnout", "voting closed").await;
    tap_button(&phone, "#form", "redb").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(app.poll(&id).await["results"]["counts"], json!([4, 0, 0]));
    assert_eq!(pressed_choices(&phone).await, ["Rust"]);
    phone.close().await.unwrap();
    screen.close().await.unwrap();
}

#[tokio::test]
async fn poll_text_is_shown_as_text_and_never_runs() {
    let app = spawn_app().await;
    let evil = r#"<script>window.pwned=1</script><img src=x onerror="window.pwned=2">"#;
    let id = app
        .open_poll(json!({"question": evil, "kind": "single", "options": ["<b>bold</b>", "<img src=y onerror=\"window.pwned=3\">"]}))
        .await;
    app.put_on_air(Some(&id)).await;
    vote_many(&app, &id, &[json!({"choice": 1})]).await;
    let driver = Driver::start();
    let browser = driver.browser(Viewport::Projector).await;
    for (path, question_css) in [
        ("/", "#question"),
        ("/screen", "#question"),
        ("/admin", ".poll-row strong"),
    ] {
        if path == "/admin" {
            open_admin(&browser, &app).await;
        } else {
            browser.goto(&app.url(path)).await.unwrap();
        }
        wait_text(&browser, question_css, evil).await;
        wait_contains(&browser, "body", "<b>bold</b>").await;
        wait_counts(&browser, "body", &["0 · 0%", "1 · 100%"]).await;
        assert_eq!(
            js(&browser, "return typeof window.pwned").await,
            "undefined",
            "{path}"
        );
        assert_eq!(
            js(
                &browser,
                "return document.querySelectorAll('b, script:not([src])').length"
            )
            .await,
            0,
            "{path}: no markup came from poll text"
        );
        assert_eq!(
            js(
                &browser,
                "return [...document.images].filter(i => !i.src.endsWith('/qr.svg')).length"
            )
            .await,
            0,
            "{path}"
        );
    }
    browser.close().await.unwrap();
}

#[tokio::test]
async fn the_screen_warns_when_its_stream_is_lost_and_both_pages_recover_by_themselves() {
    let dir = tempfile::tempdir().unwrap();
    let mut args = serve_args(&shared_broker().bootstrap(), dir.path(), &unique_prefix());
    args.bind = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let mut app = spawn_app_with(args.clone()).await;
    let id = app
        .open_poll(json!({"question": "Still there?", "kind": "single", "options": ["yes", "no"]}))
        .await;
    app.put_on_air(Some(&id)).await;
    let driver = Driver::start();
    let screen = driver.browser(Viewport::Projector).await;
    let phone = driver.browser(Viewport::Phone).await;
    screen.goto(&app.url("/screen")).await.unwrap();
    phone.goto(&app.url("/")).await.unwrap();
    wait_text(&screen, "#live", "● live").await;
    wait_text(&phone, "#question", "Still there?").await;

    app.stop().await;
    wait_contains(&screen, "#live", "Reconnecting").await;
    wait_js(
        &phone,
        "the reconnecting note",
        "return !document.getElementById('conn').hidden;",
        vec![],
    )
    .await;

    let app = spawn_app_with(args).await;
    wait_text(&screen, "#live", "● live").await;
    wait_js(
        &phone,
        "the note gone",
        "return document.getElementById('conn').hidden;",
        vec![],
    )
    .await;
    tap_button(&phone, "#form", "yes").await;
    wait_contains(&phone, "#status", "Vote recorded").await;
    wait_counts(&screen, "#results", &["1 · 100%", "0 · 0%"]).await;
    app.wait_results(&id, |r| r["counts"] == json!([1, 0]))
        .await;
    screen.close().await.unwrap();
    phone.close().await.unwrap();
}

#[tokio::test]
async fn a_vote_tapped_while_kafka_is_down_says_so_and_goes_through_when_it_is_back() {
    let broker = TestBroker::start();
    let app = spawn_app_on(&broker).await;
    let id = app
        .open_poll(
            json!({"question": "Coffee or tea?", "kind": "single", "options": ["coffee", "tea"]}),
        )
        .await;
    app.put_on_air(Some(&id)).await;
    let driver = Driver::start();
    let phone = driver.browser(Viewport::Phone).await;
    phone.goto(&app.url("/")).await.unwrap();
    wait_text(&phone, "#question", "Coffee or tea?").await;

    unsafe { libc::kill(broker.pid().unwrap(), libc::SIGKILL) };
    wait_status(
        &app.client,
        &app.url("/healthz"),
        reqwest::StatusCode::SERVICE_UNAVAILABLE,
        15,
    )
    .await;
    tap_button(&phone, "#form", "tea").await;
    wait_contains(&phone, "#status", "your vote is not recorded yet").await;
    assert_eq!(pressed_choices(&phone).await, Vec::<String>::new());

    // The page keeps retrying by itself; once the broker is back the vote goes through.
    broker.restart();
    wait_contains(&phone, "#status", "Vote recorded").await;
    assert_eq!(pressed_choices(&phone).await, ["tea"]);
    app.wait_results(&id, |r| r["counts"] == json!([0, 1]))
        .await;
    phone.close().await.unwrap();
    broker.broker.stop().unwrap();
}

#[tokio::test]
async fn the_pages_fit_phone_and_projector_load_nothing_from_outside_and_are_photographed() {
    let app = spawn_app().await;
    let talk = app
        .open_poll(json!({
            "question": "Which talk should get the extra slot after lunch?",
            "kind": "single",
            "options": ["Exactly-once votes with Kafka and redb", "Projectors we have known", "Offline-first venues", "Lightning talks"],
            "duration_secs": 600,
        }))
        .await;
    let mut ballots = Vec::new();
    for (choice, n) in [(0, 23), (1, 9), (2, 15), (3, 4)] {
        ballots.extend(std::iter::repeat_n(json!({ "choice": choice }), n));
    }
    vote_many(&app, &talk, &ballots).await;
    let rating = app
        .open_poll(json!({"question": "How was the keynote?", "kind": "rating", "scale": 5}))
        .await;
    let ratings: Vec<Value> = [5, 4, 4, 5, 3, 5, 2, 4]
        .iter()
        .map(|r| json!({ "rating": r }))
        .collect();
    vote_many(&app, &rating, &ratings).await;
    let words = app
        .open_poll(json!({"question": "One word for today?", "kind": "wordcloud"}))
        .await;
    let texts: Vec<Value> = [
        "inspiring",
        "fast",
        "Inspiring",
        "long",
        "fun",
        "fast",
        "inspiring",
        "coffee",
    ]
    .iter()
    .map(|t| json!({ "text": t }))
    .collect();
    vote_many(&app, &words, &texts).await;
    app.put_on_air(Some(&talk)).await;

    let driver = Driver::start();
    for (viewport, size) in [
        (Viewport::Phone, "phone"),
        (Viewport::Projector, "1920x1080"),
    ] {
        let b = driver.browser(viewport).await;
        b.goto(&app.url("/")).await.unwrap();
        wait_contains(&b, "#question", "extra slot").await;
        tap_button(&b, "#form", "Offline-first venues").await;
        wait_contains(&b, "#status", "Vote recorded").await;
        wait_contains(&b, "#countdown", "left").await;
        check_page(&b, &app, &format!("attendee-{size}")).await;

        b.goto(&app.url("/screen")).await.unwrap();
        wait_contains(&b, "#question", "extra slot").await;
        wait_contains(&b, "#turnout", "voters").await;
        wait_js(
            &b,
            "the QR code",
            "const i = document.getElementById('qr'); return i.complete && i.naturalWidth > 0;",
            vec![],
        )
        .await;
        check_page(&b, &app, &format!("screen-{size}")).await;

        open_admin(&b, &app).await;
        wait_contains(&b, "#polls", "One word for today?").await;
        check_page(&b, &app, &format!("admin-{size}")).await;
        b.close().await.unwrap();
    }

    // The other result kinds and the presenter's overlays, on the projector.
    let b = driver.browser(Viewport::Projector).await;
    b.goto(&app.url("/screen")).await.unwrap();
    wait_contains(&b, "#question", "extra slot").await;
    app.put_on_air(Some(&rating)).await;
    wait_text(&b, "#results .mean", "Average 4.0 / 5").await;
    wait_js(&b, "the histogram", "return [...document.querySelectorAll('#results .col .count')].map(c => c.textContent).join() === '0,1,1,3,3';", vec![]).await;
    check_page(&b, &app, "screen-rating-1920x1080").await;
    app.put_on_air(Some(&words)).await;
    wait_js(
        &b,
        "the word cloud",
        "return document.querySelectorAll('#results .words span').length === 5;",
        vec![],
    )
    .await;
    check_page(&b, &app, "screen-wordcloud-1920x1080").await;
    let body = b.find(Locator::Css("body")).await.unwrap();
    body.send_keys("?").await.unwrap();
    wait_js(
        &b,
        "the shortcut help",
        "return !document.getElementById('help').hidden;",
        vec![],
    )
    .await;
    check_page(&b, &app, "screen-help-1920x1080").await;
    body.send_keys("\u{e00c}q").await.unwrap(); // Escape, then Q
    wait_js(&b, "the full-screen QR", "return document.getElementById('help').hidden && !document.getElementById('qr-full').hidden;", vec![]).await;
    check_page(&b, &app, "screen-qr-1920x1080").await;
    b.close().await.unwrap();
}

/// Lets bars finish their transition, then checks the page has no horizontal overflow and no
/// outside reference, and saves a screenshot.
async fn check_page(b: &Client, app: &TestApp, name: &str) {
    tokio::time::sleep(Duration::from_millis(700)).await;
    let overflow = js(
        b,
        "return document.documentElement.scrollWidth - window.innerWidth",
    )
    .await;
    assert!(
        overflow.as_i64().unwrap() <= 0,
        "{name}: {overflow}px wider than the screen"
    );
    assert_eq!(
        outside_references(b, &app.base).await,
        Vec::<String>::new(),
        "{name}"
    );
    // A missing value shows as the word "null" or "undefined" (a rating poll without labels
    // once put a large "null" under its histogram): no page text is ever one of them.
    let text = js(b, "return document.body.innerText").await;
    let words: Vec<&str> = text
        .as_str()
        .unwrap_or_default()
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| *w == "null" || *w == "undefined")
        .collect();
    assert!(words.is_empty(), "{name}: the page says {words:?}");
    screenshot(b, name).await;
}

#[tokio::test]
async fn the_qr_code_decodes_to_the_join_url() {
    let app = spawn_app().await;
    let info: Value = app.get("/api/info").await;
    let join = info["join_url"].as_str().unwrap().to_string();
    let res = app.client.get(app.url("/qr.svg")).send().await.unwrap();
    assert_eq!(res.headers()["content-type"], "image/svg+xml");
    assert_eq!(decode_qr(&res.bytes().await.unwrap()), join);
}
