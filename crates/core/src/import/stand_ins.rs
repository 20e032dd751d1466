//! Validation errors that only the import's own stand-ins cause (docs/import.md,
//! "Validating an imported pipeline"). A placeholder, or a stack name taken from the file's
//! name, is Pipewright's choice, not the template's: when a field fails a rule (a bucket name
//! longer than 63 characters, a pipeline name longer than 100) and its value holds such a
//! stand-in, the failure says nothing about the template. It becomes a warning that names the
//! stand-in and how to give a real value, which is then checked as any value is.

use serde_json::Value;

use super::placeholders::Placeholder;
use crate::validate::{Issue, Report};

/// A value the import chose, and how the person gives the real one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StandIn {
    pub value: String,
    /// `the placeholder for parameter AppName; give it with --parameter AppName=…`.
    pub what: String,
    /// Held only where it stands as a whole, not inside a longer word: a short stack name
    /// (`ci`) is in many values by chance.
    pub whole: bool,
    /// The placeholder it is; `None` for a stack name.
    pub placeholder: Option<Placeholder>,
}

impl StandIn {
    /// The stand-ins among `placeholders` that no real value can be mistaken for: those marked
    /// `pipewright-placeholder` or zeroed ids (`vpc-00000000000000000`, a zero UUID). A
    /// placeholder such as `main` or the default account could be the template's own text.
    pub fn of_placeholders(placeholders: &[Placeholder]) -> Vec<StandIn> {
        placeholders
            .iter()
            .filter(|p| p.value.contains("pipewright-placeholder") || p.value.contains("00000000"))
            .map(|p| StandIn {
                value: p.value.clone(),
                what: format!(
                    "the placeholder for {} {}; give it with {} {}=…",
                    p.kind.describe(),
                    p.name,
                    p.kind.flag(),
                    p.name
                ),
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
            whole: true,
            placeholder: None,
        }
    }

    fn held_in(&self, text: &str) -> bool {
        if self.value.is_empty() {
            return false;
        }
        if !self.whole {
            return text.contains(&self.value);
        }
        let alphanumeric_at = |i: Option<char>| i.is_some_and(|c| c.is_ascii_alphanumeric());
        text.match_indices(&self.value).any(|(at, _)| {
            !alphanumeric_at(text[..at].chars().next_back())
                && !alphanumeric_at(text[at + self.value.len()..].chars().next())
        })
    }
}

/// `report` with each error at a field whose value holds one of `stand_ins` turned into a
/// warning that names the stand-in. `declaration` is the declaration as JSON, the paths of
/// the issues relative to it.
pub fn excuse(report: Report, declaration: &Value, stand_ins: &[StandIn]) -> Report {
    let mut excused = Report { errors: Vec::new(), warnings: report.warnings };
    for issue in report.errors {
        match blamed(&issue, declaration, stand_ins) {
            Some(stand_in) => excused.warnings.push(Issue {
                path: issue.path,
                message: format!("{} (the value holds {})", issue.message, stand_in.what),
            }),
            None => excused.errors.push(issue),
        }
    }
    excused
}

/// The errors of `report` that stand-ins cause, each with its stand-in: what a local run,
/// whose engine takes only a valid declaration, needs real values for.
pub fn broken_by<'a>(report: &Report, declaration: &Value, stand_ins: &'a [StandIn]) -> Vec<(&'a StandIn, Issue)> {
    report
        .errors
        .iter()
        .filter_map(|issue| blamed(issue, declaration, stand_ins).map(|stand_in| (stand_in, issue.clone())))
        .collect()
}

/// The stand-in the value at `issue`'s field holds, if any.
fn blamed<'a>(issue: &Issue, declaration: &Value, stand_ins: &'a [StandIn]) -> Option<&'a StandIn> {
    let text = match value_at(declaration, &issue.path)? {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    };
    stand_ins.iter().find(|s| s.held_in(&text))
}

