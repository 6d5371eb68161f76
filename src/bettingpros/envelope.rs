//! The envelope both raw files share (`date`, `sport`, `timestamp`, `source`, the parameter
//! echo) and the checks on it, run before every write.

use chrono::NaiveDateTime;
use serde_json::{Map, Value};

use super::{kind_of, PayloadError};
use crate::calendar::GameDate;

/// A file whose shared envelope has been checked, for the per-file checks that follow.
pub(crate) struct Envelope<'a> {
    pub fields: &'a Map<String, Value>,
    pub place: &'a str,
}

impl<'a> Envelope<'a> {
    /// The file is an object with a valid `date`, `sport` NBA, a `YYYYMMDD_HHMMSS`
    /// `timestamp`, `source` bettingpros_api and an `api_response_params` key.
    pub fn check(file: &'a Value, place: &'a str) -> Result<Self, PayloadError> {
        let Value::Object(fields) = file else {
            return Err(PayloadError::new(
                place,
                format!("the file is {}, not an object", kind_of(file)),
            ));
        };
        let envelope = Self { fields, place };
        let date = envelope.text("date")?;
        if date.parse::<GameDate>().is_err() {
            return Err(envelope.wrong("date", "is not a YYYY-MM-DD date"));
        }
        let timestamp = envelope.text("timestamp")?;
        if NaiveDateTime::parse_from_str(timestamp, "%Y%m%d_%H%M%S").is_err() {
            return Err(envelope.wrong("timestamp", "is not YYYYMMDD_HHMMSS"));
        }
        envelope.expect_text("sport", "NBA")?;
        envelope.expect_text("source", "bettingpros_api")?;
        if !fields.contains_key("api_response_params") {
            return Err(PayloadError::new(
                place,
                "\"api_response_params\" is absent",
            ));
        }
        Ok(envelope)
    }

    /// A field that must be there and not null.
    pub fn get(&self, field: &str) -> Result<&'a Value, PayloadError> {
        self.fields
            .get(field)
            .filter(|v| !v.is_null())
            .ok_or_else(|| PayloadError::missing(self.place, field))
    }

    pub fn text(&self, field: &str) -> Result<&'a str, PayloadError> {
        self.get(field)?
            .as_str()
            .ok_or_else(|| self.wrong(field, "is not a string"))
    }

    /// A count: a non-negative integer.
    pub fn count(&self, field: &str) -> Result<u64, PayloadError> {
        self.get(field)?
            .as_u64()
            .ok_or_else(|| self.wrong(field, "is not a count"))
    }

    pub fn list(&self, field: &str) -> Result<&'a Vec<Value>, PayloadError> {
        self.get(field)?
            .as_array()
            .ok_or_else(|| self.wrong(field, "is not a list"))
    }

    fn expect_text(&self, field: &str, expected: &str) -> Result<(), PayloadError> {
        if self.text(field)? == expected {
            Ok(())
        } else {
            Err(self.wrong(field, &format!("is not {expected:?}")))
        }
    }

    pub fn wrong(&self, field: &str, problem: &str) -> PayloadError {
        let mut shown = self
            .fields
            .get(field)
            .map(Value::to_string)
            .unwrap_or_default();
        if shown.len() > 60 {
            let cut = (0..=60)
                .rev()
                .find(|&i| shown.is_char_boundary(i))
                .unwrap_or(0);
            shown.truncate(cut);
            shown.push('…');
        }
        PayloadError::new(self.place, format!("\"{field}\" {shown} {problem}"))
    }
}
