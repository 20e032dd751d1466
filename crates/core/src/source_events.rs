//! Which executions a change at a source starts: the source actions an event concerns, the
//! revision they take, and the V2 trigger filters (docs/reference/codepipeline.md §1.5, §7.2).

use globset::{GlobBuilder, GlobMatcher};
use serde::{Deserialize, Serialize};

use crate::declaration::{GitFilterCriteria, PipelineDeclaration, PipelineTriggerDeclaration, PullRequestEvent};
use crate::engine::{RevisionType, SourceRevisionOverride};
use crate::ids;
use crate::providers::{self, ProviderKind};

/// A change at a source, as an event reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum SourceChange {
    /// S3 "Object Created".
    #[serde(rename_all = "camelCase")]
    S3Object { bucket: String, key: String, version_id: Option<String>, etag: Option<String> },
    /// CodeCommit "Repository State Change" (a branch created or updated).
    #[serde(rename_all = "camelCase")]
    CodeCommit { repository: String, branch: String, commit_id: String },
    /// ECR "Image Action" PUSH.
    #[serde(rename_all = "camelCase")]
    EcrImage { repository: String, tag: Option<String>, digest: String },
    /// A push or pull request on a connection source (from a webhook or the CLI).
    #[serde(rename_all = "camelCase")]
    Git {
        source_action: String,
        branch: Option<String>,
        tag: Option<String>,
        commit_id: Option<String>,
        /// The changed files, when known; without them, file-path filters do not exclude.
        file_paths: Option<Vec<String>>,
        pull_request: Option<PullRequestEvent>,
    },
}

/// A source action the change concerns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceMatch {
    pub action: String,
    /// The revision the source action must fetch, when the change names one.
    pub revision: Option<SourceRevisionOverride>,
    /// Identifies the change: the same revision never starts two executions.
    pub revision_id: String,
}

impl SourceMatch {
    /// The id of the execution this change starts: the same for every delivery of the event.
    pub fn execution_id(&self, pipeline: &str) -> String {
        ids::uuid_from(&["source-change", pipeline, &self.action, &self.revision_id])
    }
}

fn revision(action: &str, kind: RevisionType, value: &str) -> Option<SourceRevisionOverride> {
    Some(SourceRevisionOverride {
        action_name: action.to_string(),
        revision_type: kind,
        revision_value: value.to_string(),
        variables: Default::default(),
    })
}

/// The source actions of `declaration` that `change` concerns.
pub fn matches(declaration: &PipelineDeclaration, change: &SourceChange) -> Vec<SourceMatch> {
    let Some(first) = declaration.stages.first() else { return Vec::new() };
    let mut found = Vec::new();
    for action in &first.actions {
        let kind = providers::spec_of(&action.action_type_id).map(|spec| spec.kind);
        let config = |key: &str| action.config(key).unwrap_or_default();
        let name = action.name.as_str();
        // `DetectChanges: false` turns change detection off for the action.
        if action.config("DetectChanges").is_some_and(|v| v.eq_ignore_ascii_case("false")) {
            continue;
        }
        let matched = match (kind, change) {
            (Some(ProviderKind::S3Source), SourceChange::S3Object { bucket, key, version_id, etag }) => {
                (config("S3Bucket") == bucket && config("S3ObjectKey") == key).then(|| SourceMatch {
                    action: name.to_string(),
                    revision: version_id.as_deref().and_then(|v| revision(name, RevisionType::S3ObjectVersionId, v)),
                    revision_id: version_id.clone().or_else(|| etag.clone()).unwrap_or_else(|| key.clone()),
                })
            }
            (Some(ProviderKind::CodeCommit), SourceChange::CodeCommit { repository, branch, commit_id }) => {
                (config("RepositoryName") == repository && config("BranchName") == branch).then(|| SourceMatch {
                    action: name.to_string(),
                    revision: revision(name, RevisionType::CommitId, commit_id),
                    revision_id: commit_id.clone(),
                })
            }
            (Some(ProviderKind::Ecr), SourceChange::EcrImage { repository, tag, digest }) => {
                let wanted = if config("ImageTag").is_empty() { "latest" } else { config("ImageTag") };
                (config("RepositoryName") == repository && tag.as_deref() == Some(wanted)).then(|| SourceMatch {
                    action: name.to_string(),
                    revision: revision(name, RevisionType::ImageDigest, digest),
                    revision_id: digest.clone(),
                })
            }
            (_, SourceChange::Git { source_action, branch, tag, commit_id, file_paths, pull_request })
                if source_action == name =>
            {
                let change = GitChange {
                    branch: branch.as_deref(),
                    tag: tag.as_deref(),
                    files: file_paths.as_deref(),
                    pull_request: pull_request.as_ref(),
                };
                explain_git(declaration, action, &change).is_ok().then(|| SourceMatch {
                    action: name.to_string(),
                    revision: commit_id.as_deref().and_then(|c| revision(name, RevisionType::CommitId, c)),
                    revision_id: commit_id
                        .clone()
                        .or_else(|| tag.clone())
                        .or_else(|| branch.clone())
                        .unwrap_or_default(),
                })
            }
            _ => None,
        };
        found.extend(matched);
    }
    found
}

