//! `serve --polls FILE`: preload poll definitions (TOML or JSON) as drafts, once.
//!
//! A definition without an id gets one derived from its question, so restarting with the same
//! file finds the polls it already created (even deleted ones) and adds nothing. Several nodes
//! may preload the same agenda at once: whichever `created` reaches the log first wins, and a
//! node that lost the race finds the poll there and goes on.

use std::path::Path;

use anyhow::Context;
use serde::Deserialize;
use sha2::Digest;

use crate::cli::ConfigError;
use crate::domain::poll::PollDef;
use crate::service::{self, ServiceError};
use crate::state::AppState;

#[derive(Deserialize)]
struct TomlAgenda {
    polls: Vec<PollDef>,
}

/// Parses an agenda: a JSON list of definitions, or TOML with `[[polls]]` tables.
pub fn parse(path: &Path, text: &str) -> Result<Vec<PollDef>, String> {
    let json = || serde_json::from_str::<Vec<PollDef>>(text).map_err(|e| e.to_string());
    let toml = || {
        toml::from_str::<TomlAgenda>(text)
            .map(|a| a.polls)
            .map_err(|e| e.to_string())
    };
    match path.extension().and_then(|e| e.to_str()) {
        Some("json") => json(),
        Some("toml") => toml(),
        _ => json().or_else(|_| toml()),
    }
}

/// A stable id for a definition that has none.
pub fn derived_id(question: &str) -> String {
    let slug: String = question
        .to_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect::<String>()
        .split('-')
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join("-");
    let slug: String = slug
        .chars()
        .take(30)
        .collect::<String>()
        .trim_end_matches('-')
        .to_string();
    let hash = hex::encode(&sha2::Sha256::digest(question.as_bytes())[..3]);
    if slug.is_empty() {
        format!("poll-{hash}")
    } else {
        format!("{slug}-{hash}")
    }
}

pub async fn preload(state: &AppState, path: &Path) -> anyhow::Result<()> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let defs = parse(path, &text).map_err(|e| ConfigError(format!("{}: {e}", path.display())))?;
    let mut created = 0;
    for (i, mut def) in defs.into_iter().enumerate() {
        let id = def
            .id
            .clone()
            .unwrap_or_else(|| derived_id(def.question.trim()));
        def.id = Some(id.clone());
        let def = def
            .validate()
            .map_err(|e| ConfigError(format!("{}: poll {} ({id}): {e}", path.display(), i + 1)))?;
        if state.polls().by_id.contains_key(&id) {
            continue;
        }
        match service::polls::create(state, def, None).await {
            Ok(_) => created += 1,
            // Another node created it meanwhile (the fold keeps the first `created`).
            Err(ServiceError::Conflict(_)) if state.polls().by_id.contains_key(&id) => {}
            Err(e) => return Err(anyhow::anyhow!("preloading poll {id}: {e}")),
        }
    }
    tracing::info!(
        "agenda {}: {created} new poll(s) preloaded as drafts",
        path.display()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn toml_and_json_agendas_parse_and_ids_are_stable() {
        let toml = "[[polls]]\nquestion = \"Favourite language?\"\nkind = \"single\"\noptions = [\"Rust\", \"Go\"]\n";
        let defs = parse(Path::new("a.toml"), toml).unwrap();
        assert_eq!(defs[0].options, vec!["Rust", "Go"]);
        let json = r#"[{"id":"x","question":"Q","kind":"rating","scale":4}]"#;
        assert_eq!(parse(Path::new("a.json"), json).unwrap()[0].scale, Some(4));
        assert_eq!(
            derived_id("Favourite language?"),
            derived_id("Favourite language?")
        );
        assert!(derived_id("Favourite language?").starts_with("favourite-language-"));
        assert!(crate::domain::poll::valid_id(&derived_id(
            "Ünïcode ??? only"
        )));
    }
}
