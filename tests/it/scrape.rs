//! Scrape runs end to end: local BettingPros → fake-gcs-server → Pub/Sub emulator → ledger.

use backstop::bettingpros::{rows_in_props_file, validate_events_file, validate_props_file};
use backstop::calendar::GameDate;
use backstop::ledger::RunFilter;
use backstop::market::{MarketSelection, MarketType};
use backstop::run::{ErrorKind, RunStatus, Scraper, Trigger};
use backstop::scrape::ScrapeRequest;
use backstop::sim::catalogue::Catalogue;
use backstop::sim::faults::Fault;
use backstop::sim::server::SimConfig;

use crate::support::app::{spawn_app, spawn_app_with, BUCKET};
use crate::support::canned_http::CannedHttp;

fn date() -> GameDate {
    "2026-01-14".parse().unwrap()
}

fn req(scraper: Scraper, markets: MarketSelection) -> ScrapeRequest {
    ScrapeRequest {
        scraper,
        date: date(),
        markets,
        trigger: Trigger::Scheduler,
    }
}

#[tokio::test]
async fn a_full_game_day_lands_at_the_exact_names_with_exact_counts_everywhere() {
    let catalogue = Catalogue::synthetic(&[(date(), 10)], 11);
    let t = spawn_app(catalogue.clone()).await;
    let reports = t
        .app
        .scrapes
        .run(&req(Scraper::PlayerProps, MarketSelection::All))
        .await;
    assert_eq!(reports.len(), 6);
    for r in &reports {
        assert_eq!(r.status, RunStatus::Success, "{}", r.message);
    }

    let ledger = t
        .app
        .ledger
        .runs(&RunFilter {
            limit: 100,
            ..RunFilter::default()
        })
        .await
        .unwrap();
    // The day's events, fetched once for the six markets, stored once by a bp_events run.
    let events = t.objects("bettingpros/events/2026-01-14/").await;
    assert_eq!(events.len(), 1);
    let (name, file) = &events[0];
    assert_eq!(
        name,
        &format!(
            "bettingpros/events/2026-01-14/{}.json",
            reports[0].timestamp
        )
    );
    validate_events_file(file).unwrap();
    assert_eq!(file["event_count"], 10);
    assert_eq!(file["rowCount"], 10);
    let stored: Vec<_> = ledger
        .iter()
        .filter(|r| r.scraper == Scraper::Events)
        .collect();
    assert_eq!(stored.len(), 1, "{stored:#?}");
    assert_eq!(stored[0].object_name.as_deref(), Some(name.as_str()));
    assert_eq!(
        (stored[0].status, stored[0].events),
        (RunStatus::Success, Some(10))
    );

    let messages = t.messages(7).await;
    for m in MarketType::ALL {
        let files = t
            .objects(&format!("bettingpros/player-props/{m}/2026-01-14/"))
            .await;
        assert_eq!(files.len(), 1, "{m}");
        let (name, file) = &files[0];
        let report = reports.iter().find(|r| r.market == Some(m)).unwrap();
        assert_eq!(
            name,
            &format!(
                "bettingpros/player-props/{m}/2026-01-14/{}.json",
                report.timestamp
            )
        );
        validate_props_file(file).unwrap();
        let offers = catalogue.offer_count(date(), m) as u64;
        assert_eq!(file["props_count"], offers, "{m}");
        assert_eq!(file["failed_offers"], 0);
        assert_eq!(
            file["pagination_info"]["pages_fetched"],
            offers.div_ceil(10),
            "{m}"
        );
        assert_eq!(file["market_id"], m.id());
        assert_eq!(file["complete"], true);
        assert!(
            rows_in_props_file(file).unwrap() > offers * 2 * 4,
            "several books on both sides"
        );

        let row = ledger
            .iter()
            .find(|r| r.run_id == report.run_id)
            .expect("a ledger row per run");
        assert_eq!(row.status, RunStatus::Success);
        assert_eq!(row.props_written, Some(offers), "{m}");
        assert_eq!(row.players, file["players_count"].as_u64(), "{m}");
        assert_eq!(
            row.pages_fetched,
            file["pagination_info"]["pages_fetched"]
                .as_u64()
                .map(|p| p as u32)
        );
        assert_eq!(row.object_name.as_deref(), Some(name.as_str()));
        assert_eq!(row.published, Some(true));
        let routes = row.routes.as_deref().unwrap_or_default();
        assert!(
            routes.starts_with("direct×"),
            "the ledger says how the attempts went: {routes:?}"
        );

        let msg = messages
            .iter()
            .find(|msg| msg["execution_id"] == report.run_id.as_str())
            .expect("a message per run");
        assert_eq!(msg["processor_name"], "betting_pros_player_props");
        assert_eq!(msg["status"], "success");
        assert_eq!(msg["game_date"], "2026-01-14");
        assert_eq!(
            msg["record_count"], offers,
            "record_count is props written, not games"
        );
        assert_eq!(msg["metadata"]["gcs_path"], format!("gs://{BUCKET}/{name}"));
        assert_eq!(msg["metadata"]["opts"]["market_type"], m.as_str());
        assert_eq!(msg["trigger_source"], "scheduler");
    }
    let msg = messages
        .iter()
        .find(|msg| msg["execution_id"] == stored[0].run_id.as_str())
        .expect("the events run's message");
    assert_eq!(msg["processor_name"], "betting_pros_events");
    assert_eq!(msg["record_count"], 10);
    assert_eq!(msg["metadata"]["gcs_path"], format!("gs://{BUCKET}/{name}"));
}

