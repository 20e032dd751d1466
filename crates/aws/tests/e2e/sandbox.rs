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
    assert_reaches_only_its_staged_outputs(policies);
    assert_eq!(
        stack.services.calls.snapshot().get("CodeBuild.StartBuild"),
        Some(&1),
        "the commands ran as a build, not in invoke-action"
    );
}

/// CommandsBuildRole's S3 rights: none to read; PutObject under the staged-outputs prefix
/// only (docs/security.md, "Commands actions").
fn assert_reaches_only_its_staged_outputs(policies: &str) {
    for forbidden in ["s3:GetObject", "s3:ListBucket", "s3:DeleteObject", "s3:*", "kms:"] {
        assert!(!policies.contains(forbidden), "CommandsBuildRole grants {forbidden}");
    }
    let puts: Vec<&str> = policies.split("- Sid:").filter(|statement| statement.contains("s3:Put")).collect();
    assert_eq!(puts.len(), 1, "{policies}");
    let resource = puts[0].split("Resource:").nth(1).unwrap().lines().next().unwrap().trim();
    assert_eq!(resource, "!Sub \"${ArtifactBucket.Arn}/pipewright-build-outputs/*\"", "{}", puts[0]);
    assert!(!puts[0].contains("s3:PutObjectAcl") && !puts[0].contains("s3:PutBucket"), "{}", puts[0]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_commands_build_reaches_its_own_inputs_and_no_other_artifact() {
    let stack = stack().await;
    let bucket = stack.artifact_bucket();
    // Another pipeline's artifact, at a key the commands are told.
    let foreign_key = "payroll/Secrets/4TeYdwq";
    let s3 =
        aws_sdk_s3::Client::from_conf(aws_sdk_s3::config::Builder::from(&stack.sdk).force_path_style(true).build());
    let seen = tempfile::tempdir().unwrap();
    let (env_file, foreign_file) = (seen.path().join("env"), seen.path().join("foreign"));
    // What a build step would use to read it: an SDK, with whatever credentials it finds.
    let python = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../infra/local/.venv/bin/python");
    let endpoint = pipewright_aws::testing::endpoint();
    let read_foreign = format!(
        "{} -c \"import boto3; print(boto3.client('s3', endpoint_url='{endpoint}', region_name='us-east-1').get_object(Bucket='{bucket}', Key='{foreign_key}')['Body'].read())\" > {} 2>&1 || echo refused >> {}",
        python.display(),
        foreign_file.display(),
        foreign_file.display()
    );
    stack
        .put_pipeline(&with_build(
            &stack,
            "scoped",
            json!([{
                "name": "Package", "runOrder": 1,
                "actionTypeId": {"category": "Compute", "owner": "AWS", "provider": "Commands", "version": "1"},
                "inputArtifacts": [{"name": "Code"}],
                "outputArtifacts": [{"name": "Packaged", "files": ["dist/**/*"]}],
                "commands": [
                    format!("env > {}", env_file.display()),
                    read_foreign,
                    "mkdir dist && cp index.html dist/page.html && test \"$PWD\" = \"$CODEBUILD_SRC_DIR\"",
                ],
            }]),
        ))
        .await;
    let (version, etag) = stack.upload_source("site.zip", &[("index.html", "<p>mine</p>")]).await;
    stack.put_default_bus(&stack.object_created("site.zip", &version, &etag)).await;
    stack.router.pump().await.unwrap();
    let id = stack.services.store.list_executions("scoped", 1, None).await.unwrap().items[0].id.clone();
    s3.put_object()
        .bucket(&bucket)
        .key(foreign_key)
        .body(zip(&[("salaries.csv", "alice,100000")]).into())
        .send()
        .await
        .unwrap();
    let status = stack.run_to_end(&id).await;
    let execution = stack.execution(&id).await;
    assert_eq!(status, ExecutionStatus::Succeeded, "{:#?}", execution.stages[1]);

    // The other pipeline's artifact stayed out of reach: the build has no credentials.
    let foreign = std::fs::read_to_string(&foreign_file).unwrap();
    assert!(foreign.contains("refused") && foreign.contains("NoCredentialsError"), "{foreign}");
    assert!(!foreign.contains("alice"), "{foreign}");
    // The input URLs were the prelude's alone.
    let environment = std::fs::read_to_string(&env_file).unwrap();
    assert!(!environment.contains("PIPEWRIGHT_INPUT_URL") && !environment.contains("X-Amz-Signature"), "{environment}");

    // The build started without a source and uploaded to a staged key only.
    let attempt = execution.stages[1].actions[0].attempts.last().unwrap();
    let codebuild = aws_sdk_codebuild::Client::new(&stack.sdk);
    let project = stack.services.settings.commands_project.clone().unwrap();
    let listed = codebuild.list_builds_for_project().project_name(&project).send().await.unwrap();
    let build_id = listed.ids()[0].clone();
    let builds = codebuild.batch_get_builds().ids(&build_id).send().await.unwrap();
    let build = builds.builds().first().unwrap_or_else(|| panic!("{build_id}: {builds:?}")).clone();
    assert_eq!(build.source().unwrap().r#type().as_str(), "NO_SOURCE");
    assert!(build.secondary_sources().is_empty());
    assert_eq!(build.artifacts().unwrap().location(), Some(bucket.as_str()));
    let spec = build.source().unwrap().buildspec().unwrap_or_default().to_string();
    assert!(spec.contains("\"install\"") && !spec.contains("X-Amz-Signature"), "{spec}");
    // ... which invoke-action copied to the artifact's own key, what the next action reads.
    let packaged = &attempt.output_artifacts[0].location;
    assert!(!packaged.key.starts_with("pipewright-build-outputs/"), "{}", packaged.key);
    let body = s3.get_object().bucket(&packaged.bucket).key(&packaged.key).send().await.unwrap();
    let bytes = body.body.collect().await.unwrap().into_bytes().to_vec();
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
    let mut page = String::new();
    std::io::Read::read_to_string(&mut archive.by_name("dist/page.html").unwrap(), &mut page).unwrap();
    assert_eq!(page, "<p>mine</p>");
}
