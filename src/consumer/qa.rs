//! The Q&A side of the tally consumer: the current Q&A state and how far each partition of
//! `livepoll.qa` has been applied, so a Q&A command can wait until its own record is applied.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use tokio::sync::watch;

use crate::live::Live;
use crate::store::{Qa, TallyStore};

/// What the rest of the app sees of the Q&A state.
#[derive(Clone)]
pub struct QaHandles {
    /// The Q&A state, replaced after every batch that changed it.
    pub state: watch::Receiver<Arc<Qa>>,
    /// Next offset applied, per partition of the Q&A topic.
    pub applied: watch::Receiver<HashMap<i32, u64>>,
    /// Partitions of the Q&A topic.
    pub partitions: i32,
}

pub(super) struct QaFeed {
    topic: Arc<str>,
    state_tx: watch::Sender<Arc<Qa>>,
    applied_tx: watch::Sender<HashMap<i32, u64>>,
}

impl QaFeed {
    pub(super) fn new(
        store: &TallyStore,
        offsets: &BTreeMap<(String, i32), u64>,
        topic: &str,
        partitions: i32,
    ) -> anyhow::Result<(QaFeed, QaHandles)> {
        let applied: HashMap<i32, u64> = offsets
            .iter()
            .filter(|((t, _), _)| t == topic)
            .map(|((_, p), next)| (*p, *next))
            .collect();
        let (state_tx, state) = watch::channel(Arc::new(store.load_qa()?));
        let (applied_tx, applied) = watch::channel(applied);
        let feed = QaFeed {
            topic: topic.into(),
            state_tx,
            applied_tx,
        };
        let handles = QaHandles {
            state,
            applied,
            partitions,
        };
        Ok((feed, handles))
    }

    pub(super) fn topic(&self) -> &Arc<str> {
        &self.topic
    }

    pub(super) fn current(&self) -> Arc<Qa> {
        self.state_tx.borrow().clone()
    }

    /// After a committed batch: publish the new state (to the live hub too), then the applied
    /// offsets, so a command that sees its offset applied also sees its effect.
    pub(super) fn committed(&self, qa: Option<Qa>, offsets: &[(Arc<str>, i32, u64)], live: &Live) {
        if let Some(qa) = qa {
            let qa = Arc::new(qa);
            self.state_tx.send_replace(qa.clone());
            live.mark_qa(qa);
        }
        let mine: Vec<(i32, u64)> = offsets
            .iter()
            .filter(|(t, _, _)| *t == self.topic)
            .map(|(_, p, n)| (*p, *n))
            .collect();
        if !mine.is_empty() {
            self.applied_tx.send_modify(|m| m.extend(mine));
        }
    }
}
