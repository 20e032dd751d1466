//! A change that writes a single item is sent as one conditional `PutItem` or `UpdateItem`
//! rather than a transaction of one: a transaction bills each of its writes twice, a single
//! write once, and one item is atomic on its own (docs/benchmarks.md, "AWS: calls and cost
//! per action").

use aws_sdk_dynamodb::types::TransactWriteItem;

use pipewright_core::ports::StoreError;

use super::DynamoStore;
use super::errors::single_write_error;

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
            return Some(result.map(drop).map_err(|error| single_write_error(&error, conflict)));
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
            return Some(result.map(drop).map_err(|error| single_write_error(&error, conflict)));
        }
        None
    }
}
