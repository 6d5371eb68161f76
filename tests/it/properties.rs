//! Property tests for every parser of outside data: whatever comes in, the answer is a value
//! or a clean error, never a panic. 256 cases each; `PROPTEST_CASES` raises it.

use std::time::{Duration, SystemTime};

use backstop::bettingpros::{
    parse_events, parse_offers_page, props_file, transform_offers, validate_props_file,
    PropsFileInput,
};
use backstop::calendar::GameDate;
use backstop::fetch::retry::parse_retry_after;
use backstop::market::MarketType;
use backstop::query::scrape::parse_request;
use backstop::run::Trigger;
use chrono::{DateTime, Utc};
use proptest::prelude::*;
use proptest::sample::select;
use serde_json::{json, Map, Value};

/// Names the parsers look for, so that arbitrary objects often hit a real field.
static KEYS: [&str; 30] = [
    "events",
    "id",
    "_parameters",
    "_pagination",
    "page",
    "total_pages",
    "total_items",
    "offers",
    "event_id",
    "player_id",
    "participants",
    "name",
    "player",
    "team",
    "position",
    "selections",
    "selection",
    "books",
    "lines",
    "line",
    "cost",
    "active",
    "best",
    "updated",
    "opening_line",
    "link",
    "scraper",
    "date",
    "market_type",
    "group",
];

fn key() -> impl Strategy<Value = String> {
    prop_oneof![3 => select(&KEYS[..]).prop_map(str::to_string), 1 => "\\PC{0,8}"]
}

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        "\\PC{0,12}".prop_map(Value::String),
        "[0-9]{1,12}".prop_map(Value::String),
        select(vec![
            "over",
            "under",
            "Over",
            "",
            " ",
            "NBA",
            "bp_events",
            "bp_player_props",
            "all"
        ])
        .prop_map(Value::from),
    ]
}

