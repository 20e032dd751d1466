//! UPLOAD_ARTIFACTS: which `artifacts` block each output artifact takes, and writing its
//! zip (written by `artifacts::zip_files`; docs/codebuild.md "Outputs"). With one output, a `secondary-artifacts` entry of the
//! same name wins over the primary block; with several, each must have its own entry. No
//! matching file at all is CodeBuild's `CLIENT_ERROR: no matching artifact paths found`.
//! A buildspec with no `artifacts` section at all stores each output empty: CodeBuild
//! passes such builds (AWS's own samples declare outputs their buildspecs never fill).

use std::io;
use std::path::{Path, PathBuf};

use super::model::{ArtifactSpec, Artifacts};
use super::select::{self, Selection};

/// The artifact block each output artifact takes, `None` for an output stored empty (no
/// `artifacts` section); or why the outputs cannot be written.
pub fn plan(outputs: &[String], artifacts: Option<&Artifacts>) -> Result<Vec<(String, Option<ArtifactSpec>)>, String> {
    let Some(artifacts) = artifacts else {
        return Ok(outputs.iter().map(|name| (name.clone(), None)).collect());
    };
    if outputs.is_empty() {
        return Ok(Vec::new());
    }
    let secondary = |name: &str| artifacts.secondary.iter().find(|(id, _)| id == name).map(|(_, s)| s.clone());
    if let [only] = outputs {
        return Ok(vec![(only.clone(), Some(secondary(only).unwrap_or_else(|| artifacts.primary.clone())))]);
    }
    outputs
        .iter()
        .map(|name| {
            secondary(name).map(|spec| (name.clone(), Some(spec))).ok_or_else(|| {
                format!(
                    "the action has several output artifacts, so each needs an entry of the same name under artifacts.secondary-artifacts; {name} has none"
                )
            })
        })
        .collect()
}

/// The files an artifact block selects: (absolute source path, name in the zip).
#[derive(Default)]
pub struct Chosen {
    pub entries: Vec<(PathBuf, String)>,
    pub unmatched: Vec<String>,
    pub warnings: Vec<String>,
}

/// Applies `spec` under `root` (the original build location), with `lookup` for the
/// variables in `base-directory`, `files` and `exclude-paths` (`$NAME`, `${NAME}`), which the
/// build's shell expands on CodeBuild (buildspecs AWS itself writes list `$NAME.json`).
pub fn choose(root: &Path, spec: &ArtifactSpec, lookup: impl Fn(&str) -> Option<String>) -> io::Result<Chosen> {
    let expanded = |patterns: &[String]| -> Vec<String> {
        patterns.iter().map(|pattern| select::expand(pattern, &lookup)).collect()
    };
    let (all_files, exclude_paths) = (expanded(&spec.files), expanded(&spec.exclude_paths));
    let (absolute, files): (Vec<String>, Vec<String>) =
        all_files.into_iter().partition(|pattern| select::absolute_root(pattern).is_some());
    let mut chosen = Chosen::default();
    for pattern in &absolute {
        choose_absolute(pattern, spec, &exclude_paths, &mut chosen)?;
    }
    // No relative pattern (an output stored empty has none at all): no base to look in.
    if files.is_empty() {
        return Ok(chosen);
    }
    let bases = select::base_directories(root, spec.base_directory.as_deref(), &lookup).map_err(io::Error::other)?;
    let mut unmatched_everywhere: Option<Vec<String>> = None;
    for base in &bases {
        let found = if base.is_dir() { select::walk(base, spec.enable_symlinks)? } else { Vec::new() };
        let Selection { files: selected, unmatched, warnings } =
            select::select(&found, &files, &exclude_paths, spec.discard_paths).map_err(io::Error::other)?;
        chosen.entries.extend(selected.into_iter().map(|(relative, name)| (base.join(relative), name)));
        chosen.warnings.extend(warnings);
        unmatched_everywhere = Some(match unmatched_everywhere {
            None => unmatched,
            Some(before) => before.into_iter().filter(|p| unmatched.contains(p)).collect(),
        });
    }
    chosen.unmatched.extend(unmatched_everywhere.unwrap_or(files));
    Ok(chosen)
}

