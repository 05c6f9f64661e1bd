//! The Q&A tables of the tally database: questions, upvotes (one row per question and voter,
//! so a retried upvote finds its row and counts once) and the Q&A settings. Written by
//! [`super::TallyStore::apply_batch`] in the same transaction as the offsets consumed.

use std::sync::Arc;

use redb::{ReadTransaction, ReadableTable, TableDefinition, WriteTransaction};

use super::{StoreError, decode};
use crate::domain::qa::{Qa, QaChanges};
use crate::domain::question::Question;

/// question id → question JSON
const QUESTIONS: TableDefinition<&str, &[u8]> = TableDefinition::new("qa_questions");
/// (question id, voter) → ()
const UPVOTES: TableDefinition<(&str, &str), ()> = TableDefinition::new("qa_upvotes");
/// "settings" → settings JSON
const QA_META: TableDefinition<&str, &[u8]> = TableDefinition::new("qa_meta");

pub(super) fn create_tables(tx: &WriteTransaction) -> Result<(), StoreError> {
    tx.open_table(QUESTIONS)?;
    tx.open_table(UPVOTES)?;
    tx.open_table(QA_META)?;
    Ok(())
}

pub(super) fn load(tx: &ReadTransaction) -> Result<Qa, StoreError> {
    let mut qa = Qa::default();
    for row in tx.open_table(QUESTIONS)?.iter()? {
        let (_, v) = row?;
        let q: Question = decode("question", v.value())?;
        qa.questions.insert(q.id.clone(), q);
    }
    for row in tx.open_table(UPVOTES)?.iter()? {
        let (k, _) = row?;
        let (id, voter) = k.value();
        Arc::make_mut(qa.upvoters.entry(id.to_string()).or_default()).insert(voter.to_string());
    }
    if let Some(v) = tx.open_table(QA_META)?.get("settings")? {
        qa.settings = decode("Q&A settings", v.value())?;
    }
    Ok(qa)
}

/// Writes what a batch changed: `qa` is the state after the batch.
pub(super) fn persist(
    tx: &WriteTransaction,
    qa: &Qa,
    changes: &QaChanges,
) -> Result<(), StoreError> {
    let mut questions = tx.open_table(QUESTIONS)?;
    for id in &changes.questions {
        if let Some(q) = qa.questions.get(id) {
            let bytes = serde_json::to_vec(q).expect("question serialises");
            questions.insert(id.as_str(), bytes.as_slice())?;
        }
    }
    let mut upvotes = tx.open_table(UPVOTES)?;
    for (id, voter, added) in &changes.upvotes {
        if *added {
            upvotes.insert((id.as_str(), voter.as_str()), ())?;
        } else {
            upvotes.remove((id.as_str(), voter.as_str()))?;
        }
    }
    for id in &changes.purged {
        upvotes.retain_in((id.as_str(), "")..(id.as_str(), "\u{10FFFF}"), |_, _| false)?;
    }
    if changes.settings {
        let bytes = serde_json::to_vec(&qa.settings).expect("settings serialise");
        tx.open_table(QA_META)?
            .insert("settings", bytes.as_slice())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::{Consumed, Event, Polls, TallyStore};
    use crate::domain::qa::{Qa, QaEnvelope, QaEvent};

    fn rec(partition: i32, offset: i64, event: QaEvent) -> Consumed {
        Consumed {
            topic: "qa".into(),
            partition,
            offset,
            event: Event::Qa(QaEnvelope { v: 1, at: 7, event }),
        }
    }

    #[test]
    fn qa_a_batch_delivered_again_counts_once_and_reloads_identically() {
        let dir = tempfile::tempdir().unwrap();
        let store = TallyStore::open(&dir.path().join("t.redb")).unwrap();
        let up = |voter: &str| QaEvent::Upvoted {
            id: "q1".into(),
            voter: voter.into(),
        };
        let batch = vec![
            rec(
                0,
                0,
                QaEvent::Asked {
                    id: "q1".into(),
                    text: "Why?".into(),
                    name: None,
                    voter: "a".into(),
                    pending: false,
                },
            ),
            rec(0, 1, up("v1")),
            rec(0, 2, up("v2")),
            rec(0, 3, up("v1")),
            rec(
                1,
                0,
                QaEvent::Settings {
                    open: false,
                    moderated: true,
                },
            ),
        ];
        let polls = Polls::default();
        let qa = store
            .apply_batch(&polls, &Qa::default(), &batch)
            .unwrap()
            .qa
            .unwrap();
        let again = store.apply_batch(&polls, &qa, &batch).unwrap();
        assert!(again.qa.is_none(), "records already consumed are skipped");
        assert_eq!(qa.get("q1").unwrap().upvotes, 2);
        assert_eq!(store.load_qa().unwrap(), qa);
        let withdrawn = vec![
            rec(
                0,
                4,
                QaEvent::Unupvoted {
                    id: "q1".into(),
                    voter: "v2".into(),
                },
            ),
            rec(0, 5, QaEvent::Deleted { id: "q1".into() }),
        ];
        let after = store
            .apply_batch(&polls, &qa, &withdrawn)
            .unwrap()
            .qa
            .unwrap();
        let loaded = store.load_qa().unwrap();
        assert_eq!(loaded, after);
        assert!(loaded.upvoters.is_empty() && loaded.get("q1").is_none());
        assert!(!loaded.settings.open && loaded.settings.moderated);
    }
}
