//! The local AWS stand-in: the resources template.yaml declares, created in moto (or any
//! endpoint) under the same names and with the same rule patterns, read from the template
//! itself so the two cannot drift. Each EventBridge rule targets an SQS queue of its
//! function; the [`router`] delivers from there.

pub mod router;

use std::collections::BTreeMap;

use aws_config::SdkConfig;
use serde_json::Value;
use serde_yaml_ng::Value as Yaml;

use crate::dynamo::create_table;
use crate::settings::Settings;

/// The four functions, by the binary names template.yaml builds.
pub const FUNCTIONS: [&str; 4] = ["source-change", "stage-transition", "invoke-action", "approval-callback"];

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DevstackError {
    #[error("template.yaml: {0}")]
    Template(String),
    #[error("{0}")]
    Aws(String),
}

fn aws(error: impl std::fmt::Display) -> DevstackError {
    DevstackError::Aws(error.to_string())
}

fn describe<E: std::error::Error + 'static, R: std::fmt::Debug>(
    error: &aws_smithy_runtime_api::client::result::SdkError<E, R>,
) -> DevstackError {
    DevstackError::Aws(aws_smithy_types::error::display::DisplayErrorContext(error).to_string())
}

/// One EventBridge rule of a function, as the template declares it.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    /// The function's logical id: two functions may run the same binary (invoke-action at two
    /// memory sizes), each with its own rules, queue and bill.
    pub resource: String,
    /// The binary the rule feeds (`Metadata.BuildProperties.Binary`).
    pub function: String,
    /// The event's key under `Events`.
    pub event: String,
    /// True for the stack's own bus, false for the account's default bus.
    pub custom_bus: bool,
    /// The event pattern, or None for a schedule.
    pub pattern: Option<Value>,
    /// `rate(...)` of a schedule.
    pub schedule: Option<String>,
}

/// Parameter values by name, as `sam deploy --parameter-overrides` gives them.
pub type Parameters = BTreeMap<String, String>;

/// A pattern as JSON, its `!Ref`s to parameters resolved: the override, else the default.
fn pattern_json(value: &Yaml, parameters: &Parameters, defaults: &Parameters) -> Result<Value, DevstackError> {
    Ok(match value {
        Yaml::Tagged(tagged) if tagged.tag == "Ref" => {
            let name = tagged.value.as_str().unwrap_or_default();
            let value = parameters.get(name).or_else(|| defaults.get(name)).ok_or_else(|| {
                DevstackError::Template(format!("a pattern refers to {name}, which is not a parameter with a default"))
            })?;
            Value::String(value.clone())
        }
        Yaml::Tagged(tagged) if tagged.tag == "Sub" => {
            Value::String(substitute(tagged.value.as_str().unwrap_or_default(), parameters, defaults)?)
        }
        Yaml::Tagged(tagged) => {
            return Err(DevstackError::Template(format!(
                "a pattern uses !{}, which the stand-in cannot resolve",
                tagged.tag
            )));
        }
        Yaml::Sequence(items) => {
            Value::Array(items.iter().map(|item| pattern_json(item, parameters, defaults)).collect::<Result<_, _>>()?)
        }
        Yaml::Mapping(fields) => {
            let mut object = serde_json::Map::new();
            for (name, field) in fields {
                let name =
                    name.as_str().ok_or_else(|| DevstackError::Template("a pattern has a non-string key".into()))?;
                object.insert(name.to_string(), pattern_json(field, parameters, defaults)?);
            }
            Value::Object(object)
        }
        plain => serde_json::to_value(plain)
            .map_err(|e| DevstackError::Template(format!("a pattern is not plain data: {e}")))?,
    })
}

