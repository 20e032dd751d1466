//! ListActionTypes, GetActionType and UpdateActionType (docs/reference/codepipeline.md §6):
//! the providers of the catalogue, custom action types, and partner (ThirdParty) types as
//! UpdateActionType last described them. Which configuration keys are secret comes from the
//! same place ([`Secrets`]).

use serde::Deserialize;
use serde_json::{Value, json};

use pipewright_core::action_types::{ActionType, ActionTypeDeclaration, catalogue, catalogue_declaration};
use pipewright_core::declaration::{ActionCategory, ActionOwner, ActionTypeId, SecretKeys};
use pipewright_core::ports::StateStore;
use pipewright_core::providers::secret_keys;

use crate::protocol::{self, ApiError, check_text, required};
use crate::tags::ACTION_TYPE_RECORDS;
use crate::{ControlPlane, store_error};

/// The record kind of partner action types as UpdateActionType left them.
const DECLARATIONS: &str = "action-type-declaration";

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListInput {
    action_owner_filter: Option<String>,
    next_token: Option<String>,
    region_filter: Option<String>,
}

/// An `ActionTypeId` as a request spells it (GetActionType's input, and the `actionTypeId` of
/// the job operations), checked by [`TypeIdInput::checked`].
#[derive(Deserialize)]
pub struct TypeIdInput {
    pub(crate) category: Option<String>,
    pub(crate) owner: Option<String>,
    pub(crate) provider: Option<String>,
    pub(crate) version: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UpdateInput {
    action_type: Option<Value>,
}

fn key_of(id: &ActionTypeId) -> String {
    format!("{}/{}/{}/{}", id.category, id.owner, id.provider, id.version)
}

fn corrupt(what: &str, error: serde_json::Error) -> ApiError {
    ApiError::internal(format!("a stored {what} cannot be read: {error}"))
}

/// The custom action types, as stored.
pub(crate) async fn custom_types<C: ControlPlane>(plane: &C) -> Result<Vec<ActionType>, ApiError> {
    let records = plane.store().list_records(ACTION_TYPE_RECORDS).await.map_err(store_error)?;
    records.iter().map(|(_, text)| serde_json::from_str(text).map_err(|e| corrupt("custom action type", e))).collect()
}

async fn updated_declarations<C: ControlPlane>(plane: &C) -> Result<Vec<ActionTypeDeclaration>, ApiError> {
    let records = plane.store().list_records(DECLARATIONS).await.map_err(store_error)?;
    records.iter().map(|(_, text)| serde_json::from_str(text).map_err(|e| corrupt("action type", e))).collect()
}

/// Which configuration values are secret: the catalogue's, those of custom types' `secret`
/// properties, and those of partner types' `noEcho` properties.
pub(crate) struct Secrets {
    described: Vec<ActionType>,
}

impl Secrets {
    pub(crate) async fn load<C: ControlPlane>(plane: &C) -> Result<Secrets, ApiError> {
        let mut described = custom_types(plane).await?;
        described.extend(updated_declarations(plane).await?.iter().map(ActionTypeDeclaration::as_action_type));
        Ok(Secrets { described })
    }
}

impl SecretKeys for Secrets {
    fn is_secret(&self, action_type: &ActionTypeId, key: &str) -> bool {
        secret_keys(action_type).contains(&key)
            || self.described.iter().any(|t| &t.id == action_type && t.is_secret(key))
    }
}

fn owner_of(value: &str, field: &str, allowed: &[&str]) -> Result<ActionOwner, ApiError> {
    if !allowed.contains(&value) {
        return Err(ApiError::validation(format!(
            "1 validation error detected: Value '{value}' at '{field}' failed to satisfy constraint: Member must satisfy enum value set: [{}]",
            allowed.join(", ")
        )));
    }
    Ok(ActionOwner::parse(value))
}

pub async fn list<C: ControlPlane>(plane: &C, input: ListInput) -> Result<Value, ApiError> {
    let owner = input
        .action_owner_filter
        .as_deref()
        .map(|o| owner_of(o, "actionOwnerFilter", &["AWS", "ThirdParty", "Custom"]))
        .transpose()?;
    if let Some(region) = &input.region_filter {
        check_text(region, "regionFilter", 4, 30, |c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')?;
    }
    if input.next_token.is_some() {
        // Every type fits in one page: no token was ever given.
        return Err(ApiError::client("InvalidNextTokenException", "the nextToken is not one ListActionTypes gave"));
    }
    let updated = updated_declarations(plane).await?;
    let mut types: Vec<ActionType> = catalogue();
    for declaration in &updated {
        let described = declaration.as_action_type();
        match types.iter_mut().find(|t| t.id == described.id) {
            Some(listed) => *listed = described,
            None => types.push(described),
        }
    }
    types.extend(custom_types(plane).await?);
    types.retain(|t| owner.as_ref().is_none_or(|o| &t.id.owner == o));
    Ok(json!({ "actionTypes": types }))
}

impl TypeIdInput {
    /// The identifier, checked as the model's `ActionTypeIdentifier` (fields named under
    /// `prefix`), its owner one of `owners`.
    pub(crate) fn checked(self, prefix: &str, owners: &[&str]) -> Result<ActionTypeId, ApiError> {
        let field = |name: &str| format!("{prefix}{name}");
        let category = required(self.category, &field("category"))?;
        if !ActionCategory::parse(&category).is_known() {
            return Err(ApiError::validation(format!(
                "1 validation error detected: Value '{category}' at '{}' failed to satisfy constraint: Member must satisfy enum value set: [{}]",
                field("category"),
                ActionCategory::KNOWN.join(", ")
            )));
        }
        let owner = owner_of(&required(self.owner, &field("owner"))?, &field("owner"), owners)?;
        let provider = required(self.provider, &field("provider"))?;
        check_text(&provider, &field("provider"), 1, 35, crate::custom::provider_char)?;
        let version = required(self.version, &field("version"))?;
        check_text(&version, &field("version"), 1, 9, crate::custom::provider_char)?;
        Ok(ActionTypeId { category: ActionCategory::parse(&category), owner, provider, version })
    }
}

fn not_found(id: &ActionTypeId) -> ApiError {
    ApiError::client("ActionTypeNotFoundException", format!("The action type {id} does not exist"))
}

/// The declaration of an AWS or partner type: as last updated, else the catalogue's.
async fn declaration_of<C: ControlPlane>(
    plane: &C,
    id: &ActionTypeId,
) -> Result<Option<ActionTypeDeclaration>, ApiError> {
    match plane.store().get_record(DECLARATIONS, &key_of(id)).await.map_err(store_error)? {
        Some(text) => serde_json::from_str(&text).map(Some).map_err(|e| corrupt("action type", e)),
        None => Ok(catalogue_declaration(id)),
    }
}

/// Whether a partner type exists: catalogued, updated, or used by a pipeline.
pub(crate) async fn third_party_type_exists<C: ControlPlane>(plane: &C, id: &ActionTypeId) -> Result<bool, ApiError> {
    if declaration_of(plane, id).await?.is_some() {
        return Ok(true);
    }
    let pipelines = plane.store().list_pipelines().await.map_err(store_error)?;
    Ok(pipelines.iter().any(|p| p.declaration.actions().any(|(_, _, a)| &a.action_type_id == id)))
}

pub async fn get<C: ControlPlane>(plane: &C, input: TypeIdInput) -> Result<Value, ApiError> {
    let id = input.checked("", &["AWS", "ThirdParty"])?;
    let declaration = declaration_of(plane, &id).await?.ok_or_else(|| not_found(&id))?;
    Ok(json!({ "actionType": declaration }))
}

pub async fn update<C: ControlPlane>(plane: &C, input: UpdateInput) -> Result<Value, ApiError> {
    let value = required(input.action_type, "actionType")?;
    let member = |name: &str| value.pointer(&format!("/id/{name}")).and_then(Value::as_str).map(str::to_string);
    let id = TypeIdInput {
        category: member("category"),
        owner: member("owner"),
        provider: member("provider"),
        version: member("version"),
    }
    .checked("actionType.id.", &["AWS", "ThirdParty"])?;
    let declaration: ActionTypeDeclaration = serde_path_to_error::deserialize(value).map_err(|e| {
        ApiError::validation(format!("{}: {}", protocol::member_path("actionType", e.path()), e.inner()))
    })?;
    let problems = declaration.problems();
    if !problems.is_empty() {
        return Err(ApiError::validation(problems.join("; ")));
    }
    if id.owner == ActionOwner::Aws {
        return Err(ApiError::client(
            "RequestFailedException",
            format!("The action type {id} is owned by AWS; only partner (ThirdParty) action types can be updated"),
        ));
    }
    if !third_party_type_exists(plane, &id).await? {
        return Err(not_found(&id));
    }
    let text = serde_json::to_string(&declaration).map_err(|e| ApiError::internal(e.to_string()))?;
    crate::put_record(plane, DECLARATIONS, &key_of(&id), &text).await?;
    Ok(json!({}))
}
