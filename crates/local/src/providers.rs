//! Runs a dispatched action on this machine, through the provider its type names. Deploy
//! actions go where the run chose (`--aws`, `--aws-endpoint`, `--plan`: crate::deploy);
//! providers Pipewright does not run yet (EKS, EC2, Device Farm, …) fail their action with a clear
//! error rather than pretend.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::watch;

use pipewright_core::action_details::ActionDetails;
use pipewright_core::artifact_access::ArtifactCredentials;
use pipewright_core::declaration::ActionOwner;
use pipewright_core::engine::{Dispatch, FailureType};
use pipewright_core::paths::segment;
use pipewright_core::providers::ProviderKind;
use pipewright_providers::artifacts::ArtifactDir;
use pipewright_providers::{ActionError, ActionOutput, Outcome, commands};

use crate::report::Reporter;
use crate::sources::{self, SourceOptions};

/// What providers need from the machine.
#[derive(Clone)]
pub struct ProviderContext {
    pub artifacts: ArtifactDir,
    pub sources: SourceOptions,
    /// Workspaces of actions: `<work>/<execution>/<stage>/<lane>/<action>.<attempt>` ([`attempt_dir`]).
    pub work_root: PathBuf,
    /// Action logs: `<logs>/<execution>/<stage>/<action>.<attempt>.log` ([`log_file`]).
    pub logs_root: PathBuf,
    pub reporter: Arc<dyn Reporter>,
    /// The Lambda Invoke API that Lambda invoke actions go to (`cargo lambda watch`).
    pub lambda_endpoint: Option<String>,
    /// The account id jobs carry (`PIPEWRIGHT_ACCOUNT_ID`, as `pipewright serve --account-id`
    /// sets it for its workers).
    pub account: String,
    /// CodeBuild projects by name, for CodeBuild actions.
    pub build_projects: std::collections::BTreeMap<String, pipewright_core::build_project::BuildProject>,
    /// `--secret NAME=VALUE`: Parameter Store and Secrets Manager values for builds.
    pub secrets: std::collections::BTreeMap<String, String>,
    /// SSM and Secrets Manager, when the run has AWS access (`--aws`, `--aws-endpoint`):
    /// asked after `--secret` and before the environment.
    pub aws_secrets: Option<Arc<dyn pipewright_providers::buildspec::environment::SecretStore>>,
    /// Build numbers and caches of CodeBuild projects: `<root>/<project>/…`.
    pub codebuild_root: PathBuf,
    /// The host-tools warning of CodeBuild builds is given once per run.
    pub warned_host_tools: Arc<std::sync::atomic::AtomicBool>,
    /// Where deploy actions go: nowhere chosen, a plan, or AWS (docs/providers.md §2).
    pub deploy: crate::deploy::DeployMode,
    /// A template import's placeholders: refused by name before any AWS call.
    pub placeholders: Vec<pipewright_core::import::Placeholder>,
    /// The templates last planned or deployed to each stack, for the plans' diffs.
    pub memory: pipewright_providers::deploy::memory::Memory,
    /// Starts child pipelines (the CodePipeline invoke action).
    pub starter: Option<Arc<dyn crate::deploy::PipelineStarter>>,
    /// `--keep-workspaces`: leave each action's workspace in place when it ends, to look at.
    pub keep_workspaces: bool,
    /// Removes ended attempts' workspaces off the path of the next action ([`crate::remover`]).
    pub remover: crate::remover::Remover,
}

/// The provider that carries out `dispatch`: its action's, or for a rule's job the provider of
/// the action of the same kind. None when the pipeline version is gone or names no provider
/// this machine knows (a custom action).
pub fn kind_of(pipeline: Option<&pipewright_core::pipeline::Pipeline>, dispatch: &Dispatch) -> Option<ProviderKind> {
    match dispatch.condition {
        Some(_) => pipewright_core::rule_types::RuleProvider::kind_of(dispatch),
        None => pipeline.and_then(|pipeline| {
            let stage = pipeline.stage_index(&dispatch.stage)?;
            let action = pipeline.stages[stage].action_index(&dispatch.action)?;
            pipeline.stages[stage].actions[action].kind
        }),
    }
}

