//! Pipelines where teams keep them: CloudFormation/SAM templates, CDK output, Terraform JSON
//! and real `get-pipeline` exports, through the real `pipewright` binary — imported,
//! validated, exported, and run locally as far as their providers allow.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test binary: its helpers, like its #[test] functions, panic on what fails it"
)]

use std::path::{Path, PathBuf};
use std::process::Command as StdCommand;
use std::sync::Arc;
use std::time::{Duration, Instant};

use assert_cmd::Command;
use predicates::prelude::*;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/templates")
}

fn fixture(name: &str) -> String {
    fixtures().join(name).display().to_string()
}

/// A git repository (the source of CodeCommit, connection and GitHub actions) with a state
/// directory beside it.
struct Workspace {
    dir: tempfile::TempDir,
}

impl Workspace {
    fn new() -> Workspace {
        let dir = tempfile::tempdir().unwrap();
        let repo = dir.path().join("repo");
        std::fs::create_dir_all(&repo).unwrap();
        std::fs::write(repo.join("app.txt"), "hello\n").unwrap();
        for args in [
            vec!["init", "-q", "-b", "main"],
            vec!["add", "."],
            vec!["-c", "user.email=t@example.com", "-c", "user.name=t", "commit", "-qm", "first"],
        ] {
            assert!(StdCommand::new("git").args(&args).current_dir(&repo).status().unwrap().success());
        }
        Workspace { dir }
    }

    fn state(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    fn pipewright(&self) -> Command {
        let mut command = Command::cargo_bin("pipewright").unwrap();
        command
            .current_dir(self.dir.path().join("repo"))
            .arg("--state-dir")
            .arg(self.state())
            .env("PIPEWRIGHT_PLAIN", "1")
            .timeout(Duration::from_secs(120));
        command
    }

    /// The CodeBuild projects the run handed to the providers.
    fn build_projects(&self, execution_id: &str) -> Vec<String> {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        runtime.block_on(async {
            let backend = pipewright_local::backend::Backend::open(
                &self.state(),
                self.dir.path(),
                Arc::new(pipewright_local::report::Silent),
                None,
            )
            .unwrap();
            backend.load_run_options(execution_id).await.unwrap().build_projects.into_keys().collect()
        })
    }
}

fn pipewright() -> Command {
    Command::cargo_bin("pipewright").unwrap()
}

fn stdout(assert: &assert_cmd::assert::Assert) -> String {
    String::from_utf8_lossy(&assert.get_output().stdout).to_string()
}

fn stderr(assert: &assert_cmd::assert::Assert) -> String {
    String::from_utf8_lossy(&assert.get_output().stderr).to_string()
}

/// The execution id in `--json` output (CodePipeline's event detail).
fn execution_of(json_lines: &str) -> String {
    json_lines
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .find_map(|event| event["detail"]["execution-id"].as_str().map(str::to_string))
        .expect("an event with an execution id")
}

#[test]
fn realistic_templates_validate_with_their_placeholders_named() {
    let sam = pipewright().args(["validate", &fixture("sam-pipeline.yaml")]).assert().success();
    let out = stdout(&sam);
    assert!(out.contains("(Pipeline): valid pipeline \"sam-pipeline-Pipeline\": 6 stages, 8 actions"), "{out}");
    assert!(
        out.contains("parameters without a value got placeholders (give them with --parameter NAME=VALUE): FullRepositoryId = pipewright-placeholder/repository, MainGitBranch = main"),
        "{out}"
    );
    // A feature-branch pipeline drops the main-branch stages (If + AWS::NoValue).
    let feature = pipewright()
        .args(["validate", &fixture("sam-pipeline.yaml"), "--parameter", "FeatureGitBranch=feature-x"])
        .args(["--parameter", "FullRepositoryId=acme/app", "--parameter", "MainGitBranch=main"])
        .assert()
        .success();
    let out = stdout(&feature);
    assert!(out.contains("4 stages, 5 actions") && !out.contains("warning"), "{out}");

    let codebuild = pipewright().args(["validate", &fixture("codebuild-pipeline.yaml")]).assert().success();
    let out = stdout(&codebuild);
    assert!(out.contains("valid pipeline \"orders-service-staging\": 3 stages, 4 actions"), "{out}");
    assert!(out.contains("GitHubToken = a000000000000000000000000000000000000000"), "{out}");

    let cdk = pipewright().args(["validate", &fixture("cdk-pipelines/cdk.out")]).assert().success();
    let out = stdout(&cdk);
    assert!(
        out.contains(
            "cdk.out (PipelineStack/Pipeline9850B417): valid pipeline \"orders-pipeline\": 5 stages, 6 actions, V2"
        ),
        "{out}"
    );
    assert!(!out.contains("not an AWS provider"), "{out}");

    let terraform = pipewright().args(["validate", &fixture("terraform-show.json")]).assert().success();
    assert!(stdout(&terraform).contains("valid pipeline \"tf-app\": 2 stages, 2 actions, V2, QUEUED mode"));

    let commands = pipewright().args(["validate", "--json", &fixture("commands-pipeline.yaml")]).assert().success();
    let report: serde_json::Value = serde_json::from_str(stdout(&commands).trim()).unwrap();
    assert_eq!(report["resource"], "Pipeline");
    assert_eq!(report["placeholders"][0]["name"], "Greeting");
    assert_eq!(report["placeholders"][0]["usedAt"][0], "Pipeline.Stages[1].Actions[0].Commands[0]");
}

/// A parameter whose `Default` is `''` is a value CloudFormation passes on, and the rule it
/// breaks is the template's error; the error names the parameter and how to give it.
#[test]
fn an_error_an_empty_default_causes_names_the_parameter_to_give() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("pipeline.yaml");
    let text = std::fs::read_to_string(fixtures().join("codebuild-pipeline.yaml")).unwrap();
    let default = "  GitHubBranch:\n    Type: String\n    Default: main";
    assert!(text.contains(default));
    std::fs::write(&file, text.replacen(default, "  GitHubBranch:\n    Type: String\n    Default: ''", 1)).unwrap();
    let file = file.to_str().unwrap();
    let refused = pipewright().args(["validate", file, "--parameter", "GitHubOwner=acme"]).assert().code(1);
    let out = stdout(&refused);
    let named = "Branch: must not be empty (it holds the parameter GitHubBranch, whose Default is ''; give a value with --parameter GitHubBranch=…)";
    assert!(out.contains(named), "{out}");
    pipewright()
        .args(["validate", file, "--parameter", "GitHubOwner=acme", "--parameter", "GitHubBranch=main"])
        .assert()
        .success();
}

