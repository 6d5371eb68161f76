//! bqemulator (the BigQuery emulator) for the integration tests and the benchmarks: one per
//! test, on free ports, killed on Drop. Installed by `scripts/install-bq-emulator`; a test never
//! skips without it. A harness: it panics, naming the fix, when the emulator misbehaves.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};
use tokio::time::Instant;

const READY_WITHIN: Duration = Duration::from_secs(30);

/// Phase 2's table, as far as gap detection and the tests need it.
pub const PROPS_SCHEMA: &[(&str, &str)] = crate::warehouse::PROPS_COLUMNS;

pub struct BqEmulator {
    child: Child,
    url: String,
    project: String,
    http: reqwest::Client,
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn installed(bin: &Path, home: &Path) -> bool {
    bin.is_file() && home.join(".duckdb/extensions").is_dir()
}

impl BqEmulator {
    /// Starts an in-memory emulator for `project` and waits until its REST API answers.
    pub async fn start(project: &str) -> BqEmulator {
        let bin = root().join(".emulators/bq/bin/bqemulator");
        let home = root().join(".emulators/bq-home");
        if !installed(&bin, &home) {
            panic!(
                "bqemulator is not installed (looked for {} and {}): run `{}` first",
                bin.display(),
                home.join(".duckdb/extensions").display(),
                root().join("scripts/install-bq-emulator").display()
            );
        }
        let child = Command::new(&bin)
            .args([
                "start",
                "--rest-port",
                "0",
                "--grpc-port",
                "0",
                "--ephemeral",
            ])
            .args([
                "--project",
                project,
                "--log-level",
                "info",
                "--log-format",
                "json",
            ])
            // A private HOME: DuckDB finds the spatial extension there instead of downloading it.
            .env("HOME", &home)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", bin.display()));
        // Owned from here on, so a panic below still kills the process.
        let mut emulator = BqEmulator {
            child,
            url: String::new(),
            project: project.to_string(),
            http: crate::gcp::http_client(Duration::from_secs(5)),
        };
        let (port, log) = listen_port(&mut emulator.child);
        let started = Instant::now();
        let port = loop {
            if let Ok(port) = port.try_recv() {
                break port;
            }
            exited_early(&mut emulator.child, &log);
            assert!(
                started.elapsed() < READY_WITHIN,
                "bqemulator did not listen within {READY_WITHIN:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        emulator.url = format!("http://127.0.0.1:{port}");
        let probe = format!("{}/bigquery/v2/projects/{project}/datasets", emulator.url);
        loop {
            match emulator.http.get(&probe).send().await {
                Ok(r) if r.status().is_success() => return emulator,
                _ if started.elapsed() > READY_WITHIN => {
                    panic!(
                        "bqemulator on {} not ready within {READY_WITHIN:?}",
                        emulator.url
                    )
                }
                _ => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    }

    /// `http://127.0.0.1:PORT`, the value for `BIGQUERY_EMULATOR_HOST`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Creates `dataset` (if needed) and `table` with `schema` (name, type), partitioned by
    /// `game_date` when the schema has it, as the production table is.
    pub async fn create_table(&self, dataset: &str, table: &str, schema: &[(&str, &str)]) {
        let p = &self.project;
        let created = self
            .post(
                &format!("projects/{p}/datasets"),
                json!({"datasetReference": {"projectId": p, "datasetId": dataset}}),
            )
            .await;
        assert!(
            created.0 == 200 || created.0 == 409,
            "creating dataset {dataset}: {created:?}"
        );
        let fields: Vec<Value> = schema
            .iter()
            .map(|(name, kind)| json!({"name": name, "type": kind}))
            .collect();
        let mut body = json!({
            "tableReference": {"projectId": p, "datasetId": dataset, "tableId": table},
            "schema": {"fields": fields},
        });
        if schema.iter().any(|(name, _)| *name == "game_date") {
            body["timePartitioning"] = json!({"type": "DAY", "field": "game_date"});
        }
        let created = self
            .post(&format!("projects/{p}/datasets/{dataset}/tables"), body)
            .await;
        assert_eq!(
            created.0, 200,
            "creating table {dataset}.{table}: {created:?}"
        );
    }

    /// Streams rows in with `insertAll`; any error fails the test (the emulator answers a bad
    /// row with a 500 rather than a per-row error).
    pub async fn insert_rows(&self, dataset: &str, table: &str, rows: &[Value]) {
        let p = &self.project;
        let rows: Vec<Value> = rows.iter().map(|r| json!({"json": r})).collect();
        let (status, answer) = self
            .post(
                &format!("projects/{p}/datasets/{dataset}/tables/{table}/insertAll"),
                json!({"rows": rows}),
            )
            .await;
        let clean = answer["insertErrors"]
            .as_array()
            .is_none_or(|e| e.is_empty());
        assert!(
            status == 200 && clean,
            "inserting into {dataset}.{table}: {status} {answer}"
        );
    }

    /// Runs one SQL statement (e.g. DML) with `jobs.query`; any error fails the caller.
    pub async fn query(&self, sql: &str) -> Value {
        let body = json!({"query": sql, "useLegacySql": false, "timeoutMs": 120_000});
        let (status, answer) = self
            .post(&format!("projects/{}/queries", self.project), body)
            .await;
        assert!(
            status == 200 && answer.get("errors").is_none(),
            "query {sql:.120}: {status} {answer}"
        );
        answer
    }

    async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        let url = format!("{}/bigquery/v2/{path}", self.url);
        let resp = self.http.post(&url).json(&body).send().await.unwrap();
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }
}

impl Drop for BqEmulator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Reads the emulator's log in a thread (so its pipe never fills) and sends the REST port once
/// the `rest.listen` event names it. The log is kept for a failure message.
fn listen_port(child: &mut Child) -> (mpsc::Receiver<u16>, Log) {
    let (tx, rx) = mpsc::channel();
    let stderr = child.stderr.take().expect("stderr is piped");
    let log: Log = Arc::default();
    let kept_log = log.clone();
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
            let mut kept = kept_log.lock().unwrap();
            kept.push(line);
            if kept.len() > 40 {
                kept.remove(0);
            }
        }
    });
    (rx, log)
}

type Log = Arc<Mutex<Vec<String>>>;

fn exited_early(child: &mut Child, log: &Log) {
    if let Ok(Some(status)) = child.try_wait() {
        std::thread::sleep(Duration::from_millis(100)); // let the reader catch the last lines
        panic!(
            "bqemulator exited before listening ({status}); run scripts/install-bq-emulator \
             to repair the install. Its last log lines:\n{}",
            log.lock().unwrap().join("\n")
        );
    }
}
