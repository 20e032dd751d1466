//! Validation errors that only the import's own stand-ins cause (docs/import.md,
//! "Validating an imported pipeline"). A placeholder, or a stack name taken from the file's
//! name, is Pipewright's choice, not the template's: when a field fails a rule (a bucket name
//! longer than 63 characters, a pipeline name longer than 100) because of such a stand-in,
//! the failure says nothing about the template. It becomes a warning that names the stand-in
//! and how to give a real value, which is then checked as any value is.
//!
//! An error counts as the stand-in's only if it goes away once the stand-ins its field holds
//! are made as small as their shape allows (`arn:…:role/p`, `s`) and the declaration is
//! validated again: an underscore in a bucket name that also holds the stack name is the
//! template's, and stays an error.

use serde_json::Value;

use super::placeholders::Placeholder;
use crate::declaration::PipelineDeclaration;
use crate::validate::{self, Context, Issue, Report};

/// The mark every placeholder that names itself carries.
const MARK: &str = "pipewright-placeholder";

/// A value the import chose, and how the person gives the real one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StandIn {
    pub value: String,
    /// `the placeholder for parameter AppName; give it with --parameter AppName=…`.
    pub what: String,
    /// Smaller values of the same shape, tried in turn: the marked part of a placeholder made
    /// `p` (`arn:…:role/p`, `p/repository`) or an account's twelve digits, for a placeholder
    /// that stands for an account inside an ARN; a stack name `s`.
    smaller: Vec<String>,
    /// Held only where it stands as a whole word, not inside a longer one: a short stack
    /// name (`ci`) is in many values by chance.
    whole: bool,
    /// The placeholder it is; `None` for a stack name.
    pub placeholder: Option<Placeholder>,
}

impl StandIn {
    /// The stand-ins among `placeholders` that no real value can be mistaken for: those marked
    /// `pipewright-placeholder`. A placeholder such as `main`, the default account or a zeroed
    /// id has a real value's shape, and could be the template's own text.
    pub fn of_placeholders(placeholders: &[Placeholder]) -> Vec<StandIn> {
        placeholders
            .iter()
            .filter(|p| p.value.contains(MARK))
            .map(|p| StandIn {
                value: p.value.clone(),
                what: p.how_to_give(),
                smaller: ["p", "123456789012"].iter().map(|token| shrunk_placeholder(&p.value, token)).collect(),
                whole: false,
                placeholder: Some(p.clone()),
            })
            .collect()
    }

    /// The stack name an import took from the file's name (no `--stack-name`).
    pub fn of_stack_name(stack_name: &str) -> StandIn {
        StandIn {
            value: stack_name.to_string(),
            what: format!(
                "the stack name \"{stack_name}\", taken from the file's name; give it with --stack-name NAME"
            ),
            smaller: vec!["s".to_string()],
            whole: true,
            placeholder: None,
        }
    }

    fn held_in(&self, text: &str) -> bool {
        !self.value.is_empty() && self.places_in(text).next().is_some()
    }

    /// Where the value stands in `text`: anywhere, or, for a whole word, not next to a letter,
    /// a digit or `_`.
    fn places_in<'t>(&'t self, text: &'t str) -> impl Iterator<Item = usize> + 't {
        let word = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
        text.match_indices(self.value.as_str()).map(|(at, _)| at).filter(move |at| {
            !self.whole
                || (!word(text[..*at].chars().next_back()) && !word(text[at + self.value.len()..].chars().next()))
        })
    }

    /// `text` with each place of the value replaced by its `form`-th smaller value.
    fn shrunk(&self, text: &str, form: usize) -> String {
        let smaller = self.smaller.get(form).or(self.smaller.last()).map_or("", String::as_str);
        let mut out = String::with_capacity(text.len());
        let mut from = 0;
        for at in self.places_in(text).collect::<Vec<_>>() {
            if at >= from {
                out.push_str(&text[from..at]);
                out.push_str(smaller);
                from = at + self.value.len();
            }
        }
        out.push_str(&text[from..]);
        out
    }
}

/// A marked placeholder with its marked run (`pipewright-placeholder-appname`, up to the next
/// character that is not a letter, a digit or `-`) replaced by `token`.
fn shrunk_placeholder(value: &str, token: &str) -> String {
    let Some(at) = value.find(MARK) else { return value.to_string() };
    let rest = &value[at..];
    let end = rest.find(|c: char| !(c.is_ascii_alphanumeric() || c == '-')).unwrap_or(rest.len());
    format!("{}{token}{}", &value[..at], &rest[end..])
}

