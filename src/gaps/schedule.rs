//! Games per date for gap detection: remembered facts first (the ledger, a finished run's
//! events count), the events API through the fetch core otherwise.

use std::collections::HashMap;
use std::sync::atomic::Ordering;

use futures_util::stream::{self, StreamExt};
use tokio::time::Instant;

use super::evidence::Signal;
use super::gather::Detector;
use crate::bettingpros::parse_events;
use crate::calendar::GameDate;
use crate::ledger::RunFilter;
use crate::run::RunStatus;

impl Detector {
    /// Games per date, concurrently; the shared rate limiter paces the requests.
    pub(super) async fn games(&self, dates: &[GameDate]) -> HashMap<GameDate, Signal<u64>> {
        let today = GameDate::resolve("TODAY", chrono::Utc::now()).expect("TODAY resolves");
        let answers = stream::iter(dates.iter().copied())
            .map(|date| async move { (date, self.games_on(date, today).await) })
            .buffer_unordered(16)
            .collect::<Vec<_>>()
            .await;
        answers.into_iter().collect()
    }

    async fn games_on(&self, date: GameDate, today: GameDate) -> Signal<u64> {
        if let Some(n) = self.games.lock().expect("games cache").get(&date) {
            return Signal::Known(*n);
        }
        if let Ok(Some(n)) = self.scrapes.ledger.known_games(date).await {
            self.games.lock().expect("games cache").insert(date, n);
            return Signal::Known(n);
        }
        if date < today {
            if let Some(n) = self.games_seen_by_a_run(date).await {
                self.remember(date, n).await;
                return Signal::Known(n);
            }
        }
        let deadline = Some(Instant::now() + self.scrapes.run_deadline);
        let context = format!("gap detection {date} events");
        let req = match self
            .scrapes
            .upstream
            .events_request(date, context, deadline)
        {
            Ok(r) => r,
            Err(e) => return Signal::Unknown(format!("events API: {e}")),
        };
        self.events_requests.fetch_add(1, Ordering::Relaxed);
        let n = match self.scrapes.fetcher.get_json(&req).await {
            Ok(f) => match parse_events(&f.json) {
                Ok(answer) => answer.events.len() as u64,
                Err(e) => {
                    return Signal::Unknown(format!(
                        "events API answer for {date} is malformed: {e}"
                    ))
                }
            },
            Err(e) => return Signal::Unknown(format!("events API: {}", e.cause())),
        };
        if date < today {
            self.remember(date, n).await;
        }
        Signal::Known(n)
    }

    /// The events count a finished run got from the events API for that date, after the
    /// date was over (an earlier count may predate a schedule change).
    async fn games_seen_by_a_run(&self, date: GameDate) -> Option<u64> {
        let filter = RunFilter {
            game_date: Some(date),
            limit: 50,
            ..RunFilter::default()
        };
        let runs = self.scrapes.ledger.runs(&filter).await.ok()?;
        let day_after = date.succ().naive();
        runs.into_iter()
            .filter(|r| {
                matches!(
                    r.status,
                    RunStatus::Success | RunStatus::NoData | RunStatus::Partial
                )
            })
            .filter(|r| {
                r.started_at
                    .with_timezone(&chrono_tz::America::New_York)
                    .date_naive()
                    >= day_after
            })
            .find_map(|r| r.events)
    }

    async fn remember(&self, date: GameDate, games: u64) {
        self.games.lock().expect("games cache").insert(date, games);
        if let Err(e) = self
            .scrapes
            .ledger
            .remember_games(date, games, chrono::Utc::now())
            .await
        {
            tracing::warn!(error = %e, "games not remembered; detection will ask again");
        }
    }
}
