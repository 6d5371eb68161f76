//! A minimal BigQuery REST client: `jobs.query`, then `getQueryResults` until the job is
//! complete and every page is read. Standard SQL, named parameters, string cells.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use reqwest::header::AUTHORIZATION;
use serde_json::json;
use tokio::time::Instant;

use crate::fetch::body::{error_chain, excerpt};

use crate::gcp::{retry, Credentials};

use super::answer::{absorb, bad, check_total, query_failed, Answer, JobReference, QueryResult};
use super::error::{WarehouseError, WarehouseFailure};

/// One named query parameter (`@name`), sent with its BigQuery type.
#[derive(Debug, Clone)]
pub struct QueryParam {
    pub name: &'static str,
    /// `DATE`, `STRING`, `INT64` …
    pub kind: &'static str,
    pub value: String,
}

/// How a query is run: where, as whom, how patiently.
#[derive(Debug)]
pub struct BigQuery {
    http: reqwest::Client,
    /// `https://bigquery.googleapis.com` or the emulator's URL, no trailing slash.
    base: String,
    project: String,
    credentials: Credentials,
    max_attempts: u32,
    backoff_base: Duration,
    /// Rows per page asked for; `None` lets BigQuery choose (up to 10 MB a page).
    page_rows: Option<u32>,
    queries: AtomicU64,
}

impl BigQuery {
    pub fn new(
        base: &str,
        project: &str,
        credentials: Credentials,
        max_attempts: u32,
        backoff_base: Duration,
        page_rows: Option<u32>,
    ) -> Self {
        let http = crate::gcp::http_client(Duration::from_secs(5));
        Self {
            http,
            base: base.trim_end_matches('/').to_string(),
            project: project.to_string(),
            credentials,
            max_attempts: max_attempts.max(1),
            backoff_base,
            page_rows,
            queries: AtomicU64::new(0),
        }
    }

    pub fn credentials(&self) -> &Credentials {
        &self.credentials
    }

    /// `jobs.query` requests sent so far (retries included).
    pub fn queries_made(&self) -> u64 {
        self.queries.load(Ordering::Relaxed)
    }

    /// Runs one query to the end, every page, before `deadline`. `doing` names the work in errors.
    pub async fn query(
        &self,
        doing: &str,
        sql: &str,
        params: &[QueryParam],
        deadline: Instant,
    ) -> Result<QueryResult, WarehouseError> {
        let run = self.query_pages(sql, params, deadline);
        match tokio::time::timeout_at(deadline, run).await {
            Ok(result) => result.map_err(|e| e.with_doing(doing)),
            Err(_) => Err(WarehouseError::new(
                WarehouseFailure::TimedOut,
                doing,
                "the query's deadline passed",
            )),
        }
    }

    async fn query_pages(
        &self,
        sql: &str,
        params: &[QueryParam],
        deadline: Instant,
    ) -> Result<QueryResult, WarehouseError> {
        let url = format!(
            "{}/bigquery/v2/projects/{}/queries",
            self.base, self.project
        );
        let mut body = json!({
            "query": sql,
            "useLegacySql": false,
            "parameterMode": "NAMED",
            "queryParameters": params.iter().map(|p| json!({
                "name": p.name,
                "parameterType": {"type": p.kind},
                "parameterValue": {"value": p.value},
            })).collect::<Vec<_>>(),
            "timeoutMs": wait_ms(deadline),
        });
        if let Some(n) = self.page_rows {
            body["maxResults"] = n.into();
        }
        let mut answer = self
            .call("jobs.query", deadline, || {
                self.queries.fetch_add(1, Ordering::Relaxed);
                self.http.post(&url).json(&body)
            })
            .await?;
        let job = answer
            .job_reference
            .take()
            .ok_or_else(|| bad("jobs.query answer has no jobReference"))?;
        let mut result: Option<QueryResult> = None;
        loop {
            if let Some(errors) = answer.errors.as_deref().filter(|e| !e.is_empty()) {
                return Err(query_failed(&job.job_id, errors));
            }
            let mut page_token = None;
            if answer.job_complete == Some(true) {
                let into = result.get_or_insert_with(QueryResult::default);
                absorb(into, &mut answer)?;
                page_token = answer.page_token.take();
                if page_token.is_none() {
                    let done = result.unwrap_or_default();
                    check_total(&done, answer.total_rows.as_deref())?;
                    return Ok(done);
                }
            }
            answer = self.results(&job, page_token.as_deref(), deadline).await?;
        }
    }

    /// `GET …/queries/{jobId}`: waits for the job, or reads the page after `page_token`.
    async fn results(
        &self,
        job: &JobReference,
        page_token: Option<&str>,
        deadline: Instant,
    ) -> Result<Answer, WarehouseError> {
        let url = format!(
            "{}/bigquery/v2/projects/{}/queries/{}",
            self.base, self.project, job.job_id
        );
        let mut query: Vec<(&str, String)> = vec![("timeoutMs", wait_ms(deadline).to_string())];
        if let Some(location) = &job.location {
            // Without it a job outside the US/EU multi-regions is "not found".
            query.push(("location", location.clone()));
        }
        if let Some(token) = page_token {
            query.push(("pageToken", token.to_string()));
        }
        if let Some(n) = self.page_rows {
            query.push(("maxResults", n.to_string()));
        }
        let step = format!("getQueryResults for job {}", job.job_id);
        self.call(&step, deadline, || self.http.get(&url).query(&query))
            .await
    }

