//! livepoll: self-hosted live audience polling. Votes flow through Kafka, tallies live in redb,
//! pages are embedded. `main.rs` only parses the command line and calls in here.

pub mod agenda;
pub mod app;
pub mod auth;
pub mod broker;
pub mod cli;
pub mod clock;
pub mod cluster;
pub mod commands;
pub mod consumer;
pub mod descriptors;
pub mod disk;
pub mod doctor;
pub mod domain;
pub mod eventcode;
pub mod export;
pub mod health;
pub mod http;
pub mod identity;
pub mod kafka;
pub mod live;
pub mod packer;
pub mod qr;
pub mod ratelimit;
pub mod service;
pub mod state;
pub mod store;
pub mod timer;
pub mod tools;
pub mod view;
