//! PutWebhook, DeleteWebhook, ListWebhooks, RegisterWebhookWithThirdParty and
//! DeregisterWebhookWithThirdParty. A webhook is a store record (kind `webhook`, keyed by
//! name) holding its definition, tags and the secret token of its URL; deliveries to that URL
//! are served by `pipewright serve` and the webhook function (docs/sources.md, "Webhooks of
//! PutWebhook").

use serde::Deserialize;
use serde_json::{Value, json};

use pipewright_core::declaration::PipelineDeclaration;
use pipewright_core::ports::StateStore;
use pipewright_core::webhooks::definition::{self, RECORD_KIND, StoredWebhook, Tag, WebhookDefinition};

use crate::protocol::{self, ApiError, max_results, required, required_name};
use crate::{ControlPlane, ThirdPartyWebhook, pipeline_not_found, store_error};

/// CodePipeline's quota of webhooks per region.
const MAX_WEBHOOKS: usize = 300;
const MAX_TAGS: usize = 50;

#[derive(Deserialize)]
pub struct PutInput {
    webhook: Option<Value>,
    tags: Option<Vec<Tag>>,
}

#[derive(Deserialize)]
pub struct NameInput {
    name: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WebhookNameInput {
    webhook_name: Option<String>,
}

#[derive(Deserialize)]
pub struct ListInput {
    #[serde(rename = "NextToken")]
    next_token: Option<String>,
    #[serde(rename = "MaxResults")]
    max_results: Option<i64>,
}

fn refused(error: definition::DefinitionError) -> ApiError {
    ApiError::client(error.exception, error.message)
}

fn not_found(name: &str) -> ApiError {
    ApiError::client("WebhookNotFoundException", format!("The webhook {name} was not found"))
}

fn check_tags(tags: &[Tag]) -> Result<(), ApiError> {
    if tags.len() > MAX_TAGS {
        return Err(ApiError::client("TooManyTagsException", format!("{} tags given; at most {MAX_TAGS}", tags.len())));
    }
    for (i, tag) in tags.iter().enumerate() {
        if tag.key.to_ascii_lowercase().starts_with("aws:") {
            return Err(ApiError::client(
                "InvalidTagsException",
                format!("tags[{i}].key: keys beginning aws: are reserved"),
            ));
        }
        if !(1..=128).contains(&tag.key.chars().count()) || tag.value.chars().count() > 256 {
            return Err(ApiError::validation(format!("tags[{i}]: a key is 1 to 128 characters, a value at most 256")));
        }
    }
    Ok(())
}

/// The webhook as the API answers it (`ListWebhookItem`).
pub fn item<C: ControlPlane>(plane: &C, stored: &StoredWebhook) -> Value {
    let name = &stored.definition.name;
    let path = definition::url_path(name, &stored.token);
    let url = plane.webhook_endpoint().map_or(path.clone(), |base| format!("{}/{path}", base.trim_end_matches('/')));
    let mut item = json!({
        "definition": stored.definition.redacted(),
        "url": url,
        "arn": definition::webhook_arn(plane.region(), plane.account(), name),
    });
    if !stored.tags.is_empty() {
        item["tags"] = json!(stored.tags);
    }
    item
}

async fn load<C: ControlPlane>(plane: &C, name: &str) -> Result<Option<StoredWebhook>, ApiError> {
    let Some(text) = plane.store().get_record(RECORD_KIND, name).await.map_err(store_error)? else { return Ok(None) };
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|e| ApiError::internal(format!("stored webhook {name} is unreadable: {e}")))
}

pub async fn put<C: ControlPlane>(plane: &C, input: PutInput) -> Result<Value, ApiError> {
    let value = required(input.webhook, "webhook")?;
    let webhook: WebhookDefinition = serde_path_to_error::deserialize(value)
        .map_err(|e| ApiError::validation(format!("{}: {}", protocol::member_path("webhook", e.path()), e.inner())))?;
    webhook.check().map_err(refused)?;
    let tags = input.tags.unwrap_or_default();
    check_tags(&tags)?;
    let declaration = target_declaration(plane, &webhook).await?;
    webhook.check_target(&declaration).map_err(refused)?;
    let existing = load(plane, &webhook.name).await?;
    if existing.is_none() && plane.store().list_records(RECORD_KIND).await.map_err(store_error)?.len() >= MAX_WEBHOOKS {
        return Err(ApiError::client(
            "LimitExceededException",
            format!("an account holds at most {MAX_WEBHOOKS} webhooks"),
        ));
    }
    // An update keeps the webhook's URL; a new webhook gets a new one.
    let stored = StoredWebhook {
        token: existing.as_ref().map_or_else(new_token, |e| e.token.clone()),
        created: existing.as_ref().map_or(plane.now().millis(), |e| e.created),
        tags: if tags.is_empty() { existing.map(|e| e.tags).unwrap_or_default() } else { tags },
        definition: webhook,
    };
    let text = serde_json::to_string(&stored).map_err(|e| ApiError::internal(e.to_string()))?;
    let name = &stored.definition.name;
    // Records are written once: an update replaces the record, and two writers racing on one
    // name leave one of them with a ConcurrentModificationException.
    let store = plane.store();
    if !store.put_record_if_absent(RECORD_KIND, name, &text).await.map_err(store_error)? {
        store.delete_record(RECORD_KIND, name).await.map_err(store_error)?;
        if !store.put_record_if_absent(RECORD_KIND, name, &text).await.map_err(store_error)? {
            return Err(ApiError::client(
                "ConcurrentModificationException",
                format!("webhook {name} changed meanwhile; try again"),
            ));
        }
    }
    Ok(json!({ "webhook": item(plane, &stored) }))
}