/// A `cdk.out` committed in part: the pipeline's stack is read when it is there, whatever
/// the other stacks lack, and what was passed over is a warning; the stack `--resource`
/// names must be there.
#[test]
fn a_cdk_assembly_committed_in_part_still_gives_its_pipeline() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("cdk.out");
    let source = fixtures().join("cdk-pipelines/cdk.out");
    std::fs::create_dir_all(&out).unwrap();
    for name in ["manifest.json", "PipelineStack.template.json"] {
        std::fs::copy(source.join(name), out.join(name)).unwrap();
    }
    // A second stack whose template was never committed, and one that does not parse.
    let manifest = std::fs::read_to_string(out.join("manifest.json")).unwrap();
    let extra = r#""artifacts": {
    "GoneStack": {"type": "aws:cloudformation:stack", "environment": "aws://111122223333/eu-west-1",
      "properties": {"templateFile": "GoneStack.template.json"}},
    "BrokenStack": {"type": "aws:cloudformation:stack", "environment": "aws://111122223333/eu-west-1",
      "properties": {"templateFile": "BrokenStack.template.json"}},"#;
    std::fs::write(out.join("manifest.json"), manifest.replacen(r#""artifacts": {"#, extra, 1)).unwrap();
    std::fs::write(out.join("BrokenStack.template.json"), "{\"Resources\": {").unwrap();
    let shown = out.to_str().unwrap();

    // The nested assembly `assembly-Prod` is missing too.
    let valid = pipewright().args(["validate", shown]).assert().success();
    let (out_text, err_text) = (stdout(&valid), stderr(&valid));
    let both = format!("{out_text}{err_text}");
    assert!(both.contains("valid pipeline \"orders-pipeline\""), "{both}");
    for passed in ["stack GoneStack", "its template is missing", "stack BrokenStack", "assembly-Prod"] {
        assert!(both.contains(passed), "{passed}: {both}");
    }

    // Named, the missing stack is an error; a broken template that names a pipeline is too.
    let named = pipewright().args(["validate", shown, "--resource", "GoneStack/Pipeline"]).assert().failure();
    let said = format!("{}{}", stdout(&named), stderr(&named));
    assert!(said.contains("cannot read") && said.contains("GoneStack.template.json"), "{said}");
    std::fs::write(out.join("BrokenStack.template.json"), "{\"Type\": \"AWS::CodePipeline::Pipeline\"").unwrap();
    let broken = pipewright().args(["validate", shown]).assert().failure();
    let said = format!("{}{}", stdout(&broken), stderr(&broken));
    assert!(said.contains("BrokenStack.template.json") && !said.contains("valid pipeline"), "{said}");
}

/// Shapes real templates have (docs/import.md, "Validating an imported pipeline"): they
/// validate as CloudFormation takes them, and a rule that only a value Pipewright chose breaks
/// (a placeholder, a stack name taken from a long file name) is a warning naming that value.
/// Real values are checked as any value is.
#[test]
fn templates_as_found_in_the_field_validate_and_what_only_a_stand_in_breaks_is_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let stack = format!("{}delivery", "platform-team-".repeat(6));
    let file = dir.path().join(format!("{stack}.yaml"));
    std::fs::copy(fixture("shapes-from-the-field.yaml"), &file).unwrap();
    let file = file.display().to_string();
    let out = stdout(&pipewright().args(["validate", &file]).assert().success());
    for expected in [
        "warning: artifactStore.location: is 72 characters long; the limit is 63 (the value holds the placeholder for parameter AppName; give it with --parameter AppName=…)",
        &format!(
            "warning: name: is 106 characters long; the limit is 100 (the value holds the stack name \"{stack}\", taken from the file's name; give it with --stack-name NAME)"
        ),
        "warning: stages[1].actions[1].configuration.RoleArn: is not set",
        "warning: stages[1].actions[0].configuration.CustomData: #{SourceVariables.AuthorId}: \"AuthorId\" is not an output variable AWS documents",
        "valid pipeline",
    ] {
        assert!(out.contains(expected), "{expected}\n{out}");
    }
    let given = pipewright()
        .args([
            "validate",
            &file,
            "--stack-name",
            &"s".repeat(90),
            "--parameter",
            &format!("AppName={}", "a".repeat(40)),
        ])
        .assert()
        .code(1);
    let out = stdout(&given);
    assert!(out.contains("(Pipeline): name: is 104 characters long; the limit is 100"), "{out}");
    assert!(out.contains("(Pipeline): artifactStore.location: is 82 characters long; the limit is 63"), "{out}");
    // The quoted override whose closing line comes back to its key reads as CloudFormation reads it.
    let export = pipewright().args(["export", &file, "--parameter", "AppName=orders"]).assert().success();
    let err = stderr(&export);
    assert!(
        err.contains("warning: name: is 106 characters long; the limit is 100 (the value holds the stack name")
            && err.contains("CreatePipeline refuses it until a real value is given"),
        "{err}"
    );
    let input: serde_json::Value = serde_json::from_str(&stdout(&export)).unwrap();
    let plan = &input["pipeline"]["stages"][1]["actions"][1]["configuration"];
    assert_eq!(plan["ParameterOverrides"], "{ \"AppName\":\"orders\", \"Stage\":\"release\" }");
    assert_eq!(
        input["pipeline"]["stages"][1]["actions"][2]["configuration"]["StackId"],
        "2f8a6c1e-5b3d-4e7f-9a1c-6d4b2e8f0a3c"
    );

    // The engine runs only a valid declaration: a run asks for the values whose stand-ins
    // break a rule, naming them.
    let workspace = Workspace::new();
    let run =
        |extra: &[&str]| workspace.pipewright().args(["run", &file, "--plan", "--auto-approve"]).args(extra).assert();
    let err = stderr(&run(&[]).code(2));
    assert!(
        err.contains(&format!(
            "a local run needs a stack name of your own: the one taken from the file's name (\"{stack}\") makes name: is 106 characters long"
        )),
        "{err}"
    );
    let err = stderr(&run(&["--stack-name", "delivery"]).code(2));
    assert!(
        err.contains("a local run needs values the template does not give:\n  parameter AppName (used at"),
        "{err}"
    );
    let out = stdout(&run(&["--stack-name", "delivery", "--parameter", "AppName=orders"]).code(1));
    assert!(out.contains("Source/Checkout SUCCEEDED"), "{out}");
}

