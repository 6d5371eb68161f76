//! The one table of which answers from Google Cloud (and Phase 2, a Cloud Run service) are
//! worth another attempt: 408, 429 and 5xx are; 401/403, 404 and every other status are not.
//! Every row has a unit test.

/// What a failed call means for the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// 404.
    NotFound,
    /// 401/403: the credentials are refused.
    Denied,
    /// 5xx, 408, 429, transport failures, timeouts.
    Unavailable,
    /// Any other refusal, or an answer that makes no sense.
    Invalid,
    /// No access token could be obtained.
    Credentials,
}

/// One failed attempt, classified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallFailure {
    pub class: Class,
    pub transient: bool,
    pub status: Option<u16>,
    pub detail: String,
}

impl CallFailure {
    /// A non-success answer; `message` is what the server said.
    pub fn status(status: u16, message: &str) -> Self {
        let (class, transient) = classify_status(status);
        Self {
            class,
            transient,
            status: Some(status),
            detail: format!("HTTP {status}: {message}"),
        }
    }

    /// The request or the answer broke in transit: always worth another attempt.
    pub fn transport(detail: String) -> Self {
        Self {
            class: Class::Unavailable,
            transient: true,
            status: None,
            detail,
        }
    }

    pub fn permanent(class: Class, detail: String) -> Self {
        Self {
            class,
            transient: false,
            status: None,
            detail,
        }
    }
}

/// The table. Every row has a test below.
pub fn classify_status(status: u16) -> (Class, bool) {
    match status {
        404 => (Class::NotFound, false),
        401 | 403 => (Class::Denied, false),
        408 | 429 | 500..=599 => (Class::Unavailable, true),
        _ => (Class::Invalid, false),
    }
}

/// Whether another attempt may get another answer.
pub fn is_transient(status: u16) -> bool {
    classify_status(status).1
}

#[cfg(test)]
mod tests {
    use super::Class::*;
    use super::*;

    #[test]
    fn not_found_is_final() {
        assert_eq!(classify_status(404), (NotFound, false));
    }

    #[test]
    fn refused_credentials_are_final() {
        for s in [401, 403] {
            assert_eq!(classify_status(s), (Denied, false), "{s}");
        }
    }

    #[test]
    fn timeouts_throttling_and_server_errors_are_transient() {
        for s in [408, 429, 500, 502, 503, 504, 599] {
            assert_eq!(classify_status(s), (Unavailable, true), "{s}");
            assert!(is_transient(s), "{s}");
        }
    }

    #[test]
    fn every_other_status_is_an_invalid_request_and_final() {
        for s in [301, 400, 409, 412, 413, 422, 600] {
            assert_eq!(classify_status(s), (Invalid, false), "{s}");
            assert!(!is_transient(s), "{s}");
        }
    }

    #[test]
    fn a_broken_transport_is_transient() {
        let f = CallFailure::transport("connection reset".into());
        assert_eq!((f.class, f.transient, f.status), (Unavailable, true, None));
    }
}
