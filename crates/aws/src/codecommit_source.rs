//! The CodeCommit source on AWS (docs/sources.md, "CodeCommit on AWS"): the commit the start
//! named (the event's, a poll's) or else the head of `BranchName` becomes the output
//! artifact: the files of that commit, read through CodeCommit's API (GetFolder from the
//! root down, GetFile for each file), written under the job's scratch directory as they
//! arrive and zipped by the artifact writer. With `OutputArtifactFormat:
//! CODEBUILD_CLONE_REF` the artifact is a clone reference instead.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

use aws_sdk_codecommit::Client;
use aws_sdk_codecommit::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_codecommit::types::FileModeTypeEnum;
use tokio::task::JoinSet;

use pipewright_core::engine::{Dispatch, FailureType, Revision, RevisionType};
use pipewright_core::ports::ArtifactStore;
use pipewright_core::time::Timestamp;
use pipewright_providers::clone_ref::{self, CloneRef};
use pipewright_providers::{ActionError, Outcome};

/// GetFile requests in flight at once.
const CONCURRENT_FILES: usize = 8;

fn failed(kind: FailureType, message: String) -> Outcome {
    Outcome::Failed(ActionError { kind, message })
}

/// A refused request (no such repository, branch, commit or path; a file over GetFile's
/// 6 MB; access denied) is the configuration at fault; throttling, a 5xx or a lost
/// connection fail the job.
pub(crate) fn sdk_failure<E, R>(what: &str, error: &SdkError<E, R>) -> Outcome
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug,
{
    let code = error.as_service_error().and_then(|e| e.code()).unwrap_or_default().to_string();
    let transient = code.is_empty()
        || code.contains("Throttl")
        || code.contains("TooManyRequests")
        || code.starts_with("EncryptionKeyUnavailable")
        || matches!(error, SdkError::ResponseError(_) | SdkError::TimeoutError(_) | SdkError::DispatchFailure(_));
    let kind = if transient { FailureType::JobFailed } else { FailureType::ConfigurationError };
    let detail = aws_smithy_types::error::display::DisplayErrorContext(error);
    failed(kind, format!("cannot read {what}: {detail}"))
}

/// CodeCommit's date (`1484167798 -0800`, git's form) as CodePipeline's variables give it
/// (`2017-01-11T20:49:58Z`); kept as it is when it has another form.
pub fn commit_date(date: &str) -> String {
    date.split_whitespace()
        .next()
        .and_then(|seconds| seconds.parse::<i64>().ok())
        .map(|seconds| Timestamp::from_millis(seconds.saturating_mul(1000)).to_rfc3339_seconds())
        .unwrap_or_else(|| date.to_string())
}

/// A path the API gave, as a relative path inside the scratch directory: never absolute,
/// never `..`.
fn relative_path(path: &str) -> Option<PathBuf> {
    let relative = PathBuf::from(path.trim_start_matches('/'));
    let safe = relative.components().all(|c| matches!(c, Component::Normal(_)));
    (safe && relative.components().next().is_some()).then_some(relative)
}

/// The git URL of a repository, which the CodeBuild runner clones.
pub fn clone_url(region: &str, repository: &str) -> String {
    format!("https://git-codecommit.{region}.{}/v1/repos/{repository}", dns_suffix(region))
}

/// The AWS domain of a region's endpoints.
pub(crate) fn dns_suffix(region: &str) -> &'static str {
    if region.starts_with("cn-") { "amazonaws.com.cn" } else { "amazonaws.com" }
}

/// A file of the commit, to fetch.
struct Entry {
    path: String,
    mode: Option<FileModeTypeEnum>,
}

/// Every file and link of the commit: GetFolder from the root down.
async fn list(client: &Client, repository: &str, commit: &str) -> Result<Vec<Entry>, Outcome> {
    let mut folders = vec!["/".to_string()];
    let mut entries = Vec::new();
    while let Some(folder) = folders.pop() {
        let output = client
            .get_folder()
            .repository_name(repository)
            .commit_specifier(commit)
            .folder_path(&folder)
            .send()
            .await
            .map_err(|e| sdk_failure(&format!("folder {folder} of {repository} at {commit}"), &e))?;
        for file in output.files() {
            entries
                .extend(file.absolute_path().map(|p| Entry { path: p.to_string(), mode: file.file_mode().cloned() }));
        }
        for link in output.symbolic_links() {
            entries.extend(
                link.absolute_path().map(|p| Entry { path: p.to_string(), mode: Some(FileModeTypeEnum::Symlink) }),
            );
        }
        // Submodules are other repositories: like CodePipeline's zip, the artifact leaves them out.
        folders.extend(output.sub_folders().iter().filter_map(|f| f.absolute_path().map(String::from)));
    }
    Ok(entries)
}

