//! The local BettingPros's rate limit: which arrivals it answers with 429.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

pub(super) struct RateCheck {
    rate: Option<f64>,
    /// The last accepted arrivals, as many as the rate allows in two seconds.
    accepted: Mutex<VecDeque<Instant>>,
    violations: Mutex<u64>,
}

impl RateCheck {
    pub(super) fn new(rate: Option<f64>) -> Self {
        Self {
            rate,
            accepted: Mutex::new(VecDeque::new()),
            violations: Mutex::new(0),
        }
    }

    pub(super) fn violations(&self) -> u64 {
        *self.violations.lock().expect("violations lock")
    }

    /// Whether an arrival at `now` is within the rate; if not it is counted as a violation.
    ///
    /// Two seconds' worth of arrivals, not each pair at 95 %: an arrival stamped late because
    /// the machine was busy shortens one gap and lengthens the next (tens of milliseconds
    /// were seen under load), while requests sent together, or 5 % too fast for two seconds,
    /// still show.
    pub(super) fn admit(&self, now: Instant) -> bool {
        let Some(rate) = self.rate else { return true };
        let n = ((2.0 * rate).round() as usize).max(1);
        let interval = Duration::from_secs_f64(1.0 / rate);
        let mut accepted = self.accepted.lock().expect("rate lock");
        let too_close = accepted
            .back()
            .is_some_and(|last| now.duration_since(*last) < interval / 4);
        let too_many = accepted.len() >= n
            && now.duration_since(accepted[accepted.len() - n]) < interval.mul_f64(0.95 * n as f64);
        if too_close || too_many {
            *self.violations.lock().expect("violations lock") += 1;
            return false;
        }
        accepted.push_back(now);
        if accepted.len() > n {
            accepted.pop_front();
        }
        true
    }
}
