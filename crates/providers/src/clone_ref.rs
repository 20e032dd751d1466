//! `OutputArtifactFormat: CODEBUILD_CLONE_REF`: instead of the files of a commit, a source
//! action hands on a reference to the repository and the commit, which the CodeBuild action
//! resolves into a full git clone at `$CODEBUILD_SRC_DIR` (docs/sources.md, "Full clones").
//! The artifact is a zip holding one file, [`FILE_NAME`].

use std::path::Path;

use serde::{Deserialize, Serialize};
use tokio::process::Command;

/// The one file of a clone-reference artifact.
pub const FILE_NAME: &str = "codebuild-clone-ref.json";

/// The `OutputArtifactFormat` value that asks for a clone reference.
pub const FORMAT: &str = "CODEBUILD_CLONE_REF";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CloneRef {
    /// What `git clone` takes: an https URL, or a path or `file://` URL locally.
    pub clone_url: String,
    pub commit: String,
    /// Checked out at the commit, when the source followed a branch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branch: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub full_repository_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connection_arn: Option<String>,
}

impl CloneRef {
    /// Writes the reference into `directory` (to be packed as the artifact).
    pub fn write(&self, directory: &Path) -> std::io::Result<()> {
        std::fs::create_dir_all(directory)?;
        let text = serde_json::to_string_pretty(self).map_err(std::io::Error::other)?;
        std::fs::write(directory.join(FILE_NAME), text)
    }

    /// The reference an unpacked artifact holds: only when [`FILE_NAME`] is its one file.
    pub fn read(directory: &Path) -> Option<Result<CloneRef, String>> {
        let mut entries = std::fs::read_dir(directory).ok()?;
        let only = entries.next()?.ok()?;
        if entries.next().is_some() || only.file_name() != FILE_NAME {
            return None;
        }
        Some(
            std::fs::read_to_string(only.path())
                .map_err(|e| e.to_string())
                .and_then(|text| serde_json::from_str(&text).map_err(|e| format!("{FILE_NAME}: {e}"))),
        )
    }

    /// The reference a zipped artifact holds: only when [`FILE_NAME`] is its one file.
    pub fn from_zip(bytes: &[u8]) -> Option<Result<CloneRef, String>> {
        let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes)).ok()?;
        if archive.len() != 1 {
            return None;
        }
        let mut file = archive.by_index(0).ok()?;
        if file.name().ok()?.as_ref() != FILE_NAME {
            return None;
        }
        let mut text = String::new();
        Some(
            std::io::Read::read_to_string(&mut file, &mut text)
                .map_err(|e| e.to_string())
                .and_then(|_| serde_json::from_str(&text).map_err(|e| format!("{FILE_NAME}: {e}"))),
        )
    }

    /// Replaces the reference in `directory` by a clone of the repository at the commit.
    pub async fn resolve(&self, directory: &Path) -> Result<(), String> {
        // A commit id, never text git could read as an option; the URL and the branch stand
        // where only an operand or an option's value can (`--` before the URL, `-B` takes
        // the branch). `--` rather than `--end-of-options`, which `checkout` reads as a path
        // before git 2.44.
        if !pipewright_core::engine::is_commit_id(&self.commit) {
            return Err(format!("{FILE_NAME}: commit {:?} is not a commit id", self.commit));
        }
        std::fs::remove_file(directory.join(FILE_NAME)).map_err(|e| format!("cannot remove {FILE_NAME}: {e}"))?;
        git(None, &["clone", "--quiet", "--", &self.clone_url, &directory.to_string_lossy()]).await?;
        let has_commit =
            git(Some(directory), &["cat-file", "-e", &format!("{}^{{commit}}", self.commit)]).await.is_ok();
        if !has_commit {
            // A pull request's head may live outside the branches a clone brings.
            git(Some(directory), &["fetch", "--quiet", "origin", &self.commit]).await?;
        }
        match &self.branch {
            Some(branch) => git(Some(directory), &["checkout", "--quiet", "-B", branch, &self.commit, "--"]).await,
            None => git(Some(directory), &["checkout", "--quiet", "--detach", &self.commit, "--"]).await,
        }
        .map(|_| ())
    }
}

