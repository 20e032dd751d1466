//! CodeCommit and ECR sources on AWS, and polling through the tick (docs/sources.md): events
//! put on the default bus reach source-change through the template's rules, invoke-action
//! reads the commit through CodeCommit's API (the strict stand-in serves its contents) or
//! the image through ECR's, and the minute tick starts a pipeline whose polled source moved.

use std::collections::BTreeMap;

use aws_sdk_codecommit::primitives::Blob;
use aws_sdk_codecommit::types::{DeleteFileEntry, FileModeTypeEnum, PutFileEntry};
use serde_json::{Value, json};

use pipewright_aws::bus::{COMMAND_SOURCE, Envelope, START_COMMAND, StartCommand};
use pipewright_aws::handlers::{self, source_change, stage_transition};
use pipewright_core::engine::{ExecutionStatus, RevisionType, TriggerType};
use pipewright_core::ports::StateStore;
use pipewright_core::source_polling::RECORD_KIND;
use pipewright_core::time::Timestamp;

use crate::common::{Stack, stack};

/// Commits `put` (path, content, executable) and `delete` to `branch`; the new commit's id.
async fn commit(
    client: &aws_sdk_codecommit::Client,
    repository: &str,
    parent: Option<&str>,
    message: &str,
    put: &[(&str, &str, bool)],
    delete: &[&str],
) -> String {
    let mut request = client
        .create_commit()
        .repository_name(repository)
        .branch_name("main")
        .set_parent_commit_id(parent.map(String::from))
        .commit_message(message);
    for (path, content, executable) in put {
        let mode = if *executable { FileModeTypeEnum::Executable } else { FileModeTypeEnum::Normal };
        request = request.put_files(
            PutFileEntry::builder().file_path(*path).file_content(Blob::new(*content)).file_mode(mode).build().unwrap(),
        );
    }
    for path in delete {
        request = request.delete_files(DeleteFileEntry::builder().file_path(*path).build().unwrap());
    }
    request.send().await.unwrap().commit_id.unwrap()
}

fn codecommit_pipeline(stack: &Stack, name: &str, repository: &str, extra: Value) -> Value {
    let mut configuration = json!({"RepositoryName": repository, "BranchName": "main"});
    for (key, value) in extra.as_object().unwrap() {
        configuration[key] = value.clone();
    }
    json!({
        "name": name, "roleArn": "arn:aws:iam::123456789012:role/pipewright",
        "artifactStore": {"type": "S3", "location": stack.artifact_bucket()},
        "stages": [
            {"name": "Source", "actions": [{
                "name": "Code", "namespace": "SourceVariables",
                "actionTypeId": {"category": "Source", "owner": "AWS", "provider": "CodeCommit", "version": "1"},
                "configuration": configuration,
                "outputArtifacts": [{"name": "Code"}]}]},
            {"name": "Deploy", "actions": [{
                "name": "Publish",
                "actionTypeId": {"category": "Deploy", "owner": "AWS", "provider": "S3", "version": "1"},
                "configuration": {"BucketName": stack.deploy_bucket, "Extract": "true",
                                  "ObjectKey": format!("{name}/#{{SourceVariables.CommitId}}-#{{SourceVariables.BranchName}}")},
                "inputArtifacts": [{"name": "Code"}]}]},
        ],
    })
}

fn reference_updated(repository: &str, commit: &str) -> Value {
    json!({
        "version": "0", "id": uuid::Uuid::new_v4().to_string(), "detail-type": "CodeCommit Repository State Change",
        "source": "aws.codecommit", "account": "123456789012", "time": "2026-12-02T09:00:00Z", "region": "us-east-1",
        "resources": [format!("arn:aws:codecommit:us-east-1:123456789012:{repository}")],
        "detail": {"callerUserArn": "arn:aws:iam::123456789012:user/dev", "commitId": commit, "event": "referenceUpdated",
                   "referenceFullName": "refs/heads/main", "referenceName": "main", "referenceType": "branch",
                   "repositoryId": "r", "repositoryName": repository}
    })
}

/// The objects under `prefix`, keyed by the rest of their key.
async fn deployed(stack: &Stack, prefix: &str) -> BTreeMap<String, String> {
    stack
        .objects(&stack.deploy_bucket)
        .await
        .into_iter()
        .filter_map(|(key, content)| key.strip_prefix(prefix).map(|rest| (rest.to_string(), content)))
        .collect()
}

