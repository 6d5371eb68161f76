//! BettingPros v3: request builders, payload parsing and the transform to the raw files.
//!
//! Everything here is pure: it builds [`FetchRequest`]s for the fetch core to send and turns
//! the JSON that comes back into the files of CONTRACTS.md §2. Nothing here does I/O.
//!
//! - [`events`]: the `/events` answer and the events file.
//! - [`offers`]: one `/offers` page and its pagination.
//! - [`props`]: offers → props: which offers and lines Phase 2 can load.
//! - [`props_file`](mod@props_file): the props file, the rows it yields, and its checks
//!   before a write.
//! - `envelope`: what both files share, and its checks.

mod envelope;
pub mod events;
pub mod offers;
pub mod props;
pub mod props_file;
mod settings;

use reqwest::header::{HeaderMap, HeaderName, HeaderValue, ACCEPT, USER_AGENT};
use reqwest::Url;
use serde_json::Value;
use tokio::time::Instant;

use crate::calendar::GameDate;
use crate::fetch::{Class, Failure, FetchError, FetchRequest};
use crate::market::MarketType;
use crate::settings::ConfigError;

pub use events::{events_file, events_in_file, parse_events, validate_events_file, EventsAnswer};
pub use offers::{parse_offers_page, OffersPage};
pub use props::{book_name, transform_offers, Transformed};
pub use props_file::{props_file, rows_in_props_file, validate_props_file, PropsFileInput};
pub use settings::{UpstreamSettings, DEFAULT_BASE_URL};

/// Offers per page: the most the API gives.
pub const LIMIT: u32 = 10;
/// Pages fetched for one market at most; more means something is wrong upstream.
pub const MAX_PAGES: u32 = 50;

const CHROME_USER_AGENT: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 \
     (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";

/// The browser-like headers every request carries (CONTRACTS.md §1), auth aside.
const BROWSER_HEADERS: [(&str, &str); 6] = [
    ("accept-language", "en-US,en;q=0.9"),
    ("origin", "https://www.bettingpros.com"),
    (
        "referer",
        "https://www.bettingpros.com/nba/odds/player-props/points/",
    ),
    ("sec-fetch-dest", "empty"),
    ("sec-fetch-mode", "cors"),
    ("sec-fetch-site", "same-site"),
];

/// What was wrong with a payload or a file, and where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{place}: {problem}")]
pub struct PayloadError {
    /// Which payload or file, and where in it (`offers page 3`, `props file: props[2]`).
    pub place: String,
    pub problem: String,
}

impl PayloadError {
    pub fn new(place: impl Into<String>, problem: impl Into<String>) -> Self {
        Self {
            place: place.into(),
            problem: problem.into(),
        }
    }

    /// `"<field>" is missing` (absent or null).
    pub(crate) fn missing(place: impl Into<String>, field: &str) -> Self {
        Self::new(place, format!("\"{field}\" is missing"))
    }
}

/// An id as BettingPros sends it: a non-negative integer, or a string of digits.
pub(crate) fn as_id(value: &Value) -> Option<u64> {
    match value {
        Value::Number(n) => n.as_u64(),
        Value::String(s) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => {
            s.parse().ok()
        }
        _ => None,
    }
}

/// The field when it is there and not null.
pub(crate) fn present<'a>(value: &'a Value, field: &str) -> Option<&'a Value> {
    value.get(field).filter(|v| !v.is_null())
}

/// A short name for a JSON value's type, for error messages.
pub(crate) fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// Builds the requests to the BettingPros API. Holds the key, never prints it.
#[derive(Debug, Clone)]
pub struct Upstream {
    base: Url,
    /// Marked sensitive: it prints as `Sensitive`.
    api_key: Option<HeaderValue>,
}

