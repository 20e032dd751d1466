//! Artifacts pass by name (docs/reference/codepipeline.md §1.4): output names are unique in the
//! pipeline, every input is produced by an action that runs earlier, and each provider takes a
//! fixed number of inputs and outputs.

use std::collections::{BTreeMap, BTreeSet};

use super::{Checker, Position, action_path};
use crate::declaration::{ActionOwner, PipelineDeclaration};
use crate::providers::{self, Lookup};

/// Custom and partner actions: 0 to 5 inputs and outputs (docs/reference/codepipeline.md §1.4).
const OTHER_ARTIFACT_BOUNDS: (usize, usize) = (0, 5);

pub(super) fn check(p: &PipelineDeclaration, c: &mut Checker) {
    // Every output, with where it is produced. The first producer wins; later ones are errors.
    let mut producers: BTreeMap<&str, (usize, usize, Position)> = BTreeMap::new();
    for (s, a, action) in p.actions() {
        for (o, name) in action.output_names().enumerate() {
            if name.is_empty() {
                continue;
            }
            let position = Position { stage: s, run_order: action.effective_run_order() };
            match producers.get(name) {
                Some((ps, pa, _)) => c.error(
                    format!("{}.outputArtifacts[{o}].name", action_path(s, a)),
                    format!(
                        "artifact \"{name}\" is already produced by {}; output artifact names are unique in a pipeline",
                        action_path(*ps, *pa)
                    ),
                ),
                None => {
                    producers.insert(name, (s, a, position));
                }
            }
        }
    }

    for (s, a, action) in p.actions() {
        let path = action_path(s, a);
        let here = Position { stage: s, run_order: action.effective_run_order() };
        let mut seen = BTreeSet::new();
        for (i, name) in action.input_names().enumerate() {
            let input_path = format!("{path}.inputArtifacts[{i}]");
            if name.is_empty() {
                continue;
            }
            if !seen.insert(name) {
                c.error(&input_path, format!("artifact \"{name}\" is listed twice"));
                continue;
            }
            match producers.get(name) {
                None => c.error(&input_path, format!("artifact \"{name}\" is not produced by any action")),
                Some((ps, pa, _)) if (*ps, *pa) == (s, a) => {
                    c.error(&input_path, format!("artifact \"{name}\" is an output of this same action"))
                }
                Some((ps, pa, position)) if !position.runs_before(here) => {
                    let producer = action_path(*ps, *pa);
                    let when = if *position == here {
                        format!("in the same runOrder group ({producer})")
                    } else {
                        format!("later ({producer})")
                    };
                    c.error(
                        &input_path,
                        format!("artifact \"{name}\" is produced {when}; it must come from an earlier stage or a lower runOrder"),
                    );
                }
                Some(_) => {}
            }
        }

        let inputs = action.input_artifacts.as_ref().map_or(0, Vec::len);
        let outputs = action.output_artifacts.as_ref().map_or(0, Vec::len);
        let (input_bounds, output_bounds, who) = match providers::lookup(&action.action_type_id) {
            Lookup::Known(spec) => (spec.inputs, spec.outputs, format!("{} actions", describe(&action.action_type_id))),
            _ if action.action_type_id.owner == ActionOwner::Aws || !action.action_type_id.owner.is_known() => {
                continue;
            }
            _ => (OTHER_ARTIFACT_BOUNDS, OTHER_ARTIFACT_BOUNDS, format!("{} actions", action.action_type_id.owner)),
        };
        check_bounds(c, &format!("{path}.inputArtifacts"), inputs, input_bounds, "input", &who);
        check_bounds(c, &format!("{path}.outputArtifacts"), outputs, output_bounds, "output", &who);
    }
}

fn describe(type_id: &crate::declaration::ActionTypeId) -> String {
    format!("{}/{} {}", type_id.owner, type_id.provider, type_id.category)
}

fn check_bounds(c: &mut Checker, path: &str, count: usize, (min, max): (usize, usize), kind: &str, who: &str) {
    if (min..=max).contains(&count) {
        return;
    }
    let allowed = match (min, max) {
        (0, 0) => format!("{who} take no {kind} artifacts"),
        (min, max) if min == max => format!("{who} take exactly {min}"),
        (min, max) => format!("{who} take {min} to {max}"),
    };
    c.error(path, format!("has {count} {kind} artifacts; {allowed}"));
}

#[cfg(test)]
mod tests {
    use crate::validate::test_support::*;
    use serde_json::json;

    fn commands(name: &str, run_order: i64, inputs: &[&str], outputs: &[&str]) -> serde_json::Value {
        json!({
            "name": name, "runOrder": run_order,
            "actionTypeId": {"category": "Compute", "owner": "AWS", "provider": "Commands", "version": "1"},
            "commands": ["make"],
            "inputArtifacts": inputs.iter().map(|n| json!({"name": n})).collect::<Vec<_>>(),
            "outputArtifacts": outputs.iter().map(|n| json!({"name": n})).collect::<Vec<_>>(),
        })
    }

