//! How ballots become tallies, and how a tally is shown as CONTRACT.md "Results".
//!
//! A tally is kept per poll incarnation and round. Replacing a voter's ballot removes the old
//! one and adds the new one, so a tally always equals the sum of the current ballots.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::poll::{Kind, PollDef};
use super::vote::Ballot;

/// Counts for one poll round. Indexes are option indexes, or rating value − 1.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tally {
    pub voters: u64,
    pub counts: Vec<u64>,
    /// Word counts by [`word_key`] (case-insensitive).
    pub words: HashMap<String, u64>,
    /// How each word was spelled, by key: the most common spelling is the one shown.
    #[serde(default)]
    pub forms: HashMap<String, HashMap<String, u64>>,
}

/// Words that differ only in case count as one ("Rust", "rust").
pub fn word_key(text: &str) -> String {
    text.to_lowercase()
}

impl Tally {
    /// Applies a voter's new ballot, replacing `previous` if the voter had one.
    pub fn replace(&mut self, previous: Option<&Ballot>, new: &Ballot) {
        match previous {
            Some(old) => self.adjust(old, false),
            None => self.voters += 1,
        }
        self.adjust(new, true);
    }

    fn adjust(&mut self, ballot: &Ballot, add: bool) {
        let mut bump = |i: usize| {
            if self.counts.len() <= i {
                self.counts.resize(i + 1, 0);
            }
            if add {
                self.counts[i] += 1;
            } else {
                self.counts[i] = self.counts[i].saturating_sub(1);
            }
        };
        match ballot {
            Ballot::Choices(cs) => cs.iter().for_each(|&c| bump(c as usize)),
            Ballot::Rating(r) => bump(r.saturating_sub(1) as usize),
            Ballot::Text(_) | Ballot::Words(_) => {
                for t in ballot.words() {
                    self.adjust_word(t, add);
                }
            }
        }
    }

    fn adjust_word(&mut self, t: &str, add: bool) {
        let key = word_key(t);
        if add {
            *self.words.entry(key.clone()).or_insert(0) += 1;
            *self
                .forms
                .entry(key)
                .or_default()
                .entry(t.to_string())
                .or_insert(0) += 1;
        } else {
            if let Some(n) = self.words.get_mut(&key) {
                *n -= 1;
                if *n == 0 {
                    self.words.remove(&key);
                }
            }
            if let Some(forms) = self.forms.get_mut(&key) {
                if let Some(n) = forms.get_mut(t) {
                    *n -= 1;
                    if *n == 0 {
                        forms.remove(t);
                    }
                }
                if forms.is_empty() {
                    self.forms.remove(&key);
                }
            }
        }
    }

    /// The results object for a poll of this definition.
    pub fn results(&self, poll: &str, round: u32, def: &PollDef) -> Results {
        let mut counts = vec![0; def.buckets()];
        for (c, n) in counts.iter_mut().zip(&self.counts) {
            *c = *n;
        }
        let mean = (def.kind == Kind::Rating).then(|| {
            let n: u64 = counts.iter().sum();
            let sum: u64 = counts
                .iter()
                .enumerate()
                .map(|(i, c)| (i as u64 + 1) * c)
                .sum();
            if n == 0 {
                0.0
            } else {
                ((sum as f64 / n as f64) * 100.0).round() / 100.0
            }
        });
        let words = (def.kind == Kind::Wordcloud).then(|| self.top_words(100));
        Results {
            poll: poll.to_string(),
            round,
            voters: self.voters,
            counts: (def.kind != Kind::Wordcloud).then_some(counts),
            mean,
            words,
            correct: (def.kind == Kind::Quiz)
                .then(|| def.correct.clone())
                .flatten(),
            hidden_words: None,
            pending_words: None,
            blocked_words: None,
        }
    }

    /// The `limit` most frequent words, most frequent first, ties alphabetical; each in its
    /// most common spelling (ties: the one that sorts first, so every node shows the same).
    pub fn top_words(&self, limit: usize) -> Vec<(String, u64)> {
        let mut w: Vec<(&String, u64)> = self.words.iter().map(|(k, v)| (k, *v)).collect();
        w.sort_unstable_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
        w.truncate(limit);
        w.into_iter()
            .map(|(key, n)| (self.spelling(key), n))
            .collect()
    }

