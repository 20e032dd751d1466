//! Stage conditions (docs/reference/codepipeline.md §1.2): `onFailure` (rollback, automatic retry),
//! `onSuccess` and `beforeEntry`, with the results each allows and the shape of their rules.

use super::names::{Charset, check_count, check_length, check_name};
use super::{Checker, stage_path};
use crate::declaration::{Condition, ConditionResult, PipelineDeclaration, StageRetryMode};

pub(super) fn check(p: &PipelineDeclaration, c: &mut Checker) {
    for (s, stage) in p.stages.iter().enumerate() {
        let path = stage_path(s);
        if let Some(on_failure) = &stage.on_failure {
            let failure_path = format!("{path}.onFailure");
            if let Some(result) = &on_failure.result {
                check_result(
                    c,
                    &format!("{failure_path}.result"),
                    result,
                    &[ConditionResult::Rollback, ConditionResult::Retry],
                );
            }
            if let Some(retry) = &on_failure.retry_configuration {
                if on_failure.result != Some(ConditionResult::Retry) {
                    c.error(format!("{failure_path}.retryConfiguration"), "applies only with \"result\": \"RETRY\"");
                }
                if let Some(mode) = &retry.retry_mode
                    && !mode.is_known()
                {
                    c.error(
                        format!("{failure_path}.retryConfiguration.retryMode"),
                        format!("\"{mode}\" is not a retry mode; use {}", StageRetryMode::KNOWN.join(" or ")),
                    );
                }
            }
            if on_failure.result.is_none() && on_failure.conditions.is_none() {
                c.error(&failure_path, "needs a \"result\" (ROLLBACK or RETRY) or conditions");
            }
            if let Some(conditions) = &on_failure.conditions {
                check_conditions(c, &failure_path, conditions, &[ConditionResult::Rollback, ConditionResult::Retry]);
            }
        }
        if let Some(on_success) = &stage.on_success {
            check_conditions(
                c,
                &format!("{path}.onSuccess"),
                &on_success.conditions,
                &[ConditionResult::Rollback, ConditionResult::Fail],
            );
        }
        if let Some(before_entry) = &stage.before_entry {
            check_conditions(
                c,
                &format!("{path}.beforeEntry"),
                &before_entry.conditions,
                &[ConditionResult::Fail, ConditionResult::Skip],
            );
        }
    }
}

fn check_result(c: &mut Checker, path: &str, result: &ConditionResult, allowed: &[ConditionResult]) {
    if !allowed.contains(result) {
        let names: Vec<&str> = allowed.iter().map(ConditionResult::as_str).collect();
        c.error(path, format!("\"{result}\" is not allowed here; use {}", names.join(" or ")));
    }
}

