//! Issue 14 "Venue-proof": the event code, the per-address session limit, `livepoll doctor`
//! and a join URL that matches where the server listens.

use std::net::TcpListener;

use fantoccini::Locator;
use livepoll::eventcode::EventCodeSetting;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::*;
use crate::webdriver::*;

/// An app on the shared broker with this event code, listening on 127.0.0.1 with no public URL
/// (so the join URL is one a browser in the test can open).
async fn spawn_with_code(code: EventCodeSetting, dir: &std::path::Path, prefix: &str) -> TestApp {
    let mut args = serve_args(&shared_broker().bootstrap(), dir, prefix);
    args.public_url = None;
    args.event_code = code;
    spawn_app_with(args).await
}

async fn post_session(api: &Api, body: Option<Value>, query: &str) -> reqwest::Response {
    let mut req = api.client.post(api.url(&format!("/api/session{query}")));
    if let Some(b) = body {
        req = req.json(&b);
    }
    req.send().await.unwrap()
}

#[tokio::test]
async fn a_new_session_needs_the_event_code_and_tokens_issued_before_keep_working() {
    // Two nodes of one deployment (one secret file, one topic prefix): the first one without a
    // code hands out a token, then the deployment turns the code on.
    let secrets = tempfile::tempdir().unwrap();
    let secret = secrets.path().join("cluster.key");
    livepoll::auth::new_secret_file(&secret).unwrap();
    let prefix = unique_prefix();
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut args = serve_args(&shared_broker().bootstrap(), dir_a.path(), &prefix);
    args.secret_file = Some(secret.clone());
    let before = spawn_app_with(args).await;
    let early = before.session().await;
    let mut args = serve_args(&shared_broker().bootstrap(), dir_b.path(), &prefix);
    args.secret_file = Some(secret);
    args.event_code = EventCodeSetting::Auto;
    let app = spawn_app_with(args).await;
    let id = app.open_poll(single(2)).await;
    let public: Value = app.get("/api/info").await;
    assert_eq!(public["code_required"], true);
    assert_eq!(
        public["event_code"],
        Value::Null,
        "not for anyone: {public}"
    );
    let info: Value = app.admin_get("/api/info").await;
    let code = info["event_code"].as_str().unwrap().to_string();
    assert!(
        code.len() == 6 && code.chars().all(|c| c.is_ascii_digit()),
        "{code}"
    );

    for (body, query) in [
        (None, ""),
        (Some(json!({})), ""),
        (Some(json!({"code": "000000x"})), ""),
        (None, "?code=12"),
    ] {
        let res = post_session(&app, body.clone(), query).await;
        assert_eq!(res.status(), StatusCode::FORBIDDEN, "{body:?} {query}");
        let err: Value = res.json().await.unwrap();
        assert_eq!(err["error"], "bad_code", "{err}");
    }
    let spaced = format!("{} {}", &code[..3], &code[3..]);
    let res = post_session(&app, Some(json!({ "code": spaced })), "").await;
    assert_eq!(res.status(), StatusCode::OK);
    let voter = res.json::<Value>().await.unwrap()["voter"]
        .as_str()
        .unwrap()
        .to_string();
    let res = post_session(&app, None, &format!("?code={code}")).await;
    assert_eq!(res.status(), StatusCode::OK, "the page's ?code= works too");
    assert_eq!(app.vote(&voter, &id, json!({"choice": 0})).await, 202);
    assert_eq!(
        app.vote(&early, &id, json!({"choice": 1})).await,
        202,
        "a token issued before the code still votes"
    );
    // A page reload with its cookie keeps its identity without the code.
    let res = app
        .client
        .post(app.url("/api/session"))
        .header("cookie", format!("livepoll_voter={early}"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.json::<Value>().await.unwrap()["voter"], early.as_str());
    app.wait_results(&id, |r| r["counts"] == json!([1, 1]))
        .await;
}

#[tokio::test]
async fn the_qr_code_carries_the_event_code_only_for_the_signed_in_screen() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_with_code("4711".parse().unwrap(), dir.path(), &unique_prefix()).await;
    let info: Value = app.admin_get("/api/info").await;
    let join = info["join_url"].as_str().unwrap();
    assert_eq!(info["event_code"], "4711");
    assert_eq!(info["qr_url"], format!("{join}/?code=4711"));
    let admin_svg = app
        .as_admin(reqwest::Method::GET, "/qr.svg")
        .send()
        .await
        .unwrap();
    assert_eq!(admin_svg.headers()["cache-control"], "no-store");
    let scanned = decode_qr(&admin_svg.bytes().await.unwrap());
    assert_eq!(scanned, format!("{join}/?code=4711"));
    let public_svg = app.client.get(app.url("/qr.svg")).send().await.unwrap();
    assert_eq!(
        decode_qr(&public_svg.bytes().await.unwrap()),
        join,
        "anyone else's QR code does not give the code away"
    );
    // What the scanned URL's page sends gets a token.
    let q = scanned.split_once('?').unwrap().1;
    let res = post_session(&app, None, &format!("?{q}")).await;
    assert_eq!(res.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_burst_of_sessions_from_one_address_gets_429_with_retry_after() {
    let dir = tempfile::tempdir().unwrap();
    let mut args = serve_args(&shared_broker().bootstrap(), dir.path(), &unique_prefix());
    // A proxy on this machine names the clients (`--trusted-proxy`), as behind a load balancer.
    args.trusted_proxies = vec!["127.0.0.1".parse().unwrap()];
    let app = spawn_app_with(args).await;
    let from = |ip: &'static str| {
        app.client
            .post(app.url("/api/session"))
            .header("x-forwarded-for", ip)
    };
    // The bucket refills at 2 a second while the burst is sent: at least 120 get through,
    // then 429s.
    let answers: Vec<reqwest::Response> =
        futures::future::join_all((0..200).map(|_| from("198.51.100.7").send()))
            .await
            .into_iter()
            .map(Result::unwrap)
            .collect();
    let ok = answers
        .iter()
        .filter(|r| r.status() == StatusCode::OK)
        .count();
    let limited: Vec<&reqwest::Response> = answers
        .iter()
        .filter(|r| r.status() == StatusCode::TOO_MANY_REQUESTS)
        .collect();
    assert_eq!(ok + limited.len(), 200);
    assert!((120..200).contains(&ok), "{ok} of 200 got a session");
    let wait: u64 = limited[0].headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&wait), "{wait}");
    let res = from("198.51.100.7").send().await.unwrap();
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(res.json::<Value>().await.unwrap()["error"], "rate_limited");
    let other = from("198.51.100.8").send().await.unwrap();
    assert_eq!(
        other.status(),
        StatusCode::OK,
        "another address is not affected"
    );
    for _ in 0..5 {
        assert_eq!(
            post_session(&app, None, "").await.status(),
            StatusCode::OK,
            "the machine itself is not limited"
        );
    }
}

