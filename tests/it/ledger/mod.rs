//! One behaviour suite run against both ledger backends: a SQLite file (in a tempdir) and a
//! real PostgreSQL (a database per test). Each behaviour becomes `ledger::sqlite::name` and
//! `ledger::postgres::name`. Several instances of the service are several `Ledger`s on one
//! database, each with its own owner id, as on Cloud Run.

mod claims;
mod detections;
mod exports;
mod facts;
mod jobs;
mod leases;
mod outbox;
mod runs;
mod stalls;

use std::any::Any;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};

use backstop::calendar::GameDate;
use backstop::config::Vars;
use backstop::ledger::{Instance, Ledger, LedgerLocation};

use crate::support::postgres::Postgres;

/// How a test reaches the database behind the ledger's back.
enum Raw {
    Sqlite(PathBuf),
    Postgres(String),
}

pub struct Backend {
    location: LedgerLocation,
    raw: Raw,
    /// The first instance (lease 60 s).
    pub ledger: Ledger,
    _keep_alive: Box<dyn Any + Send + Sync>,
}

async fn sqlite() -> Backend {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("nested/ledger.db");
    let location = LedgerLocation::Sqlite(path.clone());
    Backend {
        ledger: connect(&location, Instance::new(Some("a"), Duration::from_secs(60))).await,
        location,
        raw: Raw::Sqlite(path),
        _keep_alive: Box::new(dir),
    }
}

async fn postgres() -> Backend {
    let server: Arc<Postgres> = Postgres::shared().await;
    let url = server.database().await;
    let location = LedgerLocation::from_vars(
        &Vars::from_pairs([("BACKSTOP_LEDGER", url.as_str())]),
        "unused".into(),
    )
    .expect("the test database URL is valid");
    Backend {
        ledger: connect(&location, Instance::new(Some("a"), Duration::from_secs(60))).await,
        location,
        raw: Raw::Postgres(url),
        _keep_alive: Box::new(server),
    }
}

async fn connect(location: &LedgerLocation, instance: Instance) -> Ledger {
    Ledger::connect(location, instance)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
}

impl Backend {
    /// Another instance of the service on the same database, holding leases for `lease`.
    pub async fn instance(&self, name: &str, lease: Duration) -> Ledger {
        connect(&self.location, Instance::new(Some(name), lease)).await
    }

    /// The first instance again, through a new connection (a restart keeps no state).
    pub async fn reopen(&self) -> Ledger {
        connect(&self.location, self.ledger.instance().clone()).await
    }

    pub async fn reopen_result(&self) -> Result<Ledger, String> {
        Ledger::connect(&self.location, self.ledger.instance().clone())
            .await
            .map_err(|e| e.to_string())
    }

    /// Runs SQL straight on the database (not through the ledger), as an operator could.
    pub async fn raw_execute(&self, sql: &str) -> Result<u64, String> {
        match &self.raw {
            Raw::Sqlite(path) => {
                let conn = rusqlite::Connection::open(path).map_err(|e| e.to_string())?;
                conn.execute(sql, [])
                    .map(|n| n as u64)
                    .map_err(|e| e.to_string())
            }
            Raw::Postgres(url) => {
                let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
                    .await
                    .map_err(|e| e.to_string())?;
                tokio::spawn(conn);
                client.execute(sql, &[]).await.map_err(|e| {
                    e.as_db_error()
                        .map(|d| d.message().to_string())
                        .unwrap_or_else(|| e.to_string())
                })
            }
        }
    }

    /// How many rows `SELECT … WHERE …` (given as `FROM …`) finds.
    pub async fn raw_count(&self, from: &str) -> i64 {
        let sql = format!("SELECT count(*) FROM {from}");
        match &self.raw {
            Raw::Sqlite(path) => {
                let conn = rusqlite::Connection::open(path).unwrap();
                conn.query_row(&sql, [], |r| r.get(0)).unwrap()
            }
            Raw::Postgres(url) => {
                let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
                    .await
                    .unwrap();
                tokio::spawn(conn);
                client.query_one(&sql, &[]).await.unwrap().get(0)
            }
        }
    }
}

pub fn at(hour: u32, minute: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 14, hour, minute, 0).unwrap()
}

pub fn date(s: &str) -> GameDate {
    s.parse().unwrap()
}

