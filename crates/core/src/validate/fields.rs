//! Field constraints of the model (docs/reference/codepipeline.md §1.1–1.3): names, patterns,
//! lengths, enum values and list sizes of every field, one field at a time.

use std::collections::BTreeSet;

use super::names::{Charset, check_count, check_length, check_name, check_role_arn};
use super::{Checker, action_path, stage_path};
use crate::declaration::{
    ActionDeclaration, ArtifactStore, BlockerDeclaration, EnvironmentVariable, PipelineDeclaration,
};

pub(super) fn check(p: &PipelineDeclaration, c: &mut Checker) {
    check_name(c, "name", &p.name, 100, Charset::Entity);
    check_role_arn(c, "roleArn", &p.role_arn);
    if let Some(version) = p.version
        && version < 1
    {
        c.error("version", format!("is {version}; versions start at 1"));
    }
    if let Some(kind) = &p.pipeline_type
        && !kind.is_known()
    {
        c.error("pipelineType", format!("\"{kind}\" is not a pipeline type; use V1 or V2"));
    }
    if let Some(mode) = &p.execution_mode
        && !mode.is_known()
    {
        c.error("executionMode", format!("\"{mode}\" is not an execution mode; use QUEUED, SUPERSEDED or PARALLEL"));
    }
    check_artifact_stores(p, c);
    check_variables(p, c);
    for (s, stage) in p.stages.iter().enumerate() {
        let path = stage_path(s);
        check_name(c, &format!("{path}.name"), &stage.name, 100, Charset::Entity);
        for (b, blocker) in stage.blockers.iter().flatten().enumerate() {
            check_blocker(c, &format!("{path}.blockers[{b}]"), blocker);
        }
        for (a, action) in stage.actions.iter().enumerate() {
            check_action(c, &action_path(s, a), action);
        }
    }
}

fn check_artifact_stores(p: &PipelineDeclaration, c: &mut Checker) {
    match (&p.artifact_store, &p.artifact_stores) {
        (Some(_), Some(_)) => c.error("artifactStores", "give either artifactStore or artifactStores, not both"),
        (None, None) => c.error(
            "artifactStore",
            "is required: the S3 bucket for artifacts (or artifactStores, one per region, for cross-region actions)",
        ),
        _ => {}
    }
    if let Some(store) = &p.artifact_store {
        check_store(c, "artifactStore", store);
    }
    if let Some(stores) = &p.artifact_stores {
        if stores.is_empty() {
            c.error("artifactStores", "is empty; give one artifact store per region");
        }
        for (region, store) in stores {
            let path = format!("artifactStores.{region}");
            check_length(c, &path, region, 4, 30);
            check_store(c, &path, store);
        }
    }
}

fn check_store(c: &mut Checker, path: &str, store: &ArtifactStore) {
    if !store.store_type.is_known() {
        let shown = store.store_type.as_str();
        if shown.is_empty() {
            c.error(format!("{path}.type"), "is required; the only artifact store type is S3");
        } else {
            c.error(format!("{path}.type"), format!("\"{shown}\" is not an artifact store type; use S3"));
        }
    }
    check_name(c, &format!("{path}.location"), &store.location, 63, Charset::Bucket);
    if !store.location.is_empty() && store.location.chars().count() < 3 {
        c.error(format!("{path}.location"), "bucket names are at least 3 characters long");
    }
    if let Some(key) = &store.encryption_key {
        check_length(c, &format!("{path}.encryptionKey.id"), &key.id, 1, 400);
        if !key.key_type.is_known() {
            c.error(format!("{path}.encryptionKey.type"), format!("\"{}\" is not a key type; use KMS", key.key_type));
        }
    }
}

fn check_variables(p: &PipelineDeclaration, c: &mut Checker) {
    let Some(variables) = &p.variables else {
        return;
    };
    if variables.len() > 50 {
        c.error("variables", format!("has {} variables; at most 50 are allowed", variables.len()));
    }
    let mut seen = BTreeSet::new();
    for (v, variable) in variables.iter().enumerate() {
        let path = format!("variables[{v}]");
        check_name(c, &format!("{path}.name"), &variable.name, 128, Charset::Namespace);
        if !variable.name.is_empty() && !seen.insert(variable.name.as_str()) {
            c.error(format!("{path}.name"), format!("variable \"{}\" is declared twice", variable.name));
        }
        if let Some(default) = &variable.default_value {
            check_length(c, &format!("{path}.defaultValue"), default, 1, 1000);
        }
        if let Some(description) = &variable.description {
            check_length(c, &format!("{path}.description"), description, 0, 200);
        }
    }
}

