//! The attendee and projector pages in every language: the message files (embedded from
//! `assets/i18n/`) are complete and consistent, and the pages rendered in a real Chromium show
//! no English left; Arabic is laid out right to left. Screenshots: `target/test-artifacts/i18n-*`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use fantoccini::Client;
use serde_json::{Map, Value, json};

use crate::helpers::*;
use crate::webdriver::*;

const LANGUAGES: [&str; 6] = ["en", "de", "fr", "es", "pt", "ar"];

/// Plural categories (CLDR, as `Intl.PluralRules` picks them) a language must give and may give.
fn plural_categories(lang: &str) -> (&'static [&'static str], &'static [&'static str]) {
    match lang {
        "ar" => (&["zero", "one", "two", "few", "many", "other"], &[]),
        "fr" | "es" | "pt" => (&["one", "other"], &["many"]),
        _ => (&["one", "other"], &[]),
    }
}

/// Translations that are rightly the same as the English text.
const SAME_AS_ENGLISH: &[(&str, &str)] = &[
    ("de", "live"),
    ("fr", "votes"),
    ("de", "event_code"),
    ("fr", "event_code"),
    ("fr", "qa.heading"),
    ("fr", "qa.screen_title"),
];

fn messages(lang: &str) -> Map<String, Value> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("assets/i18n/{lang}.json"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn placeholders(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut rest = text;
    while let Some(start) = rest.find('{') {
        let after = &rest[start + 1..];
        match after.find('}') {
            Some(end)
                if after[..end]
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_') =>
            {
                out.insert(after[..end].to_string());
                rest = &after[end + 1..];
            }
            _ => rest = after,
        }
    }
    out
}

/// The texts of a message (one, or one per plural form) and the placeholders they use together.
fn forms(value: &Value) -> Option<BTreeMap<String, String>> {
    match value {
        Value::String(s) => Some(BTreeMap::from([(String::new(), s.clone())])),
        Value::Object(m) => m
            .iter()
            .map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
            .collect(),
        _ => None,
    }
}

#[test]
fn every_language_has_every_key_with_the_same_placeholders_and_plural_forms() {
    let en = messages("en");
    let common =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/assets/common.js")).unwrap();
    assert!(
        common.contains(r#"languages: ["en", "de", "fr", "es", "pt", "ar"]"#),
        "assets/common.js offers a different list of languages than this test checks"
    );
    let mut problems = Vec::new();
    for lang in LANGUAGES {
        let msgs = messages(lang);
        let (required, optional) = plural_categories(lang);
        for key in msgs.keys().filter(|k| !en.contains_key(*k)) {
            problems.push(format!("{lang}: {key} is not in en.json"));
        }
        for (key, en_value) in &en {
            let Some(value) = msgs.get(key) else {
                problems.push(format!("{lang}: {key} is missing"));
                continue;
            };
            let (Some(en_forms), Some(lang_forms)) = (forms(en_value), forms(value)) else {
                problems.push(format!("{lang}: {key} is neither a text nor plural forms"));
                continue;
            };
            let all = |f: &BTreeMap<String, String>| -> BTreeSet<String> {
                f.values().flat_map(|t| placeholders(t)).collect()
            };
            if all(&en_forms) != all(&lang_forms) {
                problems.push(format!(
                    "{lang}: {key} uses placeholders {:?}, English {:?}",
                    all(&lang_forms),
                    all(&en_forms)
                ));
            }
            if lang_forms.values().any(|t| t.trim().is_empty()) {
                problems.push(format!("{lang}: {key} is empty"));
            }
            // English plural forms need plural forms here; a language may use plural forms
            // where English needs none (Arabic "joined").
            if en_value.is_object() || value.is_object() {
                if !value.is_object() {
                    problems.push(format!("{lang}: {key} needs plural forms {required:?}"));
                    continue;
                }
                let have: BTreeSet<&str> = lang_forms.keys().map(String::as_str).collect();
                for c in required.iter().filter(|c| !have.contains(*c)) {
                    problems.push(format!("{lang}: {key} lacks the plural form {c:?}"));
                }
                for c in have
                    .iter()
                    .filter(|c| !required.contains(c) && !optional.contains(c))
                {
                    problems.push(format!(
                        "{lang}: {key} has a plural form {c:?} the language does not use"
                    ));
                }
            }
            let letters = |t: &str| t.chars().filter(|c| c.is_alphabetic()).count();
            if lang != "en"
                && value == en_value
                && en_forms.values().any(|t| letters(t) >= 4)
                && !SAME_AS_ENGLISH.contains(&(lang, key.as_str()))
            {
                problems.push(format!("{lang}: {key} is still English: {value}"));
            }
        }
    }
    assert!(
        problems.is_empty(),
        "message files:\n{}",
        problems.join("\n")
    );
}

/// Every visible or announced text of the page (text, hidden text, names, placeholders, title)
/// that contains a piece of an English message this language translates differently.
async fn english_left(client: &Client, lang: &str) -> Vec<String> {
    let en = Value::Object(messages("en"));
    let own = Value::Object(messages(lang));
    let v = client
        .execute(
            r#"const [en, own] = arguments;
               const texts = (v) => typeof v === "string" ? [v] : Object.values(v);
               const ownText = Object.values(own).flatMap(texts).join("\n").toLowerCase();
               const pieces = new Set();
               for (const v of Object.values(en))
                 for (const t of texts(v))
                   for (let p of t.split(/\{\w+\}/)) {
                     p = p.replace(/^[^\p{L}]+|[^\p{L}]+$/gu, "");
                     if ((p.match(/\p{L}/gu) || []).length >= 4 && !ownText.includes(p.toLowerCase())) pieces.add(p);
                   }
               const seen = [document.title, document.body.textContent];
               for (const e of document.querySelectorAll("*"))
                 for (const a of ["aria-label", "placeholder", "alt", "title"])
                   if (e.hasAttribute(a)) seen.push(e.getAttribute(a));
               const page = seen.join("\n").toLowerCase();
               const esc = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
               return [...pieces].filter((p) => new RegExp(`(^|[^\\p{L}])${esc(p.toLowerCase())}($|[^\\p{L}])`, "u").test(page));"#,
            vec![en, own],
        )
        .await
        .unwrap();
    serde_json::from_value(v).unwrap()
}

async fn assert_language(client: &Client, lang: &str, state: &str) {
    let attrs = client
        .execute(
            "return [document.documentElement.lang, document.documentElement.dir];",
            vec![],
        )
        .await
        .unwrap();
    let dir = if lang == "ar" { "rtl" } else { "ltr" };
    assert_eq!(attrs, json!([lang, dir]), "{lang} {state}");
    let left = english_left(client, lang).await;
    assert!(left.is_empty(), "{lang} {state}: English left: {left:?}");
}

fn text(lang: &str, key: &str) -> String {
    messages(lang)[key].as_str().unwrap().to_string()
}

#[tokio::test]
async fn every_language_renders_both_pages_with_no_english_left() {
    let app = spawn_app().await;
    let driver = Driver::start();
    let phone = driver.browser(Viewport::Phone).await;
    let screen = driver.browser(Viewport::Projector).await;

    for lang in &LANGUAGES[1..] {
        phone
            .goto(&app.url(&format!("/?lang={lang}")))
            .await
            .unwrap();
        wait_text(&phone, "#waiting", &text(lang, "waiting")).await;
        assert_language(&phone, lang, "phone waiting").await;
        screen
            .goto(&app.url(&format!("/screen?lang={lang}")))
            .await
            .unwrap();
        wait_js(
            &screen,
            "the join URL",
            "return !!document.querySelector('.join-url').textContent;",
            vec![],
        )
        .await;
        assert_language(&screen, lang, "screen idle").await;
    }

    // Poll texts are the organiser's: neither translated nor counted as English left.
    let id = app
        .open_poll(json!({"question": "Rust, Kafka, redb?", "kind": "single", "options": ["Rust", "Kafka", "redb"], "duration_secs": 900}))
        .await;
    app.put_on_air(Some(&id)).await;
    for (i, b) in [0, 0, 2].into_iter().enumerate() {
        let v = app.session().await;
        assert_eq!(app.vote(&v, &id, json!({"choice": b})).await, 202, "{i}");
    }
    for lang in &LANGUAGES[1..] {
        phone
            .goto(&app.url(&format!("/?lang={lang}")))
            .await
            .unwrap();
        wait_text(&phone, "#question", "Rust, Kafka, redb?").await;
        tap_button(&phone, "#form", "Kafka").await;
        wait_text(&phone, "#status", &text(lang, "vote_recorded")).await;
        wait_js(&phone, "4 voters", "return document.querySelectorAll('#results li').length === 3 && document.querySelector('#results .count').textContent.startsWith('2');", vec![]).await;
        assert_language(&phone, lang, "phone voted").await;
        if *lang == "ar" || *lang == "de" {
            screenshot(&phone, &format!("i18n-{lang}-phone-voted")).await;
        }
        screen
            .goto(&app.url(&format!("/screen?lang={lang}")))
            .await
            .unwrap();
        wait_js(&screen, "the turnout", "return /4/.test(document.getElementById('turnout').textContent) && !!document.querySelector('#results .fill');", vec![]).await;
        assert_language(&screen, lang, "screen with results").await;
        if *lang == "ar" {
            screenshot(&screen, "i18n-ar-projector-results").await;
        }
    }

    // The rating scale and its ends, right to left.
    let rating = app
        .open_poll(json!({"question": "Wie war es? / كيف كان؟", "kind": "rating", "scale": 5, "labels": ["schlecht", "ممتاز"], "duration_secs": 900}))
        .await;
    app.put_on_air(Some(&rating)).await;
    for lang in ["ar", "de"] {
        phone
            .goto(&app.url(&format!("/?lang={lang}")))
            .await
            .unwrap();
        wait_js(
            &phone,
            "the rating scale",
            "return document.querySelectorAll('#form .rating button').length === 5;",
            vec![],
        )
        .await;
        tap_button(&phone, "#form", "4").await;
        wait_text(&phone, "#status", &text(lang, "vote_recorded")).await;
        assert_language(&phone, lang, "phone rating").await;
        screenshot(&phone, &format!("i18n-{lang}-phone-rating")).await;
    }
    // In Arabic the scale runs from the right: 1 is the rightmost button.
    let order = phone
        .execute(
            "const b = [...document.querySelectorAll('#form .rating button')]; return b[0].getBoundingClientRect().left > b[4].getBoundingClientRect().left;",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(order, json!(false), "German runs left to right");
    phone.goto(&app.url("/?lang=ar")).await.unwrap();
    let order = wait_js(
        &phone,
        "the Arabic rating scale",
        "const b = [...document.querySelectorAll('#form .rating button')]; return b.length === 5 && [b[0].getBoundingClientRect().left > b[4].getBoundingClientRect().left];",
        vec![],
    )
    .await;
    assert_eq!(order, json!([true]), "Arabic runs right to left");
    screen.goto(&app.url("/screen?lang=ar")).await.unwrap();
    wait_js(
        &screen,
        "the histogram",
        "return document.querySelectorAll('#results .col').length === 5;",
        vec![],
    )
    .await;
    assert_language(&screen, "ar", "screen rating").await;
    screenshot(&screen, "i18n-ar-projector-rating").await;
}