/// What validation says of an imported declaration once the stand-ins are accounted for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Excused {
    /// The report, each error only stand-ins cause turned into a warning that names one.
    pub report: Report,
    /// Those errors as validation gave them, each with (the index of) a stand-in its field holds.
    pub broken: Vec<(usize, Issue)>,
}

/// Validates `declaration` and excuses what only `stand_ins` break: at most three validations,
/// whatever the number of errors.
pub fn validate(declaration: &PipelineDeclaration, context: &Context, stand_ins: &[StandIn]) -> Excused {
    let report = validate::validate_in(declaration, context);
    if report.is_valid() || stand_ins.is_empty() {
        return Excused { report, broken: Vec::new() };
    }
    let Ok(json) = serde_json::to_value(declaration) else { return Excused { report, broken: Vec::new() } };
    // Each error at a string field holding a stand-in, with the first it holds.
    let mut suspects: Vec<Option<usize>> = report
        .errors
        .iter()
        .map(|issue| match value_at(&json, &issue.path) {
            Some(Value::String(text)) => stand_ins.iter().position(|s| s.held_in(text)),
            _ => None,
        })
        .collect();
    let mut blamed: Vec<Option<usize>> = vec![None; report.errors.len()];
    let forms = stand_ins.iter().map(|s| s.smaller.len()).max().unwrap_or(0);
    // The errors left with the smallest stand-ins (the first form): what the template itself
    // breaks at a field that also holds a stand-in.
    let mut left_at_smallest: Vec<Issue> = Vec::new();
    for form in 0..forms {
        if suspects.iter().all(Option::is_none) {
            break;
        }
        let Some(left) = errors_once_shrunk(&json, context, stand_ins, form) else { break };
        for (at, suspect) in suspects.iter_mut().enumerate() {
            if suspect.is_some() && !left.iter().any(|e| e.path == report.errors[at].path) {
                blamed[at] = suspect.take();
            }
        }
        if form == 0 {
            left_at_smallest = left;
        }
    }
    // A marked placeholder that is all its field holds is to blame for a rule on that field
    // alone (`"true" or "false"`), though no smaller value of its shape passes; not for a rule
    // that ties the field to another (a name used twice).
    for (at, suspect) in suspects.iter().enumerate() {
        let issue = &report.errors[at];
        let alone = |s: &StandIn| {
            s.placeholder.is_some() && value_at(&json, &issue.path) == Some(&Value::String(s.value.clone()))
        };
        let relational = issue.message.contains("already") || issue.message.contains("twice");
        if let Some(index) = suspect.filter(|i| alone(&stand_ins[*i]) && !relational) {
            blamed[at] = Some(index);
        }
    }
    // A field can break two rules, of which validation names the first: a bucket name too
    // long with a placeholder in it, and with an underscore of the template's. When the
    // smallest stand-ins leave the field failing another rule only, the first is the
    // stand-in's, and the rule left is the template's, told of the field as it is.
    let mut template_errors: Vec<Issue> = Vec::new();
    for (at, suspect) in suspects.iter().enumerate() {
        let issue = &report.errors[at];
        let Some(index) = suspect.filter(|_| blamed[at].is_none()) else { continue };
        let left: Vec<Issue> = left_at_smallest
            .iter()
            .filter(|e| e.path == issue.path)
            .map(|e| told_as_it_is(e, &json, stand_ins))
            .collect();
        if !left.is_empty() && left.iter().all(|e| rule_of(&e.message) != rule_of(&issue.message)) {
            blamed[at] = Some(index);
            for error in left {
                if !report.errors.contains(&error) && !template_errors.contains(&error) {
                    template_errors.push(error);
                }
            }
        }
    }
    let mut excused =
        Excused { report: Report { errors: template_errors, warnings: report.warnings }, broken: Vec::new() };
    for (issue, blamed) in report.errors.into_iter().zip(blamed) {
        match blamed {
            Some(index) => {
                excused.report.warnings.push(Issue {
                    path: issue.path.clone(),
                    message: format!("{} (the value holds {})", issue.message, stand_ins[index].what),
                });
                excused.broken.push((index, issue));
            }
            None => excused.report.errors.push(issue),
        }
    }
    excused
}

