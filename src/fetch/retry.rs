//! The retry policy: after each failed attempt, one decision with its reason — retry after a
//! wait (an exponential ceiling with full jitter, never before `Retry-After`), switch to a
//! route this request has not tried yet at once, or stop — and `Retry-After` in both forms.

use std::fmt;
use std::time::{Duration, SystemTime};

use rand::Rng;

use super::outcome::{classify, AttemptError, Class};
use super::trail::{Refusal, Trail};
use super::FetchSettings;

/// What to do after a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Try again after this wait.
    RetryAfter(Duration, Reason),
    /// Try again at once, on a route this request has not tried.
    SwitchRoute(Reason),
    /// Give up: the attempt's failure is the request's.
    Stop(Reason),
}

/// Why the policy decided what it did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// The classification table says another attempt may get another answer.
    Transient,
    /// The route refused us (a 403, a proxy's 407): it will answer the same again.
    RouteRefused,
    /// The route failed through its own fault (a proxy's 502/504, no connection, no tunnel).
    RouteFailed,
    /// Another attempt would get the same answer.
    Permanent,
    /// The attempts are used up.
    AttemptsUsed,
    /// Every route has refused this request.
    EveryRouteRefused,
}

impl Reason {
    /// The word in logs (`reason` field).
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Transient => "transient",
            Reason::RouteRefused => "route_refused",
            Reason::RouteFailed => "route_failed",
            Reason::Permanent => "permanent",
            Reason::AttemptsUsed => "attempts_used",
            Reason::EveryRouteRefused => "every_route_refused",
        }
    }
}

impl Decision {
    pub fn reason(self) -> Reason {
        match self {
            Decision::RetryAfter(_, r) | Decision::SwitchRoute(r) | Decision::Stop(r) => r,
        }
    }

    /// How long before the next attempt; `None` when there is none.
    pub fn wait(self) -> Option<Duration> {
        match self {
            Decision::RetryAfter(wait, _) => Some(wait),
            Decision::SwitchRoute(_) => Some(Duration::ZERO),
            Decision::Stop(_) => None,
        }
    }
}

impl fmt::Display for Decision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Decision::RetryAfter(wait, r) => {
                write!(f, "retrying in {} ms ({})", wait.as_millis(), r.as_str())
            }
            Decision::SwitchRoute(r) => {
                write!(f, "trying an untried route at once ({})", r.as_str())
            }
            Decision::Stop(r) => write!(f, "giving up ({})", r.as_str()),
        }
    }
}

/// Exponential backoff: the ceiling of each retry's wait. Google Cloud calls
/// (`gcp::retry`) back off the same way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The first ceiling; it doubles per retry up to `max`.
    pub base: Duration,
    pub max: Duration,
}

impl Backoff {
    /// The ceiling before retry `retry` (0-based): the base, doubled per retry, capped at
    /// `max` (the first is the base itself).
    pub fn ceiling(self, retry: u32) -> Duration {
        if retry == 0 {
            return self.base;
        }
        let factor = 1u32.checked_shl(retry).unwrap_or(u32::MAX);
        self.base.saturating_mul(factor).min(self.max)
    }
}

/// How hard one request tries.
#[derive(Debug, Clone)]
pub struct Policy {
    /// Attempts for transient failures, the first included. Refusals may take one attempt per
    /// route past it.
    pub max_attempts: u32,
    pub backoff: Backoff,
}

impl Policy {
    pub fn new(settings: &FetchSettings) -> Self {
        Self {
            max_attempts: settings.max_attempts,
            backoff: Backoff {
                base: settings.backoff_base,
                max: settings.backoff_max,
            },
        }
    }

    /// The decision after the attempt `trail` recorded last, which failed with `err`.
    /// Refusals move to another route and do not use up the attempts meant for transient
    /// failures (up to one attempt per route); when an untried route is left, the move is
    /// made at once.
    pub fn decide(&self, trail: &Trail, err: &AttemptError) -> Decision {
        let made = trail.attempts();
        if !trail.any_open() {
            return Decision::Stop(Reason::EveryRouteRefused);
        }
        let reason = match trail.last_refusal() {
            Some(Refusal::Firm) => {
                if made >= self.max_attempts.max(trail.routes()) {
                    return Decision::Stop(Reason::AttemptsUsed);
                }
                Reason::RouteRefused
            }
            refusal => {
                if classify(err.failure) == Class::Permanent {
                    return Decision::Stop(Reason::Permanent);
                }
                if made >= self.max_attempts {
                    return Decision::Stop(Reason::AttemptsUsed);
                }
                match refusal {
                    Some(_) => Reason::RouteFailed,
                    None => Reason::Transient,
                }
            }
        };
        if reason != Reason::Transient && trail.untried_open() {
            return Decision::SwitchRoute(reason);
        }
        let ceiling = self.backoff.ceiling(made.saturating_sub(1));
        Decision::RetryAfter(wait(err, ceiling), reason)
    }
}

/// Full jitter (uniform in [0, ceiling]), but never earlier than a `Retry-After`.
pub fn wait(err: &AttemptError, ceiling: Duration) -> Duration {
    let jittered = Duration::from_secs_f64(rand::rng().random_range(0.0..=ceiling.as_secs_f64()));
    match err.retry_after {
        Some(asked) => jittered.max(asked),
        None => jittered,
    }
}

/// Parses a `Retry-After` value (delay-seconds or an HTTP-date), capped at `max`. A date in the
/// past means "now"; an unreadable value is ignored (`None`).
pub fn parse_retry_after(value: &str, now: SystemTime, max: Duration) -> Option<Duration> {
    let value = value.trim();
    let wait = if let Ok(secs) = value.parse::<u64>() {
        Duration::from_secs(secs)
    } else if let Ok(secs) = value.parse::<f64>() {
        if !secs.is_finite() || secs < 0.0 {
            return None;
        }
        Duration::from_secs_f64(secs.min(max.as_secs_f64()))
    } else {
        let at = httpdate::parse_http_date(value).ok()?;
        at.duration_since(now).unwrap_or(Duration::ZERO)
    };
    Some(wait.min(max))
}

#[cfg(test)]
#[path = "retry_tests.rs"]
mod tests;
