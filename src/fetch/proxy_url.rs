//! One forward proxy from `BACKSTOP_PROXIES`, parsed by hand so that credentials with reserved
//! characters (`+ @ / : %`) work whether or not the operator percent-encoded them, and named by
//! `host:port` or a label so that its credentials never need to be shown anywhere.
//!
//! Grammar of one entry: `[label=]scheme://[user[:password]@]host:port[/]`. The userinfo ends
//! at the LAST `@` (a raw `@` in a password is fine), the user ends at the FIRST `:` (a raw `:`
//! in a password is fine). Each part is percent-decoded when it decodes cleanly (every `%` is
//! followed by two hex digits and the result is UTF-8), else taken as written. The raw user and
//! password go to `reqwest::Proxy::basic_auth`, which does the encoding itself.

use std::fmt;

use percent_encoding::percent_decode_str;

use crate::settings::Secret;

/// A forward proxy: where it is, what to call it, and how to log in (never printed).
#[derive(Clone, PartialEq, Eq)]
pub struct ProxyEndpoint {
    label: Option<String>,
    scheme: String,
    /// As written; an IPv6 address keeps its brackets.
    host: String,
    port: u16,
    credentials: Option<(Secret, Secret)>,
}

impl ProxyEndpoint {
    /// Parses one entry. The error says what is wrong without repeating any credential.
    pub fn parse(entry: &str) -> Result<ProxyEndpoint, String> {
        let entry = entry.trim();
        let scheme_at = entry
            .find("://")
            .ok_or("expected [label=]http://user:password@host:port")?;
        let (label, scheme) = match entry[..scheme_at].split_once('=') {
            Some((label, scheme)) => (Some(valid_label(label)?), scheme),
            None => (None, &entry[..scheme_at]),
        };
        let scheme = scheme.trim().to_ascii_lowercase();
        if scheme != "http" && scheme != "https" {
            return Err(format!(
                "scheme {scheme:?} is not supported: use http:// or https://"
            ));
        }
        let rest = &entry[scheme_at + 3..];
        let (userinfo, host_port) = match rest.rfind('@') {
            Some(at) => (Some(&rest[..at]), &rest[at + 1..]),
            None => (None, rest),
        };
        let host_port = host_port.strip_suffix('/').unwrap_or(host_port);
        let (host, port) = split_host_port(host_port)?;
        let credentials = userinfo.map(|info| {
            let (user, password) = info.split_once(':').unwrap_or((info, ""));
            (
                Secret::new(decode_if_clean(user)),
                Secret::new(decode_if_clean(password)),
            )
        });
        Ok(ProxyEndpoint {
            label,
            scheme,
            host: host.to_string(),
            port,
            credentials,
        })
    }

    /// What logs, metrics and `/proxies` call it: the label, else `host:port`.
    pub fn name(&self) -> String {
        self.label.clone().unwrap_or_else(|| self.address())
    }

    /// `host:port`.
    pub fn address(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }

    /// `res-1 (10.0.0.5:8080)` when labelled, else `10.0.0.5:8080`.
    pub fn described(&self) -> String {
        match &self.label {
            Some(label) => format!("{label} ({})", self.address()),
            None => self.address(),
        }
    }

    /// The proxy's URL without credentials.
    pub fn url(&self) -> String {
        format!("{}://{}", self.scheme, self.address())
    }

    pub fn has_credentials(&self) -> bool {
        self.credentials.is_some()
    }

    /// The proxy as reqwest takes it; the only place the credentials are exposed.
    pub fn to_reqwest(&self) -> Result<reqwest::Proxy, String> {
        let proxy = reqwest::Proxy::all(self.url())
            .map_err(|e| format!("proxy {} is not a usable URL: {e}", self.described()))?;
        Ok(match &self.credentials {
            Some((user, password)) => proxy.basic_auth(user.expose(), password.expose()),
            None => proxy,
        })
    }
}

impl fmt::Debug for ProxyEndpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProxyEndpoint")
            .field("name", &self.name())
            .field("url", &self.url())
            .field(
                "credentials",
                &if self.has_credentials() {
                    "[redacted]"
                } else {
                    "none"
                },
            )
            .finish()
    }
}

/// An entry as it may be shown in an error: everything before the last `@` after the scheme
/// is replaced, so a credential never reaches a log even when the entry is malformed.
pub fn redacted(entry: &str) -> String {
    let entry = entry.trim();
    match entry.rfind('@') {
        None => entry.to_string(),
        Some(at) => {
            let keep = entry
                .find("://")
                .map(|i| i + 3)
                .filter(|&i| i <= at)
                .unwrap_or(0);
            format!("{}[credentials]@{}", &entry[..keep], &entry[at + 1..])
        }
    }
}

fn valid_label(label: &str) -> Result<String, String> {
    let label = label.trim();
    let ok = !label.is_empty()
        && label
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if !ok {
        return Err(format!(
            "label {label:?} must be letters, digits, '-', '_' or '.'"
        ));
    }
    if label == "direct" {
        return Err("label \"direct\" is reserved for the route without a proxy".into());
    }
    Ok(label.to_string())
}

fn split_host_port(host_port: &str) -> Result<(&str, u16), String> {
    let bad = |why: &str| format!("{host_port:?} is not host:port: {why}");
    let (host, port) = if let Some(inner) = host_port.strip_prefix('[') {
        let close = inner.find(']').ok_or_else(|| bad("unclosed '['"))?;
        let port = inner[close + 1..]
            .strip_prefix(':')
            .ok_or_else(|| bad("no port"))?;
        (&host_port[..close + 2], port)
    } else {
        host_port.rsplit_once(':').ok_or_else(|| bad("no port"))?
    };
    if host.is_empty()
        || host
            .chars()
            .any(|c| c.is_whitespace() || matches!(c, '/' | '@' | '?' | '#'))
        || (!host.starts_with('[') && host.contains(':'))
    {
        return Err(bad("the host is empty or holds characters a host cannot"));
    }
    match port.parse::<u16>() {
        Ok(p) if p > 0 => Ok((host, p)),
        _ => Err(bad("the port must be a number from 1 to 65535")),
    }
}

