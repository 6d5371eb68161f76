//! What crosses the database boundary, the same for both backends: a [`Value`] per parameter
//! and a [`Row`] read back by column name. Times are fixed-width RFC 3339 UTC text (so text
//! order is time order), counts are 64-bit integers, names their wire words, JSON its text.

use std::fmt::Display;
use std::str::FromStr;

use chrono::{DateTime, SecondsFormat, Utc};

use super::DbError;

/// One parameter or column value.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    Null,
    Int(i64),
    /// A count: bound as a 64-bit integer; one beyond `i64::MAX` is refused, never clipped.
    Count(u64),
    Real(f64),
    Text(String),
}

impl Value {
    /// The integer to bind, or why it cannot be.
    pub(crate) fn int(&self) -> Result<Option<i64>, String> {
        match self {
            Value::Int(n) => Ok(Some(*n)),
            Value::Count(n) => i64::try_from(*n)
                .map(Some)
                .map_err(|_| format!("the count {n} does not fit a 64-bit integer column")),
            _ => Ok(None),
        }
    }
}

/// A point in time as stored: `2026-01-14T18:05:12.000000Z`, always 27 characters.
pub(crate) fn time_text(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::Text(s.to_string())
    }
}
impl From<String> for Value {
    fn from(s: String) -> Self {
        Value::Text(s)
    }
}
impl From<&String> for Value {
    fn from(s: &String) -> Self {
        Value::Text(s.clone())
    }
}
impl From<i64> for Value {
    fn from(n: i64) -> Self {
        Value::Int(n)
    }
}
impl From<u32> for Value {
    fn from(n: u32) -> Self {
        Value::Int(n.into())
    }
}
impl From<u64> for Value {
    fn from(n: u64) -> Self {
        Value::Count(n)
    }
}
impl From<bool> for Value {
    fn from(b: bool) -> Self {
        Value::Int(b.into())
    }
}
impl From<DateTime<Utc>> for Value {
    fn from(t: DateTime<Utc>) -> Self {
        Value::Text(time_text(t))
    }
}
impl From<&serde_json::Value> for Value {
    fn from(j: &serde_json::Value) -> Self {
        Value::Text(j.to_string())
    }
}
impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Self {
        v.map_or(Value::Null, Into::into)
    }
}

/// One row, its columns by name.
#[derive(Debug, Clone)]
pub(crate) struct Row {
    pub(crate) columns: Vec<(String, Value)>,
}

impl Row {
    fn get(&self, col: &str) -> Result<&Value, DbError> {
        self.columns
            .iter()
            .find(|(name, _)| name == col)
            .map(|(_, v)| v)
            .ok_or_else(|| DbError::column(col, "no such column in the result"))
    }

    fn opt<T>(
        &self,
        col: &str,
        read: impl FnOnce(&Value) -> Result<T, String>,
    ) -> Result<Option<T>, DbError> {
        match self.get(col)? {
            Value::Null => Ok(None),
            v => read(v).map(Some).map_err(|p| DbError::column(col, p)),
        }
    }

    fn required<T>(&self, col: &str, v: Option<T>) -> Result<T, DbError> {
        v.ok_or_else(|| DbError::column(col, "is NULL"))
    }

    pub(crate) fn text_opt(&self, col: &str) -> Result<Option<String>, DbError> {
        self.opt(col, |v| match v {
            Value::Text(s) => Ok(s.clone()),
            other => Err(format!("expected text, found {other:?}")),
        })
    }

    pub(crate) fn text(&self, col: &str) -> Result<String, DbError> {
        let v = self.text_opt(col)?;
        self.required(col, v)
    }

    pub(crate) fn int_opt(&self, col: &str) -> Result<Option<i64>, DbError> {
        self.opt(col, |v| match v.int()? {
            Some(n) => Ok(n),
            None => Err(format!("expected an integer, found {v:?}")),
        })
    }

    pub(crate) fn int(&self, col: &str) -> Result<i64, DbError> {
        let v = self.int_opt(col)?;
        self.required(col, v)
    }

