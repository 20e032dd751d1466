//! `--codebuild-project NAME=FILE`, `--buildspec NAME=PATH` and `--secret NAME=VALUE`:
//! the CodeBuild projects and secret values of a local run.

use std::collections::BTreeMap;
use std::path::Path;

use pipewright_core::build_project::{BuildProject, BuildspecSource};
use pipewright_providers::project_file;

use crate::failure::usage;

/// The projects the flags define; a `--buildspec` replaces the buildspec of its project (or
/// makes a project of it). Relative paths are read from `working_directory`.
pub fn from_flags(
    projects: &[(String, String)],
    buildspecs: &[(String, String)],
    working_directory: &Path,
) -> anyhow::Result<BTreeMap<String, BuildProject>> {
    let read = |flag: &str, name: &str, file: &str| -> anyhow::Result<(String, String)> {
        let path = working_directory.join(file);
        let text = std::fs::read_to_string(&path)
            .map_err(|e| usage(format!("{flag} {name}={file}: cannot read {}: {e}", path.display())))?;
        Ok((text, path.display().to_string()))
    };
    let mut defined = BTreeMap::new();
    for (name, file) in projects {
        let (text, origin) = read("--codebuild-project", name, file)?;
        let project = project_file::read(name, &text, &origin)
            .map_err(|e| usage(format!("--codebuild-project {name}={file}: {e}")))?;
        defined.insert(name.clone(), project);
    }
    for (name, file) in buildspecs {
        let (text, origin) = read("--buildspec", name, file)?;
        pipewright_providers::buildspec::parse(&text).map_err(|e| usage(format!("--buildspec {name}={file}: {e}")))?;
        let project = defined
            .entry(name.clone())
            .or_insert_with(|| BuildProject { name: name.clone(), ..BuildProject::default() });
        project.buildspec = BuildspecSource::Inline(text);
        project.origin = Some(origin);
    }
    Ok(defined)
}

/// `--secret` values by name.
pub fn secrets(pairs: &[(String, String)]) -> BTreeMap<String, String> {
    pairs.iter().cloned().collect()
}