/// The errors left once every stand-in, wherever it stands, is given its `form`-th smaller
/// value: the same everywhere, so that two fields equal before are equal after. `None` when
/// the shrunk declaration does not read back.
fn errors_once_shrunk(
    declaration: &Value,
    context: &Context,
    stand_ins: &[StandIn],
    form: usize,
) -> Option<Vec<Issue>> {
    let mut smaller = declaration.clone();
    shrink_strings(&mut smaller, &|text: &str| shrunk_text(text, stand_ins, form));
    let smaller: PipelineDeclaration = serde_json::from_value(smaller).ok()?;
    Some(validate::validate_in(&smaller, context).errors)
}

fn shrunk_text(text: &str, stand_ins: &[StandIn], form: usize) -> String {
    stand_ins.iter().fold(text.to_string(), |text, s| s.shrunk(&text, form))
}

/// `issue`, found with the smallest stand-ins, quoting its field's value as the declaration
/// has it (`"PROJECT_PREFIX-nyctaxi-pipewright-placeholder-id" contains '_'`).
fn told_as_it_is(issue: &Issue, declaration: &Value, stand_ins: &[StandIn]) -> Issue {
    let message = match value_at(declaration, &issue.path) {
        Some(Value::String(text)) => {
            issue.message.replace(&format!("\"{}\"", shrunk_text(text, stand_ins, 0)), &format!("\"{text}\""))
        }
        _ => issue.message.clone(),
    };
    Issue { path: issue.path.clone(), message }
}

/// A message with its quoted value and its numbers left out: which rule it tells of
/// (`is 64 characters long; the limit is 63` and `is 70 …` are one rule).
fn rule_of(message: &str) -> String {
    let mut rule = String::with_capacity(message.len());
    let mut quoted = false;
    for c in message.chars() {
        match c {
            '"' => quoted = !quoted,
            _ if quoted => {}
            '0'..='9' => {
                if !rule.ends_with('#') {
                    rule.push('#');
                }
            }
            _ => rule.push(c),
        }
    }
    rule
}

/// Every string of `value` shrunk, but for action types: a stack named `Deploy` is not the
/// category `Deploy`, and shrinking that would leave a provider's rules unchecked.
fn shrink_strings(value: &mut Value, shrink: &dyn Fn(&str) -> String) {
    match value {
        Value::String(text) => *text = shrink(text),
        Value::Array(items) => items.iter_mut().for_each(|item| shrink_strings(item, shrink)),
        Value::Object(map) => {
            map.iter_mut().filter(|(key, _)| *key != "actionTypeId").for_each(|(_, item)| shrink_strings(item, shrink));
        }
        _ => {}
    }
}

/// The steps of a path (`stages[2].actions[0].configuration.Stack`): keys and list indexes.
fn steps(path: &str) -> Option<Vec<Result<&str, usize>>> {
    let mut steps = Vec::new();
    for segment in path.split('.') {
        let (key, indexes) = segment.split_once('[').unwrap_or((segment, ""));
        if !key.is_empty() {
            steps.push(Ok(key));
        }
        for index in indexes.split('[').filter(|i| !i.is_empty()) {
            steps.push(Err(index.trim_end_matches(']').parse::<usize>().ok()?));
        }
    }
    Some(steps)
}

