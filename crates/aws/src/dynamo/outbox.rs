//! The outbox, in each execution's item: effects are claimed by one owner at a time,
//! completed (removed) once carried out, released when their owner is gone, and read again
//! by the relay of a crashed handler.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::ReturnValue;

use pipewright_core::backoff;
use pipewright_core::engine::Effect;
use pipewright_core::ports::{OutboxEntry, StateStore, StoreError};

use super::DynamoStore;
use super::codec::{Item, get_s, n, outbox_entries, s};
use super::errors::{conditional, is_conditional_failure, sdk_error};
use super::keys::{EXECUTION, execution_pk, key};

impl DynamoStore {
    /// The effects an execution's outbox still holds, claimed or not, in commit order: what a
    /// relay publishes again after a crash between commit and publish.
    pub async fn pending_effects(&self, execution_id: &str) -> Result<Vec<Effect>, StoreError> {
        let Some(item) = self.execution_item(execution_id).await? else { return Ok(Vec::new()) };
        Ok(outbox_entries(&item)?.into_iter().map(|entry| entry.effect).collect())
    }

    async fn execution_item(&self, execution_id: &str) -> Result<Option<Item>, StoreError> {
        self.get(&execution_pk(execution_id), EXECUTION).await
    }
}

/// `#e0`, `#e1`, …: a placeholder for each outbox entry id (ids hold `/`).
fn placeholders(ids: &[String]) -> (HashMap<String, String>, Vec<String>) {
    let names = ids.iter().enumerate().map(|(i, id)| (format!("#e{i}"), id.clone())).collect();
    (names, (0..ids.len()).map(|i| format!("#e{i}")).collect())
}

pub(super) async fn claim(
    store: &DynamoStore,
    execution_id: &str,
    owner: &str,
) -> Result<Vec<OutboxEntry>, StoreError> {
    for retry in 0..8 {
        if retry > 0 {
            store.pause(backoff::CONFLICT.ceiling(retry - 1)).await;
        }
        let Some(item) = store.execution_item(execution_id).await? else { return Ok(Vec::new()) };
        let pipeline = get_s(&item, "pipeline")?.to_string();
        let free: Vec<(String, Effect)> = outbox_entries(&item)?
            .into_iter()
            .filter(|entry| entry.claimed_by.is_none())
            .map(|entry| (entry.id, entry.effect))
            .collect();
        if free.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<String> = free.iter().map(|(id, _)| id.clone()).collect();
        let (names, entries) = placeholders(&ids);
        let sets: Vec<String> = entries.iter().map(|e| format!("outbox.{e}.claimed_by = :owner")).collect();
        let conditions: Vec<String> = entries
            .iter()
            .map(|e| format!("attribute_exists(outbox.{e}) AND attribute_not_exists(outbox.{e}.claimed_by)"))
            .collect();
        let result = store
            .client
            .update_item()
            .table_name(&store.table)
            .set_key(Some(key(&execution_pk(execution_id), EXECUTION)))
            .update_expression(format!("SET {}", sets.join(", ")))
            .condition_expression(conditions.join(" AND "))
            .set_expression_attribute_names(Some(names))
            .expression_attribute_values(":owner", s(owner))
            .return_values(ReturnValue::None)
            .send()
            .await;
        match result {
            Ok(_) => {
                return Ok(free
                    .into_iter()
                    .map(|(id, effect)| OutboxEntry {
                        id,
                        pipeline: pipeline.clone(),
                        execution_id: execution_id.to_string(),
                        effect,
                    })
                    .collect());
            }
            // Another claimer or a commit moved the outbox: look again.
            Err(error) if is_conditional_failure(&error) => continue,
            Err(error) => return Err(sdk_error(&error)),
        }
    }
    Err(StoreError::Conflict(format!("the outbox of execution {execution_id} kept changing")))
}

pub(super) async fn complete(store: &DynamoStore, execution_id: &str, ids: &[String]) -> Result<(), StoreError> {
    if ids.is_empty() {
        return Ok(());
    }
    let (names, entries) = placeholders(ids);
    let removes: Vec<String> = entries.iter().map(|e| format!("outbox.{e}")).collect();
    // When these are the last entries, the execution leaves the outbox index too.
    let last = store
        .client
        .update_item()
        .table_name(&store.table)
        .set_key(Some(key(&execution_pk(execution_id), EXECUTION)))
        .update_expression(format!("REMOVE {}, outbox_pk, outbox_sk", removes.join(", ")))
        .condition_expression("size(outbox) = :count")
        .set_expression_attribute_names(Some(names.clone()))
        .expression_attribute_values(":count", n(ids.len()))
        .send()
        .await;
    match last {
        Ok(_) => Ok(()),
        Err(error) if is_conditional_failure(&error) => {
            let result = store
                .client
                .update_item()
                .table_name(&store.table)
                .set_key(Some(key(&execution_pk(execution_id), EXECUTION)))
                .update_expression(format!("REMOVE {}", removes.join(", ")))
                .condition_expression("attribute_exists(pk)")
                .set_expression_attribute_names(Some(names))
                .send()
                .await;
            // Gone with its execution: nothing left to complete.
            conditional(result).map(drop)
        }
        Err(error) => Err(sdk_error(&error)),
    }
}

pub(super) async fn release(store: &DynamoStore, execution_id: &str, owner: &str) -> Result<(), StoreError> {
    let Some(item) = store.execution_item(execution_id).await? else { return Ok(()) };
    let held: Vec<String> = outbox_entries(&item)?
        .into_iter()
        .filter(|entry| entry.claimed_by.as_deref() == Some(owner))
        .map(|entry| entry.id)
        .collect();
    if held.is_empty() {
        return Ok(());
    }
    let (names, entries) = placeholders(&held);
    let removes: Vec<String> = entries.iter().map(|e| format!("outbox.{e}.claimed_by")).collect();
    store
        .client
        .update_item()
        .table_name(&store.table)
        .set_key(Some(key(&execution_pk(execution_id), EXECUTION)))
        .update_expression(format!("REMOVE {}", removes.join(", ")))
        .set_expression_attribute_names(Some(names))
        .send()
        .await
        .map_err(|e| sdk_error(&e))?;
    Ok(())
}
