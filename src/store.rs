//! The tally database (redb): polls, ballots, tallies and consumed Kafka offsets.
//!
//! Exactly-once results come from one rule: a batch of Kafka records, the state it produces and
//! the offsets it consumed are committed in the same write transaction. After a crash the
//! consumer resumes from the stored offsets, so no record is applied twice or skipped.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};

use crate::domain::ballot_order::{self, Stamp};
use crate::domain::events::{NameEvent, PollEnvelope, VoteEvent, VoterRecord};
use crate::domain::poll::PollRecord;
pub use crate::domain::polls::Polls;
pub use crate::domain::qa::Qa;
use crate::domain::qa::{QaChanges, QaEnvelope};
use crate::domain::record_checks::judge_vote;
use crate::domain::tally::Tally;
use crate::domain::vote::Ballot;

const POLLS: TableDefinition<&str, &[u8]> = TableDefinition::new("polls");
const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
/// (poll id, poll uid, round, voter) → ballot JSON
const BALLOTS: TableDefinition<(&str, u64, u32, &str), &[u8]> = TableDefinition::new("ballots");
/// (poll id, poll uid, round, voter) → the standing ballot's stamp JSON (ballots with one)
const STAMPS: TableDefinition<(&str, u64, u32, &str), &[u8]> = TableDefinition::new("stamps");
/// (poll id, poll uid, round) → tally JSON
const TALLIES: TableDefinition<(&str, u64, u32), &[u8]> = TableDefinition::new("tallies");
/// (topic, partition) → next offset to consume
const OFFSETS: TableDefinition<(&str, i32), u64> = TableDefinition::new("offsets");

mod identity;
mod qa;
mod quiz;
pub use identity::StoredIdentity;
pub use quiz::RoundKey;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("tally database: {0}")]
    Db(#[from] redb::Error),
    #[error("tally database is already in use by another livepoll process ({0})")]
    InUse(String),
    #[error(
        "the tally database {path} is damaged ({reason}); delete {path}: it is rebuilt from Kafka on the next start"
    )]
    Damaged { path: String, reason: String },
    /// A stored value that does not decode: never read as absent (a ballot read as absent
    /// would count its voter twice), so the write that needed it fails and is retried.
    #[error("the tally database holds an undecodable {what}: {reason}")]
    Undecodable { what: &'static str, reason: String },
}

/// Decodes a stored JSON value; an error names what it was.
fn decode<T: serde::de::DeserializeOwned>(
    what: &'static str,
    bytes: &[u8],
) -> Result<T, StoreError> {
    serde_json::from_slice(bytes).map_err(|e| StoreError::Undecodable {
        what,
        reason: e.to_string(),
    })
}

macro_rules! from_redb {
    ($($t:ty),*) => {$(impl From<$t> for StoreError {
        fn from(e: $t) -> Self { StoreError::Db(e.into()) }
    })*};
}
from_redb!(
    redb::DatabaseError,
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError
);

/// One record consumed from Kafka, decoded.
#[derive(Debug, Clone)]
pub struct Consumed {
    pub topic: Arc<str>,
    pub partition: i32,
    pub offset: i64,
    pub event: Event,
}

#[derive(Debug, Clone)]
pub enum Event {
    Poll(PollEnvelope),
    Vote(VoteEvent),
    /// Several ballots in one record ([`crate::packer`]), applied in order.
    Votes(Vec<VoteEvent>),
    /// A voter's display name (from the votes topic).
    Name(NameEvent),
    Qa(QaEnvelope),
    /// An invalid record (see [`crate::domain::record_checks`]): skipped on every node, its
    /// offset consumed, and counted in [`BatchOutcome::skipped_records`]; the reason is logged.
    Skipped(String),
}

impl From<VoterRecord> for Event {
    fn from(r: VoterRecord) -> Self {
        match r {
            VoterRecord::Vote(v) => Event::Vote(v),
            VoterRecord::Votes(v) => Event::Votes(v),
            VoterRecord::Name(n) => Event::Name(n),
        }
    }
}