/// A push or pull request as the trigger filters see it. For a pull request, `branch` is its
/// destination branch: a pull-request filter names the branches pull requests go into.
#[derive(Debug, Clone, Copy, Default)]
pub struct GitChange<'a> {
    pub branch: Option<&'a str>,
    pub tag: Option<&'a str>,
    /// The changed files, when known.
    pub files: Option<&'a [String]>,
    pub pull_request: Option<&'a PullRequestEvent>,
}

/// Whether `change` starts source action `action` of `declaration`: `Ok` says which trigger
/// filter (or which default) accepts it, `Err` why none does. `DetectChanges: false` is not
/// looked at here; [`matches`] skips such actions.
pub fn explain_git(
    declaration: &PipelineDeclaration,
    action: &crate::declaration::ActionDeclaration,
    change: &GitChange<'_>,
) -> Result<String, String> {
    let name = action.name.as_str();
    let trigger = declaration.triggers.iter().flatten().find(|t| t.git_configuration.source_action_name == name);
    match trigger {
        Some(trigger) => explain_trigger(trigger, change),
        // Without a trigger, change detection follows the configured branch.
        None => {
            let configured = action.config("BranchName").unwrap_or_default();
            match (change.pull_request, change.tag, change.branch) {
                (Some(_), _, _) => Err("without a trigger, pull requests start nothing".to_string()),
                (None, Some(tag), _) => Err(format!("without a trigger, a tag push ({tag}) starts nothing")),
                (None, None, Some(branch)) if branch == configured => {
                    Ok(format!("no trigger: a push to its BranchName {configured}"))
                }
                (None, None, branch) => Err(format!(
                    "without a trigger only pushes to BranchName {configured} start it, not to {}",
                    branch.unwrap_or("(no branch)")
                )),
            }
        }
    }
}

fn glob(pattern: &str) -> Option<GlobMatcher> {
    GlobBuilder::new(pattern).literal_separator(true).build().ok().map(|g| g.compile_matcher())
}

fn any_match(patterns: &Option<Vec<String>>, value: &str) -> Option<String> {
    patterns.iter().flatten().find(|p| glob(p).is_some_and(|matcher| matcher.is_match(value))).cloned()
}

/// Includes (any; all when absent) and no exclude (excludes win).
fn criteria_verdict(criteria: &GitFilterCriteria, value: &str) -> Result<(), String> {
    if let Some(pattern) = any_match(&criteria.excludes, value) {
        return Err(format!("{value} is excluded by {pattern}"));
    }
    if criteria.includes.is_some() && any_match(&criteria.includes, value).is_none() {
        let includes = criteria.includes.iter().flatten().cloned().collect::<Vec<_>>().join(", ");
        return Err(format!("{value} matches none of the includes [{includes}]"));
    }
    Ok(())
}

/// With file-path criteria, at least one changed file must pass them. Unknown files pass.
fn files_verdict(criteria: Option<&GitFilterCriteria>, files: Option<&[String]>) -> Result<(), String> {
    match (criteria, files) {
        (Some(criteria), Some(files)) => {
            if files.iter().any(|file| criteria_verdict(criteria, file).is_ok()) {
                Ok(())
            } else {
                let shown: Vec<&str> = files.iter().take(3).map(String::as_str).collect();
                let more = if files.len() > 3 { format!(" and {} more", files.len() - 3) } else { String::new() };
                Err(format!("no changed file passes the filePaths filter ({}{more})", shown.join(", ")))
            }
        }
        _ => Ok(()),
    }
}

/// Whether a trigger starts the pipeline for this change (docs/reference/codepipeline.md §1.5).
pub fn trigger_accepts(
    trigger: &PipelineTriggerDeclaration,
    branch: Option<&str>,
    tag: Option<&str>,
    files: Option<&[String]>,
    pull_request: Option<&PullRequestEvent>,
) -> bool {
    explain_trigger(trigger, &GitChange { branch, tag, files, pull_request }).is_ok()
}

