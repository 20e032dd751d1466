//! Links the `pipewright` command with packed relative relocations (DT_RELR) where the C
//! library it will load with understands them (glibc 2.36 and later). The binary holds about
//! 98,000 relative relocations: as a plain table that is 2.3 MB for the loader to read and
//! apply at every start of every `pipewright` process (a run, each background worker); packed,
//! a few kilobytes (docs/benchmarks.md, "Packed relocations").
//!
//! Only when the binary is built for the machine that builds it: the check reads this
//! machine's C library, and a binary packed this way does not load on an older glibc.

use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let target = std::env::var("TARGET").unwrap_or_default();
    let host = std::env::var("HOST").unwrap_or_default();
    if target != host || !target.ends_with("-linux-gnu") {
        return;
    }
    if glibc_version().is_some_and(|version| version >= (2, 36)) {
        println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    }
}

/// This machine's glibc, from `getconf GNU_LIBC_VERSION` ("glibc 2.36").
fn glibc_version() -> Option<(u32, u32)> {
    let output = Command::new("getconf").arg("GNU_LIBC_VERSION").output().ok()?;
    let text = String::from_utf8(output.stdout).ok()?;
    let (major, minor) = text.trim().strip_prefix("glibc ")?.split_once('.')?;
    let minor = minor.split(|c: char| !c.is_ascii_digit()).next()?;
    Some((major.parse().ok()?, minor.parse().ok()?))
}
