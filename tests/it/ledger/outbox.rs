//! The outbox of completion messages: each message recorded before it is published, drained
//! later when it did not go out, and taken by one drain at a time — on one instance or several.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use serde_json::json;

use backstop::ledger::outbox::CLAIM_LEASE;
use backstop::ledger::{Announcement, Ledger};
use backstop::run::RunStatus;

use super::runs::{new_run, outcome};
use super::Backend;

fn at(minute: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 14, 18, 0, 0).unwrap() + chrono::Duration::minutes(minute)
}

fn object(id: &str) -> String {
    format!("bettingpros/events/2026-01-14/{id}.json")
}

/// Runs `a`, `b`, `c` whose messages were recorded (and claimed by the run) at minutes 0, 1, 2.
async fn three_messages(l: &Ledger) {
    for (i, id) in ["a", "b", "c"].into_iter().enumerate() {
        l.start_run(&new_run(id, "2026-01-14", None, at(i as i64)))
            .await
            .unwrap();
        l.finish_run(id, &outcome(RunStatus::NoData, at(i as i64), 0))
            .await
            .unwrap();
        let message = json!({ "execution_id": id });
        l.record_message(id, Some(&object(id)), &message, at(i as i64))
            .await
            .unwrap();
    }
}

async fn claim(l: &Ledger, minute: i64) -> Option<String> {
    l.claim_unpublished(at(minute))
        .await
        .unwrap()
        .map(|e| e.run_id)
}

pub async fn a_message_its_run_holds_is_not_drained_until_the_lease_runs_out(b: &Backend) {
    let l = &b.ledger;
    three_messages(l).await;
    assert_eq!(claim(l, 5).await, None, "each run publishes its own first");
    let lease = CLAIM_LEASE.num_minutes();
    assert_eq!(
        claim(l, lease + 1).await.as_deref(),
        Some("a"),
        "a died holding it"
    );
    assert_eq!(claim(l, lease + 1).await, None, "b and c are still held");
    assert_eq!(
        claim(l, lease + 3).await.as_deref(),
        Some("b"),
        "oldest first"
    );
    assert_eq!(claim(l, lease + 3).await.as_deref(), Some("c"));
    assert_eq!(claim(l, lease + 3).await, None, "each taken once");
}

pub async fn a_failure_keeps_its_error_and_frees_the_message_and_a_publish_ends_it(b: &Backend) {
    let l = &b.ledger;
    three_messages(l).await;
    l.outbox_failed("b", "publish: topic not found")
        .await
        .unwrap();
    let entry = l.outbox_entry("b").await.unwrap().unwrap();
    assert_eq!((entry.attempts, entry.published_at), (1, None));
    assert_eq!(
        entry.last_error.as_deref(),
        Some("publish: topic not found")
    );
    assert_eq!(l.run("b").await.unwrap().unwrap().published, Some(false));
    assert_eq!(claim(l, 3).await.as_deref(), Some("b"), "free at once");
    l.outbox_published("b", "m-1", at(4)).await.unwrap();
    let entry = l.outbox_entry("b").await.unwrap().unwrap();
    assert_eq!((entry.attempts, entry.published_at), (2, Some(at(4))));
    assert_eq!(entry.message_id.as_deref(), Some("m-1"));
    assert_eq!(entry.message, json!({ "execution_id": "b" }));
    assert!(entry.last_error.is_some(), "the failure stays on record");
    assert_eq!(l.run("b").await.unwrap().unwrap().published, Some(true));
    assert!(
        l.outbox_published("b", "m-2", at(5)).await.is_err(),
        "once only"
    );
    assert_eq!(l.unpublished_count().await.unwrap(), 2);
    assert_eq!(
        claim(l, 60).await.as_deref(),
        Some("a"),
        "published ones are never taken"
    );
    assert_eq!(l.outbox_entry("nope").await.unwrap(), None);
}

pub async fn a_file_is_announced_when_its_message_went_out_not_when_its_run_ended(b: &Backend) {
    let l = &b.ledger;
    three_messages(l).await;
    assert_eq!(
        l.announcement(&object("a")).await.unwrap(),
        Some(Announcement::Pending)
    );
    l.outbox_published("a", "m", at(180)).await.unwrap();
    assert_eq!(
        l.announcement(&object("a")).await.unwrap(),
        Some(Announcement::Published(at(180)))
    );
    assert_eq!(
        l.announcement("bettingpros/events/none.json")
            .await
            .unwrap(),
        None
    );
}

/// Three instances start at once after an outage and each drains the outbox: every message is
/// taken by exactly one of them (a message drained twice would be published twice).
pub async fn drains_on_several_instances_at_once_take_each_message_once(b: &Backend) {
    let l = &b.ledger;
    three_messages(l).await;
    for i in 3..12 {
        let id = format!("r{i}");
        l.start_run(&new_run(&id, "2026-01-14", None, at(i)))
            .await
            .unwrap();
        l.record_message(&id, None, &json!({}), at(i))
            .await
            .unwrap();
    }
    let minute = Duration::from_secs(60);
    let others = [b.instance("b", minute).await, b.instance("c", minute).await];
    let drains = [l, &others[0], &others[1]].map(|l| async move {
        let mut taken = Vec::new();
        while let Some(e) = l.claim_unpublished(at(60)).await.unwrap() {
            taken.push(e.run_id);
        }
        taken
    });
    let mut times: BTreeMap<String, u32> = BTreeMap::new();
    for id in futures_util::future::join_all(drains)
        .await
        .into_iter()
        .flatten()
    {
        *times.entry(id).or_default() += 1;
    }
    assert_eq!(times.len(), 12, "{times:?}");
    assert!(times.values().all(|n| *n == 1), "{times:?}");
}
