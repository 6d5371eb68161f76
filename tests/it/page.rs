//! The status page on `GET /`, in a real headless Chromium over the labelled calendar: every
//! cell's category, a cell's evidence, the plan, the confirmed recovery, no request outside
//! the service, a phone's width. Screenshots go to `target/status-page/`.

use backstop::api::page::CONTENT_SECURITY_POLICY;
use backstop::calendar::GameDate;
use backstop::ledger::{ActionKind, NewAction};
use backstop::market::MarketType;
use backstop::sim::catalogue::Catalogue;
use serde_json::{json, Value};

use crate::auth::TOKEN;
use crate::support::app::{spawn_app, spawn_offline};
use crate::support::browser::Browser;
use crate::support::world::{self as labelled, d, history, world, NEVER_LOADED};

/// The words each category shows in its cell (the colour is only a second signal).
const LABELS: [(&str, &str); 6] = [
    ("complete", "ok"),
    ("off_day", "off"),
    ("legitimate_zero", "zero"),
    ("scraper_failed", "no file"),
    ("processor_failed", "not loaded"),
    ("unknown", "unknown"),
];

fn label(category: &str) -> &'static str {
    LABELS
        .iter()
        .find(|(c, _)| *c == category)
        .map(|(_, l)| *l)
        .unwrap_or_else(|| panic!("no label for category {category}"))
}

const READY: &str = "return document.body.dataset.calendar === 'ready'";
const CELLS: &str = "return [...document.querySelectorAll('#grid .cell')].map(c => \
     [c.dataset.date, c.dataset.market, c.dataset.category, c.textContent])";
const TEXT_OF: &str = "return document.querySelector(arguments[0])?.innerText ?? ''";

async fn text(b: &Browser, css: &str) -> String {
    let got = b.eval(TEXT_OF, vec![json!(css)]).await;
    got.as_str().unwrap_or_default().to_string()
}

