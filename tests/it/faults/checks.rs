//! What the fault-injection scenario asserts after each phase and at the end.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use backstop::bettingpros::{validate_events_file, validate_props_file};
use backstop::calendar::GameDate;
use backstop::ledger::RunRecord;
use backstop::market::MarketType;
use backstop::run::{RunStatus, Scraper, Trigger};
use backstop::sim::server::SimServer;
use chrono::{DateTime, Utc};
use serde_json::Value;

use super::Calendar;
use crate::support::app::TestApp;
use crate::support::loader::{Loader, Route};

fn run_of<'a>(runs: &'a [RunRecord], answer: &Value) -> &'a RunRecord {
    let id = answer["run_id"].as_str().expect("a run id");
    runs.iter()
        .find(|r| r.run_id == id)
        .unwrap_or_else(|| panic!("run {id} is not in the ledger"))
}

/// The 403 burst fails its runs as `blocked`; the outage fails its runs as `storage`, with
/// nothing written (off days answer `no_data` without writing).
pub fn burst_and_outage(runs: &[RunRecord], blocked: &[Value], outage: &[Value]) {
    for answer in blocked {
        let r = run_of(runs, answer);
        assert_eq!(
            (r.status, r.error_kind.as_deref()),
            (RunStatus::Failed, Some("blocked")),
            "{r:#?}"
        );
    }
    let mut storage = 0;
    for answer in outage {
        let r = run_of(runs, answer);
        assert!(r.object_name.is_none(), "written during the outage: {r:#?}");
        match (r.status, r.error_kind.as_deref()) {
            (RunStatus::NoData, _) => {}
            (RunStatus::Failed, Some("storage")) => {
                let message = r.error_message.as_deref().unwrap_or_default();
                assert!(message.contains("could not write"), "{message}");
                storage += 1;
            }
            // The upstream's faults can fail a run before it gets to writing.
            (RunStatus::Failed, Some(_)) => {}
            _ => panic!("a run during the storage outage: {r:#?}"),
        }
    }
    assert!(storage > 0, "no run met the storage outage");
}

/// Page 2 failing for good leaves `partial` runs whose files are kept apart, marked incomplete.
pub fn page_two_made_partial_runs(runs: &[RunRecord], answers: &[Value]) {
    let partial: Vec<&RunRecord> = answers
        .iter()
        .map(|a| run_of(runs, a))
        .filter(|r| r.status == RunStatus::Partial)
        .collect();
    assert!(!partial.is_empty(), "no partial run: {answers:#?}");
    for r in partial {
        let name = r.object_name.as_deref().unwrap_or_default();
        assert!(
            name.starts_with("bettingpros/partial/player-props/"),
            "{r:#?}"
        );
        assert_eq!(
            (r.pages_fetched, r.error_kind.as_deref()),
            (Some(1), Some("http_503")),
            "{r:#?}"
        );
    }
}

