//! Q&A in headless Chromium: an attendee asks, a second upvotes, the organiser approves and
//! pins, the projector shows it large with its count; markup in a question stays inert text on
//! all three pages. Screenshots go to target/test-artifacts/qa-*.png.

use fantoccini::{Client, Locator};
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::*;
use crate::qa::wait_questions;
use crate::webdriver::*;

async fn js(client: &Client, script: &str) -> Value {
    client.execute(script, vec![]).await.unwrap()
}

async fn type_into(client: &Client, css: &str, text: &str) {
    let e = client.find(Locator::Css(css)).await.unwrap();
    e.clear().await.unwrap();
    e.send_keys(text).await.unwrap();
}

/// Opens the attendee page on the Q&A tab.
async fn open_qa(client: &Client, app: &TestApp) {
    client.goto(&app.url("/")).await.unwrap();
    wait_js(
        client,
        "the Q&A tab",
        "return !!document.getElementById('qa-tab-qa');",
        vec![],
    )
    .await;
    client
        .find(Locator::Css("#qa-tab-qa"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
}

const EVIL: &str =
    "<script>window.__pwned=1</script><img src=x onerror=\"window.__pwned=2\">Is this inert?";

#[tokio::test]
async fn qa_ask_upvote_approve_pin_and_the_projector_shows_it_large() {
    let app = spawn_app().await;
    let res = app
        .as_admin(Method::PUT, "/api/qa")
        .json(&json!({"moderated": true}))
        .send()
        .await
        .unwrap();
    assert!(res.status().is_success());
    let driver = Driver::start();
    let asker = driver.browser(Viewport::Phone).await;
    let second = driver.browser(Viewport::Phone).await;
    let console = driver.browser(Viewport::Phone).await;
    let screen = driver.browser(Viewport::Projector).await;

    // The first attendee asks; moderated, so only they see it, marked as waiting.
    open_qa(&asker, &app).await;
    type_into(
        &asker,
        "#qa-text",
        "How does the tally stay exactly-once when a node crashes mid-batch?",
    )
    .await;
    type_into(&asker, "#qa-name", "Ada").await;
    tap_button(&asker, ".qa-form", "Send question").await;
    wait_contains(&asker, ".qa-form .status", "once the organiser approves").await;
    wait_contains(&asker, ".qa-item.own", "Waiting for approval").await;
    screenshot(&asker, "qa-phone-pending-360x740").await;

    // An attendee question with markup, approved at once over the API.
    let v = app.session().await;
    let evil = crate::qa::ask_ok(&app, &v, EVIL).await;
    crate::qa::moderate(&app, &evil, "approve").await;
    // More questions so the projector has a list below the pinned one.
    for (i, text) in [
        "Will the slides be shared after the talk?",
        "What broker do you run in production?",
        "Can the QR code work offline at the venue?",
    ]
    .iter()
    .enumerate()
    {
        let v = app.session().await;
        let id = crate::qa::ask_ok(&app, &v, text).await;
        crate::qa::moderate(&app, &id, "approve").await;
        for _ in 0..i {
            let u = app.session().await;
            crate::qa::upvote(&app, &u, &id, true).await;
        }
    }

    // The organiser approves and pins it from the console on a phone.
    console
        .goto(&app.url(&format!("/admin#token={ADMIN}")))
        .await
        .unwrap();
    wait_contains(&console, "#qa-queue", "exactly-once").await;
    screenshot(&console, "qa-console-queue-360x740").await;
    tap_button(&console, "#qa-queue", "Approve").await;
    wait_contains(&console, "#qa-live", "exactly-once").await;
    let list = wait_questions(&app, |l| {
        l.iter().any(|q| q["name"] == "Ada" && q["state"] == "live")
    })
    .await;
    let id = list.iter().find(|q| q["name"] == "Ada").unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let pin = format!("#qa-live li[data-id='{id}']");
    tap_button(&console, &pin, "Pin").await;
    wait_contains(&console, &pin, "Pinned").await;

    // The second attendee sees it (not waiting any more) and upvotes it with one tap; undo and again.
    open_qa(&second, &app).await;
    let item = format!(".qa-item[data-id='{id}']");
    wait_contains(&second, &item, "exactly-once").await;
    let up = format!("{item} .qa-up");
    second
        .find(Locator::Css(&up))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_questions(&app, |l| {
        l.iter()
            .any(|q| q["id"] == id.as_str() && q["upvotes"] == 1)
    })
    .await;
    wait_js(
        &second,
        "the upvote pressed",
        &format!(
            "return document.querySelector(\"{up}\").getAttribute('aria-pressed') === 'true';"
        ),
        vec![],
    )
    .await;
    second
        .find(Locator::Css(&up))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_questions(&app, |l| {
        l.iter()
            .any(|q| q["id"] == id.as_str() && q["upvotes"] == 0)
    })
    .await;
    second
        .find(Locator::Css(&up))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_questions(&app, |l| {
        l.iter()
            .any(|q| q["id"] == id.as_str() && q["upvotes"] == 1)
    })
    .await;
    wait_contains(&asker, &item, "Pinned").await;
    wait_js(
        &asker,
        "the asker's question no longer waiting",
        &format!("return !document.querySelector(\"{item}\").textContent.includes('Waiting');"),
        vec![],
    )
    .await;
    screenshot(&second, "qa-phone-list-360x740").await;

    // The projector shows the pinned question large, with its count, and the QR beside it.
    app.as_admin(Method::PUT, "/api/screen")
        .json(&json!({"view": "qa"}))
        .send()
        .await
        .unwrap();
    screen.goto(&app.url("/screen")).await.unwrap();
    wait_contains(&screen, ".qa-pinned .qa-text", "exactly-once").await;
    wait_text(&screen, ".qa-pinned .qa-n", "1").await;
    let sizes = js(&screen, "const f = (s) => parseFloat(getComputedStyle(document.querySelector(s)).fontSize); return [f('.qa-pinned .qa-text'), f('.qa-rest .qa-text'), document.getElementById('qr').getBoundingClientRect().width];").await;
    let (big, small, qr) = (
        sizes[0].as_f64().unwrap(),
        sizes[1].as_f64().unwrap(),
        sizes[2].as_f64().unwrap(),
    );
    assert!(
        big >= 48.0,
        "the pinned question is large at 1920×1080: {big}px"
    );
    assert!(
        small >= 30.0,
        "the others stay readable from the back: {small}px"
    );
    assert!(qr > 200.0, "the join QR stays beside it: {qr}px");
    screenshot(&screen, "qa-screen-1920x1080").await;
    let outside = outside_viewport(&screen, true).await;
    assert!(outside.is_empty(), "nothing overflows: {outside:?}");
    // An upvote arrives live.
    let u = app.session().await;
    crate::qa::upvote(&app, &u, &id, true).await;
    wait_text(&screen, ".qa-pinned .qa-n", "2").await;

    let laptop = driver.browser(Viewport::Laptop).await;
    laptop.goto(&app.url("/screen")).await.unwrap();
    wait_contains(&laptop, ".qa-pinned .qa-text", "exactly-once").await;
    let big = js(&laptop, "return parseFloat(getComputedStyle(document.querySelector('.qa-pinned .qa-text')).fontSize);").await;
    assert!(big.as_f64().unwrap() >= 32.0, "readable at 1280×720: {big}");
    screenshot(&laptop, "qa-screen-1280x720").await;
    let outside = outside_viewport(&laptop, true).await;
    assert!(outside.is_empty(), "nothing overflows: {outside:?}");

    // The markup question is inert text everywhere.
    for (page, b) in [
        ("phone", &second),
        ("console", &console),
        ("screen", &screen),
    ] {
        wait_contains(b, "body", "Is this inert?").await;
        let found = js(b, "return [window.__pwned || 0, document.querySelectorAll('main img, #view img, #qa-panel img, .qa-list script, #view script').length, [...document.querySelectorAll('.qa-text')].some(e => e.textContent.includes('<script>'))];").await;
        assert_eq!(
            found,
            json!([0, 0, true]),
            "{page}: markup shown as text, never run"
        );
    }
    screenshot(&console, "qa-console-live-360x740").await;
    let console_wide = driver.browser(Viewport::Laptop).await;
    console_wide
        .goto(&app.url(&format!("/admin#token={ADMIN}")))
        .await
        .unwrap();
    wait_contains(&console_wide, "#qa-live", "exactly-once").await;
    console_wide
        .execute(
            "document.getElementById('qa-panel').scrollIntoView();",
            vec![],
        )
        .await
        .unwrap();
    screenshot(&console_wide, "qa-console-1280x720").await;
}

#[tokio::test]
async fn the_console_queue_and_counts_follow_live_without_a_reload() {
    let app = spawn_app().await;
    let res = app
        .as_admin(Method::PUT, "/api/qa")
        .json(&json!({"moderated": true}))
        .send()
        .await
        .unwrap();
    assert!(res.status().is_success());
    let driver = Driver::start();
    let console = driver.browser(Viewport::Laptop).await;
    console
        .goto(&app.url(&format!("/admin#token={ADMIN}")))
        .await
        .unwrap();
    wait_js(
        &console,
        "the Q&A panel",
        "return !!document.getElementById('qa-queue');",
        vec![],
    )
    .await;
    // Asked after the console loaded: it must arrive over the live stream.
    let asker = app.session().await;
    let id = crate::qa::ask_ok(&app, &asker, "Does the queue update by itself?").await;
    wait_contains(&console, "#qa-queue", "update by itself").await;
    let (status, _) = crate::qa::moderate(&app, &id, "approve").await;
    assert!(status.is_success());
    wait_contains(&console, "#qa-live", "update by itself").await;
    for _ in 0..2 {
        let v = app.session().await;
        assert!(crate::qa::upvote(&app, &v, &id, true).await.is_success());
    }
    crate::qa::wait_questions(&app, |l| l.iter().any(|q| q["upvotes"] == 2)).await;
    let shown = wait_js(
        &console,
        "two upvotes shown live",
        "const s = document.querySelector('#qa-live .qa-score'); return s && s.textContent === '▲ 2' ? s.textContent : null;",
        vec![],
    )
    .await;
    assert_eq!(shown, "▲ 2");
    console.close().await.unwrap();
}
