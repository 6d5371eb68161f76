//! Case 4: the CPU cost of one page on backstop's own path — brotli decode, JSON parse,
//! page parse, transform — on an offers page of ~1 MiB of brotli built from the catalogue.

use std::time::Instant;

use backstop::bettingpros::{parse_offers_page, transform_offers};
use backstop::calendar::GameDate;
use backstop::config::FetchSettings;
use backstop::fetch::body::{decode_unannounced, parse_json};
use backstop::market::MarketType;
use backstop::sim::catalogue::Catalogue;
use backstop::sim::server::{compress, Encoding};
use bytes::Bytes;
use serde_json::{json, Value};

use crate::{Goal, Row};

const TARGET: usize = 1 << 20;

/// Every offer of every market of `days` synthetic days of 15 games.
fn offers(days: usize) -> Vec<Value> {
    let first: GameDate = "2026-01-01".parse().expect("a valid date");
    let dates: Vec<(GameDate, usize)> = std::iter::successors(Some(first), |d| Some(d.succ()))
        .take(days)
        .map(|d| (d, 15))
        .collect();
    let catalogue = Catalogue::synthetic(&dates, 2026);
    dates
        .iter()
        .filter_map(|(d, _)| catalogue.day(*d))
        .flat_map(|day| day.offers.values().flatten().cloned())
        .collect()
}

/// One `/offers` page holding every offer, brotli-compressed as the local BettingPros does.
fn page(offers: &[Value]) -> (Vec<u8>, usize) {
    let n = offers.len();
    let body = json!({
        "_parameters": {"sport": "NBA", "market_id": "156", "page": "1"},
        "_pagination": {"page": 1, "limit": n, "total_pages": 1, "total_items": n},
        "offers": offers,
        "markets": [{"id": 156, "name": "points-by-player"}],
    })
    .to_string();
    (compress(body.as_bytes(), Encoding::Brotli).0, body.len())
}

/// A page whose brotli body is about `target` bytes: (brotli body, JSON bytes, offers).
fn build(target: usize) -> (Vec<u8>, usize, usize) {
    let mut days = 2;
    let mut all = offers(days);
    while page(&all).0.len() < target {
        days *= 2;
        all = offers(days);
    }
    let (body, _) = page(&all);
    let keep = (all.len() as f64 * target as f64 / body.len() as f64).ceil() as usize;
    all.truncate(keep.min(all.len()));
    let (body, json_len) = page(&all);
    (body, json_len, all.len())
}

/// Seconds spent in each stage: brotli decode, JSON parse, page parse, transform.
fn pipeline(body: &[u8], offers: usize) -> [f64; 4] {
    let raw = Bytes::copy_from_slice(body);
    let cap = FetchSettings::default().max_body_bytes;
    let t0 = Instant::now();
    let decoded = decode_unannounced(raw, cap).expect("the page decodes");
    let t1 = Instant::now();
    let json = parse_json(&decoded).expect("the page is JSON");
    let t2 = Instant::now();
    let parsed = parse_offers_page(&json, 1).expect("the page parses");
    let t3 = Instant::now();
    let t = transform_offers(MarketType::Points, &parsed.offers);
    let t4 = Instant::now();
    assert_eq!(
        t.props.len(),
        offers,
        "every synthetic offer becomes a prop"
    );
    [t1 - t0, t2 - t1, t3 - t2, t4 - t3].map(|d| d.as_secs_f64())
}

pub fn cost(runs: usize) -> Vec<Row> {
    let case = "page CPU";
    let (body, json_len, n) = build(TARGET);
    pipeline(&body, n); // warm-up
    let stages: Vec<[f64; 4]> = (0..runs).map(|_| pipeline(&body, n)).collect();
    let total: Vec<f64> = stages.iter().map(|s| s.iter().sum()).collect();
    let mb_s: Vec<f64> = total.iter().map(|t| json_len as f64 / 1e6 / t).collect();
    let ms = |i: usize| stages.iter().map(|s| s[i] * 1000.0).collect::<Vec<f64>>();
    let page = format!(
        "{:.2} MiB brotli → {:.1} MiB JSON, {n} offers",
        body.len() as f64 / (1 << 20) as f64,
        json_len as f64 / (1 << 20) as f64
    );
    vec![
        Row::median(
            case,
            format!("decode + parse + transform ({page})"),
            "MB/s",
            &mb_s,
            Goal::None,
        ),
        Row::median(case, "brotli decode", "ms", &ms(0), Goal::None),
        Row::median(case, "JSON parse (serde_json)", "ms", &ms(1), Goal::None),
        Row::median(case, "parse_offers_page", "ms", &ms(2), Goal::None),
        Row::median(case, "transform_offers", "ms", &ms(3), Goal::None),
    ]
}

/// Under `cargo test`: the pipeline on a small page, once.
pub fn smoke() {
    let all = offers(1);
    let (body, _) = page(&all);
    pipeline(&body, all.len());
}
