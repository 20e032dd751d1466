//! Unpacking an artifact's zip into a directory, and the record of what it put there
//! ([`Unpacked`]), which lets an output that is an input passed on unchanged be that input.
//!
//! A zip of regular files and directories unpacked into a new directory (what every workspace
//! is) takes the direct path: each file is created with its mode and written once, and no pass
//! changes it afterwards, so a file's status time says when the unpack last touched it.
//! Anything else (a link, which must be checked against where it points, or a directory that
//! already holds files) goes through the zip crate's extraction.

use std::fs::{self, File};
use std::io::{self, Read, Seek, Write};
use std::path::{Path, PathBuf};

use zip::ZipArchive;
use zip::read::ExtractOptions;

use pipewright_core::engine::ArtifactLocation;
use pipewright_core::unpacked::{Unpacked, UnpackedFile};

use crate::artifacts::{MAX_EXPANSION, MAX_UNPACKED_BYTES, ZipError, copy_buffer_for, unpack_limit};
use crate::zip_io::ZipReader;

/// Extracts the zip at `path` into `directory`. Paths are confined to it, a symbolic link is
/// made only when what it points at is inside it, and the whole may unpack to
/// [`unpack_limit`] of its size: the declared sizes are checked first, and no entry may
/// inflate to more than it declares, so a zip that lies about its sizes stops there too.
/// Says the files it wrote, as [`Unpacked::files`] holds them.
pub fn unzip(path: &Path, directory: &Path) -> Result<Option<Vec<UnpackedFile>>, ZipError> {
    unzip_within(path, directory, unpack_limit(fs::metadata(path)?.len()))
}

pub(crate) fn unzip_within(path: &Path, directory: &Path, limit: u64) -> Result<Option<Vec<UnpackedFile>>, ZipError> {
    // Made only when missing: a `mkdir` of a directory that exists still takes its parent's
    // lock, which waits for the other workspaces being made there (docs/benchmarks.md, "stop 37").
    let new_directory = match fs::read_dir(directory) {
        Ok(mut entries) => entries.next().is_none(),
        Err(_) => {
            fs::create_dir_all(directory)?;
            true
        }
    };
    let file = File::open(path)?;
    let size = file.metadata()?.len();
    let mut archive = ZipArchive::new(ZipReader::new(copy_buffer_for(size), file)?)?;
    let extracted = if new_directory && !holds_links(&mut archive)? {
        extract_files(&mut archive, directory, limit)
    } else {
        extract_checking_links(&mut archive, directory, limit)
    };
    match extracted {
        Ok(()) => unpacked_files(&mut archive),
        Err(ZipError::Zip(zip::result::ZipError::DecompressedSizeLimitExceeded { size, limit })) => {
            Err(too_large(size, limit))
        }
        Err(ZipError::Zip(zip::result::ZipError::InvalidArchive(message))) if message.contains("escapes") => {
            Err(ZipError::Refused(format!("the artifact holds a symbolic link that points outside it ({message})")))
        }
        Err(other) => Err(other),
    }
}

fn too_large(size: u128, limit: u64) -> ZipError {
    ZipError::Refused(format!(
        "the artifact would unpack to {size} bytes, more than the {limit} a zip of its size may \
         (at most {MAX_EXPANSION} times its size, and never more than {MAX_UNPACKED_BYTES})"
    ))
}

