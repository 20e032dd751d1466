//! The CloudFormation deploy action's decisions (docs/reference/cloudformation.md §7,
//! docs/providers.md "CloudFormation"): what each `ActionMode` does given the stack's status,
//! when a wait is over, what "no changes" looks like, the parameters from the template
//! configuration file and `ParameterOverrides`, and the failure message naming the first
//! failed resource.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::engine::ArtifactLocation;

/// `ActionMode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActionMode {
    CreateUpdate,
    DeleteOnly,
    ReplaceOnFailure,
    ChangeSetReplace,
    ChangeSetExecute,
}

impl ActionMode {
    pub fn parse(text: &str) -> Result<ActionMode, String> {
        Ok(match text {
            "CREATE_UPDATE" => ActionMode::CreateUpdate,
            "DELETE_ONLY" => ActionMode::DeleteOnly,
            "REPLACE_ON_FAILURE" => ActionMode::ReplaceOnFailure,
            "CHANGE_SET_REPLACE" => ActionMode::ChangeSetReplace,
            "CHANGE_SET_EXECUTE" => ActionMode::ChangeSetExecute,
            other => {
                return Err(format!(
                    "ActionMode {other:?} is not one of CREATE_UPDATE, DELETE_ONLY, REPLACE_ON_FAILURE, CHANGE_SET_REPLACE, CHANGE_SET_EXECUTE"
                ));
            }
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ActionMode::CreateUpdate => "CREATE_UPDATE",
            ActionMode::DeleteOnly => "DELETE_ONLY",
            ActionMode::ReplaceOnFailure => "REPLACE_ON_FAILURE",
            ActionMode::ChangeSetReplace => "CHANGE_SET_REPLACE",
            ActionMode::ChangeSetExecute => "CHANGE_SET_EXECUTE",
        }
    }

    /// The modes that read `TemplatePath`.
    pub fn uses_template(self) -> bool {
        matches!(self, ActionMode::CreateUpdate | ActionMode::ReplaceOnFailure | ActionMode::ChangeSetReplace)
    }

    /// The modes whose outputs become output variables (docs/reference/cloudformation.md §7.5).
    pub fn gives_outputs(self) -> bool {
        self != ActionMode::DeleteOnly
    }
}

/// What a stack's status means to a deploy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StackCondition {
    /// A stable state an update can start from (`UPDATE_ROLLBACK_COMPLETE` included).
    Updatable,
    /// A failed state: only deleting helps (`ROLLBACK_COMPLETE` included, §7.3 and §0 item 11).
    Failed,
    /// An operation is under way.
    Busy,
    /// Made by a `CREATE` change set that was never executed.
    ReviewInProgress,
    /// Deleted (a stack looked up by id after its deletion).
    Gone,
}

const FAILED_STATES: &[&str] =
    &["ROLLBACK_COMPLETE", "ROLLBACK_FAILED", "CREATE_FAILED", "DELETE_FAILED", "UPDATE_ROLLBACK_FAILED"];

pub fn condition(status: &str) -> StackCondition {
    if status == "DELETE_COMPLETE" {
        StackCondition::Gone
    } else if status == "REVIEW_IN_PROGRESS" {
        StackCondition::ReviewInProgress
    } else if FAILED_STATES.contains(&status) {
        StackCondition::Failed
    } else if status.ends_with("_IN_PROGRESS") || status == "UPDATE_FAILED" || status == "IMPORT_ROLLBACK_FAILED" {
        // UPDATE_FAILED is a moment before the rollback starts.
        StackCondition::Busy
    } else {
        StackCondition::Updatable
    }
}

/// Which change set to create.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeSetKind {
    Create,
    Update,
}

impl ChangeSetKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeSetKind::Create => "CREATE",
            ChangeSetKind::Update => "UPDATE",
        }
    }
}

/// The first step of an action, from the stack DescribeStacks found (`None`: no stack).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Start {
    Create,
    Update,
    /// Delete the failed stack, wait, then create it again.
    Replace,
    Delete,
    /// DELETE_ONLY on a stack that does not exist.
    NothingToDelete,
    CreateChangeSet(ChangeSetKind),
    ExecuteChangeSet,
    /// Another operation runs on the stack: wait for it to settle, then decide again
    /// (docs/providers.md: a busy stack is waited for, within the action's timeout).
    WaitForStack,
    Fail(String),
}

