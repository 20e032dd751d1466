//! `cache.paths` on this machine (docs/codebuild.md "Cache"): one cache per project (or per
//! project and `cache.key`) under the state directory. A path inside the source is kept by
//! its *root*, the part before the first wildcard (`node_modules/**/*` keeps `node_modules`),
//! moved out of the workspace after the build and moved back in before the next one: a
//! rename, however big. Absolute paths (`/root/.m2/**/*`, `$HOME/.npm`) are on the host and
//! persist by themselves. With `cache.key` each key has its cache under `keys/`; the key's
//! variables and `$(codebuild-hash-files …)` are evaluated, and `fallback-keys` are matched
//! as prefixes when the key has none ([`choose`] is pure).

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::{Component, Path, PathBuf};

use sha2::{Digest, Sha256};

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

/// Moves the roots out of `src` into the cache, replacing what it held unless `keep_saved`
/// (a key's cache is never updated); returns what it saved.
pub fn save(cache_dir: &Path, src: &Path, roots: &[CacheRoot], keep_saved: bool) -> io::Result<Vec<PathBuf>> {
    let mut saved = Vec::new();
    for root in roots {
        let CacheRoot::Relative(root) = root else { continue };
        let (from, to) = (src.join(root), slot(cache_dir, root));
        if fs::symlink_metadata(&from).is_err() || (keep_saved && fs::symlink_metadata(&to).is_ok()) {
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

/// `fallback-keys` beyond this many are ignored (CodeBuild documents up to 5).
pub const MAX_FALLBACK_KEYS: usize = 5;

/// A piece of a `cache.key` or of a fallback key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyPart {
    Text(String),
    /// `$NAME` or `${NAME}`: the build's variable (empty when unset, as in a shell).
    Variable(String),
    /// `$(codebuild-hash-files <patterns>)`: the SHA-256 of the files the patterns select.
    HashFiles(Vec<String>),
}

/// Reads a key; a command other than `codebuild-hash-files` is refused, naming it.
pub fn parse_key(text: &str) -> Result<Vec<KeyPart>, String> {
    let mut parts = Vec::new();
    let mut literal = String::new();
    let mut rest = text;
    while let Some(at) = rest.find('$') {
        literal.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        if let Some(inner) = after.strip_prefix('(') {
            let close = inner.find(')').ok_or_else(|| format!("cache key {text:?}: $( is not closed"))?;
            let mut words = inner[..close].split_whitespace();
            match words.next() {
                Some("codebuild-hash-files") => {
                    let patterns: Vec<String> = words.map(|w| w.trim_matches(['\'', '"']).to_string()).collect();
                    if patterns.is_empty() {
                        return Err(format!("cache key {text:?}: codebuild-hash-files needs at least one pattern"));
                    }
                    flush(&mut literal, &mut parts);
                    parts.push(KeyPart::HashFiles(patterns));
                }
                other => {
                    return Err(format!(
                        "cache key {text:?}: only $(codebuild-hash-files …) is evaluated here, not $({})",
                        other.unwrap_or_default()
                    ));
                }
            }
            rest = &inner[close + 1..];
            continue;
        }
        let (braced, body) = match after.strip_prefix('{') {
            Some(body) => (true, body),
            None => (false, after),
        };
        let end = body.find(|c: char| c != '_' && !c.is_ascii_alphanumeric()).unwrap_or(body.len());
        let closed = !braced || body[end..].starts_with('}');
        if end == 0 || !closed || body.starts_with(|c: char| c.is_ascii_digit()) {
            literal.push('$');
            rest = after;
            continue;
        }
        flush(&mut literal, &mut parts);
        parts.push(KeyPart::Variable(body[..end].to_string()));
        rest = &body[end + usize::from(braced)..];
    }
    literal.push_str(rest);
    flush(&mut literal, &mut parts);
    Ok(parts)
}

fn flush(literal: &mut String, parts: &mut Vec<KeyPart>) {
    if !literal.is_empty() {
        parts.push(KeyPart::Text(std::mem::take(literal)));
    }
}

/// A key's value from its parts.
pub fn evaluate(
    parts: &[KeyPart],
    variable: impl Fn(&str) -> Option<String>,
    hash_files: impl Fn(&[String]) -> Result<String, String>,
) -> Result<String, String> {
    let mut key = String::new();
    for part in parts {
        match part {
            KeyPart::Text(text) => key.push_str(text),
            KeyPart::Variable(name) => key.push_str(&variable(name).unwrap_or_default()),
            KeyPart::HashFiles(patterns) => key.push_str(&hash_files(patterns)?),
        }
    }
    Ok(key)
}

/// `codebuild-hash-files` over `(path, contents)` in path order (docs/codebuild.md "Cache"):
/// the SHA-256, in hex, of each file's path, a NUL, the SHA-256 of its contents and a newline.
pub fn hash_files<'a>(files: impl IntoIterator<Item = (&'a str, &'a [u8])>) -> String {
    let mut all = Sha256::new();
    for (path, contents) in files {
        all.update(path.as_bytes());
        all.update([0]);
        all.update(hex::encode(Sha256::digest(contents)));
        all.update(b"\n");
    }
    hex::encode(all.finalize())
}

/// Which saved cache a build restores.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Chosen {
    /// The key itself has a cache.
    Exact(String),
    /// The most recently saved key starting with a fallback key.
    Fallback { fallback: String, key: String },
}

