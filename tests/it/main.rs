//! The one integration-test binary: each module below is one area, sharing `support`.

mod api;
mod auth;
mod barrage;
mod claims;
mod cli;
mod demo;
mod deploy;
mod faults;
mod fetch;
mod gcp;
mod handover;
mod markets;
mod off_days;
mod outbox;
mod page;
mod phase2;
mod properties;
mod proxies;
mod pubsub;
mod recovery;
mod rerun;
mod scrape;
mod sigkill;
mod storage;
mod support;
mod warehouse;
