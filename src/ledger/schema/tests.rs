//! SQLite files of every released version migrate in place, keep their rows, and work with
//! today's code: v1 (the first release), v2 (before the outbox) and v4 (the outbox and the
//! recovery tables, before leases).

use std::path::Path;

use chrono::{DateTime, TimeZone, Utc};
use rusqlite::Connection;
use serde_json::json;

use super::*;
use crate::ledger::db::migrate_sqlite;
use crate::ledger::{Announcement, ClaimOutcome, EvidenceSource, FileSendState, JobKey, Ledger};

fn at(minute: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 14, 18, minute, 0).unwrap()
}

fn t(minute: u32) -> String {
    at(minute).to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

/// A file at `version`, written by that release's migrations, with `rows` inserted.
fn old_file(path: &Path, version: usize, rows: &str) {
    let conn = Connection::open(path).unwrap();
    for sql in &SQLITE[..version] {
        conn.execute_batch(sql).unwrap();
    }
    conn.pragma_update(None, "user_version", version as i64)
        .unwrap();
    conn.execute_batch(rows).unwrap();
}

fn user_version(conn: &Connection) -> i64 {
    conn.query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap()
}

#[test]
fn a_version_1_ledger_is_brought_up_to_date_and_keeps_its_rows() {
    let mut conn = Connection::open_in_memory().unwrap();
    conn.execute_batch(sqlite::V1).unwrap();
    conn.pragma_update(None, "user_version", 1).unwrap();
    conn.execute(
        "INSERT INTO jobs (id, idempotency_key, created_at, state, request) VALUES ('j', 'k', 't', 'running', '{}')",
        [],
    )
    .unwrap();
    migrate_sqlite(&mut conn).unwrap();
    assert_eq!(user_version(&conn), SQLITE_VERSION);
    let (result, owner): (Option<String>, Option<String>) = conn
        .query_row("SELECT result, owner FROM jobs WHERE id = 'j'", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .unwrap();
    assert_eq!(result, None, "the old job is there, with no result yet");
    assert_eq!(
        owner, None,
        "an old job has no owner: it may be adopted at once"
    );
    conn.execute("INSERT INTO known_games VALUES ('2026-01-14', 8, 't')", [])
        .unwrap();
    conn.execute("INSERT INTO known_file_rows VALUES ('o', 12)", [])
        .unwrap();
    conn.execute("INSERT INTO rate_slots VALUES ('h', 1, 0)", [])
        .unwrap();
    let empty: i64 = conn
        .query_row("SELECT count(*) FROM outbox", [], |r| r.get(0))
        .unwrap();
    assert_eq!(empty, 0, "the outbox starts empty");
}

/// A file of the release before the outbox (schema v2): its jobs keep their keys' meaning (a
/// `content-…` key is the request's own, any other was given), the rebuilt `jobs` keeps its
/// actions and claims, and its unfinished job, which has no owner, is adopted at once.
#[tokio::test]
async fn a_version_2_ledger_keeps_its_jobs_and_a_finished_request_may_run_again() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger.db");
    old_file(
        &path,
        2,
        &format!(
            "INSERT INTO jobs (id, idempotency_key, created_at, finished_at, state, request)
                 VALUES ('a', 'content-1', '{t0}', '{t0}', 'done', '{{}}'),
                        ('b', 'mine', '{t0}', NULL, 'running', '{{}}');
             INSERT INTO job_actions (job_id, seq, kind, game_date, market, reason, state, updated_at)
                 VALUES ('a', 1, 'scrape', '2026-01-14', 'points', 'r', 'done', '{t0}');
             INSERT INTO file_sends (object_name, job_id, state, claimed_at)
                 VALUES ('o', 'b', 'claimed', '{t0}');",
            t0 = t(0)
        ),
    );
    let l = Ledger::open(&path).await.unwrap();
    l.health().await.unwrap();
    let a = l.job("a").await.unwrap().unwrap();
    assert!(!a.key_given && a.actions.len() == 1, "{a:?}");
    assert!(l.job("b").await.unwrap().unwrap().key_given);
    assert_eq!(l.orphaned_jobs(at(1)).await.unwrap(), ["b"]);
    assert!(l.adopt_job("b", at(1)).await.unwrap(), "no owner: adopted");
    let claim = l.file_send("o").await.unwrap().unwrap();
    assert_eq!(
        (claim.job_id.as_str(), claim.state),
        ("b", FileSendState::Claimed)
    );

    let content = JobKey::Content {
        key: "content-1",
        repeat_window: std::time::Duration::from_secs(300),
    };
    let (again, created) = l
        .create_job(content, &json!({}), &[], at(30))
        .await
        .unwrap();
    assert!(created && again.id != "a", "a finished request plans anew");
    let (same, created) = l
        .create_job(content, &json!({}), &[], at(31))
        .await
        .unwrap();
    assert!(
        !created && same.id == again.id,
        "one unfinished job per key"
    );
    let (given, created) = l
        .create_job(JobKey::Given("mine"), &json!({}), &[], at(32))
        .await
        .unwrap();
    assert!(
        !created && given.id == "b",
        "a given key names its job for ever"
    );
    drop(l);

    let conn = Connection::open(&path).unwrap();
    assert_eq!(user_version(&conn), SQLITE_VERSION);
    conn.pragma_update(None, "foreign_keys", "ON").unwrap();
    let orphan = conn.execute(
        "INSERT INTO job_actions (job_id, seq, kind, game_date, market, reason, state, updated_at)
         VALUES ('zz', 1, 'scrape', '2026-01-14', 'points', 'r', 'done', 't')",
        [],
    );
    assert!(orphan.is_err(), "foreign keys still hold after the rebuild");
}

/// A file written by the release with the outbox and the recovery tables (schema v4, no
/// leases yet): messages, evidence and empty answers are kept and go on working.
#[tokio::test]
async fn a_version_4_ledger_keeps_its_outbox_evidence_and_answers() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger.db");
    old_file(
        &path,
        4,
        &format!(
            r#"INSERT INTO runs (id, scraper, game_date, market, "trigger", started_at, status, opts)
                   VALUES ('r1', 'bp_player_props', '2026-01-14', 'points', 'scheduler', '{t0}', 'running', '{{}}'),
                          ('r2', 'bp_player_props', '2026-01-14', 'points', 'scheduler', '{t1}', 'running', '{{}}');
               INSERT INTO outbox (run_id, object_name, message, created_at, claimed_at, attempts, last_error)
                   VALUES ('r1', 'f1', '{{"execution_id": "r1"}}', '{t0}', NULL, 1, 'topic not found');
               INSERT INTO outbox (run_id, object_name, message, created_at, attempts, published_at, message_id)
                   VALUES ('r2', 'f2', '{{"execution_id": "r2"}}', '{t1}', 1, '{t2}', 'm-2');
               INSERT INTO jobs (id, idempotency_key, key_given, created_at, state, request)
                   VALUES ('j', 'content-9', 0, '{t0}', 'running', '{{}}');
               INSERT INTO job_actions (job_id, seq, kind, game_date, market, object_name, reason, state, updated_at)
                   VALUES ('j', 1, 'send_file', '2026-01-14', 'points', 'f2', 'r', 'running', '{t0}');
               INSERT INTO file_sends (object_name, job_id, state, claimed_at) VALUES ('f2', 'j', 'claimed', '{t3}');
               INSERT INTO claim_evidence (object_name, job_id, checked_at, source, outcome, rows_found, detail)
                   VALUES ('f2', 'j', '{t4}', 'phase2_answer', 'unconfirmed', NULL, 'timed out');
               INSERT INTO empty_events_answers VALUES ('2026-01-10', '{t0}', '{t0}', 1);"#,
            t0 = t(0),
            t1 = t(1),
            t2 = t(2),
            t3 = t(3),
            t4 = t(4)
        ),
    );
    let l = Ledger::open(&path).await.unwrap();
    l.health().await.unwrap();

    let r1 = l.outbox_entry("r1").await.unwrap().unwrap();
    assert_eq!(r1.last_error.as_deref(), Some("topic not found"));
    assert_eq!(l.unpublished_count().await.unwrap(), 1);
    assert_eq!(
        l.announcement("f2").await.unwrap(),
        Some(Announcement::Published(at(2)))
    );
    let drained = l.claim_unpublished(at(10)).await.unwrap().unwrap();
    assert_eq!(drained.run_id, "r1", "the failed message goes out later");

    let evidence = l.claim_evidence("f2", "j").await.unwrap();
    assert_eq!(evidence.len(), 1);
    assert_eq!(
        (evidence[0].source, evidence[0].outcome),
        (EvidenceSource::Answer, ClaimOutcome::Unconfirmed)
    );
    let date = "2026-01-10".parse().unwrap();
    let answers = l.record_empty_events_answer(date, at(20)).await.unwrap();
    assert_eq!((answers.answers, answers.first_at), (2, at(0)));

    assert_eq!(l.orphaned_jobs(at(5)).await.unwrap(), ["j"], "no owner yet");
    assert!(l.adopt_job("j", at(5)).await.unwrap());
    let content = JobKey::Content {
        key: "content-9",
        repeat_window: std::time::Duration::from_secs(300),
    };
    let (same, created) = l.create_job(content, &json!({}), &[], at(6)).await.unwrap();
    assert!(!created && same.id == "j", "the unfinished job, as before");
    drop(l);
    assert_eq!(
        user_version(&Connection::open(&path).unwrap()),
        SQLITE_VERSION
    );
}
