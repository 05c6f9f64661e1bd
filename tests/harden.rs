//! Issue 10 "Harden": requests another page makes a browser send, connections held open,
//! malformed requests, CSV formula injection, damaged data dirs, invisible characters, and
//! the security headers. Everything runs against the real server and the real broker.

mod connections;
mod data_dir;
mod forgery;
mod malformed;
mod texts;

use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::Api;

/// `127.0.0.1:PORT` of a server.
pub fn host_port(api: &Api) -> String {
    api.base.trim_start_matches("http://").to_string()
}

/// Sends `request` as raw bytes on a new connection; with `close_write` the client then shuts
/// its write side (a body cut short). Returns the status and the JSON body of the answer.
pub async fn raw(api: &Api, request: &[u8], close_write: bool) -> (u16, Value) {
    let mut s = TcpStream::connect(host_port(api)).await.unwrap();
    s.write_all(request).await.unwrap();
    if close_write {
        s.shutdown().await.unwrap();
    }
    read_answer(&mut s, Duration::from_secs(30)).await
}

/// Reads one HTTP answer (the server closes the connection after it, or `Content-Length`
/// says where it ends).
pub async fn read_answer(s: &mut TcpStream, within: Duration) -> (u16, Value) {
    let mut buf = Vec::new();
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if let Some(answer) = parse_answer(&buf) {
            return answer;
        }
        let mut chunk = [0u8; 4096];
        let n = tokio::time::timeout_at(deadline, s.read(&mut chunk))
            .await
            .expect("an answer in time")
            .unwrap_or(0);
        if n == 0 {
            return parse_answer(&buf).unwrap_or_else(|| {
                panic!(
                    "connection closed before a whole answer: {:?}",
                    String::from_utf8_lossy(&buf)
                )
            });
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

fn parse_answer(buf: &[u8]) -> Option<(u16, Value)> {
    let text = std::str::from_utf8(buf).ok()?;
    let (head, body) = text.split_once("\r\n\r\n")?;
    let status = head.split(' ').nth(1)?.parse().ok()?;
    let len: usize = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse().ok())?
        })
        .unwrap_or(0);
    (body.len() >= len).then(|| {
        (
            status,
            serde_json::from_str(&body[..len]).unwrap_or(Value::Null),
        )
    })
}
