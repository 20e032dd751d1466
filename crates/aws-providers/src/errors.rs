//! What an SDK error means to a provider: its code and message, whether another try may
//! succeed (throttling, a dropped connection), and the failure type it reports.

use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

use pipewright_core::engine::FailureType;
use pipewright_providers::deploy::Progress;

/// One failed call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallError {
    pub code: Option<String>,
    pub message: String,
    /// Worth another try later: the provider waits and repeats its step.
    pub transient: bool,
    /// The service answered with an error of its own, as opposed to no answer at all (a
    /// dropped connection, a timeout, credentials that could not be had).
    pub answered: bool,
}

const TRANSIENT_CODES: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "RequestLimitExceeded",
    "TooManyRequestsException",
    "ServiceUnavailable",
    "ServiceUnavailableException",
    "InternalFailure",
    "InternalServerError",
    "RequestTimeout",
    "SlowDown",
];

const PERMISSION_CODES: &[&str] =
    &["AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "InvalidClientTokenId", "ExpiredToken"];

impl CallError {
    pub fn of<E>(operation: &str, error: &SdkError<E, HttpResponse>) -> CallError
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        match error {
            SdkError::ServiceError(service) => {
                let inner = service.err();
                let code = inner.code().map(String::from);
                // An answer without a code (a HEAD's error has no body) is known by its status.
                let status = service.raw().status().as_u16();
                let text = inner
                    .message()
                    .map(String::from)
                    .unwrap_or_else(|| aws_smithy_types::error::display::DisplayErrorContext(inner).to_string());
                CallError {
                    transient: match code.as_deref() {
                        Some(code) => TRANSIENT_CODES.contains(&code),
                        None => matches!(status, 429 | 500 | 502 | 503 | 504),
                    },
                    answered: true,
                    message: format!(
                        "{operation}: {}{text}",
                        code.as_deref().map(|c| format!("{c}: ")).unwrap_or_default()
                    ),
                    code,
                }
            }
            other => CallError {
                code: None,
                message: format!("{operation}: {}", aws_smithy_types::error::display::DisplayErrorContext(other)),
                transient: true,
                answered: false,
            },
        }
    }

    pub fn is(&self, code: &str) -> bool {
        self.code.as_deref() == Some(code)
    }

    /// The failure this reports when it ends the action.
    pub fn failed(&self) -> Progress {
        let kind = if self.code.as_deref().is_some_and(|c| PERMISSION_CODES.contains(&c)) {
            FailureType::PermissionError
        } else {
            FailureType::JobFailed
        };
        Progress::failed(kind, self.message.clone())
    }
}

impl std::fmt::Display for CallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}
