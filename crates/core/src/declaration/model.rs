//! Serde types for CodePipeline's pipeline declaration (botocore `PipelineDeclaration`).
//!
//! Field names and shapes follow the wire format exactly (camelCase). Every optional field is
//! an `Option` and is skipped when absent (`skip_serializing_none`), so serialising gives back
//! what was read. Required
//! fields default to empty when missing, so that validation can name every missing field in
//! one report instead of the parser stopping at the first.

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};
use serde_with::skip_serializing_none;

use super::config_value;
use super::string_enum::string_enum;

string_enum! {
    /// `pipelineType`. V1 when omitted.
    PipelineType { V1 => "V1", V2 => "V2" }
}

string_enum! {
    /// `executionMode`. SUPERSEDED when omitted.
    ExecutionMode { Queued => "QUEUED", Superseded => "SUPERSEDED", Parallel => "PARALLEL" }
}

string_enum! {
    /// `actionTypeId.category`.
    ActionCategory {
        Source => "Source",
        Build => "Build",
        Deploy => "Deploy",
        Test => "Test",
        Invoke => "Invoke",
        Approval => "Approval",
        Compute => "Compute",
    }
}

string_enum! {
    /// `actionTypeId.owner`.
    ActionOwner { Aws => "AWS", ThirdParty => "ThirdParty", Custom => "Custom" }
}

string_enum! {
    /// `result` of a stage condition (`onFailure`, `onSuccess`, `beforeEntry`).
    ConditionResult { Rollback => "ROLLBACK", Fail => "FAIL", Retry => "RETRY", Skip => "SKIP" }
}

string_enum! {
    /// `retryConfiguration.retryMode`, and the `retryMode` of RetryStageExecution.
    StageRetryMode { FailedActions => "FAILED_ACTIONS", AllActions => "ALL_ACTIONS" }
}

string_enum! {
    /// `environmentVariables[].type`.
    EnvironmentVariableType { Plaintext => "PLAINTEXT", SecretsManager => "SECRETS_MANAGER" }
}

string_enum! {
    /// `triggers[].providerType`.
    TriggerProviderType { CodeStarSourceConnection => "CodeStarSourceConnection" }
}

string_enum! {
    /// `gitConfiguration.pullRequest[].events[]`.
    PullRequestEvent { Open => "OPEN", Updated => "UPDATED", Closed => "CLOSED" }
}

string_enum! {
    /// `artifactStore.type`.
    ArtifactStoreType { S3 => "S3" }
}

string_enum! {
    /// `artifactStore.encryptionKey.type`.
    EncryptionKeyType { Kms => "KMS" }
}

string_enum! {
    /// `blockers[].type`.
    BlockerType { Schedule => "Schedule" }
}

/// The whole pipeline declaration, as `create-pipeline` takes it and `get-pipeline` returns it.
#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PipelineDeclaration {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub role_arn: String,
    pub artifact_store: Option<ArtifactStore>,
    pub artifact_stores: Option<IndexMap<String, ArtifactStore>>,
    #[serde(default)]
    pub stages: Vec<StageDeclaration>,
    pub version: Option<i64>,
    pub execution_mode: Option<ExecutionMode>,
    pub pipeline_type: Option<PipelineType>,
    pub variables: Option<Vec<PipelineVariableDeclaration>>,
    pub triggers: Option<Vec<PipelineTriggerDeclaration>>,
}

impl PipelineDeclaration {
    /// `pipelineType` as CodePipeline settles it: the declared type; when none is declared,
    /// V2 if the declaration uses a V2-only feature, else V1.
    pub fn effective_type(&self) -> PipelineType {
        match &self.pipeline_type {
            Some(declared) => declared.clone(),
            None if self.v2_features().is_empty() => PipelineType::V1,
            None => PipelineType::V2,
        }
    }

