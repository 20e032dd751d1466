//! A consistent query of one partition, paged past DynamoDB's 1 MB per answer.

use pipewright_core::ports::StoreError;

use super::DynamoStore;
use super::codec::{Item, s};
use super::errors::sdk_error;

impl DynamoStore {
    /// Every item under partition key `pk` (whose sort key begins with `sk_prefix`, when
    /// given), read consistently, all pages.
    pub(super) async fn partition_items(&self, pk: &str, sk_prefix: Option<&str>) -> Result<Vec<Item>, StoreError> {
        let condition = if sk_prefix.is_some() { "pk = :pk AND begins_with(sk, :prefix)" } else { "pk = :pk" };
        let mut items = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let mut query = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression(condition)
                .expression_attribute_values(":pk", s(pk))
                .consistent_read(true)
                .set_exclusive_start_key(start.take());
            if let Some(prefix) = sk_prefix {
                query = query.expression_attribute_values(":prefix", s(prefix));
            }
            let output = query.send().await.map_err(|e| sdk_error(&e))?;
            items.extend(output.items.unwrap_or_default());
            match output.last_evaluated_key {
                Some(last) if !last.is_empty() => start = Some(last),
                _ => return Ok(items),
            }
        }
    }
}
