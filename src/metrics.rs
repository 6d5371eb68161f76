//! Process-wide counters and gauges, rendered as Prometheus text for `GET /metrics`.
//!
//! Every metric is declared once below, as a [`Family`] constant holding its name, help,
//! label names and type ([`Counter`] or [`Gauge`]), and listed in [`FAMILIES`]. Code records only through those
//! constants, with one value per declared label in the declared order: a misspelt name, a
//! missing label or a gauge counted up does not compile, so no typo makes a new series. A log
//! line and its metric are emitted from the same place in the code that handles the event.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;

/// One metric: name, help, label names (values are given in this order), and whether it is a
/// [`Counter`] or a [`Gauge`].
pub struct Family<const N: usize, T: Type> {
    pub name: &'static str,
    pub help: &'static str,
    pub labels: [&'static str; N],
    pub kind: T,
}

/// What sort of metric a family is.
pub trait Type {
    /// Its Prometheus `# TYPE`.
    const WORD: &'static str;
}

/// A value that only goes up: [`Metrics::inc`], [`Metrics::add`].
pub struct Counter;

/// A value that is set: [`Metrics::set`].
pub struct Gauge;

impl Type for Counter {
    const WORD: &'static str = "counter";
}

impl Type for Gauge {
    const WORD: &'static str = "gauge";
}

/// A family as `/metrics` introduces it: name, Prometheus type, help.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Declared {
    pub name: &'static str,
    pub kind: &'static str,
    pub help: &'static str,
}

impl<const N: usize, T: Type> Family<N, T> {
    pub const fn declared(&self) -> Declared {
        Declared {
            name: self.name,
            kind: T::WORD,
            help: self.help,
        }
    }
}

pub const UPSTREAM_ATTEMPTS: Family<2, Counter> = Family {
    name: "backstop_upstream_attempts_total",
    help: "Upstream attempts by host and outcome (HTTP status or error kind).",
    labels: ["host", "outcome"],
    kind: Counter,
};

pub const UPSTREAM_RETRIES: Family<2, Counter> = Family {
    name: "backstop_upstream_retries_total",
    help: "Upstream retries scheduled, by host and the outcome that caused them.",
    labels: ["host", "outcome"],
    kind: Counter,
};

pub const RATE_LIMITER_WAIT_SECONDS: Family<1, Counter> = Family {
    name: "backstop_rate_limiter_wait_seconds_total",
    help: "Time spent waiting for the shared rate limiter, by host.",
    labels: ["host"],
    kind: Counter,
};

pub const RATE_LIMITER_PUSHBACKS: Family<1, Counter> = Family {
    name: "backstop_rate_limiter_pushbacks_total",
    help: "Times a 429 or Retry-After paused the shared limiter, by host.",
    labels: ["host"],
    kind: Counter,
};

pub const ROUTE_ATTEMPTS: Family<2, Counter> = Family {
    name: "backstop_route_attempts_total",
    help: "Upstream attempts by route (direct or a proxy's name) and outcome.",
    labels: ["route", "outcome"],
    kind: Counter,
};

pub const ROUTE_BREAKER_STATE: Family<1, Gauge> = Family {
    name: "backstop_route_breaker_state",
    help: "Breaker of each route, worst over upstream hosts: 0 closed, 1 half-open, 2 open.",
    labels: ["route"],
    kind: Gauge,
};

pub const RUNS: Family<3, Counter> = Family {
    name: "backstop_runs_total",
    help: "Finished runs by scraper, market and status.",
    labels: ["scraper", "market", "status"],
    kind: Counter,
};

pub const PROPS_WRITTEN: Family<1, Counter> = Family {
    name: "backstop_props_written_total",
    help: "Props written to storage, by market.",
    labels: ["market"],
    kind: Counter,
};