/// Fetches one file into `root`: a link as a link, an executable with its mode.
async fn fetch_file(
    client: Client,
    repository: String,
    commit: String,
    root: PathBuf,
    entry: Entry,
) -> Result<(), Outcome> {
    let Some(relative) = relative_path(&entry.path) else {
        return Err(failed(FailureType::JobFailed, format!("CodeCommit named an unsafe path {:?}", entry.path)));
    };
    let output = client
        .get_file()
        .repository_name(&repository)
        .commit_specifier(&commit)
        .file_path(&entry.path)
        .send()
        .await
        .map_err(|e| sdk_failure(&format!("file {} of {repository} at {commit}", entry.path), &e))?;
    let content = output.file_content.into_inner();
    let target = root.join(&relative);
    let written = tokio::task::spawn_blocking(move || write_entry(&target, &content, entry.mode.as_ref())).await;
    match written {
        Ok(Ok(())) => Ok(()),
        Ok(Err(error)) => Err(failed(FailureType::JobFailed, format!("cannot write {}: {error}", entry.path))),
        Err(error) => Err(failed(FailureType::JobFailed, error.to_string())),
    }
}

fn write_entry(target: &Path, content: &[u8], mode: Option<&FileModeTypeEnum>) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    if let Some(parent) = target.parent() {
        std::fs::create_dir_all(parent)?;
    }
    match mode {
        // A link's content is its target; the zip keeps it a link (never followed).
        Some(FileModeTypeEnum::Symlink) => {
            std::os::unix::fs::symlink(String::from_utf8_lossy(content).as_ref(), target)
        }
        Some(FileModeTypeEnum::Executable) => {
            std::fs::write(target, content)?;
            std::fs::set_permissions(target, std::fs::Permissions::from_mode(0o755))
        }
        _ => std::fs::write(target, content),
    }
}

/// The files of `commit`, written under `root`, at most [`CONCURRENT_FILES`] requests at once.
async fn download(client: &Client, repository: &str, commit: &str, root: &Path) -> Result<usize, Outcome> {
    let entries = list(client, repository, commit).await?;
    let count = entries.len();
    let mut pending = entries.into_iter();
    let mut running = JoinSet::new();
    loop {
        while running.len() < CONCURRENT_FILES {
            let Some(entry) = pending.next() else { break };
            let task = fetch_file(client.clone(), repository.into(), commit.into(), root.to_path_buf(), entry);
            running.spawn(task);
        }
        match running.join_next().await {
            None => return Ok(count),
            Some(Ok(Ok(()))) => {}
            Some(Ok(Err(outcome))) => return Err(outcome),
            Some(Err(error)) => return Err(failed(FailureType::JobFailed, error.to_string())),
        }
    }
}

