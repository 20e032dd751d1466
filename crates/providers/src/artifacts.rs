//! The zip format of artifacts, and the artifact store of a directory: zip files at
//! `<bucket>/<key>` under it — the same layout as the S3 artifact store
//! (`<pipeline>/<artifact≤10>/<id>`).

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Component, Path, PathBuf};

use globset::{GlobBuilder, GlobSet, GlobSetBuilder};
use walkdir::WalkDir;
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipArchive, ZipWriter};

use pipewright_core::engine::ArtifactLocation;
use pipewright_core::ports::{ArtifactError, ArtifactStore};

/// Errors of the zip and file work, before they become the port's [`ArtifactError`].
#[derive(Debug, thiserror::Error)]
pub enum ZipError {
    #[error("invalid file pattern {pattern:?}: {message}")]
    Pattern { pattern: String, message: String },
    #[error("{0}")]
    Io(#[from] io::Error),
    #[error("zip: {0}")]
    Zip(#[from] zip::result::ZipError),
    #[error("{0}")]
    Walk(#[from] walkdir::Error),
}

impl From<ZipError> for ArtifactError {
    fn from(error: ZipError) -> Self {
        match error {
            ZipError::Pattern { pattern, message } => ArtifactError::Pattern { pattern, message },
            other => ArtifactError::Unavailable(other.to_string()),
        }
    }
}

/// The artifact store of one state directory.
#[derive(Debug, Clone)]
pub struct ArtifactDir {
    root: PathBuf,
}

impl ArtifactDir {
    pub fn new(root: impl Into<PathBuf>) -> ArtifactDir {
        ArtifactDir { root: root.into() }
    }

    /// Where the zip of `location` lives. Bucket and key come from the engine, but a key with
    /// `..` or an absolute path must never escape the store.
    pub fn path(&self, location: &ArtifactLocation) -> Result<PathBuf, ArtifactError> {
        let relative = Path::new(&location.bucket).join(&location.key);
        let safe = relative.components().all(|c| matches!(c, Component::Normal(_)));
        if !safe || location.bucket.is_empty() || location.key.is_empty() {
            return Err(ArtifactError::BadLocation(format!("{}/{}", location.bucket, location.key)));
        }
        Ok(self.root.join(relative))
    }
}

fn io(error: io::Error) -> ArtifactError {
    ArtifactError::Unavailable(error.to_string())
}

/// Runs file work off the async runtime's threads.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, ArtifactError> + Send + 'static,
) -> Result<T, ArtifactError> {
    tokio::task::spawn_blocking(work).await.map_err(|e| ArtifactError::Unavailable(e.to_string()))?
}

impl ArtifactStore for ArtifactDir {
    async fn unpack(&self, location: &ArtifactLocation, directory: &Path) -> Result<(), ArtifactError> {
        let path = self.path(location)?;
        if !path.exists() {
            return Err(ArtifactError::Missing(format!("{}/{}", location.bucket, location.key)));
        }
        let directory = directory.to_path_buf();
        blocking(move || Ok(unzip(&path, &directory)?)).await
    }

    async fn pack(
        &self,
        location: &ArtifactLocation,
        directory: &Path,
        patterns: &[String],
        exclude: &[PathBuf],
    ) -> Result<usize, ArtifactError> {
        let target = self.path(location)?;
        let staging = staging_path(&target).map_err(io)?;
        let (directory, patterns, exclude) = (directory.to_path_buf(), patterns.to_vec(), exclude.to_vec());
        blocking(move || {
            let count = zip_directory(&directory, &patterns, &exclude, &staging)?;
            fs::rename(&staging, &target).map_err(io)?;
            Ok(count)
        })
        .await
    }

    async fn put_zip(&self, location: &ArtifactLocation, zip: &Path) -> Result<(), ArtifactError> {
        let target = self.path(location)?;
        let staging = staging_path(&target).map_err(io)?;
        fs::copy(zip, &staging).map_err(io)?;
        fs::rename(&staging, &target).map_err(io)
    }
}

/// Extracts the zip at `path` into `directory` (paths are confined to it).
pub fn unzip(path: &Path, directory: &Path) -> Result<(), ZipError> {
    fs::create_dir_all(directory)?;
    ZipArchive::new(File::open(path)?)?.extract(directory)?;
    Ok(())
}

/// Copies the zip at `source` to `target` without its one top directory (the archives of
/// GitHub, Bitbucket and GitLab put every file under `<repo>-<commit>/`); the number of
/// entries. Entries are copied as they are compressed, never inflated. An archive whose
/// entries do not share a top directory is copied whole.
pub fn without_top_directory(source: &Path, target: &Path) -> Result<usize, ZipError> {
    let mut archive = ZipArchive::new(File::open(source)?)?;
    let names: Vec<String> = archive.file_names().map(|n| n.map(|n| n.into_owned())).collect::<Result<_, _>>()?;
    let top = names.first().and_then(|n| n.split_once('/')).map(|(top, _)| format!("{top}/"));
    let shared = top.filter(|top| names.iter().all(|n| n.starts_with(top.as_str())));
    let mut writer = ZipWriter::new(File::create(target)?);
    let mut count = 0;
    for index in 0..archive.len() {
        let entry = archive.by_index_raw(index)?;
        let name = entry.name()?.into_owned();
        let renamed = match &shared {
            Some(top) => name[top.len()..].to_string(),
            None => name,
        };
        if renamed.is_empty() {
            continue;
        }
        writer.raw_copy_file_rename(entry, renamed)?;
        count += 1;
    }
    writer.finish()?;
    Ok(count)
}

/// A temporary file next to `target`, so that the final rename is atomic.
fn staging_path(target: &Path) -> io::Result<PathBuf> {
    let parent = target.parent().ok_or_else(|| io::Error::other(format!("{} has no directory", target.display())))?;
    fs::create_dir_all(parent)?;
    let name = target.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    Ok(parent.join(format!(".{name}.{}.partial", std::process::id())))
}

/// CodeBuild-style globs: `*` stays within a directory, `**` crosses them.
pub fn glob_set(patterns: &[String]) -> Result<GlobSet, ZipError> {
    let mut builder = GlobSetBuilder::new();
    for pattern in patterns {
        let trimmed = pattern.trim_start_matches("./");
        let glob = GlobBuilder::new(trimmed)
            .literal_separator(true)
            .build()
            .map_err(|e| ZipError::Pattern { pattern: pattern.clone(), message: e.to_string() })?;
        builder.add(glob);
    }
    builder.build().map_err(|e| ZipError::Pattern { pattern: patterns.join(", "), message: e.to_string() })
}

/// Writes a zip of the files under `dir` matching `patterns` (all when empty), skipping
/// `.git` and the `exclude`d paths, with paths relative to `dir` and unix modes kept.
pub fn zip_directory(dir: &Path, patterns: &[String], exclude: &[PathBuf], out: &Path) -> Result<usize, ZipError> {
    let filter = if patterns.is_empty() { None } else { Some(glob_set(patterns)?) };
    let excluded: Vec<PathBuf> = exclude.iter().filter_map(|p| p.canonicalize().ok()).collect();
    let mut writer = ZipWriter::new(File::create(out)?);
    let mut count = 0;
    let walker = WalkDir::new(dir).sort_by_file_name().into_iter().filter_entry(|entry| {
        if entry.file_name() == ".git" && entry.depth() > 0 {
            return false;
        }
        entry.path().canonicalize().map(|p| !excluded.contains(&p)).unwrap_or(true)
    });
    for entry in walker {
        let entry = entry?;
        if entry.file_type().is_dir() {
            continue;
        }
        let relative = entry.path().strip_prefix(dir).unwrap_or(entry.path());
        let name = relative.components().map(|c| c.as_os_str().to_string_lossy()).collect::<Vec<_>>().join("/");
        if filter.as_ref().is_some_and(|set| !set.is_match(&name)) {
            continue;
        }
        let metadata = fs::metadata(entry.path())?;
        if !metadata.is_file() {
            continue;
        }
        let options = SimpleFileOptions::default()
            .compression_method(CompressionMethod::Deflated)
            .unix_permissions(unix_mode(&metadata));
        writer.start_file(name, options)?;
        let mut content = Vec::new();
        File::open(entry.path())?.read_to_end(&mut content)?;
        writer.write_all(&content)?;
        count += 1;
    }
    writer.finish()?;
    Ok(count)
}

#[cfg(unix)]
fn unix_mode(metadata: &fs::Metadata) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    metadata.permissions().mode() & 0o777
}

#[cfg(not(unix))]
fn unix_mode(_: &fs::Metadata) -> u32 {
    0o644
}

#[cfg(test)]
mod tests {
    use super::*;