#[tokio::test]
async fn the_status_page_shows_the_labelled_calendar_its_evidence_and_recovers_in_a_browser() {
    let mut w = world(30, None, &[]).await;
    let files = history(&w, 30).await;
    w.t.push_to(&format!("{}/process", w.loader.url)).await;
    let url = w.t.serve().await;
    let b = Browser::start(1280, 900).await;

    b.goto(&format!(
        "{url}/?from=2026-01-01&to=2026-01-30&market=steals"
    ))
    .await;
    b.wait_for("the calendar", READY).await;
    let cells = b.eval(CELLS, vec![]).await;
    let cells = cells.as_array().expect("cells");
    assert_eq!(cells.len(), 30, "{cells:?}");
    for (day, cell) in (1..=30).zip(cells) {
        let expected = labelled::category(day).as_str();
        assert_eq!(
            cell,
            &json!([d(day).to_string(), "steals", expected, label(expected)]),
            "day {day}"
        );
    }
    let render = b
        .eval(
            "return ['calendar-fetch', 'calendar-render'].map(n => performance.getEntriesByName(n)[0].duration)",
            vec![],
        )
        .await;
    eprintln!("30 dates × 1 market: answered, drawn (ms): {render}");
    let height = b
        .eval("return document.documentElement.scrollHeight", vec![])
        .await;
    b.resize(1280, height.as_u64().unwrap_or(900).clamp(900, 2000) as u32)
        .await;
    let shot = b.screenshot("calendar-1280.png").await;
    eprintln!("screenshot: {}", shot.display());
    b.resize(1280, 900).await;

    // A cell opens its evidence: the verdict, the remedy, the file with its size and rows,
    // the rows loaded for it, the last runs.
    b.click(&format!(".cell[data-date='{}']", d(NEVER_LOADED)))
        .await;
    b.wait_for(
        "the last runs in the evidence",
        "return document.querySelector('#evidence .runs .status-success')",
    )
    .await;
    b.screenshot("evidence-1280.png").await;
    let evidence = text(&b, "#evidence").await;
    let file = &files[&NEVER_LOADED];
    for needle in [
        "2026-01-07 · steals",
        "processor failed",
        &format!("send {file} to Phase 2, once"),
        file.as_str(),
        "rows it yields",
        "KB",
        "games\n4",
        "cli",
    ] {
        assert!(evidence.contains(needle), "{needle:?} not in:\n{evidence}");
    }
    b.click("#evidence-close").await;

    // Plan: the three lost cells (the half-loaded day is complete: a short load), their actions, the requests and the time they cost.
    b.click("#select-lost").await;
    assert!(text(&b, "#selection")
        .await
        .starts_with("3 cell(s) selected"));
    b.click("#plan").await;
    let summary = b
        .wait_for(
            "the plan",
            "return document.querySelector('#plan-out .plan-summary')?.innerText",
        )
        .await;
    assert!(
        summary.as_str().unwrap().starts_with("3 action(s)"),
        "{summary}"
    );
    let plan = text(&b, "#plan-out").await;
    for needle in [
        "scrape\t2026-01-03",
        "send_file\t2026-01-07",
        "scrape\t2026-01-15",
    ] {
        assert!(plan.contains(needle), "{needle:?} not in:\n{plan}");
    }

    // Recover asks first; cancelling starts nothing.
    let dialog_open = "return document.getElementById('confirm').open";
    b.click("#recover").await;
    b.wait_for("the confirmation", dialog_open).await;
    assert!(text(&b, "#confirm").await.contains("3 action(s)"));
    b.click("#confirm-cancel").await;
    let jobs = || async {
        let answer = reqwest::get(format!("{url}/reprocess")).await.unwrap();
        answer.json::<Value>().await.unwrap()["count"].clone()
    };
    assert_eq!(jobs().await, json!(0), "cancelled: no job");
    b.click("#recover").await;
    b.wait_for("the confirmation", dialog_open).await;
    b.click("#confirm-ok").await;
    let outcome = b
        .wait_for(
            "the job to finish and re-check",
            "const row = document.querySelector('#jobs tbody tr'); \
             return row && row.querySelector('.status-done') && row.innerText.includes('now complete') && row.innerText",
        )
        .await;
    assert!(
        outcome
            .as_str()
            .unwrap()
            .contains("now complete 3, still lost 0"),
        "{outcome}"
    );
    assert_eq!(jobs().await, json!(1));
    assert_eq!(w.loader.deliveries()[file], 1, "the file was sent once");

    // Nothing came from anywhere but the service; the page carries its policy.
    let origins = b
        .eval(
            "return [location.origin, ...performance.getEntriesByType('resource').map(e => e.name)]",
            vec![],
        )
        .await;
    let origins = origins.as_array().unwrap();
    assert!(origins.len() > 5, "{origins:?}");
    for name in origins {
        assert!(
            name.as_str().unwrap().starts_with(&url),
            "{name} is not on {url}"
        );
    }
    let page = reqwest::get(format!("{url}/")).await.unwrap();
    let csp = page.headers()["content-security-policy"].to_str().unwrap();
    assert_eq!(csp, CONTENT_SECURITY_POLICY);
    assert!(csp.contains("default-src 'self'"));

    // A phone: the default view (the last 30 days, US Eastern), no sideways scrolling.
    b.resize(390, 844).await;
    b.goto(&format!("{url}/")).await;
    b.wait_for("the default calendar", READY).await;
    let today = GameDate::resolve("TODAY", chrono::Utc::now()).unwrap();
    let from = today.naive() - chrono::Days::new(29);
    let form = b
        .eval(
            "const f = document.getElementById('range'); return [f.from.value, f.to.value, f.market.value]",
            vec![],
        )
        .await;
    assert_eq!(form, json!([from.to_string(), today.to_string(), "all"]));
    let cells = b.eval(CELLS, vec![]).await;
    assert_eq!(cells.as_array().unwrap().len(), 30 * MarketType::ALL.len());
    let widths = b
        .eval(
            "const e = document.documentElement; return [e.scrollWidth, e.clientWidth, window.innerWidth]",
            vec![],
        )
        .await;
    let [scroll, client, inner] = [0, 1, 2].map(|i| widths[i].as_u64().unwrap());
    assert!(
        scroll <= client && inner <= 390,
        "the page scrolls sideways on a phone: {widths}"
    );
    b.screenshot("calendar-phone.png").await;
    b.close().await;
}