/// An absolute `files` pattern (`/tmp/build.json`, which an AWS sample's buildspec lists):
/// looked for under its own directories without wildcards, whatever `base-directory` says,
/// never over the whole disk (a wildcard right under `/` is refused with a warning), down
/// only as deep as the pattern reaches unless it has `**`, and passing over what cannot be
/// read. Named in the zip by its path without the leading `/`, or by its file name with
/// `discard-paths`; `exclude-paths` that are absolute apply to it.
fn choose_absolute(
    pattern: &str,
    spec: &ArtifactSpec,
    exclude_paths: &[String],
    chosen: &mut Chosen,
) -> io::Result<()> {
    let Some((dir, under)) = select::absolute_root(pattern) else { return Ok(()) };
    let wildcard = select::has_wildcard(&under);
    if wildcard && dir == Path::new("/") {
        chosen.warnings.push(format!(
            "{pattern}: a pattern with wildcards right under / would search the whole disk; name a directory to look in"
        ));
        chosen.unmatched.push(pattern.to_string());
        return Ok(());
    }
    // Paths are matched as the path without its leading `/`, so absolute exclusions apply.
    let base = dir.to_string_lossy().trim_start_matches('/').to_string();
    let full = |relative: &str| if base.is_empty() { relative.to_string() } else { format!("{base}/{relative}") };
    let named = dir.join(&under);
    let found: Vec<String> = if !wildcard && (named.is_file() || (spec.enable_symlinks && named.is_symlink())) {
        vec![full(&under)]
    } else if !wildcard && named.is_dir() {
        select::walk_readable(&named, spec.enable_symlinks, None)
            .into_iter()
            .map(|file| full(&format!("{under}/{file}")))
            .collect()
    } else if wildcard && dir.is_dir() {
        let depth = (!under.contains("**")).then(|| under.split('/').count());
        select::walk_readable(&dir, spec.enable_symlinks, depth).iter().map(|file| full(file)).collect()
    } else {
        Vec::new()
    };
    let excluded: Vec<String> =
        exclude_paths.iter().filter_map(|e| e.trim().strip_prefix('/').map(String::from)).collect();
    let Selection { files, unmatched, warnings } =
        select::select(&found, &[full(&under)], &excluded, spec.discard_paths).map_err(io::Error::other)?;
    chosen.entries.extend(files.into_iter().map(|(relative, name)| (Path::new("/").join(relative), name)));
    chosen.warnings.extend(warnings);
    if !unmatched.is_empty() {
        chosen.unmatched.push(pattern.to_string());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs::{self, File};

    fn spec(files: &[&str]) -> ArtifactSpec {
        ArtifactSpec { files: files.iter().map(|s| s.to_string()).collect(), ..ArtifactSpec::default() }
    }

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn one_output_takes_its_secondary_entry_or_the_primary_block() {
        let artifacts = Artifacts { primary: spec(&["a"]), secondary: vec![("Docs".into(), spec(&["d"]))] };
        assert_eq!(plan(&names(&["Build"]), Some(&artifacts)).unwrap(), [("Build".to_string(), Some(spec(&["a"])))]);
        assert_eq!(plan(&names(&["Docs"]), Some(&artifacts)).unwrap(), [("Docs".to_string(), Some(spec(&["d"])))]);
    }

    #[test]
    fn without_an_artifacts_section_every_output_is_stored_empty() {
        assert!(plan(&[], None).unwrap().is_empty());
        assert_eq!(
            plan(&names(&["Build", "Docs"]), None).unwrap(),
            [("Build".to_string(), None), ("Docs".to_string(), None)]
        );
    }

    #[test]
    fn several_outputs_each_need_a_secondary_entry() {
        let artifacts = Artifacts {
            primary: spec(&["a"]),
            secondary: vec![("Docs".into(), spec(&["d"])), ("Bin".into(), spec(&["b"]))],
        };
        let planned = plan(&names(&["Bin", "Docs"]), Some(&artifacts)).unwrap();
        assert_eq!(planned, [("Bin".to_string(), Some(spec(&["b"]))), ("Docs".to_string(), Some(spec(&["d"])))]);
        let error = plan(&names(&["Bin", "Site"]), Some(&artifacts)).unwrap_err();
        assert!(error.contains("Site has none"), "{error}");
    }

    #[test]
    fn absolute_patterns_are_taken_from_their_own_directory() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("src");
        let elsewhere = dir.path().join("tmp");
        fs::create_dir_all(&root).unwrap();
        fs::create_dir_all(elsewhere.join("deep")).unwrap();
        fs::write(elsewhere.join("build.json"), "{}").unwrap();
        fs::write(elsewhere.join("deep/a.js"), "a").unwrap();
        fs::write(elsewhere.join("deep/b.txt"), "b").unwrap();
        fs::write(root.join("app.txt"), "app").unwrap();
        let at = elsewhere.display().to_string();
        let names = |chosen: &Chosen| chosen.entries.iter().map(|(_, n)| n.clone()).collect::<Vec<_>>();
        // The AWS blue/green sample's artifact: one file, its path discarded.
        let mut block = spec(&[&format!("{at}/build.json")]);
        block.discard_paths = true;
        block.base_directory = Some("nowhere".into());
        let chosen = choose(&root, &block, |_| None).unwrap();
        assert_eq!(names(&chosen), ["build.json"]);
        assert_eq!(chosen.entries[0].0, elsewhere.join("build.json"));
        // Kept paths are the path without its leading `/`; a glob under the fixed directories;
        // relative patterns beside them; absolute exclusions.
        let mut block = spec(&[&format!("{at}/deep/*"), "app.txt", &format!("{at}/missing.json")]);
        block.exclude_paths = vec![format!("{at}/deep/b.txt")];
        let chosen = choose(&root, &block, |_| None).unwrap();
        let inside = at.trim_start_matches('/');
        assert_eq!(names(&chosen), [format!("{inside}/deep/a.js"), "app.txt".to_string()]);
        assert_eq!(chosen.unmatched, [format!("{at}/missing.json")]);
        // A directory named whole takes its tree; an exclusion from a directory above applies.
        let mut block = spec(&[&format!("{at}/deep/")]);
        block.exclude_paths = vec![format!("{}/**/b.txt", dir.path().display())];
        let chosen = choose(&root, &block, |_| None).unwrap();
        assert_eq!(names(&chosen), [format!("{inside}/deep/a.js")]);
        // `..` is read as the path it names: no `..` in a zip name.
        let chosen = choose(&root, &spec(&[&format!("{at}/deep/../build.json")]), |_| None).unwrap();
        assert_eq!(names(&chosen), [format!("{inside}/build.json")]);
        // A wildcard right under `/` would search the whole disk: refused, with a warning.
        let chosen = choose(&root, &spec(&["/**/build.json"]), |_| None).unwrap();
        assert!(chosen.entries.is_empty() && chosen.unmatched == ["/**/build.json"]);
        assert!(chosen.warnings[0].contains("whole disk"), "{:?}", chosen.warnings);
    }

    #[test]
    fn base_directory_contents_discarded_paths_and_symlinks_in_the_zip() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("src");
        fs::create_dir_all(root.join("out/deep")).unwrap();
        fs::write(root.join("out/app.js"), "app").unwrap();
        fs::write(root.join("out/deep/lib.js"), "lib").unwrap();
        fs::write(root.join("top.txt"), "top").unwrap();
        #[cfg(unix)]
        std::os::unix::fs::symlink("app.js", root.join("out/link.js")).unwrap();
        let mut block = spec(&["**/*"]);
        block.base_directory = Some("out".into());
        let chosen = choose(&root, &block, |_| None).unwrap();
        let zip_names: Vec<&str> = chosen.entries.iter().map(|(_, n)| n.as_str()).collect();
        assert_eq!(zip_names, ["app.js", "deep/lib.js", "link.js"], "the base directory itself is not included");
        block.discard_paths = true;
        block.enable_symlinks = true;
        let chosen = choose(&root, &block, |_| None).unwrap();
        let out = dir.path().join("a.zip");
        crate::artifacts::zip_files(&chosen.entries, true, &out).unwrap();
        let mut archive = zip::ZipArchive::new(File::open(&out).unwrap()).unwrap();
        let mut listed: Vec<String> =
            (0..archive.len()).map(|i| archive.by_index(i).unwrap().name().unwrap().to_string()).collect();
        listed.sort();
        assert_eq!(listed, ["app.js", "lib.js", "link.js"]);
        #[cfg(unix)]
        assert!(archive.by_name("link.js").unwrap().is_symlink());
        let none = choose(&root, &spec(&["missing/*"]), |_| None).unwrap();
        assert!(none.entries.is_empty());
        assert_eq!(none.unmatched, ["missing/*"]);
    }

    #[test]
    fn variables_in_files_and_exclude_paths_are_expanded() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("src");
        fs::create_dir_all(&root).unwrap();
        for name in ["template-dev.json", "template-prod.json", "config-dev.json"] {
            fs::write(root.join(name), name).unwrap();
        }
        let mut block = spec(&["template-${STAGE}.json", "$PREFIX-$STAGE.json"]);
        block.exclude_paths = vec!["config-${STAGE}.json".into()];
        let lookup = |name: &str| match name {
            "STAGE" => Some("dev".to_string()),
            "PREFIX" => Some("config".to_string()),
            _ => None,
        };
        let chosen = choose(&root, &block, lookup).unwrap();
        let names: Vec<&str> = chosen.entries.iter().map(|(_, n)| n.as_str()).collect();
        assert_eq!(names, ["template-dev.json"], "config-dev.json is excluded by its expanded path");
        assert_eq!(chosen.unmatched, ["config-dev.json"], "an unmatched pattern is named as expanded");
    }
}
