//! What a deploy action reads from its configuration and its input artifacts, gathered once
//! for the real providers and the plan alike: the template and its parameters, the image
//! definitions, the files to deploy, the execution's input.

use std::collections::BTreeMap;

use pipewright_core::deploy::cloudformation::{self as cfn, ActionMode, TemplateShape};
use pipewright_core::deploy::{artifact_path, codedeploy, config, ecs, stepfunctions};
use pipewright_core::engine::{ArtifactLocation, Dispatch, FailureType};
use pipewright_core::ports::ArtifactError;

use super::{ArtifactBytes, configuration_error, job_failed, zip_file};
use crate::ActionError;

fn artifact_error(name: &str, error: ArtifactError) -> ActionError {
    match error {
        ArtifactError::Missing(what) => job_failed(format!("input artifact {name} is missing ({what})")),
        other => ActionError {
            kind: FailureType::SystemUnavailable,
            message: format!("cannot read input artifact {name}: {other}"),
        },
    }
}

/// The input artifacts' zips, each fetched once into a scratch file (removed with this) and
/// read from there: only a zip's central directory and the files asked for are read into
/// memory, whatever the artifact's size.
pub struct Inputs<'a> {
    dispatch: &'a Dispatch,
    artifacts: &'a dyn ArtifactBytes,
    fetched: BTreeMap<String, tempfile::TempPath>,
}

impl<'a> Inputs<'a> {
    pub fn new(dispatch: &'a Dispatch, artifacts: &'a dyn ArtifactBytes) -> Inputs<'a> {
        Inputs { dispatch, artifacts, fetched: BTreeMap::new() }
    }

    /// Where input artifact `name` lives.
    pub fn location(&self, name: &str) -> Result<&'a ArtifactLocation, ActionError> {
        self.dispatch.input_artifacts.iter().find(|a| a.name == name).map(|a| &a.location).ok_or_else(|| {
            let names: Vec<&str> = self.dispatch.input_artifacts.iter().map(|a| a.name.as_str()).collect();
            configuration_error(format!("{name} is not one of this action's input artifacts ({})", names.join(", ")))
        })
    }

    /// The first input artifact's name.
    pub fn first(&self) -> Result<&'a str, ActionError> {
        self.dispatch
            .input_artifacts
            .first()
            .map(|a| a.name.as_str())
            .ok_or_else(|| configuration_error("the action has no input artifact"))
    }

    /// The zip of input artifact `name`, opened from its scratch file, buffered for the
    /// small reads a zip's directory takes.
    pub async fn zip(&mut self, name: &str) -> Result<std::io::BufReader<std::fs::File>, ActionError> {
        let scratch_error = |e: std::io::Error| artifact_error(name, ArtifactError::Unavailable(e.to_string()));
        if !self.fetched.contains_key(name) {
            let location = self.location(name)?;
            let scratch = tempfile::NamedTempFile::new().map_err(scratch_error)?.into_temp_path();
            self.artifacts.to_file(location, &scratch).await.map_err(|e| artifact_error(name, e))?;
            self.fetched.insert(name.to_string(), scratch);
        }
        std::fs::File::open(&self.fetched[name]).map(std::io::BufReader::new).map_err(scratch_error)
    }

    /// A file of an input artifact, as text.
    pub async fn text(&mut self, artifact: &str, path: &str) -> Result<String, ActionError> {
        let bytes = zip_file(self.zip(artifact).await?, artifact, path).map_err(job_failed)?;
        String::from_utf8(bytes).map_err(|_| job_failed(format!("{artifact}::{path} is not UTF-8 text")))
    }

    /// `Artifact::path` of a configuration key, as text.
    pub async fn file_of(&mut self, key: &str) -> Result<Option<(String, String)>, ActionError> {
        let Some(value) = config(&self.dispatch.configuration, key) else { return Ok(None) };
        let (artifact, path) = artifact_path(value)
            .ok_or_else(|| configuration_error(format!("{key} {value:?} is not of the form ArtifactName::path")))?;
        let text = self.text(artifact, path).await?;
        Ok(Some((value.to_string(), text)))
    }
}

