//! The organiser console (`/admin`) in a real headless Chromium, against a real server and broker:
//! sign-in from the one-click link, the poll form per kind, editing and fixing text, reordering,
//! presenting through the agenda with a phone following, inline errors, focus kept under live
//! votes, and the layout at 1280×720, 1920×1080 and on a phone. Screenshots land in
//! `target/test-artifacts/`.

use std::time::Duration;

use fantoccini::{Client, Locator};
use serde_json::{Value, json};

use crate::helpers::*;
use crate::webdriver::*;

const ALT: &str = "\u{e00a}";
const ARROW_UP: &str = "\u{e013}";
const ARROW_DOWN: &str = "\u{e015}";
const RELEASE: &str = "\u{e000}";

async fn js(client: &Client, script: &str) -> Value {
    client.execute(script, vec![]).await.unwrap()
}

async fn click(client: &Client, css: &str) {
    client
        .find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"))
        .click()
        .await
        .unwrap_or_else(|e| panic!("click {css}: {e}"));
}

async fn type_in(client: &Client, css: &str, text: &str) {
    client
        .find(Locator::Css(css))
        .await
        .unwrap()
        .send_keys(text)
        .await
        .unwrap();
}

async fn replace_text(client: &Client, css: &str, text: &str) {
    let e = client.find(Locator::Css(css)).await.unwrap();
    e.clear().await.unwrap();
    e.send_keys(text).await.unwrap();
}

async fn wait_true(client: &Client, what: &str, script: &str) {
    wait_js(client, what, script, vec![]).await;
}

/// Opens the console with the one-click organiser link, and traps alert/confirm/prompt so
/// [`no_dialogs`] can check none was used.
async fn open_console(client: &Client, app: &TestApp) {
    client
        .goto(&app.url(&format!("/admin#token={ADMIN}")))
        .await
        .unwrap();
    wait_true(
        client,
        "the console",
        "return document.getElementById('console').dataset.loaded === 'true';",
    )
    .await;
    js(
        client,
        "window.__dialogs = []; for (const f of ['alert', 'confirm', 'prompt']) window[f] = (m) => { window.__dialogs.push(f + ': ' + m); return false; };",
    )
    .await;
}

async fn no_dialogs(client: &Client) {
    assert_eq!(
        js(client, "return window.__dialogs").await,
        json!([]),
        "the console used a browser dialog"
    );
}

async fn create(app: &TestApp, def: Value) -> String {
    let res = app.admin_post("/api/polls", Some(def)).await;
    assert_eq!(res.status(), 201, "{}", res.text().await.unwrap());
    res.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string()
}

async fn agenda(app: &TestApp) -> Vec<Value> {
    app.admin_get::<Vec<Value>>("/api/polls").await
}

async fn agenda_ids(app: &TestApp) -> Vec<String> {
    agenda(app)
        .await
        .iter()
        .map(|p| p["id"].as_str().unwrap().to_string())
        .collect()
}