pub fn start(mode: ActionMode, stack_name: &str, status: Option<&str>) -> Start {
    let Some(status) = status else {
        return match mode {
            ActionMode::CreateUpdate | ActionMode::ReplaceOnFailure => Start::Create,
            ActionMode::DeleteOnly => Start::NothingToDelete,
            ActionMode::ChangeSetReplace => Start::CreateChangeSet(ChangeSetKind::Create),
            ActionMode::ChangeSetExecute => Start::Fail(format!(
                "stack {stack_name} does not exist, so it has no change set to execute; run the CHANGE_SET_REPLACE action first"
            )),
        };
    };
    let condition = condition(status);
    if condition == StackCondition::Busy {
        return Start::WaitForStack;
    }
    match (mode, condition) {
        (_, StackCondition::Busy) => Start::WaitForStack,
        (ActionMode::CreateUpdate | ActionMode::ReplaceOnFailure, StackCondition::Gone) => Start::Create,
        (ActionMode::CreateUpdate, StackCondition::Updatable) => Start::Update,
        (ActionMode::CreateUpdate, StackCondition::Failed) => Start::Fail(format!(
            "stack {stack_name} is in {status}, from which it cannot be updated; delete it, or use ActionMode REPLACE_ON_FAILURE, which deletes and recreates a failed stack"
        )),
        (ActionMode::CreateUpdate, StackCondition::ReviewInProgress) => Start::Fail(format!(
            "stack {stack_name} is in REVIEW_IN_PROGRESS: a change set created it and was never executed; execute or delete that change set, or use REPLACE_ON_FAILURE"
        )),
        (ActionMode::ReplaceOnFailure, StackCondition::Updatable) => Start::Update,
        (ActionMode::ReplaceOnFailure, StackCondition::Failed | StackCondition::ReviewInProgress) => Start::Replace,
        (ActionMode::DeleteOnly, StackCondition::Gone) => Start::NothingToDelete,
        (ActionMode::DeleteOnly, _) => Start::Delete,
        (ActionMode::ChangeSetReplace, StackCondition::Gone | StackCondition::ReviewInProgress) => {
            Start::CreateChangeSet(ChangeSetKind::Create)
        }
        (ActionMode::ChangeSetReplace, StackCondition::Updatable) => Start::CreateChangeSet(ChangeSetKind::Update),
        (ActionMode::ChangeSetReplace, StackCondition::Failed) => Start::Fail(format!(
            "stack {stack_name} is in {status}, from which no change set can update it; delete the stack first"
        )),
        (ActionMode::ChangeSetExecute, StackCondition::Gone) => Start::Fail(format!(
            "stack {stack_name} was deleted, so it has no change set to execute; run the CHANGE_SET_REPLACE action first"
        )),
        (ActionMode::ChangeSetExecute, _) => Start::ExecuteChangeSet,
    }
}

/// The operation a wait is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Operation {
    Create,
    Update,
    Delete,
}

/// Where a wait stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settled {
    Pending,
    Succeeded,
    Failed,
}

/// The waiters' rules (botocore's *StackCreateComplete*, *StackUpdateComplete*,
/// *StackDeleteComplete*; docs/reference/cloudformation.md §7.3). `None`: the stack is gone.
pub fn settled(operation: Operation, status: Option<&str>) -> Settled {
    let Some(status) = status else {
        return if operation == Operation::Delete { Settled::Succeeded } else { Settled::Failed };
    };
    match operation {
        Operation::Create => match status {
            "CREATE_COMPLETE" => Settled::Succeeded,
            "CREATE_IN_PROGRESS" | "REVIEW_IN_PROGRESS" => Settled::Pending,
            _ => Settled::Failed,
        },
        Operation::Update => match status {
            "UPDATE_COMPLETE" => Settled::Succeeded,
            "UPDATE_IN_PROGRESS" | "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS" => Settled::Pending,
            _ => Settled::Failed,
        },
        Operation::Delete => match status {
            "DELETE_COMPLETE" => Settled::Succeeded,
            "DELETE_IN_PROGRESS" => Settled::Pending,
            _ => Settled::Failed,
        },
    }
}

