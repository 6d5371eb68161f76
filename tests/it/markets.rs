//! The markets expected on a date are the ones the schedule scrapes, declared once in
//! `scrapers/bp_player_props.json`: a day fully loaded for those raises no alarm with the
//! defaults of `gaps`, `reprocess`, `GET /gaps` and `POST /reprocess`.

use backstop::gaps::GapQuery;
use backstop::market::MarketSelection;
use backstop::reprocess::ReprocessRequest;
use backstop::run::{Scraper, Trigger};
use backstop::scrape::ScrapeRequest;
use backstop::scrapers::scheduled_markets;

use crate::support::api::Api;
use crate::support::world::{d, world};

#[tokio::test]
async fn a_day_fully_loaded_for_the_scheduled_markets_raises_no_alarm_with_the_defaults() {
    let mut w = world(2, None, &[]).await;
    let day = d(1).to_string();
    for market in scheduled_markets() {
        let req = ScrapeRequest {
            scraper: Scraper::PlayerProps,
            date: d(1),
            markets: MarketSelection::One(market),
            trigger: Trigger::Cli,
        };
        let report = w.t.app.scrapes.run(&req).await.remove(0);
        w.loader.load(&report.object_name.expect("a file")).await;
    }

    let query = GapQuery::parse(&day, &day, None).unwrap();
    assert_eq!(query.markets, scheduled_markets());
    let report = w.t.app.detector.detect(&query).await;
    assert_eq!(report.problems().count(), 0, "{}", report.table(false));
    assert_eq!(report.rows.len(), scheduled_markets().len());

    let defaults = ReprocessRequest {
        from: Some(day.clone()),
        to: Some(day.clone()),
        ..Default::default()
    };
    let plan = w.t.app.recovery.plan(&defaults).await.unwrap();
    assert!(plan.actions.is_empty(), "{:?}", plan.actions);

    let api = Api::new(w.t.serve().await);
    let rows = api.gaps_with_defaults(&day, &day).await;
    let verdicts: Vec<&str> = rows
        .iter()
        .map(|r| r["verdict"]["category"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(
        verdicts,
        vec!["complete"; scheduled_markets().len()],
        "{rows:#?}"
    );
    let job = api
        .reprocess(&serde_json::json!({"from": day, "to": day}), "defaults")
        .await;
    let job = api
        .finished_job(&job, std::time::Duration::from_secs(30))
        .await;
    assert!(job["actions"].as_array().unwrap().is_empty(), "{job:#}");
}
