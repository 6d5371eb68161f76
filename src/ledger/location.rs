//! Where the ledger lives, from `BACKSTOP_LEDGER`: a SQLite file (a path), or a PostgreSQL
//! database (a `postgres://`/`postgresql://` URL or libpq's `key=value` form, including Cloud
//! SQL's unix socket `host=/cloudsql/PROJECT:REGION:INSTANCE`).
//!
//! The password may come from `BACKSTOP_LEDGER_PASSWORD` (a Secret Manager secret mounted as
//! a variable) so that the URL itself is not a secret. A password never reaches `Debug`, a log
//! or an error: values are shown with it replaced by `***`.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use tokio_postgres::config::{Host, SslMode};

use crate::settings::{ConfigError, Secret, Vars};

pub const LEDGER_VAR: &str = "BACKSTOP_LEDGER";
pub const PASSWORD_VAR: &str = "BACKSTOP_LEDGER_PASSWORD";

/// The ledger's database.
#[derive(Clone)]
pub enum LedgerLocation {
    /// An embedded SQLite file (the demo, the CLI, one machine).
    Sqlite(PathBuf),
    /// A PostgreSQL database shared by every instance (Cloud SQL in production).
    Postgres(Box<tokio_postgres::Config>),
}

impl LedgerLocation {
    /// Reads `BACKSTOP_LEDGER` (and `BACKSTOP_LEDGER_PASSWORD`); `default` when unset.
    pub fn from_vars(vars: &Vars, default: PathBuf) -> Result<Self, ConfigError> {
        let password = vars.get(PASSWORD_VAR).map(Secret::new);
        match vars.get(LEDGER_VAR) {
            None if password.is_some() => Err(ConfigError {
                var: PASSWORD_VAR,
                value: "***".into(),
                reason: format!("is set but {LEDGER_VAR} names no PostgreSQL database"),
            }),
            None => Ok(LedgerLocation::Sqlite(default)),
            Some(raw) => Self::parse(raw, password),
        }
    }

    fn parse(raw: &str, password: Option<Secret>) -> Result<Self, ConfigError> {
        let invalid = |reason: String| ConfigError {
            var: LEDGER_VAR,
            value: redacted(raw),
            reason,
        };
        if !is_postgres(raw) {
            if raw.contains("://") {
                return Err(invalid(
                    "is neither a postgres:// or postgresql:// URL nor a path to a SQLite file"
                        .into(),
                ));
            }
            if password.is_some() {
                return Err(ConfigError {
                    var: PASSWORD_VAR,
                    value: "***".into(),
                    reason: format!("is set but {LEDGER_VAR} is a SQLite file, which has none"),
                });
            }
            return Ok(LedgerLocation::Sqlite(PathBuf::from(raw)));
        }
        let mut config = tokio_postgres::Config::from_str(raw)
            .map_err(|e| invalid(format!("is not a PostgreSQL connection string: {e}")))?;
        if config.get_hosts().is_empty() {
            return Err(invalid(
                "names no host: give one (postgresql://USER@HOST/DB) or a socket directory (?host=/cloudsql/PROJECT:REGION:INSTANCE)".into(),
            ));
        }
        if config.get_ssl_mode() == SslMode::Require {
            return Err(invalid(
                "asks for TLS, which backstop does not build in: reach Cloud SQL through its unix socket (host=/cloudsql/PROJECT:REGION:INSTANCE) or the Cloud SQL Auth Proxy".into(),
            ));
        }
        match (config.get_password().is_some(), password) {
            (true, Some(_)) => {
                return Err(invalid(format!(
                "holds a password and {PASSWORD_VAR} is set too: keep it in one place (the secret)"
            )))
            }
            (_, Some(p)) => {
                config.password(p.expose());
            }
            (_, None) => {}
        }
        config.application_name("backstop");
        Ok(LedgerLocation::Postgres(Box::new(config)))
    }

    /// Where the ledger is, for logs: a path, or `postgresql://user@host:port/db` (never the
    /// password).
    pub fn describe(&self) -> String {
        match self {
            LedgerLocation::Sqlite(path) => path.display().to_string(),
            LedgerLocation::Postgres(c) => {
                let host = match c.get_hosts().first() {
                    Some(Host::Tcp(h)) => h.clone(),
                    Some(Host::Unix(dir)) => dir.display().to_string(),
                    None => String::new(),
                };
                let port = c.get_ports().first().copied().unwrap_or(5432);
                format!(
                    "postgresql://{}@{host}:{port}/{}",
                    c.get_user().unwrap_or(""),
                    c.get_dbname().or(c.get_user()).unwrap_or("")
                )
            }
        }
    }
}

impl fmt::Debug for LedgerLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LedgerLocation::Sqlite(path) => f.debug_tuple("Sqlite").field(path).finish(),
            LedgerLocation::Postgres(c) => f
                .debug_struct("Postgres")
                .field("at", &self.describe())
                .field("password", &c.get_password().map(|_| "[redacted]"))
                .finish(),
        }
    }
}

fn is_postgres(raw: &str) -> bool {
    raw.starts_with("postgres://") || raw.starts_with("postgresql://") || is_key_value(raw)
}

