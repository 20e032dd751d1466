//! `--plan`: each deploy action reads its inputs as it would for real, says what it would do,
//! and succeeds as planned, with clearly marked stand-ins for what only a real deploy knows
//! (docs/providers.md §12). No AWS call is made.

use pipewright_core::deploy::cloudformation::ActionMode;
use pipewright_core::deploy::plan::{self as describe, Plan};
use pipewright_core::deploy::{beanstalk, codepipeline, s3};
use pipewright_core::engine::Dispatch;
use pipewright_core::providers::ProviderKind;

use super::inputs::{self, Inputs};
use super::memory::Memory;
use super::{ArtifactBytes, configuration_error, job_failed, zip_names, zip_of};
use crate::{ActionError, Outcome};

/// Plans `dispatch`: the outcome to report and the plan's lines to show.
/// `other_region` is the action's region when it is not the pipeline's; `regional_store` the
/// store of that region when its inputs are copied there first
/// (`core::deploy::regional_store`).
pub async fn plan(
    dispatch: &Dispatch,
    kind: ProviderKind,
    artifacts: &dyn ArtifactBytes,
    memory: &Memory,
    other_region: Option<&str>,
    regional_store: Option<&str>,
) -> (Outcome, Vec<String>) {
    match describe_action(dispatch, kind, artifacts, memory, regional_store).await {
        Ok(plan) => {
            let plan = plan.in_region(other_region, regional_store);
            if let Err(error) = write_outputs(dispatch, &plan, artifacts).await {
                return (Outcome::Failed(error), plan.lines);
            }
            let outcome = Outcome::Succeeded {
                output_variables: plan.output_variables,
                summary: truncate(&plan.summary, 2048),
                external_execution_url: None,
                revision: None,
            };
            (outcome, plan.lines)
        }
        Err(error) => {
            let line = format!("cannot plan: {}", error.message);
            (Outcome::Failed(error), vec![line])
        }
    }
}

fn truncate(text: &str, limit: usize) -> String {
    if text.len() <= limit {
        return text.to_string();
    }
    let mut end = limit - 3;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &text[..end])
}

async fn write_outputs(dispatch: &Dispatch, plan: &Plan, artifacts: &dyn ArtifactBytes) -> Result<(), ActionError> {
    let Some(output) = dispatch.output_artifacts.first() else { return Ok(()) };
    let zip = zip_of(&plan.output_files).map_err(job_failed)?;
    let kms = dispatch.encryption_key.as_ref().map(|k| k.id.as_str());
    artifacts
        .write(&output.location, zip, kms)
        .await
        .map_err(|e| job_failed(format!("cannot write output artifact {}: {e}", output.name)))
}

fn region(dispatch: &Dispatch) -> &str {
    dispatch.region.as_deref().unwrap_or("home")
}

