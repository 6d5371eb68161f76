//! Where an operator command gets its answers: in-process from this machine's configuration, or
//! from a running service (`--url`). Either way the answer is the JSON the HTTP API sends
//! (built by [`crate::query`] on one side of the wire or the other), so the command renders one
//! thing one way, and exits with the same code.

use serde_json::Value;
use tokio::sync::OnceCell;

use super::remote::Remote;
use crate::app::App;
use crate::config::Config;
use crate::query::claims::ByHand;
use crate::query::{self, Params, QueryError};
use crate::storage::StorageLocation;

pub enum Service {
    Local(Box<Local>),
    Remote(Remote),
}

/// This machine's configuration; the parts are built on first use.
pub struct Local {
    pub config: Config,
    app: OnceCell<App>,
}

/// What the API answered `POST /reprocess`: whether a job started now, and the answer.
pub type Submitted = (bool, Value);

impl Service {
    /// In-process, from the environment's configuration.
    pub fn local(config: Config) -> Service {
        Service::Local(Box::new(Local {
            config,
            app: OnceCell::new(),
        }))
    }

    /// Refuses `command` here when storage is a bucket and no ledger was named: the ledger
    /// beside this process would not be the service's, and its never-twice record with it.
    pub fn shared_ledger(&self, command: &str) -> Result<(), QueryError> {
        let Service::Local(local) = self else {
            return Ok(());
        };
        let config = &local.config;
        match &config.storage {
            StorageLocation::Gcs { bucket, .. } if !config.ledger_given => Err(QueryError::Invalid(format!(
                "backstop {command} works on the ledger that records every hand-over to Phase 2, and storage here is gs://{bucket} \
                 with no BACKSTOP_LEDGER: it would make its own ledger in this directory, whose never-twice record is not the service's. \
                 Run it against the service (`backstop --url https://… {command}`, or set BACKSTOP_URL), or set BACKSTOP_LEDGER to the \
                 ledger you mean"
            ))),
            _ => Ok(()),
        }
    }

    async fn app(&self) -> Result<&App, QueryError> {
        match self {
            Service::Local(local) => local
                .app
                .get_or_try_init(|| App::build(local.config.clone()))
                .await
                .map_err(|e| QueryError::Invalid(e.to_string())),
            Service::Remote(_) => Err(QueryError::Internal(
                "a remote service has no local parts".into(),
            )),
        }
    }

    /// `GET /runs`: only the ledger is opened here.
    pub async fn runs(&self, q: &Params) -> Result<Value, QueryError> {
        match self {
            Service::Local(local) => {
                let settings = &local.config.ledger;
                let ledger =
                    crate::ledger::Ledger::connect(&settings.location, settings.instance())
                        .await
                        .map_err(|e| QueryError::Invalid(e.to_string()))?;
                query::runs::runs(&ledger, q).await
            }
            Service::Remote(r) => r.get("/runs", q).await,
        }
    }

    /// The whole gap report: detected here in full, or from the service — following its
    /// detection job (`status_url`, every 2 s) when the range did not fit in one request.
    pub async fn gaps(&self, q: &Params) -> Result<Value, QueryError> {
        match self {
            Service::Remote(r) => {
                let mut answer = r.get("/gaps", q).await?;
                while let Some(status) = answer["status_url"].as_str().map(str::to_string) {
                    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
                    answer = r.get(&status, &Params::new()).await?;
                }
                Ok(answer)
            }
            local => query::gaps::report(local.app().await?, q).await,
        }
    }

    /// `POST /reprocess` (a dry run's plan, or a job started and executed by the side that
    /// holds the ledger).
    pub async fn reprocess(
        &self,
        body: &Value,
        key: Option<&str>,
        q: &Params,
    ) -> Result<Submitted, QueryError> {
        match self {
            Service::Remote(r) => r.post("/reprocess", q, body, key).await,
            local => {
                let app = local.app().await?;
                let s = query::recovery::reprocess(app, body.clone(), key, q).await?;
                Ok((s.created, s.answer))
            }
        }
    }

    /// `GET /reprocess/{id}`.
    pub async fn job(&self, id: &str) -> Result<Value, QueryError> {
        match self {
            Service::Remote(r) => r.get(&format!("/reprocess/{id}"), &Params::new()).await,
            local => query::recovery::job(local.app().await?, id).await,
        }
    }

    /// `GET /claims`.
    pub async fn claims(&self) -> Result<Value, QueryError> {
        match self {
            Service::Remote(r) => r.get("/claims", &Params::new()).await,
            local => query::claims::list(local.app().await?).await,
        }
    }

    /// `POST /claims/{object}/confirm|release`.
    pub async fn settle(&self, object: &str, by: ByHand) -> Result<Value, QueryError> {
        match self {
            Service::Remote(r) => {
                let word = match by {
                    ByHand::Confirm => "confirm",
                    ByHand::Release => "release",
                };
                let path = format!("/claims/{}/{word}", in_path(object));
                r.post(&path, &Params::new(), &Value::Null, None)
                    .await
                    .map(|(_, v)| v)
            }
            local => query::claims::settle_by_hand(local.app().await?, object, by).await,
        }
    }
}

/// An object name in a path: its slashes kept (the route takes them), anything else a path
/// cannot hold percent-encoded.
fn in_path(object: &str) -> String {
    use percent_encoding::{utf8_percent_encode, AsciiSet, CONTROLS};
    const SEGMENT: &AsciiSet = &CONTROLS
        .add(b' ')
        .add(b'"')
        .add(b'#')
        .add(b'%')
        .add(b'<')
        .add(b'>')
        .add(b'?')
        .add(b'`')
        .add(b'{')
        .add(b'}');
    utf8_percent_encode(object, SEGMENT).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_object_name_keeps_its_slashes_in_a_path_and_nothing_else_leaks_into_it() {
        let name = "bettingpros/player-props/points/2026-01-14/20260114_180530.json";
        assert_eq!(in_path(name), name);
        assert_eq!(in_path("a b/c?d#e%"), "a%20b/c%3Fd%23e%25");
    }
}
