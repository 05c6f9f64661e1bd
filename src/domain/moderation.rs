//! Moderation of what the audience types: words hidden or approved per poll, block-list entries
//! added live, what happens to a blocked word, and quiz players renamed or hidden. A pure fold
//! of `livepoll.polls` (the events in [`ModerationEvent`]), so every node, and a node rebuilt
//! from Kafka, moderates alike.
//!
//! Moderation never touches a tally: a hidden word stays counted and comes back when shown
//! again. It decides only what each results object carries (see [`WordRules::sort`]).

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::blocklist::{BlockList, fold};
use super::poll::{Kind, PollDef};
use super::tally::{Results, Tally, word_key};

/// What happens to a word (or question, or name) on the block list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BlockedMode {
    /// Held as pending: an organiser may approve it.
    #[default]
    Hold,
    /// Dropped from display (organisers still see it, marked blocked).
    Drop,
}

/// A word cloud's moderation (`"moderation"` in its definition).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WordModeration {
    /// Words show at once (unless blocked or hidden).
    #[default]
    Post,
    /// Words show only once approved.
    Pre,
}

/// The moderation events of `livepoll.polls` (see docs/kafka.md).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ModerationEvent {
    /// Hides a word (every spelling the tally groups with it) of a poll, in every round.
    WordHidden { poll: String, word: String },
    /// Shows a hidden word again.
    WordShown { poll: String, word: String },
    /// Lets a word of a poll through pre-moderation and the block list.
    WordApproved { poll: String, word: String },
    /// Adds an entry to the event's block list.
    WordBlocked { word: String },
    /// Removes an entry added live (the `--block-words` file is config and stays).
    WordUnblocked { word: String },
    /// What a blocked text does.
    ModerationSettings { blocked: BlockedMode },
    /// Shows a quiz player under another name (empty: their own name again).
    PlayerRenamed { voter: String, name: String },
    /// Hides a quiz player from the leaderboard, or shows them again.
    PlayerHidden { voter: String, hidden: bool },
}

impl ModerationEvent {
    /// The poll this event is about, if it is about one.
    pub fn poll(&self) -> Option<&str> {
        match self {
            ModerationEvent::WordHidden { poll, .. }
            | ModerationEvent::WordShown { poll, .. }
            | ModerationEvent::WordApproved { poll, .. } => Some(poll),
            _ => None,
        }
    }
}

/// Hidden and approved words of one poll, by [`word_key`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PollWords {
    pub hidden: BTreeSet<String>,
    pub approved: BTreeSet<String>,
}

/// An organiser's decision about a quiz player.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlayerModeration {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default)]
    pub hidden: bool,
}

/// The moderation state of the event.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Moderation {
    /// By poll id.
    #[serde(default)]
    pub words: BTreeMap<String, PollWords>,
    /// Block-list entries added live, [`fold`]ed.
    #[serde(default)]
    pub blocked: BTreeSet<String>,
    #[serde(default)]
    pub blocked_mode: BlockedMode,
    /// By voter id.
    #[serde(default)]
    pub players: BTreeMap<String, PlayerModeration>,
}

impl Moderation {
    /// Applies one event; applying it twice changes nothing.
    pub fn apply(&mut self, e: &ModerationEvent) {
        match e {
            ModerationEvent::WordHidden { poll, word } => {
                self.poll_mut(poll).hidden.insert(word_key(word));
            }
            ModerationEvent::WordShown { poll, word } => {
                self.poll_mut(poll).hidden.remove(&word_key(word));
            }
            ModerationEvent::WordApproved { poll, word } => {
                let w = self.poll_mut(poll);
                w.approved.insert(word_key(word));
            }
            ModerationEvent::WordBlocked { word } => {
                let f = fold(word.trim());
                if !f.is_empty() {
                    self.blocked.insert(f);
                }
            }
            ModerationEvent::WordUnblocked { word } => {
                self.blocked.remove(&fold(word.trim()));
            }
            ModerationEvent::ModerationSettings { blocked } => self.blocked_mode = *blocked,
            ModerationEvent::PlayerRenamed { voter, name } => {
                let p = self.players.entry(voter.clone()).or_default();
                p.name = Some(name.trim().to_string()).filter(|n| !n.is_empty());
            }
            ModerationEvent::PlayerHidden { voter, hidden } => {
                self.players.entry(voter.clone()).or_default().hidden = *hidden;
            }
        }
    }

