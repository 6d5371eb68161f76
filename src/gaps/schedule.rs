//! Games per date for gap detection: remembered facts first (the ledger, a finished run's
//! events count), then a past date's stored events files (`stored_schedule`: no request when
//! the newest lists games), the events API through the fetch core otherwise.
//!
//! A past date's game count is remembered once seen, except zero: "no games" is a strong claim
//! and one empty answer is not proof (contract section 6; an upstream may lose a schedule for a
//! moment). Empty answers are counted apart, and the zero is remembered only when
//! [`corroborated`]: an empty answer at least the recheck interval
//! (`BACKSTOP_NO_GAMES_RECHECK_MINS`, default 6 h) after the first, and no signal disagreeing —
//! a file of the date with rows, rows in the table for the date (any market), a run that saw
//! events. Until then the date is reported `off_day` "not yet corroborated" and every detection
//! asks again, so a date the upstream later shows games for becomes `scraper_failed`; a date
//! with a disagreeing signal is never an off day. A stored empty events file is one more empty
//! answer, at its timestamp, added to the events API's — never one on its own
//! (`stored_schedule` says why).

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::Ordering;

use chrono::{DateTime, Utc};
use futures_util::stream::{self, StreamExt};
use tokio::time::Instant;

use super::bound::{Bound, NOT_CHECKED_YET};
use super::evidence::{Evidence, Games, Loaded, NoGames, Signal};
use super::gather::Detector;
use super::stored_schedule::{empty_answers, Stored, StoredEvents};
use crate::bettingpros::parse_events;
use crate::calendar::GameDate;
use crate::ledger::{EmptyAnswers, RunFilter};
use crate::market::MarketType;
use crate::run::RunStatus;

/// Whether empty answers prove there were no games: two, at least `recheck` apart, and
/// nothing disagreeing.
pub(super) fn corroborated(
    answers: &EmptyAnswers,
    recheck: std::time::Duration,
    disagreeing: &[String],
) -> bool {
    let apart = (answers.last_at - answers.first_at)
        .to_std()
        .unwrap_or_default();
    disagreeing.is_empty() && answers.answers >= 2 && apart >= recheck
}

impl Detector {
    /// Games per date, concurrently; the shared rate limiter paces the requests. Within a
    /// bound, a date an earlier slice asked is not asked again, and none is asked once the
    /// deadline has passed; the requests under way then (at most two seconds' worth at the
    /// configured rate) finish.
    pub(super) async fn games(
        &self,
        dates: &[GameDate],
        bound: &Bound,
    ) -> HashMap<GameDate, Games> {
        let now = Utc::now();
        let today = GameDate::resolve("TODAY", now).expect("TODAY resolves");
        let (Some(&from), Some(&to)) = (dates.iter().min(), dates.iter().max()) else {
            return HashMap::new();
        };
        let stored = &StoredEvents::new(from, to);
        let at_once = if bound.is_bounded() {
            let rate = self.scrapes.fetcher.settings().rate_per_sec;
            ((rate * 2.0).ceil() as usize).clamp(1, 16)
        } else {
            16
        };
        let answers = stream::iter(dates.iter().copied())
            .map(|date| async move {
                let games = match bound.earlier(date) {
                    Some(games) => games,
                    None => self.games_on(date, today, now, stored, bound).await,
                };
                (date, games)
            })
            .buffer_unordered(at_once)
            .collect::<Vec<_>>()
            .await;
        answers.into_iter().collect()
    }

    async fn games_on(
        &self,
        date: GameDate,
        today: GameDate,
        now: DateTime<Utc>,
        stored: &StoredEvents,
        bound: &Bound,
    ) -> Games {
        let known = |n: u64| {
            let fact = (n == 0).then(|| NoGames {
                corroborated: true,
                ..NoGames::default()
            });
            (Signal::Known(n), fact)
        };
        if let Some(n) = self.games.lock().expect("games cache").get(&date) {
            return known(*n);
        }
        if let Ok(Some(n)) = self.scrapes.ledger.known_games(date).await {
            self.games.lock().expect("games cache").insert(date, n);
            return known(n);
        }
        let mut stored_empty = None;
        if date < today {
            if let Some(n) = self.games_seen_by_a_run(date).await {
                self.remember(date, n).await;
                return known(n);
            }
            match stored.of(self, date).await {
                Some(Stored::Games(n)) => {
                    self.remember(date, n).await;
                    return known(n);
                }
                Some(Stored::Empty(answers)) => stored_empty = Some(answers),
                None => {}
            }
        }
        if bound.defers_games(date) {
            return (Signal::Unknown(NOT_CHECKED_YET.into()), None);
        }
        let deadline = Some(Instant::now() + self.scrapes.run_deadline);
        let context = format!("gap detection {date} events");
        let req = match self
            .scrapes
            .upstream
            .events_request(date, context, deadline)
        {
            Ok(r) => r,
            Err(e) => return (Signal::Unknown(format!("events API: {e}")), None),
        };
        self.events_requests.fetch_add(1, Ordering::Relaxed);
        let n = match self.scrapes.fetcher.get_json(&req).await {
            Ok(f) => match parse_events(&f.json) {
                Ok(answer) => answer.events.len() as u64,
                Err(e) => {
                    let why = format!("events API answer for {date} is malformed: {e}");
                    return (Signal::Unknown(why), None);
                }
            },
            Err(e) => {
                let stored = match stored_empty {
                    Some(_) => " (its stored events file lists no games: one answer, not proof)",
                    None => "",
                };
                let why = format!("events API: {}{stored}", e.cause());
                return (Signal::Unknown(why), None);
            }
        };
        if n > 0 {
            if date < today {
                self.remember(date, n).await;
            }
            return (Signal::Known(n), None);
        }
        let mut no_games = NoGames::default();
        if date < today {
            match self
                .scrapes
                .ledger
                .record_empty_events_answer(date, now)
                .await
            {
                Ok(a) => no_games = empty_answers(&a, stored_empty.as_ref()),
                Err(e) => tracing::warn!(error = %e, "an empty events answer was not recorded"),
            }
        }
        (Signal::Known(0), Some(no_games))
    }

