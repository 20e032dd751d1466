//! TagResource, UntagResource, ListTagsForResource, and the tags CreatePipeline,
//! CreateCustomActionType and PutWebhook take: on pipelines, custom action types and
//! webhooks, kept as one record per resource and changed by compare-and-swap, so that two
//! concurrent changes never lose one another.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use pipewright_core::ports::StateStore;

use crate::protocol::{ACCOUNT_MARK, ApiError, check_text, max_results, required};
use crate::{Caller, ControlPlane, arn, region_of, store_error};

/// The record kind tags are kept under, one record per resource.
const TAGS: &str = "tags";
/// The record kind custom action types are kept under (`crate::custom`).
pub(crate) const ACTION_TYPE_RECORDS: &str = "action-type";
/// The record kind webhooks are kept under, by name.
pub(crate) const WEBHOOK_RECORDS: &str = "webhook";
/// CodePipeline's limit of tags per resource.
const MAX_TAGS: usize = 50;

#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, Eq)]
pub struct Tag {
    pub key: String,
    pub value: String,
}

#[derive(Deserialize, Clone)]
pub struct TagInput {
    key: Option<String>,
    value: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TagResourceInput {
    resource_arn: Option<String>,
    tags: Option<Vec<TagInput>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UntagResourceInput {
    resource_arn: Option<String>,
    tag_keys: Option<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListTagsInput {
    resource_arn: Option<String>,
    next_token: Option<String>,
    max_results: Option<i64>,
}

/// A taggable resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Resource {
    Pipeline(String),
    /// A custom action type, by its record key (`<category>/Custom/<provider>/<version>`).
    ActionType {
        category: String,
        provider: String,
        version: String,
    },
    Webhook(String),
}

impl Resource {
    /// The part of the ARN after the account.
    fn arn_resource(&self) -> String {
        match self {
            Resource::Pipeline(name) => name.clone(),
            Resource::ActionType { category, provider, version } => {
                format!("actiontype:Custom/{category}/{provider}/{version}")
            }
            Resource::Webhook(name) => format!("webhook:{name}"),
        }
    }

    fn record_key(&self) -> String {
        match self {
            Resource::Pipeline(name) => format!("pipeline:{name}"),
            other => other.arn_resource(),
        }
    }

    /// ResourceNotFoundException, worded as AWS words it for pipelines.
    fn not_found(&self) -> ApiError {
        let what = match self {
            Resource::Pipeline(name) => format!("a pipeline with the name '{name}'"),
            Resource::ActionType { category, provider, version } => {
                format!("a custom action type Custom/{category}/{provider}/{version}")
            }
            Resource::Webhook(name) => format!("a webhook with the name '{name}'"),
        };
        ApiError::client(
            "ResourceNotFoundException",
            format!("The account with id '{ACCOUNT_MARK}' does not include {what}"),
        )
    }

    pub(crate) fn arn<C: ControlPlane>(&self, plane: &C, caller: &Caller) -> String {
        arn(plane, caller, &self.arn_resource())
    }

    async fn exists<C: ControlPlane>(&self, plane: &C) -> Result<bool, ApiError> {
        let store = plane.store();
        Ok(match self {
            Resource::Pipeline(name) => store.get_pipeline(name, None).await.map_err(store_error)?.is_some(),
            Resource::ActionType { category, provider, version } => store
                .get_record(ACTION_TYPE_RECORDS, &format!("{category}/Custom/{provider}/{version}"))
                .await
                .map_err(store_error)?
                .is_some(),
            Resource::Webhook(name) => store.get_record(WEBHOOK_RECORDS, name).await.map_err(store_error)?.is_some(),
        })
    }
}

fn invalid_arn(arn: &str, why: &str) -> ApiError {
    ApiError::client("InvalidArnException", format!("The resource ARN {arn} is not valid: {why}"))
}

/// The resource an ARN names, once it is found to be one of this account and region.
fn resource_of<C: ControlPlane>(plane: &C, caller: &Caller, arn: &str) -> Result<Resource, ApiError> {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    let shaped = parts.len() == 6
        && parts[0] == "arn"
        && (parts[1] == "aws" || parts[1].starts_with("aws-"))
        && parts[2] == "codepipeline"
        && !parts[3].is_empty()
        && parts[4].len() == 12
        && parts[4].chars().all(|c| c.is_ascii_digit())
        && !parts[5].is_empty();
    if !shaped {
        return Err(ApiError::validation(format!(
            "1 validation error detected: Value '{arn}' at 'resourceArn' failed to satisfy constraint: Member must satisfy regular expression pattern: arn:aws(-[\\w]+)*:codepipeline:.+:[0-9]{{12}}:.+"
        )));
    }
    let region = region_of(plane, caller);
    if parts[4] != plane.account() {
        return Err(invalid_arn(arn, &format!("it names account {}, not this one", parts[4])));
    }
    if parts[3] != region {
        return Err(invalid_arn(arn, &format!("it names region {}, and the request is for {region}", parts[3])));
    }
    let resource = parts[5];
    let name = |text: &str| text.chars().all(crate::protocol::name_char) && (1..=100).contains(&text.len());
    if let Some(webhook) = resource.strip_prefix("webhook:") {
        return if name(webhook) {
            Ok(Resource::Webhook(webhook.to_string()))
        } else {
            Err(invalid_arn(arn, "not a webhook name"))
        };
    }
    if let Some(action_type) = resource.strip_prefix("actiontype:") {
        return match action_type.split('/').collect::<Vec<_>>()[..] {
            ["Custom", category, provider, version] => Ok(Resource::ActionType {
                category: category.to_string(),
                provider: provider.to_string(),
                version: version.to_string(),
            }),
            _ => Err(invalid_arn(
                arn,
                "only custom action types (actiontype:Custom/<category>/<provider>/<version>) take tags",
            )),
        };
    }
    if name(resource) {
        Ok(Resource::Pipeline(resource.to_string()))
    } else {
        Err(invalid_arn(arn, "not a pipeline, webhook or custom action type"))
    }
}

fn system_tag() -> ApiError {
    ApiError::client(
        "InvalidTagsException",
        "Not allowed to modify system tags. System tags start with 'aws:'. msg=[Caller is an end user and not allowed to mutate system tags]",
    )
}

fn too_many(arn: &str) -> ApiError {
    ApiError::client("TooManyTagsException", format!("Tag limit exceeded for resource [{arn}]."))
}

/// The tags of a request, each checked as the model says; `aws:` keys, a key given twice and
/// more than 50 tags are refused.
pub(crate) fn checked_tags(tags: Option<Vec<TagInput>>, arn: &str) -> Result<Vec<Tag>, ApiError> {
    let mut checked: Vec<Tag> = Vec::new();
    for (i, tag) in tags.unwrap_or_default().into_iter().enumerate() {
        let field = |name: &str| format!("tags.{}.member.{name}", i + 1);
        let key = required(tag.key, &field("key"))?;
        check_text(&key, &field("key"), 1, 128, |_| true)?;
        let value = required(tag.value, &field("value"))?;
        check_text(&value, &field("value"), 0, 256, |_| true)?;
        if key.to_ascii_lowercase().starts_with("aws:") {
            return Err(system_tag());
        }
        if checked.iter().any(|t| t.key == key) {
            return Err(ApiError::client("InvalidTagsException", format!("The tag key '{key}' is given twice")));
        }
        checked.push(Tag { key, value });
    }
    if checked.len() > MAX_TAGS {
        return Err(too_many(arn));
    }
    Ok(checked)
}

fn parse(stored: Option<&str>) -> Result<Vec<Tag>, ApiError> {
    match stored {
        Some(text) => serde_json::from_str(text).map_err(|e| ApiError::internal(format!("stored tags: {e}"))),
        None => Ok(Vec::new()),
    }
}

/// Changes the resource's tags with `change`, without losing a concurrent change.
async fn modify<C: ControlPlane>(
    plane: &C,
    resource: &Resource,
    change: impl Fn(Vec<Tag>) -> Result<Vec<Tag>, ApiError>,
) -> Result<(), ApiError> {
    crate::update_record(plane, TAGS, &resource.record_key(), |stored| {
        serde_json::to_string(&change(parse(stored)?)?).map_err(|e| ApiError::internal(e.to_string()))
    })
    .await
}

/// The tags a new resource is created with, replacing any a former resource of that name left.
pub(crate) async fn set<C: ControlPlane>(plane: &C, resource: &Resource, tags: &[Tag]) -> Result<(), ApiError> {
    modify(plane, resource, |_| Ok(tags.to_vec())).await
}

/// The tags of a resource, in the order they were first given.
pub(crate) async fn of<C: ControlPlane>(plane: &C, resource: &Resource) -> Result<Vec<Tag>, ApiError> {
    parse(plane.store().get_record(TAGS, &resource.record_key()).await.map_err(store_error)?.as_deref())
}

/// Forgets the tags of a deleted resource.
pub(crate) async fn forget<C: ControlPlane>(plane: &C, resource: &Resource) -> Result<(), ApiError> {
    plane.store().delete_record(TAGS, &resource.record_key()).await.map_err(store_error)
}

async fn existing<C: ControlPlane>(
    plane: &C,
    caller: &Caller,
    arn: Option<String>,
) -> Result<(String, Resource), ApiError> {
    let arn = required(arn, "resourceArn")?;
    let resource = resource_of(plane, caller, &arn)?;
    if !resource.exists(plane).await? {
        return Err(resource.not_found());
    }
    Ok((arn, resource))
}

pub async fn tag<C: ControlPlane>(plane: &C, caller: &Caller, input: TagResourceInput) -> Result<Value, ApiError> {
    let (arn, resource) = existing(plane, caller, input.resource_arn).await?;
    let given = checked_tags(Some(required(input.tags, "tags")?), &arn)?;
    modify(plane, &resource, |mut tags| {
        for tag in &given {
            match tags.iter_mut().find(|t| t.key == tag.key) {
                Some(existing) => existing.value = tag.value.clone(),
                None => tags.push(tag.clone()),
            }
        }
        if tags.len() > MAX_TAGS { Err(too_many(&arn)) } else { Ok(tags) }
    })
    .await?;
    Ok(json!({}))
}

pub async fn untag<C: ControlPlane>(plane: &C, caller: &Caller, input: UntagResourceInput) -> Result<Value, ApiError> {
    let (_, resource) = existing(plane, caller, input.resource_arn).await?;
    let keys = required(input.tag_keys, "tagKeys")?;
    for (i, key) in keys.iter().enumerate() {
        check_text(key, &format!("tagKeys.{}.member", i + 1), 1, 128, |_| true)?;
        if key.to_ascii_lowercase().starts_with("aws:") {
            return Err(system_tag());
        }
    }
    // Removing a key the resource does not have is no error.
    modify(plane, &resource, |tags| Ok(tags.into_iter().filter(|t| !keys.contains(&t.key)).collect())).await?;
    Ok(json!({}))
}

pub async fn list<C: ControlPlane>(plane: &C, caller: &Caller, input: ListTagsInput) -> Result<Value, ApiError> {
    let (_, resource) = existing(plane, caller, input.resource_arn).await?;
    let limit = max_results(input.max_results, "maxResults", 1, 100, 100)?;
    let offset = match &input.next_token {
        None => 0,
        Some(token) => token.strip_prefix("offset:").and_then(|n| n.parse::<usize>().ok()).ok_or_else(|| {
            ApiError::client("InvalidNextTokenException", "the nextToken is not one ListTagsForResource gave")
        })?,
    };
    let tags = of(plane, &resource).await?;
    let page: Vec<&Tag> = tags.iter().skip(offset).take(limit).collect();
    let mut output = json!({ "tags": page });
    if offset + limit < tags.len() {
        output["nextToken"] = json!(format!("offset:{}", offset + limit));
    }
    Ok(output)
}