/// Where an action's workspace (under `work_root`) or its logs (under `logs_root`) live: one
/// directory per execution, stage and action (or `<condition>:<rule>`), each name a path
/// segment that cannot climb out of its parent.
pub fn action_dir(root: &Path, execution_id: &str, stage: &str, action: &str) -> PathBuf {
    root.join(&*segment(execution_id)).join(&*segment(stage)).join(&*segment(action))
}

/// An attempt's log: `<logs>/<execution>/<stage>/<action>.<attempt>.log`, beside the other
/// actions' logs of its stage rather than in a directory of its own (a directory per action
/// costs a run of many actions: docs/benchmarks.md, "stop 24"). One-to-one as
/// [`attempt_dir`] is.
pub fn log_file(logs_root: &Path, execution_id: &str, stage: &str, action: &str, attempt: u32) -> PathBuf {
    attempt_file(logs_root, execution_id, stage, action, attempt, "log")
}

/// An approval's SNS message body: `<notifications>/<execution>/<stage>/<action>.<attempt>.json`.
/// One file per approval attempt: with the stage a directory of its own, stage `a.b` with
/// action `c` and stage `a` with action `b.c` do not share a file, as a flat
/// `<stage>.<action>.<attempt>` would make them.
pub fn notification_file(root: &Path, execution_id: &str, stage: &str, action: &str, attempt: u32) -> PathBuf {
    attempt_file(root, execution_id, stage, action, attempt, "json")
}

/// `<root>/<execution>/<stage>/<action>.<attempt>.<extension>`, each name a path segment that
/// cannot climb out of its parent. One-to-one: the attempt, all digits, is what follows the
/// action's last dot.
fn attempt_file(root: &Path, execution_id: &str, stage: &str, action: &str, attempt: u32, extension: &str) -> PathBuf {
    let stage_dir = root.join(&*segment(execution_id)).join(&*segment(stage));
    stage_dir.join(format!("{}.{attempt}.{extension}", segment(action)))
}

/// An attempt's log as the console shows it: where [`log_file`] puts it, or where versions
/// before it put it (`<action>/<attempt>.log`), for the executions they ran.
pub fn read_action_log(
    logs_root: &Path,
    execution_id: &str,
    stage: &str,
    action: &str,
    attempt: u32,
) -> Option<String> {
    std::fs::read_to_string(log_file(logs_root, execution_id, stage, action, attempt)).ok().or_else(|| {
        let earlier = action_dir(logs_root, execution_id, stage, action).join(format!("{attempt}.log"));
        std::fs::read_to_string(earlier).ok()
    })
}

/// Action output goes to the reporter.
struct ToReporter(Arc<dyn Reporter>);

impl ActionOutput for ToReporter {
    fn line(&self, stage: &str, action: &str, line: &str) {
        self.0.action_output(stage, action, line);
    }
}

/// What [`run`] leaves: the provider's outcome, and the attempt's workspace, for the caller to
/// remove with [`crate::remover::Remover`] once the result is on its way (None with
/// `keep_workspaces`): the removal is not between an action's end and the next one's start.
pub struct Ran {
    pub outcome: Outcome,
    pub details: Option<ActionDetails>,
    pub workspace: Option<PathBuf>,
}

