//! Which pipelines a repository event starts, and why the others do not (docs/sources.md,
//! "Which pipelines start"). A connection source action reads the event's repository when
//! its `FullRepositoryId` names it; the action's V2 trigger then decides (or, without one,
//! its `BranchName`), through `source_events::explain_git`.

use std::collections::BTreeMap;

use super::payload::{Change, RepositoryEvent};
use crate::declaration::{ActionDeclaration, PipelineDeclaration};
use crate::engine::{RevisionType, SourceRevisionOverride, Trigger, TriggerType};
use crate::ids;
use crate::providers::{self, ProviderKind};
use crate::source_events::{GitChange, explain_git};

/// What one repository event does to one pipeline.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    pub pipeline: String,
    /// Each source action that reads the repository: which filter starts it, or why none does.
    pub actions: Vec<(String, Result<String, String>)>,
    /// The execution to start, when an action accepts the event.
    pub start: Option<PlannedStart>,
}

impl Verdict {
    /// One line for a person: what starts, or why nothing does.
    pub fn describe(&self) -> String {
        if self.actions.is_empty() {
            return "no connection source action reads this repository".to_string();
        }
        let parts: Vec<String> = self
            .actions
            .iter()
            .map(|(action, verdict)| match verdict {
                Ok(why) => format!("{action}: starts by {why}"),
                Err(why) => format!("{action}: {why}"),
            })
            .collect();
        parts.join("; ")
    }
}

/// A start a delivery asks for: the same delivery always plans the same execution id.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedStart {
    pub execution_id: String,
    pub trigger: Trigger,
    pub source_revisions: Vec<SourceRevisionOverride>,
}

/// Whether connection source `action` reads `repository` (names compare without case, as
/// the hosts treat them).
pub fn reads_repository(action: &ActionDeclaration, repository: &str) -> bool {
    let kind = providers::spec_of(&action.action_type_id).map(|spec| spec.kind);
    kind == Some(ProviderKind::CodeStarSourceConnection)
        && action.config("FullRepositoryId").is_some_and(|id| id.eq_ignore_ascii_case(repository))
}

/// The output variables the event gives the source actions it starts.
pub fn change_variables(event: &RepositoryEvent) -> BTreeMap<String, String> {
    let mut variables = BTreeMap::from([("ProviderType".to_string(), event.host.provider_type().to_string())]);
    match &event.change {
        Change::Branch { name, .. } => {
            variables.insert("BranchName".into(), name.clone());
        }
        Change::Tag { .. } => {}
        Change::PullRequest { number, title, source_branch, destination_branch, .. } => {
            variables.insert("BranchName".into(), source_branch.clone());
            variables.insert("SourceBranchName".into(), source_branch.clone());
            variables.insert("DestinationBranchName".into(), destination_branch.clone());
            variables.insert("PullRequestId".into(), number.to_string());
            variables.insert("PullRequestTitle".into(), title.clone());
        }
    }
    variables
}