/// The cache to restore for `key`: its own, else for the first fallback key any saved key
/// starts with, the most recently saved of those. `saved` is each key with when it was saved.
pub fn choose(key: &str, fallback_keys: &[String], saved: &BTreeMap<String, u128>) -> Option<Chosen> {
    if saved.contains_key(key) {
        return Some(Chosen::Exact(key.to_string()));
    }
    fallback_keys.iter().take(MAX_FALLBACK_KEYS).find_map(|fallback| {
        saved
            .iter()
            .filter(|(saved_key, _)| saved_key.starts_with(fallback.as_str()))
            .max_by_key(|(saved_key, at)| (**at, std::cmp::Reverse((*saved_key).clone())))
            .map(|(saved_key, _)| Chosen::Fallback { fallback: fallback.clone(), key: saved_key.clone() })
    })
}

/// A key as one directory name: letters, digits, `-` and `_` as they are, every other byte
/// `%XX`, behind a `k` (so no name is empty, `.` or `..`).
fn encode_key(key: &str) -> String {
    let mut name = String::from("k");
    for byte in key.bytes() {
        if byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_' {
            name.push(char::from(byte));
        } else {
            name.push_str(&format!("%{byte:02X}"));
        }
    }
    name
}

fn decode_key(name: &str) -> Option<String> {
    let encoded = name.strip_prefix('k')?.as_bytes();
    let mut bytes = Vec::with_capacity(encoded.len());
    let mut i = 0;
    while i < encoded.len() {
        if encoded[i] == b'%' {
            let hex = std::str::from_utf8(encoded.get(i + 1..i + 3)?).ok()?;
            bytes.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            bytes.push(encoded[i]);
            i += 1;
        }
    }
    String::from_utf8(bytes).ok()
}

/// The directory of `key`'s cache under a project's cache directory.
pub fn key_dir(project_dir: &Path, key: &str) -> Result<PathBuf, String> {
    let name = encode_key(key);
    if name.len() > 255 {
        return Err(format!("cache key {key:?} is too long to be kept on this machine"));
    }
    Ok(project_dir.join("keys").join(name))
}

const SAVED_MARK: &str = "saved";

/// Every key with a saved cache, with when it was saved (milliseconds since the epoch).
pub fn saved_keys(project_dir: &Path) -> BTreeMap<String, u128> {
    let Ok(entries) = fs::read_dir(project_dir.join("keys")) else { return BTreeMap::new() };
    entries
        .flatten()
        .filter_map(|entry| {
            let key = decode_key(entry.file_name().to_str()?)?;
            let at = fs::read_to_string(entry.path().join(SAVED_MARK)).ok()?.trim().parse().ok()?;
            Some((key, at))
        })
        .collect()
}