#[tokio::test]
async fn recent_jobs_are_listed_newest_first_with_their_counts() {
    let mut t = spawn_app(Catalogue::synthetic(&[], 1)).await;
    let url = t.serve().await;
    let action = NewAction {
        kind: ActionKind::Scrape,
        game_date: d(3),
        market: MarketType::Steals,
        object_name: None,
        reason: "4 games but no raw file".into(),
    };
    let now = chrono::Utc::now();
    let (older, _) = t
        .app
        .ledger
        .create_job(
            backstop::ledger::JobKey::Given("one"),
            &json!({"dates": ["2026-01-03"]}),
            std::slice::from_ref(&action),
            now,
        )
        .await
        .unwrap();
    let later = now + chrono::Duration::seconds(1);
    let (newer, _) = t
        .app
        .ledger
        .create_job(
            backstop::ledger::JobKey::Given("two"),
            &json!({"dates": ["2026-01-03"]}),
            &[action.clone(), action],
            later,
        )
        .await
        .unwrap();
    let get = |q: &'static str| {
        let url = url.clone();
        async move {
            let r = reqwest::get(format!("{url}/reprocess{q}")).await.unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap())
        }
    };
    let (status, all) = get("").await;
    assert_eq!(status, 200, "{all}");
    assert_eq!(all["count"], 2);
    let job = &all["jobs"][0];
    assert_eq!(job["id"], json!(newer.id));
    assert_eq!(
        (&job["state"], &job["actions_total"], &job["progress"]),
        (&json!("running"), &json!(2), &json!({"pending": 2}))
    );
    assert_eq!(job["status_url"], json!(format!("/reprocess/{}", newer.id)));
    assert_eq!(all["jobs"][1]["id"], json!(older.id));
    let (_, one) = get("?limit=1").await;
    assert_eq!(one["count"], 1);
    for bad in ["?limit=0", "?limit=101", "?limit=x", "?state=done"] {
        let (status, answer) = get(bad).await;
        assert_eq!(status, 400, "{bad}: {answer}");
        assert!(
            answer["error"].as_str().unwrap().contains("limit"),
            "{answer}"
        );
    }
}

#[tokio::test]
async fn the_page_and_its_files_come_from_the_binary_with_their_types_and_policy() {
    let mut t = spawn_app(Catalogue::synthetic(&[], 1)).await;
    let url = t.serve().await;
    for (path, kind) in [
        ("/", "text/html"),
        ("/page/app.js", "text/javascript"),
        ("/page/calendar.js", "text/javascript"),
        ("/page/style.css", "text/css"),
        ("/page/icon.svg", "image/svg+xml"),
    ] {
        let r = reqwest::get(format!("{url}{path}")).await.unwrap();
        assert_eq!(r.status(), 200, "{path}");
        let h = r.headers();
        assert!(
            h["content-type"].to_str().unwrap().starts_with(kind),
            "{path}: {h:?}"
        );
        assert_eq!(
            h["content-security-policy"], CONTENT_SECURITY_POLICY,
            "{path}"
        );
        assert_eq!(h["x-content-type-options"], "nosniff", "{path}");
    }
    let r = reqwest::get(format!("{url}/page/../Cargo.toml"))
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let r = reqwest::get(format!("{url}/page/nothing.js"))
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let body: Value = r.json().await.unwrap();
    assert!(
        body["error"].as_str().unwrap().contains("nothing.js"),
        "{body}"
    );
}

#[tokio::test]
async fn behind_the_admin_token_the_page_asks_for_it_refuses_a_wrong_one_and_shows_the_calendar_after_the_right_one(
) {
    let mut t = spawn_offline(&[("BACKSTOP_ADMIN_TOKEN", TOKEN)]).await;
    let url = t.serve().await;
    let b = Browser::start(1280, 900).await;
    b.goto(&format!(
        "{url}/?from=2026-01-01&to=2026-01-03&market=steals"
    ))
    .await;
    let login = "return !document.getElementById('login').hidden";
    b.wait_for("the login form", login).await;
    let checking = "return [...document.querySelectorAll('#grid .cell')]\
         .map(c => c.dataset.category).filter(c => c === 'checking').length";
    assert_eq!(
        b.eval(checking, vec![]).await,
        json!(3),
        "no data without the token"
    );
    b.screenshot("login-1280.png").await;

    b.fill("#login input", "not-the-token-0123456789").await;
    b.click("#login button").await;
    let refused = "const f = document.getElementById('login'); \
         return !f.hidden && f.querySelector('.hint').dataset.note";
    let note = b.wait_for("the refusal", refused).await;
    assert_eq!(note, json!("That token was refused."));
    assert_eq!(b.eval(checking, vec![]).await, json!(3));

    b.fill("#login input", TOKEN).await;
    b.click("#login button").await;
    let judged = format!("{checking} === 0");
    b.wait_for("the judged calendar", &judged).await;
    assert_eq!(
        b.eval(login, vec![]).await,
        json!(false),
        "the form is gone"
    );
    let cells = b.eval(CELLS, vec![]).await;
    let cells = cells.as_array().unwrap();
    assert_eq!(cells.len(), 3, "{cells:?}");
    assert!(cells.iter().all(|c| c[2] != "checking"), "{cells:?}");
    // The token went only into headers: no address the page showed or called holds it.
    let addresses = b
        .eval(
            "return [location.href, ...performance.getEntriesByType('resource').map(e => e.name)]",
            vec![],
        )
        .await;
    let addresses = addresses.as_array().unwrap();
    assert!(addresses.len() > 5, "{addresses:?}");
    for address in addresses {
        assert!(!address.as_str().unwrap().contains(TOKEN), "{address}");
    }
    b.close().await;
}
