//! Source actions on this machine: the content of a source comes from `--source ACTION=PATH`
//! (a git repository, a directory or a zip file), `--source ACTION=<git URL>[#ref]` (a
//! shallow fetch of the ref, of the commit a webhook names, else of the action's branch), or,
//! for git-based providers, from the git repository in the current directory; an ECR source
//! without a path takes the image its `--source` or its configuration names.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use tokio::process::Command;

use pipewright_core::engine::{Dispatch, FailureType, Revision, RevisionType};
use pipewright_core::providers::ProviderKind;

use pipewright_core::ports::ArtifactStore;
use pipewright_providers::ActionError;
use pipewright_providers::artifacts::ArtifactDir;
use pipewright_providers::clone_ref::{self, CloneRef};

use crate::image_source::{self, ImageRef};
use crate::providers::Workspace;

/// Where each source action takes its content from.
#[derive(Debug, Clone, Default)]
pub struct SourceOptions {
    /// `--source ACTION=PATH`.
    pub overrides: BTreeMap<String, PathBuf>,
    /// Where git-based sources look for a repository when no `--source` names them.
    pub working_directory: PathBuf,
    /// Never packed into a directory source (the state directory itself).
    pub exclude: Vec<PathBuf>,
}

/// What a source fetched.
#[derive(Debug, Clone, PartialEq)]
pub struct Fetched {
    pub output_variables: BTreeMap<String, String>,
    pub revision: Revision,
    pub summary: String,
}

enum Origin {
    Git(PathBuf),
    Remote(GitUrl),
    Directory(PathBuf),
    Zip(PathBuf),
    /// An ECR source's image, named by `--source` or by the action's configuration.
    Image(ImageRef),
}

/// `--source ACTION=<git URL>[#ref]`: a repository `git fetch` reaches, and the branch, tag or
/// commit to take.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GitUrl {
    pub url: String,
    pub reference: Option<String>,
}

/// The git URL `text` names, if it is one rather than a path: `scheme://…` (`file://`
/// included) or git's `user@host:path`.
pub fn git_url(text: &str) -> Option<GitUrl> {
    let (url, reference) = match text.rsplit_once('#') {
        Some((url, reference)) if !reference.is_empty() => (url, Some(reference.to_string())),
        _ => (text, None),
    };
    let scp_like = url.split_once(':').is_some_and(|(host, path)| host.contains('@') && !path.starts_with("//"));
    (url.contains("://") || scp_like).then(|| GitUrl { url: url.to_string(), reference })
}

/// True when `text` names a container image (`web:v2`, `registry/web@sha256:…`), which an ECR
/// source takes where no such path exists.
pub fn is_image_reference(text: &str) -> bool {
    ImageRef::parse(text).is_some()
}

fn is_git_based(kind: Option<ProviderKind>) -> bool {
    matches!(kind, Some(ProviderKind::CodeCommit | ProviderKind::CodeStarSourceConnection | ProviderKind::GitHubV1))
}

fn config_error(message: String) -> ActionError {
    ActionError { kind: FailureType::ConfigurationError, message }
}

async fn git(repository: &Path, args: &[&str]) -> Result<String, ActionError> {
    let output = Command::new("git")
        .arg("-C")
        .arg(repository)
        .args(args)
        .output()
        .await
        .map_err(|e| config_error(format!("cannot run git: {e}")))?;
    if !output.status.success() {
        return Err(ActionError {
            kind: FailureType::RevisionUnavailable,
            message: format!("git {} failed: {}", args.join(" "), String::from_utf8_lossy(&output.stderr).trim()),
        });
    }
    Ok(String::from_utf8_lossy(&output.stdout).trim_end().to_string())
}

/// The top of the git work tree containing `path`, if any.
pub async fn git_toplevel(path: &Path) -> Option<PathBuf> {
    let output = Command::new("git").arg("-C").arg(path).args(["rev-parse", "--show-toplevel"]).output().await.ok()?;
    output.status.success().then(|| PathBuf::from(String::from_utf8_lossy(&output.stdout).trim()))
}

