//! SDK errors as store errors: whether a failed call is a lost race (`Conflict`), asks for a
//! backoff (`Throttled`), may pass (`Unavailable`), or will fail again (`Refused`).

use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_smithy_runtime_api::http::Response;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

use pipewright_core::ports::StoreError;

/// A request this store built and cannot send as it is (a builder missing a field): permanent.
pub(super) fn refused(error: impl std::fmt::Display) -> StoreError {
    StoreError::Refused(error.to_string())
}

/// The message of an SDK error, with the service's own words when it has them.
fn describe<E: std::error::Error + 'static>(error: &SdkError<E, Response>) -> String {
    match error {
        SdkError::ServiceError(service) => {
            let source = service.err();
            format!("{source}: {}", aws_smithy_types::error::display::DisplayErrorContext(source))
        }
        other => aws_smithy_types::error::display::DisplayErrorContext(other).to_string(),
    }
}

/// An SDK error as a store error. DynamoDB refusing the request as it is (a validation error,
/// an item collection over its size limit) is permanent; throttling that outlasted the SDK's
/// own retries asks for a longer backoff; anything else (a service or network error, a
/// timeout) may pass.
pub(super) fn sdk_error<E>(error: &SdkError<E, Response>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let code = match error {
        SdkError::ServiceError(service) => service.err().code(),
        _ => None,
    };
    match code {
        Some("ValidationException" | "ItemCollectionSizeLimitExceededException") => {
            StoreError::Refused(describe(error))
        }
        Some("ProvisionedThroughputExceededException" | "ThrottlingException" | "RequestLimitExceeded") => {
            StoreError::Throttled(describe(error))
        }
        _ => StoreError::Unavailable(describe(error)),
    }
}

/// A failed `TransactWriteItems` as a store error, by the reasons DynamoDB gives for the
/// cancellation: a condition not met, or another transaction on the same items, is a
/// `Conflict` (load again and re-apply); an item over 400 KB or another validation error is
/// refused for good; throttling backs off and may pass.
pub(super) fn transaction_error(
    error: &SdkError<TransactWriteItemsError, Response>,
    conflict: impl FnOnce() -> String,
) -> StoreError {
    let SdkError::ServiceError(service) = error else { return sdk_error(error) };
    let TransactWriteItemsError::TransactionCanceledException(cancelled) = service.err() else {
        return sdk_error(error);
    };
    let codes: Vec<&str> = cancelled.cancellation_reasons().iter().filter_map(|reason| reason.code()).collect();
    let any = |wanted: &[&str]| codes.iter().any(|code| wanted.contains(code));
    if any(&["ValidationError", "ItemCollectionSizeLimitExceeded"]) {
        StoreError::Refused(describe(error))
    } else if any(&["ConditionalCheckFailed", "TransactionConflict"]) {
        StoreError::Conflict(conflict())
    } else if any(&["ProvisionedThroughputExceeded", "ThrottlingError"]) {
        StoreError::Throttled(describe(error))
    } else if codes.iter().all(|code| *code == "None") {
        // No reason given for any item: taken for the race it most likely is.
        StoreError::Conflict(conflict())
    } else {
        // A reason this store does not know (an internal error, an emulator's own): may pass,
        // but re-applying at once would only meet it again.
        StoreError::Unavailable(describe(error))
    }
}

/// A failed single conditional write (`single_write.rs`) as a store error: its condition not
/// met, or the item held by a transaction, is a `Conflict` (load again and re-apply), as for
/// a transaction; anything else as [`sdk_error`].
pub(super) fn single_write_error<E>(error: &SdkError<E, Response>, conflict: impl FnOnce() -> String) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    match error {
        SdkError::ServiceError(service)
            if matches!(
                service.err().code(),
                Some("ConditionalCheckFailedException" | "TransactionConflictException")
            ) =>
        {
            StoreError::Conflict(conflict())
        }
        _ => sdk_error(error),
    }
}

/// A conditional write's outcome: written (true), its condition not met (false), or an error.
pub(super) fn conditional<T, E>(result: Result<T, SdkError<E, Response>>) -> Result<bool, StoreError>
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    match result {
        Ok(_) => Ok(true),
        Err(error) if is_conditional_failure(&error) => Ok(false),
        Err(error) => Err(sdk_error(&error)),
    }
}

pub(super) fn is_conditional_failure<E: ProvideErrorMetadata>(error: &SdkError<E, Response>) -> bool {
    match error {
        SdkError::ServiceError(service) => {
            matches!(service.err().code(), Some("ConditionalCheckFailedException" | "TransactionCanceledException"))
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Why DynamoDB cancelled a transaction decides whether to reload, retry or give up.
    #[test]
    fn cancelled_transactions_are_classified_by_their_reasons() {
        use aws_sdk_dynamodb::types::CancellationReason;
        use aws_sdk_dynamodb::types::error::TransactionCanceledException;
        let cancelled = |codes: &[&str]| {
            let mut exception = TransactionCanceledException::builder().message("cancelled");
            for code in codes {
                exception = exception.cancellation_reasons(CancellationReason::builder().code(*code).build());
            }
            let response = Response::new(
                aws_smithy_runtime_api::http::StatusCode::try_from(400).unwrap(),
                aws_smithy_types::body::SdkBody::empty(),
            );
            let error = SdkError::service_error(
                TransactWriteItemsError::TransactionCanceledException(exception.build()),
                response,
            );
            transaction_error(&error, || "moved".to_string())
        };
        assert_eq!(cancelled(&["None", "ConditionalCheckFailed"]), StoreError::Conflict("moved".into()));
        assert_eq!(cancelled(&["TransactionConflict"]), StoreError::Conflict("moved".into()));
        assert_eq!(cancelled(&[]), StoreError::Conflict("moved".into()));
        assert!(matches!(cancelled(&["None", "ValidationError"]), StoreError::Refused(_)));
        assert!(matches!(cancelled(&["ItemCollectionSizeLimitExceeded"]), StoreError::Refused(_)));
        assert!(matches!(cancelled(&["ThrottlingError", "None"]), StoreError::Throttled(_)));
        assert!(matches!(cancelled(&["ThrottlingError", "TransactionConflict"]), StoreError::Conflict(_)));
        // An unknown reason is not a lost race: re-applying at once would only meet it again.
        assert!(matches!(cancelled(&["None", "InternalError"]), StoreError::Unavailable(_)));
        assert_eq!(cancelled(&["None", "None"]), StoreError::Conflict("moved".into()));
    }
}
