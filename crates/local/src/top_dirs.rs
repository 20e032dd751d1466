//! Directories whose subdirectories are unrelated to one another: the workspaces' and the
//! logs' roots, and each execution's stage directories under `work`, whose subdirectories
//! are the lanes the actions' workspaces are in.
//!
//! ext2/3/4 put a new subdirectory in its parent's block group, or near it, and a new file in
//! its directory's group. On an ext4 without a journal, finding a free inode also passes over
//! every inode freed in that group in the last 30 seconds (`recently_deleted`), so a run that
//! makes and removes a workspace per action pays, for each new file, for all the workspaces
//! removed before it: a cost that grows with the number of actions (docs/benchmarks.md,
//! "stop 36"). Marked as the top of a directory hierarchy (`FS_TOPDIR_FL`, what `chattr +T`
//! sets), a directory's subdirectories are spread over the file system's groups by the Orlov
//! allocator instead: this is the hint's documented purpose, subtrees that are not related.
//! A file system without the flag refuses it; nothing else depends on it.

use std::fs::File;
use std::io;
use std::path::Path;

/// `FS_TOPDIR_FL` of `<linux/fs.h>` (the libc crate names the ioctls, not this flag).
const TOP_DIR_FLAG: libc::c_int = 0x0002_0000;

/// Creates `dir` and its parents if missing, then marks it ([`mark`]). Only a failure to
/// create it is an error.
pub fn create(dir: &Path) -> io::Result<()> {
    std::fs::create_dir_all(dir)?;
    mark(dir);
    Ok(())
}

/// Marks `dir` as the top of a directory hierarchy; true when it is marked now (it may have
/// been already), false when the file system does not take the flag or `dir` cannot be opened.
pub fn mark(dir: &Path) -> bool {
    let Ok(handle) = File::open(dir) else { return false };
    let Some(flags) = inode_flags::get(&handle) else { return false };
    flags & TOP_DIR_FLAG != 0 || inode_flags::set(&handle, flags | TOP_DIR_FLAG)
}

/// Whether `dir` is marked as the top of a directory hierarchy.
pub fn is_marked(dir: &Path) -> bool {
    File::open(dir).ok().and_then(|handle| inode_flags::get(&handle)).is_some_and(|flags| flags & TOP_DIR_FLAG != 0)
}

/// An inode's flags (`FS_IOC_GETFLAGS`, `FS_IOC_SETFLAGS`): Linux only; elsewhere there are
/// none, and nothing is marked.
mod inode_flags {
    use std::fs::File;

    #[cfg(target_os = "linux")]
    pub fn get(handle: &File) -> Option<libc::c_int> {
        use std::os::fd::AsRawFd;
        let mut flags: libc::c_int = 0;
        // SAFETY: FS_IOC_GETFLAGS writes one int through the pointer, which lives for the call.
        let read = unsafe { libc::ioctl(handle.as_raw_fd(), libc::FS_IOC_GETFLAGS, &mut flags as *mut libc::c_int) };
        (read == 0).then_some(flags)
    }

    #[cfg(target_os = "linux")]
    pub fn set(handle: &File, flags: libc::c_int) -> bool {
        use std::os::fd::AsRawFd;
        // SAFETY: FS_IOC_SETFLAGS reads one int through the pointer, which lives for the call.
        unsafe { libc::ioctl(handle.as_raw_fd(), libc::FS_IOC_SETFLAGS, &flags as *const libc::c_int) == 0 }
    }

    #[cfg(not(target_os = "linux"))]
    pub fn get(_: &File) -> Option<libc::c_int> {
        None
    }

    #[cfg(not(target_os = "linux"))]
    pub fn set(_: &File, _: libc::c_int) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// statfs's magic of ext2, ext3 and ext4, the file systems that take the flag.
    #[cfg(target_os = "linux")]
    const EXT_MAGIC: i64 = 0xEF53;

    #[cfg(target_os = "linux")]
    fn is_ext(path: &Path) -> bool {
        let path = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
        let mut stats: libc::statfs = unsafe { std::mem::zeroed() };
        unsafe { libc::statfs(path.as_ptr(), &mut stats) == 0 && stats.f_type as i64 == EXT_MAGIC }
    }

    #[cfg(not(target_os = "linux"))]
    fn is_ext(_: &Path) -> bool {
        false
    }

    #[test]
    fn a_created_directory_is_marked_where_the_file_system_takes_the_flag() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("work/e1/Build");
        create(&dir).unwrap();
        assert!(dir.is_dir());
        if is_ext(root.path()) {
            assert!(is_marked(&dir), "ext4 takes FS_TOPDIR_FL");
            assert!(!is_marked(&root.path().join("work")), "only the directory asked for is marked");
            assert!(mark(&dir), "marking again keeps it marked");
        } else {
            assert_eq!(is_marked(&dir), mark(&dir), "marked where the file system takes the flag");
        }
    }

    #[test]
    fn what_cannot_be_marked_is_not_an_error_but_what_cannot_be_made_is() {
        let root = tempfile::tempdir().unwrap();
        assert!(!mark(&root.path().join("missing")));
        let file = root.path().join("file");
        std::fs::write(&file, "x").unwrap();
        assert!(create(&file.join("under")).is_err(), "a directory under a file cannot be made");
    }
}
