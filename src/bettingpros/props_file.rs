//! The props file Phase 2 loads: building it, counting the rows it yields, checking it.

use std::collections::BTreeSet;

use serde_json::{json, Value};

use super::envelope::Envelope;
use super::props::Transformed;
use super::{as_id, present, PayloadError};
use crate::calendar::GameDate;
use crate::market::MarketType;

/// Prop fields that are REQUIRED columns in Phase 2's table.
const PROP_REQUIRED: [&str; 5] = [
    "event_id",
    "offer_id",
    "player_id",
    "player_name",
    "player_team",
];
/// Sportsbook-line fields that are REQUIRED columns in Phase 2's table.
const LINE_REQUIRED: [&str; 6] = ["book_id", "line", "odds", "active", "best", "updated"];
const SIDES: [&str; 2] = ["over", "under"];

/// Everything a props file says besides the props themselves.
#[derive(Debug, Clone)]
pub struct PropsFileInput<'a> {
    pub date: GameDate,
    pub market: MarketType,
    pub event_ids: &'a [u64],
    /// The run's `YYYYMMDD_HHMMSS`.
    pub timestamp: &'a str,
    /// The first page's `_parameters` echo.
    pub params: Value,
    pub pages_fetched: u32,
    pub total_pages: u32,
    pub total_items: Option<u64>,
    /// Offers received over all pages, transformed or not.
    pub offers_received: u64,
    pub transformed: &'a Transformed,
}

/// The props file of CONTRACTS.md §2, plus `dropped_lines` and `complete` (false when pages
/// are missing, so a partial file is recognisable from its content alone).
pub fn props_file(input: &PropsFileInput) -> Value {
    let t = input.transformed;
    let event_ids: Vec<String> = input.event_ids.iter().map(u64::to_string).collect();
    json!({
        "date": input.date.to_string(),
        "sport": "NBA",
        "market_id": input.market.id(),
        "market_type": input.market.as_str(),
        "market_name": input.market.market_name(),
        "event_ids": event_ids,
        "timestamp": input.timestamp,
        "source": "bettingpros_api",
        "api_response_params": input.params,
        "pagination_info": {
            "total_offers": input.offers_received,
            "pages_fetched": input.pages_fetched,
            "total_pages": input.total_pages,
            "total_items": input.total_items,
        },
        "complete": input.pages_fetched >= input.total_pages,
        "props_count": t.props.len(),
        "players_count": t.players_count(),
        "failed_offers": t.failed_offers,
        "dropped_lines": t.dropped_lines,
        "players_summary": t.players_summary(),
        "props": t.props,
    })
}

/// The rows Phase 2 writes from a file: one per prop × present side × sportsbook line.
pub fn rows_in_props_file(file: &Value) -> Result<u64, PayloadError> {
    let place = "props file";
    let props = file
        .get("props")
        .and_then(Value::as_array)
        .ok_or_else(|| PayloadError::new(place, "\"props\" is not a list"))?;
    let mut rows = 0;
    for (i, prop) in props.iter().enumerate() {
        for (_, lines) in sides(prop, &format!("{place}: props[{i}]"))? {
            rows += lines.len() as u64;
        }
    }
    Ok(rows)
}

/// The sportsbook lines of each side that is there (not null).
fn sides<'a>(
    prop: &'a Value,
    place: &str,
) -> Result<Vec<(&'static str, &'a [Value])>, PayloadError> {
    let mut found = Vec::new();
    for side in SIDES {
        match prop.get(side) {
            None | Some(Value::Null) => {}
            Some(s) => match s.get("sportsbooks").and_then(Value::as_array) {
                Some(lines) => found.push((side, lines.as_slice())),
                None => {
                    return Err(PayloadError::new(
                        place,
                        format!("\"{side}.sportsbooks\" is not a list"),
                    ))
                }
            },
        }
    }
    Ok(found)
}

