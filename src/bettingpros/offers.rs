//! One `/offers` page: its pagination and its raw offers.

use serde_json::Value;

use super::{as_id, kind_of, PayloadError};

/// A parsed `/offers` page. The offers stay raw; [`super::transform_offers`] reads them.
#[derive(Debug, Clone, PartialEq)]
pub struct OffersPage {
    /// The `_parameters` echo (`null` when absent).
    pub params: Value,
    pub page: u32,
    pub total_pages: u32,
    /// Absent on some answers.
    pub total_items: Option<u64>,
    pub offers: Vec<Value>,
}

/// `_pagination.page` and `_pagination.total_pages` are required (numbers or numeric
/// strings), `_pagination.total_items` is optional, `offers` must be a list. The page must be
/// the one asked for.
pub fn parse_offers_page(json: &Value, requested_page: u32) -> Result<OffersPage, PayloadError> {
    let place = format!("offers page {requested_page}");
    let Value::Object(body) = json else {
        return Err(PayloadError::new(
            place,
            format!("the body is {}, not an object", kind_of(json)),
        ));
    };
    let pagination = body.get("_pagination").unwrap_or(&Value::Null);
    if !pagination.is_object() {
        return Err(PayloadError::missing(place, "_pagination"));
    }
    let number = |field: &str| -> Result<Option<u64>, PayloadError> {
        match pagination.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => as_id(v).map(Some).ok_or_else(|| {
                PayloadError::new(
                    &place,
                    format!("\"_pagination.{field}\" {v} is not a whole number"),
                )
            }),
        }
    };
    let required = |field: &str| -> Result<u32, PayloadError> {
        let n = number(field)?
            .ok_or_else(|| PayloadError::missing(&place, &format!("_pagination.{field}")))?;
        u32::try_from(n).map_err(|_| {
            PayloadError::new(&place, format!("\"_pagination.{field}\" {n} is too large"))
        })
    };
    let page = required("page")?;
    let total_pages = required("total_pages")?;
    let total_items = number("total_items")?;
    if page != requested_page {
        return Err(PayloadError::new(
            &place,
            format!("\"_pagination.page\" is {page}, not the page asked for"),
        ));
    }
    let offers = match body.get("offers") {
        Some(Value::Array(offers)) => offers.clone(),
        None | Some(Value::Null) => return Err(PayloadError::missing(place, "offers")),
        Some(other) => {
            return Err(PayloadError::new(
                place,
                format!("\"offers\" is {}, not a list", kind_of(other)),
            ))
        }
    };
    Ok(OffersPage {
        params: body.get("_parameters").cloned().unwrap_or(Value::Null),
        page,
        total_pages,
        total_items,
        offers,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bettingpros::{rows_in_props_file, transform_offers};
    use crate::market::MarketType;
    use serde_json::json;

    fn fixture(name: &str) -> Value {
        let path = format!("{}/fixtures/bettingpros/{name}", env!("CARGO_MANIFEST_DIR"));
        let raw = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        serde_json::from_str(&raw).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    /// Parses a fixture page and transforms it: (page, props, failed offers, dropped lines,
    /// rows Phase 2 would write).
    fn counts(name: &str, page: u32) -> (OffersPage, usize, u64, u64, u64) {
        let parsed = parse_offers_page(&fixture(name), page).unwrap();
        let t = transform_offers(MarketType::Points, &parsed.offers);
        let rows = rows_in_props_file(&json!({ "props": t.props })).unwrap();
        (
            parsed,
            t.props.len(),
            t.failed_offers,
            t.dropped_lines,
            rows,
        )
    }

    #[test]
    fn a_typical_page_keeps_every_line_of_every_book() {
        let (page, props, failed, dropped, rows) = counts("offers_page_typical.json", 2);
        assert_eq!(
            (page.page, page.total_pages, page.total_items),
            (2, 3, Some(23))
        );
        assert_eq!(page.offers.len(), 3);
        assert_eq!((props, failed, dropped), (3, 0, 0));
        assert_eq!(rows, 22);
        assert_eq!(page.params["market_id"], "156");
    }

    #[test]
    fn string_line_ids_fixture_keeps_them() {
        let (page, props, failed, dropped, rows) = counts("offers_page_string_line_ids.json", 1);
        assert_eq!((props, failed, dropped, rows), (2, 0, 0, 8));
        let t = transform_offers(MarketType::Points, &page.offers);
        let ids: Vec<&Value> = t.props[0]["over"]["sportsbooks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| &b["line_id"])
            .collect();
        assert!(
            ids[0].as_str().is_some_and(|s| s.starts_with("fd-12-")),
            "{ids:?}"
        );
        assert!(ids[1].is_u64(), "{ids:?}");
    }

    #[test]
    fn missing_fields_fixture_counts_failed_offers_and_dropped_lines() {
        let (_, props, failed, dropped, rows) = counts("offers_page_missing_fields.json", 1);
        assert_eq!((props, failed, dropped, rows), (2, 4, 3, 5));
    }

    #[test]
    fn a_page_without_total_items_parses() {
        let (page, props, failed, dropped, rows) = counts("offers_page_no_total_items.json", 1);
        assert_eq!(page.total_items, None);
        assert_eq!(page.total_pages, 1);
        assert_eq!((props, failed, dropped, rows), (2, 0, 0, 6));
    }

    #[test]
    fn other_selections_fixture_ignores_them() {
        let (_, props, failed, dropped, rows) = counts("offers_page_other_selections.json", 1);
        assert_eq!((props, failed, dropped, rows), (2, 0, 0, 5));
    }

    #[test]
    fn an_empty_last_page_parses_to_no_offers() {
        let (page, props, failed, dropped, rows) = counts("offers_last_page_empty.json", 4);
        assert_eq!((page.page, page.total_pages), (4, 4));
        assert_eq!((props, failed, dropped, rows), (0, 0, 0, 0));
    }

    #[test]
    fn missing_pagination_is_named() {
        let cases = [
            (
                json!({"offers": []}),
                "offers page 3: \"_pagination\" is missing",
            ),
            (
                json!({"_pagination": {"page": 3}, "offers": []}),
                "offers page 3: \"_pagination.total_pages\" is missing",
            ),
            (
                json!({"_pagination": {"page": 3, "total_pages": "x"}, "offers": []}),
                "\"_pagination.total_pages\" \"x\" is not a whole number",
            ),
            (
                json!({"_pagination": {"page": 3, "total_pages": 5}}),
                "\"offers\" is missing",
            ),
            (
                json!({"_pagination": {"page": 3, "total_pages": 5}, "offers": {}}),
                "\"offers\" is an object, not a list",
            ),
            (json!("Forbidden"), "the body is a string"),
        ];
        for (body, says) in cases {
            let err = parse_offers_page(&body, 3).unwrap_err().to_string();
            assert!(err.contains(says), "{err}");
        }
    }

    #[test]
    fn a_page_other_than_the_one_asked_for_is_an_error() {
        let body = json!({"_pagination": {"page": 1, "total_pages": 5}, "offers": []});
        let err = parse_offers_page(&body, 2).unwrap_err().to_string();
        assert!(err.contains("\"_pagination.page\" is 1"), "{err}");
    }

    #[test]
    fn numeric_strings_in_pagination_are_accepted() {
        let body = json!({"_pagination": {"page": "2", "total_pages": "5", "total_items": "41"},
                          "offers": []});
        let page = parse_offers_page(&body, 2).unwrap();
        assert_eq!((page.total_pages, page.total_items), (5, Some(41)));
    }
}
