//! Small valid declarations that each validation test breaks in one place.

use serde_json::{Value, json};

use crate::declaration::{Format, PipelineDocument};

/// V1: S3 source → S3 deploy.
pub fn valid_v1() -> Value {
    json!({
        "name": "site",
        "roleArn": "arn:aws:iam::111122223333:role/pipeline",
        "artifactStore": {"type": "S3", "location": "artifact-bucket"},
        "stages": [
            {"name": "Source", "actions": [{
                "name": "Source",
                "actionTypeId": {"category": "Source", "owner": "AWS", "provider": "S3", "version": "1"},
                "configuration": {"S3Bucket": "src-bucket", "S3ObjectKey": "site.zip", "PollForSourceChanges": "false"},
                "outputArtifacts": [{"name": "SiteSource"}]
            }]},
            {"name": "Deploy", "actions": [{
                "name": "Publish",
                "actionTypeId": {"category": "Deploy", "owner": "AWS", "provider": "S3", "version": "1"},
                "configuration": {"BucketName": "site-bucket", "Extract": "true"},
                "inputArtifacts": [{"name": "SiteSource"}]
            }]}
        ]
    })
}

/// V2: connection source → Commands build → approval, then S3 deploy.
pub fn valid_v2() -> Value {
    json!({
        "name": "app",
        "roleArn": "arn:aws:iam::111122223333:role/pipeline",
        "artifactStore": {"type": "S3", "location": "artifact-bucket"},
        "pipelineType": "V2",
        "executionMode": "QUEUED",
        "variables": [{"name": "Env", "defaultValue": "staging"}],
        "stages": [
            {"name": "Source", "actions": [{
                "name": "Source",
                "namespace": "SourceVariables",
                "actionTypeId": {"category": "Source", "owner": "AWS", "provider": "CodeStarSourceConnection", "version": "1"},
                "configuration": {
                    "ConnectionArn": "arn:aws:codestar-connections:eu-west-1:111122223333:connection/x",
                    "FullRepositoryId": "acme/app",
                    "BranchName": "main"
                },
                "outputArtifacts": [{"name": "SourceArtifact"}]
            }]},
            {"name": "Build", "actions": [{
                "name": "Build",
                "namespace": "BuildVariables",
                "actionTypeId": {"category": "Compute", "owner": "AWS", "provider": "Commands", "version": "1"},
                "commands": ["make build", "export VERSION=1.2.3"],
                "outputVariables": ["VERSION"],
                "environmentVariables": [{"name": "COMMIT", "value": "#{SourceVariables.CommitId}"}],
                "inputArtifacts": [{"name": "SourceArtifact"}],
                "outputArtifacts": [{"name": "BuildOutput", "files": ["dist/**"]}]
            }]},
            {"name": "Release", "actions": [
                {
                    "name": "Approve",
                    "runOrder": 1,
                    "actionTypeId": {"category": "Approval", "owner": "AWS", "provider": "Manual", "version": "1"},
                    "configuration": {"CustomData": "Release #{BuildVariables.VERSION} to #{variables.Env}"}
                },
                {
                    "name": "Publish",
                    "runOrder": 2,
                    "actionTypeId": {"category": "Deploy", "owner": "AWS", "provider": "S3", "version": "1"},
                    "configuration": {"BucketName": "site-#{variables.Env}", "Extract": "false", "ObjectKey": "#{codepipeline.PipelineExecutionId}.zip"},
                    "inputArtifacts": [{"name": "BuildOutput"}]
                }
            ]}
        ]
    })
}

/// `value` after `edit`.
pub fn with(mut value: Value, edit: impl FnOnce(&mut Value)) -> Value {
    edit(&mut value);
    value
}

fn report_of(value: Value) -> crate::validate::Report {
    let document = PipelineDocument::parse(&value.to_string(), Format::Json)
        .unwrap_or_else(|e| panic!("test declaration does not parse: {e}"));
    crate::validate::validate(&document.pipeline)
}

/// The validation errors of `value`, as printed lines.
pub fn errors_of(value: Value) -> Vec<String> {
    report_of(value).errors.iter().map(ToString::to_string).collect()
}

/// The validation warnings of `value`, as printed lines.
pub fn warnings_of(value: Value) -> Vec<String> {
    report_of(value).warnings.iter().map(ToString::to_string).collect()
}

/// Asserts that some line starts with `expected`.
#[track_caller]
pub fn assert_has(lines: &[String], expected: &str) {
    assert!(
        lines.iter().any(|line| line.starts_with(expected)),
        "expected a line starting with\n  {expected}\nin\n  {}",
        lines.join("\n  ")
    );
}

#[test]
fn the_fixtures_are_valid() {
    assert_eq!(errors_of(valid_v1()), Vec::<String>::new());
    assert_eq!(errors_of(valid_v2()), Vec::<String>::new());
    assert_eq!(warnings_of(valid_v2()), Vec::<String>::new());
}
