//! Telling the rest of the pipeline about a run: the completion message to Phase 2 over Pub/Sub.

pub mod completion;
pub mod pubsub;
