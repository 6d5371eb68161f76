//! The one integration-test binary: each module below is one area, sharing `support`.

mod fetch;
mod pubsub;
mod storage;
mod support;
