//! Offline evaluation of intrinsic functions (docs/import.md, "Intrinsic functions"):
//! parameters, pseudo parameters, conditions, `Ref`, `Fn::GetAtt`, `Fn::Sub`, `Fn::Join`,
//! `Fn::If` (with `AWS::NoValue` dropping list elements and map keys), `Fn::FindInMap`,
//! `Fn::Select`, `Fn::Split`, `Fn::Base64`, `Fn::GetAZs`, `Fn::Cidr`, `Fn::Length`,
//! `Fn::ToJsonString`; `Fn::ImportValue`, `Fn::GetStackOutput`, `Fn::Transform` and
//! `{{resolve:…}}` take a `--value` or a recorded placeholder.
//!
//! Work is bounded: the recursion depth, the number of evaluation steps and the size of a
//! produced string are capped, and cycles (conditions, names that refer to each other
//! through `Fn::Sub`) are reported with their path, so hostile input ends in an error fast.

use crate::artifact_access::partition;
use std::collections::HashMap;

use base64::Engine as _;
use indexmap::IndexMap;

use super::node::{Map, Node};
use super::parameters::{ParameterValue, Value};
use super::placeholders::{self, Account, PlaceholderKind, Registry};
use super::resources::{self, Described};
use super::template::Template;
use super::{ImportError, Options};

const MAX_DEPTH: usize = 200;
const MAX_STEPS: u64 = 200_000;
const MAX_TEXT: usize = 1 << 20;
/// The text all intrinsics of one import may produce together.
const MAX_BUILT: usize = 64 << 20;

/// Evaluates the template's values for one import.
pub struct Resolver<'t> {
    template: &'t Template,
    parameters: &'t IndexMap<String, ParameterValue>,
    options: &'t Options,
    account: String,
    region: String,
    partition: String,
    conditions: HashMap<String, bool>,
    evaluating: Vec<String>,
    names: HashMap<String, String>,
    naming: Vec<String>,
    steps: u64,
    pub registry: Registry,
    /// Parameters left at an empty `Default`, in first-use order, and where they are used.
    pub empty_defaults: IndexMap<String, Vec<String>>,
    /// The list items `AWS::NoValue` dropped: (the list's path, the item's index in the
    /// template), for telling a template path from the declaration's.
    pub dropped: std::collections::BTreeSet<(String, usize)>,
    /// The bytes of text the intrinsics produced so far (`charge`).
    built: usize,
    pub warnings: Vec<String>,
}

/// Whether a transform is `AWS::Include`, whose snippet `--value <Location>=…` gives.
fn is_include(arg: &Node) -> bool {
    arg.get("Name").and_then(Node::scalar_text).as_deref() == Some("AWS::Include")
}

/// What names a transform's output for `--value`: an include's `Location`, else the macro's
/// name.
fn transform_location(arg: &Node) -> String {
    arg.get("Parameters")
        .and_then(|p| p.get("Location"))
        .and_then(Node::scalar_text)
        .or_else(|| arg.get("Name").and_then(Node::scalar_text))
        .unwrap_or_else(|| "Fn::Transform".to_string())
}

/// A resolved value; `None` is `AWS::NoValue`.
pub type Resolved = Option<Node>;

impl<'t> Resolver<'t> {
    pub fn new(template: &'t Template, parameters: &'t IndexMap<String, ParameterValue>, options: &'t Options) -> Self {
        // `--value AWS::AccountId=…` / `AWS::Region=…` win over the import's defaults.
        let account = options.values.get("AWS::AccountId").unwrap_or(&options.account).clone();
        let region = options.values.get("AWS::Region").unwrap_or(&options.region).clone();
        Resolver {
            template,
            parameters,
            options,
            partition: partition(&region).to_string(),
            account,
            region,
            conditions: HashMap::new(),
            evaluating: Vec::new(),
            names: HashMap::new(),
            naming: Vec::new(),
            steps: 0,
            registry: Registry::default(),
            empty_defaults: IndexMap::new(),
            dropped: std::collections::BTreeSet::new(),
            built: 0,
            warnings: Vec::new(),
        }
    }