/// Where a change set's creation stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChangeSetState {
    Pending,
    Ready,
    /// It holds no changes: success (docs/reference/cloudformation.md §7.4).
    Empty,
    Failed(String),
}

pub fn change_set_state(status: &str, reason: Option<&str>) -> ChangeSetState {
    match status {
        "CREATE_PENDING" | "CREATE_IN_PROGRESS" => ChangeSetState::Pending,
        "CREATE_COMPLETE" => ChangeSetState::Ready,
        _ if reason.is_some_and(is_no_changes) => ChangeSetState::Empty,
        other => ChangeSetState::Failed(format!("change set is {other}: {}", reason.unwrap_or("no reason given"))),
    }
}

/// CloudFormation's ways of saying there is nothing to change: UpdateStack's ValidationError
/// and an empty change set's reason (aws/aws-cli#2717).
pub fn is_no_changes(message: &str) -> bool {
    message.contains("No updates are to be performed") || message.contains("didn't contain changes")
}

/// The operation a job already began on the stack: a start repeated after a crash finds it
/// by the `ClientRequestToken` its events carry (every token of a job holds the job id,
/// [`super::client_token`]), and waits for it instead of starting another. `events` are
/// newest first.
pub fn started_by(events: &[StackEvent], job_id: &str) -> Option<Operation> {
    let event = events.iter().find(|e| e.client_request_token.as_deref().is_some_and(|t| t.contains(job_id)))?;
    let status = event.status.as_str();
    Some(if status.starts_with("DELETE_") {
        Operation::Delete
    } else if status.starts_with("UPDATE_") {
        Operation::Update
    } else {
        Operation::Create
    })
}

/// One DescribeStackEvents entry.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StackEvent {
    pub logical_id: String,
    pub resource_type: String,
    pub status: String,
    pub reason: Option<String>,
    pub client_request_token: Option<String>,
}

/// The failure message: the stack's status and the first resource that failed in the last
/// operation, with its reason (CodePipeline names it, docs/reference/cloudformation.md §7.3).
/// `events` are newest first, as DescribeStackEvents gives them.
pub fn failure_message(stack_name: &str, status: &str, stack_reason: Option<&str>, events: &[StackEvent]) -> String {
    // The last operation's events: those newer than the stack's own "User Initiated" start.
    let start = events
        .iter()
        .position(|e| e.logical_id == stack_name && e.reason.as_deref() == Some("User Initiated"))
        .map_or(events.len(), |i| i + 1);
    let first_failed = events[..start].iter().rev().find(|e| {
        e.logical_id != stack_name
            && e.status.ends_with("_FAILED")
            && !e.reason.as_deref().is_some_and(|r| r.contains("cancelled"))
    });
    let mut message = format!("stack {stack_name} is {status}");
    match first_failed {
        Some(event) => message.push_str(&format!(
            ": resource {} ({}) {}: {}",
            event.logical_id,
            event.resource_type,
            event.status,
            event.reason.as_deref().unwrap_or("no reason given")
        )),
        None => {
            if let Some(reason) = stack_reason.filter(|r| !r.is_empty()) {
                message.push_str(&format!(": {reason}"));
            }
        }
    }
    message
}

/// A `ParameterOverrides` value (docs/reference/cloudformation.md §7.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OverrideValue {
    Text(String),
    /// `{"Fn::GetParam": [artifact, file.json, key]}`: a key of a JSON file in an input artifact.
    GetParam {
        artifact: String,
        file: String,
        key: String,
    },
    /// `{"Fn::GetArtifactAtt": [artifact, BucketName | ObjectKey | URL]}`.
    GetArtifactAtt {
        artifact: String,
        attribute: String,
    },
}