/// A `!Sub` string: each `${NAME}` a parameter (the override, else the default) or
/// `AWS::StackName` (the stack's name, `pipewright` when none is given).
fn substitute(text: &str, parameters: &Parameters, defaults: &Parameters) -> Result<String, DevstackError> {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let end = rest[start..]
            .find('}')
            .ok_or_else(|| DevstackError::Template(format!("a pattern's !Sub {text:?} is not closed")))?;
        let name = &rest[start + 2..start + end];
        let value = parameters
            .get(name)
            .or_else(|| defaults.get(name))
            .cloned()
            .or_else(|| (name == STACK_NAME).then(|| "pipewright".to_string()));
        out.push_str(&value.ok_or_else(|| {
            DevstackError::Template(format!("a pattern's !Sub refers to {name}, which the stand-in does not know"))
        })?);
        rest = &rest[start + end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// The pseudo parameter a `!Sub` may name; [`create`] sets it to the stack's name.
pub const STACK_NAME: &str = "AWS::StackName";

/// The `Default` of every parameter that has one.
fn parameter_defaults(document: &Yaml) -> Parameters {
    let Some(parameters) = document.get("Parameters").and_then(Yaml::as_mapping) else { return Parameters::new() };
    parameters
        .iter()
        .filter_map(|(name, parameter)| {
            let default = parameter.get("Default")?;
            let default = default.as_str().map(String::from).or_else(|| default.as_i64().map(|n| n.to_string()))?;
            Some((name.as_str()?.to_string(), default))
        })
        .collect()
}

fn parse(template: &str) -> Result<Yaml, DevstackError> {
    serde_yaml_ng::from_str(template).map_err(|e| DevstackError::Template(e.to_string()))
}

/// Every function of the template: its logical id, the binary it is built from
/// (`Metadata.BuildProperties.Binary`) and its resource.
fn serverless_functions(document: &Yaml) -> Result<Vec<(&str, &str, &Yaml)>, DevstackError> {
    let resources = document
        .get("Resources")
        .and_then(Yaml::as_mapping)
        .ok_or_else(|| DevstackError::Template("no Resources".into()))?;
    let functions = resources
        .iter()
        .filter(|(_, resource)| resource.get("Type").and_then(Yaml::as_str) == Some("AWS::Serverless::Function"));
    functions
        .map(|(logical, resource)| {
            let logical = logical.as_str().unwrap_or_default();
            let binary = resource
                .get("Metadata")
                .and_then(|m| m.get("BuildProperties"))
                .and_then(|b| b.get("Binary"))
                .and_then(Yaml::as_str)
                .ok_or_else(|| {
                    DevstackError::Template(format!("{logical}: Metadata.BuildProperties.Binary is missing"))
                })?;
            Ok((logical, binary, resource))
        })
        .collect()
}

/// Lambda's memory when neither the function nor `Globals` sets one.
const LAMBDA_DEFAULT_MEMORY_MB: u32 = 128;

/// The memory (MB) template.yaml gives each function, by logical id: its own `MemorySize`, else
/// `Globals.Function.MemorySize`, else Lambda's default. Lambda bills an invocation's duration
/// by it, so the cost tests price each function's invocations with it.
pub fn function_memory(template: &str) -> Result<BTreeMap<String, u32>, DevstackError> {
    let document = parse(template)?;
    let memory = |properties: Option<&Yaml>| {
        properties.and_then(|p| p.get("MemorySize")).and_then(Yaml::as_u64).and_then(|mb| u32::try_from(mb).ok())
    };
    let global = memory(document.get("Globals").and_then(|g| g.get("Function"))).unwrap_or(LAMBDA_DEFAULT_MEMORY_MB);
    let functions = serverless_functions(&document)?
        .into_iter()
        .map(|(logical, _, resource)| (logical.to_string(), memory(resource.get("Properties")).unwrap_or(global)))
        .collect();
    Ok(functions)
}

/// The rules of template.yaml: every `EventBridgeRule` and `Schedule` event of every function,
/// with `parameters` (else the template's defaults) in their patterns.
pub fn template_rules(template: &str, parameters: &Parameters) -> Result<Vec<Rule>, DevstackError> {
    let document = parse(template)?;
    let defaults = parameter_defaults(&document);
    let mut rules = Vec::new();
    for (logical, function, resource) in serverless_functions(&document)? {
        let Some(events) = resource.get("Properties").and_then(|p| p.get("Events")).and_then(Yaml::as_mapping) else {
            continue;
        };
        for (name, event) in events {
            let name = name.as_str().unwrap_or_default().to_string();
            let properties = event.get("Properties");
            match event.get("Type").and_then(Yaml::as_str) {
                Some("EventBridgeRule") => {
                    let pattern = properties
                        .and_then(|p| p.get("Pattern"))
                        .ok_or_else(|| DevstackError::Template(format!("{logical}.Events.{name}: no Pattern")))?;
                    rules.push(Rule {
                        resource: logical.to_string(),
                        function: function.to_string(),
                        event: name,
                        custom_bus: properties.and_then(|p| p.get("EventBusName")).is_some(),
                        pattern: Some(pattern_json(pattern, parameters, &defaults)?),
                        schedule: None,
                    });
                }
                Some("Schedule" | "ScheduleV2") => rules.push(Rule {
                    resource: logical.to_string(),
                    function: function.to_string(),
                    event: name,
                    custom_bus: false,
                    pattern: None,
                    schedule: properties
                        .and_then(|p| p.get("Schedule").or_else(|| p.get("ScheduleExpression")))
                        .and_then(Yaml::as_str)
                        .map(String::from),
                }),
                _ => {}
            }
        }
    }
    Ok(rules)
}

/// The names of a stack's resources: `<stack>-<logical id>`, as CloudFormation names what
/// template.yaml leaves unnamed (without its random suffix), and the bus after the stack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StackNames {
    pub stack: String,
}

impl StackNames {
    pub fn new(stack: impl Into<String>) -> StackNames {
        StackNames { stack: stack.into() }
    }
    pub fn table(&self) -> String {
        format!("{}-StateTable", self.stack)
    }
    pub fn bus(&self) -> String {
        self.stack.clone()
    }
    /// Bucket names are lowercase.
    pub fn bucket(&self) -> String {
        format!("{}-artifactbucket", self.stack.to_ascii_lowercase())
    }
    pub fn topic(&self) -> String {
        format!("{}-ApprovalTopic", self.stack)
    }
    pub fn secret(&self) -> String {
        format!("{}-LinkKeySecret", self.stack)
    }
    pub fn api_keys_secret(&self) -> String {
        format!("{}-ApiKeysSecret", self.stack)
    }
    /// The job workers' key (`JobWorkerKeySecret`): GetJobDetails and PutJob*Result only.
    pub fn job_worker_key_secret(&self) -> String {
        format!("{}-JobWorkerKeySecret", self.stack)
    }
    /// The secret repository webhooks are verified with (`WebhookSecretName`): the team
    /// creates it, so the stand-in only names it, one per stack.
    pub fn webhook_secret(&self) -> String {
        format!("{}/webhooks", self.stack)
    }
    /// The role jobs' artifact credentials are sessions of (moto's STS assumes any role).
    pub fn artifact_role(&self) -> String {
        format!("{}-ArtifactAccessRole", self.stack)
    }
    /// The stack's CodeBuild project of Commands actions (`CommandsProject`).
    pub fn commands_project(&self) -> String {
        format!("pipewright-commands-{}", self.stack)
    }
    /// The queue standing in for a function's rule targets (the router reads it), by the
    /// function's logical id.
    pub fn queue(&self, resource: &str) -> String {
        format!("{}-{resource}", self.stack)
    }
    pub fn dead_letter_queue(&self, function: &str) -> String {
        format!("{}-{function}-dlq", self.stack)
    }
}

/// A created stand-in stack.
#[derive(Debug, Clone)]
pub struct DevStack {
    pub names: StackNames,
    pub settings: Settings,
    pub topic_arn: String,
    /// The api function's access key secret (`{"accessKeyId", "secretAccessKey"}`).
    pub api_keys_arn: String,
    /// The job workers' key secret, of the same shape.
    pub job_worker_key_arn: String,
    /// Function (logical id) → its queue's URL; only functions with rules have one.
    pub queues: BTreeMap<String, String>,
    /// Binary → its dead-letter queue's URL (where the router puts an event whose retries
    /// failed; both invoke-action functions share theirs, as in the template).
    pub dead_letter_queues: BTreeMap<String, String>,
    pub rules: Vec<Rule>,
}

/// A random key of 64 letters and digits, as the template's generated secret.
fn random_key() -> String {
    (0..2).map(|_| uuid::Uuid::new_v4().simple().to_string()).collect()
}

/// Creates (or finds) every resource of the stack `names` at the endpoint of `sdk`.
/// `approval_url` is where approval links point (the approval-callback function's URL);
/// `parameters` are the template's parameter overrides.
pub async fn create(
    sdk: &SdkConfig,
    names: StackNames,
    template: &str,
    approval_url: Option<String>,
    parameters: &Parameters,
) -> Result<DevStack, DevstackError> {
    let mut parameters = parameters.clone();
    parameters.insert(STACK_NAME.to_string(), names.stack.clone());
    let rules = template_rules(template, &parameters)?;
    let region = sdk.region().map_or("us-east-1".to_string(), |r| r.to_string());
    let account = "123456789012".to_string();

    let dynamo = aws_sdk_dynamodb::Client::new(sdk);
    if dynamo.describe_table().table_name(names.table()).send().await.is_err() {
        create_table(&dynamo, &names.table()).await.map_err(aws)?;
    }

    let events = aws_sdk_eventbridge::Client::new(sdk);
    if events.describe_event_bus().name(names.bus()).send().await.is_err() {
        events.create_event_bus().name(names.bus()).send().await.map_err(|e| describe(&e))?;
    }

    let s3 = aws_sdk_s3::Client::from_conf(aws_sdk_s3::config::Builder::from(sdk).force_path_style(true).build());
    if s3.head_bucket().bucket(names.bucket()).send().await.is_err() {
        s3.create_bucket().bucket(names.bucket()).send().await.map_err(|e| describe(&e))?;
    }
    s3.put_bucket_versioning()
        .bucket(names.bucket())
        .versioning_configuration(
            aws_sdk_s3::types::VersioningConfiguration::builder()
                .status(aws_sdk_s3::types::BucketVersioningStatus::Enabled)
                .build(),
        )
        .send()
        .await
        .map_err(|e| describe(&e))?;

    let sns = aws_sdk_sns::Client::new(sdk);
    let topic_arn =
        sns.create_topic().name(names.topic()).send().await.map_err(|e| describe(&e))?.topic_arn.unwrap_or_default();

    let secrets = aws_sdk_secretsmanager::Client::new(sdk);
    let secret_arn = match secrets.describe_secret().secret_id(names.secret()).send().await {
        Ok(found) => found.arn.unwrap_or_default(),
        Err(_) => secrets
            .create_secret()
            .name(names.secret())
            .secret_string(random_key())
            .send()
            .await
            .map_err(|e| describe(&e))?
            .arn
            .unwrap_or_default(),
    };

    let access_key_secret = async |name: String, access_key_id: &str| -> Result<String, DevstackError> {
        Ok(match secrets.describe_secret().secret_id(&name).send().await {
            Ok(found) => found.arn.unwrap_or_default(),
            Err(_) => secrets
                .create_secret()
                .name(name)
                .secret_string(
                    serde_json::json!({ "accessKeyId": access_key_id, "secretAccessKey": random_key() }).to_string(),
                )
                .send()
                .await
                .map_err(|e| describe(&e))?
                .arn
                .unwrap_or_default(),
        })
    };
    let api_keys_arn = access_key_secret(names.api_keys_secret(), "PIPEWRIGHTAPI").await?;
    let job_worker_key_arn = access_key_secret(names.job_worker_key_secret(), "PIPEWRIGHTJOBS").await?;

    create_commands_project(sdk, &names.commands_project()).await?;

    let sqs = aws_sdk_sqs::Client::new(sdk);
    let mut dead_letter_queues = BTreeMap::new();
    for function in FUNCTIONS {
        dead_letter_queues.insert(function.to_string(), create_queue(&sqs, &names.dead_letter_queue(function)).await?);
    }
    let mut queues = BTreeMap::new();
    for rule in &rules {
        if !queues.contains_key(&rule.resource) {
            queues.insert(rule.resource.clone(), create_queue(&sqs, &names.queue(&rule.resource)).await?);
        }
    }
    for rule in &rules {
        let Some(pattern) = &rule.pattern else { continue };
        let bus = if rule.custom_bus { names.bus() } else { "default".to_string() };
        let name = format!("{}-{}-{}", names.stack, rule.resource, rule.event);
        events
            .put_rule()
            .name(&name)
            .event_bus_name(&bus)
            .event_pattern(pattern.to_string())
            .send()
            .await
            .map_err(|e| describe(&e))?;
        let queue = queues
            .get(&rule.resource)
            .ok_or_else(|| DevstackError::Template(format!("unknown function {}", rule.resource)))?;
        let target = aws_sdk_eventbridge::types::Target::builder()
            .id(format!("{}-queue", rule.resource))
            .arn(queue_arn(&sqs, queue).await?)
            .build()
            .map_err(aws)?;
        events.put_targets().rule(&name).event_bus_name(&bus).targets(target).send().await.map_err(|e| describe(&e))?;
    }
    let settings = Settings {
        table: names.table(),
        bus: names.bus(),
        approval_url,
        secret_arn: Some(secret_arn),
        artifact_role_arn: Some(format!("arn:aws:iam::{account}:role/{}", names.artifact_role())),
        region,
        account,
        github_api_url: None,
        commands_project: Some(names.commands_project()),
    };
    Ok(DevStack { names, settings, topic_arn, api_keys_arn, job_worker_key_arn, queues, dead_letter_queues, rules })
}

impl DevStack {
    /// The binary the function `resource` (a logical id) runs, as its rules say.
    pub fn binary_of(&self, resource: &str) -> Option<&str> {
        self.rules.iter().find(|rule| rule.resource == resource).map(|rule| rule.function.as_str())
    }

    /// The queues of every function that runs `binary` (invoke-action has two).
    pub fn queues_of(&self, binary: &str) -> Vec<String> {
        self.queues
            .iter()
            .filter(|(resource, _)| self.binary_of(resource) == Some(binary))
            .map(|(_, url)| url.clone())
            .collect()
    }
}

/// A message whose delivery never finished (the router stopped mid-way) is seen again after
/// 2 s. Retries and the dead-letter queue are the router's, as they are Lambda's: no redrive
/// policy, which would count a retry's early receives as failures.
/// `CommandsProject`, as the template declares it.
async fn create_commands_project(sdk: &SdkConfig, name: &str) -> Result<(), DevstackError> {
    use aws_sdk_codebuild::types::{
        ArtifactsType, ComputeType, EnvironmentType, ProjectArtifacts, ProjectEnvironment, ProjectSource, SourceType,
    };
    let codebuild = aws_sdk_codebuild::Client::new(sdk);
    if codebuild.batch_get_projects().names(name).send().await.is_ok_and(|found| !found.projects().is_empty()) {
        return Ok(());
    }
    codebuild
        .create_project()
        .name(name)
        // moto wants a location even for NO_SOURCE, which CodeBuild does not.
        .source(ProjectSource::builder().r#type(SourceType::NoSource).location("none").build().map_err(aws)?)
        .artifacts(ProjectArtifacts::builder().r#type(ArtifactsType::NoArtifacts).build().map_err(aws)?)
        .environment(
            ProjectEnvironment::builder()
                .r#type(EnvironmentType::LinuxContainer)
                .image("aws/codebuild/standard:7.0")
                .compute_type(ComputeType::BuildGeneral1Small)
                .build()
                .map_err(aws)?,
        )
        .service_role("arn:aws:iam::123456789012:role/pipewright-commands")
        .timeout_in_minutes(55)
        .send()
        .await
        .map_err(|e| describe(&e))?;
    Ok(())
}

async fn create_queue(sqs: &aws_sdk_sqs::Client, name: &str) -> Result<String, DevstackError> {
    use aws_sdk_sqs::types::QueueAttributeName;
    let request = sqs.create_queue().queue_name(name).attributes(QueueAttributeName::VisibilityTimeout, "2");
    Ok(request.send().await.map_err(|e| describe(&e))?.queue_url.unwrap_or_default())
}

pub async fn queue_arn(sqs: &aws_sdk_sqs::Client, url: &str) -> Result<String, DevstackError> {
    let output = sqs
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .send()
        .await
        .map_err(|e| describe(&e))?;
    output
        .attributes
        .and_then(|a| a.get(&aws_sdk_sqs::types::QueueAttributeName::QueueArn).cloned())
        .ok_or_else(|| DevstackError::Aws(format!("queue {url} has no ARN")))
}

/// The environment a function runs with against this stack (for `cargo lambda watch`).
pub fn function_environment(stack: &DevStack, endpoint: &str) -> Vec<(String, String)> {
    let settings = &stack.settings;
    let mut env = vec![
        ("AWS_ENDPOINT_URL".to_string(), endpoint.to_string()),
        ("AWS_REGION".to_string(), settings.region.clone()),
        ("AWS_ACCESS_KEY_ID".to_string(), "testing".to_string()),
        ("AWS_SECRET_ACCESS_KEY".to_string(), "testing".to_string()),
        ("PIPEWRIGHT_TABLE".to_string(), settings.table.clone()),
        ("PIPEWRIGHT_BUS".to_string(), settings.bus.clone()),
        ("PIPEWRIGHT_ACCOUNT".to_string(), settings.account.clone()),
    ];
    if let Some(arn) = &settings.secret_arn {
        env.push(("PIPEWRIGHT_SECRET_ARN".to_string(), arn.clone()));
    }
    if let Some(url) = &settings.approval_url {
        env.push(("PIPEWRIGHT_APPROVAL_URL".to_string(), url.clone()));
    }
    env.push(("PIPEWRIGHT_API_KEYS_SECRET_ARN".to_string(), stack.api_keys_arn.clone()));
    env.push(("PIPEWRIGHT_JOB_WORKER_KEY_SECRET_ARN".to_string(), stack.job_worker_key_arn.clone()));
    env.push((crate::webhook_secret::SECRET_NAME_VARIABLE.to_string(), stack.names.webhook_secret()));
    if let Some(project) = &settings.commands_project {
        env.push(("PIPEWRIGHT_COMMANDS_PROJECT".to_string(), project.clone()));
    }
    env
}
