//! Rules that depend on the action's provider (docs/reference/codepipeline.md §2): required and
//! conditional configuration keys, value formats, and the fields only some action types may carry.

use super::{Checker, Context, action_path};
use crate::declaration::{ActionCategory, ActionDeclaration, ActionOwner, PipelineDeclaration};
use crate::providers::{self, CATALOGUE, Lookup, ProviderKind, ProviderSpec};

pub(super) fn check(p: &PipelineDeclaration, context: &Context, c: &mut Checker) {
    let home = home_region(p, context);
    for (s, a, action) in p.actions() {
        let path = action_path(s, a);
        check_type(c, &path, action);
        check_placement_fields(c, &path, action);
        if let Some(spec) = providers::spec_of(&action.action_type_id) {
            check_keys(c, &path, action, spec);
            check_values(c, &path, action, spec.kind);
        }
        if let Some(region) = &action.region {
            check_region(c, &path, action, region, home.as_deref(), p);
        }
    }
}

fn check_type(c: &mut Checker, path: &str, action: &ActionDeclaration) {
    let type_id = &action.action_type_id;
    match providers::lookup(type_id) {
        Lookup::Known(_) => {
            if !type_id.version.is_empty() && type_id.version != "1" {
                c.error(
                    format!("{path}.actionTypeId.version"),
                    format!(
                        "{}/{} has only version \"1\", not \"{}\"",
                        type_id.owner, type_id.provider, type_id.version
                    ),
                );
            }
        }
        Lookup::WrongCategory { categories } if type_id.category.is_known() => c.error(
            format!("{path}.actionTypeId.category"),
            format!(
                "provider {}/{} is not a {} action; its category is {}",
                type_id.owner,
                type_id.provider,
                type_id.category,
                categories.join(" or ")
            ),
        ),
        Lookup::WrongCategory { .. } => {}
        Lookup::Unknown if type_id.owner == ActionOwner::Aws && !type_id.provider.is_empty() => {
            let hint = closest_provider(&type_id.provider)
                .map(|known| format!("; did you mean \"{known}\"?"))
                .unwrap_or_default();
            c.warn(
                format!("{path}.actionTypeId.provider"),
                format!(
                    "\"{}\" is not an AWS provider Pipewright knows; its rules are not checked{hint}",
                    type_id.provider
                ),
            );
        }
        Lookup::Unknown => {}
    }
}

/// A catalogue provider whose name differs from `name` only in case or by one or two edits.
fn closest_provider(name: &str) -> Option<&'static str> {
    CATALOGUE
        .iter()
        .map(|spec| spec.provider)
        .filter(|known| known.eq_ignore_ascii_case(name) || edit_distance(known, name) <= 2)
        .min_by_key(|known| edit_distance(known, name))
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut previous = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous + usize::from(ca != *cb);
            previous = row[j + 1];
            row[j + 1] = substitution.min(row[j] + 1).min(previous + 1);
        }
    }
    row[b.len()]
}

/// Fields that only some action types may carry.
fn check_placement_fields(c: &mut Checker, path: &str, action: &ActionDeclaration) {
    let type_id = &action.action_type_id;
    let compute = type_id.category == ActionCategory::Compute;
    let known_category = type_id.category.is_known();
    if known_category && !compute {
        let only_compute = "is only allowed on Compute (Commands) actions";
        if action.commands.is_some() {
            c.error(format!("{path}.commands"), only_compute);
        }
        if action.output_variables.is_some() {
            c.error(format!("{path}.outputVariables"), only_compute);
        }
        if action.environment_variables.is_some() {
            c.error(format!("{path}.environmentVariables"), only_compute);
        }
        for (o, output) in action.output_artifacts.iter().flatten().enumerate() {
            if output.files.is_some() {
                c.error(format!("{path}.outputArtifacts[{o}].files"), only_compute);
            }
        }
    }
    if action.timeout_in_minutes.is_some() && !providers::is_manual_approval(type_id) && known_category {
        c.error(format!("{path}.timeoutInMinutes"), "is only allowed on manual approval actions");
    }
}