/// Reads `ParameterOverrides`: a JSON object whose values are strings (numbers and booleans
/// are taken as their text, docs/providers.md) or one of the two functions.
pub fn parse_overrides(text: &str) -> Result<Vec<(String, OverrideValue)>, String> {
    let value: Value = serde_json::from_str(text).map_err(|e| format!("ParameterOverrides is not JSON: {e}"))?;
    let Value::Object(map) = value else {
        return Err("ParameterOverrides must be a JSON object of parameter names to values".to_string());
    };
    let mut overrides = Vec::new();
    for (name, value) in map {
        let parsed = match &value {
            Value::String(text) => OverrideValue::Text(text.clone()),
            Value::Number(number) => OverrideValue::Text(number.to_string()),
            Value::Bool(flag) => OverrideValue::Text(flag.to_string()),
            Value::Object(function) if function.len() == 1 => {
                let (key, arguments) =
                    function.iter().next().map(|(k, v)| (k.as_str(), v)).unwrap_or(("", &Value::Null));
                let strings: Vec<&str> =
                    arguments.as_array().map(|a| a.iter().filter_map(Value::as_str).collect()).unwrap_or_default();
                match (key, strings.as_slice()) {
                    ("Fn::GetParam", [artifact, file, key]) => OverrideValue::GetParam {
                        artifact: artifact.to_string(),
                        file: file.to_string(),
                        key: key.to_string(),
                    },
                    ("Fn::GetArtifactAtt", [artifact, attribute]) => {
                        if !matches!(*attribute, "BucketName" | "ObjectKey" | "URL") {
                            return Err(format!(
                                "ParameterOverrides.{name}: Fn::GetArtifactAtt gives BucketName, ObjectKey or URL, not {attribute:?}"
                            ));
                        }
                        OverrideValue::GetArtifactAtt {
                            artifact: artifact.to_string(),
                            attribute: attribute.to_string(),
                        }
                    }
                    _ => {
                        return Err(format!(
                            "ParameterOverrides.{name}: expected a string, {{\"Fn::GetParam\": [artifact, file, key]}} or {{\"Fn::GetArtifactAtt\": [artifact, attribute]}}, got {value}"
                        ));
                    }
                }
            }
            other => return Err(format!("ParameterOverrides.{name}: {other} is not a parameter value")),
        };
        overrides.push((name, parsed));
    }
    Ok(overrides)
}

/// The files `Fn::GetParam` reads: (artifact, file).
pub fn files_read(overrides: &[(String, OverrideValue)]) -> Vec<(String, String)> {
    let mut files: Vec<(String, String)> = overrides
        .iter()
        .filter_map(|(_, v)| match v {
            OverrideValue::GetParam { artifact, file, .. } => Some((artifact.clone(), file.clone())),
            _ => None,
        })
        .collect();
    files.sort();
    files.dedup();
    files
}

/// The template configuration file: `{"Parameters": {…}, "Tags": {…}, "StackPolicy": {…}}`
/// (docs/reference/cloudformation.md §7.2).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TemplateConfiguration {
    pub parameters: BTreeMap<String, String>,
    pub tags: BTreeMap<String, String>,
    /// `StackPolicyBody`.
    pub stack_policy: Option<String>,
}

fn scalar(value: &Value) -> Option<String> {
    match value {
        Value::String(text) => Some(text.clone()),
        Value::Number(number) => Some(number.to_string()),
        Value::Bool(flag) => Some(flag.to_string()),
        _ => None,
    }
}

pub fn parse_template_configuration(file: &str, text: &str) -> Result<TemplateConfiguration, String> {
    let value: Value = serde_json::from_str(text).map_err(|e| format!("{file} is not JSON: {e}"))?;
    let Value::Object(map) = value else { return Err(format!("{file} must be a JSON object")) };
    let mut configuration = TemplateConfiguration::default();
    for (key, value) in map {
        match key.as_str() {
            "Parameters" | "Tags" => {
                let Value::Object(entries) = value else {
                    return Err(format!(
                        "{file}: {key} must be an object of names to values (not the CLI's [{{ParameterKey, ParameterValue}}] list)"
                    ));
                };
                let target = if key == "Parameters" { &mut configuration.parameters } else { &mut configuration.tags };
                for (name, value) in entries {
                    let text = scalar(&value).ok_or_else(|| format!("{file}: {key}.{name} must be a string"))?;
                    target.insert(name, text);
                }
            }
            "StackPolicy" => configuration.stack_policy = Some(value.to_string()),
            other => {
                return Err(format!(
                    "{file}: {other} is not a key of a template configuration file (Parameters, Tags, StackPolicy)"
                ));
            }
        }
    }
    Ok(configuration)
}