fn holds_links<R: Read + Seek>(archive: &mut ZipArchive<R>) -> Result<bool, ZipError> {
    for index in 0..archive.len() {
        if archive.by_index_raw(index)?.is_symlink() {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Extracts an archive of regular files and directories into `directory`, which held nothing:
/// with no link in it and none made, each entry's confined name is where it goes. Checks what
/// the zip crate's extraction checks (header consistency, the declared sizes against `limit`,
/// each entry's CRC-32 and size), but creates each file with its mode instead of setting the
/// modes in a pass after all the writes.
#[cfg(unix)]
fn extract_files<R: Read + Seek>(archive: &mut ZipArchive<R>, directory: &Path, limit: u64) -> Result<(), ZipError> {
    use std::collections::HashSet;
    use std::os::unix::fs::PermissionsExt;

    archive.validate_header_consistency()?;
    let total = match archive.decompressed_size() {
        Some(size) if size > u128::from(limit) => return Err(too_large(size, limit)),
        Some(size) => size,
        None => return Err(ZipError::Zip(zip::result::ZipError::DecompressedSizeUnknown)),
    };
    // No file of it is larger than the whole.
    let mut buffer = vec![0; copy_buffer_for(u64::try_from(total).unwrap_or(u64::MAX))];
    let mut made: HashSet<PathBuf> = HashSet::from([directory.to_path_buf()]);
    let mut directory_modes: Vec<(PathBuf, u32)> = Vec::new();
    for index in 0..archive.len() {
        let mut entry = archive.by_index(index)?;
        let Some(name) = entry.enclosed_name() else {
            return Err(ZipError::Refused(format!("the artifact holds a path that leaves it: {:?}", entry.name())));
        };
        let path = directory.join(&name);
        // Permission bits only, as `unpacked_files` records them (the zip crate clears setuid,
        // setgid and sticky bits too).
        let mode = entry.unix_mode().map(|m| m & 0o777);
        if entry.is_dir() {
            if made.insert(path.clone()) {
                fs::create_dir_all(&path)?;
            }
            if let Some(mode) = mode {
                directory_modes.push((path, mode));
            }
            continue;
        }
        if let Some(parent) = path.parent()
            && !made.contains(parent)
        {
            fs::create_dir_all(parent)?;
            made.insert(parent.to_path_buf());
        }
        // A new file: a name twice fails, and so would a link in its place.
        let mut file = fs::OpenOptions::new().write(true).create_new(true).open(&path)?;
        if let Some(mode) = mode {
            // Before the bytes, so that their writes are the file's last status change.
            file.set_permissions(fs::Permissions::from_mode(mode))?;
        }
        copy_checked(&mut entry, &mut file, &mut buffer)?;
    }
    // Parents after their children, so that a directory without write permission comes last.
    directory_modes.sort_by(|a, b| b.0.cmp(&a.0));
    for (path, mode) in directory_modes {
        fs::set_permissions(path, fs::Permissions::from_mode(mode))?;
    }
    Ok(())
}

/// Without unix modes to create files with, the zip crate's extraction does as well.
#[cfg(not(unix))]
fn extract_files<R: Read + Seek>(archive: &mut ZipArchive<R>, directory: &Path, limit: u64) -> Result<(), ZipError> {
    extract_checking_links(archive, directory, limit)
}

/// The zip crate's extraction, which confines each path after resolving the links on its way.
fn extract_checking_links<R: Read + Seek>(
    archive: &mut ZipArchive<R>,
    directory: &Path,
    limit: u64,
) -> Result<(), ZipError> {
    let options = ExtractOptions::default().with_size_limit(limit).enforce_header_consistency(true);
    Ok(archive.extract_with_options(directory, options)?)
}

/// Copies an entry's bytes to `out` to their end: the entry's reader stops at the size it
/// declares, and fails at the end when their CRC-32 is not the declared one.
fn copy_checked(entry: &mut impl Read, out: &mut impl Write, buffer: &mut [u8]) -> io::Result<()> {
    loop {
        match entry.read(buffer) {
            Ok(0) => return Ok(()),
            Ok(read) => out.write_all(&buffer[..read])?,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// The regular files of an archive just extracted, from its central directory; `None` when
/// it holds a link, an empty directory or a file without a mode, which an output zipped from
/// the workspace would not give back the same.
fn unpacked_files<R: Read + Seek>(archive: &mut ZipArchive<R>) -> Result<Option<Vec<UnpackedFile>>, ZipError> {
    let mut files = Vec::with_capacity(archive.len());
    let mut directories = Vec::new();
    for index in 0..archive.len() {
        let entry = archive.by_index_raw(index)?;
        let name = entry.name()?.into_owned();
        if entry.is_dir() {
            directories.push(name);
            continue;
        }
        let Some(mode) = entry.unix_mode().filter(|_| entry.is_file()) else { return Ok(None) };
        files.push(UnpackedFile { name, size: entry.size(), crc32: entry.crc32(), mode: mode & 0o777 });
    }
    let holds_files = |directory: &String| files.iter().any(|f| f.name.starts_with(directory.as_str()));
    Ok(directories.iter().all(holds_files).then_some(files))
}

/// The record of an unpack of `location` into `directory` that has just ended. Its end is a
/// time of the file system's own clock: the status time `directory` takes when it is touched
/// now. Every change after this gets a status time at or after it (the clock that stamps them
/// only moves forward), so a file stamped before it has not changed since the unpack wrote
/// it. Without that time (the touch failed), no file counts as unchanged.
pub fn unpacked(location: ArtifactLocation, directory: PathBuf, files: Option<Vec<UnpackedFile>>) -> Unpacked {
    let ended_ns = touched(&directory).unwrap_or(i128::MIN);
    Unpacked { location, directory, files, ended_ns }
}

fn touched(directory: &Path) -> io::Result<i128> {
    let handle = File::open(directory)?;
    handle.set_times(fs::FileTimes::new().set_modified(std::time::SystemTime::now()))?;
    Ok(crate::artifacts::changed_ns(&handle.metadata()?))
}

#[cfg(test)]
#[cfg(unix)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use pipewright_core::unpacked::{FileCheck, FileNow, check_file};

    use super::*;
    use crate::artifacts::{changed_ns, zip_directory};

    fn mode(path: &Path) -> u32 {
        fs::metadata(path).unwrap().permissions().mode() & 0o7777
    }

    fn now(path: &Path) -> FileNow {
        let metadata = fs::symlink_metadata(path).unwrap();
        FileNow { regular: true, size: metadata.len(), mode: mode(path), changed_ns: changed_ns(&metadata) }
    }

    fn location() -> ArtifactLocation {
        ArtifactLocation { bucket: "b".into(), key: "p/Src/a".into() }
    }

    #[test]
    fn a_new_directory_gets_each_file_with_its_mode_and_nothing_stamped_after_the_end() {
        let work = tempfile::tempdir().unwrap();
        let src = work.path().join("src");
        fs::create_dir_all(src.join("bin")).unwrap();
        for (name, mode) in [("bin/run.sh", 0o755), ("shared.txt", 0o666), ("private", 0o600), ("empty", 0o644)] {
            fs::write(src.join(name), if name == "empty" { String::new() } else { name.repeat(1000) }).unwrap();
            fs::set_permissions(src.join(name), fs::Permissions::from_mode(mode)).unwrap();
        }
        let zipped = work.path().join("src.zip");
        zip_directory(&src, &[], &[], &zipped).unwrap();
        let out = work.path().join("out");
        let files = unzip(&zipped, &out).unwrap().unwrap();
        let record = unpacked(location(), out.clone(), Some(files.clone()));
        assert_eq!(files.len(), 4);
        for file in &files {
            let path = out.join(&file.name);
            // The exact mode, whatever the umask (0o666 would be 0o644 under the usual 022).
            assert_eq!(mode(&path), mode(&src.join(&file.name)), "{}", file.name);
            assert_eq!(fs::read(&path).unwrap(), fs::read(src.join(&file.name)).unwrap());
            assert_ne!(check_file(file, record.ended_ns, now(&path)), FileCheck::Changed, "{}", file.name);
        }

        // Seen from a later end, every file is known unchanged without a read.
        std::thread::sleep(std::time::Duration::from_millis(50));
        let later = unpacked(location(), out.clone(), Some(files.clone()));
        for file in &files {
            assert_eq!(check_file(file, later.ended_ns, now(&out.join(&file.name))), FileCheck::Unchanged);
        }
        // A write after the end, of the same size, is never taken as unchanged.
        let private = files.iter().find(|f| f.name == "private").unwrap();
        fs::write(out.join("private"), "PRIVATE".repeat(1000)).unwrap();
        assert_ne!(check_file(private, later.ended_ns, now(&out.join("private"))), FileCheck::Unchanged);
        // Nor is a chmod back and forth.
        let shared = files.iter().find(|f| f.name == "shared.txt").unwrap();
        fs::set_permissions(out.join("shared.txt"), fs::Permissions::from_mode(0o600)).unwrap();
        fs::set_permissions(out.join("shared.txt"), fs::Permissions::from_mode(0o666)).unwrap();
        assert_ne!(check_file(shared, later.ended_ns, now(&out.join("shared.txt"))), FileCheck::Unchanged);
    }

    #[test]
    fn a_directory_holding_files_already_keeps_the_zip_crates_checks() {
        let work = tempfile::tempdir().unwrap();
        let src = work.path().join("src");
        fs::create_dir_all(src.join("d")).unwrap();
        fs::write(src.join("d/x"), "from the zip").unwrap();
        let zipped = work.path().join("src.zip");
        zip_directory(&src, &[], &[], &zipped).unwrap();
        // A link in place of the zip's directory, pointing outside: never written through.
        let outside = work.path().join("outside");
        fs::create_dir_all(&outside).unwrap();
        let out = work.path().join("out");
        fs::create_dir_all(&out).unwrap();
        std::os::unix::fs::symlink(&outside, out.join("d")).unwrap();
        let _ = unzip(&zipped, &out);
        assert!(!outside.join("x").exists(), "written through a link out of the directory");
    }

    fn zip_of(path: &Path, names: &[&str]) {
        let mut writer = zip::ZipWriter::new(File::create(path).unwrap());
        for name in names {
            writer.start_file(*name, zip::write::SimpleFileOptions::default().unix_permissions(0o644)).unwrap();
            writer.write_all(b"bytes").unwrap();
        }
        writer.finish().unwrap();
    }

    #[test]
    fn a_path_out_of_the_directory_is_refused_and_an_absolute_one_stays_inside() {
        let work = tempfile::tempdir().unwrap();
        let escaping = work.path().join("escaping.zip");
        zip_of(&escaping, &["a", "../escaped"]);
        let refused = unzip(&escaping, &work.path().join("out1")).unwrap_err();
        assert!(matches!(refused, ZipError::Refused(_)), "{refused}");
        assert!(!work.path().join("escaped").exists());

        let absolute = work.path().join("absolute");
        let zipped = work.path().join("absolute.zip");
        zip_of(&zipped, &["a", &absolute.display().to_string()]);
        let out = work.path().join("out2");
        unzip(&zipped, &out).unwrap();
        assert!(!absolute.exists(), "written at the absolute path");
        assert!(out.join(absolute.strip_prefix("/").unwrap()).exists(), "its root is dropped, as the zip crate does");
    }
}
