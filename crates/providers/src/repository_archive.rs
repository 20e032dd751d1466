//! A git source read through its host's API, as on AWS (docs/sources.md, "Fetching a commit
//! on AWS"): the commit the start named (a webhook's push) or else the head of the configured
//! branch becomes the artifact, as the host's zip archive without its top directory, or with
//! `OutputArtifactFormat: CODEBUILD_CLONE_REF` as a reference the CodeBuild action clones. The
//! output variables are those CodePipeline gives for the provider.

use std::collections::BTreeMap;
use std::path::Path;

use pipewright_core::engine::{Dispatch, FailureType, Revision, RevisionType};
use pipewright_core::git_hosts::{HostApi, HttpRequest};
use pipewright_core::ports::ArtifactStore;
use pipewright_core::providers::ProviderKind;

use crate::artifacts::without_top_directory;
use crate::clone_ref::{self, CloneRef};
use crate::{ActionError, Outcome};
use pipewright_http::{Client, HttpError, Request};

/// The largest archive a source action takes (Lambda's /tmp holds 512 MB by default).
pub const ARCHIVE_LIMIT: u64 = 400 * 1024 * 1024;

/// Which repository, read through which API.
pub struct HostSource<'a> {
    pub api: &'a HostApi,
    /// `owner/name` (GitLab: the project's path).
    pub repository: &'a str,
    /// The branch the action follows, when the start names no commit.
    pub branch: &'a str,
    /// GitHub (version 1) or a connection: which variables the action gives.
    pub kind: ProviderKind,
}

fn failed(kind: FailureType, message: String) -> Outcome {
    Outcome::Failed(ActionError { kind, message })
}

fn http_failure(what: &str, error: HttpError) -> Outcome {
    let kind = match &error {
        // The host refused the token or the repository: the configuration is at fault.
        HttpError::Refused { status: 401 | 403 | 404, .. } => FailureType::ConfigurationError,
        _ => FailureType::JobFailed,
    };
    failed(kind, format!("cannot fetch {what}: {error}"))
}

/// A host API request as the HTTP client sends it (a body is the API's JSON).
fn to_request(request: &HttpRequest) -> Request {
    let mut sent = Request::new(request.method, &request.url);
    sent.headers = request.headers.clone();
    if let Some(body) = &request.body {
        sent = sent.header("Content-Type", "application/json").body(body.as_bytes());
    }
    sent
}

/// A JSON answer (`null` for an empty body).
fn json_answer(body: &[u8]) -> Result<serde_json::Value, String> {
    if body.is_empty() {
        return Ok(serde_json::Value::Null);
    }
    serde_json::from_slice(body).map_err(|e| format!("the host answered no JSON: {e}"))
}

/// Fetches the commit into the action's output artifact, under `scratch` (removed after).
pub async fn fetch<A: ArtifactStore>(
    client: &Client,
    source: &HostSource<'_>,
    dispatch: &Dispatch,
    artifacts: &A,
    scratch: &Path,
) -> Outcome {
    let outcome = fetch_into(client, source, dispatch, artifacts, scratch).await;
    // A warm Lambda instance keeps /tmp: leave it clean.
    let _ = tokio::fs::remove_dir_all(scratch).await;
    outcome
}