/// The stack's parameters: the configuration file's, then the overrides on top
/// (docs/reference/cloudformation.md §7.2). `files` holds the parsed JSON files
/// `Fn::GetParam` reads; `inputs` the action's input artifacts, by name.
pub fn resolve_parameters(
    configuration: Option<&TemplateConfiguration>,
    overrides: &[(String, OverrideValue)],
    files: &BTreeMap<(String, String), Value>,
    inputs: &BTreeMap<String, ArtifactLocation>,
    region: &str,
) -> Result<BTreeMap<String, String>, String> {
    let mut parameters = configuration.map(|c| c.parameters.clone()).unwrap_or_default();
    for (name, value) in overrides {
        let resolved = match value {
            OverrideValue::Text(text) => text.clone(),
            OverrideValue::GetParam { artifact, file, key } => {
                if !inputs.contains_key(artifact) {
                    return Err(format!(
                        "ParameterOverrides.{name}: Fn::GetParam reads artifact {artifact}, which is not an input of this action"
                    ));
                }
                let json = files
                    .get(&(artifact.clone(), file.clone()))
                    .ok_or_else(|| format!("ParameterOverrides.{name}: {artifact}::{file} was not read"))?;
                let found = json.get(key).ok_or_else(|| {
                    format!("ParameterOverrides.{name}: Fn::GetParam: {artifact}::{file} has no key {key:?}")
                })?;
                match found {
                    Value::String(text) => text.clone(),
                    Value::Null => String::new(),
                    other => other.to_string(),
                }
            }
            OverrideValue::GetArtifactAtt { artifact, attribute } => {
                let location = inputs.get(artifact).ok_or_else(|| {
                    format!("ParameterOverrides.{name}: Fn::GetArtifactAtt names artifact {artifact}, which is not an input of this action")
                })?;
                match attribute.as_str() {
                    "BucketName" => location.bucket.clone(),
                    "ObjectKey" => location.key.clone(),
                    _ => format!("https://s3.{region}.amazonaws.com/{}/{}", location.bucket, location.key),
                }
            }
        };
        parameters.insert(name.clone(), resolved);
    }
    Ok(parameters)
}

/// What a template declares, for checks and plans: its parameters (with defaults) and outputs.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TemplateShape {
    pub parameters: BTreeMap<String, Option<String>>,
    /// Output key → its value when it is known without deploying (a literal, or `Ref` of a
    /// parameter), else `None`.
    pub outputs: BTreeMap<String, OutputValue>,
    /// The template uses a transform (SAM, macros): CreateStack needs CAPABILITY_AUTO_EXPAND.
    pub has_transform: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub enum OutputValue {
    Literal(String),
    Parameter(String),
    Unknown,
}

/// Reads the template's parameters and outputs (JSON or CloudFormation YAML).
pub fn template_shape(text: &str) -> Result<TemplateShape, String> {
    let node = crate::import::read_template(text).map_err(|e| format!("the template does not parse: {e}"))?;
    if node.as_map().is_none() {
        return Err("the template is not a mapping of sections".to_string());
    }
    let mut shape = TemplateShape { has_transform: node.get("Transform").is_some(), ..TemplateShape::default() };
    if let Some(parameters) = node.get("Parameters").and_then(|p| p.as_map()) {
        for (name, declaration) in parameters {
            shape.parameters.insert(name.clone(), declaration.get("Default").and_then(|d| d.scalar_text()));
        }
    }
    if let Some(outputs) = node.get("Outputs").and_then(|o| o.as_map()) {
        for (name, output) in outputs {
            let value = match output.get("Value") {
                Some(value) => match (value.scalar_text(), value.intrinsic()) {
                    (Some(text), _) => OutputValue::Literal(text),
                    (None, Some(("Ref", target))) => {
                        target.as_str().map_or(OutputValue::Unknown, |t| OutputValue::Parameter(t.to_string()))
                    }
                    _ => OutputValue::Unknown,
                },
                None => OutputValue::Unknown,
            };
            shape.outputs.insert(name.clone(), value);
        }
    }
    Ok(shape)
}

