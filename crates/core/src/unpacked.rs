//! What unpacking an input artifact put in a directory, and whether an output artifact is that
//! input passed on unchanged: then the store keeps the input's object as the output, instead of
//! zipping the same bytes again and writing them (docs/ARCHITECTURE.md, "An output that is an
//! input unchanged").
//!
//! The decision has two halves. Which input the output's files can be is a matter of names,
//! decided here. Whether each file is still what was unpacked needs the file system: the
//! adapter reads each file's status and hands it to [`check_file`], and reads the bytes of
//! the few files it cannot tell about.

use std::path::{Path, PathBuf};

use crate::engine::ArtifactLocation;

/// An input artifact as unpacked into `directory`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unpacked {
    pub location: ArtifactLocation,
    pub directory: PathBuf,
    /// Its regular files in zip order, or `None` when it holds anything an output could not
    /// give back the same (a link, an empty directory, a file without a mode): no output is
    /// ever taken for it.
    pub files: Option<Vec<UnpackedFile>>,
    /// When the unpack ended, in nanoseconds since the epoch, as the file system stamps status
    /// changes (the time the adapter's touch of `directory` took after the last write): a file
    /// stamped after it was touched after the unpack, one stamped before was not.
    /// `i128::MIN` when unknown: then no file counts as unchanged.
    pub ended_ns: i128,
}

/// A regular file of an unpacked artifact, as its zip entry describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnpackedFile {
    /// Its name in the zip, `/`-separated.
    pub name: String,
    pub size: u64,
    pub crc32: u32,
    /// Permission bits.
    pub mode: u32,
}

/// A file of an output as it is now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileNow {
    /// A regular file (not a link, which the zip would hold differently).
    pub regular: bool,
    pub size: u64,
    /// Permission bits.
    pub mode: u32,
    /// When its status last changed (a write, a chmod, a rename onto it), nanoseconds since
    /// the epoch.
    pub changed_ns: i128,
}

/// The input an output of `entries` (a file's path, its name in the zip) can be: one whose files
/// are exactly those names, each at the path the unpack put it. The pairs of what was unpacked
/// and where the output's entry is, for the adapter to check with [`check_file`].
pub fn candidate<'a, 'e>(
    inputs: &'a [Unpacked],
    entries: &'e [(PathBuf, String)],
) -> Option<(&'a Unpacked, Vec<(&'a UnpackedFile, &'e Path)>)> {
    inputs.iter().find_map(|input| {
        let files = input.files.as_ref()?;
        if files.len() != entries.len() || files.is_empty() {
            return None;
        }
        let mut by_name: Vec<&UnpackedFile> = files.iter().collect();
        by_name.sort_by(|a, b| a.name.cmp(&b.name));
        let mut wanted: Vec<&(PathBuf, String)> = entries.iter().collect();
        wanted.sort_by(|a, b| a.1.cmp(&b.1));
        let mut pairs = Vec::with_capacity(files.len());
        for (file, (path, name)) in by_name.into_iter().zip(wanted) {
            if file.name != *name || *path != input.directory.join(name) {
                return None;
            }
            pairs.push((file, path.as_path()));
        }
        Some((input, pairs))
    })
}

/// What a file's status says about whether it is still what the unpack wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileCheck {
    /// A regular file of the same size and mode, whose status has not changed since before
    /// the unpack ended: nothing has touched it since the unpack wrote it.
    Unchanged,
    /// Not a regular file, another size or mode, or touched after the unpack.
    Changed,
    /// Stamped in the same tick of the file system's clock as the unpack's end: a write just
    /// after the end would have the same time, so only its bytes (their CRC-32) can tell.
    ReadBytes,
}

