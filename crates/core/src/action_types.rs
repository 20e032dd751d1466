//! Action types as the API describes them (docs/reference/codepipeline.md §6, §8):
//! ListActionTypes' `ActionType` and GetActionType/UpdateActionType's
//! `ActionTypeDeclaration`, for the providers of the catalogue (`crate::providers`), custom
//! action types and updated partner types.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use serde_with::skip_serializing_none;

use crate::declaration::{ActionCategory, ActionOwner, ActionTypeId};
use crate::providers::{CATALOGUE, ProviderSpec, secret_keys};

/// `ArtifactDetails` (0–5 in `ActionType`, 0–10 in `ActionTypeDeclaration`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ArtifactDetails {
    pub minimum_count: i64,
    pub maximum_count: i64,
}

/// `ActionTypeSettings`: the URL templates of a custom or partner action.
#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ActionTypeSettings {
    pub third_party_configuration_url: Option<String>,
    pub entity_url_template: Option<String>,
    pub execution_url_template: Option<String>,
    pub revision_url_template: Option<String>,
}

/// `ActionConfigurationProperty`.
#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ActionConfigurationProperty {
    pub name: String,
    pub required: bool,
    pub key: bool,
    pub secret: bool,
    pub queryable: Option<bool>,
    pub description: Option<String>,
    #[serde(rename = "type")]
    pub property_type: Option<String>,
}

/// `ActionType`: one entry of ListActionTypes, and what CreateCustomActionType answers.
#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ActionType {
    pub id: ActionTypeId,
    pub settings: Option<ActionTypeSettings>,
    #[serde(default)]
    pub action_configuration_properties: Vec<ActionConfigurationProperty>,
    pub input_artifact_details: ArtifactDetails,
    pub output_artifact_details: ArtifactDetails,
}

impl ActionType {
    /// Whether `key` of this type's configuration is secret (answered as `****`).
    pub fn is_secret(&self, key: &str) -> bool {
        self.action_configuration_properties.iter().any(|p| p.name == key && p.secret)
    }
}

/// `ActionTypeExecutor`.
#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ActionTypeExecutor {
    /// `ExecutorConfiguration`: `lambdaExecutorConfiguration {lambdaFunctionArn}` or
    /// `jobWorkerExecutorConfiguration {pollingAccounts?, pollingServicePrincipals?}`.
    pub configuration: Value,
    /// `JobWorker` or `Lambda`.
    #[serde(rename = "type")]
    pub executor_type: String,
    pub policy_statements_template: Option<String>,
    pub job_timeout: Option<i64>,
}

/// `ActionTypeProperty`.
#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ActionTypeProperty {
    pub name: String,
    pub optional: bool,
    pub key: bool,
    pub no_echo: bool,
    pub queryable: Option<bool>,
    pub description: Option<String>,
}

/// `ActionTypeUrls`.
#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ActionTypeUrls {
    pub configuration_url: Option<String>,
    pub entity_url_template: Option<String>,
    pub execution_url_template: Option<String>,
    pub revision_url_template: Option<String>,
}

/// `ActionTypeDeclaration`: what GetActionType answers and UpdateActionType takes.
#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ActionTypeDeclaration {
    pub description: Option<String>,
    pub executor: ActionTypeExecutor,
    pub id: ActionTypeId,
    pub input_artifact_details: ArtifactDetails,
    pub output_artifact_details: ArtifactDetails,
    /// `ActionTypePermissions {allowedAccounts}`.
    pub permissions: Option<Value>,
    pub properties: Option<Vec<ActionTypeProperty>>,
    pub urls: Option<ActionTypeUrls>,
}

/// The version every catalogued provider has.
const CATALOGUE_VERSION: &str = "1";

fn counts((min, max): (usize, usize)) -> ArtifactDetails {
    ArtifactDetails { minimum_count: min as i64, maximum_count: max as i64 }
}

fn catalogue_id(spec: &ProviderSpec, category: &str) -> ActionTypeId {
    ActionTypeId {
        category: ActionCategory::parse(category),
        owner: ActionOwner::parse(spec.owner),
        provider: spec.provider.to_string(),
        version: CATALOGUE_VERSION.to_string(),
    }
}

