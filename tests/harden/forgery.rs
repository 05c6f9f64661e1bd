//! Requests that another web page makes a browser send are refused; the server's own pages,
//! scripts and curl are not.

use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::helpers::*;
use crate::webdriver::*;

/// A page on another port of 127.0.0.1 that posts a `text/plain` form to `action` as soon as
/// it loads. The form's body is `{"text":"forged=x"}`, a valid word-cloud vote.
async fn serve_hostile_page(action: String) -> (String, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    let page = format!(
        r#"<!doctype html><html><body>
<form method="POST" action="{action}" enctype="text/plain">
<input type="hidden" name='{{"text":"forged' value='x"}}'></form>
<script>document.forms[0].submit();</script></body></html>"#
    );
    let task = tokio::spawn(async move {
        loop {
            let Ok((mut s, _)) = listener.accept().await else {
                return;
            };
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf).await;
            let res = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: text/html\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{page}",
                page.len()
            );
            let _ = s.write_all(res.as_bytes()).await;
        }
    });
    (url, task)
}

#[tokio::test]
async fn a_form_posted_from_another_port_cannot_change_a_ballot() {
    let app = spawn_app().await;
    let id = app
        .open_poll(json!({"question": "One word?", "kind": "wordcloud"}))
        .await;
    app.put_on_air(Some(&id)).await;
    let driver = Driver::start();
    let phone = driver.browser(Viewport::Phone).await;

    // The attendee votes from the server's own page: a same-origin fetch with JSON passes.
    phone.goto(&app.url("/")).await.unwrap();
    let status = phone
        .execute_async(
            "const done = arguments[arguments.length - 1];
             fetch('/api/session', {method: 'POST'})
               .then(() => fetch(arguments[0], {method: 'POST',
                   headers: {'content-type': 'application/json'}, body: '{\"text\":\"rust\"}'}))
               .then(r => done(r.status), e => done(String(e)));",
            vec![json!(format!("/api/polls/{id}/votes"))],
        )
        .await
        .unwrap();
    assert_eq!(status, json!(202));
    app.wait_results(&id, |r| r["voters"] == 1).await;

    // A page on another port of the same host posts a form with the voter's cookie.
    let (hostile, server) = serve_hostile_page(app.url(&format!("/api/polls/{id}/votes"))).await;
    phone.goto(&hostile).await.unwrap();
    let shown = wait_js(
        &phone,
        "the form's answer",
        "return location.href.includes('/votes') && document.body && document.body.innerText;",
        vec![],
    )
    .await;
    server.abort();
    let answer: Value = serde_json::from_str(shown.as_str().unwrap()).unwrap();
    assert_eq!(answer["error"], "forbidden", "{answer}");

    // The ballot is still the attendee's own; a 403 never reaches Kafka, so this is final.
    let results = app.poll(&id).await["results"].clone();
    assert_eq!(results["voters"], 1, "{results}");
    let words = results["words"].to_string().to_lowercase();
    assert!(
        words.contains("rust") && !words.contains("forged"),
        "{words}"
    );
    phone.close().await.unwrap();
}

