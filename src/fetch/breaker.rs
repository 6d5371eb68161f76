//! A circuit breaker for one (route, upstream host): open after N consecutive route-level
//! failures, half-open once the cool-down has passed, closed again by one successful trial
//! (one trial at a time), re-opened by a failed one. Pure: every call takes `now`.

use std::time::Duration;

use serde::Serialize;
use tokio::time::Instant;

/// What `/proxies` and the metrics show.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum BreakerState {
    Closed,
    HalfOpen,
    Open,
}

impl BreakerState {
    pub fn as_str(self) -> &'static str {
        match self {
            BreakerState::Closed => "closed",
            BreakerState::HalfOpen => "half-open",
            BreakerState::Open => "open",
        }
    }

    /// The gauge value: 0 closed, 1 half-open, 2 open.
    pub fn gauge(self) -> f64 {
        match self {
            BreakerState::Closed => 0.0,
            BreakerState::HalfOpen => 1.0,
            BreakerState::Open => 2.0,
        }
    }
}

/// What an attempt showed about its route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The route delivered an upstream answer (good or bad: the route itself works).
    Healthy,
    /// The route is the problem: refused (403/407), its proxy failed (502/504, no connection).
    RouteFailure,
    /// Nothing learnt about the route (a timeout, a reset, a cut-off body).
    Inconclusive,
}

/// Whether a request may use the route now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    Go,
    /// Half-open: this request is the one trial.
    Trial,
    /// Open (or a trial is under way) until this instant.
    Refused {
        until: Instant,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Closed,
    Open {
        until: Instant,
    },
    /// The cool-down has passed; `trial` is when the one trial began, if one is under way.
    HalfOpen {
        trial: Option<Instant>,
    },
}

#[derive(Debug, Clone)]
pub struct Breaker {
    failures_to_open: u32,
    cooldown: Duration,
    consecutive: u32,
    phase: Phase,
}

impl Breaker {
    pub fn new(failures_to_open: u32, cooldown: Duration) -> Self {
        Self {
            failures_to_open: failures_to_open.max(1),
            cooldown,
            consecutive: 0,
            phase: Phase::Closed,
        }
    }

    pub fn state(&self, now: Instant) -> BreakerState {
        match self.phase {
            Phase::Closed => BreakerState::Closed,
            Phase::Open { until } if until > now => BreakerState::Open,
            Phase::Open { .. } | Phase::HalfOpen { .. } => BreakerState::HalfOpen,
        }
    }

    /// Admits a request, claiming the one trial when half-open. A trial that never reported
    /// back (its request was cancelled) is given up after one cool-down.
    pub fn admit(&mut self, now: Instant) -> Admission {
        match self.phase {
            Phase::Closed => Admission::Go,
            Phase::Open { until } if until > now => Admission::Refused { until },
            Phase::HalfOpen { trial: Some(began) } if began + self.cooldown > now => {
                Admission::Refused {
                    until: began + self.cooldown,
                }
            }
            Phase::Open { .. } | Phase::HalfOpen { .. } => {
                self.phase = Phase::HalfOpen { trial: Some(now) };
                Admission::Trial
            }
        }
    }

