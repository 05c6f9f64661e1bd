//! Text that people type (word-cloud answers, poll questions and options) reaches a projector:
//! characters that are invisible or that silently reorder what is shown must not survive, or two
//! words that look the same count apart and a question can display something else than it says.
//! Emoji and every script stay as typed.

/// Removes invisible and direction-changing characters and control characters other than `\n`
/// and `\t`; variation selectors stay only right after the character they modify. The zero-width joiner and non-joiner are kept where they do visible work: inside an
/// emoji sequence (👩‍💻, 🏳️‍🌈) and between letters of scripts that shape with them (Arabic,
/// Persian, the Indic scripts, Sinhala, Myanmar, Khmer); elsewhere they are removed.
pub fn strip_invisible(raw: &str) -> String {
    let kept: Vec<char> = raw.chars().filter(|&c| !always_invisible(c)).collect();
    let mut out = String::with_capacity(raw.len());
    for (i, &c) in kept.iter().enumerate() {
        let prev = i.checked_sub(1).map(|j| kept[j]);
        let next = kept.get(i + 1).copied();
        let keep = match c {
            ZWJ | ZWNJ => joiner_does_work(c, prev, next),
            // Tag characters only spell subdivision flags (🏴 followed by tags).
            '\u{E0020}'..='\u{E007F}' => {
                matches!(prev, Some('\u{1F3F4}' | '\u{E0020}'..='\u{E007F}'))
            }
            // Variation selectors choose how the character before them is drawn.
            c if is_variation_selector(c) => {
                prev.is_some_and(|p| !p.is_whitespace() && !is_variation_selector(p))
            }
            // Mongolian variation selectors and vowel separator shape Mongolian letters.
            '\u{180B}'..='\u{180F}' => matches!(prev, Some('\u{1820}'..='\u{18AF}')),
            _ => true,
        };
        if keep {
            out.push(c);
        }
    }
    out
}

/// [`strip_invisible`] over a poll's question and options, in place.
pub fn clean_texts(question: &mut String, options: &mut [String]) {
    for t in std::iter::once(question).chain(options) {
        *t = strip_invisible(t);
    }
}

const ZWNJ: char = '\u{200C}';
const ZWJ: char = '\u{200D}';

/// Characters that never show anything on their own and are never needed to show text right.
fn always_invisible(c: char) -> bool {
    match c {
        '\n' | '\t' => false,
        c if c.is_control() => true,
        '\u{00AD}'                      // soft hyphen
        | '\u{034F}'                    // combining grapheme joiner
        | '\u{061C}'                    // Arabic letter mark (bidi)
        | '\u{115F}' | '\u{1160}'       // Hangul fillers
        | '\u{17B4}' | '\u{17B5}'       // Khmer inherent vowels (invisible)
        | '\u{200B}'                    // zero-width space
        | '\u{200E}' | '\u{200F}'       // left-to-right and right-to-left marks
        | '\u{2028}' | '\u{2029}'       // line and paragraph separators
        | '\u{202A}'..='\u{202E}'       // bidi embeddings and overrides
        | '\u{2060}'..='\u{206F}'       // word joiner, invisible operators, bidi isolates
        | '\u{3164}'                    // Hangul filler
        | '\u{FEFF}'                    // zero-width no-break space (BOM)
        | '\u{FFA0}'                    // halfwidth Hangul filler
        | '\u{FFF9}'..='\u{FFFB}'       // interlinear annotation
        | '\u{1D173}'..='\u{1D17A}'     // musical formatting
        | '\u{E0001}' => true,           // language tag
        _ => false,
    }
}

fn is_variation_selector(c: char) -> bool {
    matches!(c, '\u{FE00}'..='\u{FE0F}' | '\u{E0100}'..='\u{E01EF}')
}

/// ZWJ inside an emoji sequence, or ZWJ/ZWNJ between two letters (or a letter and a virama)
/// of a script that shapes with joiners.
fn joiner_does_work(c: char, prev: Option<char>, next: Option<char>) -> bool {
    let (Some(p), Some(n)) = (prev, next) else {
        return false;
    };
    (c == ZWJ && is_emoji_part(p) && is_emoji(n)) || (joining_script(p) && joining_script(n))
}

/// A character that can end the part of an emoji sequence before a ZWJ: the emoji itself, its
/// skin-tone modifier, or the emoji-style variation selector.
fn is_emoji_part(c: char) -> bool {
    is_emoji(c) || matches!(c, '\u{1F3FB}'..='\u{1F3FF}' | '\u{FE0F}')
}