/// The template `TemplatePath` names.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    /// `Artifact::path`.
    pub path: String,
    pub text: String,
    pub shape: TemplateShape,
}

/// Everything a CloudFormation action needs before its first call.
#[derive(Debug, Clone, PartialEq)]
pub struct CloudFormationInputs {
    pub mode: ActionMode,
    pub stack: String,
    pub change_set: Option<String>,
    pub template: Option<Template>,
    pub parameters: BTreeMap<String, String>,
    pub tags: BTreeMap<String, String>,
    pub stack_policy: Option<String>,
    pub capabilities: Vec<String>,
    /// `Configuration.RoleArn`: the stack's service role (not used by CHANGE_SET_EXECUTE).
    pub role_arn: Option<String>,
    pub output_file: Option<String>,
}

pub async fn cloudformation(
    dispatch: &Dispatch,
    artifacts: &dyn ArtifactBytes,
) -> Result<CloudFormationInputs, ActionError> {
    let configuration = &dispatch.configuration;
    let mode = ActionMode::parse(config(configuration, "ActionMode").unwrap_or("")).map_err(configuration_error)?;
    let stack =
        config(configuration, "StackName").ok_or_else(|| configuration_error("StackName is required"))?.to_string();
    let change_set = config(configuration, "ChangeSetName").map(String::from);
    if matches!(mode, ActionMode::ChangeSetReplace | ActionMode::ChangeSetExecute) && change_set.is_none() {
        return Err(configuration_error(format!("ChangeSetName is required in {} mode", mode.as_str())));
    }
    let mut inputs = Inputs::new(dispatch, artifacts);
    let template = if mode.uses_template() {
        let (path, text) = inputs
            .file_of("TemplatePath")
            .await?
            .ok_or_else(|| configuration_error(format!("TemplatePath is required in {} mode", mode.as_str())))?;
        if text.len() > cfn::TEMPLATE_URL_LIMIT {
            return Err(job_failed(format!(
                "{path} is {} bytes; CloudFormation takes templates up to 1 MB",
                text.len()
            )));
        }
        let shape = cfn::template_shape(&text).map_err(|e| job_failed(format!("{path}: {e}")))?;
        Some(Template { path, text, shape })
    } else {
        None
    };
    let configuration_file = match inputs.file_of("TemplateConfiguration").await? {
        Some((path, text)) => Some(cfn::parse_template_configuration(&path, &text).map_err(job_failed)?),
        None => None,
    };
    let overrides = match config(configuration, "ParameterOverrides") {
        Some(text) => cfn::parse_overrides(text).map_err(configuration_error)?,
        None => Vec::new(),
    };
    let mut files = BTreeMap::new();
    for (artifact, file) in cfn::files_read(&overrides) {
        let text = inputs.text(&artifact, &file).await?;
        let json: serde_json::Value = serde_json::from_str(&text)
            .map_err(|e| job_failed(format!("Fn::GetParam: {artifact}::{file} is not JSON: {e}")))?;
        files.insert((artifact, file), json);
    }
    let locations: BTreeMap<String, ArtifactLocation> =
        dispatch.input_artifacts.iter().map(|a| (a.name.clone(), a.location.clone())).collect();
    let region = dispatch.region.as_deref().unwrap_or("us-east-1");
    let parameters = cfn::resolve_parameters(configuration_file.as_ref(), &overrides, &files, &locations, region)
        .map_err(configuration_error)?;
    if let Some(template) = &template {
        cfn::undeclared(&template.shape, &parameters)
            .map_err(|e| configuration_error(format!("{}: {e}", template.path)))?;
    }
    let configuration_file = configuration_file.unwrap_or_default();
    Ok(CloudFormationInputs {
        mode,
        stack,
        change_set,
        template,
        parameters,
        tags: configuration_file.tags,
        stack_policy: configuration_file.stack_policy,
        capabilities: cfn::capabilities(config(configuration, "Capabilities")),
        role_arn: config(configuration, "RoleArn").map(String::from),
        output_file: config(configuration, "OutputFileName").map(String::from),
    })
}

