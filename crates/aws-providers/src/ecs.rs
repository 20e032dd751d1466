//! The ECS standard deploy over the SDK (docs/reference/cloudformation.md §8,
//! docs/providers.md §5): a new revision of the task definition the service runs, with the
//! images of `imagedefinitions.json`, then UpdateService and a wait for the steady state.
//! The revision is tagged with the job, so a start repeated after a crash finds the service
//! already on it and only waits.

use aws_sdk_ecs::types::{
    Compatibility, ContainerDefinition, Deployment as SdkDeployment, KeyValuePair, LogConfiguration, LogDriver,
    NetworkMode, PortMapping, Secret, Tag, TaskDefinition, TaskDefinitionField, TransportProtocol,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use pipewright_core::deploy::NextLook;
use pipewright_core::deploy::ecs::{self as decide, Deployment, Rollout};
use pipewright_core::engine::FailureType;
use pipewright_providers::Outcome;
use pipewright_providers::deploy::{Progress, Waiting, inputs};

use crate::errors::CallError;
use crate::{Step, waiting};

/// The tag that marks a revision as this job's.
pub const JOB_TAG: &str = "pipewright:job";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct State {
    cluster: String,
    service: String,
    task_definition: String,
    /// When the wait gives up (`DeploymentTimeout`), in milliseconds since the epoch.
    deadline_ms: i64,
}

fn console_url(step: &Step<'_>, cluster: &str, service: &str) -> Option<String> {
    step.clients.on_aws.then(|| {
        format!(
            "https://console.aws.amazon.com/ecs/v2/clusters/{cluster}/services/{service}/deployments?region={}",
            step.clients.region
        )
    })
}

pub async fn start(step: &Step<'_>) -> Progress {
    let dispatch = &step.job.dispatch;
    let ecs = match inputs::ecs(dispatch, step.artifacts).await {
        Ok(inputs) => inputs,
        Err(error) => return Progress::Finished(Outcome::Failed(error)),
    };
    let client = &step.clients.ecs;
    let described = match client.describe_services().cluster(&ecs.cluster).services(&ecs.service).send().await {
        Ok(output) => output,
        Err(error) => return CallError::of("DescribeServices", &error).failed(),
    };
    let Some(service) = described.services().first() else {
        let reason = described.failures().first().and_then(|f| f.reason()).unwrap_or("not found");
        return Progress::failed(
            FailureType::JobFailed,
            format!("service {} of cluster {}: {reason}", ecs.service, ecs.cluster),
        );
    };
    let service_arn = service.service_arn().unwrap_or(&ecs.service).to_string();
    let Some(current) = service.task_definition() else {
        return Progress::failed(FailureType::JobFailed, format!("service {} runs no task definition", ecs.service));
    };
    let described = match client
        .describe_task_definition()
        .task_definition(current)
        .include(TaskDefinitionField::Tags)
        .send()
        .await
    {
        Ok(output) => output,
        Err(error) => return CallError::of("DescribeTaskDefinition", &error).failed(),
    };
    let Some(task_definition) = described.task_definition().cloned() else {
        return Progress::failed(FailureType::JobFailed, format!("task definition {current} has no description"));
    };
    let deadline_ms = crate::now().millis() + i64::from(ecs.timeout_minutes) * 60_000;
    let already = described.tags().iter().any(|t| t.key() == Some(JOB_TAG) && t.value() == Some(&dispatch.job_id));
    if already {
        step.say(&format!("service {} already runs this job's revision {current}; waiting for it", ecs.service));
        let state = State {
            cluster: ecs.cluster.clone(),
            service: ecs.service.clone(),
            task_definition: current.to_string(),
            deadline_ms,
        };
        return wait(step, &state, &service_arn, 0, step.announced());
    }
    let containers: Vec<&str> = task_definition.container_definitions().iter().filter_map(|c| c.name()).collect();
    let family = task_definition.family().unwrap_or_default().to_string();
    let updates = match decide::image_updates(&ecs.images, &containers, &family) {
        Ok(updates) => updates,
        Err(message) => return Progress::failed(FailureType::JobFailed, message),
    };
    let mut copy = task_definition;
    copy.container_definitions = Some(
        copy.container_definitions()
            .iter()
            .map(|c| {
                let mut container = c.clone();
                if let Some(image) = c.name().and_then(|n| updates.get(n)) {
                    container.image = Some(image.clone());
                }
                container
            })
            .collect(),
    );
    let mut tags: Vec<Tag> = described.tags().iter().filter(|t| t.key() != Some(JOB_TAG)).cloned().collect();
    tags.push(Tag::builder().key(JOB_TAG).value(&dispatch.job_id).build());
    let registered = match register_copy(step, copy, tags).await {
        Ok(arn) => arn,
        Err(error) => return error.failed(),
    };
    step.say(&format!(
        "registered {registered} with {}",
        updates.iter().map(|(c, i)| format!("{c} = {i}")).collect::<Vec<_>>().join(", ")
    ));
    if let Err(error) =
        client.update_service().cluster(&ecs.cluster).service(&ecs.service).task_definition(&registered).send().await
    {
        return CallError::of("UpdateService", &error).failed();
    }
    step.say(&format!("UpdateService {} of cluster {}: {registered}", ecs.service, ecs.cluster));
    let state = State { cluster: ecs.cluster, service: ecs.service, task_definition: registered, deadline_ms };
    wait(step, &state, &service_arn, 0, step.announced())
}

/// `next`: a rollout's end is announced by the service's deployment events; a look that
/// failed for a moment is looked at again on the ordinary schedule.
fn wait(step: &Step<'_>, state: &State, service_arn: &str, polls: u32, next: NextLook) -> Progress {
    waiting(
        serde_json::to_value(state).unwrap_or_default(),
        service_arn,
        format!("service {} rolling out {}", state.service, state.task_definition),
        polls,
        console_url(step, &state.cluster, &state.service),
        next,
    )
}

fn deployment(d: &SdkDeployment) -> Deployment {
    Deployment {
        id: d.id().unwrap_or_default().to_string(),
        status: d.status().unwrap_or_default().to_string(),
        task_definition: d.task_definition().unwrap_or_default().to_string(),
        rollout_state: d.rollout_state().map(|s| s.as_str().to_string()),
        rollout_state_reason: d.rollout_state_reason().map(String::from),
        desired: d.desired_count(),
        running: d.running_count(),
    }
}

pub async fn poll(step: &Step<'_>, waiting: &Waiting) -> Progress {
    let state: State = match serde_json::from_value(waiting.state.clone()) {
        Ok(state) => state,
        Err(error) => return Progress::failed(FailureType::JobFailed, format!("unreadable wait state: {error}")),
    };
    let polls = waiting.polls + 1;
    let described =
        match step.clients.ecs.describe_services().cluster(&state.cluster).services(&state.service).send().await {
            Ok(output) => output,
            Err(error) => {
                let error = CallError::of("DescribeServices", &error);
                return if error.transient {
                    wait(step, &state, &waiting.external_id, polls, NextLook::Polled)
                } else {
                    error.failed()
                };
            }
        };
    let deployments: Vec<Deployment> =
        described.services().first().map(|s| s.deployments().iter().map(deployment).collect()).unwrap_or_default();
    match decide::rollout(&deployments, &state.task_definition) {
        Rollout::Completed => {
            let summary = format!("service {} reached a steady state on {}", state.service, state.task_definition);
            step.say(&summary);
            Progress::Finished(Outcome::Succeeded {
                output_variables: Default::default(),
                summary,
                external_execution_url: console_url(step, &state.cluster, &state.service),
                revision: None,
            })
        }
        Rollout::Failed(message) => Progress::failed(FailureType::JobFailed, message),
        Rollout::InProgress if crate::now().millis() > state.deadline_ms => Progress::failed(
            FailureType::JobFailed,
            format!(
                "service {} did not reach a steady state on {} within DeploymentTimeout",
                state.service, state.task_definition
            ),
        ),
        Rollout::InProgress => wait(step, &state, &waiting.external_id, polls, step.announced()),
    }
}

/// Registers a revision with the fields of `definition`, leaving out the read-only ones.
async fn register_copy(step: &Step<'_>, definition: TaskDefinition, tags: Vec<Tag>) -> Result<String, CallError> {
    let output = step
        .clients
        .ecs
        .register_task_definition()
        .set_family(definition.family)
        .set_task_role_arn(definition.task_role_arn)
        .set_execution_role_arn(definition.execution_role_arn)
        .set_network_mode(definition.network_mode)
        .set_container_definitions(definition.container_definitions)
        .set_volumes(definition.volumes)
        .set_placement_constraints(definition.placement_constraints)
        .set_requires_compatibilities(definition.requires_compatibilities)
        .set_cpu(definition.cpu)
        .set_memory(definition.memory)
        .set_pid_mode(definition.pid_mode)
        .set_ipc_mode(definition.ipc_mode)
        .set_proxy_configuration(definition.proxy_configuration)
        .set_inference_accelerators(definition.inference_accelerators)
        .set_ephemeral_storage(definition.ephemeral_storage)
        .set_runtime_platform(definition.runtime_platform)
        .set_tags((!tags.is_empty()).then_some(tags))
        .send()
        .await
        .map_err(|e| CallError::of("RegisterTaskDefinition", &e))?;
    Ok(output.task_definition().and_then(|t| t.task_definition_arn()).unwrap_or_default().to_string())
}

fn strings(value: &Value) -> Option<Vec<String>> {
    value.as_array().map(|a| a.iter().filter_map(|v| v.as_str().map(String::from)).collect())
}

fn int(value: &Value) -> Option<i32> {
    value.as_i64().and_then(|n| i32::try_from(n).ok()).or_else(|| value.as_str().and_then(|s| s.parse().ok()))
}

fn text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn unknown_keys(what: &str, value: &Value, known: &[&str]) -> Result<(), String> {
    let unknown: Vec<&str> =
        value.as_object().into_iter().flatten().map(|(k, _)| k.as_str()).filter(|k| !known.contains(k)).collect();
    if unknown.is_empty() {
        Ok(())
    } else {
        Err(format!("{what}: Pipewright does not carry {} to RegisterTaskDefinition yet", unknown.join(", ")))
    }
}

const TASK_KEYS: &[&str] = &[
    "family",
    "taskRoleArn",
    "executionRoleArn",
    "networkMode",
    "requiresCompatibilities",
    "cpu",
    "memory",
    "containerDefinitions",
    // Read-only fields a `describe-task-definition` copy carries: ignored.
    "taskDefinitionArn",
    "revision",
    "status",
    "requiresAttributes",
    "compatibilities",
    "registeredAt",
    "registeredBy",
];

const CONTAINER_KEYS: &[&str] = &[
    "name",
    "image",
    "essential",
    "cpu",
    "memory",
    "memoryReservation",
    "portMappings",
    "environment",
    "secrets",
    "command",
    "entryPoint",
    "workingDirectory",
    "logConfiguration",
];

/// A container definition of `taskdef.json` (CodeDeployToECS), in the SDK's types.
fn container(value: &Value) -> Result<ContainerDefinition, String> {
    let name = value.get("name").and_then(Value::as_str).unwrap_or("?");
    unknown_keys(&format!("container {name}"), value, CONTAINER_KEYS)?;
    let mut builder = ContainerDefinition::builder()
        .set_name(value.get("name").and_then(text))
        .set_image(value.get("image").and_then(text))
        .set_essential(value.get("essential").and_then(Value::as_bool))
        .set_cpu(value.get("cpu").and_then(int))
        .set_memory(value.get("memory").and_then(int))
        .set_memory_reservation(value.get("memoryReservation").and_then(int))
        .set_command(value.get("command").and_then(strings))
        .set_entry_point(value.get("entryPoint").and_then(strings))
        .set_working_directory(value.get("workingDirectory").and_then(text));
    for mapping in value.get("portMappings").and_then(Value::as_array).into_iter().flatten() {
        builder = builder.port_mappings(
            PortMapping::builder()
                .set_container_port(mapping.get("containerPort").and_then(int))
                .set_host_port(mapping.get("hostPort").and_then(int))
                .set_protocol(mapping.get("protocol").and_then(Value::as_str).map(TransportProtocol::from))
                .set_name(mapping.get("name").and_then(text))
                .build(),
        );
    }
    for variable in value.get("environment").and_then(Value::as_array).into_iter().flatten() {
        builder = builder.environment(
            KeyValuePair::builder()
                .set_name(variable.get("name").and_then(text))
                .set_value(variable.get("value").and_then(text))
                .build(),
        );
    }
    for secret in value.get("secrets").and_then(Value::as_array).into_iter().flatten() {
        let (Some(secret_name), Some(from)) =
            (secret.get("name").and_then(text), secret.get("valueFrom").and_then(text))
        else {
            return Err(format!("container {name}: a secret needs name and valueFrom"));
        };
        builder =
            builder.secrets(Secret::builder().name(secret_name).value_from(from).build().map_err(|e| e.to_string())?);
    }
    if let Some(log) = value.get("logConfiguration") {
        let driver = log.get("logDriver").and_then(Value::as_str).unwrap_or("awslogs");
        let options = log
            .get("options")
            .and_then(Value::as_object)
            .map(|o| o.iter().filter_map(|(k, v)| Some((k.clone(), text(v)?))).collect());
        builder = builder.log_configuration(
            LogConfiguration::builder()
                .log_driver(LogDriver::from(driver))
                .set_options(options)
                .build()
                .map_err(|e| e.to_string())?,
        );
    }
    Ok(builder.build())
}

/// Registers the task definition of a `taskdef.json` (its images filled); its ARN.
pub async fn register_json(step: &Step<'_>, value: &Value) -> Result<String, String> {
    unknown_keys("taskdef.json", value, TASK_KEYS)?;
    let containers = value
        .get("containerDefinitions")
        .and_then(Value::as_array)
        .ok_or("taskdef.json has no containerDefinitions")?
        .iter()
        .map(container)
        .collect::<Result<Vec<_>, _>>()?;
    let output = step
        .clients
        .ecs
        .register_task_definition()
        .set_family(value.get("family").and_then(text))
        .set_task_role_arn(value.get("taskRoleArn").and_then(text))
        .set_execution_role_arn(value.get("executionRoleArn").and_then(text))
        .set_network_mode(value.get("networkMode").and_then(Value::as_str).map(NetworkMode::from))
        .set_requires_compatibilities(
            value
                .get("requiresCompatibilities")
                .and_then(strings)
                .map(|l| l.iter().map(|c| Compatibility::from(c.as_str())).collect()),
        )
        .set_cpu(value.get("cpu").and_then(text))
        .set_memory(value.get("memory").and_then(text))
        .set_container_definitions(Some(containers))
        .tags(Tag::builder().key(JOB_TAG).value(&step.job.dispatch.job_id).build())
        .send()
        .await
        .map_err(|e| CallError::of("RegisterTaskDefinition", &e).message)?;
    Ok(output.task_definition().and_then(|t| t.task_definition_arn()).unwrap_or_default().to_string())
}
