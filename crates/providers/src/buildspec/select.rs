//! Which files a set of patterns selects (artifacts, reports, cache), as CodeBuild reads
//! them (docs/codebuild.md "Artifact patterns"): `*` stays within one directory and `**`
//! crosses them, dotfiles are files like any other, a pattern without wildcards that names
//! a directory takes its whole tree, `exclude-paths` leaves paths out, and `discard-paths`
//! keeps only file names (the first of two equal names wins, with a warning).
//! [`select`] is pure: it works on the list of files a walk found.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use globset::GlobSet;
use walkdir::WalkDir;

use crate::artifacts::glob_set;

pub fn has_wildcard(pattern: &str) -> bool {
    pattern.contains(['*', '?', '[', '{'])
}

fn normalise(pattern: &str) -> String {
    let trimmed = pattern.trim().trim_start_matches("./");
    trimmed.trim_end_matches('/').to_string()
}

/// What a set of patterns selected under one directory.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Selection {
    /// (path relative to the directory, name in the artifact)
    pub files: Vec<(String, String)>,
    /// Patterns that matched nothing (CodeBuild logs "Skipping invalid file path").
    pub unmatched: Vec<String>,
    pub warnings: Vec<String>,
}

/// Selects from `files` (paths relative to one directory, `/`-separated).
pub fn select(
    files: &[String],
    patterns: &[String],
    exclude: &[String],
    discard_paths: bool,
) -> Result<Selection, crate::artifacts::ZipError> {
    let normalised: Vec<String> = patterns.iter().map(|p| normalise(p)).collect();
    let excluded: Option<GlobSet> = if exclude.is_empty() {
        None
    } else {
        let mut all: Vec<String> = exclude.iter().map(|p| normalise(p)).collect();
        // An excluded directory leaves out what is under it.
        all.extend(exclude.iter().map(|p| format!("{}/**", normalise(p))));
        Some(glob_set(&all)?)
    };
    let mut selection = Selection::default();
    let mut chosen: BTreeMap<String, String> = BTreeMap::new();
    let mut by_name: BTreeMap<String, String> = BTreeMap::new();
    for (pattern, original) in normalised.iter().zip(patterns) {
        let glob = if pattern.is_empty() { None } else { Some(glob_set(std::slice::from_ref(pattern))?) };
        let mut matched = false;
        for file in files {
            let hit = match &glob {
                None => false,
                Some(set) => set.is_match(file) || (!has_wildcard(pattern) && file.starts_with(&format!("{pattern}/"))),
            };
            if !hit || excluded.as_ref().is_some_and(|set| set.is_match(file)) {
                continue;
            }
            matched = true;
            if chosen.contains_key(file) {
                continue;
            }
            let name = if discard_paths { file.rsplit('/').next().unwrap_or(file).to_string() } else { file.clone() };
            if let Some(first) = by_name.get(&name) {
                selection.warnings.push(format!(
                    "discard-paths: {file} and {first} are both named {name}; the artifact keeps {first}"
                ));
                continue;
            }
            by_name.insert(name.clone(), file.clone());
            chosen.insert(file.clone(), name);
        }
        if !matched {
            selection.unmatched.push(original.clone());
        }
    }
    // Keep the walk's order (sorted), not the patterns'.
    selection.files = files.iter().filter_map(|f| chosen.get(f).map(|n| (f.clone(), n.clone()))).collect();
    Ok(selection)
}

/// An absolute pattern (`/tmp/build.json`, `/opt/out/**/*`) split into the directory it is
/// looked for in (its leading components without wildcards, all but the last) and the
/// pattern under it; `None` for a pattern that is not absolute or names `/` itself.
pub fn absolute_root(pattern: &str) -> Option<(PathBuf, String)> {
    let rest = pattern.trim().strip_prefix('/')?;
    // Read as the path it names: `.` and empty components go, `..` takes one back.
    let mut components: Vec<&str> = Vec::new();
    for component in rest.split('/') {
        match component {
            "" | "." => {}
            ".." => {
                components.pop();
            }
            other => components.push(other),
        }
    }
    let fixed = components.iter().take(components.len().saturating_sub(1)).take_while(|c| !has_wildcard(c)).count();
    if components.is_empty() {
        return None;
    }
    let dir = PathBuf::from(format!("/{}", components[..fixed].join("/")));
    Some((dir, components[fixed..].join("/")))
}

