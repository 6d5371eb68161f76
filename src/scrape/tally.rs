//! What a run's requests cost: attempts, retries, bytes and the route of every attempt.

use crate::fetch::{FetchError, Fetched};
use crate::report::RunReport;

#[derive(Debug, Clone, Default)]
pub struct Tally {
    pub attempts: u32,
    pub retries: u32,
    pub bytes: u64,
    pub routes: Vec<String>,
}

impl Tally {
    pub fn of(f: &Fetched) -> Self {
        Self {
            attempts: f.attempts,
            retries: f.attempts.saturating_sub(1),
            bytes: f.bytes,
            routes: f.routes.clone(),
        }
    }

    pub fn of_error(e: &FetchError) -> Self {
        Self {
            attempts: e.attempts,
            retries: e.attempts.saturating_sub(1),
            bytes: 0,
            routes: e.routes.clone(),
        }
    }

    pub fn add(mut self, other: &Tally) -> Self {
        self.attempts += other.attempts;
        self.retries += other.retries;
        self.bytes += other.bytes;
        self.routes.extend(other.routes.iter().cloned());
        self
    }

    pub fn apply(&self, report: &mut RunReport) {
        report.attempts = self.attempts;
        report.retries = self.retries;
        report.bytes = self.bytes;
        report.routes = self.routes.clone();
    }
}