pub const LAST_SUCCESS_TIMESTAMP_SECONDS: Family<2, Gauge> = Family {
    name: "backstop_last_success_timestamp_seconds",
    help: "Unix time of the last successful run, by scraper and market.",
    labels: ["scraper", "market"],
    kind: Gauge,
};

pub const OUTBOX_UNPUBLISHED: Family<0, Gauge> = Family {
    name: "backstop_outbox_unpublished",
    help: "Completion messages recorded but not yet published (the ledger's outbox).",
    labels: [],
    kind: Gauge,
};

pub const EXECUTION_LOG_UNEXPORTED: Family<0, Gauge> = Family {
    name: "backstop_execution_log_unexported",
    help: "Finished runs whose row of BigQuery's scraper_execution_log has not gone out yet.",
    labels: [],
    kind: Gauge,
};

pub const HTTP_REQUESTS: Family<2, Counter> = Family {
    name: "backstop_http_requests_total",
    help: "Requests to backstop's own API, by route and status.",
    labels: ["route", "status"],
    kind: Counter,
};

/// Every metric backstop exports, in the order `/metrics` lists them.
pub const FAMILIES: [Declared; 12] = [
    UPSTREAM_ATTEMPTS.declared(),
    UPSTREAM_RETRIES.declared(),
    RATE_LIMITER_WAIT_SECONDS.declared(),
    RATE_LIMITER_PUSHBACKS.declared(),
    ROUTE_ATTEMPTS.declared(),
    ROUTE_BREAKER_STATE.declared(),
    RUNS.declared(),
    PROPS_WRITTEN.declared(),
    LAST_SUCCESS_TIMESTAMP_SECONDS.declared(),
    OUTBOX_UNPUBLISHED.declared(),
    EXECUTION_LOG_UNEXPORTED.declared(),
    HTTP_REQUESTS.declared(),
];

#[derive(Default)]
pub struct Metrics {
    values: Mutex<BTreeMap<&'static str, BTreeMap<String, f64>>>,
}

impl Metrics {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `by` to a counter.
    pub fn add<const N: usize>(&self, counter: &Family<N, Counter>, values: [&str; N], by: f64) {
        self.update(counter, values, |v| *v += by);
    }

    pub fn inc<const N: usize>(&self, counter: &Family<N, Counter>, values: [&str; N]) {
        self.add(counter, values, 1.0);
    }

    /// Sets a gauge.
    pub fn set<const N: usize>(&self, gauge: &Family<N, Gauge>, values: [&str; N], value: f64) {
        self.update(gauge, values, |v| *v = value);
    }

    /// The current value (0 when never touched).
    pub fn get<const N: usize, T: Type>(&self, family: &Family<N, T>, values: [&str; N]) -> f64 {
        let values_now = self.values.lock().expect("metrics lock");
        values_now
            .get(family.name)
            .and_then(|m| m.get(&render_labels(family, values)).copied())
            .unwrap_or(0.0)
    }

    /// The sum over every label set of a metric.
    pub fn total<const N: usize, T: Type>(&self, family: &Family<N, T>) -> f64 {
        let values = self.values.lock().expect("metrics lock");
        values
            .get(family.name)
            .map(|m| m.values().sum())
            .unwrap_or(0.0)
    }

    /// Prometheus text exposition format 0.0.4.
    pub fn render(&self) -> String {
        let values = self.values.lock().expect("metrics lock");
        let mut out = String::new();
        for Declared { name, kind, help } in FAMILIES {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
            for (labels, v) in values.get(name).into_iter().flatten() {
                let _ = writeln!(out, "{name}{labels} {v}");
            }
        }
        out
    }

    /// Changes one series; its family must be listed in [`FAMILIES`], or `/metrics` would
    /// never show it.
    fn update<const N: usize, T: Type>(
        &self,
        family: &Family<N, T>,
        values: [&str; N],
        change: impl FnOnce(&mut f64),
    ) {
        debug_assert!(
            FAMILIES.iter().any(|d| d.name == family.name),
            "{} is declared but not listed in metrics::FAMILIES",
            family.name
        );
        let labels = render_labels(family, values);
        let mut all = self.values.lock().expect("metrics lock");
        change(
            all.entry(family.name)
                .or_default()
                .entry(labels)
                .or_default(),
        );
    }
}

