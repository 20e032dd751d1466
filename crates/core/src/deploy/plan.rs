//! What `--plan` shows for each deploy action (docs/providers.md "Plans"): the whole plan as
//! lines (the terminal and the action's log), a one-line summary (ListActionExecutions'
//! `externalExecutionSummary`), and the outputs later actions run on — clearly marked
//! stand-ins where only a real deploy would know the value.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::cloudformation::{ActionMode, OutputValue, TemplateShape};
use super::ecs::ImageDefinition;
use super::{diff, is_planned, planned_value};

/// How every planned summary begins.
pub const PLANNED: &str = "Planned (--plan, nothing deployed)";

/// A planned action.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Plan {
    pub summary: String,
    pub lines: Vec<String>,
    pub output_variables: BTreeMap<String, String>,
    /// Files of the output artifact: (name, content).
    pub output_files: Vec<(String, String)>,
}

impl Plan {
    fn new(what: &str) -> Plan {
        Plan {
            summary: format!("{PLANNED}: {what}"),
            lines: vec![format!("PLANNED, nothing deployed: {what}")],
            ..Plan::default()
        }
    }

    fn line(&mut self, text: impl Into<String>) {
        self.lines.push(text.into());
    }

    fn block(&mut self, title: &str, text: &str) {
        self.lines.push(title.to_string());
        self.lines.extend(text.lines().map(|l| format!("    {l}")));
    }

    /// The plan of an action that runs in `region` (its `region` field), whose inputs are
    /// first copied to that region's store `copied_to` when they are elsewhere
    /// (`super::regional_store`), as a real run copies them.
    pub fn in_region(mut self, region: Option<&str>, copied_to: Option<&str>) -> Plan {
        let Some(region) = region else { return self };
        self.summary.push_str(&format!(" (in {region})"));
        if let Some(first) = self.lines.first_mut() {
            first.push_str(&format!(" (in {region})"));
        }
        if let Some(bucket) = copied_to {
            let at = self.lines.len().min(1);
            self.lines.insert(
                at,
                format!("inputs copied first to {region}'s artifact store, s3://{bucket}/ (a service reads S3 in its own region)"),
            );
        }
        self
    }
}

/// A stack's template as this state directory last planned or deployed it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Remembered {
    /// `planned` or `deployed`.
    pub how: String,
    pub execution_id: String,
    pub template: String,
    #[serde(default)]
    pub parameters: BTreeMap<String, String>,
}

/// What a CloudFormation action would do.
pub struct CloudFormationPlan<'a> {
    pub mode: ActionMode,
    pub stack: &'a str,
    pub change_set: Option<&'a str>,
    /// (`TemplatePath`, its text, what it declares).
    pub template: Option<(&'a str, &'a str, &'a TemplateShape)>,
    pub parameters: &'a BTreeMap<String, String>,
    pub capabilities: &'a [String],
    pub role_arn: Option<&'a str>,
    pub tags: &'a BTreeMap<String, String>,
    pub previous: Option<&'a Remembered>,
    pub output_file: Option<&'a str>,
}

fn mark(value: &str) -> String {
    if is_planned(value) { format!("{value}   <- a planned stand-in, not a real value") } else { value.to_string() }
}