#[tokio::test]
async fn a_day_without_games_is_no_data_at_once_and_writes_no_props_file() {
    let t = spawn_app(Catalogue::synthetic(&[(date(), 0)], 1)).await;
    let reports = t
        .app
        .scrapes
        .run(&req(Scraper::PlayerProps, MarketSelection::All))
        .await;
    assert_eq!(reports.len(), 6);
    for r in &reports {
        assert_eq!(r.status, RunStatus::NoData, "{}", r.message);
        assert_eq!(r.counts.events, Some(0));
        assert!(r.object_name.is_none());
    }
    assert_eq!(
        t.sim.arrivals().len(),
        1,
        "one events request, no retries, no offers requests"
    );
    assert!(t.objects("bettingpros/player-props/").await.is_empty());
    assert!(t.objects("bettingpros/partial/").await.is_empty());
    let events = t.objects("bettingpros/events/2026-01-14/").await;
    assert_eq!(events.len(), 1, "the empty answer is kept as evidence");
    assert_eq!(events[0].1["event_count"], 0);
    // Six markets, and the bp_events run that stored the empty answer.
    for m in t.messages(7).await {
        assert_eq!(m["status"], "no_data");
        assert_eq!(m["record_count"], 0);
        if m["processor_name"] == "betting_pros_player_props" {
            assert!(m["metadata"].get("gcs_path").is_none(), "{m}");
        }
    }
}

#[tokio::test]
async fn a_page_that_keeps_failing_makes_a_partial_run_that_is_never_offered_to_phase_2() {
    let catalogue = Catalogue::synthetic(&[(date(), 10)], 11);
    let pages = (catalogue.offer_count(date(), MarketType::Points) as u32).div_ceil(10);
    let t = spawn_app(catalogue).await;
    t.sim.fail_when("&page=3", Fault::Status(502));
    let reports = t
        .app
        .scrapes
        .run(&req(
            Scraper::PlayerProps,
            MarketSelection::One(MarketType::Points),
        ))
        .await;
    let r = &reports[0];
    assert_eq!(r.status, RunStatus::Partial, "{}", r.message);
    assert_eq!(r.counts.pages_fetched, 2);
    assert!(
        r.message.contains(&format!("page 3 of {pages} failed")),
        "{}",
        r.message
    );
    assert!(r.complete_file_url.is_none());
    assert!(
        t.objects("bettingpros/player-props/").await.is_empty(),
        "nothing where Phase 2 looks"
    );
    let partial = t
        .objects("bettingpros/partial/player-props/points/2026-01-14/")
        .await;
    assert_eq!(
        partial.len(),
        1,
        "the pages that did arrive are kept, marked partial"
    );
    assert_eq!(partial[0].1["complete"], false);
    assert_eq!(partial[0].1["props_count"], 20);
    let messages = t.messages(2).await;
    let m = messages
        .iter()
        .find(|m| m["execution_id"] == r.run_id.as_str())
        .expect("the props run's message, beside its events run's");
    assert_eq!(m["status"], "partial");
    assert!(m["metadata"].get("gcs_path").is_none(), "{m}");
    assert!(
        m["error_message"].as_str().unwrap().contains("page 3"),
        "{m}"
    );
    let row = t.app.ledger.run(&r.run_id).await.unwrap().unwrap();
    assert_eq!(row.status, RunStatus::Partial);
    assert_eq!((row.pages_fetched, row.pages_total), (Some(2), Some(pages)));
    assert_eq!(row.props_written, Some(20));
}

#[tokio::test]
async fn a_missing_api_key_fails_the_run_before_any_request_under_the_requested_date() {
    let sim = SimConfig::new(Catalogue::synthetic(&[(date(), 10)], 11));
    let t = spawn_app_with(sim, &[("BETTINGPROS_API_KEY", "")]).await;
    let reports = t
        .app
        .scrapes
        .run(&req(
            Scraper::PlayerProps,
            MarketSelection::One(MarketType::Points),
        ))
        .await;
    let r = &reports[0];
    assert_eq!(r.status, RunStatus::Failed);
    assert_eq!(r.error_kind, Some(ErrorKind::MissingApiKey));
    assert!(t.sim.arrivals().is_empty(), "no anonymous request was sent");
    let m = &t.messages(1).await[0];
    assert_eq!(
        (m["status"].as_str(), m["game_date"].as_str()),
        (Some("failed"), Some("2026-01-14"))
    );
    assert!(
        m["error_message"]
            .as_str()
            .unwrap()
            .contains("BETTINGPROS_API_KEY"),
        "{m}"
    );
}

