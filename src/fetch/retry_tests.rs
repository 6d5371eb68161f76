//! The retry policy's decisions, row by row, and its waits.

use super::*;
use crate::fetch::outcome::Failure;
use Decision::{RetryAfter, Stop, SwitchRoute};
use Failure::Status;

fn err(failure: Failure, retry_after: Option<Duration>) -> AttemptError {
    AttemptError {
        failure,
        attempt: 1,
        status: None,
        retry_after,
        bytes: 0,
        elapsed: Duration::ZERO,
        detail: String::new(),
    }
}

/// Five attempts, ceilings 1, 2, 4, 5, 5 s.
fn policy() -> Policy {
    Policy {
        max_attempts: 5,
        backoff: Backoff {
            base: Duration::from_secs(1),
            max: Duration::from_secs(5),
        },
    }
}

/// Records a failed attempt on `route` and asks the policy what next.
fn fail(t: &mut Trail, route: usize, failure: Failure) -> Decision {
    t.record(route, Some(failure));
    policy().decide(t, &err(failure, None))
}

fn retried(d: Decision, reason: Reason) -> bool {
    matches!(d, RetryAfter(_, r) if r == reason)
}

#[test]
fn ceilings_double_from_the_base_up_to_the_cap() {
    let backoff = policy().backoff;
    let ceilings: Vec<u64> = (0..5).map(|n| backoff.ceiling(n).as_secs()).collect();
    assert_eq!(ceilings, [1, 2, 4, 5, 5]);
    assert_eq!(backoff.ceiling(200), Duration::from_secs(5), "no overflow");
}

#[test]
fn a_transient_failure_is_retried_after_a_jittered_wait_until_the_attempts_are_used() {
    let mut t = Trail::over(&[], true);
    for n in 0..4 {
        match fail(&mut t, 0, Status(503)) {
            RetryAfter(wait, Reason::Transient) => {
                assert!(
                    wait <= policy().backoff.ceiling(n),
                    "retry {n} waits {wait:?}"
                );
            }
            other => panic!("attempt {} of 5: {other:?}", n + 1),
        }
    }
    assert_eq!(
        fail(&mut t, 0, Status(503)),
        Stop(Reason::AttemptsUsed),
        "5 attempts made"
    );
}

#[test]
fn a_permanent_failure_stops_at_once() {
    let mut t = Trail::over(&[], true);
    assert_eq!(fail(&mut t, 0, Status(404)), Stop(Reason::Permanent));
    let mut t = Trail::over(&["a"], false);
    assert_eq!(fail(&mut t, 0, Failure::TooLarge), Stop(Reason::Permanent));
}

#[test]
fn full_jitter_stays_within_the_ceiling() {
    let e = err(Status(503), None);
    for _ in 0..200 {
        assert!(wait(&e, Duration::from_secs(4)) <= Duration::from_secs(4));
    }
}