fn check_blocker(c: &mut Checker, path: &str, blocker: &BlockerDeclaration) {
    check_length(c, &format!("{path}.name"), &blocker.name, 1, 100);
    if !blocker.blocker_type.is_known() {
        c.error(format!("{path}.type"), format!("\"{}\" is not a blocker type; use Schedule", blocker.blocker_type));
    }
}

fn check_action(c: &mut Checker, path: &str, action: &ActionDeclaration) {
    check_name(c, &format!("{path}.name"), &action.name, 100, Charset::Entity);
    let type_id = &action.action_type_id;
    let type_path = format!("{path}.actionTypeId");
    if type_id.category.as_str().is_empty() {
        c.error(format!("{type_path}.category"), "is required");
    } else if !type_id.category.is_known() {
        c.error(
            format!("{type_path}.category"),
            format!(
                "\"{}\" is not a category; use one of {}",
                type_id.category,
                crate::declaration::ActionCategory::KNOWN.join(", ")
            ),
        );
    }
    if type_id.owner.as_str().is_empty() {
        c.error(format!("{type_path}.owner"), "is required");
    } else if !type_id.owner.is_known() {
        c.error(
            format!("{type_path}.owner"),
            format!("\"{}\" is not an owner; use AWS, ThirdParty or Custom", type_id.owner),
        );
    }
    check_name(c, &format!("{type_path}.provider"), &type_id.provider, 35, Charset::Provider);
    check_name(c, &format!("{type_path}.version"), &type_id.version, 9, Charset::Provider);

    if let Some(run_order) = action.run_order
        && !(1..=999).contains(&run_order)
    {
        c.error(format!("{path}.runOrder"), format!("is {run_order}; runOrder must be 1 to 999"));
    }
    for (key, value) in action.configuration.iter().flatten() {
        let key_path = format!("{path}.configuration.{key}");
        check_length(c, &key_path, key, 1, 50);
        check_length(c, &key_path, value, 1, 1000);
    }
    for (i, input) in action.input_artifacts.iter().flatten().enumerate() {
        check_name(c, &format!("{path}.inputArtifacts[{i}].name"), &input.name, 100, Charset::Artifact);
    }
    for (o, output) in action.output_artifacts.iter().flatten().enumerate() {
        let output_path = format!("{path}.outputArtifacts[{o}]");
        check_name(c, &format!("{output_path}.name"), &output.name, 100, Charset::Artifact);
        if let Some(files) = &output.files {
            check_count(c, &format!("{output_path}.files"), files.len(), 1, 10, "file patterns");
            for (f, file) in files.iter().enumerate() {
                check_length(c, &format!("{output_path}.files[{f}]"), file, 1, 128);
            }
        }
    }
    if let Some(namespace) = &action.namespace {
        check_name(c, &format!("{path}.namespace"), namespace, 100, Charset::Namespace);
    }
    if let Some(region) = &action.region {
        check_length(c, &format!("{path}.region"), region, 4, 30);
    }
    if let Some(role) = &action.role_arn {
        check_role_arn(c, &format!("{path}.roleArn"), role);
    }
    if let Some(timeout) = action.timeout_in_minutes
        && !(5..=86_400).contains(&timeout)
    {
        c.error(format!("{path}.timeoutInMinutes"), format!("is {timeout}; it must be 5 to 86400 minutes"));
    }
    if let Some(commands) = &action.commands {
        check_count(c, &format!("{path}.commands"), commands.len(), 1, 50, "commands");
        for (i, command) in commands.iter().enumerate() {
            check_length(c, &format!("{path}.commands[{i}]"), command, 1, 1000);
        }
    }
    if let Some(variables) = &action.output_variables {
        check_count(c, &format!("{path}.outputVariables"), variables.len(), 1, 15, "output variables");
        for (i, variable) in variables.iter().enumerate() {
            check_length(c, &format!("{path}.outputVariables[{i}]"), variable, 1, 128);
        }
    }
    if let Some(variables) = &action.environment_variables {
        check_environment(c, &format!("{path}.environmentVariables"), variables);
    }
}

