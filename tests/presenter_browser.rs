//! The presenter's traps of issue 21, replayed in real browsers (a console on a laptop, a
//! signed-in projector, a phone) and shown gone; and the projector and phone layouts it asked
//! for, checked and saved as screenshots in target/test-artifacts/.

use std::time::{Duration, Instant};

use fantoccini::Client;
use serde_json::{Value, json};

use crate::helpers::*;
use crate::webdriver::*;

async fn js(client: &Client, script: &str) -> Value {
    client.execute(script, vec![]).await.unwrap()
}

async fn create(app: &Api, def: Value) {
    let res = app.admin_post("/api/polls", Some(def)).await;
    assert_eq!(res.status(), 201, "{}", res.text().await.unwrap());
}

async fn open_console(client: &Client, app: &Api) {
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
        "return !document.getElementById('console').hidden && document.querySelectorAll('#polls li').length > 0;",
        vec![],
    )
    .await;
}

async fn click(client: &Client, css: &str) {
    wait_js(
        client,
        &format!("{css} to be clickable"),
        "const b = document.querySelector(arguments[0]); if (!b || b.hidden || b.getAttribute('aria-disabled') === 'true' || b.getAttribute('aria-busy') === 'true') return false; b.click(); return true;",
        vec![json!(css)],
    )
    .await;
}

/// Seconds the projector's countdown shows.
async fn countdown_secs(screen: &Client) -> u64 {
    let v = wait_js(
        screen,
        "a countdown",
        "const m = document.getElementById('countdown').textContent.match(/(\\d+):(\\d\\d)/); return m && (Number(m[1]) * 60 + Number(m[2]));",
        vec![],
    )
    .await;
    v.as_u64().unwrap()
}