    /// The V2-only features this declaration uses, as (path, feature) pairs.
    pub fn v2_features(&self) -> Vec<(String, &'static str)> {
        let mut found = Vec::new();
        match self.execution_mode {
            Some(ExecutionMode::Queued) => found.push(("executionMode".to_string(), "the QUEUED execution mode")),
            Some(ExecutionMode::Parallel) => found.push(("executionMode".to_string(), "the PARALLEL execution mode")),
            _ => {}
        }
        if self.variables.as_ref().is_some_and(|v| !v.is_empty()) {
            found.push(("variables".to_string(), "pipeline variables"));
        }
        if self.triggers.as_ref().is_some_and(|t| !t.is_empty()) {
            found.push(("triggers".to_string(), "triggers"));
        }
        for (s, stage) in self.stages.iter().enumerate() {
            if stage.on_failure.is_some() {
                found.push((format!("stages[{s}].onFailure"), "stage failure conditions (rollback, automatic retry)"));
            }
            if stage.on_success.is_some() {
                found.push((format!("stages[{s}].onSuccess"), "stage success conditions"));
            }
            if stage.before_entry.is_some() {
                found.push((format!("stages[{s}].beforeEntry"), "stage entry conditions"));
            }
            for (a, action) in stage.actions.iter().enumerate() {
                if action.action_type_id.category == ActionCategory::Compute {
                    found.push((format!("stages[{s}].actions[{a}].actionTypeId"), "the Commands (Compute) action"));
                }
            }
        }
        found
    }

    /// `executionMode`, with CodePipeline's default (SUPERSEDED).
    pub fn effective_mode(&self) -> ExecutionMode {
        self.execution_mode.clone().unwrap_or(ExecutionMode::Superseded)
    }

    /// Every action with its stage and action index, in declaration order.
    pub fn actions(&self) -> impl Iterator<Item = (usize, usize, &ActionDeclaration)> {
        self.stages.iter().enumerate().flat_map(|(stage_index, stage)| {
            stage.actions.iter().enumerate().map(move |(action_index, action)| (stage_index, action_index, action))
        })
    }
}

#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ArtifactStore {
    #[serde(rename = "type", default = "default_store_type")]
    pub store_type: ArtifactStoreType,
    #[serde(default)]
    pub location: String,
    pub encryption_key: Option<EncryptionKey>,
}

fn default_store_type() -> ArtifactStoreType {
    ArtifactStoreType::Unknown(String::new())
}

impl Default for ArtifactStoreType {
    fn default() -> Self {
        default_store_type()
    }
}

#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EncryptionKey {
    #[serde(default)]
    pub id: String,
    #[serde(rename = "type", default = "default_key_type")]
    pub key_type: EncryptionKeyType,
}

fn default_key_type() -> EncryptionKeyType {
    EncryptionKeyType::Unknown(String::new())
}

#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StageDeclaration {
    #[serde(default)]
    pub name: String,
    pub blockers: Option<Vec<BlockerDeclaration>>,
    #[serde(default)]
    pub actions: Vec<ActionDeclaration>,
    pub on_failure: Option<FailureConditions>,
    pub on_success: Option<SuccessConditions>,
    pub before_entry: Option<BeforeEntryConditions>,
}

/// Reserved by CodePipeline; declared in the model, never acted on.
#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BlockerDeclaration {
    #[serde(default)]
    pub name: String,
    #[serde(rename = "type", default = "default_blocker_type")]
    pub blocker_type: BlockerType,
}

fn default_blocker_type() -> BlockerType {
    BlockerType::Unknown(String::new())
}

#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ActionDeclaration {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub action_type_id: ActionTypeId,
    pub run_order: Option<i64>,
    #[serde(default, deserialize_with = "config_value::deserialize_optional_map")]
    pub configuration: Option<IndexMap<String, String>>,
    pub commands: Option<Vec<String>>,
    pub output_artifacts: Option<Vec<OutputArtifact>>,
    pub input_artifacts: Option<Vec<InputArtifact>>,
    pub output_variables: Option<Vec<String>>,
    pub role_arn: Option<String>,
    pub region: Option<String>,
    pub namespace: Option<String>,
    pub timeout_in_minutes: Option<i64>,
    pub environment_variables: Option<Vec<EnvironmentVariable>>,
}