fn check_conditions(c: &mut Checker, path: &str, conditions: &[Condition], allowed: &[ConditionResult]) {
    let path = format!("{path}.conditions");
    check_count(c, &path, conditions.len(), 1, 1, "conditions");
    for (i, condition) in conditions.iter().enumerate() {
        let condition_path = format!("{path}[{i}]");
        if let Some(result) = &condition.result {
            check_result(c, &format!("{condition_path}.result"), result, allowed);
        }
        let Some(rules) = &condition.rules else {
            c.error(format!("{condition_path}.rules"), "is required: 1 to 5 rules");
            continue;
        };
        check_count(c, &format!("{condition_path}.rules"), rules.len(), 1, 5, "rules");
        for (r, rule) in rules.iter().enumerate() {
            let rule_path = format!("{condition_path}.rules[{r}]");
            check_name(c, &format!("{rule_path}.name"), &rule.name, 100, Charset::Entity);
            let type_path = format!("{rule_path}.ruleTypeId");
            if rule.rule_type_id.category != "Rule" {
                c.error(
                    format!("{type_path}.category"),
                    format!("\"{}\" is not a rule category; use Rule", rule.rule_type_id.category),
                );
            }
            if let Some(owner) = &rule.rule_type_id.owner
                && owner != "AWS"
            {
                c.error(format!("{type_path}.owner"), format!("\"{owner}\" is not a rule owner; use AWS"));
            }
            check_name(c, &format!("{type_path}.provider"), &rule.rule_type_id.provider, 35, Charset::Provider);
            if let Some(version) = &rule.rule_type_id.version {
                check_name(c, &format!("{type_path}.version"), version, 9, Charset::Provider);
            }
            if let Some(configuration) = &rule.configuration {
                if configuration.len() > 200 {
                    c.error(
                        format!("{rule_path}.configuration"),
                        format!("has {} keys; the limit is 200", configuration.len()),
                    );
                }
                for (key, value) in configuration {
                    check_length(c, &format!("{rule_path}.configuration.{key}"), key, 1, 50);
                    check_length(c, &format!("{rule_path}.configuration.{key}"), value, 1, 10_000);
                }
            }
            if let Some(commands) = &rule.commands {
                check_count(c, &format!("{rule_path}.commands"), commands.len(), 1, 50, "commands");
            }
            if let Some(timeout) = rule.timeout_in_minutes
                && !(5..=86_400).contains(&timeout)
            {
                c.error(
                    format!("{rule_path}.timeoutInMinutes"),
                    format!("is {timeout}; it must be 5 to 86400 minutes"),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::validate::test_support::*;
    use serde_json::json;

    #[test]
    fn automatic_retry_declaration() {
        let valid = with(valid_v2(), |p| {
            p["stages"][1]["onFailure"] =
                json!({"result": "RETRY", "retryConfiguration": {"retryMode": "ALL_ACTIONS"}});
        });
        assert!(errors_of(valid).is_empty());
        let errors = errors_of(with(valid_v2(), |p| {
            p["stages"][1]["onFailure"] =
                json!({"result": "SKIP", "retryConfiguration": {"retryMode": "SOME_ACTIONS"}});
        }));
        assert_has(&errors, "stages[1].onFailure.result: \"SKIP\" is not allowed here; use ROLLBACK or RETRY");
        assert_has(&errors, "stages[1].onFailure.retryConfiguration: applies only with \"result\": \"RETRY\"");
        assert_has(&errors, "stages[1].onFailure.retryConfiguration.retryMode: \"SOME_ACTIONS\" is not a retry mode");
    }

    #[test]
    fn condition_results_and_rules() {
        let rule = json!({"name": "Alarm", "ruleTypeId": {"category": "Rule", "owner": "AWS", "provider": "CloudWatchAlarm", "version": "1"},
                          "configuration": {"AlarmName": "high-errors", "WaitTime": "5"}});
        let valid = with(valid_v2(), |p| {
            p["stages"][2]["beforeEntry"] = json!({"conditions": [{"result": "SKIP", "rules": [rule.clone()]}]});
            p["stages"][2]["onSuccess"] = json!({"conditions": [{"result": "ROLLBACK", "rules": [rule.clone()]}]});
        });
        assert!(errors_of(valid).is_empty());
        let errors = errors_of(with(valid_v2(), |p| {
            p["stages"][2]["beforeEntry"] = json!({"conditions": [{"result": "ROLLBACK", "rules": []}]});
            p["stages"][2]["onSuccess"] = json!({"conditions": [{"result": "FAIL", "rules": [rule.clone()]}, {"result": "FAIL", "rules": [rule.clone()]}]});
            p["stages"][1]["beforeEntry"] = json!({"conditions": [{"result": "FAIL", "rules": [{"name": "r", "ruleTypeId": {"category": "Action", "provider": "X"}}]}]});
        }));
        assert_has(
            &errors,
            "stages[2].beforeEntry.conditions[0].result: \"ROLLBACK\" is not allowed here; use FAIL or SKIP",
        );
        assert_has(&errors, "stages[2].beforeEntry.conditions[0].rules: has 0 rules; 1 to 5 are allowed");
        assert_has(&errors, "stages[2].onSuccess.conditions: has 2 conditions; exactly 1 are allowed");
        assert_has(
            &errors,
            "stages[1].beforeEntry.conditions[0].rules[0].ruleTypeId.category: \"Action\" is not a rule category",
        );
    }
}