/// Each behaviour `file::name` becomes `sqlite::name` and `postgres::name`.
macro_rules! behaviours {
    ($($file:ident :: $name:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test]
            async fn $name() {
                let backend = super::sqlite().await;
                super::$file::$name(&backend).await;
            })*
        }
        mod postgres {
            $(#[tokio::test]
            async fn $name() {
                let backend = super::postgres().await;
                super::$file::$name(&backend).await;
            })*
        }
    };
}

behaviours!(
    runs::zero_counts_are_stored_as_zero_not_null,
    runs::a_finished_run_without_counts_is_refused_by_the_database,
    runs::finishing_twice_is_an_error,
    runs::filters_and_newest_first,
    runs::last_runs_picks_the_latest_per_date_and_market,
    runs::publishing_is_null_until_tried_and_a_sent_message_stays_sent,
    runs::a_record_serialises_for_the_api,
    runs::reopen_keeps_everything,
    runs::a_newer_schema_is_refused,
    facts::remembered_facts_survive_a_reopen,
    facts::empty_answers_are_counted_apart_until_the_date_is_remembered,
    jobs::same_idempotency_key_returns_the_existing_job,
    jobs::action_states_count_attempts_and_final_ones_stay_final,
    jobs::one_key_makes_one_job_across_instances,
    jobs::recent_jobs_come_newest_first_with_their_actions_and_the_limit_holds,
    jobs::a_requests_own_key_names_its_job_only_until_it_finished_and_the_window_passed,
    jobs::many_instances_asked_at_once_make_one_job_per_key,
    claims::a_file_is_claimed_once_even_across_reopen,
    claims::a_released_claim_may_be_sent_by_a_later_job,
    claims::concurrent_claims_only_one_wins,
    claims::evidence_settles_a_claim_and_stays_with_the_job_after_a_release,
    claims::instances_settling_one_claim_at_once_settle_it_once,
    outbox::a_message_its_run_holds_is_not_drained_until_the_lease_runs_out,
    outbox::a_failure_keeps_its_error_and_frees_the_message_and_a_publish_ends_it,
    outbox::a_file_is_announced_when_its_message_went_out_not_when_its_run_ended,
    outbox::drains_on_several_instances_at_once_take_each_message_once,
    exports::finished_runs_wait_oldest_first_and_a_claim_holds_until_its_lease_runs_out,
    exports::a_send_that_may_have_arrived_is_counted_and_a_refused_row_is_not_sent_again,
    exports::drains_on_several_instances_at_once_take_each_run_once,
    leases::a_live_instances_run_is_never_abandoned,
    leases::an_expired_run_is_abandoned_exactly_once,
    leases::a_heartbeat_keeps_long_work_alive,
    leases::a_late_owner_still_records_the_real_outcome,
    leases::a_job_is_adopted_by_one_instance_once_its_owner_stops,
    leases::a_released_job_is_adopted_at_once,
    leases::a_finished_jobs_check_waits_for_its_time_and_is_taken_by_one_instance,
    leases::rate_slots_are_one_schedule_for_every_instance,
    detections::one_detection_per_range_carried_on_by_one_instance_at_a_time,
);

/// Four instances start at once on an empty PostgreSQL database (a deploy of several
/// instances): one migrates while the others wait on the advisory lock, then find nothing
/// to do. None fails, and the schema is there once.
#[tokio::test]
async fn instances_starting_at_once_on_postgres_migrate_once() {
    let server = Postgres::shared().await;
    let url = server.database().await;
    let location = LedgerLocation::from_vars(
        &Vars::from_pairs([("BACKSTOP_LEDGER", url.as_str())]),
        "unused".into(),
    )
    .unwrap();
    let starts = (0..4).map(|i| {
        let location = location.clone();
        async move {
            Ledger::connect(
                &location,
                Instance::new(Some(&format!("i{i}")), Duration::from_secs(60)),
            )
            .await
            .map_err(|e| e.to_string())
        }
    });
    for started in futures_util::future::join_all(starts).await {
        started.unwrap().health().await.unwrap();
    }
    let backend = Backend {
        ledger: connect(&location, Instance::new(None, Duration::from_secs(60))).await,
        location,
        raw: Raw::Postgres(url),
        _keep_alive: Box::new(server),
    };
    assert_eq!(backend.raw_count("schema_version").await, 1);
}