#[test]
fn a_real_get_pipeline_export_with_region_on_every_action_is_valid() {
    let export = pipewright().args(["validate", &fixture("get-pipeline-export.json")]).assert().success();
    assert!(stdout(&export).contains("valid pipeline \"web-release\""));
    // The home region comes from metadata.pipelineArn; --region does not override it.
    pipewright().args(["--region", "us-west-2", "validate", &fixture("get-pipeline-export.json")]).assert().success();
    // Without metadata, --region says which region is home: a Source action elsewhere is refused.
    let text = std::fs::read_to_string(fixture("get-pipeline-export.json")).unwrap();
    let mut value: serde_json::Value = serde_json::from_str(&text).unwrap();
    value.as_object_mut().unwrap().remove("metadata");
    let bare = value.to_string();
    pipewright().args(["validate", "-"]).write_stdin(bare.clone()).assert().success();
    pipewright()
        .args(["--region", "us-west-2", "validate", "-"])
        .write_stdin(bare)
        .assert()
        .code(1)
        .stdout(predicate::str::contains(
            "stages[0].actions[0].region: Source actions cannot run in another region; \"eu-west-1\" is not the pipeline's region \"us-west-2\"",
        ));
}

#[test]
fn other_files_get_one_sentence_and_exit_2() {
    for (file, says) in [
        (
            "other/main.tf",
            "is a Terraform configuration (HCL), which Pipewright does not evaluate; run `terraform show -json`",
        ),
        ("other/buildspec.yml", "is a CodeBuild buildspec, not a pipeline"),
        ("other/deployment.yaml", "is a Kubernetes manifest (kind: Deployment), not a pipeline"),
        ("other/ci.yml", "is a GitHub Actions workflow, not a CodePipeline pipeline"),
        ("other/bucket-only.yaml", "is a CloudFormation template with no AWS::CodePipeline::Pipeline resource"),
    ] {
        for command in ["validate", "export"] {
            let assert = pipewright().args([command, &fixture(file)]).assert().code(2);
            let text = format!("{}{}", stdout(&assert), stderr(&assert));
            assert!(text.contains(says), "{command} {file}: {text}");
            assert_eq!(text.trim().lines().count(), 1, "{command} {file}: {text}");
            assert!(!text.contains("panicked"));
        }
    }
    let workspace = Workspace::new();
    let assert = workspace.pipewright().args(["run", &fixture("other/main.tf")]).assert().code(2);
    assert!(stderr(&assert).contains("terraform show -json"), "{}", stderr(&assert));
}