/// Runs `dispatch` to its end, or until `cancel` turns true. `regional_store` is the
/// artifact bucket of the action's region when it is not the pipeline's (cross-region).
/// `credentials` reach the job's artifacts through `pipewright serve`'s S3 endpoint: what a
/// job handed to another process (a Lambda function) reads and writes them with.
/// The action's log stays; its workspace is the caller's to remove ([`Ran`]).
pub async fn run(
    dispatch: &Dispatch,
    kind: Option<ProviderKind>,
    context: &ProviderContext,
    regional_store: Option<String>,
    cancel: watch::Receiver<bool>,
    credentials: &ArtifactCredentials,
) -> Ran {
    let workspace = Workspace::of(context, dispatch);
    let uses = WorkspaceUse::of(kind);
    if uses == WorkspaceUse::Always {
        workspace.spread().await;
    }
    let (outcome, details) =
        run_provider(dispatch, kind, context, regional_store, cancel, credentials, &workspace).await;
    // A source that did not clone or archive git made nothing to remove.
    let made = uses == WorkspaceUse::Always || workspace.is_made();
    Ran { outcome, details, workspace: (made && !context.keep_workspaces).then_some(workspace.path) }
}

/// What a provider does with an attempt's workspace. Each directory made costs the file
/// system an inode, and under the marked directories a look at its groups (docs/benchmarks.md,
/// "stop 42"), so none is made for an action that works without one.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum WorkspaceUse {
    /// Commands and builds work in theirs from their first step.
    Always,
    /// A source makes one only to clone or archive git ([`Workspace::make`]); a directory or a
    /// zip goes to its artifact without one.
    WhenNeeded,
    /// Lambda, deploy, pipeline invoke, custom and partner actions, and failures.
    Never,
}

impl WorkspaceUse {
    fn of(kind: Option<ProviderKind>) -> WorkspaceUse {
        match kind {
            Some(ProviderKind::Commands | ProviderKind::CodeBuild) => WorkspaceUse::Always,
            Some(kind) if is_source(kind) => WorkspaceUse::WhenNeeded,
            _ => WorkspaceUse::Never,
        }
    }
}

/// The providers whose content comes from this machine (`--source`, `crate::sources`).
fn is_source(kind: ProviderKind) -> bool {
    matches!(
        kind,
        ProviderKind::CodeCommit
            | ProviderKind::CodeStarSourceConnection
            | ProviderKind::GitHubV1
            | ProviderKind::S3Source
            | ProviderKind::Ecr
    )
}

/// An attempt's workspace ([`attempt_dir`]), and the roots that are marked when an execution's
/// first workspace is made.
pub struct Workspace {
    pub path: PathBuf,
    roots: [PathBuf; 2],
    /// [`Workspace::make`] made it: a second call (a git clone, then its archive) does nothing.
    made: AtomicBool,
}

impl Workspace {
    fn of(context: &ProviderContext, dispatch: &Dispatch) -> Workspace {
        Workspace {
            path: attempt_dir(&context.work_root, dispatch),
            roots: [context.work_root.clone(), context.logs_root.clone()],
            made: AtomicBool::new(false),
        }
    }

    /// Makes the workspace, and first the directories above it ([`Workspace::spread`]), unless
    /// this workspace made them already.
    pub async fn make(&self) -> std::io::Result<()> {
        if self.is_made() {
            return Ok(());
        }
        self.spread().await;
        let path = self.path.clone();
        tokio::task::spawn_blocking(move || std::fs::create_dir_all(path)).await.map_err(std::io::Error::other)??;
        self.made.store(true, Ordering::Relaxed);
        Ok(())
    }

    fn is_made(&self) -> bool {
        self.made.load(Ordering::Relaxed)
    }

