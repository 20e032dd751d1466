//! Polling for source changes (docs/sources.md, "Polling"): which source actions poll, when a
//! pipeline's poll is due, and whether the heads a poll saw start an execution, with trigger
//! `PollForSourceChanges`.
//!
//! The first poll of a pipeline only records what it saw; every later poll compares each
//! action's head (an S3 object version, a branch's commit) with the one recorded, and starts
//! one execution when any moved. The execution's id is derived from the heads before and
//! after, so a poll repeated after a crash, or two ticks at once, start it once.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::declaration::{ActionDeclaration, PipelineDeclaration};
use crate::engine::{RevisionType, SourceRevisionOverride};
use crate::ids;
use crate::providers::{ProviderKind, spec_of};
use crate::time::Timestamp;

/// A pipeline is polled at most this often.
pub const POLL_INTERVAL_SECONDS: u32 = 60;

/// The store record kind of the last poll of a pipeline (keyed by the pipeline's name).
pub const RECORD_KIND: &str = "source-poll";

/// Whether a source action polls for changes: `PollForSourceChanges` is true, or omitted,
/// which means true for the S3, CodeCommit and GitHub (version 1) sources of a pipeline
/// created through the CLI, the API or CloudFormation (docs/sources.md, "Polling").
pub fn polls(action: &ActionDeclaration) -> bool {
    let polling_kind = matches!(
        spec_of(&action.action_type_id).map(|s| s.kind),
        Some(ProviderKind::S3Source | ProviderKind::CodeCommit | ProviderKind::GitHubV1)
    );
    polling_kind && action.config("PollForSourceChanges").is_none_or(|v| v.eq_ignore_ascii_case("true"))
}

/// What a polled source action follows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PolledSource {
    S3Object { bucket: String, key: String },
    CodeCommitBranch { repository: String, branch: String },
}

/// A source action a poll looks at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolledAction {
    pub action: String,
    pub source: PolledSource,
}

/// The source actions of `declaration` that Pipewright polls on AWS: the S3 and CodeCommit
/// source actions that poll. GitHub (version 1) actions are not polled (a webhook starts
/// them).
pub fn polled_actions(declaration: &PipelineDeclaration) -> Vec<PolledAction> {
    let Some(first) = declaration.stages.first() else { return Vec::new() };
    first
        .actions
        .iter()
        .filter(|action| polls(action))
        .filter_map(|action| {
            let config = |key: &str| action.config(key).filter(|v| !v.is_empty()).map(String::from);
            let source = match spec_of(&action.action_type_id).map(|s| s.kind)? {
                ProviderKind::S3Source => {
                    PolledSource::S3Object { bucket: config("S3Bucket")?, key: config("S3ObjectKey")? }
                }
                ProviderKind::CodeCommit => PolledSource::CodeCommitBranch {
                    repository: config("RepositoryName")?,
                    branch: config("BranchName")?,
                },
                _ => return None,
            };
            Some(PolledAction { action: action.name.clone(), source })
        })
        .collect()
}

/// The head of a polled source: what identifies its content, and, when the source can be
/// pinned to it, how (an S3 object version, a commit). An object of an unversioned bucket
/// is identified by its ETag and cannot be pinned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Head {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision_type: Option<RevisionType>,
}

impl Head {
    pub fn commit(id: &str) -> Head {
        Head { id: id.to_string(), revision_type: Some(RevisionType::CommitId) }
    }

    /// An S3 object: its version, else (an unversioned bucket) its ETag.
    pub fn s3_object(version_id: Option<&str>, etag: &str) -> Head {
        match version_id.filter(|v| !v.is_empty() && *v != "null") {
            Some(version) => Head { id: version.to_string(), revision_type: Some(RevisionType::S3ObjectVersionId) },
            None => Head { id: etag.to_string(), revision_type: None },
        }
    }
}

/// What the last poll of a pipeline saw: per action, its head (`None`: the object or branch
/// did not exist).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PollRecord {
    pub polled_at: Timestamp,
    pub heads: BTreeMap<String, Option<Head>>,
}

/// Whether a pipeline last polled at `record` is due at `now`.
pub fn poll_is_due(record: Option<&PollRecord>, now: Timestamp) -> bool {
    record.is_none_or(|record| record.polled_at.plus_seconds(POLL_INTERVAL_SECONDS) <= now)
}