#[test]
fn export_prints_create_pipeline_input_with_tags() {
    let assert = pipewright()
        .args(["export", &fixture("codebuild-pipeline.yaml"), "--parameter", "Environment=production"])
        .args(["--parameter", "GitHubOwner=acme", "--parameter", "DeployBucket=acme-deploy"])
        .assert()
        .success();
    let input: serde_json::Value = serde_json::from_str(&stdout(&assert)).unwrap();
    let pipeline = &input["pipeline"];
    assert_eq!(pipeline["name"], "orders-service-production");
    assert_eq!(input["tags"], serde_json::json!([{"key": "team", "value": "orders"}]));
    // The production condition keeps the approval stage; !Sub with a resource attribute.
    let stages: Vec<&str> =
        pipeline["stages"].as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap()).collect();
    assert_eq!(stages, ["Source", "Build", "Approve", "Deploy"]);
    assert_eq!(
        pipeline["stages"][3]["actions"][0]["configuration"]["ParameterOverrides"],
        "{\"Environment\": \"production\", \"ImageUri\": \"123456789012.dkr.ecr.us-east-1.amazonaws.com/orders-service:latest\"}"
    );
    assert_eq!(
        pipeline["stages"][2]["actions"][0]["configuration"]["NotificationArn"],
        "arn:aws:sns:us-east-1:123456789012:codebuild-pipeline-ApprovalTopic"
    );
    assert!(pipeline.get("version").is_none());
    // What export prints, Pipewright reads back, as create-pipeline --cli-input-json does.
    let dir = tempfile::tempdir().unwrap();
    let exported = dir.path().join("exported.json");
    std::fs::write(&exported, stdout(&assert)).unwrap();
    let read_back = pipewright().args(["validate", exported.to_str().unwrap()]).assert().success();
    assert!(stdout(&read_back).contains("valid pipeline \"orders-service-production\""), "{}", stdout(&read_back));
    // …with its tags, which go on to a CreatePipeline (`--endpoint`) or another export.
    let again = pipewright().args(["export", exported.to_str().unwrap()]).assert().success();
    let again: serde_json::Value = serde_json::from_str(&stdout(&again)).unwrap();
    assert_eq!(again, input);
    // Several pipelines need a choice; an unknown one is named.
    pipewright()
        .args(["export", &fixture("codebuild-pipeline.yaml"), "--resource", "Nope"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("has no AWS::CodePipeline::Pipeline named Nope (its pipelines: Pipeline)"));
}