    fn location(key: &str) -> ArtifactLocation {
        ArtifactLocation { bucket: "bucket".into(), key: key.into() }
    }

    fn zip_of(path: &Path, entries: &[(&str, &str)]) {
        let mut writer = ZipWriter::new(File::create(path).unwrap());
        for (name, content) in entries {
            if name.ends_with('/') {
                writer.add_directory(*name, SimpleFileOptions::default()).unwrap();
            } else {
                writer.start_file(*name, SimpleFileOptions::default()).unwrap();
                writer.write_all(content.as_bytes()).unwrap();
            }
        }
        writer.finish().unwrap();
    }

    #[test]
    fn host_archives_lose_their_top_directory() {
        let work = tempfile::tempdir().unwrap();
        let source = work.path().join("in.zip");
        zip_of(&source, &[("octo-app-abc/", ""), ("octo-app-abc/a.txt", "A"), ("octo-app-abc/src/b.rs", "B")]);
        let target = work.path().join("out.zip");
        assert_eq!(without_top_directory(&source, &target).unwrap(), 2);
        unzip(&target, &work.path().join("x")).unwrap();
        assert_eq!(fs::read_to_string(work.path().join("x/a.txt")).unwrap(), "A");
        assert_eq!(fs::read_to_string(work.path().join("x/src/b.rs")).unwrap(), "B");
        // Without one shared top directory, the archive is copied as it is.
        zip_of(&source, &[("a.txt", "A"), ("dir/b.txt", "B")]);
        assert_eq!(without_top_directory(&source, &target).unwrap(), 2);
        unzip(&target, &work.path().join("y")).unwrap();
        assert!(work.path().join("y/dir/b.txt").exists());
    }

