//! Accessibility of the three pages in a real Chromium: axe-core (test-only, from the cache that
//! `scripts/setup.sh --test` fills) finds no serious or critical violation in any main state;
//! voting works with the keyboard alone; the vote's outcome is announced; reduced motion stops
//! the bars gliding.

use fantoccini::Client;
use fantoccini::key::Key;
use serde_json::{Value, json};

use crate::helpers::*;
use crate::webdriver::*;

async fn js(client: &Client, script: &str) -> Value {
    client.execute(script, vec![]).await.unwrap()
}

/// Fails with every serious/critical violation axe-core finds on the page in `state`.
async fn assert_axe_clean(client: &Client, axe: &str, state: &str, failures: &mut Vec<String>) {
    for v in axe_serious(client, axe).await {
        failures.push(format!("{state}: {v}"));
    }
}

async fn close(app: &TestApp, id: &str) {
    let r = app
        .admin_post(&format!("/api/polls/{id}/close"), None)
        .await;
    assert!(r.status().is_success(), "{}", r.status());
}

#[tokio::test]
async fn every_page_is_clean_for_axe_in_its_main_states() {
    let axe = axe_source();
    let app = spawn_app().await;
    let driver = Driver::start();
    let phone = driver.browser(Viewport::Phone).await;
    let screen = driver.browser(Viewport::Projector).await;
    let mut failures = Vec::new();

    // Nothing on air: the phone waits, the projector is idle.
    phone.goto(&app.url("/")).await.unwrap();
    wait_js(&phone, "the waiting text", "return !document.getElementById('waiting').hidden && document.documentElement.lang === 'en';", vec![]).await;
    assert_axe_clean(&phone, &axe, "phone waiting", &mut failures).await;
    screen.goto(&app.url("/screen")).await.unwrap();
    wait_js(&screen, "the idle screen", "return !document.getElementById('idle').hidden && !!document.querySelector('.join-url').textContent;", vec![]).await;
    assert_axe_clean(&screen, &axe, "screen idle", &mut failures).await;

    // A poll open, then voted, then closed.
    let id = app
        .open_poll(json!({"question": "Best talk?", "kind": "single", "options": ["Rust", "Kafka", "redb"], "duration_secs": 600}))
        .await;
    app.put_on_air(Some(&id)).await;
    wait_text(&phone, "#question", "Best talk?").await;
    assert_axe_clean(&phone, &axe, "phone poll open", &mut failures).await;
    tap_button(&phone, "#form", "Kafka").await;
    wait_contains(&phone, "#status", "Vote recorded").await;
    wait_js(
        &phone,
        "the results",
        "return document.querySelectorAll('#results li').length === 3;",
        vec![],
    )
    .await;
    assert_axe_clean(&phone, &axe, "phone voted", &mut failures).await;
    wait_text(&screen, "#turnout", "1 voter").await;
    assert_axe_clean(&screen, &axe, "screen with results", &mut failures).await;
    close(&app, &id).await;
    wait_contains(&phone, "#status", "Voting is closed").await;
    assert_axe_clean(&phone, &axe, "phone closed", &mut failures).await;

    // Results hidden from the room; a rating poll.
    let hidden = app
        .open_poll(json!({"question": "How was it?", "kind": "rating", "scale": 5, "labels": ["poor", "great"], "visibility": "never"}))
        .await;
    app.put_on_air(Some(&hidden)).await;
    wait_text(&phone, "#question", "How was it?").await;
    tap_button(&phone, "#form", "4").await;
    wait_contains(&phone, "#status", "Vote recorded").await;
    assert_axe_clean(&phone, &axe, "phone rating, results hidden", &mut failures).await;
    wait_js(
        &screen,
        "the hidden results",
        "return !!document.querySelector('#results .answered');",
        vec![],
    )
    .await;
    assert_axe_clean(&screen, &axe, "screen results hidden", &mut failures).await;

    // A word cloud with words, on both.
    let words = app
        .open_poll(json!({"question": "One word?", "kind": "wordcloud"}))
        .await;
    app.put_on_air(Some(&words)).await;
    let v = app.session().await;
    assert_eq!(app.vote(&v, &words, json!({"text": "kafka"})).await, 202);
    wait_js(&phone, "the word input", "return !!document.querySelector('#form input') && !!document.querySelector('#results .w');", vec![]).await;
    assert_axe_clean(&phone, &axe, "phone word cloud", &mut failures).await;
    wait_js(
        &screen,
        "the word cloud",
        "return !!document.querySelector('#results .w');",
        vec![],
    )
    .await;
    assert_axe_clean(&screen, &axe, "screen word cloud", &mut failures).await;

    // The organiser console, signed in (and its sign-in form before that).
    let admin = driver.browser(Viewport::Laptop).await;
    admin.goto(&app.url("/admin")).await.unwrap();
    wait_js(
        &admin,
        "the sign-in form",
        "return !!document.querySelector('input');",
        vec![],
    )
    .await;
    assert_axe_clean(&admin, &axe, "console sign-in", &mut failures).await;
    admin
        .execute(
            "sessionStorage.setItem('livepoll-admin', arguments[0]);",
            vec![json!(ADMIN)],
        )
        .await
        .unwrap();
    admin.refresh().await.unwrap();
    wait_js(&admin, "the console", "return !document.getElementById('console').hidden && document.querySelectorAll('#polls li').length >= 3;", vec![]).await;
    assert_axe_clean(&admin, &axe, "console signed in", &mut failures).await;

    assert!(
        failures.is_empty(),
        "axe-core found serious/critical violations:\n{}",
        failures.join("\n")
    );
}