    /// A non-negative integer that fits `T` (`u32`, `u64`).
    pub(crate) fn unsigned_opt<T: TryFrom<i64>>(&self, col: &str) -> Result<Option<T>, DbError> {
        match self.int_opt(col)? {
            None => Ok(None),
            Some(n) => T::try_from(n)
                .map(Some)
                .map_err(|_| DbError::column(col, format!("{n} is out of range"))),
        }
    }

    pub(crate) fn unsigned<T: TryFrom<i64>>(&self, col: &str) -> Result<T, DbError> {
        let v = self.unsigned_opt(col)?;
        self.required(col, v)
    }

    /// A 0/1 column.
    pub(crate) fn flag_opt(&self, col: &str) -> Result<Option<bool>, DbError> {
        Ok(self.int_opt(col)?.map(|n| n != 0))
    }

    pub(crate) fn flag(&self, col: &str) -> Result<bool, DbError> {
        let v = self.flag_opt(col)?;
        self.required(col, v)
    }

    pub(crate) fn parsed_opt<T: FromStr>(&self, col: &str) -> Result<Option<T>, DbError>
    where
        T::Err: Display,
    {
        match self.text_opt(col)? {
            None => Ok(None),
            Some(s) => s
                .parse()
                .map(Some)
                .map_err(|e| DbError::column(col, format!("{s:?}: {e}"))),
        }
    }

    pub(crate) fn parsed<T: FromStr>(&self, col: &str) -> Result<T, DbError>
    where
        T::Err: Display,
    {
        let v = self.parsed_opt(col)?;
        self.required(col, v)
    }

    pub(crate) fn time_opt(&self, col: &str) -> Result<Option<DateTime<Utc>>, DbError> {
        match self.text_opt(col)? {
            None => Ok(None),
            Some(s) => DateTime::parse_from_rfc3339(&s)
                .map(|t| Some(t.with_timezone(&Utc)))
                .map_err(|e| DbError::column(col, format!("time {s:?}: {e}"))),
        }
    }

    pub(crate) fn time(&self, col: &str) -> Result<DateTime<Utc>, DbError> {
        let v = self.time_opt(col)?;
        self.required(col, v)
    }

    pub(crate) fn json_opt(&self, col: &str) -> Result<Option<serde_json::Value>, DbError> {
        match self.text_opt(col)? {
            None => Ok(None),
            Some(s) => serde_json::from_str(&s)
                .map(Some)
                .map_err(|e| DbError::column(col, format!("JSON {s:?}: {e}"))),
        }
    }

    pub(crate) fn json(&self, col: &str) -> Result<serde_json::Value, DbError> {
        let v = self.json_opt(col)?;
        self.required(col, v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn time_text_is_fixed_width_so_text_order_is_time_order() {
        let a = Utc.with_ymd_and_hms(2026, 1, 14, 9, 0, 0).unwrap();
        let b = a + chrono::Duration::microseconds(1);
        assert_eq!(time_text(a), "2026-01-14T09:00:00.000000Z");
        assert!(time_text(a) < time_text(b));
        assert_eq!(time_text(b).len(), time_text(a).len());
    }

    #[test]
    fn getters_say_which_column_was_wrong() {
        let row = Row {
            columns: vec![
                ("n".into(), Value::Int(-1)),
                ("t".into(), Value::Text("soon".into())),
                ("z".into(), Value::Null),
            ],
        };
        assert_eq!(row.int("n").unwrap(), -1);
        let err = row.unsigned::<u64>("n").unwrap_err().to_string();
        assert!(
            err.contains("column n") && err.contains("out of range"),
            "{err}"
        );
        let err = row.time("t").unwrap_err().to_string();
        assert!(err.contains("column t") && err.contains("soon"), "{err}");
        assert_eq!(row.text_opt("z").unwrap(), None);
        assert!(row.text("z").unwrap_err().to_string().contains("is NULL"));
        assert!(row.text("missing").is_err());
        assert!(Value::Count(u64::MAX).int().is_err());
    }
}
