//! Tools that drive livepoll from the outside, apart from the server code: the attendee
//! simulator (`livepoll simulate`) and the benchmark's baselines and loads (`livepoll bench`).
//! They use only the public HTTP API and the Kafka wire formats.

pub mod bench;
pub mod fanout;
pub mod simulate;