/// The pipeline's own region (docs/import.md, "The home region"): given from outside (the
/// `metadata.pipelineArn` of a `get-pipeline` export, `--region`); else the one key of
/// `artifactStores`; else, with a single `artifactStore` (no cross-region actions possible),
/// the region that the first action carrying one names — `get-pipeline` puts the home region
/// on every action.
fn home_region(p: &PipelineDeclaration, context: &Context) -> Option<String> {
    if let Some(region) = &context.home_region {
        return Some(region.clone());
    }
    if let Some(stores) = &p.artifact_stores {
        return (stores.len() == 1).then(|| stores.keys().next().cloned()).flatten();
    }
    p.actions().find_map(|(_, _, action)| action.region.clone())
}

fn check_region(
    c: &mut Checker,
    path: &str,
    action: &ActionDeclaration,
    region: &str,
    home: Option<&str>,
    p: &PipelineDeclaration,
) {
    let type_id = &action.action_type_id;
    // An action in the pipeline's own region is not a cross-region action, whatever its type.
    let foreign = home.filter(|home| *home != region);
    let refused = if foreign.is_none() {
        None
    } else if type_id.category == ActionCategory::Source {
        Some("Source actions")
    } else if type_id.owner == ActionOwner::ThirdParty {
        Some("ThirdParty actions")
    } else if type_id.owner == ActionOwner::Custom {
        Some("Custom actions")
    } else {
        None
    };
    if let (Some(kind), Some(home)) = (refused, foreign) {
        c.error(
            format!("{path}.region"),
            format!("{kind} cannot run in another region; \"{region}\" is not the pipeline's region \"{home}\""),
        );
        return;
    }
    if let Some(stores) = &p.artifact_stores
        && !region.is_empty()
        && !stores.contains_key(region)
    {
        c.error(
            format!("{path}.region"),
            format!("no artifact store for region \"{region}\"; add it to artifactStores"),
        );
    }
    if let Some(home) = foreign
        && p.artifact_stores.is_none()
    {
        c.error(
            format!("{path}.region"),
            format!(
                "\"{region}\" is not the pipeline's region \"{home}\"; a cross-region action needs artifactStores, one store per region"
            ),
        );
    }
}

fn check_keys(c: &mut Checker, path: &str, action: &ActionDeclaration, spec: &ProviderSpec) {
    let label = provider_label(action);
    if spec.open_keys {
        return;
    }
    for key in spec.required_keys {
        let alias = alias_of(spec.kind, key);
        if action.config(key).is_none() && alias.is_none_or(|alias| action.config(alias).is_none()) {
            let or = alias.map(|alias| format!(" (or {alias})")).unwrap_or_default();
            c.error(format!("{path}.configuration.{key}"), format!("is required by {label} actions{or}"));
        }
    }
    for key in action.configuration.iter().flat_map(|m| m.keys()) {
        if !spec.required_keys.contains(&key.as_str()) && !spec.optional_keys.contains(&key.as_str()) {
            let known: Vec<&str> = spec.required_keys.iter().chain(spec.optional_keys).copied().collect();
            let known = if known.is_empty() { "none".to_string() } else { known.join(", ") };
            c.warn(
                format!("{path}.configuration.{key}"),
                format!("is not a configuration key of {label} actions (known keys: {known}); it is ignored"),
            );
        }
    }
}

/// Another name a required key is given by: an OpsWorks deploy's `StackId` and `AppId`, as
/// published templates name `Stack` and `App` (docs/reference/codepipeline.md §2).
fn alias_of(kind: ProviderKind, key: &str) -> Option<&'static str> {
    match (kind, key) {
        (ProviderKind::OpsWorks, "Stack") => Some("StackId"),
        (ProviderKind::OpsWorks, "App") => Some("AppId"),
        _ => None,
    }
}

