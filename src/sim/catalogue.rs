//! The fixture catalogue: what a local BettingPros knows, date by date, answered the way the
//! real `/events` and `/offers` endpoints answer.
//!
//! [`Catalogue::synthetic`] fills it with a realistic, seeded calendar (10 games ≈ 110 points
//! offers, 5–9 books a side); [`Catalogue::insert`] adds hand-made days for edge cases.

mod league;

use std::collections::{BTreeMap, HashMap, HashSet};

use serde_json::{json, Value};

use crate::bettingpros::as_id;
use crate::calendar::GameDate;
use crate::market::MarketType;

/// One date's events and offers, as the API would send them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SimDay {
    /// Full API event objects, lineups and participants included.
    pub events: Vec<Value>,
    /// Raw API offers by market, in the order pages give them.
    pub offers: BTreeMap<MarketType, Vec<Value>>,
}

/// Dates → days, and event id → date so an `/offers` request finds its day.
#[derive(Debug, Clone, Default)]
pub struct Catalogue {
    days: BTreeMap<GameDate, SimDay>,
    event_dates: HashMap<u64, GameDate>,
}

impl Catalogue {
    pub fn new() -> Self {
        Self::default()
    }

    /// A day for each `(date, games)`: 0 games is an off day (zero events), more than 15 is 15.
    /// The same seed gives the same catalogue; a day depends only on its date and the seed.
    pub fn synthetic(days: &[(GameDate, usize)], seed: u64) -> Self {
        let mut catalogue = Self::new();
        for &(date, games) in days {
            catalogue.insert(date, league::day(date, games, seed));
        }
        catalogue
    }

    /// Adds or replaces a day. Events without a numeric id cannot be asked for offers.
    pub fn insert(&mut self, date: GameDate, day: SimDay) {
        self.event_dates.retain(|_, d| *d != date);
        for event in &day.events {
            if let Some(id) = event.get("id").and_then(as_id) {
                self.event_dates.insert(id, date);
            }
        }
        self.days.insert(date, day);
    }

    pub fn day(&self, date: GameDate) -> Option<&SimDay> {
        self.days.get(&date)
    }

    /// The full `/events` answer for a date (`_parameters`, `events`, `ts`, `utc`); zero
    /// events for unknown dates.
    pub fn events_answer(&self, date: GameDate) -> Value {
        let events = self.day(date).map(|d| d.events.clone()).unwrap_or_default();
        // Answered at 20:00 UTC on the date, so answers are the same on every run.
        let answered = date.naive().and_hms_opt(20, 0, 0).unwrap_or_default();
        json!({
            "_parameters": {"sport": "NBA", "season": null, "doubleheader": null, "week": null,
                            "date": date.to_string(), "start": null, "season_type": null,
                            "direction": "asc", "status": null, "end": null, "comp_id": null,
                            "event_id": null, "event_slug": null, "team_id": null,
                            "lineups": "true", "park_factors": "true", "officials": "false",
                            "max_events_per_sport": null},
            "events": events,
            "ts": answered.and_utc().timestamp(),
            "utc": answered.format("%Y-%m-%d %H:%M:%S").to_string(),
        })
    }

    /// One `/offers` page for a market id and event ids: offers of those events, `limit` per
    /// page, `_pagination {page, limit, total_pages, total_items}`, `markets`, `_parameters`.
    /// Unknown market id → `None` (the server answers 400). Page 0 is read as page 1.
    pub fn offers_page(
        &self,
        market_id: u32,
        event_ids: &[u64],
        page: u32,
        limit: u32,
    ) -> Option<Value> {
        let market = MarketType::ALL.into_iter().find(|m| m.id() == market_id)?;
        let (page, limit) = (page.max(1), limit.max(1));
        let wanted: HashSet<u64> = event_ids.iter().copied().collect();
        let mut dates: Vec<GameDate> = wanted
            .iter()
            .filter_map(|id| self.event_dates.get(id).copied())
            .collect();
        dates.sort();
        dates.dedup();
        let matching: Vec<&Value> = dates
            .iter()
            .filter_map(|d| self.days.get(d)?.offers.get(&market))
            .flatten()
            .filter(|o| {
                o.get("event_id")
                    .and_then(as_id)
                    .is_some_and(|e| wanted.contains(&e))
            })
            .collect();
        let total_items = matching.len();
        let total_pages = total_items.div_ceil(limit as usize);
        let start = (page as usize - 1).saturating_mul(limit as usize);
        let offers: Vec<Value> = matching
            .into_iter()
            .skip(start)
            .take(limit as usize)
            .cloned()
            .collect();
        let joined: Vec<String> = event_ids.iter().map(u64::to_string).collect();
        Some(json!({
            "_parameters": {"sport": "NBA", "market_id": market_id.to_string(),
                            "event_id": joined.join(":"), "book_id": "null",
                            "limit": limit.to_string(), "page": page.to_string(),
                            "location": "ALL", "live": "false"},
            "_pagination": {"page": page, "limit": limit, "total_pages": total_pages,
                            "total_items": total_items},
            "offers": offers,
            "markets": [{"id": market_id, "sport": "NBA", "name": market.market_name(),
                         "label": market.as_str(), "category": "player-props",
                         "type": "over-under"}],
        }))
    }