async fn origin(
    dispatch: &Dispatch,
    kind: Option<ProviderKind>,
    options: &SourceOptions,
) -> Result<Origin, ActionError> {
    let name = &dispatch.action;
    let Some(path) = options.overrides.get(name) else {
        if kind == Some(ProviderKind::Ecr) {
            return Ok(Origin::Image(ImageRef::of_configuration(&dispatch.configuration)));
        }
        if is_git_based(kind) {
            return match git_toplevel(&options.working_directory).await {
                Some(top) => Ok(Origin::Git(top)),
                None => Err(config_error(format!(
                    "source action \"{name}\" reads the git repository in the current directory ({}), which is not one; give --source {name}=PATH",
                    options.working_directory.display()
                ))),
            };
        }
        return Err(config_error(format!(
            "source action \"{name}\" ({}/{}) has no local content; give --source {name}=PATH (a directory, a git repository or a zip file)",
            dispatch.action_type.owner, dispatch.action_type.provider
        )));
    };
    let given = path.to_string_lossy();
    let path = if path.is_absolute() { path.clone() } else { options.working_directory.join(path) };
    // Before git URLs: `registry/web@sha256:…` has git's `user@host:path` shape.
    if kind == Some(ProviderKind::Ecr)
        && !path.exists()
        && let Some(image) = ImageRef::parse(&given)
    {
        return Ok(Origin::Image(image));
    }
    if let Some(remote) = git_url(&given) {
        return Ok(Origin::Remote(remote));
    }
    if path.is_file() {
        return Ok(Origin::Zip(path));
    }
    if !path.is_dir() {
        return Err(config_error(format!("--source {name}={}: no such file or directory", path.display())));
    }
    if path.join(".git").exists() { Ok(Origin::Git(path)) } else { Ok(Origin::Directory(path)) }
}

/// Fetches the content of a source action into its output artifact.
pub async fn fetch(
    dispatch: &Dispatch,
    kind: Option<ProviderKind>,
    options: &SourceOptions,
    artifacts: &ArtifactDir,
    workspace: &Workspace,
) -> Result<Fetched, ActionError> {
    let output = dispatch
        .output_artifacts
        .first()
        .ok_or_else(|| config_error(format!("source action \"{}\" declares no output artifact", dispatch.action)))?;
    let io =
        |e: pipewright_core::ports::ArtifactError| ActionError { kind: FailureType::JobFailed, message: e.to_string() };
    let config = |key: &str| dispatch.configuration.get(key).cloned().unwrap_or_default();
    match origin(dispatch, kind, options).await? {
        Origin::Git(repository) => {
            // HEAD, or a commit id (a start takes no other COMMIT_ID): never an option.
            let wanted = revision_override(dispatch).unwrap_or("HEAD").to_string();
            let commit = git(&repository, &["rev-parse", "--verify", &format!("{wanted}^{{commit}}")]).await?;
            let branch = match git(&repository, &["rev-parse", "--abbrev-ref", "HEAD"]).await {
                Ok(branch) if branch != "HEAD" => branch,
                _ => config("BranchName"),
            };
            let url = format!("file://{}", repository.display());
            let origin = CommitOrigin { repository: &repository, commit: &commit, branch: &branch, clone_url: &url };
            from_commit(dispatch, kind, origin, artifacts, workspace).await
        }
        Origin::Remote(remote) => {
            let clone = workspace.path.join("clone");
            workspace.make().await.map_err(|e| config_error(e.to_string()))?;
            fs::create_dir_all(&clone).map_err(|e| config_error(e.to_string()))?;
            git(&clone, &["init", "--quiet"]).await?;
            // The commit a webhook names, else the ref given, else the branch the action follows.
            let configured = [config("BranchName"), config("Branch")].into_iter().find(|b| !b.is_empty());
            let wanted = revision_override(dispatch)
                .map(String::from)
                .or_else(|| remote.reference.clone())
                .or(configured)
                .unwrap_or_else(|| "HEAD".to_string());
            // After `--`, a URL or ref that begins with `-` is an operand, not an option
            // (`--upload-pack=…` would run a command for file:// and ssh remotes).
            git(&clone, &["fetch", "--quiet", "--depth", "1", "--", &remote.url, &wanted]).await?;
            let commit = git(&clone, &["rev-parse", "--verify", "FETCH_HEAD^{commit}"]).await?;
            // FETCH_HEAD says "<sha>\t\tbranch 'main' of <url>" when a branch was fetched.
            let fetched = fs::read_to_string(clone.join(".git").join("FETCH_HEAD")).unwrap_or_default();
            let branch = fetched
                .split_once("branch '")
                .and_then(|(_, rest)| rest.split_once('\''))
                .map(|(name, _)| name.to_string())
                .unwrap_or_else(|| config("BranchName"));
            let origin = CommitOrigin { repository: &clone, commit: &commit, branch: &branch, clone_url: &remote.url };
            let fetched = from_commit(dispatch, kind, origin, artifacts, workspace).await;
            let _ = fs::remove_dir_all(&clone);
            fetched
        }
        Origin::Directory(dir) => {
            // The revision is the digest of the content zipped, taken in the same read.
            let zipped = artifacts.pack_directory(&output.location, &dir, &[], &options.exclude).await.map_err(io)?;
            let message = format!("Snapshot of directory {}", dir.display());
            let summary = format!("{message} ({} files)", zipped.count);
            Ok(snapshot(dispatch, kind, &zipped.digest, &message, &dir, summary))
        }
        Origin::Image(image) => {
            workspace.make().await.map_err(|e| config_error(e.to_string()))?;
            let dir = workspace.path.join("image-detail");
            let text = serde_json::to_string_pretty(&image.detail(crate::backend::now())).unwrap_or_default();
            fs::create_dir_all(&dir)
                .and_then(|()| fs::write(dir.join(image_source::FILE_NAME), text))
                .map_err(|e| config_error(format!("cannot write {}: {e}", image_source::FILE_NAME)))?;
            artifacts.pack(&output.location, &dir, &[], &[]).await.map_err(io)?;
            let digest = image.digest();
            Ok(Fetched {
                output_variables: image.variables(),
                revision: Revision {
                    revision_id: digest.clone(),
                    change_identifier: Some(digest.clone()),
                    summary: Some(format!("Image tag: {}", image.tag)),
                    url: None,
                    created: None,
                },
                summary: format!("{} (no registry asked; {})", image.uri(), image_source::FILE_NAME),
            })
        }
        Origin::Zip(zip) => {
            artifacts.put_zip(&output.location, &zip).await.map_err(io)?;
            let file = zip.clone();
            let digest = tokio::task::spawn_blocking(move || digest_file(&file))
                .await
                .map_err(std::io::Error::other)
                .and_then(|digest| digest)
                .map_err(|e| config_error(e.to_string()))?;
            let message = format!("Zip file {}", zip.display());
            Ok(snapshot(dispatch, kind, &digest, &message, &zip, message.clone()))
        }
    }
}

