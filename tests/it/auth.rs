//! Admin authentication: with `BACKSTOP_ADMIN_TOKEN` set, every operator route answers 401
//! without the token or with a wrong one, before doing any work, and serves the right one —
//! also beside Cloud Run's `X-Serverless-Authorization`. `/scrape`, `/health`, `/metrics` and
//! the status page's files stay open. The token never shows in an answer or a log line.

use serde_json::{json, Value};

use crate::support::app::{spawn_offline, unconfirmed_hand_overs, var_pairs, TestApp};
use crate::support::logs::Captured;
use crate::support::process::Backstop;

pub const TOKEN: &str = "0f1e2d3c4b5a69788796a5b4c3d2e1f0-admin";
const OBJECT: &str = "bettingpros/player-props/steals/2026-01-07/20260107_120000.json";

/// Each guarded route: method, path, body, and the status the right token gets.
fn guarded() -> Vec<(&'static str, String, Option<Value>, u16)> {
    vec![
        ("GET", "/runs?limit=5".into(), None, 200),
        ("GET", "/proxies".into(), None, 200),
        (
            "GET",
            "/gaps?from=2026-01-01&to=2026-01-02&market=steals".into(),
            None,
            200,
        ),
        (
            "POST",
            "/reprocess".into(),
            Some(
                json!({"from": "2026-01-01", "to": "2026-01-02", "market": "steals", "dry_run": true}),
            ),
            200,
        ),
        ("GET", "/reprocess".into(), None, 200),
        ("GET", "/reprocess/no-such-job".into(), None, 404),
        ("GET", "/gaps/no-such-detection".into(), None, 404),
        ("GET", "/claims".into(), None, 200),
        (
            "POST",
            format!("/claims/{OBJECT}/release"),
            Some(json!({})),
            200,
        ),
    ]
}

/// A service with BigQuery unreachable and one unconfirmed hand-over of [`OBJECT`] (which
/// the right token releases).
async fn service(extra: &[(&str, &str)]) -> (TestApp, String) {
    let mut t = spawn_offline(extra).await;
    unconfirmed_hand_overs(&t.app.ledger, &[OBJECT]).await;
    let url = t.serve().await;
    (t, url)
}

async fn call(
    url: &str,
    (method, path, body): (&str, &str, Option<&Value>),
    headers: &[(&str, &str)],
) -> (u16, reqwest::header::HeaderMap, String) {
    let http = reqwest::Client::new();
    let mut req = match method {
        "GET" => http.get(format!("{url}{path}")),
        _ => http.post(format!("{url}{path}")),
    };
    if let Some(body) = body {
        req = req.json(body);
    }
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let r = req.send().await.expect("the service answers");
    let (status, headers) = (r.status().as_u16(), r.headers().clone());
    (status, headers, r.text().await.unwrap_or_default())
}

#[tokio::test]
async fn every_operator_route_wants_the_admin_token_and_refuses_before_doing_anything() {
    let (logs, _guard) = Captured::start();
    let (t, url) = service(&[("BACKSTOP_ADMIN_TOKEN", TOKEN)]).await;
    let right = format!("Bearer {TOKEN}");
    let wrong = format!("Bearer {TOKEN}x");
    for (method, path, body, expected) in guarded() {
        let route = (method, path.as_str(), body.as_ref());
        for (headers, said) in [
            (vec![], "needs the admin token"),
            (vec![("Authorization", wrong.as_str())], "refused"),
            (
                vec![("Authorization", "Basic YWRtaW46YWRtaW4=")],
                "needs the admin token",
            ),
        ] {
            let (status, h, text) = call(&url, route, &headers).await;
            assert_eq!(status, 401, "{method} {path} with {headers:?}: {text}");
            let asked = h["www-authenticate"].to_str().unwrap();
            assert!(!asked.contains("Basic"), "{method} {path}: {asked}");
            let answer: Value = serde_json::from_str(&text).unwrap();
            assert!(answer["error"].as_str().unwrap().contains(said), "{text}");
            assert!(!text.contains(TOKEN), "{text}");
        }
        // Nothing was done: no job, the claim untouched.
        assert!(
            t.app.ledger.recent_jobs(10).await.unwrap().len() == 1,
            "{method} {path}"
        );
        assert!(
            t.app.ledger.file_send(OBJECT).await.unwrap().is_some(),
            "{method} {path}"
        );

        let serverless = (
            "X-Serverless-Authorization",
            "Bearer eyJhbGciOi.google-identity.sig",
        );
        for headers in [
            vec![("Authorization", right.as_str())],
            vec![serverless, ("Authorization", right.as_str())],
        ] {
            if path.contains("/release") && t.app.ledger.file_send(OBJECT).await.unwrap().is_none()
            {
                // Released by the first right call: the second finds no claim.
                let (status, _, text) = call(&url, route, &headers).await;
                assert_eq!(status, 404, "{text}");
                continue;
            }
            let (status, _, text) = call(&url, route, &headers).await;
            assert_eq!(status, expected, "{method} {path} with {headers:?}: {text}");
            assert!(!text.contains(TOKEN), "{text}");
        }
    }
    assert!(
        t.app.ledger.file_send(OBJECT).await.unwrap().is_none(),
        "released with the token"
    );

    // Cloud Scheduler's route, the health check, the metrics and the page's files stay open.
    for (method, path, body) in [
        ("GET", "/health", None),
        ("GET", "/metrics", None),
        ("GET", "/", None),
        ("GET", "/page/api.js", None),
        (
            "POST",
            "/scrape",
            Some(json!({"scraper": "bp_events", "date": "2026-01-14"})),
        ),
    ] {
        let (status, _, text) = call(&url, (method, path, body.as_ref()), &[]).await;
        assert!(
            [200, 503].contains(&status),
            "{method} {path}: {status} {text}"
        );
    }
    let log = logs.text();
    assert!(
        log.contains("admin token"),
        "the refusals are logged? {log:.300}"
    );
    assert!(!log.contains(TOKEN), "the token reached the log");
}

#[tokio::test]
async fn without_a_token_configured_the_operator_routes_are_open() {
    let (_t, url) = service(&[]).await;
    for (method, path, body, expected) in guarded() {
        let (status, _, text) = call(&url, (method, &path, body.as_ref()), &[]).await;
        assert_eq!(status, expected, "{method} {path}: {text}");
    }
}

#[tokio::test]
async fn serve_warns_once_at_start_when_no_token_is_set_and_never_logs_one_that_is() {
    let t = spawn_offline(&[]).await;
    let topic = t.app.config.pubsub.topic.clone();
    for (token, warnings) in [(None, 1), (Some(TOKEN), 0)] {
        let extra: Vec<(&str, &str)> = token
            .map(|v| ("BACKSTOP_ADMIN_TOKEN", v))
            .into_iter()
            .collect();
        let env = var_pairs(&t.sim, &t.gcs, &t.pubsub, &topic, t.dir.path(), &extra);
        let log = t.dir.path().join(format!("serve-{warnings}.log"));
        let served = Backstop::start(&env, log.clone()).await;
        let (status, _) = served.api.get("/runs").await;
        assert_eq!(status, if token.is_some() { 401 } else { 200 });
        served.kill();
        let text = std::fs::read_to_string(&log).unwrap();
        let warned = text.matches("BACKSTOP_ADMIN_TOKEN is not set").count();
        assert_eq!(warned, warnings, "{text}");
        assert!(!text.contains(TOKEN), "{text}");
    }
}
