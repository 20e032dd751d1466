//! Local recovery (docs/ARCHITECTURE.md, "Crash safety"): executions whose worker died get a
//! new one from whichever `pipewright` command opens the state directory next, and what the
//! dead worker was running in its own process is failed rather than run a second time.

use pipewright_core::declaration::ActionOwner;
use pipewright_core::ports::StoreError;
use pipewright_core::providers::ProviderKind;

use crate::backend::{Backend, is_alive, launched_recently, now};
use crate::store::{WorkNeeded, WorkerRecord};

/// What a new worker does with a dispatch that a worker gone before it had claimed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Takeover {
    /// The action ran in the gone worker's process and may have done any part of its work:
    /// it fails, and a retry of its stage runs it again.
    Interrupted,
    /// The dispatch only hands the job to someone else (a Lambda function, a job worker) or
    /// is refused at once without touching anything: it is carried out again, and the job
    /// stays awaited.
    Resumed,
}

/// The decision for a claimed dispatch of an action owned by `owner`, of provider `kind`.
/// A worker starts every dispatch it claims in the same round, whether a look or its own
/// commit claimed it (`crate::own_effects`), so the claim is the record that the action's run
/// started. Kept in step with the providers of `crate::providers::run`.
pub fn on_takeover(owner: ActionOwner, kind: Option<ProviderKind>) -> Takeover {
    if matches!(owner, ActionOwner::Custom | ActionOwner::ThirdParty) {
        // Polled by a job worker (PollForJobs, PollForThirdPartyJobs): handing it out again
        // is idempotent, and the job worker's result is awaited.
        return Takeover::Resumed;
    }
    match kind {
        Some(
            ProviderKind::S3Source
            | ProviderKind::CodeCommit
            | ProviderKind::CodeStarSourceConnection
            | ProviderKind::GitHubV1
            | ProviderKind::Ecr
            | ProviderKind::Commands
            | ProviderKind::CodeBuild
            | ProviderKind::CodePipelineInvoke,
        ) => Takeover::Interrupted,
        Some(kind) if pipewright_core::deploy::acts_on_aws(kind) => Takeover::Interrupted,
        // A Lambda invoke is a hand-off: the function reports through the job protocol, and a
        // second delivery is what Lambda's own asynchronous retries do; anything else fails
        // at once here (a provider Pipewright does not run).
        _ => Takeover::Resumed,
    }
}

/// The process id in a worker's owner id (`<pid>-<uuid>`).
pub fn owner_pid(owner: &str) -> Option<u32> {
    owner.split_once('-').and_then(|(pid, _)| pid.parse().ok())
}

/// The failure message of an action interrupted with the worker that ran it.
pub fn interrupted_message(owner: &str) -> String {
    let who = match owner_pid(owner) {
        Some(pid) => format!("the worker running this action (pid {pid})"),
        None => "the worker running this action".to_string(),
    };
    format!(
        "interrupted: {who} stopped before it finished; retry the stage to run it again \
         (the action may have done part of its work)"
    )
}

/// Whether a process environment (`/proc/<pid>/environ`: NUL-separated `NAME=VALUE`) is that
/// of a Commands action's attempt: its commands run with `CODEBUILD_BUILD_ID` set to
/// `pipewright:<action execution id>`, and every process they start inherits it.
pub fn runs_attempt(environ: &[u8], action_execution_id: &str) -> bool {
    let marker = format!("CODEBUILD_BUILD_ID=pipewright:{action_execution_id}");
    environ.split(|byte| *byte == 0).any(|entry| entry == marker.as_bytes())
}

