//! Exporting a poll's results: every round (but discarded ones), every option (or word), as
//! CSV or JSON.

use std::time::{Duration, UNIX_EPOCH};

use serde::Serialize;

use crate::domain::moderation::{WordRules, WordStatus};
use crate::domain::poll::{Kind, PollRecord};
use crate::store::{StoreError, TallyStore};

#[derive(Debug, Serialize)]
pub struct Report {
    pub poll: String,
    pub question: String,
    pub kind: Kind,
    pub rounds: Vec<RoundReport>,
    /// Rounds the organiser discarded (a rehearsal): left out of `rounds` and the CSV.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub discarded_rounds: Vec<u32>,
}

#[derive(Debug, Serialize)]
pub struct RoundReport {
    pub round: u32,
    pub opened_at: Option<String>,
    pub closed_at: Option<String>,
    pub voters: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mean: Option<f64>,
    pub rows: Vec<Row>,
}

#[derive(Debug, Serialize)]
pub struct Row {
    /// Option index, rating value, or rank of a word.
    pub index: usize,
    pub label: String,
    pub count: u64,
    /// Word clouds: `shown`, `hidden` (by an organiser), `pending` (waiting for approval) or
    /// `blocked` (block list, dropped). Hidden words stay counted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub moderation: Option<&'static str>,
}

fn rfc3339(ms: Option<u64>) -> Option<String> {
    ms.map(|ms| {
        humantime::format_rfc3339_millis(UNIX_EPOCH + Duration::from_millis(ms)).to_string()
    })
}

impl Report {
    /// Word clouds' words are marked as `rules` has them (see [`Row::moderation`]).
    pub fn build(
        store: &TallyStore,
        p: &PollRecord,
        rules: WordRules<'_>,
    ) -> Result<Report, StoreError> {
        let kept: Vec<_> = p.rounds.iter().filter(|r| !r.discarded).collect();
        let keys: Vec<(String, u64, u32)> = kept
            .iter()
            .map(|r| (p.id.clone(), p.uid, r.round))
            .collect();
        let tallies = store.tallies(&keys)?;
        let rounds = kept
            .into_iter()
            .zip(tallies)
            .map(|(info, tally)| {
                let results = tally.results(&p.id, info.round, &p.def);
                let rows = match p.def.kind {
                    Kind::Single | Kind::Multiple | Kind::Quiz => p
                        .def
                        .options
                        .iter()
                        .zip(results.counts.iter().flatten())
                        .enumerate()
                        .map(|(i, (label, count))| Row {
                            index: i,
                            label: label.clone(),
                            count: *count,
                            moderation: None,
                        })
                        .collect(),
                    Kind::Rating => results
                        .counts
                        .iter()
                        .flatten()
                        .enumerate()
                        .map(|(i, count)| Row {
                            index: i + 1,
                            label: (i + 1).to_string(),
                            count: *count,
                            moderation: None,
                        })
                        .collect(),
                    Kind::Wordcloud => tally
                        .top_words(usize::MAX)
                        .into_iter()
                        .enumerate()
                        .map(|(i, (label, count))| Row {
                            index: i + 1,
                            moderation: Some(match rules.status(&p.id, &p.def, &label) {
                                WordStatus::Shown => "shown",
                                WordStatus::Hidden => "hidden",
                                WordStatus::Pending => "pending",
                                WordStatus::Blocked => "blocked",
                            }),
                            label,
                            count,
                        })
                        .collect(),
                };
                RoundReport {
                    round: info.round,
                    opened_at: rfc3339(info.opened_at),
                    closed_at: rfc3339(info.closed_at),
                    voters: results.voters,
                    mean: results.mean,
                    rows,
                }
            })
            .collect();
        Ok(Report {
            poll: p.id.clone(),
            question: p.def.question.clone(),
            kind: p.def.kind,
            rounds,
            discarded_rounds: p
                .rounds
                .iter()
                .filter(|r| r.discarded)
                .map(|r| r.round)
                .collect(),
        })
    }

    /// RFC 4180 CSV, one row per round and option (or word). Text cells are passed through
    /// [`csv_cell`], so a spreadsheet never runs an attendee's word as a formula.
    pub fn to_csv(&self) -> String {
        let mut w = csv::Writer::from_writer(Vec::new());
        let kind = serde_json::to_value(self.kind)
            .ok()
            .and_then(|v| v.as_str().map(String::from))
            .unwrap_or_default();
        w.write_record([
            "poll",
            "question",
            "kind",
            "round",
            "opened_at",
            "closed_at",
            "voters",
            "index",
            "option",
            "count",
            "moderation",
        ])
        .expect("in-memory write");
        for r in &self.rounds {
            for row in &r.rows {
                w.write_record([
                    self.poll.as_str(),
                    &csv_cell(&self.question),
                    &kind,
                    &r.round.to_string(),
                    r.opened_at.as_deref().unwrap_or(""),
                    r.closed_at.as_deref().unwrap_or(""),
                    &r.voters.to_string(),
                    &row.index.to_string(),
                    &csv_cell(&row.label),
                    &row.count.to_string(),
                    row.moderation.unwrap_or(""),
                ])
                .expect("in-memory write");
            }
        }
        String::from_utf8(w.into_inner().expect("in-memory flush")).expect("utf-8 in, utf-8 out")
    }
}

/// OWASP's rule against CSV injection: a cell that a spreadsheet would read as a formula (it
/// starts with `=`, `+`, `-`, `@`, a tab or a carriage return) gets a leading `'`, which makes
/// spreadsheets show it as text. Use it on every cell that holds text someone typed.
pub fn csv_cell(text: &str) -> std::borrow::Cow<'_, str> {
    if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{text}").into()
    } else {
        text.into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_a_spreadsheet_would_run_as_formulas_are_neutralised() {
        for bad in [
            "=HYPERLINK(\"http://x\",\"x\")",
            "+1+1",
            "-2+3",
            "@SUM(A1)",
            "\t=1",
            "\r=1",
        ] {
            assert_eq!(csv_cell(bad), format!("'{bad}"));
        }
        for fine in ["rust", "a=b", "", "'quoted", "ünïcode", "1+1"] {
            assert_eq!(csv_cell(fine), fine);
        }
    }
}
