//! `pipewright serve` takes `run`'s deploy flags (docs/providers.md §2): an execution started
//! through its API deploys where they say. Under `--plan`, a CloudFormation deploy and an S3
//! deploy of a placeholder bucket succeed as planned, and ListActionExecutions shows what
//! they would have done; without a flag, the same pipeline's deploy fails naming the choices.
//!
//! HTTP requests are `python3` (standard library only), as in the other serve tests.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test binary: its helpers, like its #[test] functions, panic on what fails it"
)]

mod common;
use common::{Serve, fetch};

use serde_json::{Value, json};

const TEMPLATE: &str = "AWSTemplateFormatVersion: '2010-09-09'
Parameters:
  SiteName:
    Type: String
Resources:
  Site:
    Type: AWS::S3::Bucket
    Properties:
      BucketName: !Ref SiteName
Outputs:
  BucketName:
    Value: !Ref Site
";

fn api(serve: &Serve, operation: &str, body: &Value) -> Value {
    let (status, text) = fetch("POST", &format!("{}/", serve.endpoint), operation, &body.to_string());
    assert_eq!(status, 200, "{operation}: {text}");
    serde_json::from_str(&text).unwrap()
}

/// The site pipeline: its stack from the source's template, then the source published to the
/// bucket the stack outputs.
fn site_pipeline() -> Value {
    json!({"pipeline": {
    "name": "site", "roleArn": "arn:aws:iam::123456789012:role/pipewright", "pipelineType": "V2",
    "artifactStore": {"type": "S3", "location": "artifacts"},
    "stages": [
        {"name": "Source", "actions": [{"name": "Src",
            "actionTypeId": {"category": "Source", "owner": "AWS", "provider": "CodeCommit", "version": "1"},
            "configuration": {"RepositoryName": "site", "BranchName": "main"},
            "outputArtifacts": [{"name": "Code"}]}]},
        {"name": "Infra", "actions": [{"name": "Stack", "namespace": "Infra",
            "actionTypeId": {"category": "Deploy", "owner": "AWS", "provider": "CloudFormation", "version": "1"},
            "configuration": {"ActionMode": "CREATE_UPDATE", "StackName": "site-staging",
                                  "RoleArn": "arn:aws:iam::123456789012:role/pipewright-deploy-cfn",
                              "TemplatePath": "Code::template.yaml",
                              "ParameterOverrides": "{\"SiteName\": \"site-staging-bucket\"}"},
            "inputArtifacts": [{"name": "Code"}]}]},
        {"name": "Publish", "actions": [{"name": "Files",
            "actionTypeId": {"category": "Deploy", "owner": "AWS", "provider": "S3", "version": "1"},
            "configuration": {"BucketName": "#{Infra.BucketName}", "Extract": "true"},
            "inputArtifacts": [{"name": "Code"}]}]}
    ]}})
}

/// Starts the site pipeline through `serve`'s API and waits for its end: (status, the action
/// executions).
fn release(serve: &Serve) -> (String, Vec<Value>) {
    api(serve, "CreatePipeline", &site_pipeline());
    let started = api(serve, "StartPipelineExecution", &json!({"name": "site"}));
    let id = started["pipelineExecutionId"].as_str().unwrap().to_string();
    for _ in 0..600 {
        let execution = api(serve, "GetPipelineExecution", &json!({"pipelineName": "site", "pipelineExecutionId": id}));
        let status = execution["pipelineExecution"]["status"].as_str().unwrap_or_default().to_string();
        if !matches!(status.as_str(), "InProgress" | "Stopping") {
            let listed = api(
                serve,
                "ListActionExecutions",
                &json!({"pipelineName": "site", "filter": {"pipelineExecutionId": id}}),
            );
            return (status, listed["actionExecutionDetails"].as_array().cloned().unwrap_or_default());
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    panic!("execution {id} did not finish");
}

fn detail<'a>(details: &'a [Value], action: &str) -> &'a Value {
    details.iter().find(|d| d["actionName"] == action).unwrap_or_else(|| panic!("no {action} in {details:?}"))
}

fn summary(detail: &Value) -> String {
    detail["output"]["executionResult"]["externalExecutionSummary"].as_str().unwrap_or_default().to_string()
}

#[test]
fn an_execution_started_through_serve_deploys_as_its_flags_say() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("template.yaml"), TEMPLATE).unwrap();
    std::fs::write(src.join("index.html"), "<h1>site</h1>\n").unwrap();
    let source = format!("Src={}", src.display());

    // --plan: every deploy succeeds as planned, and says what it would do.
    let planned = Serve::start(dir.path(), &dir.path().join("planned"), &["--source", &source, "--plan"]);
    let (status, details) = release(&planned);
    assert_eq!(status, "Succeeded", "{details:#?}");
    let stack = summary(detail(&details, "Stack"));
    assert!(stack.starts_with("Planned") && stack.contains("site-staging"), "the plan names the stack: {stack}");
    let files = detail(&details, "Files");
    let planned_files = summary(files);
    assert!(
        planned_files.starts_with("Planned") && planned_files.contains("2 objects"),
        "the S3 plan says what it would write: {planned_files}"
    );
    assert!(
        files["input"]["resolvedConfiguration"]["BucketName"]
            .as_str()
            .is_some_and(|b| b.contains("pipewright-planned:")),
        "the bucket is the stack's output, a marked stand-in: {files:#}"
    );
    drop(planned);

    // No flag: the deploy fails at once, naming the three choices.
    let unchosen = Serve::start(dir.path(), &dir.path().join("unchosen"), &["--source", &source]);
    let (status, details) = release(&unchosen);
    assert_eq!(status, "Failed");
    let message = detail(&details, "Stack")["output"]["executionResult"]["errorDetails"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(message.contains("--plan") && message.contains("--aws-endpoint"), "{message}");
}
