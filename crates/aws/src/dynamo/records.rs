//! Small records beside the pipelines (custom action types, job acknowledgements), one item
//! each under `RECORD#<kind>`.

use pipewright_core::ports::StoreError;

use super::DynamoStore;
use super::codec::{get_s, s};
use super::errors::{conditional, sdk_error};
use super::keys::{key, record_pk};

pub(super) async fn put_if_absent(
    store: &DynamoStore,
    kind: &str,
    record: &str,
    value: &str,
) -> Result<bool, StoreError> {
    put_when(store, kind, record, value, None).await
}

/// Writes `value` only if the record still holds `expected` (a compare-and-swap).
pub(super) async fn replace(
    store: &DynamoStore,
    kind: &str,
    record: &str,
    expected: &str,
    value: &str,
) -> Result<bool, StoreError> {
    put_when(store, kind, record, value, Some(expected)).await
}

/// Puts the record if it is absent (`expected` none) or holds `expected`; false when not.
async fn put_when(
    store: &DynamoStore,
    kind: &str,
    record: &str,
    value: &str,
    expected: Option<&str>,
) -> Result<bool, StoreError> {
    let put = store
        .client
        .put_item()
        .table_name(&store.table)
        .item("pk", s(record_pk(kind)))
        .item("sk", s(record))
        .item("value", s(value));
    let put = match expected {
        None => put.condition_expression("attribute_not_exists(pk)"),
        Some(expected) => put
            .condition_expression("#value = :expected")
            .expression_attribute_names("#value", "value")
            .expression_attribute_values(":expected", s(expected)),
    };
    conditional(put.send().await)
}

pub(super) async fn get(store: &DynamoStore, kind: &str, record: &str) -> Result<Option<String>, StoreError> {
    let Some(item) = store.get(&record_pk(kind), record).await? else { return Ok(None) };
    Ok(Some(get_s(&item, "value")?.to_string()))
}

pub(super) async fn list(store: &DynamoStore, kind: &str) -> Result<Vec<(String, String)>, StoreError> {
    let mut records = Vec::new();
    let mut start = None;
    loop {
        let output = store
            .client
            .query()
            .table_name(&store.table)
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(":pk", s(record_pk(kind)))
            .consistent_read(true)
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(|e| sdk_error(&e))?;
        for item in output.items.unwrap_or_default() {
            records.push((get_s(&item, "sk")?.to_string(), get_s(&item, "value")?.to_string()));
        }
        start = output.last_evaluated_key.filter(|k| !k.is_empty());
        if start.is_none() {
            return Ok(records);
        }
    }
}

pub(super) async fn delete(store: &DynamoStore, kind: &str, record: &str) -> Result<(), StoreError> {
    store
        .client
        .delete_item()
        .table_name(&store.table)
        .set_key(Some(key(&record_pk(kind), record)))
        .send()
        .await
        .map_err(|e| sdk_error(&e))?;
    Ok(())
}