#[tokio::test]
async fn next_previous_off_air_and_reset_behave_for_an_organiser_alone() {
    let app = spawn_app().await;
    for (id, extra) in [
        ("w", json!({})),
        ("t", json!({"duration_secs": 90})),
        ("r", json!({})),
    ] {
        let mut def = json!({"id": id, "question": format!("Question {id}?"), "kind": "single", "options": ["yes", "no"]});
        for (k, v) in extra.as_object().unwrap() {
            def[k] = v.clone();
        }
        create(&app, def).await;
    }
    let driver = Driver::start();
    let console = driver.browser(Viewport::Laptop).await;
    open_console(&console, &app).await;
    let screen = driver.browser(Viewport::Projector).await;
    screen
        .goto(&app.url(&format!("/screen#token={ADMIN}")))
        .await
        .unwrap();
    let phone = driver.browser(Viewport::Phone).await;
    phone.goto(&app.url("/")).await.unwrap();
    wait_contains(&console, "#next-question", "Next: 1. Question w?").await;

    // The warm-up, played.
    click(&console, "#next").await;
    wait_text(&screen, "#question", "Question w?").await;
    tap_button(&phone, "#form", "yes").await;
    app.wait_results("w", |r| r["voters"] == 1).await;
    wait_contains(&console, "#next-question", "Next: 2. Question t?").await;

    // The timed poll: Previous on the clicker (a slip) pauses it; Next brings it back with the
    // time it had left, not a new timer.
    press_key(&screen, 'n').await;
    wait_text(&screen, "#question", "Question t?").await;
    let deadline = Instant::now() + Duration::from_secs(20);
    while countdown_secs(&screen).await > 87 {
        assert!(Instant::now() < deadline, "the countdown does not run");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    press_key(&screen, 'p').await;
    wait_text(&screen, "#question", "Question w?").await;
    let paused = app.poll("t").await;
    assert_eq!(paused["state"], "paused", "{paused}");
    let left = paused["remaining_ms"].as_u64().unwrap();
    wait_contains(&console, "#next-question", "Next: 2. Question t?").await;
    press_key(&screen, 'n').await;
    wait_text(&screen, "#question", "Question t?").await;
    assert!(
        countdown_secs(&screen).await * 1000 <= left + 1000,
        "resumed at most where it was ({left} ms)"
    );
    assert_eq!(app.poll("t").await["state"], "open");
    screenshot(&screen, "presenter-countdown-1920x1080").await;

    // Off air for Q&A: Next continues at the position (the next poll), not at poll 1.
    click(&console, "#air-off").await;
    wait_js(
        &screen,
        "the idle screen",
        "return document.body.classList.contains('idle');",
        vec![],
    )
    .await;
    assert_eq!(app.poll("t").await["state"], "paused");
    wait_contains(&console, "#next-question", "Next: 3. Question r?").await;
    click(&console, "#next").await;
    wait_text(&screen, "#question", "Question r?").await;

    // Reset then on air: an open round 2 (the confirmation says so), no "voting closed".
    tap_button(&phone, "#form", "no").await;
    app.wait_results("r", |r| r["voters"] == 1).await;
    let res = app.admin_post("/api/polls/r/close", None).await;
    assert_eq!(res.status(), 200);
    wait_contains(&screen, "#turnout", "closed").await;
    click(&console, "#polls .poll-row[data-id='r'] .row-main").await;
    wait_text(&console, "#detail-question", "Question r?").await;
    click(&console, "#a-reset").await;
    wait_contains(&console, "#confirm-text", "It opens now").await;
    click(&console, "#confirm-yes").await;
    wait_js(
        &phone,
        "enabled choices in round 2",
        "const b = [...document.querySelectorAll('#form button.choice')]; return b.length === 2 && b.every((x) => !x.disabled);",
        vec![],
    )
    .await;
    let r = app.poll("r").await;
    assert_eq!(
        (r["state"].clone(), r["round"].clone()),
        (json!("open"), json!(2))
    );
    wait_js(
        &screen,
        "an open round on the projector",
        "return !document.getElementById('turnout').textContent.includes('closed');",
        vec![],
    )
    .await;

    // The console discards the round-1 rehearsal from the poll's history.
    click(&console, "#d-rounds button[data-round='1']").await;
    click(&console, "#confirm-yes").await;
    wait_contains(&console, "#d-rounds li.discarded", "discarded").await;
    assert_eq!(app.poll("r").await["rounds"][0]["discarded"], true);
}

#[tokio::test]
async fn a_vote_tapped_during_an_outage_is_sent_after_it_and_join_details_follow_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let args = child_serve_args(dir.path());
    let mut with_code: Vec<String> = args.clone();
    with_code.extend(["--event-code".into(), "auto".into()]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let with_code: Vec<&str> = with_code.iter().map(String::as_str).collect();
    let mut serve = ServeProcess::start(&args, port);
    let api = serve.api();
    serve.wait_healthy(60).await;
    create(&api, json!({"id": "o", "question": "During the outage?", "kind": "single", "options": ["yes", "no"]})).await;
    assert_eq!(
        api.admin_post("/api/polls/o/present", None).await.status(),
        200
    );

    let driver = Driver::start();
    let screen = driver.browser(Viewport::Laptop).await;
    screen
        .goto(&api.url(&format!("/screen#token={ADMIN}")))
        .await
        .unwrap();
    wait_text(&screen, "#question", "During the outage?").await;
    assert!(
        js(
            &screen,
            "return document.getElementById('join-code').hidden;"
        )
        .await
            == true
    );
    let qr_before = js(&screen, "return document.getElementById('qr').src;").await;
    let phone = driver.browser(Viewport::Phone).await;
    phone.goto(&api.url("/")).await.unwrap();
    wait_text(&phone, "#question", "During the outage?").await;

    // The server goes away; the phone keeps the vote and says so where it can be seen.
    serve.signal(libc::SIGKILL);
    serve.wait(10);
    wait_js(
        &phone,
        "the connection note",
        "const c = document.getElementById('conn'); return !c.hidden && c.getBoundingClientRect().top >= 0 && c.getBoundingClientRect().bottom <= innerHeight;",
        vec![],
    )
    .await;
    tap_button(&phone, "#form", "yes").await;
    wait_contains(&phone, "#status", "your vote is kept").await;
    wait_js(
        &screen,
        "a quiet note on the projector",
        "const l = document.getElementById('live'); return l.classList.contains('lost') && getComputedStyle(l).backgroundColor === 'rgba(0, 0, 0, 0)';",
        vec![],
    )
    .await;
    screenshot(&phone, "presenter-phone-outage-360").await;

    // Back, with an event code now: the vote is sent by itself, the screen shows the code.
    serve = ServeProcess::start(&with_code, port);
    serve.wait_healthy(60).await;
    api.wait_results("o", |r| r["voters"] == 1).await;
    wait_contains(&phone, "#status", "your vote is recorded").await;
    let info: Value = {
        let res = api
            .as_admin(reqwest::Method::GET, "/api/info")
            .send()
            .await
            .unwrap();
        res.json().await.unwrap()
    };
    let code = info["event_code"].as_str().unwrap().to_string();
    let shown = if code.len() == 6 && code.chars().all(|c| c.is_ascii_digit()) {
        format!("{} {}", &code[..3], &code[3..])
    } else {
        code.clone()
    };
    wait_text(&screen, "#event-code", &shown).await;
    assert!(
        js(
            &screen,
            "return !document.getElementById('join-code').hidden;"
        )
        .await
            == true
    );
    assert_ne!(
        js(&screen, "return document.getElementById('qr').src;").await,
        qr_before
    );
    // The full-screen QR code (Q) shows the code too.
    press_key(&screen, 'q').await;
    wait_text(&screen, "#qr-full .event-code", &shown).await;
    screenshot(&screen, "presenter-qr-full-1280x720").await;
}

/// A poll definition with `n` options of about `len` characters each.
fn long_options(n: usize, len: usize) -> Vec<String> {
    (0..n)
        .map(|i| {
            let mut s = format!("Option {} ", i + 1);
            while s.len() < len {
                s.push_str("with quite a lot of words ");
            }
            s.trim_end().to_string()
        })
        .collect()
}

/// Everything of the projector inside its viewport, nothing cut with "…", a large countdown.
async fn assert_projector_fits(screen: &Client, name: &str) {
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(
        outside_viewport(screen, true).await,
        Vec::<String>::new(),
        "{name}"
    );
    let clipped = js(
        screen,
        "return [...document.querySelectorAll('#results .opt')].filter((e) => e.scrollHeight > e.clientHeight + 1 || getComputedStyle(e).textOverflow === 'ellipsis' || getComputedStyle(e).webkitLineClamp !== 'none').length;",
    )
    .await;
    assert_eq!(clipped, 0, "{name}: options cut");
    screenshot(screen, name).await;
}

#[tokio::test]
async fn projector_and_phone_layouts_fit_at_every_size() {
    let dir = tempfile::tempdir().unwrap();
    let mut args = serve_args(&shared_broker().bootstrap(), dir.path(), &unique_prefix());
    args.title = "RustConf night".into();
    let app = spawn_app_with(args).await;
    let long: Vec<String> = long_options(6, 150);
    create(&app, json!({"id": "long", "question": "Which of these long answers do you agree with?", "kind": "single", "options": long, "duration_secs": 600})).await;
    create(&app, json!({"id": "hidden", "question": "Guess first, see later?", "kind": "single", "options": ["Rust", "Kafka", "redb", "tokio"], "visibility": "after_close"})).await;
    let question = "Why? ".repeat(100);
    create(&app, json!({"id": "huge", "question": question.trim(), "kind": "single", "options": long_options(20, 40)})).await;
    create(&app, json!({"id": "eight", "question": "Pick what you use", "kind": "multiple", "options": long_options(8, 30)})).await;
    for id in ["long", "hidden", "huge", "eight"] {
        let res = app.admin_post(&format!("/api/polls/{id}/open"), None).await;
        assert_eq!(res.status(), 200);
    }
    let v = app.session().await;
    assert_eq!(app.vote(&v, "long", json!({"choice": 2})).await, 202);
    let driver = Driver::start();

    // The phone's waiting page names the event.
    let phone = driver.browser(Viewport::Phone).await;
    phone.goto(&app.url("/")).await.unwrap();
    wait_text(&phone, "#event-title", "RustConf night").await;
    screenshot(&phone, "presenter-phone-waiting-360").await;

    for (viewport, size) in [
        (Viewport::Laptop, "1280x720"),
        (Viewport::Projector, "1920x1080"),
    ] {
        let screen = driver.browser(viewport).await;
        app.put_on_air(Some("long")).await;
        screen.goto(&app.url("/screen")).await.unwrap();
        wait_contains(&screen, "#question", "long answers").await;
        let big = js(
            &screen,
            "return parseFloat(getComputedStyle(document.getElementById('countdown')).fontSize) / innerHeight;",
        )
        .await;
        assert!(
            big.as_f64().unwrap() >= 0.06,
            "countdown {big} of the height"
        );
        wait_contains(&screen, "#turnout", "1").await;
        assert_projector_fits(&screen, &format!("presenter-long-options-{size}")).await;

        app.put_on_air(Some("hidden")).await;
        wait_text(&screen, "#question", "Guess first, see later?").await;
        wait_js(
            &screen,
            "the options without counts",
            "return [...document.querySelectorAll('#results .options-only li')].map((e) => e.textContent).join() === 'Rust,Kafka,redb,tokio';",
            vec![],
        )
        .await;
        assert_projector_fits(&screen, &format!("presenter-hidden-results-{size}")).await;
        screen.close().await.unwrap();
    }

    // A 500-character question with 20 options in a 1280×720 browser window.
    let screen = driver.browser(Viewport::Sized(1280, 577)).await;
    app.put_on_air(Some("huge")).await;
    screen.goto(&app.url("/screen")).await.unwrap();
    wait_contains(&screen, "#question", "Why? Why?").await;
    wait_js(
        &screen,
        "20 options",
        "return document.querySelectorAll('#results .bars li').length === 20;",
        vec![],
    )
    .await;
    assert_projector_fits(&screen, "presenter-long-question-20-options-1280x577").await;
    screen.close().await.unwrap();

    // Eight options and Send on a phone: Send never covers an option.
    app.put_on_air(Some("eight")).await;
    wait_contains(&phone, "#question", "Pick what you use").await;
    tap_button(&phone, "#form", &long_options(8, 30)[7]).await;
    for scroll in ["0", "document.body.scrollHeight"] {
        let covered = js(
            &phone,
            &format!("window.scrollTo(0, {scroll}); const sends = [...document.querySelectorAll('#form > .primary')].map((b) => b.getBoundingClientRect()); return sends.length === 2 && [...document.querySelectorAll('#form .choice')].filter((c) => {{ const r = c.getBoundingClientRect(); return sends.some((s) => r.bottom > s.top && r.top < s.bottom); }}).length;"),
        )
        .await;
        assert_eq!(
            covered, 0,
            "a Send button covers an option (scrolled to {scroll})"
        );
    }
    js(
        &phone,
        "window.scrollTo(0, document.body.scrollHeight); return true;",
    )
    .await;
    screenshot(&phone, "presenter-phone-8-options-360").await;
}
