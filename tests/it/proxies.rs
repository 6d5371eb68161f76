//! The proxy pool against real forward proxies (proxy.py on 127.0.0.1) and the local
//! BettingPros refusing chosen proxies with its real 403: rotation, 407s, reserved characters
//! in passwords, breakers, every route refused, the shared rate limit, and no credential text
//! anywhere.

use std::sync::Arc;
use std::time::Duration;

use backstop::config::{FetchSettings, Vars};
use backstop::fetch::{BreakerState, Class, Failure, Fetcher, ProxySettings, RouteStatus};
use backstop::metrics::{Metrics, ROUTE_ATTEMPTS, ROUTE_BREAKER_STATE};
use backstop::run::ErrorKind;
use backstop::sim::catalogue::Catalogue;
use backstop::sim::server::{SimConfig, SimServer};
use base64::Engine;

use crate::support::logs::Captured;
use crate::support::proxy::ForwardProxy;
use crate::support::upstream::{fast_settings, get, pool_fetcher, EVENTS};

/// The credentials every test proxy accepts: reserved characters in both parts.
const USER: &str = "bp+user";
const PASSWORD: &str = "p+ss@w/rd";
const RAW: &str = "bp+user:p+ss@w/rd";
const ENCODED: &str = "bp%2Buser:p%2Bss%40w%2Frd";
const WRONG: &str = "bp+user:wr0ng+p@ss/word";
const VIA: &str = "1.1 proxy.py v2.4.10";

/// Quick retries, but room for a Python proxy on a busy machine.
fn settings() -> FetchSettings {
    FetchSettings {
        attempt_timeout: Duration::from_secs(5),
        ..fast_settings()
    }
}

fn pool(entries: &[String], mode: &str, cooldown_secs: &str) -> ProxySettings {
    let list = entries.join(",");
    ProxySettings::from_vars(&Vars::from_pairs([
        ("BACKSTOP_PROXIES", list.as_str()),
        ("BACKSTOP_PROXY_MODE", mode),
        ("BACKSTOP_PROXY_COOLDOWN_SECS", cooldown_secs),
    ]))
    .expect("valid proxy settings")
}

async fn sim() -> SimServer {
    SimServer::start(SimConfig::new(Catalogue::new()))
        .await
        .expect("start the local BettingPros")
}

async fn two_proxies() -> (ForwardProxy, ForwardProxy) {
    tokio::join!(
        ForwardProxy::start(USER, PASSWORD),
        ForwardProxy::start(USER, PASSWORD)
    )
}

/// `res-1` and `res-2`, with the credentials they accept, given raw.
fn both(a: &ForwardProxy, b: &ForwardProxy) -> [String; 2] {
    [a.entry("res-1", RAW), b.entry("res-2", RAW)]
}

/// res-1 and res-2 in a pool, the upstream refusing res-1.
struct FirstOfTwoBlocked {
    res1: ForwardProxy,
    _res2: ForwardProxy,
    sim: SimServer,
    f: Fetcher,
    metrics: Arc<Metrics>,
}

async fn first_of_two_blocked(cooldown_secs: &str) -> FirstOfTwoBlocked {
    let (res1, res2) = two_proxies().await;
    let sim = sim().await;
    sim.block(&[res1.name()]);
    let proxies = pool(&both(&res1, &res2), "proxies", cooldown_secs);
    let (f, metrics) = pool_fetcher(settings(), &proxies);
    FirstOfTwoBlocked {
        res1,
        _res2: res2,
        sim,
        f,
        metrics,
    }
}

fn route(f: &Fetcher, name: &str) -> RouteStatus {
    f.routes_status()
        .into_iter()
        .find(|r| r.name == name)
        .unwrap_or_else(|| panic!("no route {name}"))
}

async fn routes_of(f: &Fetcher, sim: &SimServer, requests: usize) -> Vec<Vec<String>> {
    let mut seen = Vec::new();
    for _ in 0..requests {
        let got = f
            .get_json(&get(sim, EVENTS))
            .await
            .expect("a route serves it");
        assert!(got.json["events"].is_array());
        seen.push(got.routes);
    }
    seen
}

