//! Offers → props: one prop per offer, its over and under sides, every line of every book.
//!
//! Phase 2 rejects a whole file over one null in a REQUIRED column (`event_id`, `offer_id`,
//! `player_id`, `player_name`, `player_team`, `book_id`, `line`, `odds`, `active`, `best`,
//! `updated`), so an offer lacking one of its own is left out and counted in `failed_offers`,
//! and a line lacking one of its own is dropped and counted in `dropped_lines`.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

use super::{as_id, present};
use crate::market::MarketType;

/// Fields a sportsbook line must carry, as the API names them.
const LINE_REQUIRED: [&str; 5] = ["line", "cost", "active", "best", "updated"];

/// What became of a list of offers.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Transformed {
    pub props: Vec<Value>,
    /// Offers left out for lacking an id, an event id, a player id, a player name or team.
    pub failed_offers: u64,
    /// Lines left out for lacking a line, odds, flags, a timestamp or their book's id.
    pub dropped_lines: u64,
}

impl Transformed {
    /// Distinct player names among the props.
    pub fn players_count(&self) -> usize {
        self.by_player().len()
    }

    /// `{name: {"team": …, "props_count": n}}`, the team being that of the player's first prop.
    pub fn players_summary(&self) -> Value {
        let summary: Map<String, Value> = self
            .by_player()
            .into_iter()
            .map(|(name, (team, count))| {
                (
                    name.to_string(),
                    json!({"team": team, "props_count": count}),
                )
            })
            .collect();
        Value::Object(summary)
    }

    fn by_player(&self) -> BTreeMap<&str, (&Value, u64)> {
        let mut players: BTreeMap<&str, (&Value, u64)> = BTreeMap::new();
        for prop in &self.props {
            if let Some(name) = prop.get("player_name").and_then(Value::as_str) {
                let team = prop.get("player_team").unwrap_or(&Value::Null);
                players.entry(name).or_insert((team, 0)).1 += 1;
            }
        }
        players
    }
}

/// A sportsbook's name by its BettingPros id (CONTRACTS.md §2).
pub fn book_name(id: i64) -> String {
    let known = match id {
        0 => "BettingPros Consensus",
        2 => "SuperBook",
        10 => "FanDuel",
        12 => "DraftKings",
        13 => "Caesars",
        14 => "PointsBet",
        15 => "SugarHouse",
        18 => "BetRivers",
        19 => "BetMGM",
        20 => "FOX Bet",
        21 => "BetAmerica",
        22 => "Oregon Lottery",
        24 => "bet365",
        25 => "WynnBET",
        26 => "Tipico",
        27 => "PartyCasino",
        28 => "UniBet",
        29 => "TwinSpires",
        30 => "Betway",
        31 => "Fubo",
        33 => "Fanatics",
        36 => "ESPN Bet",
        37 => "Hard Rock",
        39 => "Sleeper",
        45 => "PropSwap",
        49 => "Fliff",
        60 => "PrizePicks",
        63 => "Underdog",
        other => return format!("Unknown Book {other}"),
    };
    known.to_string()
}

/// Turns raw offers into props. Offers and lines that Phase 2 could not load are counted and
/// left out; everything else is kept as it came.
pub fn transform_offers(market: MarketType, offers: &[Value]) -> Transformed {
    let mut out = Transformed::default();
    for offer in offers {
        match prop(market, offer, &mut out.dropped_lines) {
            Some(prop) => out.props.push(prop),
            None => out.failed_offers += 1,
        }
    }
    out
}

/// One prop, or `None` when the offer lacks a REQUIRED field.
fn prop(market: MarketType, offer: &Value, dropped_lines: &mut u64) -> Option<Value> {
    let offer_id = present(offer, "id")?;
    let event_id = present(offer, "event_id")?;
    let player_id = present(offer, "player_id")?;
    let participant = offer.get("participants")?.get(0)?;
    let name = non_empty_text(participant.get("name"))?;
    let player = participant.get("player").unwrap_or(&Value::Null);
    let team = non_empty_text(player.get("team"))?;
    let selections = offer
        .get("selections")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    Some(json!({
        "offer_id": offer_id,
        "event_id": event_id,
        "player_id": player_id,
        "player_name": name,
        "player_team": team,
        "player_position": player.get("position").cloned().unwrap_or(Value::Null),
        "market": market.as_str(),
        "market_id": market.id(),
        "over": side(selections, "over", dropped_lines),
        "under": side(selections, "under", dropped_lines),
        "link": offer.get("link").cloned().unwrap_or(Value::Null),
        "active": offer.get("active").cloned().unwrap_or(Value::Null),
    }))
}