/// The commit a start (a webhook, `sourceRevisions`) asks the action to fetch.
fn revision_override(dispatch: &Dispatch) -> Option<&str> {
    dispatch
        .source_revision
        .as_ref()
        .filter(|r| r.revision_type == RevisionType::CommitId)
        .map(|r| r.revision_value.as_str())
}

/// A commit in a repository on this machine, and where `git clone` finds that repository.
struct CommitOrigin<'a> {
    repository: &'a Path,
    commit: &'a str,
    branch: &'a str,
    clone_url: &'a str,
}

/// The artifact of a commit: its files (`git archive`), or with `OutputArtifactFormat:
/// CODEBUILD_CLONE_REF` a reference the CodeBuild action clones; and the commit's variables.
async fn from_commit(
    dispatch: &Dispatch,
    kind: Option<ProviderKind>,
    origin: CommitOrigin<'_>,
    artifacts: &ArtifactDir,
    workspace: &Workspace,
) -> Result<Fetched, ActionError> {
    let CommitOrigin { repository, commit, branch, clone_url } = origin;
    let io =
        |e: pipewright_core::ports::ArtifactError| ActionError { kind: FailureType::JobFailed, message: e.to_string() };
    let output = dispatch
        .output_artifacts
        .first()
        .ok_or_else(|| config_error(format!("source action \"{}\" declares no output artifact", dispatch.action)))?;
    let change = dispatch.source_revision.as_ref().map(|r| r.variables.clone()).unwrap_or_default();
    let branch = change.get("BranchName").map_or(branch, String::as_str);
    workspace.make().await.map_err(|e| config_error(e.to_string()))?;
    let scratch = &workspace.path;
    let format = dispatch.configuration.get("OutputArtifactFormat").map(String::as_str);
    if format == Some(clone_ref::FORMAT) {
        let reference = CloneRef {
            clone_url: clone_url.to_string(),
            commit: commit.to_string(),
            branch: Some(branch.to_string()).filter(|b| !b.is_empty()),
            full_repository_name: dispatch.configuration.get("FullRepositoryId").cloned(),
            provider_type: change.get("ProviderType").cloned(),
            connection_arn: dispatch.configuration.get("ConnectionArn").cloned(),
        };
        let dir = scratch.join("clone-ref");
        reference.write(&dir).map_err(|e| config_error(e.to_string()))?;
        artifacts.pack(&output.location, &dir, &[], &[]).await.map_err(io)?;
    } else {
        let zip = scratch.join("source.zip");
        git(repository, &["archive", "--format=zip", "-o", &zip.to_string_lossy(), commit]).await?;
        artifacts.put_zip(&output.location, &zip).await.map_err(io)?;
    }
    let log = git(repository, &["log", "-1", "--format=%s%n%aI%n%cI", commit]).await?;
    let mut lines = log.lines();
    let message = lines.next().unwrap_or_default().to_string();
    let author_date = lines.next().unwrap_or_default().to_string();
    let committer_date = lines.next().unwrap_or_default().to_string();
    let repository_name = repository.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let mut variables =
        commit_variables(dispatch, kind, commit, &message, branch, &author_date, &committer_date, &repository_name);
    if kind == Some(ProviderKind::CodeStarSourceConnection) {
        variables.extend(change.into_iter().filter(|(_, value)| !value.is_empty()));
    }
    Ok(Fetched {
        output_variables: variables,
        revision: Revision {
            revision_id: commit.to_string(),
            change_identifier: Some(commit.to_string()),
            summary: Some(message.clone()),
            url: None,
            created: None,
        },
        summary: format!("{} {} ({})", pipewright_core::text::head(commit, 8), message, clone_url),
    })
}