/// Waits until Phase 2 has loaded every complete props file announced since it subscribed
/// (events files are announced too, and Phase 2 skips them).
pub async fn wait_for_pushes(runs: &[RunRecord], loader: &Loader, since: DateTime<Utc>) {
    let announced: Vec<&str> = runs
        .iter()
        .filter(|r| r.scraper == Scraper::PlayerProps)
        .filter(|r| r.status == RunStatus::Success && r.started_at >= since)
        .filter_map(|r| r.object_name.as_deref())
        .collect();
    let start = Instant::now();
    loop {
        let requests = loader.requests();
        let loaded = |name: &str| requests.iter().any(|r| r.name == name && r.status == 200);
        let missing: Vec<&&str> = announced.iter().filter(|n| !loaded(n)).collect();
        if missing.is_empty() {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "never pushed to Phase 2: {missing:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Each (date, market) is in the category its history calls for. A schedule the events API
/// would not give (faults on every attempt) is `unknown`, which is the honest answer: counted.
pub fn categories(
    cal: &Calendar,
    runs: &[RunRecord],
    rows: &[Value],
    subscribed: DateTime<Utc>,
) -> usize {
    assert_eq!(rows.len(), cal.dates.len() * cal.markets.len());
    let (mut unknown, mut seen) = (0, HashMap::new());
    for row in rows {
        let date: GameDate = row["date"].as_str().unwrap().parse().unwrap();
        let market: MarketType = row["market"].as_str().unwrap().parse().unwrap();
        let complete = runs.iter().find(|r| {
            (r.game_date, r.market, r.status) == (date, Some(market), RunStatus::Success)
        });
        let expected = match complete {
            _ if cal.games(date) == 0 => "off_day",
            Some(r) if r.started_at >= subscribed => "complete",
            Some(_) => "processor_failed",
            None => "scraper_failed",
        };
        let verdict = &row["verdict"];
        let got = verdict["category"].as_str().unwrap_or_default();
        if got == "unknown" {
            let reason = verdict["reason"].as_str().unwrap_or_default();
            assert!(
                reason.contains("schedule is unknown"),
                "{date} {market}: {verdict}"
            );
            unknown += 1;
        } else {
            assert_eq!(got, expected, "{date} {market}: {verdict}");
        }
        *seen.entry(expected).or_insert(0) += 1;
    }
    for category in ["complete", "processor_failed", "scraper_failed", "off_day"] {
        assert!(seen.contains_key(category), "no {category} date: {seen:?}");
    }
    unknown
}

/// While Phase 2 answered 500, every send failed, its claim was released (a 500 means "not
/// loaded"), and nothing was loaded. Returns the files refused.
pub async fn sends_refused_and_released(
    t: &TestApp,
    loader: &Loader,
    jobs: &[Value],
) -> Vec<String> {
    let mut files = Vec::new();
    for a in jobs
        .iter()
        .flat_map(|j| j["actions"].as_array().into_iter().flatten())
    {
        let name = a["object_name"]
            .as_str()
            .expect("a send names its file")
            .to_string();
        assert_eq!(
            (a["kind"].as_str(), a["state"].as_str()),
            (Some("send_file"), Some("failed")),
            "{a}"
        );
        assert!(
            a["detail"]
                .as_str()
                .unwrap_or_default()
                .contains("HTTP 500"),
            "{a}"
        );
        let claim = t
            .app
            .ledger
            .file_send(&name)
            .await
            .expect("the ledger reads");
        assert_eq!(claim, None, "the claim on {name} was released");
        files.push(name);
    }
    assert!(!files.is_empty(), "no file to send while Phase 2 was down");
    let requests = loader.requests();
    for name in &files {
        let seen: Vec<_> = requests.iter().filter(|r| &r.name == name).collect();
        assert_eq!(seen.len(), 1, "{name}: {seen:?}");
        assert_eq!((seen[0].route, seen[0].status), (Route::Send, 500));
    }
    let loads = loader.deliveries();
    for name in &files {
        assert!(
            !loads.contains_key(name),
            "{name} loaded while Phase 2 refused"
        );
    }
    files
}

/// Every object is valid and says whether it is complete; every object belongs to exactly one
/// run and every run's counts are its file's counts. Events files are written by the
/// `bp_events` runs that store each props request's events answer.
pub async fn storage_matches_the_ledger(t: &TestApp, runs: &[RunRecord]) {
    let objects: HashMap<String, Value> = t.objects("bettingpros/").await.into_iter().collect();
    for (name, file) in &objects {
        if name.starts_with("bettingpros/events/") {
            if let Err(e) = validate_events_file(file) {
                panic!("{name} fails validation: {e}");
            }
            continue;
        }
        let complete = if name.starts_with("bettingpros/player-props/") {
            true
        } else if name.starts_with("bettingpros/partial/player-props/") {
            false
        } else {
            panic!("an object nobody should have written: {name}");
        };
        if let Err(e) = validate_props_file(file) {
            panic!("{name} fails validation: {e}");
        }
        assert_eq!(file["complete"], complete, "{name}");
    }
    let mut owners: HashMap<&str, u32> = HashMap::new();
    for r in runs {
        let events = r.scraper == Scraper::Events;
        if !events {
            let written = matches!(r.status, RunStatus::Success | RunStatus::Partial);
            assert_eq!(r.object_name.is_some(), written, "{r:#?}");
        }
        let Some(name) = r.object_name.as_deref() else {
            // An events run stores nothing when its fetch failed, or when a run that started
            // the same second wrote the name first.
            continue;
        };
        *owners.entry(name).or_default() += 1;
        let file = objects
            .get(name)
            .unwrap_or_else(|| panic!("run {} names a missing {name}", r.run_id));
        let count = |v: &Value| v.as_u64();
        if events {
            assert_eq!(r.events, count(&file["event_count"]), "{name}");
            continue;
        }
        assert_eq!(r.props_written, count(&file["props_count"]), "{name}");
        assert_eq!(r.players, count(&file["players_count"]), "{name}");
        let pages = count(&file["pagination_info"]["pages_fetched"]).map(|p| p as u32);
        assert_eq!(r.pages_fetched, pages, "{name}");
    }
    for name in objects.keys() {
        assert_eq!(
            owners.get(name.as_str()),
            Some(&1),
            "{name}: one run wrote it"
        );
    }
}

/// Exactly one complete file per game (date, market), loaded exactly once (by push or by one
/// recovery send) and holding in the table exactly its own rows; the files refused while
/// Phase 2 was down were sent again once.
pub async fn each_file_loaded_once(
    cal: &Calendar,
    t: &TestApp,
    loader: &Loader,
    rows: &[Value],
    refused: &[String],
) {
    let loads = loader.deliveries();
    let requests = loader.requests();
    for (name, n) in &loads {
        assert_eq!(*n, 1, "{name} loaded {n} times");
        let ok: Vec<_> = requests
            .iter()
            .filter(|r| &r.name == name && r.status == 200)
            .collect();
        assert_eq!(ok.len(), 1, "{name}: {ok:?}");
    }
    for name in refused {
        let sends: Vec<u16> = requests
            .iter()
            .filter(|r| &r.name == name && r.route == Route::Send)
            .map(|r| r.status)
            .collect();
        assert_eq!(sends, [500, 200], "{name}: refused once, then sent once");
    }
    let complete = t.objects("bettingpros/player-props/").await;
    for date in &cal.dates {
        for m in &cal.markets {
            let prefix = format!("bettingpros/player-props/{m}/{date}/");
            let files: Vec<&String> = complete
                .iter()
                .map(|(n, _)| n)
                .filter(|n| n.starts_with(&prefix))
                .collect();
            let expected = usize::from(cal.games(*date) > 0);
            assert_eq!(files.len(), expected, "{date} {m}: {files:?}");
            for f in files {
                assert_eq!(loads.get(f.as_str()), Some(&1), "{f}");
            }
        }
    }
    for row in rows
        .iter()
        .filter(|r| r["verdict"]["category"] == "complete")
    {
        let file = &row["files"]["known"][0];
        let name = file["name"].as_str().unwrap();
        let in_table = &row["loaded"]["known"]["by_path"][name];
        assert_eq!(
            in_table, &file["rows"]["known"],
            "{name}: the table holds its rows once"
        );
    }
}

/// The dates the burst, the outage and page 2 cost were recovered by re-scraping them.
pub fn lost_dates_rescraped(cal: &Calendar, runs: &[RunRecord], dates: &[GameDate]) {
    for date in dates.iter().filter(|d| cal.games(**d) > 0) {
        for m in &cal.markets {
            let complete: Vec<&RunRecord> = runs
                .iter()
                .filter(|r| {
                    (r.game_date, r.market, r.status) == (*date, Some(*m), RunStatus::Success)
                })
                .collect();
            assert_eq!(complete.len(), 1, "{date} {m}: {complete:#?}");
            assert_eq!(complete[0].trigger, Trigger::Recovery, "{date} {m}");
        }
    }
}

/// The upstream never saw two requests closer than its limit allows; if it did, how close,
/// and how far the one before had come after its own predecessor.
pub fn rate_kept(sim: &SimServer, rate: f64) {
    let mut arrivals = sim.arrivals();
    arrivals.sort_by_key(|a| a.at);
    let (mut last, mut before, mut too_close) = (None, None, Vec::new());
    for a in arrivals.iter().filter(|a| !a.answer.starts_with("fault")) {
        match (a.answer.as_str(), last) {
            ("429 rate", Some(prev)) => {
                let earlier = before.map(|b| prev - b);
                too_close.push(format!(
                    "{:?} apart (the gap before: {earlier:?}): {}?{}",
                    a.at - prev,
                    a.path,
                    a.query
                ));
            }
            _ => (before, last) = (last, Some(a.at)),
        }
    }
    assert_eq!(
        sim.rate_violations(),
        0,
        "requests came faster than {rate}/s: {too_close:#?}"
    );
}
