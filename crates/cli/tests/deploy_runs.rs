//! Deploy stages in local runs, through the real `pipewright` binary (docs/providers.md §2):
//! without a target a deploy action fails at once naming the choices; `--plan` runs a
//! release pipeline to the end showing each planned change; `--aws-endpoint` deploys a
//! CloudFormation stack and an S3 site to moto with the real SDK.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test binary: its helpers, like its #[test] functions, panic on what fails it"
)]

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use serde_json::{Value, json};

struct Scratch {
    dir: tempfile::TempDir,
}

impl Scratch {
    fn new() -> Scratch {
        Scratch { dir: tempfile::tempdir().expect("temp dir") }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn source(&self) -> PathBuf {
        self.path().join("src")
    }

    /// Writes `text` at `relative` under the scratch directory.
    fn file(&self, relative: &str, text: &str) -> String {
        let path = self.path().join(relative);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, text).unwrap();
        path.display().to_string()
    }

    fn pipeline(&self, name: &str, stages: Vec<Value>) -> String {
        let declaration = json!({
            "name": name,
            "roleArn": "arn:aws:iam::111122223333:role/pipewright",
            "artifactStore": {"type": "S3", "location": "local-artifacts"},
            "pipelineType": "V2",
            "executionMode": "QUEUED",
            "stages": stages,
        });
        self.file(&format!("{name}.json"), &serde_json::to_string_pretty(&declaration).unwrap())
    }

    /// `pipewright run FILE --source Source=src ARGS…`: (exit code, stdout and stderr).
    fn run(&self, file: &str, args: &[&str], env: &[(&str, &str)]) -> (i32, String) {
        let source = format!("Source={}", self.source().display());
        let mut command = Command::cargo_bin("pipewright").expect("binary");
        command.current_dir(self.path()).arg("--state-dir").arg(self.path().join("state")).env("PIPEWRIGHT_PLAIN", "1");
        for (name, value) in env {
            command.env(name, value);
        }
        let output = command.args(["run", file, "--source", &source]).args(args).output().unwrap();
        let text = String::from_utf8_lossy(&output.stdout).into_owned() + &String::from_utf8_lossy(&output.stderr);
        (output.status.code().unwrap_or(-1), text)
    }
}

fn source_stage() -> Value {
    json!({"name": "Source", "actions": [{
        "name": "Source",
        "actionTypeId": {"category": "Source", "owner": "AWS", "provider": "S3", "version": "1"},
        "configuration": {"S3Bucket": "uploads", "S3ObjectKey": "app.zip"},
        "outputArtifacts": [{"name": "Src"}]
    }]})
}

/// A CloudFormation action; its stack acts with a service role, as CodePipeline requires.
fn cloudformation(name: &str, namespace: &str, input: &str, mut configuration: Value) -> Value {
    if configuration["ActionMode"] != "CHANGE_SET_EXECUTE" {
        configuration["RoleArn"] = json!("arn:aws:iam::123456789012:role/cloudformation");
    }
    json!({
        "name": name,
        "namespace": namespace,
        "actionTypeId": {"category": "Deploy", "owner": "AWS", "provider": "CloudFormation", "version": "1"},
        "configuration": configuration,
        "inputArtifacts": [{"name": input}],
    })
}

fn s3_deploy(name: &str, input: &str, bucket: &str) -> Value {
    json!({
        "name": name,
        "actionTypeId": {"category": "Deploy", "owner": "AWS", "provider": "S3", "version": "1"},
        "configuration": {"BucketName": bucket, "Extract": "true"},
        "inputArtifacts": [{"name": input}],
    })
}

fn stage(name: &str, actions: Vec<Value>) -> Value {
    json!({"name": name, "actions": actions})
}

/// The lines action `stage/action` printed.
fn lines_of(output: &str, stage: &str, action: &str) -> Vec<String> {
    let prefix = format!("[{stage}/{action}] ");
    output.lines().filter_map(|l| l.strip_prefix(&prefix)).map(String::from).collect()
}