fn provider_label(action: &ActionDeclaration) -> String {
    let t = &action.action_type_id;
    format!("{}/{} {}", t.owner, t.provider, t.category)
}

/// A value holding a variable reference is only known at run time; its format is not checked.
fn static_value<'a>(action: &'a ActionDeclaration, key: &str) -> Option<&'a str> {
    action.config(key).filter(|value| !value.contains("#{"))
}

fn expect_one_of(c: &mut Checker, path: &str, action: &ActionDeclaration, key: &str, allowed: &[&str]) {
    if let Some(value) = static_value(action, key)
        && !allowed.contains(&value)
    {
        c.error(
            format!("{path}.configuration.{key}"),
            format!("\"{value}\" is not allowed; use {}", allowed.join(" or ")),
        );
    }
}

const BOOLEAN: &[&str] = &["true", "false"];

fn check_values(c: &mut Checker, path: &str, action: &ActionDeclaration, kind: ProviderKind) {
    match kind {
        ProviderKind::S3Source => expect_one_of(c, path, action, "PollForSourceChanges", BOOLEAN),
        ProviderKind::CodeCommit => {
            expect_one_of(c, path, action, "PollForSourceChanges", BOOLEAN);
            expect_one_of(c, path, action, "OutputArtifactFormat", &["CODE_ZIP", "CODEBUILD_CLONE_REF"]);
        }
        ProviderKind::CodeStarSourceConnection => {
            expect_one_of(c, path, action, "OutputArtifactFormat", &["CODE_ZIP", "CODEBUILD_CLONE_REF"]);
            expect_one_of(c, path, action, "DetectChanges", BOOLEAN);
            if let Some(repo) = static_value(action, "FullRepositoryId") {
                let well_formed =
                    repo.split_once('/').is_some_and(|(owner, name)| !owner.is_empty() && !name.is_empty());
                if !well_formed {
                    c.error(
                        format!("{path}.configuration.FullRepositoryId"),
                        format!("\"{repo}\" is not of the form owner/repository"),
                    );
                }
            }
        }
        ProviderKind::GitHubV1 => expect_one_of(c, path, action, "PollForSourceChanges", BOOLEAN),
        ProviderKind::S3Deploy => {
            expect_one_of(c, path, action, "Extract", BOOLEAN);
            if static_value(action, "Extract") == Some("false") && action.config("ObjectKey").is_none() {
                c.error(format!("{path}.configuration.ObjectKey"), "is required when Extract is \"false\"");
            }
        }
        ProviderKind::CodeBuild => check_codebuild(c, path, action),
        ProviderKind::CloudFormation => check_cloudformation(c, path, action),
        ProviderKind::StepFunctions => expect_one_of(c, path, action, "InputType", &["Literal", "FilePath"]),
        ProviderKind::Commands => {
            if action.commands.as_ref().is_none_or(Vec::is_empty) {
                c.error(format!("{path}.commands"), "is required: the shell commands the Commands action runs");
            }
        }
        ProviderKind::InspectorScan => {
            expect_one_of(c, path, action, "InspectorRunMode", &["SourceCodeScan", "ECRImageScan"]);
        }
        ProviderKind::Ec2 => expect_one_of(c, path, action, "InstanceType", &["EC2", "SSM_MANAGED_NODE"]),
        ProviderKind::EcrBuildAndPublish => expect_one_of(c, path, action, "RegistryType", &["private", "public"]),
        ProviderKind::CloudFormationStackSet => {
            expect_one_of(c, path, action, "PermissionModel", &["SELF_MANAGED", "SERVICE_MANAGED"]);
        }
        ProviderKind::Ecr
        | ProviderKind::ManualApproval
        | ProviderKind::Lambda
        | ProviderKind::CodeDeploy
        | ProviderKind::Ecs
        | ProviderKind::ElasticBeanstalk
        | ProviderKind::CodeDeployToEcs
        | ProviderKind::Eks
        | ProviderKind::LambdaDeploy
        | ProviderKind::CodePipelineInvoke
        | ProviderKind::CloudFormationStackInstances
        | ProviderKind::ServiceCatalog
        | ProviderKind::AppConfig
        | ProviderKind::DeviceFarm
        | ProviderKind::OpsWorks
        | ProviderKind::AlexaSkillsKit
        | ProviderKind::Snyk => {}
    }
}