#[tokio::test]
async fn a_burst_from_a_lan_address_is_limited_without_any_proxy() {
    let Some(lan) = livepoll::app::first_lan_ipv4() else {
        eprintln!("no LAN address on this machine: the proxy test above covers the limit");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut args = serve_args(&shared_broker().bootstrap(), dir.path(), &unique_prefix());
    args.bind = format!("{lan}:0").parse().unwrap();
    args.session_rate = 10;
    let app = spawn_app_with(args).await;
    let port = app.base.rsplit(':').next().unwrap().to_string();
    let api = Api::new(format!("http://{lan}:{port}"));
    for _ in 0..10 {
        assert_eq!(post_session(&api, None, "").await.status(), StatusCode::OK);
    }
    let res = post_session(&api, None, "").await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(res.headers().contains_key("retry-after"));
    // A forged X-Forwarded-For from a peer that is not a trusted proxy changes nothing.
    let res = api
        .client
        .post(api.url("/api/session"))
        .header("x-forwarded-for", "203.0.113.99")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn the_join_url_is_the_bound_address_in_print_and_in_the_qr_code() {
    let port = free_port();
    let dir = tempfile::tempdir().unwrap();
    let prefix = unique_prefix();
    let mut serve = ServeProcess::start(
        &[
            "--brokers",
            &shared_broker().bootstrap(),
            "--data-dir",
            dir.path().to_str().unwrap(),
            "--topic-prefix",
            &prefix,
            "--event-code",
            "auto",
        ],
        port,
    );
    serve.wait_healthy(60).await;
    let api = serve.api();
    let info: Value = api.admin_get("/api/info").await;
    let join = format!("http://127.0.0.1:{port}");
    assert_eq!(
        info["join_url"],
        join.as_str(),
        "not the LAN address: {info}"
    );
    let code = info["event_code"].as_str().unwrap().to_string();
    let svg = api.as_admin(reqwest::Method::GET, "/qr.svg").send().await;
    let scanned = decode_qr(&svg.unwrap().bytes().await.unwrap());
    assert_eq!(scanned, format!("{join}/?code={code}"));
    serve.signal(libc::SIGTERM);
    assert_eq!(serve.wait(30), Some(0));
    let out = serve.stdout();
    assert!(
        out.contains(&format!("Attendees (scan or type):  {join}/?code={code}\n")),
        "{out}"
    );
    assert!(
        out.contains(&format!("Event code:                {code}")),
        "{out}"
    );
    assert!(
        out.contains(&format!(
            "Projector screen:          {join}/screen#token={ADMIN}"
        )),
        "the projector link signs the screen in, so it shows the code: {out}"
    );
    // The phone links of the scoped keys, generated once and kept in the data dir.
    for (page, file) in [("present", "presenter.key"), ("moderate", "moderator.key")] {
        let key = std::fs::read_to_string(dir.path().join(file)).unwrap();
        assert!(
            out.contains(&format!("{join}/{page}#key={}\n", key.trim())),
            "{out}"
        );
    }
    if let Some(lan) = livepoll::app::first_lan_ipv4() {
        assert!(!out.contains(&lan.to_string()), "{out}");
    }
}

#[tokio::test]
async fn a_wildcard_bind_joins_at_a_lan_address() {
    let dir = tempfile::tempdir().unwrap();
    let mut args = serve_args(&shared_broker().bootstrap(), dir.path(), &unique_prefix());
    args.public_url = None;
    args.bind = "0.0.0.0:0".parse().unwrap();
    let app = spawn_app_with(args).await;
    let info: Value = app.get("/api/info").await;
    let port = app.base.rsplit(':').next().unwrap();
    let host = livepoll::app::first_lan_ipv4().map_or("127.0.0.1".into(), |ip| ip.to_string());
    assert_eq!(info["join_url"], format!("http://{host}:{port}"));
}

fn doctor(args: &[&str]) -> (Option<i32>, String) {
    let out = bin()
        .arg("doctor")
        .args(args)
        .env_remove("LIVEPOLL_BIND")
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    (out.status.code(), text)
}

#[tokio::test]
async fn doctor_passes_on_a_free_setup() {
    let dir = tempfile::tempdir().unwrap();
    let bind = format!("0.0.0.0:{}", free_port());
    let brokers = shared_broker().bootstrap();
    let (code, out) = doctor(&[
        "--data-dir",
        dir.path().to_str().unwrap(),
        "--bind",
        &bind,
        "--brokers",
        &brokers,
    ]);
    let lines: Vec<&str> = out.lines().filter(|l| l.starts_with(['✓', '✗'])).collect();
    assert!(lines.len() >= 7, "{out}");
    assert!(
        out.contains(&format!("✓ Kafka at {brokers} answers")),
        "{out}"
    );
    assert!(out.contains("answers from this machine"), "{out}");
    assert!(
        out.contains("client isolation"),
        "the guest Wi-Fi hint: {out}"
    );
    if livepoll::app::first_lan_ipv4().is_some() {
        assert!(lines.iter().all(|l| l.starts_with('✓')), "{out}");
        assert_eq!(code, Some(0), "{out}");
    }
}

#[tokio::test]
async fn doctor_exits_1_naming_a_taken_port_a_damaged_db_and_a_missing_secret() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("tallies.redb"), b"not a database").unwrap();
    let http = TcpListener::bind("0.0.0.0:0").unwrap();
    let kafka = TcpListener::bind("127.0.0.1:0").unwrap();
    let (http_port, kafka_port) = (
        http.local_addr().unwrap().port(),
        kafka.local_addr().unwrap().port(),
    );
    let (code, out) = doctor(&[
        "--data-dir",
        dir.path().to_str().unwrap(),
        "--bind",
        &format!("0.0.0.0:{http_port}"),
        "--kafka-port",
        &kafka_port.to_string(),
    ]);
    assert_eq!(code, Some(1), "{out}");
    let failed = |needle: &str| {
        out.lines()
            .any(|l| l.starts_with('✗') && l.contains(needle))
    };
    assert!(
        failed(&format!("HTTP port {http_port} on 0.0.0.0 is taken")),
        "{out}"
    );
    assert!(
        failed(&format!("Kafka port {kafka_port} on 127.0.0.1 is taken")),
        "{out}"
    );
    assert!(
        failed("tallies.redb cannot be used") && failed("delete it"),
        "{out}"
    );
    assert!(
        failed("secret.key is missing") && failed("--new-secret"),
        "{out}"
    );
    assert!(out.contains("checks failed"), "{out}");
    drop((http, kafka));
}

