//! The proxy pool's settings: which proxies (`BACKSTOP_PROXIES`, inline or a mounted file), how
//! requests use them (`BACKSTOP_PROXY_MODE`) and how long a failing route rests
//! (`BACKSTOP_PROXY_COOLDOWN_SECS`). Validated at start-up; credentials never reach an error.

use std::fmt;
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use super::proxy_url::{redacted, ProxyEndpoint};
use crate::settings::{ConfigError, Vars};

pub const PROXIES_VAR: &str = "BACKSTOP_PROXIES";
pub const MODE_VAR: &str = "BACKSTOP_PROXY_MODE";
pub const COOLDOWN_VAR: &str = "BACKSTOP_PROXY_COOLDOWN_SECS";

/// Which routes a request may take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProxyMode {
    /// Straight to the upstream; the default when no proxy is configured.
    Direct,
    /// Only through the proxies; the default when some are configured.
    Proxies,
    /// Straight first, the proxies when the direct route is refused or its breaker is open.
    DirectThenProxies,
}

impl ProxyMode {
    pub fn as_str(self) -> &'static str {
        match self {
            ProxyMode::Direct => "direct",
            ProxyMode::Proxies => "proxies",
            ProxyMode::DirectThenProxies => "direct-then-proxies",
        }
    }
}

impl fmt::Display for ProxyMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ProxyMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "direct" => Ok(ProxyMode::Direct),
            "proxies" => Ok(ProxyMode::Proxies),
            "direct-then-proxies" => Ok(ProxyMode::DirectThenProxies),
            _ => Err("must be direct, proxies or direct-then-proxies".into()),
        }
    }
}

/// How the fetch core reaches upstreams. `Debug` shows proxies by name only.
#[derive(Debug, Clone, PartialEq)]
pub struct ProxySettings {
    pub mode: ProxyMode,
    pub proxies: Vec<ProxyEndpoint>,
    /// How long an open breaker keeps its route out before one trial request.
    pub cooldown: Duration,
    /// Consecutive route-level failures that open a route's breaker.
    pub failures_to_open: u32,
}

impl Default for ProxySettings {
    /// Direct only: what backstop does when nothing is configured.
    fn default() -> Self {
        Self {
            mode: ProxyMode::Direct,
            proxies: Vec::new(),
            cooldown: Duration::from_secs(300),
            failures_to_open: 3,
        }
    }
}

impl ProxySettings {
    pub fn from_vars(vars: &Vars) -> Result<Self, ConfigError> {
        let proxies = match vars.get(PROXIES_VAR) {
            None => Vec::new(),
            Some(value) => read_proxies(value)?,
        };
        let mode = match vars.get(MODE_VAR) {
            None if proxies.is_empty() => ProxyMode::Direct,
            None => ProxyMode::Proxies,
            Some(raw) => raw.parse().map_err(|reason| ConfigError {
                var: MODE_VAR,
                value: raw.to_string(),
                reason,
            })?,
        };
        if mode != ProxyMode::Direct && proxies.is_empty() {
            return Err(ConfigError {
                var: MODE_VAR,
                value: mode.to_string(),
                reason: format!("needs proxies, but {PROXIES_VAR} is not set"),
            });
        }
        let cooldown = vars.secs(COOLDOWN_VAR, Self::default().cooldown)?;
        Ok(Self {
            mode,
            proxies,
            cooldown,
            ..Self::default()
        })
    }
}

/// Reads the list inline, or from the file the value names (a mounted secret on Cloud Run).
fn read_proxies(value: &str) -> Result<Vec<ProxyEndpoint>, ConfigError> {
    if value.contains("://") {
        return parse_list(value, None);
    }
    let path = Path::new(value);
    if !path.is_file() {
        return Err(ConfigError {
            var: PROXIES_VAR,
            value: redacted(value),
            reason: "is neither a list of proxy URLs (none has ://) nor an existing file".into(),
        });
    }
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
        var: PROXIES_VAR,
        value: value.to_string(),
        reason: format!("could not read the proxy list from this file: {e}"),
    })?;
    parse_list(&text, Some(value))
}

fn parse_list(text: &str, file: Option<&str>) -> Result<Vec<ProxyEndpoint>, ConfigError> {
    let place = |n: usize| match file {
        Some(f) => format!("in file {f}, entry {n}"),
        None => format!("entry {n}"),
    };
    let entries = split_entries(text);
    if entries.is_empty() {
        return Err(ConfigError {
            var: PROXIES_VAR,
            value: file.map_or_else(|| redacted(text), str::to_string),
            reason: "names no proxy".into(),
        });
    }
    let mut proxies: Vec<ProxyEndpoint> = Vec::new();
    for (i, entry) in entries.iter().enumerate() {
        let fail = |reason: String| ConfigError {
            var: PROXIES_VAR,
            value: redacted(entry),
            reason: format!("{}: {reason}", place(i + 1)),
        };
        let proxy = ProxyEndpoint::parse(entry).map_err(fail)?;
        if proxies.iter().any(|p| p.name() == proxy.name()) {
            return Err(fail(format!(
                "two proxies are named {}: give them labels (label=http://…)",
                proxy.name()
            )));
        }
        proxies.push(proxy);
    }
    Ok(proxies)
}

/// Entries are separated by newlines, and by commas that start a new entry: a comma inside a
/// password stays where it is. Blank lines and lines starting with `#` are skipped.
fn split_entries(text: &str) -> Vec<String> {
    let mut entries: Vec<String> = Vec::new();
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut current: Option<String> = None;
        for piece in line.split(',') {
            match current.as_mut() {
                Some(cur) if !starts_entry(piece) => {
                    cur.push(',');
                    cur.push_str(piece);
                }
                _ => entries.extend(current.replace(piece.to_string())),
            }
        }
        entries.extend(current);
    }
    entries
        .iter()
        .map(|e| e.trim().trim_end_matches(',').trim().to_string())
        .filter(|e| !e.is_empty())
        .collect()
}

