//! The pure core: what polls, votes and tallies are, with no Kafka, disk or HTTP in sight.

pub mod ballot_order;
pub mod blocklist;
pub mod events;
pub mod moderation;
pub mod names;
pub mod poll;
pub mod polls;
pub mod presenter;
pub mod qa;
pub mod question;
pub mod quiz;
pub mod record_checks;
pub mod tally;
pub mod text;
pub mod vote;
