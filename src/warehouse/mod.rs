//! "Was the data loaded?": row counts in Phase 2's BigQuery table, per date, market and file.
//!
//! One query answers a whole date range ([`Warehouse::loaded_rows`]), so gap detection over a
//! season costs one BigQuery job, not one per date. Any failure is a [`WarehouseError`]: the
//! signal could not be read, and the caller answers `unknown` rather than guess.
//!
//! Production talks to `https://bigquery.googleapis.com` with an OAuth token from Application
//! Default Credentials; with `BIGQUERY_EMULATOR_HOST` set it talks to that emulator, no auth.

mod answer;
pub mod bigquery;
pub mod error;

use std::time::Duration;

use tokio::time::Instant;

use crate::calendar::GameDate;
use crate::gcp::{endpoint, Credentials, GcpSettings};
use crate::settings::{ConfigError, Vars, ATTEMPTS};

pub use answer::QueryResult;
pub use bigquery::{BigQuery, QueryParam, RowRefused};
pub use error::{WarehouseError, WarehouseFailure};

/// Read-only access to BigQuery is all that is needed.
pub const BIGQUERY_SCOPES: [&str; 1] = ["https://www.googleapis.com/auth/bigquery"];
pub const DEFAULT_DATASET: &str = "nba_raw";
pub const DEFAULT_TABLE: &str = "bettingpros_player_points_props";

/// Where Phase 2's rows are, and how patiently to ask.
#[derive(Debug, Clone, PartialEq)]
pub struct WarehouseSettings {
    /// `GCP_PROJECT_ID`: the project that owns the table and runs (pays for) the query.
    pub project: String,
    /// `BACKSTOP_BQ_DATASET`.
    pub dataset: String,
    /// `BACKSTOP_BQ_TABLE`: all markets, despite the default name.
    pub table: String,
    /// `BIGQUERY_EMULATOR_HOST` as a URL: when set, no auth is used.
    pub emulator: Option<String>,
    /// `BACKSTOP_BQ_TIMEOUT_SECS`: the longest one read may take, retries and pages included.
    pub query_timeout: Duration,
    /// `BACKSTOP_BQ_MAX_ATTEMPTS`: attempts per request for transient failures.
    pub max_attempts: u32,
    /// First retry's backoff ceiling (then doubled, up to 8×, full jitter).
    pub backoff_base: Duration,
    /// Rows per result page; `None` lets BigQuery choose. Small values exercise paging in tests.
    pub page_rows: Option<u32>,
}

impl Default for WarehouseSettings {
    fn default() -> Self {
        Self {
            project: crate::gcp::DEFAULT_PROJECT.into(),
            dataset: DEFAULT_DATASET.into(),
            table: DEFAULT_TABLE.into(),
            emulator: None,
            query_timeout: Duration::from_secs(60),
            max_attempts: 3,
            backoff_base: Duration::from_millis(500),
            page_rows: None,
        }
    }
}

impl WarehouseSettings {
    pub fn from_vars(vars: &Vars, gcp: &GcpSettings) -> Result<Self, ConfigError> {
        let d = Self::default();
        let dataset = vars.get("BACKSTOP_BQ_DATASET").unwrap_or(DEFAULT_DATASET);
        let table = vars.get("BACKSTOP_BQ_TABLE").unwrap_or(DEFAULT_TABLE);
        let name_ok = |c: char| c.is_ascii_alphanumeric() || c == '_';
        check_name(
            "BACKSTOP_BQ_DATASET",
            dataset,
            name_ok,
            "letters, digits and _",
        )?;
        check_name("BACKSTOP_BQ_TABLE", table, name_ok, "letters, digits and _")?;
        Ok(Self {
            project: gcp.project.clone(),
            dataset: dataset.into(),
            table: table.into(),
            emulator: vars
                .get("BIGQUERY_EMULATOR_HOST")
                .map(|host| endpoint::parse("BIGQUERY_EMULATOR_HOST", host))
                .transpose()?,
            query_timeout: vars.secs("BACKSTOP_BQ_TIMEOUT_SECS", d.query_timeout)?,
            max_attempts: vars.whole("BACKSTOP_BQ_MAX_ATTEMPTS", d.max_attempts.into(), ATTEMPTS)?
                as u32,
            ..d
        })
    }

    /// None for the emulator; Application Default Credentials, read-only BigQuery, otherwise.
    pub fn credentials(&self, gcp: &GcpSettings) -> Credentials {
        Credentials::for_service(self.emulator.as_deref(), &BIGQUERY_SCOPES, gcp)
    }

    /// `project.dataset.table`, as it appears in queries and messages.
    pub fn table_path(&self) -> String {
        format!("{}.{}.{}", self.project, self.dataset, self.table)
    }
}

