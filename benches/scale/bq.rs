//! Phase 2's table in the BigQuery emulator for case 5: the emulator harness is the tests'
//! own (`backstop::sim::bigquery`), plus one DML insert of counted rows.

use serde_json::Value;

pub use backstop::sim::bigquery::BqEmulator as Emulator;

pub const DATASET: &str = "nba_raw";
pub const TABLE: &str = "bettingpros_player_points_props";

/// Rows of one file to put in the table: `rows` rows labelled `label` (the object name, or
/// `unknown`).
pub struct Counted<'a> {
    pub date: &'a str,
    pub market: &'a str,
    pub label: &'a str,
    pub rows: u64,
}

/// The dataset and Phase 2's table, partitioned by `game_date` as in production.
pub async fn create_table(bq: &Emulator) {
    bq.create_table(DATASET, TABLE, backstop::warehouse::PROPS_COLUMNS)
        .await;
}

/// Streams full rows in with `insertAll`, 500 a request, as the tests' loader does.
pub async fn insert_all(bq: &Emulator, rows: &[Value]) {
    for chunk in rows.chunks(500) {
        bq.insert_rows(DATASET, TABLE, chunk).await;
    }
}

/// Inserts `rows` rows per file with only the three columns detection groups by, in one DML
/// statement (`GENERATE_ARRAY`): the verdict compares counts, not contents.
pub async fn insert_counted(
    bq: &Emulator,
    project: &str,
    files: &[Counted<'_>],
) -> Result<u64, String> {
    let safe = |s: &str| {
        s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./".contains(c))
    };
    let mut structs = Vec::new();
    for f in files.iter().filter(|f| f.rows > 0) {
        if ![f.date, f.market, f.label].into_iter().all(safe) {
            return Err(format!("{} cannot go into SQL as it is", f.label));
        }
        structs.push(format!(
            "STRUCT(DATE '{}' AS d, '{}' AS m, '{}' AS p, {} AS n)",
            f.date, f.market, f.label, f.rows
        ));
    }
    if structs.is_empty() {
        return Ok(0);
    }
    let sql = format!(
        "INSERT INTO `{project}.{DATASET}.{TABLE}` (game_date, market_type, source_file_path) \
         SELECT f.d, f.m, f.p FROM UNNEST([{}]) AS f, UNNEST(GENERATE_ARRAY(1, f.n)) AS i",
        structs.join(", ")
    );
    let answer = bq.query(&sql).await;
    answer["numDmlAffectedRows"]
        .as_str()
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| format!("the insert did not say how many rows: {answer}"))
}