/// Records that `cache_dir` (a key's) was saved at `at_millis`.
pub fn mark_saved(cache_dir: &Path, at_millis: u128) -> io::Result<()> {
    fs::create_dir_all(cache_dir)?;
    let temporary = cache_dir.join(format!("{SAVED_MARK}.{}", std::process::id()));
    fs::write(&temporary, at_millis.to_string())?;
    fs::rename(temporary, cache_dir.join(SAVED_MARK))
}

/// Copies cached roots into `src` where the source has nothing there, leaving the cache as
/// it is (a fallback key's cache is never changed by a build restoring it).
pub fn restore_copy(cache_dir: &Path, src: &Path, roots: &[CacheRoot]) -> io::Result<Vec<PathBuf>> {
    let mut restored = Vec::new();
    for root in roots {
        let CacheRoot::Relative(root) = root else { continue };
        let (from, to) = (slot(cache_dir, root), src.join(root));
        if fs::symlink_metadata(&from).is_err() || fs::symlink_metadata(&to).is_ok() {
            continue;
        }
        copy_tree(&from, &to)?;
        restored.push(root.clone());
    }
    Ok(restored)
}

/// Copies a file, a symlink (as a link) or a directory tree.
fn copy_tree(from: &Path, to: &Path) -> io::Result<()> {
    for entry in walkdir::WalkDir::new(from).follow_links(false) {
        let entry = entry.map_err(io::Error::other)?;
        let relative = entry.path().strip_prefix(from).map_err(io::Error::other)?;
        let target = if relative.as_os_str().is_empty() { to.to_path_buf() } else { to.join(relative) };
        if let Some(parent) = target.parent() {
            fs::create_dir_all(parent)?;
        }
        let kind = entry.file_type();
        if kind.is_dir() {
            fs::create_dir_all(&target)?;
        } else if kind.is_symlink() {
            std::os::unix::fs::symlink(fs::read_link(entry.path())?, &target)?;
        } else {
            fs::copy(entry.path(), &target)?;
        }
    }
    Ok(())
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
        assert_eq!(save(&cache, &first, &roots, false).unwrap(), [PathBuf::from("deps")]);
        assert!(!first.join("deps").exists(), "moved, not copied");
        let second = dir.path().join("second");
        fs::create_dir_all(&second).unwrap();
        assert_eq!(restore(&cache, &second, &roots).unwrap(), [PathBuf::from("deps")]);
        assert_eq!(fs::read_to_string(second.join("deps/a/x")).unwrap(), "1");
        fs::write(second.join("deps/a/x"), "2").unwrap();
        save(&cache, &second, &roots, false).unwrap();
        let third = dir.path().join("third");
        fs::create_dir_all(third.join("deps")).unwrap();
        assert!(restore(&cache, &third, &roots).unwrap().is_empty(), "the source's own deps win");
        assert_eq!(fs::read_to_string(cache.join("paths/deps/a/x")).unwrap(), "2");
    }

    #[test]
    fn keys_read_variables_and_hash_files_and_refuse_other_commands() {
        let parts = parse_key("npm-$(codebuild-hash-files package-lock.json 'x/*.lock')-${STAGE}-$OS.x-$5-${").unwrap();
        assert_eq!(
            parts,
            [
                KeyPart::Text("npm-".into()),
                KeyPart::HashFiles(vec!["package-lock.json".into(), "x/*.lock".into()]),
                KeyPart::Text("-".into()),
                KeyPart::Variable("STAGE".into()),
                KeyPart::Text("-".into()),
                KeyPart::Variable("OS".into()),
                KeyPart::Text(".x-$5-${".into()),
            ]
        );
        let key = evaluate(
            &parts,
            |name| (name == "STAGE").then(|| "prod".to_string()),
            |patterns| Ok(format!("h{}", patterns.len())),
        )
        .unwrap();
        assert_eq!(key, "npm-h2-prod-.x-$5-${");
        assert!(parse_key("k-$(date)").unwrap_err().contains("not $(date)"));
        assert!(parse_key("k-$(codebuild-hash-files").unwrap_err().contains("not closed"));
    }

    #[test]
    fn hashing_files_depends_on_their_paths_and_contents() {
        let one = hash_files([("a.lock", b"1".as_slice())]);
        assert_eq!(one.len(), 64);
        assert_eq!(one, hash_files([("a.lock", b"1".as_slice())]));
        assert_ne!(one, hash_files([("a.lock", b"2".as_slice())]));
        assert_ne!(one, hash_files([("b.lock", b"1".as_slice())]));
    }

    #[test]
    fn the_key_wins_then_the_first_fallback_with_a_match_and_its_latest_save() {
        let saved = BTreeMap::from([
            ("npm-linux-aaa".to_string(), 10),
            ("npm-linux-bbb".to_string(), 20),
            ("npm-mac-ccc".to_string(), 30),
        ]);
        let fallbacks = ["npm-linux-".to_string(), "npm-".to_string()];
        assert_eq!(choose("npm-linux-aaa", &fallbacks, &saved), Some(Chosen::Exact("npm-linux-aaa".into())));
        assert_eq!(
            choose("npm-linux-zzz", &fallbacks, &saved),
            Some(Chosen::Fallback { fallback: "npm-linux-".into(), key: "npm-linux-bbb".into() })
        );
        assert_eq!(
            choose("npm-win-zzz", &["npm-win-".to_string(), "npm-".to_string()], &saved),
            Some(Chosen::Fallback { fallback: "npm-".into(), key: "npm-mac-ccc".into() })
        );
        assert_eq!(choose("pip-x", &["pip-".to_string()], &saved), None);
        let six: Vec<String> = ["a", "b", "c", "d", "e", "npm-"].iter().map(|s| s.to_string()).collect();
        assert_eq!(choose("zzz", &six, &saved), None, "only the first five fallback keys count");
    }

    #[test]
    fn a_key_is_kept_under_a_name_of_its_own_and_a_fallback_restore_leaves_its_cache() {
        let dir = tempfile::tempdir().unwrap();
        let project = dir.path().join("project");
        for key in ["npm/linux:1.2", "..", "", "ключ"] {
            let at = key_dir(&project, key).unwrap();
            assert_eq!(at.parent().unwrap(), project.join("keys"));
            mark_saved(&at, 7).unwrap();
        }
        let saved = saved_keys(&project);
        assert_eq!(saved.keys().collect::<Vec<_>>(), ["", "..", "npm/linux:1.2", "ключ"]);
        assert!(key_dir(&project, &"x".repeat(300)).unwrap_err().contains("too long"));

        let cache = key_dir(&project, "npm/linux:1.2").unwrap();
        let first = dir.path().join("first");
        fs::create_dir_all(first.join("deps/a")).unwrap();
        fs::write(first.join("deps/a/x"), "1").unwrap();
        let roots = roots(&["deps/**/*".to_string()]);
        save(&cache, &first, &roots, true).unwrap();
        let second = dir.path().join("second");
        fs::create_dir_all(&second).unwrap();
        assert_eq!(restore_copy(&cache, &second, &roots).unwrap(), [PathBuf::from("deps")]);
        assert_eq!(fs::read_to_string(second.join("deps/a/x")).unwrap(), "1");
        assert_eq!(fs::read_to_string(cache.join("paths/deps/a/x")).unwrap(), "1", "copied, not moved");
        fs::write(second.join("deps/a/x"), "2").unwrap();
        assert!(save(&cache, &second, &roots, true).unwrap().is_empty(), "a key's cache is never updated");
        assert_eq!(fs::read_to_string(cache.join("paths/deps/a/x")).unwrap(), "1");
    }
}
