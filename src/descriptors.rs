//! File descriptors: every phone's live stream holds one for as long as the page is open, and a
//! laptop as it comes allows a process 1,024 (`ulimit -n`). Left alone, a room of 1,000 phones
//! took them all: the rest of the phones hung, no vote could connect, and even the console and
//! the broker check failed with "Too many open files".
//!
//! So `serve` raises its soft limit to the hard one at start ([`raise_limit`]), and shares what
//! it has out in a [`Budget`]: a fixed reserve for the server itself (Kafka clients, the tally
//! database, the broker check), a quarter of the rest for short requests (votes, pages), and
//! the remainder for attendee streams. An attendee stream past its share gets 503
//! `{"error":"busy"}` with `Retry-After` (the pages retry later by themselves), and the
//! organiser sees a warning on `/healthz` and in the console, instead of everything hanging.
//! See docs/operations.md "Open files".

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Descriptors kept for the server itself: Kafka clients (a few sockets per broker), the tally
/// database, the broker check's scripts, logs.
pub const SERVER_RESERVE: usize = 128;
/// Descriptors a serve holds before any client connects (measured at start when possible).
pub const TYPICAL_BASELINE: usize = 64;
/// How long after the last refused stream `/healthz` and the console still warn.
const WARN_FOR: Duration = Duration::from_secs(60);
/// Seconds a refused stream is told to wait (the pages add their own jitter).
pub const BUSY_RETRY_SECS: u64 = 10;

/// The process's open-files limit, as found and as set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    /// The soft limit before `serve` raised it.
    pub was: u64,
    /// The soft limit now in effect.
    pub soft: u64,
    pub hard: u64,
}

/// The current `RLIMIT_NOFILE` (soft, hard).
pub fn current_limit() -> std::io::Result<(u64, u64)> {
    let mut rl = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct we pass and nothing else.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut rl) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok((rl.rlim_cur, rl.rlim_max))
}

