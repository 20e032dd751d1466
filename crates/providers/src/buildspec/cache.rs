//! `cache.paths` on this machine (docs/codebuild.md "Cache"): one cache per project under
//! the state directory. A path inside the source is kept by its *root*, the part before
//! the first wildcard (`node_modules/**/*` keeps `node_modules`), moved out of the
//! workspace after the build and moved back in before the next one: a rename, however big.
//! Absolute paths (`/root/.m2/**/*`, `$HOME/.npm`) are on the host and persist by themselves.

use std::fs;
use std::io;
use std::path::{Component, Path, PathBuf};

/// What a cache path keeps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CacheRoot {
    /// A directory or file relative to the source root.
    Relative(PathBuf),
    /// Outside the workspace: it stays where it is.
    Host(String),
}

/// The roots of `paths`, without duplicates or roots inside other roots.
pub fn roots(paths: &[String]) -> Vec<CacheRoot> {
    let mut relative: Vec<PathBuf> = Vec::new();
    let mut host = Vec::new();
    for path in paths {
        let trimmed = path.trim().trim_start_matches("./");
        if trimmed.starts_with('/') || trimmed.starts_with('~') || trimmed.starts_with('$') {
            host.push(CacheRoot::Host(path.clone()));
            continue;
        }
        let parts: Vec<&str> = trimmed.split('/').take_while(|p| !p.contains(['*', '?', '[', '{'])).collect();
        let root: PathBuf = parts.iter().filter(|p| !p.is_empty()).collect();
        let safe = root.components().all(|c| matches!(c, Component::Normal(_)));
        if root.as_os_str().is_empty() || !safe {
            // `**/*` or `../x`: nothing to keep by root.
            host.push(CacheRoot::Host(path.clone()));
            continue;
        }
        relative.push(root);
    }
    relative.sort();
    relative.dedup();
    let kept: Vec<PathBuf> = relative
        .iter()
        .filter(|r| !relative.iter().any(|other| other != *r && r.starts_with(other)))
        .cloned()
        .collect();
    kept.into_iter().map(CacheRoot::Relative).chain(host).collect()
}

fn slot(cache_dir: &Path, root: &Path) -> PathBuf {
    cache_dir.join("paths").join(root)
}

/// Moves cached roots into `src` where the source has nothing there; returns what it restored.
pub fn restore(cache_dir: &Path, src: &Path, roots: &[CacheRoot]) -> io::Result<Vec<PathBuf>> {
    let mut restored = Vec::new();
    for root in roots {
        let CacheRoot::Relative(root) = root else { continue };
        let (from, to) = (slot(cache_dir, root), src.join(root));
        if fs::symlink_metadata(&from).is_err() || fs::symlink_metadata(&to).is_ok() {
            continue;
        }
        if let Some(parent) = to.parent() {
            fs::create_dir_all(parent)?;
        }
        fs::rename(&from, &to)?;
        restored.push(root.clone());
    }
    Ok(restored)
}

/// Moves the roots out of `src` into the cache, replacing what it held; returns what it saved.
pub fn save(cache_dir: &Path, src: &Path, roots: &[CacheRoot]) -> io::Result<Vec<PathBuf>> {
    let mut saved = Vec::new();
    for root in roots {
        let CacheRoot::Relative(root) = root else { continue };
        let (from, to) = (src.join(root), slot(cache_dir, root));
        if fs::symlink_metadata(&from).is_err() {
            continue;
        }
        if let Some(parent) = to.parent() {
            fs::create_dir_all(parent)?;
        }
        // The old entry goes aside first, so a crash leaves either the old or the new one.
        let old = to.with_extension(format!("old-{}", std::process::id()));
        let had_old = fs::rename(&to, &old).is_ok();
        fs::rename(&from, &to)?;
        if had_old {
            let _ = if old.is_dir() { fs::remove_dir_all(&old) } else { fs::remove_file(&old) };
        }
        saved.push(root.clone());
    }
    Ok(saved)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roots_are_the_parts_before_the_first_wildcard() {
        let paths: Vec<String> = [
            "node_modules/**/*",
            "./node_modules/.cache/**/*",
            ".m2/repository/**/*",
            "/root/.m2/**/*",
            "**/*",
            "vendor/*",
            "package-lock.json",
            "../up/*",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        assert_eq!(
            roots(&paths),
            [
                CacheRoot::Relative(".m2/repository".into()),
                CacheRoot::Relative("node_modules".into()),
                CacheRoot::Relative("package-lock.json".into()),
                CacheRoot::Relative("vendor".into()),
                CacheRoot::Host("/root/.m2/**/*".into()),
                CacheRoot::Host("**/*".into()),
                CacheRoot::Host("../up/*".into()),
            ]
        );
    }

    #[test]
    fn a_saved_root_comes_back_in_the_next_workspace_unless_the_source_has_it() {
        let dir = tempfile::tempdir().unwrap();
        let cache = dir.path().join("cache");
        let first = dir.path().join("first");
        fs::create_dir_all(first.join("deps/a")).unwrap();
        fs::write(first.join("deps/a/x"), "1").unwrap();
        let roots = roots(&["deps/**/*".to_string()]);
        assert_eq!(save(&cache, &first, &roots).unwrap(), [PathBuf::from("deps")]);
        assert!(!first.join("deps").exists(), "moved, not copied");
        let second = dir.path().join("second");
        fs::create_dir_all(&second).unwrap();
        assert_eq!(restore(&cache, &second, &roots).unwrap(), [PathBuf::from("deps")]);
        assert_eq!(fs::read_to_string(second.join("deps/a/x")).unwrap(), "1");
        fs::write(second.join("deps/a/x"), "2").unwrap();
        save(&cache, &second, &roots).unwrap();
        let third = dir.path().join("third");
        fs::create_dir_all(third.join("deps")).unwrap();
        assert!(restore(&cache, &third, &roots).unwrap().is_empty(), "the source's own deps win");
        assert_eq!(fs::read_to_string(cache.join("paths/deps/a/x")).unwrap(), "2");
    }
}