fn mentions(lines: &[String], text: &str) -> bool {
    lines.iter().any(|l| l.contains(text))
}

/// A site: a template whose bucket name is a parameter, its parameters file, a page.
fn site_source(scratch: &Scratch, version: &str) {
    scratch.file(
        "src/template.yaml",
        &format!(
            "AWSTemplateFormatVersion: '2010-09-09'
Description: site {version}
Parameters:
  SiteName:
    Type: String
  Env:
    Type: String
    Default: dev
Resources:
  Site:
    Type: AWS::S3::Bucket
    Properties:
      BucketName: !Ref SiteName
Outputs:
  BucketName:
    Value: !Ref Site
  Env:
    Value: !Ref Env
"
        ),
    );
    scratch.file("src/index.html", &format!("<h1>site {version}</h1>\n"));
}

#[test]
fn a_deploy_action_without_a_target_fails_at_once_naming_the_three_choices() {
    let scratch = Scratch::new();
    site_source(&scratch, "1");
    let file = scratch
        .pipeline("no-target", vec![source_stage(), stage("Publish", vec![s3_deploy("Site", "Src", "my-site")])]);
    let (code, output) = scratch.run(&file, &[], &[]);
    assert_eq!(code, 1, "{output}");
    for choice in ["--aws ", "--aws-endpoint URL", "--plan"] {
        assert!(output.contains(choice), "the failure names {choice}: {output}");
    }
    assert!(!output.contains("needs the AWS backend"), "{output}");
}

/// An action of another region reads its inputs from that region's store, where a real run
/// copies them first: the plan says so and names that copy.
#[test]
fn a_plan_of_an_action_in_another_region_names_the_region_and_its_store() {
    let scratch = Scratch::new();
    site_source(&scratch, "1");
    let deploy = json!({"name": "West", "region": "us-west-2",
        "actionTypeId": {"category": "Deploy", "owner": "AWS", "provider": "CodeDeploy", "version": "1"},
        "configuration": {"ApplicationName": "app", "DeploymentGroupName": "fleet"},
        "inputArtifacts": [{"name": "Src"}]});
    let mut home = deploy.clone();
    home["name"] = json!("Home");
    home.as_object_mut().unwrap().remove("region");
    let declaration = json!({
        "name": "xregion", "roleArn": "arn:aws:iam::111122223333:role/pipewright", "pipelineType": "V2",
        "artifactStores": {"us-east-1": {"type": "S3", "location": "east-artifacts"},
                           "us-west-2": {"type": "S3", "location": "west-artifacts"}},
        "stages": [source_stage(), stage("Deploy", vec![deploy, home])],
    });
    let file = scratch.file("xregion.json", &serde_json::to_string_pretty(&declaration).unwrap());
    let (code, output) = scratch.run(&file, &["--plan", "--region", "us-east-1"], &[]);
    assert_eq!(code, 0, "{output}");
    let lines = lines_of(&output, "Deploy", "West");
    assert!(mentions(&lines, "CodeDeploy deployment of s3://west-artifacts/"), "{lines:?}");
    assert!(mentions(&lines, "(in us-west-2)"), "{lines:?}");
    assert!(mentions(&lines, "inputs copied first to us-west-2's artifact store, s3://west-artifacts/"), "{lines:?}");
    // An action of the pipeline's own region says nothing of regions.
    let home = lines_of(&output, "Deploy", "Home");
    assert!(mentions(&lines, "CodeDeploy deployment of s3://") && !mentions(&home, "(in "), "{home:?}");
    assert!(mentions(&home, "CodeDeploy deployment of s3://east-artifacts/"), "{home:?}");
}