fn new_token() -> String {
    format!("{}{}", uuid::Uuid::new_v4().simple(), uuid::Uuid::new_v4().simple())
}

pub async fn delete<C: ControlPlane>(plane: &C, input: NameInput) -> Result<Value, ApiError> {
    let name = required_name(input.name, "name")?;
    // Deleting a webhook that is not there succeeds, as CodePipeline documents.
    plane.store().delete_record(RECORD_KIND, &name).await.map_err(store_error)?;
    Ok(json!({}))
}

pub async fn list<C: ControlPlane>(plane: &C, input: ListInput) -> Result<Value, ApiError> {
    let limit = max_results(input.max_results, "MaxResults", 1, 100, 100)?;
    let after = match &input.next_token {
        None => None,
        Some(token) => Some(
            token
                .strip_prefix("after:")
                .ok_or_else(|| ApiError::client("InvalidNextTokenException", "the NextToken is not valid"))?
                .to_string(),
        ),
    };
    let mut records = plane.store().list_records(RECORD_KIND).await.map_err(store_error)?;
    records.sort_by(|a, b| a.0.cmp(&b.0));
    let remaining: Vec<&(String, String)> =
        records.iter().filter(|(name, _)| after.as_ref().is_none_or(|after| name > after)).collect();
    let mut webhooks = Vec::new();
    for (name, text) in remaining.iter().take(limit) {
        let stored: StoredWebhook = serde_json::from_str(text)
            .map_err(|e| ApiError::internal(format!("stored webhook {name} is unreadable: {e}")))?;
        webhooks.push(item(plane, &stored));
    }
    let mut output = json!({ "webhooks": webhooks });
    if remaining.len() > limit
        && let Some((last, _)) = remaining.get(limit - 1)
    {
        output["NextToken"] = json!(format!("after:{last}"));
    }
    Ok(output)
}

/// Register (or deregister) the webhook's URL with GitHub, for the repository of the GitHub
/// action it targets, with that action's OAuthToken.
pub async fn register<C: ControlPlane>(plane: &C, input: WebhookNameInput, register: bool) -> Result<Value, ApiError> {
    let name = required_name(input.webhook_name, "webhookName")?;
    let stored = load(plane, &name).await?.ok_or_else(|| not_found(&name))?;
    let webhook = &stored.definition;
    let declaration = target_declaration(plane, webhook).await?;
    let action = declaration
        .stages
        .first()
        .and_then(|stage| stage.actions.iter().find(|a| a.name == webhook.target_action))
        .filter(|a| a.action_type_id.owner.as_str() == "ThirdParty" && a.action_type_id.provider == "GitHub")
        .ok_or_else(|| {
            ApiError::validation(format!(
                "webhook {name} does not target a GitHub action; only those can be registered with a third party"
            ))
        })?;
    let config = |key: &str| action.config(key).unwrap_or_default().to_string();
    let url = item(plane, &stored)["url"].as_str().unwrap_or_default().to_string();
    let hook = ThirdPartyWebhook {
        owner: config("Owner"),
        repo: config("Repo"),
        token: config("OAuthToken"),
        url,
        secret: webhook.authentication_configuration.secret_token.clone(),
        register,
    };
    plane.third_party_webhook(hook).await.map_err(ApiError::validation)?;
    Ok(json!({}))
}

/// The current declaration of the pipeline `webhook` targets.
async fn target_declaration<C: ControlPlane>(
    plane: &C,
    webhook: &WebhookDefinition,
) -> Result<PipelineDeclaration, ApiError> {
    let stored = plane.store().get_pipeline(&webhook.target_pipeline, None).await.map_err(store_error)?;
    Ok(stored.ok_or_else(|| pipeline_not_found(&webhook.target_pipeline))?.declaration)
}