/// The value at `path` (`stages[2].actions[0].configuration.Stack`, `artifactStore.location`).
fn value_at<'a>(root: &'a Value, path: &str) -> Option<&'a Value> {
    steps(path)?.into_iter().try_fold(root, |value, step| match step {
        Ok(key) => value.get(key),
        Err(index) => value.get(index),
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::declaration::{Format, PipelineDocument};
    use crate::import::PlaceholderKind;
    use crate::validate::test_support::{valid_v1, with};

    fn placeholder(name: &str, kind: PlaceholderKind, value: &str) -> Placeholder {
        Placeholder { name: name.into(), kind, value: value.into(), used_at: Vec::new() }
    }

    fn validated(value: Value, stand_ins: &[StandIn]) -> Excused {
        let document = PipelineDocument::parse(&value.to_string(), Format::Json).unwrap();
        validate(&document.pipeline, &Context::default(), stand_ins)
    }

    fn lines(issues: &[Issue]) -> Vec<String> {
        issues.iter().map(ToString::to_string).collect()
    }

    fn app_name() -> StandIn {
        StandIn::of_placeholders(&[placeholder(
            "AppName",
            PlaceholderKind::Parameter,
            "pipewright-placeholder-appname",
        )])
        .remove(0)
    }

    #[test]
    fn an_error_only_a_stand_in_causes_is_a_warning_naming_it() {
        let stack = format!("{}release", "orders-service-".repeat(6));
        let pipeline = with(valid_v1(), |p| {
            p["name"] = json!(format!("{stack}-Code-Pipeline"));
            p["artifactStore"]["location"] =
                json!("app-artifacts-123456789012-us-east-1-pipewright-placeholder-appname");
            p["stages"][1]["actions"][0]["configuration"].as_object_mut().unwrap().remove("BucketName");
        });
        let stand_ins = [app_name(), StandIn::of_stack_name(&stack)];
        let excused = validated(pipeline, &stand_ins);
        assert_eq!(
            lines(&excused.report.errors),
            ["stages[1].actions[0].configuration.BucketName: is required by AWS/S3 Deploy actions"]
        );
        let warnings = lines(&excused.report.warnings);
        assert!(
            warnings.contains(&"artifactStore.location: is 67 characters long; the limit is 63 (the value holds the placeholder for parameter AppName; give it with --parameter AppName=…)".to_string()),
            "{warnings:#?}"
        );
        assert!(
            warnings.iter().any(|w| w.starts_with("name: is 111 characters long") && w.contains("--stack-name")),
            "{warnings:#?}"
        );
        let broken: Vec<(usize, &str)> = excused.broken.iter().map(|(i, issue)| (*i, issue.path.as_str())).collect();
        assert_eq!(broken, [(1, "name"), (0, "artifactStore.location")]);
    }

    #[test]
    fn an_error_of_the_template_stays_one_beside_a_stand_in() {
        // The underscore is the template's: shrinking the stack name leaves it.
        let pipeline = with(valid_v1(), |p| p["artifactStore"]["location"] = json!("acme_pipeline_artifacts"));
        let excused = validated(pipeline, &[StandIn::of_stack_name("pipeline")]);
        assert_eq!(excused.report.errors.len(), 1, "{excused:#?}");
        assert!(excused.broken.is_empty());
        // A placeholder somewhere does not excuse an error about a whole stage list.
        let pipeline = with(valid_v1(), |p| {
            p["stages"].as_array_mut().unwrap().pop();
            p["stages"][0]["actions"][0]["configuration"]["S3Bucket"] = json!("pipewright-placeholder-appname");
        });
        let excused = validated(pipeline, &[app_name(), StandIn::of_stack_name("Source")]);
        assert!(lines(&excused.report.errors).iter().any(|e| e.starts_with("stages: ")), "{excused:#?}");
        assert!(excused.broken.is_empty());
    }

    #[test]
    fn a_field_failing_a_second_rule_of_the_templates_tells_of_that_rule() {
        // Too long because of the placeholder, and an underscore the template's default gives.
        let location = "PROJECT_PREFIX-nyctaxi-pipewright-placeholder-sagemakerprojectid";
        let pipeline = with(valid_v1(), |p| p["artifactStore"]["location"] = json!(location));
        let stand_in = StandIn::of_placeholders(&[placeholder(
            "SageMakerProjectId",
            PlaceholderKind::Parameter,
            "pipewright-placeholder-sagemakerprojectid",
        )]);
        let excused = validated(pipeline, &stand_in);
        assert_eq!(
            lines(&excused.report.errors),
            [format!("artifactStore.location: \"{location}\" contains '_'; only letters, digits and - . are allowed")]
        );
        assert_eq!(
            lines(&excused.report.warnings),
            [
                "artifactStore.location: is 64 characters long; the limit is 63 (the value holds the placeholder for parameter SageMakerProjectId; give it with --parameter SageMakerProjectId=…)"
            ]
        );
        // Too long even with the smallest placeholder: one rule, the template's, as it was.
        let long = format!("{}-pipewright-placeholder-appname", "a".repeat(70));
        let pipeline = with(valid_v1(), |p| p["artifactStore"]["location"] = json!(long));
        let excused = validated(pipeline, &[app_name()]);
        assert_eq!(lines(&excused.report.errors), ["artifactStore.location: is 101 characters long; the limit is 63"]);
        assert!(excused.broken.is_empty());
    }

    #[test]
    fn a_rule_tying_two_fields_is_never_a_stand_ins_fault() {
        // Two stages named after the stack: shrinking both keeps them equal.
        let pipeline = with(valid_v1(), |p| {
            p["stages"][0]["name"] = json!("orders-stage");
            p["stages"][1]["name"] = json!("orders-stage");
        });
        let excused = validated(pipeline, &[StandIn::of_stack_name("orders")]);
        assert!(lines(&excused.report.errors).iter().any(|e| e.contains("is already used")), "{excused:#?}");
        // A placeholder that is all of two names.
        let pipeline = with(valid_v1(), |p| {
            p["stages"][0]["name"] = json!("pipewright-placeholder-appname");
            p["stages"][1]["name"] = json!("pipewright-placeholder-appname");
        });
        let excused = validated(pipeline, &[app_name()]);
        assert!(lines(&excused.report.errors).iter().any(|e| e.contains("is already used")), "{excused:#?}");
        // A stack name that is a whole field is not blamed for what its field breaks alone,
        // though it is also the action's category (which shrinking would hide the rule with).
        let pipeline = with(valid_v1(), |p| p["stages"][1]["actions"][0]["configuration"]["Extract"] = json!("Deploy"));
        assert_eq!(validated(pipeline, &[StandIn::of_stack_name("Deploy")]).report.errors.len(), 1);
    }

    #[test]
    fn placeholders_a_real_value_could_be_are_no_stand_ins() {
        let main = placeholder("Branch", PlaceholderKind::Parameter, "main");
        let vpc = placeholder("Vpc", PlaceholderKind::Parameter, "vpc-00000000000000000");
        assert!(StandIn::of_placeholders(&[main, vpc]).is_empty());
    }

    #[test]
    fn stand_ins_shrink_to_their_shape() {
        let p = |value: &str| shrunk_placeholder(value, "p");
        assert_eq!(p("arn:aws:iam::123456789012:role/pipewright-placeholder-role"), "arn:aws:iam::123456789012:role/p");
        assert_eq!(p("pipewright-placeholder/repository"), "p/repository");
        assert_eq!(p("https://pipewright-placeholder.invalid/url"), "https://p.invalid/url");
        let account = placeholder("Account", PlaceholderKind::DynamicReference, "pipewright-placeholder-test");
        let account = &StandIn::of_placeholders(&[account])[0];
        let arn = "arn:aws:iam::pipewright-placeholder-test:role/deployer";
        assert_eq!(account.shrunk(arn, 1), "arn:aws:iam::123456789012:role/deployer");
        let ci = StandIn::of_stack_name("ci");
        assert!(ci.held_in("ci-Pipeline") && ci.held_in("build-ci") && ci.held_in("ci"));
        assert!(!ci.held_in("pricing-service") && !ci.held_in("cicd") && !ci.held_in("my_ci"));
        assert_eq!(ci.shrunk("ci-ci-cicd", 0), "s-s-cicd");
    }

    #[test]
    fn a_field_that_is_only_a_stand_in_blames_it_whatever_the_rule() {
        let pipeline = with(valid_v1(), |p| {
            p["stages"][0]["actions"][0]["configuration"]["PollForSourceChanges"] =
                json!("pipewright-placeholder-appname");
            p["roleArn"] = json!("arn:aws:iam::pipewright-placeholder-appname:role/pipeline");
        });
        let excused = validated(pipeline, &[app_name()]);
        assert!(excused.report.errors.is_empty(), "{excused:#?}");
        assert_eq!(excused.broken.len(), 2);
    }

    #[test]
    fn paths_reach_nested_lists_and_unknown_ones_reach_nothing() {
        let root = json!({"stages": [{"actions": [{}, {"inputArtifacts": [{"name": "a"}]}]}]});
        assert_eq!(value_at(&root, "stages[0].actions[1].inputArtifacts[0].name"), Some(&json!("a")));
        assert_eq!(value_at(&root, "stages[3].name"), None);
        assert_eq!(value_at(&root, "stages[x]"), None);
    }
}
