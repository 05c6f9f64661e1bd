//! Q&A use cases: asking, upvoting, moderating, settings, export. Each checks the request
//! against the Q&A state as applied here (so a bad one changes nothing and says why), then
//! appends one event to `livepoll.qa` keyed by question id. Asking and moderating wait until
//! the event is applied (the reply shows the question as it now is); an upvote answers 202 once
//! Kafka acknowledged it, like a vote.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::{APPLY_TIMEOUT, ServiceError};
use crate::domain::events::SCHEMA_VERSION;
use crate::domain::qa::{Qa, QaEnvelope, QaEvent, QaSettings, QaViewer};
use crate::domain::question::{self, ASK_INTERVAL_MS, QState, Question};
use crate::export::csv_cell;
use crate::state::{AppState, now_ms};

/// What the organiser can do to a question (`POST /api/questions/{id}/{action}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Moderation {
    Approve,
    Hide,
    Answer,
    Pin,
    Unpin,
}

impl Moderation {
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "approve" => Moderation::Approve,
            "hide" => Moderation::Hide,
            "answer" => Moderation::Answer,
            "pin" => Moderation::Pin,
            "unpin" => Moderation::Unpin,
            _ => return None,
        })
    }
}

/// The Q&A state as applied on this node.
pub fn current(state: &AppState) -> Arc<Qa> {
    state.consumer.qa.state.borrow().clone()
}

/// Appends a Q&A event stamped `at`; returns its (partition, offset) once Kafka acknowledged it.
async fn append(state: &AppState, event: QaEvent, at: u64) -> Result<(i32, u64), ServiceError> {
    if let Err(reason) = state.health.check() {
        return Err(ServiceError::Unavailable(format!(
            "{reason}; nothing was recorded"
        )));
    }
    let key = event.key().to_string();
    let env = QaEnvelope {
        v: SCHEMA_VERSION,
        at,
        event,
    };
    let payload = serde_json::to_vec(&env).expect("event serialises");
    let (partition, offset) = state
        .producer
        .send(&state.topics.qa, &key, &payload)
        .await
        .map_err(|e| ServiceError::Unavailable(format!("{e}; nothing was recorded")))?;
    Ok((partition, offset as u64))
}

/// Appends a Q&A event and waits until this node has applied it.
async fn command(state: &AppState, event: QaEvent) -> Result<Arc<Qa>, ServiceError> {
    let (partition, offset) = append(state, event, now_ms()).await?;
    let mut applied = state.consumer.qa.applied.clone();
    let wait = applied.wait_for(|m| m.get(&partition).is_some_and(|n| *n > offset));
    match tokio::time::timeout(APPLY_TIMEOUT, wait).await {
        Ok(Ok(_)) => Ok(current(state)),
        _ => Err(ServiceError::Unavailable(
            "recorded in Kafka but not yet applied; it will show shortly".into(),
        )),
    }
}

/// A question this viewer may see, or 404.
fn visible(qa: &Qa, id: &str, viewer: QaViewer<'_>) -> Result<Question, ServiceError> {
    let not_found = || ServiceError::NotFound(format!("no question {id:?}"));
    if !question::valid_id(id) {
        return Err(not_found());
    }
    qa.get(id)
        .filter(|q| viewer.sees(q))
        .cloned()
        .ok_or_else(not_found)
}

/// Voters asking right now on this node: two asks sent at once would both pass the check
/// against the applied state, so the first one holds this until it is applied or failed.
#[derive(Default)]
pub struct AskGate(Mutex<HashMap<String, u64>>);

impl AskGate {
    fn enter(&self, voter: &str, now: u64) -> bool {
        let mut m = self.0.lock().expect("ask gate");
        m.retain(|_, t| now.saturating_sub(*t) < ASK_INTERVAL_MS);
        if m.contains_key(voter) {
            return false;
        }
        m.insert(voter.to_string(), now);
        true
    }

