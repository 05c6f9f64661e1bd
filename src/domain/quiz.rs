//! Quiz rules: what a right answer is worth, how players are ranked, and the names they play
//! under. Pure functions: a score depends only on the vote record (its `at` and the
//! [`QuizStamp`] copied from the round it answered), so every node and every rebuild agrees.

use std::cmp::Ordering;

use serde::{Deserialize, Serialize};

use super::text::strip_invisible;

/// Points of a right answer when the quiz question does not say (`points`).
pub const DEFAULT_POINTS: u32 = 1000;
pub const MAX_POINTS: u32 = 100_000;
pub const MAX_NAME_CHARS: usize = 40;

/// What a quiz vote carries from the round it answers, so its score is a function of the vote
/// record alone: the consumer may apply the votes topic before or after the polls topic.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuizStamp {
    /// When the round's timer started (ms since the Unix epoch): the question went on air.
    pub started_at: u64,
    pub duration_secs: u64,
    pub points: u32,
    /// The right option indexes.
    pub correct: Vec<u16>,
    /// The leaderboard this answer counts in (resets so far when it was accepted).
    pub epoch: u32,
}

/// One scored answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Answer {
    pub correct: bool,
    pub points: u32,
    /// Time from the question's start to the answer's acceptance, in ms.
    pub ms: u64,
    pub epoch: u32,
}

impl QuizStamp {
    /// Scores the choices accepted at `at`: 0 if wrong; if right,
    /// `round(points × (1 − t / (2 × duration)))` with `t` clamped to `0..=duration`, so between
    /// points/2 and points. Integer arithmetic, half rounded up: the same on every machine.
    ///
    /// No input overflows or divides by zero: the arithmetic is in `u128`, where a duration of
    /// `u64::MAX` seconds still fits (the consumer also refuses such stamps, see
    /// [`super::record_checks::check_stamp`]).
    pub fn score(&self, choices: &[u16], at: u64) -> Answer {
        let duration = self.duration_secs.max(1) as u128 * 1000;
        let ms = at.saturating_sub(self.started_at);
        let t = (ms as u128).min(duration);
        let correct = !choices.is_empty() && choices.iter().all(|c| self.correct.contains(c));
        let points = if correct {
            let d2 = 2 * duration;
            let num = self.points as u128 * (d2 - t);
            u32::try_from((2 * num + d2) / (2 * d2)).unwrap_or(self.points)
        } else {
            0
        };
        Answer {
            correct,
            points,
            ms,
            epoch: self.epoch,
        }
    }
}

/// A player's totals in one leaderboard.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Totals {
    pub score: u64,
    pub correct: u32,
    pub answered: u32,
    /// Sum of the answer times of right answers (ms): the faster player lists first on a tie.
    pub ms: u64,
}

impl Totals {
    pub fn add(&mut self, a: &Answer) {
        self.score += a.points as u64;
        self.answered += 1;
        if a.correct {
            self.correct += 1;
            self.ms += a.ms;
        }
    }

    /// Takes an answer back out (an answer of a question still open is not shown yet).
    pub fn remove(&mut self, a: &Answer) {
        self.score = self.score.saturating_sub(a.points as u64);
        self.answered = self.answered.saturating_sub(1);
        if a.correct {
            self.correct = self.correct.saturating_sub(1);
            self.ms = self.ms.saturating_sub(a.ms);
        }
    }
}

/// A player on the leaderboard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Player {
    pub voter: String,
    pub name: String,
    pub totals: Totals,
}

/// Leaderboard order: higher score first; on equal scores the faster player (smaller total
/// time of right answers), then the name, then the voter id, so the order is total and the
/// same on every node.
pub fn board_order(a: &Player, b: &Player) -> Ordering {
    b.totals
        .score
        .cmp(&a.totals.score)
        .then(a.totals.ms.cmp(&b.totals.ms))
        .then_with(|| a.name.cmp(&b.name))
        .then_with(|| a.voter.cmp(&b.voter))
}

/// Sorts players into leaderboard order and gives each its rank: 1 + the number of players
/// with a higher score (equal scores share a rank: 1, 2, 2, 4).
pub fn rank(mut players: Vec<Player>) -> Vec<(u32, Player)> {
    players.sort_by(board_order);
    let mut out: Vec<(u32, Player)> = Vec::with_capacity(players.len());
    for (i, p) in players.into_iter().enumerate() {
        let r = match out.last() {
            Some((r, prev)) if prev.totals.score == p.totals.score => *r,
            _ => i as u32 + 1,
        };
        out.push((r, p));
    }
    out
}

/// Cleans a display name: invisible and control characters removed, whitespace collapsed,
/// 1–40 characters. The error is a 400 message.
pub fn clean_name(raw: &str) -> Result<String, String> {
    let spaced: String = raw
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let name = strip_invisible(&spaced)
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    let n = name.chars().count();
    if !(1..=MAX_NAME_CHARS).contains(&n) {
        return Err(format!(
            "name must be 1-{MAX_NAME_CHARS} characters (got {n})"
        ));
    }
    Ok(name)
}