fn non_empty_text(value: Option<&Value>) -> Option<&str> {
    value
        .and_then(Value::as_str)
        .filter(|s| !s.trim().is_empty())
}

/// The selection named `which` (`over`/`under`), or `null` when the offer has none.
fn side(selections: &[Value], which: &str, dropped_lines: &mut u64) -> Value {
    let named = |s: &&Value| {
        s.get("selection")
            .and_then(Value::as_str)
            .is_some_and(|n| n.eq_ignore_ascii_case(which))
    };
    let Some(selection) = selections.iter().find(named) else {
        return Value::Null;
    };
    let mut sportsbooks = Vec::new();
    let books = selection.get("books").and_then(Value::as_array);
    for book in books.into_iter().flatten() {
        let book_id = present(book, "id")
            .and_then(as_id)
            .and_then(|id| i64::try_from(id).ok());
        let lines = book.get("lines").and_then(Value::as_array);
        for line in lines.into_iter().flatten() {
            match book_id.filter(|_| LINE_REQUIRED.iter().all(|f| present(line, f).is_some())) {
                Some(book_id) => sportsbooks.push(sportsbook_line(book_id, line)),
                None => *dropped_lines += 1,
            }
        }
    }
    let field = |name: &str| selection.get(name).cloned().unwrap_or(Value::Null);
    json!({
        "selection_id": field("id"),
        "active": field("active"),
        "opening_line": field("opening_line"),
        "sportsbooks": sportsbooks,
    })
}

