//! Namespaces and variable references (docs/reference/codepipeline.md §1.6): every
//! `#{Namespace.Var}` names a namespace declared by an action that runs earlier, `#{variables.X}` a
//! declared pipeline variable, and `#{codepipeline.X}` a variable every execution has.

use std::collections::{BTreeMap, BTreeSet};

use super::{Checker, Position, action_path, stage_path};
use crate::declaration::{ActionDeclaration, PipelineDeclaration};
use crate::providers::{self, ProviderKind};
use crate::variables::{self, CODEPIPELINE_NAMESPACE, CODEPIPELINE_VARIABLES, PIPELINE_VARIABLES_NAMESPACE};

struct Declared<'a> {
    path: String,
    position: Position,
    action: &'a ActionDeclaration,
}

struct Scope<'a> {
    namespaces: BTreeMap<&'a str, Declared<'a>>,
    variables: BTreeSet<&'a str>,
}

pub(super) fn check(p: &PipelineDeclaration, c: &mut Checker) {
    let scope = Scope {
        namespaces: declared_namespaces(p, c),
        variables: p.variables.iter().flatten().map(|v| v.name.as_str()).collect(),
    };
    for (s, a, action) in p.actions() {
        let path = action_path(s, a);
        let here = Position { stage: s, run_order: action.effective_run_order() };
        for (key, value) in action.configuration.iter().flatten() {
            check_text(c, &format!("{path}.configuration.{key}"), value, here, &scope);
        }
        for (i, command) in action.commands.iter().flatten().enumerate() {
            check_text(c, &format!("{path}.commands[{i}]"), command, here, &scope);
        }
        for (i, variable) in action.environment_variables.iter().flatten().enumerate() {
            check_text(c, &format!("{path}.environmentVariables[{i}].value"), &variable.value, here, &scope);
        }
    }
    // Entry conditions run before the stage's actions; success and failure conditions after.
    for (s, stage) in p.stages.iter().enumerate() {
        let before = Position { stage: s, run_order: i64::MIN };
        let after = Position { stage: s, run_order: i64::MAX };
        let groups = [
            ("beforeEntry", before, stage.before_entry.as_ref().map(|b| b.conditions.as_slice())),
            ("onSuccess", after, stage.on_success.as_ref().map(|o| o.conditions.as_slice())),
            ("onFailure", after, stage.on_failure.as_ref().and_then(|o| o.conditions.as_deref())),
        ];
        for (kind, position, conditions) in groups {
            for (i, condition) in conditions.into_iter().flatten().enumerate() {
                for (r, rule) in condition.rules.iter().flatten().enumerate() {
                    let rule_path = format!("{}.{kind}.conditions[{i}].rules[{r}]", stage_path(s));
                    for (key, value) in rule.configuration.iter().flatten() {
                        check_text(c, &format!("{rule_path}.configuration.{key}"), value, position, &scope);
                    }
                    for (n, command) in rule.commands.iter().flatten().enumerate() {
                        check_text(c, &format!("{rule_path}.commands[{n}]"), command, position, &scope);
                    }
                }
            }
        }
    }
}

/// Namespaces by name, checking that each is unique, not reserved, and not an artifact name.
fn declared_namespaces<'a>(p: &'a PipelineDeclaration, c: &mut Checker) -> BTreeMap<&'a str, Declared<'a>> {
    let artifacts: BTreeSet<&str> = p.actions().flat_map(|(_, _, a)| a.output_names()).collect();
    let mut namespaces: BTreeMap<&str, Declared> = BTreeMap::new();
    for (s, a, action) in p.actions() {
        let Some(namespace) = action.namespace.as_deref().filter(|n| !n.is_empty()) else {
            continue;
        };
        let path = action_path(s, a);
        let field = format!("{path}.namespace");
        if namespace == CODEPIPELINE_NAMESPACE || namespace == PIPELINE_VARIABLES_NAMESPACE {
            c.error(&field, format!("\"{namespace}\" is reserved by CodePipeline"));
            continue;
        }
        if artifacts.contains(namespace) {
            c.error(
                &field,
                format!("\"{namespace}\" is also an artifact name; a namespace must not collide with an artifact name"),
            );
        }
        match namespaces.get(namespace) {
            Some(first) => c.error(&field, format!("namespace \"{namespace}\" is already declared by {}", first.path)),
            None => {
                let position = Position { stage: s, run_order: action.effective_run_order() };
                namespaces.insert(namespace, Declared { path, position, action });
            }
        }
    }
    namespaces
}

