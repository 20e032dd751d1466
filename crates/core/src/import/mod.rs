//! Importing pipelines from where teams keep them (docs/import.md): CloudFormation and SAM
//! templates (YAML or JSON), CDK cloud assemblies, and `terraform show -json` output. Text
//! and parameters in, [`ImportedPipeline`]s out — the API declaration, the CodeBuild
//! projects, the placeholders with where each is used, and warnings. No I/O: the CLI reads
//! the files and hands their text here.

pub mod cdk;
pub mod codebuild;
pub mod detect;
pub mod empty_defaults;
pub mod mapping;
pub mod node;
pub mod parameters;
pub mod pattern;
pub mod placeholders;
pub mod resolve;
pub mod resources;
pub mod stand_ins;
pub mod template;
pub mod terraform;
pub mod yaml;

use std::collections::BTreeMap;

pub use detect::{FileKind, detect};
pub use mapping::{DisabledTransition, Tag};
pub use placeholders::{Placeholder, PlaceholderKind};

use crate::build_project::BuildProject;
use crate::declaration::PipelineDeclaration;
use node::Node;
use resolve::Resolver;
use template::{PIPELINE_TYPE, PROJECT_TYPE, Template};

/// The account placeholders use, as cfn-lint and moto do.
pub const DEFAULT_ACCOUNT: &str = "123456789012";
pub const DEFAULT_REGION: &str = "us-east-1";

/// What an import is given besides the text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// `AWS::StackName`, and the prefix of generated names (default: the file's stem).
    pub stack_name: String,
    pub region: String,
    pub account: String,
    /// `--parameter NAME=VALUE` (and `--parameters-file`).
    pub parameters: BTreeMap<String, String>,
    /// `--value NAME=VALUE`: what cannot be known offline, by export name, `{{resolve:…}}`
    /// reference, SSM-typed parameter, `LogicalId` or `LogicalId.Attribute`, or pseudo
    /// parameter (`AWS::AccountId`).
    pub values: BTreeMap<String, String>,
    /// Where the text came from, for messages and project origins.
    pub origin: String,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            stack_name: "stack".to_string(),
            region: DEFAULT_REGION.to_string(),
            account: DEFAULT_ACCOUNT.to_string(),
            parameters: BTreeMap::new(),
            values: BTreeMap::new(),
            origin: "template".to_string(),
        }
    }
}

/// One imported pipeline.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportedPipeline {
    /// The resource's logical id (for Terraform, its address).
    pub logical_id: String,
    pub stack_name: String,
    pub declaration: PipelineDeclaration,
    pub tags: Vec<Tag>,
    pub disabled_transitions: Vec<DisabledTransition>,
    pub restart_execution_on_update: bool,
    /// The template's CodeBuild projects, by the names the actions use.
    pub projects: Vec<BuildProject>,
    pub placeholders: Vec<Placeholder>,
    /// Parameters left at an empty `Default` that the pipeline uses, named in the errors they
    /// cause.
    pub empty_defaults: Vec<empty_defaults::EmptyDefault>,
    pub warnings: Vec<String>,
}

impl ImportedPipeline {
    /// The placeholders a user gave no value for, excluding resources' physical ids.
    pub fn unresolved(&self) -> impl Iterator<Item = &Placeholder> {
        self.placeholders.iter().filter(|p| p.kind != PlaceholderKind::Resource)
    }
}

/// Why a file could not be imported. Each message is one clear sentence.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImportError {
    /// The text is not well-formed YAML or JSON (or uses what CloudFormation refuses).
    #[error("line {line}, column {column}: {message}")]
    Syntax { line: usize, column: usize, message: String },
    /// The file is something else than a pipeline Pipewright can import.
    #[error("{0}")]
    NotAPipeline(String),
    /// A parameter given on the command line is unknown or breaks a constraint.
    #[error("{0}")]
    Parameter(String),
    /// A template value cannot be evaluated or mapped; `at` is `LogicalId.Property.Path`.
    #[error("{at}: {message}")]
    Template { at: String, message: String },
    /// `--resource` names no pipeline, or several pipelines need a choice.
    #[error("{0}")]
    Choose(String),
    /// The template is refused as hostile: a cycle, too deep, too much work.
    #[error("{0}")]
    Limit(String),
}

impl ImportError {
    pub fn template(at: impl Into<String>, message: impl Into<String>) -> ImportError {
        ImportError::Template { at: at.into(), message: message.into() }
    }

    pub fn limit(message: impl Into<String>) -> ImportError {
        ImportError::Limit(message.into())
    }
}

