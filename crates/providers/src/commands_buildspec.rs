//! The buildspec a Commands action runs on AWS, in the stack's CodeBuild project
//! (docs/security.md, "Commands actions"): the action's commands as one `build` phase, its
//! `OutputVariables` exported, its output artifacts' `files`. Locally the same action is
//! [`crate::buildspec::model::Buildspec::single_phase`] on the native interpreter; this is that
//! buildspec written out, as JSON (which YAML, and so CodeBuild, reads).

use pipewright_core::engine::Dispatch;
use serde_json::{Map, Value, json};

/// The files an output collects: its `files`, or everything when it names none (as the local
/// Commands action does).
fn files(globs: &[String]) -> Value {
    if globs.is_empty() { json!(["**/*"]) } else { json!(globs) }
}

/// The buildspec text of a Commands dispatch. Commands run in bash, as they do locally.
/// `install` is the stack's own prelude (the commands that fetch the inputs on AWS,
/// `core::deploy::codebuild::input_prelude`), run before the action's commands.
pub fn commands_buildspec(dispatch: &Dispatch, install: &[String]) -> String {
    let mut env = Map::new();
    env.insert("shell".into(), json!("bash"));
    if !dispatch.output_variables.is_empty() {
        env.insert("exported-variables".into(), json!(dispatch.output_variables));
    }
    let mut spec = json!({
        "version": "0.2",
        "env": env,
        "phases": {"build": {"commands": dispatch.commands}},
    });
    if !install.is_empty() {
        spec["phases"]["install"] = json!({"commands": install});
    }
    let mut outputs = dispatch.output_artifacts.iter();
    if let Some(first) = outputs.next() {
        let mut artifacts = json!({"files": files(&first.files)});
        let secondary: Map<String, Value> =
            outputs.map(|output| (output.name.clone(), json!({"files": files(&output.files)}))).collect();
        if !secondary.is_empty() {
            artifacts["secondary-artifacts"] = Value::Object(secondary);
        }
        spec["artifacts"] = artifacts;
    }
    spec.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::buildspec::model::PhaseName;
    use crate::buildspec::parse::parse;
    use pipewright_core::engine::{ArtifactLocation, OutputArtifactRef};

    fn dispatch() -> Dispatch {
        serde_json::from_value(json!({
            "id": "d", "pipeline": "shop", "pipelineVersion": 1, "executionId": "e-1", "stage": "Build",
            "action": "Test", "attempt": 1, "actionExecutionId": "a-1", "jobId": "job-1", "jobSequence": 1,
            "actionType": {"category": "Compute", "owner": "AWS", "provider": "Commands", "version": "1"},
            "region": null, "roleArn": null, "namespace": "test", "configuration": {},
            "commands": ["make test", "export TAG=$(git rev-parse HEAD): done"],
            "environmentVariables": [], "outputVariables": ["TAG"], "inputArtifacts": [], "outputArtifacts": [],
            "encryptionKey": null, "continuationToken": null, "sourceRevision": null, "deadline": 0
        }))
        .unwrap()
    }

    fn output(name: &str, files: &[&str]) -> OutputArtifactRef {
        OutputArtifactRef {
            name: name.into(),
            location: ArtifactLocation { bucket: "b".into(), key: format!("shop/{name}/x") },
            files: files.iter().map(|f| f.to_string()).collect(),
        }
    }

    #[test]
    fn the_buildspec_reads_back_as_the_local_one_phase_buildspec() {
        let mut d = dispatch();
        d.output_artifacts = vec![output("Reports", &["out/**/*.xml"]), output("Site", &[])];
        let install = vec!["curl \"$URL\"".to_string()];
        let spec = parse(&commands_buildspec(&d, &install)).unwrap();
        assert_eq!(spec.phase(PhaseName::Install).unwrap().commands, install, "the prelude runs first");
        let build = spec.phase(PhaseName::Build).unwrap();
        assert_eq!(build.commands, d.commands, "the commands verbatim, a colon included");
        assert_eq!(spec.env.exported_variables, vec!["TAG".to_string()]);
        assert_eq!(spec.env.shell.as_deref(), Some("bash"));
        let artifacts = spec.artifacts.unwrap();
        assert_eq!(artifacts.primary.files, vec!["out/**/*.xml".to_string()]);
        assert_eq!(artifacts.secondary[0].0, "Site");
        assert_eq!(artifacts.secondary[0].1.files, vec!["**/*".to_string()]);
    }

    #[test]
    fn no_outputs_no_artifacts() {
        let spec = parse(&commands_buildspec(&dispatch(), &[])).unwrap();
        assert!(spec.artifacts.is_none());
        assert!(spec.phase(PhaseName::Install).is_none());
    }
}
