//! One audience question: its record, the limits on what people type, and how it is shown.

use serde::{Deserialize, Serialize};

use super::text::strip_invisible;

/// Question text: 1 to this many characters after trimming.
pub const TEXT_MAX: usize = 280;
/// Asker's name: at most this many characters (optional).
pub const NAME_MAX: usize = 40;
/// A voter may ask one question per this many milliseconds.
pub const ASK_INTERVAL_MS: u64 = 30_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum QState {
    Pending,
    Live,
    Answered,
    Hidden,
}

impl QState {
    pub fn as_str(self) -> &'static str {
        match self {
            QState::Pending => "pending",
            QState::Live => "live",
            QState::Answered => "answered",
            QState::Hidden => "hidden",
        }
    }
}

/// A question as stored; `asker` is the voter id and never leaves the server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Question {
    pub id: String,
    pub text: String,
    pub name: Option<String>,
    pub asker: String,
    pub state: QState,
    /// Pin stamp; the live question with the highest one is pinned.
    pub pinned: Option<u64>,
    pub upvotes: u64,
    /// When it was asked (ms since epoch).
    pub at: u64,
    pub answered_at: Option<u64>,
    pub deleted: bool,
}

/// A question as a client sees it (CONTRACT.md "Q&A").
#[derive(Debug, Serialize)]
pub struct QuestionView<'a> {
    pub id: &'a str,
    pub text: &'a str,
    pub name: Option<&'a str>,
    pub state: QState,
    pub pinned: bool,
    pub upvotes: u64,
    pub mine: bool,
    pub own: bool,
    pub at: u64,
}

impl<'a> QuestionView<'a> {
    pub fn new(q: &'a Question, pinned: bool, mine: bool, own: bool) -> Self {
        QuestionView {
            id: &q.id,
            text: &q.text,
            name: q.name.as_deref(),
            state: q.state,
            pinned,
            upvotes: q.upvotes,
            mine,
            own,
            at: q.at,
        }
    }
}

pub fn valid_text(text: &str) -> bool {
    let n = text.chars().count();
    (1..=TEXT_MAX).contains(&n)
}

pub fn valid_name(name: &str) -> bool {
    name.chars().count() <= NAME_MAX
}

/// What someone typed, made safe to store: invisible characters stripped, trimmed; the text
/// must then be 1–280 characters and the name at most 40 (an empty name is no name).
pub fn clean(text: &str, name: Option<&str>) -> Result<(String, Option<String>), String> {
    let text = strip_invisible(text).trim().to_string();
    if text.is_empty() {
        return Err("the question is empty".into());
    }
    if !valid_text(&text) {
        return Err(format!("a question has at most {TEXT_MAX} characters"));
    }
    let name = name
        .map(|n| strip_invisible(n).trim().to_string())
        .filter(|n| !n.is_empty());
    if name.as_deref().is_some_and(|n| !valid_name(n)) {
        return Err(format!("a name has at most {NAME_MAX} characters"));
    }
    Ok((text, name))
}

/// Question ids: `q` and 12 hex digits.
pub fn valid_id(id: &str) -> bool {
    id.len() == 13
        && id.starts_with('q')
        && id[1..]
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
}

pub fn new_id() -> String {
    format!("q{:012x}", rand::random::<u64>() & 0xffff_ffff_ffff)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qa_typed_text_is_trimmed_stripped_and_limited() {
        assert_eq!(
            clean("  Why\u{200B} Rust?  ", Some(" \u{202E}Ann ")).unwrap(),
            ("Why Rust?".to_string(), Some("Ann".to_string()))
        );
        assert_eq!(clean("ok", Some("  ")).unwrap().1, None);
        assert!(clean(" \u{200B} ", None).is_err());
        assert!(clean(&"é".repeat(280), None).is_ok());
        assert!(clean(&"é".repeat(281), None).is_err());
        assert!(clean("ok", Some(&"n".repeat(41))).is_err());
        assert!(clean("ok", Some(&"n".repeat(40))).is_ok());
    }

    #[test]
    fn qa_ids_are_generated_valid() {
        for _ in 0..100 {
            assert!(valid_id(&new_id()));
        }
        assert!(!valid_id("q../etc/pass") && !valid_id("Q0123456789ab"));
    }
}