/// Kills the processes of a Commands attempt that outlived the worker that started them (the
/// commands run in a process group of their own, so they survive `kill -9` of the worker):
/// an interrupted action stops rather than finish unseen beside its retry. Reads `/proc`
/// (Linux); where there is none, nothing is found. Returns how many were killed.
pub fn stop_leftovers(action_execution_id: &str) -> usize {
    let Ok(entries) = std::fs::read_dir("/proc") else { return 0 };
    let own = std::process::id();
    let leftovers = entries
        .filter_map(Result::ok)
        .filter_map(|entry| entry.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| *pid != own)
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/environ")).is_ok_and(|env| runs_attempt(&env, action_execution_id))
        });
    let mut killed = 0;
    for pid in leftovers {
        let Ok(pid) = i32::try_from(pid) else { continue };
        let signal = nix::sys::signal::Signal::SIGKILL;
        if nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), signal).is_ok() {
            killed += 1;
        }
    }
    killed
}

/// The executions of `needed` that have no live worker, except `working_on`, which the
/// caller works itself.
pub fn orphans<'a>(
    needed: &'a [WorkNeeded],
    working_on: Option<&str>,
    alive: impl Fn(&WorkerRecord) -> bool,
) -> Vec<&'a WorkNeeded> {
    needed
        .iter()
        .filter(|work| Some(work.execution_id.as_str()) != working_on)
        .filter(|work| !work.worker.as_ref().is_some_and(&alive))
        .collect()
}

/// Launches a worker for every unfinished execution that has effects in the outbox or a
/// worker on record, and no live worker: after `kill -9` of `pipewright run`, whichever
/// command opens the state directory next takes the execution up. One read when nothing is
/// orphaned. Returns the executions a worker was launched for.
pub async fn resume_orphans(backend: &Backend, working_on: Option<&str>) -> Result<Vec<String>, StoreError> {
    let Some(launcher) = &backend.launcher else { return Ok(Vec::new()) };
    let needed = backend.store.executions_needing_workers().await?;
    let at = now();
    let mut launched = Vec::new();
    let orphaned = orphans(&needed, working_on, |record| is_alive(record, at));
    for work in orphaned.into_iter().filter(|work| !launched_recently(&backend.state_dir, &work.execution_id, at)) {
        match launcher.launch(&work.pipeline, &work.execution_id) {
            Ok(()) => launched.push(work.execution_id.clone()),
            Err(error) => backend
                .providers
                .reporter
                .info(&format!("could not start a worker for execution {}: {error}", work.execution_id)),
        }
    }
    Ok(launched)
}

/// How often a long-lived process (`pipewright serve`) looks for orphaned executions.
pub const RESUME_INTERVAL: std::time::Duration = std::time::Duration::from_secs(5);