/// Names go into SQL between backticks, so only plain ones are accepted.
fn check_name(
    var: &'static str,
    value: &str,
    ok: impl Fn(char) -> bool,
    allowed: &str,
) -> Result<(), ConfigError> {
    if value.len() <= 1024 && value.chars().all(ok) {
        return Ok(());
    }
    Err(ConfigError {
        var,
        value: value.into(),
        reason: format!("may hold only {allowed}"),
    })
}

/// Phase 2's table (`nba_raw.bettingpros_player_points_props`) as far as backstop relies on it:
/// the partition and the two columns detection reads, and the REQUIRED columns a file must
/// never leave null. Emulated tables and benchmarks are created from this.
pub const PROPS_COLUMNS: &[(&str, &str)] = &[
    ("game_date", "DATE"),
    ("market_type", "STRING"),
    ("source_file_path", "STRING"),
    ("event_id", "INT64"),
    ("offer_id", "INT64"),
    ("player_id", "INT64"),
    ("player_name", "STRING"),
    ("player_team", "STRING"),
    ("book_id", "INT64"),
    ("line", "FLOAT64"),
    ("odds", "INT64"),
    ("active", "BOOL"),
    ("best", "BOOL"),
    ("updated", "STRING"),
];

/// Rows Phase 2 loaded for one date, market and file.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct LoadedRows {
    pub game_date: GameDate,
    /// As written by Phase 2 (`points`); empty when NULL.
    pub market: String,
    /// The object name, or `unknown` (written so from 2025-11-19 to 2026-06-03); empty when NULL.
    pub source_file_path: String,
    pub rows: u64,
}

impl LoadedRows {
    /// The file the rows came from, as an object name: Phase 2 writes the object name
    /// (`bettingpros/player-props/…`), the old backfills the full URI (`gs://BUCKET/…`);
    /// both name the same file (contract section 5). `unknown` and empty stay as they are.
    pub fn object_name(&self) -> &str {
        let path = self.source_file_path.as_str();
        match path.strip_prefix("gs://") {
            Some(rest) => rest.split_once('/').map(|(_, name)| name).unwrap_or(rest),
            None => path,
        }
    }
}

/// Read access to Phase 2's table.
#[derive(Debug)]
pub struct Warehouse {
    settings: WarehouseSettings,
    bq: BigQuery,
}

impl Warehouse {
    /// Reads with `credentials` ([`WarehouseSettings::credentials`] in production).
    pub fn new(settings: WarehouseSettings, credentials: Credentials) -> Self {
        let base = settings.emulator.as_deref().unwrap_or(endpoint::BIGQUERY);
        let bq = BigQuery::new(
            base,
            &settings.project,
            credentials,
            settings.max_attempts,
            settings.backoff_base,
            settings.page_rows,
        );
        Self { settings, bq }
    }

    pub fn settings(&self) -> &WarehouseSettings {
        &self.settings
    }

    /// Row counts per game date, market and source file for `from..=to`, in one query, sorted.
    /// Dates, markets and files with no rows are absent. An empty range asks nothing.
    pub async fn loaded_rows(
        &self,
        from: GameDate,
        to: GameDate,
    ) -> Result<Vec<LoadedRows>, WarehouseError> {
        if from > to {
            return Ok(Vec::new());
        }
        let doing = format!(
            "reading loaded rows {from}..{to} from {}",
            self.settings.table_path()
        );
        // `rows` and `to` are reserved words in GoogleSQL, hence `row_count` and `@to_date`.
        let sql = format!(
            "SELECT game_date, market_type, source_file_path, COUNT(*) AS row_count \
             FROM `{}` WHERE game_date BETWEEN @from_date AND @to_date GROUP BY 1, 2, 3",
            self.settings.table_path()
        );
        let params = [
            QueryParam {
                name: "from_date",
                kind: "DATE",
                value: from.to_string(),
            },
            QueryParam {
                name: "to_date",
                kind: "DATE",
                value: to.to_string(),
            },
        ];
        let deadline = Instant::now() + self.settings.query_timeout;
        let result = self.bq.query(&doing, &sql, &params, deadline).await?;
        let mut loaded = to_loaded_rows(&result).map_err(|detail| {
            WarehouseError::new(WarehouseFailure::BadAnswer, doing.as_str(), detail)
        })?;
        loaded.sort();
        tracing::debug!(%from, %to, groups = loaded.len(), "read loaded rows from BigQuery");
        Ok(loaded)
    }

    /// Rows in the table from one file of `date`, under either form of its path.
    pub async fn rows_of_file(
        &self,
        date: GameDate,
        object_name: &str,
    ) -> Result<u64, WarehouseError> {
        let rows = self.loaded_rows(date, date).await?;
        Ok(rows
            .iter()
            .filter(|r| r.object_name() == object_name)
            .map(|r| r.rows)
            .sum())
    }