fn routes(names: &[&str]) -> Vec<String> {
    names.iter().map(|n| n.to_string()).collect()
}

/// Every way the test credentials could leak: each part raw and encoded, and the header value.
fn credential_texts() -> Vec<String> {
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let mut texts: Vec<String> = [
        "bp+user",
        "bp%2Buser",
        "p+ss",
        "p%2Bss",
        "w/rd",
        "w%2Frd",
        "wr0ng",
        "p@ss/word",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    texts.extend([b64(RAW), b64(WRONG)]);
    texts
}

#[tokio::test]
async fn rotation_moves_past_a_blocked_proxy() {
    // Bound whole: a field left behind by a destructuring would be dropped, its proxy killed.
    let pair = first_of_two_blocked("300").await;
    let (a, sim, f, metrics) = (&pair.res1, &pair.sim, &pair.f, &pair.metrics);

    let seen = routes_of(f, sim, 2).await;
    assert_eq!(seen, [routes(&["res-1", "res-2"]), routes(&["res-2"])]);
    for arrival in sim.arrivals() {
        assert_eq!(arrival.header("via"), Some(VIA), "{arrival:?}");
        let expected = if arrival.source() == a.name() {
            "403 blocked source"
        } else {
            "200"
        };
        assert_eq!(arrival.answer, expected, "{arrival:?}");
    }
    let refused = ["res-1", "http_403"];
    assert_eq!(metrics.get(&ROUTE_ATTEMPTS, refused), 1.0);
    assert_eq!(route(f, "res-2").recent_successes, 2);
}

#[tokio::test]
async fn a_password_with_plus_at_and_slash_works_raw_and_percent_encoded() {
    let p = ForwardProxy::start(USER, PASSWORD).await;
    let sim = sim().await;
    for userinfo in [RAW, ENCODED] {
        let proxies = pool(&[p.entry("res-1", userinfo)], "proxies", "300");
        let (f, _) = pool_fetcher(settings(), &proxies);
        let got = f
            .get_json(&get(&sim, EVENTS))
            .await
            .unwrap_or_else(|e| panic!("{userinfo}: {e}"));
        assert_eq!(got.routes, ["res-1"]);
        assert_eq!(got.attempts, 1);
    }
    let arrivals = sim.arrivals();
    assert_eq!(arrivals.len(), 2);
    assert!(arrivals
        .iter()
        .all(|a| a.source() == p.name() && a.header("via") == Some(VIA)));
}

#[tokio::test]
async fn a_wrong_password_is_a_407_named_in_the_error_and_the_log() {
    let (logs, _guard) = Captured::start();
    let p = ForwardProxy::start(USER, PASSWORD).await;
    let sim = sim().await;
    let proxies = pool(&[p.entry("res-1", WRONG)], "proxies", "300");
    let (f, _) = pool_fetcher(settings(), &proxies);

    let err = f.get_json(&get(&sim, EVENTS)).await.unwrap_err();
    assert_eq!(err.failure, Failure::Status(407), "{err}");
    assert_eq!(err.class, Class::Permanent);
    assert_eq!(err.attempts, 1, "the same credentials get the same answer");
    assert_eq!(err.routes, ["res-1"]);
    assert!(err.to_string().contains("407 from proxy res-1"), "{err}");
    assert!(sim.arrivals().is_empty(), "nothing got past the proxy");

    // An HTTPS upstream is reached through CONNECT, whose 407 reqwest reports in words only.
    let mut tunnelled = get(&sim, EVENTS);
    tunnelled.url.set_scheme("https").unwrap();
    let err = f.get_json(&tunnelled).await.unwrap_err();
    assert_eq!(err.failure, Failure::Status(407), "{err}");

    let logged = logs.text();
    let loud = format!(
        "proxy res-1 ({}) rejected our credentials (407): check BACKSTOP_PROXIES; a password with + @ / must be given as is or percent-encoded",
        p.address()
    );
    assert_eq!(logged.matches(&loud).count(), 2, "{logged}");
    assert!(logged.contains("ERROR"), "{logged}");
    for text in credential_texts() {
        assert!(!logged.contains(&text), "{text} in the log:\n{logged}");
        assert!(!err.to_string().contains(&text), "{text} in {err}");
    }
}

#[tokio::test]
async fn a_proxy_that_cannot_be_reached_or_tunnel_is_passed_over() {
    let b = ForwardProxy::start(USER, PASSWORD).await;
    let sim = sim().await;
    let dead = "dead=http://u:x@127.0.0.1:1".to_string();
    let proxies = pool(&[dead, b.entry("res-2", RAW)], "proxies", "300");
    let (f, metrics) = pool_fetcher(settings(), &proxies);
    let seen = routes_of(&f, &sim, 2).await;
    assert_eq!(seen, [routes(&["dead", "res-2"]), routes(&["res-2"])]);
    let refused = ["dead", "connect"];
    assert_eq!(metrics.get(&ROUTE_ATTEMPTS, refused), 1.0);

    // A proxy that cannot open a tunnel to an HTTPS upstream fails as the proxy's fault.
    let proxies = pool(&[b.entry("res-2", RAW)], "proxies", "300");
    let (f, _) = pool_fetcher(
        FetchSettings {
            max_attempts: 1,
            ..settings()
        },
        &proxies,
    );
    let mut nowhere = get(&sim, EVENTS);
    nowhere.url = "https://127.0.0.1:1/v3/events".parse().unwrap();
    let err = f.get_json(&nowhere).await.unwrap_err();
    assert_eq!(err.failure, Failure::ProxyTunnel, "{err}");
    assert_eq!(err.class, Class::Transient);
}

#[tokio::test]
async fn the_breaker_opens_after_three_failures_and_one_trial_closes_it() {
    let pair = first_of_two_blocked("1").await;
    let (sim, f, metrics) = (&pair.sim, &pair.f, &pair.metrics);
    let gauge = || metrics.get(&ROUTE_BREAKER_STATE, ["res-1"]);

    // Every other request starts at res-1: three of them open its breaker.
    routes_of(f, sim, 5).await;
    let res1 = route(f, "res-1");
    assert_eq!(res1.breaker, BreakerState::Open);
    assert_eq!(res1.recent_failures.get("http_403"), Some(&3));
    assert_eq!(gauge(), 2.0);
    assert_eq!(
        routes_of(f, sim, 2).await,
        [routes(&["res-2"]), routes(&["res-2"])],
        "an open route is skipped"
    );

    // After the cool-down one trial goes through res-1; still refused, it re-opens.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(route(f, "res-1").breaker, BreakerState::HalfOpen);
    let trial = routes_of(f, sim, 2).await;
    assert!(trial.contains(&routes(&["res-1", "res-2"])), "{trial:?}");
    assert_eq!(route(f, "res-1").breaker, BreakerState::Open);

    // Unblocked: after the next cool-down a single successful trial closes it.
    sim.block(&[]);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let trial = routes_of(f, sim, 2).await;
    assert!(trial.contains(&routes(&["res-1"])), "{trial:?}");
    assert_eq!(route(f, "res-1").breaker, BreakerState::Closed);
    assert_eq!(gauge(), 0.0);
}

#[tokio::test]
async fn every_route_blocked_fails_as_blocked_naming_what_was_tried() {
    let (a, b) = two_proxies().await;
    let sim = sim().await;
    sim.block(&[a.name(), b.name(), "direct"]);
    let proxies = pool(&both(&a, &b), "direct-then-proxies", "300");
    let (f, _) = pool_fetcher(settings(), &proxies);
    let err = f.get_json(&get(&sim, EVENTS)).await.unwrap_err();
    assert_eq!(err.class, Class::Blocked);
    assert_eq!(err.kind(), ErrorKind::Blocked);
    assert_eq!(err.attempts, 3);
    assert_eq!(err.routes, ["direct", "res-1", "res-2"]);
    let said = err.to_string();
    assert!(said.contains("403 from all 2 proxies and direct"), "{said}");
    assert!(said.contains("Forbidden"), "{said}");
    assert_eq!(sim.arrivals().len(), 3, "each route once");
}

#[tokio::test]
async fn the_rate_limit_holds_across_proxies() {
    let (a, b) = two_proxies().await;
    // The upstream refuses arrivals closer than 190 ms; the fetcher sends one per 250 ms.
    let sim = SimServer::start(SimConfig {
        rate_limit: Some(5.0),
        ..SimConfig::new(Catalogue::new())
    })
    .await
    .unwrap();
    let proxies = pool(&both(&a, &b), "proxies", "300");
    let (f, _) = pool_fetcher(
        FetchSettings {
            rate_per_sec: 4.0,
            ..settings()
        },
        &proxies,
    );
    // The first request through a proxy.py is slow (it loads its plugins): warm both up.
    routes_of(&f, &sim, 2).await;
    let tasks: Vec<_> = (0..6)
        .map(|_| {
            let f = f.clone();
            let req = get(&sim, EVENTS);
            tokio::spawn(async move {
                for _ in 0..2 {
                    f.get_json(&req).await.expect("no request fails");
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let arrivals = sim.arrivals().split_off(2);
    let gaps: Vec<Duration> = arrivals
        .windows(2)
        .map(|w| w[1].at.duration_since(w[0].at))
        .collect();
    assert_eq!(arrivals.len(), 12, "every request went once: {gaps:?}");
    for proxy in [&a, &b] {
        let used = arrivals.iter().any(|x| x.source() == proxy.name());
        assert!(used, "{} unused", proxy.name());
    }
    // Permits leave 250 ms apart; a proxy's forwarding time varies by up to ~30 ms on a busy
    // machine, so single gaps at the upstream may be that much shorter, never bunched, and the
    // whole run spans eleven periods.
    let min_gap = gaps.iter().min().unwrap();
    assert!(
        *min_gap >= Duration::from_millis(200),
        "gaps at 4/s: {gaps:?}"
    );
    let span = arrivals[11].at.duration_since(arrivals[0].at);
    assert!(
        span >= Duration::from_millis(11 * 250 - 40),
        "12 requests in {span:?}"
    );
    assert_eq!(sim.rate_violations(), 0);
}

#[tokio::test]
async fn no_credential_text_reaches_logs_errors_debug_status_or_metrics() {
    let (logs, _guard) = Captured::start();
    let (a, b) = two_proxies().await;
    let c = ForwardProxy::start(USER, PASSWORD).await;
    let sim = sim().await;
    sim.block(&["direct", c.name()]);
    let entries = [
        a.entry("res-1", WRONG),
        b.entry("res-2", RAW),
        c.entry("res-3", ENCODED),
    ];
    let proxies = pool(&entries, "direct-then-proxies", "300");
    let (f, metrics) = pool_fetcher(settings(), &proxies);
    routes_of(&f, &sim, 3).await;

    sim.block(&["direct", b.name(), c.name()]);
    let err = f.get_json(&get(&sim, EVENTS)).await.unwrap_err();
    assert_eq!(err.class, Class::Blocked);
    assert!(
        err.to_string()
            .contains("407 from res-1, 403 from res-2, res-3 and direct"),
        "{err}"
    );

    let shown = [
        logs.text(),
        err.to_string(),
        format!("{err:?}"),
        format!("{proxies:?}"),
        serde_json::to_string(&f.routes_status()).unwrap(),
        metrics.render(),
    ];
    assert!(
        shown[0].contains("rejected our credentials (407)"),
        "{}",
        shown[0]
    );
    assert!(shown[4].contains("res-1") && shown[5].contains("res-3"));
    for text in credential_texts() {
        for place in &shown {
            assert!(!place.contains(&text), "{text} shown in:\n{place}");
        }
    }
}