async fn git(directory: Option<&Path>, args: &[&str]) -> Result<String, String> {
    let mut command = Command::new("git");
    if let Some(directory) = directory {
        command.arg("-C").arg(directory);
    }
    // Never wait for a password on a terminal nobody watches.
    let output = command
        .args(args)
        .env("GIT_TERMINAL_PROMPT", "0")
        .output()
        .await
        .map_err(|e| format!("cannot run git: {e}"))?;
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).trim().to_string())
    } else {
        Err(format!("git {} failed: {}", args.join(" "), String::from_utf8_lossy(&output.stderr).trim()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_zipped_reference_reads_back_and_other_zips_are_not_references() {
        let reference = CloneRef {
            clone_url: "https://github.com/o/r.git".into(),
            commit: "abc".into(),
            branch: None,
            full_repository_name: None,
            provider_type: Some("GitHub".into()),
            connection_arn: Some("arn:c".into()),
        };
        let text = serde_json::to_string(&reference).unwrap();
        let zipped = crate::deploy::zip_of(&[(FILE_NAME.to_string(), text)]).unwrap();
        assert_eq!(CloneRef::from_zip(&zipped), Some(Ok(reference)));
        let files = crate::deploy::zip_of(&[("main.c".to_string(), "int main(){}".to_string())]).unwrap();
        assert_eq!(CloneRef::from_zip(&files), None);
        let broken = crate::deploy::zip_of(&[(FILE_NAME.to_string(), "{".to_string())]).unwrap();
        assert!(matches!(CloneRef::from_zip(&broken), Some(Err(_))));
        assert_eq!(CloneRef::from_zip(b"not a zip"), None);
    }

    async fn repository(dir: &Path) -> (String, String) {
        let run = |args: &[&str]| {
            let status = std::process::Command::new("git")
                .arg("-C")
                .arg(dir)
                .args(["-c", "user.name=t", "-c", "user.email=t@example.test"])
                .args(args)
                .status()
                .unwrap();
            assert!(status.success(), "{args:?}");
        };
        std::fs::create_dir_all(dir).unwrap();
        run(&["init", "-q", "-b", "main"]);
        std::fs::write(dir.join("a.txt"), "one").unwrap();
        run(&["add", "."]);
        run(&["commit", "-qm", "one"]);
        let first = git(Some(dir), &["rev-parse", "HEAD"]).await.unwrap();
        std::fs::write(dir.join("a.txt"), "two").unwrap();
        run(&["commit", "-qam", "two"]);
        let second = git(Some(dir), &["rev-parse", "HEAD"]).await.unwrap();
        (first, second)
    }

    #[tokio::test]
    async fn a_reference_resolves_into_a_clone_at_its_commit_with_history() {
        let temp = tempfile::tempdir().unwrap();
        let origin = temp.path().join("origin");
        let (first, _) = repository(&origin).await;
        let reference = CloneRef {
            clone_url: format!("file://{}", origin.display()),
            commit: first.clone(),
            branch: Some("main".into()),
            full_repository_name: Some("o/r".into()),
            provider_type: None,
            connection_arn: None,
        };
        let src = temp.path().join("src");
        reference.write(&src).unwrap();
        let read = CloneRef::read(&src).unwrap().unwrap();
        assert_eq!(read, reference);
        read.resolve(&src).await.unwrap();
        assert_eq!(std::fs::read_to_string(src.join("a.txt")).unwrap(), "one");
        assert_eq!(git(Some(&src), &["rev-parse", "HEAD"]).await.unwrap(), first);
        assert_eq!(git(Some(&src), &["rev-parse", "--abbrev-ref", "HEAD"]).await.unwrap(), "main");
        assert!(!src.join(FILE_NAME).exists());

        // A reference whose commit or URL git could read as an option runs nothing.
        let marker = temp.path().join("ran");
        let hostile = CloneRef {
            clone_url: format!("--upload-pack=touch {}", marker.display()),
            commit: format!("--upload-pack=touch {}", marker.display()),
            ..reference.clone()
        };
        let refused = temp.path().join("refused");
        hostile.write(&refused).unwrap();
        assert!(hostile.resolve(&refused).await.unwrap_err().contains("is not a commit id"));
        let url_only = CloneRef { commit: first.clone(), ..hostile };
        let other = temp.path().join("other");
        url_only.write(&other).unwrap();
        assert!(url_only.resolve(&other).await.is_err(), "no repository at that URL");
        assert!(!marker.exists(), "git ran a command a reference named");
    }

    #[test]
    fn only_an_artifact_of_the_one_file_is_a_reference() {
        let temp = tempfile::tempdir().unwrap();
        assert!(CloneRef::read(temp.path()).is_none());
        std::fs::write(temp.path().join(FILE_NAME), "{}").unwrap();
        assert!(matches!(CloneRef::read(temp.path()), Some(Err(_))));
        std::fs::write(temp.path().join("other"), "x").unwrap();
        assert!(CloneRef::read(temp.path()).is_none());
    }
}