/// Every file under `dir` down to `max_depth` (all the way without it), relative and
/// `/`-separated, sorted, passing over what cannot be read: a directory outside the build's
/// own, such as `/tmp`, holds entries of other users.
pub fn walk_readable(dir: &Path, symlinks_as_entries: bool, max_depth: Option<usize>) -> Vec<String> {
    let walk = WalkDir::new(dir).follow_links(!symlinks_as_entries).sort_by_file_name();
    let walk = match max_depth {
        Some(depth) => walk.max_depth(depth),
        None => walk,
    };
    walk.into_iter()
        .filter_map(Result::ok)
        .filter(|entry| {
            let kind = entry.file_type();
            entry.depth() > 0 && (kind.is_file() || (symlinks_as_entries && kind.is_symlink()))
        })
        .map(|entry| {
            let relative = entry.path().strip_prefix(dir).unwrap_or(entry.path());
            relative.components().map(|c| c.as_os_str().to_string_lossy()).collect::<Vec<_>>().join("/")
        })
        .collect()
}

/// Every file under `dir` (and, with `symlinks_as_entries`, every symlink as an entry of its
/// own), relative and `/`-separated, sorted.
pub fn walk(dir: &Path, symlinks_as_entries: bool) -> std::io::Result<Vec<String>> {
    let mut files = Vec::new();
    for entry in WalkDir::new(dir).follow_links(!symlinks_as_entries).sort_by_file_name() {
        let entry = entry.map_err(std::io::Error::other)?;
        let kind = entry.file_type();
        let wanted = kind.is_file() || (symlinks_as_entries && kind.is_symlink());
        if !wanted || entry.depth() == 0 {
            continue;
        }
        let relative = entry.path().strip_prefix(dir).unwrap_or(entry.path());
        files.push(relative.components().map(|c| c.as_os_str().to_string_lossy()).collect::<Vec<_>>().join("/"));
    }
    Ok(files)
}

/// `$NAME` and `${NAME}` replaced from `lookup` (unknown names become empty, as in a shell).
pub fn expand(text: &str, lookup: impl Fn(&str) -> Option<String>) -> String {
    let mut out = String::new();
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        if chars[i] == '$' {
            let braced = chars.get(i + 1) == Some(&'{');
            let start = if braced { i + 2 } else { i + 1 };
            let mut end = start;
            while end < chars.len() && (chars[end] == '_' || chars[end].is_ascii_alphanumeric()) {
                end += 1;
            }
            let closed = !braced || chars.get(end) == Some(&'}');
            if end > start && closed && !chars[start].is_ascii_digit() {
                let name: String = chars[start..end].iter().collect();
                out.push_str(&lookup(&name).unwrap_or_default());
                i = if braced { end + 1 } else { end };
                continue;
            }
        }
        out.push(chars[i]);
        i += 1;
    }
    out
}

