//! Live updates: the coalescing hub behind `GET /api/events`.
//!
//! The tally consumer marks what changed after each committed batch; one task turns that into a
//! new immutable [`Snapshot`] (JSON rendered once, shared by every stream) at most every
//! [`COALESCE`], so a screen gets ~20 updates a second however fast votes arrive, and the last
//! change is always published. Each SSE stream only compares versions and sends ready strings.

use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{Notify, watch};
use tokio_util::sync::CancellationToken;

use crate::domain::blocklist::BlockList;
use crate::domain::moderation::{Moderation, WordRules, moderated_results};
use crate::domain::poll::{Kind, PollRecord};
use crate::store::{Polls, Qa, TallyStore};
use crate::view::PollView;

pub mod qa;

pub const COALESCE: Duration = Duration::from_millis(50);

/// One poll as streams see it.
#[derive(Debug, Clone)]
pub struct Entry {
    pub record: Arc<PollRecord>,
    /// The poll object without results.
    pub poll_json: Arc<str>,
    /// The results object as organisers see it (word clouds add the hidden, pending and
    /// blocked words).
    pub results_json: Arc<str>,
    /// The results object as the audience and the projector see it.
    pub public_json: Arc<str>,
    /// The results object with only the number of voters, for those the results are hidden
    /// from (everyone may see how many have answered).
    pub count_json: Arc<str>,
    pub poll_version: u64,
    pub results_version: u64,
}

/// Everything a page shows, at one moment.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub version: u64,
    pub screen: Option<String>,
    pub view: crate::domain::events::ScreenView,
    /// Live polls by id.
    pub polls: BTreeMap<String, Entry>,
    /// Attendee pages connected to this node now.
    pub joined: u64,
    /// Questions and Q&A settings.
    pub qa: Arc<qa::QaSnapshot>,
    /// The moderation the word clouds' results were rendered with.
    pub moderation: Arc<Moderation>,
}

#[derive(Default)]
struct Dirty {
    polls: Option<Arc<Polls>>,
    tallied: HashSet<String>,
    qa: Option<Arc<Qa>>,
}

/// Handle to the hub; cheap to clone.
#[derive(Clone)]
pub struct Live {
    inner: Arc<Inner>,
}

struct Inner {
    tx: watch::Sender<Arc<Snapshot>>,
    dirty: Mutex<Dirty>,
    notify: Notify,
    joined: AtomicU64,
}

/// Counts one connected attendee page while it lives.
pub struct Joined(Live);

impl Drop for Joined {
    fn drop(&mut self) {
        self.0.inner.joined.fetch_sub(1, Ordering::Relaxed);
        self.0.mark(None, []);
    }
}

impl Live {
    pub fn new() -> Self {
        Live {
            inner: Arc::new(Inner {
                tx: watch::channel(Arc::new(Snapshot::default())).0,
                dirty: Mutex::new(Dirty::default()),
                notify: Notify::new(),
                joined: AtomicU64::new(0),
            }),
        }
    }

    /// Records that polls and/or some polls' tallies changed; cheap, never blocks on streams.
    pub fn mark(&self, polls: Option<Arc<Polls>>, tallied: impl IntoIterator<Item = String>) {
        let mut d = self.inner.dirty.lock().expect("dirty lock");
        if polls.is_some() {
            d.polls = polls;
        }
        d.tallied.extend(tallied);
        drop(d);
        self.inner.notify.notify_one();
    }

    /// Records that the Q&A state changed.
    pub fn mark_qa(&self, qa: Arc<Qa>) {
        self.inner.dirty.lock().expect("dirty lock").qa = Some(qa);
        self.inner.notify.notify_one();
    }

    /// Counts an attendee page as joined until the returned guard is dropped.
    pub fn join(&self) -> Joined {
        self.inner.joined.fetch_add(1, Ordering::Relaxed);
        self.mark(None, []);
        Joined(self.clone())
    }

    pub fn subscribe(&self) -> watch::Receiver<Arc<Snapshot>> {
        self.inner.tx.subscribe()
    }

    pub fn current(&self) -> Arc<Snapshot> {
        self.inner.tx.borrow().clone()
    }

