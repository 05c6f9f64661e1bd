//! Never out of descriptors: serve started from a shell with `ulimit -n 1024` raises its soft
//! limit to the hard one; with the hard limit at 1024 too, phones past its share get 503 busy
//! while votes, the console and /healthz keep answering.

use std::net::{Ipv4Addr, SocketAddr};
use std::os::unix::process::CommandExt;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

use crate::helpers::{ADMIN, ServeProcess, bin, child_serve_args, free_port, single};

const PHONES: usize = 5000;
/// Source addresses the phones connect from (250 each, under the per-address cap).
const SOURCES: u8 = 20;

/// `livepoll serve` started with the open-files limit set to `soft` (and `hard`, if given) in
/// the child, as `ulimit -n` / `ulimit -Hn` in the starting shell would.
fn serve_with_limit(dir: &std::path::Path, soft: u64, hard: Option<u64>) -> ServeProcess {
    let port = free_port();
    let bind = format!("127.0.0.1:{port}");
    let mut cmd = bin();
    cmd.arg("serve")
        .args(["--bind", &bind, "--admin-token", ADMIN])
        .args(child_serve_args(dir))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit());
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            let mut rl = libc::rlimit {
                rlim_cur: 0,
                rlim_max: 0,
            };
            libc::getrlimit(libc::RLIMIT_NOFILE, &mut rl);
            rl.rlim_cur = soft as libc::rlim_t;
            if let Some(h) = hard {
                rl.rlim_max = h as libc::rlim_t;
            }
            if libc::setrlimit(libc::RLIMIT_NOFILE, &rl) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    ServeProcess {
        child: cmd.spawn().unwrap(),
        base: format!("http://{bind}"),
    }
}

/// The open-files limit of a running process (soft, hard), from /proc/PID/limits.
fn limits_of(pid: u32) -> (u64, u64) {
    let text = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
    let line = text
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .unwrap();
    let n: Vec<u64> = line
        .split_whitespace()
        .filter_map(|w| w.parse().ok())
        .collect();
    (n[0], n[1])
}

/// One phone's stream: `Ok(stream)` once the server answered 200, `Err((status, body, head))`
/// for any other answer.
async fn open_stream(src: Ipv4Addr, server: SocketAddr) -> Result<TcpStream, (u16, Value, String)> {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(SocketAddr::new(src.into(), 0)).unwrap();
    let mut s = socket.connect(server).await.expect("connect");
    s.write_all(format!("GET /api/events HTTP/1.1\r\nhost: {server}\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut buf = Vec::new();
    loop {
        let mut b = [0u8; 2048];
        let n = tokio::time::timeout(Duration::from_secs(60), s.read(&mut b))
            .await
            .expect("an answer to a stream within 60 s")
            .unwrap_or(0);
        buf.extend_from_slice(&b[..n]);
        let text = String::from_utf8_lossy(&buf).to_string();
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let status: u16 = head.split(' ').nth(1).unwrap().parse().unwrap();
            if status == 200 {
                return Ok(s);
            }
            let len: Option<usize> = head.lines().find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.eq_ignore_ascii_case("content-length")
                    .then(|| v.trim().parse().ok())?
            });
            if len.is_some_and(|l| body.len() >= l) || n == 0 {
                let json = serde_json::from_str(body).unwrap_or(Value::Null);
                return Err((status, json, head.to_string()));
            }
        }
        assert!(n > 0, "closed without an answer: {text:?}");
    }
}

/// Opens [`PHONES`] streams from [`SOURCES`] addresses, 200 at a time; returns the open ones
/// and the refusals.
async fn phones(server: SocketAddr) -> (Vec<TcpStream>, Vec<(u16, Value, String)>) {
    let gate = Arc::new(tokio::sync::Semaphore::new(200));
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..PHONES {
        let src = Ipv4Addr::new(127, 0, 1, 1 + (i % SOURCES as usize) as u8);
        let permit = gate.clone().acquire_owned().await.unwrap();
        tasks.spawn(async move {
            let r = open_stream(src, server).await;
            drop(permit);
            r
        });
    }
    let (mut open, mut refused) = (Vec::new(), Vec::new());
    while let Some(r) = tasks.join_next().await {
        match r.unwrap() {
            Ok(s) => open.push(s),
            Err(e) => refused.push(e),
        }
    }
    (open, refused)
}

