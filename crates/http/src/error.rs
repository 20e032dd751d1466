//! What can go wrong with a request, split into permanent failures (the same request will fail
//! the same way again) and transient ones (worth another try), so callers retry only the latter.

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HttpError {
    /// The request cannot be sent as given (a bad URL, method or header): the caller's mistake.
    #[error("{url}: {reason}")]
    Invalid { url: String, reason: String },
    #[error("cannot load this machine's TLS root certificates for {url}: {reason}")]
    Roots { url: String, reason: String },
    /// The server could not be reached, or the connection broke.
    #[error("cannot reach {url}: {reason}")]
    Transport { url: String, reason: String },
    /// The server answered and will answer the same again: a 4xx other than 408 and 429, or
    /// any other status that is neither a success nor a redirect.
    #[error("{url} answered {status}: {message}")]
    Refused { url: String, status: u16, message: String },
    /// The server is busy or failing for now: a 5xx, 408 or 429.
    #[error("{url} answered {status}: {message}")]
    Unavailable { url: String, status: u16, message: String },
    /// A redirect with no usable `Location`, or more redirects than the client follows.
    #[error("{url}: {reason}")]
    Redirects { url: String, reason: String },
    /// The body is larger than the caller accepts.
    #[error("{url} answered more than {limit} bytes")]
    TooLarge { url: String, limit: u64 },
    /// The body could not be written to its file.
    #[error("cannot write {path}: {reason}")]
    File { path: String, reason: String },
}

impl HttpError {
    /// Whether the same request may succeed later (a lost connection, a busy server, a full
    /// or failing disk), as opposed to failing the same way again.
    pub fn is_transient(&self) -> bool {
        matches!(self, HttpError::Transport { .. } | HttpError::Unavailable { .. } | HttpError::File { .. })
    }

    /// The error for a final answer that is not a success: `message` is the start of its body.
    pub(crate) fn from_status(url: &str, status: u16, body: &[u8]) -> HttpError {
        let message = String::from_utf8_lossy(&body[..body.len().min(300)]).into_owned();
        let url = url.to_string();
        if status == 408 || status == 429 || status >= 500 {
            HttpError::Unavailable { url, status, message }
        } else {
            HttpError::Refused { url, status, message }
        }
    }
}

/// `error` and its sources, which hyper keeps apart ("client error (Connect)": connection refused).
pub(crate) fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_busy_or_failing_servers_lost_connections_and_disks_are_worth_a_retry() {
        let answered = |status| HttpError::from_status("https://h/x", status, b"why");
        for status in [500, 502, 503, 408, 429] {
            assert!(answered(status).is_transient(), "{status}");
            assert!(matches!(answered(status), HttpError::Unavailable { .. }), "{status}");
        }
        for status in [400, 401, 403, 404, 410, 422, 304] {
            assert!(!answered(status).is_transient(), "{status}");
            assert!(matches!(answered(status), HttpError::Refused { .. }), "{status}");
        }
        assert_eq!(answered(404).to_string(), "https://h/x answered 404: why");
        let url = "u".to_string();
        assert!(HttpError::Transport { url: url.clone(), reason: "reset".into() }.is_transient());
        assert!(HttpError::File { path: "p".into(), reason: "full".into() }.is_transient());
        assert!(!HttpError::Redirects { url: url.clone(), reason: "loop".into() }.is_transient());
        assert!(!HttpError::TooLarge { url: url.clone(), limit: 1 }.is_transient());
        assert!(!HttpError::Invalid { url: url.clone(), reason: "bad".into() }.is_transient());
        assert!(!HttpError::Roots { url, reason: "none".into() }.is_transient());
    }

    #[test]
    fn a_long_or_binary_body_is_cut_to_a_readable_message() {
        let body = [b'x'; 1000];
        let HttpError::Refused { message, .. } = HttpError::from_status("u", 400, &body) else { panic!() };
        assert_eq!(message.len(), 300);
        let HttpError::Refused { message, .. } = HttpError::from_status("u", 400, &[0xff, b'a']) else { panic!() };
        assert_eq!(message, "\u{fffd}a");
    }
}