/// `{host="a",outcome="ok"}`: the family's label names with these values, escaped.
fn render_labels<const N: usize, T: Type>(family: &Family<N, T>, values: [&str; N]) -> String {
    if N == 0 {
        return String::new();
    }
    let inner: Vec<String> = family
        .labels
        .iter()
        .zip(values)
        .map(|(k, v)| {
            let v = v
                .replace('\\', "\\\\")
                .replace('"', "\\\"")
                .replace('\n', "\\n");
            format!("{k}=\"{v}\"")
        })
        .collect();
    format!("{{{}}}", inner.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One event of every family, as the code records them.
    fn a_fixed_set_of_events() -> Metrics {
        let m = Metrics::new();
        let host = "api.bettingpros.com:443";
        m.inc(&UPSTREAM_ATTEMPTS, [host, "ok"]);
        m.inc(&UPSTREAM_ATTEMPTS, [host, "http_503"]);
        m.inc(&UPSTREAM_RETRIES, [host, "http_503"]);
        m.add(&RATE_LIMITER_WAIT_SECONDS, [host], 1.25);
        m.inc(&RATE_LIMITER_PUSHBACKS, [host]);
        m.inc(&ROUTE_ATTEMPTS, ["res-1", "ok"]);
        m.set(&ROUTE_BREAKER_STATE, ["direct"], 0.0);
        m.set(&ROUTE_BREAKER_STATE, ["res-1"], 2.0);
        m.inc(&RUNS, ["bp_player_props", "points", "success"]);
        m.inc(&RUNS, ["bp_events", "", "failed"]);
        m.add(&PROPS_WRITTEN, ["points"], 94.0);
        m.set(
            &LAST_SUCCESS_TIMESTAMP_SECONDS,
            ["bp_player_props", "points"],
            1_768_413_930.0,
        );
        m.set(&OUTBOX_UNPUBLISHED, [], 2.0);
        m.set(&EXECUTION_LOG_UNEXPORTED, [], 3.0);
        m.inc(&HTTP_REQUESTS, ["/scrape", "200"]);
        m
    }

    #[test]
    fn the_exposition_text_for_a_fixed_set_of_events() {
        let expected = r#"# HELP backstop_upstream_attempts_total Upstream attempts by host and outcome (HTTP status or error kind).
# TYPE backstop_upstream_attempts_total counter
backstop_upstream_attempts_total{host="api.bettingpros.com:443",outcome="http_503"} 1
backstop_upstream_attempts_total{host="api.bettingpros.com:443",outcome="ok"} 1
# HELP backstop_upstream_retries_total Upstream retries scheduled, by host and the outcome that caused them.
# TYPE backstop_upstream_retries_total counter
backstop_upstream_retries_total{host="api.bettingpros.com:443",outcome="http_503"} 1
# HELP backstop_rate_limiter_wait_seconds_total Time spent waiting for the shared rate limiter, by host.
# TYPE backstop_rate_limiter_wait_seconds_total counter
backstop_rate_limiter_wait_seconds_total{host="api.bettingpros.com:443"} 1.25
# HELP backstop_rate_limiter_pushbacks_total Times a 429 or Retry-After paused the shared limiter, by host.
# TYPE backstop_rate_limiter_pushbacks_total counter
backstop_rate_limiter_pushbacks_total{host="api.bettingpros.com:443"} 1
# HELP backstop_route_attempts_total Upstream attempts by route (direct or a proxy's name) and outcome.
# TYPE backstop_route_attempts_total counter
backstop_route_attempts_total{route="res-1",outcome="ok"} 1
# HELP backstop_route_breaker_state Breaker of each route, worst over upstream hosts: 0 closed, 1 half-open, 2 open.
# TYPE backstop_route_breaker_state gauge
backstop_route_breaker_state{route="direct"} 0
backstop_route_breaker_state{route="res-1"} 2
# HELP backstop_runs_total Finished runs by scraper, market and status.
# TYPE backstop_runs_total counter
backstop_runs_total{scraper="bp_events",market="",status="failed"} 1
backstop_runs_total{scraper="bp_player_props",market="points",status="success"} 1
# HELP backstop_props_written_total Props written to storage, by market.
# TYPE backstop_props_written_total counter
backstop_props_written_total{market="points"} 94
# HELP backstop_last_success_timestamp_seconds Unix time of the last successful run, by scraper and market.
# TYPE backstop_last_success_timestamp_seconds gauge
backstop_last_success_timestamp_seconds{scraper="bp_player_props",market="points"} 1768413930
# HELP backstop_outbox_unpublished Completion messages recorded but not yet published (the ledger's outbox).
# TYPE backstop_outbox_unpublished gauge
backstop_outbox_unpublished 2
# HELP backstop_execution_log_unexported Finished runs whose row of BigQuery's scraper_execution_log has not gone out yet.
# TYPE backstop_execution_log_unexported gauge
backstop_execution_log_unexported 3
# HELP backstop_http_requests_total Requests to backstop's own API, by route and status.
# TYPE backstop_http_requests_total counter
backstop_http_requests_total{route="/scrape",status="200"} 1
"#;
        assert_eq!(a_fixed_set_of_events().render(), expected);
    }

    #[test]
    fn counters_render_with_escaped_labels() {
        let m = Metrics::new();
        m.inc(&RUNS, ["bp_events", "", "success"]);
        m.add(&RUNS, ["bp_events", "", "success"], 2.0);
        m.inc(&UPSTREAM_ATTEMPTS, ["h", "a\"b"]);
        let text = m.render();
        assert!(
            text.contains(
                "backstop_runs_total{scraper=\"bp_events\",market=\"\",status=\"success\"} 3"
            ),
            "{text}"
        );
        assert!(text.contains("outcome=\"a\\\"b\""), "{text}");
        assert!(text.contains("# TYPE backstop_last_success_timestamp_seconds gauge"));
        assert_eq!(m.total(&RUNS), 3.0);
        assert_eq!(m.get(&RUNS, ["bp_events", "", "success"]), 3.0);
        assert_eq!(m.get(&RUNS, ["bp_events", "", "failed"]), 0.0);
    }

    #[test]
    fn every_family_has_its_own_name() {
        let mut names: Vec<&str> = FAMILIES.iter().map(|d| d.name).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), FAMILIES.len());
        assert!(names.iter().all(|n| n.starts_with("backstop_")));
    }

    #[test]
    fn every_metric_the_documents_name_is_declared() {
        let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let docs = [
            "README.md",
            "ARCHITECTURE.md",
            "BENCHMARKS.md",
            "deploy/service.yaml",
        ];
        for doc in docs {
            let text = std::fs::read_to_string(repo.join(doc)).expect(doc);
            let mut rest = text.as_str();
            while let Some(at) = rest.find("backstop_") {
                let word: String = rest[at..]
                    .chars()
                    .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                    .collect();
                assert!(
                    FAMILIES.iter().any(|d| d.name == word),
                    "{doc} names the metric {word}, which is not declared in metrics::FAMILIES"
                );
                rest = &rest[at + word.len()..];
            }
        }
    }

    #[test]
    #[should_panic(expected = "not listed in metrics::FAMILIES")]
    fn a_family_left_out_of_the_list_is_named() {
        const STRAY: Family<0, Counter> = Family {
            name: "backstop_stray_total",
            help: "Declared, never listed.",
            labels: [],
            kind: Counter,
        };
        Metrics::new().inc(&STRAY, []);
    }
}