/// [`trigger_accepts`], in words: which filter accepts the change, or why each refuses it.
pub fn explain_trigger(trigger: &PipelineTriggerDeclaration, change: &GitChange<'_>) -> Result<String, String> {
    let git = &trigger.git_configuration;
    let mut refusals = Vec::new();
    match change.pull_request {
        Some(event) => {
            let filters = git.pull_request.as_deref().unwrap_or_default();
            if filters.is_empty() {
                return Err("its trigger has no pullRequest filter".to_string());
            }
            for (i, filter) in filters.iter().enumerate() {
                let verdict = (|| {
                    if let Some(events) = filter.events.as_ref().filter(|events| !events.contains(event)) {
                        let names: Vec<&str> = events.iter().map(PullRequestEvent::as_str).collect();
                        return Err(format!("{} is not one of its events [{}]", event.as_str(), names.join(", ")));
                    }
                    match (&filter.branches, change.branch) {
                        (Some(criteria), Some(branch)) => criteria_verdict(criteria, branch)?,
                        (Some(_), None) => return Err("the pull request names no destination branch".to_string()),
                        (None, _) => {}
                    }
                    files_verdict(filter.file_paths.as_ref(), change.files)
                })();
                match verdict {
                    Ok(()) => return Ok(format!("pullRequest[{i}] ({})", event.as_str())),
                    Err(reason) => refusals.push(format!("pullRequest[{i}]: {reason}")),
                }
            }
        }
        None => {
            let filters = git.push.as_deref().unwrap_or_default();
            if filters.is_empty() {
                return Err("its trigger has no push filter".to_string());
            }
            for (i, filter) in filters.iter().enumerate() {
                let verdict = match (&filter.tags, change.tag, &filter.branches, change.branch) {
                    (Some(criteria), Some(tag), _, _) => criteria_verdict(criteria, tag).map(|()| format!("tag {tag}")),
                    (None, None, Some(criteria), Some(branch)) => criteria_verdict(criteria, branch)
                        .and_then(|()| files_verdict(filter.file_paths.as_ref(), change.files))
                        .map(|()| format!("branch {branch}")),
                    (Some(_), None, _, _) => Err("it filters tags, and this push is not a tag".to_string()),
                    (None, Some(tag), _, _) => Err(format!("it filters branches, and this push is tag {tag}")),
                    (None, None, None, _) => Err("it names neither tags nor branches".to_string()),
                    (None, None, Some(_), None) => Err("the push names no branch".to_string()),
                };
                match verdict {
                    Ok(what) => return Ok(format!("push[{i}] ({what})")),
                    Err(reason) => refusals.push(format!("push[{i}]: {reason}")),
                }
            }
        }
    }
    Err(refusals.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::declaration::{Format, PipelineDocument};

    fn declaration(json: serde_json::Value) -> PipelineDeclaration {
        PipelineDocument::parse(&json.to_string(), Format::Json).unwrap().pipeline
    }

    fn sources() -> PipelineDeclaration {
        declaration(serde_json::json!({
            "name": "p", "roleArn": "arn:aws:iam::111122223333:role/r", "artifactStore": {"type": "S3", "location": "b-1"},
            "pipelineType": "V2",
            "triggers": [{"providerType": "CodeStarSourceConnection", "gitConfiguration": {
                "sourceActionName": "Conn",
                "push": [{"branches": {"includes": ["main", "release/**"], "excludes": ["release/old-*"]},
                          "filePaths": {"includes": ["services/orders/**"], "excludes": ["**/*.md"]}},
                         {"tags": {"includes": ["v*"]}}],
                "pullRequest": [{"events": ["OPEN"], "branches": {"includes": ["main"]}}]}}],
            "stages": [
                {"name": "Source", "actions": [
                    {"name": "Bundle", "actionTypeId": {"category": "Source", "owner": "AWS", "provider": "S3", "version": "1"},
                     "configuration": {"S3Bucket": "uploads", "S3ObjectKey": "app.zip"}, "outputArtifacts": [{"name": "A"}]},
                    {"name": "Repo", "actionTypeId": {"category": "Source", "owner": "AWS", "provider": "CodeCommit", "version": "1"},
                     "configuration": {"RepositoryName": "repo", "BranchName": "main"}, "outputArtifacts": [{"name": "B"}]},
                    {"name": "Image", "actionTypeId": {"category": "Source", "owner": "AWS", "provider": "ECR", "version": "1"},
                     "configuration": {"RepositoryName": "app"}, "outputArtifacts": [{"name": "C"}]},
                    {"name": "Conn", "actionTypeId": {"category": "Source", "owner": "AWS", "provider": "CodeStarSourceConnection", "version": "1"},
                     "configuration": {"ConnectionArn": "arn:c", "FullRepositoryId": "o/r", "BranchName": "main"}, "outputArtifacts": [{"name": "D"}]},
                    {"name": "Plain", "actionTypeId": {"category": "Source", "owner": "AWS", "provider": "CodeStarSourceConnection", "version": "1"},
                     "configuration": {"ConnectionArn": "arn:c", "FullRepositoryId": "o/s", "BranchName": "develop"}, "outputArtifacts": [{"name": "E"}]}
                ]},
                {"name": "Build", "actions": [{"name": "B", "actionTypeId": {"category": "Build", "owner": "AWS", "provider": "CodeBuild", "version": "1"},
                  "configuration": {"ProjectName": "x"}, "inputArtifacts": [{"name": "A"}]}]}
            ]
        }))
    }

    fn git(
        action: &str,
        branch: Option<&str>,
        tag: Option<&str>,
        files: Option<&[&str]>,
        pr: Option<PullRequestEvent>,
    ) -> SourceChange {
        SourceChange::Git {
            source_action: action.into(),
            branch: branch.map(Into::into),
            tag: tag.map(Into::into),
            commit_id: Some("abc".into()),
            file_paths: files.map(|f| f.iter().map(|s| s.to_string()).collect()),
            pull_request: pr,
        }
    }

    fn actions(change: &SourceChange) -> Vec<String> {
        matches(&sources(), change).into_iter().map(|m| m.action).collect()
    }

    #[test]
    fn aws_source_events_match_their_source_actions() {
        let s3 = SourceChange::S3Object {
            bucket: "uploads".into(),
            key: "app.zip".into(),
            version_id: Some("v1".into()),
            etag: None,
        };
        let found = matches(&sources(), &s3);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].action, "Bundle");
        assert_eq!(found[0].revision.as_ref().unwrap().revision_type, RevisionType::S3ObjectVersionId);
        assert!(
            actions(&SourceChange::S3Object {
                bucket: "uploads".into(),
                key: "other.zip".into(),
                version_id: None,
                etag: None
            })
            .is_empty()
        );
        assert_eq!(
            actions(&SourceChange::CodeCommit {
                repository: "repo".into(),
                branch: "main".into(),
                commit_id: "c".into()
            }),
            ["Repo"]
        );
        assert!(
            actions(&SourceChange::CodeCommit {
                repository: "repo".into(),
                branch: "dev".into(),
                commit_id: "c".into()
            })
            .is_empty()
        );
        assert_eq!(
            actions(&SourceChange::EcrImage {
                repository: "app".into(),
                tag: Some("latest".into()),
                digest: "sha256:1".into()
            }),
            ["Image"]
        );
        assert!(
            actions(&SourceChange::EcrImage {
                repository: "app".into(),
                tag: Some("v2".into()),
                digest: "sha256:1".into()
            })
            .is_empty()
        );
    }

    #[test]
    fn trigger_filters_branches_paths_tags_and_pull_requests() {
        assert_eq!(actions(&git("Conn", Some("main"), None, Some(&["services/orders/api.rs"]), None)), ["Conn"]);
        assert_eq!(
            actions(&git("Conn", Some("release/2.1"), None, None, None)),
            ["Conn"],
            "unknown files do not exclude"
        );
        assert!(actions(&git("Conn", Some("release/old-1"), None, None, None)).is_empty(), "excludes win");
        assert!(actions(&git("Conn", Some("main"), None, Some(&["services/orders/README.md"]), None)).is_empty());
        assert!(actions(&git("Conn", Some("main"), None, Some(&["services/billing/x.rs"]), None)).is_empty());
        assert!(actions(&git("Conn", Some("feature/x"), None, None, None)).is_empty());
        assert_eq!(actions(&git("Conn", None, Some("v1.2.0"), None, None)), ["Conn"]);
        assert!(actions(&git("Conn", None, Some("nightly"), None, None)).is_empty());
        assert_eq!(actions(&git("Conn", Some("main"), None, None, Some(PullRequestEvent::Open))), ["Conn"]);
        assert!(actions(&git("Conn", Some("main"), None, None, Some(PullRequestEvent::Closed))).is_empty());
    }

    #[test]
    fn without_a_trigger_the_configured_branch_decides() {
        assert_eq!(actions(&git("Plain", Some("develop"), None, None, None)), ["Plain"]);
        assert!(actions(&git("Plain", Some("main"), None, None, None)).is_empty());
        assert!(actions(&git("Plain", None, Some("v1"), None, None)).is_empty());
    }

    #[test]
    fn the_same_revision_always_gives_the_same_execution() {
        let change =
            SourceChange::CodeCommit { repository: "repo".into(), branch: "main".into(), commit_id: "c1".into() };
        let first = matches(&sources(), &change)[0].execution_id("p");
        assert_eq!(first, matches(&sources(), &change)[0].execution_id("p"));
        let other =
            SourceChange::CodeCommit { repository: "repo".into(), branch: "main".into(), commit_id: "c2".into() };
        assert_ne!(first, matches(&sources(), &other)[0].execution_id("p"));
    }
}
