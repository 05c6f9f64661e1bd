//! `livepoll doctor` while the event runs: a `serve` holds the data dir, so its port, its data
//! dir and its broker are in use by design. Instead of reporting them as faults, doctor finds
//! that serve (it notes where it listens in `serve.json`, next to its lock) and checks it: its
//! `/healthz`, the broker through it, and the join URL from this machine.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::Check;

/// Where a running serve listens, written by it at start (`DATA_DIR/serve.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunningServe {
    /// The address it listens on.
    pub addr: SocketAddr,
    /// The join URL it gives attendees.
    pub join_url: String,
    pub pid: u32,
}

fn note_path(dir: &Path) -> PathBuf {
    dir.join("serve.json")
}

/// Called by `serve` once it listens: notes where, for `doctor`. A failure only costs doctor
/// this knowledge, so it is logged, not fatal.
pub fn note(dir: &Path, addr: SocketAddr, join_url: &str) {
    let note = RunningServe {
        addr,
        join_url: join_url.to_string(),
        pid: std::process::id(),
    };
    let json = serde_json::to_vec_pretty(&note).expect("note serialises");
    if let Err(e) = std::fs::write(note_path(dir), json) {
        tracing::warn!("cannot write {}: {e}", note_path(dir).display());
    }
}

/// The serve that holds `dir` now (its lock is taken), if any.
pub fn find(dir: &Path) -> Option<RunningServe> {
    let lock = std::fs::File::open(dir.join("serve.lock")).ok()?;
    if lock.try_lock().is_ok() {
        return None;
    }
    let text = std::fs::read(note_path(dir)).ok()?;
    serde_json::from_slice(&text).ok()
}

/// The address to reach a serve at from this machine (a wildcard bind answers on loopback).
fn local_url(addr: SocketAddr) -> String {
    let ip = match addr.ip() {
        std::net::IpAddr::V4(v4) if v4.is_unspecified() => "127.0.0.1".to_string(),
        std::net::IpAddr::V6(v6) if v6.is_unspecified() => "[::1]".to_string(),
        std::net::IpAddr::V6(v6) => format!("[{v6}]"),
        ip => ip.to_string(),
    };
    format!("http://{ip}:{}", addr.port())
}

/// Checks a running serve: that it answers, that Kafka is fine through it, and that its join URL
/// reaches it from this machine.
pub async fn check(dir: &Path, serve: &RunningServe) -> Vec<Check> {
    let mut checks = vec![Check::pass(format!(
        "a livepoll serve (pid {}) is running on the data dir {}, listening on {}",
        serve.pid,
        dir.display(),
        serve.addr
    ))];
    let client = match reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            checks.push(Check::fail(
                format!("cannot make an HTTP client: {e}"),
                "run doctor again",
            ));
            return checks;
        }
    };
    let health_url = format!("{}/healthz", local_url(serve.addr));
    let health = async {
        let r = client.get(&health_url).send().await?;
        let status = r.status();
        let body: serde_json::Value = r.json().await?;
        anyhow::Ok((status, body))
    }
    .await;
    let node = match health {
        Ok((status, body)) if status.is_success() => {
            checks.push(Check::pass(format!("{health_url} answers: ok")));
            checks.push(Check::pass(format!(
                "Kafka answers the serve ({})",
                body["kafka"].as_str().unwrap_or("broker")
            )));
            body["node"].as_str().map(str::to_string)
        }
        Ok((status, body)) => {
            let why = body["message"]
                .as_str()
                .or(body["status"].as_str())
                .unwrap_or("no reason given")
                .to_string();
            checks.push(Check::fail(
                format!("{health_url} answers {status}: {why}"),
                "read the serve's log; docs/troubleshooting.md explains each reason",
            ));
            body["node"].as_str().map(str::to_string)
        }
        Err(e) => {
            checks.push(Check::fail(
                format!("the serve does not answer at {health_url}: {e}"),
                "it may hang or be stopping: read its log, restart it if needed",
            ));
            return checks;
        }
    };
    let join = format!("{}/healthz", serve.join_url.trim_end_matches('/'));
    checks.push(match client.get(&join).send().await {
        Ok(r) => {
            let body: serde_json::Value = r.json().await.unwrap_or_default();
            let same = node.is_none() || body["node"].as_str() == node.as_deref();
            if same {
                Check::pass(format!("the join URL {} reaches the serve", serve.join_url))
            } else {
                Check::fail(
                    format!(
                        "the join URL {} reaches another livepoll node ({})",
                        serve.join_url,
                        body["node"].as_str().unwrap_or("unknown")
                    ),
                    "fine behind a load balancer; otherwise check --public-url",
                )
            }
        }
        Err(e) => Check::fail(
            format!(
                "the join URL {} does not answer from here: {e}",
                serve.join_url
            ),
            "check --public-url, the address and the firewall (docs/troubleshooting.md)",
        ),
    });
    checks
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wildcard_bind_is_reached_on_loopback() {
        assert_eq!(
            local_url("0.0.0.0:8080".parse().unwrap()),
            "http://127.0.0.1:8080"
        );
        assert_eq!(
            local_url("192.168.1.5:80".parse().unwrap()),
            "http://192.168.1.5:80"
        );
        assert_eq!(local_url("[::]:81".parse().unwrap()), "http://[::1]:81");
    }

    #[test]
    fn no_serve_is_found_without_a_held_lock() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(find(dir.path()), None);
        note(dir.path(), "127.0.0.1:1".parse().unwrap(), "http://x");
        std::fs::write(dir.path().join("serve.lock"), "").unwrap();
        assert_eq!(find(dir.path()), None, "the lock is free: nobody runs");
        let held = std::fs::File::open(dir.path().join("serve.lock")).unwrap();
        held.lock().unwrap();
        let found = find(dir.path()).expect("a held lock and a note");
        assert_eq!(found.join_url, "http://x");
    }
}