    /// Takes an attempt's verdict; returns the new state when it changed.
    pub fn record(&mut self, verdict: Verdict, now: Instant) -> Option<BreakerState> {
        let before = self.state(now);
        match verdict {
            Verdict::Healthy => {
                self.consecutive = 0;
                self.phase = Phase::Closed;
            }
            Verdict::RouteFailure => {
                self.consecutive = self.consecutive.saturating_add(1);
                let reopen = !matches!(self.phase, Phase::Closed);
                if reopen || self.consecutive >= self.failures_to_open {
                    self.phase = Phase::Open {
                        until: now + self.cooldown,
                    };
                }
            }
            Verdict::Inconclusive => {
                if let Phase::HalfOpen { trial: Some(_) } = self.phase {
                    self.phase = Phase::HalfOpen { trial: None };
                }
            }
        }
        let after = self.state(now);
        (after != before).then_some(after)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const COOL: Duration = Duration::from_secs(300);

    fn failures(b: &mut Breaker, n: u32, now: Instant) -> Option<BreakerState> {
        (0..n).fold(None, |_, _| b.record(Verdict::RouteFailure, now))
    }

    #[test]
    fn three_consecutive_route_failures_open_it() {
        let t0 = Instant::now();
        let mut b = Breaker::new(3, COOL);
        assert_eq!(failures(&mut b, 2, t0), None);
        assert_eq!(b.admit(t0), Admission::Go);
        assert_eq!(
            b.record(Verdict::RouteFailure, t0),
            Some(BreakerState::Open)
        );
        assert_eq!(b.admit(t0), Admission::Refused { until: t0 + COOL });
        assert_eq!(b.state(t0 + COOL / 2), BreakerState::Open);
    }

    #[test]
    fn a_success_in_between_resets_the_count() {
        let t0 = Instant::now();
        let mut b = Breaker::new(3, COOL);
        failures(&mut b, 2, t0);
        b.record(Verdict::Healthy, t0);
        failures(&mut b, 2, t0);
        assert_eq!(b.state(t0), BreakerState::Closed);
    }

    #[test]
    fn inconclusive_attempts_neither_count_nor_reset() {
        let t0 = Instant::now();
        let mut b = Breaker::new(3, COOL);
        failures(&mut b, 2, t0);
        b.record(Verdict::Inconclusive, t0);
        assert_eq!(
            b.record(Verdict::RouteFailure, t0),
            Some(BreakerState::Open)
        );
    }

    #[test]
    fn after_the_cooldown_one_trial_closes_it() {
        let t0 = Instant::now();
        let mut b = Breaker::new(3, COOL);
        failures(&mut b, 3, t0);
        let t1 = t0 + COOL;
        assert_eq!(b.state(t1), BreakerState::HalfOpen);
        assert_eq!(b.admit(t1), Admission::Trial);
        assert!(
            matches!(b.admit(t1), Admission::Refused { .. }),
            "only one trial at a time"
        );
        assert_eq!(b.record(Verdict::Healthy, t1), Some(BreakerState::Closed));
        assert_eq!(b.admit(t1), Admission::Go);
    }

    #[test]
    fn a_failed_trial_reopens_it_for_another_cooldown() {
        let t0 = Instant::now();
        let mut b = Breaker::new(3, COOL);
        failures(&mut b, 3, t0);
        let t1 = t0 + COOL + Duration::from_secs(1);
        assert_eq!(b.admit(t1), Admission::Trial);
        assert_eq!(
            b.record(Verdict::RouteFailure, t1),
            Some(BreakerState::Open)
        );
        assert_eq!(b.admit(t1), Admission::Refused { until: t1 + COOL });
    }

    #[test]
    fn an_inconclusive_trial_frees_the_slot_for_another() {
        let t0 = Instant::now();
        let mut b = Breaker::new(3, COOL);
        failures(&mut b, 3, t0);
        let t1 = t0 + COOL;
        assert_eq!(b.admit(t1), Admission::Trial);
        assert_eq!(b.record(Verdict::Inconclusive, t1), None);
        assert_eq!(b.admit(t1), Admission::Trial);
    }

    #[test]
    fn a_trial_that_never_reports_is_given_up_after_a_cooldown() {
        let t0 = Instant::now();
        let mut b = Breaker::new(3, COOL);
        failures(&mut b, 3, t0);
        assert_eq!(b.admit(t0 + COOL), Admission::Trial);
        assert!(matches!(
            b.admit(t0 + COOL + COOL / 2),
            Admission::Refused { .. }
        ));
        assert_eq!(b.admit(t0 + COOL * 2), Admission::Trial);
    }

    #[test]
    fn a_success_while_open_closes_it() {
        // A request admitted before the breaker opened may still come back healthy.
        let t0 = Instant::now();
        let mut b = Breaker::new(3, COOL);
        failures(&mut b, 3, t0);
        assert_eq!(b.record(Verdict::Healthy, t0), Some(BreakerState::Closed));
    }
}