    /// How many offers a day holds for a market (for assertions).
    pub fn offer_count(&self, date: GameDate, market: MarketType) -> usize {
        self.day(date)
            .and_then(|d| d.offers.get(&market))
            .map_or(0, Vec::len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bettingpros::{
        events_file, parse_events, parse_offers_page, props_file, transform_offers,
        validate_events_file, validate_props_file, PropsFileInput, LIMIT,
    };

    fn date(s: &str) -> GameDate {
        s.parse().unwrap()
    }

    fn ten_games() -> Catalogue {
        Catalogue::synthetic(&[(date("2026-01-14"), 10), (date("2026-01-15"), 0)], 7)
    }

    fn ids(day: &SimDay) -> Vec<u64> {
        day.events.iter().filter_map(|e| as_id(&e["id"])).collect()
    }

    /// Every offer of a market, fetched page by page as the scraper does.
    fn all_pages(c: &Catalogue, market: MarketType, events: &[u64]) -> (Vec<Value>, u32) {
        let mut offers = Vec::new();
        let mut page = 1;
        loop {
            let body = c.offers_page(market.id(), events, page, LIMIT).unwrap();
            let parsed = parse_offers_page(&body, page).unwrap();
            offers.extend(parsed.offers);
            if page >= parsed.total_pages {
                return (offers, parsed.total_pages);
            }
            page += 1;
        }
    }

    #[test]
    fn the_same_seed_gives_the_same_catalogue() {
        let (a, b) = (ten_games(), ten_games());
        let d = date("2026-01-14");
        assert_eq!(a.day(d), b.day(d));
        assert_eq!(a.events_answer(d), b.events_answer(d));
        let other = Catalogue::synthetic(&[(d, 10)], 8);
        assert_ne!(a.day(d), other.day(d));
    }

    #[test]
    fn a_day_of_ten_games_looks_like_the_real_api() {
        let c = ten_games();
        let day = c.day(date("2026-01-14")).unwrap();
        assert_eq!(day.events.len(), 10);
        let event = &day.events[0];
        for key in [
            "sr_id",
            "scheduled",
            "home",
            "visitor",
            "lineups",
            "participants",
            "venue",
        ] {
            assert!(!event[key].is_null(), "{key}");
        }
        let per_game = |m| c.offer_count(date("2026-01-14"), m) as f64 / 10.0;
        assert!((10.0..=12.0).contains(&per_game(MarketType::Points)));
        assert!((4.0..=6.0).contains(&per_game(MarketType::Steals)));
        assert!((4.0..=6.0).contains(&per_game(MarketType::Blocks)));
        for offers in day.offers.values() {
            for offer in offers {
                let sides = offer["selections"].as_array().unwrap();
                assert_eq!(sides.len(), 2);
                for side in sides {
                    let books = side["books"].as_array().unwrap();
                    assert!((5..=9).contains(&books.len()), "{}", books.len());
                    assert!(books
                        .iter()
                        .all(|b| b["lines"].as_array().unwrap().len() == 1));
                    let best = books
                        .iter()
                        .filter(|b| b["lines"][0]["best"] == true)
                        .count();
                    assert_eq!(best, 1);
                }
            }
        }
    }

    #[test]
    fn event_ids_are_unique_and_player_ids_stable() {
        let c = Catalogue::synthetic(&[(date("2026-01-14"), 15), (date("2026-01-15"), 15)], 1);
        let mut all: Vec<u64> = ids(c.day(date("2026-01-14")).unwrap());
        all.extend(ids(c.day(date("2026-01-15")).unwrap()));
        let distinct: HashSet<u64> = all.iter().copied().collect();
        assert_eq!((all.len(), distinct.len()), (30, 30));
        let mut seen: HashMap<String, u64> = HashMap::new();
        for d in ["2026-01-14", "2026-01-15"] {
            for offer in c.day(date(d)).unwrap().offers.values().flatten() {
                let name = offer["participants"][0]["name"]
                    .as_str()
                    .unwrap()
                    .to_string();
                let id = offer["player_id"].as_u64().unwrap();
                assert_eq!(*seen.entry(name).or_insert(id), id);
            }
        }
    }

    #[test]
    fn off_days_and_unknown_dates_have_zero_events() {
        let c = ten_games();
        for d in ["2026-01-15", "2026-03-01"] {
            let answer = parse_events(&c.events_answer(date(d))).unwrap();
            assert!(answer.events.is_empty(), "{d}");
        }
        assert_eq!(c.offer_count(date("2026-01-15"), MarketType::Points), 0);
    }

    #[test]
    fn pagination_covers_every_offer_exactly_once() {
        let c = ten_games();
        let d = date("2026-01-14");
        let events = ids(c.day(d).unwrap());
        for market in MarketType::ALL {
            let (offers, total_pages) = all_pages(&c, market, &events);
            let expected = c.offer_count(d, market);
            assert_eq!(offers.len(), expected, "{market}");
            assert_eq!(total_pages as usize, expected.div_ceil(LIMIT as usize));
            let distinct: HashSet<u64> = offers.iter().filter_map(|o| o["id"].as_u64()).collect();
            assert_eq!(distinct.len(), expected, "{market}");
        }
        let beyond = c.offers_page(156, &events, 99, LIMIT).unwrap();
        assert_eq!(beyond["offers"], json!([]));
    }

    #[test]
    fn offers_are_limited_to_the_events_asked_for() {
        let c = ten_games();
        let events = ids(c.day(date("2026-01-14")).unwrap());
        let (offers, _) = all_pages(&c, MarketType::Points, &events[..1]);
        assert!((10..=12).contains(&offers.len()), "{}", offers.len());
        assert!(offers.iter().all(|o| o["event_id"] == events[0]));
        let (none, pages) = all_pages(&c, MarketType::Points, &[1, 2]);
        assert_eq!((none.len(), pages), (0, 0));
    }

    #[test]
    fn an_unknown_market_id_has_no_page() {
        assert!(ten_games().offers_page(999, &[1], 1, LIMIT).is_none());
    }

    #[test]
    fn a_synthetic_day_transforms_without_losses_into_valid_files() {
        let c = ten_games();
        let d = date("2026-01-14");
        let answer = parse_events(&c.events_answer(d)).unwrap();
        validate_events_file(&events_file(d, "20260114_180000", &answer)).unwrap();
        let events = answer.event_ids();
        for market in MarketType::ALL {
            let (offers, total_pages) = all_pages(&c, market, &events);
            let t = transform_offers(market, &offers);
            assert_eq!((t.failed_offers, t.dropped_lines), (0, 0), "{market}");
            assert_eq!(t.props.len(), offers.len());
            let file = props_file(&PropsFileInput {
                date: d,
                market,
                event_ids: &events,
                timestamp: "20260114_180000",
                params: json!({}),
                pages_fetched: total_pages,
                total_pages,
                total_items: Some(offers.len() as u64),
                offers_received: offers.len() as u64,
                transformed: &t,
            });
            validate_props_file(&file).unwrap();
        }
    }

    #[test]
    fn an_inserted_day_replaces_the_synthetic_one() {
        let mut c = ten_games();
        let d = date("2026-01-14");
        let old = ids(c.day(d).unwrap());
        c.insert(
            d,
            SimDay {
                events: vec![json!({"id": 42})],
                offers: BTreeMap::new(),
            },
        );
        assert_eq!(ids(c.day(d).unwrap()), [42]);
        assert_eq!(
            c.offers_page(156, &old, 1, LIMIT).unwrap()["_pagination"]["total_items"],
            0
        );
    }
}
