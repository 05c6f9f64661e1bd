//! Quiz scores and display names in the tally database, written in the same transaction as the
//! ballots and offsets of their batch (so they are exactly-once like the tallies) and read for
//! the leaderboard.

use redb::{ReadableDatabase, ReadableTable, Table, TableDefinition, WriteTransaction};

use super::{StoreError, TallyStore, decode};
use crate::domain::events::{NameEvent, VoteEvent};
use crate::domain::quiz::{Answer, Player, QuizStamp, Totals, generated_name};
use crate::domain::vote::Ballot;

/// (poll id, poll uid, round, voter) → the scored answer (JSON)
const ANSWERS: TableDefinition<(&str, u64, u32, &str), &[u8]> =
    TableDefinition::new("quiz_answers");
/// (leaderboard epoch, voter) → totals (JSON)
const PLAYERS: TableDefinition<(u32, &str), &[u8]> = TableDefinition::new("quiz_players");
/// voter → the display name the voter chose
const NAMES: TableDefinition<&str, &str> = TableDefinition::new("names");

/// A poll round: (poll id, uid, round).
pub type RoundKey = (String, u64, u32);

/// Creates the tables, so read transactions always find them.
pub(super) fn create_tables(tx: &WriteTransaction) -> Result<(), StoreError> {
    tx.open_table(ANSWERS)?;
    tx.open_table(PLAYERS)?;
    tx.open_table(NAMES)?;
    Ok(())
}

/// The quiz tables inside one batch's write transaction.
pub(super) struct QuizTables<'txn> {
    answers: Table<'txn, (&'static str, u64, u32, &'static str), &'static [u8]>,
    players: Table<'txn, (u32, &'static str), &'static [u8]>,
    names: Table<'txn, &'static str, &'static str>,
}

impl<'txn> QuizTables<'txn> {
    pub(super) fn open(tx: &'txn WriteTransaction) -> Result<Self, StoreError> {
        Ok(QuizTables {
            answers: tx.open_table(ANSWERS)?,
            players: tx.open_table(PLAYERS)?,
            names: tx.open_table(NAMES)?,
        })
    }

    /// Scores a quiz vote (the standing one of its voter in the round: the caller decides,
    /// see [`crate::domain::ballot_order`]) and adds it to the voter's totals in the
    /// leaderboard stamped on it, taking out the answer it replaces, if any.
    pub(super) fn answer(&mut self, v: &VoteEvent, stamp: &QuizStamp) -> Result<(), StoreError> {
        let choices = match &v.ballot {
            Ballot::Choices(c) => c.as_slice(),
            _ => &[],
        };
        let answer = stamp.score(choices, v.at);
        let bytes = serde_json::to_vec(&answer).expect("answer serialises");
        let replaced: Option<Answer> = self
            .answers
            .insert(
                (v.poll.as_str(), v.uid, v.round, v.voter.as_str()),
                bytes.as_slice(),
            )?
            .map(|g| decode("quiz answer", g.value()))
            .transpose()?;
        if let Some(old) = replaced {
            self.update_totals(old.epoch, &v.voter, |t| t.remove(&old))?;
        }
        self.update_totals(stamp.epoch, &v.voter, |t| t.add(&answer))
    }

    fn update_totals(
        &mut self,
        epoch: u32,
        voter: &str,
        change: impl FnOnce(&mut Totals),
    ) -> Result<(), StoreError> {
        let mut totals: Totals = match self.players.get((epoch, voter))? {
            Some(g) => decode("quiz totals", g.value())?,
            None => Totals::default(),
        };
        change(&mut totals);
        let bytes = serde_json::to_vec(&totals).expect("totals serialise");
        self.players.insert((epoch, voter), bytes.as_slice())?;
        Ok(())
    }

    pub(super) fn name(&mut self, n: &NameEvent) -> Result<(), StoreError> {
        self.names.insert(n.voter.as_str(), n.name.as_str())?;
        Ok(())
    }
}

impl TallyStore {
    /// Every player of leaderboard `epoch` with their totals, answers in the `pending` rounds
    /// (questions still open) left out, and their name (chosen, else generated). Unordered.
    pub fn quiz_players(
        &self,
        epoch: u32,
        pending: &[RoundKey],
    ) -> Result<Vec<Player>, StoreError> {
        let tx = self.db.begin_read()?;
        let players = tx.open_table(PLAYERS)?;
        let names = tx.open_table(NAMES)?;
        let answers = tx.open_table(ANSWERS)?;
        let mut out: Vec<Player> = Vec::new();
        let mut index = std::collections::HashMap::new();
        for row in players.range((epoch, "")..(epoch.saturating_add(1), ""))? {
            let (k, v) = row?;
            let (e, voter) = k.value();
            if e != epoch {
                continue;
            }
            let totals: Totals = decode("quiz totals", v.value())?;
            index.insert(voter.to_string(), out.len());
            out.push(Player {
                voter: voter.to_string(),
                name: String::new(),
                totals,
            });
        }
        for (poll, uid, round) in pending {
            for row in answers.range((poll.as_str(), *uid, *round, "")..)? {
                let (k, v) = row?;
                let (p, u, r, voter) = k.value();
                if (p, u, r) != (poll.as_str(), *uid, *round) {
                    break;
                }
                let a: Answer = decode("quiz answer", v.value())?;
                if let Some(i) = index.get(voter).filter(|_| a.epoch == epoch) {
                    out[*i].totals.remove(&a);
                }
            }
        }
        for p in &mut out {
            p.name = match names.get(p.voter.as_str())? {
                Some(n) => n.value().to_string(),
                None => generated_name(&p.voter),
            };
        }
        Ok(out)
    }

    /// The name a voter chose, if any.
    pub fn chosen_name(&self, voter: &str) -> Result<Option<String>, StoreError> {
        let tx = self.db.begin_read()?;
        let names = tx.open_table(NAMES)?;
        Ok(names.get(voter)?.map(|g| g.value().to_string()))
    }

    /// A voter's scored answer in one quiz round, if any.
    pub fn quiz_answer(
        &self,
        poll: &str,
        uid: u64,
        round: u32,
        voter: &str,
    ) -> Result<Option<Answer>, StoreError> {
        let tx = self.db.begin_read()?;
        let answers = tx.open_table(ANSWERS)?;
        answers
            .get((poll, uid, round, voter))?
            .map(|g| decode("quiz answer", g.value()))
            .transpose()
    }
}
