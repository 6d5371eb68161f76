//! The fetch core against a real HTTP server: retries, Retry-After, decoding, caps, timeouts,
//! classification and the shared rate limit.

use std::time::Duration;

use backstop::fetch::{Class, Failure};
use backstop::metrics;
use backstop::run::ErrorKind;
use backstop::sim::catalogue::Catalogue;
use backstop::sim::faults::Fault;
use backstop::sim::server::{Encoding, SimConfig, SimServer};
use tokio::time::Instant;

use crate::support::logs::Captured;
use crate::support::upstream::{fast_settings, fetcher, get, EVENTS};

async fn sim() -> SimServer {
    SimServer::start(SimConfig::new(Catalogue::new()))
        .await
        .expect("start the local BettingPros")
}

fn gap(sim: &SimServer, i: usize) -> Duration {
    let a = sim.arrivals();
    a[i + 1].at.duration_since(a[i].at)
}

#[tokio::test]
async fn retries_503_then_succeeds() {
    let sim = sim().await;
    sim.script([Fault::Status(503), Fault::Status(503)]);
    let (f, metrics) = fetcher(fast_settings());
    let got = f
        .get_json(&get(&sim, EVENTS))
        .await
        .expect("third attempt succeeds");
    assert_eq!(got.attempts, 3);
    assert!(got.json["events"].is_array());
    assert_eq!(sim.arrivals().len(), 3);
    assert_eq!(metrics.total(&metrics::UPSTREAM_RETRIES), 2.0);
}

#[tokio::test]
async fn each_failed_attempt_is_logged_once_with_the_decision_and_its_reason() {
    let (logs, _guard) = Captured::start();
    let sim = sim().await;
    sim.script([Fault::Status(503), Fault::Status(503)]);
    let (f, _) = fetcher(fast_settings());
    f.get_json(&get(&sim, EVENTS))
        .await
        .expect("third attempt succeeds");
    f.get_json(&get(&sim, "/nope?x=1")).await.unwrap_err();

    let logged = logs.text();
    let failed: Vec<&str> = logged
        .lines()
        .filter(|l| l.contains("upstream attempt via direct failed"))
        .collect();
    assert_eq!(failed.len(), 3, "{logged}");
    for line in &failed[..2] {
        assert!(line.contains("HTTP 503; retrying in"), "{line}");
        assert!(line.contains("reason=\"transient\""), "{line}");
    }
    assert!(
        failed[2].contains("HTTP 404; giving up (permanent)"),
        "{}",
        failed[2]
    );
}

#[tokio::test]
async fn retry_after_in_seconds_is_never_undercut() {
    let sim = sim().await;
    sim.script([Fault::RetryAfter {
        status: 429,
        value: "2".into(),
    }]);
    let (f, _) = fetcher(fast_settings());
    f.get_json(&get(&sim, EVENTS))
        .await
        .expect("succeeds after the wait");
    let waited = gap(&sim, 0);
    assert!(
        waited >= Duration::from_millis(1950),
        "retried after {waited:?}, asked for 2 s"
    );
    assert!(waited < Duration::from_secs(4), "waited {waited:?}");
}

#[tokio::test]
async fn retry_after_as_an_http_date_is_honoured() {
    let sim = sim().await;
    let at = std::time::SystemTime::now() + Duration::from_secs(3);
    sim.script([Fault::RetryAfter {
        status: 503,
        value: httpdate::fmt_http_date(at),
    }]);
    let (f, _) = fetcher(fast_settings());
    f.get_json(&get(&sim, EVENTS))
        .await
        .expect("succeeds after the date");
    let waited = gap(&sim, 0);
    // The date has whole-second resolution: at least 2 s of the 3 remain.
    assert!(
        waited >= Duration::from_millis(1950),
        "retried after {waited:?}"
    );
    assert!(waited < Duration::from_secs(5), "waited {waited:?}");
}