    /// Forgets a deleted poll's words, so a new poll with its id starts clean.
    pub fn forget_poll(&mut self, poll: &str) {
        self.words.remove(poll);
    }

    fn poll_mut(&mut self, poll: &str) -> &mut PollWords {
        self.words.entry(poll.to_string()).or_default()
    }
}

/// Where a word stands for the audience.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WordStatus {
    Shown,
    /// Hidden by an organiser.
    Hidden,
    /// Waiting for approval (pre-moderation, or blocked with [`BlockedMode::Hold`]).
    Pending,
    /// On the block list with [`BlockedMode::Drop`].
    Blocked,
}

/// Words of a results object sorted by what the audience may see.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SortedWords {
    pub shown: Vec<(String, u64)>,
    pub hidden: Vec<(String, u64)>,
    pub pending: Vec<(String, u64)>,
    pub blocked: Vec<(String, u64)>,
}

/// The moderation state and the configured block list, together: what decides a text's fate.
#[derive(Debug, Clone, Copy)]
pub struct WordRules<'a> {
    pub moderation: &'a Moderation,
    pub block: &'a BlockList,
}

impl WordRules<'_> {
    /// Whether a text (a question, a name) is on the block list.
    pub fn blocks(&self, text: &str) -> bool {
        self.block.blocks(text, &self.moderation.blocked)
    }

    /// The name a quiz player is shown under (an organiser's rename, else their own unless it
    /// is blocked, then their generated name), written into `name`; true if an organiser hid
    /// them.
    pub fn moderate_player(&self, voter: &str, name: &mut String) -> bool {
        let decided = self.moderation.players.get(voter);
        if let Some(renamed) = decided.and_then(|p| p.name.as_ref()) {
            name.clone_from(renamed);
        } else if self.blocks(name) {
            *name = super::quiz::generated_name(voter);
        }
        decided.is_some_and(|p| p.hidden)
    }

    /// Where `word` of poll `poll` stands: hidden beats approved, approved beats the block list
    /// and pre-moderation.
    pub fn status(&self, poll: &str, def: &PollDef, word: &str) -> WordStatus {
        let key = word_key(word);
        let words = self.moderation.words.get(poll);
        if words.is_some_and(|w| w.hidden.contains(&key)) {
            return WordStatus::Hidden;
        }
        if words.is_some_and(|w| w.approved.contains(&key)) {
            return WordStatus::Shown;
        }
        if self.blocks(word) {
            return match self.moderation.blocked_mode {
                BlockedMode::Hold => WordStatus::Pending,
                BlockedMode::Drop => WordStatus::Blocked,
            };
        }
        if def.moderation == Some(WordModeration::Pre) {
            return WordStatus::Pending;
        }
        WordStatus::Shown
    }

    /// Sorts ranked words (most frequent first) by status, keeping their order.
    pub fn sort(&self, poll: &str, def: &PollDef, ranked: Vec<(String, u64)>) -> SortedWords {
        let mut out = SortedWords::default();
        for (word, n) in ranked {
            let list = match self.status(poll, def, &word) {
                WordStatus::Shown => &mut out.shown,
                WordStatus::Hidden => &mut out.hidden,
                WordStatus::Pending => &mut out.pending,
                WordStatus::Blocked => &mut out.blocked,
            };
            list.push((word, n));
        }
        out
    }
}

/// How many words a results object shows at most.
pub const SHOWN_WORDS: usize = 100;