/// [`resume_orphans`] every [`RESUME_INTERVAL`], for as long as the caller keeps this future:
/// a `run` killed while `serve` runs is taken up without another command.
pub async fn keep_resuming(backend: &Backend) {
    loop {
        tokio::time::sleep(RESUME_INTERVAL).await;
        if let Err(error) = resume_orphans(backend, None).await {
            backend.providers.reporter.info(&format!("cannot look for orphaned executions: {error}"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pipewright_core::time::Timestamp;

    #[test]
    fn actions_run_in_the_worker_s_process_are_interrupted() {
        for kind in [
            ProviderKind::Commands,
            ProviderKind::CodeBuild,
            ProviderKind::S3Source,
            ProviderKind::CodeCommit,
            ProviderKind::CodeStarSourceConnection,
            ProviderKind::GitHubV1,
            ProviderKind::Ecr,
            ProviderKind::S3Deploy,
            ProviderKind::CloudFormation,
            ProviderKind::Ecs,
            ProviderKind::CodeDeploy,
            ProviderKind::CodeDeployToEcs,
            ProviderKind::ElasticBeanstalk,
            ProviderKind::StepFunctions,
            ProviderKind::CodePipelineInvoke,
        ] {
            assert_eq!(on_takeover(ActionOwner::Aws, Some(kind)), Takeover::Interrupted, "{kind:?}");
        }
    }

    #[test]
    fn handed_off_and_refused_jobs_are_resumed() {
        assert_eq!(on_takeover(ActionOwner::Aws, Some(ProviderKind::Lambda)), Takeover::Resumed);
        assert_eq!(on_takeover(ActionOwner::Custom, None), Takeover::Resumed, "a custom action's job worker");
        assert_eq!(on_takeover(ActionOwner::ThirdParty, Some(ProviderKind::Snyk)), Takeover::Resumed);
        assert_eq!(on_takeover(ActionOwner::Aws, Some(ProviderKind::ManualApproval)), Takeover::Resumed);
        // Providers Pipewright does not run fail at once, touching nothing.
        assert_eq!(on_takeover(ActionOwner::Aws, Some(ProviderKind::DeviceFarm)), Takeover::Resumed);
        assert_eq!(on_takeover(ActionOwner::Aws, None), Takeover::Resumed);
    }

    #[test]
    fn the_message_names_the_gone_worker_s_process() {
        assert_eq!(owner_pid("4242-0b7e3c2a-uuid"), Some(4242));
        assert_eq!(owner_pid("dead-owner"), None);
        let message = interrupted_message("4242-0b7e3c2a");
        assert!(message.starts_with("interrupted: the worker running this action (pid 4242) stopped"), "{message}");
        assert!(message.contains("retry the stage"), "{message}");
        assert!(interrupted_message("dead-owner").contains("the worker running this action stopped"));
    }

    #[test]
    fn an_attempt_s_processes_are_known_by_their_build_id() {
        let environ = b"PATH=/bin\0CODEBUILD_BUILD_ID=pipewright:a-1\0HOME=/root\0";
        assert!(runs_attempt(environ, "a-1"));
        assert!(!runs_attempt(environ, "a-10"), "the whole value, not a prefix");
        assert!(!runs_attempt(environ, "a"));
        assert!(!runs_attempt(b"CODEBUILD_BUILD_ID=other:a-1", "a-1"));
    }

    #[test]
    #[cfg(target_os = "linux")]
    fn leftover_processes_of_an_attempt_are_killed_and_no_others() {
        let id = format!("leftover-{}", std::process::id());
        let spawn = |build_id: &str| {
            std::process::Command::new("sleep")
                .arg("300")
                .env("CODEBUILD_BUILD_ID", format!("pipewright:{build_id}"))
                .spawn()
                .unwrap()
        };
        let mut leftover = spawn(&id);
        let mut other = spawn(&format!("{id}-other"));
        // Its environment is readable once the process has started.
        while !std::fs::read(format!("/proc/{}/environ", leftover.id())).is_ok_and(|env| runs_attempt(&env, &id)) {
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        assert_eq!(stop_leftovers(&id), 1);
        let status = leftover.wait().unwrap();
        assert_eq!(std::os::unix::process::ExitStatusExt::signal(&status), Some(9), "{status:?}");
        assert!(other.try_wait().unwrap().is_none(), "another attempt's process runs on");
        other.kill().unwrap();
        other.wait().unwrap();
    }

    fn needed(execution_id: &str, worker: Option<(&str, u32)>) -> WorkNeeded {
        WorkNeeded {
            pipeline: "p".to_string(),
            execution_id: execution_id.to_string(),
            worker: worker.map(|(owner, pid)| WorkerRecord {
                owner: owner.to_string(),
                pid,
                heartbeat: Timestamp::from_millis(0),
            }),
        }
    }

    #[test]
    fn executions_without_a_live_worker_are_orphans_except_the_caller_s_own() {
        let all = [
            needed("unworked", None),
            needed("dead", Some(("1-a", 1))),
            needed("alive", Some(("2-b", 2))),
            needed("mine", None),
        ];
        let found = orphans(&all, Some("mine"), |record| record.pid == 2);
        let ids: Vec<&str> = found.iter().map(|w| w.execution_id.as_str()).collect();
        assert_eq!(ids, ["unworked", "dead"]);
    }
}