#[tokio::test]
async fn a_429_holds_back_every_task_not_just_the_one_that_got_it() {
    let sim = sim().await;
    sim.script([Fault::RetryAfter {
        status: 429,
        value: "1".into(),
    }]);
    let (f, metrics) = fetcher(fast_settings());
    let first = {
        let f = f.clone();
        let req = get(&sim, EVENTS);
        tokio::spawn(async move { f.get_json(&req).await })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    f.get_json(&get(&sim, EVENTS))
        .await
        .expect("second task succeeds");
    first.await.unwrap().expect("first task succeeds");
    let arrivals = sim.arrivals();
    let throttled = arrivals[0].at;
    for later in &arrivals[1..] {
        let after = later.at.duration_since(throttled);
        assert!(
            after >= Duration::from_millis(950),
            "a request went {after:?} after the 429"
        );
    }
    assert_eq!(metrics.total(&metrics::RATE_LIMITER_PUSHBACKS), 1.0);
}

#[tokio::test]
async fn a_stall_past_the_attempt_timeout_is_cut_and_retried() {
    let sim = sim().await;
    sim.script([Fault::Stall(Duration::from_secs(5))]);
    let (f, _) = fetcher(fast_settings());
    let start = Instant::now();
    let got = f
        .get_json(&get(&sim, EVENTS))
        .await
        .expect("second attempt succeeds");
    assert_eq!(got.attempts, 2);
    assert!(
        start.elapsed() < Duration::from_secs(3),
        "took {:?}",
        start.elapsed()
    );

    sim.script([Fault::Stall(Duration::from_secs(5))]);
    let (once, _) = fetcher(backstop::config::FetchSettings {
        max_attempts: 1,
        ..fast_settings()
    });
    let err = once.get_json(&get(&sim, EVENTS)).await.unwrap_err();
    assert_eq!(err.failure, Failure::Timeout, "{err}");
    assert!(err.exhausted);
}

#[tokio::test]
async fn a_body_cut_off_mid_way_is_retried_like_a_503() {
    let sim = sim().await;
    sim.script([Fault::Truncate]);
    let (f, _) = fetcher(fast_settings());
    assert_eq!(f.get_json(&get(&sim, EVENTS)).await.unwrap().attempts, 2);

    sim.script([Fault::Truncate]);
    let (once, _) = fetcher(backstop::config::FetchSettings {
        max_attempts: 1,
        ..fast_settings()
    });
    let err = once.get_json(&get(&sim, EVENTS)).await.unwrap_err();
    assert_eq!(err.failure, Failure::Truncated, "{err}");
    assert_eq!(err.class, Class::Transient);
}

#[tokio::test]
async fn a_corrupt_compressed_body_is_named_and_retried() {
    let sim = sim().await;
    sim.script([Fault::CorruptEncoding, Fault::CorruptEncoding]);
    let (f, _) = fetcher(backstop::config::FetchSettings {
        max_attempts: 2,
        ..fast_settings()
    });
    let err = f.get_json(&get(&sim, EVENTS)).await.unwrap_err();
    assert_eq!(err.failure, Failure::CorruptEncoding, "{err}");
    assert_eq!(err.attempts, 2);
}

#[tokio::test]
async fn a_reset_connection_is_retried() {
    let sim = sim().await;
    sim.script([Fault::Reset]);
    let (f, _) = fetcher(fast_settings());
    assert_eq!(f.get_json(&get(&sim, EVENTS)).await.unwrap().attempts, 2);
}

#[tokio::test]
async fn every_encoding_decodes_with_and_without_its_header() {
    for encoding in [
        Encoding::Brotli,
        Encoding::Gzip,
        Encoding::Zstd,
        Encoding::Identity,
    ] {
        for announce in [true, false] {
            let config = SimConfig {
                encoding,
                announce_encoding: announce,
                ..SimConfig::new(Catalogue::new())
            };
            let sim = SimServer::start(config).await.unwrap();
            let (f, _) = fetcher(fast_settings());
            let got = f.get_json(&get(&sim, EVENTS)).await.unwrap_or_else(|e| {
                panic!("{encoding:?} announced={announce}: {e}");
            });
            assert_eq!(got.attempts, 1, "{encoding:?} announced={announce}");
            assert!(
                got.json["events"].is_array(),
                "{encoding:?} announced={announce}"
            );
            let asked = sim.arrivals()[0]
                .header("accept-encoding")
                .unwrap_or_default()
                .to_string();
            for token in ["gzip", "br", "zstd", "deflate"] {
                assert!(
                    asked.contains(token),
                    "Accept-Encoding {asked:?} lacks {token}"
                );
            }
        }
    }
}

#[tokio::test]
async fn a_brotli_bomb_stops_at_the_cap_without_retrying() {
    let sim = sim().await;
    sim.script([Fault::Bomb {
        inflated_bytes: 64 * 1024 * 1024,
    }]);
    let (f, _) = fetcher(fast_settings()); // cap 1 MiB
    let start = Instant::now();
    let err = f.get_json(&get(&sim, EVENTS)).await.unwrap_err();
    assert_eq!(err.failure, Failure::TooLarge, "{err}");
    assert_eq!(err.attempts, 1);
    assert_eq!(sim.arrivals().len(), 1);
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "took {:?}",
        start.elapsed()
    );
}

#[tokio::test]
async fn a_challenge_page_is_retried_then_named() {
    let sim = sim().await;
    sim.script([Fault::Challenge, Fault::Challenge]);
    let (f, _) = fetcher(backstop::config::FetchSettings {
        max_attempts: 2,
        ..fast_settings()
    });
    let err = f.get_json(&get(&sim, EVENTS)).await.unwrap_err();
    assert_eq!(err.failure, Failure::Challenge);
    assert!(err.exhausted);
    assert!(err.to_string().contains("challenge"), "{err}");
}

