//! The ledger's settings: where it lives (`BACKSTOP_LEDGER`, parsed by `location`), how long
//! this instance's hold on its work lasts without a heartbeat (`BACKSTOP_LEASE_SECS`), and the
//! Cloud Run revision that names the instance (`K_REVISION`).

use std::path::PathBuf;
use std::time::Duration;

use super::lease::{Instance, DEFAULT_LEASE};
use super::location::LedgerLocation;
use crate::settings::{ConfigError, Vars, MAX_SECS};

#[derive(Debug, Clone)]
pub struct LedgerSettings {
    /// A SQLite file, or a PostgreSQL database shared by every instance.
    pub location: LedgerLocation,
    /// How long this instance's hold on a run or job lasts without a heartbeat.
    pub lease: Duration,
    /// The Cloud Run revision (`K_REVISION`), the first part of this instance's owner id.
    pub revision: Option<String>,
}

impl LedgerSettings {
    /// Reads the ledger's variables; `default` is the SQLite file used when `BACKSTOP_LEDGER`
    /// is unset.
    pub fn from_vars(vars: &Vars, default: PathBuf) -> Result<Self, ConfigError> {
        let lease = vars.whole(
            "BACKSTOP_LEASE_SECS",
            DEFAULT_LEASE.as_secs(),
            1..=MAX_SECS as u64,
        )?;
        Ok(LedgerSettings {
            location: LedgerLocation::from_vars(vars, default)?,
            lease: Duration::from_secs(lease),
            revision: vars.get("K_REVISION").map(str::to_string),
        })
    }

    /// This process as the owner of the work it records: a new id each time it starts.
    pub fn instance(&self) -> Instance {
        Instance::new(self.revision.as_deref(), self.lease)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(pairs: &[(&str, &str)]) -> Result<LedgerSettings, ConfigError> {
        LedgerSettings::from_vars(&Vars::from_pairs(pairs.iter().copied()), "d.db".into())
    }

    #[test]
    fn each_start_is_a_new_owner_named_after_the_revision() {
        let s = settings(&[
            ("BACKSTOP_LEASE_SECS", "5"),
            ("K_REVISION", "backstop-00042"),
        ])
        .unwrap();
        assert!(matches!(
            s.location,
            LedgerLocation::Sqlite(ref p) if p.as_os_str() == "d.db"
        ));
        let tcp = settings(&[(
            "BACKSTOP_LEDGER",
            "postgres://backstop@127.0.0.1:5432/backstop",
        )]);
        assert!(matches!(tcp.unwrap().location, LedgerLocation::Postgres(_)));
        let me = s.instance();
        assert_eq!(me.lease, Duration::from_secs(5));
        assert!(me.id.starts_with("backstop-00042-"), "{}", me.id);
        assert_ne!(s.instance().id, me.id, "each start is a new owner");
        assert_eq!(settings(&[]).unwrap().lease, DEFAULT_LEASE);
    }
}