    fn leave(&self, voter: &str) {
        self.0.lock().expect("ask gate").remove(voter);
    }
}

fn gate() -> &'static AskGate {
    static GATE: std::sync::OnceLock<AskGate> = std::sync::OnceLock::new();
    GATE.get_or_init(AskGate::default)
}

/// Asks a question: 409 while Q&A is closed, 400 for bad text or name, 429 within 30 s of this
/// voter's previous question. Starts `pending` when Q&A is moderated.
pub async fn ask(
    state: &AppState,
    voter: &str,
    text: &str,
    name: Option<&str>,
) -> Result<Question, ServiceError> {
    let qa = current(state);
    if !qa.settings.open {
        return Err(ServiceError::Conflict("Q&A is closed".into()));
    }
    let (text, name) = question::clean(text, name).map_err(ServiceError::BadRequest)?;
    let now = now_ms();
    let too_soon = || {
        ServiceError::TooMany(format!(
            "one question per {} s; please wait a little",
            ASK_INTERVAL_MS / 1000
        ))
    };
    if qa
        .last_asked(voter)
        .is_some_and(|t| now.saturating_sub(t) < ASK_INTERVAL_MS)
    {
        return Err(too_soon());
    }
    if !gate().enter(voter, now) {
        return Err(too_soon());
    }
    // A question or name on the block list waits for an organiser, moderated or not.
    let blocked = super::moderation::with_rules(state, |rules| {
        rules.blocks(&text) || name.as_deref().is_some_and(|n| rules.blocks(n))
    });
    let id = question::new_id();
    let event = QaEvent::Asked {
        id: id.clone(),
        text,
        name,
        voter: voter.to_string(),
        pending: qa.settings.moderated || blocked,
    };
    let result = command(state, event).await;
    gate().leave(voter);
    let qa = result?;
    match qa.get(&id) {
        Some(q) if q.asker == voter => Ok(q.clone()),
        _ => Err(ServiceError::Conflict(
            "a question with the same id was asked at the same time; ask again".into(),
        )),
    }
}

/// Upvotes (or withdraws the upvote of) a question this voter may see. Only live questions
/// take new upvotes (409 otherwise); withdrawing always works. Repeating either is harmless.
pub async fn upvote(
    state: &AppState,
    voter: &str,
    id: &str,
    add: bool,
) -> Result<(), ServiceError> {
    let q = visible(&current(state), id, QaViewer::Voter(voter))?;
    if add && q.state != QState::Live {
        return Err(ServiceError::Conflict(format!(
            "only live questions take upvotes; this one is {}",
            q.state.as_str()
        )));
    }
    if !state.limiter.allow(voter) {
        return Err(ServiceError::RateLimited);
    }
    let (id, voter) = (id.to_string(), voter.to_string());
    let event = if add {
        QaEvent::Upvoted { id, voter }
    } else {
        QaEvent::Unupvoted { id, voter }
    };
    append(state, event, now_ms()).await.map(|_| ())
}

/// An organiser's action on a question; returns it as it now is. Repeating an action is
/// harmless; pinning a question that is not live, or answering a hidden one, is 409.
pub async fn moderate(
    state: &AppState,
    id: &str,
    action: Moderation,
) -> Result<Question, ServiceError> {
    let qa = current(state);
    let q = visible(&qa, id, QaViewer::Admin)?;
    let id = id.to_string();
    let conflict = |what: &str| {
        Err(ServiceError::Conflict(format!(
            "cannot {what} a question that is {}",
            q.state.as_str()
        )))
    };
    let event = match action {
        Moderation::Approve => QaEvent::Approved { id: id.clone() },
        Moderation::Hide => QaEvent::Hidden { id: id.clone() },
        Moderation::Answer => match q.state {
            QState::Hidden => return conflict("answer"),
            _ => QaEvent::Answered { id: id.clone() },
        },
        Moderation::Unpin => QaEvent::Unpinned { id: id.clone() },
        Moderation::Pin => {
            if q.state != QState::Live {
                return conflict("pin");
            }
            // One pinned at a time: unpin the others first. Should two organisers pin at
            // once, the higher stamp wins everywhere (see `Qa::pinned`).
            for other in qa.questions.values() {
                if other.pinned.is_some() && other.id != id && !other.deleted {
                    command(
                        state,
                        QaEvent::Unpinned {
                            id: other.id.clone(),
                        },
                    )
                    .await?;
                }
            }
            let stamp = now_ms().max(qa.max_pin_stamp() + 1);
            QaEvent::Pinned {
                id: id.clone(),
                stamp,
            }
        }
    };
    let qa = command(state, event).await?;
    visible(&qa, &id, QaViewer::Admin)
}

