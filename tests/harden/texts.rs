//! Text people type: no live formulas in CSV exports, no invisible or direction-changing
//! characters in words and poll texts, emoji and every script kept.

use serde_json::{Value, json};

use crate::helpers::*;

/// Every cell of a CSV document.
fn cells(csv_text: &str) -> Vec<Vec<String>> {
    csv::Reader::from_reader(csv_text.as_bytes())
        .records()
        .map(|r| r.unwrap().iter().map(String::from).collect())
        .collect()
}

fn assert_no_formula(csv_text: &str) {
    let rows = cells(csv_text);
    assert!(!rows.is_empty());
    for cell in rows.iter().flatten() {
        assert!(
            !cell.starts_with(['=', '+', '-', '@', '\t', '\r']),
            "live formula {cell:?} in:\n{csv_text}"
        );
    }
}

#[tokio::test]
async fn csv_exports_neutralise_formulas_over_the_api_and_from_the_data_dir() {
    let mut app = spawn_app().await;
    let id = app
        .open_poll(json!({"question": "=1+1 is what?", "kind": "wordcloud"}))
        .await;
    let words = [
        r#"=HYPERLINK("http://evil.example","x")"#,
        "+1",
        "-2",
        "@SUM(A1)",
        "fine",
    ];
    for w in words {
        let v = app.session().await;
        assert_eq!(app.vote(&v, &id, json!({"text": w})).await, 202, "{w}");
    }
    app.wait_results(&id, |r| r["voters"] == words.len()).await;

    let over_api = app
        .admin_text(&format!("/api/polls/{id}/results.csv"))
        .await;
    assert_no_formula(&over_api);
    let rows = cells(&over_api);
    assert_eq!(rows[0][1], "'=1+1 is what?");
    let labels: Vec<String> = rows.iter().map(|r| r[8].to_lowercase()).collect();
    for want in [
        r#"'=hyperlink("http://evil.example","x")"#,
        "'+1",
        "'-2",
        "'@sum(a1)",
        "fine",
    ] {
        assert!(
            labels.contains(&want.to_string()),
            "{want} not in {labels:?}"
        );
    }

    app.stop().await;
    let out = bin()
        .args(["export", "--poll", &id, "--data-dir"])
        .arg(&app.data_dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let from_dir = String::from_utf8(out.stdout).unwrap();
    assert_no_formula(&from_dir);
    assert_eq!(cells(&from_dir), rows);
}

#[tokio::test]
async fn invisible_characters_are_stripped_and_emoji_and_scripts_kept() {
    let app = spawn_app().await;
    let res = app
        .admin_post(
            "/api/polls",
            Some(json!({
                "question": "\u{202e}Best\u{200b} one?\u{2066}",
                "kind": "single",
                "options": ["A\u{200b}", "\u{feff}B", "👩\u{200d}💻", "می\u{200c}خواهم"],
            })),
        )
        .await;
    assert_eq!(res.status(), 201);
    let poll: Value = res.json().await.unwrap();
    assert_eq!(poll["question"], "Best one?");
    assert_eq!(
        poll["options"],
        json!(["A", "B", "👩\u{200d}💻", "می\u{200c}خواهم"])
    );
    // A question of nothing but invisible characters is empty: refused, nothing created.
    let res = app
        .admin_post(
            "/api/polls",
            Some(json!({"question": "\u{200b}\u{202e}", "kind": "wordcloud"})),
        )
        .await;
    assert_eq!(res.status(), 400);
    let polls: Vec<Value> = app.admin_get("/api/polls").await;
    assert_eq!(polls.len(), 1);

    let id = app
        .open_poll(json!({"question": "A word?", "kind": "wordcloud"}))
        .await;
    for w in [
        "ru\u{200b}st",
        "rust",
        "\u{202e}rust\u{202c}",
        "🏳\u{fe0f}\u{200d}🌈",
    ] {
        let v = app.session().await;
        assert_eq!(app.vote(&v, &id, json!({"text": w})).await, 202, "{w:?}");
    }
    let v = app.session().await;
    assert_eq!(
        app.vote(&v, &id, json!({"text": "\u{200b}\u{2060}\u{202e}"}))
            .await,
        400
    );
    let r = app.wait_results(&id, |r| r["voters"] == 4).await;
    assert_eq!(
        r["words"],
        json!([["rust", 3], ["🏳\u{fe0f}\u{200d}🌈", 1]]),
        "{r}"
    );
}