pub fn cloudformation(p: &CloudFormationPlan<'_>) -> Plan {
    let stack = p.stack;
    let change_set = p.change_set.unwrap_or("(no ChangeSetName)");
    let what = match p.mode {
        ActionMode::CreateUpdate => format!("create or update stack {stack}"),
        ActionMode::ReplaceOnFailure => {
            format!("create or update stack {stack}, deleting it first if it is in a failed state")
        }
        ActionMode::DeleteOnly => format!("delete stack {stack} if it exists"),
        ActionMode::ChangeSetReplace => {
            format!("create change set {change_set} of stack {stack}, replacing one of that name")
        }
        ActionMode::ChangeSetExecute => format!("execute change set {change_set} of stack {stack}"),
    };
    let mut plan = Plan::new(&format!("CloudFormation {}: {what}", p.mode.as_str()));
    if let Some(role) = p.role_arn {
        plan.line(format!("service role: {role}"));
    }
    if !p.capabilities.is_empty() {
        plan.line(format!("capabilities: {}", p.capabilities.join(", ")));
    }
    if !p.tags.is_empty() {
        plan.line(format!("tags: {}", p.tags.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(", ")));
    }
    if !p.parameters.is_empty() {
        plan.line("parameters:");
        for (name, value) in p.parameters {
            plan.line(format!("    {name} = {}", mark(value)));
        }
    }
    let mut diff_note = String::new();
    if let Some((path, text, _)) = p.template {
        plan.block(&format!("template {path} ({} bytes):", text.len()), text);
        match p.previous {
            Some(previous) => {
                let label = format!("{} in execution {}", previous.how, previous.execution_id);
                let (diff, added, removed) = diff::unified(&previous.template, text, &label, "this plan");
                if diff.is_empty() {
                    plan.line(format!("template unchanged since it was {label}"));
                    diff_note = format!("; template unchanged since {}", previous.how);
                } else {
                    plan.block(&format!("diff against the template {label} (+{added} -{removed} lines):"), &diff);
                    diff_note = format!("; template +{added} -{removed} lines against the last {}", previous.how);
                }
                let changed: Vec<String> = p
                    .parameters
                    .iter()
                    .filter(|(k, v)| previous.parameters.get(*k) != Some(*v))
                    .map(|(k, _)| k.clone())
                    .collect();
                if !changed.is_empty() {
                    plan.line(format!("parameters changed since then: {}", changed.join(", ")));
                }
            }
            None => {
                plan.line(format!(
                    "no earlier plan or deployment of stack {stack} from this state directory to compare with"
                ));
                diff_note = "; no earlier template to compare with".to_string();
            }
        }
    } else if let (ActionMode::ChangeSetExecute, Some(previous)) = (p.mode, p.previous) {
        plan.line(format!("the change set holds the template {} in execution {}", previous.how, previous.execution_id));
    }
    if p.mode.gives_outputs()
        && let Some((_, _, shape)) = p.template
    {
        plan.output_variables = planned_outputs(stack, shape, p.parameters);
    }
    if !plan.output_variables.is_empty() {
        plan.line("outputs, as later actions see them:");
        let lines: Vec<String> = plan.output_variables.iter().map(|(k, v)| format!("    {k} = {}", mark(v))).collect();
        plan.lines.extend(lines);
    }
    if let Some(file) = p.output_file {
        plan.output_files.push((file.to_string(), super::cloudformation::outputs_file(&plan.output_variables)));
        plan.line(format!("output file {file} holds these outputs"));
    }
    plan.summary.push_str(&format!(
        "{}{diff_note}",
        match p.parameters.len() {
            0 => String::new(),
            1 => "; 1 parameter".to_string(),
            n => format!("; {n} parameters"),
        }
    ));
    plan
}

/// The outputs a stack would have: values known without deploying (literals, parameters),
/// stand-ins for the rest.
pub fn planned_outputs(
    stack: &str,
    shape: &TemplateShape,
    parameters: &BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    shape
        .outputs
        .iter()
        .map(|(key, value)| {
            let known = match value {
                OutputValue::Literal(text) => Some(text.clone()),
                OutputValue::Parameter(name) => {
                    parameters.get(name).cloned().or_else(|| shape.parameters.get(name).cloned().flatten())
                }
                OutputValue::Unknown => None,
            };
            (key.clone(), known.unwrap_or_else(|| planned_value(&format!("{stack}.{key}"))))
        })
        .collect()
}

