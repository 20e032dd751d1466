//! The zip format of artifacts, and the artifact store of a directory: zip files at
//! `<bucket>/<key>` under it — the same layout as the S3 artifact store
//! (`<pipeline>/<artifact≤10>/<id>`).

use std::fs::{self, File};
use std::io::{self, Read, Seek, Write};
use std::path::{Component, Path, PathBuf};

use globset::{GlobBuilder, GlobSet, GlobSetBuilder};

use crate::hash_feed::HashFeed;
use crate::zip_io::ZipSink;
use walkdir::WalkDir;
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipArchive, ZipWriter};

use pipewright_core::engine::ArtifactLocation;
use pipewright_core::ports::{ArtifactError, ArtifactStore};
use pipewright_core::unpacked::{self, FileCheck, FileNow, Unpacked};

pub use crate::unzip::{unpacked, unzip};

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
    /// A zip that would unpack to more than it may: a zip bomb, or a link leaving it.
    #[error("{0}")]
    Refused(String),
}

impl From<ZipError> for ArtifactError {
    fn from(error: ZipError) -> Self {
        match error {
            ZipError::Pattern { pattern, message } => ArtifactError::Pattern { pattern, message },
            ZipError::Refused(message) => ArtifactError::Refused(message),
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

    /// The one zip of each content the store holds, `.content/<digest>.zip` (a bucket name
    /// never starts with a dot): every artifact of that content is a hard link to it, so a
    /// source passed on unchanged from action to action is stored once (docs/ARCHITECTURE.md,
    /// "The local artifact store").
    fn content_path(&self, digest: &str) -> PathBuf {
        self.root.join(".content").join(format!("{digest}.zip"))
    }

    /// [`ArtifactStore::pack`], saying the digest of what it stored too: a directory source's
    /// revision, read in the same pass as the zip.
    pub async fn pack_directory(
        &self,
        location: &ArtifactLocation,
        directory: &Path,
        patterns: &[String],
        exclude: &[PathBuf],
    ) -> Result<Zipped, ArtifactError> {
        let target = self.path(location)?;
        let (directory, patterns, exclude) = (directory.to_path_buf(), patterns.to_vec(), exclude.to_vec());
        let store = self.clone();
        blocking(move || {
            Ok(store.write_deduplicated(&target, |staging| {
                let entries = directory_entries(&directory, &patterns, &exclude)?;
                let zipped = zip_files_with(&entries, true, Compression::Stored, staging)?;
                let digest = zipped.digest.clone();
                Ok((zipped, digest))
            })?)
        })
        .await
    }

    /// Puts the zip written at `staging` (beside `target`) in place as `target`: a link to the
    /// zip of the same content when the store holds one, else the zip itself, which becomes
    /// that content's zip. Files in the store are never written in place (every write lands
    /// by rename), so artifacts may share one.
    fn land(&self, staging: &Path, target: &Path, digest: &str) -> Result<(), ZipError> {
        let known = self.content_path(digest);
        if let Some(parent) = known.parent() {
            crate::dirs::make_dir_if_missing(parent)?;
        }
        let size = fs::metadata(staging)?.len();
        // A stored zip of another size was damaged: the new one replaces it.
        if fs::metadata(&known).is_ok_and(|stored| stored.len() != size) {
            let _ = fs::remove_file(&known);
        }
        match fs::hard_link(staging, &known) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                let linked = staging.with_extension("link");
                let _ = fs::remove_file(&linked);
                if fs::hard_link(&known, &linked).is_ok() {
                    fs::rename(&linked, target)?;
                    // Onto a link of the same zip already (the same content stored again at
                    // the same location), rename does nothing and leaves `linked` there.
                    let _ = fs::remove_file(&linked);
                    let _ = fs::remove_file(staging);
                    return Ok(());
                }
            }
            // A file system without hard links stores each artifact whole.
            Err(_) => {}
        }
        fs::rename(staging, target)?;
        Ok(())
    }

    /// Puts the stored zip at `stored` in place as `target` too, by a link landed by rename.
    fn link_stored(&self, stored: &Path, target: &Path) -> Result<(), ZipError> {
        let linked = staging_path(target)?.with_extension("link");
        let _ = fs::remove_file(&linked);
        fs::hard_link(stored, &linked)?;
        let renamed = fs::rename(&linked, target);
        // Onto a link of the same zip already, rename does nothing and leaves `linked` there.
        let _ = fs::remove_file(&linked);
        Ok(renamed?)
    }

    /// Writes the zip of `target` through `write` (which says the digest of its content) to a
    /// staging file, then lands it: see [`ArtifactDir::land`]. A failure leaves nothing.
    fn write_deduplicated<T>(
        &self,
        target: &Path,
        write: impl FnOnce(&Path) -> Result<(T, String), ZipError>,
    ) -> Result<T, ZipError> {
        let staging = staging_path(target)?;
        let written = write(&staging).and_then(|(value, digest)| {
            self.land(&staging, target, &digest)?;
            Ok(value)
        });
        if written.is_err() {
            let _ = fs::remove_file(&staging);
        }
        written
    }
}

/// A zip that cannot be read whole (a checksum that does not match, a truncated or mangled
/// archive) was damaged where it is stored: a permanent error naming the artifact.
fn damaged(location: &ArtifactLocation, error: ZipError) -> ArtifactError {
    let broken = match &error {
        ZipError::Zip(zip::result::ZipError::Io(e)) | ZipError::Io(e) => {
            matches!(e.kind(), io::ErrorKind::InvalidData | io::ErrorKind::UnexpectedEof)
        }
        ZipError::Zip(zip::result::ZipError::InvalidArchive(_)) => true,
        _ => false,
    };
    if broken {
        ArtifactError::Refused(format!(
            "the stored artifact {}/{} is damaged and cannot be unpacked ({error}); run the execution again to \
             produce it anew",
            location.bucket, location.key
        ))
    } else {
        error.into()
    }
}

/// Runs file work off the async runtime's threads.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, ArtifactError> + Send + 'static,
) -> Result<T, ArtifactError> {
    tokio::task::spawn_blocking(work).await.map_err(|e| ArtifactError::Unavailable(e.to_string()))?
}

impl ArtifactStore for ArtifactDir {
    async fn unpack(&self, location: &ArtifactLocation, directory: &Path) -> Result<Unpacked, ArtifactError> {
        let path = self.path(location)?;
        if !path.exists() {
            return Err(ArtifactError::Missing(format!("{}/{}", location.bucket, location.key)));
        }
        let (directory, at) = (directory.to_path_buf(), location.clone());
        blocking(move || {
            let files = unzip(&path, &directory).map_err(|e| damaged(&at, e))?;
            Ok(unpacked(at, directory, files))
        })
        .await
    }

