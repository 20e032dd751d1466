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
    "InternalError",
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
                let status = service.raw().status().as_u16();
                let text = inner
                    .message()
                    .map(String::from)
                    .unwrap_or_else(|| aws_smithy_types::error::display::DisplayErrorContext(inner).to_string());
                CallError {
                    // A code says; an answer without one (a HEAD's error has no body), or with
                    // a code not listed, is known by its status.
                    transient: code.as_deref().is_some_and(|c| TRANSIENT_CODES.contains(&c))
                        || (!code.as_deref().is_some_and(|c| PERMISSION_CODES.contains(&c))
                            && matches!(status, 429 | 500 | 502 | 503 | 504)),
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

#[cfg(test)]
mod tests {
    use aws_sdk_s3::operation::head_object::HeadObjectError;
    use aws_smithy_types::body::SdkBody;
    use aws_smithy_types::error::ErrorMetadata;

    use super::*;

    /// What S3 answers with `status`, and `code` in its body if any.
    fn answer(status: u16, code: Option<&str>) -> CallError {
        let mut metadata = ErrorMetadata::builder();
        if let Some(code) = code {
            metadata = metadata.code(code);
        }
        let raw = HttpResponse::new(status.try_into().unwrap(), SdkBody::empty());
        CallError::of("HeadObject", &SdkError::service_error(HeadObjectError::generic(metadata.build()), raw))
    }

    #[test]
    fn an_answer_may_pass_by_its_code_or_else_by_its_status() {
        for (status, code, transient) in [
            (503, None, true),
            (500, Some("InternalError"), true),
            (503, Some("SlowDown"), true),
            (502, Some("SomethingNew"), true),
            (400, Some("ThrottlingException"), true),
            (404, None, false),
            (403, None, false),
            (503, Some("AccessDenied"), false),
        ] {
            let error = answer(status, code);
            assert_eq!((error.transient, error.answered), (transient, true), "{status} {code:?}: {error:?}");
        }
    }
}
