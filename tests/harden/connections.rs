//! Nothing holds a connection for free: idle and slow connections are closed, SSE streams are
//! not, and one address cannot take every socket.

use std::time::Duration;

use futures::StreamExt;
use livepoll::http::server::ConnLimits;
use reqwest::StatusCode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

use super::{host_port, read_answer};
use crate::helpers::*;

fn short_limits() -> ConnLimits {
    ConnLimits {
        header_read_timeout: Duration::from_secs(3),
        idle_timeout: Duration::from_secs(3),
        ..ConnLimits::default()
    }
}

/// True once the server closed the connection (EOF or reset) within `within`.
async fn closed_within(s: &mut TcpStream, within: Duration) -> bool {
    let mut buf = [0u8; 1024];
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match tokio::time::timeout_at(deadline, s.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => {}
        }
    }
}

#[tokio::test]
async fn idle_and_slow_connections_are_closed_while_clients_and_sse_are_served() {
    let app = spawn_app_with_limits(short_limits()).await;
    let addr = host_port(&app);

    // No client-side timeout: the stream must be able to outlive every server timeout.
    let fresh = reqwest::Client::new();
    let mut sse = fresh
        .get(app.url("/api/events"))
        .send()
        .await
        .unwrap()
        .bytes_stream();
    let mut idle = Vec::new();
    for _ in 0..500 {
        idle.push(TcpStream::connect(&addr).await.unwrap());
    }
    // A slow header: one byte every half second, never finishing.
    let mut slow = TcpStream::connect(&addr).await.unwrap();
    slow.write_all(b"GET /api/polls HTTP/1.1\r\n")
        .await
        .unwrap();
    let trickle = tokio::spawn(async move {
        let mut closed = false;
        for _ in 0..40 {
            if slow.write_all(b"x").await.is_err() {
                closed = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        closed || closed_within(&mut slow, Duration::from_millis(100)).await
    });

    // A normal client is served while the 500 are held open.
    for _ in 0..3 {
        let res = fresh.get(app.url("/api/polls")).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
    }

    let mut still_open = 0;
    for s in &mut idle {
        if !closed_within(s, Duration::from_secs(15)).await {
            still_open += 1;
        }
    }
    assert_eq!(
        still_open, 0,
        "idle connections still open after the timeout"
    );
    assert!(
        trickle.await.unwrap(),
        "the slow-header connection was not closed"
    );

    // The SSE stream outlived the idle timeout: it still delivers what happens now.
    let id = app.open_poll(single(2)).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    let mut seen = String::new();
    while !seen.contains(&id) {
        let chunk = tokio::time::timeout_at(deadline, sse.next())
            .await
            .expect("the SSE stream delivers the new poll")
            .expect("the SSE stream is still open")
            .unwrap();
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    let res = fresh.get(app.url("/api/polls")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
}

/// A connection from `127.0.0.2` (another client address on this machine's loopback).
async fn connect_from_other_address(addr: &str) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.2:0".parse().unwrap()).unwrap();
    socket.connect(addr.parse().unwrap()).await.unwrap()
}

async fn get_polls_on(s: &mut TcpStream) -> u16 {
    s.write_all(b"GET /api/polls HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        .await
        .unwrap();
    read_answer(s, Duration::from_secs(10)).await.0
}

#[tokio::test]
async fn one_client_address_cannot_hold_more_than_its_share_of_connections() {
    let limits = ConnLimits {
        max_per_client: 20,
        header_read_timeout: Duration::from_secs(60),
        idle_timeout: Duration::from_secs(60),
        ..ConnLimits::default()
    };
    let app = spawn_app_with_limits(limits).await;
    let addr = host_port(&app);
    let mut held = Vec::new();
    for _ in 0..20 {
        held.push(connect_from_other_address(&addr).await);
    }
    // The 21st is answered 429 without being read, and closed.
    let mut extra = connect_from_other_address(&addr).await;
    let (status, body) = read_answer(&mut extra, Duration::from_secs(10)).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (429, Some("rate_limited"))
    );
    assert!(closed_within(&mut extra, Duration::from_secs(5)).await);

    // The held ones are being served, and so is everyone else.
    assert_eq!(get_polls_on(&mut held.pop().unwrap()).await, 200);
    let res = reqwest::get(app.url("/api/polls")).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);

    // Once some close, the address gets connections again.
    held.truncate(10);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let mut s = connect_from_other_address(&addr).await;
        if get_polls_on(&mut s).await == 200 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the cap never freed"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