#[tokio::test]
async fn a_phone_typing_the_short_url_is_asked_for_the_code_and_a_scanned_one_is_not() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_with_code(EventCodeSetting::Auto, dir.path(), &unique_prefix()).await;
    let id = app
        .open_poll(
            json!({"question": "Coffee or tea?", "kind": "single", "options": ["Coffee", "Tea"]}),
        )
        .await;
    app.put_on_air(Some(&id)).await;
    let info: Value = app.admin_get("/api/info").await;
    let code = info["event_code"].as_str().unwrap().to_string();
    let driver = Driver::start();

    // The projector, opened from the console (signed in), shows the code beside the QR code.
    let screen = driver.browser(Viewport::Projector).await;
    screen
        .goto(&app.url(&format!("/screen#token={ADMIN}")))
        .await
        .unwrap();
    wait_text(
        &screen,
        "#event-code",
        &format!("{} {}", &code[..3], &code[3..]),
    )
    .await;
    wait_text(&screen, "#question", "Coffee or tea?").await;
    screenshot(&screen, "venue-screen-with-code").await;

    // Typed short URL: asked for the code; a wrong one is refused, the right one lets them vote.
    let phone = driver.browser(Viewport::Phone).await;
    phone.goto(&app.url("/")).await.unwrap();
    wait_js(
        &phone,
        "the code form",
        "return !document.getElementById('code-form').hidden && document.getElementById('poll').hidden;",
        vec![],
    )
    .await;
    screenshot(&phone, "venue-phone-asks-for-code").await;
    let input = phone.find(Locator::Id("code-input")).await.unwrap();
    input.send_keys("999999x").await.unwrap();
    phone
        .find(Locator::Css("#code-form button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_contains(&phone, "#code-status", "not right").await;
    screenshot(&phone, "venue-phone-wrong-code").await;
    input.clear().await.unwrap();
    input.send_keys(&code).await.unwrap();
    phone
        .find(Locator::Css("#code-form button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_text(&phone, "#question", "Coffee or tea?").await;
    tap_button(&phone, "#form", "Tea").await;
    wait_contains(&phone, "#status", "Vote recorded").await;
    screenshot(&phone, "venue-phone-voted-after-code").await;

    // Scanned QR URL: no form, straight to the poll.
    let scanner = driver.browser(Viewport::Phone).await;
    scanner
        .goto(info["qr_url"].as_str().unwrap())
        .await
        .unwrap();
    wait_text(&scanner, "#question", "Coffee or tea?").await;
    let form_hidden = scanner
        .execute(
            "return document.getElementById('code-form').hidden;",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(form_hidden, true);
    tap_button(&scanner, "#form", "Coffee").await;
    wait_contains(&scanner, "#status", "Vote recorded").await;
    app.wait_results(&id, |r| r["counts"] == json!([1, 1]))
        .await;

    // An unsigned screen does not show the code; it says how to.
    let stranger = driver.browser(Viewport::Laptop).await;
    stranger.goto(&app.url("/screen")).await.unwrap();
    wait_js(
        &stranger,
        "the hint",
        "return !document.getElementById('code-hint').hidden && document.getElementById('join-code').hidden;",
        vec![],
    )
    .await;
    screenshot(&stranger, "venue-unsigned-screen").await;
}
