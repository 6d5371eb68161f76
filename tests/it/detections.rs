//! `GET /gaps` over a range whose schedule is not known yet answers within a request's time:
//! the rows it could judge and a detection job to poll (202), whose status carries it on a
//! slice at a time until it answers the whole report (200) — with the verdicts a detection
//! without bound gives; the status page shows it cell by cell. The command line still answers
//! in full.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::browser::Browser;
use crate::support::world::{d, world, OFF_DAYS};

/// 30 dates nobody scraped, so every one needs an events request, at 2 requests a second
/// (15 s of requests) against slices of one second.
const SLOW: [(&str, &str); 2] = [("BACKSTOP_RATE_PER_SEC", "2"), ("BACKSTOP_SLICE_SECS", "1")];

/// (date, market) → category, for comparing reports.
fn verdicts(rows: &Value) -> BTreeMap<(String, String), String> {
    rows.as_array()
        .expect("rows")
        .iter()
        .map(|r| {
            let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
            (
                (text(&r["date"]), text(&r["market"])),
                text(&r["verdict"]["category"]),
            )
        })
        .collect()
}

async fn get(url: &str) -> (u16, Value) {
    let r = reqwest::get(url).await.expect("the service answers");
    (r.status().as_u16(), r.json().await.expect("JSON"))
}

#[tokio::test]
async fn a_long_range_answers_what_it_knows_at_once_and_its_detection_job_the_rest() {
    let mut w = world(30, None, &SLOW).await;
    let url = w.t.serve().await;
    let gaps = format!("{url}/gaps?from={}&to={}&market=steals", d(1), d(30));

    let asked = Instant::now();
    let (status, first) = get(&gaps).await;
    let took = asked.elapsed();
    assert_eq!(status, 202, "{first}");
    assert!(took < Duration::from_secs(8), "answered in {took:?}");
    let status_url = first["status_url"]
        .as_str()
        .expect("a status URL")
        .to_string();
    let known = verdicts(&first["rows"]);
    assert!(
        known.len() < 30,
        "not every date fitted in one request: {}",
        known.len()
    );
    assert!(
        known.values().all(|c| c != "unknown"),
        "rows it could not judge are left out, not guessed: {known:?}"
    );

    // The same range asked again meanwhile shares the detection.
    let (again, second) = get(&gaps).await;
    if again == 202 {
        assert_eq!(second["status_url"], first["status_url"], "{second}");
    }

    let mut polls = 0;
    let whole = loop {
        let (status, answer) = get(&format!("{url}{status_url}")).await;
        polls += 1;
        if status == 200 {
            break answer;
        }
        assert_eq!(status, 202, "{answer}");
        let rows = verdicts(&answer["rows"]);
        for (pair, category) in &known {
            assert_eq!(rows.get(pair), Some(category), "a judged row stays judged");
        }
        assert!(polls < 60, "the detection never finished: {answer}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let whole_rows = verdicts(&whole["rows"]);
    assert_eq!(whole_rows.len(), 30);
    let direct = w.t.app.detector.detect(&steals_january()).await;
    let direct_rows = verdicts(&serde_json::to_value(&direct).unwrap()["rows"]);
    assert_eq!(
        whole_rows, direct_rows,
        "the same verdicts as a detection without bound"
    );
    for (day, category) in (1..=30).map(|day| {
        (
            day,
            &whole_rows[&(d(day).to_string(), "steals".to_string())],
        )
    }) {
        let want = if OFF_DAYS.contains(&day) {
            "off_day"
        } else {
            "scraper_failed"
        };
        assert_eq!(category, want, "day {day}");
    }
    // What it learnt is remembered: the same request is whole now, asking only the off days
    // again (one empty answer is not proof).
    let (status, report) = get(&gaps).await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(
        report["work"]["events_requests"],
        OFF_DAYS.len(),
        "{}",
        report["work"]
    );
    eprintln!("detection job: {polls} polls after a first answer in {took:?}");
}

fn steals_january() -> backstop::gaps::GapQuery {
    backstop::gaps::GapQuery::parse(&d(1).to_string(), &d(30).to_string(), Some("steals")).unwrap()
}

#[tokio::test]
async fn a_sweep_finishes_a_detection_nobody_polls_and_a_missing_one_is_a_404() {
    let mut w = world(12, None, &SLOW).await;
    let url = w.t.serve().await;
    let (status, first) = get(&format!(
        "{url}/gaps?from={}&to={}&market=steals",
        d(1),
        d(12)
    ))
    .await;
    assert_eq!(status, 202, "{first}");
    let id = first["detection_id"].as_str().unwrap().to_string();
    let began = Instant::now();
    loop {
        let swept = w.t.app.sweep().await;
        assert!(swept.problems.is_empty(), "{swept:?}");
        if swept
            .detections
            .iter()
            .any(|s| s.detection_id == id && s.whole)
        {
            break;
        }
        if began.elapsed() > Duration::from_secs(60) {
            let record = w.t.app.ledger.detection(&id).await;
            let due =
                w.t.app
                    .ledger
                    .detections_to_advance(chrono::Utc::now())
                    .await;
            panic!("{swept:?}\n{record:?}\n{due:?}");
        }
    }
    let (status, whole) = get(&format!("{url}/gaps/{id}")).await;
    assert_eq!(
        (status, whole["rows"].as_array().map(Vec::len)),
        (200, Some(12))
    );
    let (status, missing) = get(&format!("{url}/gaps/no-such-detection")).await;
    assert_eq!(status, 404, "{missing}");
}

/// The status page over such a range: the cells the first answer judged show their category
/// at once, the others "checking" while the page polls the detection job, then theirs.
#[tokio::test]
async fn the_status_page_shows_checking_cells_turn_into_their_categories() {
    let mut w = world(30, None, &SLOW).await;
    let url = w.t.serve().await;
    let b = Browser::start(1280, 900).await;
    b.goto(&format!("{url}/?from={}&to={}&market=steals", d(1), d(30)))
        .await;
    let partly = b
        .wait_for(
            "a calendar partly judged, partly checking",
            "const c = [...document.querySelectorAll('#grid .cell')].map(c => c.dataset.category); \
             return c.length === 30 && c.includes('checking') && c.some(x => x !== 'checking') && c",
        )
        .await;
    let checking = partly
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| *c == "checking")
        .count();
    b.screenshot("calendar-checking.png").await;
    b.wait_for("the whole calendar", READY).await;
    let cells = b.eval(CELLS, vec![]).await;
    let cells = cells.as_array().expect("cells");
    assert_eq!(cells.len(), 30);
    for (day, cell) in (1..=30).zip(cells) {
        let (category, label) = if OFF_DAYS.contains(&day) {
            ("off_day", "off")
        } else {
            ("scraper_failed", "no file")
        };
        assert_eq!(
            cell,
            &serde_json::json!([d(day).to_string(), "steals", category, label]),
            "day {day}"
        );
    }
    eprintln!("{checking} of 30 cells were still checking after the first answer");
    b.close().await;
}

const READY: &str = "return document.body.dataset.calendar === 'ready'";
const CELLS: &str = "return [...document.querySelectorAll('#grid .cell')].map(c => \
     [c.dataset.date, c.dataset.market, c.dataset.category, c.textContent])";
