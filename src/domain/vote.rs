//! What a valid vote is: turning a request body into a normalised [`Ballot`] for a given poll.

use serde::{Deserialize, Serialize};

use super::poll::{Kind, PollDef};
use super::text::strip_invisible;

/// The body of `POST /api/polls/{id}/votes`: exactly one of the fields, matching the poll kind.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VoteBody {
    pub choice: Option<i64>,
    pub choices: Option<Vec<i64>>,
    pub rating: Option<i64>,
    pub text: Option<String>,
    /// A word cloud with `max_words` above 1: up to that many words.
    pub words: Option<Vec<String>>,
}

/// A validated, normalised ballot; this is what goes into Kafka and into the tallies.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Ballot {
    /// Option indexes, sorted and distinct (single choice has exactly one).
    Choices(Vec<u16>),
    /// A rating from 1 to the poll's scale.
    Rating(u8),
    /// A normalised word or short phrase.
    Text(String),
    /// Several words of one voter (a word cloud with `max_words` above 1): normalised, at least
    /// two, none repeating another in the tally's grouping.
    Words(Vec<String>),
}

impl Ballot {
    /// The words of a word-cloud ballot.
    pub fn words(&self) -> &[String] {
        match self {
            Ballot::Text(t) => std::slice::from_ref(t),
            Ballot::Words(w) => w,
            _ => &[],
        }
    }
}

pub const MAX_TEXT_CHARS: usize = 40;

/// Normalises free text for a word cloud: trimmed, inner whitespace collapsed, case kept (the
/// tally groups words case-insensitively and shows the most common spelling), control
/// characters separating words, invisible and direction-changing characters removed
/// ([`strip_invisible`]). An error if nothing is left or it is too long.
pub fn normalise_text(raw: &str) -> Result<String, String> {
    let spaced: String = raw
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let cleaned = strip_invisible(&spaced);
    let words: Vec<&str> = cleaned.split_whitespace().collect();
    let joined = words.join(" ");
    let n = joined.chars().count();
    if n == 0 {
        return Err("text must not be empty".into());
    }
    if n > MAX_TEXT_CHARS {
        return Err(format!(
            "text must be at most {MAX_TEXT_CHARS} characters (got {n})"
        ));
    }
    Ok(joined)
}

impl VoteBody {
    /// Checks the body against the poll definition. The error is a 400 message.
    pub fn into_ballot(self, def: &PollDef) -> Result<Ballot, String> {
        let given = [
            self.choice.is_some(),
            self.choices.is_some(),
            self.rating.is_some(),
            self.text.is_some(),
            self.words.is_some(),
        ]
        .iter()
        .filter(|g| **g)
        .count();
        if given != 1 {
            return Err(format!(
                "{} expects {}",
                kind_name(def.kind),
                expected(def.kind)
            ));
        }
        let n = def.options.len() as i64;
        let index = |i: i64| -> Result<u16, String> {
            if (0..n).contains(&i) {
                Ok(i as u16)
            } else {
                Err(format!("choice {i} is out of range 0-{}", n - 1))
            }
        };
        match (def.kind, self) {
            (
                Kind::Single | Kind::Quiz,
                VoteBody {
                    choice: Some(c), ..
                },
            ) => Ok(Ballot::Choices(vec![index(c)?])),
            (
                Kind::Multiple,
                VoteBody {
                    choices: Some(cs), ..
                },
            ) => {
                let mut v = cs.into_iter().map(index).collect::<Result<Vec<_>, _>>()?;
                v.sort_unstable();
                let before = v.len();
                v.dedup();
                if v.len() != before {
                    return Err("choices must not repeat an option".into());
                }
                let max = def.max_choices.unwrap_or(n as u16) as usize;
                if v.is_empty() || v.len() > max {
                    return Err(format!("choose 1-{max} options (got {})", v.len()));
                }
                Ok(Ballot::Choices(v))
            }
            (
                Kind::Rating,
                VoteBody {
                    rating: Some(r), ..
                },
            ) => {
                let scale = def.scale.unwrap_or(5) as i64;
                if !(1..=scale).contains(&r) {
                    return Err(format!("rating must be 1-{scale} (got {r})"));
                }
                Ok(Ballot::Rating(r as u8))
            }
            (Kind::Wordcloud, VoteBody { text: Some(t), .. }) => {
                Ok(Ballot::Text(normalise_text(&t)?))
            }
            (
                Kind::Wordcloud,
                VoteBody {
                    words: Some(ws), ..
                },
            ) => several_words(ws, def.max_words.unwrap_or(1)),
            (kind, _) => Err(format!("{} expects {}", kind_name(kind), expected(kind))),
        }
    }
}

/// A ballot of up to `max` words: each normalised; a word repeated (in any case) counts once.
fn several_words(raw: Vec<String>, max: u8) -> Result<Ballot, String> {
    let mut words: Vec<String> = Vec::with_capacity(raw.len());
    for w in raw {
        let w = normalise_text(&w)?;
        let key = super::tally::word_key(&w);
        if !words.iter().any(|k| super::tally::word_key(k) == key) {
            words.push(w);
        }
    }
    if words.is_empty() {
        return Err("words must hold at least one word".into());
    }
    if words.len() > max as usize {
        return Err(if max == 1 {
            "this word cloud takes one word per person".to_string()
        } else {
            format!(
                "this word cloud takes at most {max} words per person (got {})",
                words.len()
            )
        });
    }
    Ok(match <[String; 1]>::try_from(words) {
        Ok([one]) => Ballot::Text(one),
        Err(words) => Ballot::Words(words),
    })
}

