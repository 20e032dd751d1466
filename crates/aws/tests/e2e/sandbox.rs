//! User code on the AWS path gets nothing of the orchestrator: a Commands action runs as a
//! build of the stack's CommandsProject, never inside invoke-action (docs/security.md,
//! "Commands actions"). Here the strict stand-in plays CodeBuild's compute; the commands look
//! for the functions' credentials and the state table, and leave files behind for the next
//! job; none of it works.

use crate::common;

use pipewright_core::engine::{ActionStatus, ExecutionStatus};
use pipewright_core::ports::StateStore;
use serde_json::json;

use common::*;

/// The site pipeline's Source stage, then a Build stage of `actions` (and no deploy).
fn with_build(stack: &Stack, name: &str, actions: serde_json::Value) -> serde_json::Value {
    let mut declaration = site_pipeline(stack, name, "SUPERSEDED", false);
    declaration["stages"][1]["actions"] = actions;
    if let Some(stages) = declaration["stages"].as_array_mut() {
        stages.truncate(2);
    }
    declaration
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_commands_action_finds_none_of_the_functions_credentials() {
    // The functions here run in this process, with moto's credentials in its environment, as
    // a Lambda function has its role's.
    assert!(
        std::env::var_os("AWS_SECRET_ACCESS_KEY").is_some(),
        "run with the environment `bash infra/local/moto.sh start` prints (tests/run.sh does)"
    );
    let stack = stack().await;
    let seen = tempfile::tempdir().unwrap();
    let env_file = seen.path().join("env");
    let tmp_file = seen.path().join("tmpdir");
    stack
        .put_pipeline(&with_build(
            &stack,
            "nosy",
            json!([{
                "name": "Snoop", "runOrder": 1,
                "actionTypeId": {"category": "Compute", "owner": "AWS", "provider": "Commands", "version": "1"},
                "inputArtifacts": [{"name": "Code"}],
                "commands": [
                    format!("env > {}", env_file.display()),
                    format!("echo \"$TMPDIR\" > {}", tmp_file.display()),
                    "touch \"$TMPDIR/left-for-the-next-job\" \"$HOME/.netrc\"",
                ],
            }]),
        ))
        .await;
    let (version, etag) = stack.upload_source("site.zip", &[("index.html", "<p>x</p>")]).await;
    stack.put_default_bus(&stack.object_created("site.zip", &version, &etag)).await;
    stack.router.pump().await.unwrap();
    let id = stack.services.store.list_executions("nosy", 1, None).await.unwrap().items[0].id.clone();
    assert_eq!(stack.run_to_end(&id).await, ExecutionStatus::Succeeded);

    let environment = std::fs::read_to_string(&env_file).unwrap();
    for name in ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "AWS_PROFILE"] {
        assert!(
            !environment.lines().any(|l| l.starts_with(&format!("{name}="))),
            "{name} reached the command:\n{environment}"
        );
    }
    assert!(!environment.contains("testing"), "moto's credentials reached the command:\n{environment}");
    assert!(environment.lines().any(|l| l.starts_with("CODEBUILD_SRC_DIR=")), "CodePipeline's own variables are set");
    let tmpdir = std::fs::read_to_string(&tmp_file).unwrap();
    assert!(
        !std::path::Path::new(tmpdir.trim()).exists(),
        "the job's TMPDIR {} is removed once it ends",
        tmpdir.trim()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_secret_variable_cannot_name_the_functions_own_environment() {
    let stack = stack().await;
    stack
        .put_pipeline(&with_build(
            &stack,
            "borrower",
            json!([{
                "name": "Borrow", "runOrder": 1,
                "actionTypeId": {"category": "Compute", "owner": "AWS", "provider": "Commands", "version": "1"},
                "inputArtifacts": [{"name": "Code"}],
                "commands": ["echo \"$AWS_SECRET_ACCESS_KEY\""],
                "environmentVariables": [{"name": "AWS_SECRET_ACCESS_KEY", "value": "any", "type": "SECRETS_MANAGER"}],
            }]),
        ))
        .await;
    let (version, etag) = stack.upload_source("site.zip", &[("index.html", "<p>x</p>")]).await;
    stack.put_default_bus(&stack.object_created("site.zip", &version, &etag)).await;
    stack.router.pump().await.unwrap();
    let id = stack.services.store.list_executions("borrower", 1, None).await.unwrap().items[0].id.clone();
    assert_eq!(stack.run_to_end(&id).await, ExecutionStatus::Failed);
    let execution = stack.execution(&id).await;
    let attempt = execution.stages[1].actions[0].attempts.last().unwrap();
    assert_eq!(attempt.status, ActionStatus::Failed);
    let message = format!("{:?}", attempt);
    assert!(
        message.contains("Phase: DOWNLOAD_SOURCE"),
        "the secret is CodeBuild's to read, as the build's role: {message}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_commands_action_cannot_read_the_state_table() {
    let stack = stack().await;
    let seen = tempfile::tempdir().unwrap();
    let env_file = seen.path().join("env");
    stack
        .put_pipeline(&with_build(
            &stack,
            "reader",
            json!([{
                "name": "Read", "runOrder": 1,
                "actionTypeId": {"category": "Compute", "owner": "AWS", "provider": "Commands", "version": "1"},
                "inputArtifacts": [{"name": "Code"}],
                "commands": [
                    format!("env > {}", env_file.display()),
                    // What a request to DynamoDB needs: a key to sign it and the table's name.
                    "key=${AWS_SECRET_ACCESS_KEY:?no credentials to sign a DynamoDB request}; table=${PIPEWRIGHT_TABLE:?no table}",
                ],
            }]),
        ))
        .await;
    let (version, etag) = stack.upload_source("site.zip", &[("index.html", "<p>x</p>")]).await;
    stack.put_default_bus(&stack.object_created("site.zip", &version, &etag)).await;
    stack.router.pump().await.unwrap();
    let id = stack.services.store.list_executions("reader", 1, None).await.unwrap().items[0].id.clone();
    assert_eq!(stack.run_to_end(&id).await, ExecutionStatus::Failed);
    let execution = stack.execution(&id).await;
    let attempt = execution.stages[1].actions[0].attempts.last().unwrap();
    let message = attempt.error.as_ref().map(|e| e.message.clone()).unwrap_or_default();
    assert!(message.contains("Phase: BUILD") && message.contains("AWS_SECRET_ACCESS_KEY"), "{message}");
    let environment = std::fs::read_to_string(&env_file).unwrap();
    assert!(
        !environment.contains(&stack.services.settings.table),
        "the table's name reached the build:\n{environment}"
    );
    assert!(environment.lines().any(|l| l.starts_with("CODEBUILD_BUILD_ID=pipewright-commands-")), "{environment}");
    // On AWS the build's credentials are CommandsBuildRole's: artifacts and logs, nothing else.
    let role = TEMPLATE.split("  CommandsBuildRole:").nth(1).unwrap().split("\n  # ").next().unwrap();
    let policies = role.split("Policies:").nth(1).unwrap();
    for forbidden in ["dynamodb:", "secretsmanager:", "events:", "sts:", "lambda:", "iam:"] {
        assert!(!policies.contains(forbidden), "CommandsBuildRole grants {forbidden}");
    }
    assert!(policies.contains("s3:GetObject") && policies.contains("${ArtifactBucket.Arn}/*"));
    assert_eq!(
        stack.services.calls.snapshot().get("CodeBuild.StartBuild"),
        Some(&1),
        "the commands ran as a build, not in invoke-action"
    );
}