#[test]
fn parameters_come_from_files_in_both_formats_and_bad_ones_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let cli_format = dir.path().join("params.json");
    std::fs::write(&cli_format, r#"[{"ParameterKey": "Environment", "ParameterValue": "production"}, {"ParameterKey": "GitHubOwner", "ParameterValue": "acme"}]"#).unwrap();
    let config_format = dir.path().join("config.json");
    std::fs::write(&config_format, r#"{"Parameters": {"Environment": "production"}, "Tags": {"a": "b"}}"#).unwrap();
    for file in [&cli_format, &config_format] {
        let assert = pipewright()
            .args(["export", &fixture("codebuild-pipeline.yaml"), "--parameters-file"])
            .arg(file)
            .assert()
            .success();
        assert!(stdout(&assert).contains("orders-service-production"));
    }
    // --parameter wins over the file.
    let assert = pipewright()
        .args(["export", &fixture("codebuild-pipeline.yaml"), "--parameters-file"])
        .arg(&cli_format)
        .args(["--parameter", "Environment=staging"])
        .assert()
        .success();
    assert!(stdout(&assert).contains("orders-service-staging"));
    pipewright()
        .args(["validate", &fixture("codebuild-pipeline.yaml"), "--parameter", "Nope=1"])
        .assert()
        .code(2)
        .stdout(predicate::str::contains(
            "the template has no parameter named Nope (its parameters: GitHubOwner, GitHubRepo",
        ));
    pipewright()
        .args(["validate", &fixture("codebuild-pipeline.yaml"), "--parameter", "Environment=qa"])
        .assert()
        .code(2)
        .stdout(predicate::str::contains(
            "--parameter Environment: \"qa\" is not one of the allowed values (staging, production)",
        ));
}

#[test]
fn hostile_templates_get_a_clear_error_within_a_second() {
    let dir = tempfile::tempdir().unwrap();
    let mut bomb = String::from("Resources:\n  A: &a [x, x, x, x, x, x, x, x, x]\n");
    for i in 0..30 {
        bomb.push_str(&format!("  B{i}: &b{i} [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n"));
    }
    let cycle = std::fs::read_to_string(fixture("codebuild-pipeline.yaml"))
        .unwrap()
        .replace(
            "BucketName: !Sub \"${AWS::StackName}-artifacts-${AWS::AccountId}\"",
            "BucketName: !Sub \"${BuildProject}-artifacts\"",
        )
        .replace("Name: !Sub \"${AWS::StackName}-build\"", "Name: !Sub \"${ArtifactBucket}-build\"");
    let deep = format!("Resources:\n  P: {}1{}\n", "[".repeat(50_000), "]".repeat(50_000));
    for (name, text, says) in [
        ("bomb.yaml", bomb, "anchors (&name) are not allowed in CloudFormation templates"),
        ("cycle.yaml", cycle, "a cycle: the name of"),
        ("deep.yaml", deep, "recursion limit"),
    ] {
        let file = dir.path().join(name);
        std::fs::write(&file, text).unwrap();
        let started = Instant::now();
        let assert = pipewright().arg("validate").arg(&file).assert().code(1);
        // Each would take minutes or exhaust memory unbounded; a debug build's process start
        // on a loaded machine is far from this bound.
        assert!(started.elapsed() < Duration::from_secs(20), "{name}: {:?}", started.elapsed());
        let out = stdout(&assert);
        assert!(out.contains(says), "{name}: {out}");
        assert!(!stderr(&assert).contains("panicked"), "{name}");
    }
}

#[test]
fn a_template_runs_end_to_end_once_given_what_its_commands_need() {
    let workspace = Workspace::new();
    let release = workspace.dir.path().join("release");
    // The build's commands and environment use Greeting, which has no default: the run names it.
    let refused = workspace.pipewright().args(["run", &fixture("commands-pipeline.yaml")]).assert().code(2);
    let message = stderr(&refused);
    assert!(message.contains("a local run needs values the template does not give"), "{message}");
    assert!(
        message.contains("parameter Greeting (used at Pipeline.Stages[1].Actions[0].Commands[0], Pipeline.Stages[1].Actions[0].EnvironmentVariables[1].Value); give it with --parameter Greeting=VALUE"),
        "{message}"
    );
    let ran = workspace
        .pipewright()
        .args(["run", &fixture("commands-pipeline.yaml"), "--parameter", "Greeting=Hello", "--parameter"])
        .arg(format!("ReleaseDir={}", release.display()))
        .assert()
        .success();
    let out = stdout(&ran);
    assert!(out.contains("Hello from commands-pipeline (function commands-pipeline-HelloFunction)"), "{out}");
    assert!(out.contains("released 1.0.0"), "{out}");
    assert_eq!(std::fs::read_to_string(release.join("app.txt")).unwrap(), "hello\n");
}

#[test]
fn a_codebuild_template_hands_its_projects_to_the_run() {
    let workspace = Workspace::new();
    // DeployBucket flows into a project's environment: needed. GitHubOwner and the token
    // only configure the GitHub source, which reads the local repository: not asked.
    let refused = workspace.pipewright().args(["run", &fixture("codebuild-pipeline.yaml")]).assert().code(2);
    let message = stderr(&refused);
    assert!(
        message.contains("parameter DeployBucket (used at BuildProject.Environment.EnvironmentVariables[1].Value)"),
        "{message}"
    );
    assert!(!message.contains("GitHubOwner") && !message.contains("GitHubToken"), "{message}");
    let ran = workspace
        .pipewright()
        .args(["run", "--json", &fixture("codebuild-pipeline.yaml"), "--parameter", "DeployBucket=acme-deploy"])
        .assert();
    let out = stdout(&ran);
    let execution = execution_of(&out);
    assert!(out.contains("\"stage\":\"Source\"") && out.contains("\"state\":\"SUCCEEDED\""), "{out}");
    let mut projects = workspace.build_projects(&execution);
    projects.sort();
    assert_eq!(projects, ["codebuild-pipeline-TestProject", "codebuild-pipeline-build"]);
}

#[test]
fn sam_and_cdk_pipelines_run_their_sources_locally() {
    for (file, source, project) in [
        ("sam-pipeline.yaml", "SourceCodeRepo", "sam-pipeline-CodeBuildProjectUnitTest"),
        ("cdk-pipelines/cdk.out", "acme_orders", "orders-pipeline-selfupdate"),
    ] {
        let workspace = Workspace::new();
        let ran = workspace.pipewright().args(["run", "--json", &fixture(file)]).assert();
        let out = stdout(&ran);
        let source_succeeded = out
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .any(|e| e["detail"]["action"] == source && e["detail"]["state"] == "SUCCEEDED");
        assert!(source_succeeded, "{file}: {out}\n{}", stderr(&ran));
        let projects = workspace.build_projects(&execution_of(&out));
        assert!(projects.iter().any(|p| p == project), "{file}: {projects:?}");
    }
}

#[test]
fn on_a_terminal_the_run_asks_for_the_values_it_needs() {
    let workspace = Workspace::new();
    let release = workspace.dir.path().join("release");
    let command = format!(
        "{} --state-dir {} run {} --parameter ReleaseDir={} --auto-approve",
        env!("CARGO_BIN_EXE_pipewright"),
        workspace.state().display(),
        fixture("commands-pipeline.yaml"),
        release.display()
    );
    // `script` gives the run a terminal; the answer is typed in advance.
    let mut child = StdCommand::new("script")
        .args(["-qec", &command, "/dev/null"])
        .current_dir(workspace.dir.path().join("repo"))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("script(1) from util-linux");
    {
        use std::io::Write;
        let stdin = child.stdin.as_mut().unwrap();
        stdin.write_all(b"Bonjour\n").unwrap();
        stdin.flush().unwrap();
    }
    let output = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{text}");
    // The question is written at once, so the echo of the typed answer is never inside it.
    assert!(text.contains("parameter Greeting (used at Pipeline.Stages[1].Actions[0].Commands[0], Pipeline.Stages[1].Actions[0].EnvironmentVariables[1].Value): "), "the question:\n{text}");
    assert!(text.contains("Bonjour from commands-pipeline"), "{text}");
    assert!(release.join("app.txt").exists());
}

#[test]
fn placeholders_never_reach_a_deployment_on_aws() {
    // Not this machine's `pipewright serve` (an IPv4-mapped loopback address, so that a
    // request, were one sent, would still stay here): the run is refused before any call.
    let assert = pipewright()
        .args(["--endpoint", "http://[::ffff:7f00:1]:9", "run", &fixture("codebuild-pipeline.yaml")])
        .args(["--parameter", "DeployBucket=acme-deploy"])
        .env("AWS_ACCESS_KEY_ID", "AKIDTEST")
        .env("AWS_SECRET_ACCESS_KEY", "secret")
        .assert()
        .code(2);
    let message = stderr(&assert);
    assert!(message.contains("the declaration still holds placeholders, which must not reach AWS"), "{message}");
    assert!(message.contains("parameter GitHubOwner (--parameter GitHubOwner=…)"), "{message}");
    assert!(message.contains("parameter GitHubToken (--parameter GitHubToken=…)"), "{message}");
}

#[test]
fn several_pipelines_are_all_validated_and_a_run_names_them() {
    let text = std::fs::read_to_string(fixture("commands-pipeline.yaml")).unwrap();
    let (_, pipeline) = text.split_once("  Pipeline:\n").unwrap();
    let doubled =
        format!("{text}  Second:\n{}", pipeline.replace("Name: hello-from-template", "Name: second-pipeline"));
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("two.yaml");
    std::fs::write(&file, doubled).unwrap();
    let file = file.display().to_string();
    let validated = pipewright().args(["validate", &file]).assert().success();
    let out = stdout(&validated);
    assert!(out.contains("(Pipeline): valid pipeline \"hello-from-template\""), "{out}");
    assert!(out.contains("(Second): valid pipeline \"second-pipeline\""), "{out}");
    let workspace = Workspace::new();
    let refused = workspace.pipewright().args(["run", &file, "--parameter", "Greeting=hi"]).assert().code(2);
    assert!(
        stderr(&refused).contains("declares 2 pipelines (Pipeline, Second); choose one with --resource Pipeline"),
        "{}",
        stderr(&refused)
    );
    let exported =
        pipewright().args(["export", &file, "--resource", "Second", "--parameter", "Greeting=hi"]).assert().success();
    assert!(stdout(&exported).contains("\"name\": \"second-pipeline\""));
}
