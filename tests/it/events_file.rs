//! The props scraper stores the day's events answer it fetched as the events file, exactly as
//! `bp_events` writes it, through a `bp_events` run of its own: one write, no extra request,
//! and a failure of that write is that run's alone.

use backstop::bettingpros::validate_events_file;
use backstop::calendar::GameDate;
use backstop::ledger::{RunFilter, RunRecord};
use backstop::market::{MarketSelection, MarketType};
use backstop::run::{RunStatus, Scraper, Trigger};
use backstop::scrape::ScrapeRequest;
use backstop::sim::catalogue::Catalogue;
use backstop::sim::server::SimConfig;
use serde_json::Value;

use crate::support::app::{spawn_app, spawn_app_with, TestApp, BUCKET, KEY};

fn d(day: u32) -> GameDate {
    format!("2026-01-{day:02}").parse().unwrap()
}

fn req(scraper: Scraper, day: u32, markets: MarketSelection) -> ScrapeRequest {
    ScrapeRequest {
        scraper,
        date: d(day),
        markets,
        trigger: Trigger::Scheduler,
    }
}

fn events_requests(t: &TestApp, day: u32) -> usize {
    let asked = format!("date={}", d(day));
    let arrivals = t.sim.arrivals();
    arrivals
        .iter()
        .filter(|a| a.path.ends_with("/events") && a.query.contains(&asked))
        .count()
}

async fn runs_of(t: &TestApp, day: u32, scraper: Scraper) -> Vec<RunRecord> {
    let filter = RunFilter {
        game_date: Some(d(day)),
        scraper: Some(scraper),
        ..RunFilter::default()
    };
    t.app.ledger.runs(&filter).await.unwrap()
}

/// Every key of a JSON object, and of each of its `events`, in order.
fn shape(file: &Value) -> (Vec<String>, Vec<Vec<String>>) {
    let keys = |v: &Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
    let events = file["events"].as_object().unwrap().values().map(keys);
    (keys(file), events.collect())
}

