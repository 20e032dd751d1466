//! Connection sources on AWS: a push to `main` (as the webhook's start command carries it)
//! starts the pipeline, and the invoke-action function fetches the archive of exactly that
//! commit from a fake GitHub Enterprise API on loopback, with the token of the secret the
//! connection maps to in moto's Secrets Manager (docs/sources.md).

use std::collections::BTreeMap;

use serde_json::{Value, json};

use pipewright_aws::bus::{COMMAND_SOURCE, Envelope, START_COMMAND, StartCommand};
use pipewright_aws::handlers::source_change;
use pipewright_core::engine::ExecutionStatus;
use pipewright_core::source_events::SourceChange;

use crate::common::{Stack, stack};
use crate::fake_hosts::{FakeHost, TOKEN, serve};

fn pipeline(stack: &Stack, name: &str, connection: &str) -> Value {
    json!({
        "name": name, "roleArn": "arn:aws:iam::123456789012:role/pipewright", "pipelineType": "V2",
        "artifactStore": {"type": "S3", "location": stack.artifact_bucket()},
        "triggers": [{"providerType": "CodeStarSourceConnection", "gitConfiguration": {
            "sourceActionName": "Checkout", "push": [{"branches": {"includes": ["main"]}}]}}],
        "stages": [
            {"name": "Source", "actions": [{
                "name": "Checkout", "namespace": "SourceVariables",
                "actionTypeId": {"category": "Source", "owner": "AWS", "provider": "CodeStarSourceConnection", "version": "1"},
                "configuration": {"ConnectionArn": connection, "FullRepositoryId": "octo/site", "BranchName": "main"},
                "outputArtifacts": [{"name": "Code"}]}]},
            {"name": "Deploy", "actions": [{
                "name": "Publish",
                "actionTypeId": {"category": "Deploy", "owner": "AWS", "provider": "S3", "version": "1"},
                "configuration": {"BucketName": stack.deploy_bucket, "Extract": "true",
                                  "ObjectKey": format!("{name}/#{{SourceVariables.CommitId}}-#{{SourceVariables.ProviderType}}")},
                "inputArtifacts": [{"name": "Code"}]}]},
        ],
    })
}

fn push(pipeline: &str, branch: &str, commit: &str) -> Envelope {
    let command = StartCommand {
        pipeline_name: pipeline.into(),
        variables: Vec::new(),
        source_revisions: Vec::new(),
        client_request_token: None,
        change: Some(SourceChange::Git {
            source_action: "Checkout".into(),
            branch: Some(branch.into()),
            tag: None,
            commit_id: Some(commit.into()),
            file_paths: None,
            pull_request: None,
        }),
        requested_by: Some("webhook".into()),
    };
    Envelope {
        id: uuid::Uuid::new_v4().to_string(),
        source: COMMAND_SOURCE.into(),
        detail_type: START_COMMAND.into(),
        detail: serde_json::to_value(&command).unwrap(),
        account: String::new(),
        time: String::new(),
        region: String::new(),
        resources: Vec::new(),
    }
}

async fn started(stack: &Stack, envelope: &Envelope) -> Vec<String> {
    source_change::handle(&stack.services, envelope).await.unwrap().into_iter().map(|s| s.execution_id).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_fetches_the_archive_of_exactly_that_commit_through_the_connection() {
    let stack = stack().await;
    let (old, new) = ("1111111111111111111111111111111111111111", "2222222222222222222222222222222222222222");
    let files = |text: &str| {
        vec![("index.html".to_string(), text.to_string()), ("css/site.css".to_string(), "body{}".to_string())]
    };
    let host = FakeHost::new(
        BTreeMap::from([
            (old.to_string(), ("first".to_string(), files("<h1>old</h1>"))),
            (new.to_string(), ("second".to_string(), files("<h1>new</h1>"))),
        ]),
        new,
    );
    let base_url = serve(host.clone()).await.github_api;
    let secrets = aws_sdk_secretsmanager::Client::new(&stack.sdk);
    let connection_id = uuid::Uuid::new_v4().to_string();
    let connection = format!("arn:aws:codeconnections:us-east-1:123456789012:connection/{connection_id}");
    secrets
        .create_secret()
        .name(format!("pipewright/connections/{connection_id}"))
        .secret_string(
            json!({"providerType": "GitHubEnterpriseServer", "token": TOKEN, "baseUrl": base_url}).to_string(),
        )
        .send()
        .await
        .unwrap();
    // A second connection whose secret holds a token the host refuses.
    let refused_id = uuid::Uuid::new_v4().to_string();
    let refused = format!("arn:aws:codeconnections:us-east-1:123456789012:connection/{refused_id}");
    secrets
        .create_secret()
        .name(format!("pipewright/connections/{refused_id}"))
        .secret_string(
            json!({"providerType": "GitHubEnterpriseServer", "token": "wrong", "baseUrl": base_url}).to_string(),
        )
        .send()
        .await
        .unwrap();
    stack.put_pipeline(&pipeline(&stack, "site", &connection)).await;
    stack.put_pipeline(&pipeline(&stack, "locked", &refused)).await;

    // A push of the older commit to main: that commit, not main's head, is deployed.
    let delivery = push("site", "main", old);
    let ids = started(&stack, &delivery).await;
    assert_eq!(ids.len(), 1);
    assert_eq!(stack.run_to_end(&ids[0]).await, ExecutionStatus::Succeeded);
    let objects = stack.objects(&stack.deploy_bucket).await;
    let prefix = format!("site/{old}-GitHubEnterpriseServer/");
    assert_eq!(objects.get(&format!("{prefix}index.html")).map(String::as_str), Some("<h1>old</h1>"), "{objects:?}");
    assert_eq!(objects.get(&format!("{prefix}css/site.css")).map(String::as_str), Some("body{}"), "{objects:?}");
    assert!(host.saw(&format!("zipball octo/site {old}")));

    // The same delivery again starts nothing new; a push to another branch starts nothing.
    assert_eq!(started(&stack, &delivery).await, ids);
    let execution = stack.execution(&ids[0]).await;
    assert_eq!(execution.status, ExecutionStatus::Succeeded);
    assert!(started(&stack, &push("site", "feature", new)).await.is_empty());

    // The token the host refuses fails the source action: a configuration error, not a retry.
    let ids = started(&stack, &push("locked", "main", new)).await;
    assert_eq!(stack.run_to_end(&ids[0]).await, ExecutionStatus::Failed);
    assert!(!stack.objects(&stack.deploy_bucket).await.keys().any(|k| k.starts_with("locked/")));
}