/// Deletes a question for good (its text is dropped from the state).
pub async fn delete(state: &AppState, id: &str) -> Result<(), ServiceError> {
    visible(&current(state), id, QaViewer::Admin)?;
    command(state, QaEvent::Deleted { id: id.to_string() }).await?;
    Ok(())
}

/// Changes the settings; a field not given keeps its value.
pub async fn set_settings(
    state: &AppState,
    open: Option<bool>,
    moderated: Option<bool>,
) -> Result<QaSettings, ServiceError> {
    let now = current(state).settings;
    let event = QaEvent::Settings {
        open: open.unwrap_or(now.open),
        moderated: moderated.unwrap_or(now.moderated),
    };
    Ok(command(state, event).await?.settings)
}

/// Every question (not deleted) as CSV: one row each, in display order.
pub fn csv(qa: &Qa) -> String {
    let pinned = qa.pinned();
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record([
        "id",
        "state",
        "pinned",
        "upvotes",
        "name",
        "question",
        "asked_at",
        "answered_at",
    ])
    .expect("writing to memory");
    let time = |ms: Option<u64>| {
        ms.map(|ms| {
            let t = std::time::UNIX_EPOCH + Duration::from_millis(ms);
            humantime::format_rfc3339_millis(t).to_string()
        })
        .unwrap_or_default()
    };
    for q in qa.ordered() {
        w.write_record([
            q.id.as_str(),
            q.state.as_str(),
            if Some(q.id.as_str()) == pinned {
                "yes"
            } else {
                ""
            },
            &q.upvotes.to_string(),
            &csv_cell(q.name.as_deref().unwrap_or_default()),
            &csv_cell(&q.text),
            &time(Some(q.at)),
            &time(q.answered_at),
        ])
        .expect("writing to memory");
    }
    String::from_utf8(w.into_inner().expect("in memory")).expect("utf-8")
}

/// Waits until every Q&A record present at start has been applied here, so the first requests
/// see the whole Q&A (called on start, like the polls catch-up).
pub async fn catch_up(state: &AppState, brokers: &str) -> anyhow::Result<()> {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    let c: BaseConsumer = crate::kafka::consumer_config(brokers).create()?;
    let (topic, partitions) = (state.topics.qa.clone(), state.consumer.qa.partitions);
    let highs = tokio::task::spawn_blocking(move || -> anyhow::Result<Vec<(i32, u64)>> {
        (0..partitions)
            .map(|p| {
                let (_, high) = c.fetch_watermarks(&topic, p, Duration::from_secs(10))?;
                Ok((p, high.max(0) as u64))
            })
            .collect()
    })
    .await??;
    let mut applied = state.consumer.qa.applied.clone();
    let caught_up = |m: &HashMap<i32, u64>| {
        highs
            .iter()
            .all(|(p, high)| *high == 0 || m.get(p).is_some_and(|n| n >= high))
    };
    tokio::time::timeout(Duration::from_secs(120), applied.wait_for(caught_up))
        .await
        .map_err(|_| anyhow::anyhow!("timed out replaying the Q&A topic"))??;
    Ok(())
}