/// Puts `event` on the default bus and pumps it through the template's rule: one message.
async fn deliver(stack: &Stack, event: &Value) {
    stack.put_default_bus(event).await;
    let pumped = stack.router.pump().await.unwrap();
    assert_eq!((pumped.messages, pumped.rejected.len(), pumped.failed.len()), (1, 0, 0), "{pumped:?}");
}

async fn executions(stack: &Stack, pipeline: &str) -> Vec<String> {
    let listed = stack.services.store.list_executions(pipeline, 50, None).await.unwrap().items;
    listed.into_iter().map(|e| e.id).collect()
}

async fn source_variables(stack: &Stack, id: &str) -> BTreeMap<String, String> {
    let execution = stack.execution(id).await;
    execution.stages[0].actions[0].attempts.last().unwrap().output_variables.clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_codecommit_push_starts_an_execution_whose_artifact_holds_exactly_that_commits_files() {
    let stack = stack().await;
    let codecommit = aws_sdk_codecommit::Client::new(&stack.sdk);
    let repository = format!("{}-site", stack.stack.names.stack);
    codecommit.create_repository().repository_name(&repository).send().await.unwrap();
    let first = commit(
        &codecommit,
        &repository,
        None,
        "First version\n\nwith a body",
        &[
            ("index.html", "<h1>one</h1>", false),
            ("css/site.css", "body{}", false),
            ("bin/run.sh", "#!/bin/sh\necho run", true),
            ("old.txt", "going", false),
        ],
        &[],
    )
    .await;
    let second = commit(
        &codecommit,
        &repository,
        Some(&first),
        "Second version",
        &[("index.html", "<h1>two</h1>", false), ("docs/a/b/deep.txt", "deep", false)],
        &["old.txt"],
    )
    .await;
    stack
        .put_pipeline(&codecommit_pipeline(&stack, "cc-site", &repository, json!({"PollForSourceChanges": "false"})))
        .await;
    stack
        .put_pipeline(&codecommit_pipeline(
            &stack,
            "cc-clone",
            &repository,
            json!({"PollForSourceChanges": "false", "OutputArtifactFormat": "CODEBUILD_CLONE_REF"}),
        ))
        .await;

    // The event names the first commit, though the branch is at the second by now: the
    // artifact holds exactly the first commit's files.
    deliver(&stack, &reference_updated(&repository, &first)).await;
    let ids = executions(&stack, "cc-site").await;
    assert_eq!(ids.len(), 1);
    assert_eq!(stack.run_to_end(&ids[0]).await, ExecutionStatus::Succeeded);
    let files = deployed(&stack, &format!("cc-site/{first}-main/")).await;
    let expected: BTreeMap<String, String> = [
        ("index.html", "<h1>one</h1>"),
        ("css/site.css", "body{}"),
        ("bin/run.sh", "#!/bin/sh\necho run"),
        ("old.txt", "going"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    assert_eq!(files, expected);
    let execution = stack.execution(&ids[0]).await;
    assert_eq!(execution.trigger.trigger_type, TriggerType::CloudWatchEvent);
    // The artifact keeps an executable file's mode.
    let artifact = &execution.stages[0].actions[0].attempts.last().unwrap().output_artifacts[0].location;
    let zipped = stack.s3.get_object().bucket(&artifact.bucket).key(&artifact.key).send().await.unwrap();
    let bytes = zipped.body.collect().await.unwrap().into_bytes();
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes.to_vec())).unwrap();
    let mode =
        |archive: &mut zip::ZipArchive<_>, name: &str| archive.by_name(name).unwrap().unix_mode().unwrap() & 0o777;
    assert_eq!(mode(&mut archive, "bin/run.sh"), 0o755);
    assert_eq!(mode(&mut archive, "index.html") & 0o111, 0, "a normal file is not executable");
    let variables = source_variables(&stack, &ids[0]).await;
    assert_eq!(variables.get("CommitId"), Some(&first));
    assert_eq!(variables.get("CommitMessage").map(String::as_str), Some("First version\n\nwith a body"));
    assert_eq!(variables.get("BranchName").map(String::as_str), Some("main"));
    assert_eq!(variables.get("RepositoryName"), Some(&repository));
    for date in ["AuthorDate", "CommitterDate"] {
        let value = variables.get(date).unwrap_or_else(|| panic!("{date} in {variables:?}"));
        assert!(value.len() == 20 && value.ends_with('Z') && value.as_bytes()[10] == b'T', "{date} {value}");
    }

    // The clone reference names the repository's git URL and the commit.
    let ids = executions(&stack, "cc-clone").await;
    assert_eq!(stack.run_to_end(&ids[0]).await, ExecutionStatus::Succeeded);
    let files = deployed(&stack, &format!("cc-clone/{first}-main/")).await;
    assert_eq!(files.keys().collect::<Vec<_>>(), vec!["codebuild-clone-ref.json"]);
    let reference: Value = serde_json::from_str(&files["codebuild-clone-ref.json"]).unwrap();
    assert_eq!(
        reference["cloneUrl"],
        format!("https://git-codecommit.us-east-1.amazonaws.com/v1/repos/{repository}").as_str()
    );
    assert_eq!(reference["commit"], first.as_str());
    assert_eq!(reference["branch"], "main");

    // The second commit: its files, the deleted one gone; the same event again starts nothing.
    let event = reference_updated(&repository, &second);
    deliver(&stack, &event).await;
    let ids = executions(&stack, "cc-site").await;
    assert_eq!(ids.len(), 2);
    for id in &ids {
        stack.run_to_end(id).await;
    }
    let files = deployed(&stack, &format!("cc-site/{second}-main/")).await;
    assert_eq!(files.keys().collect::<Vec<_>>(), vec!["bin/run.sh", "css/site.css", "docs/a/b/deep.txt", "index.html"]);
    assert_eq!(files["index.html"], "<h1>two</h1>");
    deliver(&stack, &event).await;
    assert_eq!(executions(&stack, "cc-site").await.len(), 2, "a duplicate event starts nothing new");

    // Started by hand, without a commit: the branch's head.
    let ids = started_by_hand(&stack, "cc-clone").await;
    assert_eq!(stack.run_to_end(&ids[0]).await, ExecutionStatus::Succeeded);
    let files = deployed(&stack, &format!("cc-clone/{second}-main/")).await;
    let reference: Value = serde_json::from_str(&files["codebuild-clone-ref.json"]).unwrap();
    assert_eq!(reference["commit"], second.as_str());

    // A branch CodeCommit does not know fails the action, naming it.
    stack.put_pipeline(&codecommit_pipeline(&stack, "cc-missing", &repository, json!({"BranchName": "nope"}))).await;
    let ids = started_by_hand(&stack, "cc-missing").await;
    assert_eq!(stack.run_to_end(&ids[0]).await, ExecutionStatus::Failed);
    let execution = stack.execution(&ids[0]).await;
    let error = execution.stages[0].actions[0].attempts.last().unwrap().error.clone().unwrap();
    assert_eq!(error.code, "ConfigurationError", "{error:?}");
    assert!(error.message.contains("branch nope") && error.message.contains("BranchDoesNotExist"), "{error:?}");
}

/// Starts `pipeline` with a StartPipelineExecution command naming no revision.
async fn started_by_hand(stack: &Stack, pipeline: &str) -> Vec<String> {
    let command = StartCommand {
        pipeline_name: pipeline.into(),
        variables: Vec::new(),
        source_revisions: Vec::new(),
        client_request_token: None,
        change: None,
        requested_by: Some("test".into()),
    };
    let envelope = Envelope {
        id: uuid::Uuid::new_v4().to_string(),
        source: COMMAND_SOURCE.into(),
        detail_type: START_COMMAND.into(),
        detail: serde_json::to_value(&command).unwrap(),
        account: String::new(),
        time: String::new(),
        region: String::new(),
        resources: Vec::new(),
    };
    source_change::handle(&stack.services, &envelope).await.unwrap().into_iter().map(|s| s.execution_id).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ecr_push_gives_the_image_detail_of_that_image() {
    let stack = stack().await;
    let ecr = aws_sdk_ecr::Client::new(&stack.sdk);
    let repository = format!("{}-web", stack.stack.names.stack);
    let created = ecr.create_repository().repository_name(&repository).send().await.unwrap();
    let registry = created.repository.unwrap().registry_id.unwrap();
    let manifest = json!({
        "schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": 7023,
                   "digest": "sha256:b5b2b2c507a0944348e0303114d8d93aaaa081732b86451d9bce1f432a537bc7"},
        "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "size": 32654,
                    "digest": "sha256:e692418e4cbaf90ca69d05a66403747baa33ee08806650b51fab815ad7fc331f"}]
    });
    let pushed = ecr
        .put_image()
        .repository_name(&repository)
        .image_manifest(manifest.to_string())
        .image_tag("latest")
        .send()
        .await;
    let digest = pushed.unwrap().image.unwrap().image_id.unwrap().image_digest.unwrap();
    stack
        .put_pipeline(&json!({
            "name": "ecr-app", "roleArn": "arn:aws:iam::123456789012:role/pipewright",
            "artifactStore": {"type": "S3", "location": stack.artifact_bucket()},
            "stages": [
                {"name": "Source", "actions": [{
                    "name": "Image", "namespace": "ImageVariables",
                    "actionTypeId": {"category": "Source", "owner": "AWS", "provider": "ECR", "version": "1"},
                    "configuration": {"RepositoryName": repository},
                    "outputArtifacts": [{"name": "Image"}]}]},
                {"name": "Deploy", "actions": [{
                    "name": "Publish",
                    "actionTypeId": {"category": "Deploy", "owner": "AWS", "provider": "S3", "version": "1"},
                    "configuration": {"BucketName": stack.deploy_bucket, "Extract": "true",
                                      "ObjectKey": "ecr-app/#{ImageVariables.ImageTag}"},
                    "inputArtifacts": [{"name": "Image"}]}]},
            ],
        }))
        .await;
    let push = |tag: &str| {
        json!({
            "version": "0", "id": uuid::Uuid::new_v4().to_string(), "detail-type": "ECR Image Action",
            "source": "aws.ecr", "account": registry, "time": "2026-12-02T09:00:00Z", "region": "us-east-1",
            "resources": [],
            "detail": {"result": "SUCCESS", "repository-name": repository, "image-digest": digest,
                       "action-type": "PUSH", "image-tag": tag}
        })
    };

    deliver(&stack, &push("latest")).await;
    let ids = executions(&stack, "ecr-app").await;
    assert_eq!(ids.len(), 1);
    assert_eq!(stack.run_to_end(&ids[0]).await, ExecutionStatus::Succeeded);
    let files = deployed(&stack, "ecr-app/latest/").await;
    assert_eq!(files.keys().collect::<Vec<_>>(), vec!["imageDetail.json"]);
    let detail: Value = serde_json::from_str(&files["imageDetail.json"]).unwrap();
    let uri = format!("{registry}.dkr.ecr.us-east-1.amazonaws.com/{repository}@{digest}");
    assert_eq!(detail["ImageURI"], uri.as_str());
    assert_eq!(detail["ImageDigest"], digest.as_str());
    assert_eq!(detail["RegistryId"], registry.as_str());
    assert_eq!(detail["RepositoryName"], repository.as_str());
    assert_eq!(detail["ImageTags"], json!(["latest"]));
    let variables = source_variables(&stack, &ids[0]).await;
    let expected: BTreeMap<String, String> = [
        ("RegistryId", registry.as_str()),
        ("RepositoryName", repository.as_str()),
        ("ImageTag", "latest"),
        ("ImageDigest", digest.as_str()),
        ("ImageURI", uri.as_str()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    assert_eq!(variables, expected);

    // A push of another tag is not the action's: nothing starts.
    deliver(&stack, &push("v2")).await;
    assert_eq!(executions(&stack, "ecr-app").await.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn polling_starts_once_for_one_change_and_not_again_without_one() {
    let stack = stack().await;
    let codecommit = aws_sdk_codecommit::Client::new(&stack.sdk);
    let repository = format!("{}-polled", stack.stack.names.stack);
    codecommit.create_repository().repository_name(&repository).send().await.unwrap();
    let first = commit(&codecommit, &repository, None, "one", &[("index.html", "<h1>one</h1>", false)], &[]).await;
    let (first_version, _) = stack.upload_source("bundle.zip", &[("config.json", "{}")]).await;
    // PollForSourceChanges omitted (CLI-created): both sources poll. A second pipeline turns
    // polling off.
    let mut polled = codecommit_pipeline(&stack, "polled", &repository, json!({}));
    polled["stages"][0]["actions"].as_array_mut().unwrap().push(json!({
        "name": "Bundle",
        "actionTypeId": {"category": "Source", "owner": "AWS", "provider": "S3", "version": "1"},
        "configuration": {"S3Bucket": stack.source_bucket, "S3ObjectKey": "bundle.zip"},
        "outputArtifacts": [{"name": "Bundle"}]}));
    stack.put_pipeline(&polled).await;
    stack
        .put_pipeline(&codecommit_pipeline(&stack, "quiet", &repository, json!({"PollForSourceChanges": "false"})))
        .await;

    let t0 = handlers::now();
    let at = |seconds: i64| Timestamp::from_millis(t0.millis() + seconds * 1000);
    let report = stage_transition::tick(&stack.services, t0).await.unwrap();
    assert_eq!((report.polled, report.failures.len()), (0, 0), "the first poll only records: {report:?}");

    let second =
        commit(&codecommit, &repository, Some(&first), "two", &[("index.html", "<h1>two</h1>", false)], &[]).await;
    let report = stage_transition::tick(&stack.services, at(30)).await.unwrap();
    assert_eq!(report.polled, 0, "at most one poll a minute: {report:?}");
    assert!(executions(&stack, "polled").await.is_empty());

    let report = stage_transition::tick(&stack.services, at(61)).await.unwrap();
    assert_eq!((report.polled, report.failures.len()), (1, 0), "{report:?}");
    let ids = executions(&stack, "polled").await;
    assert_eq!(ids.len(), 1);
    assert_eq!(stack.run_to_end(&ids[0]).await, ExecutionStatus::Succeeded);
    let execution = stack.execution(&ids[0]).await;
    assert_eq!(execution.trigger.trigger_type, TriggerType::PollForSourceChanges);
    assert_eq!(execution.trigger.trigger_detail.as_deref(), Some("Code"));
    let mut pinned: Vec<(String, RevisionType, String)> = execution
        .source_revision_overrides
        .iter()
        .map(|r| (r.action_name.clone(), r.revision_type, r.revision_value.clone()))
        .collect();
    pinned.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        pinned,
        vec![
            ("Bundle".to_string(), RevisionType::S3ObjectVersionId, first_version.clone()),
            ("Code".to_string(), RevisionType::CommitId, second.clone()),
        ]
    );
    assert_eq!(deployed(&stack, &format!("polled/{second}-main/")).await["index.html"], "<h1>two</h1>");

    // Nothing moved: nothing starts, however often the tick polls.
    for seconds in [122, 183] {
        let report = stage_transition::tick(&stack.services, at(seconds)).await.unwrap();
        assert_eq!((report.polled, report.failures.len()), (0, 0), "{report:?}");
    }
    assert_eq!(executions(&stack, "polled").await.len(), 1);

    // A new version of the S3 object moves the other source. Two ticks at once start it once.
    let (new_version, _) = stack.upload_source("bundle.zip", &[("config.json", "{\"v\": 2}")]).await;
    let before = stack.services.store.get_record(RECORD_KIND, "polled").await.unwrap().unwrap();
    let (one, two) = tokio::join!(
        stage_transition::tick(&stack.services, at(244)),
        stage_transition::tick(&stack.services, at(244))
    );
    let (one, two) = (one.unwrap(), two.unwrap());
    assert_eq!((one.polled + two.polled, one.failures.len() + two.failures.len()), (1, 0), "{one:?} {two:?}");
    let ids = executions(&stack, "polled").await;
    assert_eq!(ids.len(), 2);
    // A tick that crashed after the start, before it kept the record: the next poll names
    // the same execution, and starts nothing new.
    let after = stack.services.store.get_record(RECORD_KIND, "polled").await.unwrap().unwrap();
    assert!(stack.services.store.replace_record(RECORD_KIND, "polled", &after, &before).await.unwrap());
    let report = stage_transition::tick(&stack.services, at(305)).await.unwrap();
    assert_eq!((report.polled, report.failures.len()), (0, 0), "{report:?}");
    assert_eq!(executions(&stack, "polled").await.len(), 2);
    let newest = stack.execution(&ids[0]).await;
    let newest = if newest.source_revision_overrides.iter().any(|r| r.revision_value == new_version) {
        newest
    } else {
        stack.execution(&ids[1]).await
    };
    assert_eq!(newest.trigger.trigger_detail.as_deref(), Some("Bundle"));
    assert!(newest.source_revision_overrides.iter().any(|r| r.revision_value == new_version));
    assert!(executions(&stack, "quiet").await.is_empty(), "a pipeline that does not poll is never started");

    // Idle for 30 days, the pipeline is polled no more, as CodePipeline's pollingDisabledAt says.
    let latest = executions(&stack, "polled").await.len();
    commit(&codecommit, &repository, Some(&second), "three", &[("index.html", "<h1>three</h1>", false)], &[]).await;
    let month = at(31 * 86_400);
    let report = stage_transition::tick(&stack.services, month).await.unwrap();
    assert_eq!((report.polled, report.failures.len()), (0, 0), "{report:?}");
    assert_eq!(executions(&stack, "polled").await.len(), latest);
}