/// What `event`, from delivery `delivery_id`, does to `declaration`.
pub fn plan(declaration: &PipelineDeclaration, event: &RepositoryEvent, delivery_id: &str) -> Verdict {
    let name = declaration.name.as_str();
    let change = match &event.change {
        Change::Branch { name, files } => {
            GitChange { branch: Some(name), files: files.as_deref(), ..GitChange::default() }
        }
        Change::Tag { name } => GitChange { tag: Some(name), ..GitChange::default() },
        Change::PullRequest { event, destination_branch, .. } => {
            GitChange { branch: Some(destination_branch), pull_request: Some(event), ..GitChange::default() }
        }
    };
    let mut actions = Vec::new();
    let mut revisions = Vec::new();
    let mut detail = None;
    for action in declaration.stages.first().map(|s| s.actions.as_slice()).unwrap_or_default() {
        if !reads_repository(action, &event.repository) {
            continue;
        }
        let verdict = if action.config("DetectChanges").is_some_and(|v| v.eq_ignore_ascii_case("false")) {
            Err("DetectChanges is false".to_string())
        } else {
            explain_git(declaration, action, &change)
        };
        if verdict.is_ok() {
            detail.get_or_insert_with(|| action.config("ConnectionArn").unwrap_or_default().to_string());
            revisions.push(SourceRevisionOverride {
                action_name: action.name.clone(),
                revision_type: RevisionType::CommitId,
                revision_value: event.commit_id.clone(),
                variables: change_variables(event),
            });
        }
        actions.push((action.name.clone(), verdict));
    }
    let start = (!revisions.is_empty()).then(|| PlannedStart {
        execution_id: ids::uuid_from(&["webhook", name, delivery_id, &event.key()]),
        trigger: Trigger {
            trigger_type: TriggerType::WebhookV2,
            trigger_detail: detail.filter(|d| !d.is_empty()).or_else(|| Some(format!("{} webhook", event.host.name()))),
        },
        source_revisions: revisions,
    });
    Verdict { pipeline: name.to_string(), actions, start }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::declaration::{Format, PipelineDocument, PullRequestEvent};
    use crate::webhooks::GitHost;

    fn declaration() -> PipelineDeclaration {
        let json = serde_json::json!({
            "name": "orders", "roleArn": "arn:aws:iam::111122223333:role/r", "artifactStore": {"type": "S3", "location": "b-1"},
            "pipelineType": "V2",
            "triggers": [{"providerType": "CodeStarSourceConnection", "gitConfiguration": {
                "sourceActionName": "App",
                "push": [{"branches": {"includes": ["main"]}, "filePaths": {"excludes": ["docs/**"]}},
                         {"tags": {"includes": ["v*"]}}],
                "pullRequest": [{"events": ["OPEN", "UPDATED"], "branches": {"includes": ["main"]}}]}}],
            "stages": [
                {"name": "Source", "actions": [
                    {"name": "App", "actionTypeId": {"category": "Source", "owner": "AWS", "provider": "CodeStarSourceConnection", "version": "1"},
                     "configuration": {"ConnectionArn": "arn:aws:codeconnections:eu-west-1:111122223333:connection/c1", "FullRepositoryId": "Octo/App", "BranchName": "main"},
                     "outputArtifacts": [{"name": "A"}]},
                    {"name": "Lib", "actionTypeId": {"category": "Source", "owner": "AWS", "provider": "CodeStarSourceConnection", "version": "1"},
                     "configuration": {"ConnectionArn": "arn:c2", "FullRepositoryId": "octo/lib", "BranchName": "develop"},
                     "outputArtifacts": [{"name": "L"}]}
                ]},
                {"name": "Build", "actions": [{"name": "B", "actionTypeId": {"category": "Build", "owner": "AWS", "provider": "CodeBuild", "version": "1"},
                  "configuration": {"ProjectName": "x", "PrimarySource": "A"}, "inputArtifacts": [{"name": "A"}, {"name": "L"}]}]}
            ]
        });
        PipelineDocument::parse(&json.to_string(), Format::Json).unwrap().pipeline
    }

    fn event(repository: &str, change: Change) -> RepositoryEvent {
        RepositoryEvent {
            host: GitHost::GitHub,
            repository: repository.into(),
            commit_id: "c0mm17".into(),
            change,
            commit_message: None,
            author_date: None,
        }
    }

    fn branch(name: &str, files: Option<&[&str]>) -> Change {
        Change::Branch { name: name.into(), files: files.map(|f| f.iter().map(|s| s.to_string()).collect()) }
    }

    fn pull_request(event: PullRequestEvent) -> Change {
        Change::PullRequest {
            event,
            number: 42,
            title: "Add X".into(),
            source_branch: "feature/x".into(),
            destination_branch: "main".into(),
        }
    }

    #[test]
    fn a_push_to_the_triggered_branch_starts_with_the_pushed_commit() {
        let verdict = plan(&declaration(), &event("octo/app", branch("main", Some(&["src/a.rs"]))), "d-1");
        let start = verdict.start.expect("starts");
        assert_eq!(start.trigger.trigger_type, TriggerType::WebhookV2);
        assert_eq!(
            start.trigger.trigger_detail.as_deref(),
            Some("arn:aws:codeconnections:eu-west-1:111122223333:connection/c1")
        );
        assert_eq!(start.source_revisions.len(), 1);
        let revision = &start.source_revisions[0];
        assert_eq!((revision.action_name.as_str(), revision.revision_value.as_str()), ("App", "c0mm17"));
        assert_eq!(revision.variables["BranchName"], "main");
        assert_eq!(revision.variables["ProviderType"], "GitHub");
        assert_eq!(verdict.actions, vec![("App".to_string(), Ok("push[0] (branch main)".to_string()))]);
    }

    #[test]
    fn other_branches_docs_only_pushes_and_other_repositories_start_nothing() {
        let other = plan(&declaration(), &event("octo/app", branch("feature/y", None)), "d");
        assert!(other.start.is_none());
        assert!(other.describe().contains("feature/y matches none of the includes [main]"), "{}", other.describe());
        let docs = plan(&declaration(), &event("octo/app", branch("main", Some(&["docs/a.md", "docs/b.md"]))), "d");
        assert!(docs.start.is_none());
        assert!(docs.describe().contains("no changed file passes"), "{}", docs.describe());
        let elsewhere = plan(&declaration(), &event("someone/else", branch("main", None)), "d");
        assert!(elsewhere.start.is_none() && elsewhere.actions.is_empty());
        assert_eq!(elsewhere.describe(), "no connection source action reads this repository");
    }

    #[test]
    fn tags_and_untriggered_actions() {
        let tag = plan(&declaration(), &event("octo/app", Change::Tag { name: "v1.0".into() }), "d");
        assert_eq!(tag.actions[0].1, Ok("push[1] (tag v1.0)".to_string()));
        // The library has no trigger: its BranchName decides.
        let lib = plan(&declaration(), &event("octo/lib", branch("develop", None)), "d");
        assert_eq!(lib.actions[0], ("Lib".to_string(), Ok("no trigger: a push to its BranchName develop".to_string())));
        let lib_main = plan(&declaration(), &event("octo/lib", branch("main", None)), "d");
        assert!(lib_main.start.is_none());
    }

    #[test]
    fn pull_requests_carry_their_variables_and_each_event_is_its_own_execution() {
        let opened =
            plan(&declaration(), &event("octo/app", pull_request(PullRequestEvent::Open)), "d-1").start.unwrap();
        let variables = &opened.source_revisions[0].variables;
        assert_eq!(variables["PullRequestId"], "42");
        assert_eq!(variables["PullRequestTitle"], "Add X");
        assert_eq!(variables["SourceBranchName"], "feature/x");
        assert_eq!(variables["DestinationBranchName"], "main");
        assert_eq!(variables["BranchName"], "feature/x");
        let updated =
            plan(&declaration(), &event("octo/app", pull_request(PullRequestEvent::Updated)), "d-2").start.unwrap();
        assert_ne!(opened.execution_id, updated.execution_id);
        let closed = plan(&declaration(), &event("octo/app", pull_request(PullRequestEvent::Closed)), "d-3");
        assert!(closed.start.is_none());
        assert!(closed.describe().contains("CLOSED is not one of its events [OPEN, UPDATED]"), "{}", closed.describe());
    }

    #[test]
    fn a_redelivery_plans_the_same_execution() {
        let push = event("octo/app", branch("main", None));
        let first = plan(&declaration(), &push, "d-1").start.unwrap().execution_id;
        assert_eq!(first, plan(&declaration(), &push, "d-1").start.unwrap().execution_id);
        assert_ne!(first, plan(&declaration(), &push, "d-2").start.unwrap().execution_id);
    }
}
