//! Malformed requests get the documented JSON error (never a 500 or an unrelated 405) and
//! change nothing.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use super::{host_port, raw, read_answer};
use crate::helpers::*;

fn request(method: &str, path: &str, headers: &[u8], body: &[u8], length: usize) -> Vec<u8> {
    let mut r = format!(
        "{method} {path} HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\nconnection: close\r\ncontent-length: {length}\r\n"
    )
    .into_bytes();
    r.extend_from_slice(headers);
    r.extend_from_slice(b"\r\n");
    r.extend_from_slice(body);
    r
}

/// The answer is `status` with JSON error `code`.
#[track_caller]
fn expect_error(status: u16, body: &Value, want: u16, code: &str) {
    assert_eq!((status, &body["error"]), (want, &json!(code)), "{body}");
}

#[tokio::test]
async fn a_body_cut_short_is_a_400_and_records_nothing() {
    let app = spawn_app().await;
    let id = app.open_poll(single(2)).await;
    let voter = app.session().await;
    let votes = format!("/api/polls/{id}/votes");
    let voter_h = format!("x-livepoll-voter: {voter}\r\n");
    let bearer = format!("authorization: Bearer {ADMIN}\r\n");

    // The client sends less than its Content-Length, then closes its write side.
    let cut = request("POST", &votes, voter_h.as_bytes(), br#"{"choice":"#, 40);
    let (status, body) = raw(&app, &cut, true).await;
    expect_error(status, &body, 400, "bad_request");
    let cut = request(
        "POST",
        "/api/polls",
        bearer.as_bytes(),
        br#"{"question":"#,
        200,
    );
    let (status, body) = raw(&app, &cut, true).await;
    expect_error(status, &body, 400, "bad_request");

    // The client sends part of the body and then nothing: 400 once the body timeout passes.
    let mut s = TcpStream::connect(host_port(&app)).await.unwrap();
    s.write_all(&request("POST", &votes, voter_h.as_bytes(), b"{", 40))
        .await
        .unwrap();
    let (status, body) = read_answer(&mut s, Duration::from_secs(30)).await;
    expect_error(status, &body, 400, "bad_request");
    assert!(
        body["message"].as_str().unwrap().contains("did not arrive"),
        "{body}"
    );

    let polls: Vec<Value> = app.admin_get("/api/polls").await;
    assert_eq!(polls.len(), 1);
    // A complete vote after all that is counted alone.
    assert_eq!(app.vote(&voter, &id, json!({"choice": 1})).await, 202);
    let r = app.wait_results(&id, |r| r["voters"] == 1).await;
    assert_eq!(r["counts"], json!([0, 1]));
}

#[tokio::test]
async fn odd_authorization_headers_are_refused_with_401() {
    let app = spawn_app().await;
    let id = app.open_poll(single(2)).await;
    let def = serde_json::to_vec(&single(2)).unwrap();
    let close = format!("/api/polls/{id}/close");
    let bad_auth: Vec<Vec<u8>> = vec![
        "authorization: Bearer tést\r\n".into(),
        b"authorization: Bearer \xff\xfe\r\n".to_vec(),
        format!("authorization: Bearer  {ADMIN}\r\n").into(),
        format!("authorization: Basic {ADMIN}\r\n").into(),
        format!("authorization: Bearer{ADMIN}\r\n").into(),
    ];
    for auth in &bad_auth {
        let what = String::from_utf8_lossy(auth).to_string();
        let (status, body) = raw(
            &app,
            &request("POST", "/api/polls", auth, &def, def.len()),
            false,
        )
        .await;
        assert_eq!(
            (status, &body["error"]),
            (401, &json!("unauthorized")),
            "{what}: {body}"
        );
        let (status, body) = raw(&app, &request("POST", &close, auth, b"", 0), false).await;
        assert_eq!(
            (status, &body["error"]),
            (401, &json!("unauthorized")),
            "{what}: {body}"
        );
        // Reading a poll with such a header is reading it as an attendee.
        let get = format!("GET /api/polls/{id} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n");
        let mut get = get.into_bytes();
        get.extend_from_slice(auth);
        get.extend_from_slice(b"\r\n");
        let (status, body) = raw(&app, &get, false).await;
        assert_eq!((status, &body["id"]), (200, &json!(id)), "{what}: {body}");
    }
    // A cookie header that is not ASCII does not break reading either.
    let get = b"GET /api/polls HTTP/1.1\r\nhost: x\r\nconnection: close\r\ncookie: livepoll_voter=\xc3\xa9\r\n\r\n";
    assert_eq!(raw(&app, get, false).await.0, 200);

    let polls: Vec<Value> = app.admin_get("/api/polls").await;
    assert_eq!(polls.len(), 1);
    assert_eq!(app.poll(&id).await["state"], "open");
    let res = app.admin_post(&close, None).await;
    assert_eq!(res.status(), StatusCode::OK);
}

/// Votes are served outside warp's routes (a fast path): they must still answer like every
/// other route, and record nothing when refused.
#[tokio::test]
async fn the_vote_route_answers_other_methods_missing_lengths_and_cookies_like_every_route() {
    let app = spawn_app().await;
    let id = app.open_poll(single(2)).await;
    let voter = app.session().await;
    let votes = format!("/api/polls/{id}/votes");

    // Another method on the vote path: 405, not 404.
    let res = app.client.get(app.url(&votes)).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::METHOD_NOT_ALLOWED);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"], "method_not_allowed", "{body}");

    // A chunked body without a Content-Length is read up to the limit like any (see
    // ops::body_limits for one over it): a small one is a vote.
    let chunked = format!(
        "POST {votes} HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n\
         x-livepoll-voter: {voter}\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n\
         c\r\n{{\"choice\":0}}\r\n0\r\n\r\n"
    );
    let (status, body) = raw(&app, chunked.as_bytes(), false).await;
    assert_eq!(status, 202, "{body}");

    // A declared length over the limit is refused before the body is read.
    let big = request(
        "POST",
        &votes,
        format!("x-livepoll-voter: {voter}\r\n").as_bytes(),
        b"",
        1 << 20,
    );
    let (status, body) = raw(&app, &big, true).await;
    expect_error(status, &body, 413, "too_large");

    // The phone page's way: the voter cookie, not the header. The answer carries the headers
    // every answer carries.
    let res = app
        .client
        .post(app.url(&votes))
        .header("content-type", "application/json")
        .header("cookie", format!("livepoll_voter={voter}"))
        .body(r#"{"choice":1}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    assert_eq!(res.headers()["cache-control"], "no-store");
    assert_eq!(res.headers()["x-content-type-options"], "nosniff");
    let r = app
        .wait_results(&id, |r| r["counts"] == json!([0, 1]))
        .await;
    assert_eq!(r["voters"], 1, "the cookie vote replaced the chunked one");
}