pub fn ecs(cluster: &str, service: &str, images: &[ImageDefinition], timeout_minutes: u32) -> Plan {
    let mut plan = Plan::new(&format!(
        "ECS deploy of {} to service {service} of cluster {cluster}",
        images.iter().map(|i| format!("{} = {}", i.name, i.image_uri)).collect::<Vec<_>>().join(", ")
    ));
    plan.line("register a new revision of the task definition the service runs, with these images:");
    for image in images {
        plan.line(format!("    {} -> {}", image.name, mark(&image.image_uri)));
    }
    plan.line(format!("then UpdateService and wait up to {timeout_minutes} minutes for a steady state"));
    plan
}

pub fn s3(bucket: &str, keys: &[String]) -> Plan {
    let mut plan = Plan::new(&format!(
        "S3 deploy of {} object{} to s3://{bucket}",
        keys.len(),
        if keys.len() == 1 { "" } else { "s" }
    ));
    plan.line("keys to write:");
    for key in keys {
        plan.line(format!("    s3://{bucket}/{key}"));
    }
    plan
}

pub fn codedeploy(application: &str, group: &str, revision: &str, has_appspec: bool) -> Plan {
    let mut plan = Plan::new(&format!("CodeDeploy deployment of {revision} to {application}/{group}"));
    plan.line(format!("revision: {revision} (a zip bundle)"));
    if !has_appspec {
        plan.line("warning: the bundle has no appspec.yml at its root; CodeDeploy would fail it");
    }
    plan.line("then wait for the deployment to succeed");
    plan
}

pub fn codedeploy_ecs(application: &str, group: &str, task_definition: &str, appspec: &str) -> Plan {
    let mut plan = Plan::new(&format!("CodeDeploy blue/green ECS deployment to {application}/{group}"));
    plan.block("register this task definition:", task_definition);
    plan.block("deploy with this AppSpec (its task definition filled in once registered):", appspec);
    plan
}

pub fn beanstalk(application: &str, environment: &str, label: &str, bundle: &str) -> Plan {
    let mut plan = Plan::new(&format!(
        "Elastic Beanstalk: version {label} of {application} from {bundle} onto environment {environment}"
    ));
    plan.line(format!("CreateApplicationVersion {label} from {bundle}, then UpdateEnvironment {environment}"));
    plan
}

pub fn stepfunctions(state_machine: &str, name: &str, input: &str, output_file: Option<&str>) -> Plan {
    let mut plan = Plan::new(&format!("start execution {name} of {state_machine}"));
    plan.block("input:", input);
    let execution = super::stepfunctions::execution_arn(state_machine, name).unwrap_or_else(|| planned_value(name));
    plan.output_variables = BTreeMap::from([
        ("StateMachineArn".to_string(), state_machine.to_string()),
        ("ExecutionArn".to_string(), execution),
    ]);
    if let Some(file) = output_file {
        let stand_in = serde_json::json!({ "planned": planned_value(&format!("output of execution {name}")) });
        plan.output_files.push((file.to_string(), format!("{stand_in}\n")));
        plan.line(format!("{file} holds a planned stand-in for the execution's output"));
    }
    plan
}