/// An ECS standard deploy: cluster, service, the image definitions and the timeout in minutes.
pub struct EcsInputs {
    pub cluster: String,
    pub service: String,
    pub images: Vec<ecs::ImageDefinition>,
    pub timeout_minutes: u32,
}

pub async fn ecs(dispatch: &Dispatch, artifacts: &dyn ArtifactBytes) -> Result<EcsInputs, ActionError> {
    let configuration = &dispatch.configuration;
    let cluster = config(configuration, "ClusterName").ok_or_else(|| configuration_error("ClusterName is required"))?;
    let service = config(configuration, "ServiceName").ok_or_else(|| configuration_error("ServiceName is required"))?;
    let timeout_minutes =
        ecs::deployment_timeout_minutes(config(configuration, "DeploymentTimeout")).map_err(configuration_error)?;
    let file = config(configuration, "FileName").unwrap_or(ecs::IMAGE_DEFINITIONS);
    let mut inputs = Inputs::new(dispatch, artifacts);
    let artifact = inputs.first()?;
    let text = inputs.text(artifact, file).await?;
    let images = ecs::parse_image_definitions(file, &text).map_err(job_failed)?;
    Ok(EcsInputs { cluster: cluster.to_string(), service: service.to_string(), images, timeout_minutes })
}

/// A CodeDeployToECS deploy: the task definition with its images filled, and the AppSpec.
pub struct CodeDeployEcsInputs {
    pub task_definition: serde_json::Value,
    pub appspec: String,
}

pub async fn codedeploy_ecs(
    dispatch: &Dispatch,
    artifacts: &dyn ArtifactBytes,
) -> Result<CodeDeployEcsInputs, ActionError> {
    let configuration = &dispatch.configuration;
    let required =
        |key: &str| config(configuration, key).ok_or_else(|| configuration_error(format!("{key} is required")));
    let task_artifact = required("TaskDefinitionTemplateArtifact")?;
    let appspec_artifact = required("AppSpecTemplateArtifact")?;
    let task_path = config(configuration, "TaskDefinitionTemplatePath").unwrap_or(codedeploy::TASK_DEFINITION_TEMPLATE);
    let appspec_path = config(configuration, "AppSpecTemplatePath").unwrap_or(codedeploy::APPSPEC_TEMPLATE);
    let mut inputs = Inputs::new(dispatch, artifacts);
    let mut images = BTreeMap::new();
    for (artifact, placeholder) in codedeploy::image_slots(configuration).map_err(configuration_error)? {
        let detail = inputs.text(&artifact, codedeploy::IMAGE_DETAIL).await?;
        images.insert(placeholder, codedeploy::image_uri(&artifact, &detail).map_err(job_failed)?);
    }
    let task_text = inputs.text(task_artifact, task_path).await?;
    let task_definition = codedeploy::fill_task_definition(&task_text, &images).map_err(job_failed)?;
    let appspec = inputs.text(appspec_artifact, appspec_path).await?;
    Ok(CodeDeployEcsInputs { task_definition, appspec })
}

/// A Step Functions invoke: the machine, the execution's name and its input.
pub struct StepFunctionsInputs {
    pub state_machine: String,
    pub name: String,
    pub input: String,
}

pub async fn stepfunctions(
    dispatch: &Dispatch,
    artifacts: &dyn ArtifactBytes,
) -> Result<StepFunctionsInputs, ActionError> {
    let configuration = &dispatch.configuration;
    let state_machine =
        config(configuration, "StateMachineArn").ok_or_else(|| configuration_error("StateMachineArn is required"))?;
    let name = stepfunctions::execution_name(configuration, &dispatch.action_execution_id);
    let input = match stepfunctions::input(configuration).map_err(configuration_error)? {
        stepfunctions::Input::Literal(text) => text,
        stepfunctions::Input::File(path) => {
            let mut inputs = Inputs::new(dispatch, artifacts);
            let artifact = inputs.first()?;
            let text = inputs.text(artifact, &path).await?;
            serde_json::from_str::<serde_json::Value>(&text)
                .map_err(|e| job_failed(format!("{artifact}::{path} is not JSON: {e}")))?;
            text
        }
    };
    Ok(StepFunctionsInputs { state_machine: state_machine.to_string(), name, input })
}