#[tokio::test]
async fn empty_and_invalid_bodies_are_retried() {
    let sim = sim().await;
    sim.script([Fault::EmptyBody, Fault::InvalidJson]);
    let (f, _) = fetcher(fast_settings());
    assert_eq!(f.get_json(&get(&sim, EVENTS)).await.unwrap().attempts, 3);
}

#[tokio::test]
async fn forbidden_is_blocked_and_retried_only_once() {
    let sim = sim().await;
    sim.script([Fault::Status(403), Fault::Status(403), Fault::Status(403)]);
    let (f, _) = fetcher(fast_settings());
    let err = f.get_json(&get(&sim, EVENTS)).await.unwrap_err();
    assert_eq!(err.class, Class::Blocked);
    assert_eq!(err.kind(), ErrorKind::Blocked);
    assert_eq!(err.attempts, 2);
    assert!(err.to_string().contains("Forbidden"), "{err}");
}

#[tokio::test]
async fn not_found_is_permanent_and_not_retried() {
    let sim = sim().await;
    let (f, _) = fetcher(fast_settings());
    let err = f.get_json(&get(&sim, "/nope?x=1")).await.unwrap_err();
    assert_eq!(err.failure, Failure::Status(404));
    assert_eq!(err.attempts, 1);
    assert!(err.to_string().contains("/v3/nope?x=1"), "{err}");
}

#[tokio::test]
async fn the_run_deadline_bounds_all_retries() {
    let sim = sim().await;
    sim.script(std::iter::repeat_n(Fault::Status(503), 50));
    let settings = backstop::config::FetchSettings {
        max_attempts: 50,
        backoff_base: Duration::from_millis(100),
        backoff_max: Duration::from_millis(100),
        ..fast_settings()
    };
    let (f, _) = fetcher(settings);
    let mut req = get(&sim, EVENTS);
    req.deadline = Some(Instant::now() + Duration::from_millis(600));
    let start = Instant::now();
    let err = f.get_json(&req).await.unwrap_err();
    assert_eq!(err.failure, Failure::Deadline, "{err}");
    assert!(
        start.elapsed() < Duration::from_millis(1500),
        "took {:?}",
        start.elapsed()
    );
    assert!(err.detail.contains("HTTP 503"), "{err}");
}

#[tokio::test]
async fn eight_concurrent_tasks_together_never_exceed_the_rate() {
    let config = SimConfig {
        rate_limit: Some(10.0),
        ..SimConfig::new(Catalogue::new())
    };
    let sim = SimServer::start(config).await.unwrap();
    let (f, _) = fetcher(backstop::config::FetchSettings {
        rate_per_sec: 10.0,
        ..fast_settings()
    });
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let f = f.clone();
            let req = get(&sim, EVENTS);
            tokio::spawn(async move {
                for _ in 0..3 {
                    f.get_json(&req).await.expect("no request fails");
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let arrivals = sim.arrivals();
    assert_eq!(arrivals.len(), 24, "every request went once");
    let min_gap = arrivals
        .windows(2)
        .map(|w| w[1].at.duration_since(w[0].at))
        .min()
        .unwrap();
    assert!(
        min_gap >= Duration::from_millis(90),
        "two requests {min_gap:?} apart at 10/s"
    );
    assert_eq!(sim.rate_violations(), 0);
}

#[tokio::test]
async fn the_upstream_takes_a_late_arrival_for_jitter_but_two_at_once_or_a_faster_rate_for_violations(
) {
    let config = SimConfig {
        rate_limit: Some(10.0),
        ..SimConfig::new(Catalogue::new())
    };
    let sim = SimServer::start(config).await.unwrap();
    let url = format!("{}/events?sport=NBA&date=2026-01-14", sim.base_url());
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let start = Instant::now();
    // At 10/s, 100 ms apart; the second 30 ms late, so the third follows it by only 70 ms.
    for at in [0, 130, 200, 300] {
        tokio::time::sleep_until(start + Duration::from_millis(at)).await;
        http.get(&url).send().await.unwrap();
    }
    assert_eq!(sim.rate_violations(), 0, "{:?}", sim.arrivals());
    tokio::time::sleep_until(start + Duration::from_millis(600)).await;
    let (a, b) = tokio::join!(http.get(&url).send(), http.get(&url).send());
    let answers = [a.unwrap().status().as_u16(), b.unwrap().status().as_u16()];
    assert!(answers.contains(&429), "{answers:?}");
    assert_eq!(sim.rate_violations(), 1);
    // 12/s for two seconds, each gap well above a quarter interval: too fast all the same.
    let resumed = Instant::now() + Duration::from_secs(2);
    for i in 0..25 {
        tokio::time::sleep_until(resumed + Duration::from_millis(83 * i)).await;
        http.get(&url).send().await.unwrap();
    }
    assert!(sim.rate_violations() > 1, "{:?}", sim.arrivals());
}
