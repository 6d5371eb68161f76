//! The service's HTTP API as its callers use it (the scheduler, an operator's script): every
//! call is bounded in time, and a call that gets no answer at all fails the test, saying the
//! service stopped answering.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

pub struct Api {
    pub url: String,
    http: reqwest::Client,
    /// The admin token, sent as `Authorization: Bearer …` on every call.
    token: Option<String>,
}

impl Api {
    pub fn new(url: impl Into<String>) -> Api {
        let http = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(180))
            .build()
            .expect("an HTTP client");
        Api {
            url: url.into(),
            http,
            token: None,
        }
    }

    /// The same API, sending `token` as the admin token.
    pub fn with_token(url: impl Into<String>, token: &str) -> Api {
        Api {
            token: Some(token.to_string()),
            ..Api::new(url)
        }
    }

    /// `GET path` (with its query): the status and the answer.
    pub async fn get(&self, path: &str) -> (u16, Value) {
        let url = format!("{}{path}", self.url);
        self.call(self.http.get(url), &format!("GET {path}")).await
    }

    /// `POST path` with a JSON body: the status and the answer.
    pub async fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        let url = format!("{}{path}", self.url);
        let req = self.http.post(url).json(body);
        self.call(req, &format!("POST {path}")).await
    }

    /// `POST path` with a JSON body and an `Idempotency-Key`: the status and the answer.
    pub async fn post_with_key(&self, path: &str, body: &Value, key: &str) -> (u16, Value) {
        let url = format!("{}{path}", self.url);
        let req = self
            .http
            .post(url)
            .json(body)
            .header("Idempotency-Key", key);
        self.call(req, &format!("POST {path}")).await
    }

    async fn call(&self, req: reqwest::RequestBuilder, what: &str) -> (u16, Value) {
        let req = match &self.token {
            Some(token) => req.bearer_auth(token),
            None => req,
        };
        let resp = req
            .send()
            .await
            .unwrap_or_else(|e| panic!("{what}: the service at {} did not answer: {e}", self.url));
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap_or_default();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    /// `POST /scrape` as Cloud Scheduler sends it; the answer must be 200 (success, no data)
    /// or 500 (failed, partial), with the run's status in `run_status`.
    pub async fn scrape(&self, date: &str, market: &str) -> Value {
        let body = json!({"scraper": "bp_player_props", "date": date, "market_type": market, "group": "prod"});
        let (status, answer) = self
            .call(
                self.http.post(format!("{}/scrape", self.url)).json(&body),
                "POST /scrape",
            )
            .await;
        let run_status = answer["run_status"].as_str().unwrap_or_default();
        let expected = match run_status {
            "success" | "no_data" => 200,
            "failed" | "partial" => 500,
            _ => panic!("POST /scrape {date} {market}: {status} {answer}"),
        };
        assert_eq!(status, expected, "POST /scrape {date} {market}: {answer}");
        answer
    }

    /// Whether anything answers `GET /health` yet (for a process still starting).
    pub async fn is_up(&self) -> bool {
        let health = self.http.get(format!("{}/health", self.url));
        health.timeout(Duration::from_secs(2)).send().await.is_ok()
    }

    /// `GET /health`: 200 or 503, with a body either way.
    pub async fn health(&self) -> u16 {
        let (status, body) = self
            .call(self.http.get(format!("{}/health", self.url)), "GET /health")
            .await;
        assert!(
            [200, 503].contains(&status) && body["service"] == "backstop",
            "GET /health: {status} {body}"
        );
        status
    }

    /// `GET /gaps` for one market (or `all`): the report's rows.
    pub async fn gaps(&self, from: &str, to: &str, market: &str) -> Vec<Value> {
        let url = format!("{}/gaps?from={from}&to={to}&market={market}", self.url);
        let (status, report) = self.call(self.http.get(url), "GET /gaps").await;
        assert_eq!(status, 200, "GET /gaps: {report}");
        report["rows"].as_array().cloned().unwrap_or_default()
    }

    /// `GET /gaps` without a market: the markets the schedule scrapes.
    pub async fn gaps_with_defaults(&self, from: &str, to: &str) -> Vec<Value> {
        let url = format!("{}/gaps?from={from}&to={to}", self.url);
        let (status, report) = self.call(self.http.get(url), "GET /gaps").await;
        assert_eq!(status, 200, "GET /gaps: {report}");
        report["rows"].as_array().cloned().unwrap_or_default()
    }

    /// `POST /reprocess` with an `Idempotency-Key`; the id of the job it started.
    pub async fn reprocess(&self, body: &Value, key: &str) -> String {
        let (status, answer) = self.reprocess_answer(body, Some(key)).await;
        assert_eq!(status, 202, "POST /reprocess {body}: {answer}");
        answer["job_id"].as_str().expect("a job id").to_string()
    }

    /// `POST /reprocess`, with an `Idempotency-Key` when given: the status and the answer.
    pub async fn reprocess_answer(&self, body: &Value, key: Option<&str>) -> (u16, Value) {
        let mut req = self.http.post(format!("{}/reprocess", self.url)).json(body);
        if let Some(key) = key {
            req = req.header("Idempotency-Key", key);
        }
        self.call(req, "POST /reprocess").await
    }

    /// `GET /reprocess/{id}`: the job with its actions.
    pub async fn job(&self, id: &str) -> Value {
        let url = format!("{}/reprocess/{id}", self.url);
        let (status, answer) = self.call(self.http.get(url), "GET /reprocess/{id}").await;
        assert_eq!(status, 200, "GET /reprocess/{id}: {answer}");
        answer["job"].clone()
    }

    /// `GET /reprocess/{id}`: the files the job was to send, with their evidence.
    pub async fn claims(&self, id: &str) -> Vec<Value> {
        let url = format!("{}/reprocess/{id}", self.url);
        let (status, answer) = self.call(self.http.get(url), "GET /reprocess/{id}").await;
        assert_eq!(status, 200, "GET /reprocess/{id}: {answer}");
        answer["claims"].as_array().cloned().unwrap_or_default()
    }

    /// Polls a job until it has finished and recorded what detection said afterwards.
    pub async fn finished_job(&self, id: &str, within: Duration) -> Value {
        let start = Instant::now();
        loop {
            let job = self.job(id).await;
            if job["state"] != "running" && !job["result"].is_null() {
                return job;
            }
            assert!(
                start.elapsed() < within,
                "job {id} did not finish within {within:?}: {job:#}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// `POST /sweep`, as Cloud Scheduler sends it: the status and what the sweep did.
    pub async fn sweep(&self) -> (u16, Value) {
        let req = self
            .http
            .post(format!("{}/sweep", self.url))
            .json(&json!({}));
        self.call(req, "POST /sweep").await
    }

    /// `GET /runs` with a query such as `date=2026-01-03&limit=100`.
    pub async fn runs(&self, query: &str) -> Vec<Value> {
        let url = format!("{}/runs?{query}", self.url);
        let (status, answer) = self.call(self.http.get(url), "GET /runs").await;
        assert_eq!(status, 200, "GET /runs?{query}: {answer}");
        answer["runs"].as_array().cloned().unwrap_or_default()
    }
}

/// A caller that carries a recovery job on, as the status page and the recovery script do: it
/// polls `GET /reprocess/{id}` on whichever instance it is pointed at, every 50 ms, and shrugs
/// off failures (that instance may have been killed mid-poll). Stops when dropped.
pub struct JobDriver {
    target: std::sync::Arc<std::sync::Mutex<String>>,
    task: tokio::task::JoinHandle<()>,
}

impl JobDriver {
    pub fn start(url: &str, job_id: &str) -> JobDriver {
        let target = std::sync::Arc::new(std::sync::Mutex::new(url.to_string()));
        let (at, id) = (target.clone(), job_id.to_string());
        let task = tokio::spawn(async move {
            let http = reqwest::Client::builder().no_proxy().build().unwrap();
            loop {
                let url = format!("{}/reprocess/{id}", at.lock().unwrap());
                let _ = http.get(url).send().await;
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        });
        JobDriver { target, task }
    }

    /// From now on, polls the instance at `url`.
    pub fn point_at(&self, url: &str) {
        *self.target.lock().unwrap() = url.to_string();
    }
}

impl Drop for JobDriver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The kinds of a job's actions, in order (`scrape`, `send_file`).
pub fn action_kinds(job: &Value) -> Vec<&str> {
    let actions = job["actions"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    actions
        .iter()
        .map(|a| a["kind"].as_str().unwrap_or_default())
        .collect()
}