async fn describe_action(
    dispatch: &Dispatch,
    kind: ProviderKind,
    artifacts: &dyn ArtifactBytes,
    memory: &Memory,
    regional_store: Option<&str>,
) -> Result<Plan, ActionError> {
    // Where a service of the action's region reads an input: its copy in that region's store.
    let s3_url = |location: &pipewright_core::engine::ArtifactLocation| {
        format!("s3://{}/{}", regional_store.unwrap_or(&location.bucket), location.key)
    };
    let configuration = &dispatch.configuration;
    let required = |key: &str| {
        pipewright_core::deploy::config(configuration, key)
            .map(String::from)
            .ok_or_else(|| configuration_error(format!("{key} is required")))
    };
    match kind {
        ProviderKind::CloudFormation => cloudformation(dispatch, artifacts, memory).await,
        ProviderKind::Ecs => {
            let ecs = inputs::ecs(dispatch, artifacts).await?;
            Ok(describe::ecs(&ecs.cluster, &ecs.service, &ecs.images, ecs.timeout_minutes))
        }
        ProviderKind::S3Deploy => {
            let target = s3::target(configuration).map_err(configuration_error)?;
            let mut inputs = Inputs::new(dispatch, artifacts);
            let first = inputs.first()?;
            let keys = if target.extract {
                zip_names(inputs.zip(first).await?).iter().map(|name| s3::key_of(&target, name)).collect()
            } else {
                vec![target.object_key.clone().unwrap_or_default()]
            };
            Ok(describe::s3(&target.bucket, &keys))
        }
        ProviderKind::CodeDeploy => {
            let mut inputs = Inputs::new(dispatch, artifacts);
            let first = inputs.first()?;
            let location = inputs.location(first)?;
            let has_appspec =
                zip_names(inputs.zip(first).await?).iter().any(|n| n == "appspec.yml" || n == "appspec.yaml");
            let revision = s3_url(location);
            Ok(describe::codedeploy(
                &required("ApplicationName")?,
                &required("DeploymentGroupName")?,
                &revision,
                has_appspec,
            ))
        }
        ProviderKind::CodeDeployToEcs => {
            let ecs = inputs::codedeploy_ecs(dispatch, artifacts).await?;
            let task = serde_json::to_string_pretty(&ecs.task_definition).unwrap_or_default();
            Ok(describe::codedeploy_ecs(
                &required("ApplicationName")?,
                &required("DeploymentGroupName")?,
                &task,
                &ecs.appspec,
            ))
        }
        ProviderKind::ElasticBeanstalk => {
            let inputs = Inputs::new(dispatch, artifacts);
            let location = inputs.location(inputs.first()?)?;
            Ok(describe::beanstalk(
                &required("ApplicationName")?,
                &required("EnvironmentName")?,
                &beanstalk::version_label(&dispatch.action_execution_id),
                &s3_url(location),
            ))
        }
        ProviderKind::StepFunctions => {
            let sfn = inputs::stepfunctions(dispatch, artifacts).await?;
            let output = dispatch.output_artifacts.first().map(|_| pipewright_core::deploy::stepfunctions::OUTPUT_FILE);
            Ok(describe::stepfunctions(&sfn.state_machine, &sfn.name, &sfn.input, output))
        }
        ProviderKind::CodePipelineInvoke => {
            let child = codepipeline::child(configuration).map_err(configuration_error)?;
            Ok(describe::codepipeline(&child))
        }
        _ => Err(configuration_error(format!(
            "{}/{}/{} actions cannot be planned",
            dispatch.action_type.category, dispatch.action_type.owner, dispatch.action_type.provider
        ))),
    }
}

async fn cloudformation(
    dispatch: &Dispatch,
    artifacts: &dyn ArtifactBytes,
    memory: &Memory,
) -> Result<Plan, ActionError> {
    let cfn = inputs::cloudformation(dispatch, artifacts).await?;
    let region = region(dispatch);
    let remembered_key = match cfn.mode {
        ActionMode::ChangeSetReplace | ActionMode::ChangeSetExecute => cfn.change_set.as_deref(),
        _ => None,
    };
    // A change set compares with the stack; executing one shows what it was planned from.
    let previous = match cfn.mode {
        ActionMode::ChangeSetExecute => memory.get(region, &cfn.stack, remembered_key),
        _ => memory.get(region, &cfn.stack, None),
    };
    let plan = describe::cloudformation(&describe::CloudFormationPlan {
        mode: cfn.mode,
        stack: &cfn.stack,
        change_set: cfn.change_set.as_deref(),
        template: cfn.template.as_ref().map(|t| (t.path.as_str(), t.text.as_str(), &t.shape)),
        parameters: &cfn.parameters,
        capabilities: &cfn.capabilities,
        role_arn: cfn.role_arn.as_deref(),
        tags: &cfn.tags,
        previous: previous.as_ref(),
        output_file: cfn.output_file.as_deref(),
    });
    let mut plan = plan;
    // Executing a change set gives the outputs of the template it was planned from.
    if let (ActionMode::ChangeSetExecute, Some(planned)) = (cfn.mode, &previous)
        && let Ok(shape) = pipewright_core::deploy::cloudformation::template_shape(&planned.template)
    {
        plan.output_variables = describe::planned_outputs(&cfn.stack, &shape, &planned.parameters);
        if let Some(file) = &cfn.output_file {
            let text = pipewright_core::deploy::cloudformation::outputs_file(&plan.output_variables);
            plan.output_files.push((file.clone(), text));
        }
    }
    let stored = memory.record(region, &cfn, &dispatch.execution_id, "planned");
    if let Err(error) = stored {
        plan.lines.push(error);
    }
    Ok(plan)
}
