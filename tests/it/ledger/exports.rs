//! The execution-log outbox: finished runs wait for their row of BigQuery's execution log,
//! oldest first, each taken by one drain at a time — on one instance or several — until it is
//! exported (sent, or found there after an unanswered send) or refused.

use std::collections::BTreeSet;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};

use backstop::ledger::outbox::CLAIM_LEASE;
use backstop::ledger::{Exported, Ledger};
use backstop::run::RunStatus;

use super::runs::{new_run, outcome};
use super::Backend;

fn at(minute: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 14, 18, 0, 0).unwrap() + chrono::Duration::minutes(minute)
}

/// Runs `a` and `b` finished at minutes 2 and 1; `c` still running.
async fn three_runs(l: &Ledger) {
    for (id, finished) in [("a", Some(2)), ("b", Some(1)), ("c", None)] {
        l.start_run(&new_run(id, "2026-01-14", None, at(0)))
            .await
            .unwrap();
        if let Some(minute) = finished {
            l.finish_run(id, &outcome(RunStatus::NoData, at(minute), 0))
                .await
                .unwrap();
        }
    }
}

async fn claim(l: &Ledger, minute: i64) -> Vec<(String, u32)> {
    let claimed = l.claim_exports(at(minute), 10).await.unwrap();
    claimed
        .into_iter()
        .map(|p| (p.run.run_id, p.sends))
        .collect()
}

pub async fn finished_runs_wait_oldest_first_and_a_claim_holds_until_its_lease_runs_out(
    b: &Backend,
) {
    let l = &b.ledger;
    three_runs(l).await;
    assert_eq!(
        l.unexported_count().await.unwrap(),
        2,
        "a running run waits for its end"
    );
    assert_eq!(claim(l, 3).await, [("b".into(), 0), ("a".into(), 0)]);
    assert!(claim(l, 4).await.is_empty(), "held by the first drain");
    assert_eq!(
        l.unexported_count().await.unwrap(),
        2,
        "held is not exported"
    );
    let lease = CLAIM_LEASE.num_minutes();
    assert_eq!(claim(l, 4 + lease).await.len(), 2, "the first drain died");
    l.exports_done(&["b".into()], Exported::Sent, at(20))
        .await
        .unwrap();
    assert_eq!(l.unexported_count().await.unwrap(), 1);
    let record = l.export_record("b").await.unwrap().unwrap();
    assert_eq!((record.sends, record.how.as_deref()), (1, Some("sent")));
    assert_eq!(record.exported_at, Some(at(20)));
    let later = claim(l, 100).await;
    assert!(
        later.iter().all(|(id, _)| id != "b"),
        "exported: never again"
    );
}

pub async fn a_send_that_may_have_arrived_is_counted_and_a_refused_row_is_not_sent_again(
    b: &Backend,
) {
    let l = &b.ledger;
    three_runs(l).await;
    claim(l, 3).await;
    let timed_out = "BigQuery did not answer in time";
    l.exports_failed(&["a".into()], timed_out, true)
        .await
        .unwrap();
    l.exports_failed(&["b".into()], "BigQuery is unreachable", false)
        .await
        .unwrap();
    assert_eq!(
        claim(l, 4).await,
        [("b".into(), 0), ("a".into(), 1)],
        "free at once"
    );
    l.export_rejected("b", "invalid: no such field: recovery")
        .await
        .unwrap();
    l.exports_done(&["a".into()], Exported::Found, at(5))
        .await
        .unwrap();
    let a = l.export_record("a").await.unwrap().unwrap();
    assert_eq!(
        (a.sends, a.how.as_deref()),
        (1, Some("found")),
        "found: no new send"
    );
    assert_eq!(
        a.last_error.as_deref(),
        Some(timed_out),
        "the failure stays on record"
    );
    let refused = l.export_record("b").await.unwrap().unwrap();
    assert!(refused.rejected && refused.last_error.unwrap().contains("no such field"));
    assert!(claim(l, 500).await.is_empty());
    assert_eq!(l.unexported_count().await.unwrap(), 0);
}

pub async fn drains_on_several_instances_at_once_take_each_run_once(b: &Backend) {
    let l = &b.ledger;
    for i in 0..12 {
        let id = format!("r{i:02}");
        l.start_run(&new_run(&id, "2026-01-14", None, at(0)))
            .await
            .unwrap();
        l.finish_run(&id, &outcome(RunStatus::Success, at(i), 3))
            .await
            .unwrap();
    }
    let mut instances = Vec::new();
    for name in ["x", "y", "z"] {
        instances.push(b.instance(name, Duration::from_secs(60)).await);
    }
    let drains = instances.iter().map(|l| async move {
        let mut mine = Vec::new();
        loop {
            let batch = l.claim_exports(at(30), 2).await.unwrap();
            if batch.is_empty() {
                return mine;
            }
            mine.extend(batch.into_iter().map(|p| p.run.run_id));
        }
    });
    let taken: Vec<String> = futures_util::future::join_all(drains)
        .await
        .into_iter()
        .flatten()
        .collect();
    let once: BTreeSet<&String> = taken.iter().collect();
    assert_eq!(
        (taken.len(), once.len()),
        (12, 12),
        "each run taken once: {taken:?}"
    );
}
