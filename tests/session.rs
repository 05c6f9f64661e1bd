//! A whole session in real headless Chromium, against a real server and broker: phones that
//! follow every state change, a projector that fits any content at 720p, 1080p and 4K, hidden
//! results, the presenter's keys, and a scripted 20-poll session. Screenshots land in
//! `target/test-artifacts/` (`session-*`).

use std::time::Duration;

use fantoccini::{Client, Locator};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::*;
use crate::webdriver::*;

async fn js(client: &Client, script: &str) -> Value {
    client.execute(script, vec![]).await.unwrap()
}

async fn create(app: &TestApp, def: Value) -> String {
    let res = app.admin_post("/api/polls", Some(def)).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    res.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string()
}

async fn admin_ok(app: &TestApp, path: &str) {
    let res = app.admin_post(path, None).await;
    assert!(res.status().is_success(), "{path}: {}", res.status());
}

/// Waits until the phone's status line is exactly `want`, and its choices are enabled or not.
async fn wait_phone(phone: &Client, want: &str, enabled: bool) {
    wait_js(
        phone,
        &format!("status {want:?}, choices enabled: {enabled}"),
        "const b = [...document.querySelectorAll('#form button.choice')];
         return document.getElementById('status').textContent === arguments[0]
           && b.length > 0 && b.every(x => x.disabled === !arguments[1]);",
        vec![json!(want), json!(enabled)],
    )
    .await;
}

async fn press(client: &Client, keys: &str) {
    client
        .find(Locator::Css("body"))
        .await
        .unwrap()
        .send_keys(keys)
        .await
        .unwrap();
}

/// Waits for transitions and the fitting to settle, asserts nothing lies outside the viewport
/// (or, on a phone, outside its width), and saves a screenshot.
async fn fits(client: &Client, name: &str, vertical: bool) {
    tokio::time::sleep(Duration::from_millis(600)).await;
    let outside = outside_viewport(client, vertical).await;
    screenshot(client, &format!("session-{name}")).await;
    assert!(outside.is_empty(), "{name}: {outside:#?}");
}

