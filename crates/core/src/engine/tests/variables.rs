//! Variables resolved at dispatch time, and pipeline-variable overrides at start
//! (docs/reference/codepipeline.md §1.6, §3.1).

use serde_json::json;

use super::harness::*;
use crate::engine::*;

fn with_variables() -> serde_json::Value {
    let mut build = command("Build", 1, &["Code"], &["Bin"]);
    build["namespace"] = json!("BuildVars");
    build["commands"] =
        json!(["make COMMIT=#{SrcVars.CommitId} ENV=#{variables.Env}", "echo #{codepipeline.PipelineExecutionId}"]);
    build["environmentVariables"] = json!([{"name": "TARGET", "value": "#{variables.Region}"}, {"name": "TOKEN", "value": "prod/token", "type": "SECRETS_MANAGER"}]);
    build["outputVariables"] = json!(["VERSION"]);
    let deploy = json!({
        "name": "Publish",
        "actionTypeId": {"category": "Deploy", "owner": "AWS", "provider": "S3", "version": "1"},
        "configuration": {"BucketName": "site-#{variables.Env}", "Extract": "false", "ObjectKey": "#{BuildVars.VERSION}/#{codepipeline.PipelineExecutionId}.zip"},
        "inputArtifacts": [{"name": "Bin"}]
    });
    pipeline_json(
        "SUPERSEDED",
        vec![stage("Source", vec![source("Src", "Code")]), stage("Build", vec![build]), stage("Deploy", vec![deploy])],
    )
}

fn succeed_with(sim: &mut Sim, stage: &str, action: &str, variables: &[(&str, &str)]) -> Vec<Effect> {
    let mut event = sim.success_event("e1", stage, action);
    if let Event::ActionSucceeded(s) = &mut event {
        s.output_variables = variables.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    }
    sim.ok(event)
}

#[test]
fn configuration_commands_and_environment_are_resolved_at_dispatch() {
    let mut sim = Sim::new(with_variables());
    let mut start = sim.start_event("e1");
    if let Event::StartExecution(s) = &mut start {
        s.variables.push(VariableOverride { name: "Env".into(), value: "prod".into() });
    }
    sim.ok(start);
    assert_eq!(sim.execution("e1").variables["Env"], "prod", "the override wins over the default");
    let effects = succeed_with(&mut sim, "Source", "Src", &[("CommitId", "abc123")]);
    let build = dispatches(&effects)[0].clone();
    assert_eq!(build.commands, ["make COMMIT=abc123 ENV=prod", "echo e1"]);
    assert_eq!(build.environment_variables[0].value, "eu-west-1");
    assert_eq!(build.environment_variables[1].kind, "SECRETS_MANAGER");
    assert_eq!(build.output_variables, ["VERSION"]);
    let effects = succeed_with(&mut sim, "Build", "Build", &[("VERSION", "1.4.2")]);
    let publish = dispatches(&effects)[0].clone();
    assert_eq!(publish.configuration["BucketName"], "site-prod");
    assert_eq!(publish.configuration["ObjectKey"], "1.4.2/e1.zip");
    assert_eq!(sim.attempt("e1", "Deploy", "Publish").resolved_configuration["ObjectKey"], "1.4.2/e1.zip");
}

#[test]
fn a_variable_missing_at_run_time_fails_the_action_with_a_configuration_error() {
    let mut sim = Sim::new(with_variables());
    sim.start("e1");
    succeed_with(&mut sim, "Source", "Src", &[("CommitId", "abc")]);
    let effects = succeed_with(&mut sim, "Build", "Build", &[("OTHER", "x")]);
    assert!(dispatches(&effects).is_empty());
    assert_eq!(
        published(&effects),
        [
            "action Build/Build SUCCEEDED",
            "stage Build SUCCEEDED",
            "stage Deploy STARTED",
            "action Deploy/Publish STARTED",
            "action Deploy/Publish FAILED",
            "stage Deploy FAILED",
            "pipeline e1 FAILED"
        ]
    );
    let error = sim.attempt("e1", "Deploy", "Publish").error.clone().unwrap();
    assert_eq!(error.code, "ConfigurationError");
    assert!(error.message.contains("#{BuildVars.VERSION}"), "{}", error.message);
}

