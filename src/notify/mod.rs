//! Telling the rest of the pipeline about a run: the completion message to Phase 2 over Pub/Sub,
//! through the ledger's outbox so that none is lost.

pub mod completion;
pub mod outbox;
pub mod pubsub;
