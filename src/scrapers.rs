//! The scraper definitions in `scrapers/*.json`, embedded at build time and parsed once: the
//! one declaration of what the deployment scrapes and when (`deploy/deploy.sh` creates the
//! Cloud Scheduler jobs from the same files). The markets in `bp_player_props`'s schedule are
//! the markets expected on a date: gap detection and recovery judge exactly those unless a
//! market is asked for by name (contract section 6: a market nobody scrapes is not "lost").
//!
//! The sweep (`scrapers/maintenance/sweep.json`, [`sweep`]) is declared beside them: a scheduler
//! job that carries on what waits without a request, and once a night checks the last days.
//! It lives in a folder of its own because `scrapers/*.json` are scrapers, each schedule entry
//! one `POST /scrape` job.

use std::sync::OnceLock;

use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use serde::Deserialize;

use crate::market::MarketType;

const SOURCES: [(&str, &str); 2] = [
    (
        "scrapers/bp_events.json",
        include_str!("../scrapers/bp_events.json"),
    ),
    (
        "scrapers/bp_player_props.json",
        include_str!("../scrapers/bp_player_props.json"),
    ),
];

/// One scraper definition (the fields backstop reads; the files say more).
#[derive(Debug, Clone, Deserialize)]
pub struct Definition {
    pub name: String,
    pub schedule: Vec<Job>,
    pub rate_budget_per_sec: f64,
}

/// One Cloud Scheduler job: `POST /scrape` for one market on a cron schedule.
#[derive(Debug, Clone, Deserialize)]
pub struct Job {
    pub job: String,
    /// `M H * * *`: minutes and hours as numbers, lists, ranges, steps or `*`.
    pub cron: String,
    pub time_zone: String,
    pub market_type: MarketType,
}

/// Every definition, parsed on first use. The files are part of the build, so a file that
/// does not parse is a build defect: the unit tests below fail on it.
pub fn definitions() -> &'static [Definition] {
    static PARSED: OnceLock<Vec<Definition>> = OnceLock::new();
    PARSED.get_or_init(|| {
        SOURCES
            .iter()
            .map(|(path, text)| {
                serde_json::from_str(text).unwrap_or_else(|e| panic!("{path} does not parse: {e}"))
            })
            .collect()
    })
}

/// The sweep's declaration: which scheduler job calls which route, how often, and when the
/// nightly check may run.
#[derive(Debug, Clone, Deserialize)]
pub struct Sweep {
    pub name: String,
    /// `/sweep`.
    pub route: String,
    /// `POST`.
    pub method: String,
    /// The JSON body the scheduler sends (`{}`).
    pub body: serde_json::Value,
    pub schedule: Vec<SweepJob>,
    /// The scheduler's attempt deadline: a sweep's budget, the one action under way after
    /// it, and the answer fit well inside.
    pub attempt_deadline_secs: u64,
    pub nightly_check: NightlyCheck,
}

/// One Cloud Scheduler job calling the sweep on a cron schedule.
#[derive(Debug, Clone, Deserialize)]
pub struct SweepJob {
    pub job: String,
    /// `M H * * *`, as for the scrapers.
    pub cron: String,
    pub time_zone: String,
}

/// When the nightly check of the last days may run: the first sweep past `after` (local
/// time, `HH:MM`) each day does it, once (the day's recovery job, under a key of its own).
#[derive(Debug, Clone, Deserialize)]
pub struct NightlyCheck {
    pub after: String,
    pub time_zone: String,
}

impl NightlyCheck {
    /// The local date whose check is due at `now`: today once past `after`, else none yet.
    pub fn due(&self, now: DateTime<Utc>) -> Option<NaiveDate> {
        let (tz, after) = self
            .parsed()
            .expect("scrapers/maintenance/sweep.json is checked by its tests");
        let local = now.with_timezone(&tz);
        (local.time() >= after).then(|| local.date_naive())
    }

    fn parsed(&self) -> Result<(chrono_tz::Tz, NaiveTime), String> {
        let tz = self
            .time_zone
            .parse::<chrono_tz::Tz>()
            .map_err(|e| format!("time_zone {:?}: {e}", self.time_zone))?;
        let after = NaiveTime::parse_from_str(&self.after, "%H:%M")
            .map_err(|e| format!("after {:?} is not HH:MM: {e}", self.after))?;
        Ok((tz, after))
    }
}

