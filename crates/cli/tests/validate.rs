//! `pipewright validate` through the real binary.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test binary: its helpers, like its #[test] functions, panic on what fails it"
)]

use assert_cmd::Command;
use predicates::prelude::*;
use std::path::PathBuf;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn fixture(name: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name).display().to_string()
}

fn pipewright() -> Command {
    Command::cargo_bin("pipewright").expect("binary is built")
}

#[test]
fn every_example_pipeline_is_valid_with_a_one_line_summary() {
    let examples: Vec<PathBuf> = std::fs::read_dir(root().join("infra/pipelines"))
        .expect("infra/pipelines exists")
        .map(|entry| entry.expect("readable").path())
        .filter(|path| matches!(path.extension().and_then(|e| e.to_str()), Some("json" | "yaml" | "yml")))
        .collect();
    assert!(examples.len() >= 3, "at least three examples");
    let output = pipewright().arg("validate").args(&examples).assert().success().get_output().stdout.clone();
    let text = String::from_utf8(output).unwrap();
    assert_eq!(text.lines().count(), examples.len(), "one line per file:\n{text}");
    for line in text.lines() {
        assert!(line.contains(": valid pipeline \""), "{line}");
        assert!(line.contains(" stages, ") && line.contains(" actions, ") && line.ends_with(" mode"), "{line}");
    }
    assert!(
        text.contains("hello-service-v2.json: valid pipeline \"hello-service\": 4 stages, 7 actions, V2, QUEUED mode"),
        "{text}"
    );
    assert!(
        text.contains("static-site-v1.json: valid pipeline \"static-site\": 2 stages, 2 actions, V1, SUPERSEDED mode"),
        "{text}"
    );
    assert!(
        text.contains(
            "orders-service-v2.json: valid pipeline \"orders-service\": 5 stages, 8 actions, V2, SUPERSEDED mode"
        ),
        "{text}"
    );
}

#[test]
fn an_invalid_file_gets_every_error_on_its_own_line_and_a_failing_exit() {
    let file = fixture("broken-structure.json");
    let assert = pipewright().args(["validate", &file]).assert().code(1);
    let text = String::from_utf8(assert.get_output().stdout.clone()).unwrap();
    let expected = [
        "stages[1].actions[2].runOrder: is 0; runOrder must be 1 to 999",
        "stages[1].actions[2].actionTypeId.category: Source actions may only appear in the first stage",
        "stages[2].name: stage name \"Build\" is already used by stages[1]",
        "stages[1].actions[1].inputArtifacts[0]: artifact \"BinOut\" is produced in the same runOrder group (stages[1].actions[0]); it must come from an earlier stage or a lower runOrder",
        "stages[2].actions[0].configuration.Extract: is required by AWS/S3 Deploy actions",
        "executionMode: the PARALLEL execution mode needs a V2 pipeline",
        "stages[1].actions[1].configuration.ProjectName: #{Build.Version}: no action declares the namespace \"Build\"",
    ];
    for error in expected {
        assert!(
            text.lines()
                .any(|line| line == format!("{file}: {error}") || line.starts_with(&format!("{file}: {error}"))),
            "missing {error} in\n{text}"
        );
    }
    assert_eq!(text.lines().count(), expected.len(), "{text}");
}

#[test]
fn malformed_json_and_yaml_report_line_and_column() {
    let json = fixture("malformed.json");
    pipewright()
        .args(["validate", &json])
        .assert()
        .code(1)
        .stdout(predicate::str::starts_with(format!("{json}:4:25: trailing comma")));
    let yaml = fixture("malformed.yaml");
    pipewright()
        .args(["validate", &yaml])
        .assert()
        .code(1)
        .stdout(predicate::str::starts_with(format!("{yaml}:6:1: ")));
}

#[test]
fn a_wrongly_typed_field_is_named_with_its_position() {
    let file = fixture("wrong-type.yaml");
    pipewright()
        .args(["validate", &file])
        .assert()
        .code(1)
        .stdout(format!("{file}:14:19: stages[1].actions[0].runOrder: invalid type: string \"first\", expected i64\n"));
}

#[test]
fn valid_and_invalid_files_together_fail_but_report_both() {
    let good = root().join("infra/pipelines/static-site-v1.json").display().to_string();
    let bad = fixture("malformed.json");
    let assert = pipewright().args(["validate", &good, &bad]).assert().code(1);
    let text = String::from_utf8(assert.get_output().stdout.clone()).unwrap();
    assert!(text.contains(&format!("{good}: valid pipeline")));
    assert!(text.contains(&format!("{bad}:4:25")));
}

#[test]
fn bad_usage_and_missing_files_fail_clearly_without_a_panic() {
    let missing = pipewright()
        .args(["validate", "does-not-exist.json"])
        .assert()
        .code(1)
        .stdout(predicate::str::contains("cannot read does-not-exist.json"));
    assert!(!String::from_utf8_lossy(&missing.get_output().stderr).contains("panicked"));
    pipewright().args(["validate"]).assert().code(2).stderr(predicate::str::contains("<FILE>"));
    pipewright().args(["validate", "--bogus", "x"]).assert().code(2).stderr(predicate::str::contains("--bogus"));
    pipewright().args(["frobnicate"]).assert().code(2).stderr(predicate::str::contains("frobnicate"));
    let dir = root().join("infra").display().to_string();
    pipewright().args(["validate", &dir]).assert().code(1).stdout(predicate::str::contains("cannot read"));
}

#[test]
fn json_output_and_standard_input() {
    let text = std::fs::read_to_string(fixture("broken-structure.json")).unwrap();
    let assert = pipewright().args(["validate", "--json", "-"]).write_stdin(text).assert().code(1);
    let line = String::from_utf8(assert.get_output().stdout.clone()).unwrap();
    let report: serde_json::Value = serde_json::from_str(line.trim()).unwrap();
    assert_eq!(report["file"], "-");
    assert_eq!(report["valid"], false);
    assert_eq!(report["errors"].as_array().unwrap().len(), 7);
    assert_eq!(report["errors"][0]["path"], "stages[1].actions[2].runOrder");

    let good = std::fs::read_to_string(root().join("infra/pipelines/static-site-v1.yaml")).unwrap();
    let assert = pipewright().args(["validate", "--json", "-"]).write_stdin(good).assert().success();
    let report: serde_json::Value = serde_json::from_slice(&assert.get_output().stdout).unwrap();
    assert_eq!(report["valid"], true);
    assert_eq!(report["summary"], "pipeline \"static-site-yaml\": 2 stages, 2 actions, V1 (inferred), SUPERSEDED mode");
}

#[test]
fn garbage_input_never_panics() {
    for input in [
        "",
        "null",
        "[]",
        "{\"stages\": 7}",
        "{\"pipeline\": {\"stages\": [{\"actions\": [{}]}]}}",
        "\u{0}\u{1}",
        "stages:\n  - actions:\n    - actionTypeId: 3\n",
    ] {
        let assert = pipewright().args(["validate", "-"]).write_stdin(input).assert().code(1);
        let stderr = String::from_utf8_lossy(&assert.get_output().stderr).to_string();
        assert!(!stderr.contains("panicked"), "{input:?}: {stderr}");
    }
}
