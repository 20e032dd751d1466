//! The pipeline's shape (docs/reference/codepipeline.md §1.4, §9.1): how many stages and actions,
//! unique names, and Source actions in the first stage only.

use std::collections::BTreeMap;

use super::{Checker, action_path, stage_path};
use crate::declaration::{ActionCategory, PipelineDeclaration};

pub(super) const MAX_STAGES: usize = 50;
pub(super) const MAX_ACTIONS_PER_STAGE: usize = 50;
pub(super) const MAX_ACTIONS: usize = 500;

pub(super) fn check(p: &PipelineDeclaration, c: &mut Checker) {
    let stages = p.stages.len();
    if stages < 2 {
        // CodePipeline's own words, which clients match.
        c.error(
            "stages",
            format!("Pipeline has only {stages} stage(s). There should be a minimum of 2 stages in a pipeline"),
        );
    } else if stages > MAX_STAGES {
        c.error("stages", format!("has {stages} stages; a pipeline has 2 to {MAX_STAGES}"));
    }
    let total: usize = p.stages.iter().map(|s| s.actions.len()).sum();
    if total > MAX_ACTIONS {
        c.error("stages", format!("has {total} actions in all; a pipeline has at most {MAX_ACTIONS}"));
    }

    let mut stage_names: BTreeMap<&str, usize> = BTreeMap::new();
    for (s, stage) in p.stages.iter().enumerate() {
        let path = stage_path(s);
        if !stage.name.is_empty() {
            match stage_names.get(stage.name.as_str()) {
                Some(first) => c.error(
                    format!("{path}.name"),
                    format!("stage name \"{}\" is already used by {}", stage.name, stage_path(*first)),
                ),
                None => {
                    stage_names.insert(&stage.name, s);
                }
            }
        }
        let count = stage.actions.len();
        if !(1..=MAX_ACTIONS_PER_STAGE).contains(&count) {
            c.error(
                format!("{path}.actions"),
                format!("has {count} actions; a stage has 1 to {MAX_ACTIONS_PER_STAGE}"),
            );
        }
        let mut action_names: BTreeMap<&str, usize> = BTreeMap::new();
        for (a, action) in stage.actions.iter().enumerate() {
            let path = action_path(s, a);
            if !action.name.is_empty() {
                if let Some(first) = action_names.get(action.name.as_str()) {
                    c.error(
                        format!("{path}.name"),
                        format!(
                            "action name \"{}\" is already used in this stage by {}",
                            action.name,
                            action_path(s, *first)
                        ),
                    );
                } else {
                    action_names.insert(&action.name, a);
                }
            }
            let is_source = action.action_type_id.category == ActionCategory::Source;
            if s == 0 && !is_source && action.action_type_id.category.is_known() {
                c.error(
                    format!("{path}.actionTypeId.category"),
                    format!(
                        "the first stage holds only Source actions; \"{}\" is a {} action",
                        action.name, action.action_type_id.category
                    ),
                );
            }
            if s > 0 && is_source {
                c.error(
                    format!("{path}.actionTypeId.category"),
                    format!(
                        "Source actions may only appear in the first stage; \"{}\" is in stage \"{}\"",
                        action.name, stage.name
                    ),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::validate::test_support::*;
    use serde_json::{Value, json};

    fn commands_action(name: &str) -> Value {
        json!({"name": name, "actionTypeId": {"category": "Compute", "owner": "AWS", "provider": "Commands", "version": "1"},
               "commands": ["true"], "inputArtifacts": [{"name": "SourceArtifact"}]})
    }

    #[test]
    fn stage_count_bounds() {
        let errors = errors_of(with(valid_v1(), |p| {
            p["stages"].as_array_mut().unwrap().truncate(1);
        }));
        assert_has(
            &errors,
            "stages: Pipeline has only 1 stage(s). There should be a minimum of 2 stages in a pipeline",
        );
        let errors = errors_of(with(valid_v2(), |p| {
            let stages = p["stages"].as_array_mut().unwrap();
            for i in 0..49 {
                stages.push(json!({"name": format!("S{i}"), "actions": [commands_action("A")]}));
            }
        }));
        assert_has(&errors, "stages: has 52 stages; a pipeline has 2 to 50");
    }

    #[test]
    fn action_count_bounds() {
        let errors = errors_of(with(valid_v2(), |p| {
            p["stages"][1]["actions"] = json!([]);
            p["stages"][2]["actions"] = json!((0..51).map(|i| commands_action(&format!("A{i}"))).collect::<Vec<_>>());
        }));
        assert_has(&errors, "stages[1].actions: has 0 actions; a stage has 1 to 50");
        assert_has(&errors, "stages[2].actions: has 51 actions; a stage has 1 to 50");
    }

    #[test]
    fn total_action_bound() {
        let errors = errors_of(with(valid_v2(), |p| {
            let stages = p["stages"].as_array_mut().unwrap();
            for s in 0..10 {
                let actions: Vec<Value> = (0..50).map(|i| commands_action(&format!("A{i}"))).collect();
                stages.push(json!({"name": format!("Extra{s}"), "actions": actions}));
            }
        }));
        assert_has(&errors, "stages: has 504 actions in all; a pipeline has at most 500");
    }

    #[test]
    fn stage_and_action_names_are_unique() {
        let errors = errors_of(with(valid_v2(), |p| {
            p["stages"][2]["name"] = json!("Build");
            p["stages"][2]["actions"][1]["name"] = json!("Approve");
        }));
        assert_has(&errors, "stages[2].name: stage name \"Build\" is already used by stages[1]");
        assert_has(
            &errors,
            "stages[2].actions[1].name: action name \"Approve\" is already used in this stage by stages[2].actions[0]",
        );
        // The same action name in two stages is fine.
        let errors = errors_of(with(valid_v2(), |p| p["stages"][2]["actions"][0]["name"] = json!("Build")));
        assert!(errors.is_empty(), "{errors:?}");
    }

    #[test]
    fn source_actions_only_and_only_in_the_first_stage() {
        let errors = errors_of(with(valid_v1(), |p| {
            let source = p["stages"][0]["actions"][0].clone();
            let deploy = p["stages"][1]["actions"][0].clone();
            p["stages"][0]["actions"].as_array_mut().unwrap().push(with(deploy, |d| d["name"] = json!("Early")));
            p["stages"][1]["actions"].as_array_mut().unwrap().push(with(source, |s| {
                s["name"] = json!("Late");
                s["outputArtifacts"] = json!([{"name": "Other"}]);
            }));
        }));
        assert_has(&errors, "stages[0].actions[1].actionTypeId.category: the first stage holds only Source actions");
        assert_has(
            &errors,
            "stages[1].actions[1].actionTypeId.category: Source actions may only appear in the first stage",
        );
    }
}