/// Parameters given that the template does not declare: CloudFormation refuses them, so the
/// action fails first, naming them.
pub fn undeclared(shape: &TemplateShape, parameters: &BTreeMap<String, String>) -> Result<(), String> {
    let unknown: Vec<&str> =
        parameters.keys().filter(|name| !shape.parameters.contains_key(*name)).map(String::as_str).collect();
    if unknown.is_empty() {
        return Ok(());
    }
    let declared: Vec<&str> = shape.parameters.keys().map(String::as_str).collect();
    Err(format!(
        "parameters {} are not declared by the template (it declares {})",
        unknown.join(", "),
        if declared.is_empty() { "none".to_string() } else { declared.join(", ") }
    ))
}

/// `Capabilities`: comma-separated, without spaces.
pub fn capabilities(text: Option<&str>) -> Vec<String> {
    text.map(|t| t.split(',').map(str::trim).filter(|c| !c.is_empty()).map(String::from).collect()).unwrap_or_default()
}

/// CloudFormation takes a template body of at most 51,200 bytes; a larger one goes through S3
/// (`TemplateURL`, at most 1 MB).
pub const TEMPLATE_BODY_LIMIT: usize = 51_200;
pub const TEMPLATE_URL_LIMIT: usize = 1_000_000;

/// The `OutputFileName` file: a flat `{"OutputKey": "OutputValue"}` object
/// (docs/reference/cloudformation.md §7.5).
pub fn outputs_file(outputs: &BTreeMap<String, String>) -> String {
    let mut text = serde_json::to_string_pretty(outputs).unwrap_or_else(|_| "{}".to_string());
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn each_mode_starts_from_the_stack_it_finds() {
        use ActionMode::*;
        assert_eq!(start(CreateUpdate, "s", None), Start::Create);
        assert_eq!(start(CreateUpdate, "s", Some("CREATE_COMPLETE")), Start::Update);
        assert_eq!(start(CreateUpdate, "s", Some("UPDATE_ROLLBACK_COMPLETE")), Start::Update);
        assert!(
            matches!(start(CreateUpdate, "s", Some("ROLLBACK_COMPLETE")), Start::Fail(m) if m.contains("REPLACE_ON_FAILURE"))
        );
        assert!(matches!(start(CreateUpdate, "s", Some("REVIEW_IN_PROGRESS")), Start::Fail(_)));
        assert_eq!(start(CreateUpdate, "s", Some("UPDATE_IN_PROGRESS")), Start::WaitForStack);
        assert_eq!(start(ReplaceOnFailure, "s", Some("ROLLBACK_COMPLETE")), Start::Replace);
        assert_eq!(start(ReplaceOnFailure, "s", Some("CREATE_FAILED")), Start::Replace);
        assert_eq!(start(ReplaceOnFailure, "s", Some("REVIEW_IN_PROGRESS")), Start::Replace);
        assert_eq!(start(ReplaceOnFailure, "s", Some("UPDATE_COMPLETE")), Start::Update);
        assert_eq!(start(ReplaceOnFailure, "s", None), Start::Create);
        assert_eq!(start(DeleteOnly, "s", None), Start::NothingToDelete);
        assert_eq!(start(DeleteOnly, "s", Some("DELETE_FAILED")), Start::Delete);
        assert_eq!(start(DeleteOnly, "s", Some("DELETE_IN_PROGRESS")), Start::WaitForStack);
        assert_eq!(start(ChangeSetReplace, "s", None), Start::CreateChangeSet(ChangeSetKind::Create));
        assert_eq!(
            start(ChangeSetReplace, "s", Some("REVIEW_IN_PROGRESS")),
            Start::CreateChangeSet(ChangeSetKind::Create)
        );
        assert_eq!(
            start(ChangeSetReplace, "s", Some("UPDATE_COMPLETE")),
            Start::CreateChangeSet(ChangeSetKind::Update)
        );
        assert!(matches!(start(ChangeSetReplace, "s", Some("ROLLBACK_COMPLETE")), Start::Fail(_)));
        assert!(matches!(start(ChangeSetExecute, "s", None), Start::Fail(m) if m.contains("CHANGE_SET_REPLACE")));
        assert_eq!(start(ChangeSetExecute, "s", Some("REVIEW_IN_PROGRESS")), Start::ExecuteChangeSet);
        assert_eq!(start(ChangeSetExecute, "s", Some("UPDATE_COMPLETE")), Start::ExecuteChangeSet);
    }

    #[test]
    fn waits_end_as_botocores_waiters_end() {
        assert_eq!(settled(Operation::Create, Some("CREATE_IN_PROGRESS")), Settled::Pending);
        assert_eq!(settled(Operation::Create, Some("CREATE_COMPLETE")), Settled::Succeeded);
        assert_eq!(settled(Operation::Create, Some("ROLLBACK_IN_PROGRESS")), Settled::Failed);
        assert_eq!(settled(Operation::Create, Some("ROLLBACK_COMPLETE")), Settled::Failed);
        assert_eq!(settled(Operation::Update, Some("UPDATE_COMPLETE_CLEANUP_IN_PROGRESS")), Settled::Pending);
        assert_eq!(settled(Operation::Update, Some("UPDATE_ROLLBACK_COMPLETE")), Settled::Failed);
        assert_eq!(settled(Operation::Delete, None), Settled::Succeeded);
        assert_eq!(settled(Operation::Delete, Some("DELETE_FAILED")), Settled::Failed);
        assert_eq!(settled(Operation::Update, None), Settled::Failed);
    }

    #[test]
    fn no_changes_is_success_in_both_its_forms() {
        assert!(is_no_changes("No updates are to be performed."));
        assert_eq!(
            change_set_state(
                "FAILED",
                Some(
                    "The submitted information didn't contain changes. Submit different information to create a change set."
                )
            ),
            ChangeSetState::Empty
        );
        assert!(
            matches!(change_set_state("FAILED", Some("Template format error")), ChangeSetState::Failed(m) if m.contains("Template format error"))
        );
        assert_eq!(change_set_state("CREATE_PENDING", None), ChangeSetState::Pending);
        assert_eq!(change_set_state("CREATE_COMPLETE", None), ChangeSetState::Ready);
    }

    fn event(logical: &str, kind: &str, status: &str, reason: Option<&str>) -> StackEvent {
        StackEvent {
            logical_id: logical.into(),
            resource_type: kind.into(),
            status: status.into(),
            reason: reason.map(String::from),
            client_request_token: None,
        }
    }

    #[test]
    fn the_failure_names_the_first_failed_resource_of_the_last_operation() {
        // Newest first, as DescribeStackEvents answers; an older operation failed too.
        let events = vec![
            event("app", "AWS::CloudFormation::Stack", "ROLLBACK_COMPLETE", None),
            event("Topic", "AWS::SNS::Topic", "DELETE_COMPLETE", None),
            event("Topic", "AWS::SNS::Topic", "CREATE_FAILED", Some("Resource creation cancelled")),
            event("Queue", "AWS::SQS::Queue", "CREATE_FAILED", Some("Queue name must end in .fifo")),
            event("app", "AWS::CloudFormation::Stack", "CREATE_IN_PROGRESS", Some("User Initiated")),
            event("Old", "AWS::SQS::Queue", "CREATE_FAILED", Some("an older failure")),
        ];
        let message = failure_message("app", "ROLLBACK_COMPLETE", Some("The following resource(s) failed"), &events);
        assert_eq!(
            message,
            "stack app is ROLLBACK_COMPLETE: resource Queue (AWS::SQS::Queue) CREATE_FAILED: Queue name must end in .fifo"
        );
        let bare = failure_message("app", "UPDATE_ROLLBACK_COMPLETE", Some("denied"), &[]);
        assert_eq!(bare, "stack app is UPDATE_ROLLBACK_COMPLETE: denied");
    }

    #[test]
    fn overrides_take_precedence_and_functions_read_the_inputs() {
        let overrides = parse_overrides(
            r#"{"Env": "prod", "Count": 3, "Image": {"Fn::GetParam": ["Build", "build.json", "image"]},
                "Bucket": {"Fn::GetArtifactAtt": ["Build", "BucketName"]}, "Url": {"Fn::GetArtifactAtt": ["Build", "URL"]}}"#,
        )
        .unwrap();
        assert_eq!(files_read(&overrides), vec![("Build".to_string(), "build.json".to_string())]);
        let configuration = parse_template_configuration(
            "config.json",
            r#"{"Parameters": {"Env": "staging", "Size": "small"}, "Tags": {"team": "web"}, "StackPolicy": {"Statement": []}}"#,
        )
        .unwrap();
        assert_eq!(configuration.tags.get("team").map(String::as_str), Some("web"));
        assert_eq!(configuration.stack_policy.as_deref(), Some(r#"{"Statement":[]}"#));
        let files = BTreeMap::from([(("Build".to_string(), "build.json".to_string()), json!({"image": "repo:abc"}))]);
        let inputs = BTreeMap::from([(
            "Build".to_string(),
            ArtifactLocation { bucket: "artifacts".into(), key: "p/Build/x1".into() },
        )]);
        let parameters = resolve_parameters(Some(&configuration), &overrides, &files, &inputs, "eu-west-1").unwrap();
        assert_eq!(parameters["Env"], "prod");
        assert_eq!(parameters["Size"], "small");
        assert_eq!(parameters["Count"], "3");
        assert_eq!(parameters["Image"], "repo:abc");
        assert_eq!(parameters["Bucket"], "artifacts");
        assert_eq!(parameters["Url"], "https://s3.eu-west-1.amazonaws.com/artifacts/p/Build/x1");

        let missing = parse_overrides(r#"{"Image": {"Fn::GetParam": ["Build", "build.json", "tag"]}}"#).unwrap();
        let error = resolve_parameters(None, &missing, &files, &inputs, "eu-west-1").unwrap_err();
        assert!(error.contains("has no key \"tag\""), "{error}");
        assert!(parse_overrides(r#"{"A": {"Fn::GetArtifactAtt": ["Build", "Size"]}}"#).is_err());
        assert!(parse_overrides(r#"["A"]"#).is_err());
        assert!(
            parse_template_configuration("c.json", r#"{"Parameters": [{"ParameterKey": "A"}]}"#)
                .unwrap_err()
                .contains("CLI")
        );
    }

    #[test]
    fn the_templates_parameters_and_outputs_are_read_from_yaml_or_json() {
        let yaml = "Transform: AWS::Serverless-2016-10-31\nParameters:\n  Env:\n    Type: String\n  Size:\n    Type: String\n    Default: small\nResources:\n  T:\n    Type: AWS::SNS::Topic\nOutputs:\n  TopicArn:\n    Value: !Ref T\n  EnvName:\n    Value: !Ref Env\n  Fixed:\n    Value: hello\n";
        let shape = template_shape(yaml).unwrap();
        assert!(shape.has_transform);
        assert_eq!(shape.parameters.get("Size"), Some(&Some("small".to_string())));
        assert_eq!(shape.outputs["EnvName"], OutputValue::Parameter("Env".into()));
        assert_eq!(shape.outputs["Fixed"], OutputValue::Literal("hello".into()));
        // `Ref` of a resource is a parameter name the plan does not know: it stays unknown there.
        assert_eq!(shape.outputs["TopicArn"], OutputValue::Parameter("T".into()));
        let given = BTreeMap::from([("Env".to_string(), "a".to_string()), ("Typo".to_string(), "b".to_string())]);
        let error = undeclared(&shape, &given).unwrap_err();
        assert!(error.contains("Typo") && error.contains("Env, Size"), "{error}");
        assert!(template_shape("[1, 2]").is_err());
    }

    #[test]
    fn a_repeated_start_finds_the_operation_its_job_began() {
        let mut update = event("app", "AWS::CloudFormation::Stack", "UPDATE_IN_PROGRESS", Some("User Initiated"));
        update.client_request_token = Some(crate::deploy::client_token("job-1", "update"));
        let other = event("app", "AWS::CloudFormation::Stack", "CREATE_COMPLETE", None);
        assert_eq!(started_by(&[update.clone(), other.clone()], "job-1"), Some(Operation::Update));
        assert_eq!(started_by(&[update, other], "job-2"), None);
    }

    #[test]
    fn capabilities_and_the_outputs_file() {
        assert_eq!(
            capabilities(Some("CAPABILITY_IAM,CAPABILITY_AUTO_EXPAND")),
            vec!["CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"]
        );
        assert!(capabilities(None).is_empty());
        let outputs = BTreeMap::from([("Url".to_string(), "https://x".to_string())]);
        assert_eq!(serde_json::from_str::<Value>(&outputs_file(&outputs)).unwrap(), json!({"Url": "https://x"}));
    }
}