/// An execution a poll starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PollStart {
    pub execution_id: String,
    /// Every polled action that has a pinnable head fetches exactly what the poll saw.
    pub source_revisions: Vec<SourceRevisionOverride>,
    /// The actions whose head moved.
    pub moved: Vec<String>,
}

/// What a poll does: the record to keep, and the execution to start, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PollDecision {
    pub record: PollRecord,
    pub start: Option<PollStart>,
}

/// Compares the heads a poll `observed` at `now` with the `previous` poll's. An action moved
/// when its head exists and differs from the one recorded; an action not seen before (the
/// first poll, an action added since) only records its head; a source that disappeared
/// starts nothing.
pub fn decide(
    pipeline: &str,
    previous: Option<&PollRecord>,
    observed: BTreeMap<String, Option<Head>>,
    now: Timestamp,
) -> PollDecision {
    let moved: Vec<String> = observed
        .iter()
        .filter(|(action, head)| {
            let before = previous.and_then(|p| p.heads.get(*action));
            matches!((before, head), (Some(before), Some(head)) if before.as_ref() != Some(head))
        })
        .map(|(action, _)| action.clone())
        .collect();
    let record = PollRecord { polled_at: now, heads: observed };
    if moved.is_empty() {
        return PollDecision { record, start: None };
    }
    let heads_text = |heads: &BTreeMap<String, Option<Head>>| serde_json::to_string(heads).unwrap_or_default();
    let before = previous.map(|p| heads_text(&p.heads)).unwrap_or_default();
    let execution_id = ids::uuid_from(&["source-poll", pipeline, &before, &heads_text(&record.heads)]);
    let source_revisions = record
        .heads
        .iter()
        .filter_map(|(action, head)| {
            let head = head.as_ref()?;
            Some(SourceRevisionOverride {
                action_name: action.clone(),
                revision_type: head.revision_type?,
                revision_value: head.id.clone(),
                variables: BTreeMap::new(),
            })
        })
        .collect();
    PollDecision { record, start: Some(PollStart { execution_id, source_revisions, moved }) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::declaration::{Format, PipelineDocument};

    fn pipeline(actions: &str) -> PipelineDeclaration {
        let text = format!(
            r#"{{"name": "p", "roleArn": "arn:aws:iam::1:role/r",
                "artifactStore": {{"type": "S3", "location": "b"}},
                "stages": [
                  {{"name": "Source", "actions": [{actions}]}},
                  {{"name": "Build", "actions": [{{"name": "B",
                    "actionTypeId": {{"category": "Build", "owner": "AWS", "provider": "CodeBuild", "version": "1"}},
                    "configuration": {{"ProjectName": "x"}}, "inputArtifacts": [{{"name": "S"}}]}}]}}]}}"#
        );
        PipelineDocument::parse(&text, Format::Json).unwrap().pipeline
    }

    fn s3(name: &str, extra: &str) -> String {
        format!(
            r#"{{"name": "{name}", "actionTypeId": {{"category": "Source", "owner": "AWS", "provider": "S3", "version": "1"}},
                "configuration": {{"S3Bucket": "src", "S3ObjectKey": "app.zip"{extra}}}, "outputArtifacts": [{{"name": "{name}Out"}}]}}"#
        )
    }

    fn codecommit(name: &str, extra: &str) -> String {
        format!(
            r#"{{"name": "{name}", "actionTypeId": {{"category": "Source", "owner": "AWS", "provider": "CodeCommit", "version": "1"}},
                "configuration": {{"RepositoryName": "repo", "BranchName": "main"{extra}}}, "outputArtifacts": [{{"name": "{name}Out"}}]}}"#
        )
    }

    #[test]
    fn s3_and_codecommit_sources_poll_unless_polling_is_turned_off() {
        let declaration = pipeline(
            &[
                s3("Bundle", ""),
                codecommit("Code", r#", "PollForSourceChanges": "TRUE""#),
                codecommit("Quiet", r#", "PollForSourceChanges": "false""#),
            ]
            .join(","),
        );
        let polled = polled_actions(&declaration);
        assert_eq!(
            polled,
            vec![
                PolledAction {
                    action: "Bundle".into(),
                    source: PolledSource::S3Object { bucket: "src".into(), key: "app.zip".into() }
                },
                PolledAction {
                    action: "Code".into(),
                    source: PolledSource::CodeCommitBranch { repository: "repo".into(), branch: "main".into() }
                },
            ]
        );
    }

    #[test]
    fn a_poll_is_due_a_minute_after_the_last() {
        let at = Timestamp::from_millis(1_000_000);
        let record = PollRecord { polled_at: at, heads: BTreeMap::new() };
        assert!(poll_is_due(None, at));
        assert!(!poll_is_due(Some(&record), at.plus_seconds(59)));
        assert!(poll_is_due(Some(&record), at.plus_seconds(60)));
    }

    fn heads(entries: &[(&str, Option<Head>)]) -> BTreeMap<String, Option<Head>> {
        entries.iter().map(|(action, head)| (action.to_string(), head.clone())).collect()
    }

    #[test]
    fn the_first_poll_records_and_a_moved_head_starts_once() {
        let t0 = Timestamp::from_millis(0);
        let first = decide("p", None, heads(&[("Code", Some(Head::commit("a1")))]), t0);
        assert_eq!(first.start, None, "the first poll only records");

        let same = decide("p", Some(&first.record), heads(&[("Code", Some(Head::commit("a1")))]), t0.plus_seconds(60));
        assert_eq!(same.start, None, "no change, no start");

        let observed = heads(&[("Code", Some(Head::commit("b2"))), ("Bundle", Some(Head::s3_object(Some("v7"), "e")))]);
        let moved = decide("p", Some(&same.record), observed.clone(), t0.plus_seconds(120));
        let start = moved.start.clone().unwrap();
        assert_eq!(start.moved, vec!["Code"], "an action seen for the first time only records");
        let pinned: Vec<(String, RevisionType, String)> = start
            .source_revisions
            .iter()
            .map(|r| (r.action_name.clone(), r.revision_type, r.revision_value.clone()))
            .collect();
        assert_eq!(
            pinned,
            vec![
                ("Bundle".into(), RevisionType::S3ObjectVersionId, "v7".into()),
                ("Code".into(), RevisionType::CommitId, "b2".into()),
            ]
        );
        // The same poll again (a crash before the record was kept, a second tick) names the
        // same execution; a later poll with nothing new starts nothing.
        let again = decide("p", Some(&same.record), observed.clone(), t0.plus_seconds(125));
        assert_eq!(again.start.unwrap().execution_id, start.execution_id);
        assert_eq!(decide("p", Some(&moved.record), observed, t0.plus_seconds(180)).start, None);
    }

    #[test]
    fn a_source_that_disappears_starts_nothing_and_one_that_appears_starts() {
        let t0 = Timestamp::from_millis(0);
        let present = decide("p", None, heads(&[("Bundle", Some(Head::s3_object(Some("v1"), "e1")))]), t0);
        let gone = decide("p", Some(&present.record), heads(&[("Bundle", None)]), t0.plus_seconds(60));
        assert_eq!(gone.start, None);
        let back = decide("p", Some(&gone.record), heads(&[("Bundle", Some(Head::s3_object(Some("v2"), "e2")))]), t0);
        assert_eq!(back.start.unwrap().moved, vec!["Bundle"]);
    }

    #[test]
    fn an_unversioned_object_moves_by_its_etag_and_is_not_pinned() {
        let t0 = Timestamp::from_millis(0);
        let first = decide("p", None, heads(&[("Bundle", Some(Head::s3_object(None, "e1")))]), t0);
        let next =
            decide("p", Some(&first.record), heads(&[("Bundle", Some(Head::s3_object(Some("null"), "e2")))]), t0);
        let start = next.start.unwrap();
        assert_eq!(start.moved, vec!["Bundle"]);
        assert!(start.source_revisions.is_empty());
    }

    #[test]
    fn a_head_that_returns_to_an_earlier_value_starts_a_new_execution() {
        let t0 = Timestamp::from_millis(0);
        let a = decide("p", None, heads(&[("Code", Some(Head::commit("a")))]), t0);
        let b = decide("p", Some(&a.record), heads(&[("Code", Some(Head::commit("b")))]), t0);
        let back = decide("p", Some(&b.record), heads(&[("Code", Some(Head::commit("a")))]), t0);
        assert_ne!(b.start.unwrap().execution_id, back.start.unwrap().execution_id);
    }

    #[test]
    fn the_record_reads_back() {
        let record = PollRecord {
            polled_at: Timestamp::from_millis(5),
            heads: heads(&[("Code", Some(Head::commit("a"))), ("Gone", None)]),
        };
        let text = serde_json::to_string(&record).unwrap();
        assert_eq!(serde_json::from_str::<PollRecord>(&text).unwrap(), record);
    }
}