    fn spelling(&self, key: &str) -> String {
        self.forms
            .get(key)
            .and_then(|forms| {
                forms
                    .iter()
                    .max_by(|a, b| a.1.cmp(b.1).then_with(|| b.0.cmp(a.0)))
                    .map(|(form, _)| form.clone())
            })
            .unwrap_or_else(|| key.to_string())
    }
}

/// CONTRACT.md "Results".
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Results {
    pub poll: String,
    pub round: u32,
    pub voters: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub counts: Option<Vec<u64>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mean: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub words: Option<Vec<(String, u64)>>,
    /// Quiz only: the right options (results of a quiz reach attendees once it closed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correct: Option<Vec<u16>>,
    /// Word cloud, organisers only: words hidden by an organiser, with their counts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hidden_words: Option<Vec<(String, u64)>>,
    /// Word cloud, organisers only: words waiting for approval.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending_words: Option<Vec<(String, u64)>>,
    /// Word cloud, organisers only: blocked words dropped from display.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blocked_words: Option<Vec<(String, u64)>>,
}

impl Results {
    /// Only how many have answered: what everyone may see of results hidden from them.
    pub fn count_only(&self) -> Results {
        Results {
            poll: self.poll.clone(),
            round: self.round,
            voters: self.voters,
            counts: None,
            mean: None,
            words: None,
            correct: None,
            hidden_words: None,
            pending_words: None,
            blocked_words: None,
        }
    }

    /// Without what only organisers see: the results attendees and the projector get.
    pub fn for_audience(&self) -> Results {
        Results {
            hidden_words: None,
            pending_words: None,
            blocked_words: None,
            ..self.clone()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn def(kind: Kind, options: usize, scale: Option<u8>) -> PollDef {
        PollDef {
            kind,
            options: (0..options).map(|i| i.to_string()).collect(),
            scale,
            ..PollDef::for_test()
        }
    }

    #[test]
    fn a_second_ballot_replaces_the_first() {
        let mut t = Tally::default();
        t.replace(None, &Ballot::Choices(vec![0]));
        t.replace(None, &Ballot::Choices(vec![0]));
        t.replace(Some(&Ballot::Choices(vec![0])), &Ballot::Choices(vec![2]));
        let r = t.results("p", 1, &def(Kind::Single, 3, None));
        assert_eq!(r.counts, Some(vec![1, 0, 1]));
        assert_eq!(r.voters, 2);
    }

    #[test]
    fn rating_results_have_counts_per_value_and_the_mean() {
        let mut t = Tally::default();
        for r in [1, 4, 4] {
            t.replace(None, &Ballot::Rating(r));
        }
        let r = t.results("p", 1, &def(Kind::Rating, 0, Some(5)));
        assert_eq!(r.counts, Some(vec![1, 0, 0, 2, 0]));
        assert_eq!(r.mean, Some(3.0));
    }

    #[test]
    fn a_word_is_counted_whatever_its_case_and_shown_as_most_people_spelled_it() {
        let mut t = Tally::default();
        for w in ["São Paulo", "são paulo", "São Paulo", "Rust", "rust"] {
            t.replace(None, &Ballot::Text(w.into()));
        }
        assert_eq!(
            t.top_words(10),
            vec![("São Paulo".to_string(), 3), ("Rust".to_string(), 2)]
        );
        t.replace(
            Some(&Ballot::Text("São Paulo".into())),
            &Ballot::Text("SÃO PAULO".into()),
        );
        t.replace(
            Some(&Ballot::Text("São Paulo".into())),
            &Ballot::Text("SÃO PAULO".into()),
        );
        assert_eq!(t.top_words(1), vec![("SÃO PAULO".to_string(), 3)]);
    }

    #[test]
    fn words_are_ranked_and_a_replaced_word_disappears() {
        let mut t = Tally::default();
        t.replace(None, &Ballot::Text("go".into()));
        t.replace(None, &Ballot::Text("rust".into()));
        t.replace(None, &Ballot::Text("rust".into()));
        t.replace(
            Some(&Ballot::Text("go".into())),
            &Ballot::Text("zig".into()),
        );
        let r = t.results("p", 1, &def(Kind::Wordcloud, 0, None));
        assert_eq!(r.words, Some(vec![("rust".into(), 2), ("zig".into(), 1)]));
        assert_eq!(r.counts, None);
        assert_eq!(r.voters, 3);
    }
}
