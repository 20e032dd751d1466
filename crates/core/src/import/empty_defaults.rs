//! Parameters whose `Default` is the empty string (docs/import.md, "Parameters"). Many
//! templates default a repository, branch or bucket to `''` and expect it to be given at
//! deploy time; CloudFormation passes the empty string on, and the pipeline's own rules
//! refuse it. The error is the template's, but it should name what to give: an error at a
//! field such a parameter fills says so.

use crate::validate::Issue;

/// A parameter left at an empty `Default`, and where the pipeline uses it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmptyDefault {
    pub name: String,
    /// `LogicalId.Property.Path`, as a placeholder's uses are written.
    pub used_at: Vec<String>,
}

/// `issues` with each error at a field an empty default fills told which parameter to give.
pub fn name_in(issues: &mut [Issue], logical_id: &str, empty: &[EmptyDefault]) {
    for issue in issues {
        let names: Vec<&str> = empty
            .iter()
            .filter(|parameter| parameter.used_at.iter().any(|path| fills(path, logical_id, &issue.path)))
            .map(|parameter| parameter.name.as_str())
            .collect();
        if names.is_empty() {
            continue;
        }
        let give: Vec<String> = names.iter().map(|name| format!("--parameter {name}=…")).collect();
        let which = match names.as_slice() {
            [one] => format!("the parameter {one}, whose Default is ''"),
            many => format!("the parameters {}, whose Defaults are ''", many.join(", ")),
        };
        issue.message = format!("{} (it holds {which}; give a value with {})", issue.message, give.join(" "));
    }
}

/// A template path (`Pipeline.Stages[3].Actions[1].Configuration.X`) as the declaration's:
/// each index less the items `AWS::NoValue` dropped before it from that list (`dropped`: the
/// list's template path, the dropped item's index).
pub fn declared_path(template_path: &str, dropped: &std::collections::BTreeSet<(String, usize)>) -> String {
    let mut declared = String::with_capacity(template_path.len());
    let mut rest = template_path;
    while let Some(open) = rest.find('[') {
        let Some(close) = rest[open..].find(']').map(|c| open + c) else { break };
        let list = &template_path[..template_path.len() - rest.len() + open];
        declared.push_str(&rest[..open]);
        match rest[open + 1..close].parse::<usize>() {
            Ok(index) => {
                let before = dropped.iter().filter(|(path, at)| path == list && *at < index).count();
                declared.push_str(&format!("[{}]", index.saturating_sub(before)));
            }
            Err(_) => declared.push_str(&rest[open..=close]),
        }
        rest = &rest[close + 1..];
    }
    declared.push_str(rest);
    declared
}

/// Whether a use at `used_at` (`Pipeline.Stages[0].Actions[0].Configuration.BranchName`) fills
/// the field of an error at `error_path` (`stages[0].actions[0].configuration.BranchName`): the
/// same field, or the whole of what holds it. An empty string is a field's value, never a
/// missing key, so an error about an object (`configuration: X is required`) is not its.
/// Template and declaration name fields alike but for the case of their first letter.
fn fills(used_at: &str, logical_id: &str, error_path: &str) -> bool {
    let Some(used) = used_at.strip_prefix(logical_id).and_then(|rest| rest.strip_prefix('.')) else {
        return false;
    };
    let (used, error) = (used.to_ascii_lowercase(), error_path.to_ascii_lowercase());
    error.strip_prefix(&used).is_some_and(|rest| rest.is_empty() || rest.starts_with('.') || rest.starts_with('['))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn issue(path: &str, message: &str) -> Issue {
        Issue { path: path.into(), message: message.into() }
    }

    fn empty(name: &str, used_at: &[&str]) -> EmptyDefault {
        EmptyDefault { name: name.into(), used_at: used_at.iter().map(|p| p.to_string()).collect() }
    }

    #[test]
    fn an_error_at_a_field_an_empty_default_fills_names_the_parameter() {
        let mut issues = [
            issue("stages[0].actions[0].configuration.BranchName", "must not be empty"),
            issue("stages[0].actions[0].configuration.FullRepositoryId", "\"/\" is not of the form owner/repository"),
            issue("stages[0].actions[0].configuration", "ConnectionArn is required"),
            issue("stages[0].actions[0].configuration.ConnectionArn", "must not be empty"),
            issue("artifactStore.location", "is required"),
            issue("stages[1].actions[0].name", "is not unique"),
        ];
        let empties = [
            empty("Branch", &["Pipeline.Stages[0].Actions[0].Configuration.BranchName"]),
            empty("Owner", &["Pipeline.Stages[0].Actions[0].Configuration.FullRepositoryId"]),
            empty("Repo", &["Pipeline.Stages[0].Actions[0].Configuration.FullRepositoryId"]),
            empty("Connection", &["Pipeline.Stages[0].Actions[0].Configuration.ConnectionArn"]),
            empty("Bucket", &["Pipeline.ArtifactStore"]),
            // Another pipeline's use, and another resource's, fill nothing here.
            empty("Other", &["OtherPipeline.ArtifactStore.Location", "Bucket.BucketName"]),
        ];
        name_in(&mut issues, "Pipeline", &empties);
        let messages: Vec<&str> = issues.iter().map(|i| i.message.as_str()).collect();
        assert_eq!(
            messages,
            [
                "must not be empty (it holds the parameter Branch, whose Default is ''; give a value with --parameter Branch=…)",
                "\"/\" is not of the form owner/repository (it holds the parameters Owner, Repo, whose Defaults are ''; give a value with --parameter Owner=… --parameter Repo=…)",
                "ConnectionArn is required",
                "must not be empty (it holds the parameter Connection, whose Default is ''; give a value with --parameter Connection=…)",
                "is required (it holds the parameter Bucket, whose Default is ''; give a value with --parameter Bucket=…)",
                "is not unique",
            ]
        );
    }

    #[test]
    fn a_template_path_counts_only_the_items_the_declaration_kept() {
        let dropped = std::collections::BTreeSet::from([
            ("P.Stages".to_string(), 0),
            ("P.Stages[2].Actions".to_string(), 1),
            ("P.Other".to_string(), 0),
        ]);
        assert_eq!(
            declared_path("P.Stages[2].Actions[3].Configuration.X", &dropped),
            "P.Stages[1].Actions[2].Configuration.X"
        );
        assert_eq!(declared_path("P.Stages[2].Actions[0].Name", &dropped), "P.Stages[1].Actions[0].Name");
        assert_eq!(declared_path("P.Name", &dropped), "P.Name");
        assert_eq!(declared_path("P.Stages[0]", &Default::default()), "P.Stages[0]");
    }

    #[test]
    fn a_field_is_filled_only_by_its_own_path_not_one_that_shares_a_prefix() {
        assert!(!fills("Pipeline.Stages[1].Actions[0].Name", "Pipeline", "stages[10].actions[0].name"));
        assert!(!fills(
            "Pipeline.Stages[0].Actions[0].Configuration.Branch",
            "Pipeline",
            "stages[0].actions[0].configuration.BranchName"
        ));
        assert!(!fills("Pipeline2.Name", "Pipeline", "name"));
        // An error about a whole stage is not the fault of one deep field.
        assert!(!fills("Pipeline.Stages[0].Actions[0].Name", "Pipeline", "stages[0]"));
        assert!(fills("Pipeline.Name", "Pipeline", "name"));
    }
}