fn check_text(c: &mut Checker, path: &str, text: &str, here: Position, scope: &Scope) {
    let references = match variables::references(text) {
        Ok(references) => references,
        Err(malformed) => {
            c.error(path, malformed.to_string());
            return;
        }
    };
    for reference in references {
        let (namespace, key) = (reference.namespace, reference.key);
        match namespace {
            CODEPIPELINE_NAMESPACE => {
                if !CODEPIPELINE_VARIABLES.contains(&key) {
                    c.error(
                        path,
                        format!("{reference}: \"{key}\" is not a codepipeline variable; the only one is {}", CODEPIPELINE_VARIABLES.join(", ")),
                    );
                }
            }
            PIPELINE_VARIABLES_NAMESPACE => {
                if !scope.variables.contains(key) {
                    c.error(path, format!("{reference}: pipeline variable \"{key}\" is not declared in \"variables\""));
                }
            }
            _ => match scope.namespaces.get(namespace) {
                None => c.error(path, format!("{reference}: no action declares the namespace \"{namespace}\"")),
                Some(declared) if !declared.position.runs_before(here) => c.error(
                    path,
                    format!(
                        "{reference}: namespace \"{namespace}\" belongs to {}, which does not run before this point; it must be in an earlier stage or a lower runOrder",
                        declared.path
                    ),
                ),
                Some(declared) => check_output_variable(c, path, &reference.to_string(), key, declared),
            },
        }
    }
}

/// Where the provider's output variables are known, the key must be one of them.
fn check_output_variable(c: &mut Checker, path: &str, reference: &str, key: &str, declared: &Declared) {
    let action = declared.action;
    let Some(spec) = providers::spec_of(&action.action_type_id) else {
        return;
    };
    if spec.kind == ProviderKind::Commands {
        let listed: Vec<&str> = action.output_variables.iter().flatten().map(String::as_str).collect();
        if !listed.contains(&key) {
            let shown = if listed.is_empty() { "it lists none".to_string() } else { listed.join(", ") };
            c.error(
                path,
                format!("{reference}: \"{key}\" is not in the outputVariables of {} ({shown})", declared.path),
            );
        }
        return;
    }
    // AWS's lists are what it documents, and real pipelines reference more (a connection
    // source's AuthorId): CreatePipeline takes them, so a warning here, and a reference that
    // does not resolve fails its attempt when it starts (docs/reference/codepipeline.md §1.6).
    if let Some(known) = spec.output_variables
        && !known.contains(&key)
    {
        let shown = if known.is_empty() { "none".to_string() } else { known.join(", ") };
        c.warn(
            path,
            format!(
                "{reference}: \"{key}\" is not an output variable AWS documents for {}/{} {} actions (they set: {shown}); if the action does not set it, the attempt that reads it fails when it starts",
                action.action_type_id.owner, action.action_type_id.provider, action.action_type_id.category
            ),
        );
    }
}

#[cfg(test)]
mod tests {
    use crate::validate::test_support::*;
    use serde_json::json;

    #[test]
    fn every_reference_kind_resolves_in_the_fixture() {
        assert!(errors_of(valid_v2()).is_empty());
    }

    #[test]
    fn namespace_must_be_declared_by_an_earlier_action() {
        let errors = errors_of(with(valid_v2(), |p| {
            p["stages"][1]["actions"][0]["commands"] = json!(["echo #{Nope.X}", "echo #{BuildVariables.VERSION}"]);
            p["stages"][2]["actions"][0]["configuration"]["ExternalEntityLink"] = json!("https://x/#{Later.Out}");
            p["stages"][2]["actions"][1]["namespace"] = json!("Later");
        }));
        assert_has(&errors, "stages[1].actions[0].commands[0]: #{Nope.X}: no action declares the namespace \"Nope\"");
        assert_has(
            &errors,
            "stages[1].actions[0].commands[1]: #{BuildVariables.VERSION}: namespace \"BuildVariables\" belongs to stages[1].actions[0], which does not run before this point",
        );
        assert_has(
            &errors,
            "stages[2].actions[0].configuration.ExternalEntityLink: #{Later.Out}: namespace \"Later\" belongs to stages[2].actions[1], which does not run before this point",
        );
    }