    #[test]
    fn input_from_the_same_run_order_group_is_refused_with_the_issue_s_wording() {
        let errors = errors_of(with(valid_v2(), |p| {
            p["stages"][1]["actions"] = json!([
                commands("Compile", 1, &["SourceArtifact"], &["BinOut"]),
                commands("Test", 1, &["BinOut"], &[]),
            ]);
            p["stages"][2]["actions"][1]["inputArtifacts"] = json!([{"name": "BinOut"}]);
        }));
        assert_has(
            &errors,
            "stages[1].actions[1].inputArtifacts[0]: artifact \"BinOut\" is produced in the same runOrder group (stages[1].actions[0]); it must come from an earlier stage or a lower runOrder",
        );
    }

    #[test]
    fn input_from_a_lower_run_order_or_earlier_stage_is_fine_even_with_gaps() {
        let errors = errors_of(with(valid_v2(), |p| {
            p["stages"][1]["actions"] = json!([
                commands("Compile", 1, &["SourceArtifact"], &["BinOut"]),
                commands("Test", 3, &["BinOut", "SourceArtifact"], &["BuildOutput"]),
            ]);
            p["stages"][2]["actions"][0]["configuration"]["CustomData"] = json!("no variables");
        }));
        assert!(errors.is_empty(), "{errors:?}");
    }

    #[test]
    fn input_produced_later_or_nowhere_is_refused() {
        let errors = errors_of(with(valid_v2(), |p| {
            p["stages"][1]["actions"] = json!([
                commands("Early", 1, &["BuildOutput"], &[]),
                commands("Compile", 2, &["Missing"], &["BuildOutput"]),
            ]);
        }));
        assert_has(
            &errors,
            "stages[1].actions[0].inputArtifacts[0]: artifact \"BuildOutput\" is produced later (stages[1].actions[1])",
        );
        assert_has(
            &errors,
            "stages[1].actions[1].inputArtifacts[0]: artifact \"Missing\" is not produced by any action",
        );
    }

    #[test]
    fn an_action_cannot_consume_its_own_output_or_list_an_input_twice() {
        let errors = errors_of(with(valid_v2(), |p| {
            p["stages"][1]["actions"] =
                json!([commands("Loop", 1, &["SourceArtifact", "SourceArtifact", "BuildOutput"], &["BuildOutput"])]);
        }));
        assert_has(&errors, "stages[1].actions[0].inputArtifacts[1]: artifact \"SourceArtifact\" is listed twice");
        assert_has(
            &errors,
            "stages[1].actions[0].inputArtifacts[2]: artifact \"BuildOutput\" is an output of this same action",
        );
    }

    #[test]
    fn output_names_are_unique_across_the_pipeline() {
        let errors = errors_of(with(valid_v2(), |p| {
            p["stages"][1]["actions"][0]["outputArtifacts"] = json!([{"name": "SourceArtifact"}]);
            p["stages"][2]["actions"][1]["inputArtifacts"] = json!([{"name": "SourceArtifact"}]);
        }));
        assert_has(
            &errors,
            "stages[1].actions[0].outputArtifacts[0].name: artifact \"SourceArtifact\" is already produced by stages[0].actions[0]",
        );
    }

    #[test]
    fn provider_artifact_counts() {
        let errors = errors_of(with(valid_v1(), |p| {
            p["stages"][0]["actions"][0]["outputArtifacts"] = json!([]);
            p["stages"][1]["actions"][0]["inputArtifacts"] = json!([]);
        }));
        assert_has(
            &errors,
            "stages[0].actions[0].outputArtifacts: has 0 output artifacts; AWS/S3 Source actions take exactly 1",
        );
        assert_has(
            &errors,
            "stages[1].actions[0].inputArtifacts: has 0 input artifacts; AWS/S3 Deploy actions take exactly 1",
        );

        let errors = errors_of(with(valid_v2(), |p| {
            p["stages"][2]["actions"][0]["inputArtifacts"] = json!([{"name": "SourceArtifact"}]);
            p["stages"][1]["actions"][0]["outputArtifacts"] = json!([{"name": "BuildOutput"}, {"name": "Extra"}]);
        }));
        assert_has(
            &errors,
            "stages[2].actions[0].inputArtifacts: has 1 input artifacts; AWS/Manual Approval actions take no input artifacts",
        );
        assert_has(
            &errors,
            "stages[1].actions[0].outputArtifacts: has 2 output artifacts; AWS/Commands Compute actions take 0 to 1",
        );
    }

    #[test]
    fn custom_actions_take_up_to_five_artifacts() {
        let errors = errors_of(with(valid_v1(), |p| {
            p["stages"][1]["actions"].as_array_mut().unwrap().push(json!({
                "name": "Jenkins", "runOrder": 2,
                "actionTypeId": {"category": "Build", "owner": "Custom", "provider": "Jenkins", "version": "1"},
                "inputArtifacts": [{"name": "SiteSource"}],
                "outputArtifacts": (0..6).map(|i| json!({"name": format!("J{i}")})).collect::<Vec<_>>()
            }));
        }));
        assert_has(&errors, "stages[1].actions[1].outputArtifacts: has 6 output artifacts; Custom actions take 0 to 5");
    }
}
