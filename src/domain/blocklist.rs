//! The block list: words and phrases that must never reach a screen (word-cloud answers, Q&A
//! text, quiz names). Entries match whole words, ignoring case and accents ("Idiöt" matches the
//! entry "idiot", "idiotic" does not), and a phrase matches its words in a row.
//!
//! The list is the `--block-words` file (config: every node of a deployment needs the same
//! file), the entries an organiser adds live (events in `livepoll.polls`, see
//! [`super::moderation`]), and, when `--profanity-filter` is on, an English profanity filter
//! that also sees through leetspeak (the `rustrict` crate). No word list ships with livepoll.

use std::collections::{BTreeSet, HashSet};
use std::path::Path;

use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

/// Lower case without accents: what block-list matching compares.
pub fn fold(text: &str) -> String {
    text.nfkd()
        .filter(|c| !is_combining_mark(*c))
        .flat_map(char::to_lowercase)
        .collect()
}

/// The folded words of `text`: runs of letters and digits.
pub fn words(text: &str) -> Vec<String> {
    fold(text)
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_string)
        .collect()
}

/// The configured part of the block list (the file and the profanity filter).
#[derive(Debug, Clone, Default)]
pub struct BlockList {
    single: HashSet<String>,
    phrases: Vec<Vec<String>>,
    profanity: bool,
}

impl BlockList {
    /// Entries one a line; blank lines and lines starting with `#` are skipped.
    pub fn from_lines(text: &str, profanity: bool) -> BlockList {
        let mut list = BlockList {
            profanity,
            ..BlockList::default()
        };
        for line in text.lines().map(str::trim) {
            if !line.is_empty() && !line.starts_with('#') {
                list.add(line);
            }
        }
        list
    }

    /// Reads a `--block-words` file.
    pub fn from_file(path: &Path, profanity: bool) -> std::io::Result<BlockList> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
        Ok(BlockList::from_lines(&text, profanity))
    }

    fn add(&mut self, entry: &str) {
        match words(entry).as_slice() {
            [] => {}
            [one] => {
                self.single.insert(one.clone());
            }
            many => self.phrases.push(many.to_vec()),
        }
    }

    /// How many entries the file gave.
    pub fn len(&self) -> usize {
        self.single.len() + self.phrases.len()
    }

    /// Whether the profanity filter is on.
    pub fn profanity(&self) -> bool {
        self.profanity
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0 && !self.profanity
    }

    /// Whether `text` holds a blocked word or phrase: one of this list, one of `live` (entries
    /// added during the event, as [`fold`]ed text), or profanity if the filter is on.
    pub fn blocks(&self, text: &str, live: &BTreeSet<String>) -> bool {
        let ws = words(text);
        if ws.iter().any(|w| self.single.contains(w)) {
            return true;
        }
        let has_phrase = |phrase: &[String]| {
            !phrase.is_empty() && ws.windows(phrase.len()).any(|win| win == phrase)
        };
        if self.phrases.iter().any(|p| has_phrase(p)) {
            return true;
        }
        if live.iter().any(|entry| has_phrase(&words(entry))) {
            return true;
        }
        self.profanity && rustrict::CensorStr::is_inappropriate(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_match_whole_words_whatever_the_case_and_accents() {
        let list = BlockList::from_lines("# made-up words\nzorblax\n\nquux frob\nÉtoile\n", false);
        assert_eq!(list.len(), 3);
        let none = BTreeSet::new();
        for blocked in [
            "zorblax",
            "ZORBLAX",
            "Zörblax",
            "you zorblax!",
            "quux  frob",
            "etoile",
        ] {
            assert!(list.blocks(blocked, &none), "{blocked}");
        }
        for fine in ["zorblaxes", "quux", "frob quux", "toile", "rust"] {
            assert!(!list.blocks(fine, &none), "{fine}");
        }
        let live: BTreeSet<String> = [fold("Blurg")].into();
        assert!(list.blocks("so blurg", &live));
        assert!(!list.blocks("blurgs", &live));
    }

    #[test]
    fn the_profanity_filter_is_opt_in() {
        let none = BTreeSet::new();
        let on = BlockList::from_lines("", true);
        let off = BlockList::from_lines("", false);
        assert!(on.blocks("sh1t", &none), "leetspeak");
        assert!(!off.blocks("sh1t", &none));
        assert!(!on.blocks("rust", &none));
    }
}
