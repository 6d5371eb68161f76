//! Writing a run's file: validate, then a create-only write; the report learns where it went.

use serde_json::Value;

use super::{Run, Scrapes};
use crate::bettingpros::PayloadError;
use crate::run::RunStatus;
use crate::scrape::report::RunReport;
use crate::storage::{PutOutcome, StorageKey};

/// Validates `file` and writes it at `key`. A file that fails validation is never written.
pub(super) async fn write_file(
    scrapes: &Scrapes,
    run: &Run,
    key: StorageKey,
    file: &Value,
    validate: fn(&Value) -> Result<(), PayloadError>,
    mut report: RunReport,
) -> RunReport {
    let name = key.object_name();
    if let Err(e) = validate(file) {
        report.status = RunStatus::Failed;
        report.error_kind = Some("invalid_file".into());
        report.message = format!(
            "{}: the file for {name} failed validation and was not written: {e}",
            run.context()
        );
        report.counts.props_written = 0;
        return report;
    }
    let body = match serde_json::to_vec_pretty(file) {
        Ok(b) => b,
        Err(e) => {
            report.status = RunStatus::Failed;
            report.error_kind = Some("invalid_file".into());
            report.message = format!("{}: could not serialise {name}: {e}", run.context());
            report.counts.props_written = 0;
            return report;
        }
    };
    match scrapes.store.put_new(&name, body, "application/json").await {
        Ok(PutOutcome::Created { generation }) => {
            report.generation = Some(generation);
            if matches!(key, StorageKey::Props { .. } | StorageKey::Events { .. }) {
                report.complete_file_url = Some(format!("{}/{name}", scrapes.store.location()));
            }
            report.object_name = Some(name);
        }
        Ok(PutOutcome::AlreadyExists) => {
            // Another run that started the same second wrote this name first. Its own
            // completion message announces it; announcing it again would load it twice.
            tracing::warn!(run_id = %run.id, object = %name,
                "object already written by another run started the same second; kept as it is and not announced again");
            report.message = format!(
                "{} ({name} was already written by another run started the same second; not announced again)",
                report.message
            );
            report.counts.props_written = 0;
        }
        Err(e) => {
            report.status = RunStatus::Failed;
            report.error_kind = Some("storage".into());
            report.message = format!(
                "{}: fetched and validated, but could not write {name}: {e}",
                run.context()
            );
            report.counts.props_written = 0;
        }
    }
    report
}