/// The value at `path` (`stages[2].actions[0].configuration.Stack`, `artifactStore.location`).
fn value_at<'a>(root: &'a Value, path: &str) -> Option<&'a Value> {
    let mut value = root;
    for segment in path.split('.') {
        let (key, indexes) = segment.split_once('[').map_or((segment, ""), |(key, rest)| (key, rest));
        if !key.is_empty() {
            value = value.get(key)?;
        }
        for index in indexes.split('[').filter(|i| !i.is_empty()) {
            value = value.get(index.trim_end_matches(']').parse::<usize>().ok()?)?;
        }
    }
    Some(value)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::import::PlaceholderKind;

    fn issue(path: &str, message: &str) -> Issue {
        Issue { path: path.into(), message: message.into() }
    }

    fn placeholder(name: &str, kind: PlaceholderKind, value: &str) -> Placeholder {
        Placeholder { name: name.into(), kind, value: value.into(), used_at: Vec::new() }
    }

    #[test]
    fn an_error_only_a_stand_in_causes_is_a_warning_naming_it() {
        let declaration = json!({
            "name": "orders-service-release-pipeline-Code-Pipeline",
            "artifactStore": {"location": "app-123456789012-us-east-1-pipewright-placeholder-appname"},
            "stages": [{"actions": [{"configuration": {"Stack": "x", "Repo": "pipewright-placeholder/repository"}}]}],
        });
        let report = Report {
            errors: vec![
                issue("artifactStore.location", "is 68 characters long; the limit is 63"),
                issue("name", "is 101 characters long; the limit is 100"),
                issue("stages[0].actions[0].configuration.Stack", "is required"),
            ],
            warnings: vec![issue("roleArn", "a warning of its own")],
        };
        let mut stand_ins = StandIn::of_placeholders(&[
            placeholder("AppName", PlaceholderKind::Parameter, "pipewright-placeholder-appname"),
            placeholder("Branch", PlaceholderKind::Parameter, "main"),
        ]);
        stand_ins.push(StandIn::of_stack_name("orders-service-release-pipeline"));
        let excused = excuse(report, &declaration, &stand_ins);
        assert_eq!(excused.errors, [issue("stages[0].actions[0].configuration.Stack", "is required")]);
        assert_eq!(excused.warnings.len(), 3, "{excused:#?}");
        assert_eq!(
            excused.warnings[1].message,
            "is 68 characters long; the limit is 63 (the value holds the placeholder for parameter AppName; \
             give it with --parameter AppName=…)"
        );
        assert!(excused.warnings[2].message.contains("give it with --stack-name NAME"), "{excused:#?}");
    }

    #[test]
    fn a_placeholder_a_real_value_could_be_excuses_nothing() {
        let declaration = json!({"stages": [{"actions": [{"configuration": {"BranchName": "main"}}]}]});
        let report = Report {
            errors: vec![issue("stages[0].actions[0].configuration.BranchName", "a real error")],
            warnings: Vec::new(),
        };
        let stand_ins = StandIn::of_placeholders(&[placeholder("Branch", PlaceholderKind::Parameter, "main")]);
        assert!(stand_ins.is_empty());
        assert_eq!(excuse(report.clone(), &declaration, &stand_ins), report);
    }

    #[test]
    fn a_stack_name_is_held_only_as_a_whole() {
        let ci = StandIn::of_stack_name("ci");
        assert!(ci.held_in("ci-Pipeline") && ci.held_in("build-ci") && ci.held_in("ci"));
        assert!(!ci.held_in("pricing-service") && !ci.held_in("cicd"));
    }

    #[test]
    fn paths_reach_nested_lists_and_unknown_ones_excuse_nothing() {
        let root = json!({"stages": [{"actions": [{}, {"inputArtifacts": [{"name": "a"}]}]}]});
        assert_eq!(value_at(&root, "stages[0].actions[1].inputArtifacts[0].name"), Some(&json!("a")));
        assert_eq!(value_at(&root, "stages[3].name"), None);
        assert_eq!(value_at(&root, "stages[x]"), None);
        let report = Report { errors: vec![issue("stages[3].name", "e")], warnings: Vec::new() };
        let stand_ins = [StandIn::of_stack_name("a")];
        assert_eq!(excuse(report.clone(), &root, &stand_ins), report);
    }
}
