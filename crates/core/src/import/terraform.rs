//! `terraform show -json` output (state or plan) → the `aws_codepipeline` resources as API
//! declarations, and `aws_codebuild_project` resources as projects (docs/import.md,
//! "Terraform"). Terraform's blocks are lists of objects in snake_case; the API is camelCase.

use serde_json::{Map as JsonMap, Value};

use super::{ImportError, ImportedPipeline};
use crate::build_project::{BuildProject, BuildVariable, BuildspecSource, VariableType};
use crate::declaration::PipelineDeclaration;

/// Every `aws_codepipeline` in the root module and its child modules.
pub fn import(text: &str, origin: &str) -> Result<Vec<ImportedPipeline>, ImportError> {
    let document: Value = serde_json::from_str(text).map_err(|e| ImportError::Syntax {
        line: e.line(),
        column: e.column(),
        message: e.to_string(),
    })?;
    let root = document
        .get("values")
        .or_else(|| document.get("planned_values"))
        .and_then(|v| v.get("root_module"))
        .ok_or_else(|| ImportError::NotAPipeline(format!("{origin} is Terraform JSON without values.root_module")))?;
    let mut resources = Vec::new();
    collect(root, &mut resources, 0);
    let projects: Vec<BuildProject> = resources
        .iter()
        .filter(|r| r.get("type").and_then(Value::as_str) == Some("aws_codebuild_project"))
        .filter_map(|r| project(r, origin))
        .collect();
    let mut pipelines = Vec::new();
    for resource in resources.iter().filter(|r| r.get("type").and_then(Value::as_str) == Some("aws_codepipeline")) {
        let address = resource.get("address").and_then(Value::as_str).unwrap_or("aws_codepipeline").to_string();
        let values = resource.get("values").cloned().unwrap_or(Value::Null);
        let declaration = pipeline(&values).map_err(|message| ImportError::template(address.clone(), message))?;
        let tags = values
            .get("tags")
            .and_then(Value::as_object)
            .map(|tags| {
                tags.iter()
                    .map(|(k, v)| super::Tag { key: k.clone(), value: v.as_str().unwrap_or_default().to_string() })
                    .collect()
            })
            .unwrap_or_default();
        pipelines.push(ImportedPipeline {
            logical_id: address,
            stack_name: String::new(),
            declaration,
            tags,
            disabled_transitions: Vec::new(),
            restart_execution_on_update: false,
            projects: projects.clone(),
            placeholders: Vec::new(),
            empty_defaults: Vec::new(),
            warnings: Vec::new(),
        });
    }
    Ok(pipelines)
}

fn collect<'a>(module: &'a Value, out: &mut Vec<&'a Value>, depth: usize) {
    if depth > 32 {
        return;
    }
    out.extend(module.get("resources").and_then(Value::as_array).into_iter().flatten());
    for child in module.get("child_modules").and_then(Value::as_array).into_iter().flatten() {
        collect(child, out, depth + 1);
    }
}

/// `stage` blocks become `stages`, `action` blocks `actions`, `artifact_store` one
/// `artifactStore` (or `artifactStores` by region when the blocks name regions).
fn pipeline(values: &Value) -> Result<PipelineDeclaration, String> {
    let mut out = JsonMap::new();
    let text = |v: &Value, key: &str| v.get(key).and_then(Value::as_str).filter(|s| !s.is_empty()).map(str::to_string);
    out.insert("name".into(), Value::from(text(values, "name").unwrap_or_default()));
    out.insert("roleArn".into(), Value::from(text(values, "role_arn").unwrap_or_default()));
    let stores: Vec<&Value> = values.get("artifact_store").and_then(Value::as_array).into_iter().flatten().collect();
    let store = |s: &Value| {
        let mut store = JsonMap::new();
        store.insert("type".into(), Value::from(text(s, "type").unwrap_or_else(|| "S3".into())));
        store.insert("location".into(), Value::from(text(s, "location").unwrap_or_default()));
        if let Some(key) = s.get("encryption_key").and_then(Value::as_array).and_then(|k| k.first()) {
            store.insert(
                "encryptionKey".into(),
                serde_json::json!({"id": text(key, "id").unwrap_or_default(), "type": text(key, "type").unwrap_or_else(|| "KMS".into())}),
            );
        }
        Value::Object(store)
    };
    if stores.iter().any(|s| text(s, "region").is_some()) {
        let map: JsonMap<String, Value> =
            stores.iter().map(|s| (text(s, "region").unwrap_or_default(), store(s))).collect();
        out.insert("artifactStores".into(), Value::Object(map));
    } else if let Some(first) = stores.first() {
        out.insert("artifactStore".into(), store(first));
    }
    for (tf, api) in [("pipeline_type", "pipelineType"), ("execution_mode", "executionMode")] {
        if let Some(value) = text(values, tf) {
            out.insert(api.into(), Value::from(value));
        }
    }
    if let Some(variables) = values.get("variable").and_then(Value::as_array).filter(|v| !v.is_empty()) {
        out.insert("variables".into(), Value::Array(variables.iter().map(camel_object).collect()));
    }
    if let Some(triggers) = values.get("trigger").and_then(Value::as_array).filter(|v| !v.is_empty()) {
        out.insert("triggers".into(), Value::Array(triggers.iter().map(trigger).collect()));
    }
    let mut stages = Vec::new();
    for stage in values.get("stage").and_then(Value::as_array).into_iter().flatten() {
        let mut actions = Vec::new();
        for action in stage.get("action").and_then(Value::as_array).into_iter().flatten() {
            let mut a = JsonMap::new();
            a.insert("name".into(), Value::from(text(action, "name").unwrap_or_default()));
            a.insert(
                "actionTypeId".into(),
                serde_json::json!({
                    "category": text(action, "category").unwrap_or_default(),
                    "owner": text(action, "owner").unwrap_or_default(),
                    "provider": text(action, "provider").unwrap_or_default(),
                    "version": text(action, "version").unwrap_or_default(),
                }),
            );
            if let Some(order) = action.get("run_order").and_then(Value::as_i64).filter(|o| *o > 0) {
                a.insert("runOrder".into(), Value::from(order));
            }
            if let Some(config) = action.get("configuration").and_then(Value::as_object).filter(|c| !c.is_empty()) {
                let config: JsonMap<String, Value> = config
                    .iter()
                    .filter(|(_, v)| !v.is_null())
                    .map(|(k, v)| (k.clone(), Value::from(v.as_str().map_or_else(|| v.to_string(), str::to_string))))
                    .collect();
                a.insert("configuration".into(), Value::Object(config));
            }
            for (tf, api) in [("input_artifacts", "inputArtifacts"), ("output_artifacts", "outputArtifacts")] {
                if let Some(names) = action.get(tf).and_then(Value::as_array).filter(|n| !n.is_empty()) {
                    let names: Vec<Value> = names.iter().map(|n| serde_json::json!({"name": n})).collect();
                    a.insert(api.into(), Value::Array(names));
                }
            }
            for (tf, api) in [("region", "region"), ("namespace", "namespace"), ("role_arn", "roleArn")] {
                if let Some(value) = text(action, tf) {
                    a.insert(api.into(), Value::from(value));
                }
            }
            // Terraform reports an unset timeout as 0.
            if let Some(minutes) = action.get("timeout_in_minutes").and_then(Value::as_i64).filter(|m| *m > 0) {
                a.insert("timeoutInMinutes".into(), Value::from(minutes));
            }
            actions.push(Value::Object(a));
        }
        stages.push(serde_json::json!({"name": text(stage, "name").unwrap_or_default(), "actions": actions}));
    }
    out.insert("stages".into(), Value::Array(stages));
    serde_path_to_error::deserialize(Value::Object(out)).map_err(|e| format!("{}: {}", e.path(), e.inner()))
}