    async fn pack(
        &self,
        location: &ArtifactLocation,
        directory: &Path,
        patterns: &[String],
        exclude: &[PathBuf],
    ) -> Result<usize, ArtifactError> {
        Ok(self.pack_directory(location, directory, patterns, exclude).await?.count)
    }

    async fn pack_files(
        &self,
        location: &ArtifactLocation,
        entries: &[(PathBuf, String)],
        symlinks: bool,
        inputs: &[Unpacked],
    ) -> Result<(), ArtifactError> {
        let target = self.path(location)?;
        let (entries, store, inputs) = (entries.to_vec(), self.clone(), inputs.to_vec());
        blocking(move || {
            // An input passed on unchanged is stored already: the output is a link to it.
            if let Some(input) = unchanged_input(&inputs, &entries)
                && let Ok(stored) = store.path(&input.location)
                && store.link_stored(&stored, &target).is_ok()
            {
                return Ok(());
            }
            Ok(store.write_deduplicated(&target, |staging| {
                let written = zip_files_with(&entries, symlinks, Compression::Stored, staging)?;
                Ok(((), written.digest))
            })?)
        })
        .await
    }

    async fn put_zip(&self, location: &ArtifactLocation, zip: &Path) -> Result<(), ArtifactError> {
        let target = self.path(location)?;
        let zip = zip.to_path_buf();
        blocking(move || Ok(write_atomically(&target, |staging| Ok(fs::copy(&zip, staging).map(drop)?))?)).await
    }
}

/// The most an artifact may unpack to, whatever its size zipped.
pub const MAX_UNPACKED_BYTES: u64 = 8 << 30;
/// How many times its zipped size an artifact may unpack to, above [`EXPANSION_FLOOR`]: source
/// code and builds compress 3–10 times, a zip bomb a thousand times and more.
pub const MAX_EXPANSION: u64 = 200;
/// Below this, any expansion is accepted (a small zip of zeros or logs is no threat).
pub const EXPANSION_FLOOR: u64 = 256 << 20;

/// How much a zip of `zipped` bytes may unpack to.
pub fn unpack_limit(zipped: u64) -> u64 {
    zipped.saturating_mul(MAX_EXPANSION).clamp(EXPANSION_FLOOR, MAX_UNPACKED_BYTES)
}

/// The input that `entries` are, unchanged since it was unpacked: same names, and every file
/// of the same size and mode, its status unchanged since ([`unpacked::check_file`]). The bytes
/// of a file stamped in the unpack's last tick are read for their CRC-32; reading a file back
/// costs far less than writing it again as a zip, and most are not read at all.
pub fn unchanged_input<'a>(inputs: &'a [Unpacked], entries: &[(PathBuf, String)]) -> Option<&'a Unpacked> {
    let (input, pairs) = unpacked::candidate(inputs, entries)?;
    let mut buffer = Vec::new();
    for (file, path) in pairs {
        let metadata = fs::symlink_metadata(path).ok()?;
        let now = FileNow {
            regular: metadata.file_type().is_file(),
            size: metadata.len(),
            mode: unix_mode(&metadata),
            changed_ns: changed_ns(&metadata),
        };
        match unpacked::check_file(file, input.ended_ns, now) {
            FileCheck::Unchanged => {}
            FileCheck::Changed => return None,
            FileCheck::ReadBytes => {
                buffer.resize(buffer.len().max(copy_buffer_for(file.size)), 0);
                if crc32_of(path, &mut buffer).ok()? != file.crc32 {
                    return None;
                }
            }
        }
    }
    Some(input)
}

/// When the file's status last changed (a write, a `chmod`, a rename onto it): a time the
/// file system stamps, which no call can set.
#[cfg(unix)]
pub(crate) fn changed_ns(metadata: &fs::Metadata) -> i128 {
    use std::os::unix::fs::MetadataExt;
    i128::from(metadata.ctime()) * 1_000_000_000 + i128::from(metadata.ctime_nsec())
}

/// Without a status change time (a modification time can be set to anything), no file is
/// known unchanged: always later than any unpack.
#[cfg(not(unix))]
pub(crate) fn changed_ns(_: &fs::Metadata) -> i128 {
    i128::MAX
}

fn crc32_of(path: &Path, buffer: &mut [u8]) -> io::Result<u32> {
    let mut file = File::open(path)?;
    let mut hasher = crc32fast::Hasher::new();
    loop {
        match file.read(buffer)? {
            0 => return Ok(hasher.finalize()),
            read => hasher.update(&buffer[..read]),
        }
    }
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
    crate::dirs::make_dir_if_missing(parent)?;
    let name = target.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    Ok(parent.join(format!(".{name}.{}.partial", std::process::id())))
}

/// Writes `target` through `write` to a staging file beside it, renamed into place only when
/// the whole was written: a reader never sees half a zip, and a failure (a full disk) leaves
/// no staging file behind.
pub fn write_atomically<T>(target: &Path, write: impl FnOnce(&Path) -> Result<T, ZipError>) -> Result<T, ZipError> {
    let staging = staging_path(target)?;
    let written = write(&staging).and_then(|value| {
        fs::rename(&staging, target)?;
        Ok(value)
    });
    if written.is_err() {
        let _ = fs::remove_file(&staging);
    }
    written
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

/// What a zip holds: how many entries, and the digest of its content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Zipped {
    pub count: usize,
    /// A BLAKE3 hash over each entry in order: its name, kind, mode, and the BLAKE3 hash of
    /// its bytes (a file) or its target (a link). Pipewright writes the same zip, byte for
    /// byte, for the same content (entries in order, fixed timestamps, compression chosen from
    /// the bytes), so the digest names the zip.
    pub digest: String,
}

/// The digest of [`Zipped`], fed entry by entry as the zip is written.
pub struct ContentDigest(blake3::Hasher);

impl ContentDigest {
    pub fn new() -> ContentDigest {
        ContentDigest(blake3::Hasher::new())
    }

    fn entry(&mut self, name: &str, kind: u8, mode: u32) {
        self.0.update(name.as_bytes());
        self.0.update(&[0, kind]);
        self.0.update(&mode.to_le_bytes());
    }

    /// A file, with the BLAKE3 hash of its bytes.
    pub fn file(&mut self, name: &str, mode: u32, hash: &[u8]) {
        self.entry(name, b'f', mode);
        self.0.update(hash);
    }

    /// A symbolic link and its target.
    pub fn link(&mut self, name: &str, target: &str) {
        self.entry(name, b'l', 0);
        self.0.update(target.as_bytes());
        self.0.update(&[0]);
    }

    pub fn finish(self) -> String {
        self.0.finalize().to_hex().to_string()
    }
}

impl Default for ContentDigest {
    fn default() -> Self {
        ContentDigest::new()
    }
}

