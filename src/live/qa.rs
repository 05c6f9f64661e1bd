//! The Q&A part of a live snapshot: every question rendered to JSON once per change, so each
//! SSE stream (and `GET /api/questions`) only picks what its viewer may see and adds that
//! viewer's `mine` / `own` flags.

use std::collections::HashSet;
use std::sync::Arc;

use crate::domain::qa::{Qa, QaViewer};
use crate::domain::question::{QState, Question, QuestionView};

/// One question, rendered without its per-viewer flags.
#[derive(Debug, Clone)]
struct Rendered {
    question: Question,
    upvoters: Arc<HashSet<String>>,
    /// The JSON object without `mine`, `own` and the closing brace.
    head: String,
}

/// All questions in display order, and the settings, at one moment.
#[derive(Debug, Clone, Default)]
pub struct QaSnapshot {
    /// Bumped on every change (0: nothing yet).
    pub version: u64,
    entries: Vec<Rendered>,
    /// `{"open": …, "moderated": …}`
    pub settings_json: Arc<str>,
}

impl QaSnapshot {
    pub fn render(qa: &Qa, version: u64) -> QaSnapshot {
        let pinned = qa.pinned();
        let empty = Arc::new(HashSet::new());
        let entries = qa
            .ordered()
            .into_iter()
            .map(|q| {
                let view = QuestionView::new(q, Some(q.id.as_str()) == pinned, false, false);
                let mut head = serde_json::to_string(&view).expect("json");
                // Drop `,"mine":false,"own":false,"at":N}` back to the fields every viewer shares.
                let cut = head.rfind(",\"mine\"").expect("mine is serialised");
                head.truncate(cut);
                head.push_str(&format!(",\"at\":{}", q.at));
                Rendered {
                    question: q.clone(),
                    upvoters: qa.upvoters.get(&q.id).cloned().unwrap_or(empty.clone()),
                    head,
                }
            })
            .collect();
        QaSnapshot {
            version,
            entries,
            settings_json: serde_json::to_string(&qa.settings).expect("json").into(),
        }
    }

    /// The JSON list this viewer may see.
    pub fn list_for(&self, viewer: QaViewer<'_>) -> String {
        let voter = match viewer {
            QaViewer::Voter(v) => Some(v),
            _ => None,
        };
        let mut out = String::from("[");
        for e in self.entries.iter().filter(|e| viewer.sees(&e.question)) {
            if out.len() > 1 {
                out.push(',');
            }
            let mine = voter.is_some_and(|v| e.upvoters.contains(v));
            let own = voter.is_some_and(|v| e.question.asker == v);
            out.push_str(&e.head);
            out.push_str(&format!(",\"mine\":{mine},\"own\":{own}}}"));
        }
        out.push(']');
        out
    }

    /// Questions that are live (for the projector and counts).
    pub fn live_count(&self) -> usize {
        self.entries
            .iter()
            .filter(|e| e.question.state == QState::Live)
            .count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::qa::{QaChanges, QaEnvelope, QaEvent};

    #[test]
    fn qa_each_viewer_gets_its_own_flags_and_only_what_it_may_see() {
        let mut qa = Qa::default();
        let events = [
            QaEvent::Asked {
                id: "a".into(),
                text: "<b>live</b>".into(),
                name: Some("Ann".into()),
                voter: "v1".into(),
                pending: false,
            },
            QaEvent::Asked {
                id: "b".into(),
                text: "pending".into(),
                name: None,
                voter: "v2".into(),
                pending: true,
            },
            QaEvent::Upvoted {
                id: "a".into(),
                voter: "v2".into(),
            },
        ];
        for (i, event) in events.into_iter().enumerate() {
            let env = QaEnvelope {
                v: 1,
                at: i as u64,
                event,
            };
            qa.apply(&env, &mut QaChanges::default());
        }
        let snap = QaSnapshot::render(&qa, 1);
        let parse = |s: String| serde_json::from_str::<serde_json::Value>(&s).unwrap();
        let v2 = parse(snap.list_for(QaViewer::Voter("v2")));
        assert_eq!(v2.as_array().unwrap().len(), 2);
        assert_eq!(v2[0]["id"], "a");
        assert_eq!(
            (v2[0]["mine"].clone(), v2[0]["own"].clone()),
            (true.into(), false.into())
        );
        assert_eq!(
            (v2[1]["state"].clone(), v2[1]["own"].clone()),
            ("pending".into(), true.into())
        );
        assert_eq!(v2[0]["text"], "<b>live</b>");
        assert_eq!(v2[0]["name"], "Ann");
        assert_eq!(v2[0]["upvotes"], 1);
        assert_eq!(v2[0]["at"], 0);
        let anon = parse(snap.list_for(QaViewer::Anonymous));
        assert_eq!(anon.as_array().unwrap().len(), 1);
        assert_eq!(anon[0]["mine"], false);
        assert_eq!(
            parse(snap.list_for(QaViewer::Admin))
                .as_array()
                .unwrap()
                .len(),
            2
        );
    }
}
