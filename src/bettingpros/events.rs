//! The `/events` answer: parsing it, and the events file written from it.

use std::collections::BTreeSet;

use serde_json::{json, Map, Value};

use super::envelope::Envelope;
use super::{as_id, kind_of, present, PayloadError};
use crate::calendar::GameDate;

/// The parts of an `/events` answer that are used: the parameter echo and the events, each
/// with a valid id. An id seen twice is kept once (the first time).
#[derive(Debug, Clone, PartialEq)]
pub struct EventsAnswer {
    /// The `_parameters` echo (`null` when absent).
    pub params: Value,
    pub events: Vec<Value>,
}

/// Fields of an event copied to the events file, in the file's names (`visitor` → `away`).
const KEPT: [(&str, &str); 13] = [
    ("sr_id", "sr_id"),
    ("home", "home"),
    ("away", "visitor"),
    ("sport", "sport"),
    ("scheduled", "scheduled"),
    ("season", "season"),
    ("season_type", "season_type"),
    ("status", "status"),
    ("event_name", "event_name"),
    ("link", "link"),
    ("series_summary", "series_summary"),
    ("venue", "venue"),
    ("popularity", "popularity"),
];

const PLACE: &str = "events answer";

/// The body must be an object whose `events` is a list of objects, each with an `id` that is a
/// number or a numeric string. Zero events is a valid answer: no games that day.
pub fn parse_events(json: &Value) -> Result<EventsAnswer, PayloadError> {
    let Value::Object(body) = json else {
        return Err(PayloadError::new(
            PLACE,
            format!("the body is {}, not an object", kind_of(json)),
        ));
    };
    let list = match body.get("events") {
        Some(Value::Array(list)) => list,
        None | Some(Value::Null) => return Err(PayloadError::missing(PLACE, "events")),
        Some(other) => {
            return Err(PayloadError::new(
                PLACE,
                format!("\"events\" is {}, not a list", kind_of(other)),
            ))
        }
    };
    let mut seen = BTreeSet::new();
    let mut events = Vec::with_capacity(list.len());
    for (i, event) in list.iter().enumerate() {
        let place = format!("{PLACE}: events[{i}]");
        if !event.is_object() {
            return Err(PayloadError::new(
                place,
                format!("the event is {}, not an object", kind_of(event)),
            ));
        }
        let id = event_id(event).map_err(|problem| PayloadError::new(place, problem))?;
        if seen.insert(id) {
            events.push(event.clone());
        }
    }
    Ok(EventsAnswer {
        params: body.get("_parameters").cloned().unwrap_or(Value::Null),
        events,
    })
}

fn event_id(event: &Value) -> Result<u64, String> {
    match present(event, "id") {
        None => Err("\"id\" is missing".into()),
        Some(id) => as_id(id).ok_or_else(|| format!("\"id\" {id} is not a number")),
    }
}

impl EventsAnswer {
    /// The events' ids, in the answer's order.
    pub fn event_ids(&self) -> Vec<u64> {
        self.events
            .iter()
            .filter_map(|e| e.get("id").and_then(as_id))
            .collect()
    }
}

/// The events file of CONTRACTS.md §2: events keyed by id string, `visitor` renamed `away`,
/// lineups, participants, results, broadcasts and the rest dropped.
pub fn events_file(date: GameDate, timestamp: &str, answer: &EventsAnswer) -> Value {
    let mut events = Map::new();
    for event in &answer.events {
        let Some(id) = event.get("id").and_then(as_id) else {
            continue; // parse_events lets none through; a hand-made answer might
        };
        let mut kept = Map::new();
        kept.insert("id".into(), Value::String(id.to_string()));
        for (name, from) in KEPT {
            kept.insert(name.into(), event.get(from).cloned().unwrap_or(Value::Null));
        }
        events.insert(id.to_string(), Value::Object(kept));
    }
    json!({
        "date": date.to_string(),
        "sport": "NBA",
        "timestamp": timestamp,
        "source": "bettingpros_api",
        "api_response_params": answer.params,
        "event_count": events.len(),
        "rowCount": events.len(),
        "events": events,
    })
}

/// Checks an events file before it is written: the envelope is whole, the counts agree, and
/// every event sits under its own id.
pub fn validate_events_file(file: &Value) -> Result<(), PayloadError> {
    let place = "events file";
    let envelope = Envelope::check(file, place)?;
    let events = match file.get("events") {
        Some(Value::Object(events)) => events,
        _ => return Err(PayloadError::new(place, "\"events\" is not an object")),
    };
    for field in ["event_count", "rowCount"] {
        let count = envelope.count(field)?;
        if count != events.len() as u64 {
            return Err(PayloadError::new(
                place,
                format!(
                    "\"{field}\" is {count} but there are {} events",
                    events.len()
                ),
            ));
        }
    }
    for (key, event) in events {
        let id = event.get("id").and_then(Value::as_str);
        if id != Some(key.as_str()) || as_id(&Value::String(key.clone())).is_none() {
            return Err(PayloadError::new(
                format!("{place}: events[{key:?}]"),
                "the key is not a numeric id equal to the event's \"id\" string",
            ));
        }
    }
    Ok(())
}

