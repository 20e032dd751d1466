//! `AWS::CodePipeline::Pipeline` properties (resolved) → the API's `PipelineDeclaration`
//! (docs/import.md, "Property mapping"), as CloudFormation maps them — not by case alone:
//! `ArtifactStores` is a list in a template and a map in the API; `Configuration` values
//! become strings (a `Configuration` given as one JSON string is read first); `RunOrder` and
//! `TimeoutInMinutes` become integers and every other scalar a string; `Name` may be absent;
//! `DisableInboundStageTransitions`, `RestartExecutionOnUpdate` and `Tags` are not part of the
//! declaration and are returned beside it.

use serde::{Deserialize, Serialize};
use serde_json::{Map as JsonMap, Value};

use super::ImportError;
use super::node::Node;
use crate::declaration::PipelineDeclaration;

/// An inbound transition the template disables.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DisabledTransition {
    pub stage_name: String,
    pub reason: String,
}

/// A pipeline tag (CreatePipeline's `tags`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tag {
    pub key: String,
    pub value: String,
}

/// What the pipeline resource gives.
#[derive(Debug, Clone, PartialEq)]
pub struct Mapped {
    pub declaration: PipelineDeclaration,
    pub disabled_transitions: Vec<DisabledTransition>,
    pub restart_execution_on_update: bool,
    pub tags: Vec<Tag>,
}

const PROPERTIES: &[&str] = &[
    "Name",
    "RoleArn",
    "ArtifactStore",
    "ArtifactStores",
    "Stages",
    "PipelineType",
    "ExecutionMode",
    "Variables",
    "Triggers",
    "DisableInboundStageTransitions",
    "RestartExecutionOnUpdate",
    "Tags",
];

/// Maps the resolved `properties` of pipeline `logical_id`; `name` is the physical name.
pub fn pipeline(logical_id: &str, properties: &Node, name: &str) -> Result<Mapped, ImportError> {
    let Some(map) = properties.as_map() else {
        return Err(ImportError::template(logical_id, "its Properties are not a map"));
    };
    let mut declaration = JsonMap::new();
    let mut disabled_transitions = Vec::new();
    let mut restart_execution_on_update = false;
    let mut tags = Vec::new();
    for (key, value) in map {
        let at = format!("{logical_id}.{key}");
        match key.as_str() {
            "Name" => {}
            "ArtifactStores" => {
                let mut stores = JsonMap::new();
                for (i, entry) in value.as_list().unwrap_or_default().iter().enumerate() {
                    let region = entry.get("Region").and_then(Node::scalar_text).ok_or_else(|| {
                        ImportError::template(format!("{at}[{i}].Region"), "is required: the region of this store")
                    })?;
                    let store = entry
                        .get("ArtifactStore")
                        .ok_or_else(|| ImportError::template(format!("{at}[{i}].ArtifactStore"), "is required"))?;
                    stores.insert(region, convert(store, &format!("{at}[{i}].ArtifactStore"), None)?);
                }
                declaration.insert("artifactStores".into(), Value::Object(stores));
            }
            "DisableInboundStageTransitions" => {
                for (i, entry) in value.as_list().unwrap_or_default().iter().enumerate() {
                    let field = |name: &str| {
                        entry
                            .get(name)
                            .and_then(Node::scalar_text)
                            .ok_or_else(|| ImportError::template(format!("{at}[{i}].{name}"), "is required"))
                    };
                    disabled_transitions
                        .push(DisabledTransition { stage_name: field("StageName")?, reason: field("Reason")? });
                }
            }
            "RestartExecutionOnUpdate" => {
                restart_execution_on_update = match value {
                    Node::Bool(flag) => *flag,
                    other => other.scalar_text().is_some_and(|t| t.eq_ignore_ascii_case("true")),
                };
            }
            "Tags" => {
                for (i, entry) in value.as_list().unwrap_or_default().iter().enumerate() {
                    let field = |name: &str| {
                        entry
                            .get(name)
                            .and_then(Node::scalar_text)
                            .ok_or_else(|| ImportError::template(format!("{at}[{i}].{name}"), "is required"))
                    };
                    tags.push(Tag { key: field("Key")?, value: field("Value")? });
                }
            }
            other if PROPERTIES.contains(&other) => {
                declaration.insert(camel(other), convert(value, &at, Some(other))?);
            }
            other => {
                return Err(ImportError::template(
                    at,
                    format!(
                        "\"{other}\" is not a property of AWS::CodePipeline::Pipeline (its properties: {})",
                        PROPERTIES.join(", ")
                    ),
                ));
            }
        }
    }
    declaration.insert("name".into(), Value::String(name.to_string()));
    let declaration: PipelineDeclaration =
        serde_path_to_error::deserialize(Value::Object(declaration)).map_err(|e| {
            ImportError::template(format!("{logical_id}.{}", pascal_path(&e.path().to_string())), e.inner().to_string())
        })?;
    Ok(Mapped { declaration, disabled_transitions, restart_execution_on_update, tags })
}

