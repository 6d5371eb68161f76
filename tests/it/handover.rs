//! Hand-overs to Phase 2 whose outcome is unknown (contract section 4), end to end: a Phase 2
//! that loads the file but answers after backstop's timeout gets it once, and the claim is
//! confirmed from the rows under the file's `source_file_path`; a Phase 2 that takes the file
//! and never loads it gets it again once the pending-load window has passed — exactly once.

use std::time::Duration;

use backstop::ledger::{ActionState, ClaimOutcome, FileSendState};
use backstop::reprocess::{ReprocessRequest, REPEAT_WINDOW};

use crate::support::api::Api;
use crate::support::loader::Route;
use crate::support::world::{d, history, world, World, NEVER_LOADED};

/// The pending-load window of these tests: 0.1 min.
const WINDOW: Duration = Duration::from_secs(6);

fn settings(max_attempts: &'static str) -> [(&'static str, &'static str); 3] {
    [
        ("BACKSTOP_PHASE2_TIMEOUT_SECS", "1"),
        ("BACKSTOP_PHASE2_MAX_ATTEMPTS", max_attempts),
        ("BACKSTOP_PENDING_LOAD_MINS", "0.1"),
    ]
}

fn the_date_never_loaded() -> ReprocessRequest {
    ReprocessRequest {
        dates: Some(vec![d(NEVER_LOADED).to_string()]),
        market: Some("steals".into()),
        ..Default::default()
    }
}

/// Runs one recovery of the never-loaded date to its end; the job's id and planned actions.
async fn recover(w: &World, key: &str) -> (String, usize) {
    let submitted =
        w.t.app
            .recovery
            .submit(&the_date_never_loaded(), Some(key), REPEAT_WINDOW)
            .await
            .unwrap();
    assert!(submitted.created, "{key}");
    w.t.app.recovery.execute(&submitted.job.id).await;
    (submitted.job.id, submitted.plan.actions.len())
}

/// Requests that handed `name` to Phase 2 (not completion messages).
fn sends(w: &World, name: &str) -> usize {
    let requests = w.loader.requests();
    requests
        .iter()
        .filter(|r| r.name == name && r.route == Route::Send)
        .count()
}

#[tokio::test]
async fn a_phase2_that_loads_but_answers_late_gets_the_file_once_and_the_claim_is_confirmed_from_its_rows(
) {
    // Four attempts allowed: a timeout must still not be retried.
    let mut w = world(8, None, &settings("4")).await;
    let file = history(&w, 8).await[&NEVER_LOADED].clone();
    // Its completion message went out longer than the window ago: a recovery may send it.
    tokio::time::sleep(WINDOW).await;
    w.loader.answer_late(Duration::from_secs(3));

    let (job_id, planned) = recover(&w, "first").await;
    assert_eq!(planned, 1);
    // Anything a retry would have sent has arrived by now.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(sends(&w, &file), 1, "{:#?}", w.loader.requests());
    assert_eq!(w.loader.deliveries()[&file], 1, "loaded once");

    let ledger = &w.t.app.ledger;
    let job = ledger.job(&job_id).await.unwrap().unwrap();
    let detail = job.actions[0].detail.clone().unwrap_or_default();
    assert_eq!(job.actions[0].state, ActionState::Failed);
    assert!(
        detail.starts_with("unconfirmed") && detail.contains("outcome unknown"),
        "{detail}"
    );
    let claim = ledger.file_send(&file).await.unwrap().unwrap();
    assert_eq!(claim.state, FileSendState::Sent, "confirmed from evidence");
    let evidence = ledger.claim_evidence(&file, &job_id).await.unwrap();
    let outcomes: Vec<_> = evidence.iter().map(|e| e.outcome).collect();
    assert_eq!(
        outcomes,
        [ClaimOutcome::Unconfirmed, ClaimOutcome::Confirmed]
    );
    let rows = evidence[1].rows_found.unwrap();
    assert!(
        rows > 0 && evidence[1].detail.contains(&file),
        "{evidence:#?}"
    );

    // The job shows its claim and the evidence that settled it.
    let api = Api::new(w.t.serve().await);
    let claims = api.claims(&job_id).await;
    assert_eq!(claims.len(), 1, "{claims:#?}");
    assert_eq!(claims[0]["object_name"], file.as_str());
    assert_eq!(claims[0]["delivery"]["state"], "sent");
    assert_eq!(claims[0]["evidence"][1]["outcome"], "confirmed");
    assert_eq!(claims[0]["evidence"][1]["rows_found"], rows);

    // A second recovery sends nothing: the file has its rows.
    let (_, planned) = recover(&w, "second").await;
    assert_eq!(planned, 0);
    assert_eq!((sends(&w, &file), w.loader.deliveries()[&file]), (1, 1));
}

#[tokio::test]
async fn a_file_taken_but_never_loaded_is_released_after_the_window_and_sent_once_more() {
    let w = world(8, None, &settings("1")).await;
    let file = history(&w, 8).await[&NEVER_LOADED].clone();
    tokio::time::sleep(WINDOW).await;
    w.loader.stall(true);

    let (first, _) = recover(&w, "first").await;
    let ledger = &w.t.app.ledger;
    assert_eq!(
        ledger.file_send(&file).await.unwrap().unwrap().state,
        FileSendState::Claimed
    );
    let last = ledger
        .claim_evidence(&file, &first)
        .await
        .unwrap()
        .pop()
        .unwrap();
    assert_eq!(
        (last.outcome, last.rows_found),
        (ClaimOutcome::Unconfirmed, Some(0))
    );
    // Within the window nothing sends it again: Phase 2 may still be loading it.
    let plan =
        w.t.app
            .recovery
            .plan(&the_date_never_loaded())
            .await
            .unwrap();
    assert!(plan.actions.is_empty(), "{:?}", plan.actions);
    assert!(
        plan.skipped[0].reason.contains("unconfirmed"),
        "{:?}",
        plan.skipped
    );

    w.loader.stall(false);
    tokio::time::sleep(WINDOW).await;
    let (_, planned) = recover(&w, "second").await;
    assert_eq!(planned, 1, "released: no rows once the window passed");
    assert_eq!(sends(&w, &file), 2, "{:#?}", w.loader.requests());
    assert_eq!(w.loader.deliveries()[&file], 1);
    let released = ledger
        .claim_evidence(&file, &first)
        .await
        .unwrap()
        .pop()
        .unwrap();
    assert_eq!(released.outcome, ClaimOutcome::Released, "{released:?}");
    assert_eq!(
        ledger.file_send(&file).await.unwrap().unwrap().state,
        FileSendState::Sent
    );

    let (_, planned) = recover(&w, "third").await;
    assert_eq!((planned, sends(&w, &file)), (0, 2));
}