impl ActionDeclaration {
    /// `runOrder`, with CodePipeline's default (1).
    pub fn effective_run_order(&self) -> i64 {
        self.run_order.unwrap_or(1)
    }

    pub fn input_names(&self) -> impl Iterator<Item = &str> {
        self.input_artifacts.iter().flatten().map(|a| a.name.as_str())
    }

    pub fn output_names(&self) -> impl Iterator<Item = &str> {
        self.output_artifacts.iter().flatten().map(|a| a.name.as_str())
    }

    pub fn config(&self, key: &str) -> Option<&str> {
        self.configuration.as_ref()?.get(key).map(String::as_str)
    }
}

#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ActionTypeId {
    #[serde(default = "unknown_category")]
    pub category: ActionCategory,
    #[serde(default = "unknown_owner")]
    pub owner: ActionOwner,
    #[serde(default)]
    pub provider: String,
    #[serde(default)]
    pub version: String,
}

fn unknown_category() -> ActionCategory {
    ActionCategory::Unknown(String::new())
}

fn unknown_owner() -> ActionOwner {
    ActionOwner::Unknown(String::new())
}

impl Default for ActionTypeId {
    fn default() -> Self {
        Self { category: unknown_category(), owner: unknown_owner(), provider: String::new(), version: String::new() }
    }
}

impl std::fmt::Display for ActionTypeId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}/{}/{}", self.category, self.owner, self.provider, self.version)
    }
}

#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct InputArtifact {
    #[serde(default)]
    pub name: String,
}

#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OutputArtifact {
    #[serde(default)]
    pub name: String,
    /// Globs of the files to collect (Compute actions only).
    pub files: Option<Vec<String>>,
}

#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EnvironmentVariable {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub value: String,
    #[serde(rename = "type")]
    pub variable_type: Option<EnvironmentVariableType>,
}

#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PipelineVariableDeclaration {
    #[serde(default)]
    pub name: String,
    pub default_value: Option<String>,
    pub description: Option<String>,
}

#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PipelineTriggerDeclaration {
    #[serde(default = "unknown_provider_type")]
    pub provider_type: TriggerProviderType,
    #[serde(default)]
    pub git_configuration: GitConfiguration,
}

fn unknown_provider_type() -> TriggerProviderType {
    TriggerProviderType::Unknown(String::new())
}

#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GitConfiguration {
    #[serde(default)]
    pub source_action_name: String,
    pub push: Option<Vec<GitPushFilter>>,
    pub pull_request: Option<Vec<GitPullRequestFilter>>,
}

#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GitPushFilter {
    pub tags: Option<GitFilterCriteria>,
    pub branches: Option<GitFilterCriteria>,
    pub file_paths: Option<GitFilterCriteria>,
}

#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GitPullRequestFilter {
    pub events: Option<Vec<PullRequestEvent>>,
    pub branches: Option<GitFilterCriteria>,
    pub file_paths: Option<GitFilterCriteria>,
}

/// Include and exclude glob lists (branch, tag or file-path filters).
#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GitFilterCriteria {
    pub includes: Option<Vec<String>>,
    pub excludes: Option<Vec<String>>,
}

#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FailureConditions {
    pub result: Option<ConditionResult>,
    pub retry_configuration: Option<RetryConfiguration>,
    pub conditions: Option<Vec<Condition>>,
}

#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RetryConfiguration {
    pub retry_mode: Option<StageRetryMode>,
}

#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SuccessConditions {
    #[serde(default)]
    pub conditions: Vec<Condition>,
}

#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BeforeEntryConditions {
    #[serde(default)]
    pub conditions: Vec<Condition>,
}

#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Condition {
    pub result: Option<ConditionResult>,
    pub rules: Option<Vec<RuleDeclaration>>,
}

#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RuleDeclaration {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub rule_type_id: RuleTypeId,
    #[serde(default, deserialize_with = "config_value::deserialize_optional_map")]
    pub configuration: Option<IndexMap<String, String>>,
    pub commands: Option<Vec<String>>,
    pub input_artifacts: Option<Vec<InputArtifact>>,
    pub role_arn: Option<String>,
    pub region: Option<String>,
    pub timeout_in_minutes: Option<i64>,
}