#[test]
fn a_planned_release_runs_to_the_end_showing_each_change_and_the_diff_of_the_next() {
    let scratch = Scratch::new();
    site_source(&scratch, "1");
    scratch.file("src/params.json", r#"{"SiteName": "site-from-file"}"#);
    let buildspec = scratch.file(
        "buildspec.yml",
        "version: 0.2
phases:
  build:
    commands:
      - cp template.yaml packaged.yaml
artifacts:
  files:
    - packaged.yaml
    - params.json
",
    );
    let build = json!({
        "name": "Package",
        "actionTypeId": {"category": "Build", "owner": "AWS", "provider": "CodeBuild", "version": "1"},
        "configuration": {"ProjectName": "package"},
        "inputArtifacts": [{"name": "Src"}],
        "outputArtifacts": [{"name": "Packaged"}],
    });
    let staging = cloudformation(
        "DeployStaging",
        "Staging",
        "Packaged",
        json!({
            "ActionMode": "CREATE_UPDATE", "StackName": "site-staging",
            "TemplatePath": "Packaged::packaged.yaml",
            "ParameterOverrides": r#"{"SiteName": {"Fn::GetParam": ["Packaged", "params.json", "SiteName"]}, "Env": "staging"}"#,
        }),
    );
    let approval = json!({"name": "Promote",
        "actionTypeId": {"category": "Approval", "owner": "AWS", "provider": "Manual", "version": "1"}});
    let mut prepare = cloudformation(
        "PrepareProd",
        "ProdPlan",
        "Packaged",
        json!({
            "ActionMode": "CHANGE_SET_REPLACE", "StackName": "site-prod", "ChangeSetName": "release",
            "TemplatePath": "Packaged::packaged.yaml",
            "ParameterOverrides": r#"{"SiteName": "site-prod", "Env": "prod"}"#,
        }),
    );
    prepare["runOrder"] = json!(1);
    let mut execute = cloudformation(
        "ExecuteProd",
        "Prod",
        "Packaged",
        json!({"ActionMode": "CHANGE_SET_EXECUTE", "StackName": "site-prod", "ChangeSetName": "release"}),
    );
    execute["runOrder"] = json!(2);
    let file = scratch.pipeline(
        "release",
        vec![
            source_stage(),
            stage("Build", vec![build]),
            stage("Staging", vec![staging]),
            stage("Approve", vec![approval]),
            stage(
                "Prod",
                vec![prepare, execute, {
                    let mut site = s3_deploy("Site", "Src", "#{Prod.BucketName}");
                    site["runOrder"] = json!(3);
                    site
                }],
            ),
        ],
    );
    let flag = format!("package={buildspec}");
    let args = ["--plan", "--auto-approve", "--buildspec", flag.as_str()];
    let (code, output) = scratch.run(&file, &args, &[]);
    assert_eq!(code, 0, "{output}");

    let staging = lines_of(&output, "Staging", "DeployStaging");
    assert!(mentions(&staging, "CloudFormation CREATE_UPDATE: create or update stack site-staging"), "{staging:?}");
    assert!(mentions(&staging, "SiteName = site-from-file"), "Fn::GetParam is resolved: {staging:?}");
    assert!(mentions(&staging, "Env = staging"), "{staging:?}");
    assert!(mentions(&staging, "BucketName: !Ref SiteName"), "the template is shown: {staging:?}");
    assert!(mentions(&staging, "no earlier plan or deployment of stack site-staging"), "{staging:?}");
    assert!(mentions(&staging, "a planned stand-in"), "unknowable outputs are marked: {staging:?}");

    let prepare = lines_of(&output, "Prod", "PrepareProd");
    assert!(mentions(&prepare, "create change set release of stack site-prod"), "{prepare:?}");
    let execute = lines_of(&output, "Prod", "ExecuteProd");
    assert!(mentions(&execute, "execute change set release of stack site-prod"), "{execute:?}");
    let site = lines_of(&output, "Prod", "Site");
    assert!(mentions(&site, "s3://pipewright-planned:site-prod.BucketName/index.html"), "{site:?}");

    // The next plan compares with this one.
    site_source(&scratch, "2");
    let (code, output) = scratch.run(&file, &args, &[]);
    assert_eq!(code, 0, "{output}");
    let staging = lines_of(&output, "Staging", "DeployStaging");
    assert!(mentions(&staging, "diff against the template planned in execution"), "{staging:?}");
    assert!(mentions(&staging, "-Description: site 1") && mentions(&staging, "+Description: site 2"), "{staging:?}");
}

/// The objects of `bucket` in moto, with their bodies.
async fn objects(endpoint: &str, bucket: &str) -> Vec<(String, String)> {
    let sdk = pipewright_aws::testing::sdk_config().await;
    let config = aws_sdk_s3::config::Builder::from(&sdk).endpoint_url(endpoint).force_path_style(true).build();
    let s3 = aws_sdk_s3::Client::from_conf(config);
    let listed = s3.list_objects_v2().bucket(bucket).send().await.unwrap();
    let mut found = Vec::new();
    for object in listed.contents() {
        let key = object.key().unwrap().to_string();
        let body = s3.get_object().bucket(bucket).key(&key).send().await.unwrap().body.collect().await.unwrap();
        found.push((key, String::from_utf8_lossy(&body.into_bytes()).into_owned()));
    }
    found
}

async fn stack_status(endpoint: &str, stack: &str) -> Option<String> {
    let sdk = pipewright_aws::testing::sdk_config().await;
    let config = aws_sdk_cloudformation::config::Builder::from(&sdk).endpoint_url(endpoint).build();
    let cloudformation = aws_sdk_cloudformation::Client::from_conf(config);
    let described = cloudformation.describe_stacks().stack_name(stack).send().await.ok()?;
    described.stacks().first().and_then(|s| s.stack_status()).map(|s| s.as_str().to_string())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_run_against_moto_deploys_a_stack_whose_output_names_the_bucket_a_site_is_published_to() {
    let endpoint = pipewright_aws::testing::endpoint().to_string();
    let scratch = Scratch::new();
    site_source(&scratch, "1");
    let unique = uuid::Uuid::new_v4().simple().to_string();
    let stack = format!("site-{}", &unique[..12]);
    let bucket = format!("site-bucket-{}", &unique[..12]);
    scratch.file("src/params.json", &json!({ "SiteName": bucket }).to_string());
    let deploy = cloudformation(
        "Stack",
        "Site",
        "Src",
        json!({
            "ActionMode": "CREATE_UPDATE", "StackName": stack,
            "TemplatePath": "Src::template.yaml",
            "ParameterOverrides": r#"{"SiteName": {"Fn::GetParam": ["Src", "params.json", "SiteName"]}, "Env": "test"}"#,
        }),
    );
    let file = scratch.pipeline(
        "site",
        vec![
            source_stage(),
            stage("Infra", vec![deploy]),
            stage("Publish", vec![s3_deploy("Pages", "Src", "#{Site.BucketName}")]),
        ],
    );
    let env = [("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing"), ("AWS_REGION", "us-east-1")];
    let (code, output) = scratch.run(&file, &["--aws-endpoint", &endpoint], &env);
    assert_eq!(code, 0, "{output}");
    assert_eq!(stack_status(&endpoint, &stack).await.as_deref(), Some("CREATE_COMPLETE"), "{output}");
    let published = objects(&endpoint, &bucket).await;
    assert!(
        published.iter().any(|(key, body)| key == "index.html" && body.contains("site 1")),
        "the stack's output named the bucket the page went to: {published:?}\n{output}"
    );

    // Nothing changed: CloudFormation has no updates to perform, which is a success.
    let (code, output) = scratch.run(&file, &["--aws-endpoint", &endpoint], &env);
    assert_eq!(code, 0, "an unchanged stack succeeds: {output}");

    // A new page and template description: the stack is updated and the page replaced.
    site_source(&scratch, "2");
    let (code, output) = scratch.run(&file, &["--aws-endpoint", &endpoint], &env);
    assert_eq!(code, 0, "{output}");
    assert_eq!(stack_status(&endpoint, &stack).await.as_deref(), Some("UPDATE_COMPLETE"), "{output}");
    let published = objects(&endpoint, &bucket).await;
    assert!(published.iter().any(|(key, body)| key == "index.html" && body.contains("site 2")), "{published:?}");
}
