//! bqemulator (the BigQuery emulator) for case 5: started on ports it chooses, killed on Drop,
//! with Phase 2's table, `insertAll` for real rows and one DML statement for counted rows.
//! A trimmed copy of `tests/it/support/bq.rs` (a bench cannot import test support).

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::time::Instant;

const READY_WITHIN: Duration = Duration::from_secs(60);
pub const DATASET: &str = "nba_raw";
pub const TABLE: &str = "bettingpros_player_points_props";

const SCHEMA: &[(&str, &str)] = backstop::warehouse::PROPS_COLUMNS;

/// Rows of one file to put in the table: `rows` rows labelled `label` (the object name, or
/// `unknown`).
pub struct Counted<'a> {
    pub date: &'a str,
    pub market: &'a str,
    pub label: &'a str,
    pub rows: u64,
}

pub struct Emulator {
    child: Child,
    url: String,
    project: String,
    http: reqwest::Client,
}

impl Emulator {
    /// Starts an in-memory emulator for `project` (installed by `scripts/install-bq-emulator`)
    /// and waits until its REST API answers.
    pub async fn start(project: &str) -> Result<Emulator, String> {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".emulators");
        let (venv, home) = (root.join("bq"), root.join("bq-home"));
        let script = venv.join("bin/bqemulator");
        if !script.is_file() || !home.join(".duckdb/extensions").is_dir() {
            return Err("bqemulator is not installed: run scripts/install-bq-emulator".into());
        }
        // Through this checkout's own interpreter: the script's `#!` may name another checkout.
        let mut child = Command::new(venv.join("bin/python"))
            .arg(&script)
            .args([
                "start",
                "--rest-port",
                "0",
                "--grpc-port",
                "0",
                "--ephemeral",
            ])
            .args(["--project", project, "--log-level", "info"])
            .args(["--log-format", "json"])
            .env("HOME", &home)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("starting bqemulator: {e}"))?;
        let port = listen_port(&mut child);
        let mut emulator = Emulator {
            child,
            url: String::new(),
            project: project.to_string(),
            http: reqwest::Client::builder()
                .no_proxy()
                .build()
                .map_err(|e| e.to_string())?,
        };
        let started = Instant::now();
        let port = loop {
            if let Ok(port) = port.try_recv() {
                break port;
            }
            if let Ok(Some(status)) = emulator.child.try_wait() {
                return Err(format!("bqemulator exited before listening: {status}"));
            }
            if started.elapsed() > READY_WITHIN {
                return Err(format!("bqemulator did not listen within {READY_WITHIN:?}"));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        emulator.url = format!("http://127.0.0.1:{port}");
        let probe = format!("{}/bigquery/v2/projects/{project}/datasets", emulator.url);
        loop {
            match emulator.http.get(&probe).send().await {
                Ok(r) if r.status().is_success() => return Ok(emulator),
                _ if started.elapsed() > READY_WITHIN => {
                    return Err(format!("bqemulator not ready within {READY_WITHIN:?}"))
                }
                _ => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    }

    /// `http://127.0.0.1:PORT`, the value for `BIGQUERY_EMULATOR_HOST`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The dataset and Phase 2's table, partitioned by `game_date` as in production.
    pub async fn create_table(&self) -> Result<(), String> {
        let p = &self.project;
        let reference = json!({"projectId": p, "datasetId": DATASET});
        self.post(
            &format!("projects/{p}/datasets"),
            json!({ "datasetReference": reference }),
        )
        .await?;
        let fields: Vec<Value> = SCHEMA
            .iter()
            .map(|(name, kind)| json!({"name": name, "type": kind}))
            .collect();
        let body = json!({
            "tableReference": {"projectId": p, "datasetId": DATASET, "tableId": TABLE},
            "schema": {"fields": fields},
            "timePartitioning": {"type": "DAY", "field": "game_date"},
        });
        self.post(&format!("projects/{p}/datasets/{DATASET}/tables"), body)
            .await
            .map(drop)
    }

    /// Streams full rows in with `insertAll`, 500 a request, as the tests' loader does.
    pub async fn insert_all(&self, rows: &[Value]) -> Result<(), String> {
        let p = &self.project;
        for chunk in rows.chunks(500) {
            let rows: Vec<Value> = chunk.iter().map(|r| json!({ "json": r })).collect();
            let path = format!("projects/{p}/datasets/{DATASET}/tables/{TABLE}/insertAll");
            let answer = self.post(&path, json!({ "rows": rows })).await?;
            if answer["insertErrors"]
                .as_array()
                .is_some_and(|e| !e.is_empty())
            {
                return Err(format!("insertAll: {answer}"));
            }
        }
        Ok(())
    }

    /// Inserts `rows` rows per file with only the three columns detection groups by, in one
    /// DML statement (`GENERATE_ARRAY`): the verdict compares counts, not contents.
    pub async fn insert_counted(&self, files: &[Counted<'_>]) -> Result<u64, String> {
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
            "INSERT INTO `{}.{DATASET}.{TABLE}` (game_date, market_type, source_file_path) \
             SELECT f.d, f.m, f.p FROM UNNEST([{}]) AS f, UNNEST(GENERATE_ARRAY(1, f.n)) AS i",
            self.project,
            structs.join(", ")
        );
        let body = json!({"query": sql, "useLegacySql": false, "timeoutMs": 120_000});
        let answer = self
            .post(&format!("projects/{}/queries", self.project), body)
            .await?;
        answer["numDmlAffectedRows"]
            .as_str()
            .and_then(|n| n.parse().ok())
            .ok_or_else(|| format!("the insert did not say how many rows: {answer}"))
    }

    async fn post(&self, path: &str, body: Value) -> Result<Value, String> {
        let url = format!("{}/bigquery/v2/{path}", self.url);
        let resp = self
            .http
            .post(&url)
            .json(&body)
            .send()
            .await
            .map_err(|e| format!("{path}: {e}"))?;
        let status = resp.status();
        let answer = resp.json().await.unwrap_or(Value::Null);
        match status.as_u16() {
            200 | 409 => Ok(answer), // 409: the dataset is already there
            _ => Err(format!("{path}: {status} {answer}")),
        }
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Reads the emulator's log in a thread (so its pipe never fills) and sends the REST port
/// once the `rest.listen` event names it.
fn listen_port(child: &mut Child) -> mpsc::Receiver<u16> {
    let (tx, rx) = mpsc::channel();
    let Some(stderr) = child.stderr.take() else {
        return rx;
    };
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if line.contains("\"rest.listen\"") {
                if let Some(port) = serde_json::from_str::<Value>(&line)
                    .ok()
                    .and_then(|v| v["port"].as_u64())
                {
                    let _ = tx.send(port as u16);
                }
            }
        }
    });
    rx
}