#[tokio::test]
async fn a_blocked_key_is_reported_as_blocked_after_one_retry() {
    let sim = SimConfig {
        api_key: Some("the-real-key".into()),
        ..SimConfig::new(Catalogue::synthetic(&[(date(), 10)], 11))
    };
    let t = spawn_app_with(sim, &[]).await;
    let reports = t
        .app
        .scrapes
        .run(&req(Scraper::Events, MarketSelection::All))
        .await;
    let r = &reports[0];
    assert_eq!(r.status, RunStatus::Failed);
    assert_eq!(r.error_kind, Some(ErrorKind::Blocked), "{}", r.message);
    assert_eq!(t.sim.arrivals().len(), 2);
    assert!(r.message.contains("Forbidden"), "{}", r.message);
    let row = t.app.ledger.run(&r.run_id).await.unwrap().unwrap();
    assert_eq!(row.error_kind.as_deref(), Some("blocked"));
    assert_eq!(row.attempts, Some(2));
}

#[tokio::test]
async fn two_runs_in_the_same_second_write_one_file_and_announce_it_once() {
    let t = spawn_app(Catalogue::synthetic(&[(date(), 3)], 11)).await;
    let one = req(
        Scraper::PlayerProps,
        MarketSelection::One(MarketType::Blocks),
    );
    // Bypass the API's de-duplication, as a recovery and a scheduled run might.
    let (a, b) = tokio::join!(t.app.scrapes.run(&one), t.app.scrapes.run(&one));
    // The props files and the events files each request's bp_events run stored.
    let objects = t.objects("bettingpros/").await;
    let messages = t.messages(4).await;
    let mut announced: Vec<&str> = messages
        .iter()
        .filter_map(|m| m["metadata"]["gcs_path"].as_str())
        .collect();
    announced.sort();
    let written: Vec<String> = objects
        .iter()
        .map(|(name, _)| format!("gs://{BUCKET}/{name}"))
        .collect();
    assert_eq!(
        announced, written,
        "each object announced exactly once: {announced:?}"
    );
    let objects = t.objects("bettingpros/player-props/blocks/").await;
    let written: u64 = a.iter().chain(&b).map(|r| r.counts.props_written).sum();
    let in_files: u64 = objects
        .iter()
        .map(|(_, f)| f["props_count"].as_u64().unwrap())
        .sum();
    assert_eq!(
        written, in_files,
        "the ledger counts only what each run itself wrote"
    );
}

#[tokio::test]
async fn a_redirect_is_never_followed_so_the_api_key_never_leaves_bettingpros() {
    let elsewhere = CannedHttp::start(200, r#"{"_parameters": {}, "events": []}"#).await;
    let t = spawn_app(Catalogue::synthetic(&[(date(), 3)], 2)).await;
    let events = req(Scraper::Events, MarketSelection::All);
    t.sim.script([Fault::Redirect {
        status: 302,
        location: format!("{}/v3/events?sport=NBA&date=2026-01-14", elsewhere.url),
    }]);
    let report = t.app.scrapes.run(&events).await.remove(0);
    assert_eq!(report.status, RunStatus::Failed, "{}", report.message);
    assert_eq!(report.error_kind, Some(ErrorKind::Redirect));
    for part in ["302", "redirect", &elsewhere.host(), "not followed"] {
        assert!(report.message.contains(part), "{part}: {}", report.message);
    }
    let leaked: Vec<String> = elsewhere
        .requests()
        .into_iter()
        .filter(|r| r.to_ascii_lowercase().contains("x-api-key"))
        .collect();
    assert!(
        leaked.is_empty(),
        "the API key went to another host: {leaked:?}"
    );
    assert_eq!(elsewhere.hits(), 0, "the redirect was not followed at all");

    // Nor on the same host: the base URL is what the operator set, and it is where the key goes.
    t.sim.script([Fault::Redirect {
        status: 307,
        location: format!("{}/events?sport=NBA&date=2026-01-14", t.sim.base_url()),
    }]);
    let report = t.app.scrapes.run(&events).await.remove(0);
    assert_eq!(report.status, RunStatus::Failed, "{}", report.message);
    assert!(report.message.contains("307"), "{}", report.message);
    assert_eq!(
        t.sim.arrivals().len(),
        2,
        "one request per run, none followed"
    );
}