    /// Makes the directories above the workspace the first time one needs them, spread over
    /// the file system (`crate::top_dirs`). Its stage directory is marked as the top of a
    /// hierarchy, so that its lanes land in different places: the workspaces are unrelated,
    /// and spread out each costs less to make after others were removed. A lane is not marked:
    /// a directory made in a marked one costs a look at every part of the file system, so one
    /// per lane rather than one per workspace. When the execution's own directory is new too,
    /// the roots of the workspaces and the logs are marked first (once per execution), so that
    /// each execution's directories land away from the inodes the executions before it freed.
    /// A directory that cannot be made here is the provider's to report, when it makes the
    /// workspace.
    async fn spread(&self) {
        let Some(lane) = self.path.parent().filter(|lane| !lane.is_dir()).map(Path::to_path_buf) else { return };
        let Some(stage) = lane.parent().map(Path::to_path_buf) else { return };
        let roots = self.roots.clone();
        let _ = tokio::task::spawn_blocking(move || {
            if !stage.is_dir() {
                if stage.parent().is_some_and(|execution| !execution.is_dir()) {
                    for root in &roots {
                        let _ = crate::top_dirs::create(root);
                    }
                }
                let _ = crate::top_dirs::create(&stage);
            }
            // Made by another action of the lane meanwhile is as good.
            let _ = std::fs::create_dir(&lane);
        })
        .await;
    }
}

/// Lanes per stage: workspaces are spread over this many directories of their stage. Each
/// lane made costs a search of the file system's groups (about 0.1 ms on a file system with
/// 2,000 of them); a stage of 50 actions has about 12 workspaces in each.
const LANES: u64 = 4;

/// The lane of an action's workspaces in its stage directory: `0` to `3`, from the action's
/// name (FNV-1a), the same for every attempt and every build, so that a workspace's path is
/// known from its dispatch alone.
fn lane(leaf: &str) -> String {
    let hash = leaf
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3));
    (hash % LANES).to_string()
}

/// Whether a directory's name in a stage directory is a lane's.
fn is_lane_name(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|byte| byte.is_ascii_digit())
}

/// An attempt's workspace: `<work>/<execution>/<stage>/<lane>/<action>.<attempt>`, one
/// directory per attempt rather than one per action holding one per attempt, since every
/// directory made and removed costs a run of many actions (docs/benchmarks.md, "stop 24"), in
/// one of its stage's lanes ([`lane`], docs/benchmarks.md, "stop 37"). One-to-one: the
/// attempt number, after the last dot, has no dot of its own.
pub fn attempt_dir(work_root: &Path, dispatch: &Dispatch) -> PathBuf {
    let leaf = leaf(dispatch);
    let name = format!("{}.{}", segment(&leaf), dispatch.attempt);
    work_root.join(&*segment(&dispatch.execution_id)).join(&*segment(&dispatch.stage)).join(lane(&leaf)).join(name)
}

/// The last segment of an action's workspace and log paths: a rule's sit beside the
/// actions', named `<condition>:<rule>`. The colon is outside CodePipeline's name pattern, so
/// [`segment`] encodes it (`beforeEntry%3ARule`) and no action's name can give the same path,
/// as `<condition>.<rule>` did for an action named `beforeEntry.Rule`.
fn leaf(dispatch: &Dispatch) -> String {
    match dispatch.condition {
        Some(condition) => format!("{}:{}", condition.field(), dispatch.action),
        None => dispatch.action.clone(),
    }
}

/// Where a Commands action's runner puts its scripts, made only when it needs one:
/// `<action>.<attempt>.run` beside the attempt's directory, which is the workspace itself
/// (one directory per action rather than two; a name ending in `.run` is never an attempt's,
/// whose names end in the attempt's number).
pub fn runner_dir(attempt_dir: &Path) -> PathBuf {
    let mut name = attempt_dir.file_name().unwrap_or_default().to_os_string();
    name.push(".run");
    attempt_dir.with_file_name(name)
}