/// Votes, the console (its stream and a list) and /healthz all answer.
async fn everything_else_answers(serve: &ServeProcess, poll: &str, choice: usize) -> Value {
    let api = serve.api();
    let voter = api.session().await;
    assert_eq!(
        api.vote(&voter, poll, json!({ "choice": choice })).await,
        StatusCode::ACCEPTED
    );
    let list = api
        .as_admin(reqwest::Method::GET, "/api/polls")
        .send()
        .await
        .unwrap();
    assert_eq!(list.status(), StatusCode::OK);
    let console = api
        .as_admin(reqwest::Method::GET, "/api/events")
        .send()
        .await
        .unwrap();
    assert_eq!(console.status(), StatusCode::OK, "the console's stream");
    let health = api.client.get(api.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), StatusCode::OK);
    health.json().await.unwrap()
}

#[tokio::test]
async fn serve_started_with_ulimit_1024_raises_it_and_takes_5000_phones() {
    livepoll::descriptors::raise_limit().unwrap();
    let (_, hard) = livepoll::descriptors::current_limit().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let serve = serve_with_limit(dir.path(), 1024, None);
    serve.wait_healthy(60).await;
    let (soft, _) = limits_of(serve.child.id());
    assert_eq!(
        soft,
        hard.min(1 << 20),
        "serve raised its soft limit to the hard one"
    );
    let poll = serve.api().open_poll(single(2)).await;
    if soft < (PHONES + 1000) as u64 {
        eprintln!("skipped the 5,000 phones: this machine's hard limit is only {hard}");
        return;
    }
    let server: SocketAddr = serve.base.trim_start_matches("http://").parse().unwrap();
    let (open, refused) = phones(server).await;
    assert_eq!(
        open.len(),
        PHONES,
        "every phone got its stream: {:?}",
        refused.first()
    );
    let health = everything_else_answers(&serve, &poll, 0).await;
    assert_eq!(health["open_files"]["streams"], PHONES, "{health}");
    assert_eq!(health["warnings"], json!([]));
}

#[tokio::test]
async fn with_a_hard_limit_of_1024_phones_past_the_reserve_get_busy_and_the_rest_answers() {
    livepoll::descriptors::raise_limit().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let serve = serve_with_limit(dir.path(), 1024, Some(1024));
    serve.wait_healthy(60).await;
    assert_eq!(limits_of(serve.child.id()), (1024, 1024));
    let poll = serve.api().open_poll(single(2)).await;
    let server: SocketAddr = serve.base.trim_start_matches("http://").parse().unwrap();
    let (open, refused) = phones(server).await;
    assert_eq!(open.len() + refused.len(), PHONES);
    assert!(open.len() >= 500, "only {} phones got a stream", open.len());
    assert!(
        !refused.is_empty(),
        "1024 descriptors cannot hold {PHONES} streams"
    );
    for (status, body, head) in &refused {
        assert_eq!(*status, 503, "{body} {head}");
        assert_eq!(body["error"], "busy", "{body}");
        assert!(head.to_ascii_lowercase().contains("retry-after:"), "{head}");
    }
    // With every phone's place taken, votes, the console and /healthz still answer, and the
    // organiser is told.
    let health = everything_else_answers(&serve, &poll, 1).await;
    assert_eq!(health["open_files"]["streams"], open.len(), "{health}");
    let warning = health["warnings"][0].as_str().unwrap_or_default();
    assert!(warning.contains("turned away"), "{health}");
    serve
        .api()
        .wait_results(&poll, |r| r["counts"] == json!([0, 1]))
        .await;
    // Places come back when phones leave.
    drop(open);
    let api = serve.api();
    super::wait_for(30, "streams given back", || {
        let api = api.clone();
        async move {
            let h: Value = api
                .client
                .get(api.url("/healthz"))
                .send()
                .await
                .ok()?
                .json()
                .await
                .ok()?;
            (h["open_files"]["streams"] == 0).then_some(())
        }
    })
    .await;
    let again = open_stream(Ipv4Addr::new(127, 0, 1, 1), server).await;
    assert!(again.is_ok(), "a phone gets a stream again");
}
