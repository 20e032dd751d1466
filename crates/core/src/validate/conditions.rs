//! Stage conditions (docs/reference/codepipeline.md §1.2): `onFailure` (rollback, automatic retry),
//! `onSuccess` and `beforeEntry`, with the results each allows and the shape of their rules.

use super::names::{Charset, check_count, check_length, check_name};
use super::{Checker, stage_path};
use crate::cron::Window;
use crate::declaration::{Condition, ConditionResult, PipelineDeclaration, RuleDeclaration, StageRetryMode};
use crate::rule_types::{RULE_TYPES, RuleProvider, VARIABLE_CHECK_OPERATORS};

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
            check_provider(c, &rule_path, rule, condition.result.as_ref(), path.contains("beforeEntry"));
        }
    }
}

/// What the rule's provider needs (docs/conditions.md): a provider Pipewright runs, its
/// required configuration, commands only for Commands, and a SKIP entry condition only over
/// LambdaInvoke and VariableCheck rules.
fn check_provider(c: &mut Checker, path: &str, rule: &RuleDeclaration, result: Option<&ConditionResult>, entry: bool) {
    let type_path = format!("{path}.ruleTypeId");
    let Some(provider) = RuleProvider::of(&rule.rule_type_id.provider) else {
        if !rule.rule_type_id.provider.is_empty() {
            let known: Vec<&str> = RULE_TYPES.iter().map(|t| t.name).collect();
            c.error(
                format!("{type_path}.provider"),
                format!("\"{}\" is not a rule provider; use {}", rule.rule_type_id.provider, known.join(", ")),
            );
        }
        return;
    };
    if let Some(version) = &rule.rule_type_id.version
        && version != "1"
    {
        c.error(
            format!("{type_path}.version"),
            format!("\"{version}\" is not a version of {}; use 1", provider.name()),
        );
    }
    let spec = provider.spec();
    let configuration = rule.configuration.as_ref();
    let value = |key: &str| configuration.and_then(|m| m.get(key)).map(String::as_str);
    for property in spec.properties.iter().filter(|p| p.required) {
        if value(property.name).is_none() {
            c.error(format!("{path}.configuration.{}", property.name), format!("is required by {} rules", spec.name));
        }
    }
    for key in configuration.into_iter().flat_map(|m| m.keys()) {
        if !spec.properties.iter().any(|p| p.name == key) {
            c.error(
                format!("{path}.configuration.{key}"),
                format!("is not a configuration key of {} rules", spec.name),
            );
        }
    }
    match (spec.takes_commands, &rule.commands) {
        (true, None) => c.error(format!("{path}.commands"), "is required by Commands rules: 1 to 50 commands"),
        (false, Some(_)) => {
            c.error(format!("{path}.commands"), format!("applies only to Commands rules, not {}", spec.name))
        }
        _ => {}
    }
    let inputs = rule.input_artifacts.as_ref().map_or(0, Vec::len);
    if inputs > spec.max_inputs as usize {
        c.error(
            format!("{path}.inputArtifacts"),
            format!("has {inputs}; {} rules take at most {}", spec.name, spec.max_inputs),
        );
    }
    match provider {
        RuleProvider::VariableCheck => {
            if let Some(operator) = value("Operator")
                && !VARIABLE_CHECK_OPERATORS.contains(&operator)
            {
                c.error(
                    format!("{path}.configuration.Operator"),
                    format!("\"{operator}\" is not an operator; use {}", VARIABLE_CHECK_OPERATORS.join(", ")),
                );
            }
        }
        RuleProvider::DeploymentWindow => {
            if let Some(cron) = value("Cron")
                && let Err(problem) = Window::parse(cron, value("TimeZone"))
            {
                let key = if problem.contains("time zone") { "TimeZone" } else { "Cron" };
                c.error(format!("{path}.configuration.{key}"), problem);
            }
        }
        _ => {}
    }
    if entry
        && result == Some(&ConditionResult::Skip)
        && !matches!(provider, RuleProvider::VariableCheck | RuleProvider::LambdaInvoke)
    {
        c.error(
            format!("{type_path}.provider"),
            format!(
                "an entry condition with the SKIP result takes only LambdaInvoke and VariableCheck rules, not {}",
                spec.name
            ),
        );
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
    fn rule_providers_and_their_configuration() {
        let rule = |provider: &str, configuration: serde_json::Value| {
            json!({"name": "r", "ruleTypeId": {"category": "Rule", "owner": "AWS", "provider": provider, "version": "1"},
                   "configuration": configuration})
        };
        let valid = with(valid_v2(), |p| {
            p["stages"][2]["beforeEntry"] = json!({"conditions": [{"result": "SKIP", "rules": [
                rule("VariableCheck", json!({"Variable": "#{variables.Env}", "Operator": "EQ", "Value": "prod"}))]}]});
            p["stages"][2]["onSuccess"] = json!({"conditions": [{"result": "FAIL", "rules": [
                rule("DeploymentWindow", json!({"Cron": "* * 9-17 ? * MON-FRI *", "TimeZone": "Europe/Paris"}))]}]});
        });
        assert!(errors_of(valid).is_empty());
        let errors = errors_of(with(valid_v2(), |p| {
            p["stages"][2]["beforeEntry"] = json!({"conditions": [{"result": "SKIP", "rules": [
                rule("DeploymentWindow", json!({"Cron": "* * 25 * * ?", "Extra": "x"}))]}]});
            p["stages"][2]["onSuccess"] = json!({"conditions": [{"result": "FAIL", "rules": [
                rule("VariableCheck", json!({"Variable": "x", "Operator": "GT"})),
                rule("Commands", json!({})),
                rule("Telepathy", json!({}))]}]});
        }));
        assert_has(
            &errors,
            "stages[2].beforeEntry.conditions[0].rules[0].configuration.Cron: hours: \"25\" is not a value from 0 to 23",
        );
        assert_has(
            &errors,
            "stages[2].beforeEntry.conditions[0].rules[0].configuration.Extra: is not a configuration key of DeploymentWindow rules",
        );
        assert_has(
            &errors,
            "stages[2].beforeEntry.conditions[0].rules[0].ruleTypeId.provider: an entry condition with the SKIP result takes only LambdaInvoke and VariableCheck rules",
        );
        assert_has(
            &errors,
            "stages[2].onSuccess.conditions[0].rules[0].configuration.Value: is required by VariableCheck rules",
        );
        assert_has(
            &errors,
            "stages[2].onSuccess.conditions[0].rules[0].configuration.Operator: \"GT\" is not an operator",
        );
        assert_has(&errors, "stages[2].onSuccess.conditions[0].rules[1].commands: is required by Commands rules");
        assert_has(
            &errors,
            "stages[2].onSuccess.conditions[0].rules[2].ruleTypeId.provider: \"Telepathy\" is not a rule provider",
        );
    }

    #[test]
    fn condition_results_and_rules() {
        let rule = json!({"name": "Alarm", "ruleTypeId": {"category": "Rule", "owner": "AWS", "provider": "CloudWatchAlarm", "version": "1"},
                          "configuration": {"AlarmName": "high-errors", "WaitTime": "5"}});
        let valid = with(valid_v2(), |p| {
            p["stages"][2]["beforeEntry"] = json!({"conditions": [{"result": "FAIL", "rules": [rule.clone()]}]});
            p["stages"][2]["onSuccess"] = json!({"conditions": [{"result": "ROLLBACK", "rules": [rule.clone()]}]});
        });
        assert_eq!(errors_of(valid), Vec::<String>::new());
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