/// `RunOrder` → `runOrder`: the API's name of a template property.
fn camel(key: &str) -> String {
    let mut chars = key.chars();
    match chars.next() {
        Some(first) => first.to_ascii_lowercase().to_string() + chars.as_str(),
        None => String::new(),
    }
}

/// `stages[0].actions[1].runOrder` → `Stages[0].Actions[1].RunOrder`, for messages that
/// point into the template.
fn pascal_path(path: &str) -> String {
    path.split('.')
        .map(|part| {
            let mut chars = part.chars();
            match chars.next() {
                Some(first) => first.to_ascii_uppercase().to_string() + chars.as_str(),
                None => String::new(),
            }
        })
        .collect::<Vec<_>>()
        .join(".")
}

/// Converts a template value under property `key` into the API's JSON.
fn convert(node: &Node, at: &str, key: Option<&str>) -> Result<Value, ImportError> {
    if key == Some("Configuration") {
        return configuration(node, at);
    }
    Ok(match node {
        Node::Map(map) => {
            let mut out = JsonMap::new();
            for (k, v) in map {
                out.insert(camel(k), convert(v, &format!("{at}.{k}"), Some(k))?);
            }
            Value::Object(out)
        }
        Node::List(items) => Value::Array(
            items
                .iter()
                .enumerate()
                .map(|(i, item)| convert(item, &format!("{at}[{i}]"), None))
                .collect::<Result<_, _>>()?,
        ),
        Node::Null => Value::Null,
        scalar if matches!(key, Some("RunOrder" | "TimeoutInMinutes")) => {
            let text = scalar.scalar_text().unwrap_or_default();
            match text.trim().parse::<i64>() {
                Ok(number) => Value::from(number),
                Err(_) => return Err(ImportError::template(at, format!("\"{text}\" is not an integer"))),
            }
        }
        scalar => Value::String(scalar.scalar_text().unwrap_or_default()),
    })
}