    pub fn account(&self) -> Account<'_> {
        Account { account: &self.account, region: &self.region, partition: &self.partition }
    }

    fn warn(&mut self, message: String) {
        if !self.warnings.contains(&message) {
            self.warnings.push(message);
        }
    }

    /// Whether resource `logical_id` is created (its `Condition`, if any, is true).
    pub fn is_created(&mut self, logical_id: &str) -> Result<bool, ImportError> {
        match self.template.resources.get(logical_id).and_then(|r| r.condition.clone()) {
            Some(condition) => self.condition(&condition, &format!("{logical_id}.Condition")),
            None => Ok(true),
        }
    }

    /// The value of condition `name`.
    pub fn condition(&mut self, name: &str, path: &str) -> Result<bool, ImportError> {
        if let Some(value) = self.conditions.get(name) {
            return Ok(*value);
        }
        if self.evaluating.iter().any(|n| n == name) {
            let mut cycle = self.evaluating.clone();
            cycle.push(name.to_string());
            return Err(ImportError::limit(format!(
                "the conditions refer to each other in a cycle: {}",
                cycle.join(" → ")
            )));
        }
        let template = self.template;
        let Some(definition) = template.conditions.get(name) else {
            return Err(ImportError::template(path, format!("condition \"{name}\" is not declared in Conditions")));
        };
        self.evaluating.push(name.to_string());
        let value = self.truth(definition, &format!("Conditions.{name}"), 0);
        self.evaluating.pop();
        let value = value?;
        self.conditions.insert(name.to_string(), value);
        Ok(value)
    }

    fn truth(&mut self, node: &Node, path: &str, depth: usize) -> Result<bool, ImportError> {
        self.step(path, depth)?;
        if let Some((function, arg)) = node.intrinsic() {
            match function {
                "Fn::Equals" => {
                    let items = args(arg, 2, 2, function, path)?;
                    let a = self.resolve(&items[0], path, depth + 1)?;
                    let b = self.resolve(&items[1], path, depth + 1)?;
                    return Ok(comparable(&a) == comparable(&b));
                }
                "Fn::Not" => {
                    let items = args(arg, 1, 1, function, path)?;
                    return Ok(!self.truth(&items[0], path, depth + 1)?);
                }
                "Fn::And" | "Fn::Or" => {
                    let items = args(arg, 2, 10, function, path)?;
                    let mut values = Vec::new();
                    for item in items {
                        values.push(self.truth(item, path, depth + 1)?);
                    }
                    return Ok(if function == "Fn::And" {
                        values.iter().all(|v| *v)
                    } else {
                        values.iter().any(|v| *v)
                    });
                }
                "Condition" => {
                    let name = arg
                        .as_str()
                        .ok_or_else(|| ImportError::template(path, "Condition takes the name of a condition"))?;
                    return self.condition(name, path);
                }
                _ => {}
            }
        }
        match self.resolve(node, path, depth + 1)? {
            Some(Node::Bool(value)) => Ok(value),
            Some(Node::String(text)) if text == "true" || text == "false" => Ok(text == "true"),
            other => Err(ImportError::template(
                path,
                format!(
                    "a condition must be true or false; this is {}",
                    other.as_ref().map_or("AWS::NoValue", Node::kind)
                ),
            )),
        }
    }

    fn step(&mut self, path: &str, depth: usize) -> Result<(), ImportError> {
        self.steps += 1;
        if self.steps > MAX_STEPS {
            return Err(ImportError::limit(format!(
                "{path}: the template needs more than {MAX_STEPS} evaluation steps; it is refused as too complex"
            )));
        }
        if depth > MAX_DEPTH {
            return Err(ImportError::limit(format!("{path}: intrinsic functions nest deeper than {MAX_DEPTH} levels")));
        }
        Ok(())
    }

    /// Resolves every intrinsic in `node`. `path` says where `node` is, for messages and
    /// for recording where placeholders are used.
    pub fn resolve(&mut self, node: &Node, path: &str, depth: usize) -> Result<Resolved, ImportError> {
        self.step(path, depth)?;
        if let Some((function, arg)) = node.intrinsic() {
            let value = self.call(function, arg, path, depth)?;
            if let Some(value) = &value {
                self.charge(value, path)?;
            }
            return Ok(value);
        }
        Ok(Some(match node {
            Node::String(text) => Node::String(self.dynamic_references(text, path)),
            Node::List(items) => {
                let mut out = Vec::with_capacity(items.len());
                for (i, item) in items.iter().enumerate() {
                    match self.resolve(item, &format!("{path}[{i}]"), depth + 1)? {
                        Some(value) => out.push(value),
                        // A set: a resource's name is resolved twice (its name, then its
                        // properties), and each drop counts once.
                        None => {
                            self.dropped.insert((path.to_string(), i));
                        }
                    }
                }
                Node::List(out)
            }
            Node::Map(map) => {
                let mut out = Map::new();
                for (key, value) in map {
                    if key == "Fn::Transform" {
                        continue;
                    }
                    if let Some(value) = self.resolve(value, &join_path(path, key), depth + 1)? {
                        out.insert(key.clone(), value);
                    }
                }
                if let Some(transform) = map.get("Fn::Transform") {
                    self.merge_transform(transform, &mut out, path, depth)?;
                }
                Node::Map(out)
            }
            other => other.clone(),
        }))
    }

    /// `Fn::Transform` beside other keys (`{Name: Build, Fn::Transform: {Name: AWS::Include,
    /// …}}`): the snippet is an object whose keys join the others; a key the object names
    /// itself keeps its own value.
    fn merge_transform(
        &mut self,
        transform: &Node,
        out: &mut Map,
        path: &str,
        depth: usize,
    ) -> Result<(), ImportError> {
        let at = join_path(path, "Fn::Transform");
        let location = transform_location(transform);
        let include = is_include(transform);
        let Some(snippet) = self.options.values.get(&location).filter(|_| include) else {
            let what = if include { "the snippet" } else { "the macro's output" };
            return Err(ImportError::template(
                path,
                format!(
                    "part of it comes from Fn::Transform {location}, which cannot be read offline; give {what} with --value '{location}=<its YAML or JSON>'"
                ),
            ));
        };
        self.check_size(snippet, &at)?;
        let parsed = super::read_template(snippet)
            .map_err(|e| ImportError::template(&at, format!("--value {location}: {e}")))?;
        let Node::Map(snippet) = parsed else {
            return Err(ImportError::template(
                &at,
                format!("the snippet is {}; beside other keys it must be an object", parsed.kind()),
            ));
        };
        // Each key the object does not name itself, resolved where it lands, so that what it
        // uses is recorded at the declaration's own paths.
        for (key, value) in snippet {
            if out.contains_key(&key) {
                continue;
            }
            if let Some(value) = self.resolve(&value, &join_path(path, &key), depth + 1)? {
                out.insert(key, value);
            }
        }
        Ok(())
    }

    fn call(&mut self, function: &str, arg: &Node, path: &str, depth: usize) -> Result<Resolved, ImportError> {
        match function {
            "Ref" => {
                let name = self.text_arg(arg, path, depth, "Ref")?;
                self.reference(&name, path, depth)
            }
            "Fn::GetAtt" => self.get_att(arg, path, depth).map(Some),
            "Fn::Sub" => self.sub(arg, path, depth).map(|text| Some(Node::String(text))),
            "Fn::Join" => {
                let items = args(arg, 2, 2, function, path)?;
                let delimiter = self.text_arg(&items[0], path, depth, function)?;
                let list = self.list(&items[1], path, depth)?;
                let mut parts = Vec::new();
                for item in list {
                    parts.push(item.scalar_text().ok_or_else(|| {
                        ImportError::template(path, format!("Fn::Join joins strings; an element is {}", item.kind()))
                    })?);
                }
                // Sized before it is built: a long delimiter between many parts is a product.
                let size = parts
                    .iter()
                    .map(String::len)
                    .fold(0usize, usize::saturating_add)
                    .saturating_add(delimiter.len().saturating_mul(parts.len().saturating_sub(1)));
                if size > MAX_TEXT {
                    return Err(ImportError::limit(format!(
                        "{path}: a value grows beyond {MAX_TEXT} bytes; it is refused"
                    )));
                }
                let text = parts.join(&delimiter);
                Ok(Some(Node::String(self.dynamic_references(&text, path))))
            }
            "Fn::If" => {
                let items = args(arg, 3, 3, function, path)?;
                let name = items[0]
                    .as_str()
                    .ok_or_else(|| ImportError::template(path, "Fn::If takes a condition name first"))?;
                let branch = if self.condition(name, path)? { &items[1] } else { &items[2] };
                self.resolve(branch, path, depth + 1)
            }
            "Fn::Equals" | "Fn::And" | "Fn::Or" | "Fn::Not" | "Condition" => {
                let node = Node::Map(Map::from([(function.to_string(), arg.clone())]));
                self.truth(&node, path, depth + 1).map(|value| Some(Node::Bool(value)))
            }
            "Fn::Select" => {
                let items = args(arg, 2, 2, function, path)?;
                let index = self.text_arg(&items[0], path, depth, function)?;
                let index: usize = index.trim().parse().map_err(|_| {
                    ImportError::template(path, format!("Fn::Select index \"{index}\" is not a number"))
                })?;
                let list = self.list(&items[1], path, depth)?;
                let len = list.len();
                list.into_iter().nth(index).map(Some).ok_or_else(|| {
                    ImportError::template(
                        path,
                        format!("Fn::Select index {index} is out of range (the list has {len})"),
                    )
                })
            }
            "Fn::Split" => {
                let items = args(arg, 2, 2, function, path)?;
                let delimiter = self.text_arg(&items[0], path, depth, function)?;
                let text = self.text_arg(&items[1], path, depth, function)?;
                if delimiter.is_empty() {
                    return Err(ImportError::template(path, "Fn::Split needs a delimiter"));
                }
                // Each item counts as a step: a list is what Fn::Join multiplies.
                let items: Vec<Node> = text.split(delimiter.as_str()).map(|s| Node::String(s.to_string())).collect();
                self.steps = self.steps.saturating_add(items.len() as u64);
                self.step(path, depth)?;
                Ok(Some(Node::List(items)))
            }
            "Fn::FindInMap" => self.find_in_map(arg, path, depth).map(Some),
            "Fn::Base64" => {
                let text = self.text_arg(arg, path, depth, function)?;
                Ok(Some(Node::String(base64::engine::general_purpose::STANDARD.encode(text))))
            }
            "Fn::GetAZs" => {
                let region = self.text_arg(arg, path, depth, function)?;
                let region = if region.is_empty() { self.region.clone() } else { region };
                Ok(Some(Node::List(["a", "b", "c"].iter().map(|z| Node::String(format!("{region}{z}"))).collect())))
            }
            "Fn::Cidr" => self.cidr(arg, path, depth).map(Some),
            "Fn::Length" => Ok(Some(Node::Number(self.list(arg, path, depth)?.len().to_string()))),
            "Fn::ToJsonString" => {
                let value = self.resolve(arg, path, depth + 1)?.unwrap_or(Node::Null);
                Ok(Some(Node::String(value.to_json().to_string())))
            }
            "Fn::ImportValue" => {
                let name = self.text_arg(arg, path, depth, function)?;
                Ok(Some(Node::String(self.unknowable(PlaceholderKind::ImportValue, &name, path))))
            }
            "Fn::GetStackOutput" => {
                let stack = arg.get("StackName").map(|n| self.text_arg(n, path, depth, function)).transpose()?;
                let output = arg.get("OutputName").map(|n| self.text_arg(n, path, depth, function)).transpose()?;
                let name = format!("{}.{}", stack.unwrap_or_default(), output.unwrap_or_default());
                Ok(Some(Node::String(self.unknowable(PlaceholderKind::StackOutput, &name, path))))
            }
            "Fn::Transform" => {
                let location = transform_location(arg);
                // An include's snippet given with --value is read as template text, and its
                // intrinsics evaluated where it stands, as CloudFormation inserts it.
                if is_include(arg)
                    && let Some(snippet) = self.options.values.get(&location)
                {
                    self.check_size(snippet, path)?;
                    if let Ok(node) = super::read_template(snippet) {
                        return self.resolve(&node, path, depth + 1);
                    }
                }
                Ok(Some(Node::String(self.unknowable(PlaceholderKind::Include, &location, path))))
            }
            other => Err(ImportError::template(path, format!("{other} is not an intrinsic function Pipewright knows"))),
        }
    }

    /// A value nobody can know offline: `--value NAME=…` or a marked placeholder.
    fn unknowable(&mut self, kind: PlaceholderKind, name: &str, path: &str) -> String {
        if let Some(value) = self.options.values.get(name) {
            return value.clone();
        }
        let value = placeholders::shaped(name, self.account());
        self.registry.record(kind, name, &value, path);
        value
    }

    /// Resolves `node` to one string (numbers and booleans as their text).
    fn text_arg(&mut self, node: &Node, path: &str, depth: usize, function: &str) -> Result<String, ImportError> {
        match self.resolve(node, path, depth + 1)? {
            Some(value) => value.scalar_text().ok_or_else(|| {
                ImportError::template(path, format!("{function} needs a string here; this is {}", value.kind()))
            }),
            None => Err(ImportError::template(path, format!("{function} needs a string here, not AWS::NoValue"))),
        }
    }

    fn list(&mut self, node: &Node, path: &str, depth: usize) -> Result<Vec<Node>, ImportError> {
        match self.resolve(node, path, depth + 1)? {
            Some(Node::List(items)) => Ok(items),
            Some(other) => Err(ImportError::template(path, format!("expected a list; this is {}", other.kind()))),
            None => Ok(Vec::new()),
        }
    }

    /// Counts what an intrinsic produced against what one import may build: a short template
    /// can hold many copies of one large value (`!FindInMap` of a 1 MiB entry, 40,000 times,
    /// in a list or a map). The template's own text is bounded by its size.
    fn charge(&mut self, value: &Node, path: &str) -> Result<(), ImportError> {
        fn text_bytes(node: &Node) -> usize {
            match node {
                Node::String(text) => text.len(),
                Node::List(items) => items.iter().map(text_bytes).fold(0, usize::saturating_add),
                Node::Map(map) => map
                    .iter()
                    .map(|(key, value)| key.len().saturating_add(text_bytes(value)))
                    .fold(0, usize::saturating_add),
                _ => 8,
            }
        }
        self.built = self.built.saturating_add(text_bytes(value));
        if self.built > MAX_BUILT {
            return Err(ImportError::limit(format!(
                "{path}: the template's values grow beyond {} MiB; it is refused",
                MAX_BUILT >> 20
            )));
        }
        Ok(())
    }

    fn check_size(&self, text: &str, path: &str) -> Result<(), ImportError> {
        if text.len() > MAX_TEXT {
            return Err(ImportError::limit(format!("{path}: a value grows beyond {MAX_TEXT} bytes; it is refused")));
        }
        Ok(())
    }

    /// `Ref name`: a pseudo parameter, a parameter, or a resource.
    fn reference(&mut self, name: &str, path: &str, depth: usize) -> Result<Resolved, ImportError> {
        if let Some(value) = self.pseudo(name) {
            return Ok(value);
        }
        if let Some(parameter) = self.parameters.get(name) {
            if let Some(kind) = parameter.placeholder {
                self.registry.record(kind, name, &parameter.text, path);
            }
            if parameter.empty_default {
                let uses = self.empty_defaults.entry(name.to_string()).or_default();
                if !uses.iter().any(|used| used == path) {
                    uses.push(path.to_string());
                }
            }
            return Ok(Some(match &parameter.value {
                Value::Text(text) => Node::String(text.clone()),
                Value::List(items) => Node::List(items.iter().map(|i| Node::String(i.clone())).collect()),
            }));
        }
        if self.template.resources.contains_key(name) {
            if let Some(value) = self.options.values.get(name) {
                return Ok(Some(Node::String(value.clone())));
            }
            let described = self.describe(name, path, depth)?;
            let value = resources::reference(&described.as_described(), self.account());
            self.registry.record(PlaceholderKind::Resource, name, &value, path);
            return Ok(Some(Node::String(value)));
        }
        Err(ImportError::template(
            path,
            format!("Ref {name}: no parameter, pseudo parameter or resource of this template has that name"),
        ))
    }

    fn pseudo(&self, name: &str) -> Option<Resolved> {
        if let Some(value) = self.options.values.get(name).filter(|_| name.starts_with("AWS::")) {
            return Some(Some(Node::String(value.clone())));
        }
        let at = self.account();
        let text = match name {
            "AWS::NoValue" => return Some(None),
            "AWS::NotificationARNs" => return Some(Some(Node::List(Vec::new()))),
            "AWS::Region" => at.region.to_string(),
            "AWS::AccountId" => at.account.to_string(),
            "AWS::Partition" => at.partition.to_string(),
            "AWS::URLSuffix" => if at.partition == "aws-cn" { "amazonaws.com.cn" } else { "amazonaws.com" }.to_string(),
            "AWS::StackName" => self.options.stack_name.clone(),
            "AWS::StackId" => format!(
                "arn:{}:cloudformation:{}:{}:stack/{}/{}",
                at.partition,
                at.region,
                at.account,
                self.options.stack_name,
                resources::stable_uuid(&self.options.stack_name)
            ),
            _ => return None,
        };
        Some(Some(Node::String(text)))
    }

    /// The physical name of resource `logical_id` (its name property, else generated), its
    /// type and its IAM path.
    fn describe(&mut self, logical_id: &str, path: &str, depth: usize) -> Result<Description, ImportError> {
        let template = self.template;
        let Some(resource) = template.resources.get(logical_id) else {
            return Err(ImportError::template(path, format!("{logical_id} is not a resource of this template")));
        };
        if !self.is_created(logical_id)? {
            return Err(ImportError::template(
                path,
                format!(
                    "refers to {logical_id}, which is not created: its condition {} is false",
                    resource.condition.as_deref().unwrap_or_default()
                ),
            ));
        }
        let name = match self.names.get(logical_id) {
            Some(name) => name.clone(),
            None => {
                if self.naming.iter().any(|n| n == logical_id) {
                    let mut cycle = self.naming.clone();
                    cycle.push(logical_id.to_string());
                    return Err(ImportError::limit(format!(
                        "{path}: a cycle: the name of {} refers back to itself ({}), e.g. through Fn::Sub",
                        cycle[0],
                        cycle.join(" → ")
                    )));
                }
                self.naming.push(logical_id.to_string());
                let explicit =
                    match resources::name_property(&resource.resource_type).and_then(|p| resource.properties.get(p)) {
                        Some(node) => {
                            let at = format!(
                                "{logical_id}.{}",
                                resources::name_property(&resource.resource_type).unwrap_or_default()
                            );
                            self.text_arg(node, &at, depth, "a name").map(Some)
                        }
                        None => Ok(None),
                    };
                self.naming.pop();
                let name = explicit?.unwrap_or_else(|| {
                    resources::generated_name(&self.options.stack_name, logical_id, &resource.resource_type)
                });
                self.names.insert(logical_id.to_string(), name.clone());
                name
            }
        };
        let iam_path = match resource.properties.get("Path") {
            Some(node) if resource.resource_type == "AWS::IAM::Role" => {
                self.text_arg(node, &format!("{logical_id}.Path"), depth, "Path")?
            }
            _ => "/".to_string(),
        };
        Ok(Description {
            logical_id: logical_id.to_string(),
            resource_type: resource.resource_type.clone(),
            name,
            path: iam_path,
        })
    }

    /// The physical name a resource gets (for CodeBuild projects and pipelines).
    pub fn physical_name(&mut self, logical_id: &str) -> Result<String, ImportError> {
        Ok(self.describe(logical_id, logical_id, 0)?.name)
    }

    fn get_att(&mut self, arg: &Node, path: &str, depth: usize) -> Result<Node, ImportError> {
        let (logical_id, attribute) = match arg {
            Node::String(text) => match text.split_once('.') {
                Some((r, a)) => (r.to_string(), a.to_string()),
                None => return Err(ImportError::template(path, format!("Fn::GetAtt \"{text}\" names no attribute"))),
            },
            Node::List(items) if items.len() == 2 => {
                let resource = items[0]
                    .as_str()
                    .ok_or_else(|| ImportError::template(path, "Fn::GetAtt takes the resource's logical id first"))?
                    .to_string();
                let attribute = self.text_arg(&items[1], path, depth, "Fn::GetAtt")?;
                (resource, attribute)
            }
            _ => return Err(ImportError::template(path, "Fn::GetAtt takes [LogicalId, Attribute]")),
        };
        self.attribute(&logical_id, &attribute, path, depth)
    }

    fn attribute(&mut self, logical_id: &str, attribute: &str, path: &str, depth: usize) -> Result<Node, ImportError> {
        let key = format!("{logical_id}.{attribute}");
        if let Some(value) = self.options.values.get(&key) {
            return Ok(Node::String(value.clone()));
        }
        let described = self.describe(logical_id, path, depth)?;
        if described.resource_type == "AWS::CloudFormation::Stack" && attribute.starts_with("Outputs.") {
            return Ok(Node::String(self.unknowable(PlaceholderKind::StackOutput, &key, path)));
        }
        let value = match resources::attribute(&described.as_described(), attribute, self.account()) {
            Some(value) => value,
            None => {
                self.warn(format!(
                    "{path}: Fn::GetAtt {key} is known only to AWS; a placeholder stands in for it (give it with --value {key}=…)"
                ));
                format!("pipewright-placeholder-{}-{}", placeholders::slug(logical_id), placeholders::slug(attribute))
            }
        };
        self.registry.record(PlaceholderKind::Resource, &key, &value, path);
        Ok(Node::String(value))
    }

    fn find_in_map(&mut self, arg: &Node, path: &str, depth: usize) -> Result<Node, ImportError> {
        let items = args(arg, 3, 4, "Fn::FindInMap", path)?;
        let map_name = self.text_arg(&items[0], path, depth, "Fn::FindInMap")?;
        let top = self.text_arg(&items[1], path, depth, "Fn::FindInMap")?;
        let second = self.text_arg(&items[2], path, depth, "Fn::FindInMap")?;
        let found =
            self.template.mappings.get(&map_name).and_then(|m| m.get(&top)).and_then(|m| m.get(&second)).cloned();
        if let Some(value) = found.or_else(|| items.get(3).and_then(|d| d.get("DefaultValue")).cloned()) {
            return Ok(self.resolve(&value, path, depth + 1)?.unwrap_or(Node::Null));
        }
        let Some((account, value)) = self.for_placeholder_account(&map_name, &top, &second) else {
            return Err(ImportError::template(
                path,
                format!("Fn::FindInMap: Mappings has no {map_name} → {top} → {second}"),
            ));
        };
        self.warn(format!(
            "{path}: Fn::FindInMap {map_name} has no entry for the placeholder account {top}; the entry of account {account} stands in (give yours with --value AWS::AccountId=…)"
        ));
        let value = self.resolve(&value, path, depth + 1)?.unwrap_or(Node::Null);
        // Recorded, so that no deploy to AWS takes another account's value.
        if let Some(text) = value.scalar_text() {
            self.registry.record(PlaceholderKind::AccountValue, "AWS::AccountId", &text, path);
        }
        Ok(value)
    }

    /// A mapping keyed by account, looked up with the placeholder account (nobody gave
    /// `AWS::AccountId`): its first account that has `second` stands in, as a parameter's first
    /// allowed value does; the template's own value, not an invented one.
    fn for_placeholder_account(&self, map_name: &str, top: &str, second: &str) -> Option<(String, Node)> {
        // Only the placeholder account: a real one (a CDK stack's environment, `--value`) that
        // a mapping lacks is the template's error, as CloudFormation would say.
        if top != super::DEFAULT_ACCOUNT
            || self.account != super::DEFAULT_ACCOUNT
            || self.options.values.contains_key("AWS::AccountId")
        {
            return None;
        }
        let mapping = self.template.mappings.get(map_name)?.as_map()?;
        mapping.iter().find_map(|(account, entries)| Some((account.clone(), entries.get(second)?.clone())))
    }

    /// `Fn::Sub`: `${Name}` is `Ref Name`, `${Resource.Attr}` is `GetAtt`, `${!Literal}` is
    /// `${Literal}`, and the variable map's keys come first.
    fn sub(&mut self, arg: &Node, path: &str, depth: usize) -> Result<String, ImportError> {
        let (text, variables) = match arg {
            Node::String(text) => (text.clone(), Map::new()),
            Node::List(items) if items.len() == 2 => {
                let text = items[0]
                    .as_str()
                    .ok_or_else(|| ImportError::template(path, "Fn::Sub takes a literal string first"))?
                    .to_string();
                let variables = items[1]
                    .as_map()
                    .ok_or_else(|| ImportError::template(path, "Fn::Sub takes a map of variables second"))?
                    .clone();
                (text, variables)
            }
            _ => return Err(ImportError::template(path, "Fn::Sub takes a string, or [string, {variables}]")),
        };
        let mut resolved_variables: HashMap<String, String> = HashMap::new();
        let mut out = String::new();
        let mut rest = text.as_str();
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let Some(end) = after.find('}') else {
                out.push_str(&rest[start..]);
                rest = "";
                break;
            };
            let inner = &after[..end];
            rest = &after[end + 1..];
            if let Some(literal) = inner.strip_prefix('!') {
                out.push_str("${");
                out.push_str(literal);
                out.push('}');
                continue;
            }
            let name = inner.trim();
            let value = if let Some(value) = resolved_variables.get(name) {
                value.clone()
            } else if let Some(node) = variables.get(name) {
                let value = self.text_arg(node, &format!("{path}.{name}"), depth, "a Fn::Sub variable")?;
                resolved_variables.insert(name.to_string(), value.clone());
                value
            } else if name.contains('.') && !name.starts_with("AWS::") {
                let (resource, attribute) = name.split_once('.').unwrap_or((name, ""));
                if self.parameters.contains_key(resource) || !self.template.resources.contains_key(resource) {
                    return Err(ImportError::template(
                        path,
                        format!("Fn::Sub ${{{name}}}: {resource} is not a resource of this template"),
                    ));
                }
                self.attribute(resource, attribute, path, depth + 1)?.scalar_text().unwrap_or_default()
            } else {
                match self.reference(name, path, depth + 1)? {
                    Some(node) => node.scalar_text().ok_or_else(|| {
                        ImportError::template(
                            path,
                            format!("Fn::Sub ${{{name}}} is {}; only strings can be substituted", node.kind()),
                        )
                    })?,
                    None => return Err(ImportError::template(path, format!("Fn::Sub ${{{name}}} is AWS::NoValue"))),
                }
            };
            out.push_str(&value);
            self.check_size(&out, path)?;
        }
        out.push_str(rest);
        Ok(self.dynamic_references(&out, path))
    }

    /// Replaces each `{{resolve:…}}` in `text` with its `--value` or a recorded placeholder.
    fn dynamic_references(&mut self, text: &str, path: &str) -> String {
        if !text.contains("{{resolve:") {
            return text.to_string();
        }
        let mut out = String::new();
        let mut rest = text;
        while let Some(start) = rest.find("{{resolve:") {
            out.push_str(&rest[..start]);
            let Some(end) = rest[start..].find("}}") else {
                out.push_str(&rest[start..]);
                rest = "";
                break;
            };
            let reference = &rest[start..start + end + 2];
            rest = &rest[start + end + 2..];
            let inner = &reference[2..reference.len() - 2];
            let value = match self.options.values.get(reference).or_else(|| self.options.values.get(inner)) {
                Some(value) => value.clone(),
                None => {
                    let value = placeholders::shaped(&dynamic_reference_name(inner), self.account());
                    self.registry.record(PlaceholderKind::DynamicReference, reference, &value, path);
                    value
                }
            };
            out.push_str(&value);
        }
        out.push_str(rest);
        out
    }

    fn cidr(&mut self, arg: &Node, path: &str, depth: usize) -> Result<Node, ImportError> {
        let items = args(arg, 3, 3, "Fn::Cidr", path)?;
        let block = self.text_arg(&items[0], path, depth, "Fn::Cidr")?;
        let count: u32 = self.text_arg(&items[1], path, depth, "Fn::Cidr")?.parse().unwrap_or(0);
        let bits: u32 = self.text_arg(&items[2], path, depth, "Fn::Cidr")?.parse().unwrap_or(0);
        let bad = || ImportError::template(path, format!("Fn::Cidr: cannot split {block} (IPv4 blocks only offline)"));
        let (address, prefix) = block.split_once('/').ok_or_else(bad)?;
        let address: std::net::Ipv4Addr = address.parse().map_err(|_| bad())?;
        let prefix: u32 = prefix.parse().map_err(|_| bad())?;
        if !(1..=256).contains(&count) || bits == 0 || bits > 32 - prefix.min(32) {
            return Err(bad());
        }
        let base = u32::from(address);
        let size = 1u64 << bits;
        let subnets = (0..u64::from(count))
            .map(|i| {
                let start = u64::from(base) + i * size;
                let ip = std::net::Ipv4Addr::from(u32::try_from(start).unwrap_or(u32::MAX));
                Node::String(format!("{ip}/{}", 32 - bits))
            })
            .collect();
        Ok(Node::List(subnets))
    }
}