/// Percent-decodes `s` when every `%` starts a valid escape and the result is UTF-8; otherwise
/// `s` was written raw (a password such as `50%off` stays as it is).
fn decode_if_clean(s: &str) -> String {
    let bytes = s.as_bytes();
    let escapes_valid = bytes.iter().enumerate().all(|(i, &b)| {
        b != b'%'
            || (i + 2 < bytes.len()
                && bytes[i + 1].is_ascii_hexdigit()
                && bytes[i + 2].is_ascii_hexdigit())
    });
    if !escapes_valid {
        return s.to_string();
    }
    match percent_decode_str(s).decode_utf8() {
        Ok(decoded) => decoded.into_owned(),
        Err(_) => s.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn creds(p: &ProxyEndpoint) -> (String, String) {
        let (u, pw) = p.credentials.as_ref().expect("credentials");
        (u.expose().to_string(), pw.expose().to_string())
    }

    #[test]
    fn reserved_characters_work_raw() {
        let p = ProxyEndpoint::parse("http://user:p+ss@w/rd:x%@10.0.0.5:8080").unwrap();
        assert_eq!(creds(&p), ("user".into(), "p+ss@w/rd:x%".into()));
        assert_eq!(p.address(), "10.0.0.5:8080");
        assert_eq!(p.name(), "10.0.0.5:8080");
        assert_eq!(p.url(), "http://10.0.0.5:8080");
    }

    #[test]
    fn reserved_characters_work_percent_encoded() {
        let p = ProxyEndpoint::parse("http://us%40er:p%2Bss%40w%2Frd%3Ax%25@proxy.example:3128/")
            .unwrap();
        assert_eq!(creds(&p), ("us@er".into(), "p+ss@w/rd:x%".into()));
        assert_eq!(p.address(), "proxy.example:3128");
    }

    #[test]
    fn a_percent_that_is_not_an_escape_is_kept_as_written() {
        assert_eq!(decode_if_clean("50%off"), "50%off");
        assert_eq!(decode_if_clean("ends%"), "ends%");
        assert_eq!(decode_if_clean("ends%4"), "ends%4");
        assert_eq!(decode_if_clean("bad%ffutf8"), "bad%ffutf8");
        assert_eq!(decode_if_clean("a%2Bb"), "a+b");
        assert_eq!(decode_if_clean("plain+"), "plain+");
    }

    #[test]
    fn a_label_names_the_proxy_and_the_address_stays_visible() {
        let p = ProxyEndpoint::parse("res-1=http://u:secret@10.0.0.5:8080").unwrap();
        assert_eq!(p.name(), "res-1");
        assert_eq!(p.described(), "res-1 (10.0.0.5:8080)");
        let no_label = ProxyEndpoint::parse("HTTPS://10.0.0.6:443").unwrap();
        assert_eq!(no_label.described(), "10.0.0.6:443");
        assert_eq!(no_label.url(), "https://10.0.0.6:443");
        assert!(!no_label.has_credentials());
    }

    #[test]
    fn ipv6_hosts_keep_their_brackets() {
        let p = ProxyEndpoint::parse("http://u:p@[::1]:8080").unwrap();
        assert_eq!(p.address(), "[::1]:8080");
    }

    #[test]
    fn a_user_without_a_password_is_accepted() {
        let p = ProxyEndpoint::parse("http://token@h:1").unwrap();
        assert_eq!(creds(&p), ("token".into(), String::new()));
    }

    #[test]
    fn bad_entries_are_refused_with_a_reason_and_no_credentials() {
        for entry in [
            "user:s3cret@10.0.0.5:8080",
            "socks5://u:s3cret@10.0.0.5:1080",
            "http://u:s3cret@10.0.0.5",
            "http://u:s3cret@10.0.0.5:0",
            "http://u:s3cret@10.0.0.5:99999",
            "http://u:s3cret@10.0.0.5:8080/path",
            "http://u:s3cret@:8080",
            "bad label=http://u:s3cret@h:1",
            "direct=http://u:s3cret@h:1",
        ] {
            let reason = ProxyEndpoint::parse(entry).expect_err(entry);
            assert!(!reason.contains("s3cret"), "{entry}: {reason}");
            assert!(!redacted(entry).contains("s3cret"), "{}", redacted(entry));
        }
    }

    #[test]
    fn debug_output_hides_credentials() {
        let p = ProxyEndpoint::parse("res-1=http://alice:p+ss@10.0.0.5:8080").unwrap();
        let shown = format!("{p:?}");
        assert!(
            !shown.contains("alice") && !shown.contains("p+ss"),
            "{shown}"
        );
        assert!(
            shown.contains("res-1") && shown.contains("[redacted]"),
            "{shown}"
        );
    }

    #[test]
    fn redaction_keeps_label_scheme_and_address() {
        assert_eq!(
            redacted("res-1=http://u:p@ss@10.0.0.5:8080"),
            "res-1=http://[credentials]@10.0.0.5:8080"
        );
        assert_eq!(redacted("u:p@h:1"), "[credentials]@h:1");
        assert_eq!(redacted("http://h:1"), "http://h:1");
    }

    #[test]
    fn reqwest_takes_every_parsed_proxy() {
        let p = ProxyEndpoint::parse("http://user:p+ss@w/rd@127.0.0.1:3128").unwrap();
        p.to_reqwest().expect("reqwest accepts it");
    }
}