#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RuleTypeId {
    #[serde(default)]
    pub category: String,
    pub owner: Option<String>,
    #[serde(default)]
    pub provider: String,
    pub version: Option<String>,
}

/// `metadata` of `get-pipeline`. Timestamps are kept as given: epoch seconds on the wire,
/// ISO strings in the aws CLI's output.
#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PipelineMetadata {
    pub pipeline_arn: Option<String>,
    pub created: Option<serde_json::Value>,
    pub updated: Option<serde_json::Value>,
    pub polling_disabled_at: Option<serde_json::Value>,
}

impl PipelineMetadata {
    /// The region in `pipelineArn` (`arn:aws:codepipeline:<region>:<account>:<name>`): the
    /// pipeline's home region.
    pub fn region(&self) -> Option<&str> {
        let arn = self.pipeline_arn.as_deref()?;
        let mut parts = arn.splitn(6, ':');
        let (prefix, _partition, service, region) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
        (prefix == "arn" && service == "codepipeline" && !region.is_empty()).then_some(region)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every field of the model set, in the order the structs declare them: serialising gives
    /// back these exact bytes.
    const EVERY_FIELD: &str = r#"{"name":"p","roleArn":"arn:aws:iam::111122223333:role/p","artifactStore":{"type":"S3","location":"b","encryptionKey":{"id":"k","type":"KMS"}},"artifactStores":{"eu-west-1":{"type":"S3","location":"b2"}},"stages":[{"name":"S","blockers":[{"name":"x","type":"Schedule"}],"actions":[{"name":"A","actionTypeId":{"category":"Compute","owner":"AWS","provider":"Commands","version":"1"},"runOrder":2,"configuration":{"K":"V"},"commands":["echo"],"outputArtifacts":[{"name":"O","files":["**/*"]}],"inputArtifacts":[{"name":"I"}],"outputVariables":["X"],"roleArn":"arn:r","region":"eu-west-1","namespace":"N","timeoutInMinutes":5,"environmentVariables":[{"name":"E","value":"v","type":"PLAINTEXT"}]}],"onFailure":{"result":"RETRY","retryConfiguration":{"retryMode":"ALL_ACTIONS"},"conditions":[{"result":"FAIL","rules":[{"name":"R","ruleTypeId":{"category":"Rule","owner":"AWS","provider":"Commands","version":"1"},"configuration":{"C":"D"},"commands":["true"],"inputArtifacts":[{"name":"I"}],"roleArn":"arn:r","region":"eu-west-1","timeoutInMinutes":3}]}]},"onSuccess":{"conditions":[{"result":"FAIL"}]},"beforeEntry":{"conditions":[{"rules":[]}]}}],"version":4,"executionMode":"QUEUED","pipelineType":"V2","variables":[{"name":"V","defaultValue":"d","description":"about"}],"triggers":[{"providerType":"CodeStarSourceConnection","gitConfiguration":{"sourceActionName":"A","push":[{"tags":{"includes":["v*"],"excludes":["x"]},"branches":{"includes":["main"]},"filePaths":{"excludes":["docs/**"]}}],"pullRequest":[{"events":["OPEN"],"branches":{"includes":["main"]},"filePaths":{"includes":["src/**"]}}]}}]}"#;

    /// Only what is required: nothing optional comes back.
    const REQUIRED_ONLY: &str = r#"{"name":"p","roleArn":"arn:r","stages":[{"name":"S","actions":[{"name":"A","actionTypeId":{"category":"Source","owner":"AWS","provider":"S3","version":"1"}}]}]}"#;

    #[test]
    fn a_round_trip_gives_back_the_same_bytes() {
        for text in [EVERY_FIELD, REQUIRED_ONLY] {
            let declaration: PipelineDeclaration = serde_json::from_str(text).unwrap();
            assert_eq!(serde_json::to_string(&declaration).unwrap(), text);
        }
    }
}
