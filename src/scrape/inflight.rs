//! Identical requests at the same time run once: later callers wait for the first one's result.
//! Runs are spawned, so a caller that hangs up does not cut a run short.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use futures_util::future::{BoxFuture, FutureExt, Shared};

use super::{RunReport, ScrapeRequest, Scrapes};
use crate::calendar::GameDate;
use crate::market::MarketSelection;
use crate::run::Scraper;

type Key = (Scraper, GameDate, Option<MarketSelection>);
type Running = Shared<BoxFuture<'static, Arc<Vec<RunReport>>>>;

pub struct Inflight {
    scrapes: Scrapes,
    running: Mutex<HashMap<Key, Running>>,
}

impl Inflight {
    pub fn new(scrapes: Scrapes) -> Self {
        Self {
            scrapes,
            running: Mutex::new(HashMap::new()),
        }
    }

    /// Runs `req`, or joins the identical run already under way.
    pub async fn run(&self, req: ScrapeRequest) -> Arc<Vec<RunReport>> {
        let markets = (req.scraper == Scraper::PlayerProps).then_some(req.markets);
        let key = (req.scraper, req.date, markets);
        let (run, first) = {
            let mut running = self.running.lock().expect("inflight lock");
            match running.get(&key) {
                Some(run) => (run.clone(), false),
                None => {
                    let scrapes = self.scrapes.clone();
                    let task = tokio::spawn(async move { scrapes.run(&req).await });
                    let run = async move { Arc::new(task.await.unwrap_or_default()) }
                        .boxed()
                        .shared();
                    running.insert(key, run.clone());
                    (run, true)
                }
            }
        };
        if !first {
            tracing::info!(scraper = %req.scraper, game_date = %req.date, "identical request already running: joining it");
        }
        let reports = run.await;
        if first {
            self.running.lock().expect("inflight lock").remove(&key);
        }
        reports
    }

    /// Requests still running (for shutdown).
    pub fn len(&self) -> usize {
        self.running.lock().expect("inflight lock").len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