/// Checks a props file before it is written: the envelope is whole, the market agrees with
/// itself, the counts agree with the props, and no REQUIRED field is null anywhere.
pub fn validate_props_file(file: &Value) -> Result<(), PayloadError> {
    let place = "props file";
    let env = Envelope::check(file, place)?;
    let market: MarketType = env
        .text("market_type")?
        .parse()
        .map_err(|e| PayloadError::new(place, format!("\"market_type\": {e}")))?;
    if env.count("market_id")? != u64::from(market.id()) {
        return Err(env.wrong(
            "market_id",
            &format!("is not {market}'s id {}", market.id()),
        ));
    }
    if env.text("market_name")? != market.market_name() {
        return Err(env.wrong("market_name", &format!("is not {:?}", market.market_name())));
    }
    for id in env.list("event_ids")? {
        if !id.is_string() || as_id(id).is_none() {
            return Err(env.wrong("event_ids", "holds something that is not a numeric string"));
        }
    }
    check_pagination(&env)?;

    let props = env.list("props")?;
    let props_count = env.count("props_count")?;
    if props_count != props.len() as u64 {
        return Err(env.wrong(
            "props_count",
            &format!("but there are {} props", props.len()),
        ));
    }
    let mut players = BTreeSet::new();
    for (i, prop) in props.iter().enumerate() {
        let at = format!("{place}: props[{i}]");
        for field in PROP_REQUIRED {
            if present(prop, field).is_none() {
                return Err(PayloadError::missing(at, field));
            }
        }
        if prop.get("market").and_then(Value::as_str) != Some(market.as_str()) {
            return Err(PayloadError::new(
                at,
                format!("\"market\" is not {market:?}"),
            ));
        }
        players.insert(prop["player_name"].to_string());
        for (side, lines) in sides(prop, &at)? {
            for (j, line) in lines.iter().enumerate() {
                if let Some(field) = LINE_REQUIRED.iter().find(|f| present(line, f).is_none()) {
                    let at = format!("{at}.{side}.sportsbooks[{j}]");
                    return Err(PayloadError::missing(at, field));
                }
            }
        }
    }
    if env.count("players_count")? != players.len() as u64 {
        let problem = format!("but the props name {} players", players.len());
        return Err(env.wrong("players_count", &problem));
    }
    match env.get("players_summary")? {
        Value::Object(summary) if summary.len() == players.len() => {}
        _ => return Err(env.wrong("players_summary", "does not list each player once")),
    }
    env.count("dropped_lines")?;
    let failed = env.count("failed_offers")?;
    let received = file["pagination_info"]["total_offers"].as_u64();
    if received != Some(props_count + failed) {
        return Err(PayloadError::new(
            place,
            "\"pagination_info.total_offers\" is not props_count + failed_offers",
        ));
    }
    Ok(())
}

