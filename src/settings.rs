//! Configuration primitives every subsystem's settings are made of: [`Vars`] (the variables,
//! from the environment or a map), [`ConfigError`] (a bad value, naming its variable) and
//! [`Secret`] (a value kept out of logs). A leaf: it imports nothing from the crate.

use std::collections::HashMap;
use std::fmt;
use std::ops::RangeInclusive;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

/// The longest duration any variable takes, in seconds: a day. Longer values are mistakes (and
/// would overflow the clock arithmetic of deadlines).
pub const MAX_SECS: f64 = 86_400.0;

/// Attempts per call, the first one included.
pub const ATTEMPTS: RangeInclusive<u64> = 1..=100;

/// A secret value: kept out of `Debug` and `Display` so it cannot reach a log by accident.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }
    /// The secret itself: call only where it is sent, never where it is logged.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("configuration: {var}={value:?} is invalid: {reason}")]
pub struct ConfigError {
    pub var: &'static str,
    pub value: String,
    pub reason: String,
}

/// Reads variables from a map (tests) or the process environment.
pub struct Vars(HashMap<String, String>);

impl Vars {
    pub fn from_env() -> Self {
        Self(std::env::vars().collect())
    }

    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        Self(
            pairs
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    /// The value, or `None` when unset or blank.
    pub fn get(&self, var: &str) -> Option<&str> {
        self.0.get(var).map(|v| v.trim()).filter(|v| !v.is_empty())
    }

    pub fn parse<T: FromStr>(&self, var: &'static str, default: T) -> Result<T, ConfigError>
    where
        T::Err: fmt::Display,
    {
        match self.get(var) {
            None => Ok(default),
            Some(raw) => raw.parse().map_err(|e: T::Err| ConfigError {
                var,
                value: raw.to_string(),
                reason: e.to_string(),
            }),
        }
    }

    pub fn path(&self, var: &'static str) -> Option<PathBuf> {
        self.get(var).map(PathBuf::from)
    }

    /// A number from `range` (fractions allowed), `default` when unset.
    pub fn number(
        &self,
        var: &'static str,
        default: f64,
        range: RangeInclusive<f64>,
    ) -> Result<f64, ConfigError> {
        self.in_range(var, default, range, "a number")
    }

    /// A whole number from `range`, `default` when unset.
    pub fn whole(
        &self,
        var: &'static str,
        default: u64,
        range: RangeInclusive<u64>,
    ) -> Result<u64, ConfigError> {
        self.in_range(var, default, range, "a whole number")
    }

    fn in_range<T: FromStr + PartialOrd + fmt::Display>(
        &self,
        var: &'static str,
        default: T,
        range: RangeInclusive<T>,
        what: &str,
    ) -> Result<T, ConfigError> {
        let Some(raw) = self.get(var) else {
            return Ok(default);
        };
        match raw.parse::<T>() {
            Ok(v) if range.contains(&v) => Ok(v),
            _ => Err(ConfigError {
                var,
                value: raw.to_string(),
                reason: format!("must be {what} from {} to {}", range.start(), range.end()),
            }),
        }
    }

    /// A duration in seconds (fractions allowed): above 0 and at most [`MAX_SECS`].
    pub fn secs(&self, var: &'static str, default: Duration) -> Result<Duration, ConfigError> {
        let v = self.number(var, default.as_secs_f64(), f64::MIN_POSITIVE..=MAX_SECS)?;
        Ok(Duration::from_secs_f64(v))
    }

    /// `on` or `off` (also `true`/`false`, `1`/`0`), in any case; `None` when unset.
    pub fn switch(&self, var: &'static str) -> Result<Option<bool>, ConfigError> {
        let Some(raw) = self.get(var) else {
            return Ok(None);
        };
        match raw.to_ascii_lowercase().as_str() {
            "on" | "true" | "1" => Ok(Some(true)),
            "off" | "false" | "0" => Ok(Some(false)),
            _ => Err(ConfigError {
                var,
                value: raw.to_string(),
                reason: "must be on or off".into(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(var: &str, value: &str) -> Vars {
        Vars::from_pairs([(var, value)])
    }

    #[test]
    fn blank_is_unset_and_values_are_trimmed() {
        let v = Vars::from_pairs([("A", "  "), ("B", " 7 ")]);
        assert_eq!(v.get("A"), None);
        assert_eq!(v.whole("B", 1, 1..=9), Ok(7));
        assert_eq!(v.whole("A", 3, 1..=9), Ok(3));
    }

    #[test]
    fn numbers_outside_their_range_or_not_numbers_name_the_range() {
        for raw in ["0", "10", "-1", "1.5", "x", "1e99"] {
            let err = vars("N", raw).whole("N", 1, 1..=9).unwrap_err();
            assert_eq!((err.var, err.value.as_str()), ("N", raw));
            assert!(err.reason.contains("from 1 to 9"), "{err}");
        }
        for raw in ["0", "-2", "NaN", "inf", "1e300", "fast"] {
            let err = vars("S", raw)
                .secs("S", Duration::from_secs(1))
                .unwrap_err();
            assert!(err.to_string().contains("S="), "{err}");
        }
        let most = vars("S", "86400").secs("S", Duration::ZERO).unwrap();
        assert_eq!(most, Duration::from_secs(86_400));
    }

    #[test]
    fn switches_take_on_and_off_in_any_case_and_nothing_else() {
        assert_eq!(vars("W", "ON").switch("W"), Ok(Some(true)));
        assert_eq!(vars("W", "false").switch("W"), Ok(Some(false)));
        assert_eq!(Vars::from_pairs([]).switch("W"), Ok(None));
        assert!(vars("W", "yes please").switch("W").is_err());
    }

    #[test]
    fn a_secret_never_shows_in_debug_output() {
        assert_eq!(format!("{:?}", Secret::new("sk-1")), "Secret([redacted])");
    }
}