pub fn codepipeline(child: &super::codepipeline::Child) -> Plan {
    let mut plan = Plan::new(&format!("start pipeline {}", child.pipeline));
    for variable in &child.variables {
        plan.line(format!("variable {} = {}", variable.name, mark(&variable.value)));
    }
    for revision in &child.source_revisions {
        plan.line(format!(
            "source {} at {:?} {}",
            revision.action_name, revision.revision_type, revision.revision_value
        ));
    }
    plan
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deploy::cloudformation::template_shape;

    #[test]
    fn a_plan_in_another_region_says_where_and_where_its_inputs_are_read() {
        let home = codedeploy("app", "fleet", "s3://b/k", true);
        assert_eq!(home.clone().in_region(None, None), home, "an action of the home region says nothing more");
        let west = codedeploy("app", "fleet", "s3://west/k", true).in_region(Some("us-west-2"), Some("west"));
        assert!(west.summary.ends_with("to app/fleet (in us-west-2)"), "{}", west.summary);
        assert!(west.lines[0].ends_with("(in us-west-2)"), "{:?}", west.lines);
        assert!(west.lines[1].starts_with("inputs copied first to us-west-2's artifact store, s3://west/"));
    }

    const TEMPLATE: &str = "Parameters:\n  Env:\n    Type: String\nResources:\n  Api:\n    Type: AWS::Serverless::Function\nOutputs:\n  ApiUrl:\n    Value: !GetAtt Api.Url\n  Env:\n    Value: !Ref Env\n";

    #[test]
    fn a_stack_plan_shows_template_parameters_outputs_and_the_diff() {
        let shape = template_shape(TEMPLATE).unwrap();
        let parameters = BTreeMap::from([("Env".to_string(), "staging".to_string())]);
        let previous = Remembered {
            how: "planned".into(),
            execution_id: "e1".into(),
            template: TEMPLATE.replace("ApiUrl", "Url"),
            parameters: BTreeMap::from([("Env".to_string(), "dev".to_string())]),
        };
        let plan = cloudformation(&CloudFormationPlan {
            mode: ActionMode::CreateUpdate,
            stack: "app-staging",
            change_set: None,
            template: Some(("Build::template.yaml", TEMPLATE, &shape)),
            parameters: &parameters,
            capabilities: &["CAPABILITY_IAM".to_string()],
            role_arn: Some("arn:aws:iam::1:role/cfn"),
            tags: &BTreeMap::new(),
            previous: Some(&previous),
            output_file: Some("outputs.json"),
        });
        assert!(plan.summary.starts_with(PLANNED), "{}", plan.summary);
        assert!(plan.summary.contains("+1 -1 lines against the last planned"), "{}", plan.summary);
        let text = plan.lines.join("\n");
        assert!(text.contains("    Env = staging"), "{text}");
        assert!(text.contains("+  ApiUrl:") && text.contains("-  Url:"), "{text}");
        assert!(text.contains("parameters changed since then: Env"), "{text}");
        assert_eq!(plan.output_variables["Env"], "staging");
        assert_eq!(plan.output_variables["ApiUrl"], "pipewright-planned:app-staging.ApiUrl");
        assert_eq!(plan.output_files[0].0, "outputs.json");
        assert!(plan.output_files[0].1.contains("pipewright-planned:app-staging.ApiUrl"));
    }

    #[test]
    fn a_first_plan_says_there_is_nothing_to_compare_with() {
        let shape = template_shape(TEMPLATE).unwrap();
        let plan = cloudformation(&CloudFormationPlan {
            mode: ActionMode::DeleteOnly,
            stack: "old",
            change_set: None,
            template: Some(("B::t.yaml", TEMPLATE, &shape)),
            parameters: &BTreeMap::new(),
            capabilities: &[],
            role_arn: None,
            tags: &BTreeMap::new(),
            previous: None,
            output_file: None,
        });
        assert!(plan.summary.contains("delete stack old"));
        assert!(plan.output_variables.is_empty(), "DELETE_ONLY gives no outputs");
        assert!(plan.lines.iter().any(|l| l.contains("no earlier plan or deployment")));
    }

    #[test]
    fn other_plans_name_what_they_would_touch() {
        let images = vec![ImageDefinition { name: "web".into(), image_uri: "repo/web:1".into() }];
        assert!(ecs("prod", "web", &images, 60).lines.iter().any(|l| l.contains("web -> repo/web:1")));
        let s3 = s3("site", &["live/index.html".to_string()]);
        assert!(s3.summary.contains("1 object to s3://site"));
        let sfn = stepfunctions("arn:aws:states:eu-west-1:1:stateMachine:Flow", "deploy-x", "{}", Some("output.json"));
        assert_eq!(sfn.output_variables["ExecutionArn"], "arn:aws:states:eu-west-1:1:execution:Flow:deploy-x");
        assert!(is_planned(&sfn.output_files[0].1));
    }
}