/// A source that is not a git commit: its revision is the digest of its content, and its
/// variables are those of its provider.
fn snapshot(
    dispatch: &Dispatch,
    kind: Option<ProviderKind>,
    digest: &str,
    message: &str,
    path: &Path,
    summary: String,
) -> Fetched {
    let branch = dispatch.configuration.get("BranchName").cloned().unwrap_or_default();
    let output_variables = match kind {
        Some(ProviderKind::Ecr) => ecr_variables(dispatch, digest),
        Some(ProviderKind::S3Source) | None => s3_variables(digest),
        _ => commit_variables(dispatch, kind, &digest[..40], message, &branch, "", "", &dir_name(path)),
    };
    Fetched {
        output_variables,
        revision: Revision {
            revision_id: digest[..40].to_string(),
            change_identifier: None,
            summary: Some(message.to_string()),
            url: None,
            created: None,
        },
        summary,
    }
}

fn dir_name(path: &Path) -> String {
    path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
}

/// The BLAKE3 hash of a file's content, as artifacts' content digests are, read in bounded
/// pieces whatever its size.
fn digest_file(path: &Path) -> std::io::Result<String> {
    let mut hasher = blake3::Hasher::new();
    std::io::copy(&mut fs::File::open(path)?, &mut hasher)?;
    Ok(hasher.finalize().to_hex().to_string())
}

#[allow(clippy::too_many_arguments)]
fn commit_variables(
    dispatch: &Dispatch,
    kind: Option<ProviderKind>,
    commit: &str,
    message: &str,
    branch: &str,
    author_date: &str,
    committer_date: &str,
    repository: &str,
) -> BTreeMap<String, String> {
    let config = |key: &str| dispatch.configuration.get(key).cloned().unwrap_or_default();
    let mut variables = BTreeMap::from([
        ("CommitId".to_string(), commit.to_string()),
        ("CommitMessage".to_string(), message.to_string()),
        ("BranchName".to_string(), branch.to_string()),
        ("AuthorDate".to_string(), author_date.to_string()),
    ]);
    match kind {
        Some(ProviderKind::CodeStarSourceConnection) => {
            variables.insert("ConnectionArn".into(), config("ConnectionArn"));
            variables.insert("FullRepositoryName".into(), config("FullRepositoryId"));
        }
        Some(ProviderKind::GitHubV1) => {
            variables.insert("CommitterDate".into(), committer_date.to_string());
            variables.insert("RepositoryName".into(), config("Repo"));
            variables.insert(
                "CommitUrl".into(),
                format!("https://github.com/{}/{}/commit/{commit}", config("Owner"), config("Repo")),
            );
        }
        _ => {
            variables.insert("CommitterDate".into(), committer_date.to_string());
            let name = config("RepositoryName");
            variables.insert("RepositoryName".into(), if name.is_empty() { repository.to_string() } else { name });
        }
    }
    variables.retain(|_, value| !value.is_empty());
    variables
}

fn s3_variables(digest: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("ETag".to_string(), digest[..32].to_string()),
        ("VersionId".to_string(), digest[32..64].to_string()),
    ])
}

fn ecr_variables(dispatch: &Dispatch, digest: &str) -> BTreeMap<String, String> {
    let repository = dispatch.configuration.get("RepositoryName").cloned().unwrap_or_default();
    let tag = dispatch.configuration.get("ImageTag").cloned().unwrap_or_else(|| "latest".to_string());
    BTreeMap::from([
        ("RegistryId".to_string(), "000000000000".to_string()),
        ("RepositoryName".to_string(), repository.clone()),
        ("ImageTag".to_string(), tag.clone()),
        ("ImageDigest".to_string(), format!("sha256:{digest}")),
        ("ImageURI".to_string(), format!("localhost/{repository}:{tag}")),
    ])
}