/// Removes the directories an ended execution's attempts leave under `<work>`: its lanes,
/// stage directories and `<work>/<execution>`, each only when empty, so a workspace kept by
/// `--keep-workspaces` (`keep_workspaces`) stays with the directories above it. Without this,
/// every execution left two or more empty directories behind for good. Without
/// `--keep-workspaces`, a lane is removed with what is left in it: the workspaces of a worker
/// that died with their removal still queued (`crate::remover`), which nothing runs in once
/// the execution has ended. A failure leaves them, nothing else.
pub async fn remove_execution_dirs(work_root: &Path, execution_id: &str, keep_workspaces: bool) {
    let dir = work_root.join(&*segment(execution_id));
    let _ = tokio::task::spawn_blocking(move || {
        if let Ok(stages) = std::fs::read_dir(&dir) {
            for stage in stages.flatten() {
                // Never follows a link (an entry's type is its own), and refuses a directory
                // with anything in it. A lane's name is all digits, an attempt's never: a
                // workspace kept where an earlier version put it, in the stage directory
                // itself, is not taken for a lane and emptied of its empty directories.
                if stage.file_type().is_ok_and(|kind| kind.is_dir()) {
                    for lane in std::fs::read_dir(stage.path()).into_iter().flatten().flatten() {
                        if lane.file_name().to_str().is_some_and(is_lane_name) {
                            let is_dir = lane.file_type().is_ok_and(|kind| kind.is_dir());
                            let _ = if keep_workspaces || !is_dir {
                                std::fs::remove_dir(lane.path())
                            } else {
                                std::fs::remove_dir_all(lane.path())
                            };
                        }
                    }
                }
                let _ = std::fs::remove_dir(stage.path());
            }
        }
        let _ = std::fs::remove_dir(&dir);
    })
    .await;
}