/// Pictographic characters (an approximation of Unicode's Extended_Pictographic property that
/// covers every emoji that takes part in ZWJ sequences).
fn is_emoji(c: char) -> bool {
    matches!(c,
        '\u{00A9}' | '\u{00AE}' | '\u{203C}' | '\u{2049}' | '\u{2122}' | '\u{2139}'
        | '\u{2194}'..='\u{21AA}'
        | '\u{231A}'..='\u{23FF}'
        | '\u{24C2}'
        | '\u{25AA}'..='\u{25FE}'
        | '\u{2600}'..='\u{27BF}'
        | '\u{2934}' | '\u{2935}'
        | '\u{2B05}'..='\u{2B55}'
        | '\u{3030}' | '\u{303D}' | '\u{3297}' | '\u{3299}'
        | '\u{1F000}'..='\u{1F3FA}'
        | '\u{1F400}'..='\u{1FAFF}')
}

/// Letters and marks of the scripts in which ZWJ and ZWNJ change how text is shaped.
fn joining_script(c: char) -> bool {
    matches!(c,
        '\u{0600}'..='\u{08FF}'     // Arabic, Syriac, Thaana, NKo, Samaritan, Mandaic, Arabic ext.
        | '\u{0900}'..='\u{0DFF}'   // Devanagari to Sinhala
        | '\u{0F00}'..='\u{0FFF}'   // Tibetan
        | '\u{1000}'..='\u{109F}'   // Myanmar
        | '\u{1780}'..='\u{17FF}'   // Khmer
        | '\u{1800}'..='\u{18AF}'   // Mongolian
        | '\u{A8E0}'..='\u{A8FF}'   // Devanagari extended
        | '\u{FB50}'..='\u{FDFF}'   // Arabic presentation forms A
        | '\u{FE70}'..='\u{FEFE}') // Arabic presentation forms B
        && !c.is_whitespace()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invisible_and_direction_changing_characters_are_removed() {
        assert_eq!(strip_invisible("ru\u{200B}st"), "rust");
        assert_eq!(strip_invisible("\u{202E}tsur\u{202C}"), "tsur");
        assert_eq!(strip_invisible("\u{FEFF}a\u{2066}b\u{2069}\u{200E}"), "ab");
        assert_eq!(strip_invisible("a\u{00AD}b\u{2060}c\u{180E}d"), "abcd");
        assert_eq!(strip_invisible("a\u{0007}b\u{0085}c"), "abc");
        assert_eq!(strip_invisible("line\nnext\tcell"), "line\nnext\tcell");
        // A joiner between Latin letters does nothing visible: it only splits a word in two.
        assert_eq!(strip_invisible("ru\u{200D}st"), "rust");
        assert_eq!(strip_invisible("ru\u{200C}st"), "rust");
        assert_eq!(strip_invisible("\u{200D}\u{200D}"), "");
    }

    #[test]
    fn emoji_and_every_script_are_kept() {
        for s in [
            "👩\u{200D}💻",                                             // woman technologist
            "👩🏽\u{200D}🚀",                                             // with a skin tone
            "🏳\u{FE0F}\u{200D}🌈",                                      // rainbow flag
            "👨\u{200D}👩\u{200D}👧\u{200D}👦",                         // family
            "❤\u{FE0F}\u{200D}🔥",                                      // heart on fire
            "🏴\u{E0067}\u{E0062}\u{E0065}\u{E006E}\u{E0067}\u{E007F}", // England
            "1\u{FE0F}\u{20E3}",                                        // keycap
            "می\u{200C}خواهم",                                          // Persian with ZWNJ
            "क्\u{200D}ष",                                               // Devanagari half form
            "ශ්\u{200D}රී",                                               // Sinhala
            "日本語 한국어 Ελληνικά עברית العربية ไทย",
            "Ünïcödé",
        ] {
            assert_eq!(strip_invisible(s), s, "{s:?}");
        }
    }

    #[test]
    fn joiners_at_the_edges_of_an_emoji_are_removed() {
        assert_eq!(strip_invisible("\u{200D}👩"), "👩");
        assert_eq!(strip_invisible("👩\u{200D}"), "👩");
        assert_eq!(strip_invisible("👩\u{200D}a"), "👩a");
        assert_eq!(strip_invisible("👩\u{200C}💻"), "👩💻");
        assert_eq!(strip_invisible("a\u{E0067}"), "a");
        assert_eq!(strip_invisible("\u{FE0F}a \u{FE0E}b"), "a b");
        assert_eq!(strip_invisible("a\u{180E}b"), "ab");
        assert_eq!(strip_invisible("ᠮᠣᠩᠭᠣᠯ\u{180B}"), "ᠮᠣᠩᠭᠣᠯ\u{180B}");
    }
}
