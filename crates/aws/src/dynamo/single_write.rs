//! A change that writes a single item is sent as one conditional `PutItem` or `UpdateItem`
//! rather than a transaction of one: a transaction bills each of its writes twice, a single
//! write once, and one item is atomic on its own (docs/benchmarks.md, "AWS: calls and cost
//! per action").

use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::types::TransactWriteItem;
use aws_smithy_runtime_api::http::Response;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

use pipewright_core::ports::StoreError;

use super::DynamoStore;
use super::errors::sdk_error;

impl DynamoStore {
    /// Writes `item` alone with its condition: `None` when it is neither a put nor an update
    /// (a check or a delete alone is left to a transaction), else the outcome, its condition
    /// not met (or the item in another transaction) being a `Conflict` named by `conflict`.
    pub(super) async fn write_alone(
        &self,
        item: &TransactWriteItem,
        conflict: impl FnOnce() -> String,
    ) -> Option<Result<(), StoreError>> {
        if let Some(update) = item.update() {
            let result = self
                .client
                .update_item()
                .table_name(update.table_name())
                .set_key(Some(update.key().clone()))
                .update_expression(update.update_expression())
                .set_condition_expression(update.condition_expression().map(String::from))
                .set_expression_attribute_names(update.expression_attribute_names().cloned())
                .set_expression_attribute_values(update.expression_attribute_values().cloned())
                .send()
                .await;
            return Some(outcome(result, conflict));
        }
        if let Some(put) = item.put() {
            let result = self
                .client
                .put_item()
                .table_name(put.table_name())
                .set_item(Some(put.item().clone()))
                .set_condition_expression(put.condition_expression().map(String::from))
                .set_expression_attribute_names(put.expression_attribute_names().cloned())
                .set_expression_attribute_values(put.expression_attribute_values().cloned())
                .send()
                .await;
            return Some(outcome(result, conflict));
        }
        None
    }
}

fn outcome<T, E>(result: Result<T, SdkError<E, Response>>, conflict: impl FnOnce() -> String) -> Result<(), StoreError>
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    match result {
        Ok(_) => Ok(()),
        Err(error) if conflicts(&error) => Err(StoreError::Conflict(conflict())),
        Err(error) => Err(sdk_error(&error)),
    }
}

/// The condition was not met, or a transaction holds the item: load again and re-apply.
fn conflicts<E: ProvideErrorMetadata>(error: &SdkError<E, Response>) -> bool {
    match error {
        SdkError::ServiceError(service) => {
            matches!(service.err().code(), Some("ConditionalCheckFailedException" | "TransactionConflictException"))
        }
        _ => false,
    }
}