/// Tab until the focused element's text is `label` (at most 30 presses).
async fn tab_to(client: &Client, label: &str) {
    for _ in 0..30 {
        press_key(client, Key::Tab.into()).await;
        let focused = js(
            client,
            "return document.activeElement ? document.activeElement.textContent : null;",
        )
        .await;
        if focused == json!(label) {
            return;
        }
    }
    panic!("Tab never reached {label:?}");
}

#[tokio::test]
async fn an_attendee_votes_with_the_keyboard_alone_and_hears_the_outcome() {
    let app = spawn_app().await;
    let id = app
        .open_poll(json!({"question": "Best talk?", "kind": "single", "options": ["Rust", "Kafka", "redb"]}))
        .await;
    app.put_on_air(Some(&id)).await;
    let driver = Driver::start();
    let phone = driver.browser(Viewport::Phone).await;
    phone.goto(&app.url("/")).await.unwrap();
    wait_text(&phone, "#question", "Best talk?").await;

    // The status line is a polite live region from the start, and stays the same element.
    let region = js(
        &phone,
        "const s = document.getElementById('status'); s.dataset.mark = 'first'; return [s.getAttribute('role'), s.getAttribute('aria-live')];",
    )
    .await;
    assert_eq!(region, json!(["status", "polite"]));

    tab_to(&phone, "Kafka").await;
    press_key(&phone, Key::Enter.into()).await;
    wait_contains(&phone, "#status", "Vote recorded").await;
    app.wait_results(&id, |r| r["counts"] == json!([0, 1, 0]))
        .await;
    assert_eq!(
        js(
            &phone,
            "return document.getElementById('status').dataset.mark;"
        )
        .await,
        json!("first"),
        "the status element was replaced, so screen readers would miss the update"
    );
    // The focus stays on the chosen option after the page re-renders.
    assert_eq!(
        js(&phone, "return document.activeElement.textContent;").await,
        json!("Kafka")
    );

    // Multiple choice: Space toggles options, then Tab to Send and press Space.
    let multi = app
        .open_poll(json!({"question": "Which ones?", "kind": "multiple", "max_choices": 2, "options": ["A", "B", "C"]}))
        .await;
    app.put_on_air(Some(&multi)).await;
    wait_text(&phone, "#question", "Which ones?").await;
    tab_to(&phone, "A").await;
    press_key(&phone, ' ').await;
    tab_to(&phone, "C").await;
    press_key(&phone, ' ').await;
    wait_js(
        &phone,
        "two chosen",
        "return document.querySelectorAll('#form button[aria-pressed=true]').length === 2;",
        vec![],
    )
    .await;
    tab_to(&phone, "Send").await;
    press_key(&phone, ' ').await;
    wait_contains(&phone, "#status", "Vote recorded").await;
    app.wait_results(&multi, |r| r["counts"] == json!([1, 0, 1]))
        .await;
    assert_eq!(
        js(
            &phone,
            "return document.getElementById('status').dataset.mark;"
        )
        .await,
        json!("first")
    );
}

#[tokio::test]
async fn reduced_motion_stops_the_bars_gliding() {
    let app = spawn_app().await;
    let id = app
        .open_poll(
            json!({"question": "Best talk?", "kind": "single", "options": ["Rust", "Kafka"]}),
        )
        .await;
    app.put_on_air(Some(&id)).await;
    let driver = Driver::start();
    let moving = driver.browser(Viewport::Projector).await;
    let still = driver
        .browser_with(Viewport::Projector, &["--force-prefers-reduced-motion"])
        .await;
    let probe = "const f = document.querySelector('#results .fill'); return f && [matchMedia('(prefers-reduced-motion: reduce)').matches, getComputedStyle(f).transitionDuration];";
    for (client, want) in [
        (&moving, json!([false, "0.4s"])),
        (&still, json!([true, "0s"])),
    ] {
        client.goto(&app.url("/screen")).await.unwrap();
        let got = wait_js(client, "a result bar", probe, vec![]).await;
        assert_eq!(got, want);
    }
}