#[test]
fn retry_after_is_a_floor() {
    let e = err(Status(429), Some(Duration::from_secs(30)));
    for _ in 0..50 {
        assert!(wait(&e, Duration::from_secs(2)) >= Duration::from_secs(30));
    }
    let mut t = Trail::over(&[], true);
    t.record(0, Some(Status(429)));
    match policy().decide(&t, &e) {
        RetryAfter(wait, Reason::Transient) => assert!(wait >= Duration::from_secs(30)),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_403_moves_to_another_route_at_once_and_each_route_is_tried_once() {
    let mut t = Trail::over(&["res-1", "res-2"], true);
    assert_eq!(
        fail(&mut t, 0, Status(403)),
        SwitchRoute(Reason::RouteRefused)
    );
    assert_eq!(t.avoid(), Some(0));
    assert_eq!(
        fail(&mut t, 1, Status(403)),
        SwitchRoute(Reason::RouteRefused)
    );
    assert_eq!(
        fail(&mut t, 2, Status(403)),
        Stop(Reason::EveryRouteRefused),
        "no route left"
    );
    let all = t.refused_everywhere().unwrap();
    assert_eq!(all.summary, "403 from all 2 proxies and direct");
    assert!(all.blocked);
}

#[test]
fn a_lone_route_gets_one_more_try_after_a_403_with_a_backoff() {
    let mut t = Trail::over(&[], true);
    assert!(retried(fail(&mut t, 0, Status(403)), Reason::RouteRefused));
    assert_eq!(
        fail(&mut t, 0, Status(403)),
        Stop(Reason::EveryRouteRefused)
    );
    assert_eq!(
        t.refused_everywhere(),
        None,
        "the old message stays for one route"
    );
}

#[test]
fn a_lone_proxy_is_not_asked_again_after_a_407_and_is_named() {
    let mut t = Trail::over(&["res-1"], false);
    assert_eq!(
        fail(&mut t, 0, Status(407)),
        Stop(Reason::EveryRouteRefused)
    );
    let all = t.refused_everywhere().unwrap();
    assert_eq!(all.summary, "407 from proxy res-1");
    assert!(!all.blocked);
}

#[test]
fn refusals_may_go_past_max_attempts_up_to_one_per_route() {
    let mut t = Trail::over(&["a", "b", "c", "d", "e", "f"], false);
    for r in 0..5 {
        assert_eq!(
            fail(&mut t, r, Status(403)),
            SwitchRoute(Reason::RouteRefused),
            "route {r}"
        );
    }
    assert_eq!(
        fail(&mut t, 5, Status(403)),
        Stop(Reason::EveryRouteRefused)
    );
    assert_eq!(
        t.refused_everywhere().unwrap().summary,
        "403 from all 6 proxies"
    );
}

#[test]
fn refusals_stop_once_every_route_had_its_attempt() {
    // One attempt with max_attempts 1, on the lone direct route: 403 once is not a block yet,
    // but the attempts are used.
    let mut t = Trail::over(&[], true);
    t.record(0, Some(Status(403)));
    let once = Policy {
        max_attempts: 1,
        ..policy()
    };
    assert_eq!(
        once.decide(&t, &err(Status(403), None)),
        Stop(Reason::AttemptsUsed)
    );
}

#[test]
fn a_proxy_502_moves_on_but_uses_the_transient_budget() {
    let mut t = Trail::over(&["a", "b"], false);
    assert_eq!(
        fail(&mut t, 0, Status(502)),
        SwitchRoute(Reason::RouteFailed),
        "b is untried"
    );
    assert!(
        retried(fail(&mut t, 1, Status(502)), Reason::RouteFailed),
        "both tried: back off"
    );
    assert_eq!(t.avoid(), Some(1));
    assert!(retried(fail(&mut t, 0, Status(502)), Reason::RouteFailed));
    assert!(retried(fail(&mut t, 1, Status(502)), Reason::RouteFailed));
    assert_eq!(
        fail(&mut t, 0, Status(502)),
        Stop(Reason::AttemptsUsed),
        "5 attempts made"
    );
    assert_eq!(t.refused_everywhere(), None);
}

#[test]
fn upstream_failures_through_a_proxy_follow_the_classification() {
    let mut t = Trail::over(&["a", "b"], false);
    assert!(retried(fail(&mut t, 0, Status(503)), Reason::Transient));
    assert_eq!(t.avoid(), None);
    assert_eq!(fail(&mut t, 0, Status(404)), Stop(Reason::Permanent));
}

#[test]
fn a_decision_says_what_and_why() {
    let retry = RetryAfter(Duration::from_millis(1500), Reason::Transient);
    assert_eq!(retry.to_string(), "retrying in 1500 ms (transient)");
    assert_eq!(retry.wait(), Some(Duration::from_millis(1500)));
    let switch = SwitchRoute(Reason::RouteRefused);
    assert_eq!(
        switch.to_string(),
        "trying an untried route at once (route_refused)"
    );
    assert_eq!(switch.wait(), Some(Duration::ZERO));
    let stop = Stop(Reason::EveryRouteRefused);
    assert_eq!(stop.to_string(), "giving up (every_route_refused)");
    assert_eq!(
        (stop.wait(), stop.reason()),
        (None, Reason::EveryRouteRefused)
    );
}

#[test]
fn retry_after_reads_seconds_and_http_dates_and_is_capped() {
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_767_225_600); // 2026-01-01T00:00:00Z
    let max = Duration::from_secs(120);
    assert_eq!(
        parse_retry_after("2", now, max),
        Some(Duration::from_secs(2))
    );
    assert_eq!(
        parse_retry_after(" 7 ", now, max),
        Some(Duration::from_secs(7))
    );
    assert_eq!(parse_retry_after("3600", now, max), Some(max));
    assert_eq!(
        parse_retry_after("Thu, 01 Jan 2026 00:00:45 GMT", now, max),
        Some(Duration::from_secs(45))
    );
    assert_eq!(
        parse_retry_after("Wed, 31 Dec 2025 23:00:00 GMT", now, max),
        Some(Duration::ZERO)
    );
    assert_eq!(parse_retry_after("soon", now, max), None);
    assert_eq!(parse_retry_after("-5", now, max), None);
}