#[tokio::test]
async fn state_changing_requests_need_json_and_this_servers_origin() {
    let app = spawn_app().await;
    let id = app.open_poll(single(3)).await;
    let voter = app.session().await;
    let own = app.base.clone();
    let vote = |ct: Option<&str>, origin: Option<&str>| {
        let mut r = app
            .client
            .post(app.url(&format!("/api/polls/{id}/votes")))
            .header("x-livepoll-voter", &voter)
            .body(r#"{"choice": 1}"#);
        if let Some(ct) = ct {
            r = r.header("content-type", ct);
        }
        if let Some(o) = origin {
            r = r.header("origin", o);
        }
        r.send()
    };
    for (ct, origin) in [
        (Some("text/plain"), None),
        (Some("application/x-www-form-urlencoded"), None),
        (Some("multipart/form-data; boundary=x"), None),
        (None, None),
        (Some("application/json"), Some("http://127.0.0.1:1")),
        (Some("application/json"), Some("http://evil.example")),
        (Some("application/json"), Some("null")),
    ] {
        let res = vote(ct, origin).await.unwrap();
        assert_eq!(res.status(), StatusCode::FORBIDDEN, "{ct:?} {origin:?}");
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["error"], "forbidden");
        assert!(body["message"].as_str().unwrap().len() > 10);
    }
    // The organiser's commands too, bearer token or not, and body-less ones.
    let res = app
        .as_admin(reqwest::Method::POST, &format!("/api/polls/{id}/close"))
        .header("origin", "http://127.0.0.1:1")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let res = app
        .as_admin(reqwest::Method::POST, "/api/polls")
        .header("origin", "http://127.0.0.1:1")
        .json(&single(2))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let res = app
        .client
        .post(app.url("/api/session"))
        .header("origin", "http://127.0.0.1:1")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    // A body-less POST from a script (no Origin, no Content-Type) is fine.
    let res = app
        .client
        .post(app.url("/api/session"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);

    // Nothing changed: the poll is open, no ballot, one poll.
    assert_eq!(app.poll(&id).await["state"], "open");
    let polls: Vec<Value> = app.admin_get("/api/polls").await;
    assert_eq!(polls.len(), 1);

    // This server's own origin, or the public URL's, with JSON (any charset) passes.
    let res = vote(Some("application/json; charset=utf-8"), Some(&own))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    let res = vote(Some("Application/JSON"), Some("http://venue.example:8080"))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    let r = app.wait_results(&id, |r| r["voters"] == 1).await;
    assert_eq!(r["counts"], json!([0, 1, 0]));
}

fn admin_cookie(res: &reqwest::Response) -> String {
    let set = res.headers()["set-cookie"].to_str().unwrap().to_string();
    for part in ["HttpOnly", "SameSite=Strict", "Max-Age=43200", "Path=/"] {
        assert!(set.contains(part), "{set}");
    }
    set.split(';').next().unwrap().to_string()
}

#[tokio::test]
async fn the_admin_session_cookie_acts_as_admin_expires_and_changes() {
    let app = spawn_app().await;
    let id = app.open_poll(single(2)).await;
    let first = app.admin_post("/api/admin/session", None).await;
    assert_eq!(first.status(), StatusCode::NO_CONTENT);
    let cookie = admin_cookie(&first);
    assert!(cookie.starts_with("livepoll_admin="));

    // A forged or stale cookie is refused and changes nothing.
    for forged in [
        "livepoll_admin=1.AAAA",
        "livepoll_admin=garbage",
        "livepoll_admin=",
    ] {
        let res = app
            .client
            .post(app.url(&format!("/api/polls/{id}/close")))
            .header("cookie", forged)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{forged}");
    }
    assert_eq!(app.poll(&id).await["state"], "open");

    // The session cookie alone runs an admin command (the projector's keyboard shortcuts).
    let res = app
        .client
        .post(app.url(&format!("/api/polls/{id}/close")))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.json::<Value>().await.unwrap()["state"], "closed");

    // The cookie cannot renew itself: a new session needs the bearer token, so a session ends
    // 12 h after sign-in however it is used.
    let renew = app
        .client
        .post(app.url("/api/admin/session"))
        .header("cookie", &cookie)
        .header("content-type", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(renew.status(), StatusCode::UNAUTHORIZED);
    assert!(renew.headers().get("set-cookie").is_none());

    // Issued a second later, the value differs (it carries its issue time).
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let second = app.admin_post("/api/admin/session", None).await;
    assert_ne!(admin_cookie(&second), cookie);
}

#[tokio::test]
async fn every_answer_has_a_referrer_policy_and_api_answers_are_not_stored() {
    let app = spawn_app().await;
    for (path, stored) in [
        ("/", true),
        ("/api/polls", false),
        ("/api/nope", false),
        ("/healthz", false),
    ] {
        let res = app.client.get(app.url(path)).send().await.unwrap();
        let h = res.headers();
        assert_eq!(h["referrer-policy"], "no-referrer", "{path}");
        assert_eq!(h["x-content-type-options"], "nosniff", "{path}");
        let cache = h.get("cache-control").map(|v| v.to_str().unwrap());
        assert_eq!(cache == Some("no-store"), !stored, "{path}: {cache:?}");
    }
}
