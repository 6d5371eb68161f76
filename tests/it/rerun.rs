//! `backstop reprocess` run again after its job finished: the upstream was down for one date
//! during the first recovery; once it is back, the same command plans anew and recovers it.
//! Exit 1 while anything in the range is still lost, 0 once nothing is.

use std::process::Command;
use std::time::Duration;

use backstop::gaps::{Category, GapQuery};
use backstop::market::{MarketSelection, MarketType};
use backstop::sim::faults::Fault;
use serde_json::json;

use crate::support::api::Api;
use crate::support::process::output_of;
use crate::support::world::{d, history, process_env, world, World, NEVER_SCRAPED};

const DAYS: u32 = 6;

/// The `backstop` binary with the test service's settings: its exit code, stdout and stderr.
async fn backstop(w: &World, args: &[&str]) -> (Option<i32>, String, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_backstop"));
    command
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(process_env(w, &[]));
    output_of(
        command,
        &format!("backstop {args:?}"),
        Duration::from_secs(120),
    )
    .await
}

/// The id in `job ID: …` of a command's stderr.
fn job_id(stderr: &str) -> String {
    let line = stderr
        .lines()
        .find_map(|l| l.strip_prefix("job "))
        .unwrap_or_else(|| panic!("no new job in: {stderr}"));
    line.split(':').next().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_recovery_after_the_upstream_came_back_recovers_what_the_first_could_not() {
    let w = world(DAYS, None, &[]).await;
    history(&w, DAYS).await;
    let lost = d(NEVER_SCRAPED[0]);
    let range = GapQuery::new(d(1), d(DAYS), MarketSelection::One(MarketType::Steals)).unwrap();
    let before = w.t.app.detector.detect(&range).await;
    let row = before.row(lost, MarketType::Steals).unwrap();
    assert_eq!(row.verdict.category, Category::ScraperFailed);
    w.t.push_to(&format!("{}/process", w.loader.url)).await;
    let (from, to) = (d(1).to_string(), d(DAYS).to_string());
    let args = [
        "reprocess",
        "--from",
        &from,
        "--to",
        &to,
        "--market",
        "steals",
    ];

    // The upstream is down for that date during the first recovery.
    w.t.sim
        .fail_when(&format!("date={lost}"), Fault::Status(503));
    let (code, out, err) = backstop(&w, &args).await;
    assert_eq!(code, Some(1), "still lost: exit 1\n{out}\n{err}");
    assert!(
        out.contains(&format!("still scraper_failed {lost} steals")),
        "{out}"
    );
    let first = job_id(&err);

    // It is back: the same command plans anew from the evidence and recovers the date.
    w.t.sim.clear_rules();
    let (code, out, err) = backstop(&w, &args).await;
    assert_eq!(code, Some(0), "nothing lost any more: exit 0\n{out}\n{err}");
    let second = job_id(&err);
    assert_ne!(second, first, "a new job, not the finished one");
    let job = w.job(&second).await;
    assert_eq!(job.actions.len(), 1, "{job:#?}");
    assert_eq!(job.actions[0].game_date, lost);
    let after = w.t.app.detector.detect(&range).await;
    assert_eq!(after.problems().count(), 0, "{}", after.table(false));

    // Once more: nothing to do, and nothing lost.
    let (code, out, err) = backstop(&w, &args).await;
    assert_eq!(code, Some(0), "{out}\n{err}");
    assert!(err.contains(": 0 action(s)"), "{err}");
}

#[tokio::test]
async fn over_http_a_retried_request_gets_its_job_and_a_callers_key_names_one_job_for_ever() {
    let mut w = world(2, None, &[]).await;
    history(&w, 2).await;
    let api = Api::new(w.t.serve().await);
    let body = json!({"from": d(1).to_string(), "to": d(2).to_string(), "market": "steals"});

    let (status, first) = api.reprocess_answer(&body, None).await;
    assert_eq!(status, 202, "{first}");
    let id = first["job_id"].as_str().unwrap().to_string();
    api.finished_job(&id, Duration::from_secs(30)).await;
    // Finished a moment ago: a client retrying the request it lost the answer to gets it.
    let (status, again) = api.reprocess_answer(&body, None).await;
    assert_eq!(
        (status, again["job_id"].as_str()),
        (200, Some(id.as_str())),
        "{again}"
    );

    let keyed = api.reprocess(&body, "operator-1").await;
    api.finished_job(&keyed, Duration::from_secs(30)).await;
    let (status, same) = api.reprocess_answer(&body, Some("operator-1")).await;
    assert_eq!(
        (status, same["job_id"].as_str()),
        (200, Some(keyed.as_str())),
        "{same}"
    );
    let other = json!({"from": d(1).to_string(), "to": d(1).to_string(), "market": "steals"});
    let (status, refused) = api.reprocess_answer(&other, Some("operator-1")).await;
    assert_eq!(status, 409, "{refused}");
    assert!(
        refused["error"]
            .as_str()
            .unwrap_or_default()
            .contains("different request"),
        "{refused}"
    );
}