/// What a committed batch changed.
#[derive(Debug, Default)]
pub struct BatchOutcome {
    /// New poll state, if any poll event was applied.
    pub polls: Option<Polls>,
    /// New Q&A state, if any Q&A event was applied.
    pub qa: Option<Qa>,
    /// Polls whose tallies changed.
    pub tallied: HashSet<String>,
    /// Next offsets per (topic, partition) after this batch.
    pub offsets: Vec<(Arc<str>, i32, u64)>,
    /// Ballots and names applied from the votes topic so far, this batch included (a pack
    /// counts as its ballots); `None` if this batch applied none.
    pub votes_applied: Option<u64>,
    /// Records (and ballots of packs) skipped as invalid so far, this batch included; `None`
    /// if this batch skipped none.
    pub skipped_records: Option<u64>,
}

/// The [`META`] key of the count in [`BatchOutcome::skipped_records`] (u64, little-endian).
const SKIPPED_RECORDS: &str = "skipped_records";

/// Logs why a record (or a ballot of a pack) is skipped and counts it.
fn skip(skipped: &mut u64, rec: &Consumed, why: &str) {
    *skipped += 1;
    tracing::warn!(
        "skipping the record at {}/{}@{}: {why}",
        rec.topic,
        rec.partition,
        rec.offset
    );
}

/// The [`META`] key of the count in [`BatchOutcome::votes_applied`] (u64, little-endian).
const VOTES_APPLIED: &str = "votes_applied";

/// The ballot and tally tables inside one batch's write transaction, and the tallies the
/// batch has loaded (each written back once, at the end).
struct Votes<'txn, 'o> {
    ballots: redb::Table<'txn, (&'static str, u64, u32, &'static str), &'static [u8]>,
    stamps: redb::Table<'txn, (&'static str, u64, u32, &'static str), &'static [u8]>,
    tallies: redb::Table<'txn, (&'static str, u64, u32), &'static [u8]>,
    loaded: HashMap<(String, u64, u32), Tally>,
    tallied: &'o mut HashSet<String>,
    /// Ballots and names applied in this batch.
    applied: u64,
}

impl Votes<'_, '_> {
    /// A voter's ballot replaces their previous one in the round if its stamp is greater; a
    /// quiz answer is final (the one with the smallest stamp counts, and is scored). See
    /// [`ballot_order`] for ballots without stamps.
    fn apply(&mut self, v: &VoteEvent, quiz: &mut quiz::QuizTables) -> Result<(), StoreError> {
        self.applied += 1;
        let bkey = (v.poll.as_str(), v.uid, v.round, v.voter.as_str());
        if self.ballots.get(bkey)?.is_some() {
            let standing: Option<Stamp> = self
                .stamps
                .get(bkey)?
                .map(|g| decode("ballot stamp", g.value()))
                .transpose()?;
            if !ballot_order::replaces(v.stamp.as_ref(), standing.as_ref(), v.quiz.is_some()) {
                return Ok(());
            }
        }
        if let Some(stamp) = &v.quiz {
            quiz.answer(v, stamp)?;
        }
        match &v.stamp {
            Some(s) => {
                let bytes = serde_json::to_vec(s).expect("stamp serialises");
                self.stamps.insert(bkey, bytes.as_slice())?;
            }
            None => {
                self.stamps.remove(bkey)?;
            }
        }
        let bytes = serde_json::to_vec(&v.ballot).expect("ballot serialises");
        let previous = self
            .ballots
            .insert(bkey, bytes.as_slice())?
            .map(|g| decode::<Ballot>("ballot", g.value()))
            .transpose()?;
        let tally = match self.loaded.entry((v.poll.clone(), v.uid, v.round)) {
            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::hash_map::Entry::Vacant(e) => {
                let loaded = self
                    .tallies
                    .get((v.poll.as_str(), v.uid, v.round))?
                    .map(|g| decode("tally", g.value()))
                    .transpose()?
                    .unwrap_or_default();
                e.insert(loaded)
            }
        };
        tally.replace(previous.as_ref(), &v.ballot);
        if !self.tallied.contains(&v.poll) {
            self.tallied.insert(v.poll.clone());
        }
        Ok(())
    }