impl Upstream {
    /// Checks the base URL and that the key can travel in a header; a missing key is not an
    /// error here (the service must start and say why it cannot scrape) but every request
    /// builder refuses then.
    pub fn new(settings: &UpstreamSettings) -> Result<Self, ConfigError> {
        let base_url = settings.base_url.trim_end_matches('/');
        let base = Url::parse(base_url)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https") && u.has_host())
            .filter(|u| u.query().is_none() && u.fragment().is_none())
            .ok_or_else(|| ConfigError {
                var: "BETTINGPROS_BASE_URL",
                value: base_url.to_string(),
                reason: "must be an absolute http(s) URL without a query".into(),
            })?;
        let api_key = match &settings.api_key {
            None => None,
            Some(secret) => {
                let mut value =
                    HeaderValue::from_str(secret.expose()).map_err(|_| ConfigError {
                        var: "BETTINGPROS_API_KEY",
                        value: "[redacted]".into(),
                        reason: "holds characters that cannot travel in an HTTP header".into(),
                    })?;
                value.set_sensitive(true);
                Some(value)
            }
        };
        Ok(Self { base, api_key })
    }

    /// `GET {base}/events?sport=NBA&date=YYYY-MM-DD`.
    pub fn events_request(
        &self,
        date: GameDate,
        context: String,
        deadline: Option<Instant>,
    ) -> Result<FetchRequest, FetchError> {
        self.request(
            "events",
            &format!("sport=NBA&date={date}"),
            context,
            deadline,
        )
    }

    /// `GET {base}/offers?sport=NBA&market_id=M&event_id=E1:E2&book_id=null&limit=10&page=P`.
    pub fn offers_request(
        &self,
        market: MarketType,
        event_ids: &[u64],
        page: u32,
        context: String,
        deadline: Option<Instant>,
    ) -> Result<FetchRequest, FetchError> {
        let ids: Vec<String> = event_ids.iter().map(u64::to_string).collect();
        let query = format!(
            "sport=NBA&market_id={}&event_id={}&book_id=null&limit={LIMIT}&page={page}",
            market.id(),
            ids.join(":"),
        );
        self.request("offers", &query, context, deadline)
    }

    /// Every value in `query` is digits, `:`, `-` or a fixed word, so it needs no encoding and
    /// the `:` between event ids stays as the website sends it.
    fn request(
        &self,
        endpoint: &str,
        query: &str,
        context: String,
        deadline: Option<Instant>,
    ) -> Result<FetchRequest, FetchError> {
        let mut url = self.base.clone();
        let path = format!("{}/{endpoint}", url.path().trim_end_matches('/'));
        url.set_path(&path);
        url.set_query(Some(query));
        let Some(key) = &self.api_key else {
            return Err(FetchError {
                failure: Failure::MissingKey,
                class: Class::Permanent,
                attempts: 0,
                exhausted: false,
                status: None,
                context,
                path: format!("{path}?{query}"),
                detail: "set BETTINGPROS_API_KEY (secret bettingpros-api-key)".into(),
                routes: Vec::new(),
            });
        };
        Ok(FetchRequest {
            url,
            headers: headers(key.clone()),
            context,
            deadline,
        })
    }
}