/// `[label=]scheme://…` at the start of a piece.
fn starts_entry(piece: &str) -> bool {
    let piece = piece.trim_start();
    piece.find("://").is_some_and(|at| {
        at > 0
            && piece[..at]
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '=' | '+'))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(pairs: &[(&str, &str)]) -> Result<ProxySettings, ConfigError> {
        ProxySettings::from_vars(&Vars::from_pairs(pairs.iter().copied()))
    }

    fn names(s: &ProxySettings) -> Vec<String> {
        s.proxies.iter().map(ProxyEndpoint::name).collect()
    }

    #[test]
    fn nothing_configured_means_direct() {
        let s = settings(&[]).unwrap();
        assert_eq!(s, ProxySettings::default());
        assert_eq!(s.cooldown, Duration::from_secs(300));
    }

    #[test]
    fn proxies_make_proxies_the_default_mode() {
        let s = settings(&[(PROXIES_VAR, "http://u:p@10.0.0.5:8080")]).unwrap();
        assert_eq!(s.mode, ProxyMode::Proxies);
        let s = settings(&[
            (PROXIES_VAR, "http://u:p@10.0.0.5:8080"),
            (MODE_VAR, "Direct-Then-Proxies"),
            (COOLDOWN_VAR, "2.5"),
        ])
        .unwrap();
        assert_eq!(s.mode, ProxyMode::DirectThenProxies);
        assert_eq!(s.cooldown, Duration::from_millis(2500));
    }

    #[test]
    fn commas_and_newlines_separate_entries_but_a_comma_in_a_password_stays() {
        let s = settings(&[(
            PROXIES_VAR,
            "res-1=http://u:a,b@10.0.0.5:8080, http://10.0.0.6:3128\n\n# spare\nhttps://u2:p@h:1,",
        )])
        .unwrap();
        assert_eq!(names(&s), ["res-1", "10.0.0.6:3128", "h:1"]);
        assert_eq!(
            s.proxies[0],
            ProxyEndpoint::parse("res-1=http://u:a%2Cb@10.0.0.5:8080").unwrap()
        );
    }

    #[test]
    fn a_value_without_a_scheme_is_read_as_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("proxies");
        std::fs::write(
            &path,
            "res-1=http://u:p+ss@w/rd@10.0.0.5:8080\nres-2=http://u:x@10.0.0.6:8080\n",
        )
        .unwrap();
        let s = settings(&[(PROXIES_VAR, path.to_str().unwrap())]).unwrap();
        assert_eq!(names(&s), ["res-1", "res-2"]);

        std::fs::write(&path, "http://u:s3cret@10.0.0.5\n").unwrap();
        let err = settings(&[(PROXIES_VAR, path.to_str().unwrap())]).unwrap_err();
        assert_eq!(err.var, PROXIES_VAR);
        assert!(err.to_string().contains("in file"), "{err}");
        assert!(!err.to_string().contains("s3cret"), "{err}");

        std::fs::write(&path, "# none yet\n").unwrap();
        let err = settings(&[(PROXIES_VAR, path.to_str().unwrap())]).unwrap_err();
        assert!(err.to_string().contains("names no proxy"), "{err}");
    }

    #[test]
    fn a_missing_file_is_named() {
        let err = settings(&[(PROXIES_VAR, "/run/secrets/nope/proxies")]).unwrap_err();
        assert_eq!(err.var, PROXIES_VAR);
        assert!(err.to_string().contains("nor an existing file"), "{err}");
    }

    #[test]
    fn bad_values_name_the_variable_and_hide_credentials() {
        for (pairs, var) in [
            (vec![(MODE_VAR, "proxies")], MODE_VAR),
            (vec![(MODE_VAR, "direct-then-proxies")], MODE_VAR),
            (
                vec![
                    (PROXIES_VAR, "http://u:s3cret@h:1"),
                    (MODE_VAR, "sometimes"),
                ],
                MODE_VAR,
            ),
            (vec![(PROXIES_VAR, "ftp://u:s3cret@h:1")], PROXIES_VAR),
            (
                vec![(PROXIES_VAR, "http://u:s3cret@h:1,http://v:s3cret@h:1")],
                PROXIES_VAR,
            ),
            (
                vec![(PROXIES_VAR, "http://u:s3cret@h:1"), (COOLDOWN_VAR, "0")],
                COOLDOWN_VAR,
            ),
            (vec![(PROXIES_VAR, "u:s3cret@h:1")], PROXIES_VAR),
        ] {
            let err = settings(&pairs).expect_err(&format!("{pairs:?}"));
            assert_eq!(err.var, var, "{err}");
            let shown = format!("{err} {err:?}");
            assert!(shown.contains(var), "{shown}");
            assert!(!shown.contains("s3cret"), "{shown}");
        }
    }

    #[test]
    fn direct_mode_may_keep_proxies_configured_but_unused() {
        let s = settings(&[(PROXIES_VAR, "http://h:1"), (MODE_VAR, "direct")]).unwrap();
        assert_eq!(s.mode, ProxyMode::Direct);
    }

    #[test]
    fn debug_shows_names_not_credentials() {
        let s = settings(&[(PROXIES_VAR, "res-1=http://alice:p+ss@10.0.0.5:8080")]).unwrap();
        let shown = format!("{s:?}");
        assert!(shown.contains("res-1"), "{shown}");
        assert!(
            !shown.contains("alice") && !shown.contains("p+ss"),
            "{shown}"
        );
    }
}