    fn write_tallies(mut self) -> Result<(), StoreError> {
        for ((poll, uid, round), tally) in &self.loaded {
            let bytes = serde_json::to_vec(tally).expect("tally serialises");
            self.tallies
                .insert((poll.as_str(), *uid, *round), bytes.as_slice())?;
        }
        Ok(())
    }
}

/// The count of [`VOTES_APPLIED`], 0 if never written.
fn read_count(meta: &impl ReadableTable<&'static str, &'static [u8]>) -> Result<u64, StoreError> {
    read_counter(meta, VOTES_APPLIED)
}

/// A u64 counter in [`META`], 0 if never written.
fn read_counter(
    meta: &impl ReadableTable<&'static str, &'static [u8]>,
    key: &str,
) -> Result<u64, StoreError> {
    Ok(meta
        .get(key)?
        .and_then(|g| <[u8; 8]>::try_from(g.value()).ok())
        .map(u64::from_le_bytes)
        .unwrap_or(0))
}

/// How long a batch of votes may stay in a non-durable commit: the next batch after this
/// long is committed durably (fsync), with every batch before it.
///
/// The file grows with this window (redb reuses pages that non-durable commits free only once
/// a durable commit follows, which is what the sizes measured here show): at 16,000 votes/s from 100,000 voters, 1 s let
/// tallies.redb grow to 134 MB over 1.3M votes, 250 ms held it at 67 MB, with no measurable
/// difference in CPU per vote (four fsyncs a second).
///
/// A durable commit of every batch wrote each dirtied B-tree page once per batch (voters' keys
/// are random, so a batch dirties about a page per vote) and spent a fifth of serve's CPU per
/// vote. Exactly-once does not depend on it: the consumed offsets are in the same transaction
/// as the tallies, so a crash rolls both back to the last durable commit, and the votes after
/// it are read again from Kafka (at most about this long of voting; counted once).
pub const DURABLE_EVERY: std::time::Duration = std::time::Duration::from_millis(250);

/// Handle to the redb database; cheap to share behind an `Arc`.
pub struct TallyStore {
    db: Database,
    /// When the last durable commit was made.
    last_durable: std::sync::Mutex<std::time::Instant>,
}

impl TallyStore {
    /// Opens (or creates) the database file. Fails clearly if another process holds it, and
    /// with [`StoreError::Damaged`] (one line saying how to recover) if the file is damaged:
    /// redb may panic on a damaged file, and that panic is caught and kept off stderr here.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        use std::panic::{AssertUnwindSafe, catch_unwind};

        fn open_tables(path: &Path) -> Result<Database, StoreError> {
            // Verifying every page's checksum on open turns a damaged file into an error here,
            // at start, instead of a panic in the middle of an event.
            let opened = redb::Builder::new()
                .set_check_integrity_on_open(true)
                .create(path);
            let db = match opened {
                Ok(db) => db,
                Err(redb::DatabaseError::DatabaseAlreadyOpen) => {
                    return Err(StoreError::InUse(path.display().to_string()));
                }
                Err(e) => return Err(e.into()),
            };
            let tx = db.begin_write()?;
            tx.open_table(POLLS)?;
            tx.open_table(META)?;
            tx.open_table(BALLOTS)?;
            tx.open_table(STAMPS)?;
            tx.open_table(TALLIES)?;
            tx.open_table(OFFSETS)?;
            qa::create_tables(&tx)?;
            quiz::create_tables(&tx)?;
            tx.commit()?;
            Ok(db)
        }

        thread_local!(static QUIET: std::cell::Cell<bool> = const { std::cell::Cell::new(false) });
        static HOOK: std::sync::Once = std::sync::Once::new();
        HOOK.call_once(|| {
            let previous = std::panic::take_hook();
            std::panic::set_hook(Box::new(move |info| {
                if !QUIET.with(|q| q.get()) {
                    previous(info);
                }
            }));
        });

