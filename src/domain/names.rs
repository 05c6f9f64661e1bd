//! Names on the leaderboard: each row belongs to one player, and no two rows look alike.
//!
//! Rows used to be told apart by display name, so a second "Ada" (or a Cyrillic "Аda", which
//! looks the same) took the real player's row on the projector. Rows are now keyed by a player
//! id, and names that look alike — compared by their Unicode confusable skeleton (UTS #39: "Аda"
//! and "Ada" share one), ignoring case — get a suffix in rank order: "Ada", "Ada (2)".

use std::collections::HashMap;

use sha2::{Digest, Sha256};

/// A stable, public id for a player: a hash of their voter id (which is never shown), enough
/// to key a leaderboard row.
pub fn player_id(voter: &str) -> String {
    let digest = Sha256::digest(format!("livepoll-player:{voter}").as_bytes());
    hex::encode(&digest[..8])
}

/// What two names are compared by: the confusable skeleton, lowercased.
fn look(name: &str) -> String {
    unicode_security::skeleton(&name.to_lowercase())
        .collect::<String>()
        .to_lowercase()
}

/// The names as shown, in the given (rank) order: the second and later of names that look alike
/// get " (2)", " (3)", …
pub fn distinct_names<'a>(names: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    let mut seen: HashMap<String, u32> = HashMap::new();
    names
        .into_iter()
        .map(|name| {
            let n = seen.entry(look(name)).or_default();
            *n += 1;
            if *n == 1 {
                name.to_string()
            } else {
                format!("{name} ({n})")
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_that_look_alike_get_a_suffix_in_rank_order() {
        // "Аda" starts with a Cyrillic А.
        let shown = distinct_names(["Ada", "Grace", "\u{410}da", "ada", "Linus"]);
        assert_eq!(shown, ["Ada", "Grace", "\u{410}da (2)", "ada (3)", "Linus"]);
    }

    #[test]
    fn a_player_id_is_stable_and_does_not_show_the_voter() {
        assert_eq!(player_id("v1"), player_id("v1"));
        assert_ne!(player_id("v1"), player_id("v2"));
        assert!(!player_id("voter-secret").contains("voter"));
        assert_eq!(player_id("v1").len(), 16);
    }
}