/// The sweep, parsed on first use (a file that does not parse fails the unit tests below).
pub fn sweep() -> &'static Sweep {
    static PARSED: OnceLock<Sweep> = OnceLock::new();
    PARSED.get_or_init(|| {
        let text = include_str!("../scrapers/maintenance/sweep.json");
        serde_json::from_str(text)
            .unwrap_or_else(|e| panic!("scrapers/maintenance/sweep.json does not parse: {e}"))
    })
}

/// The markets the deployed schedule scrapes, in [`MarketType::ALL`] order: the default set
/// for `gaps`, `reprocess`, `GET /gaps` and `POST /reprocess`.
pub fn scheduled_markets() -> Vec<MarketType> {
    let scheduled: Vec<MarketType> = definitions()
        .iter()
        .flat_map(|d| d.schedule.iter().map(|j| j.market_type))
        .collect();
    MarketType::ALL
        .into_iter()
        .filter(|m| scheduled.contains(m))
        .collect()
}

/// The minutes of the day (0–1439) at which a `M H * * *` cron line starts a run.
pub fn run_starts(cron: &str) -> Result<Vec<u32>, String> {
    let fields: Vec<&str> = cron.split_whitespace().collect();
    let [minute, hour, "*", "*", "*"] = fields[..] else {
        return Err(format!(
            "{cron:?}: only `M H * * *` (every day) is supported"
        ));
    };
    let minutes = cron_field(minute, 59).map_err(|e| format!("{cron:?}: minute {e}"))?;
    let hours = cron_field(hour, 23).map_err(|e| format!("{cron:?}: hour {e}"))?;
    let mut starts: Vec<u32> = hours
        .iter()
        .flat_map(|h| minutes.iter().map(move |m| h * 60 + m))
        .collect();
    starts.sort_unstable();
    Ok(starts)
}

