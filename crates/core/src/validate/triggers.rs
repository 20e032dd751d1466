//! Triggers (docs/reference/codepipeline.md §1.5): each names a CodeStarSourceConnection source
//! action, at most one per action, with 1–3 push or pull-request filters of 1–8 glob patterns each.

use std::collections::BTreeMap;

use super::Checker;
use super::names::{check_count, check_length};
use crate::declaration::{ActionCategory, GitFilterCriteria, PipelineDeclaration, PullRequestEvent};
use crate::providers::{self, ProviderKind};

pub(super) fn check(p: &PipelineDeclaration, c: &mut Checker) {
    let Some(triggers) = &p.triggers else { return };
    if triggers.len() > 50 {
        c.error("triggers", format!("has {} triggers; at most 50 are allowed", triggers.len()));
    }
    let mut by_action: BTreeMap<&str, usize> = BTreeMap::new();
    for (t, trigger) in triggers.iter().enumerate() {
        let path = format!("triggers[{t}]");
        if !trigger.provider_type.is_known() {
            c.error(
                format!("{path}.providerType"),
                format!("\"{}\" is not a trigger provider; use CodeStarSourceConnection", trigger.provider_type),
            );
        }
        let git = &trigger.git_configuration;
        let git_path = format!("{path}.gitConfiguration");
        let action_name = git.source_action_name.as_str();
        let source = p.stages.first().and_then(|stage| stage.actions.iter().find(|a| a.name == action_name));
        match source {
            _ if action_name.is_empty() => c.error(format!("{git_path}.sourceActionName"), "is required"),
            None => c.error(
                format!("{git_path}.sourceActionName"),
                format!("no source action is named \"{action_name}\" in the first stage"),
            ),
            Some(action) => {
                let is_connection = action.action_type_id.category == ActionCategory::Source
                    && providers::spec_of(&action.action_type_id)
                        .is_some_and(|s| s.kind == ProviderKind::CodeStarSourceConnection);
                if !is_connection {
                    c.error(
                        format!("{git_path}.sourceActionName"),
                        format!(
                            "\"{action_name}\" is a {} action; triggers apply to CodeStarSourceConnection sources",
                            action.action_type_id.provider
                        ),
                    );
                }
            }
        }
        if !action_name.is_empty() {
            match by_action.get(action_name) {
                Some(first) => c.error(
                    format!("{git_path}.sourceActionName"),
                    format!("source action \"{action_name}\" already has a trigger (triggers[{first}]); one trigger per source action"),
                ),
                None => {
                    by_action.insert(action_name, t);
                }
            }
        }
        if git.push.is_none() && git.pull_request.is_none() {
            c.error(&git_path, "needs push or pullRequest filters");
        }
        if let Some(push) = &git.push {
            check_count(c, &format!("{git_path}.push"), push.len(), 1, 3, "push filters");
            for (f, filter) in push.iter().enumerate() {
                let filter_path = format!("{git_path}.push[{f}]");
                match (&filter.tags, &filter.branches) {
                    (Some(_), Some(_)) => c.error(&filter_path, "filters on tags or on branches, not both"),
                    (Some(_), None) if filter.file_paths.is_some() => c.error(
                        format!("{filter_path}.filePaths"),
                        "file paths filter branch pushes; they do not apply to tags",
                    ),
                    (None, None) => c.error(&filter_path, "needs tags or branches"),
                    _ => {}
                }
                check_criteria(c, &format!("{filter_path}.tags"), filter.tags.as_ref());
                check_criteria(c, &format!("{filter_path}.branches"), filter.branches.as_ref());
                check_criteria(c, &format!("{filter_path}.filePaths"), filter.file_paths.as_ref());
            }
        }
        if let Some(pull_requests) = &git.pull_request {
            check_count(c, &format!("{git_path}.pullRequest"), pull_requests.len(), 1, 3, "pull request filters");
            for (f, filter) in pull_requests.iter().enumerate() {
                let filter_path = format!("{git_path}.pullRequest[{f}]");
                if let Some(events) = &filter.events {
                    check_count(c, &format!("{filter_path}.events"), events.len(), 1, 3, "events");
                    for (e, event) in events.iter().enumerate() {
                        if !event.is_known() {
                            c.error(
                                format!("{filter_path}.events[{e}]"),
                                format!(
                                    "\"{event}\" is not a pull request event; use {}",
                                    PullRequestEvent::KNOWN.join(", ")
                                ),
                            );
                        } else if events[..e].contains(event) {
                            c.error(format!("{filter_path}.events[{e}]"), format!("\"{event}\" is listed twice"));
                        }
                    }
                }
                check_criteria(c, &format!("{filter_path}.branches"), filter.branches.as_ref());
                check_criteria(c, &format!("{filter_path}.filePaths"), filter.file_paths.as_ref());
            }
        }
    }
}

