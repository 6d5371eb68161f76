//! BigQuery's query answers on the wire, and how they become a [`QueryResult`]: string cells
//! by column name, errors reported inside an answer, and a check that every row was read.

use serde::Deserialize;

use super::error::{WarehouseError, WarehouseFailure};

/// A finished query: column names from `schema.fields`, cells as BigQuery sends them (strings,
/// `None` for NULL).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct QueryResult {
    pub fields: Vec<String>,
    pub rows: Vec<Vec<Option<String>>>,
}

impl QueryResult {
    /// The position of a column, by name.
    pub fn column(&self, name: &str) -> Option<usize> {
        self.fields.iter().position(|f| f == name)
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Answer {
    pub(super) job_reference: Option<JobReference>,
    pub(super) job_complete: Option<bool>,
    pub(super) schema: Option<Schema>,
    pub(super) rows: Option<Vec<Row>>,
    pub(super) total_rows: Option<String>,
    pub(super) page_token: Option<String>,
    pub(super) errors: Option<Vec<ErrorProto>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct JobReference {
    pub(super) job_id: String,
    pub(super) location: Option<String>,
}

#[derive(Deserialize)]
pub(super) struct Schema {
    #[serde(default)]
    pub(super) fields: Vec<Field>,
}

#[derive(Deserialize)]
pub(super) struct Field {
    pub(super) name: String,
}

#[derive(Deserialize)]
pub(super) struct Row {
    pub(super) f: Vec<Cell>,
}

#[derive(Deserialize)]
pub(super) struct Cell {
    pub(super) v: serde_json::Value,
}

#[derive(Deserialize)]
pub(super) struct ErrorProto {
    pub(super) reason: Option<String>,
    pub(super) message: Option<String>,
}

pub(super) fn bad(what: impl Into<String>) -> WarehouseError {
    WarehouseError::new(WarehouseFailure::BadAnswer, "", what)
}

pub(super) fn query_failed(job_id: &str, errors: &[ErrorProto]) -> WarehouseError {
    let said: Vec<String> = errors
        .iter()
        .map(|e| {
            format!(
                "{}: {}",
                e.reason.as_deref().unwrap_or("error"),
                e.message.as_deref().unwrap_or("")
            )
        })
        .collect();
    WarehouseError::new(
        WarehouseFailure::QueryFailed,
        "",
        format!("job {job_id}: {}", said.join("; ")),
    )
}

/// Appends a complete page's rows, taking the column names from the first page.
pub(super) fn absorb(into: &mut QueryResult, answer: &mut Answer) -> Result<(), WarehouseError> {
    if into.fields.is_empty() {
        let schema = answer
            .schema
            .take()
            .ok_or_else(|| bad("a complete answer without a schema"))?;
        into.fields = schema.fields.into_iter().map(|f| f.name).collect();
    }
    for row in answer.rows.take().unwrap_or_default() {
        if row.f.len() != into.fields.len() {
            return Err(bad(format!(
                "a row of {} cells for {} columns",
                row.f.len(),
                into.fields.len()
            )));
        }
        let cells = row.f.into_iter().map(|c| match c.v {
            serde_json::Value::Null => Ok(None),
            serde_json::Value::String(s) => Ok(Some(s)),
            other => Err(bad(format!("a cell that is not a plain value: {other}"))),
        });
        into.rows.push(cells.collect::<Result<_, _>>()?);
    }
    Ok(())
}

/// All pages read must add up to `totalRows`: a short read is an error, never a smaller answer.
pub(super) fn check_total(
    result: &QueryResult,
    total_rows: Option<&str>,
) -> Result<(), WarehouseError> {
    let Some(total) = total_rows else {
        return Ok(());
    };
    match total.parse::<usize>() {
        Ok(n) if n == result.rows.len() => Ok(()),
        _ => Err(bad(format!(
            "read {} rows but BigQuery counted {total}",
            result.rows.len()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn answer(rows: Value) -> Answer {
        serde_json::from_value(json!({"jobComplete": true, "totalRows": "2", "rows": rows,
            "schema": {"fields": [{"name": "a"}, {"name": "b"}]}}))
        .unwrap()
    }

    #[test]
    fn cells_are_strings_or_null_and_a_short_read_is_an_error() {
        let mut got = QueryResult::default();
        absorb(
            &mut got,
            &mut answer(json!([{"f": [{"v": "1"}, {"v": null}]}])),
        )
        .unwrap();
        assert_eq!(got.rows, vec![vec![Some("1".to_string()), None]]);
        let short = check_total(&got, Some("2")).unwrap_err();
        assert_eq!(short.failure, WarehouseFailure::BadAnswer);
        assert!(short.detail.contains("read 1 rows"), "{short}");
    }

    #[test]
    fn ragged_rows_and_nested_cells_are_bad_answers() {
        for rows in [
            json!([{"f": [{"v": "1"}]}]),
            json!([{"f": [{"v": "1"}, {"v": [1]}]}]),
        ] {
            let err = absorb(&mut QueryResult::default(), &mut answer(rows)).unwrap_err();
            assert_eq!(err.failure, WarehouseFailure::BadAnswer);
        }
    }
}