/// The configuration properties of a catalogued provider: its required keys, then its
/// optional ones, secrets marked. A provider configured through its own console has none.
fn catalogue_properties(spec: &ProviderSpec, id: &ActionTypeId) -> Vec<ActionConfigurationProperty> {
    if spec.open_keys {
        return Vec::new();
    }
    let secrets = secret_keys(id);
    let property = |name: &&str, required: bool| ActionConfigurationProperty {
        name: name.to_string(),
        required,
        key: true,
        secret: secrets.contains(name),
        queryable: None,
        description: None,
        property_type: None,
    };
    spec.required_keys
        .iter()
        .map(|k| property(k, true))
        .chain(spec.optional_keys.iter().map(|k| property(k, false)))
        .collect()
}

/// Every provider of the catalogue, one entry per category, as ListActionTypes lists them.
/// Artifact counts are capped at the model's 5.
pub fn catalogue() -> Vec<ActionType> {
    CATALOGUE
        .iter()
        .flat_map(|spec| {
            spec.categories.iter().map(move |category| {
                let id = catalogue_id(spec, category);
                let capped = |(min, max): (usize, usize)| counts((min.min(5), max.min(5)));
                ActionType {
                    action_configuration_properties: catalogue_properties(spec, &id),
                    id,
                    settings: None,
                    input_artifact_details: capped(spec.inputs),
                    output_artifact_details: capped(spec.outputs),
                }
            })
        })
        .collect()
}

/// GetActionType's declaration of a catalogued type: run by Pipewright's own job workers.
pub fn catalogue_declaration(id: &ActionTypeId) -> Option<ActionTypeDeclaration> {
    let spec = CATALOGUE.iter().find(|spec| {
        spec.owner == id.owner.as_str()
            && spec.provider == id.provider
            && spec.categories.contains(&id.category.as_str())
            && id.version == CATALOGUE_VERSION
    })?;
    let entry = catalogue().into_iter().find(|t| &t.id == id)?;
    Some(ActionTypeDeclaration {
        description: None,
        executor: ActionTypeExecutor {
            configuration: serde_json::json!({ "jobWorkerExecutorConfiguration": {} }),
            executor_type: "JobWorker".to_string(),
            policy_statements_template: None,
            job_timeout: Some(i64::from(spec.timeout_minutes.min(720)) * 60),
        },
        id: entry.id,
        input_artifact_details: counts(spec.inputs),
        output_artifact_details: counts(spec.outputs),
        permissions: None,
        properties: Some(
            entry
                .action_configuration_properties
                .iter()
                .map(|p| ActionTypeProperty {
                    name: p.name.clone(),
                    optional: !p.required,
                    key: p.key,
                    no_echo: p.secret,
                    queryable: p.queryable,
                    description: p.description.clone(),
                })
                .collect(),
        ),
        urls: None,
    })
}

impl ActionTypeDeclaration {
    /// The same type as ListActionTypes lists it.
    pub fn as_action_type(&self) -> ActionType {
        let capped = |d: ArtifactDetails| ArtifactDetails {
            minimum_count: d.minimum_count.min(5),
            maximum_count: d.maximum_count.min(5),
        };
        let urls = self.urls.clone().unwrap_or_default();
        let settings = ActionTypeSettings {
            third_party_configuration_url: urls.configuration_url,
            entity_url_template: urls.entity_url_template,
            execution_url_template: urls.execution_url_template,
            revision_url_template: urls.revision_url_template,
        };
        ActionType {
            id: self.id.clone(),
            settings: (settings != ActionTypeSettings::default()).then_some(settings),
            action_configuration_properties: self
                .properties
                .iter()
                .flatten()
                .map(|p| ActionConfigurationProperty {
                    name: p.name.clone(),
                    required: !p.optional,
                    key: p.key,
                    secret: p.no_echo,
                    queryable: p.queryable,
                    description: p.description.clone(),
                    property_type: None,
                })
                .collect(),
            input_artifact_details: capped(self.input_artifact_details),
            output_artifact_details: capped(self.output_artifact_details),
        }
    }