    /// Publishes snapshots until cancelled.
    /// Word clouds are moderated with `block` (the configured block list) and the polls'
    /// moderation state.
    pub async fn run(
        self,
        store: Arc<TallyStore>,
        polls: Arc<Polls>,
        block: Arc<BlockList>,
        cancel: CancellationToken,
    ) {
        let mut polls = polls;
        let all: HashSet<String> = polls.by_id.keys().cloned().collect();
        self.publish(&store, &polls, &block, true, all, None).await;
        loop {
            tokio::select! {
                _ = self.inner.notify.notified() => {}
                _ = cancel.cancelled() => return,
            }
            let (new_polls, tallied, new_qa) = {
                let mut d = self.inner.dirty.lock().expect("dirty lock");
                (d.polls.take(), std::mem::take(&mut d.tallied), d.qa.take())
            };
            let polls_changed = new_polls.is_some();
            if let Some(p) = new_polls {
                polls = p;
            }
            self.publish(&store, &polls, &block, polls_changed, tallied, new_qa)
                .await;
            tokio::time::sleep(COALESCE).await;
        }
    }

    async fn publish(
        &self,
        store: &Arc<TallyStore>,
        polls: &Polls,
        block: &BlockList,
        polls_changed: bool,
        mut tallied: HashSet<String>,
        new_qa: Option<Arc<Qa>>,
    ) {
        let old = self.current();
        // Moderation changed: every word cloud's results are rendered again.
        let moderation = if *old.moderation == polls.moderation {
            old.moderation.clone()
        } else {
            tallied.extend(
                polls
                    .list()
                    .into_iter()
                    .filter(|p| p.def.kind == Kind::Wordcloud)
                    .map(|p| p.id.clone()),
            );
            Arc::new(polls.moderation.clone())
        };
        let version = old.version + 1;
        let qa = match new_qa {
            Some(q) => Arc::new(qa::QaSnapshot::render(&q, version)),
            None => old.qa.clone(),
        };
        let mut next = Snapshot {
            version,
            screen: polls.screen.clone(),
            view: polls.view,
            polls: BTreeMap::new(),
            joined: self.inner.joined.load(Ordering::Relaxed),
            qa,
            moderation,
        };
        for p in polls.list() {
            let prev = old.polls.get(&p.id);
            match prev {
                Some(e) if !polls_changed || *e.record == *p => {
                    next.polls.insert(p.id.clone(), e.clone());
                }
                _ => {
                    let stale_results =
                        prev.is_none_or(|e| e.record.uid != p.uid || e.record.round != p.round);
                    if stale_results {
                        tallied.insert(p.id.clone());
                    }
                    let entry = Entry {
                        record: Arc::new(p.clone()),
                        poll_json: serde_json::to_string(&PollView::new(p, false, None))
                            .expect("json")
                            .into(),
                        results_json: prev
                            .map(|e| e.results_json.clone())
                            .unwrap_or_else(|| "null".into()),
                        public_json: prev
                            .map(|e| e.public_json.clone())
                            .unwrap_or_else(|| "null".into()),
                        count_json: prev
                            .map(|e| e.count_json.clone())
                            .unwrap_or_else(|| "null".into()),
                        poll_version: version,
                        results_version: prev.map(|e| e.results_version).unwrap_or(version),
                    };
                    next.polls.insert(p.id.clone(), entry);
                }
            }
        }
        let keys: Vec<(String, u64, u32)> = tallied
            .iter()
            .filter_map(|id| next.polls.get(id))
            .map(|e| (e.record.id.clone(), e.record.uid, e.record.round))
            .collect();
        if !keys.is_empty() {
            let store = store.clone();
            let lookup = keys.clone();
            match tokio::task::spawn_blocking(move || store.tallies(&lookup)).await {
                Ok(Ok(tallies)) => {
                    for ((id, _, round), tally) in keys.iter().zip(tallies) {
                        let e = next.polls.get_mut(id).expect("key came from here");
                        let rules = WordRules {
                            moderation: &next.moderation,
                            block,
                        };
                        let results = moderated_results(&tally, id, *round, &e.record.def, rules);
                        e.results_json = serde_json::to_string(&results).expect("json").into();
                        e.public_json = if e.record.def.kind == Kind::Wordcloud {
                            serde_json::to_string(&results.for_audience())
                                .expect("json")
                                .into()
                        } else {
                            e.results_json.clone()
                        };
                        e.count_json = serde_json::to_string(&results.count_only())
                            .expect("json")
                            .into();
                        e.results_version = version;
                    }
                }
                Ok(Err(err)) => tracing::error!("reading tallies for live update: {err}"),
                Err(err) => tracing::error!("tally reader panicked: {err}"),
            }
        }
        self.inner.tx.send_replace(Arc::new(next));
    }
}

impl Default for Live {
    fn default() -> Self {
        Self::new()
    }
}
