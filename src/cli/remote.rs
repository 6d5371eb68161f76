//! `backstop --url URL …`: the operator routes of a running service, called over HTTP with the
//! admin token (`BACKSTOP_ADMIN_TOKEN`) and, for `https://` (Cloud Run), Google's identity
//! token as `X-Serverless-Authorization` — from `gcloud auth print-identity-token`, else the
//! metadata server (on Google Cloud). Answers come back as the JSON the API sends; failures as
//! the [`QueryError`] kind their status says, so exit codes match the local command's.

use std::time::Duration;

use reqwest::header::HeaderValue;
use reqwest::{Method, RequestBuilder};
use serde_json::Value;

use crate::gcp::{credentials, GcpSettings, MetadataServer};
use crate::query::{Params, QueryError};
use crate::settings::{ConfigError, Secret, Vars};

/// One call's longest wait for the service's answer (a gap report over a long range included).
const CALL_TIMEOUT: Duration = Duration::from_secs(300);
/// How long getting an identity token may take.
const TOKEN_TIMEOUT: Duration = Duration::from_secs(10);

pub struct Remote {
    /// The service's base URL, no trailing slash.
    base: String,
    http: reqwest::Client,
    admin: Option<HeaderValue>,
    /// `Bearer …` of Google's identity token, for `https://`.
    identity: Option<HeaderValue>,
}

impl Remote {
    /// The service at `url`, with the tokens `vars` give.
    pub async fn connect(url: &str, vars: &Vars) -> Result<Remote, QueryError> {
        let config = |e: ConfigError| QueryError::Invalid(e.to_string());
        let base = url.trim().trim_end_matches('/').to_string();
        let parsed = reqwest::Url::parse(&base).map_err(|e| {
            QueryError::Invalid(format!("--url {base}: not an address ({e}): give the service's URL, e.g. https://backstop-….a.run.app"))
        })?;
        if !["http", "https"].contains(&parsed.scheme()) || parsed.query().is_some() {
            return Err(QueryError::Invalid(format!(
                "--url {base}: give the service's http(s) address, without a query"
            )));
        }
        let admin = crate::config::admin_token(vars).map_err(config)?;
        let admin = admin.as_ref().map(header).transpose()?;
        let identity = match parsed.scheme() {
            "https" => {
                let gcp = GcpSettings::from_vars(vars).map_err(config)?;
                Some(header(&identity_token(&base, &gcp).await?)?)
            }
            _ => None,
        };
        let http = reqwest::Client::builder()
            .timeout(CALL_TIMEOUT)
            .connect_timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| QueryError::Internal(format!("an HTTP client: {e}")))?;
        Ok(Remote {
            base,
            http,
            admin,
            identity,
        })
    }

    /// `GET path?q`.
    pub async fn get(&self, path: &str, q: &Params) -> Result<Value, QueryError> {
        let req = self.request(Method::GET, path).query(q);
        self.answer(req, &format!("GET {path}"))
            .await
            .map(|(_, v)| v)
    }

    /// `POST path?q` with a JSON body (and an `Idempotency-Key`): whether it was a 202, and
    /// the answer.
    pub async fn post(
        &self,
        path: &str,
        q: &Params,
        body: &Value,
        key: Option<&str>,
    ) -> Result<(bool, Value), QueryError> {
        let mut req = self.request(Method::POST, path).query(q).json(body);
        if let Some(key) = key {
            req = req.header("Idempotency-Key", key);
        }
        let (status, answer) = self.answer(req, &format!("POST {path}")).await?;
        Ok((status == 202, answer))
    }

    fn request(&self, method: Method, path: &str) -> RequestBuilder {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(admin) = &self.admin {
            req = req.header(reqwest::header::AUTHORIZATION, admin.clone());
        }
        if let Some(identity) = &self.identity {
            req = req.header("X-Serverless-Authorization", identity.clone());
        }
        req
    }

    async fn answer(&self, req: RequestBuilder, what: &str) -> Result<(u16, Value), QueryError> {
        let base = &self.base;
        let resp = req.send().await.map_err(|e| {
            QueryError::Internal(format!(
                "{what}: the service at {base} did not answer: {}",
                crate::fetch::body::error_chain(&e)
            ))
        })?;
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap_or_default();
        let answer: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        if (200..300).contains(&status) {
            return Ok((status, answer));
        }
        let said = match answer["error"].as_str() {
            Some(error) => error.to_string(),
            None => crate::fetch::body::excerpt(text.as_bytes()),
        };
        Err(match status {
            400 | 422 => QueryError::Invalid(said),
            401 => QueryError::Unauthorized(format!(
                "{what}: the service at {base} wants the admin token: set BACKSTOP_ADMIN_TOKEN ({said})"
            )),
            403 => QueryError::Unauthorized(format!(
                "{what}: refused (403) at {base}: on Cloud Run, the account of `gcloud auth print-identity-token` needs roles/run.invoker on the service ({said})"
            )),
            404 => QueryError::NotFound(said),
            409 => QueryError::Conflict(said),
            _ => QueryError::Internal(format!("{what}: {status} from {base}: {said}")),
        })
    }
}

/// `Bearer TOKEN`, marked sensitive; a token that cannot be a header is refused unquoted.
fn header(token: &Secret) -> Result<HeaderValue, QueryError> {
    credentials::bearer_header(token).ok_or_else(|| {
        QueryError::Invalid("a token holds characters that cannot travel in an HTTP header".into())
    })
}

/// Google's identity token for the service at `audience`: gcloud's (an operator's laptop),
/// else the metadata server's (a machine on Google Cloud).
async fn identity_token(audience: &str, gcp: &GcpSettings) -> Result<Secret, QueryError> {
    let gcloud = tokio::task::spawn_blocking(|| {
        std::process::Command::new("gcloud")
            .args(["auth", "print-identity-token"])
            .stdin(std::process::Stdio::null())
            .output()
    });
    let gcloud = tokio::time::timeout(TOKEN_TIMEOUT * 3, gcloud).await;
    let gcloud_said =
        match gcloud.map(|joined| joined.unwrap_or_else(|e| Err(std::io::Error::other(e)))) {
            Ok(Ok(out)) if out.status.success() => {
                let token = String::from_utf8_lossy(&out.stdout).trim().to_string();
                if !token.is_empty() && token.chars().all(|c| c.is_ascii_graphic()) {
                    return Ok(Secret::new(token));
                }
                "printed no token".to_string()
            }
            Ok(Ok(out)) => {
                let err = String::from_utf8_lossy(&out.stderr);
                format!("failed: {}", err.lines().last().unwrap_or_default().trim())
            }
            Ok(Err(e)) => format!("could not run: {e}"),
            Err(_) => "did not answer in time".to_string(),
        };
    let metadata = MetadataServer::new(&gcp.metadata);
    metadata
        .identity_token(audience, TOKEN_TIMEOUT)
        .await
        .map_err(|e| {
            QueryError::Unauthorized(format!(
                "no identity token for {audience}: `gcloud auth print-identity-token` {gcloud_said}, and the metadata server: {e}. Run `gcloud auth login` (an account with roles/run.invoker on the service)"
            ))
        })
}