fn headers(key: HeaderValue) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(HeaderName::from_static("x-api-key"), key);
    headers.insert(USER_AGENT, HeaderValue::from_static(CHROME_USER_AGENT));
    headers.insert(
        ACCEPT,
        HeaderValue::from_static("application/json, text/plain, */*"),
    );
    for (name, value) in BROWSER_HEADERS {
        headers.insert(
            HeaderName::from_static(name),
            HeaderValue::from_static(value),
        );
    }
    headers
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::Secret;

    fn upstream(key: Option<&str>) -> Upstream {
        Upstream::new(&UpstreamSettings {
            base_url: "https://api.bettingpros.com/v3".into(),
            api_key: key.map(Secret::new),
        })
        .unwrap()
    }

    fn date() -> GameDate {
        "2026-01-14".parse().unwrap()
    }

    #[test]
    fn events_request_asks_for_the_nba_on_the_date() {
        let req = upstream(Some("k"))
            .events_request(date(), "bp_events 2026-01-14".into(), None)
            .unwrap();
        assert_eq!(
            req.url.as_str(),
            "https://api.bettingpros.com/v3/events?sport=NBA&date=2026-01-14"
        );
        assert_eq!(req.context, "bp_events 2026-01-14");
    }

    #[test]
    fn offers_request_joins_event_ids_with_colons_and_asks_all_books() {
        let req = upstream(Some("k"))
            .offers_request(
                MarketType::Steals,
                &[30001, 30002, 30003],
                3,
                "c".into(),
                None,
            )
            .unwrap();
        assert_eq!(req.url.path(), "/v3/offers");
        let pairs: Vec<(String, String)> = req.url.query_pairs().into_owned().collect();
        let expect = [
            ("sport", "NBA"),
            ("market_id", "160"),
            ("event_id", "30001:30002:30003"),
            ("book_id", "null"),
            ("limit", "10"),
            ("page", "3"),
        ];
        let expect: Vec<(String, String)> = expect
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        assert_eq!(pairs, expect);
    }

    #[test]
    fn a_base_url_with_a_trailing_slash_or_a_port_works() {
        let up = Upstream::new(&UpstreamSettings {
            base_url: "http://127.0.0.1:8089/v3/".into(),
            api_key: Some(Secret::new("k")),
        })
        .unwrap();
        let req = up.events_request(date(), "c".into(), None).unwrap();
        assert_eq!(
            req.url.as_str(),
            "http://127.0.0.1:8089/v3/events?sport=NBA&date=2026-01-14"
        );
    }

    #[test]
    fn every_request_carries_the_browser_headers_and_the_key() {
        let req = upstream(Some("sk-live-123"))
            .events_request(date(), "c".into(), None)
            .unwrap();
        let h = &req.headers;
        assert_eq!(h["x-api-key"], "sk-live-123");
        assert!(h["x-api-key"].is_sensitive());
        assert!(h["user-agent"].to_str().unwrap().contains("Chrome/"));
        assert_eq!(h["accept"], "application/json, text/plain, */*");
        assert_eq!(h["accept-language"], "en-US,en;q=0.9");
        assert_eq!(h["origin"], "https://www.bettingpros.com");
        assert_eq!(
            h["referer"],
            "https://www.bettingpros.com/nba/odds/player-props/points/"
        );
        assert_eq!(h["sec-fetch-dest"], "empty");
        assert_eq!(h["sec-fetch-mode"], "cors");
        assert_eq!(h["sec-fetch-site"], "same-site");
        assert!(!h.contains_key("accept-encoding"));
    }

    #[test]
    fn the_key_never_appears_in_debug_output() {
        let up = upstream(Some("sk-live-123"));
        let req = up
            .offers_request(MarketType::Points, &[1], 1, "c".into(), None)
            .unwrap();
        for shown in [format!("{req:?}"), format!("{up:?}"), req.path()] {
            assert!(!shown.contains("sk-live-123"), "{shown}");
        }
    }

    #[test]
    fn no_key_fails_fast_and_says_how_to_fix_it() {
        let err = upstream(None)
            .offers_request(
                MarketType::Points,
                &[1, 2],
                1,
                "bp_player_props".into(),
                None,
            )
            .unwrap_err();
        assert_eq!(err.failure, Failure::MissingKey);
        assert_eq!(err.class, Class::Permanent);
        assert_eq!(err.attempts, 0);
        assert!(!err.exhausted);
        assert_eq!(err.context, "bp_player_props");
        assert!(err.path.starts_with("/v3/offers?"), "{}", err.path);
        assert!(err.to_string().contains("BETTINGPROS_API_KEY"), "{err}");
        assert!(err.detail.contains("bettingpros-api-key"));
    }

    #[test]
    fn a_key_that_cannot_be_a_header_is_a_config_error_without_the_key() {
        let err = Upstream::new(&UpstreamSettings {
            base_url: "https://api.bettingpros.com/v3".into(),
            api_key: Some(Secret::new("bad\nkey")),
        })
        .unwrap_err();
        assert_eq!(err.var, "BETTINGPROS_API_KEY");
        assert!(!err.to_string().contains("bad\nkey"));
    }

    #[test]
    fn ids_are_numbers_or_digit_strings() {
        use serde_json::json;
        assert_eq!(as_id(&json!(20879)), Some(20879));
        assert_eq!(as_id(&json!("20879")), Some(20879));
        for bad in [json!(-1), json!(1.5), json!(""), json!("12a"), json!(null)] {
            assert_eq!(as_id(&bad), None, "{bad}");
        }
    }
}