    /// For each date whose schedule says "no games" without a remembered fact: what disagrees,
    /// and whether the empty answers are corroborated — then the zero is remembered.
    pub(super) async fn corroborate(
        &self,
        evidence: &mut [Evidence],
        loaded: &Signal<HashMap<(GameDate, MarketType), Loaded>>,
    ) {
        let open: BTreeSet<GameDate> = evidence
            .iter()
            .filter(|e| e.no_games.as_ref().is_some_and(|n| !n.corroborated))
            .map(|e| e.date)
            .collect();
        for date in open {
            let mut disagreeing = Vec::new();
            for e in evidence.iter().filter(|e| e.date == date) {
                let files = e.files.known().into_iter().flatten();
                for f in files.filter(|f| f.rows.known().is_some_and(|n| *n > 0)) {
                    disagreeing.push(format!(
                        "{} yields {} rows",
                        f.name,
                        f.rows.known().unwrap_or(&0)
                    ));
                }
            }
            if let Signal::Known(map) = loaded {
                let rows: u64 = MarketType::ALL
                    .iter()
                    .filter_map(|m| map.get(&(date, *m)))
                    .map(|l| l.total)
                    .sum();
                if rows > 0 {
                    disagreeing.push(format!("the table holds {rows} rows for {date}"));
                }
            }
            disagreeing.extend(self.runs_that_saw_games(date).await);
            let Some(mut no_games) = evidence
                .iter()
                .find(|e| e.date == date)
                .and_then(|e| e.no_games.clone())
            else {
                continue;
            };
            no_games.disagreeing.extend(disagreeing);
            if let (Some(first_at), Some(last_at)) = (no_games.first_at, no_games.last_at) {
                let answers = EmptyAnswers {
                    answers: no_games.answers,
                    first_at,
                    last_at,
                };
                if corroborated(&answers, self.no_games_recheck, &no_games.disagreeing) {
                    self.remember(date, 0).await;
                    no_games.corroborated = true;
                }
            }
            for e in evidence.iter_mut().filter(|e| e.date == date) {
                e.no_games = Some(no_games.clone());
            }
        }
    }

    /// The events count a finished run got from the events API for that date, after the
    /// date was over (an earlier count may predate a schedule change). Zero is not taken:
    /// it is one answer, not proof.
    async fn games_seen_by_a_run(&self, date: GameDate) -> Option<u64> {
        let day_after = date.succ().naive();
        self.finished_runs(date)
            .await
            .into_iter()
            .filter(|r| {
                r.started_at
                    .with_timezone(&chrono_tz::America::New_York)
                    .date_naive()
                    >= day_after
            })
            .find_map(|r| r.events.filter(|n| *n > 0))
    }

    /// A run of the date, whatever its end, that saw events: in words (a signal against
    /// "no games").
    async fn runs_that_saw_games(&self, date: GameDate) -> Option<String> {
        self.runs_of(date).await.into_iter().find_map(|r| {
            let n = r.events.filter(|n| *n > 0)?;
            Some(format!(
                "run {} saw {n} events at {}",
                r.run_id, r.started_at
            ))
        })
    }

    async fn finished_runs(&self, date: GameDate) -> Vec<crate::ledger::RunRecord> {
        self.runs_of(date)
            .await
            .into_iter()
            .filter(|r| {
                matches!(
                    r.status,
                    RunStatus::Success | RunStatus::NoData | RunStatus::Partial
                )
            })
            .collect()
    }

    async fn runs_of(&self, date: GameDate) -> Vec<crate::ledger::RunRecord> {
        let filter = RunFilter {
            game_date: Some(date),
            limit: 50,
            ..RunFilter::default()
        };
        self.scrapes.ledger.runs(&filter).await.unwrap_or_default()
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn answers(n: u32, hours_apart: i64) -> EmptyAnswers {
        let first: DateTime<Utc> = "2026-01-11T06:00:00Z".parse().unwrap();
        EmptyAnswers {
            answers: n,
            first_at: first,
            last_at: first + chrono::Duration::hours(hours_apart),
        }
    }
    const SIX_HOURS: Duration = Duration::from_secs(6 * 3600);

    #[test]
    fn one_empty_answer_is_not_proof() {
        assert!(!corroborated(&answers(1, 0), SIX_HOURS, &[]));
    }

    #[test]
    fn two_answers_close_together_are_not_proof() {
        assert!(!corroborated(&answers(2, 5), SIX_HOURS, &[]));
    }

    #[test]
    fn two_answers_hours_apart_with_nothing_disagreeing_are() {
        assert!(corroborated(&answers(2, 6), SIX_HOURS, &[]));
    }

    #[test]
    fn a_disagreeing_signal_outweighs_any_number_of_empty_answers() {
        let files = ["points/2026-01-10/….json yields 412 rows".to_string()];
        assert!(!corroborated(&answers(5, 48), SIX_HOURS, &files));
    }
}