/// What `describe` found out about a resource.
pub struct Description {
    pub logical_id: String,
    pub resource_type: String,
    pub name: String,
    pub path: String,
}

impl Description {
    fn as_described(&self) -> Described<'_> {
        Described {
            logical_id: &self.logical_id,
            resource_type: &self.resource_type,
            name: &self.name,
            path: &self.path,
        }
    }
}

pub fn join_path(path: &str, key: &str) -> String {
    if path.is_empty() { key.to_string() } else { format!("{path}.{key}") }
}

/// Values compared by `Fn::Equals`: scalars by their text (`"true"` equals `true`, `"1"`
/// equals `1`), anything else by its JSON.
fn comparable(value: &Resolved) -> String {
    match value {
        Some(node) => node.scalar_text().unwrap_or_else(|| node.to_json().to_string()),
        None => "AWS::NoValue".to_string(),
    }
}

fn args<'n>(arg: &'n Node, min: usize, max: usize, function: &str, path: &str) -> Result<&'n [Node], ImportError> {
    match arg.as_list() {
        Some(items) if (min..=max).contains(&items.len()) => Ok(items),
        _ if min == max => Err(ImportError::template(path, format!("{function} takes a list of {min} arguments"))),
        _ => Err(ImportError::template(path, format!("{function} takes a list of {min} to {max} arguments"))),
    }
}

/// What a dynamic reference names, for its placeholder's shape: an SSM parameter's name without
/// its version (`resolve:ssm:/pipeline/DeployRoleArn:1` → `/pipeline/DeployRoleArn`), a secret's
/// JSON key, else its id (`resolve:secretsmanager:github:SecretString:token` → `token`).
fn dynamic_reference_name(inner: &str) -> String {
    let parts: Vec<&str> = inner.split(':').collect();
    let name = match parts.get(1).copied() {
        Some("secretsmanager") => {
            let string = parts.iter().position(|part| *part == "SecretString").unwrap_or(parts.len());
            match parts.get(string + 1).filter(|key| !key.is_empty()) {
                Some(key) => (*key).to_string(),
                None => parts.get(2..string).map(|id| id.join(":")).unwrap_or_default(),
            }
        }
        _ => {
            let mut name = parts.get(2..).unwrap_or_default().to_vec();
            if name.len() > 1 && name.last().is_some_and(|v| v.chars().all(|c| c.is_ascii_digit())) {
                name.pop();
            }
            name.join(":")
        }
    };
    if name.is_empty() { "secret".to_string() } else { name }
}
