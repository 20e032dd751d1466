//! CodeBuild actions run locally by the real `pipewright` binary, offline: buildspec cases,
//! each asserting what CodeBuild does (docs/codebuild.md), and pipelines written the way
//! teams write them.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test binary: its helpers, like its #[test] functions, panic on what fails it"
)]

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use serde_json::{Value, json};

mod common;
use common::{Serve, fetch, wait_for};

struct Scratch {
    dir: tempfile::TempDir,
}

impl Scratch {
    fn new() -> Scratch {
        let scratch = Scratch { dir: tempfile::tempdir().expect("temp dir") };
        std::fs::create_dir_all(scratch.source()).unwrap();
        scratch
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

    fn pipewright(&self) -> Command {
        let mut command = Command::cargo_bin("pipewright").expect("binary");
        command.current_dir(self.path()).arg("--state-dir").arg(self.path().join("state")).env("PIPEWRIGHT_PLAIN", "1");
        command
    }

    /// `pipewright run FILE --source Source=src ARGS…`: (exit code, stdout).
    fn run(&self, file: &str, args: &[&str]) -> (i32, String) {
        let source = format!("Source={}", self.source().display());
        let output = self.pipewright().args(["run", file, "--source", &source]).args(args).output().unwrap();
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

fn codebuild(name: &str, project: &str, inputs: &[&str], outputs: &[&str]) -> Value {
    json!({
        "name": name,
        "actionTypeId": {"category": "Build", "owner": "AWS", "provider": "CodeBuild", "version": "1"},
        "configuration": {"ProjectName": project},
        "inputArtifacts": inputs.iter().map(|n| json!({"name": n})).collect::<Vec<_>>(),
        "outputArtifacts": outputs.iter().map(|n| json!({"name": n})).collect::<Vec<_>>(),
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

fn has(lines: &[String], text: &str) -> bool {
    lines.iter().any(|l| l == text)
}

/// A buildspec whose every phase echoes a marker, one of which fails.
fn phased(failing: &str, on_failure: Option<&str>) -> String {
    let mut spec = String::from("version: 0.2\nphases:\n");
    for phase in ["install", "pre_build", "build", "post_build"] {
        spec.push_str(&format!("  {phase}:\n"));
        if phase == failing
            && let Some(mode) = on_failure
        {
            spec.push_str(&format!("    on-failure: {mode}\n"));
        }
        spec.push_str(&format!("    commands:\n      - echo ran-{phase} succeeding=$CODEBUILD_BUILD_SUCCEEDING\n"));
        if phase == failing {
            spec.push_str("      - exit 3\n      - echo never-here\n");
        }
        spec.push_str(&format!("    finally:\n      - echo finally-{phase}\n"));
    }
    spec.push_str("artifacts:\n  files: ['**/*']\n");
    spec
}

#[test]
fn which_phases_run_after_a_failure_in_each_phase() {
    let scratch = Scratch::new();
    scratch.file("src/app.txt", "app\n");
    let cases = [
        ("Install", "install", None),
        ("PreBuild", "pre_build", None),
        ("Build", "build", None),
        ("PostBuild", "post_build", None),
        ("Continue", "pre_build", Some("CONTINUE")),
        ("Abort", "build", Some("ABORT")),
    ];
    let mut actions = Vec::new();
    let mut args = Vec::new();
    for (name, phase, mode) in cases {
        let spec = scratch.file(&format!("specs/{name}.yml"), &phased(phase, mode));
        actions.push(codebuild(name, &format!("p-{name}"), &["Src"], &[&format!("Out{name}")]));
        args.push("--buildspec".to_string());
        args.push(format!("p-{name}={spec}"));
    }
    let file = scratch.pipeline("phases", vec![source_stage(), stage("Build", actions)]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (code, output) = scratch.run(&file, &args);
    assert_eq!(code, 1, "{output}");
    let ran = |action: &str, phase: &str| {
        let lines = lines_of(&output, "Build", action);
        lines.iter().any(|l| l.starts_with(&format!("ran-{phase} ")))
    };
    let uploaded =
        |action: &str| has(&lines_of(&output, "Build", action), "[pipewright] Entering phase UPLOAD_ARTIFACTS");
    // INSTALL or PRE_BUILD failing skips everything after it, uploads included.
    assert!(ran("Install", "install") && !ran("Install", "pre_build") && !ran("Install", "build"), "{output}");
    assert!(!ran("Install", "post_build") && !uploaded("Install"));
    assert!(ran("PreBuild", "pre_build") && !ran("PreBuild", "build") && !ran("PreBuild", "post_build"));
    assert!(!uploaded("PreBuild"));
    // A failed BUILD still runs POST_BUILD (which sees CODEBUILD_BUILD_SUCCEEDING=0), then uploads.
    let build = lines_of(&output, "Build", "Build");
    assert!(has(&build, "ran-build succeeding=1") && has(&build, "ran-post_build succeeding=0"), "{build:?}");
    assert!(uploaded("Build"));
    // A failed POST_BUILD still uploads.
    assert!(ran("PostBuild", "post_build") && uploaded("PostBuild"));
    // The failing command ends its phase's commands; finally still runs.
    for action in ["Install", "PreBuild", "Build", "PostBuild"] {
        let lines = lines_of(&output, "Build", action);
        assert!(!has(&lines, "never-here"), "{action}: {lines:?}");
    }
    assert!(has(&build, "finally-build"));
    // CONTINUE goes on; ABORT ends the build after its phase's finally.
    assert!(ran("Continue", "build") && ran("Continue", "post_build") && uploaded("Continue"));
    let abort = lines_of(&output, "Build", "Abort");
    assert!(has(&abort, "finally-build") && !ran("Abort", "post_build") && !uploaded("Abort"), "{abort:?}");
    // Each fails the action with CodeBuild's message naming the phase.
    assert!(output.contains(
        "Build/Build FAILED  Build terminated with state: FAILED. Phase: BUILD, Code: COMMAND_EXECUTION_ERROR, Message: Error while executing command: exit 3. Reason: exit status 3"
    ), "{output}");
    assert!(output.contains("Build/Install FAILED  Build terminated with state: FAILED. Phase: INSTALL"), "{output}");
    assert!(
        output.contains("Build/Continue FAILED  Build terminated with state: FAILED. Phase: PRE_BUILD"),
        "{output}"
    );
}

#[test]
fn shell_state_carries_across_commands_and_phases_in_0_2_but_not_in_0_1() {
    let scratch = Scratch::new();
    scratch.file("src/app.txt", "app\n");
    let v2 = scratch.file(
        "specs/v2.yml",
        r#"version: 0.2
env:
  variables:
    LITERAL: "$HOME/x"
    PATH_LIKE: "$PATH:/extra"
phases:
  install:
    commands:
      - COUNT=1
      - export EXPORTED=yes
      - mkdir -p deep/er && cd deep
      - set -u
  build:
    commands:
      - echo "count=$COUNT exported=$EXPORTED dir=$(basename "$PWD")"
      - COUNT=2; exit 0
      - echo "after-exit count=$COUNT"
      - echo "literal=$LITERAL"
      - printenv LITERAL
      - |
        if [ -z "${UNSET_VAR+x}" ]; then echo "nounset carried"; fi
        echo "block is one command"
"#,
    );
    let v1 = scratch.file(
        "specs/v1.yml",
        "version: 0.1\nenvironment_variables:\n  plaintext:\n    P: plain\nphases:\n  build:\n    commands:\n      - X=1; cd /\n      - echo \"x=${X:-unset} dir=$(basename $PWD) p=$P\"\n",
    );
    let sh = scratch.file(
        "specs/sh.yml",
        "version: 0.2\nphases:\n  build:\n    commands:\n      - '[[ 1 == 1 ]] && echo bash-syntax'\n",
    );
    let bash = scratch.file(
        "specs/bash.yml",
        "version: 0.2\nenv:\n  shell: bash\nphases:\n  build:\n    commands:\n      - '[[ 1 == 1 ]] && echo bash-syntax'\n",
    );
    let actions = vec![
        codebuild("V2", "v2", &["Src"], &[]),
        codebuild("V1", "v1", &["Src"], &[]),
        codebuild("Sh", "sh", &["Src"], &[]),
        codebuild("Bash", "bash", &["Src"], &[]),
    ];
    let file = scratch.pipeline("shells", vec![source_stage(), stage("Build", actions)]);
    let flags = [format!("v2={v2}"), format!("v1={v1}"), format!("sh={sh}"), format!("bash={bash}")];
    let mut args = Vec::new();
    for flag in &flags {
        args.extend(["--buildspec", flag.as_str()]);
    }
    let (code, output) = scratch.run(&file, &args);
    let v2 = lines_of(&output, "Build", "V2");
    assert!(has(&v2, "count=1 exported=yes dir=deep"), "variables and cwd carry over phases:\n{output}");
    assert!(has(&v2, "after-exit count=2"), "exit 0 ends one command only, and keeps its state: {v2:?}");
    assert!(has(&v2, "literal=$HOME/x") && has(&v2, "$HOME/x"), "env.variables are literal: {v2:?}");
    assert!(has(&v2, "nounset carried") && has(&v2, "block is one command"), "{v2:?}");
    let v1 = lines_of(&output, "Build", "V1");
    assert!(has(&v1, "x=unset dir=src p=plain"), "0.1: each command in a fresh shell: {v1:?}");
    // The default shell is sh: bash syntax fails there (dash) but works with env.shell: bash.
    assert!(has(&lines_of(&output, "Build", "Bash"), "bash-syntax"), "{output}");
    if std::fs::read_link("/bin/sh").is_ok_and(|t| t.to_string_lossy().contains("dash")) {
        assert!(output.contains("Build/Sh FAILED"), "{output}");
        assert_eq!(code, 1);
    }
    assert!(output.contains("Build/V2 SUCCEEDED") && output.contains("Build/V1 SUCCEEDED"), "{output}");
}

#[test]
fn precedence_secrets_and_exported_variables_into_a_later_action() {
    let scratch = Scratch::new();
    scratch.file("src/app.txt", "app\n");
    scratch.file(
        "src/buildspec.yml",
        r#"version: 0.2
env:
  variables:
    FROM: buildspec
    SPEC_ONLY: spec
    PROJECT_OVER_SPEC: spec
  parameter-store:
    DB_PASSWORD: /prod/db/password
  exported-variables: [IMAGE_TAG, FROM]
phases:
  build:
    commands:
      - echo "from=$FROM spec=$SPEC_ONLY project=$PROJECT_OVER_SPEC"
      - echo "password=$DB_PASSWORD"
      - echo "id=$CODEBUILD_BUILD_ID number=$CODEBUILD_BUILD_NUMBER initiator=$CODEBUILD_INITIATOR"
      - IMAGE_TAG="v-$CODEBUILD_BUILD_NUMBER"
artifacts:
  files: [app.txt]
"#,
    );
    let project = scratch.file(
        "projects/orders.json",
        &json!({"projects": [{
            "name": "orders-build",
            "source": {"type": "CODEPIPELINE"},
            "environment": {"type": "LINUX_CONTAINER", "image": "aws/codebuild/standard:7.0", "computeType": "BUILD_GENERAL1_SMALL",
                "environmentVariables": [
                    {"name": "FROM", "value": "project", "type": "PLAINTEXT"},
                    {"name": "PROJECT_OVER_SPEC", "value": "project", "type": "PLAINTEXT"}]},
            "timeoutInMinutes": 20
        }], "projectsNotFound": []})
        .to_string(),
    );
    let mut build = codebuild("Build", "orders-build", &["Src"], &["Built"]);
    build["namespace"] = json!("BuildVars");
    build["configuration"]["EnvironmentVariables"] = json!(r#"[{"name":"FROM","value":"action","type":"PLAINTEXT"}]"#);
    let after = json!({
        "name": "After", "runOrder": 2,
        "actionTypeId": {"category": "Compute", "owner": "AWS", "provider": "Commands", "version": "1"},
        "commands": ["echo tag=#{BuildVars.IMAGE_TAG} from=#{BuildVars.FROM}"],
        "inputArtifacts": [{"name": "Built"}],
    });
    let file = scratch.pipeline("vars", vec![source_stage(), stage("Build", vec![build, after])]);
    let project_flag = format!("orders-build={project}");

    // Without the secret the build fails before INSTALL, naming the variable.
    let (code, output) = scratch.run(&file, &["--codebuild-project", &project_flag]);
    assert_eq!(code, 1, "{output}");
    assert!(
        output.contains("Phase: DOWNLOAD_SOURCE, Code: Decrypted Variables Error, Message: parameter does not exist: /prod/db/password (environment variable DB_PASSWORD"),
        "{output}"
    );
    assert!(!output.contains("Entering phase INSTALL"), "{output}");

    let (code, output) =
        scratch.run(&file, &["--codebuild-project", &project_flag, "--secret", "/prod/db/password=hunter2"]);
    assert_eq!(code, 0, "{output}");
    let lines = lines_of(&output, "Build", "Build");
    assert!(has(&lines, "from=action spec=spec project=project"), "action > project > buildspec: {lines:?}");
    assert!(has(&lines, "password=***"), "secrets are masked: {lines:?}");
    assert!(!output.contains("hunter2"));
    assert!(
        lines.iter().any(|l| l.starts_with("id=orders-build:") && l.ends_with(" number=2 initiator=codepipeline/vars")),
        "{lines:?}"
    );
    assert!(has(&lines_of(&output, "Build", "After"), "tag=v-2 from=action"), "exported variables: {output}");
    assert!(
        output
            .contains("warning: CodeBuild builds run with this machine's tools: the image aws/codebuild/standard:7.0"),
        "{output}"
    );
    assert_eq!(output.matches("warning: CodeBuild builds run with this machine's tools").count(), 1);
}

/// The Build stage's latest execution once it has ended, from GetPipelineState's JSON: (its
/// pipeline execution id, the Build action's latest execution).
fn latest_build(status_json: &str) -> Option<(String, Value)> {
    let state: Value = serde_json::from_str(status_json).ok()?;
    let stage = state["stageStates"].as_array()?.iter().find(|s| s["stageName"] == "Build")?;
    let latest = stage["actionStates"][0]["latestExecution"].clone();
    let id = stage["latestExecution"]["pipelineExecutionId"].as_str()?.to_string();
    matches!(latest["status"].as_str(), Some("Succeeded" | "Failed")).then_some((id, latest))
}

/// `--secret` values are never stored, so the workers that `start` launches and that `serve`
/// runs get them from the command that started them: `start` writes them on its worker's
/// stdin, `serve` keeps its own. Without them the build fails in DOWNLOAD_SOURCE.
#[test]
fn secrets_reach_the_worker_that_start_launches_and_serve_s_workers() {
    let scratch = Scratch::new();
    scratch.file("src/app.txt", "app\n");
    let buildspec = scratch.file(
        "buildspec.yml",
        "version: 0.2\nenv:\n  parameter-store:\n    DB_PASSWORD: /ci/db/password\nphases:\n  build:\n    commands:\n      - echo \"length ${#DB_PASSWORD}\"\n",
    );
    let file = scratch
        .pipeline("secrets", vec![source_stage(), stage("Build", vec![codebuild("Build", "app", &["Src"], &[])])]);
    let source = format!("Source={}", scratch.source().display());
    let buildspec_flag = format!("app={buildspec}");
    let flags = ["--source", &source, "--buildspec", &buildspec_flag, "--secret", "/ci/db/password=hunter2"];
    let (code, output) = scratch.run(&file, &flags[2..]);
    assert_eq!(code, 0, "run has the secret itself: {output}");

    // `start` returns at once; a detached worker carries the execution out.
    let started = scratch.pipewright().args(["start", "secrets"]).args(flags).output().unwrap();
    assert!(started.status.success(), "{}", String::from_utf8_lossy(&started.stderr));
    let id =
        serde_json::from_slice::<Value>(&started.stdout).unwrap()["pipelineExecutionId"].as_str().unwrap().to_string();
    let latest = wait_for("the started execution's build", || {
        let status = scratch.pipewright().args(["status", "secrets", "--json"]).output().unwrap();
        latest_build(&String::from_utf8_lossy(&status.stdout)).filter(|(of, _)| *of == id).map(|(_, latest)| latest)
    });
    assert_eq!(latest["status"], "Succeeded", "the worker of start had the secret: {latest}");
    let log = std::fs::read_to_string(scratch.path().join(format!("state/logs/{id}/Build/Build.1.log"))).unwrap();
    assert!(log.lines().any(|l| l == "length 7"), "{log}");
    let worker_log = std::fs::read_to_string(scratch.path().join(format!("state/workers/{id}.log"))).unwrap();
    assert!(!worker_log.contains("hunter2") && !log.contains("hunter2"), "{worker_log}\n{log}");

    // Its own state directory: serve's workers are tasks of the server.
    let server = Serve::start(scratch.path(), &scratch.path().join("served"), &flags);
    let declaration: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    let body = json!({ "pipeline": declaration }).to_string();
    let (status, answer) = fetch("POST", &format!("{}/", server.endpoint), "CreatePipeline", &body);
    assert_eq!(status, 200, "{answer}");
    let latest = wait_for("the served execution's build", || {
        let (_, state) = fetch("POST", &format!("{}/", server.endpoint), "GetPipelineState", r#"{"name":"secrets"}"#);
        latest_build(&state).map(|(_, latest)| latest)
    });
    assert_eq!(latest["status"], "Succeeded", "serve's worker had the secret: {latest}");
}

#[test]
fn secondary_inputs_and_outputs_base_directory_discard_paths_and_no_match() {
    let scratch = Scratch::new();
    scratch.file("src/app.txt", "app\n");
    scratch.file("config/settings.ini", "mode=prod\n");
    let spec = scratch.file(
        "specs/multi.yml",
        r#"version: 0.2
phases:
  build:
    commands:
      - cat "$CODEBUILD_SRC_DIR_Config/settings.ini"
      - mkdir -p dist/js/deep site && echo a > dist/js/a.js && echo b > dist/js/deep/b.js && echo '<h1/>' > site/index.html
artifacts:
  files: ['**/*']
  secondary-artifacts:
    Bundle:
      base-directory: dist
      files: ['**/*']
      discard-paths: yes
    Site:
      base-directory: site
      files: ['*.html']
"#,
    );
    let missing = scratch.file(
        "specs/missing.yml",
        "version: 0.2\nphases:\n  build:\n    commands: [echo built]\nartifacts:\n  files: [does/not/exist.txt]\n",
    );
    let config_source = json!({
        "name": "Config",
        "actionTypeId": {"category": "Source", "owner": "AWS", "provider": "S3", "version": "1"},
        "configuration": {"S3Bucket": "uploads", "S3ObjectKey": "config.zip"},
        "outputArtifacts": [{"name": "Config"}]
    });
    let mut sources = source_stage();
    sources["actions"].as_array_mut().unwrap().push(config_source);
    let mut multi = codebuild("Multi", "multi", &["Src", "Config"], &["Bundle", "Site"]);
    multi["configuration"]["PrimarySource"] = json!("Src");
    let check = json!({
        "name": "Check", "runOrder": 2,
        "actionTypeId": {"category": "Compute", "owner": "AWS", "provider": "Commands", "version": "1"},
        "commands": ["test -f a.js && test -f b.js && test ! -e js", "test -f \"$CODEBUILD_SRC_DIR_Site/index.html\""],
        "inputArtifacts": [{"name": "Bundle"}, {"name": "Site"}],
    });
    let mut none = codebuild("Missing", "missing", &["Src"], &["Nothing"]);
    none["runOrder"] = json!(2);
    let file = scratch.pipeline("multi", vec![sources, stage("Build", vec![multi, check, none])]);
    let flags = [format!("multi={spec}"), format!("missing={missing}")];
    let config = format!("Config={}", scratch.path().join("config").display());
    let (code, output) = scratch.run(&file, &["--buildspec", &flags[0], "--buildspec", &flags[1], "--source", &config]);
    assert_eq!(code, 1, "{output}");
    assert!(has(&lines_of(&output, "Build", "Multi"), "mode=prod"), "the secondary input: {output}");
    assert!(output.contains("Build/Multi SUCCEEDED"), "{output}");
    assert!(output.contains("Build/Check SUCCEEDED"), "discard-paths and base-directory: {output}");
    assert!(has(&lines_of(&output, "Build", "Missing"), "[pipewright] Skipping invalid file path does/not/exist.txt"));
    assert!(
        output.contains("Build/Missing FAILED  Build terminated with state: FAILED. Phase: UPLOAD_ARTIFACTS, Code: CLIENT_ERROR, Message: no matching artifact paths found"),
        "{output}"
    );
}

/// Buildspecs as found in the field run as CodeBuild runs them: a key a section does not know
/// is warned of and passed over, `run-as`, the credential helper and Elastic Beanstalk's
/// section are noted, variables in `files` are expanded, and a buildspec with no `artifacts`
/// section (an image build) stores the action's output empty.
#[test]
fn a_buildspec_from_the_field_runs_with_codebuilds_warnings() {
    let scratch = Scratch::new();
    scratch.file("src/app.txt", "app\n");
    let spec = scratch.file(
        "specs/field.yml",
        r#"version: 0.2
eb_codebuild_settings:
  CodeBuildServiceRole: arn:aws:iam::111122223333:role/eb-build
  Image: aws/codebuild/standard:7.0
run-as: codebuild-user
env:
  git-credential-helper: yes
  variables:
    STAGE: dev
phases:
  install:
    run-as: root
    commands:
      - echo installing
  build:
    commands:
      - echo "{}" > "template-$STAGE.json"
artifacts:
  type: zip
  files:
    - template-${STAGE}.json
"#,
    );
    let check = json!({
        "name": "Check", "runOrder": 2,
        "actionTypeId": {"category": "Compute", "owner": "AWS", "provider": "Commands", "version": "1"},
        "commands": ["test -f template-dev.json"],
        "inputArtifacts": [{"name": "Templates"}],
    });
    let image_spec = scratch
        .file("specs/image.yml", "version: 0.2\nphases:\n  build:\n    commands:\n      - echo pushed > pushed.txt\n");
    let image_check = json!({
        "name": "ImageCheck", "runOrder": 2,
        "actionTypeId": {"category": "Compute", "owner": "AWS", "provider": "Commands", "version": "1"},
        "commands": ["test -z \"$(ls -A)\""],
        "inputArtifacts": [{"name": "ImageOutput"}],
    });
    let build = codebuild("Field", "field", &["Src"], &["Templates"]);
    let image = codebuild("Image", "image", &["Src"], &["ImageOutput"]);
    let file = scratch.pipeline("field", vec![source_stage(), stage("Build", vec![build, check, image, image_check])]);
    let (code, output) =
        scratch.run(&file, &["--buildspec", &format!("field={spec}"), "--buildspec", &format!("image={image_spec}")]);
    assert_eq!(code, 0, "{output}");
    assert!(
        has(
            &lines_of(&output, "Build", "Image"),
            "[pipewright] The buildspec has no artifacts section: output artifact ImageOutput is stored empty"
        ),
        "{output}"
    );
    assert!(output.contains("Build/ImageCheck SUCCEEDED"), "the output is an empty artifact: {output}");
    let lines = lines_of(&output, "Build", "Field");
    assert!(
        has(
            &lines,
            "Found possible syntax errors in buildspec: In the section artifacts The following keys cannot be identified: type"
        ),
        "{lines:?}"
    );
    let noted = |text: &str| lines.iter().any(|l| l.starts_with("[pipewright] Note: ") && l.contains(text));
    assert!(noted("run-as: codebuild-user is not honoured here"), "{lines:?}");
    assert!(noted("env.git-credential-helper"), "{lines:?}");
    assert!(noted("eb_codebuild_settings are Elastic Beanstalk's"), "{lines:?}");
    assert!(output.contains("Build/Check SUCCEEDED"), "the file named by a variable is in the artifact: {output}");
}

/// A child pipeline that a parent's CodePipeline invoke action starts runs in a worker of its
/// own, which gets the parent's `--secret` values as the parent's own builds do.
#[test]
fn a_child_pipeline_s_builds_get_the_parent_s_secrets() {
    let scratch = Scratch::new();
    let git = |args: &[&str]| {
        let status = std::process::Command::new("git")
            .current_dir(scratch.path())
            .args(["-c", "user.email=t@example.test", "-c", "user.name=t"])
            .args(args)
            .status()
            .unwrap();
        assert!(status.success(), "git {args:?}");
    };
    scratch.file("app.txt", "app\n");
    git(&["init", "-q", "-b", "main"]);
    git(&["add", "app.txt"]);
    git(&["commit", "-qm", "app"]);
    let spec = scratch.file(
        "specs/secret.yml",
        "version: 0.2\nenv:\n  parameter-store:\n    TOKEN: /ci/token\nphases:\n  build:\n    commands:\n      - test \"$TOKEN\" = s3cr3t\n",
    );
    let repository = json!({"name": "Source", "actions": [{
        "name": "Src",
        "actionTypeId": {"category": "Source", "owner": "AWS", "provider": "CodeCommit", "version": "1"},
        "configuration": {"RepositoryName": "app", "BranchName": "main"},
        "outputArtifacts": [{"name": "Src"}]
    }]});
    let child =
        scratch.pipeline("child", vec![repository.clone(), stage("Build", vec![codebuild("B", "cb", &["Src"], &[])])]);
    let invoke = json!({
        "name": "Child",
        "actionTypeId": {"category": "Invoke", "owner": "AWS", "provider": "CodePipeline", "version": "1"},
        "configuration": {"PipelineName": "child"},
    });
    let parent = scratch.pipeline("parent", vec![repository, stage("Release", vec![invoke])]);
    let flags = ["--buildspec", &format!("cb={spec}"), "--secret", "/ci/token=s3cr3t"];
    let run = |file: &str| {
        let output = scratch.pipewright().args(["run", file]).args(flags).output().unwrap();
        let text = String::from_utf8_lossy(&output.stdout).into_owned() + &String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(0), "{text}");
    };
    run(&child); // stores the child, and shows its build takes the secret
    run(&parent);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let output = scratch.pipewright().args(["history", "child", "--json"]).output().unwrap();
        let history: Value = serde_json::from_slice(&output.stdout).unwrap();
        let statuses: Vec<&str> = history["pipelineExecutionSummaries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["status"].as_str().unwrap_or_default())
            .collect();
        if statuses.len() == 2 && statuses.iter().all(|s| *s != "InProgress") {
            assert_eq!(statuses, ["Succeeded", "Succeeded"], "the child's worker had the secret: {history}");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the child did not end: {history}");
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}

const JUNIT: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<testsuites><testsuite name="orders" tests="4">
<testcase name="creates"/><testcase name="lists"/><testcase name="rejects"><failure message="expected 400"/></testcase>
<testcase name="later"><skipped/></testcase></testsuite></testsuites>"#;

#[test]
fn reports_are_counted_and_the_cache_warms_a_second_run() {
    let scratch = Scratch::new();
    scratch.file("src/app.txt", "app\n");
    scratch.file("src/junit.xml", JUNIT);
    let spec = scratch.file(
        "specs/test.yml",
        r#"version: 0.2
phases:
  install:
    commands:
      - if [ -f deps/installed ]; then echo "deps from cache"; else mkdir -p deps && echo slow > deps/installed && echo "deps installed"; fi
  build:
    commands:
      - mkdir -p reports && cp junit.xml reports/
reports:
  unit:
    files: ['**/*.xml']
    base-directory: reports
cache:
  paths: ['deps/**/*']
"#,
    );
    let file =
        scratch.pipeline("tests", vec![source_stage(), stage("Test", vec![codebuild("Unit", "unit", &["Src"], &[])])]);
    let flag = format!("unit={spec}");
    let (code, first) = scratch.run(&file, &["--buildspec", &flag]);
    assert_eq!(code, 0, "{first}");
    assert!(has(&lines_of(&first, "Test", "Unit"), "deps installed"), "{first}");
    assert!(
        has(&lines_of(&first, "Test", "Unit"), "[pipewright] Report unit: 2 passed, 1 failed, 1 skipped"),
        "{first}"
    );
    assert!(first.contains("[unit: 2 passed, 1 failed, 1 skipped] Build SUCCEEDED"), "the summary table: {first}");
    let (code, second) = scratch.run(&file, &["--buildspec", &flag]);
    assert_eq!(code, 0, "{second}");
    assert!(has(&lines_of(&second, "Test", "Unit"), "deps from cache"), "{second}");
    // The action's record carries the phases and the counts.
    let status = scratch.pipewright().args(["status", "tests", "--json"]).output().unwrap();
    let status: Value = serde_json::from_slice(&status.stdout).unwrap();
    let summary =
        status["stageStates"][1]["actionStates"][0]["latestExecution"]["summary"].as_str().unwrap().to_string();
    assert!(
        summary.contains("Reports unit: 2 passed, 1 failed, 1 skipped") && summary.contains("BUILD SUCCEEDED"),
        "{summary}"
    );
}

/// A repository as a team writes it: a build, a test with reports and a deploy script.
fn service_repository(scratch: &Scratch) {
    scratch.file("src/app.sh", "#!/bin/sh\necho \"orders service $1\"\n");
    scratch.file("src/tests/junit.xml", JUNIT.replace("<failure message=\"expected 400\"/>", "").as_str());
    scratch.file(
        "src/buildspec.yml",
        r#"version: 0.2
env:
  exported-variables: [VERSION]
phases:
  pre_build:
    commands:
      - VERSION="1.0.${CODEBUILD_BUILD_NUMBER}"
  build:
    commands:
      - mkdir -p dist && cp app.sh dist/ && chmod +x dist/app.sh
      - echo "$VERSION" > dist/VERSION
artifacts:
  base-directory: dist
  files: ['**/*']
"#,
    );
    scratch.file(
        "src/buildspec-test.yml",
        r#"version: 0.2
phases:
  build:
    commands:
      - sh "$CODEBUILD_SRC_DIR_BuildOutput/app.sh" test
      - mkdir -p reports && cp tests/junit.xml reports/
reports:
  orders-unit:
    files: ['reports/*.xml']
"#,
    );
    scratch.file(
        "src/buildspec-deploy.yml",
        r#"version: 0.2
phases:
  build:
    commands:
      - mkdir -p "$DEPLOY_DIR" && cp -r ./* "$DEPLOY_DIR"/
      - echo "deployed $(cat VERSION) to $DEPLOY_DIR"
"#,
    );
}

fn team_pipeline(scratch: &Scratch, source: Value, deploy_dir: &Path) -> String {
    let build = codebuild("Build", "orders-build", &["SourceOutput"], &["BuildOutput"]);
    let mut build = build;
    build["namespace"] = json!("BuildVariables");
    let mut test = codebuild("UnitTests", "orders-test", &["SourceOutput", "BuildOutput"], &[]);
    test["actionTypeId"]["category"] = json!("Test");
    test["configuration"]["PrimarySource"] = json!("SourceOutput");
    let approval = json!({"name": "Approve", "actionTypeId": {"category": "Approval", "owner": "AWS", "provider": "Manual", "version": "1"},
        "configuration": {"CustomData": "Deploy orders #{BuildVariables.VERSION}?"}});
    let mut deploy = codebuild("Deploy", "orders-deploy", &["BuildOutput"], &[]);
    deploy["configuration"]["EnvironmentVariables"] =
        json!(format!(r#"[{{"name":"DEPLOY_DIR","value":"{}","type":"PLAINTEXT"}}]"#, deploy_dir.display()));
    scratch.pipeline(
        "orders",
        vec![
            json!({"name": "Source", "actions": [source]}),
            stage("Build", vec![build]),
            stage("Test", vec![test]),
            stage("Approval", vec![approval]),
            stage("Deploy", vec![deploy]),
        ],
    )
}

/// `batch-get-projects` output for `name`, its `source.buildspec` a path or inline text.
fn project_json(scratch: &Scratch, name: &str, buildspec: Option<&str>) -> String {
    let mut source = json!({"type": "CODEPIPELINE"});
    if let Some(path) = buildspec {
        source["buildspec"] = json!(path);
    }
    scratch.file(
        &format!("projects/{name}.json"),
        &json!({"projects": [{"name": name, "source": source, "artifacts": {"type": "CODEPIPELINE"},
            "environment": {"type": "LINUX_CONTAINER", "image": "aws/codebuild/amazonlinux2-x86_64-standard:5.0", "computeType": "BUILD_GENERAL1_SMALL", "environmentVariables": []}}]})
        .to_string(),
    )
}

#[test]
fn a_team_pipeline_from_s3_builds_tests_waits_for_approval_and_deploys() {
    let scratch = Scratch::new();
    service_repository(&scratch);
    let deploy_dir = scratch.path().join("deployed");
    let source = json!({"name": "Source", "actionTypeId": {"category": "Source", "owner": "AWS", "provider": "S3", "version": "1"},
        "configuration": {"S3Bucket": "orders-source", "S3ObjectKey": "orders.zip"}, "outputArtifacts": [{"name": "SourceOutput"}]});
    let file = team_pipeline(&scratch, source, &deploy_dir);
    let projects = [
        format!("orders-build={}", project_json(&scratch, "orders-build", None)),
        format!("orders-test={}", project_json(&scratch, "orders-test", Some("buildspec-test.yml"))),
        // The deploy's input is the build output, so its buildspec is inline in the project.
        format!(
            "orders-deploy={}",
            project_json(
                &scratch,
                "orders-deploy",
                Some(&std::fs::read_to_string(scratch.source().join("buildspec-deploy.yml")).unwrap())
            )
        ),
    ];
    let source_flag = format!("Source={}", scratch.source().display());
    let output = scratch
        .pipewright()
        .args(["run", &file, "--source", &source_flag, "--auto-approve"])
        .args(projects.iter().flat_map(|p| ["--codebuild-project", p.as_str()]))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    assert_eq!(output.status.code(), Some(0), "{text}{}", String::from_utf8_lossy(&output.stderr));
    assert!(has(&lines_of(&text, "Test", "UnitTests"), "orders service test"), "{text}");
    assert!(text.contains("[orders-unit: 3 passed, 0 failed, 1 skipped]"), "{text}");
    assert!(text.contains("Deploy orders 1.0.1?"), "the approval names the exported version: {text}");
    assert_eq!(std::fs::read_to_string(deploy_dir.join("VERSION")).unwrap(), "1.0.1\n");
    assert!(deploy_dir.join("app.sh").exists());
}

#[test]
fn a_team_pipeline_from_codecommit_runs_with_the_commit_as_the_resolved_source_version() {
    let scratch = Scratch::new();
    service_repository(&scratch);
    scratch.file(
        "src/buildspec.yml",
        &std::fs::read_to_string(scratch.source().join("buildspec.yml")).unwrap().replace(
            "      - VERSION=\"1.0.${CODEBUILD_BUILD_NUMBER}\"",
            "      - VERSION=\"$(echo $CODEBUILD_RESOLVED_SOURCE_VERSION | cut -c1-7)\"",
        ),
    );
    let git = |args: &[&str]| {
        let status = std::process::Command::new("git").current_dir(scratch.source()).args(args).output().unwrap();
        assert!(status.status.success(), "git {args:?}");
        String::from_utf8_lossy(&status.stdout).trim().to_string()
    };
    git(&["init", "-q", "-b", "main"]);
    git(&["-c", "user.name=T", "-c", "user.email=t@example.com", "add", "."]);
    git(&["-c", "user.name=T", "-c", "user.email=t@example.com", "commit", "-q", "-m", "orders"]);
    let commit = git(&["rev-parse", "HEAD"]);
    let deploy_dir = scratch.path().join("deployed");
    let source = json!({"name": "Source", "actionTypeId": {"category": "Source", "owner": "AWS", "provider": "CodeCommit", "version": "1"},
        "configuration": {"RepositoryName": "orders", "BranchName": "main"}, "outputArtifacts": [{"name": "SourceOutput"}]});
    let file = team_pipeline(&scratch, source, &deploy_dir);
    let test_flag = format!("orders-test={}", scratch.source().join("buildspec-test.yml").display());
    let deploy_flag = format!("orders-deploy={}", scratch.source().join("buildspec-deploy.yml").display());
    let output = scratch
        .pipewright()
        .current_dir(scratch.source())
        .args(["run", &file, "--auto-approve", "--buildspec", &test_flag, "--buildspec", &deploy_flag])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    assert_eq!(output.status.code(), Some(0), "{text}{}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(std::fs::read_to_string(deploy_dir.join("VERSION")).unwrap(), format!("{}\n", &commit[..7]));
}

/// Seeds moto with a SecureString parameter and a JSON secret; returns their names.
async fn seed_secrets(unique: &str) -> (String, String) {
    let sdk = pipewright_aws::testing::sdk_config().await;
    let parameter = format!("/ci/{unique}/token");
    aws_sdk_ssm::Client::new(&sdk)
        .put_parameter()
        .name(&parameter)
        .value(format!("tok-{unique}"))
        .r#type(aws_sdk_ssm::types::ParameterType::SecureString)
        .send()
        .await
        .unwrap();
    let secret = format!("ci/{unique}/db");
    aws_sdk_secretsmanager::Client::new(&sdk)
        .create_secret()
        .name(&secret)
        .secret_string(json!({"username": format!("user-{unique}"), "password": format!("pw-{unique}")}).to_string())
        .send()
        .await
        .unwrap();
    (parameter, secret)
}

#[tokio::test(flavor = "multi_thread")]
async fn with_aws_access_secrets_come_from_parameter_store_and_secrets_manager_after_explicit_ones() {
    let endpoint = pipewright_aws::testing::endpoint().to_string();
    let unique = pipewright_aws::testing::unique("sec");
    let (parameter, secret) = seed_secrets(&unique).await;
    let scratch = Scratch::new();
    scratch.file("src/app.txt", "app\n");
    let spec = scratch.file(
        "specs/secrets.yml",
        &format!(
            r#"version: 0.2
env:
  parameter-store:
    TOKEN: {parameter}
  secrets-manager:
    DB_PASSWORD: {secret}:password
    DB_USER: {secret}:username:AWSCURRENT
phases:
  build:
    commands:
      - echo "token=$TOKEN password=$DB_PASSWORD user=$DB_USER"
      - echo "$TOKEN $DB_PASSWORD $DB_USER" | tr a-z A-Z
"#
        ),
    );
    let missing_spec = scratch.file(
        "specs/missing.yml",
        &format!("version: 0.2\nenv:\n  parameter-store:\n    NOT_THERE: /ci/{unique}/absent\nphases:\n  build:\n    commands:\n      - echo never\n"),
    );
    let file = scratch
        .pipeline("secrets", vec![source_stage(), stage("Build", vec![codebuild("Build", "app", &["Src"], &[])])]);
    let aws = [("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing"), ("AWS_REGION", "us-east-1")];
    let run = |buildspec: &str, extra: &[&str]| {
        let source = format!("Source={}", scratch.source().display());
        let flag = format!("app={buildspec}");
        let mut command = scratch.pipewright();
        command.envs(aws).env_remove("TOKEN");
        let output = command
            .args(["run", &file, "--source", &source, "--buildspec", &flag, "--aws-endpoint", &endpoint])
            .args(extra)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&output.stdout).into_owned() + &String::from_utf8_lossy(&output.stderr);
        (output.status.code().unwrap_or(-1), text)
    };

    let (code, output) = run(&spec, &[]);
    assert_eq!(code, 0, "{output}");
    let lines = lines_of(&output, "Build", "Build");
    assert!(has(&lines, "token=*** password=*** user=***"), "masked in the log: {lines:?}");
    let upper = unique.to_uppercase();
    assert!(has(&lines, &format!("TOK-{upper} PW-{upper} USER-{upper}")), "the values from AWS: {lines:?}");
    assert!(!output.contains(&format!("pw-{unique}")), "{output}");

    // An explicit --secret wins over AWS.
    let given = format!("TOKEN=given-{unique}");
    let (code, output) = run(&spec, &["--secret", &given]);
    assert_eq!(code, 0, "{output}");
    assert!(has(&lines_of(&output, "Build", "Build"), &format!("GIVEN-{upper} PW-{upper} USER-{upper}")), "{output}");

    // A parameter AWS does not have fails the action before INSTALL, naming it and where it was looked for.
    let (code, output) = run(&missing_spec, &[]);
    assert_eq!(code, 1, "{output}");
    assert!(
        output.contains(&format!(
            "Code: Decrypted Variables Error, Message: parameter does not exist: /ci/{unique}/absent (environment variable NOT_THERE; looked in --secret, AWS Systems Manager Parameter Store (us-east-1) and pipewright's environment"
        )),
        "{output}"
    );
    assert!(!output.contains("Entering phase INSTALL"), "{output}");

    // So does a secret Secrets Manager does not have, and a json-key the secret lacks.
    let absent = scratch.file(
        "specs/absent.yml",
        &format!("version: 0.2\nenv:\n  secrets-manager:\n    GONE: ci/{unique}/gone:password\nphases:\n  build:\n    commands:\n      - echo never\n"),
    );
    let (code, output) = run(&absent, &[]);
    assert_eq!(code, 1, "{output}");
    assert!(
        output.contains(&format!(
            "Code: Secrets Manager Error, Message: secret does not exist: ci/{unique}/gone (environment variable GONE; looked in --secret, AWS Secrets Manager (us-east-1) and pipewright's environment"
        )),
        "{output}"
    );
    let no_key = scratch.file(
        "specs/no-key.yml",
        &format!("version: 0.2\nenv:\n  secrets-manager:\n    PORT: {secret}:port\nphases:\n  build:\n    commands:\n      - echo never\n"),
    );
    let (code, output) = run(&no_key, &[]);
    assert_eq!(code, 1, "{output}");
    assert!(output.contains(&format!("Message: secret {secret} has no key \"port\"")), "{output}");
}

#[test]
fn a_cache_key_hits_on_the_same_key_and_a_changed_key_restores_from_a_fallback_key() {
    let scratch = Scratch::new();
    scratch.file("src/app.txt", "app\n");
    let spec = scratch.file(
        "specs/keyed.yml",
        r#"version: 0.2
phases:
  install:
    commands:
      - if [ -f deps/installed ]; then echo "deps from cache=$(cat deps/installed)"; else mkdir -p deps && cat deps.lock > deps/installed && echo "deps installed"; fi
cache:
  key: deps-$OS_NAME-$(codebuild-hash-files deps.lock)
  fallback-keys:
    - deps-nothing-
    - deps-$OS_NAME-
  paths: ['deps/**/*']
"#,
    );
    let file = scratch
        .pipeline("keyed", vec![source_stage(), stage("Build", vec![codebuild("Build", "keyed", &["Src"], &[])])]);
    let flag = format!("keyed={spec}");
    let run = || {
        let source = format!("Source={}", scratch.source().display());
        let output = scratch
            .pipewright()
            .env("OS_NAME", "linux")
            .args(["run", &file, "--source", &source, "--buildspec", &flag])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&output.stdout).into_owned() + &String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(0), "{text}");
        lines_of(&text, "Build", "Build")
    };
    let key_of = |lines: &[String]| -> String {
        let line = lines.iter().find(|l| l.starts_with("[pipewright] Cache key ")).expect("a cache key line");
        line["[pipewright] Cache key ".len()..].split([' ', ':']).next().unwrap().to_string()
    };

    scratch.file("src/deps.lock", "v1");
    let first = run();
    let v1 = key_of(&first);
    assert!(v1.starts_with("deps-linux-") && v1.len() == "deps-linux-".len() + 64, "{first:?}");
    assert!(has(&first, &format!("[pipewright] Cache key {v1} has no cache")), "{first:?}");
    assert!(has(&first, "deps installed"), "{first:?}");

    let second = run();
    assert!(has(&second, &format!("[pipewright] Cache key {v1}: restoring its cache")), "{second:?}");
    assert!(has(&second, "deps from cache=v1"), "the same key hits: {second:?}");

    scratch.file("src/deps.lock", "v2");
    let third = run();
    let v2 = key_of(&third);
    assert_ne!(v1, v2, "the key follows the hashed file");
    assert!(
        has(&third, &format!("[pipewright] Cache key {v2} has no cache; restoring {v1} (fallback key deps-linux-)")),
        "{third:?}"
    );
    assert!(has(&third, "deps from cache=v1"), "restored from the fallback key: {third:?}");

    let fourth = run();
    assert!(
        has(&fourth, &format!("[pipewright] Cache key {v2}: restoring its cache")),
        "saved under the new key: {fourth:?}"
    );

    scratch.file("src/deps.lock", "v1");
    let fifth = run();
    assert!(has(&fifth, &format!("[pipewright] Cache key {v1}: restoring its cache")), "{fifth:?}");
    assert!(has(&fifth, "deps from cache=v1"), "the fallback's cache was left as it was: {fifth:?}");
}