fn check_codebuild(c: &mut Checker, path: &str, action: &ActionDeclaration) {
    let inputs: Vec<&str> = action.input_names().collect();
    match action.config("PrimarySource") {
        None if inputs.len() > 1 => c.error(
            format!("{path}.configuration.PrimarySource"),
            "is required when a CodeBuild action has several input artifacts; name the one holding the buildspec",
        ),
        Some(primary) if !primary.contains("#{") && !inputs.contains(&primary) => c.error(
            format!("{path}.configuration.PrimarySource"),
            format!("\"{primary}\" is not one of this action's input artifacts ({})", inputs.join(", ")),
        ),
        _ => {}
    }
    expect_one_of(c, path, action, "BatchEnabled", BOOLEAN);
    expect_one_of(c, path, action, "CombineArtifacts", BOOLEAN);
    let Some(text) = action.config("EnvironmentVariables") else {
        return;
    };
    let key_path = format!("{path}.configuration.EnvironmentVariables");
    let Ok(serde_json::Value::Array(items)) = serde_json::from_str::<serde_json::Value>(text) else {
        c.error(key_path, "must be a JSON array of {\"name\", \"value\", \"type\"} objects");
        return;
    };
    for (i, item) in items.iter().enumerate() {
        let name_ok = item.get("name").and_then(serde_json::Value::as_str).is_some_and(|n| !n.is_empty());
        let value_ok = item.get("value").is_some_and(serde_json::Value::is_string);
        let type_ok = item
            .get("type")
            .is_none_or(|t| matches!(t.as_str(), Some("PLAINTEXT" | "PARAMETER_STORE" | "SECRETS_MANAGER")));
        if !(name_ok && value_ok && type_ok) {
            c.error(
                format!("{key_path}[{i}]"),
                "needs a \"name\", a string \"value\" and a \"type\" of PLAINTEXT, PARAMETER_STORE or SECRETS_MANAGER",
            );
        }
    }
}

const CFN_MODES: &[&str] =
    &["CHANGE_SET_EXECUTE", "CHANGE_SET_REPLACE", "CREATE_UPDATE", "DELETE_ONLY", "REPLACE_ON_FAILURE"];
const CFN_CAPABILITIES: &[&str] = &["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"];