    #[test]
    fn same_run_order_group_cannot_see_each_other_s_variables() {
        let errors = errors_of(with(valid_v2(), |p| {
            p["stages"][2]["actions"][1]["runOrder"] = json!(1);
            p["stages"][2]["actions"][1]["namespace"] = json!("Pub");
            p["stages"][2]["actions"][0]["configuration"]["CustomData"] = json!("#{Pub.X}");
        }));
        assert_has(
            &errors,
            "stages[2].actions[0].configuration.CustomData: #{Pub.X}: namespace \"Pub\" belongs to stages[2].actions[1]",
        );
    }

    #[test]
    fn pipeline_and_codepipeline_variables_must_exist() {
        let errors = errors_of(with(valid_v2(), |p| {
            p["stages"][2]["actions"][1]["configuration"]["BucketName"] =
                json!("#{variables.Region}-#{codepipeline.PipelineName}");
        }));
        assert_has(
            &errors,
            "stages[2].actions[1].configuration.BucketName: #{variables.Region}: pipeline variable \"Region\" is not declared",
        );
        assert_has(
            &errors,
            "stages[2].actions[1].configuration.BucketName: #{codepipeline.PipelineName}: \"PipelineName\" is not a codepipeline variable",
        );
    }

    #[test]
    fn output_variable_names_are_checked_where_the_provider_fixes_them() {
        let pipeline = with(valid_v2(), |p| {
            p["stages"][1]["actions"][0]["environmentVariables"][0]["value"] = json!("#{SourceVariables.Sha}");
            p["stages"][2]["actions"][0]["configuration"]["CustomData"] = json!("#{BuildVariables.RELEASE}");
        });
        let errors = errors_of(pipeline.clone());
        assert!(!errors.iter().any(|e| e.contains("Sha")), "{errors:?}");
        assert_has(
            &warnings_of(pipeline),
            "stages[1].actions[0].environmentVariables[0].value: #{SourceVariables.Sha}: \"Sha\" is not an output variable AWS documents for AWS/CodeStarSourceConnection Source actions",
        );
        assert_has(
            &errors,
            "stages[2].actions[0].configuration.CustomData: #{BuildVariables.RELEASE}: \"RELEASE\" is not in the outputVariables of stages[1].actions[0] (VERSION)",
        );
    }

    #[test]
    fn malformed_references_are_errors() {
        let errors =
            errors_of(with(valid_v2(), |p| p["stages"][1]["actions"][0]["commands"][0] = json!("echo #{VERSION}")));
        assert_has(&errors, "stages[1].actions[0].commands[0]: malformed variable reference \"#{VERSION}\"");
    }

    #[test]
    fn namespaces_are_unique_unreserved_and_not_artifact_names() {
        let errors = errors_of(with(valid_v2(), |p| {
            p["stages"][1]["actions"][0]["namespace"] = json!("SourceVariables");
            p["stages"][2]["actions"][0]["namespace"] = json!("codepipeline");
            p["stages"][2]["actions"][1]["namespace"] = json!("BuildOutput");
            p["stages"][2]["actions"][0]["configuration"]["CustomData"] = json!("ok");
        }));
        assert_has(
            &errors,
            "stages[1].actions[0].namespace: namespace \"SourceVariables\" is already declared by stages[0].actions[0]",
        );
        assert_has(&errors, "stages[2].actions[0].namespace: \"codepipeline\" is reserved");
        assert_has(&errors, "stages[2].actions[1].namespace: \"BuildOutput\" is also an artifact name");
    }

    #[test]
    fn stage_condition_rules_see_earlier_and_own_stage_namespaces() {
        let rule = |config: serde_json::Value| json!({"name": "Check", "ruleTypeId": {"category": "Rule", "owner": "AWS", "provider": "VariableCheck", "version": "1"}, "configuration": config});
        let errors = errors_of(with(valid_v2(), |p| {
            p["stages"][1]["beforeEntry"] = json!({"conditions": [{"result": "FAIL", "rules": [rule(json!({"Variable": "#{BuildVariables.VERSION}", "Value": "1", "Operator": "EQ"}))]}]});
            p["stages"][1]["onSuccess"] = json!({"conditions": [{"result": "ROLLBACK", "rules": [rule(json!({"Variable": "#{BuildVariables.VERSION}", "Value": "1", "Operator": "EQ"}))]}]});
        }));
        assert_has(
            &errors,
            "stages[1].beforeEntry.conditions[0].rules[0].configuration.Variable: #{BuildVariables.VERSION}: namespace \"BuildVariables\" belongs to stages[1].actions[0], which does not run before this point",
        );
        assert!(!errors.iter().any(|e| e.starts_with("stages[1].onSuccess")), "{errors:?}");
    }
}
