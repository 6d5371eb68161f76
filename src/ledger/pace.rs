//! The rate limit shared by every instance on this ledger: the ledger is a [`PaceStore`], each
//! reservation one upsert on the host's `rate_slots` row (atomic on both backends). A lost
//! write costs one slot, never a promise, so PostgreSQL runs these on connections that do not
//! wait for the disk (`synchronous_commit = off`).

use async_trait::async_trait;

use super::Ledger;
use crate::fetch::{PaceStore, Slot};

#[async_trait]
impl PaceStore for Ledger {
    async fn advance(&self, host: &str, now_us: i64, interval_us: i64) -> Result<Slot, String> {
        let row = self
            .db
            .query_relaxed(
                "INSERT INTO rate_slots (host, next_slot_us, paused_until_us)
                 VALUES ($1, CAST($2 AS BIGINT) + CAST($3 AS BIGINT), 0)
                 ON CONFLICT (host) DO UPDATE SET next_slot_us = CASE
                     WHEN rate_slots.next_slot_us >= CAST($2 AS BIGINT)
                      AND rate_slots.next_slot_us >= rate_slots.paused_until_us
                         THEN rate_slots.next_slot_us
                     WHEN rate_slots.paused_until_us >= CAST($2 AS BIGINT)
                         THEN rate_slots.paused_until_us
                     ELSE CAST($2 AS BIGINT) END + CAST($3 AS BIGINT)
                 RETURNING next_slot_us, paused_until_us",
                &[host.into(), now_us.into(), interval_us.into()],
            )
            .await
            .map_err(|e| format!("reserving a request slot for {host} in the ledger: {e}"))?;
        let row = row
            .into_iter()
            .next()
            .ok_or_else(|| format!("reserving a request slot for {host}: no row returned"))?;
        let read = |col| row.int(col).map_err(|e| e.to_string());
        Ok(Slot {
            next_us: read("next_slot_us")?,
            paused_until_us: read("paused_until_us")?,
        })
    }

    async fn pause(&self, host: &str, until_us: i64) -> Result<(), String> {
        self.db
            .query_relaxed(
                "INSERT INTO rate_slots (host, next_slot_us, paused_until_us)
                 VALUES ($1, 0, CAST($2 AS BIGINT))
                 ON CONFLICT (host) DO UPDATE SET paused_until_us = CASE
                     WHEN rate_slots.paused_until_us > CAST($2 AS BIGINT)
                         THEN rate_slots.paused_until_us
                     ELSE CAST($2 AS BIGINT) END",
                &[host.into(), until_us.into()],
            )
            .await
            .map(|_| ())
            .map_err(|e| format!("pausing requests to {host} in the ledger: {e}"))
    }

    async fn paused_until(&self, host: &str) -> Result<i64, String> {
        let rows = self
            .db
            .query_relaxed(
                "SELECT paused_until_us FROM rate_slots WHERE host = $1",
                &[host.into()],
            )
            .await
            .map_err(|e| format!("reading the pause of {host} in the ledger: {e}"))?;
        match rows.first() {
            Some(r) => r.int("paused_until_us").map_err(|e| e.to_string()),
            None => Ok(0),
        }
    }
}
