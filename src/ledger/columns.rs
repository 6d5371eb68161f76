//! How typed values are stored: times as fixed-width RFC 3339 UTC text (so text order is time
//! order), counts as INTEGER, names as their wire strings, JSON as text.

use std::fmt::Display;
use std::str::FromStr;

use chrono::{DateTime, SecondsFormat, Utc};
use rusqlite::types::{FromSql, FromSqlError, FromSqlResult, ToSqlOutput, Value, ValueRef};
use rusqlite::{Row, ToSql};

/// A point in time: `2026-01-14T18:05:12.000000Z`, always 27 characters.
pub(crate) struct Time(pub DateTime<Utc>);

pub(crate) fn time_text(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

impl ToSql for Time {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::Owned(Value::Text(time_text(self.0))))
    }
}

impl FromSql for Time {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        let s = value.as_str()?;
        DateTime::parse_from_rfc3339(s)
            .map(|t| Time(t.with_timezone(&Utc)))
            .map_err(|e| FromSqlError::Other(format!("time {s:?}: {e}").into()))
    }
}

/// A count. SQLite integers are signed 64-bit; a count beyond that is refused, not clipped.
pub(crate) struct Count(pub u64);

impl ToSql for Count {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        i64::try_from(self.0)
            .map(|n| ToSqlOutput::Owned(Value::Integer(n)))
            .map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))
    }
}

impl FromSql for Count {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        let n = value.as_i64()?;
        u64::try_from(n)
            .map(Count)
            .map_err(|_| FromSqlError::OutOfRange(n))
    }
}

/// A JSON value stored as its text.
pub(crate) struct Json<'a>(pub &'a serde_json::Value);

impl ToSql for Json<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::Owned(Value::Text(self.0.to_string())))
    }
}

/// A value stored as the text its `FromStr` reads back (statuses, markets, dates).
struct Parsed<T>(T);

impl<T: FromStr> FromSql for Parsed<T>
where
    T::Err: Display,
{
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        let s = value.as_str()?;
        s.parse()
            .map(Parsed)
            .map_err(|e| FromSqlError::Other(format!("{s:?}: {e}").into()))
    }
}

struct StoredJson(serde_json::Value);

impl FromSql for StoredJson {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        let s = value.as_str()?;
        serde_json::from_str(s)
            .map(StoredJson)
            .map_err(|e| FromSqlError::Other(format!("JSON {s:?}: {e}").into()))
    }
}

/// Readers for a row by column name.
pub(crate) trait RowExt {
    fn parsed<T: FromStr>(&self, col: &str) -> rusqlite::Result<T>
    where
        T::Err: Display;
    fn parsed_opt<T: FromStr>(&self, col: &str) -> rusqlite::Result<Option<T>>
    where
        T::Err: Display;
    fn time(&self, col: &str) -> rusqlite::Result<DateTime<Utc>>;
    fn time_opt(&self, col: &str) -> rusqlite::Result<Option<DateTime<Utc>>>;
    fn count(&self, col: &str) -> rusqlite::Result<Option<u64>>;
    fn json(&self, col: &str) -> rusqlite::Result<serde_json::Value>;
}

impl RowExt for Row<'_> {
    fn parsed<T: FromStr>(&self, col: &str) -> rusqlite::Result<T>
    where
        T::Err: Display,
    {
        self.get::<_, Parsed<T>>(col).map(|p| p.0)
    }

    fn parsed_opt<T: FromStr>(&self, col: &str) -> rusqlite::Result<Option<T>>
    where
        T::Err: Display,
    {
        self.get::<_, Option<Parsed<T>>>(col)
            .map(|p| p.map(|p| p.0))
    }

    fn time(&self, col: &str) -> rusqlite::Result<DateTime<Utc>> {
        self.get::<_, Time>(col).map(|t| t.0)
    }

    fn time_opt(&self, col: &str) -> rusqlite::Result<Option<DateTime<Utc>>> {
        self.get::<_, Option<Time>>(col).map(|t| t.map(|t| t.0))
    }

    fn count(&self, col: &str) -> rusqlite::Result<Option<u64>> {
        self.get::<_, Option<Count>>(col).map(|c| c.map(|c| c.0))
    }

    fn json(&self, col: &str) -> rusqlite::Result<serde_json::Value> {
        self.get::<_, StoredJson>(col).map(|j| j.0)
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
}