/// `Configuration`: a map of simple values (each becomes its string), or one JSON string
/// holding such a map. Nested objects and arrays are refused, as CloudFormation refuses
/// them.
fn configuration(node: &Node, at: &str) -> Result<Value, ImportError> {
    let parsed;
    let map = match node {
        Node::Map(map) => map,
        Node::String(text) => {
            parsed = super::node::from_json_text(text)
                .map_err(|e| ImportError::template(at, format!("is a string but not a JSON object: {e}")))?;
            parsed.as_map().ok_or_else(|| ImportError::template(at, "is a string but not a JSON object"))?
        }
        other => {
            return Err(ImportError::template(
                at,
                format!("must be a map of configuration keys; it is {}", other.kind()),
            ));
        }
    };
    let mut out = JsonMap::new();
    for (key, value) in map {
        let text = match value {
            Node::String(_) | Node::Number(_) | Node::Bool(_) => value.scalar_text().unwrap_or_default(),
            Node::Null => return Err(ImportError::template(format!("{at}.{key}"), "is null; give a string")),
            Node::List(_) | Node::Map(_) => {
                return Err(ImportError::template(
                    format!("{at}.{key}"),
                    "is a nested value; Configuration must be an object with string (or simple type) properties, so encode it as a JSON string",
                ));
            }
        };
        out.insert(key.clone(), Value::String(text));
    }
    Ok(Value::Object(out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::import::yaml;

    fn mapped(properties: &str) -> Result<Mapped, ImportError> {
        pipeline("Pipeline", &yaml::read(properties).unwrap(), "stack-Pipeline")
    }

    const STAGES: &str = r#"
Stages:
  - Name: Source
    Actions:
      - Name: Src
        ActionTypeId: {Category: Source, Owner: AWS, Provider: S3, Version: 1}
        Configuration: {S3Bucket: b, S3ObjectKey: k.zip, PollForSourceChanges: false}
        OutputArtifacts: [{Name: Out}]
        RunOrder: '1'
  - Name: Deploy
    Actions:
      - Name: Put
        ActionTypeId: {Category: Deploy, Owner: AWS, Provider: S3, Version: '1'}
        Configuration: '{"BucketName": "site", "Extract": true}'
        InputArtifacts: [{Name: Out}]
"#;

    #[test]
    fn properties_map_to_the_api_shape() {
        let text = format!(
            "RoleArn: arn:aws:iam::123456789012:role/r\nArtifactStores:\n  - Region: eu-west-1\n    ArtifactStore: {{Type: S3, Location: b-eu}}\n  - Region: us-east-1\n    ArtifactStore: {{Type: S3, Location: b-us, EncryptionKey: {{Id: k, Type: KMS}}}}\nRestartExecutionOnUpdate: true\nDisableInboundStageTransitions: [{{StageName: Deploy, Reason: Freeze}}]\nTags: [{{Key: team, Value: web}}]\n{STAGES}"
        );
        let mapped = mapped(&text).unwrap();
        let json = serde_json::to_value(&mapped.declaration).unwrap();
        assert_eq!(json["name"], "stack-Pipeline");
        assert_eq!(json["artifactStores"]["us-east-1"]["encryptionKey"]["type"], "KMS");
        assert_eq!(json["artifactStores"]["eu-west-1"]["location"], "b-eu");
        let source = &json["stages"][0]["actions"][0];
        assert_eq!(source["actionTypeId"]["version"], "1");
        assert_eq!(source["runOrder"], 1);
        assert_eq!(source["configuration"]["PollForSourceChanges"], "false");
        assert_eq!(json["stages"][1]["actions"][0]["configuration"]["Extract"], "true");
        assert!(mapped.restart_execution_on_update);
        assert_eq!(
            mapped.disabled_transitions,
            vec![DisabledTransition { stage_name: "Deploy".into(), reason: "Freeze".into() }]
        );
        assert_eq!(mapped.tags, vec![Tag { key: "team".into(), value: "web".into() }]);
    }

    #[test]
    fn nested_configuration_values_and_unknown_properties_are_refused() {
        let error = mapped(&format!("RoleArn: r\n{}", STAGES.replace("S3Bucket: b", "S3Bucket: {x: 1}"))).unwrap_err();
        assert!(error.to_string().contains("Pipeline.Stages[0].Actions[0].Configuration.S3Bucket"), "{error}");
        let error = mapped(&format!("RoleArn: r\nFoo: 1\n{STAGES}")).unwrap_err();
        assert!(error.to_string().contains("\"Foo\" is not a property"), "{error}");
        let error = mapped(&format!("RoleArn: r\n{}", STAGES.replace("RunOrder: '1'", "Runorder: 1"))).unwrap_err();
        assert!(error.to_string().contains("Stages[0].Actions[0].Runorder"), "{error}");
    }
}