#[test]
fn start_checks_the_variable_overrides() {
    let mut sim = Sim::new(with_variables());
    let mut undeclared = sim.start_event("e1");
    if let Event::StartExecution(s) = &mut undeclared {
        s.variables.push(VariableOverride { name: "Nope".into(), value: "x".into() });
    }
    assert!(matches!(sim.rejected(undeclared), Rejection::Validation(m) if m.contains("no variable \"Nope\"")));
    let mut empty = sim.start_event("e1");
    if let Event::StartExecution(s) = &mut empty {
        s.variables[0].value = String::new();
    }
    assert!(matches!(sim.rejected(empty), Rejection::Validation(m) if m.contains("1 to 1000")));
    let mut missing = sim.start_event("e1");
    if let Event::StartExecution(s) = &mut missing {
        s.variables.clear();
    }
    assert!(matches!(sim.rejected(missing), Rejection::Validation(m) if m.contains("\"Region\" has no default")));
}

#[test]
fn a_v1_pipeline_takes_no_variable_overrides() {
    let mut declaration = three_stages("SUPERSEDED");
    declaration["pipelineType"] = json!("V1");
    declaration["executionMode"] = json!("SUPERSEDED");
    declaration.as_object_mut().unwrap().remove("variables");
    declaration["stages"][1]["actions"] = json!([{
        "name": "Build", "actionTypeId": {"category": "Build", "owner": "AWS", "provider": "CodeBuild", "version": "1"},
        "configuration": {"ProjectName": "p"}, "inputArtifacts": [{"name": "Code"}], "outputArtifacts": [{"name": "Pkg"}]
    }]);
    declaration["stages"][2]["actions"] = json!([{
        "name": "Ship", "actionTypeId": {"category": "Deploy", "owner": "AWS", "provider": "S3", "version": "1"},
        "configuration": {"BucketName": "b", "Extract": "true"}, "inputArtifacts": [{"name": "Pkg"}]
    }]);
    let mut sim = Sim::new(declaration);
    let start = sim.start_event("e1");
    assert!(matches!(sim.rejected(start), Rejection::Validation(m) if m.contains("V2")));
}

#[test]
fn source_revision_overrides_are_checked_and_passed_to_the_source() {
    let mut sim = Sim::new(with_variables());
    let mut start = sim.start_event("e1");
    if let Event::StartExecution(s) = &mut start {
        s.source_revisions.push(SourceRevisionOverride {
            action_name: "Src".into(),
            revision_type: RevisionType::ImageDigest,
            revision_value: "sha256:1".into(),
            variables: Default::default(),
        });
    }
    assert!(matches!(sim.rejected(start.clone()), Rejection::Validation(m) if m.contains("does not apply")));
    // A commit is named by its id: a ref, or a value git would read as an option, is refused.
    for not_an_id in ["main", "--upload-pack=touch /tmp/x", "abc", "refs/heads/main", &"a".repeat(65)] {
        if let Event::StartExecution(s) = &mut start {
            s.source_revisions[0].revision_type = RevisionType::CommitId;
            s.source_revisions[0].revision_value = not_an_id.into();
        }
        let rejected = sim.rejected(start.clone());
        assert!(matches!(&rejected, Rejection::Validation(m) if m.contains("is not a commit id")), "{rejected:?}");
    }
    if let Event::StartExecution(s) = &mut start {
        s.source_revisions[0].revision_value = "abc123".into();
    }
    let effects = sim.ok(start);
    assert_eq!(dispatches(&effects)[0].source_revision.as_ref().unwrap().revision_value, "abc123");
}