/// A Terraform block as the API's object: keys to camelCase, one-element block lists to
/// objects, nulls and empty lists dropped.
fn camel_object(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(_, v)| !v.is_null() && v.as_array().is_none_or(|a| !a.is_empty()))
                .map(|(k, v)| {
                    let mut parts = k.split('_');
                    let first = parts.next().unwrap_or_default().to_string();
                    let key = parts.fold(first, |acc, p| {
                        let mut chars = p.chars();
                        acc + &chars.next().map(|c| c.to_ascii_uppercase().to_string()).unwrap_or_default()
                            + chars.as_str()
                    });
                    (key, camel_object(v))
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(camel_object).collect()),
        other => other.clone(),
    }
}

/// Terraform nests `git_configuration`, `branches`, `file_paths` and `tags` as one-element
/// lists where the API has objects.
fn trigger(value: &Value) -> Value {
    fn single(value: Value) -> Value {
        match value {
            Value::Object(map) => Value::Object(
                map.into_iter()
                    .map(|(k, v)| {
                        let v = match (k.as_str(), v) {
                            ("gitConfiguration" | "branches" | "filePaths" | "tags", Value::Array(mut items))
                                if items.len() == 1 =>
                            {
                                single(items.remove(0))
                            }
                            (_, Value::Array(items)) => Value::Array(items.into_iter().map(single).collect()),
                            (_, other) => single(other),
                        };
                        (k, v)
                    })
                    .collect(),
            ),
            other => other,
        }
    }
    single(camel_object(value))
}

fn project(resource: &Value, origin: &str) -> Option<BuildProject> {
    let values = resource.get("values")?;
    let name = values.get("name")?.as_str()?.to_string();
    let source = values.get("source").and_then(Value::as_array).and_then(|s| s.first());
    let buildspec = source
        .and_then(|s| s.get("buildspec"))
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map_or(BuildspecSource::Default, BuildspecSource::classify);
    let environment = values.get("environment").and_then(Value::as_array).and_then(|e| e.first());
    let environment_variables = environment
        .and_then(|e| e.get("environment_variable"))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|v| {
            Some(BuildVariable {
                name: v.get("name")?.as_str()?.to_string(),
                value: v.get("value")?.as_str()?.to_string(),
                kind: match v.get("type").and_then(Value::as_str) {
                    Some("PARAMETER_STORE") => VariableType::ParameterStore,
                    Some("SECRETS_MANAGER") => VariableType::SecretsManager,
                    _ => VariableType::Plaintext,
                },
            })
        })
        .collect();
    Some(BuildProject {
        name,
        buildspec,
        environment_variables,
        timeout_in_minutes: values.get("build_timeout").and_then(Value::as_u64).and_then(|m| u32::try_from(m).ok()),
        image: environment.and_then(|e| e.get("image")).and_then(Value::as_str).map(str::to_string),
        origin: Some(format!("{origin}: {}", resource.get("address").and_then(Value::as_str).unwrap_or_default())),
    })
}