fn sportsbook_line(book_id: i64, line: &Value) -> Value {
    let field = |name: &str| line.get(name).cloned().unwrap_or(Value::Null);
    json!({
        "book_id": book_id,
        "book_name": book_name(book_id),
        "line_id": field("id"),
        "line": field("line"),
        "odds": field("cost"),
        "updated": field("updated"),
        "active": field("active"),
        "best": field("best"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(id: Value, cost: Value) -> Value {
        json!({"id": id, "line": 26.5, "cost": cost, "updated": "2026-01-14 18:01:09",
               "active": true, "best": false})
    }

    fn selection(name: &str, books: Value) -> Value {
        json!({"id": 987, "selection": name, "active": true,
               "opening_line": {"line": 25.5, "cost": -115, "book_id": 12,
                                "created": "2026-01-14 14:02:11"},
               "books": books})
    }

    fn offer(selections: Value) -> Value {
        json!({"id": 123456, "event_id": 30001, "player_id": 3473,
               "participants": [{"name": "Trae Young", "player": {"team": "ATL", "position": "G"}}],
               "selections": selections, "link": "/nba/props/trae-young/points/", "active": true})
    }

    fn one_book(lines: Value) -> Value {
        json!([{"id": 12, "lines": lines}])
    }

    #[test]
    fn an_offer_becomes_a_prop_of_the_contract_shape() {
        let o = offer(json!([selection(
            "over",
            one_book(json!([line(json!(555), json!(-110))]))
        )]));
        let t = transform_offers(MarketType::Points, &[o]);
        assert_eq!((t.failed_offers, t.dropped_lines), (0, 0));
        let expected = json!({
            "offer_id": 123456, "event_id": 30001, "player_id": 3473, "player_name": "Trae Young",
            "player_team": "ATL", "player_position": "G", "market": "points", "market_id": 156,
            "over": {"selection_id": 987, "active": true,
                     "opening_line": {"line": 25.5, "cost": -115, "book_id": 12,
                                      "created": "2026-01-14 14:02:11"},
                     "sportsbooks": [{"book_id": 12, "book_name": "DraftKings", "line_id": 555,
                                      "line": 26.5, "odds": -110, "updated": "2026-01-14 18:01:09",
                                      "active": true, "best": false}]},
            "under": null,
            "link": "/nba/props/trae-young/points/", "active": true});
        assert_eq!(t.props, [expected]);
        assert_eq!(t.players_count(), 1);
        assert_eq!(
            t.players_summary(),
            json!({"Trae Young": {"team": "ATL", "props_count": 1}})
        );
    }

    #[test]
    fn offer_without_player_goes_to_failed_offers() {
        let good = offer(json!([]));
        let mut broken = Vec::new();
        for field in ["id", "event_id", "player_id", "participants"] {
            let mut o = good.clone();
            o.as_object_mut().unwrap().remove(field);
            broken.push(o);
        }
        let mut no_team = good.clone();
        no_team["participants"][0]["player"]["team"] = Value::Null;
        let mut blank_name = good.clone();
        blank_name["participants"][0]["name"] = json!(" ");
        broken.extend([no_team, blank_name, json!("not an offer")]);
        let t = transform_offers(MarketType::Points, &broken);
        assert_eq!(t.failed_offers, 7);
        assert!(t.props.is_empty());
    }

    #[test]
    fn line_without_odds_is_dropped_and_counted() {
        let mut lines = Vec::new();
        for field in LINE_REQUIRED {
            let mut l = line(json!(1), json!(-110));
            l[field] = Value::Null;
            lines.push(l);
        }
        lines.push(line(json!(2), json!(-105)));
        let books = json!([{"id": 12, "lines": lines},
                           {"lines": [line(json!(3), json!(-110))]},
                           {"id": "x", "lines": [line(json!(4), json!(-110))]}]);
        let t = transform_offers(
            MarketType::Points,
            &[offer(json!([selection("under", books)]))],
        );
        assert_eq!(t.failed_offers, 0);
        assert_eq!(t.dropped_lines, 7);
        let kept = t.props[0]["under"]["sportsbooks"].as_array().unwrap();
        assert_eq!(kept.len(), 1);
        assert_eq!(kept[0]["odds"], -105);
    }

    #[test]
    fn string_line_ids_are_kept() {
        let lines = json!([
            line(json!("a1b2"), json!(-110)),
            line(json!(77), json!(-110))
        ]);
        let t = transform_offers(
            MarketType::Points,
            &[offer(json!([selection("over", one_book(lines))]))],
        );
        let books = &t.props[0]["over"]["sportsbooks"];
        assert_eq!(books[0]["line_id"], "a1b2");
        assert_eq!(books[1]["line_id"], 77);
    }

    #[test]
    fn other_selections_are_ignored() {
        let one = || one_book(json!([line(json!(1), json!(-110))]));
        let sels = json!([selection("yes", one()), selection("Over", one()),
                          selection("under", one()), {"books": one()}]);
        let t = transform_offers(MarketType::Blocks, &[offer(sels)]);
        assert_eq!(t.dropped_lines, 0);
        let p = &t.props[0];
        assert_eq!(p["over"]["sportsbooks"].as_array().unwrap().len(), 1);
        assert_eq!(p["under"]["sportsbooks"].as_array().unwrap().len(), 1);
        assert_eq!(p["market"], "blocks");
        assert_eq!(p["market_id"], 152);
    }

    #[test]
    fn missing_side_is_null() {
        let t = transform_offers(MarketType::Points, &[offer(json!([])), offer(Value::Null)]);
        for p in &t.props {
            assert_eq!(p["over"], Value::Null);
            assert_eq!(p["under"], Value::Null);
        }
        assert_eq!(t.props.len(), 2);
    }

    #[test]
    fn every_line_of_every_book_is_kept() {
        let lines = json!([line(json!(1), json!(-110)), line(json!(2), json!(-120))]);
        let books = json!([{"id": 12, "lines": lines}, {"id": 99, "lines": lines}]);
        let t = transform_offers(
            MarketType::Points,
            &[offer(json!([selection("over", books)]))],
        );
        let kept = t.props[0]["over"]["sportsbooks"].as_array().unwrap();
        assert_eq!(kept.len(), 4);
        assert_eq!(kept[3]["book_name"], "Unknown Book 99");
    }

    #[test]
    fn players_are_counted_by_name() {
        let mut other = offer(json!([]));
        other["participants"][0]["name"] = json!("Luka Doncic");
        other["participants"][0]["player"]["team"] = json!("DAL");
        let t = transform_offers(
            MarketType::Points,
            &[offer(json!([])), offer(json!([])), other],
        );
        assert_eq!(t.players_count(), 2);
        let s = t.players_summary();
        assert_eq!(s["Trae Young"]["props_count"], 2);
        assert_eq!(s["Luka Doncic"]["team"], "DAL");
    }

    #[test]
    fn book_names_follow_the_contract_table() {
        assert_eq!(book_name(0), "BettingPros Consensus");
        assert_eq!(book_name(12), "DraftKings");
        assert_eq!(book_name(36), "ESPN Bet");
        assert_eq!(book_name(63), "Underdog");
        assert_eq!(book_name(1), "Unknown Book 1");
    }
}
