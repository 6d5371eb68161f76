//! The one integration-test binary: each module below is one area, sharing `support`.

mod api;
mod barrage;
mod cli;
mod deploy;
mod faults;
mod fetch;
mod instances;
mod ledger;
mod phase2;
mod properties;
mod proxies;
mod pubsub;
mod recovery;
mod scrape;
mod sigkill;
mod storage;
mod support;
mod warehouse;
