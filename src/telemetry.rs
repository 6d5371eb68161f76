//! Log set-up: one JSON object per line in Cloud Logging's shape, or readable text.

use std::io::IsTerminal;

use tracing_subscriber::fmt::format::FmtSpan;
use tracing_subscriber::EnvFilter;

use crate::settings::{ConfigError, Vars};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Json,
    Text,
}

impl LogFormat {
    /// `BACKSTOP_LOG_FORMAT` (`json`/`text`); JSON by default on Cloud Run (`K_SERVICE` set).
    pub fn from_vars(vars: &Vars) -> Result<Self, ConfigError> {
        let given = vars.get("BACKSTOP_LOG_FORMAT");
        match given.map(str::to_ascii_lowercase).as_deref() {
            Some("json") => Ok(LogFormat::Json),
            Some("text") => Ok(LogFormat::Text),
            Some(_) => Err(ConfigError {
                var: "BACKSTOP_LOG_FORMAT",
                value: given.unwrap_or_default().to_string(),
                reason: "must be json or text".into(),
            }),
            None if vars.get("K_SERVICE").is_some() => Ok(LogFormat::Json),
            None => Ok(LogFormat::Text),
        }
    }

    /// For the logger, which starts before the configuration is read: a bad value falls back
    /// to text here, and stops start-up when the configuration is read ([`check`]).
    pub fn from_env() -> Self {
        Self::from_vars(&Vars::from_env()).unwrap_or(LogFormat::Text)
    }
}

/// Refuses at start-up what logging would ignore: an unknown `BACKSTOP_LOG_FORMAT`, a
/// `RUST_LOG` that is not a filter.
pub fn check(vars: &Vars) -> Result<(), ConfigError> {
    LogFormat::from_vars(vars)?;
    if let Some(filter) = vars.get("RUST_LOG") {
        EnvFilter::try_new(filter).map_err(|e| ConfigError {
            var: "RUST_LOG",
            value: filter.to_string(),
            reason: format!("not a log filter such as info or backstop=debug,warn: {e}"),
        })?;
    }
    Ok(())
}

/// Installs the global subscriber; `RUST_LOG` filters (default `default_level`). Logs go to
/// stderr so that `--json` output on stdout stays clean; colour only on a terminal (never in a
/// file or a pipe, nor with `NO_COLOR` set).
pub fn init(format: LogFormat, default_level: &str) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_level));
    let colour = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(colour)
        .with_span_events(FmtSpan::NONE);
    let _ = match format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .event_format(cloud_logging::Format)
            .try_init(),
        LogFormat::Text => builder.try_init(),
    };
}

mod cloud_logging {
    //! Cloud Logging wants `severity` and `message` at the top level of each line.
    use std::fmt;

    use serde_json::{Map, Value};
    use tracing::field::{Field, Visit};
    use tracing::{Event, Level, Subscriber};
    use tracing_subscriber::fmt::{format::Writer, FmtContext, FormatEvent, FormatFields};
    use tracing_subscriber::registry::LookupSpan;

    pub struct Format;

    struct Fields(Map<String, Value>);

    impl Visit for Fields {
        fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
            self.0.insert(
                field.name().to_string(),
                Value::String(format!("{value:?}")),
            );
        }
        fn record_str(&mut self, field: &Field, value: &str) {
            self.0
                .insert(field.name().to_string(), Value::String(value.to_string()));
        }
        fn record_i64(&mut self, field: &Field, value: i64) {
            self.0.insert(field.name().to_string(), value.into());
        }
        fn record_u64(&mut self, field: &Field, value: u64) {
            self.0.insert(field.name().to_string(), value.into());
        }
        fn record_f64(&mut self, field: &Field, value: f64) {
            self.0.insert(field.name().to_string(), value.into());
        }
        fn record_bool(&mut self, field: &Field, value: bool) {
            self.0.insert(field.name().to_string(), value.into());
        }
    }

    impl<S, N> FormatEvent<S, N> for Format
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
        N: for<'a> FormatFields<'a> + 'static,
    {
        fn format_event(
            &self,
            _ctx: &FmtContext<'_, S, N>,
            mut writer: Writer<'_>,
            event: &Event<'_>,
        ) -> fmt::Result {
            let mut fields = Fields(Map::new());
            event.record(&mut fields);
            let meta = event.metadata();
            let severity = match *meta.level() {
                Level::ERROR => "ERROR",
                Level::WARN => "WARNING",
                Level::INFO => "INFO",
                Level::DEBUG | Level::TRACE => "DEBUG",
            };
            let mut line = Map::new();
            line.insert("severity".into(), severity.into());
            line.insert(
                "message".into(),
                fields.0.remove("message").unwrap_or_default(),
            );
            line.insert("target".into(), meta.target().into());
            line.insert("time".into(), chrono::Utc::now().to_rfc3339().into());
            line.extend(fields.0);
            writeln!(writer, "{}", Value::Object(line))
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl Write for Buffer {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn json_lines_carry_severity_message_and_fields_for_cloud_logging() {
        let buf = Buffer::default();
        let writer = buf.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .json()
            .event_format(super::cloud_logging::Format)
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            tracing::warn!(
                scraper = "bp_events",
                attempt = 2u64,
                "upstream attempt failed"
            );
        });
        let text = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
        let line: serde_json::Value =
            serde_json::from_str(text.trim()).expect("one JSON object per line");
        assert_eq!(line["severity"], "WARNING");
        assert_eq!(line["message"], "upstream attempt failed");
        assert_eq!(line["scraper"], "bp_events");
        assert_eq!(line["attempt"], 2);
    }
}
