//! Tools that drive livepoll from the outside, apart from the server code: the attendee
//! simulator (`livepoll simulate`), the benchmark's baselines and loads (`livepoll bench`), and
//! the topic reader (`livepoll kafka read`).
//! They use only the public HTTP API and the Kafka wire formats.

pub mod bench;
pub mod fanout;
pub mod read;
pub mod simulate;
