//! The node's clock: wall-clock milliseconds that never go backwards and never jump.
//!
//! Times in the log (when a poll opened or closed, when a quiz question started and an answer
//! was accepted) are read from here. The wall clock is read once, at start; after that time
//! advances with the monotonic clock, so an NTP step or a hand-set clock neither makes a later
//! quiz answer worth more, nor closes a round before it opened, nor closes timed polls early.
//! The rule for several nodes (clocks in sync at start) is in docs/cluster.md.
//!
//! Time is an input: [`Clock::manual`] gives tests a clock they drive (including wall-clock
//! steps, which it ignores like the real one).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// What the clock is built on: a wall clock and a monotonic one.
trait Source: Send + Sync {
    /// Wall-clock ms since the Unix epoch (may step either way).
    fn wall_ms(&self) -> u64;
    /// Time elapsed on a clock that only goes forward.
    fn monotonic(&self) -> Duration;
}

struct System(Instant);

impl Source for System {
    fn wall_ms(&self) -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0)
    }
    fn monotonic(&self) -> Duration {
        self.0.elapsed()
    }
}

/// A source driven by hand: `wall` may be stepped, `elapsed` only advances.
#[derive(Default)]
struct Manual {
    wall: AtomicU64,
    elapsed: Mutex<Duration>,
}

impl Source for Manual {
    fn wall_ms(&self) -> u64 {
        self.wall.load(Ordering::SeqCst)
    }
    fn monotonic(&self) -> Duration {
        *self.elapsed.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A node's clock (cheap to clone; clones share it).
#[derive(Clone)]
pub struct Clock {
    source: Arc<dyn Source>,
    manual: Option<Arc<Manual>>,
    /// Wall-clock ms at start, and the monotonic reading then.
    base_ms: u64,
    base_mono: Duration,
    /// The last stamp handed out ([`Clock::stamp`]).
    last_stamp: Arc<AtomicU64>,
}

impl Clock {
    fn on(source: Arc<dyn Source>, manual: Option<Arc<Manual>>) -> Clock {
        Clock {
            base_ms: source.wall_ms(),
            base_mono: source.monotonic(),
            source,
            manual,
            last_stamp: Arc::new(AtomicU64::new(0)),
        }
    }

    /// The process's clock, started on first use.
    pub fn system() -> &'static Clock {
        static CLOCK: OnceLock<Clock> = OnceLock::new();
        CLOCK.get_or_init(|| Clock::on(Arc::new(System(Instant::now())), None))
    }

    /// A clock for tests, starting at `wall_ms`, moved by [`Clock::advance`] and
    /// [`Clock::step_wall`].
    pub fn manual(wall_ms: u64) -> Clock {
        let m = Arc::new(Manual::default());
        m.wall.store(wall_ms, Ordering::SeqCst);
        Clock::on(m.clone(), Some(m))
    }

    /// Lets `ms` pass (manual clocks only; no effect on the system clock).
    pub fn advance(&self, ms: u64) {
        if let Some(m) = &self.manual {
            *m.elapsed.lock().unwrap_or_else(PoisonError::into_inner) += Duration::from_millis(ms);
            m.wall.fetch_add(ms, Ordering::SeqCst);
        }
    }

    /// Steps the wall clock by `delta` ms without time passing, as NTP or an admin can
    /// (manual clocks only).
    pub fn step_wall(&self, delta: i64) {
        if let Some(m) = &self.manual {
            let wall = m.wall.load(Ordering::SeqCst).saturating_add_signed(delta);
            m.wall.store(wall, Ordering::SeqCst);
        }
    }

    /// Milliseconds since the Unix epoch: the wall clock at start plus the monotonic time
    /// since. Never goes backwards; unaffected by wall-clock steps.
    pub fn now_ms(&self) -> u64 {
        let since = self.source.monotonic().saturating_sub(self.base_mono);
        self.base_ms.saturating_add(since.as_millis() as u64)
    }

    /// How far the wall clock has moved away from this clock (ms, positive if ahead): a
    /// step since start. Reported in the log at most; nothing follows it.
    pub fn wall_drift_ms(&self) -> i64 {
        self.source.wall_ms() as i64 - self.now_ms() as i64
    }

    /// A stamp for a ballot accepted now: `max(now, last + 1)`, so this node's stamps strictly
    /// increase even within one millisecond.
    pub fn stamp(&self) -> u64 {
        let now = self.now_ms();
        let mut last = self.last_stamp.load(Ordering::SeqCst);
        loop {
            let next = now.max(last + 1);
            match self.last_stamp.compare_exchange_weak(
                last,
                next,
                Ordering::SeqCst,
                Ordering::SeqCst,
            ) {
                Ok(_) => return next,
                Err(seen) => last = seen,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::poll::{PollDef, PollRecord};
    use crate::domain::quiz::QuizStamp;

    #[test]
    fn a_wall_clock_step_moves_neither_now_nor_stamps() {
        let c = Clock::manual(1_700_000_000_000);
        c.advance(500);
        assert_eq!(c.now_ms(), 1_700_000_000_500);
        c.step_wall(-3_600_000);
        assert_eq!(c.now_ms(), 1_700_000_000_500, "a step back is ignored");
        assert_eq!(c.wall_drift_ms(), -3_600_000);
        c.step_wall(7_200_000);
        c.advance(10);
        assert_eq!(c.now_ms(), 1_700_000_000_510, "a step forward is ignored");
        let a = c.stamp();
        let b = c.stamp();
        let d = c.stamp();
        assert!(
            a < b && b < d,
            "stamps strictly increase within a millisecond"
        );
    }

    /// The two symptoms: after a step back a later answer scored more, and a round
    /// closed before it opened; after a step forward timed polls closed at once.
    #[test]
    fn quiz_scores_and_round_times_follow_the_clock_not_the_wall_clock() {
        let c = Clock::manual(1_700_000_000_000);
        let stamp = QuizStamp {
            started_at: c.now_ms(),
            duration_secs: 20,
            points: 1000,
            correct: vec![0],
            epoch: 0,
        };
        let def = PollDef {
            duration_secs: Some(20),
            ..PollDef::for_test()
        };
        let mut poll = PollRecord::new("p".into(), 0, def, c.now_ms());
        poll.open(c.now_ms(), true);
        c.advance(2_000);
        let early = stamp.score(&[0], c.now_ms());
        c.step_wall(-60_000);
        c.advance(2_000);
        let late = stamp.score(&[0], c.now_ms());
        assert!(early.points > late.points, "{early:?} {late:?}");
        c.step_wall(3_600_000);
        assert!(
            poll.accepts_votes(c.now_ms()),
            "a step forward closes nothing"
        );
        poll.close(c.now_ms());
        let round = &poll.rounds[0];
        assert!(round.closed_at.unwrap() >= round.opened_at.unwrap());
    }
}
