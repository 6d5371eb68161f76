//! Publishing through the ledger's outbox: a run records its completion message before
//! publishing it, marks it when it went out, and leaves it (with the error) when it did not; a
//! drain publishes what is left, oldest first, a bounded number per drain.

use chrono::Utc;
use serde_json::Value;

use super::completion::Notifier;
use super::pubsub::{PublishError, PublishErrorKind};
use crate::ledger::Ledger;

/// Messages one drain publishes at most: a later run or start carries on.
pub const DRAIN_LIMIT: usize = 20;

/// What one drain did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Drained {
    pub published: u32,
    pub failed: u32,
}

impl Notifier {
    /// Records `message` for `run_id` in the outbox, publishes it and records the outcome.
    /// `None` when notifications are off. When the ledger cannot record it, it is published
    /// all the same (a message that goes out beats one that is lost).
    pub async fn announce(
        &self,
        ledger: &Ledger,
        run_id: &str,
        object_name: Option<&str>,
        message: &Value,
    ) -> Option<Result<String, PublishError>> {
        let publisher = self.publisher.as_ref()?;
        let recorded = ledger
            .record_message(run_id, object_name, message, Utc::now())
            .await;
        if let Err(e) = &recorded {
            tracing::error!(run_id, error = %e,
                "could not record the completion message in the outbox; publishing it anyway");
        }
        let result = publisher.publish(message).await;
        let marked = match (&result, &recorded) {
            (_, Err(_)) => Ok(()),
            (Ok(id), Ok(())) => ledger.outbox_published(run_id, id, Utc::now()).await,
            (Err(e), Ok(())) => {
                tracing::error!(run_id, error = %e,
                    "completion message not published; it stays in the ledger's outbox and a later run announces it");
                ledger.outbox_failed(run_id, &e.to_string()).await
            }
        };
        if let Err(e) = marked {
            tracing::error!(run_id, error = %e, "could not record the publish in the ledger");
        }
        Some(result)
    }

    /// Publishes up to `limit` messages left in the outbox, oldest first. Stops at the first
    /// failure that says Pub/Sub is unusable (unavailable, topic missing, denied, no token);
    /// a message Pub/Sub rejected keeps its error and the drain goes on.
    pub async fn drain(&self, ledger: &Ledger, limit: usize) -> Drained {
        let mut done = Drained::default();
        let Some(publisher) = &self.publisher else {
            return done;
        };
        for _ in 0..limit {
            let entry = match ledger.claim_unpublished(Utc::now()).await {
                Ok(Some(entry)) => entry,
                Ok(None) => break,
                Err(e) => {
                    tracing::error!(error = %e, "cannot read the outbox of completion messages");
                    break;
                }
            };
            let run_id = entry.run_id.as_str();
            let (marked, stop) = match publisher.publish(&entry.message).await {
                Ok(id) => {
                    done.published += 1;
                    tracing::warn!(run_id, object = entry.object_name.as_deref(),
                        recorded_at = %entry.created_at, attempts = entry.attempts + 1,
                        "completion message announced late, from the outbox");
                    (
                        ledger.outbox_published(run_id, &id, Utc::now()).await,
                        false,
                    )
                }
                Err(e) => {
                    done.failed += 1;
                    tracing::error!(run_id, error = %e, "completion message still not published; it stays in the outbox");
                    let stop = e.kind != PublishErrorKind::Rejected;
                    (ledger.outbox_failed(run_id, &e.to_string()).await, stop)
                }
            };
            if let Err(e) = marked {
                tracing::error!(run_id, error = %e, "could not record the publish in the ledger");
            }
            if stop {
                break;
            }
        }
        done
    }
}