/// Raises the soft open-files limit to the hard one (what an unprivileged process may do).
/// An unlimited hard limit is capped at 1,048,576 (the kernel's usual `nr_open`).
pub fn raise_limit() -> std::io::Result<Limit> {
    let (was, hard) = current_limit()?;
    let target = hard.min(1 << 20);
    if target > was {
        let rl = libc::rlimit {
            rlim_cur: target,
            rlim_max: hard,
        };
        // SAFETY: setrlimit reads the struct we pass; it only changes this process's limit.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &rl) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    let (soft, hard) = current_limit()?;
    Ok(Limit { was, soft, hard })
}

/// Descriptors this process holds now (`/proc/self/fd`), if the system says.
pub fn open_now() -> Option<usize> {
    Some(std::fs::read_dir("/proc/self/fd").ok()?.count())
}

/// Connections (all) and attendee streams a process with `limit` descriptors may hold, of
/// which `baseline` are in use before any client connects.
pub fn shares(limit: u64, baseline: usize) -> (usize, usize) {
    let usable = (limit as usize).saturating_sub(baseline + SERVER_RESERVE);
    (usable, usable - usable / 4)
}

/// How many phones a limit allows at once (each holds a stream), for `doctor`.
pub fn phones_allowed(limit: u64) -> usize {
    shares(limit, TYPICAL_BASELINE).1
}

/// `doctor`'s line: the limit, what `serve` raises it to, and how many phones that allows;
/// `Err((what, fix))` when that is under [`FEW_PHONES`].
pub fn doctor_summary() -> Result<String, (String, String)> {
    let (soft, hard) = current_limit().map_err(|e| {
        (
            format!("open files: cannot read the limit: {e}"),
            "check `ulimit -n`".to_string(),
        )
    })?;
    let hard = hard.min(1 << 20);
    let phones = phones_allowed(hard);
    let text = format!(
        "open files: limit {soft} (hard {hard}; serve raises it to {hard}): about {phones} phones at once"
    );
    if phones < FEW_PHONES {
        return Err((
            text,
            format!(
                "raise the hard limit for more: as root `ulimit -Hn 65536` in the shell that \
                 starts serve, LimitNOFILE=65536 in a systemd unit, or `nofile` in \
                 /etc/security/limits.conf; past {phones} phones get 503 busy and retry"
            ),
        ));
    }
    Ok(text)
}

/// Fewer phones than this at once is worth a failed `doctor` check.
pub const FEW_PHONES: usize = 500;

/// The shares of descriptors and what is held of each; cheap to clone.
#[derive(Clone)]
pub struct Budget(Arc<Inner>);

struct Inner {
    limit: u64,
    conn_max: usize,
    stream_max: usize,
    conns: AtomicUsize,
    streams: AtomicUsize,
    refused: AtomicU64,
    /// When a stream or connection was last refused, and when that was last logged.
    last_refused: Mutex<(Option<Instant>, Option<Instant>)>,
}

impl Budget {
    /// A budget for `limit` descriptors, `baseline` of them already held.
    pub fn new(limit: u64, baseline: usize) -> Self {
        let (conn_max, stream_max) = shares(limit, baseline);
        Budget(Arc::new(Inner {
            limit,
            conn_max,
            stream_max,
            conns: AtomicUsize::new(0),
            streams: AtomicUsize::new(0),
            refused: AtomicU64::new(0),
            last_refused: Mutex::new((None, None)),
        }))
    }

    /// The budget of this process: its current limit, less what it holds now.
    pub fn for_this_process() -> Self {
        let limit = current_limit().map(|l| l.0).unwrap_or(1024);
        Budget::new(limit, open_now().unwrap_or(TYPICAL_BASELINE))
    }

    /// A budget that never refuses (tests that do not exercise it).
    pub fn unlimited() -> Self {
        Budget::new(1 << 40, 0)
    }

    /// A place for one more connection; `extra` lets the organiser's own machine (127.0.0.1,
    /// ::1) dip into the server's reserve. `None` (counted, logged) when there is none.
    pub fn connection(&self, extra: usize) -> Option<Place> {
        self.take(&self.0.conns, self.0.conn_max + extra, "connection")
    }

    /// A place for one more attendee stream, or `None` (counted, logged).
    pub fn stream(&self) -> Option<Place> {
        self.take(&self.0.streams, self.0.stream_max, "attendee stream")
    }

    fn take(&self, count: &AtomicUsize, max: usize, what: &str) -> Option<Place> {
        let taken = count.fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
            (n < max).then_some(n + 1)
        });
        if taken.is_ok() {
            return Some(Place {
                budget: self.clone(),
                stream: std::ptr::eq(count, &self.0.streams),
            });
        }
        self.0.refused.fetch_add(1, Ordering::Relaxed);
        let mut last = self.0.last_refused.lock().expect("budget lock");
        last.0 = Some(Instant::now());
        if last
            .1
            .is_none_or(|t| t.elapsed() >= Duration::from_secs(10))
        {
            last.1 = Some(Instant::now());
            tracing::warn!(
                "open files: {max} {what}s are open, all this process's limit of {} descriptors \
                 allows beside its reserve; new ones get 503 busy (retry later). Raise the limit \
                 (ulimit -n, or LimitNOFILE= in a systemd unit) and restart serve to take more",
                self.0.limit
            );
        }
        None
    }

    /// What `/healthz` reports: the limit, the shares and what is held, refusals so far.
    pub fn report(&self) -> serde_json::Value {
        serde_json::json!({
            "limit": self.0.limit,
            "connections": self.0.conns.load(Ordering::Relaxed),
            "connections_max": self.0.conn_max,
            "streams": self.0.streams.load(Ordering::Relaxed),
            "streams_max": self.0.stream_max,
            "refused": self.0.refused.load(Ordering::Relaxed),
        })
    }

    /// The warning for the organiser while phones are being turned away (for a minute after
    /// the last refusal), else `None`.
    pub fn warning(&self) -> Option<String> {
        let last = self.0.last_refused.lock().expect("budget lock").0?;
        (last.elapsed() < WARN_FOR).then(|| {
            format!(
                "phones are being turned away: {} of {} live streams open (open-files limit {}); \
                 they retry by themselves, but raise `ulimit -n` and restart serve for more",
                self.0.streams.load(Ordering::Relaxed),
                self.0.stream_max,
                self.0.limit
            )
        })
    }
}

/// One held connection or stream; gives its place back when dropped.
pub struct Place {
    budget: Budget,
    stream: bool,
}

impl Drop for Place {
    fn drop(&mut self) {
        let count = if self.stream {
            &self.budget.0.streams
        } else {
            &self.budget.0.conns
        };
        count.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_stop_at_their_share_and_leave_room_for_votes_and_the_server() {
        let budget = Budget::new(1024, 40);
        let (conns, streams) = shares(1024, 40);
        assert_eq!(conns, 1024 - 40 - SERVER_RESERVE);
        assert!(streams < conns && streams > 600, "{streams}");
        let held: Vec<Place> = (0..streams).map(|_| budget.stream().unwrap()).collect();
        assert!(budget.stream().is_none());
        assert!(budget.warning().unwrap().contains("turned away"));
        assert_eq!(budget.report()["refused"], 1);
        drop(held);
        assert!(budget.stream().is_some(), "places come back");
        let c: Vec<Place> = (0..conns).map(|_| budget.connection(0).unwrap()).collect();
        assert!(budget.connection(0).is_none());
        assert!(
            budget.connection(16).is_some(),
            "this machine gets the reserve"
        );
        drop(c);
        assert_eq!(budget.report()["connections"], 0);
    }

    #[test]
    fn the_soft_limit_is_raised_to_the_hard_one() {
        let limit = raise_limit().unwrap();
        assert_eq!(limit.soft, limit.hard.min(1 << 20));
        assert!(limit.soft >= limit.was);
        assert_eq!(current_limit().unwrap().0, limit.soft);
        assert!(phones_allowed(1024) > 500 && phones_allowed(1024) < 1024);
    }
}