async fn wait_agenda(app: &TestApp, what: &str, ok: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    loop {
        let polls = agenda(app).await;
        if ok(&polls) {
            return polls;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{what}; agenda: {polls:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn select_row(client: &Client, id: &str) {
    click(
        client,
        &format!("#polls .poll-row[data-id='{id}'] .row-main"),
    )
    .await;
    wait_js(
        client,
        "the detail panel",
        "return document.getElementById('d-id').textContent === arguments[0];",
        vec![json!(id)],
    )
    .await;
}

/// The id of the poll whose row (or something in it) has the keyboard focus.
async fn focused_row(client: &Client) -> Value {
    js(
        client,
        "const r = document.activeElement && document.activeElement.closest('.poll-row'); return r && r.dataset.id;",
    )
    .await
}

/// Asserts that no visible element sticks out of the viewport sideways, and that the page
/// does not scroll horizontally.
async fn assert_fits(client: &Client, name: &str) {
    let out = js(
        client,
        r#"const w = window.innerWidth;
           const bad = [...document.querySelectorAll('body *')].filter(e => {
             if (e.closest('.sr-only, .skip, [hidden]')) return false;
             const r = e.getBoundingClientRect();
             return r.width > 0 && r.height > 0 && (r.left < -1 || r.right > w + 1);
           }).map(e => `${e.tagName.toLowerCase()}#${e.id}.${e.className} ${Math.round(e.getBoundingClientRect().left)}..${Math.round(e.getBoundingClientRect().right)}`);
           if (document.documentElement.scrollWidth > w) bad.push(`page is ${document.documentElement.scrollWidth}px wide`);
           return bad.slice(0, 10);"#,
    )
    .await;
    assert_eq!(out, json!([]), "{name}: outside the {name} viewport");
}

#[tokio::test]
async fn console_signs_in_from_the_link_and_says_when_the_token_is_wrong() {
    let app = spawn_app().await;
    let driver = Driver::start();
    let b = driver.browser(Viewport::Laptop).await;

    // A wrong token in the link: the sign-in form with a clear message, the fragment gone.
    b.goto(&app.url("/admin#token=not-the-token"))
        .await
        .unwrap();
    wait_true(
        &b,
        "the sign-in form",
        "return !document.getElementById('login').hidden && document.getElementById('console').hidden;",
    )
    .await;
    wait_contains(&b, "#login-error", "not right").await;
    assert_eq!(js(&b, "return location.hash").await, "");
    assert_eq!(js(&b, "return document.activeElement.id").await, "token");

    // The typed fallback, wrong then right.
    type_in(&b, "#token", "still-wrong").await;
    tap_button(&b, "#login", "Sign in").await;
    wait_text(&b, "#login-error", "That token is not right.").await;
    replace_text(&b, "#token", ADMIN).await;
    tap_button(&b, "#login", "Sign in").await;
    wait_true(
        &b,
        "the console",
        "return !document.getElementById('console').hidden;",
    )
    .await;

    // The one-click link in a fresh browser: signed in, token kept for the session, fragment
    // removed from the address bar (so it is not left in the history or on screen).
    let b2 = driver.browser(Viewport::Laptop).await;
    open_console(&b2, &app).await;
    assert_eq!(js(&b2, "return location.href").await, app.url("/admin"));
    assert_eq!(
        js(&b2, "return sessionStorage.getItem('livepoll-admin')").await,
        ADMIN
    );
    wait_true(
        &b2,
        "the empty agenda",
        "return !document.getElementById('empty').hidden;",
    )
    .await;
    b2.refresh().await.unwrap();
    wait_true(
        &b2,
        "the console after a reload",
        "return !document.getElementById('console').hidden;",
    )
    .await;

    // The screen link opens /screen in a new tab (signed in by this browser's admin cookie);
    // the copied link carries the token for a projector laptop.
    assert_eq!(
        js(
            &b2,
            "const a = document.getElementById('screen-link'); return [a.getAttribute('href'), a.target].join(' ');"
        )
        .await,
        "/screen _blank"
    );
    open_console(&b2, &app).await;
    click(&b2, "#copy-screen").await;
    wait_true(&b2, "the copied link", "return /Copied/.test(document.getElementById('presenter-status').textContent) || document.getElementById('copy-url').value.length > 0;").await;
    let copied = js(&b2, "return document.getElementById('copy-url').value").await;
    if copied != "" {
        assert_eq!(copied, app.url(&format!("/screen#token={ADMIN}")));
    }
    no_dialogs(&b2).await;
    b.close().await.unwrap();
    b2.close().await.unwrap();
}

#[tokio::test]
async fn console_creates_each_kind_with_its_own_fields_edits_a_draft_and_fixes_an_open_poll() {
    let app = spawn_app().await;
    let driver = Driver::start();
    let b = driver.browser(Viewport::Laptop).await;
    open_console(&b, &app).await;

    click(&b, "#new-poll").await;
    assert_eq!(js(&b, "return document.activeElement.id").await, "q");
    let fields = "return ['f-options', 'f-max', 'f-scale'].map(id => document.getElementById(id).hidden ? '-' : id).join(' ');";
    assert_eq!(js(&b, fields).await, "f-options - -");

    // Invalid input is explained inline, next to the form, and nothing is sent.
    type_in(&b, "#q", "Which day works best?").await;
    type_in(&b, "#options", "Friday").await;
    click(&b, "#editor-submit").await;
    wait_contains(&b, "#editor-status", "2 to 20 options").await;
    assert_eq!(
        js(
            &b,
            "return document.getElementById('editor-status').getAttribute('role')"
        )
        .await,
        "alert"
    );
    assert_eq!(agenda(&app).await.len(), 0);

    // Single choice.
    type_in(&b, "#options", "\nSaturday").await;
    js(&b, "document.getElementById('vis').value = 'after_vote';").await;
    type_in(&b, "#dur", "90").await;
    click(&b, "#editor-submit").await;
    wait_contains(&b, "#editor-status", "Created “Which day works best?”").await;
    // The form stays open and empty for the next poll, with the focus in the question.
    assert_eq!(
        js(&b, "return [document.activeElement.id, document.getElementById('q').value, document.getElementById('editor').hidden].join('|')").await,
        "q||false"
    );

    // Multiple choice: options and max choices.
    click(&b, "input[name=kind][value=multiple]").await;
    assert_eq!(js(&b, fields).await, "f-options f-max -");
    type_in(&b, "#q", "Which talks will you attend?").await;
    type_in(&b, "#options", "Kafka\nRust\nredb").await;
    replace_text(&b, "#max", "2").await;
    click(&b, "#editor-submit").await;
    wait_contains(&b, "#editor-status", "Created “Which talks").await;

    // Rating: scale and both end labels; one label alone is refused inline.
    click(&b, "input[name=kind][value=rating]").await;
    assert_eq!(js(&b, fields).await, "- - f-scale");
    type_in(&b, "#q", "How was the venue?").await;
    replace_text(&b, "#scale", "7").await;
    type_in(&b, "#label-low", "awful").await;
    click(&b, "#editor-submit").await;
    wait_contains(&b, "#editor-status", "both end labels").await;
    type_in(&b, "#label-high", "superb").await;
    click(&b, "#editor-submit").await;
    wait_contains(&b, "#editor-status", "Created “How was the venue?”").await;

    // Word cloud: nothing extra; a chosen id.
    click(&b, "input[name=kind][value=wordcloud]").await;
    assert_eq!(js(&b, fields).await, "- - -");
    type_in(&b, "#q", "One word for today?").await;
    type_in(&b, "#pid", "one-word").await;
    click(&b, "#editor-submit").await;
    wait_contains(&b, "#editor-status", "Created “One word for today?”").await;

    // The server's own refusal (an id taken) is shown inline too.
    type_in(&b, "#q", "Another word?").await;
    type_in(&b, "#pid", "one-word").await;
    click(&b, "#editor-submit").await;
    wait_js(
        &b,
        "the refusal",
        "const s = document.getElementById('editor-status'); return s.classList.contains('bad') && s.textContent.length > 0;",
        vec![],
    )
    .await;

    let polls = agenda(&app).await;
    assert_eq!(polls.len(), 4, "{polls:?}");
    let (single, multiple, rating, cloud) = (&polls[0], &polls[1], &polls[2], &polls[3]);
    assert_eq!(single["kind"], "single");
    assert_eq!(single["options"], json!(["Friday", "Saturday"]));
    assert_eq!(single["visibility"], "after_vote");
    assert_eq!(single["duration_secs"], 90);
    assert_eq!(multiple["options"], json!(["Kafka", "Rust", "redb"]));
    assert_eq!(multiple["max_choices"], 2);
    assert_eq!(rating["scale"], 7);
    assert_eq!(rating["labels"], json!(["awful", "superb"]));
    assert!(rating["options"].is_null());
    assert_eq!(cloud["id"], "one-word");
    assert_eq!(cloud["kind"], "wordcloud");
    // Settings stay for the next poll, but each kind only sent its own fields.
    assert!(cloud["scale"].is_null() && cloud["options"].is_null());
    let rows = js(
        &b,
        "return [...document.querySelectorAll('#polls .poll-row .q')].map(q => q.textContent);",
    )
    .await;
    assert_eq!(
        rows,
        json!([
            "Which day works best?",
            "Which talks will you attend?",
            "How was the venue?",
            "One word for today?"
        ])
    );

    // Edit the draft: every field, through PUT.
    click(&b, "#editor-cancel").await;
    let id = single["id"].as_str().unwrap().to_string();
    select_row(&b, &id).await;
    wait_text(&b, "#a-edit", "Edit").await;
    click(&b, "#a-edit").await;
    wait_js(
        &b,
        "the form filled in",
        "return document.getElementById('q').value === 'Which day works best?' && document.getElementById('dur').value === '90';",
        vec![],
    )
    .await;
    replace_text(&b, "#q", "Which day works best for the party?").await;
    type_in(&b, "#options", "\nSunday").await;
    click(&b, "#editor-submit").await;
    wait_text(&b, "#detail-status", "Saved.").await;
    wait_text(
        &b,
        "#detail-question",
        "Which day works best for the party?",
    )
    .await;
    let p = app.poll(&id).await;
    assert_eq!(p["options"], json!(["Friday", "Saturday", "Sunday"]));
    assert_eq!(p["duration_secs"], 90);

    // Open it; someone votes; a typo in the question and an option is fixed through PATCH.
    click(&b, "#a-toggle").await;
    wait_text(&b, "#d-state", "open").await;
    let v = app.session().await;
    assert_eq!(app.vote(&v, &id, json!({"choice": 2})).await, 202);
    wait_text(
        &b,
        &format!("#polls .poll-row[data-id='{id}'] .answers"),
        "1 answer",
    )
    .await;
    wait_text(&b, "#a-edit", "Fix text").await;
    click(&b, "#a-edit").await;
    assert_eq!(
        js(&b, "return ['kind-set', 'f-max', 'f-settings', 'f-scale-n', 'f-options'].map(id => document.getElementById(id).hidden).join()").await,
        "true,true,true,true,false"
    );
    replace_text(&b, "#q", "Which day suits you best for the party?").await;
    replace_text(&b, "#options", "Friday\nSaturday\nSunday (brunch)").await;
    click(&b, "#editor-submit").await;
    wait_contains(&b, "#detail-status", "Text fixed").await;
    let p = app.poll(&id).await;
    assert_eq!(p["question"], "Which day suits you best for the party?");
    assert_eq!(
        p["options"],
        json!(["Friday", "Saturday", "Sunday (brunch)"])
    );
    wait_text(
        &b,
        &format!("#polls .poll-row[data-id='{id}'] .q"),
        "Which day suits you best for the party?",
    )
    .await;

    // A fourth option once someone voted: the server's 409, shown inline in the form.
    click(&b, "#a-edit").await;
    type_in(&b, "#options", "\nMonday").await;
    click(&b, "#editor-submit").await;
    wait_js(
        &b,
        "the 409 inline",
        "const s = document.getElementById('editor-status'); return s.classList.contains('bad') && s.textContent.length > 0 && !document.getElementById('editor').hidden;",
        vec![],
    )
    .await;
    let p = app.poll(&id).await;
    assert_eq!(p["options"].as_array().unwrap().len(), 3);
    screenshot(&b, "console-fix-409-1280x720").await;
    no_dialogs(&b).await;
    b.close().await.unwrap();
}

#[tokio::test]
async fn console_reorders_duplicates_resets_and_deletes_with_inline_confirmation() {
    let app = spawn_app().await;
    let a = create(
        &app,
        json!({"question": "Poll A?", "kind": "single", "options": ["x", "y"]}),
    )
    .await;
    let b_id = create(
        &app,
        json!({"question": "Poll B?", "kind": "rating", "scale": 4}),
    )
    .await;
    let c = create(&app, json!({"question": "Poll C?", "kind": "wordcloud"})).await;
    let driver = Driver::start();
    let b = driver.browser(Viewport::Laptop).await;
    open_console(&b, &app).await;

    // Move up with the button in the detail panel.
    select_row(&b, &c).await;
    click(&b, "#a-up").await;
    wait_agenda(&app, "C moved up", |p| p[1]["id"] == c.as_str()).await;
    assert_eq!(agenda_ids(&app).await, [a.clone(), c.clone(), b_id.clone()]);
    wait_text(&b, "#d-pos", "2 of 3").await;

    // Alt+↓ on the focused row moves it, and the focus stays on it.
    let row_a = b
        .find(Locator::Css(&format!(
            "#polls .poll-row[data-id='{a}'] .row-main"
        )))
        .await
        .unwrap();
    row_a.click().await.unwrap();
    row_a
        .send_keys(&format!("{ALT}{ARROW_DOWN}{RELEASE}"))
        .await
        .unwrap();
    wait_agenda(&app, "A moved down", |p| p[1]["id"] == a.as_str()).await;
    assert_eq!(agenda_ids(&app).await, [c.clone(), a.clone(), b_id.clone()]);
    assert_eq!(focused_row(&b).await, json!(a));
    wait_contains(&b, "#agenda-status", "position 2 of 3").await;
    // Plain arrows walk the rows (and the detail panel follows).
    row_a.send_keys(ARROW_DOWN).await.unwrap();
    assert_eq!(focused_row(&b).await, json!(b_id));
    wait_text(&b, "#d-id", &b_id).await;
    b.active_element()
        .await
        .unwrap()
        .send_keys(&format!("{ALT}{ARROW_UP}{RELEASE}"))
        .await
        .unwrap();
    wait_agenda(&app, "B moved up", |p| p[1]["id"] == b_id.as_str()).await;
    assert_eq!(focused_row(&b).await, json!(b_id));
    let rows = js(
        &b,
        "return [...document.querySelectorAll('#polls .poll-row')].map(r => r.querySelector('.pos').textContent + r.dataset.id);",
    )
    .await;
    assert_eq!(
        rows,
        json!([format!("1{c}"), format!("2{b_id}"), format!("3{a}")])
    );

    // Duplicate: a draft copy right after the original, selected.
    select_row(&b, &c).await;
    click(&b, "#a-duplicate").await;
    wait_contains(&b, "#detail-status", "Duplicated").await;
    let polls = wait_agenda(&app, "the copy", |p| p.len() == 4).await;
    assert_eq!(polls[0]["id"], c.as_str());
    assert_eq!(polls[1]["question"], "Poll C?");
    assert_eq!(polls[1]["state"], "draft");
    let copy = polls[1]["id"].as_str().unwrap().to_string();
    assert_ne!(copy, c);
    wait_text(&b, "#d-id", &copy).await;
    wait_js(
        &b,
        "the copy's row second",
        "return document.querySelectorAll('#polls .poll-row')[1].dataset.id === arguments[0];",
        vec![json!(copy)],
    )
    .await;

    // Reset asks inline; Cancel (or Escape) goes back to the button.
    select_row(&b, &a).await;
    click(&b, "#a-toggle").await;
    wait_text(&b, "#d-state", "open").await;
    click(&b, "#a-reset").await;
    wait_true(&b, "the confirmation", "return !document.getElementById('confirm').hidden && document.activeElement.id === 'confirm-yes';").await;
    wait_contains(&b, "#confirm-text", "round 2").await;
    click(&b, "#confirm-no").await;
    wait_true(&b, "the confirmation gone", "return document.getElementById('confirm').hidden && document.activeElement.id === 'a-reset';").await;
    assert_eq!(app.poll(&a).await["round"], 1);
    click(&b, "#a-reset").await;
    click(&b, "#confirm-yes").await;
    wait_contains(&b, "#detail-status", "Round 2 started").await;
    assert_eq!(app.poll(&a).await["round"], 2);

    // Delete asks inline too, then the row goes and the next one is selected.
    click(&b, "#a-delete").await;
    wait_true(
        &b,
        "the confirmation",
        "return !document.getElementById('confirm').hidden;",
    )
    .await;
    click(&b, "#confirm-yes").await;
    wait_agenda(&app, "A deleted", |p| p.len() == 3).await;
    wait_true(
        &b,
        "the row gone",
        "return document.querySelectorAll('#polls .poll-row').length === 3;",
    )
    .await;
    wait_contains(&b, "#agenda-status", "Deleted “Poll A?”").await;
    no_dialogs(&b).await;
    b.close().await.unwrap();
}

#[tokio::test]
async fn console_presents_through_the_agenda_reveals_and_a_phone_follows() {
    let app = spawn_app().await;
    let first = create(&app, json!({"question": "First: pick one", "kind": "single", "options": ["red", "blue"], "duration_secs": 600})).await;
    let second = create(&app, json!({"question": "Second: hidden rating", "kind": "rating", "scale": 5, "visibility": "never"})).await;
    let third = create(
        &app,
        json!({"question": "Third: one word", "kind": "wordcloud"}),
    )
    .await;
    let driver = Driver::start();
    let b = driver.browser(Viewport::Laptop).await;
    let phone = driver.browser(Viewport::Phone).await;
    phone.goto(&app.url("/")).await.unwrap();
    open_console(&b, &app).await;
    wait_contains(&b, "#air-question", "Nothing on air").await;
    wait_contains(&b, "#next-question", "First: pick one").await;

    // Present next: the first poll opens and goes on air; its timer runs in the strip.
    click(&b, "#next").await;
    wait_text(&b, "#air-question", "First: pick one").await;
    wait_text(&b, "#air-state", "open").await;
    wait_contains(&b, "#air-countdown", "left").await;
    wait_contains(&b, "#next-question", "Second: hidden rating").await;
    wait_true(
        &b,
        "the on-air row",
        &format!(
            "return !document.querySelector(\"#polls .poll-row[data-id='{first}'] .air\").hidden;"
        ),
    )
    .await;
    wait_text(&phone, "#question", "First: pick one").await;
    tap_button(&phone, "#form", "blue").await;
    wait_text(&b, "#air-answers", "1 answer").await;
    wait_text(
        &b,
        &format!("#polls .poll-row[data-id='{first}'] .answers"),
        "1 answer",
    )
    .await;
    assert_eq!(
        js(&b, "return document.getElementById('air-reveal').hidden").await,
        true
    );

    // Next: the first closes, the hidden second one opens; Reveal is offered and works.
    click(&b, "#next").await;
    wait_text(&b, "#air-question", "Second: hidden rating").await;
    wait_text(&phone, "#question", "Second: hidden rating").await;
    assert_eq!(
        app.poll(&first).await["state"],
        "paused",
        "a timed poll keeps its time off air"
    );
    assert_eq!(app.poll(&second).await["state"], "open");
    wait_true(
        &b,
        "the reveal button",
        "return !document.getElementById('air-reveal').hidden;",
    )
    .await;
    wait_contains(&b, "#air-hidden", "hidden from the audience").await;
    click(&b, "#air-reveal").await;
    wait_contains(&b, "#presenter-status", "revealed").await;
    assert_eq!(app.poll(&second).await["revealed"], true);
    wait_true(
        &b,
        "the reveal button gone",
        "return document.getElementById('air-reveal').hidden;",
    )
    .await;

    // Previous goes back to the first one: its time runs on.
    click(&b, "#prev").await;
    wait_text(&b, "#air-question", "First: pick one").await;
    wait_text(&b, "#air-state", "open").await;
    wait_text(&phone, "#question", "First: pick one").await;

    // Next, Next: the third; Close voting from the strip; Next past the end: nothing on air.
    click(&b, "#next").await;
    wait_text(&b, "#air-question", "Second: hidden rating").await;
    click(&b, "#next").await;
    wait_text(&b, "#air-question", "Third: one word").await;
    wait_contains(&b, "#next-question", "End of the agenda").await;
    wait_text(&phone, "#question", "Third: one word").await;
    click(&b, "#air-close").await;
    wait_text(&b, "#air-state", "closed").await;
    assert_eq!(app.poll(&third).await["state"], "closed");
    // A poll closed by mistake reopens from the strip.
    wait_text(&b, "#air-close", "Reopen voting").await;
    click(&b, "#air-close").await;
    wait_text(&b, "#air-state", "open").await;
    assert_eq!(app.poll(&third).await["state"], "open");
    click(&b, "#air-close").await;
    wait_text(&b, "#air-state", "closed").await;
    click(&b, "#next").await;
    wait_contains(&b, "#air-question", "Nothing on air").await;
    wait_true(
        &phone,
        "the phone waiting",
        "return !document.getElementById('waiting').hidden;",
    )
    .await;

    // Present from the detail panel, then Take off air.
    select_row(&b, &second).await;
    click(&b, "#a-present").await;
    wait_text(&b, "#air-question", "Second: hidden rating").await;
    wait_text(&b, "#a-present", "On air").await;
    wait_text(&phone, "#question", "Second: hidden rating").await;
    click(&b, "#air-off").await;
    wait_contains(&b, "#air-question", "Nothing on air").await;
    wait_true(
        &phone,
        "the phone waiting",
        "return !document.getElementById('waiting').hidden;",
    )
    .await;
    let screen: Value = app.get("/api/screen").await;
    assert!(screen["poll"].is_null(), "{screen}");
    no_dialogs(&b).await;
    b.close().await.unwrap();
    phone.close().await.unwrap();
}

#[tokio::test]
async fn typing_in_the_console_survives_votes_arriving_and_rows_update_in_place() {
    let app = spawn_app().await;
    let id = app
        .open_poll(json!({"question": "Live one", "kind": "single", "options": ["a", "b", "c"]}))
        .await;
    create(&app, json!({"question": "Later", "kind": "wordcloud"})).await;
    app.put_on_air(Some(&id)).await;
    let driver = Driver::start();
    let b = driver.browser(Viewport::Laptop).await;
    open_console(&b, &app).await;
    wait_text(&b, "#d-id", &id).await;
    js(&b, "window.__rows = [...document.querySelectorAll('#polls .poll-row')]; window.__box = document.querySelector('#detail-results').firstElementChild;").await;

    click(&b, "#new-poll").await;
    type_in(&b, "#q", "What should we ").await;
    // Votes arrive while the organiser types.
    let voting = {
        let api = Api::new(app.base.clone());
        let id = id.clone();
        tokio::spawn(async move {
            for i in 0..12 {
                let v = api.session().await;
                assert_eq!(api.vote(&v, &id, json!({"choice": i % 3})).await, 202);
                tokio::time::sleep(Duration::from_millis(60)).await;
            }
        })
    };
    for word in ["ask ", "the ", "speaker ", "next?"] {
        type_in(&b, "#q", word).await;
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    voting.await.unwrap();
    wait_text(&b, "#air-answers", "12 answers").await;
    wait_text(
        &b,
        &format!("#polls .poll-row[data-id='{id}'] .answers"),
        "12 answers",
    )
    .await;
    wait_text(&b, "#d-answers", "12 answers").await;
    type_in(&b, "#options", "Yes\nNo").await;
    assert_eq!(
        js(
            &b,
            "return [document.activeElement.id, document.getElementById('q').value].join('|')"
        )
        .await,
        "options|What should we ask the speaker next?"
    );
    // No row and no results box was rebuilt.
    assert_eq!(
        js(&b, "const now = [...document.querySelectorAll('#polls .poll-row')]; return now.length === window.__rows.length && now.every((r, i) => r === window.__rows[i]) && document.querySelector('#detail-results').firstElementChild === window.__box;").await,
        true
    );

    // A poll event (closing it elsewhere) updates its row in place too, keeping the focus.
    app.admin_post(&format!("/api/polls/{id}/close"), None)
        .await;
    wait_text(
        &b,
        &format!("#polls .poll-row[data-id='{id}'] .badge.closed"),
        "closed",
    )
    .await;
    assert_eq!(js(&b, "return document.activeElement.id").await, "options");
    click(&b, "#editor-submit").await;
    wait_contains(
        &b,
        "#editor-status",
        "Created “What should we ask the speaker next?”",
    )
    .await;
    no_dialogs(&b).await;
    b.close().await.unwrap();
}

#[tokio::test]
async fn the_console_fits_laptop_projector_and_phone_with_25_polls_and_is_photographed() {
    let app = spawn_app().await;
    let kinds = [
        json!({"kind": "single", "options": ["Rust", "Go", "Python", "TypeScript"]}),
        json!({"kind": "multiple", "options": ["Keynote", "Workshops", "Hallway track", "Lightning talks", "Food"], "max_choices": 2, "visibility": "after_vote"}),
        json!({"kind": "rating", "scale": 5, "labels": ["poor", "excellent"], "visibility": "after_close", "duration_secs": 90}),
        json!({"kind": "wordcloud", "visibility": "never"}),
    ];
    let questions = [
        "Which language should the next workshop use?",
        "What did you enjoy most today? Pick up to two of the five parts of the programme",
        "How was the keynote about exactly-once delivery with Kafka and redb?",
        "One word for today",
        "Where should we go next year? A very long question that goes on and on to check how the rows truncate it without pushing anything off the screen",
    ];
    let mut ids = Vec::new();
    for i in 0..25 {
        let mut def = kinds[i % 4].clone();
        def["question"] = json!(format!("{} ({})", questions[i % 5], i + 1));
        ids.push(create(&app, def).await);
    }
    for id in &ids[..4] {
        app.admin_post(&format!("/api/polls/{id}/open"), None).await;
    }
    let ballots = [
        (0, json!({"choice": 0})),
        (0, json!({"choice": 2})),
        (1, json!({"choices": [0, 2]})),
        (2, json!({"rating": 4})),
        (3, json!({"text": "inspiring"})),
    ];
    for (n, (poll, ballot)) in ballots.iter().cycle().take(15).enumerate() {
        let v = app.session().await;
        let _ = n;
        assert_eq!(app.vote(&v, &ids[*poll], ballot.clone()).await, 202);
    }
    for id in &ids[..3] {
        app.admin_post(&format!("/api/polls/{id}/close"), None)
            .await;
    }
    app.admin_post(&format!("/api/polls/{}/present", ids[3]), None)
        .await;

    let driver = Driver::start();
    for (viewport, size) in [
        (Viewport::Laptop, "1280x720"),
        (Viewport::Projector, "1920x1080"),
        (Viewport::Phone, "phone"),
    ] {
        let b = driver.browser(viewport).await;
        open_console(&b, &app).await;
        wait_true(
            &b,
            "25 rows",
            "return document.querySelectorAll('#polls .poll-row').length === 25;",
        )
        .await;
        select_row(&b, &ids[0]).await;
        wait_contains(&b, "#d-answers", "answer").await;
        tokio::time::sleep(Duration::from_millis(600)).await;
        b.execute("window.scrollTo(0, 0)", vec![]).await.unwrap();
        assert_fits(&b, size).await;
        screenshot(&b, &format!("console-25-polls-{size}")).await;
        click(&b, "#new-poll").await;
        click(&b, "input[name=kind][value=rating]").await;
        type_in(&b, "#q", "A new rating poll").await;
        assert_fits(&b, size).await;
        screenshot(&b, &format!("console-new-poll-{size}")).await;
        click(&b, "#editor-cancel").await;
        if size == "phone" {
            // On a phone the detail panel comes below the list: selecting scrolls to it.
            select_row(&b, &ids[2]).await;
            tokio::time::sleep(Duration::from_millis(600)).await;
            assert_fits(&b, size).await;
            screenshot(&b, "console-detail-phone").await;
        }
        no_dialogs(&b).await;
        b.close().await.unwrap();
    }
}
