//! Directories made only when missing.
//!
//! `create_dir_all` on a directory that exists still calls `mkdir`, which fails with `EEXIST`
//! only after taking the parent directory's lock. The actions of a stage open their logs in one
//! directory and land their artifacts in a few, all at once: each such `mkdir` waited for the
//! others' file creations there (docs/benchmarks.md, "stop 37"). A look first takes no lock.

use std::io;
use std::path::Path;

/// Makes `directory` and its missing parents, unless it is already a directory.
pub fn make_dir_if_missing(directory: &Path) -> io::Result<()> {
    if directory.is_dir() {
        return Ok(());
    }
    // Made by someone else between the look and here is as good: `create_dir_all` accepts it.
    std::fs::create_dir_all(directory)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn makes_what_is_missing_accepts_what_exists_and_refuses_a_file_in_the_way() {
        let root = tempfile::tempdir().unwrap();
        let deep = root.path().join("a/b/c");
        make_dir_if_missing(&deep).unwrap();
        assert!(deep.is_dir());
        make_dir_if_missing(&deep).unwrap();
        std::fs::write(root.path().join("file"), b"x").unwrap();
        assert!(make_dir_if_missing(&root.path().join("file")).is_err());
        assert!(make_dir_if_missing(&root.path().join("file/under")).is_err());
    }
}