const ADJECTIVES: [&str; 32] = [
    "Brave", "Calm", "Clever", "Cosmic", "Curious", "Daring", "Eager", "Fancy", "Fearless",
    "Gentle", "Happy", "Jolly", "Kind", "Lively", "Lucky", "Mighty", "Nimble", "Noble", "Plucky",
    "Quick", "Quiet", "Rapid", "Sharp", "Shiny", "Sleepy", "Sly", "Smart", "Snappy", "Sunny",
    "Swift", "Witty", "Zesty",
];
const ANIMALS: [&str; 32] = [
    "Badger", "Beaver", "Bison", "Camel", "Crane", "Dolphin", "Eagle", "Falcon", "Ferret", "Fox",
    "Gecko", "Heron", "Ibis", "Koala", "Lemur", "Lynx", "Marmot", "Moose", "Narwhal", "Otter",
    "Owl", "Panda", "Puffin", "Quokka", "Raven", "Seal", "Sloth", "Tapir", "Tiger", "Walrus",
    "Wombat", "Yak",
];

/// The name a voter plays under until they choose one: an adjective and an animal picked by a
/// hash of the voter id (FNV-1a and a final mix, stable across builds and machines).
pub fn generated_name(voter: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in voter.bytes() {
        h ^= b as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    // A final mix (from MurmurHash3), so ids that differ in one character differ everywhere.
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    let adjective = ADJECTIVES[(h % 32) as usize];
    let animal = ANIMALS[((h >> 32) % 32) as usize];
    format!("{adjective} {animal}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stamp() -> QuizStamp {
        QuizStamp {
            started_at: 10_000,
            duration_secs: 20,
            points: 1000,
            correct: vec![1, 3],
            epoch: 0,
        }
    }

    #[test]
    fn a_right_answer_is_worth_less_the_later_it_comes() {
        let s = stamp();
        assert_eq!(s.score(&[1], 10_000).points, 1000, "at once: full points");
        assert_eq!(s.score(&[3], 15_000).points, 875, "1000 × (1 − 5/40)");
        assert_eq!(s.score(&[1], 20_000).points, 750);
        assert_eq!(s.score(&[1], 30_000).points, 500, "at the end: half");
        assert_eq!(
            s.score(&[1], 99_000).points,
            500,
            "late records are clamped"
        );
        assert_eq!(s.score(&[1], 5_000).points, 1000, "clock skew is clamped");
        // 1000 × (1 − 1.001/40) = 974.975 → 975
        assert_eq!(s.score(&[1], 11_001).points, 975);
        let wrong = s.score(&[0], 10_500);
        assert_eq!((wrong.correct, wrong.points, wrong.ms), (false, 0, 500));
    }

    /// A stamp whose `duration × 1000` overflows `u64` (to 0, dividing by zero) once stopped
    /// the consumer for good.
    #[test]
    fn a_huge_duration_neither_overflows_nor_divides_by_zero() {
        let mut s = stamp();
        s.duration_secs = 2_305_843_009_213_693_952;
        assert_eq!(s.score(&[1], 10_000).points, 1000);
        s.duration_secs = u64::MAX;
        s.points = u32::MAX;
        let a = s.score(&[1], u64::MAX);
        assert!(a.points > u32::MAX / 2, "{a:?}");
    }

    #[test]
    fn odd_points_round_half_up() {
        let mut s = stamp();
        s.points = 1;
        s.duration_secs = 1;
        assert_eq!(s.score(&[1], 11_000).points, 1, "0.5 rounds up");
        s.points = 3;
        assert_eq!(s.score(&[1], 11_000).points, 2, "1.5 rounds up");
    }

    fn player(voter: &str, name: &str, score: u64, ms: u64) -> Player {
        Player {
            voter: voter.into(),
            name: name.into(),
            totals: Totals {
                score,
                correct: 1,
                answered: 1,
                ms,
            },
        }
    }

    #[test]
    fn equal_scores_share_a_rank_and_list_the_faster_then_by_name() {
        let ranked = rank(vec![
            player("v1", "Zed", 800, 4000),
            player("v2", "Amy", 900, 3000),
            player("v3", "Bob", 800, 4000),
            player("v4", "Cat", 800, 1000),
            player("v5", "Dan", 100, 0),
        ]);
        let got: Vec<(u32, &str)> = ranked.iter().map(|(r, p)| (*r, p.name.as_str())).collect();
        assert_eq!(
            got,
            [(1, "Amy"), (2, "Cat"), (2, "Bob"), (2, "Zed"), (5, "Dan")]
        );
    }

    #[test]
    fn names_are_cleaned_and_generated_ones_are_stable() {
        assert_eq!(
            clean_name("  Ada\u{200b}  Lovelace\n").unwrap(),
            "Ada Lovelace"
        );
        assert!(clean_name(" \u{202e} ").unwrap_err().contains("1-40"));
        assert!(clean_name(&"x".repeat(41)).is_err());
        let a = generated_name("voter-a");
        assert_eq!(a, generated_name("voter-a"));
        assert_eq!(a.split(' ').count(), 2);
        let distinct: std::collections::HashSet<String> =
            (0..200).map(|i| generated_name(&format!("v{i}"))).collect();
        assert!(distinct.len() > 100, "names vary: {}", distinct.len());
    }

    #[test]
    fn totals_add_and_take_back_an_answer() {
        let s = stamp();
        let mut t = Totals::default();
        let a = s.score(&[1], 12_000);
        t.add(&a);
        t.add(&s.score(&[0], 12_000));
        assert_eq!((t.score, t.correct, t.answered, t.ms), (950, 1, 2, 2000));
        t.remove(&a);
        assert_eq!((t.score, t.correct, t.answered, t.ms), (0, 0, 1, 0));
    }
}
