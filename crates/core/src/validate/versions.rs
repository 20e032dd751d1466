//! V1 and V2 (docs/reference/codepipeline.md §1.1, §9.2): V2-only features on a pipeline declared
//! V1, and the features that exclude each other.

use super::{Checker, stage_path};
use crate::declaration::{ConditionResult, ExecutionMode, PipelineDeclaration, PipelineType};

pub(super) fn check(p: &PipelineDeclaration, c: &mut Checker) {
    // Without a declared type, a V2 feature makes the pipeline V2; only an explicit V1 refuses.
    if p.pipeline_type == Some(PipelineType::V1) {
        for (path, feature) in p.v2_features() {
            c.error(path, format!("{feature} needs a V2 pipeline; this one is declared \"pipelineType\": \"V1\""));
        }
    }
    if p.execution_mode == Some(ExecutionMode::Parallel) {
        for (s, stage) in p.stages.iter().enumerate() {
            let on_failure = stage.on_failure.as_ref();
            if on_failure.and_then(|f| f.result.as_ref()) == Some(&ConditionResult::Rollback) {
                c.error(format!("{}.onFailure.result", stage_path(s)), "ROLLBACK is not available in PARALLEL mode");
            }
            let success_conditions = stage.on_success.iter().flat_map(|s| s.conditions.iter());
            let failure_conditions = on_failure.into_iter().flat_map(|f| f.conditions.iter().flatten());
            for (kind, condition) in
                success_conditions.map(|c| ("onSuccess", c)).chain(failure_conditions.map(|c| ("onFailure", c)))
            {
                if condition.result == Some(ConditionResult::Rollback) {
                    c.error(
                        format!("{}.{kind}.conditions[0].result", stage_path(s)),
                        "ROLLBACK is not available in PARALLEL mode",
                    );
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::validate::test_support::*;
    use serde_json::json;

    #[test]
    fn v2_features_are_refused_on_a_v1_pipeline() {
        let errors = errors_of(with(valid_v2(), |p| p["pipelineType"] = json!("V1")));
        assert_has(&errors, "executionMode: the QUEUED execution mode needs a V2 pipeline");
        assert_has(&errors, "variables: pipeline variables needs a V2 pipeline");
        assert_has(&errors, "stages[1].actions[0].actionTypeId: the Commands (Compute) action needs a V2 pipeline");
        let errors = errors_of(with(valid_v1(), |p| {
            p["pipelineType"] = json!("V1");
            p["executionMode"] = json!("PARALLEL");
            p["triggers"] = json!([{"providerType": "CodeStarSourceConnection", "gitConfiguration": {"sourceActionName": "Source", "push": [{"branches": {"includes": ["main"]}}]}}]);
            p["stages"][1]["onFailure"] = json!({"result": "RETRY"});
        }));
        assert_has(&errors, "executionMode: the PARALLEL execution mode needs a V2 pipeline");
        assert_has(&errors, "triggers: triggers needs a V2 pipeline");
        assert_has(
            &errors,
            "stages[1].onFailure: stage failure conditions (rollback, automatic retry) needs a V2 pipeline",
        );
    }

    #[test]
    fn without_a_declared_type_v2_features_make_the_pipeline_v2() {
        let declaration = with(valid_v2(), |p| {
            p.as_object_mut().unwrap().remove("pipelineType");
        });
        assert!(errors_of(declaration.clone()).is_empty());
        let parsed: crate::declaration::PipelineDeclaration = serde_json::from_value(declaration).unwrap();
        assert_eq!(parsed.effective_type(), crate::declaration::PipelineType::V2);
        let parsed: crate::declaration::PipelineDeclaration = serde_json::from_value(valid_v1()).unwrap();
        assert_eq!(parsed.effective_type(), crate::declaration::PipelineType::V1);
    }

    #[test]
    fn rollback_is_refused_with_parallel() {
        let errors = errors_of(with(valid_v2(), |p| {
            p["executionMode"] = json!("PARALLEL");
            p["stages"][2]["onFailure"] = json!({"result": "ROLLBACK"});
        }));
        assert_has(&errors, "stages[2].onFailure.result: ROLLBACK is not available in PARALLEL mode");
        let errors = errors_of(with(valid_v2(), |p| p["stages"][2]["onFailure"] = json!({"result": "ROLLBACK"})));
        assert!(errors.is_empty(), "{errors:?}");
    }
}
