//! Telling the rest of the pipeline about a run: the completion message to Phase 2 over Pub/Sub,
//! through the ledger's outbox so that none is lost, and the run's row of the execution log
//! the old dashboards read, through the ledger's execution-log outbox.

pub mod completion;
pub mod execution_log;
pub mod outbox;
pub mod pubsub;