fn check_criteria(c: &mut Checker, path: &str, criteria: Option<&GitFilterCriteria>) {
    let Some(criteria) = criteria else { return };
    if criteria.includes.is_none() && criteria.excludes.is_none() {
        c.error(path, "needs includes or excludes");
    }
    for (kind, patterns) in [("includes", &criteria.includes), ("excludes", &criteria.excludes)] {
        let Some(patterns) = patterns else { continue };
        check_count(c, &format!("{path}.{kind}"), patterns.len(), 1, 8, "patterns");
        for (i, pattern) in patterns.iter().enumerate() {
            check_length(c, &format!("{path}.{kind}[{i}]"), pattern, 1, 255);
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::validate::test_support::*;
    use serde_json::json;

    fn with_triggers(triggers: serde_json::Value) -> Vec<String> {
        errors_of(with(valid_v2(), |p| p["triggers"] = triggers))
    }

    #[test]
    fn a_realistic_trigger_is_valid() {
        let errors = with_triggers(json!([{
            "providerType": "CodeStarSourceConnection",
            "gitConfiguration": {
                "sourceActionName": "Source",
                "push": [{"branches": {"includes": ["main", "release/**"], "excludes": ["release/old-*"]},
                          "filePaths": {"includes": ["services/**"]}}, {"tags": {"includes": ["v*"]}}],
                "pullRequest": [{"events": ["OPEN", "UPDATED"], "branches": {"includes": ["main"]}}]
            }
        }]));
        assert!(errors.is_empty(), "{errors:?}");
    }

    #[test]
    fn trigger_source_action_must_exist_be_a_connection_and_be_unique() {
        let errors = with_triggers(json!([
            {"providerType": "GitHubWebhook", "gitConfiguration": {"sourceActionName": "Nope", "push": [{"branches": {"includes": ["main"]}}]}},
            {"providerType": "CodeStarSourceConnection", "gitConfiguration": {"sourceActionName": "Source", "push": [{"branches": {"includes": ["main"]}}]}},
            {"providerType": "CodeStarSourceConnection", "gitConfiguration": {"sourceActionName": "Source", "pullRequest": [{"branches": {"includes": ["main"]}}]}}
        ]));
        assert_has(&errors, "triggers[0].providerType: \"GitHubWebhook\" is not a trigger provider");
        assert_has(&errors, "triggers[0].gitConfiguration.sourceActionName: no source action is named \"Nope\"");
        assert_has(
            &errors,
            "triggers[2].gitConfiguration.sourceActionName: source action \"Source\" already has a trigger (triggers[1])",
        );

        let errors = errors_of(with(valid_v1(), |p| {
            p["pipelineType"] = json!("V2");
            p["triggers"] = json!([{"providerType": "CodeStarSourceConnection", "gitConfiguration": {"sourceActionName": "Source", "push": [{"branches": {"includes": ["main"]}}]}}]);
        }));
        assert_has(
            &errors,
            "triggers[0].gitConfiguration.sourceActionName: \"Source\" is a S3 action; triggers apply to CodeStarSourceConnection sources",
        );
    }

    #[test]
    fn filter_shapes_and_limits() {
        let errors = with_triggers(json!([{"providerType": "CodeStarSourceConnection", "gitConfiguration": {
            "sourceActionName": "Source",
            "push": [
                {"tags": {"includes": ["v*"]}, "branches": {"includes": ["main"]}},
                {"filePaths": {"includes": ["a/**"]}},
                {"branches": {"includes": (0..9).map(|i| format!("b{i}")).collect::<Vec<_>>()}},
                {"branches": {}}
            ],
            "pullRequest": [{"events": ["OPEN", "MERGED", "OPEN"], "branches": {"includes": ["x".repeat(256)]}}]
        }}]));
        assert_has(&errors, "triggers[0].gitConfiguration.push: has 4 push filters; 1 to 3 are allowed");
        assert_has(&errors, "triggers[0].gitConfiguration.push[0]: filters on tags or on branches, not both");
        assert_has(&errors, "triggers[0].gitConfiguration.push[1]: needs tags or branches");
        assert_has(
            &errors,
            "triggers[0].gitConfiguration.push[2].branches.includes: has 9 patterns; 1 to 8 are allowed",
        );
        assert_has(&errors, "triggers[0].gitConfiguration.push[3].branches: needs includes or excludes");
        assert_has(
            &errors,
            "triggers[0].gitConfiguration.pullRequest[0].events[1]: \"MERGED\" is not a pull request event",
        );
        assert_has(&errors, "triggers[0].gitConfiguration.pullRequest[0].events[2]: \"OPEN\" is listed twice");
        assert_has(&errors, "triggers[0].gitConfiguration.pullRequest[0].branches.includes[0]: is 256 characters long");
    }
}