#[tokio::test]
async fn a_props_request_stores_the_days_events_once_as_bp_events_would_with_one_request() {
    let t = spawn_app(Catalogue::synthetic(&[(d(14), 5), (d(15), 5)], 4)).await;
    let bp_events = t
        .app
        .scrapes
        .run(&req(Scraper::Events, 14, MarketSelection::All))
        .await
        .remove(0);
    assert_eq!(
        bp_events.status,
        RunStatus::Success,
        "{}",
        bp_events.message
    );
    let props = t
        .app
        .scrapes
        .run(&req(Scraper::PlayerProps, 15, MarketSelection::All))
        .await;
    assert_eq!(props.len(), 6, "the answer is the six markets' runs");
    assert!(props.iter().all(|r| r.status == RunStatus::Success));
    assert_eq!(events_requests(&t, 15), 1, "no request of its own");

    let files = t.objects("bettingpros/events/2026-01-15/").await;
    assert_eq!(files.len(), 1, "stored once for the six markets");
    let (name, file) = &files[0];
    assert_eq!(
        name,
        &format!("bettingpros/events/2026-01-15/{}.json", props[0].timestamp),
        "named by the run's start, as the props files"
    );
    validate_events_file(file).unwrap();
    assert_eq!(file["date"], "2026-01-15");
    assert_eq!(file["timestamp"], props[0].timestamp.as_str());
    assert_eq!(file["event_count"], 5);
    let ids: Vec<String> = props[0].event_ids.iter().map(u64::to_string).collect();
    let stored: Vec<String> = file["events"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    let (mut ids, mut stored) = (ids, stored);
    ids.sort();
    stored.sort();
    assert_eq!(stored, ids, "the events the markets were scraped for");
    let written = t.objects("bettingpros/events/2026-01-14/").await;
    assert_eq!(
        shape(file),
        shape(&written[0].1),
        "the same file bp_events writes"
    );

    let runs = runs_of(&t, 15, Scraper::Events).await;
    assert_eq!(runs.len(), 1, "{runs:#?}");
    let run = &runs[0];
    assert_eq!(run.status, RunStatus::Success);
    assert_eq!(run.trigger, Trigger::Scheduler);
    assert_eq!(run.object_name.as_deref(), Some(name.as_str()));
    assert_eq!(run.events, Some(5));
    assert_eq!(run.props_written, Some(0));
    assert_eq!(
        run.attempts,
        Some(0),
        "the request is counted by the props runs, as before"
    );
    assert_eq!(run.opts["for_run"], props[0].run_id.as_str());
    for r in &props {
        let row = t.app.ledger.run(&r.run_id).await.unwrap().unwrap();
        assert_eq!((row.attempts, row.events), (Some(r.attempts), Some(5)));
        if r.run_id == props[0].run_id {
            assert_eq!(run.started_at, row.started_at, "the props run's start");
        }
    }

    let messages = t.messages(8).await;
    let m = messages
        .iter()
        .find(|m| m["execution_id"] == run.run_id.as_str())
        .expect("the events run's completion message");
    assert_eq!(m["processor_name"], "betting_pros_events");
    assert_eq!(
        (m["status"].as_str(), m["record_count"].as_u64()),
        (Some("success"), Some(5))
    );
    assert_eq!(m["metadata"]["gcs_path"], format!("gs://{BUCKET}/{name}"));
    assert!(
        m["metadata"]["run_status_detail"]
            .as_str()
            .unwrap()
            .contains(&props[0].run_id),
        "{m}"
    );
}

#[tokio::test]
async fn an_events_file_that_cannot_be_written_fails_its_own_run_and_never_the_props_file() {
    // A plain file where the date's directory of events files must go: the local store cannot
    // create `bettingpros/events/2026-01-14/…`, while the props files' directory is fine.
    let store = tempfile::tempdir().unwrap();
    let blocked = store.path().join("bettingpros/events");
    std::fs::create_dir_all(&blocked).unwrap();
    std::fs::write(blocked.join("2026-01-14"), b"not a directory").unwrap();
    let sim = SimConfig {
        api_key: Some(KEY.into()),
        ..SimConfig::new(Catalogue::synthetic(&[(d(14), 4)], 2))
    };
    let dir = store.path().display().to_string();
    let t = spawn_app_with(sim, &[("BACKSTOP_STORAGE", dir.as_str())]).await;
    let reports = t
        .app
        .scrapes
        .run(&req(
            Scraper::PlayerProps,
            14,
            MarketSelection::One(MarketType::Steals),
        ))
        .await;
    assert_eq!(reports.len(), 1);
    let props = &reports[0];
    assert_eq!(props.status, RunStatus::Success, "{}", props.message);
    let name = props
        .object_name
        .clone()
        .expect("the props file was written");
    assert!(name.starts_with("bettingpros/player-props/steals/2026-01-14/"));
    assert!(t.app.store.get(&name).await.is_ok());
    assert!(props.complete_file_url.is_some(), "announced to Phase 2");

    let runs = runs_of(&t, 14, Scraper::Events).await;
    assert_eq!(runs.len(), 1, "{runs:#?}");
    let events = &runs[0];
    assert_eq!(events.status, RunStatus::Failed);
    assert_eq!(events.error_kind.as_deref(), Some("storage"));
    assert_eq!(events.object_name, None);
    let why = events.error_message.clone().unwrap_or_default();
    for part in [
        "could not write bettingpros/events/2026-01-14/",
        &props.run_id,
        "bp_player_props",
    ] {
        assert!(why.contains(part), "{part}: {why}");
    }

    let messages = t.messages(2).await;
    let status = |run_id: &str| {
        let m = messages.iter().find(|m| m["execution_id"] == run_id);
        m.map(|m| (m["status"].clone(), m["processor_name"].clone()))
    };
    assert_eq!(
        status(&props.run_id),
        Some(("success".into(), "betting_pros_player_props".into()))
    );
    assert_eq!(
        status(&events.run_id),
        Some(("failed".into(), "betting_pros_events".into()))
    );
}