fn check_environment(c: &mut Checker, path: &str, variables: &[EnvironmentVariable]) {
    check_count(c, path, variables.len(), 1, 10, "environment variables");
    let mut seen = BTreeSet::new();
    for (i, variable) in variables.iter().enumerate() {
        let item = format!("{path}[{i}]");
        check_name(c, &format!("{item}.name"), &variable.name, 128, Charset::EnvironmentName);
        if !variable.name.is_empty() && !seen.insert(variable.name.as_str()) {
            c.error(format!("{item}.name"), format!("environment variable \"{}\" is set twice", variable.name));
        }
        check_length(c, &format!("{item}.value"), &variable.value, 1, 2000);
        if let Some(kind) = &variable.variable_type
            && !kind.is_known()
        {
            c.error(format!("{item}.type"), format!("\"{kind}\" is not a type; use PLAINTEXT or SECRETS_MANAGER"));
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::validate::test_support::*;
    use serde_json::json;

    #[test]
    fn pipeline_name_and_role_are_checked() {
        let errors = errors_of(with(valid_v1(), |p| {
            p["name"] = json!("my pipeline");
            p["roleArn"] = json!("arn:aws:iam::123:role/x");
        }));
        assert_has(&errors, "name: \"my pipeline\" contains ' '");
        assert_has(&errors, "roleArn: \"arn:aws:iam::123:role/x\" is not an IAM role ARN");
    }

    #[test]
    fn missing_required_fields_are_all_named() {
        let errors = errors_of(with(valid_v1(), |p| {
            let obj = p.as_object_mut().unwrap();
            obj.remove("name");
            obj.remove("roleArn");
            obj.remove("artifactStore");
            p["stages"][1]["actions"][0].as_object_mut().unwrap().remove("actionTypeId");
        }));
        assert_has(&errors, "name: is required");
        assert_has(&errors, "roleArn: is required");
        assert_has(&errors, "artifactStore: is required");
        assert_has(&errors, "stages[1].actions[0].actionTypeId.category: is required");
        assert_has(&errors, "stages[1].actions[0].actionTypeId.provider: is required");
    }

    #[test]
    fn artifact_store_and_stores_are_mutually_exclusive() {
        let errors = errors_of(with(valid_v1(), |p| {
            p["artifactStores"] = json!({"eu-west-1": {"type": "S3", "location": "bucket-eu"}});
        }));
        assert_has(&errors, "artifactStores: give either artifactStore or artifactStores, not both");
    }

    #[test]
    fn artifact_store_fields_are_checked() {
        let errors = errors_of(with(valid_v1(), |p| {
            p["artifactStore"] = json!({"type": "GCS", "location": "b_", "encryptionKey": {"id": "", "type": "PGP"}});
        }));
        assert_has(&errors, "artifactStore.type: \"GCS\" is not an artifact store type");
        assert_has(&errors, "artifactStore.location: \"b_\" contains '_'");
        assert_has(&errors, "artifactStore.encryptionKey.id: must not be empty");
        assert_has(&errors, "artifactStore.encryptionKey.type: \"PGP\" is not a key type");
    }

    #[test]
    fn run_order_bounds() {
        for bad in [0, 1000, -3] {
            let errors = errors_of(with(valid_v1(), |p| p["stages"][1]["actions"][0]["runOrder"] = json!(bad)));
            assert_has(&errors, &format!("stages[1].actions[0].runOrder: is {bad}; runOrder must be 1 to 999"));
        }
        for good in [1, 999] {
            let errors = errors_of(with(valid_v1(), |p| p["stages"][1]["actions"][0]["runOrder"] = json!(good)));
            assert!(errors.is_empty(), "{errors:?}");
        }
    }

    #[test]
    fn enums_and_type_id_patterns() {
        let errors = errors_of(with(valid_v1(), |p| {
            p["executionMode"] = json!("FIFO");
            p["pipelineType"] = json!("V3");
            p["stages"][1]["actions"][0]["actionTypeId"] =
                json!({"category": "Ship", "owner": "Amazon", "provider": "S 3", "version": "1.0"});
        }));
        assert_has(&errors, "executionMode: \"FIFO\" is not an execution mode");
        assert_has(&errors, "pipelineType: \"V3\" is not a pipeline type");
        assert_has(&errors, "stages[1].actions[0].actionTypeId.category: \"Ship\" is not a category");
        assert_has(&errors, "stages[1].actions[0].actionTypeId.owner: \"Amazon\" is not an owner");
        assert_has(&errors, "stages[1].actions[0].actionTypeId.provider: \"S 3\" contains ' '");
        assert_has(&errors, "stages[1].actions[0].actionTypeId.version: \"1.0\" contains '.'");
    }

    #[test]
    fn configuration_lengths() {
        let errors = errors_of(with(valid_v1(), |p| {
            p["stages"][1]["actions"][0]["configuration"]["CacheControl"] = json!("x".repeat(1001));
            p["stages"][1]["actions"][0]["configuration"]["K".repeat(51)] = json!("v");
            p["stages"][1]["actions"][0]["configuration"]["Empty"] = json!("");
        }));
        assert_has(
            &errors,
            "stages[1].actions[0].configuration.CacheControl: is 1001 characters long; the limit is 1000",
        );
        assert_has(
            &errors,
            &format!("stages[1].actions[0].configuration.{}: is 51 characters long; the limit is 50", "K".repeat(51)),
        );
        assert_has(&errors, "stages[1].actions[0].configuration.Empty: must not be empty");
    }

    #[test]
    fn artifact_names_namespace_region_role_timeouts() {
        let errors = errors_of(with(valid_v2(), |p| {
            p["stages"][0]["actions"][0]["outputArtifacts"][0]["name"] = json!("Src.Out");
            p["stages"][0]["actions"][0]["namespace"] = json!("Src Vars");
            p["stages"][1]["actions"][0]["region"] = json!("eu");
            p["stages"][1]["actions"][0]["roleArn"] = json!("role");
            p["stages"][2]["actions"][0]["timeoutInMinutes"] = json!(4);
        }));
        assert_has(&errors, "stages[0].actions[0].outputArtifacts[0].name: \"Src.Out\" contains '.'");
        assert_has(&errors, "stages[0].actions[0].namespace: \"Src Vars\" contains ' '");
        assert_has(&errors, "stages[1].actions[0].region: must be at least 4 characters long");
        assert_has(&errors, "stages[1].actions[0].roleArn: \"role\" is not an IAM role ARN");
        assert_has(&errors, "stages[2].actions[0].timeoutInMinutes: is 4; it must be 5 to 86400 minutes");
    }

    #[test]
    fn commands_fields_sizes() {
        let errors = errors_of(with(valid_v2(), |p| {
            let action = &mut p["stages"][1]["actions"][0];
            action["commands"] = json!((0..51).map(|i| format!("echo {i}")).collect::<Vec<_>>());
            action["outputVariables"] = json!((0..16).map(|i| format!("V{i}")).collect::<Vec<_>>());
            action["environmentVariables"] = json!([{"name": "A-B", "value": "x"}, {"name": "OK", "value": "", "type": "SSM"}, {"name": "OK", "value": "y"}]);
            action["outputArtifacts"][0]["files"] = json!([]);
        }));
        assert_has(&errors, "stages[1].actions[0].commands: has 51 commands; 1 to 50 are allowed");
        assert_has(&errors, "stages[1].actions[0].outputVariables: has 16 output variables; 1 to 15 are allowed");
        assert_has(&errors, "stages[1].actions[0].environmentVariables[0].name: \"A-B\" contains '-'");
        assert_has(&errors, "stages[1].actions[0].environmentVariables[1].value: must not be empty");
        assert_has(&errors, "stages[1].actions[0].environmentVariables[1].type: \"SSM\" is not a type");
        assert_has(
            &errors,
            "stages[1].actions[0].environmentVariables[2].name: environment variable \"OK\" is set twice",
        );
        assert_has(&errors, "stages[1].actions[0].outputArtifacts[0].files: has 0 file patterns; 1 to 10 are allowed");
    }

    #[test]
    fn pipeline_variables() {
        let errors = errors_of(with(valid_v2(), |p| {
            p["variables"] = json!([
                {"name": "Env", "defaultValue": "prod"},
                {"name": "Env"},
                {"name": "bad name", "defaultValue": "", "description": "d".repeat(201)}
            ]);
        }));
        assert_has(&errors, "variables[1].name: variable \"Env\" is declared twice");
        assert_has(&errors, "variables[2].name: \"bad name\" contains ' '");
        assert_has(&errors, "variables[2].defaultValue: must not be empty");
        assert_has(&errors, "variables[2].description: is 201 characters long; the limit is 200");
    }

    #[test]
    fn version_and_blockers() {
        let errors = errors_of(with(valid_v1(), |p| {
            p["version"] = json!(0);
            p["stages"][1]["blockers"] = json!([{"name": "b", "type": "Calendar"}]);
        }));
        assert_has(&errors, "version: is 0; versions start at 1");
        assert_has(&errors, "stages[1].blockers[0].type: \"Calendar\" is not a blocker type");
    }
}