/// The number of events in a stored events file, once it passes the checks a file passes
/// before it is written.
pub fn events_in_file(file: &Value) -> Result<u64, PayloadError> {
    validate_events_file(file)?;
    Ok(file["events"].as_object().map_or(0, |e| e.len() as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    const REAL: &str = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fixtures/bettingpros/real/bp_events_NBA_2021-10-21.json"
    );

    fn date() -> GameDate {
        "2021-10-21".parse().unwrap()
    }

    #[test]
    fn the_real_answer_becomes_the_contract_file() {
        let raw = std::fs::read_to_string(REAL).expect("the real fixture beside the repo");
        let answer = parse_events(&serde_json::from_str(&raw).unwrap()).unwrap();
        assert_eq!(answer.event_ids(), [20879, 20880, 20881]);
        let file = events_file(date(), "20211021_180512", &answer);
        validate_events_file(&file).unwrap();
        assert_eq!(events_in_file(&file), Ok(3));
        assert_eq!(file["event_count"], 3);
        assert_eq!(file["rowCount"], 3);
        assert_eq!(file["date"], "2021-10-21");
        assert_eq!(file["source"], "bettingpros_api");
        assert_eq!(file["api_response_params"]["date"], "2021-10-21");
        let first = &file["events"]["20879"];
        assert_eq!(first["id"], "20879");
        assert_eq!(first["home"], "ATL");
        assert_eq!(first["away"], "DAL");
        assert_eq!(first["venue"]["city"], "Atlanta");
        assert_eq!(first["popularity"], 145);
        let keys: Vec<&str> = first
            .as_object()
            .unwrap()
            .keys()
            .map(|k| k.as_str())
            .collect();
        assert_eq!(keys.len(), 14);
        for gone in [
            "lineups",
            "participants",
            "results",
            "broadcasts",
            "is_free",
            "visitor",
        ] {
            assert!(!keys.contains(&gone), "{gone} kept");
        }
    }

    #[test]
    fn visitor_becomes_away_and_ids_become_strings() {
        let body = json!({"_parameters": {"date": "2021-10-21"},
                          "events": [{"id": "7", "home": "MIA", "visitor": "MIL"}]});
        let file = events_file(date(), "20211021_000000", &parse_events(&body).unwrap());
        let e = &file["events"]["7"];
        assert_eq!(e["id"], "7");
        assert_eq!(e["away"], "MIL");
        assert_eq!(e["venue"], Value::Null);
        assert!(e.get("visitor").is_none());
    }

    #[test]
    fn zero_events_is_a_valid_day_without_games() {
        let answer = parse_events(&json!({"events": []})).unwrap();
        assert!(answer.event_ids().is_empty());
        let file = events_file(date(), "20211021_000000", &answer);
        validate_events_file(&file).unwrap();
        assert_eq!(file["event_count"], 0);
    }

    #[test]
    fn a_body_that_is_not_an_event_list_is_an_error() {
        for (body, says) in [
            (json!([]), "not an object"),
            (json!({"message": "Forbidden"}), "\"events\" is missing"),
            (json!({"events": {"1": {}}}), "not a list"),
        ] {
            let err = parse_events(&body).unwrap_err().to_string();
            assert!(err.contains(says), "{err}");
        }
    }

    #[test]
    fn a_bad_event_is_named_by_its_index() {
        for (events, says) in [
            (json!([{"id": 1}, "x"]), "events[1]: the event is a string"),
            (
                json!([{"id": 1}, {"home": "ATL"}]),
                "events[1]: \"id\" is missing",
            ),
            (
                json!([{"id": "12a"}]),
                "events[0]: \"id\" \"12a\" is not a number",
            ),
        ] {
            let err = parse_events(&json!({ "events": events })).unwrap_err();
            assert!(err.to_string().contains(says), "{err}");
        }
    }

    #[test]
    fn a_repeated_event_is_kept_once() {
        let answer = parse_events(&json!({"events": [{"id": 1}, {"id": "1"}, {"id": 2}]})).unwrap();
        assert_eq!(answer.event_ids(), [1, 2]);
    }

    #[test]
    fn a_file_whose_counts_disagree_is_refused() {
        let answer = parse_events(&json!({"events": [{"id": 1}]})).unwrap();
        let mut file = events_file(date(), "20211021_000000", &answer);
        file["event_count"] = json!(2);
        let err = validate_events_file(&file).unwrap_err().to_string();
        assert!(err.contains("\"event_count\" is 2"), "{err}");
        assert!(
            events_in_file(&file).is_err(),
            "a stored file is checked as it was"
        );
        let mut file = events_file(date(), "2021-10-21", &answer);
        assert!(validate_events_file(&file).is_err(), "bad timestamp");
        file["timestamp"] = json!("20211021_000000");
        file["date"] = Value::Null;
        assert!(validate_events_file(&file).is_err(), "null date");
    }
}