/// The results of a poll round with its words moderated: `words` holds only what the audience
/// may see (top [`SHOWN_WORDS`]); the organisers' lists are filled too (strip them with
/// [`Results::for_audience`]). Other kinds are returned as the tally gives them.
pub fn moderated_results(
    tally: &Tally,
    poll: &str,
    round: u32,
    def: &PollDef,
    rules: WordRules<'_>,
) -> Results {
    let mut results = tally.results(poll, round, def);
    if def.kind != Kind::Wordcloud {
        return results;
    }
    let mut sorted = rules.sort(poll, def, tally.top_words(usize::MAX));
    sorted.shown.truncate(SHOWN_WORDS);
    results.words = Some(sorted.shown);
    results.hidden_words = Some(sorted.hidden);
    results.pending_words = Some(sorted.pending);
    results.blocked_words = Some(sorted.blocked);
    results
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cloud(moderation: Option<WordModeration>) -> PollDef {
        PollDef {
            kind: Kind::Wordcloud,
            options: vec![],
            moderation,
            ..PollDef::for_test()
        }
    }

    fn ranked(words: &[(&str, u64)]) -> Vec<(String, u64)> {
        words.iter().map(|(w, n)| (w.to_string(), *n)).collect()
    }

    #[test]
    fn a_hidden_word_hides_every_spelling_and_shows_again() {
        let mut m = Moderation::default();
        let hide = ModerationEvent::WordHidden {
            poll: "p".into(),
            word: "IDIOTS".into(),
        };
        m.apply(&hide);
        m.apply(&hide);
        let block = BlockList::default();
        let rules = WordRules {
            moderation: &m,
            block: &block,
        };
        let s = rules.sort("p", &cloud(None), ranked(&[("Idiots", 2), ("rust", 1)]));
        assert_eq!(s.shown, ranked(&[("rust", 1)]));
        assert_eq!(s.hidden, ranked(&[("Idiots", 2)]));
        let other = rules.sort("q", &cloud(None), ranked(&[("Idiots", 2)]));
        assert_eq!(other.shown.len(), 1, "hiding is per poll");
        m.apply(&ModerationEvent::WordShown {
            poll: "p".into(),
            word: "idiots".into(),
        });
        let rules = WordRules {
            moderation: &m,
            block: &block,
        };
        assert_eq!(rules.status("p", &cloud(None), "idiots"), WordStatus::Shown);
    }

    #[test]
    fn blocked_and_pre_moderated_words_wait_for_approval() {
        let mut m = Moderation::default();
        let block = BlockList::from_lines("zorblax", false);
        let pre = cloud(Some(WordModeration::Pre));
        let post = cloud(None);
        let status = |m: &Moderation, def: &PollDef, w: &str| {
            WordRules {
                moderation: m,
                block: &block,
            }
            .status("p", def, w)
        };
        assert_eq!(status(&m, &post, "Zorblax"), WordStatus::Pending);
        assert_eq!(status(&m, &pre, "rust"), WordStatus::Pending);
        assert_eq!(status(&m, &post, "rust"), WordStatus::Shown);
        m.apply(&ModerationEvent::ModerationSettings {
            blocked: BlockedMode::Drop,
        });
        assert_eq!(status(&m, &post, "zorblax"), WordStatus::Blocked);
        m.apply(&ModerationEvent::WordBlocked {
            word: "Blürg".into(),
        });
        assert_eq!(status(&m, &post, "blurg"), WordStatus::Blocked);
        for w in ["rust", "zorblax"] {
            m.apply(&ModerationEvent::WordApproved {
                poll: "p".into(),
                word: w.into(),
            });
        }
        assert_eq!(status(&m, &pre, "RUST"), WordStatus::Shown, "approved");
        assert_eq!(status(&m, &post, "zorblax"), WordStatus::Shown);
        m.apply(&ModerationEvent::WordHidden {
            poll: "p".into(),
            word: "rust".into(),
        });
        assert_eq!(status(&m, &pre, "rust"), WordStatus::Hidden, "hiding wins");
        m.apply(&ModerationEvent::WordUnblocked {
            word: "blurg".into(),
        });
        assert_eq!(status(&m, &post, "blurg"), WordStatus::Shown);
        m.forget_poll("p");
        assert_eq!(status(&m, &pre, "rust"), WordStatus::Pending);
    }

    #[test]
    fn the_wire_format_names_each_event() {
        let e = ModerationEvent::WordHidden {
            poll: "p".into(),
            word: "x".into(),
        };
        let json = serde_json::to_string(&e).unwrap();
        assert_eq!(json, r#"{"type":"word_hidden","poll":"p","word":"x"}"#);
        let s = r#"{"type":"moderation_settings","blocked":"drop"}"#;
        assert_eq!(
            serde_json::from_str::<ModerationEvent>(s).unwrap(),
            ModerationEvent::ModerationSettings {
                blocked: BlockedMode::Drop
            }
        );
    }
}
