//! Where Google Cloud is: the production base URLs, and the one reading of an emulator's or
//! the metadata server's host (`STORAGE_EMULATOR_HOST`, `PUBSUB_EMULATOR_HOST`,
//! `BIGQUERY_EMULATOR_HOST`, `GCE_METADATA_HOST`): `HOST:PORT` and `http://HOST:PORT/` both
//! mean `http://HOST:PORT`.

use reqwest::Url;

use crate::settings::ConfigError;

pub const STORAGE: &str = "https://storage.googleapis.com";
pub const PUBSUB: &str = "https://pubsub.googleapis.com";
pub const BIGQUERY: &str = "https://bigquery.googleapis.com";
/// The metadata server on Cloud Run and Compute Engine (`GCE_METADATA_HOST` replaces it).
pub const METADATA_HOST: &str = "metadata.google.internal";

/// A host as a base URL, no trailing slash: `http(s)://` is kept, a bare `HOST[:PORT]` gets
/// `http://`. For values already checked by [`parse`] (or set by tests).
pub fn base_url(host: &str) -> String {
    let host = host.trim();
    let (scheme, rest) = match host.split_once("://") {
        Some((s, rest)) if s == "http" || s == "https" => (s, rest),
        _ => ("http", host),
    };
    format!("{scheme}://{}", rest.trim_end_matches('/'))
}

/// `var`'s value as a base URL, refused at start-up unless it is `HOST[:PORT]` or an
/// `http(s)://HOST[:PORT]` URL without a path or query.
pub fn parse(var: &'static str, raw: &str) -> Result<String, ConfigError> {
    let invalid = |reason: &str| ConfigError {
        var,
        value: raw.to_string(),
        reason: format!("{reason}: give HOST:PORT or http://HOST:PORT"),
    };
    let scheme = raw.split_once("://").map(|(s, _)| s);
    if scheme.is_some_and(|s| s != "http" && s != "https") {
        return Err(invalid("not an http(s) address"));
    }
    let url = base_url(raw);
    let parsed = Url::parse(&url).map_err(|e| invalid(&e.to_string()))?;
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err(invalid("no host"));
    }
    if parsed.path() != "/" || parsed.query().is_some() || parsed.fragment().is_some() {
        return Err(invalid("a path or query has no place here"));
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bare_host_and_a_url_name_the_same_place() {
        for given in [
            "127.0.0.1:8085",
            "http://127.0.0.1:8085",
            "http://127.0.0.1:8085/",
        ] {
            assert_eq!(
                parse("X", given).unwrap(),
                "http://127.0.0.1:8085",
                "{given}"
            );
        }
        assert_eq!(
            parse("X", "https://metadata.local").unwrap(),
            "https://metadata.local"
        );
        assert_eq!(base_url(METADATA_HOST), "http://metadata.google.internal");
    }

    #[test]
    fn other_schemes_paths_and_junk_are_refused_naming_the_variable() {
        for bad in [
            "ftp://x:1",
            "http://",
            "localhost:4443/storage",
            "a b:1",
            "http://x:port",
        ] {
            let err = parse("STORAGE_EMULATOR_HOST", bad).unwrap_err();
            assert_eq!(err.var, "STORAGE_EMULATOR_HOST", "{bad}");
            assert!(err.to_string().contains("HOST:PORT"), "{err}");
        }
    }
}