async fn run_provider(
    dispatch: &Dispatch,
    kind: Option<ProviderKind>,
    context: &ProviderContext,
    regional_store: Option<String>,
    cancel: watch::Receiver<bool>,
    credentials: &ArtifactCredentials,
    workspace: &Workspace,
) -> (Outcome, Option<ActionDetails>) {
    let log = log_file(&context.logs_root, &dispatch.execution_id, &dispatch.stage, &leaf(dispatch), dispatch.attempt);
    match kind {
        Some(source) if is_source(source) => {
            match sources::fetch(dispatch, kind, &context.sources, &context.artifacts, workspace).await {
                Ok(fetched) => (
                    Outcome::Succeeded {
                        output_variables: fetched.output_variables,
                        summary: fetched.summary,
                        external_execution_url: None,
                        revision: Some(fetched.revision),
                    },
                    None,
                ),
                Err(error) => (Outcome::Failed(error), None),
            }
        }
        Some(ProviderKind::Commands) => {
            let session = commands::Session {
                artifacts: &context.artifacts,
                output: Arc::new(ToReporter(context.reporter.clone())),
                scratch: runner_dir(&workspace.path),
                workspace: Some(workspace.path.clone()),
                log: Some(log),
                base: commands::BaseEnvironment::Caller,
            };
            commands::run_with_details(dispatch, session, cancel).await
        }
        Some(ProviderKind::CodeBuild) => {
            let output = Arc::new(ToReporter(context.reporter.clone()));
            crate::codebuild::run(dispatch, context, output, workspace.path.clone(), log, cancel).await
        }
        Some(ProviderKind::Lambda) => (
            crate::lambda::invoke(dispatch, context.lambda_endpoint.as_deref(), &context.account, credentials).await,
            None,
        ),
        Some(kind) if pipewright_core::deploy::acts_on_aws(kind) => {
            (crate::deploy::run(dispatch, kind, context, regional_store, log, cancel).await, None)
        }
        Some(ProviderKind::CodePipelineInvoke) => (crate::deploy::invoke_pipeline(dispatch, context, log).await, None),
        // A custom action's job waits for a job worker (PollForJobs through `pipewright serve`),
        // a partner action's for the partner (PollForThirdPartyJobs).
        None | Some(ProviderKind::Snyk | ProviderKind::AlexaSkillsKit)
            if matches!(dispatch.action_type.owner, ActionOwner::Custom | ActionOwner::ThirdParty) =>
        {
            // Said once, where a run shows it: nothing on this machine does the job itself.
            let poll = match dispatch.action_type.owner {
                ActionOwner::ThirdParty => "PollForThirdPartyJobs",
                _ => "PollForJobs",
            };
            let id = &dispatch.action_type;
            context.reporter.info(&format!(
                "{}/{}: the job of {}/{}/{} waits for a job worker, which polls {poll} through `pipewright serve` on this state directory; `pipewright stop` ends the execution",
                dispatch.stage,
                dispatch.action,
                id.owner.as_str(),
                id.provider,
                id.version
            ));
            (Outcome::HandedOff, None)
        }
        None if dispatch.condition.is_some() => (
            Outcome::Failed(ActionError {
                kind: FailureType::ConfigurationError,
                message: format!(
                    "{} rules are not run by Pipewright yet, on this machine or on AWS",
                    dispatch.action_type.provider
                ),
            }),
            None,
        ),
        _ => (
            Outcome::Failed(ActionError {
                kind: FailureType::ConfigurationError,
                message: format!(
                    "{}/{}/{} actions are not run by Pipewright yet, on this machine or on AWS",
                    dispatch.action_type.category, dispatch.action_type.owner, dispatch.action_type.provider
                ),
            }),
            None,
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pipewright_core::engine::ConditionKind;

    #[test]
    fn logs_are_read_where_this_version_and_earlier_ones_wrote_them() {
        let root = tempfile::tempdir().unwrap();
        let logs = root.path();
        assert_eq!(log_file(logs, "e1", "Build", "Make", 2), logs.join("e1/Build/Make.2.log"));
        assert_eq!(log_file(logs, "e1", "..", "a/b", 1), logs.join("e1/%2E%2E/a%2Fb.1.log"));
        assert_eq!(read_action_log(logs, "e1", "Build", "Make", 1), None);
        std::fs::create_dir_all(logs.join("e1/Build/Make")).unwrap();
        std::fs::write(logs.join("e1/Build/Make/1.log"), "before\n").unwrap();
        assert_eq!(read_action_log(logs, "e1", "Build", "Make", 1).as_deref(), Some("before\n"));
        std::fs::write(logs.join("e1/Build/Make.1.log"), "now\n").unwrap();
        assert_eq!(read_action_log(logs, "e1", "Build", "Make", 1).as_deref(), Some("now\n"));
        assert_eq!(read_action_log(logs, "e1", "Build", "Make", 2), None);
    }

    fn job(action: &str, condition: Option<ConditionKind>) -> Dispatch {
        let mut dispatch: Dispatch = serde_json::from_value(serde_json::json!({
            "id": "d", "pipeline": "p", "pipelineVersion": 1, "executionId": "e1", "stage": "Deploy",
            "action": action, "attempt": 1, "actionExecutionId": "x", "jobId": "j", "jobSequence": 1,
            "actionType": {"category": "Compute", "owner": "AWS", "provider": "Commands", "version": "1"},
            "region": null, "roleArn": null, "namespace": null, "configuration": {}, "commands": [],
            "environmentVariables": [], "outputVariables": [], "inputArtifacts": [], "outputArtifacts": [],
            "encryptionKey": null, "continuationToken": null, "sourceRevision": null, "deadline": 0,
        }))
        .unwrap();
        dispatch.condition = condition;
        dispatch
    }

    #[test]
    fn a_rules_workspace_and_log_are_never_an_actions() {
        let work = Path::new("/w");
        let rule = job("Check", Some(ConditionKind::BeforeEntry));
        let action = job("beforeEntry.Check", None);
        assert_eq!(
            attempt_dir(work, &rule),
            work.join("e1/Deploy").join(lane("beforeEntry:Check")).join("beforeEntry%3ACheck.1")
        );
        assert_eq!(
            attempt_dir(work, &action),
            work.join("e1/Deploy").join(lane("beforeEntry.Check")).join("beforeEntry.Check.1")
        );
        let log = |dispatch: &Dispatch| log_file(work, "e1", "Deploy", &leaf(dispatch), dispatch.attempt);
        assert_ne!(log(&rule), log(&action));
        // Validation keeps a colon out of action names; one written as the rule's encoded
        // path is encoded again.
        assert_ne!(attempt_dir(work, &job("beforeEntry%3ACheck", None)), attempt_dir(work, &rule));
    }

    /// A workspace's path is known from its dispatch alone, by every build: the lane of a
    /// name never changes. The actions of a stage spread over every lane.
    #[test]
    fn an_actions_lane_is_fixed_by_its_name_and_a_stages_actions_use_every_lane() {
        assert_eq!(["Build", "A1", "A2", "Deploy"].map(lane), ["3", "3", "2", "2"]);
        let used: std::collections::BTreeSet<String> = (1..=50).map(|i| lane(&format!("A{i}"))).collect();
        assert_eq!(used.len() as u64, LANES, "{used:?}");
        let path = attempt_dir(Path::new("/w"), &job("Build", None));
        assert_eq!(path, Path::new("/w/e1/Deploy/3/Build.1"));
    }

    /// The empty directories left when an execution ends are removed, and removing them does
    /// not follow a link in their place to remove another empty directory.
    #[cfg(unix)]
    #[tokio::test]
    async fn an_executions_directories_are_removed_without_following_links() {
        let root = tempfile::tempdir().unwrap();
        let work = root.path().join("work");
        std::fs::create_dir_all(work.join("e1/Build/2")).unwrap();
        std::fs::create_dir_all(root.path().join("elsewhere/0")).unwrap();
        std::os::unix::fs::symlink(root.path().join("elsewhere"), work.join("e1/Deploy")).unwrap();
        // A workspace kept by an earlier version, in its stage directory: its empty
        // directories are the user's.
        std::fs::create_dir_all(work.join("e1/Test/Unit.1/empty")).unwrap();
        // A workspace a crash left in its lane, and a lane that is a link.
        std::fs::create_dir_all(work.join("e1/Build/1/Left.1/dir")).unwrap();
        std::fs::write(work.join("e1/Build/1/Left.1/dir/file"), "x").unwrap();
        std::os::unix::fs::symlink(root.path().join("elsewhere"), work.join("e1/Build/3")).unwrap();
        let lane_left = work.join("e1/Build/1");

        remove_execution_dirs(&work, "e1", true).await;
        assert!(work.join("e1/Deploy").symlink_metadata().is_ok(), "a link is not a directory to remove");
        assert!(!work.join("e1/Build/2").exists(), "an empty lane is removed");
        assert!(lane_left.join("Left.1/dir/file").is_file(), "with --keep-workspaces, a workspace stays");
        assert!(root.path().join("elsewhere/0").is_dir(), "nothing is removed through the link");
        assert!(work.join("e1/Test/Unit.1/empty").is_dir(), "a kept workspace is left whole");

        remove_execution_dirs(&work, "e1", false).await;
        assert!(!lane_left.exists(), "what a crash left in a lane is removed with it");
        assert!(work.join("e1/Build/3").symlink_metadata().is_ok(), "a link in a lane's place is not removed");
        assert!(root.path().join("elsewhere/0").is_dir(), "nothing is removed through the links");
        assert!(work.join("e1/Test/Unit.1/empty").is_dir(), "a workspace outside any lane is left whole");
    }

    #[test]
    fn each_approval_attempt_has_a_message_file_of_its_own() {
        let root = Path::new("/n");
        assert_eq!(notification_file(root, "e1", "Gate", "Approve", 2), root.join("e1/Gate/Approve.2.json"));
        let (dotted_stage, dotted_action) =
            (notification_file(root, "e1", "a.b", "c", 1), notification_file(root, "e1", "a", "b.c", 1));
        assert_ne!(dotted_stage, dotted_action);
        assert_ne!(notification_file(root, "e1", "a", "b.1", 2), notification_file(root, "e1", "a", "b", 1));
        assert_eq!(notification_file(root, "e1", "..", "x/y", 1), root.join("e1/%2E%2E/x%2Fy.1.json"));
    }
}