async fn fetch_into<A: ArtifactStore>(
    client: &Client,
    source: &HostSource<'_>,
    dispatch: &Dispatch,
    artifacts: &A,
    scratch: &Path,
) -> Outcome {
    let HostSource { api, repository, branch, kind } = *source;
    let Some(output) = dispatch.output_artifacts.first() else {
        return failed(
            FailureType::ConfigurationError,
            format!("source action {} has no output artifact", dispatch.action),
        );
    };
    let change = dispatch.source_revision.as_ref().map(|r| r.variables.clone()).unwrap_or_default();
    let pinned = dispatch
        .source_revision
        .as_ref()
        .filter(|r| r.revision_type == RevisionType::CommitId)
        .map(|r| r.revision_value.as_str());
    let reference = pinned.unwrap_or(branch);
    if reference.is_empty() {
        return failed(FailureType::ConfigurationError, "the action names no branch and the start no commit".into());
    }
    let what = format!("commit {reference} of {repository}");
    let answer = match client.fetch(to_request(&api.commit_request(repository, reference))).await {
        Ok(response) => json_answer(&response.body),
        Err(error) => return http_failure(&what, error),
    };
    let commit = match answer.and_then(|answer| api.parse_commit(&answer)) {
        Ok(commit) => commit,
        Err(message) => return failed(FailureType::JobFailed, format!("{what}: {message}")),
    };
    let branch = change.get("BranchName").map_or(branch, String::as_str);
    if let Err(error) = tokio::fs::create_dir_all(scratch).await {
        return failed(FailureType::JobFailed, format!("cannot create {}: {error}", scratch.display()));
    }
    let io = |e: pipewright_core::ports::ArtifactError| failed(FailureType::JobFailed, e.to_string());
    let config = |key: &str| dispatch.configuration.get(key).cloned().filter(|v| !v.is_empty());
    if config("OutputArtifactFormat").as_deref() == Some(clone_ref::FORMAT) {
        let reference = CloneRef {
            clone_url: api.clone_url(repository),
            commit: commit.id.clone(),
            branch: Some(branch.to_string()).filter(|b| !b.is_empty()),
            full_repository_name: Some(repository.to_string()),
            provider_type: Some(api.kind.name().to_string()),
            connection_arn: config("ConnectionArn"),
        };
        let dir = scratch.join("clone-ref");
        if let Err(error) = reference.write(&dir) {
            return failed(FailureType::JobFailed, format!("cannot write the clone reference: {error}"));
        }
        if let Err(error) = artifacts.pack(&output.location, &dir, &[], &[]).await {
            return io(error);
        }
    } else {
        let archive = scratch.join("archive.zip");
        let request = to_request(&api.archive_request(repository, &commit.id));
        if let Err(error) = client.download(request, &archive, ARCHIVE_LIMIT).await {
            return http_failure(&format!("the archive of {repository} at {}", commit.id), error);
        }
        let zip = scratch.join("source.zip");
        let (from, to) = (archive.clone(), zip.clone());
        match tokio::task::spawn_blocking(move || without_top_directory(&from, &to)).await {
            Ok(Ok(_)) => {}
            Ok(Err(error)) => return failed(FailureType::JobFailed, format!("the archive of {repository}: {error}")),
            Err(error) => return failed(FailureType::JobFailed, error.to_string()),
        }
        if let Err(error) = artifacts.put_zip(&output.location, &zip).await {
            return io(error);
        }
    }
    let mut variables = BTreeMap::from([
        ("CommitId".to_string(), commit.id.clone()),
        ("CommitMessage".to_string(), commit.message.clone()),
        ("BranchName".to_string(), branch.to_string()),
        ("AuthorDate".to_string(), commit.author_date.clone()),
    ]);
    if kind == ProviderKind::GitHubV1 {
        variables.insert("CommitterDate".into(), commit.committer_date.clone());
        variables.insert("CommitUrl".into(), api.commit_url(repository, &commit.id));
        variables.insert("RepositoryName".into(), config("Repo").unwrap_or_default());
    } else {
        variables.insert("ConnectionArn".into(), config("ConnectionArn").unwrap_or_default());
        variables.insert("FullRepositoryName".into(), repository.to_string());
        variables.insert("ProviderType".into(), api.kind.name().to_string());
        // A pull request's variables, from the delivery that started the execution.
        variables.extend(change.into_iter().filter(|(_, value)| !value.is_empty()));
    }
    variables.retain(|_, value| !value.is_empty());
    let short = pipewright_core::text::head(&commit.id, 8);
    Outcome::Succeeded {
        output_variables: variables,
        summary: format!("{repository} at {short}: {}", commit.message),
        external_execution_url: Some(api.commit_url(repository, &commit.id)),
        revision: Some(Revision {
            revision_id: commit.id.clone(),
            change_identifier: Some(commit.id.clone()),
            summary: Some(commit.message),
            url: Some(api.commit_url(repository, &commit.id)),
            created: None,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(error: HttpError) -> FailureType {
        match http_failure("the archive", error) {
            Outcome::Failed(ActionError { kind, message }) => {
                assert!(message.starts_with("cannot fetch the archive: "), "{message}");
                kind
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_refused_token_or_repository_is_the_configuration_at_fault_and_anything_else_a_failed_job() {
        let refused = |status| HttpError::Refused { url: "u".into(), status, message: "no".into() };
        for status in [401, 403, 404] {
            assert_eq!(kind(refused(status)), FailureType::ConfigurationError, "{status}");
        }
        assert_eq!(kind(refused(422)), FailureType::JobFailed);
        assert_eq!(
            kind(HttpError::Unavailable { url: "u".into(), status: 503, message: String::new() }),
            FailureType::JobFailed
        );
        assert_eq!(kind(HttpError::TooLarge { url: "u".into(), limit: ARCHIVE_LIMIT }), FailureType::JobFailed);
    }

    #[test]
    fn a_host_request_keeps_its_token_and_sends_a_body_as_json() {
        let api = HostApi::new(pipewright_core::git_hosts::HostKind::GitHub, None, None, "t").unwrap();
        let sent = to_request(&api.archive_request("o/r", "c"));
        assert_eq!((sent.method.as_str(), sent.url.as_str()), ("GET", "https://api.github.com/repos/o/r/zipball/c"));
        assert_eq!(sent.headers, api.archive_request("o/r", "c").headers);
        assert!(
            sent.headers.iter().any(|(name, value)| name.eq_ignore_ascii_case("authorization") && value.contains('t'))
        );
        assert!(sent.body.is_empty());
        let hook = api.create_hook_request("o/r", "https://hooks.example/x", None);
        let sent = to_request(&hook);
        assert_eq!(sent.body, hook.body.unwrap_or_default().into_bytes());
        assert!(sent.headers.contains(&("Content-Type".to_string(), "application/json".to_string())));
    }

    #[test]
    fn an_empty_answer_is_null_and_a_non_json_one_says_so() {
        assert_eq!(json_answer(b""), Ok(serde_json::Value::Null));
        assert_eq!(json_answer(b"{\"sha\":\"c\"}"), Ok(serde_json::json!({"sha": "c"})));
        assert!(json_answer(b"<html>").unwrap_err().contains("no JSON"));
    }
}