    /// The model's constraints on a declaration UpdateActionType takes, each broken one named.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        for (field, details) in [
            ("inputArtifactDetails", self.input_artifact_details),
            ("outputArtifactDetails", self.output_artifact_details),
        ] {
            if !(0..=10).contains(&details.minimum_count)
                || !(0..=10).contains(&details.maximum_count)
                || details.minimum_count > details.maximum_count
            {
                problems.push(format!(
                    "actionType.{field}: minimumCount {} and maximumCount {} must be 0 to 10, the minimum no more than the maximum",
                    details.minimum_count, details.maximum_count
                ));
            }
        }
        match self.executor.executor_type.as_str() {
            "JobWorker" => {}
            "Lambda" => {
                let arn = self.executor.configuration.pointer("/lambdaExecutorConfiguration/lambdaFunctionArn");
                if !arn.and_then(Value::as_str).is_some_and(|a| a.starts_with("arn:")) {
                    problems.push(
                        "actionType.executor.configuration.lambdaExecutorConfiguration.lambdaFunctionArn: a Lambda executor needs the function's ARN"
                            .to_string(),
                    );
                }
            }
            other => problems.push(format!("actionType.executor.type: {other:?} is not JobWorker or Lambda")),
        }
        if let Some(timeout) = self.executor.job_timeout
            && !(60..=43200).contains(&timeout)
        {
            problems.push(format!("actionType.executor.jobTimeout: {timeout} is not between 60 and 43200 seconds"));
        }
        let properties = self.properties.as_deref().unwrap_or_default();
        if properties.len() > 10 {
            problems.push(format!("actionType.properties: {} properties; at most 10", properties.len()));
        }
        if properties.iter().filter(|p| p.queryable == Some(true)).count() > 1 {
            problems.push("actionType.properties: at most one property may be queryable".to_string());
        }
        if let Some(description) = &self.description
            && !(1..=1024).contains(&description.chars().count())
        {
            problems.push("actionType.description: 1 to 1024 characters".to_string());
        }
        problems
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(category: &str, owner: &str, provider: &str) -> ActionTypeId {
        ActionTypeId {
            category: ActionCategory::parse(category),
            owner: ActionOwner::parse(owner),
            provider: provider.to_string(),
            version: "1".to_string(),
        }
    }

    #[test]
    fn the_catalogue_lists_each_provider_per_category() {
        let types = catalogue();
        let codebuild: Vec<&ActionType> = types.iter().filter(|t| t.id.provider == "CodeBuild").collect();
        let categories: Vec<&str> = codebuild.iter().map(|t| t.id.category.as_str()).collect();
        assert_eq!(categories, ["Build", "Test"]);
        let github = types.iter().find(|t| t.id == id("Source", "ThirdParty", "GitHub")).unwrap();
        assert!(github.is_secret("OAuthToken") && !github.is_secret("Owner"), "{github:?}");
        let required: Vec<&str> =
            github.action_configuration_properties.iter().filter(|p| p.required).map(|p| p.name.as_str()).collect();
        assert_eq!(required, ["Owner", "Repo", "Branch", "OAuthToken"]);
        assert!(types.iter().all(|t| t.input_artifact_details.maximum_count <= 5), "the model's bound");
    }

    #[test]
    fn a_catalogued_declaration_round_trips_to_its_list_entry() {
        let github = catalogue_declaration(&id("Source", "ThirdParty", "GitHub")).unwrap();
        assert_eq!(github.executor.executor_type, "JobWorker");
        assert!(github.problems().is_empty(), "{:?}", github.problems());
        let listed = catalogue().into_iter().find(|t| t.id == github.id).unwrap();
        assert_eq!(github.as_action_type(), listed);
        assert!(catalogue_declaration(&id("Build", "AWS", "NoSuchThing")).is_none());
        assert!(catalogue_declaration(&id("Deploy", "AWS", "CodeBuild")).is_none(), "wrong category");
    }

    #[test]
    fn an_update_is_checked_against_the_model() {
        let mut declaration = catalogue_declaration(&id("Invoke", "ThirdParty", "Snyk")).unwrap();
        declaration.executor.executor_type = "Lambda".to_string();
        declaration.executor.job_timeout = Some(30);
        declaration.input_artifact_details.minimum_count = 11;
        let problems = declaration.problems();
        assert_eq!(problems.len(), 3, "{problems:?}");
        assert!(problems.iter().any(|p| p.contains("lambdaFunctionArn")));
        assert!(problems.iter().any(|p| p.contains("jobTimeout")));
        assert!(problems.iter().any(|p| p.contains("inputArtifactDetails")));
    }
}