/// Reads a template's text: JSON when it starts like JSON, CloudFormation YAML otherwise.
pub fn read_template(text: &str) -> Result<Node, ImportError> {
    read_template_noting(text).map(|(node, _)| node)
}

/// [`read_template`], with a warning for each key a mapping gives twice: CloudFormation takes
/// such a template and the last value, where a YAML or JSON library may refuse it.
pub fn read_template_noting(text: &str) -> Result<(Node, Vec<String>), ImportError> {
    if text.trim_start().starts_with('{') {
        let (node, duplicates) = node::from_json_text_noting(text).map_err(|e| ImportError::Syntax {
            line: e.line(),
            column: e.column(),
            message: e.to_string(),
        })?;
        let notes = duplicates
            .into_iter()
            .map(|key| {
                format!("key \"{key}\" is given twice in one object; its last value counts, as CloudFormation takes it")
            })
            .collect();
        return Ok((node, notes));
    }
    yaml::read_noting(text).map_err(|e| ImportError::Syntax { line: e.line, column: e.column, message: e.message })
}

/// Imports every `AWS::CodePipeline::Pipeline` of a CloudFormation/SAM template (or only
/// `resource`), with the template's CodeBuild projects.
pub fn import_template(
    text: &str,
    resource: Option<&str>,
    options: &Options,
) -> Result<Vec<ImportedPipeline>, ImportError> {
    let (root, duplicates) = read_template_noting(text)?;
    let template = Template::from_node(&root)?;
    let pipelines: Vec<&str> = template.of_type(PIPELINE_TYPE).collect();
    if pipelines.is_empty() {
        let mut types: Vec<&str> = template.resources.values().map(|r| r.resource_type.as_str()).collect();
        types.sort_unstable();
        types.dedup();
        let listed = if types.len() > 6 { format!("{}, …", types[..6].join(", ")) } else { types.join(", ") };
        return Err(ImportError::NotAPipeline(format!(
            "{} is a CloudFormation template with no AWS::CodePipeline::Pipeline resource (it declares {} resources: {listed}); give the template that declares the pipeline, or its `aws codepipeline get-pipeline` output",
            options.origin,
            template.resources.len()
        )));
    }
    let chosen: Vec<&str> = match resource {
        Some(wanted) => match pipelines.iter().find(|id| **id == wanted) {
            Some(id) => vec![*id],
            None => {
                return Err(ImportError::Choose(format!(
                    "--resource {wanted}: {} has no AWS::CodePipeline::Pipeline named {wanted} (its pipelines: {})",
                    options.origin,
                    pipelines.join(", ")
                )));
            }
        },
        None => pipelines,
    };
    let account = options.values.get("AWS::AccountId").unwrap_or(&options.account);
    let region = options.values.get("AWS::Region").unwrap_or(&options.region);
    let at = placeholders::Account { account, region, partition: crate::artifact_access::partition(region) };
    let parameter_values = parameters::resolve(&template, options, at)?;
    let mut resolver = Resolver::new(&template, &parameter_values, options);
    resolver.warnings.extend(duplicates);
    for transform in &template.transforms {
        if transform != "AWS::Serverless-2016-10-31" && transform != "AWS::LanguageExtensions" {
            resolver.warnings.push(format!(
                "the template's transform {transform} is a macro that runs only in CloudFormation; it is not applied here"
            ));
        }
    }
    let projects = import_projects(&template, &mut resolver, options)?;
    let mut imported = Vec::new();
    let mut skipped = Vec::new();
    for logical_id in chosen {
        if !resolver.is_created(logical_id)? {
            skipped.push(logical_id);
            continue;
        }
        let resource = &template.resources[logical_id];
        let name = resolver.physical_name(logical_id)?;
        let properties = resolver.resolve(&resource.properties, logical_id, 0)?.unwrap_or(Node::Null);
        let mapped = mapping::pipeline(logical_id, &properties, &name).map_err(|error| match error {
            // A value that cannot be mapped because it is a stand-in says which, and how to
            // give it (an include's snippet where an object is needed).
            ImportError::Template { at, message } => match resolver.registry.used_at(&at) {
                Some(p) => ImportError::Template { message: format!("{message} (it is {})", p.how_to_give()), at },
                None => ImportError::Template { at, message },
            },
            other => other,
        })?;
        imported.push(ImportedPipeline {
            logical_id: logical_id.to_string(),
            stack_name: options.stack_name.clone(),
            declaration: mapped.declaration,
            tags: mapped.tags,
            disabled_transitions: mapped.disabled_transitions,
            restart_execution_on_update: mapped.restart_execution_on_update,
            projects: projects.clone(),
            placeholders: Vec::new(),
            empty_defaults: Vec::new(),
            warnings: Vec::new(),
        });
    }
    if imported.is_empty() {
        return Err(ImportError::NotAPipeline(format!(
            "{}: no pipeline is created with these parameters ({} is conditional and its condition is false)",
            options.origin,
            skipped.join(", ")
        )));
    }
    let all = resolver.registry.into_list();
    let warnings = resolver.warnings;
    let ids: Vec<String> = imported.iter().map(|p| p.logical_id.clone()).collect();
    for pipeline in &mut imported {
        // A placeholder belongs to every pipeline but the others whose properties alone use
        // it: names of shared resources, projects and conditions flow into any of them.
        let others: Vec<String> =
            ids.iter().filter(|id| **id != pipeline.logical_id).map(|id| format!("{id}.")).collect();
        let own = |path: &str| !others.iter().any(|prefix| path.starts_with(prefix.as_str()));
        pipeline.placeholders = all
            .iter()
            .filter(|p| p.used_at.iter().any(|path| own(path)))
            .map(|p| Placeholder { used_at: p.used_at.iter().filter(|path| own(path)).cloned().collect(), ..p.clone() })
            .collect();
        pipeline.empty_defaults = resolver
            .empty_defaults
            .iter()
            .filter(|(_, used_at)| used_at.iter().any(|path| own(path)))
            .map(|(name, used_at)| empty_defaults::EmptyDefault {
                name: name.clone(),
                used_at: used_at
                    .iter()
                    .filter(|path| own(path))
                    .map(|path| empty_defaults::declared_path(path, &resolver.dropped))
                    .collect(),
            })
            .collect();
        pipeline.warnings = warnings.clone();
        pipeline.warnings.extend(placeholder_warnings(&pipeline.placeholders));
    }
    Ok(imported)
}

