//! Process-wide counters and gauges, rendered as Prometheus text for `GET /metrics`.
//!
//! Every metric is declared once in [`FAMILIES`]; a log line and its metric are emitted from
//! the same place in the code that handles the event.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;

/// (name, type, help) of every metric backstop exports.
pub const FAMILIES: &[(&str, &str, &str)] = &[
    (
        "backstop_upstream_attempts_total",
        "counter",
        "Upstream attempts by host and outcome (HTTP status or error kind).",
    ),
    (
        "backstop_upstream_retries_total",
        "counter",
        "Upstream retries scheduled, by host and the outcome that caused them.",
    ),
    (
        "backstop_rate_limiter_wait_seconds_total",
        "counter",
        "Time spent waiting for the shared rate limiter, by host.",
    ),
    (
        "backstop_rate_limiter_pushbacks_total",
        "counter",
        "Times a 429 or Retry-After paused the shared limiter, by host.",
    ),
    (
        "backstop_route_attempts_total",
        "counter",
        "Upstream attempts by route (direct or a proxy's name) and outcome.",
    ),
    (
        "backstop_route_breaker_state",
        "gauge",
        "Breaker of each route, worst over upstream hosts: 0 closed, 1 half-open, 2 open.",
    ),
    (
        "backstop_runs_total",
        "counter",
        "Finished runs by scraper, market and status.",
    ),
    (
        "backstop_props_written_total",
        "counter",
        "Props written to storage, by market.",
    ),
    (
        "backstop_last_success_timestamp_seconds",
        "gauge",
        "Unix time of the last successful run, by scraper and market.",
    ),
    (
        "backstop_outbox_unpublished",
        "gauge",
        "Completion messages recorded but not yet published (the ledger's outbox).",
    ),
    (
        "backstop_http_requests_total",
        "counter",
        "Requests to backstop's own API, by route and status.",
    ),
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
    pub fn add(&self, name: &'static str, labels: &[(&str, &str)], by: f64) {
        let mut values = self.values.lock().expect("metrics lock");
        *values
            .entry(name)
            .or_default()
            .entry(render_labels(labels))
            .or_default() += by;
    }

    pub fn inc(&self, name: &'static str, labels: &[(&str, &str)]) {
        self.add(name, labels, 1.0);
    }

    /// Sets a gauge.
    pub fn set(&self, name: &'static str, labels: &[(&str, &str)], value: f64) {
        let mut values = self.values.lock().expect("metrics lock");
        values
            .entry(name)
            .or_default()
            .insert(render_labels(labels), value);
    }

    /// The current value (0 when never touched).
    pub fn get(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        let values = self.values.lock().expect("metrics lock");
        values
            .get(name)
            .and_then(|m| m.get(&render_labels(labels)).copied())
            .unwrap_or(0.0)
    }

    /// The sum over every label set of a metric.
    pub fn total(&self, name: &str) -> f64 {
        let values = self.values.lock().expect("metrics lock");
        values.get(name).map(|m| m.values().sum()).unwrap_or(0.0)
    }

    /// Prometheus text exposition format 0.0.4.
    pub fn render(&self) -> String {
        let values = self.values.lock().expect("metrics lock");
        let mut out = String::new();
        for (name, kind, help) in FAMILIES {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
            for (labels, v) in values.get(name).into_iter().flatten() {
                let _ = writeln!(out, "{name}{labels} {v}");
            }
        }
        out
    }
}

fn render_labels(labels: &[(&str, &str)]) -> String {
    if labels.is_empty() {
        return String::new();
    }
    let inner: Vec<String> = labels
        .iter()
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

    /// One event of every family, as the code records them today.
    fn a_fixed_set_of_events() -> Metrics {
        let m = Metrics::new();
        let host = ("host", "api.bettingpros.com:443");
        m.inc(
            "backstop_upstream_attempts_total",
            &[host, ("outcome", "ok")],
        );
        m.inc(
            "backstop_upstream_attempts_total",
            &[host, ("outcome", "http_503")],
        );
        m.inc(
            "backstop_upstream_retries_total",
            &[host, ("outcome", "http_503")],
        );
        m.add("backstop_rate_limiter_wait_seconds_total", &[host], 1.25);
        m.inc("backstop_rate_limiter_pushbacks_total", &[host]);
        m.inc(
            "backstop_route_attempts_total",
            &[("route", "res-1"), ("outcome", "ok")],
        );
        m.set("backstop_route_breaker_state", &[("route", "direct")], 0.0);
        m.set("backstop_route_breaker_state", &[("route", "res-1")], 2.0);
        let props = [("scraper", "bp_player_props"), ("market", "points")];
        m.inc(
            "backstop_runs_total",
            &[props[0], props[1], ("status", "success")],
        );
        m.inc(
            "backstop_runs_total",
            &[
                ("scraper", "bp_events"),
                ("market", ""),
                ("status", "failed"),
            ],
        );
        m.add(
            "backstop_props_written_total",
            &[("market", "points")],
            94.0,
        );
        m.set(
            "backstop_last_success_timestamp_seconds",
            &props,
            1_768_413_930.0,
        );
        m.set("backstop_outbox_unpublished", &[], 2.0);
        m.inc(
            "backstop_http_requests_total",
            &[("route", "/scrape"), ("status", "200")],
        );
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
# HELP backstop_http_requests_total Requests to backstop's own API, by route and status.
# TYPE backstop_http_requests_total counter
backstop_http_requests_total{route="/scrape",status="200"} 1
"#;
        assert_eq!(a_fixed_set_of_events().render(), expected);
    }

    #[test]
    fn counters_render_with_escaped_labels() {
        let m = Metrics::new();
        m.inc(
            "backstop_runs_total",
            &[("scraper", "bp_events"), ("status", "success")],
        );
        m.add(
            "backstop_runs_total",
            &[("scraper", "bp_events"), ("status", "success")],
            2.0,
        );
        m.inc("backstop_upstream_attempts_total", &[("outcome", "a\"b")]);
        let text = m.render();
        assert!(
            text.contains("backstop_runs_total{scraper=\"bp_events\",status=\"success\"} 3"),
            "{text}"
        );
        assert!(text.contains("outcome=\"a\\\"b\""), "{text}");
        assert!(text.contains("# TYPE backstop_last_success_timestamp_seconds gauge"));
        assert_eq!(m.total("backstop_runs_total"), 3.0);
    }
}
