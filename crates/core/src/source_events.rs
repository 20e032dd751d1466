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
                let trigger =
                    declaration.triggers.iter().flatten().find(|t| t.git_configuration.source_action_name == name);
                let accepted = match trigger {
                    Some(trigger) => trigger_accepts(
                        trigger,
                        branch.as_deref(),
                        tag.as_deref(),
                        file_paths.as_deref(),
                        pull_request.as_ref(),
                    ),
                    // Without a trigger, change detection follows the configured branch.
                    None => pull_request.is_none() && tag.is_none() && branch.as_deref() == Some(config("BranchName")),
                };
                accepted.then(|| SourceMatch {
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

fn glob(pattern: &str) -> Option<GlobMatcher> {
    GlobBuilder::new(pattern).literal_separator(true).build().ok().map(|g| g.compile_matcher())
}

/// Includes (any; all when absent) and no exclude (excludes win).
fn criteria_accept(criteria: &GitFilterCriteria, value: &str) -> bool {
    let any = |patterns: &Option<Vec<String>>| {
        patterns.iter().flatten().filter_map(|p| glob(p)).any(|matcher| matcher.is_match(value))
    };
    let included = criteria.includes.is_none() || any(&criteria.includes);
    included && !any(&criteria.excludes)
}

/// With file-path criteria, at least one changed file must pass them. Unknown files pass.
fn files_accept(criteria: Option<&GitFilterCriteria>, files: Option<&[String]>) -> bool {
    match (criteria, files) {
        (Some(criteria), Some(files)) => files.iter().any(|file| criteria_accept(criteria, file)),
        _ => true,
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
    let git = &trigger.git_configuration;
    match pull_request {
        Some(event) => git.pull_request.iter().flatten().any(|filter| {
            let event_ok = filter.events.as_ref().is_none_or(|events| events.contains(event));
            let branch_ok = match (&filter.branches, branch) {
                (Some(criteria), Some(branch)) => criteria_accept(criteria, branch),
                (Some(_), None) => false,
                (None, _) => true,
            };
            event_ok && branch_ok && files_accept(filter.file_paths.as_ref(), files)
        }),
        None => git.push.iter().flatten().any(|filter| match (&filter.tags, tag, &filter.branches, branch) {
            (Some(criteria), Some(tag), _, _) => criteria_accept(criteria, tag),
            (None, None, Some(criteria), Some(branch)) => {
                criteria_accept(criteria, branch) && files_accept(filter.file_paths.as_ref(), files)
            }
            _ => false,
        }),
    }
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