/// Runs the CodeCommit source action of `dispatch` under `scratch`, which the caller removes.
pub async fn fetch<A: ArtifactStore>(
    client: &Client,
    region: &str,
    dispatch: &Dispatch,
    artifacts: &A,
    scratch: &Path,
) -> Outcome {
    let config = |key: &str| dispatch.configuration.get(key).map(String::as_str).filter(|v| !v.is_empty());
    let (Some(repository), Some(branch)) = (config("RepositoryName"), config("BranchName")) else {
        return failed(FailureType::ConfigurationError, "RepositoryName and BranchName are required".into());
    };
    let Some(output) = dispatch.output_artifacts.first() else {
        return failed(FailureType::ConfigurationError, "the CodeCommit source has no output artifact".into());
    };
    let pinned = dispatch
        .source_revision
        .as_ref()
        .filter(|r| r.revision_type == RevisionType::CommitId)
        .map(|r| r.revision_value.clone());
    let commit_id = match pinned {
        Some(commit) => commit,
        None => {
            let head = client.get_branch().repository_name(repository).branch_name(branch).send().await;
            match head.map(|o| o.branch.and_then(|b| b.commit_id)) {
                Ok(Some(commit)) => commit,
                Ok(None) => {
                    return failed(FailureType::JobFailed, format!("branch {branch} of {repository} has no commit"));
                }
                Err(error) => return sdk_failure(&format!("branch {branch} of {repository}"), &error),
            }
        }
    };
    let commit = match client.get_commit().repository_name(repository).commit_id(&commit_id).send().await {
        Ok(output) => output.commit,
        Err(error) => return sdk_failure(&format!("commit {commit_id} of {repository}"), &error),
    };
    let message = commit.as_ref().and_then(|c| c.message()).unwrap_or_default().trim_end().to_string();
    let date = |user: Option<&aws_sdk_codecommit::types::UserInfo>| user.and_then(|u| u.date()).map(commit_date);
    let author_date = date(commit.as_ref().and_then(|c| c.author())).unwrap_or_default();
    let committer_date = date(commit.as_ref().and_then(|c| c.committer())).unwrap_or_default();

    let io = |e: pipewright_core::ports::ArtifactError| failed(FailureType::JobFailed, e.to_string());
    let summary = if config("OutputArtifactFormat") == Some(clone_ref::FORMAT) {
        let reference = CloneRef {
            clone_url: clone_url(region, repository),
            commit: commit_id.clone(),
            branch: Some(branch.to_string()),
            full_repository_name: Some(repository.to_string()),
            provider_type: Some("CodeCommit".to_string()),
            connection_arn: None,
        };
        let dir = scratch.join("clone-ref");
        if let Err(error) = reference.write(&dir) {
            return failed(FailureType::JobFailed, format!("cannot write the clone reference: {error}"));
        }
        if let Err(error) = artifacts.pack(&output.location, &dir, &[], &[]).await {
            return io(error);
        }
        "a clone reference".to_string()
    } else {
        let root = scratch.join("files");
        if let Err(error) = tokio::fs::create_dir_all(&root).await {
            return failed(FailureType::JobFailed, format!("cannot create {}: {error}", root.display()));
        }
        if let Err(outcome) = download(client, repository, &commit_id, &root).await {
            return outcome;
        }
        match artifacts.pack(&output.location, &root, &[], &[]).await {
            Ok(count) => format!("{count} file{}", if count == 1 { "" } else { "s" }),
            Err(error) => return io(error),
        }
    };
    let mut variables = BTreeMap::from([
        ("CommitId".to_string(), commit_id.clone()),
        ("CommitMessage".to_string(), message.clone()),
        ("AuthorDate".to_string(), author_date),
        ("CommitterDate".to_string(), committer_date),
        ("BranchName".to_string(), branch.to_string()),
        ("RepositoryName".to_string(), repository.to_string()),
    ]);
    variables.retain(|_, value| !value.is_empty());
    let url = format!(
        "https://{region}.console.aws.amazon.com/codesuite/codecommit/repositories/{repository}/commit/{commit_id}?region={region}"
    );
    let short = pipewright_core::text::head(&commit_id, 8);
    let first_line = message.lines().next().unwrap_or_default().to_string();
    Outcome::Succeeded {
        output_variables: variables,
        summary: format!("{repository} {branch} at {short} ({summary}): {first_line}"),
        external_execution_url: Some(url.clone()),
        revision: Some(Revision {
            revision_id: commit_id.clone(),
            change_identifier: Some(commit_id),
            summary: Some(message),
            url: Some(url),
            created: None,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codecommit_dates_become_utc_timestamps() {
        assert_eq!(commit_date("1484167798 -0800"), "2017-01-11T20:49:58Z");
        assert_eq!(commit_date("2017-01-11T20:49:58Z"), "2017-01-11T20:49:58Z", "another form is kept");
    }

    #[test]
    fn only_paths_inside_the_scratch_directory_are_written() {
        assert_eq!(relative_path("/src/main.rs"), Some(PathBuf::from("src/main.rs")));
        assert_eq!(relative_path("README.md"), Some(PathBuf::from("README.md")));
        for bad in ["", "/", "../x", "a/../../x", "./a"] {
            assert_eq!(relative_path(bad), None, "{bad}");
        }
    }

    #[test]
    fn clone_urls_name_the_region_and_its_domain() {
        assert_eq!(clone_url("eu-west-1", "app"), "https://git-codecommit.eu-west-1.amazonaws.com/v1/repos/app");
        assert_eq!(clone_url("cn-north-1", "app"), "https://git-codecommit.cn-north-1.amazonaws.com.cn/v1/repos/app");
    }
}