    /// `jobs.query` requests sent so far (retries included).
    pub fn queries_made(&self) -> u64 {
        self.bq.queries_made()
    }
}

fn to_loaded_rows(result: &QueryResult) -> Result<Vec<LoadedRows>, String> {
    let col = |name: &str| {
        result
            .column(name)
            .ok_or_else(|| format!("no column {name} in {:?}", result.fields))
    };
    let (date, market, file, count) = (
        col("game_date")?,
        col("market_type")?,
        col("source_file_path")?,
        col("row_count")?,
    );
    result
        .rows
        .iter()
        .map(|row| {
            let text = |i: usize| row[i].clone().unwrap_or_default();
            Ok(LoadedRows {
                game_date: text(date).parse().map_err(|e| format!("game_date: {e}"))?,
                market: text(market),
                source_file_path: text(file),
                rows: text(count)
                    .parse()
                    .map_err(|_| format!("row_count {:?} is not a count", row[count]))?,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(pairs: &[(&str, &str)]) -> Result<WarehouseSettings, ConfigError> {
        let vars = Vars::from_pairs(pairs.iter().copied());
        WarehouseSettings::from_vars(&vars, &GcpSettings::from_vars(&vars)?)
    }

    #[test]
    fn defaults_name_the_production_table() {
        let s = settings(&[]).unwrap();
        assert_eq!(
            s.table_path(),
            "nba-props-platform.nba_raw.bettingpros_player_points_props"
        );
        assert_eq!(s.emulator, None);
        let gcp = GcpSettings::default();
        assert!(matches!(s.credentials(&gcp), Credentials::Adc(_)));
    }

    #[test]
    fn an_emulator_host_with_or_without_scheme_means_no_auth() {
        for host in ["127.0.0.1:9050", "http://127.0.0.1:9050/"] {
            let s = settings(&[("BIGQUERY_EMULATOR_HOST", host)]).unwrap();
            assert_eq!(s.emulator.as_deref(), Some("http://127.0.0.1:9050"));
            let gcp = GcpSettings::default();
            assert!(matches!(s.credentials(&gcp), Credentials::None));
        }
    }

    #[test]
    fn names_that_could_break_the_sql_are_refused() {
        for (var, value) in [
            ("BACKSTOP_BQ_TABLE", "t` WHERE 1=1 --"),
            ("BACKSTOP_BQ_DATASET", "nba raw"),
            ("BIGQUERY_EMULATOR_HOST", "ftp://127.0.0.1:9050"),
            ("BACKSTOP_BQ_TIMEOUT_SECS", "0"),
            ("BACKSTOP_BQ_MAX_ATTEMPTS", "0"),
        ] {
            let err = settings(&[(var, value)]).unwrap_err();
            assert_eq!(err.var, var, "{err}");
        }
    }

    #[test]
    fn rows_are_read_by_column_name_and_nulls_become_empty() {
        let result = QueryResult {
            fields: ["row_count", "source_file_path", "market_type", "game_date"]
                .map(String::from)
                .to_vec(),
            rows: vec![vec![
                Some("12".into()),
                None,
                Some("points".into()),
                Some("2026-01-14".into()),
            ]],
        };
        let got = to_loaded_rows(&result).unwrap();
        assert_eq!(got[0].rows, 12);
        assert_eq!(got[0].source_file_path, "");
        assert_eq!(got[0].game_date.to_string(), "2026-01-14");
    }

    #[test]
    fn both_forms_of_a_path_name_the_same_object() {
        let name = "bettingpros/player-props/points/2026-01-14/20260114_180530.json";
        let row = |path: &str| LoadedRows {
            game_date: "2026-01-14".parse().unwrap(),
            market: "points".into(),
            source_file_path: path.into(),
            rows: 1,
        };
        assert_eq!(row(name).object_name(), name);
        assert_eq!(
            row(&format!("gs://nba-scraped-data/{name}")).object_name(),
            name
        );
        assert_eq!(row("unknown").object_name(), "unknown");
        assert_eq!(row("").object_name(), "");
    }

    #[test]
    fn a_missing_column_or_a_bad_count_is_a_bad_answer() {
        let mut result = QueryResult {
            fields: ["game_date", "market_type", "source_file_path"]
                .map(String::from)
                .to_vec(),
            rows: vec![],
        };
        assert!(to_loaded_rows(&result).unwrap_err().contains("row_count"));
        result.fields.push("row_count".into());
        result.rows.push(
            ["2026-01-14", "points", "f", "many"]
                .map(|s| Some(s.into()))
                .to_vec(),
        );
        assert!(to_loaded_rows(&result).unwrap_err().contains("many"));
    }
}