/// Whether a file is still what the unpack wrote, from its status. `ended_ns` is a time of the
/// same clock that stamps status changes, taken after the unpack's last write
/// ([`Unpacked::ended_ns`]): the clock never goes back, so a file stamped before it was not
/// touched after it (as git trusts an index entry older than the index, and reads a "racy" one).
pub fn check_file(unpacked: &UnpackedFile, ended_ns: i128, now: FileNow) -> FileCheck {
    if !now.regular || now.size != unpacked.size || now.mode != unpacked.mode || now.changed_ns > ended_ns {
        FileCheck::Changed
    } else if now.changed_ns < ended_ns {
        FileCheck::Unchanged
    } else {
        FileCheck::ReadBytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(directory: &str, names: &[&str]) -> Unpacked {
        Unpacked {
            location: ArtifactLocation { bucket: "b".into(), key: format!("p/{directory}") },
            directory: PathBuf::from(directory),
            files: Some(
                names.iter().map(|n| UnpackedFile { name: n.to_string(), size: 3, crc32: 7, mode: 0o644 }).collect(),
            ),
            ended_ns: 1_000,
        }
    }

    fn entries(directory: &str, names: &[&str]) -> Vec<(PathBuf, String)> {
        names.iter().map(|n| (Path::new(directory).join(n), n.to_string())).collect()
    }

    #[test]
    fn an_output_of_exactly_an_inputs_files_in_any_order_is_that_input() {
        let inputs = [input("/w/in", &["x"]), input("/w/src", &["a", "d/b"])];
        let output = entries("/w/src", &["d/b", "a"]);
        let (found, pairs) = candidate(&inputs, &output).unwrap();
        assert_eq!(found.directory, PathBuf::from("/w/src"));
        assert_eq!(pairs.len(), 2);
        assert!(pairs.iter().all(|(file, path)| Path::new("/w/src").join(&file.name) == *path));
    }

    #[test]
    fn an_output_with_a_file_more_or_less_or_elsewhere_is_no_input() {
        let inputs = [input("/w/src", &["a", "b"])];
        assert!(candidate(&inputs, &entries("/w/src", &["a"])).is_none());
        assert!(candidate(&inputs, &entries("/w/src", &["a", "b", "c"])).is_none());
        assert!(candidate(&inputs, &entries("/w/src", &["a", "c"])).is_none());
        // The same names from another directory (a base directory, discarded paths).
        assert!(candidate(&inputs, &entries("/w/src/sub", &["a", "b"])).is_none());
        let renamed = vec![(PathBuf::from("/w/src/a"), "a".to_string()), (PathBuf::from("/w/src/a"), "b".to_string())];
        assert!(candidate(&inputs, &renamed).is_none());
    }

    #[test]
    fn an_input_holding_what_an_output_cannot_give_back_or_nothing_is_never_taken() {
        let mut linked = input("/w/src", &["a"]);
        linked.files = None;
        assert!(candidate(&[linked], &entries("/w/src", &["a"])).is_none());
        assert!(candidate(&[input("/w/src", &[])], &[]).is_none());
    }

    #[test]
    fn a_file_is_unchanged_only_when_every_part_of_it_is() {
        let file = UnpackedFile { name: "a".into(), size: 3, crc32: 7, mode: 0o644 };
        let before = FileNow { regular: true, size: 3, mode: 0o644, changed_ns: 999 };
        assert_eq!(check_file(&file, 1_000, before), FileCheck::Unchanged);
        assert_eq!(check_file(&file, 1_000, FileNow { size: 4, ..before }), FileCheck::Changed);
        assert_eq!(check_file(&file, 1_000, FileNow { mode: 0o755, ..before }), FileCheck::Changed);
        assert_eq!(check_file(&file, 1_000, FileNow { regular: false, ..before }), FileCheck::Changed);
        let after = FileNow { changed_ns: 1_001, ..before };
        assert_eq!(check_file(&file, 1_000, after), FileCheck::Changed, "touched after the unpack");
    }

    #[test]
    fn a_file_stamped_in_the_unpacks_last_tick_is_read() {
        // A write just after the end would get the same time: only the bytes can tell.
        let file = UnpackedFile { name: "a".into(), size: 3, crc32: 7, mode: 0o644 };
        let same_tick = FileNow { regular: true, size: 3, mode: 0o644, changed_ns: 1_000 };
        assert_eq!(check_file(&file, 1_000, same_tick), FileCheck::ReadBytes);
        // Other size or mode in the same tick: no read needed.
        assert_eq!(check_file(&file, 1_000, FileNow { size: 2, ..same_tick }), FileCheck::Changed);
        // Without a time of the unpack's end, nothing is unchanged.
        assert_eq!(check_file(&file, i128::MIN, same_tick), FileCheck::Changed);
    }
}
