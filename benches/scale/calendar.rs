//! Case 6: the status page's calendar of a season (180 dates × 6 markets) in headless
//! Chromium, from remembered facts: the world of `season.rs`, detected once by one `App`
//! (which remembers schedules and file row counts in its ledger), then served by a second
//! `App` on the same ledger (a restarted service: nothing in memory). Each run opens the page
//! afresh and reads the page's own performance marks.

use backstop::app::App;

use crate::browser::Browser;
use crate::{Goal, Row};

const CASE: &str = "status page";

/// What the page measured, in ms: `GET /gaps` asked → answered, answered → drawn (after the
/// next frame), and navigation start → drawn.
const MARKS: &str = "const m = n => performance.getEntriesByName(n)[0]; \
     const cells = [...document.querySelectorAll('#grid .cell')]; \
     return [m('calendar-fetch').duration, m('calendar-render').duration, \
             m('calendar-drawn').startTime, cells.length, \
             cells.filter(c => c.dataset.category === 'checking').length]";

async fn measure(runs: usize) -> Result<Vec<[f64; 5]>, String> {
    let w = crate::season::build().await?;
    let first = w.app().await;
    first.detector.detect(&w.query).await;
    let app = App::build((*first.config).clone())
        .await
        .map_err(|e| e.to_string())?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| e.to_string())?;
    let url = format!(
        "http://{}",
        listener.local_addr().map_err(|e| e.to_string())?
    );
    let grace = std::time::Duration::from_secs(1);
    tokio::spawn(backstop::api::serve(
        app,
        listener,
        std::future::pending(),
        grace,
    ));
    let b = Browser::start(1280, 900).await;
    let page = format!("{url}/?from={}&to={}&market=all", w.query.from, w.query.to);
    let mut samples = Vec::new();
    for _ in 0..runs {
        b.goto(&page).await;
        b.wait_for(
            "the season's calendar",
            "return document.body.dataset.calendar === 'ready'",
        )
        .await;
        let got = b.eval(MARKS, vec![]).await;
        let figure = |i: usize| got[i].as_f64().unwrap_or(f64::NAN);
        samples.push([figure(0), figure(1), figure(2), figure(3), figure(4)]);
    }
    b.close().await;
    Ok(samples)
}

pub fn render(rt: &tokio::runtime::Runtime, runs: usize) -> Vec<Row> {
    let samples = match rt.block_on(measure(runs)) {
        Ok(s) => s,
        Err(e) => return vec![Row::failed(CASE, e)],
    };
    let of = |i: usize| samples.iter().map(|s| s[i]).collect::<Vec<f64>>();
    let row = |figure: &str, unit: &'static str, i: usize, goal: Goal| {
        Row::median(CASE, figure, unit, &of(i), goal)
    };
    vec![
        row("cells drawn (180 dates × 6 markets)", "", 3, Goal::None),
        row("cells left \"checking\"", "", 4, Goal::AtMost(0.0)),
        row(
            "`GET /gaps` asked → answered (remembered facts, a restarted App)",
            "ms",
            0,
            Goal::None,
        ),
        row(
            "answer → calendar drawn (next frame)",
            "ms",
            1,
            Goal::AtMost(1000.0),
        ),
        row(
            "navigation start → calendar drawn",
            "ms",
            2,
            Goal::AtMost(1000.0),
        ),
    ]
}