/// Any JSON value, nested up to a few levels.
fn json_value() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(4, 64, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(key(), inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Mostly a value that is right for its place, sometimes anything.
fn mostly(good: impl Strategy<Value = Value> + 'static) -> BoxedStrategy<Value> {
    prop_oneof![6 => good, 1 => leaf()].boxed()
}

/// An id or a count: small numbers (so ids collide and pages match), large ones, digit strings.
fn id_like() -> BoxedStrategy<Value> {
    mostly(prop_oneof![
        (0u64..4).prop_map(Value::from),
        (0u64..100_000).prop_map(Value::from),
        "[0-9]{1,6}".prop_map(Value::String),
    ])
}

fn name_like() -> BoxedStrategy<Value> {
    mostly("[A-Z][a-z]{1,8}( [A-Z][a-z]{1,8})?".prop_map(Value::String))
}

/// One of the given strings, mostly.
fn one_of(words: &[&'static str]) -> BoxedStrategy<Value> {
    mostly(select(words.to_vec()).prop_map(Value::from))
}

/// An object with the given fields each present (with a value from its strategy) or absent,
/// plus a few arbitrary extra fields.
fn object(fields: Vec<(&'static str, BoxedStrategy<Value>)>) -> BoxedStrategy<Value> {
    let present: Vec<_> = fields
        .into_iter()
        .map(|(name, s)| prop::option::weighted(0.95, s).prop_map(move |v| (name, v)))
        .collect();
    (present, prop::collection::btree_map(key(), leaf(), 0..3))
        .prop_map(|(fields, extra)| {
            let mut m: Map<String, Value> = extra.into_iter().collect();
            for (name, v) in fields {
                if let Some(v) = v {
                    m.insert(name.to_string(), v);
                }
            }
            Value::Object(m)
        })
        .boxed()
}

fn events_answer() -> impl Strategy<Value = Value> {
    let event = object(vec![
        ("id", id_like()),
        ("home", name_like()),
        ("visitor", name_like()),
        ("scheduled", leaf().boxed()),
    ]);
    let events = prop_oneof![
        4 => prop::collection::vec(prop_oneof![4 => event, 1 => json_value()], 0..8)
            .prop_map(Value::Array),
        1 => json_value(),
    ];
    object(vec![
        ("events", events.boxed()),
        ("_parameters", json_value().boxed()),
    ])
}

fn offers_page() -> impl Strategy<Value = Value> {
    let pagination = object(vec![
        ("page", id_like()),
        ("total_pages", id_like()),
        ("total_items", id_like()),
    ]);
    let offers = prop_oneof![
        4 => prop::collection::vec(offer(), 0..4).prop_map(Value::Array),
        1 => json_value(),
    ];
    object(vec![
        ("_pagination", pagination),
        ("offers", offers.boxed()),
        ("_parameters", json_value().boxed()),
    ])
}

fn line() -> BoxedStrategy<Value> {
    let flag = || mostly(any::<bool>().prop_map(Value::Bool));
    object(vec![
        ("id", id_like()),
        (
            "line",
            mostly((0u32..80).prop_map(|l| json!(f64::from(l) + 0.5))),
        ),
        ("cost", mostly((-400i64..400).prop_map(Value::from))),
        ("active", flag()),
        ("best", flag()),
        ("updated", mostly(Just(json!("2026-01-14 18:01:09")))),
    ])
}

fn selection() -> BoxedStrategy<Value> {
    let book = object(vec![
        ("id", id_like()),
        (
            "lines",
            mostly(prop::collection::vec(line(), 0..3).prop_map(Value::Array)),
        ),
    ]);
    object(vec![
        ("selection", one_of(&["over", "under", "Over", "yes"])),
        ("id", id_like()),
        (
            "books",
            mostly(prop::collection::vec(book, 0..3).prop_map(Value::Array)),
        ),
    ])
}

/// Offer-like values: the real shape with fields missing, null or of the wrong type.
fn offer() -> BoxedStrategy<Value> {
    let player = object(vec![("team", name_like()), ("position", name_like())]);
    let participant = object(vec![("name", name_like()), ("player", player)]);
    let shaped = object(vec![
        ("id", id_like()),
        ("event_id", id_like()),
        ("player_id", id_like()),
        (
            "participants",
            mostly(prop::collection::vec(participant, 1..2).prop_map(Value::Array)),
        ),
        (
            "selections",
            mostly(prop::collection::vec(selection(), 0..3).prop_map(Value::Array)),
        ),
    ]);
    prop_oneof![5 => shaped, 1 => json_value()].boxed()
}

/// Dates as people and schedulers write them, right and wrong.
fn date_text() -> impl Strategy<Value = String> {
    prop_oneof![
        (1900u32..2100, 1u32..13, 1u32..32).prop_map(|(y, m, d)| format!("{y:04}-{m:02}-{d:02}")),
        any::<String>(),
        "[0-9]{1,5}-[0-9]{1,3}-[0-9]{1,3}",
        "[+-]?[0-9]{4}-[0-9]{2}-[0-9]{2}[ T]?",
        "(?i)(today|yesterday| today |tomorrow)",
    ]
}

/// `POST /scrape` bodies: the scheduler's shape with right and wrong values, or anything.
fn scrape_body() -> impl Strategy<Value = Value> {
    prop_oneof![
        1 => json_value(),
        4 => object(vec![
            ("scraper", one_of(&["bp_events", "bp_player_props", "bp_odds"])),
            ("date", mostly(date_text().prop_map(Value::String))),
            ("market_type", one_of(&["points", "steals", "all", "ALL", "turnovers"])),
            ("group", leaf().boxed()),
        ]),
    ]
}

fn market() -> impl Strategy<Value = MarketType> {
    select(MarketType::ALL.to_vec())
}

/// A clock between 1970 and 2100.
fn clock() -> impl Strategy<Value = DateTime<Utc>> {
    (0i64..4_102_444_800).prop_map(|s| DateTime::from_timestamp(s, 0).expect("in range"))
}

proptest! {
    #[test]
    fn any_json_as_an_events_answer_parses_or_fails_cleanly(body in json_value()) {
        let _ = parse_events(&body);
    }

    #[test]
    fn events_answers_of_the_right_shape_keep_only_events_with_distinct_valid_ids(
        body in events_answer()
    ) {
        if let Ok(answer) = parse_events(&body) {
            let ids = answer.event_ids();
            prop_assert_eq!(ids.len(), answer.events.len());
            let distinct: std::collections::BTreeSet<u64> = ids.iter().copied().collect();
            prop_assert_eq!(distinct.len(), ids.len());
        }
    }

    #[test]
    fn any_json_as_an_offers_page_parses_or_fails_cleanly(body in json_value(), page in any::<u32>()) {
        let _ = parse_offers_page(&body, page);
    }

    #[test]
    fn offers_pages_of_the_right_shape_parse_only_as_the_page_asked_for(
        body in offers_page(), page in 0u32..4
    ) {
        if let Ok(parsed) = parse_offers_page(&body, page) {
            prop_assert_eq!(parsed.page, page);
            prop_assert_eq!(Some(parsed.offers.len()), body["offers"].as_array().map(Vec::len));
        }
    }

    #[test]
    fn transformed_offers_add_up_and_always_make_a_valid_props_file(
        offers in prop::collection::vec(offer(), 0..8), market in market()
    ) {
        let t = transform_offers(market, &offers);
        prop_assert_eq!(t.props.len() as u64 + t.failed_offers, offers.len() as u64);
        let file = props_file(&PropsFileInput {
            date: "2026-01-14".parse().expect("a date"),
            market,
            event_ids: &[30001],
            timestamp: "20260114_180000",
            params: json!({}),
            pages_fetched: 1,
            total_pages: 1,
            total_items: None,
            offers_received: offers.len() as u64,
            transformed: &t,
        });
        prop_assert_eq!(validate_props_file(&file), Ok(()));
    }

    #[test]
    fn any_json_as_a_scrape_request_is_a_request_or_a_clean_error(
        body in scrape_body(),
        now in clock()
    ) {
        if let Ok(req) = parse_request(&body, now, Trigger::Scheduler) {
            prop_assert!(body["scraper"].is_string());
            prop_assert_eq!(req.trigger, Trigger::Scheduler);
        }
    }

    #[test]
    fn any_string_as_a_date_resolves_to_a_real_date_or_a_named_error(
        given in date_text(),
        now in clock()
    ) {
        match GameDate::resolve(&given, now) {
            Ok(date) => {
                let shown = date.to_string();
                prop_assert_eq!(shown.len(), 10);
                prop_assert_eq!(shown.parse::<GameDate>(), Ok(date));
            }
            Err(e) => {
                let named = e.to_string().contains(&format!("{given:?}"));
                prop_assert!(named, "{e} does not name {given:?}");
            }
        }
    }

    #[test]
    fn any_retry_after_value_is_ignored_or_read_never_above_the_cap(
        value in prop_oneof![
            any::<String>(),
            "[+-]?[0-9]{0,25}(\\.[0-9]{0,6})?([eE][+-]?[0-9]{1,4})?",
            select(vec!["NaN", "inf", "-inf", "-0", "-0.0", "1e309", "  3 "]).prop_map(str::to_string),
            (0u64..8_000_000_000).prop_map(|s| httpdate::fmt_http_date(
                SystemTime::UNIX_EPOCH + Duration::from_secs(s))),
        ],
        now_secs in 0u64..8_000_000_000,
        cap_secs in 0u64..100_000,
    ) {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(now_secs);
        let cap = Duration::from_secs(cap_secs);
        if let Some(wait) = parse_retry_after(&value, now, cap) {
            prop_assert!(wait <= cap, "{value:?} gave {wait:?} over the cap {cap:?}");
        }
    }
}