/// libpq's `host=… dbname=… user=…` form: the first word is a known keyword and `=`.
fn is_key_value(raw: &str) -> bool {
    const KEYS: [&str; 8] = [
        "host", "hostaddr", "port", "dbname", "user", "password", "sslmode", "options",
    ];
    raw.split_whitespace()
        .next()
        .and_then(|w| w.split_once('='))
        .is_some_and(|(k, _)| KEYS.contains(&k))
}

/// The value with any password replaced by `***`, for errors.
fn redacted(raw: &str) -> String {
    if is_key_value(raw) {
        return raw
            .split_whitespace()
            .map(|w| match w.split_once('=') {
                Some(("password", _)) => "password=***".to_string(),
                _ => w.to_string(),
            })
            .collect::<Vec<_>>()
            .join(" ");
    }
    let Some((scheme, rest)) = raw.split_once("://") else {
        return raw.to_string();
    };
    let (authority, tail) = rest.split_at(rest.find(['/', '?']).unwrap_or(rest.len()));
    let authority = match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _)) => format!("{user}:***@{host}"),
            None => authority.to_string(),
        },
        None => authority.to_string(),
    };
    let tail = match tail.split_once("password=") {
        Some((before, after)) => {
            let rest = after.find('&').map_or("", |i| &after[i..]);
            format!("{before}password=***{rest}")
        }
        None => tail.to_string(),
    };
    format!("{scheme}://{authority}{tail}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(pairs: &[(&str, &str)]) -> Result<LedgerLocation, ConfigError> {
        LedgerLocation::from_vars(&Vars::from_pairs(pairs.iter().copied()), "d.db".into())
    }

    #[test]
    fn cloud_sql_socket_forms_select_postgres_with_the_password_from_its_own_variable() {
        for raw in [
            "postgresql://backstop@/ledger?host=/cloudsql/nba-props-platform:us-west2:ledger",
            "host=/cloudsql/nba-props-platform:us-west2:ledger dbname=ledger user=backstop",
        ] {
            let loc = parse(&[(LEDGER_VAR, raw), (PASSWORD_VAR, "s3cr3t-pw")]).unwrap();
            let LedgerLocation::Postgres(c) = &loc else {
                panic!("{raw}: {loc:?}")
            };
            assert_eq!(c.get_password(), Some(&b"s3cr3t-pw"[..]));
            assert_eq!(
                c.get_hosts(),
                [Host::Unix(
                    "/cloudsql/nba-props-platform:us-west2:ledger".into()
                )]
            );
            assert_eq!(c.get_dbname(), Some("ledger"));
            let shown = format!("{loc:?} {}", loc.describe());
            assert!(!shown.contains("s3cr3t-pw"), "{shown}");
        }
        assert!(
            matches!(parse(&[]).unwrap(), LedgerLocation::Sqlite(p) if p.as_os_str() == "d.db")
        );
        assert!(matches!(
            parse(&[(LEDGER_VAR, "/var/lib/backstop/ledger.db")]).unwrap(),
            LedgerLocation::Sqlite(_)
        ));
    }

    #[test]
    fn passwords_never_reach_errors_or_debug() {
        let err = parse(&[
            (LEDGER_VAR, "postgresql://u:hunter2@h/db"),
            (PASSWORD_VAR, "x"),
        ])
        .unwrap_err();
        assert_eq!(err.var, LEDGER_VAR);
        assert!(!err.to_string().contains("hunter2"), "{err}");
        assert!(err.to_string().contains("u:***@h/db"), "{err}");
        let err = parse(&[(
            LEDGER_VAR,
            "postgresql://u@h/db?password=hunter2&sslmode=require",
        )])
        .unwrap_err();
        assert!(!err.to_string().contains("hunter2"), "{err}");
        assert!(err.to_string().contains("TLS"), "{err}");
        let err =
            parse(&[(LEDGER_VAR, "host=h user=u password=hunter2 sslmode=nope")]).unwrap_err();
        assert!(!err.to_string().contains("hunter2"), "{err}");
        let loc = parse(&[(LEDGER_VAR, "postgresql://u:hunter2@h:6543/db")]).unwrap();
        assert!(!format!("{loc:?}").contains("hunter2"));
        assert_eq!(loc.describe(), "postgresql://u@h:6543/db");
        let err = parse(&[(PASSWORD_VAR, "pw")]).unwrap_err();
        assert_eq!(err.var, PASSWORD_VAR);
        assert!(!err.to_string().contains("pw\""), "{err}");
    }

    #[test]
    fn values_it_cannot_use_are_refused_with_the_reason() {
        for (raw, why) in [
            ("postgresql://", "no host"),
            ("sqlite:///tmp/x.db", "neither"),
            ("mysql://h/db", "neither"),
            (
                "postgresql://u@h:port/db",
                "not a PostgreSQL connection string",
            ),
            (
                "postgresql://u@h/db?sslmode=sometimes",
                "not a PostgreSQL connection string",
            ),
        ] {
            let err = parse(&[(LEDGER_VAR, raw)]).unwrap_err();
            assert_eq!(err.var, LEDGER_VAR);
            assert!(err.to_string().contains(why), "{raw}: {err}");
        }
    }
}
