//! Pipelines: the head item (current version, pipeline-level state, `rev`) and one item per
//! declaration version. The head holds no declaration, so that the item every commit checks
//! or rewrites stays within one KB.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{Put, TransactWriteItem, Update};

use pipewright_core::backoff;
use pipewright_core::declaration::PipelineDeclaration;
use pipewright_core::engine::{Needs, PipelineState};
use pipewright_core::ports::{PutOutcome, StateStore, StoreError, StoredPipeline};
use pipewright_core::storage::{same_structure, stamped};
use pipewright_core::time::Timestamp;

use super::DynamoStore;
use super::codec::{Item, compressed_json, get_n, get_s, n, read_json, s};
use super::errors::{refused, sdk_error, transaction_error};
use super::head_changes::Purpose;
use super::keys::{ALL_PIPELINES, HEAD, declaration_sk, key, pipeline_pk};
use super::limits;

impl DynamoStore {
    /// The pipeline's head: its current version, its state and that state's `rev`.
    pub(super) async fn head(&self, name: &str) -> Result<Option<Item>, StoreError> {
        self.get(&pipeline_pk(name), HEAD).await
    }

    async fn declaration(&self, name: &str, version: u32) -> Result<Option<PipelineDeclaration>, StoreError> {
        let Some(item) = self.get(&pipeline_pk(name), &declaration_sk(version)).await? else { return Ok(None) };
        read_json(&item, "body", "declaration").map(Some)
    }
}

/// The item of one declaration version: its JSON compressed, as a 10-stage pipeline of
/// 50 actions with long commands is well over 400 KB as JSON (docs/security.md, "Limits of
/// AWS"); one too large even so is refused by `limits::check` before anything is written.
fn version_item(
    table: &str,
    declaration: &PipelineDeclaration,
    version: u32,
    now: Timestamp,
) -> Result<TransactWriteItem, StoreError> {
    let name = declaration.name.as_str();
    let put = Put::builder()
        .table_name(table)
        .set_item(Some(HashMap::from([
            ("pk".into(), s(pipeline_pk(name))),
            ("sk".into(), s(declaration_sk(version))),
            ("body".into(), compressed_json(&stamped(declaration, version))?),
            ("created".into(), n(now.millis())),
        ])))
        .build()
        .map_err(refused)?;
    Ok(TransactWriteItem::builder().put(put).build())
}

/// A new pipeline: its head, with the state of a pipeline that never ran, and version 1.
fn created(
    table: &str,
    declaration: &PipelineDeclaration,
    now: Timestamp,
) -> Result<Vec<TransactWriteItem>, StoreError> {
    let name = declaration.name.as_str();
    let state = PipelineState::for_declaration(declaration, 1);
    let head = Put::builder()
        .table_name(table)
        .set_item(Some(HashMap::from([
            ("pk".into(), s(pipeline_pk(name))),
            ("sk".into(), s(HEAD)),
            ("version".into(), n(1)),
            ("created".into(), n(now.millis())),
            ("updated".into(), n(now.millis())),
            ("state".into(), compressed_json(&state)?),
            ("rev".into(), n(1)),
            ("gsi1pk".into(), s(ALL_PIPELINES)),
            ("gsi1sk".into(), s(name)),
        ])))
        .condition_expression("attribute_not_exists(pk)")
        .build()
        .map_err(refused)?;
    Ok(vec![TransactWriteItem::builder().put(head).build(), version_item(table, declaration, 1, now)?])
}

/// The next version of a pipeline whose head names `seen`.
fn next_version(
    table: &str,
    declaration: &PipelineDeclaration,
    seen: u32,
    now: Timestamp,
) -> Result<Vec<TransactWriteItem>, StoreError> {
    let update = Update::builder()
        .table_name(table)
        .set_key(Some(key(&pipeline_pk(&declaration.name), HEAD)))
        .update_expression("SET version = :next, updated = :now")
        .condition_expression("version = :seen")
        .expression_attribute_values(":next", n(seen + 1))
        .expression_attribute_values(":now", n(now.millis()))
        .expression_attribute_values(":seen", n(seen))
        .build()
        .map_err(refused)?;
    Ok(vec![TransactWriteItem::builder().update(update).build(), version_item(table, declaration, seen + 1, now)?])
}

