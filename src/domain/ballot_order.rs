//! Which of a voter's ballots in a poll round stands, whatever order the log is read in.
//!
//! A voter's ballots normally share a partition (the key is the voter), but once the votes
//! topic gains partitions a voter's key maps to another one, and the two partitions are read in
//! no fixed order: "the last one read wins" gave one result live and another after a rebuild.
//! So every ballot carries a [`Stamp`] from the node that accepted it (that node's clock, which
//! never goes backwards and strictly increases per node, see [`crate::clock`], and the node's
//! id to break ties), and the stamps decide:
//! - a poll ballot replaces the standing one only if its stamp is greater (the latest wins);
//! - a quiz answer is final: the one with the smallest stamp stands (the first wins).
//!
//! Records written before stamps have none: an unstamped ballot ranks below every stamped one
//! and, among unstamped ones, the log order decides as it always did (see docs/kafka.md).

use serde::{Deserialize, Serialize};

/// When a node accepted a ballot: its clock's stamp (ms, strictly increasing on that node) and
/// the node's id. Ordered by stamp, then node id. On the wire: `[ms, "node"]`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Stamp(pub u64, pub String);

/// Whether a ballot stamped `new` replaces the standing one stamped `standing` (`None`: a
/// ballot from before stamps). A quiz answer replaces only a later-stamped one.
pub fn replaces(new: Option<&Stamp>, standing: Option<&Stamp>, quiz: bool) -> bool {
    match (new, standing, quiz) {
        (Some(n), Some(s), false) => n > s,
        (Some(n), Some(s), true) => n < s,
        // Stamped beats unstamped; between unstamped ballots the later in the log wins.
        (Some(_), None, false) | (None, None, false) => true,
        (None, Some(_), false) => false,
        // The first quiz answer in the log stays unless both carry stamps.
        (_, _, true) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::tally::Tally;
    use crate::domain::vote::Ballot;
    use std::collections::HashMap;

    type Ballots = Vec<(&'static str, Option<Stamp>, u16)>;

    /// Folds ballots in the given order as the store does: per voter, the standing ballot and
    /// its stamp; the tally follows every replacement.
    fn fold(order: &[&(&'static str, Option<Stamp>, u16)], quiz: bool) -> (Vec<u64>, u64) {
        let mut standing: HashMap<&str, (Option<Stamp>, Ballot)> = HashMap::new();
        let mut tally = Tally::default();
        for (voter, stamp, choice) in order {
            let ballot = Ballot::Choices(vec![*choice]);
            let previous = standing.get(voter);
            if previous.is_some_and(|(s, _)| !replaces(stamp.as_ref(), s.as_ref(), quiz)) {
                continue;
            }
            tally.replace(previous.map(|(_, b)| b), &ballot);
            standing.insert(voter, (stamp.clone(), ballot));
        }
        let mut counts = tally.counts.clone();
        counts.resize(3, 0);
        (counts, tally.voters)
    }

    fn permutations<T: Clone>(items: &[T]) -> Vec<Vec<T>> {
        if items.len() <= 1 {
            return vec![items.to_vec()];
        }
        let mut out = Vec::new();
        for i in 0..items.len() {
            let mut rest = items.to_vec();
            let first = rest.remove(i);
            for mut p in permutations(&rest) {
                p.insert(0, first.clone());
                out.push(p);
            }
        }
        out
    }

    fn ballots() -> Ballots {
        let s = |ms, node: &str| Some(Stamp(ms, node.into()));
        vec![
            ("ada", s(100, "a"), 0),
            ("ada", s(300, "b"), 1),
            ("ada", s(200, "a"), 2),
            ("bob", s(150, "b"), 2),
            ("bob", s(150, "a"), 0),
            ("cy", s(120, "a"), 1),
        ]
    }

    #[test]
    fn every_order_of_stamped_ballots_gives_the_same_tally() {
        let all = ballots();
        let refs: Vec<_> = all.iter().collect();
        for quiz in [false, true] {
            let results: std::collections::HashSet<_> = permutations(&refs)
                .iter()
                .map(|order| fold(order, quiz))
                .collect();
            assert_eq!(results.len(), 1, "quiz {quiz}: {results:?}");
            let (counts, voters) = results.into_iter().next().unwrap();
            assert_eq!(voters, 3);
            if quiz {
                // ada's first (100 → 0), bob's (150,"a") → 0, cy → 1.
                assert_eq!(counts, [2, 1, 0]);
            } else {
                // ada's latest (300 → 1), bob's (150,"b") → 2, cy → 1.
                assert_eq!(counts, [0, 2, 1]);
            }
        }
    }

    /// The issue's case: one voter's ballots in two partitions, read partition by partition
    /// in either order, or interleaved.
    #[test]
    fn two_partitions_read_in_any_interleaving_agree() {
        let s = |ms| Some(Stamp(ms, "a".into()));
        let old_partition = [("v", s(10), 0u16), ("v", s(30), 1)];
        let new_partition = [("v", s(20), 0u16), ("v", s(40), 2)];
        let mut results = std::collections::HashSet::new();
        // Every interleaving that keeps each partition's own order.
        for mask in 0u32..16 {
            if mask.count_ones() != 2 {
                continue;
            }
            let (mut i, mut j) = (0, 0);
            let mut order = Vec::new();
            for bit in 0..4 {
                if mask & (1 << bit) != 0 {
                    order.push(&old_partition[i]);
                    i += 1;
                } else {
                    order.push(&new_partition[j]);
                    j += 1;
                }
            }
            results.insert(fold(&order, false));
        }
        assert_eq!(
            results.into_iter().collect::<Vec<_>>(),
            [(vec![0, 0, 1], 1)]
        );
    }

    #[test]
    fn ballots_from_before_stamps_keep_the_log_order_and_lose_to_stamped_ones() {
        let stamped = Stamp(5, "a".into());
        assert!(
            replaces(None, None, false),
            "unstamped: the later in the log wins"
        );
        assert!(replaces(Some(&stamped), None, false));
        assert!(!replaces(None, Some(&stamped), false));
        assert!(
            !replaces(None, None, true),
            "the first quiz answer in the log stays"
        );
        assert!(!replaces(Some(&stamped), None, true));
        assert!(replaces(Some(&stamped), Some(&Stamp(6, "a".into())), true));
        assert!(
            !replaces(Some(&stamped), Some(&stamped), false),
            "a duplicate changes nothing"
        );
    }

    #[test]
    fn a_stamp_is_a_json_pair() {
        let s = Stamp(1_700_000_000_000, "node1".into());
        assert_eq!(
            serde_json::to_string(&s).unwrap(),
            r#"[1700000000000,"node1"]"#
        );
        assert!(Stamp(1, "b".into()) > Stamp(1, "a".into()));
        assert!(Stamp(2, "a".into()) > Stamp(1, "b".into()));
    }
}
