//! Issue 23 "Nothing stops the event", the operational half: body limits whatever the transfer
//! encoding, open-file limits, broker supervision across restarts, full disks, the loopback
//! exemption, the admin cookie's lifetime and `livepoll kafka read`. Everything runs the real
//! binary or the real server against a real broker.

mod body_limits;
mod descriptors;
mod full_disk;
mod kafka_read;
mod supervision;

use std::time::Duration;

/// serve's resident memory in KiB (`VmRSS` in /proc/PID/status).
pub fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS in /proc/PID/status")
}

/// Waits up to `secs` for `f` to return `Some`; panics with `what` otherwise.
pub async fn wait_for<T, F: std::future::Future<Output = Option<T>>>(
    secs: u64,
    what: &str,
    mut f: impl FnMut() -> F,
) -> T {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what}: not within {secs} s"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