pub(super) async fn put(
    store: &DynamoStore,
    declaration: &PipelineDeclaration,
    now: Timestamp,
) -> Result<PutOutcome, StoreError> {
    let name = declaration.name.as_str();
    for retry in 0..8 {
        if retry > 0 {
            store.pause(backoff::CONFLICT.ceiling(retry - 1)).await;
        }
        let (items, outcome) = match store.head(name).await? {
            None => (created(&store.table, declaration, now)?, PutOutcome { version: 1, created: true, changed: true }),
            Some(head) => {
                let version: u32 = get_n(&head, "version")?;
                let stored = store.declaration(name, version).await?.ok_or_else(|| {
                    StoreError::Corrupt(format!("pipeline {name} lacks its declaration version {version}"))
                })?;
                if same_structure(&stored, declaration) {
                    return Ok(PutOutcome { version, created: false, changed: false });
                }
                let outcome = PutOutcome { version: version + 1, created: false, changed: true };
                (next_version(&store.table, declaration, version, now)?, outcome)
            }
        };
        limits::check(&format!("pipeline {name}: its declaration"), &items)?;
        match store.client.transact_write_items().set_transact_items(Some(items)).send().await {
            Ok(_) => return Ok(outcome),
            Err(error) => match transaction_error(&error, String::new) {
                StoreError::Conflict(_) => continue,
                other => return Err(other),
            },
        }
    }
    Err(StoreError::Conflict(format!("pipeline {name} kept changing while it was stored")))
}

pub(super) async fn get(
    store: &DynamoStore,
    name: &str,
    version: Option<u32>,
) -> Result<Option<StoredPipeline>, StoreError> {
    let Some(head) = store.head(name).await? else { return Ok(None) };
    let current: u32 = get_n(&head, "version")?;
    let version = version.unwrap_or(current);
    if version > current {
        return Ok(None);
    }
    let Some(item) = store.get(&pipeline_pk(name), &declaration_sk(version)).await? else { return Ok(None) };
    Ok(Some(StoredPipeline {
        declaration: read_json(&item, "body", "declaration")?,
        version,
        created: Timestamp::from_millis(get_n(&head, "created")?),
        updated: Timestamp::from_millis(get_n(&item, "created")?),
    }))
}

pub(super) async fn list(store: &DynamoStore) -> Result<Vec<StoredPipeline>, StoreError> {
    let mut heads = Vec::new();
    let mut start: Option<Item> = None;
    loop {
        let output = store.listing(ALL_PIPELINES.to_string(), start.take()).send().await.map_err(|e| sdk_error(&e))?;
        for head in output.items.unwrap_or_default() {
            heads.push((
                get_s(&head, "gsi1sk")?.to_string(),
                get_n::<u32>(&head, "version")?,
                Timestamp::from_millis(get_n(&head, "created")?),
            ));
        }
        match output.last_evaluated_key {
            Some(last) if !last.is_empty() => start = Some(last),
            _ => break,
        }
    }
    let keys = heads.iter().map(|(name, version, _)| key(&pipeline_pk(name), &declaration_sk(*version))).collect();
    let mut declarations = HashMap::new();
    for item in store.batch_get(keys).await? {
        declarations.insert((get_s(&item, "pk")?.to_string(), get_s(&item, "sk")?.to_string()), item);
    }
    let mut pipelines = Vec::new();
    for (name, version, created) in heads {
        // A pipeline deleted between the index query and the read is gone.
        let Some(item) = declarations.remove(&(pipeline_pk(&name), declaration_sk(version))) else { continue };
        pipelines.push(StoredPipeline {
            declaration: read_json(&item, "body", "declaration")?,
            version,
            created,
            updated: Timestamp::from_millis(get_n(&item, "created")?),
        });
    }
    pipelines.sort_by(|a, b| a.declaration.name.cmp(&b.declaration.name));
    Ok(pipelines)
}

pub(super) async fn delete(store: &DynamoStore, name: &str) -> Result<(), StoreError> {
    // A change of the head still under way is settled first (a start between its two writes
    // fenced off), so that no execution is created after its pipeline's items are gone.
    match super::executions::load(store, name, |_| Needs::default(), Purpose::Decide).await {
        Ok(_) | Err(StoreError::NotFound(_)) => {}
        Err(error) => return Err(error),
    }
    let mut keys: Vec<(String, String)> = Vec::new();
    for id in store.execution_ids(name, false).await? {
        // The execution's item and its part items.
        for item in store.execution_partition(&id).await? {
            keys.push((get_s(&item, "pk")?.to_string(), get_s(&item, "sk")?.to_string()));
        }
        store.cache.forget(&id);
        store.delete_batches(&id).await?;
    }
    let output = store
        .client
        .query()
        .table_name(&store.table)
        .key_condition_expression("pk = :pk")
        .expression_attribute_values(":pk", s(pipeline_pk(name)))
        .projection_expression("pk, sk")
        .send()
        .await
        .map_err(|e| sdk_error(&e))?;
    for item in output.items.unwrap_or_default() {
        keys.push((get_s(&item, "pk")?.to_string(), get_s(&item, "sk")?.to_string()));
    }
    for (pk, sk) in keys {
        store
            .client
            .delete_item()
            .table_name(&store.table)
            .set_key(Some(key(&pk, &sk)))
            .send()
            .await
            .map_err(|e| sdk_error(&e))?;
    }
    Ok(())
}