fn check_cloudformation(c: &mut Checker, path: &str, action: &ActionDeclaration) {
    expect_one_of(c, path, action, "ActionMode", CFN_MODES);
    let config_path = |key: &str| format!("{path}.configuration.{key}");
    if let Some(mode) = static_value(action, "ActionMode") {
        let needs_template = matches!(mode, "CREATE_UPDATE" | "REPLACE_ON_FAILURE" | "CHANGE_SET_REPLACE");
        if needs_template && action.config("TemplatePath").is_none() {
            c.error(config_path("TemplatePath"), format!("is required in {mode} mode"));
        }
        if mode.starts_with("CHANGE_SET_") && action.config("ChangeSetName").is_none() {
            c.error(config_path("ChangeSetName"), format!("is required in {mode} mode"));
        }
        // AWS documents the role as required here, yet CreatePipeline takes an action without
        // one (templates that add the role on a second deploy rely on it), and CloudFormation
        // then acts with the caller's credentials: a warning (docs/reference/codepipeline.md §2).
        if mode != "CHANGE_SET_EXECUTE" && CFN_MODES.contains(&mode) && action.config("RoleArn").is_none() {
            c.warn(
                config_path("RoleArn"),
                format!(
                    "is not set: in {mode} mode CloudFormation then acts with the pipeline's (or the action's) role"
                ),
            );
        }
    }
    if let Some(capabilities) = static_value(action, "Capabilities") {
        for capability in capabilities.split(',') {
            if !CFN_CAPABILITIES.contains(&capability) {
                c.error(
                    config_path("Capabilities"),
                    format!(
                        "\"{capability}\" is not a capability; give a comma-separated list without spaces of {}",
                        CFN_CAPABILITIES.join(", ")
                    ),
                );
            }
        }
    }
    if let Some(overrides) = static_value(action, "ParameterOverrides") {
        if !matches!(serde_json::from_str::<serde_json::Value>(overrides), Ok(serde_json::Value::Object(_))) {
            c.error(config_path("ParameterOverrides"), "must be a JSON object of parameter names to values");
        } else if overrides.len() > 1024 {
            c.error(config_path("ParameterOverrides"), format!("is {} bytes; the limit is 1 KB", overrides.len()));
        }
    }
    let inputs: Vec<&str> = action.input_names().collect();
    for key in ["TemplatePath", "TemplateConfiguration"] {
        let Some(value) = static_value(action, key) else {
            continue;
        };
        match value.split_once("::") {
            Some((artifact, file)) if !artifact.is_empty() && !file.is_empty() => {
                if !inputs.contains(&artifact) {
                    c.error(
                        config_path(key),
                        format!("\"{artifact}\" is not one of this action's input artifacts ({})", inputs.join(", ")),
                    );
                }
            }
            _ => c.error(config_path(key), format!("\"{value}\" is not of the form ArtifactName::path/in/artifact")),
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::validate::test_support::*;
    use serde_json::json;

    /// The v1 pipeline with a second deploy action of `provider` in its second stage.
    fn with_deploy(provider: &str, config: serde_json::Value) -> serde_json::Value {
        with(valid_v1(), |p| {
            p["stages"][1]["actions"].as_array_mut().unwrap().push(json!({
                "name": "Stack", "runOrder": 2,
                "actionTypeId": {"category": "Deploy", "owner": "AWS", "provider": provider, "version": "1"},
                "configuration": config,
                "inputArtifacts": [{"name": "SiteSource"}]
            }));
        })
    }

    fn cfn(config: serde_json::Value) -> serde_json::Value {
        with_deploy("CloudFormation", config)
    }

    #[test]
    fn required_configuration_keys() {
        let errors = errors_of(with(valid_v1(), |p| {
            p["stages"][0]["actions"][0]["configuration"] = json!({"S3Bucket": "b"});
            p["stages"][1]["actions"][0].as_object_mut().unwrap().remove("configuration");
        }));
        assert_has(&errors, "stages[0].actions[0].configuration.S3ObjectKey: is required by AWS/S3 Source actions");
        assert_has(&errors, "stages[1].actions[0].configuration.BucketName: is required by AWS/S3 Deploy actions");
        assert_has(&errors, "stages[1].actions[0].configuration.Extract: is required by AWS/S3 Deploy actions");
    }

    #[test]
    fn unknown_configuration_keys_are_warnings() {
        let warnings =
            warnings_of(with(valid_v1(), |p| p["stages"][1]["actions"][0]["configuration"]["Bucket"] = json!("x")));
        assert_has(
            &warnings,
            "stages[1].actions[0].configuration.Bucket: is not a configuration key of AWS/S3 Deploy actions",
        );
    }

    #[test]
    fn s3_deploy_needs_object_key_without_extract() {
        let errors =
            errors_of(with(valid_v1(), |p| p["stages"][1]["actions"][0]["configuration"]["Extract"] = json!("false")));
        assert_has(&errors, "stages[1].actions[0].configuration.ObjectKey: is required when Extract is \"false\"");
        let errors =
            errors_of(with(valid_v1(), |p| p["stages"][1]["actions"][0]["configuration"]["Extract"] = json!("yes")));
        assert_has(&errors, "stages[1].actions[0].configuration.Extract: \"yes\" is not allowed; use true or false");
    }

    #[test]
    fn cloudformation_modes_need_their_keys() {
        let errors = errors_of(cfn(json!({"ActionMode": "CREATE_UPDATE", "StackName": "s"})));
        assert_has(&errors, "stages[1].actions[1].configuration.TemplatePath: is required in CREATE_UPDATE mode");
        assert!(!errors.iter().any(|e| e.contains("RoleArn")), "{errors:?}");
        let warnings = warnings_of(cfn(json!({"ActionMode": "CREATE_UPDATE", "StackName": "s"})));
        assert_has(&warnings, "stages[1].actions[1].configuration.RoleArn: is not set: in CREATE_UPDATE mode");
        let errors = errors_of(cfn(json!({"ActionMode": "CHANGE_SET_EXECUTE", "StackName": "s"})));
        assert_has(&errors, "stages[1].actions[1].configuration.ChangeSetName: is required in CHANGE_SET_EXECUTE mode");
        assert!(!errors.iter().any(|e| e.contains("RoleArn")), "{errors:?}");
        let errors = errors_of(cfn(json!({"ActionMode": "UPSERT", "StackName": "s"})));
        assert_has(&errors, "stages[1].actions[1].configuration.ActionMode: \"UPSERT\" is not allowed");
    }

    #[test]
    fn cloudformation_value_formats() {
        let errors = errors_of(cfn(json!({
            "ActionMode": "CREATE_UPDATE", "StackName": "s", "RoleArn": "arn:aws:iam::111122223333:role/cfn",
            "TemplatePath": "Other::t.yaml", "Capabilities": "CAPABILITY_IAM, CAPABILITY_AUTO_EXPAND",
            "ParameterOverrides": "[1]", "TemplateConfiguration": "config.json"
        })));
        assert_has(
            &errors,
            "stages[1].actions[1].configuration.TemplatePath: \"Other\" is not one of this action's input artifacts",
        );
        assert_has(
            &errors,
            "stages[1].actions[1].configuration.Capabilities: \" CAPABILITY_AUTO_EXPAND\" is not a capability",
        );
        assert_has(&errors, "stages[1].actions[1].configuration.ParameterOverrides: must be a JSON object");
        assert_has(
            &errors,
            "stages[1].actions[1].configuration.TemplateConfiguration: \"config.json\" is not of the form ArtifactName::path",
        );
        let valid = errors_of(cfn(json!({
            "ActionMode": "CREATE_UPDATE", "StackName": "s", "RoleArn": "arn:aws:iam::111122223333:role/cfn",
            "TemplatePath": "SiteSource::t.yaml", "Capabilities": "CAPABILITY_IAM,CAPABILITY_AUTO_EXPAND",
            "ParameterOverrides": "{\"Env\": \"prod\"}"
        })));
        assert!(valid.is_empty(), "{valid:?}");
    }

    #[test]
    fn codebuild_primary_source_and_environment() {
        let errors = errors_of(with(valid_v2(), |p| {
            p["stages"][1]["actions"].as_array_mut().unwrap().push(json!({
                "name": "Unit", "runOrder": 2,
                "actionTypeId": {"category": "Test", "owner": "AWS", "provider": "CodeBuild", "version": "1"},
                "configuration": {"ProjectName": "tests", "EnvironmentVariables": "[{\"name\":\"A\"}]"},
                "inputArtifacts": [{"name": "SourceArtifact"}, {"name": "BuildOutput"}]
            }));
        }));
        assert_has(
            &errors,
            "stages[1].actions[1].configuration.PrimarySource: is required when a CodeBuild action has several input artifacts",
        );
        assert_has(
            &errors,
            "stages[1].actions[1].configuration.EnvironmentVariables[0]: needs a \"name\", a string \"value\"",
        );
    }

    #[test]
    fn wrong_category_version_and_unknown_provider() {
        let errors = errors_of(with(valid_v1(), |p| {
            p["stages"][1]["actions"][0]["actionTypeId"]["category"] = json!("Build");
        }));
        assert_has(
            &errors,
            "stages[1].actions[0].actionTypeId.category: provider AWS/S3 is not a Build action; its category is Source or Deploy",
        );
        let errors =
            errors_of(with(valid_v1(), |p| p["stages"][1]["actions"][0]["actionTypeId"]["version"] = json!("2")));
        assert_has(&errors, "stages[1].actions[0].actionTypeId.version: AWS/S3 has only version \"1\"");
        let warnings = warnings_of(with(valid_v2(), |p| {
            p["stages"][1]["actions"].as_array_mut().unwrap().push(json!({
                "name": "Typo", "runOrder": 2,
                "actionTypeId": {"category": "Build", "owner": "AWS", "provider": "CodeBuld", "version": "1"},
                "inputArtifacts": [{"name": "SourceArtifact"}]
            }));
        }));
        assert_has(
            &warnings,
            "stages[1].actions[1].actionTypeId.provider: \"CodeBuld\" is not an AWS provider Pipewright knows; its rules are not checked; did you mean \"CodeBuild\"?",
        );
    }

    #[test]
    fn compute_only_fields_and_approval_only_timeout() {
        let errors = errors_of(with(valid_v1(), |p| {
            let deploy = &mut p["stages"][1]["actions"][0];
            deploy["commands"] = json!(["ls"]);
            deploy["outputVariables"] = json!(["X"]);
            deploy["environmentVariables"] = json!([{"name": "A", "value": "b"}]);
            deploy["timeoutInMinutes"] = json!(10);
            p["stages"][0]["actions"][0]["outputArtifacts"][0]["files"] = json!(["**/*"]);
        }));
        assert_has(&errors, "stages[1].actions[0].commands: is only allowed on Compute (Commands) actions");
        assert_has(&errors, "stages[1].actions[0].outputVariables: is only allowed on Compute (Commands) actions");
        assert_has(&errors, "stages[1].actions[0].environmentVariables: is only allowed on Compute (Commands) actions");
        assert_has(&errors, "stages[1].actions[0].timeoutInMinutes: is only allowed on manual approval actions");
        assert_has(
            &errors,
            "stages[0].actions[0].outputArtifacts[0].files: is only allowed on Compute (Commands) actions",
        );
    }

    #[test]
    fn commands_action_needs_commands() {
        let errors = errors_of(with(valid_v2(), |p| {
            p["stages"][1]["actions"][0].as_object_mut().unwrap().remove("commands");
        }));
        assert_has(&errors, "stages[1].actions[0].commands: is required");
    }

    #[test]
    fn regions_are_refused_where_cross_region_is_not_supported_and_need_a_store() {
        let errors = errors_of(with(valid_v1(), |p| {
            p["stages"][0]["actions"][0]["region"] = json!("us-east-1");
            let obj = p.as_object_mut().unwrap();
            obj.remove("artifactStore");
            obj.insert("artifactStores".into(), json!({"eu-west-1": {"type": "S3", "location": "bucket-eu"}}));
            p["stages"][1]["actions"][0]["region"] = json!("us-west-2");
        }));
        assert_has(&errors, "stages[0].actions[0].region: Source actions cannot run in another region");
        assert_has(
            &errors,
            "stages[1].actions[0].region: no artifact store for region \"us-west-2\"; add it to artifactStores",
        );
    }

    /// `get-pipeline` puts the pipeline's own region on every action, Source included.
    fn exported(region: &str) -> serde_json::Value {
        with(valid_v1(), |p| {
            for stage in p["stages"].as_array_mut().unwrap() {
                for action in stage["actions"].as_array_mut().unwrap() {
                    action["region"] = json!(region);
                }
            }
        })
    }

    #[test]
    fn the_home_region_is_allowed_on_every_action() {
        assert!(errors_of(exported("eu-west-1")).is_empty());
        let with_context = crate::validate::validate_in(
            &serde_json::from_value(exported("eu-west-1")).unwrap(),
            &crate::validate::Context { home_region: Some("eu-west-1".into()) },
        );
        assert!(with_context.is_valid(), "{with_context}");
        let third_party = with(exported("eu-west-1"), |p| {
            p["stages"][1]["actions"][0]["actionTypeId"] =
                json!({"category": "Deploy", "owner": "Custom", "provider": "Rsync", "version": "1"});
        });
        assert!(errors_of(third_party).is_empty());
        let single_store = with(exported("eu-west-1"), |p| {
            let obj = p.as_object_mut().unwrap();
            let store = obj.remove("artifactStore").unwrap();
            obj.insert("artifactStores".into(), json!({"eu-west-1": store}));
        });
        assert!(errors_of(single_store).is_empty());
    }

    #[test]
    fn another_region_is_refused_for_source_and_needs_stores() {
        let report = crate::validate::validate_in(
            &serde_json::from_value(exported("eu-west-1")).unwrap(),
            &crate::validate::Context { home_region: Some("us-east-1".into()) },
        );
        let errors: Vec<String> = report.errors.iter().map(ToString::to_string).collect();
        assert_has(
            &errors,
            "stages[0].actions[0].region: Source actions cannot run in another region; \"eu-west-1\" is not the pipeline's region \"us-east-1\"",
        );
        assert_has(
            &errors,
            "stages[1].actions[0].region: \"eu-west-1\" is not the pipeline's region \"us-east-1\"; a cross-region action needs artifactStores",
        );
    }

    #[test]
    fn every_current_aws_provider_is_known() {
        for (category, provider) in [
            ("Deploy", "CodeDeployToECS"),
            ("Build", "ECRBuildAndPublish"),
            ("Invoke", "InspectorScan"),
            ("Deploy", "EKS"),
            ("Deploy", "EC2"),
            ("Deploy", "Lambda"),
            ("Invoke", "CodePipeline"),
            ("Deploy", "CloudFormationStackSet"),
            ("Deploy", "CloudFormationStackInstances"),
            ("Deploy", "ElasticBeanstalk"),
            ("Deploy", "ServiceCatalog"),
            ("Deploy", "AppConfig"),
            ("Test", "DeviceFarm"),
        ] {
            let warnings = warnings_of(with(valid_v2(), |p| {
                p["stages"][1]["actions"].as_array_mut().unwrap().push(json!({
                    "name": "New", "runOrder": 2,
                    "actionTypeId": {"category": category, "owner": "AWS", "provider": provider, "version": "1"},
                    "inputArtifacts": [{"name": "SourceArtifact"}]
                }));
            }));
            assert!(!warnings.iter().any(|w| w.contains("not an AWS provider")), "{provider}: {warnings:?}");
        }
    }

    #[test]
    fn opsworks_takes_stack_and_app_by_either_name() {
        let opsworks = |config| with_deploy("OpsWorks", config);
        for config in [
            json!({"Stack": "s", "App": "a", "Layer": "l"}),
            json!({"StackId": "s", "AppId": "a", "LayerId": "l", "DeploymentType": "deploy_app"}),
        ] {
            let pipeline = opsworks(config);
            assert!(errors_of(pipeline.clone()).is_empty(), "{:?}", errors_of(pipeline.clone()));
            assert!(warnings_of(pipeline.clone()).is_empty(), "{:?}", warnings_of(pipeline));
        }
        let errors = errors_of(opsworks(json!({"Layer": "l"})));
        assert_has(
            &errors,
            "stages[1].actions[1].configuration.Stack: is required by AWS/OpsWorks Deploy actions (or StackId)",
        );
        assert_has(
            &errors,
            "stages[1].actions[1].configuration.App: is required by AWS/OpsWorks Deploy actions (or AppId)",
        );
    }

    #[test]
    fn connection_repository_id_format() {
        let errors = errors_of(with(valid_v2(), |p| {
            p["stages"][0]["actions"][0]["configuration"]["FullRepositoryId"] = json!("app");
        }));
        assert_has(
            &errors,
            "stages[0].actions[0].configuration.FullRepositoryId: \"app\" is not of the form owner/repository",
        );
    }
}