        QUIET.with(|q| q.set(true));
        let opened = catch_unwind(AssertUnwindSafe(|| open_tables(path)));
        QUIET.with(|q| q.set(false));
        let damaged = |reason: String| StoreError::Damaged {
            path: path.display().to_string(),
            reason,
        };
        match opened {
            Ok(Ok(db)) => Ok(TallyStore {
                db,
                last_durable: std::sync::Mutex::new(std::time::Instant::now()),
            }),
            // Not being allowed to read the file, or a full disk, is not damage.
            Ok(Err(StoreError::Db(redb::Error::Io(e))))
                if !matches!(
                    e.kind(),
                    std::io::ErrorKind::UnexpectedEof | std::io::ErrorKind::InvalidData
                ) =>
            {
                Err(StoreError::Db(redb::Error::Io(e)))
            }
            Ok(Err(StoreError::Db(e))) => Err(damaged(e.to_string())),
            Ok(Err(e)) => Err(e),
            Err(panic) => {
                let reason = panic
                    .downcast_ref::<String>()
                    .map(String::as_str)
                    .or_else(|| panic.downcast_ref::<&str>().copied())
                    .unwrap_or("redb panicked while opening it");
                Err(damaged(
                    reason.lines().next().unwrap_or_default().to_string(),
                ))
            }
        }
    }

    pub fn load_polls(&self) -> Result<Polls, StoreError> {
        let tx = self.db.begin_read()?;
        let mut polls = Polls::default();
        for row in tx.open_table(POLLS)?.iter()? {
            let (_, v) = row?;
            let p: PollRecord = decode("poll", v.value())?;
            polls.by_id.insert(p.id.clone(), p);
        }
        let meta = tx.open_table(META)?;
        if let Some(v) = meta.get("screen")? {
            polls.screen = decode("screen", v.value())?;
        }
        if let Some(v) = meta.get("order")? {
            polls.order = decode("agenda order", v.value())?;
        }
        if let Some(v) = meta.get("view")? {
            polls.view = decode("screen view", v.value())?;
        }
        if let Some(v) = meta.get("leaderboard_epoch")? {
            polls.leaderboard_epoch = decode("leaderboard epoch", v.value())?;
        }
        if let Some(v) = meta.get("deployment")? {
            polls.deployment = decode("deployment", v.value())?;
        }
        if let Some(v) = meta.get("presenter")? {
            polls.presenter = decode("presenter position", v.value())?;
        }
        if let Some(v) = meta.get("moderation")? {
            polls.moderation = decode("moderation", v.value())?;
        }
        Ok(polls)
    }

    /// The Q&A state as last committed.
    pub fn load_qa(&self) -> Result<Qa, StoreError> {
        qa::load(&self.db.begin_read()?)
    }

    /// Next offset to consume for every partition seen so far.
    pub fn offsets(&self) -> Result<BTreeMap<(String, i32), u64>, StoreError> {
        let tx = self.db.begin_read()?;
        let mut out = BTreeMap::new();
        for row in tx.open_table(OFFSETS)?.iter()? {
            let (k, v) = row?;
            let (topic, partition) = k.value();
            out.insert((topic.to_string(), partition), v.value());
        }
        Ok(out)
    }

    /// Ballots and names applied from the votes topic so far ([`BatchOutcome::votes_applied`]).
    /// A database written before packs has no count: it then starts from `records`, the
    /// records it consumed from the votes topic (each one ballot or name then).
    pub fn votes_applied(&self, records: u64) -> Result<u64, StoreError> {
        let meta = self.db.begin_read()?.open_table(META)?;
        if meta.get(VOTES_APPLIED)?.is_some() {
            return read_count(&meta);
        }
        drop(meta);
        let tx = self.db.begin_write()?;
        let n = {
            let mut meta = tx.open_table(META)?;
            if meta.get(VOTES_APPLIED)?.is_some() {
                read_count(&meta)?
            } else {
                meta.insert(VOTES_APPLIED, records.to_le_bytes().as_slice())?;
                records
            }
        };
        tx.commit()?;
        Ok(n)
    }

    /// Records skipped as invalid so far ([`BatchOutcome::skipped_records`]).
    pub fn skipped_records(&self) -> Result<u64, StoreError> {
        read_counter(&self.db.begin_read()?.open_table(META)?, SKIPPED_RECORDS)
    }

    /// Applies a batch of consumed records and their offsets in one write transaction.
    /// Records at offsets already consumed are skipped, so re-delivery is harmless.
    pub fn apply_batch(
        &self,
        polls: &Polls,
        qa: &Qa,
        batch: &[Consumed],
    ) -> Result<BatchOutcome, StoreError> {
        let mut tx = self.db.begin_write()?;
        // Poll and Q&A changes (rare, made by people) are committed durably at once; votes
        // at least every DURABLE_EVERY.
        // A panic elsewhere while holding it leaves only an Instant behind: nothing to repair.
        let mut last_durable = self
            .last_durable
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let only_votes = batch
            .iter()
            .all(|r| matches!(r.event, Event::Vote(_) | Event::Votes(_)));
        let durable = !only_votes || last_durable.elapsed() >= DURABLE_EVERY;
        if !durable {
            tx.set_durability(redb::Durability::None)
                .expect("a transaction that made no savepoint can be non-durable");
        }
        let mut outcome = BatchOutcome::default();
        let mut new_polls: Option<Polls> = None;
        let mut new_qa: Option<Qa> = None;
        let mut qa_changes = QaChanges::default();
        let mut changed_polls: HashSet<String> = HashSet::new();
        {
            let mut offsets = tx.open_table(OFFSETS)?;
            let mut quiz = quiz::QuizTables::open(&tx)?;
            let mut next: HashMap<(Arc<str>, i32), u64> = HashMap::new();
            let mut votes = Votes {
                ballots: tx.open_table(BALLOTS)?,
                stamps: tx.open_table(STAMPS)?,
                tallies: tx.open_table(TALLIES)?,
                loaded: HashMap::new(),
                tallied: &mut outcome.tallied,
                applied: 0,
            };
            let mut skipped = 0u64;
            for rec in batch {
                let key = (rec.topic.clone(), rec.partition);
                let expected = match next.get(&key) {
                    Some(n) => *n,
                    None => offsets
                        .get((&*rec.topic, rec.partition))?
                        .map(|g| g.value())
                        .unwrap_or(0),
                };
                let offset = rec.offset as u64;
                if offset < expected {
                    continue;
                }
                next.insert(key, offset + 1);
                let state = new_polls.as_ref().unwrap_or(polls);
                match &rec.event {
                    Event::Skipped(why) => skip(&mut skipped, rec, why),
                    Event::Name(n) => {
                        quiz.name(n)?;
                        votes.applied += 1;
                    }
                    Event::Qa(env) => {
                        let state = new_qa.get_or_insert_with(|| qa.clone());
                        state.apply(env, &mut qa_changes);
                    }
                    Event::Poll(env) => {
                        let state = new_polls.get_or_insert_with(|| polls.clone());
                        changed_polls.extend(state.apply(env, offset));
                    }
                    Event::Vote(v) => match judge_vote(v, state) {
                        Ok(()) => votes.apply(v, &mut quiz)?,
                        Err(why) => skip(&mut skipped, rec, &why),
                    },
                    Event::Votes(pack) => {
                        for v in pack {
                            match judge_vote(v, state) {
                                Ok(()) => votes.apply(v, &mut quiz)?,
                                Err(why) => skip(&mut skipped, rec, &why),
                            }
                        }
                    }
                }
            }
            let applied = votes.applied;
            votes.write_tallies()?;
            if applied > 0 {
                let mut meta = tx.open_table(META)?;
                let before = read_count(&meta)?;
                let total = before + applied;
                meta.insert(VOTES_APPLIED, total.to_le_bytes().as_slice())?;
                outcome.votes_applied = Some(total);
            }
            if skipped > 0 {
                let mut meta = tx.open_table(META)?;
                let total = read_counter(&meta, SKIPPED_RECORDS)? + skipped;
                meta.insert(SKIPPED_RECORDS, total.to_le_bytes().as_slice())?;
                outcome.skipped_records = Some(total);
            }
            for ((topic, partition), n) in next {
                offsets.insert((&*topic, partition), n)?;
                outcome.offsets.push((topic, partition, n));
            }
            if let Some(state) = &new_polls {
                let mut table = tx.open_table(POLLS)?;
                for id in &changed_polls {
                    if let Some(p) = state.by_id.get(id) {
                        let bytes = serde_json::to_vec(p).expect("poll serialises");
                        table.insert(id.as_str(), bytes.as_slice())?;
                    }
                }
                let screen = serde_json::to_vec(&state.screen).expect("screen serialises");
                let order = serde_json::to_vec(&state.order).expect("order serialises");
                let mut meta = tx.open_table(META)?;
                meta.insert("screen", screen.as_slice())?;
                meta.insert("order", order.as_slice())?;
                let view = serde_json::to_vec(&state.view).expect("view serialises");
                meta.insert("view", view.as_slice())?;
                let epoch = serde_json::to_vec(&state.leaderboard_epoch).expect("epoch serialises");
                meta.insert("leaderboard_epoch", epoch.as_slice())?;
                let deployment =
                    serde_json::to_vec(&state.deployment).expect("deployment serialises");
                meta.insert("deployment", deployment.as_slice())?;
                let presenter = serde_json::to_vec(&state.presenter).expect("position serialises");
                meta.insert("presenter", presenter.as_slice())?;
                let moderation =
                    serde_json::to_vec(&state.moderation).expect("moderation serialises");
                meta.insert("moderation", moderation.as_slice())?;
            }
        }
        if let Some(state) = &new_qa {
            qa::persist(&tx, state, &qa_changes)?;
        }
        tx.commit()?;
        if durable {
            *last_durable = std::time::Instant::now();
        }
        outcome.polls = new_polls;
        outcome.qa = new_qa.filter(|_| !qa_changes.is_empty());
        Ok(outcome)
    }

    /// Makes every commit so far durable (an empty durable commit), so that a clean stop
    /// leaves nothing to read again from Kafka on the next start.
    pub fn persist(&self) -> Result<(), StoreError> {
        let mut last_durable = self
            .last_durable
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        self.db.begin_write()?.commit()?;
        *last_durable = std::time::Instant::now();
        Ok(())
    }

    /// The tally of one poll round (empty if nobody voted).
    pub fn tally(&self, poll: &str, uid: u64, round: u32) -> Result<Tally, StoreError> {
        let tx = self.db.begin_read()?;
        let table = tx.open_table(TALLIES)?;
        Ok(table
            .get((poll, uid, round))?
            .map(|g| decode("tally", g.value()))
            .transpose()?
            .unwrap_or_default())
    }

    /// Tallies of several poll rounds in one read transaction.
    pub fn tallies(&self, keys: &[(String, u64, u32)]) -> Result<Vec<Tally>, StoreError> {
        let tx = self.db.begin_read()?;
        let table = tx.open_table(TALLIES)?;
        keys.iter()
            .map(|(p, u, r)| {
                Ok(table
                    .get((p.as_str(), *u, *r))?
                    .map(|g| decode("tally", g.value()))
                    .transpose()?
                    .unwrap_or_default())
            })
            .collect()
    }

    /// A voter's current ballot in one poll round, if any.
    pub fn ballot(
        &self,
        poll: &str,
        uid: u64,
        round: u32,
        voter: &str,
    ) -> Result<Option<Ballot>, StoreError> {
        let tx = self.db.begin_read()?;
        let table = tx.open_table(BALLOTS)?;
        table
            .get((poll, uid, round, voter))?
            .map(|g| decode("ballot", g.value()))
            .transpose()
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod skip_tests;