fn kind_name(kind: Kind) -> &'static str {
    match kind {
        Kind::Single => "a single-choice poll",
        Kind::Multiple => "a multiple-choice poll",
        Kind::Rating => "a rating poll",
        Kind::Wordcloud => "a wordcloud poll",
        Kind::Quiz => "a quiz question",
    }
}

fn expected(kind: Kind) -> &'static str {
    match kind {
        Kind::Single | Kind::Quiz => "{\"choice\": INDEX}",
        Kind::Multiple => "{\"choices\": [INDEX, ...]}",
        Kind::Rating => "{\"rating\": N}",
        Kind::Wordcloud => "{\"text\": \"...\"} or {\"words\": [\"...\", ...]}",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::poll::Visibility;

    fn def(kind: Kind) -> PollDef {
        PollDef {
            id: None,
            question: "Q".into(),
            kind,
            options: if matches!(kind, Kind::Single | Kind::Multiple) {
                vec!["a".into(), "b".into(), "c".into()]
            } else {
                vec![]
            },
            max_choices: (kind == Kind::Multiple).then_some(2),
            scale: (kind == Kind::Rating).then_some(5),
            visibility: Visibility::Always,
            duration_secs: None,
            labels: None,
            correct: None,
            points: None,
            moderation: None,
            max_words: None,
        }
    }

    fn body(json: &str) -> VoteBody {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn each_kind_accepts_its_own_body() {
        assert_eq!(
            body(r#"{"choice":2}"#).into_ballot(&def(Kind::Single)),
            Ok(Ballot::Choices(vec![2]))
        );
        assert_eq!(
            body(r#"{"choices":[2,0]}"#).into_ballot(&def(Kind::Multiple)),
            Ok(Ballot::Choices(vec![0, 2]))
        );
        assert_eq!(
            body(r#"{"rating":5}"#).into_ballot(&def(Kind::Rating)),
            Ok(Ballot::Rating(5))
        );
        assert_eq!(
            body(r#"{"text":"  Ünïcode\tRUST  "}"#).into_ballot(&def(Kind::Wordcloud)),
            Ok(Ballot::Text("Ünïcode RUST".into()))
        );
    }

    #[test]
    fn invalid_votes_say_what_is_wrong() {
        let e = |j: &str, k| body(j).into_ballot(&def(k)).unwrap_err();
        assert!(e(r#"{"choice":3}"#, Kind::Single).contains("out of range"));
        assert!(e(r#"{"choice":-1}"#, Kind::Single).contains("out of range"));
        assert!(e(r#"{"rating":3}"#, Kind::Single).contains("expects"));
        assert!(e(r#"{"choices":[0,1,2]}"#, Kind::Multiple).contains("1-2"));
        assert!(e(r#"{"choices":[]}"#, Kind::Multiple).contains("1-2"));
        assert!(e(r#"{"choices":[1,1]}"#, Kind::Multiple).contains("repeat"));
        assert!(e(r#"{"rating":0}"#, Kind::Rating).contains("1-5"));
        assert!(e(r#"{"text":"  "}"#, Kind::Wordcloud).contains("empty"));
        assert!(
            e(
                &format!(r#"{{"text":"{}"}}"#, "é".repeat(41)),
                Kind::Wordcloud
            )
            .contains("at most")
        );
        assert!(e(r#"{"choice":1,"rating":2}"#, Kind::Single).contains("expects"));
        assert!(serde_json::from_str::<VoteBody>(r#"{"choise":1}"#).is_err());
    }

    #[test]
    fn a_ballot_holds_up_to_max_words_each_once() {
        let cloud = PollDef {
            max_words: Some(3),
            ..def(Kind::Wordcloud)
        };
        let b = |j: &str| body(j).into_ballot(&cloud);
        assert_eq!(
            b(r#"{"words":["rust"," Go ","RUST","zig"]}"#),
            Ok(Ballot::Words(vec![
                "rust".into(),
                "Go".into(),
                "zig".into()
            ]))
        );
        assert_eq!(
            b(r#"{"words":["rust","Rust"]}"#),
            Ok(Ballot::Text("rust".into()))
        );
        assert_eq!(b(r#"{"text":"rust"}"#), Ok(Ballot::Text("rust".into())));
        let four = b(r#"{"words":["a","b","c","d"]}"#).unwrap_err();
        assert!(four.contains("at most 3 words"), "{four}");
        assert!(b(r#"{"words":[]}"#).unwrap_err().contains("at least one"));
        assert!(b(r#"{"words":["a"," "]}"#).unwrap_err().contains("empty"));
        let one = body(r#"{"words":["a","b"]}"#).into_ballot(&def(Kind::Wordcloud));
        assert!(one.unwrap_err().contains("one word"));
    }

    #[test]
    fn words_that_look_the_same_count_as_the_same() {
        let t = |j: &str| body(j).into_ballot(&def(Kind::Wordcloud));
        let rust = Ok(Ballot::Text("rust".into()));
        assert_eq!(t(r#"{"text":"ru\u200bst"}"#), rust);
        assert_eq!(
            t(r#"{"text":"\u202eRUST\u202c"}"#),
            Ok(Ballot::Text("RUST".into()))
        );
        assert_eq!(t(r#"{"text":"\ufeffrust\u2060"}"#), rust);
        assert!(
            t(r#"{"text":"\u200b\u200d\u202e"}"#)
                .unwrap_err()
                .contains("empty")
        );
        assert_eq!(
            t(r#"{"text":"👩‍💻 Ferris 🦀"}"#),
            Ok(Ballot::Text("👩\u{200d}💻 Ferris 🦀".into()))
        );
    }
}