/// `*`, `5`, `10,16`, `5-23`, `5-23/2`, `*/15` → the values, each at most `max`.
fn cron_field(field: &str, max: u32) -> Result<Vec<u32>, String> {
    let number = |s: &str| {
        s.parse::<u32>()
            .ok()
            .filter(|n| *n <= max)
            .ok_or_else(|| format!("{s:?} is not a number from 0 to {max}"))
    };
    let mut values = Vec::new();
    for part in field.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((r, s)) => (r, number(s)?.max(1)),
            None => (part, 1),
        };
        let (from, to) = match range {
            "*" => (0, max),
            r => match r.split_once('-') {
                Some((a, b)) => (number(a)?, number(b)?),
                None => (number(r)?, number(r)?),
            },
        };
        values.extend((from..=to).step_by(step as usize));
    }
    values.sort_unstable();
    values.dedup();
    Ok(values)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Config, Vars};
    use chrono::Timelike;

    fn props() -> &'static Definition {
        definitions()
            .iter()
            .find(|d| d.name == "bp_player_props")
            .expect("bp_player_props is defined")
    }

    #[test]
    fn every_market_is_scheduled_at_least_twice_a_day_and_points_every_two_hours() {
        assert_eq!(scheduled_markets(), MarketType::ALL);
        for m in MarketType::ALL {
            let runs: usize = props()
                .schedule
                .iter()
                .filter(|j| j.market_type == m)
                .map(|j| run_starts(&j.cron).unwrap().len())
                .sum();
            assert!(runs >= 2, "{m}: {runs} run(s) a day");
        }
        let points: Vec<&Job> = props()
            .schedule
            .iter()
            .filter(|j| j.market_type == MarketType::Points)
            .collect();
        assert_eq!(points.len(), 1);
        let starts = run_starts(&points[0].cron).unwrap();
        assert_eq!(
            starts,
            (5..=23).step_by(2).map(|h| h * 60).collect::<Vec<_>>()
        );
    }

    /// Requests one run of a market makes on a full day: the events request, then its offers
    /// pages ([`MarketType::typical_pages`]: points 12, rebounds and assists 10, threes 8,
    /// steals and blocks 5, at 10 offers a page), or, at worst, the 50-page cap.
    fn requests(m: MarketType, worst: bool) -> f64 {
        1.0 + if worst {
            50.0
        } else {
            m.typical_pages() as f64
        }
    }

    /// Runs that start within one run deadline of each other share the process's rate limit:
    /// for every run, the requests of all runs starting in the deadline from its start, at the
    /// budget's rate, must fit in the deadline — with typical pages, and even at the page cap.
    #[test]
    fn runs_that_start_together_fit_the_rate_budget_within_the_run_deadline() {
        let deadline = Config::from_vars(&Vars::from_pairs([]))
            .unwrap()
            .run_deadline
            .as_secs_f64();
        let rate = props().rate_budget_per_sec;
        let zones: Vec<&str> = props()
            .schedule
            .iter()
            .map(|j| j.time_zone.as_str())
            .collect();
        assert!(zones.iter().all(|z| *z == "America/New_York"), "{zones:?}");
        let starts: Vec<(f64, MarketType)> = props()
            .schedule
            .iter()
            .flat_map(|j| {
                let starts = run_starts(&j.cron).unwrap();
                starts
                    .into_iter()
                    .map(move |s| (s as f64 * 60.0, j.market_type))
            })
            .collect();
        for worst in [false, true] {
            for (start, market) in &starts {
                let together: Vec<&(f64, MarketType)> = starts
                    .iter()
                    .filter(|(s, _)| *s >= *start && *s < start + deadline)
                    .collect();
                let seconds: f64 = together
                    .iter()
                    .map(|(_, m)| requests(*m, worst))
                    .sum::<f64>()
                    / rate;
                assert!(
                    seconds <= deadline,
                    "{market} at minute {}: {together:?} need {seconds:.0} s at {rate}/s (worst case: {worst}), more than the {deadline} s run deadline",
                    start / 60.0
                );
            }
        }
    }

    #[test]
    fn the_sweep_runs_every_few_minutes_and_checks_each_night_after_the_last_files_could_load() {
        let sweep = sweep();
        assert_eq!(
            (sweep.route.as_str(), sweep.method.as_str()),
            ("/sweep", "POST")
        );
        assert_eq!(
            sweep.schedule.len(),
            1,
            "one job: the sweep is safe on any instance"
        );
        let starts = run_starts(&sweep.schedule[0].cron).unwrap();
        let gaps = starts.windows(2).map(|w| w[1] - w[0]);
        assert!(
            starts.len() >= 24 * 6 && gaps.max() <= Some(10),
            "{starts:?}"
        );
        let deadline = Config::from_vars(&Vars::from_pairs([])).unwrap();
        assert!(
            sweep.attempt_deadline_secs
                >= deadline.slice.as_secs() + deadline.run_deadline.as_secs() + 60,
            "the scheduler waits for a slice, the action under way after it, and the answer"
        );
        let (tz, after) = sweep.nightly_check.parsed().unwrap();
        assert_eq!(tz, chrono_tz::America::New_York);
        // Yesterday's last files (the latest props run of the day) must be past the default
        // pending-load window when the check runs: else it could not send them yet.
        let last_run = props()
            .schedule
            .iter()
            .flat_map(|j| run_starts(&j.cron).unwrap())
            .max()
            .unwrap();
        let window = Config::from_vars(&Vars::from_pairs([]))
            .unwrap()
            .pending_load;
        let loadable = (last_run as u64 * 60 + window.as_secs()) % 86_400;
        let check = u64::from(after.num_seconds_from_midnight());
        assert!(
            check >= loadable && check < 12 * 3600,
            "{after} vs {loadable} s"
        );
    }

    #[test]
    fn the_nightly_check_is_due_from_its_hour_on_for_that_local_date() {
        let check = NightlyCheck {
            after: "06:00".into(),
            time_zone: "America/New_York".into(),
        };
        let at = |s: &str| s.parse::<DateTime<Utc>>().unwrap();
        // 05:59 and 06:00 EST (UTC−5) on 2026-01-15.
        assert_eq!(check.due(at("2026-01-15T10:59:00Z")), None);
        assert_eq!(
            check.due(at("2026-01-15T11:00:00Z")),
            Some("2026-01-15".parse().unwrap())
        );
        // 23:30 EST on the 15th is 04:30 UTC on the 16th: still the 15th's.
        assert_eq!(
            check.due(at("2026-01-16T04:30:00Z")),
            Some("2026-01-15".parse().unwrap())
        );
        let bad = NightlyCheck {
            after: "6 AM".into(),
            time_zone: "Eastern".into(),
        };
        assert!(bad.parsed().unwrap_err().contains("time_zone"));
    }

    #[test]
    fn cron_lines_are_read_as_the_scheduler_reads_them() {
        assert_eq!(run_starts("0 10,16 * * *").unwrap(), [600, 960]);
        assert_eq!(run_starts("15 9-11 * * *").unwrap(), [555, 615, 675]);
        assert_eq!(run_starts("*/30 0 * * *").unwrap(), [0, 30]);
        assert!(run_starts("0 10 * * 1-5")
            .unwrap_err()
            .contains("every day"));
        assert!(run_starts("0 25 * * *").unwrap_err().contains("hour"));
    }
}