fn check_pagination(env: &Envelope) -> Result<(), PayloadError> {
    let info = env.get("pagination_info")?;
    let count = |field: &str| {
        info.get(field).and_then(Value::as_u64).ok_or_else(|| {
            PayloadError::new(
                env.place,
                format!("\"pagination_info.{field}\" is not a count"),
            )
        })
    };
    count("total_offers")?;
    let fetched = count("pages_fetched")?;
    let total = count("total_pages")?;
    if !matches!(info.get("total_items"), Some(Value::Null)) {
        count("total_items")?;
    }
    match env.get("complete")?.as_bool() {
        Some(complete) if complete == (fetched >= total) => Ok(()),
        _ => Err(env.wrong("complete", "does not say whether every page was fetched")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bettingpros::transform_offers;

    const BOOKS: [i64; 5] = [0, 10, 12, 13, 19];

    fn offer(id: u64, name: &str, books: usize) -> Value {
        let lines: Vec<Value> = (0..books)
            .map(|b| {
                json!({"id": b, "line": 20.5, "cost": -110, "updated": "2026-01-14 18:01:09",
                       "active": true, "best": b == 0})
            })
            .collect();
        let books: Vec<Value> = (0..books)
            .map(|b| json!({"id": BOOKS[b % 5], "lines": [lines[b]]}))
            .collect();
        json!({"id": id, "event_id": 30001, "player_id": id + 1000,
               "participants": [{"name": name, "player": {"team": "ATL", "position": "G"}}],
               "selections": [{"selection": "over", "books": books},
                              {"selection": "under", "books": books[..1]}]})
    }

    fn file_from(offers: &[Value], pages_fetched: u32, total_pages: u32) -> Value {
        let transformed = transform_offers(MarketType::Points, offers);
        props_file(&PropsFileInput {
            date: "2026-01-14".parse().unwrap(),
            market: MarketType::Points,
            event_ids: &[30001, 30002],
            timestamp: "20260114_180530",
            params: json!({"market_id": "156"}),
            pages_fetched,
            total_pages,
            total_items: None,
            offers_received: offers.len() as u64,
            transformed: &transformed,
        })
    }

    fn sample() -> Vec<Value> {
        vec![
            offer(1, "Trae Young", 3),
            offer(2, "Trae Young", 1),
            offer(3, "Luka Doncic", 5),
            json!({"id": 4}),
        ]
    }

    #[test]
    fn the_file_has_the_contract_envelope_and_counts() {
        let file = file_from(&sample(), 2, 2);
        validate_props_file(&file).unwrap();
        assert_eq!(file["market_id"], 156);
        assert_eq!(file["market_type"], "points");
        assert_eq!(file["market_name"], "points-by-player");
        assert_eq!(file["event_ids"], json!(["30001", "30002"]));
        assert_eq!(file["source"], "bettingpros_api");
        assert_eq!(
            file["pagination_info"],
            json!({"total_offers": 4, "pages_fetched": 2, "total_pages": 2, "total_items": null})
        );
        assert_eq!(file["props_count"], 3);
        assert_eq!(file["players_count"], 2);
        assert_eq!(file["failed_offers"], 1);
        assert_eq!(file["dropped_lines"], 0);
        assert_eq!(file["complete"], true);
        assert_eq!(file["players_summary"]["Trae Young"]["props_count"], 2);
    }

    #[test]
    fn partial_file_says_it_is_incomplete() {
        let file = file_from(&sample(), 1, 3);
        validate_props_file(&file).unwrap();
        assert_eq!(file["complete"], false);
    }

    #[test]
    fn rows_are_props_times_sides_times_lines() {
        // (3 + 1) + (1 + 1) + (5 + 1); the failed offer yields nothing.
        assert_eq!(rows_in_props_file(&file_from(&sample(), 1, 1)).unwrap(), 12);
        let mut one_sided = file_from(&sample()[..1], 1, 1);
        one_sided["props"][0]["under"] = Value::Null;
        assert_eq!(rows_in_props_file(&one_sided).unwrap(), 3);
        assert_eq!(rows_in_props_file(&file_from(&[], 1, 1)).unwrap(), 0);
        let err = rows_in_props_file(&json!({"props": [{"over": {"sportsbooks": 1}}]}));
        assert!(err.unwrap_err().to_string().contains("props[0]"));
    }

    #[test]
    fn a_null_required_field_anywhere_is_refused_and_located() {
        let cases: [(&[&str], &str); 3] = [
            (
                &["props", "1", "player_team"],
                "props[1]: \"player_team\" is missing",
            ),
            (
                &["props", "2", "over", "sportsbooks", "4", "odds"],
                "props[2].over.sportsbooks[4]: \"odds\" is missing",
            ),
            (&["date"], "\"date\" is missing"),
        ];
        for (path, says) in cases {
            let mut file = file_from(&sample(), 1, 1);
            let mut at = &mut file;
            for step in path {
                at = match step.parse::<usize>() {
                    Ok(i) => &mut at[i],
                    Err(_) => &mut at[*step],
                };
            }
            *at = Value::Null;
            let err = validate_props_file(&file).unwrap_err().to_string();
            assert!(err.contains(says), "{err}");
        }
    }

    #[test]
    fn inconsistent_counts_are_refused() {
        for (field, value) in [
            ("props_count", json!(2)),
            ("players_count", json!(3)),
            ("failed_offers", json!(0)),
            ("complete", json!(false)),
            ("market_id", json!(157)),
            ("timestamp", json!("2026-01-14")),
            ("event_ids", json!([30001])),
        ] {
            let mut file = file_from(&sample(), 1, 1);
            file[field] = value;
            let err = validate_props_file(&file).unwrap_err().to_string();
            assert!(
                err.contains(field) || err.contains("failed_offers"),
                "{field}: {err}"
            );
        }
    }
}