/// The directories `base-directory` names: relative to `root` or absolute, variables
/// expanded, and a glob matching several top-level directories.
pub fn base_directories(
    root: &Path,
    base: Option<&str>,
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<Vec<PathBuf>, crate::artifacts::ZipError> {
    let Some(base) = base else { return Ok(vec![root.to_path_buf()]) };
    let expanded = normalise(&expand(base, lookup));
    let path = Path::new(&expanded);
    let (parent, pattern) = if path.is_absolute() {
        (PathBuf::from("/"), expanded.trim_start_matches('/').to_string())
    } else {
        (root.to_path_buf(), expanded.clone())
    };
    if !has_wildcard(&pattern) {
        return Ok(vec![parent.join(pattern)]);
    }
    let set = glob_set(std::slice::from_ref(&pattern))?;
    let depth = pattern.split('/').count();
    let mut dirs = Vec::new();
    for entry in WalkDir::new(&parent).min_depth(depth).max_depth(depth).sort_by_file_name().into_iter().flatten() {
        if !entry.file_type().is_dir() {
            continue;
        }
        let relative = entry.path().strip_prefix(&parent).unwrap_or(entry.path());
        let name = relative.components().map(|c| c.as_os_str().to_string_lossy()).collect::<Vec<_>>().join("/");
        if set.is_match(&name) {
            dirs.push(entry.path().to_path_buf());
        }
    }
    Ok(dirs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    fn patterns(list: &[&str]) -> Vec<String> {
        files(list)
    }

    fn names(selection: &Selection) -> Vec<&str> {
        selection.files.iter().map(|(_, n)| n.as_str()).collect()
    }

    const TREE: &[&str] =
        &[".env", "README.md", "dist/.hidden", "dist/a.js", "dist/sub/b.js", "src/main.rs", "target/app.jar"];

    #[test]
    fn an_absolute_pattern_is_looked_for_under_its_fixed_directories() {
        let split = |p: &str| absolute_root(p).map(|(dir, rest)| (dir.display().to_string(), rest));
        assert_eq!(split("/tmp/build.json"), Some(("/tmp".into(), "build.json".into())));
        assert_eq!(split(" /opt/out/**/*"), Some(("/opt/out".into(), "**/*".into())));
        assert_eq!(split("/opt/out/"), Some(("/opt".into(), "out".into())));
        assert_eq!(split("/a/*/c.txt"), Some(("/a".into(), "*/c.txt".into())));
        assert_eq!(split("/build.json"), Some(("/".into(), "build.json".into())));
        assert_eq!(split("//tmp/./out/../build.json"), Some(("/tmp".into(), "build.json".into())));
        assert_eq!(split("/../../etc/x"), Some(("/etc".into(), "x".into())));
        assert_eq!(split("/"), None);
        assert_eq!(split("dist/a.js"), None);
    }

    #[test]
    fn star_stays_in_one_directory_and_double_star_crosses() {
        let all = files(TREE);
        assert_eq!(names(&select(&all, &patterns(&["dist/*"]), &[], false).unwrap()), ["dist/.hidden", "dist/a.js"]);
        assert_eq!(
            names(&select(&all, &patterns(&["dist/**/*"]), &[], false).unwrap()),
            ["dist/.hidden", "dist/a.js", "dist/sub/b.js"]
        );
        assert_eq!(
            select(&all, &patterns(&["**/*"]), &[], false).unwrap().files.len(),
            TREE.len(),
            "dotfiles included"
        );
        assert_eq!(names(&select(&all, &patterns(&["./target/app.jar"]), &[], false).unwrap()), ["target/app.jar"]);
    }

    #[test]
    fn a_bare_directory_takes_its_tree() {
        let all = files(TREE);
        assert_eq!(
            names(&select(&all, &patterns(&["dist"]), &[], false).unwrap()),
            ["dist/.hidden", "dist/a.js", "dist/sub/b.js"]
        );
        assert_eq!(names(&select(&all, &patterns(&["dist/"]), &[], false).unwrap()).len(), 3);
    }

    #[test]
    fn unmatched_patterns_are_reported_and_exclusions_apply() {
        let all = files(TREE);
        let selection =
            select(&all, &patterns(&["nothing/*", "dist/**/*"]), &patterns(&["dist/sub", "**/.hidden"]), false)
                .unwrap();
        assert_eq!(names(&selection), ["dist/a.js"]);
        assert_eq!(selection.unmatched, ["nothing/*"]);
        assert!(select(&all, &patterns(&["zzz"]), &[], false).unwrap().files.is_empty());
    }

    #[test]
    fn discard_paths_flattens_and_keeps_the_first_of_equal_names() {
        let all = files(&["a/x.txt", "b/x.txt", "b/y.txt"]);
        let selection = select(&all, &patterns(&["**/*"]), &[], true).unwrap();
        assert_eq!(selection.files, [("a/x.txt".to_string(), "x.txt".to_string()), ("b/y.txt".into(), "y.txt".into())]);
        assert_eq!(selection.warnings.len(), 1);
    }

    #[test]
    fn expansion_of_variables() {
        let lookup = |n: &str| (n == "OUT").then(|| "build".to_string());
        assert_eq!(expand("$OUT/x-${OUT}", lookup), "build/x-build");
        assert_eq!(expand("$NOPE/x $1 $", lookup), "/x $1 $");
    }

    #[test]
    fn base_directories_are_relative_absolute_or_globbed() {
        let dir = tempfile::tempdir().unwrap();
        for d in ["my-build1/x", "my-build2", "other"] {
            std::fs::create_dir_all(dir.path().join(d)).unwrap();
        }
        let none = |_: &str| None;
        assert_eq!(base_directories(dir.path(), None, none).unwrap(), [dir.path().to_path_buf()]);
        assert_eq!(base_directories(dir.path(), Some("other"), none).unwrap(), [dir.path().join("other")]);
        assert_eq!(
            base_directories(dir.path(), Some("my-build*"), none).unwrap(),
            [dir.path().join("my-build1"), dir.path().join("my-build2")]
        );
        let elsewhere = dir.path().join("other").display().to_string();
        let lookup = move |n: &str| (n == "CODEBUILD_SRC_DIR_B").then(|| elsewhere.clone());
        assert_eq!(
            base_directories(Path::new("/nowhere"), Some("$CODEBUILD_SRC_DIR_B"), lookup).unwrap(),
            [dir.path().join("other")]
        );
    }
}
