//! Writing a run's file: validate, then a create-only write; the report learns where it went.

use serde_json::Value;

use super::{Run, Scrapes};
use crate::bettingpros::{rows_in_props_file, PayloadError};
use crate::report::RunReport;
use crate::run::{ErrorKind, RunStatus};
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
    let ctx = run.context();
    if let Err(e) = validate(file) {
        let why = format!("{ctx}: the file for {name} failed validation and was not written: {e}");
        return failed(report, ErrorKind::InvalidFile, why);
    }
    let body = match serde_json::to_vec_pretty(file) {
        Ok(b) => b,
        Err(e) => {
            return failed(
                report,
                ErrorKind::InvalidFile,
                format!("{ctx}: could not serialise {name}: {e}"),
            )
        }
    };
    match scrapes.store.put_new(&name, body, "application/json").await {
        Ok(PutOutcome::Created { generation }) => {
            report.generation = Some(generation);
            if let (StorageKey::Props { .. }, Ok(rows)) = (&key, rows_in_props_file(file)) {
                // Gap detection compares BigQuery with this; the object never changes.
                let _ = scrapes.ledger.remember_file_rows(&name, rows).await;
            }
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
            let why = format!("{ctx}: fetched and validated, but could not write {name}: {e}");
            return failed(report, ErrorKind::Storage, why);
        }
    }
    report
}

/// The run wrote nothing: failed, with the kind and the reason.
fn failed(mut report: RunReport, kind: ErrorKind, message: String) -> RunReport {
    report.status = RunStatus::Failed;
    report.error_kind = Some(kind);
    report.message = message;
    report.counts.props_written = 0;
    report
}