    #[tokio::test]
    async fn directories_round_trip_with_their_modes_and_without_git() {
        let work = tempfile::tempdir().unwrap();
        let src = work.path().join("src");
        fs::create_dir_all(src.join("dist/sub")).unwrap();
        fs::create_dir_all(src.join(".git")).unwrap();
        fs::write(src.join("dist/a.txt"), "a").unwrap();
        fs::write(src.join("dist/sub/b.txt"), "b").unwrap();
        fs::write(src.join("run.sh"), "#!/bin/sh\necho hi\n").unwrap();
        fs::write(src.join(".git/HEAD"), "ref").unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            fs::set_permissions(src.join("run.sh"), fs::Permissions::from_mode(0o755)).unwrap();
        }
        let store = ArtifactDir::new(work.path().join("artifacts"));
        let all = location("p/Src/abc1234");
        assert_eq!(store.pack(&all, &src, &[], &[]).await.unwrap(), 3);
        let out = work.path().join("out");
        store.unpack(&all, &out).await.unwrap();
        assert_eq!(fs::read_to_string(out.join("dist/sub/b.txt")).unwrap(), "b");
        assert!(!out.join(".git").exists());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(fs::metadata(out.join("run.sh")).unwrap().permissions().mode() & 0o777, 0o755);
        }
        let some = location("p/Dist/def5678");
        assert_eq!(store.pack(&some, &src, &["dist/*".to_string()], &[]).await.unwrap(), 1, "* stays in one directory");
        assert_eq!(store.pack(&some, &src, &["dist/**".to_string()], &[]).await.unwrap(), 2);
        assert_eq!(store.pack(&some, &src, &["./**/*.txt".to_string()], &[]).await.unwrap(), 2);
    }

    #[test]
    fn locations_cannot_escape_the_store() {
        let store = ArtifactDir::new("/tmp/store");
        assert!(store.path(&location("../../etc/passwd")).is_err());
        assert!(store.path(&ArtifactLocation { bucket: "/abs".into(), key: "k".into() }).is_err());
        assert!(store.path(&location("")).is_err());
        assert_eq!(store.path(&location("p/A/x")).unwrap(), Path::new("/tmp/store/bucket/p/A/x"));
    }

    #[tokio::test]
    async fn a_missing_artifact_is_reported() {
        let work = tempfile::tempdir().unwrap();
        let store = ArtifactDir::new(work.path());
        assert!(matches!(store.unpack(&location("p/A/x"), work.path()).await, Err(ArtifactError::Missing(_))));
    }
}