    /// `tabledata.insertAll` of `rows` (each with its `insertId`) into `dataset.table`: the
    /// rows BigQuery refused, with why (none: all were taken). One attempt, never retried here:
    /// a request whose answer was lost may have appended its rows, so the caller looks in the
    /// table before sending them again.
    pub async fn insert_all(
        &self,
        dataset: &str,
        table: &str,
        rows: &[(String, serde_json::Value)],
        deadline: Instant,
    ) -> Result<Vec<RowRefused>, WarehouseError> {
        let url = format!(
            "{}/bigquery/v2/projects/{}/datasets/{dataset}/tables/{table}/insertAll",
            self.base, self.project
        );
        let body = json!({
            "rows": rows.iter().map(|(id, row)| json!({"insertId": id, "json": row})).collect::<Vec<_>>(),
        });
        let step = format!("insertAll into {dataset}.{table}");
        let answer: InsertAnswer = self
            .attempt(&step, deadline, self.http.post(&url).json(&body))
            .await
            .map_err(|e| {
                e.with_doing(&format!(
                    "appending {} row(s) to {dataset}.{table}",
                    rows.len()
                ))
            })?;
        Ok(answer
            .insert_errors
            .into_iter()
            .map(|e| RowRefused {
                index: e.index,
                // Rows that were fine but stopped because another was not say `stopped`.
                invalid: e
                    .errors
                    .iter()
                    .any(|p| p.reason.as_deref() != Some("stopped")),
                reason: e
                    .errors
                    .iter()
                    .map(|p| {
                        format!(
                            "{}: {}",
                            p.reason.as_deref().unwrap_or("error"),
                            p.message.as_deref().unwrap_or("")
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("; "),
            })
            .collect())
    }

    /// One request with retries for transient failures; the token is fetched per attempt.
    async fn call(
        &self,
        step: &str,
        deadline: Instant,
        request: impl Fn() -> reqwest::RequestBuilder,
    ) -> Result<Answer, WarehouseError> {
        let what = format!("BigQuery {step}");
        let (base, most) = (self.backoff_base, self.backoff_base * 8);
        retry(self.max_attempts, base, most, &what, || {
            self.attempt(step, deadline, request())
        })
        .await
        .map_err(|(e, _)| e)
    }

    async fn attempt<T: serde::de::DeserializeOwned>(
        &self,
        step: &str,
        deadline: Instant,
        request: reqwest::RequestBuilder,
    ) -> Result<T, WarehouseError> {
        let fail =
            |failure, detail: String| WarehouseError::new(failure, "", format!("{step}: {detail}"));
        let mut request = request.timeout(
            deadline
                .saturating_duration_since(Instant::now())
                .max(Duration::from_millis(1)),
        );
        let bearer = self.credentials.header().await.map_err(|e| {
            let detail = format!("getting an access token: {e}");
            fail(WarehouseFailure::Auth, detail)
        })?;
        if let Some(value) = bearer {
            request = request.header(AUTHORIZATION, value);
        }
        let transport = |e: reqwest::Error| {
            let failure = if e.is_timeout() {
                WarehouseFailure::TimedOut
            } else {
                WarehouseFailure::Unreachable
            };
            fail(failure, error_chain(&e))
        };
        let resp = request.send().await.map_err(transport)?;
        let status = resp.status().as_u16();
        let body = resp.bytes().await.map_err(transport)?;
        if !(200..300).contains(&status) {
            let failure = match status {
                401 | 403 => WarehouseFailure::Auth,
                s => WarehouseFailure::Status(s),
            };
            return Err(fail(failure, format!("HTTP {status}: {}", excerpt(&body))));
        }
        serde_json::from_slice(&body).map_err(|e| {
            fail(
                WarehouseFailure::BadAnswer,
                format!("not an answer BigQuery gives ({e}): {}", excerpt(&body)),
            )
        })
    }
}

/// A row `insertAll` refused: its place in the request, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowRefused {
    pub index: usize,
    /// The row itself is at fault; otherwise it was only stopped with the others (send it again).
    pub invalid: bool,
    pub reason: String,
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct InsertAnswer {
    #[serde(default)]
    insert_errors: Vec<InsertError>,
}

#[derive(serde::Deserialize)]
struct InsertError {
    index: usize,
    #[serde(default)]
    errors: Vec<super::answer::ErrorProto>,
}

/// How long BigQuery may hold a request open waiting for the job: what is left of the deadline.
fn wait_ms(deadline: Instant) -> u64 {
    deadline
        .saturating_duration_since(Instant::now())
        .as_millis()
        .clamp(1, 60_000) as u64
}
