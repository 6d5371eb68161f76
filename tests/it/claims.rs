//! What operators do over HTTP: list the hand-overs evidence could not settle, settle one by
//! hand (its object name in the path, slashes and all, or percent-encoded), and the typed
//! errors: 400 for a bad request, 404 for what is not there, 409 for a conflict with the
//! ledger, an opaque 500 with a request id whose detail is only in the log.

use serde_json::{json, Value};

use crate::support::api::Api;
use crate::support::app::{spawn_offline, unconfirmed_hand_overs, TestApp};
use crate::support::logs::Captured;

const LOADED: &str = "bettingpros/player-props/steals/2026-01-07/20260107_120000.json";
const NOT_LOADED: &str = "bettingpros/player-props/steals/2026-01-08/20260108_120000.json";

/// A service whose BigQuery is unreachable, with an unconfirmed hand-over of each file.
async fn service() -> (TestApp, Api) {
    let mut t = spawn_offline(&[]).await;
    unconfirmed_hand_overs(&t.app.ledger, &[LOADED, NOT_LOADED]).await;
    let api = Api::new(t.serve().await);
    (t, api)
}

fn error(answer: &Value) -> &str {
    answer["error"].as_str().unwrap_or_default()
}

#[tokio::test]
async fn claims_evidence_cannot_settle_are_listed_and_settled_by_hand_by_their_object_names() {
    let (t, api) = service().await;
    let (status, listed) = api.get("/claims").await;
    assert_eq!(status, 200, "{listed}");
    assert_eq!(listed["count"], 2, "{listed}");
    let first = &listed["unconfirmed"][0];
    assert_eq!(first["object_name"], LOADED);
    assert!(
        first["last_check"]["detail"]
            .as_str()
            .unwrap()
            .contains("could not be read"),
        "BigQuery is down, so the claim waits for a person: {first}"
    );

    // The name as it is, slashes and all.
    let (status, confirmed) = api
        .post(&format!("/claims/{LOADED}/confirm"), &json!({}))
        .await;
    assert_eq!(status, 200, "{confirmed}");
    assert_eq!(confirmed["outcome"], "confirmed");
    assert!(confirmed["message"]
        .as_str()
        .unwrap()
        .contains("never sent again"));
    // Percent-encoded as one segment.
    let encoded = NOT_LOADED.replace('/', "%2F");
    let (status, released) = api
        .post(&format!("/claims/{encoded}/release"), &json!({}))
        .await;
    assert_eq!(status, 200, "{released}");
    assert_eq!(released["object_name"], NOT_LOADED);
    assert!(
        t.app.ledger.file_send(NOT_LOADED).await.unwrap().is_none(),
        "released"
    );
    let sent = t.app.ledger.file_send(LOADED).await.unwrap().unwrap();
    assert_eq!(sent.state.as_str(), "sent");
    let job = &t.app.ledger.unfinished_jobs().await.unwrap()[0];
    let evidence = t.app.ledger.claim_evidence(LOADED, &job.id).await.unwrap();
    assert_eq!(
        evidence.last().unwrap().source.as_str(),
        "person",
        "{evidence:#?}"
    );

    let (status, listed) = api.get("/claims").await;
    assert_eq!((status, &listed["count"]), (200, &json!(0)), "{listed}");

    // A confirmed delivery is never released: a conflict. Confirming again is fine.
    let (status, refused) = api
        .post(&format!("/claims/{LOADED}/release"), &json!({}))
        .await;
    assert_eq!(status, 409, "{refused}");
    assert!(error(&refused).contains("never released"), "{refused}");
    let (status, again) = api
        .post(&format!("/claims/{LOADED}/confirm"), &json!({}))
        .await;
    assert_eq!(status, 200, "{again}");
    // No claim at all, or no word saying what to do: 404, saying which.
    let (status, none) = api
        .post(
            "/claims/bettingpros/player-props/steals/2026-01-09/x.json/release",
            &json!({}),
        )
        .await;
    assert_eq!(status, 404, "{none}");
    assert!(error(&none).contains("no delivery is recorded"), "{none}");
    let (status, usage) = api
        .post(&format!("/claims/{LOADED}/forget"), &json!({}))
        .await;
    assert_eq!(status, 404, "{usage}");
    assert!(error(&usage).contains("/confirm"), "{usage}");
}

#[tokio::test]
async fn a_bad_request_is_400_a_reused_key_409_and_a_broken_ledger_an_opaque_500_with_a_request_id()
{
    let (logs, _guard) = Captured::start();
    let (t, api) = service().await;
    for (path, needle) in [
        ("/gaps?from=2026-01-02", "give from and to"),
        ("/gaps?from=2026-01-02&to=2026-01-01", "backwards"),
        ("/runs?status=exploded", "exploded"),
        ("/reprocess?limit=0", "limit"),
    ] {
        let (status, answer) = api.get(path).await;
        assert_eq!(status, 400, "{path}: {answer}");
        assert!(error(&answer).contains(needle), "{path}: {answer}");
    }
    let (status, answer) = api.post("/reprocess", &json!({"from": "2026-01-01"})).await;
    assert_eq!(status, 400, "{answer}");
    let (status, answer) = api
        .post("/reprocess?repeat_window_secs=9999", &json!({}))
        .await;
    assert_eq!(status, 400, "{answer}");
    assert!(error(&answer).contains("repeat_window_secs"), "{answer}");

    // The key "k" names the job made above, for another request.
    let body = json!({"from": "2026-01-01", "to": "2026-01-02", "market": "steals"});
    let (status, answer) = api.post_with_key("/reprocess", &body, "k").await;
    assert_eq!(status, 409, "{answer}");
    assert!(error(&answer).contains("different request"), "{answer}");

    // A ledger that breaks under the service: the answer names no table and no error, only a
    // request id, and the log has the detail under that id.
    let backstop::ledger::LedgerLocation::Sqlite(path) = &t.app.config.ledger.location else {
        panic!("the test service's ledger is a SQLite file");
    };
    rusqlite::Connection::open(path)
        .unwrap()
        .execute_batch("DROP TABLE job_actions")
        .unwrap();
    let (status, answer) = api.get("/reprocess").await;
    assert_eq!(status, 500, "{answer}");
    let id = answer["request_id"]
        .as_str()
        .expect("a request id")
        .to_string();
    let text = answer.to_string();
    assert!(
        !text.contains("job_actions") && !text.contains("ledger:"),
        "{text}"
    );
    assert!(error(&answer).contains(&id), "{answer}");
    let log = logs.text();
    let line = log
        .lines()
        .find(|l| l.contains(&id))
        .unwrap_or_else(|| panic!("no log line with {id}:\n{log}"));
    assert!(line.contains("job_actions"), "{line}");
}
