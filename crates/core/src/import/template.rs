//! The sections of a CloudFormation template, as the importer uses them: parameters,
//! mappings, conditions and resources. Properties stay unresolved [`Node`]s; they are
//! resolved lazily, only what a pipeline or a CodeBuild project needs.

use indexmap::IndexMap;

use super::ImportError;
use super::node::{Map, Node};

/// A declared template parameter.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ParameterSpec {
    /// `String`, `Number`, `CommaDelimitedList`, `List<Number>`, `AWS::EC2::VPC::Id`,
    /// `AWS::SSM::Parameter::Value<String>`, …
    pub type_name: String,
    pub default: Option<String>,
    pub allowed_values: Vec<String>,
    pub allowed_pattern: Option<String>,
    pub min_length: Option<usize>,
    pub max_length: Option<usize>,
    pub min_value: Option<f64>,
    pub max_value: Option<f64>,
    pub no_echo: bool,
}

impl ParameterSpec {
    /// `Ref` gives a list for list types (each element a string).
    pub fn is_list(&self) -> bool {
        let inner = self.ssm_inner().unwrap_or(&self.type_name);
        inner == "CommaDelimitedList" || inner.starts_with("List<")
    }

    /// The `T` of `AWS::SSM::Parameter::Value<T>`: the value is resolved by CloudFormation
    /// from Parameter Store at deploy time, so it cannot be known offline.
    pub fn ssm_inner(&self) -> Option<&str> {
        self.type_name.strip_prefix("AWS::SSM::Parameter::Value<").and_then(|rest| rest.strip_suffix('>'))
    }

    pub fn is_number(&self) -> bool {
        self.type_name == "Number"
    }
}

/// A resource: its type, its properties (unresolved) and its condition.
#[derive(Debug, Clone, PartialEq)]
pub struct Resource {
    pub resource_type: String,
    pub properties: Node,
    pub condition: Option<String>,
}

/// A parsed template.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Template {
    pub transforms: Vec<String>,
    pub parameters: IndexMap<String, ParameterSpec>,
    pub mappings: Map,
    pub conditions: Map,
    pub resources: IndexMap<String, Resource>,
}

pub const PIPELINE_TYPE: &str = "AWS::CodePipeline::Pipeline";
pub const PROJECT_TYPE: &str = "AWS::CodeBuild::Project";

impl Template {
    /// The template in `root` (a map with `Resources`).
    pub fn from_node(root: &Node) -> Result<Template, ImportError> {
        let Some(top) = root.as_map() else {
            return Err(ImportError::template("the template", "is not a map of sections"));
        };
        let mut template = Template::default();
        match top.get("Transform") {
            Some(Node::String(name)) => template.transforms.push(name.clone()),
            Some(Node::List(names)) => template.transforms.extend(names.iter().filter_map(Node::scalar_text)),
            _ => {}
        }
        if let Some(parameters) = top.get("Parameters").and_then(Node::as_map) {
            for (name, spec) in parameters {
                template.parameters.insert(name.clone(), parameter(name, spec)?);
            }
        }
        template.mappings = section(top, "Mappings");
        template.conditions = section(top, "Conditions");
        let Some(resources) = top.get("Resources").and_then(Node::as_map) else {
            return Err(ImportError::template("Resources", "is missing: a template declares its resources there"));
        };
        for (logical_id, resource) in resources {
            let resource_type = resource.get("Type").and_then(Node::as_str).ok_or_else(|| {
                ImportError::template(format!("Resources.{logical_id}.Type"), "is missing or not a string")
            })?;
            let condition = match resource.get("Condition") {
                None => None,
                Some(Node::String(name)) => Some(name.clone()),
                Some(other) => {
                    return Err(ImportError::template(
                        format!("Resources.{logical_id}.Condition"),
                        format!("is {}; it names a condition", other.kind()),
                    ));
                }
            };
            template.resources.insert(
                logical_id.clone(),
                Resource {
                    resource_type: resource_type.to_string(),
                    properties: resource.get("Properties").cloned().unwrap_or(Node::Map(Map::new())),
                    condition,
                },
            );
        }
        Ok(template)
    }

    /// Logical ids of the resources of `resource_type`, in template order.
    pub fn of_type<'a>(&'a self, resource_type: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.resources.iter().filter(move |(_, r)| r.resource_type == resource_type).map(|(id, _)| id.as_str())
    }
}

fn section(top: &Map, name: &str) -> Map {
    top.get(name).and_then(Node::as_map).cloned().unwrap_or_default()
}

fn parameter(name: &str, spec: &Node) -> Result<ParameterSpec, ImportError> {
    let at = |field: &str| format!("Parameters.{name}.{field}");
    let Some(map) = spec.as_map() else {
        return Err(ImportError::template(format!("Parameters.{name}"), "is not a map"));
    };
    let text = |field: &str| map.get(field).and_then(Node::scalar_text);
    let number = |field: &str| -> Result<Option<f64>, ImportError> {
        match text(field) {
            None => Ok(None),
            Some(value) => value
                .parse::<f64>()
                .map(Some)
                .map_err(|_| ImportError::template(at(field), format!("\"{value}\" is not a number"))),
        }
    };
    let default = match map.get("Default") {
        Some(Node::List(items)) => Some(items.iter().filter_map(Node::scalar_text).collect::<Vec<_>>().join(",")),
        Some(node) => node.scalar_text(),
        None => None,
    };
    Ok(ParameterSpec {
        type_name: text("Type").unwrap_or_else(|| "String".to_string()),
        default,
        allowed_values: map
            .get("AllowedValues")
            .and_then(Node::as_list)
            .map(|items| items.iter().filter_map(Node::scalar_text).collect())
            .unwrap_or_default(),
        allowed_pattern: text("AllowedPattern"),
        min_length: number("MinLength")?.map(|n| n as usize),
        max_length: number("MaxLength")?.map(|n| n as usize),
        min_value: number("MinValue")?,
        max_value: number("MaxValue")?,
        no_echo: matches!(map.get("NoEcho"), Some(Node::Bool(true))) || text("NoEcho").as_deref() == Some("true"),
    })
}