/// How a zip holds the content of its files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// Deflated at the fastest level, unless the file's type or a sample of its first bytes
    /// says it does not compress: for a store across a network (S3), where bytes cost time.
    Sampled,
    /// Stored as they are: on a local disk, a copy costs less than deflating and inflating
    /// (docs/ARCHITECTURE.md, "The local artifact store").
    Stored,
}

/// Writes a zip of the files under `dir` matching `patterns` (all when empty), skipping
/// `.git` and the `exclude`d paths, with paths relative to `dir` and unix modes kept.
pub fn zip_directory(dir: &Path, patterns: &[String], exclude: &[PathBuf], out: &Path) -> Result<Zipped, ZipError> {
    zip_files_with(&directory_entries(dir, patterns, exclude)?, true, Compression::Sampled, out)
}

/// [`zip_directory`] into any writer: what it holds, and the writer back.
pub fn zip_into<W: Write + Seek>(
    dir: &Path,
    patterns: &[String],
    exclude: &[PathBuf],
    out: W,
) -> Result<(Zipped, W), ZipError> {
    zip_files_into(&directory_entries(dir, patterns, exclude)?, true, Compression::Sampled, out)
}

/// The files and links under `dir` matching `patterns` (all when empty), without `.git` and
/// the `exclude`d paths, in name order: (path, name in the zip). A link is zipped as a link,
/// as git and CodeBuild keep it: following it would put whatever it points at (outside the
/// directory, perhaps) into the artifact.
pub fn directory_entries(
    dir: &Path,
    patterns: &[String],
    exclude: &[PathBuf],
) -> Result<Vec<(PathBuf, String)>, ZipError> {
    let filter = if patterns.is_empty() { None } else { Some(glob_set(patterns)?) };
    let excluded = Excluded::of(exclude);
    let mut entries = Vec::new();
    let walker = WalkDir::new(dir).sort_by_file_name().into_iter().filter_entry(|entry| {
        if entry.file_name() == ".git" && entry.depth() > 0 {
            return false;
        }
        !excluded.holds(entry)
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
        entries.push((entry.into_path(), name));
    }
    Ok(entries)
}

/// The paths a directory walk leaves out, known by what they are on disk (device and inode)
/// rather than by their resolved path: an entry is looked at only when it could be one of
/// them, a directory unless a file is excluded, with one `lstat`. Resolving every entry's
/// path cost a `readlink` per component of each, tens of thousands of calls for a source tree
/// of a few thousand files (docs/benchmarks.md, "stop 42"). A link is never excluded: it is
/// zipped as a link, whatever it points at.
struct Excluded {
    ids: Vec<FileId>,
    files: bool,
}

impl Excluded {
    fn of(exclude: &[PathBuf]) -> Excluded {
        let found: Vec<(&PathBuf, fs::Metadata)> =
            exclude.iter().filter_map(|path| Some((path, fs::metadata(path).ok()?))).collect();
        Excluded {
            files: found.iter().any(|(_, metadata)| !metadata.is_dir()),
            ids: found.iter().filter_map(|(path, metadata)| identity(path, metadata)).collect(),
        }
    }

    fn holds(&self, entry: &walkdir::DirEntry) -> bool {
        let kind = entry.file_type();
        if self.ids.is_empty() || kind.is_symlink() || (!kind.is_dir() && !self.files) {
            return false;
        }
        let id = entry.metadata().ok().and_then(|metadata| identity(entry.path(), &metadata));
        id.is_some_and(|id| self.ids.contains(&id))
    }
}

#[cfg(unix)]
type FileId = (u64, u64);

#[cfg(unix)]
fn identity(_: &Path, metadata: &fs::Metadata) -> Option<FileId> {
    use std::os::unix::fs::MetadataExt;
    Some((metadata.dev(), metadata.ino()))
}

/// Elsewhere there is no inode: the resolved path stands for the file.
#[cfg(not(unix))]
type FileId = PathBuf;

#[cfg(not(unix))]
fn identity(path: &Path, _: &fs::Metadata) -> Option<FileId> {
    path.canonicalize().ok()
}

/// Writes a zip of `entries` (a file's path, its name in the zip) at `out`, modes kept;
/// links stay links with `symlinks`, else what they point at is zipped.
pub fn zip_files(entries: &[(PathBuf, String)], symlinks: bool, out: &Path) -> Result<Zipped, ZipError> {
    zip_files_with(entries, symlinks, Compression::Sampled, out)
}

/// [`zip_files`] with the compression given.
pub fn zip_files_with(
    entries: &[(PathBuf, String)],
    symlinks: bool,
    compression: Compression,
    out: &Path,
) -> Result<Zipped, ZipError> {
    let file = ZipSink::new(COPY_BUFFER, File::create(out)?)?;
    let (zipped, file) = zip_files_into(entries, symlinks, compression, file)?;
    // Written out here, so that a write that fails at the end (a full disk) fails the zip.
    file.into_inner()?;
    Ok(zipped)
}

/// [`zip_files`] into any writer. What is neither a file nor a kept link is left out.
pub fn zip_files_into<W: Write + Seek>(
    entries: &[(PathBuf, String)],
    symlinks: bool,
    compression: Compression,
    out: W,
) -> Result<(Zipped, W), ZipError> {
    let mut writer = ZipWriter::new(out);
    // The digest takes every file's hash in entry order; they come from the hashing
    // thread once every file went through it.
    let mut hashed: Vec<(&str, ZippedEntry)> = Vec::new();
    let sums = std::thread::scope(|scope| -> Result<Vec<[u8; 32]>, ZipError> {
        let mut hashes = HashFeed::start(scope);
        for (path, name) in entries {
            if symlinks && fs::symlink_metadata(path)?.file_type().is_symlink() {
                let target = fs::read_link(path)?.to_string_lossy().into_owned();
                writer.add_symlink(name.as_str(), target.as_str(), SimpleFileOptions::default())?;
                hashed.push((name.as_str(), ZippedEntry::Link(target)));
                continue;
            }
            let metadata = fs::metadata(path)?;
            if !metadata.is_file() {
                continue;
            }
            let file = add_file(&mut writer, name, path, &metadata, compression, &mut hashes)?;
            hashed.push((name.as_str(), ZippedEntry::File { mode: unix_mode(&metadata), fed: file }));
        }
        Ok(hashes.finish()?)
    })?;
    let mut digest = ContentDigest::new();
    for (name, entry) in &hashed {
        match entry {
            ZippedEntry::File { mode, fed } => digest.file(name, *mode, &sums[*fed]),
            ZippedEntry::Link(target) => digest.link(name, target),
        }
    }
    Ok((Zipped { count: hashed.len(), digest: digest.finish() }, writer.finish()?))
}

/// An entry of a zip being written, for its digest: a file (its mode, and its number in the
/// hash feed), or a link and its target.
enum ZippedEntry {
    File { mode: u32, fed: usize },
    Link(String),
}

/// The buffer file content is copied through: the memory a zip or an unzip takes, whatever
/// the size of the files.
pub(crate) const COPY_BUFFER: usize = 256 << 10;
/// The least buffer [`copy_buffer_for`] gives: one read of a small file, or a few pages.
const SMALL_BUFFER: usize = 8 << 10;

/// The buffer to copy `bytes` of content through: no larger than the content, within
/// [`SMALL_BUFFER`] and [`COPY_BUFFER`]. Most artifacts of a run are a few small files, and a
/// full buffer for each costs more to allocate and fault in than to copy what they hold
/// (docs/benchmarks.md, "stop 37").
pub(crate) fn copy_buffer_for(bytes: u64) -> usize {
    usize::try_from(bytes).unwrap_or(COPY_BUFFER).clamp(SMALL_BUFFER, COPY_BUFFER)
}
/// How much of a file is deflated to tell whether it compresses.
const SAMPLE_BYTES: usize = 64 << 10;
/// Files whose type says they are compressed already: stored as they are, never deflated.
const COMPRESSED_EXTENSIONS: &[&str] = &[
    "7z", "apk", "br", "bz2", "ear", "gif", "gz", "jar", "jpeg", "jpg", "lz4", "mp3", "mp4", "nupkg", "png", "tgz",
    "war", "webm", "webp", "whl", "woff", "woff2", "xz", "zip", "zst",
];

/// Adds the file at `path` to `writer` as `name`, streamed through a bounded buffer, its bytes
/// fed to `hashes`; says which file of the feed it was. With [`Compression::Sampled`],
/// deflated at the fastest level when it compresses, stored when its type or a sample of its
/// first bytes says it does not (deflating such data costs time and saves nothing).
fn add_file<W: Write + Seek>(
    writer: &mut ZipWriter<W>,
    name: &str,
    path: &Path,
    metadata: &fs::Metadata,
    compression: Compression,
    hashes: &mut HashFeed<'_, '_>,
) -> Result<usize, ZipError> {
    let mut file = File::open(path)?;
    hashes.begin_file(metadata.len());
    let (sample, sampled) = hashes.read_spare(&mut file, SAMPLE_BYTES)?;
    let method = if compression == Compression::Stored || has_compressed_type(name) || !compresses(&sample[..sampled]) {
        CompressionMethod::Stored
    } else {
        CompressionMethod::Deflated
    };
    let options = SimpleFileOptions::default()
        .compression_method(method)
        .compression_level((method == CompressionMethod::Deflated).then_some(1))
        .large_file(metadata.len() >= u64::from(u32::MAX))
        .unix_permissions(unix_mode(metadata));
    writer.start_file(name, options)?;
    writer.write_all(&sample[..sampled])?;
    hashes.feed(sample, sampled)?;
    Ok(hashes.copy_file(file, writer)?)
}

fn has_compressed_type(name: &str) -> bool {
    let extension = name.rsplit_once('.').map(|(_, extension)| extension.to_ascii_lowercase());
    extension.is_some_and(|extension| COMPRESSED_EXTENSIONS.contains(&extension.as_str()))
}

/// Whether deflating `sample` saves at least a tenth of it. Small samples always compress:
/// testing costs as much as deflating them.
fn compresses(sample: &[u8]) -> bool {
    if sample.len() < 4 << 10 {
        return true;
    }
    let mut encoder = flate2::write::DeflateEncoder::new(Vec::with_capacity(sample.len()), flate2::Compression::fast());
    match encoder.write_all(sample).and_then(|()| encoder.finish()) {
        Ok(deflated) => deflated.len() * 10 < sample.len() * 9,
        Err(_) => true,
    }
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
    use crate::hash_feed::HASH_THREAD_BYTES;
    use crate::unzip::unzip_within;

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

    #[test]
    fn a_zip_bomb_stops_at_its_limit() {
        // A megabyte zipped may unpack to the floor, not to the gigabyte a bomb holds.
        assert_eq!(unpack_limit(1 << 20), EXPANSION_FLOOR);
        assert!(unpack_limit(1 << 20) < 1 << 30);
        assert_eq!(unpack_limit(10 << 20), 2000 << 20, "200 times above the floor");
        assert_eq!(unpack_limit(1 << 40), MAX_UNPACKED_BYTES);

        let work = tempfile::tempdir().unwrap();
        let src = work.path().join("src");
        fs::create_dir_all(&src).unwrap();
        fs::write(src.join("zeros"), vec![0u8; 4 << 20]).unwrap();
        let bomb = work.path().join("bomb.zip");
        zip_directory(&src, &[], &[], &bomb).unwrap();
        assert!(fs::metadata(&bomb).unwrap().len() < 64 << 10, "4 MiB of zeros zip small");
        let out = work.path().join("out");
        let refused = unzip_within(&bomb, &out, 1 << 20).unwrap_err();
        assert!(matches!(refused, ZipError::Refused(_)), "{refused}");
        assert!(refused.to_string().contains("would unpack to 4194304 bytes"), "{refused}");
        assert!(!out.join("zeros").exists(), "nothing was written");
        assert!(matches!(ArtifactError::from(refused), ArtifactError::Refused(_)), "permanent, not retried");
        unzip_within(&bomb, &out, 4 << 20).unwrap();
        assert_eq!(fs::metadata(out.join("zeros")).unwrap().len(), 4 << 20);
    }

    #[cfg(unix)]
    #[test]
    fn links_stay_links_and_never_bring_in_what_they_point_at() {
        let work = tempfile::tempdir().unwrap();
        let outside = work.path().join("secret");
        fs::write(&outside, "outside the source").unwrap();
        let src = work.path().join("src");
        fs::create_dir_all(&src).unwrap();
        fs::write(src.join("file.txt"), "inside").unwrap();
        std::os::unix::fs::symlink("file.txt", src.join("inner")).unwrap();
        std::os::unix::fs::symlink(&outside, src.join("escape")).unwrap();
        let zipped = work.path().join("src.zip");
        assert_eq!(zip_directory(&src, &[], &[], &zipped).unwrap().count, 3);
        let mut archive = ZipArchive::new(File::open(&zipped).unwrap()).unwrap();
        let mut escape = archive.by_name("escape").unwrap();
        let mut stored = String::new();
        escape.read_to_string(&mut stored).unwrap();
        assert_eq!(stored, outside.display().to_string(), "the link's target is stored, not the file's content");
        drop(escape);

        // Extraction makes a link only when it stays inside.
        let refused = unzip(&zipped, &work.path().join("out")).unwrap_err();
        assert!(refused.to_string().contains("points outside"), "{refused}");
        let inner_only = work.path().join("inner.zip");
        zip_directory(&src, &["file.txt".to_string(), "inner".to_string()], &[], &inner_only).unwrap();
        let out = work.path().join("out2");
        unzip(&inner_only, &out).unwrap();
        assert!(fs::symlink_metadata(out.join("inner")).unwrap().file_type().is_symlink());
        assert_eq!(fs::read_to_string(out.join("inner")).unwrap(), "inside");
    }

    /// The state directory inside a directory source is left out however its path is spelled,
    /// a file given is left out too, and a link to what is left out stays a link.
    #[cfg(unix)]
    #[test]
    fn excluded_paths_are_left_out_by_what_they_are_not_how_they_are_named() {
        let work = tempfile::tempdir().unwrap();
        let src = work.path().join("src");
        fs::create_dir_all(src.join(".pipewright/work")).unwrap();
        fs::write(src.join(".pipewright/state.db"), "state").unwrap();
        fs::create_dir_all(src.join("app")).unwrap();
        fs::write(src.join("app/main.rs"), "fn main() {}").unwrap();
        fs::write(src.join("app/secret.env"), "KEY=1").unwrap();
        std::os::unix::fs::symlink(".pipewright", src.join("state-link")).unwrap();
        let names = |exclude: &[PathBuf]| -> Vec<String> {
            directory_entries(&src, &[], exclude).unwrap().into_iter().map(|(_, name)| name).collect()
        };
        assert_eq!(names(&[]), [".pipewright/state.db", "app/main.rs", "app/secret.env", "state-link"]);
        // Through `..` and through a link to the source: the same directory.
        std::os::unix::fs::symlink(&src, work.path().join("alias")).unwrap();
        for spelled in [src.join("app/../.pipewright"), work.path().join("alias/.pipewright")] {
            assert_eq!(
                names(std::slice::from_ref(&spelled)),
                ["app/main.rs", "app/secret.env", "state-link"],
                "{spelled:?}"
            );
        }
        assert_eq!(names(&[src.join(".pipewright"), src.join("app/secret.env")]), ["app/main.rs", "state-link"]);
        assert_eq!(names(&[work.path().join("missing")]).len(), 4, "a path that is not there leaves out nothing");
    }

    /// Bytes that do not compress (a xorshift sequence).
    fn noise(len: usize) -> Vec<u8> {
        let mut state: u64 = 0x2545_f491_4f6c_dd1d;
        (0..len)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state as u8
            })
            .collect()
    }

    #[test]
    fn data_that_does_not_compress_is_stored() {
        let work = tempfile::tempdir().unwrap();
        let src = work.path().join("src");
        fs::create_dir_all(&src).unwrap();
        fs::write(src.join("noise.bin"), noise(300 << 10)).unwrap();
        fs::write(src.join("text.txt"), "a line of text that repeats\n".repeat(10_000)).unwrap();
        fs::write(src.join("bundle.tgz"), "compressible, but its type says it is not".repeat(100)).unwrap();
        fs::write(src.join("small.txt"), "tiny").unwrap();
        let zipped = work.path().join("out.zip");
        assert_eq!(zip_directory(&src, &[], &[], &zipped).unwrap().count, 4);
        let mut archive = ZipArchive::new(File::open(&zipped).unwrap()).unwrap();
        let method = |archive: &mut ZipArchive<File>, name: &str| archive.by_name(name).unwrap().compression();
        assert_eq!(method(&mut archive, "noise.bin"), CompressionMethod::Stored, "sampled: does not compress");
        assert_eq!(method(&mut archive, "bundle.tgz"), CompressionMethod::Stored, "by its type");
        assert_eq!(method(&mut archive, "text.txt"), CompressionMethod::Deflated);
        assert_eq!(method(&mut archive, "small.txt"), CompressionMethod::Deflated);
        let out = work.path().join("out");
        unzip(&zipped, &out).unwrap();
        assert_eq!(fs::read(out.join("noise.bin")).unwrap(), noise(300 << 10), "streamed whole, sample included");
        assert_eq!(fs::read_to_string(out.join("text.txt")).unwrap().len(), 28 * 10_000);
    }

    /// A disk that fills up after `room` bytes.
    struct FillingDisk {
        file: File,
        room: usize,
    }

    impl Write for FillingDisk {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            if buf.len() > self.room {
                return Err(io::Error::new(io::ErrorKind::StorageFull, "No space left on device"));
            }
            self.room -= buf.len();
            self.file.write(buf)
        }
        fn flush(&mut self) -> io::Result<()> {
            self.file.flush()
        }
    }

    impl Seek for FillingDisk {
        fn seek(&mut self, position: io::SeekFrom) -> io::Result<u64> {
            self.file.seek(position)
        }
    }

    #[test]
    fn a_full_disk_fails_the_zip_and_leaves_no_partial_file() {
        let work = tempfile::tempdir().unwrap();
        let src = work.path().join("src");
        fs::create_dir_all(&src).unwrap();
        fs::write(src.join("noise.bin"), noise(1 << 20)).unwrap();
        let store = work.path().join("store");
        let target = store.join("Src.zip");
        let failed = write_atomically(&target, |staging| {
            let disk = FillingDisk { file: File::create(staging)?, room: 100 << 10 };
            zip_into(&src, &[], &[], disk).map(|(zipped, _)| zipped.count)
        })
        .unwrap_err();
        assert!(failed.to_string().contains("No space left on device"), "{failed}");
        assert!(matches!(ArtifactError::from(failed), ArtifactError::Unavailable(_)));
        let left: Vec<_> = fs::read_dir(&store).unwrap().collect();
        assert!(left.is_empty(), "neither the zip nor its staging file stays: {left:?}");
        // With room enough, the same write lands whole.
        let count = write_atomically(&target, |staging| {
            let disk = FillingDisk { file: File::create(staging)?, room: 2 << 20 };
            zip_into(&src, &[], &[], disk).map(|(zipped, _)| zipped.count)
        })
        .unwrap();
        assert_eq!(count, 1);
        assert_eq!(fs::read_dir(&store).unwrap().count(), 1);
        unzip(&target, &work.path().join("out")).unwrap();
    }

    /// The artifact directory of a disk that fills up after `room` bytes: zips are written
    /// through a [`FillingDisk`] to a staging file, as [`ArtifactDir`] writes them.
    struct FullDisk {
        dir: ArtifactDir,
        room: usize,
    }

    impl ArtifactStore for FullDisk {
        async fn unpack(&self, location: &ArtifactLocation, directory: &Path) -> Result<Unpacked, ArtifactError> {
            self.dir.unpack(location, directory).await
        }

        async fn pack(
            &self,
            location: &ArtifactLocation,
            directory: &Path,
            patterns: &[String],
            exclude: &[PathBuf],
        ) -> Result<usize, ArtifactError> {
            let target = self.dir.path(location)?;
            Ok(write_atomically(&target, |staging| {
                let disk = FillingDisk { file: File::create(staging)?, room: self.room };
                zip_into(directory, patterns, exclude, disk).map(|(zipped, _)| zipped.count)
            })?)
        }

        async fn pack_files(
            &self,
            location: &ArtifactLocation,
            entries: &[(PathBuf, String)],
            symlinks: bool,
            _inputs: &[Unpacked],
        ) -> Result<(), ArtifactError> {
            let target = self.dir.path(location)?;
            Ok(write_atomically(&target, |staging| {
                let disk = FillingDisk { file: File::create(staging)?, room: self.room };
                zip_files_into(entries, symlinks, Compression::Stored, disk).map(drop)
            })?)
        }

        async fn put_zip(&self, location: &ArtifactLocation, zip: &Path) -> Result<(), ArtifactError> {
            let target = self.dir.path(location)?;
            Ok(write_atomically(&target, |staging| {
                let mut disk = FillingDisk { file: File::create(staging)?, room: self.room };
                io::copy(&mut File::open(zip)?, &mut disk)?;
                Ok(())
            })?)
        }
    }

    struct Quiet;

    impl crate::ActionOutput for Quiet {
        fn line(&self, _: &str, _: &str, _: &str) {}
    }

    /// Runs a Commands action `Build.Make` of one `command` through `commands::run_with_details`
    /// on `store`, with `inputs` and one output `Out` at `output`, in `scratch`.
    async fn run_commands_action<A: ArtifactStore>(
        store: &A,
        scratch: PathBuf,
        command: &str,
        inputs: serde_json::Value,
        output: &ArtifactLocation,
    ) -> crate::Outcome {
        let dispatch: pipewright_core::engine::Dispatch = serde_json::from_value(serde_json::json!({
            "id": "d1", "pipeline": "p", "pipelineVersion": 1, "executionId": "e1", "stage": "Build",
            "action": "Make", "attempt": 1, "actionExecutionId": "a1", "jobId": "j1", "jobSequence": 1,
            "actionTypeId": {"category": "Compute", "owner": "AWS", "provider": "Commands", "version": "1"},
            "actionType": {"category": "Compute", "owner": "AWS", "provider": "Commands", "version": "1"},
            "region": null, "roleArn": null, "namespace": null, "configuration": {},
            "commands": [command], "environmentVariables": [], "outputVariables": [], "inputArtifacts": inputs,
            "outputArtifacts": [{"name": "Out", "location": output, "files": ["**/*"]}],
            "encryptionKey": null, "continuationToken": null, "sourceRevision": null, "deadline": 0
        }))
        .unwrap();
        let session = crate::commands::Session {
            artifacts: store,
            output: std::sync::Arc::new(Quiet),
            scratch,
            log: None,
            base: crate::commands::BaseEnvironment::Caller,
            workspace: None,
        };
        let (_cancel, cancelled) = tokio::sync::watch::channel(false);
        crate::commands::run_with_details(&dispatch, session, cancelled).await.0
    }

    #[tokio::test]
    async fn a_full_disk_while_a_commands_action_zips_its_output_fails_the_action_and_leaves_no_file() {
        let work = tempfile::tempdir().unwrap();
        let store = FullDisk { dir: ArtifactDir::new(work.path().join("store")), room: 100 << 10 };
        let command = "head -c 1048576 /dev/urandom > big.bin";
        let outcome = run_commands_action(
            &store,
            work.path().join("scratch"),
            command,
            serde_json::json!([]),
            &location("p/Out/x1"),
        )
        .await;
        let crate::Outcome::Failed(error) = outcome else { panic!("the action must fail: {outcome:?}") };
        assert!(error.message.contains("No space left on device"), "{}", error.message);
        assert!(error.message.contains("Out"), "the message names the artifact: {}", error.message);
        let left: Vec<_> = walkdir::WalkDir::new(work.path().join("store"))
            .into_iter()
            .map(|e| e.unwrap())
            .filter(|e| e.file_type().is_file())
            .map(|e| e.path().display().to_string())
            .collect();
        assert!(left.is_empty(), "neither the zip nor its staging file stays: {left:?}");
        let zipped = walkdir::WalkDir::new(work.path().join("scratch"))
            .into_iter()
            .filter_map(Result::ok)
            .any(|e| e.file_name().to_string_lossy().ends_with(".zip"));
        assert!(!zipped, "the zip written in the workspace does not stay either");
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn a_commands_action_passing_its_input_on_stores_the_input_itself() {
        let work = tempfile::tempdir().unwrap();
        let store = ArtifactDir::new(work.path().join("store"));
        let input = location("p/Src/in");
        let stored = foreign_input(work.path(), &store, &input).await;
        for (n, command) in ["true", "printf x >> d/text.txt"].into_iter().enumerate() {
            let output = location(&format!("p/Out/o{n}"));
            let inputs = serde_json::json!([{"name": "Src", "location": input}]);
            let outcome =
                run_commands_action(&store, work.path().join(format!("scratch{n}")), command, inputs, &output).await;
            assert!(matches!(outcome, crate::Outcome::Succeeded { .. }), "{command}: {outcome:?}");
            let kept = inode(&store.path(&output).unwrap()) == inode(&stored);
            assert_eq!(kept, command == "true", "{command}");
        }
    }

    /// The files under `dir`, as the entries of an output artifact.
    fn entries_of(dir: &Path) -> Vec<(PathBuf, String)> {
        crate::buildspec::select::walk(dir, true).unwrap().into_iter().map(|name| (dir.join(&name), name)).collect()
    }

    #[cfg(unix)]
    fn inode(path: &Path) -> u64 {
        std::os::unix::fs::MetadataExt::ino(&fs::metadata(path).unwrap())
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn an_output_passed_on_unchanged_is_stored_once() {
        let work = tempfile::tempdir().unwrap();
        let src = work.path().join("src");
        fs::create_dir_all(src.join("text")).unwrap();
        fs::write(src.join("large.bin"), noise(300 << 10)).unwrap();
        fs::write(src.join("text/lines.txt"), "a line\n".repeat(5_000)).unwrap();
        let store = ArtifactDir::new(work.path().join("artifacts"));
        let (source, first, second) = (location("p/Src/a1"), location("p/One/b2"), location("p/Two/c3"));
        assert_eq!(store.pack(&source, &src, &[], &[]).await.unwrap(), 2);
        let workspace = work.path().join("workspace");
        store.unpack(&source, &workspace).await.unwrap();
        store.pack_files(&first, &entries_of(&workspace), true, &[]).await.unwrap();
        store.pack_files(&second, &entries_of(&workspace), false, &[]).await.unwrap();
        let paths = [&source, &first, &second].map(|l| store.path(l).unwrap());
        assert_eq!(inode(&paths[0]), inode(&paths[1]), "the same content is one stored zip");
        assert_eq!(inode(&paths[0]), inode(&paths[2]));
        let mut archive = ZipArchive::new(File::open(&paths[0]).unwrap()).unwrap();
        let text = archive.by_name("text/lines.txt").unwrap().compression();
        assert_eq!(text, CompressionMethod::Stored, "the local store does not deflate, even text");
        drop(archive);
        let contents: Vec<_> = fs::read_dir(work.path().join("artifacts/.content")).unwrap().collect();
        assert_eq!(contents.len(), 1, "{contents:?}");
        // The workspace shares nothing with the store: its files are copies.
        assert_eq!(std::os::unix::fs::MetadataExt::nlink(&fs::metadata(workspace.join("large.bin")).unwrap()), 1);
        let left: Vec<_> = fs::read_dir(paths[0].parent().unwrap().parent().unwrap().join("One"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(left, ["b2"], "no staging file stays");
        // The same content again at the same location (a retry) leaves nothing beside it either.
        store.pack_files(&first, &entries_of(&workspace), true, &[]).await.unwrap();
        let left: Vec<_> = fs::read_dir(paths[1].parent().unwrap()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(left, ["b2"]);
        assert_eq!(inode(&paths[0]), inode(&paths[1]));
        // A change of mode alone is another content.
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(workspace.join("large.bin"), fs::Permissions::from_mode(0o755)).unwrap();
        store.pack_files(&second, &entries_of(&workspace), true, &[]).await.unwrap();
        assert_ne!(inode(&paths[0]), inode(&paths[2]));
    }

    /// An input put in the store as another tool zipped it (deflated, its own timestamps):
    /// zipping its files again would give another zip, so an output that is the same inode
    /// as the input was not zipped again.
    #[cfg(unix)]
    async fn foreign_input(work: &Path, store: &ArtifactDir, at: &ArtifactLocation) -> PathBuf {
        let src = work.join("foreign");
        fs::create_dir_all(src.join("d")).unwrap();
        fs::write(src.join("large.bin"), noise(300 << 10)).unwrap();
        fs::write(src.join("d/text.txt"), "a line\n".repeat(5_000)).unwrap();
        let zip = work.join("foreign.zip");
        zip_directory(&src, &[], &[], &zip).unwrap();
        store.put_zip(at, &zip).await.unwrap();
        store.path(at).unwrap()
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn an_input_passed_on_unchanged_is_kept_as_the_output_and_any_change_is_zipped() {
        use std::os::unix::fs::PermissionsExt;
        let work = tempfile::tempdir().unwrap();
        let store = ArtifactDir::new(work.path().join("artifacts"));
        let input = location("p/Src/in");
        let stored = foreign_input(work.path(), &store, &input).await;
        let output = |n: usize| location(&format!("p/Out/o{n}"));
        let workspace = work.path().join("workspace");

        // Unchanged, in the same instant as the unpack: kept, nothing written.
        let unpacked = store.unpack(&input, &workspace).await.unwrap();
        assert_eq!(unpacked.files.as_ref().map(Vec::len), Some(2));
        store.pack_files(&output(1), &entries_of(&workspace), true, std::slice::from_ref(&unpacked)).await.unwrap();
        assert_eq!(inode(&store.path(&output(1)).unwrap()), inode(&stored));
        assert!(!work.path().join("artifacts/.content").exists(), "no zip was written");

        // Any change, made at once after the unpack (other bytes of the same size too): zipped.
        type Change = (&'static str, fn(&Path));
        let changes: [Change; 4] = [
            ("rewritten", |w| {
                let mut bytes = fs::read(w.join("large.bin")).unwrap();
                bytes[1000] ^= 1;
                fs::write(w.join("large.bin"), bytes).unwrap();
            }),
            ("chmod", |w| fs::set_permissions(w.join("d/text.txt"), fs::Permissions::from_mode(0o755)).unwrap()),
            ("added", |w| fs::write(w.join("new.txt"), "new").unwrap()),
            ("linked", |w| {
                fs::remove_file(w.join("d/text.txt")).unwrap();
                std::os::unix::fs::symlink("../large.bin", w.join("d/text.txt")).unwrap();
            }),
        ];
        for (n, (change, apply)) in changes.into_iter().enumerate() {
            let _ = fs::remove_dir_all(&workspace);
            let unpacked = store.unpack(&input, &workspace).await.unwrap();
            apply(&workspace);
            let at = output(n + 2);
            store.pack_files(&at, &entries_of(&workspace), true, &[unpacked]).await.unwrap();
            assert_ne!(inode(&store.path(&at).unwrap()), inode(&stored), "{change}");
            let again = work.path().join(format!("again{n}"));
            store.unpack(&at, &again).await.unwrap();
            for name in ["large.bin", "d/text.txt"] {
                let (now, was) = (fs::symlink_metadata(workspace.join(name)), fs::symlink_metadata(again.join(name)));
                assert_eq!(now.unwrap().permissions().mode(), was.unwrap().permissions().mode(), "{change} {name}");
                if change != "linked" {
                    assert_eq!(
                        fs::read(workspace.join(name)).unwrap(),
                        fs::read(again.join(name)).unwrap(),
                        "{change}"
                    );
                }
            }
        }

        // An input holding a link is never taken, even unchanged.
        let linked = location("p/Src/linked");
        store.pack_files(&linked, &entries_of(&workspace), true, &[]).await.unwrap();
        let elsewhere = work.path().join("elsewhere");
        let unpacked = store.unpack(&linked, &elsewhere).await.unwrap();
        assert_eq!(unpacked.files, None);
    }

    /// Buffers go round: a zip of many small files makes a few, not one per file, in the
    /// zip's own thread and once the files are hashed on the thread.
    #[test]
    fn a_zip_of_many_files_makes_a_few_buffers_not_one_per_file() {
        let work = tempfile::tempdir().unwrap();
        let files: Vec<PathBuf> = (0..300)
            .map(|n| {
                let path = work.path().join(format!("f{n}"));
                fs::write(&path, format!("file {n}\n").repeat(n % 50 + 1)).unwrap();
                path
            })
            .collect();
        for on_thread in [false, true] {
            let made = std::thread::scope(|scope| {
                let mut hashes = HashFeed::start(scope);
                if on_thread {
                    hashes.begin_file(HASH_THREAD_BYTES);
                    assert_eq!(hashes.copy_file(File::open(&files[0]).unwrap(), &mut io::sink()).unwrap(), 0);
                }
                for path in &files {
                    let mut file = File::open(path).unwrap();
                    hashes.begin_file(file.metadata().unwrap().len());
                    let (sample, sampled) = hashes.read_spare(&mut file, SAMPLE_BYTES).unwrap();
                    hashes.feed(sample, sampled).unwrap();
                    hashes.copy_file(file, &mut io::sink()).unwrap();
                }
                let made = hashes.buffers_made();
                assert_eq!(hashes.finish().unwrap().len(), files.len() + usize::from(on_thread));
                made
            });
            assert!(made <= 8, "{made} buffers made for {} files (on the thread: {on_thread})", files.len());
        }
    }

    #[test]
    fn files_hashed_beside_the_copy_have_the_digests_of_their_bytes() {
        let work = tempfile::tempdir().unwrap();
        // Hashed in the zip's thread until the bytes reach the threshold, then on the thread.
        let sizes = [10, COPY_BUFFER * 3 + 17, 0, HASH_THREAD_BYTES as usize, 10];
        let files: Vec<(PathBuf, Vec<u8>)> = sizes
            .iter()
            .enumerate()
            .map(|(n, size)| {
                let path = work.path().join(format!("f{n}"));
                let bytes = noise(*size);
                fs::write(&path, &bytes).unwrap();
                (path, bytes)
            })
            .collect();
        let mut copied = Vec::new();
        let sums = std::thread::scope(|scope| {
            let mut hashes = HashFeed::start(scope);
            for (n, (path, bytes)) in files.iter().enumerate() {
                // The first bytes are fed apart, as the sample is.
                let mut file = File::open(path).unwrap();
                hashes.begin_file(bytes.len() as u64);
                assert_eq!(hashes.on_thread(), n >= 3, "file {n}");
                let (sample, sampled) = hashes.read_spare(&mut file, 5).unwrap();
                copied.extend_from_slice(&sample[..sampled]);
                hashes.feed(sample, sampled).unwrap();
                assert_eq!(hashes.copy_file(file, &mut copied).unwrap(), n);
                assert_eq!(copied.len(), files[..=n].iter().map(|(_, b)| b.len()).sum::<usize>());
                assert_eq!(copied[copied.len() - bytes.len()..], bytes[..], "whole and in order");
            }
            hashes.finish().unwrap()
        });
        let expected: Vec<[u8; 32]> = files.iter().map(|(_, bytes)| *blake3::hash(bytes).as_bytes()).collect();
        assert_eq!(sums, expected);
        // A write that fails stops the copy with its error, and the thread still ends.
        let failed = std::thread::scope(|scope| {
            let mut hashes = HashFeed::start(scope);
            hashes.begin_file(HASH_THREAD_BYTES);
            let mut full = FillingDisk { file: File::create(work.path().join("out")).unwrap(), room: COPY_BUFFER };
            hashes.copy_file(File::open(&files[3].0).unwrap(), &mut full).unwrap_err()
        });
        assert_eq!(failed.kind(), io::ErrorKind::StorageFull);
    }

    #[test]
    fn the_same_content_zips_to_the_same_bytes_and_digest() {
        let work = tempfile::tempdir().unwrap();
        let src = work.path().join("src");
        fs::create_dir_all(&src).unwrap();
        fs::write(src.join("noise.bin"), noise(100 << 10)).unwrap();
        fs::write(src.join("a.txt"), "text ".repeat(2_000)).unwrap();
        let (one, two) = (work.path().join("one.zip"), work.path().join("two.zip"));
        let first = zip_directory(&src, &[], &[], &one).unwrap();
        let second = zip_files(&entries_of(&src), true, &two).unwrap();
        assert_eq!(first, second);
        assert_eq!(fs::read(&one).unwrap(), fs::read(&two).unwrap());
        fs::write(src.join("a.txt"), "text ".repeat(2_001)).unwrap();
        assert_ne!(zip_directory(&src, &[], &[], &one).unwrap().digest, first.digest);
        fs::rename(src.join("a.txt"), src.join("b.txt")).unwrap();
        fs::write(src.join("b.txt"), "text ".repeat(2_000)).unwrap();
        assert_ne!(zip_directory(&src, &[], &[], &one).unwrap().digest, first.digest, "names count");
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn an_input_changed_in_place_leaves_the_stored_input_as_it_was() {
        use std::os::unix::fs::FileExt;
        let work = tempfile::tempdir().unwrap();
        let src = work.path().join("src");
        fs::create_dir_all(&src).unwrap();
        fs::write(src.join("data.bin"), noise(200 << 10)).unwrap();
        let store = ArtifactDir::new(work.path().join("artifacts"));
        let (input, output) = (location("p/In/a1"), location("p/Out/b2"));
        store.pack(&input, &src, &[], &[]).await.unwrap();
        let workspace = work.path().join("workspace");
        store.unpack(&input, &workspace).await.unwrap();
        // Written through the same inode, as a tool that edits a file in place does.
        let file = fs::OpenOptions::new().write(true).open(workspace.join("data.bin")).unwrap();
        file.write_all_at(b"changed", 1000).unwrap();
        drop(file);
        store.pack_files(&output, &entries_of(&workspace), true, &[]).await.unwrap();
        let (was, now) = (work.path().join("was"), work.path().join("now"));
        store.unpack(&input, &was).await.unwrap();
        store.unpack(&output, &now).await.unwrap();
        assert_eq!(fs::read(was.join("data.bin")).unwrap(), noise(200 << 10), "the stored input is unchanged");
        assert_eq!(&fs::read(now.join("data.bin")).unwrap()[1000..1007], b"changed");
        assert_ne!(inode(&store.path(&input).unwrap()), inode(&store.path(&output).unwrap()));
    }

    #[tokio::test]
    async fn a_damaged_stored_artifact_is_a_clear_permanent_error() {
        let work = tempfile::tempdir().unwrap();
        let src = work.path().join("src");
        fs::create_dir_all(&src).unwrap();
        fs::write(src.join("data.bin"), noise(200 << 10)).unwrap();
        let store = ArtifactDir::new(work.path().join("artifacts"));
        let stored = location("p/Src/a1");
        store.pack(&stored, &src, &[], &[]).await.unwrap();
        let path = store.path(&stored).unwrap();
        let mut bytes = fs::read(&path).unwrap();
        bytes[100 << 10] ^= 0xff;
        fs::write(&path, &bytes).unwrap();
        let error = store.unpack(&stored, &work.path().join("out")).await.unwrap_err();
        assert!(matches!(error, ArtifactError::Refused(_)), "permanent, not retried: {error:?}");
        let message = error.to_string();
        assert!(message.contains("bucket/p/Src/a1") && message.contains("damaged"), "{message}");

        // Truncated: the same, and the next zip of that content does not link to the damaged one.
        fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
        let error = store.unpack(&stored, &work.path().join("out2")).await.unwrap_err();
        assert!(error.to_string().contains("damaged"), "{error}");
        let again = location("p/Src/b2");
        store.pack(&again, &src, &[], &[]).await.unwrap();
        store.unpack(&again, &work.path().join("out3")).await.unwrap();
        assert_eq!(fs::read(work.path().join("out3/data.bin")).unwrap(), noise(200 << 10));
    }

    #[tokio::test]
    async fn a_missing_artifact_is_reported() {
        let work = tempfile::tempdir().unwrap();
        let store = ArtifactDir::new(work.path());
        assert!(matches!(store.unpack(&location("p/A/x"), work.path()).await, Err(ArtifactError::Missing(_))));
    }
}
