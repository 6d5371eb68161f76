//! A dependency that answers late: an instance stalled inside a transaction (Cloud Run throttles
//! its CPU once the request that started the work has answered) holds the rows it locked.

use std::time::{Duration, Instant};

use backstop::market::MarketType;

use super::runs::new_run;
use super::{at, postgres};

/// Another instance's ledger call on those rows fails within half a lease, saying what it was
/// doing, rather than hanging its request; and the server cuts the stalled session once a
/// lease has passed, so the rows are free again and the same call succeeds.
#[tokio::test]
async fn a_stalled_instances_open_transaction_neither_hangs_others_nor_holds_rows_for_ever() {
    let lease = Duration::from_secs(2);
    let b = postgres().await;
    b.ledger
        .start_run(&new_run(
            "r1",
            "2026-01-14",
            Some(MarketType::Points),
            at(10, 0),
        ))
        .await
        .unwrap();
    // The stalled instance: a session as the ledger opens them, idle inside a transaction
    // that locked the run's row.
    let super::Raw::Postgres(url) = &b.raw else {
        unreachable!()
    };
    let mut config: tokio_postgres::Config = url.parse().unwrap();
    config.options(backstop::ledger::session_options(lease));
    let (stalled, conn) = config.connect(tokio_postgres::NoTls).await.unwrap();
    let cut = tokio::spawn(conn);
    stalled
        .batch_execute("BEGIN; SELECT id FROM runs WHERE id = 'r1' FOR UPDATE")
        .await
        .unwrap();

    let other = b.instance("other", lease).await;
    let began = Instant::now();
    let answered = tokio::time::timeout(lease * 3, other.abandon_running(at(11, 0))).await;
    let e = answered
        .unwrap_or_else(|_| panic!("no answer after {:?}: it hangs", began.elapsed()))
        .expect_err("the row is held");
    let said = e.to_string();
    assert!(said.contains("abandon"), "says what it was doing: {said}");
    assert!(said.contains("statement timeout"), "and why: {said}");
    assert!(said.contains("asking again"), "and what to do: {said}");

    // The server ends the stalled session after a lease idle in its transaction.
    let ended = tokio::time::timeout(lease * 5, cut).await;
    assert!(ended.is_ok(), "the stalled session was cut");
    assert_eq!(other.abandon_running(at(11, 0)).await.unwrap(), 1);
}