#[tokio::test]
async fn the_phone_shows_the_current_state_through_every_transition() {
    let app = spawn_app().await;
    let id = create(
        &app,
        json!({"question": "Round trip?", "kind": "single", "options": ["A", "B"]}),
    )
    .await;
    let driver = Driver::start();
    let phone = driver.browser(Viewport::Phone).await;
    phone.goto(&app.url("/")).await.unwrap();
    wait_js(
        &phone,
        "waiting",
        "return !document.getElementById('waiting').hidden;",
        vec![],
    )
    .await;

    // A draft on air, then opened.
    app.put_on_air(Some(&id)).await;
    wait_text(&phone, "#question", "Round trip?").await;
    wait_phone(&phone, "Voting has not started yet.", false).await;
    admin_ok(&app, &format!("/api/polls/{id}/open")).await;
    wait_phone(&phone, "", true).await;
    tap_button(&phone, "#form", "A").await;
    wait_contains(&phone, "#status", "Vote recorded").await;

    // Close, then reset on air: a new, empty round 2, open at once (docs/api.md "Presenting").
    admin_ok(&app, &format!("/api/polls/{id}/close")).await;
    wait_phone(&phone, "Voting is closed. Your vote was counted.", false).await;
    admin_ok(&app, &format!("/api/polls/{id}/reset")).await;
    wait_js(
        &phone,
        "round 2 without a ballot",
        "return document.querySelectorAll('#form button[aria-pressed=true]').length === 0;",
        vec![],
    )
    .await;
    wait_phone(&phone, "", true).await;
    assert_eq!(app.poll(&id).await["state"], "open");
    tap_button(&phone, "#form", "B").await;
    wait_contains(&phone, "#status", "Vote recorded").await;
    app.wait_results(&id, |r| r["round"] == 2 && r["counts"] == json!([0, 1]))
        .await;

    // After a reload the phone still says the vote is recorded.
    phone.refresh().await.unwrap();
    wait_phone(
        &phone,
        "✓ Your vote is recorded. You can change it until voting closes.",
        true,
    )
    .await;
    assert_eq!(pressed_choices(&phone).await, ["B"]);

    // Presenting a timed poll: the countdown runs, and the timer closes it.
    let timed = create(&app, json!({"question": "Quick one?", "kind": "single", "options": ["x", "y"], "duration_secs": 2})).await;
    admin_ok(&app, &format!("/api/polls/{timed}/present")).await;
    wait_text(&phone, "#question", "Quick one?").await;
    wait_phone(&phone, "", true).await;
    wait_contains(&phone, "#countdown", "left").await;
    wait_phone(&phone, "Voting is closed.", false).await;
    assert_eq!(
        app.poll(&id).await["state"],
        "closed",
        "presenting closed the poll that was on air"
    );

    // Off air and back on air.
    app.put_on_air(None).await;
    wait_js(
        &phone,
        "waiting",
        "return !document.getElementById('waiting').hidden;",
        vec![],
    )
    .await;
    admin_ok(&app, &format!("/api/polls/{id}/open")).await;
    app.put_on_air(Some(&id)).await;
    wait_text(&phone, "#question", "Round trip?").await;
    wait_phone(
        &phone,
        "✓ Your vote is recorded. You can change it until voting closes.",
        true,
    )
    .await;

    // Deleted while on air: back to waiting.
    let res = app
        .as_admin(reqwest::Method::DELETE, &format!("/api/polls/{id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    wait_js(
        &phone,
        "waiting after delete",
        "return !document.getElementById('waiting').hidden;",
        vec![],
    )
    .await;
    phone.close().await.unwrap();
}

#[tokio::test]
async fn phones_enforce_max_choices_say_what_is_not_sent_and_fit_rating_scales() {
    let app = spawn_app().await;
    let multi = create(&app, json!({"question": "Pick two", "kind": "multiple", "options": ["a", "b", "c", "d"], "max_choices": 2})).await;
    admin_ok(&app, &format!("/api/polls/{multi}/present")).await;
    let driver = Driver::start();
    let phone = driver.browser(Viewport::Phone).await;
    phone.goto(&app.url("/")).await.unwrap();
    wait_text(&phone, "#question", "Pick two").await;
    tap_button(&phone, "#form", "a").await;
    wait_contains(&phone, "#status", "Not sent yet").await;
    tap_button(&phone, "#form", "c").await;
    wait_js(
        &phone,
        "the other options disabled at the maximum",
        "const b = [...document.querySelectorAll('#form button.choice')];
         return b.filter(x => x.disabled).map(x => x.textContent).join() === 'b,d'
           && document.querySelector('#form .hint').textContent.includes('the most you can pick');",
        vec![],
    )
    .await;
    fits(&phone, "phone-max-choices", false).await;
    tap_button(&phone, "#form", "Send").await;
    wait_contains(&phone, "#status", "Vote recorded").await;
    app.wait_results(&multi, |r| r["counts"] == json!([1, 0, 1, 0]))
        .await;
    // Changing the selection without sending says so; sending it again records it.
    tap_button(&phone, "#form", "c").await;
    wait_contains(&phone, "#status", "Not sent yet").await;
    tap_button(&phone, "#form", "d").await;
    tap_button(&phone, "#form", "Send").await;
    wait_contains(&phone, "#status", "Vote recorded").await;
    app.wait_results(&multi, |r| r["counts"] == json!([1, 0, 0, 1]))
        .await;
    // Percentages are of voters: 1 voter chose a and d, so each has 100%.
    wait_js(&phone, "shares of voters", "return [...document.querySelectorAll('#results .count')].map(c => c.textContent).join() === '1 · 100%,0 · 0%,0 · 0%,1 · 100%';", vec![]).await;

    let rating = create(&app, json!({"question": "How likely are you to come back?", "kind": "rating", "scale": 10, "labels": ["not at all", "certainly"]})).await;
    admin_ok(&app, &format!("/api/polls/{rating}/present")).await;
    wait_contains(&phone, "#question", "come back").await;
    wait_js(
        &phone,
        "ten one-line rating buttons and the end labels",
        "const b = [...document.querySelectorAll('#form .rating button')];
         return b.length === 10 && b.every(x => x.getBoundingClientRect().height < 70)
           && b[9].textContent === '10'
           && document.querySelector('#form .ends').textContent.includes('certainly');",
        vec![],
    )
    .await;
    tap_button(&phone, "#form", "10").await;
    wait_contains(&phone, "#status", "Vote recorded").await;
    fits(&phone, "phone-rating-10", false).await;
    admin_ok(&app, &format!("/api/polls/{rating}/close")).await;
    wait_phone(&phone, "Voting is closed. Your vote was counted.", false).await;
    fits(&phone, "phone-closed", false).await;
    phone.close().await.unwrap();
}

#[tokio::test]
async fn hidden_results_show_the_count_live_and_a_signed_in_screen_reveals_them() {
    let app = spawn_app().await;
    let id = create(&app, json!({"question": "Secret ballot?", "kind": "single", "options": ["yes", "no"], "visibility": "never"})).await;
    admin_ok(&app, &format!("/api/polls/{id}/present")).await;
    let driver = Driver::start();
    let screen = driver.browser(Viewport::Projector).await;
    let phone = driver.browser(Viewport::Phone).await;
    // Signed in through the console's link: the token leaves the address bar at once.
    screen
        .goto(&app.url(&format!("/screen#token={ADMIN}")))
        .await
        .unwrap();
    wait_text(&screen, "#question", "Secret ballot?").await;
    wait_js(
        &screen,
        "the fragment removed",
        "return location.hash === '';",
        vec![],
    )
    .await;
    wait_text(&screen, "#results .answered-n", "0").await;

    phone.goto(&app.url("/")).await.unwrap();
    wait_text(&phone, "#question", "Secret ballot?").await;
    tap_button(&phone, "#form", "no").await;
    wait_contains(&phone, "#status", "Vote recorded").await;
    wait_text(&screen, "#results .answered-n", "1").await;
    wait_text(&screen, "#results .answered-label", "answer so far").await;
    wait_text(&phone, "#results .answered-n", "1").await;
    let text = js(&screen, "return document.body.innerText").await;
    let text = text.as_str().unwrap();
    assert!(
        !text.to_lowercase().contains("admin"),
        "no organiser hints for the room: {text}"
    );
    assert_eq!(
        js(
            &screen,
            "return document.querySelectorAll('#results .bar').length"
        )
        .await,
        0
    );
    fits(&screen, "screen-hidden-1920x1080", true).await;

    // R on the signed-in screen reveals this round to everyone.
    press(&screen, "r").await;
    wait_js(&screen, "revealed bars", "return [...document.querySelectorAll('#results .count')].map(c => c.textContent).join() === '0 · 0%,1 · 100%';", vec![]).await;
    wait_js(&phone, "revealed on the phone", "return [...document.querySelectorAll('#results .count')].map(c => c.textContent).join() === '0 · 0%,1 · 100%';", vec![]).await;
    assert_eq!(app.poll(&id).await["revealed"], true);
    // H hides them on this screen only, for this poll only, and the room still sees the count.
    press(&screen, "h").await;
    wait_text(&screen, "#results .answered-n", "1").await;
    press(&screen, "n").await;
    wait_js(
        &screen,
        "idle after the last poll",
        "return !document.getElementById('idle').hidden;",
        vec![],
    )
    .await;
    screen.close().await.unwrap();
    phone.close().await.unwrap();
}

/// Votes so each poll shows real bars.
async fn vote_spread(app: &TestApp, id: &str, options: usize, voters: usize) {
    for i in 0..voters {
        let v = app.session().await;
        let choice = (i * 7 + i / 3) % options;
        assert_eq!(app.vote(&v, id, json!({ "choice": choice })).await, 202);
    }
}

#[tokio::test]
async fn the_projector_and_phones_fit_any_content_at_every_size_and_are_photographed() {
    let dir = tempfile::tempdir().unwrap();
    let mut args = serve_args(&shared_broker().bootstrap(), dir.path(), &unique_prefix());
    args.title = "Open Source Summit · Day 2".into();
    let app = spawn_app_with(args).await;
    let option = |i: usize| {
        format!(
            "Option {} — {}",
            i + 1,
            [
                "short",
                "a somewhat longer label",
                "Kafka",
                "redb and exactly-once tallies"
            ][i % 4]
        )
    };
    let mut cases: Vec<(String, String)> = Vec::new();
    for n in [8, 12, 20] {
        let id = create(&app, json!({"question": format!("Which of these {n} should we do next?"), "kind": "single", "options": (0..n).map(option).collect::<Vec<_>>()})).await;
        admin_ok(&app, &format!("/api/polls/{id}/open")).await;
        vote_spread(&app, &id, n, 3 * n).await;
        cases.push((format!("{n}-options"), id));
    }
    let long_q: String = "How should the venue arrange the rooms, the coffee breaks, the lightning talks and the evening meetup so that everyone — speakers, first-time attendees and the organisers themselves — gets the most out of a long and busy conference day? ".repeat(3).chars().take(500).collect();
    let id = create(&app, json!({"question": long_q, "kind": "single", "options": ["Keep it as it is", "More breaks", "Fewer parallel tracks", "Longer lunch"]})).await;
    admin_ok(&app, &format!("/api/polls/{id}/open")).await;
    vote_spread(&app, &id, 4, 9).await;
    cases.push(("500-char-question".into(), id));
    let words = create(
        &app,
        json!({"question": "One word for today?", "kind": "wordcloud"}),
    )
    .await;
    admin_ok(&app, &format!("/api/polls/{words}/open")).await;
    for i in 0..110 {
        let v = app.session().await;
        let text = if i < 10 {
            "São Paulo".to_string()
        } else {
            format!("word{}", i % 100)
        };
        assert_eq!(app.vote(&v, &words, json!({ "text": text })).await, 202);
    }
    cases.push(("100-words".into(), words.clone()));
    let rating = create(&app, json!({"question": "How was the keynote?", "kind": "rating", "scale": 10, "labels": ["poor", "excellent"]})).await;
    admin_ok(&app, &format!("/api/polls/{rating}/open")).await;
    for r in [10, 9, 9, 8, 7, 10, 6, 9] {
        let v = app.session().await;
        assert_eq!(app.vote(&v, &rating, json!({ "rating": r })).await, 202);
    }
    cases.push(("rating-10".into(), rating));
    let hidden = create(&app, json!({"question": "Who should win the prize?", "kind": "single", "options": ["Team A", "Team B"], "visibility": "after_close"})).await;
    admin_ok(&app, &format!("/api/polls/{hidden}/open")).await;
    vote_spread(&app, &hidden, 2, 5).await;
    cases.push(("hidden".into(), hidden));

    let driver = Driver::start();
    for (viewport, size) in [
        (Viewport::Laptop, "1280x720"),
        (Viewport::Projector, "1920x1080"),
        (Viewport::Uhd, "3840x2160"),
    ] {
        let b = driver.browser(viewport).await;
        app.put_on_air(None).await;
        b.goto(&app.url("/screen")).await.unwrap();
        wait_text(&b, "#title", "Open Source Summit · Day 2").await;
        fits(&b, &format!("screen-idle-{size}"), true).await;
        for (name, id) in &cases {
            app.put_on_air(Some(id)).await;
            wait_js(&b, &format!("{name} on air"), "return !document.getElementById('stage').hidden && document.querySelector('#results').children.length > 0 && (document.getElementById('turnout').textContent !== '' || !!document.querySelector('#results .answered'));", vec![]).await;
            fits(&b, &format!("screen-{name}-{size}"), true).await;
        }
        if size == "1920x1080" {
            app.put_on_air(Some(&cases[2].1)).await;
            b.goto(&app.url("/screen?theme=light")).await.unwrap();
            wait_js(&b, "light theme", "return document.body.classList.contains('light') && document.querySelectorAll('#results li').length === 20;", vec![]).await;
            fits(&b, "screen-light-1920x1080", true).await;
            press(&b, "t").await;
            wait_js(
                &b,
                "dark again with T",
                "return !document.body.classList.contains('light');",
                vec![],
            )
            .await;
        }
        b.close().await.unwrap();
    }
    // The word cloud keeps the most common spelling and shows counts.
    app.put_on_air(Some(&words)).await;
    let phone = driver.browser(Viewport::Phone).await;
    phone.goto(&app.url("/")).await.unwrap();
    wait_js(
        &phone,
        "the cloud",
        "return document.querySelectorAll('#results .words .w').length === 100;",
        vec![],
    )
    .await;
    let first = js(
        &phone,
        "return document.querySelector('#results .words .w').textContent",
    )
    .await;
    assert_eq!(first, "São Paulo10");
    fits(&phone, "phone-100-words", false).await;
    for (name, id) in &cases {
        app.put_on_air(Some(id)).await;
        wait_js(&phone, &format!("{name} on the phone"), "return !document.getElementById('poll').hidden && document.querySelector('#results').children.length > 0;", vec![]).await;
        fits(&phone, &format!("phone-{name}"), false).await;
    }
    phone.close().await.unwrap();
}

fn agenda_toml(n: usize) -> String {
    let mut s = String::new();
    for i in 0..n {
        let body = match i % 4 {
            0 => format!("kind = \"single\"\noptions = [\"Red {i}\", \"Green {i}\", \"Blue {i}\"]"),
            1 => format!(
                "kind = \"multiple\"\nmax_choices = 2\noptions = [\"North {i}\", \"South {i}\", \"East {i}\", \"West {i}\"]"
            ),
            2 => "kind = \"rating\"\nscale = 5\nlabels = [\"bad\", \"great\"]".to_string(),
            _ => "kind = \"wordcloud\"".to_string(),
        };
        s.push_str(&format!(
            "[[polls]]\nid = \"p{i:02}\"\nquestion = \"Question number {i}?\"\n{body}\n\n"
        ));
    }
    s
}

#[tokio::test]
async fn a_scripted_twenty_poll_session_runs_end_to_end_from_the_screen_with_three_phones() {
    let dir = tempfile::tempdir().unwrap();
    let agenda = dir.path().join("agenda.toml");
    std::fs::write(&agenda, agenda_toml(20)).unwrap();
    let mut args = serve_args(
        &shared_broker().bootstrap(),
        &dir.path().join("data"),
        &unique_prefix(),
    );
    args.polls = Some(agenda);
    args.title = "Twenty questions".into();
    let app = spawn_app_with(args).await;
    let driver = Driver::start();
    let screen = driver.browser(Viewport::Laptop).await;
    screen
        .goto(&app.url(&format!("/screen#token={ADMIN}")))
        .await
        .unwrap();
    wait_text(&screen, "#title", "Twenty questions").await;
    let mut phones = Vec::new();
    for _ in 0..3 {
        let p = driver.browser(Viewport::Phone).await;
        p.goto(&app.url("/")).await.unwrap();
        phones.push(p);
    }
    wait_text(&screen, "#joined", "3 joined").await;

    for i in 0..20 {
        let id = format!("p{i:02}");
        press(&screen, "n").await;
        let q = format!("Question number {i}?");
        wait_text(&screen, "#question", &q).await;
        for (k, phone) in phones.iter().enumerate() {
            wait_text(phone, "#question", &q).await;
            wait_js(phone, "open for votes", "return [...document.querySelectorAll('#form button, #form input')].every(b => !b.disabled || b.classList.contains('primary'));", vec![]).await;
            match i % 4 {
                0 => {
                    tap_button(
                        phone,
                        "#form",
                        &format!("{} {i}", ["Red", "Green", "Blue"][k]),
                    )
                    .await
                }
                1 => {
                    tap_button(phone, "#form", &format!("North {i}")).await;
                    tap_button(
                        phone,
                        "#form",
                        &format!("{} {i}", ["South", "East", "West"][k]),
                    )
                    .await;
                    tap_button(phone, "#form", "Send").await;
                }
                2 => tap_button(phone, "#form", &format!("{}", k + 3)).await,
                _ => {
                    let input = phone.find(Locator::Css("#form input")).await.unwrap();
                    input.send_keys(["Rust", "rust", "Kafka"][k]).await.unwrap();
                    tap_button(phone, "#form", "Send").await;
                }
            }
            wait_contains(phone, "#status", "Vote recorded").await;
        }
        wait_text(&screen, "#turnout", "3 voters").await;
        let r = app.wait_results(&id, |r| r["voters"] == 3).await;
        match i % 4 {
            0 => assert_eq!(r["counts"], json!([1, 1, 1]), "{id}"),
            1 => assert_eq!(r["counts"], json!([3, 1, 1, 1]), "{id}"),
            2 => assert_eq!(
                (r["counts"].clone(), r["mean"].clone()),
                (json!([0, 0, 1, 1, 1]), json!(4.0)),
                "{id}"
            ),
            _ => assert_eq!(r["words"], json!([["Rust", 2], ["Kafka", 1]]), "{id}"),
        }
        if i == 0 || i == 19 {
            fits(&screen, &format!("screen-session-{id}-1280x720"), true).await;
        }
        if i > 0 {
            assert_eq!(
                app.poll(&format!("p{:02}", i - 1)).await["state"],
                "closed",
                "Next closed the poll before"
            );
        }
    }
    press(&screen, "n").await;
    wait_js(
        &screen,
        "the idle screen at the end",
        "return !document.getElementById('idle').hidden;",
        vec![],
    )
    .await;
    assert_eq!(app.poll("p19").await["state"], "closed");
    for p in phones {
        wait_js(
            &p,
            "waiting at the end",
            "return !document.getElementById('waiting').hidden;",
            vec![],
        )
        .await;
        p.close().await.unwrap();
    }
    screen.close().await.unwrap();
}

#[tokio::test]
async fn serve_language_sets_the_projector_language_and_lang_in_the_url_still_wins() {
    let dir = tempfile::tempdir().unwrap();
    let mut args = serve_args(&shared_broker().bootstrap(), dir.path(), &unique_prefix());
    args.language = Some("de".into());
    let app = spawn_app_with(args).await;
    let message = |lang: &str| -> String {
        let path = format!("{}/assets/i18n/{lang}.json", env!("CARGO_MANIFEST_DIR"));
        let m: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        m["join_at"].as_str().unwrap().to_string()
    };
    let driver = Driver::start();
    let screen = driver.browser(Viewport::Laptop).await;
    screen.goto(&app.url("/screen")).await.unwrap();
    wait_text(&screen, ".join-label", &message("de")).await;
    assert_eq!(
        js(&screen, "return document.documentElement.lang").await,
        "de"
    );
    screen.goto(&app.url("/screen?lang=fr")).await.unwrap();
    wait_text(&screen, ".join-label", &message("fr")).await;
    // Phones follow their own browser, not the projector's setting.
    let phone = driver.browser(Viewport::Phone).await;
    phone.goto(&app.url("/")).await.unwrap();
    wait_js(
        &phone,
        "an English phone",
        "return document.documentElement.lang === 'en';",
        vec![],
    )
    .await;
    screen.close().await.unwrap();
    phone.close().await.unwrap();
}