/// Every CodeBuild project the template creates. A project whose properties cannot be
/// evaluated is left out with a warning: the pipeline may not use it.
fn import_projects(
    template: &Template,
    resolver: &mut Resolver<'_>,
    options: &Options,
) -> Result<Vec<BuildProject>, ImportError> {
    let mut projects = Vec::new();
    for logical_id in template.of_type(PROJECT_TYPE) {
        if !resolver.is_created(logical_id)? {
            continue;
        }
        let outcome = (|| {
            let name = resolver.physical_name(logical_id)?;
            let properties =
                resolver.resolve(&template.resources[logical_id].properties, logical_id, 0)?.unwrap_or(Node::Null);
            codebuild::project(logical_id, &name, &properties, &format!("{}: {logical_id}", options.origin))
        })();
        match outcome {
            Ok(project) => projects.push(project),
            Err(error @ ImportError::Limit(_)) => return Err(error),
            Err(error) => resolver.warnings.push(format!("CodeBuild project {logical_id} is left out: {error}")),
        }
    }
    Ok(projects)
}

/// One warning listing the parameters that got placeholders; one per other unknowable value.
fn placeholder_warnings(placeholders: &[Placeholder]) -> Vec<String> {
    let mut warnings = Vec::new();
    let parameters: Vec<String> = placeholders
        .iter()
        .filter(|p| p.kind == PlaceholderKind::Parameter)
        .map(|p| format!("{} = {}", p.name, p.value))
        .collect();
    if !parameters.is_empty() {
        warnings.push(format!(
            "parameters without a value got placeholders (give them with --parameter NAME=VALUE): {}",
            parameters.join(", ")
        ));
    }
    // A mapping's value for an account has its own warning, where it is looked up.
    let own_warning =
        |kind| matches!(kind, PlaceholderKind::Parameter | PlaceholderKind::Resource | PlaceholderKind::AccountValue);
    for p in placeholders.iter().filter(|p| !own_warning(p.kind)) {
        // An export named after a parameter that has no value yet: that parameter comes first.
        let named_after = placeholders
            .iter()
            .find(|other| {
                other.kind == PlaceholderKind::Parameter
                    && other.value.contains("pipewright-placeholder")
                    && p.name.contains(&other.value)
            })
            .map(|other| {
                format!(
                    "; its name holds the placeholder of parameter {0}: give that first with --parameter {0}=…",
                    other.name
                )
            })
            .unwrap_or_default();
        warnings.push(format!(
            "{} {} cannot be known offline; the placeholder {} stands in for it at {} (give it with --value {}=…{named_after})",
            p.kind.describe(),
            p.name,
            p.value,
            p.used_at.join(", "),
            p.name
        ));
    }
    warnings
}

#[cfg(test)]
mod tests;
