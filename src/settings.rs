//! Configuration primitives every subsystem's settings are made of: [`Vars`] (the variables,
//! from the environment or a map), [`ConfigError`] (a bad value, naming its variable) and
//! [`Secret`] (a value kept out of logs). A leaf: it imports nothing from the crate.

use std::collections::HashMap;
use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

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

    pub(crate) fn positive_f64(&self, var: &'static str, default: f64) -> Result<f64, ConfigError> {
        let v = self.parse(var, default)?;
        if v.is_finite() && v > 0.0 {
            Ok(v)
        } else {
            Err(ConfigError {
                var,
                value: v.to_string(),
                reason: "must be a number above 0".into(),
            })
        }
    }

    pub(crate) fn at_least(
        &self,
        var: &'static str,
        default: u64,
        min: u64,
    ) -> Result<u64, ConfigError> {
        let v = self.parse(var, default)?;
        if v >= min {
            Ok(v)
        } else {
            Err(ConfigError {
                var,
                value: v.to_string(),
                reason: format!("must be at least {min}"),
            })
        }
    }
}
