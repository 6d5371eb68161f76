//! The one integration-test binary: each module below is one area, sharing `support`.

mod fetch;
mod pubsub;
mod scrape;
mod storage;
mod support;
