//! One integration-test binary; every test runs against a real broker started through
//! `scripts/kafka.sh`.

mod a11y;
mod broker;
mod browser;
mod cluster;
mod console;
mod harden;
mod helpers;
mod i18n;
mod kafka_schema;
mod moderation;
mod moderation_browser;
mod ops;
mod polls;
mod present;
mod qa;
mod qa_browser;
mod quiz;
mod records;
mod resilience;
mod scoped_keys;
mod session;
mod venue;
mod votes;
mod webdriver;
