//! Every body limit holds whatever the transfer encoding: a chunked body is read only up to
//! 16 KiB (413), so 64 MiB sent in 1 MiB chunks leaves serve's memory where it was.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::rss_kib;
use crate::helpers::{ADMIN, ServeProcess, child_serve_args, free_port, single};

const CHUNKS: usize = 64;
const MIB: usize = 1 << 20;

/// Sends `head` (ending with `Transfer-Encoding: chunked` and the blank line) and then up to
/// [`CHUNKS`] chunks of 1 MiB, while reading the answer; returns its status and JSON body.
/// The server may answer and close before the body is all sent: writing then stops.
async fn chunked(host: &str, head: String) -> (u16, Value) {
    let s = TcpStream::connect(host).await.unwrap();
    let (mut rd, mut wr) = s.into_split();
    let writer = tokio::spawn(async move {
        wr.write_all(head.as_bytes()).await?;
        let mut chunk = format!("{MIB:x}\r\n").into_bytes();
        chunk.extend(std::iter::repeat_n(b'{', MIB));
        chunk.extend_from_slice(b"\r\n");
        for _ in 0..CHUNKS {
            wr.write_all(&chunk).await?;
        }
        wr.write_all(b"0\r\n\r\n").await
    });
    let mut buf = Vec::new();
    let answer = tokio::time::timeout(Duration::from_secs(60), async {
        loop {
            let mut b = [0u8; 4096];
            let n = rd.read(&mut b).await.unwrap_or(0);
            buf.extend_from_slice(&b[..n]);
            if let Some(a) = parse(&buf) {
                return a;
            }
            assert!(
                n > 0,
                "closed without an answer: {:?}",
                String::from_utf8_lossy(&buf)
            );
        }
    })
    .await
    .expect("an answer within 60 s");
    writer.abort();
    answer
}

fn parse(buf: &[u8]) -> Option<(u16, Value)> {
    let text = std::str::from_utf8(buf).ok()?;
    let (head, body) = text.split_once("\r\n\r\n")?;
    let status = head.split(' ').nth(1)?.parse().ok()?;
    let len: usize = head.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.eq_ignore_ascii_case("content-length")
            .then(|| v.trim().parse().ok())?
    })?;
    (body.len() >= len).then(|| {
        (
            status,
            serde_json::from_str(&body[..len]).unwrap_or(Value::Null),
        )
    })
}

fn head(method: &str, path: &str, host: &str, extra: &str) -> String {
    format!(
        "{method} {path} HTTP/1.1\r\nhost: {host}\r\ncontent-type: application/json\r\n{extra}transfer-encoding: chunked\r\n\r\n"
    )
}

#[tokio::test]
async fn a_chunked_body_is_refused_at_the_limit_without_growing_memory() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let args = child_serve_args(dir.path());
    let serve = ServeProcess::start(&args.iter().map(String::as_str).collect::<Vec<_>>(), port);
    serve.wait_healthy(60).await;
    let api = serve.api();
    let host = format!("127.0.0.1:{port}");
    let poll = api.open_poll(single(2)).await;
    let voter = api.session().await;
    let pid = serve.child.id();
    let before = rss_kib(pid);

    let bearer = format!("authorization: Bearer {ADMIN}\r\n");
    let voter_header = format!("x-livepoll-voter: {voter}\r\n");
    for (what, h) in [
        ("a new session", head("POST", "/api/session", &host, "")),
        (
            "a vote",
            head(
                "POST",
                &format!("/api/polls/{poll}/votes"),
                &host,
                &voter_header,
            ),
        ),
        (
            "a new poll (admin)",
            head("POST", "/api/polls", &host, &bearer),
        ),
    ] {
        let (status, body) = chunked(&host, h).await;
        assert_eq!(status, 413, "{what}: {body}");
        assert_eq!(body["error"], "too_large", "{what}: {body}");
        let now = rss_kib(pid);
        assert!(
            now < before + 24 * 1024,
            "{what}: serve's memory grew from {before} KiB to {now} KiB for a {CHUNKS} MiB body"
        );
    }

    // Under the limit, a chunked body is as good as one with a Content-Length.
    let res = api
        .client
        .post(api.url(&format!("/api/polls/{poll}/votes")))
        .header("x-livepoll-voter", &voter)
        .header("content-type", "application/json")
        .body(reqwest::Body::wrap_stream(futures::stream::iter([Ok::<
            _,
            std::io::Error,
        >(
            bytes::Bytes::from(json!({"choice": 1}).to_string()),
        )])))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    api.wait_results(&poll, |r| r["counts"] == json!([0, 1]))
        .await;
}
