//! The in-process bus for one execution: it claims the execution's effects from the outbox and
//! carries them out — state changes to the reporter, dispatches to the providers, approval
//! requests to the notifier — and feeds the results back through the shared handler, until
//! the execution ends. Deadlines are level-triggered: the worker reads them from the state.
//!
//! One worker per execution at a time, across every process on the state directory.

use std::collections::HashMap;
use std::fs;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, watch};

use pipewright_core::engine::{
    ActionFailed, ApprovalRequest, ApprovalResult, ApprovalStatus, Dispatch, Effect, Event, Execution, FailureDetails,
    FailureType, Rejection, Tick, next_due,
};
use pipewright_core::notifications::approval_message;
use pipewright_core::ports::{OutboxEntry, StateStore};
use pipewright_core::service::{ServiceError, Together};
use pipewright_core::time::Timestamp;

use pipewright_core::artifact_access::local_credentials;

use crate::backend::{Backend, LOCAL_REGION, RunOptions, is_alive, now, run_options_body};
use crate::own_effects;
use crate::providers;
use crate::recovery::{self, Takeover};
use crate::store;
use crate::wake::WakeSocket;
use pipewright_core::action_details::ActionDetails;
use pipewright_core::providers::ProviderKind;
use pipewright_providers::{ActionError, Outcome};

const HEARTBEAT: Duration = Duration::from_secs(2);

#[derive(Debug, Clone, Default)]
pub struct WorkerOptions {
    /// Approve every manual approval at once.
    pub auto_approve: bool,
    /// Ask the person at the terminal to approve or reject.
    pub interactive: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    #[error("execution {execution} already has a worker (process {pid})")]
    AlreadyWorked { execution: String, pid: u32 },
    /// Another worker took the execution over (this one looked dead), or its record was
    /// removed (the pipeline deleted): stop at once.
    #[error("execution {0} was taken over by another worker, or its worker record was removed")]
    Displaced(String),
    /// The state directory was removed (or replaced) under the worker: nothing is left to
    /// report to.
    #[error("the state file {0} is gone; the worker of its execution stops")]
    StateGone(String),
    #[error("execution {0} does not exist")]
    NoSuchExecution(String),
    #[error(transparent)]
    Store(#[from] pipewright_core::ports::StoreError),
    #[error(transparent)]
    Service(#[from] ServiceError),
}

/// A registered worker, not yet running: register before starting an execution, so that no
/// other process starts a second worker for it.
pub struct Worker<'a> {
    backend: &'a Backend,
    pipeline: String,
    execution_id: String,
    owner: String,
    /// Where those who commit work for the execution (approvals, stops, transitions, job
    /// results) wake this worker.
    wake: WakeSocket,
    /// Entries this worker's own commits claimed (`crate::own_effects`), not yet carried out.
    claimed_by_commits: Mutex<Vec<OutboxEntry>>,
}

type Finished = (String, Dispatch, Outcome, Option<ActionDetails>);

/// The running part of a worker: actions in flight and what arrived for it.
struct Session<'w, 'a> {
    worker: &'w Worker<'a>,
    options: &'w WorkerOptions,
    /// Dispatches being run, by outbox entry id, with the switch that stops them.
    running: HashMap<String, (Dispatch, watch::Sender<bool>)>,
    finished_tx: mpsc::UnboundedSender<Finished>,
    answer_tx: mpsc::UnboundedSender<Event>,
    finished: Vec<Finished>,
    answers: Vec<Event>,
    /// The tasks running actions, which remove each one's workspace after its result.
    tasks: Vec<tokio::task::JoinHandle<()>>,
    /// Outbox entries carried out (state changes shown, wake-ups, approval requests) and not
    /// yet removed: they leave the outbox in the commit of the next results, in the write of
    /// the next heartbeat, or in the worker's last write ([`crate::store::SqliteStore::finish_worker`]),
    /// never in a write of their own (docs/benchmarks.md, "stop 39" and "stop 41"). Claimed
    /// by this worker meanwhile, so nobody carries them out again unless it dies first, as
    /// after any crash before a removal.
    carried_out: Vec<String>,
}

impl<'a> Worker<'a> {
    pub async fn register(backend: &'a Backend, pipeline: &str, execution_id: &str) -> Result<Worker<'a>, WorkerError> {
        let owner = format!("{}-{}", std::process::id(), uuid::Uuid::new_v4());
        let registered = backend
            .store
            .register_worker(execution_id, &owner, std::process::id(), now(), |record| is_alive(record, now()))
            .await?;
        let registered = match registered {
            Ok(registered) => registered,
            Err(record) => {
                return Err(WorkerError::AlreadyWorked { execution: execution_id.to_string(), pid: record.pid });
            }
        };
        // The record speaks for this worker now; a marker left would hold the execution after
        // this worker has gone.
        crate::backend::forget_launch(&backend.state_dir, execution_id);
        let wake = WakeSocket::bind(&backend.state_dir, execution_id);
        let worker = Worker {
            backend,
            pipeline: pipeline.to_string(),
            execution_id: execution_id.to_string(),
            owner,
            wake,
            // Carried out first, as what a commit of its own claimed.
            claimed_by_commits: Mutex::new(registered.claimed),
        };
        worker.take_over_claims().await?;
        Ok(worker)
    }

    /// Takes over the effects that workers gone before this one had claimed (this one is the
    /// registered worker now, so every other claimant died or was displaced): an action one
    /// of them was running in its own process fails as interrupted; the rest are ours to
    /// carry out (`recovery::on_takeover`).
    async fn take_over_claims(&self) -> Result<(), WorkerError> {
        let store = &self.backend.store;
        let claims = store.claims_of_others(&self.execution_id, &self.owner).await?;
        // Nothing to judge or to release: no write (the usual case, a new execution's worker).
        if claims.is_empty() {
            return Ok(());
        }
        // The declaration the execution runs with.
        let pipeline = match store.get_execution(&self.execution_id).await? {
            Some(execution) => self.backend.cache.pinned(store.as_ref(), &execution.value).await.ok(),
            None => None,
        };
        for (claimant, entry) in claims {
            let Effect::Dispatch(dispatch) = entry.effect else { continue };
            let kind = providers::kind_of(pipeline.as_deref(), &dispatch);
            if recovery::on_takeover(dispatch.action_type.owner.clone(), kind) == Takeover::Interrupted {
                if kind == Some(ProviderKind::Commands) {
                    recovery::stop_leftovers(&dispatch.action_execution_id);
                }
                let message = recovery::interrupted_message(&claimant);
                self.backend.providers.reporter.info(&format!("{}/{}: {message}", dispatch.stage, dispatch.action));
                let failure = Outcome::Failed(ActionError { kind: FailureType::JobFailed, message });
                self.report(&entry.id, &dispatch, failure, None, Vec::new()).await?;
            }
        }
        store.release_claims_of_others(&self.execution_id, &self.owner).await?;
        Ok(())
    }

    pub fn execution_id(&self) -> &str {
        &self.execution_id
    }

    /// Carries out the execution's effects until it ends; returns it as it ended.
    pub async fn run(self, options: &WorkerOptions) -> Result<Execution, WorkerError> {
        let (finished_tx, mut finished_rx) = mpsc::unbounded_channel();
        let (answer_tx, mut answer_rx) = mpsc::unbounded_channel();
        let mut session = Session {
            worker: &self,
            options,
            running: HashMap::new(),
            finished_tx,
            answer_tx,
            finished: Vec::new(),
            answers: Vec::new(),
            tasks: Vec::new(),
            carried_out: Vec::new(),
        };
        let result = session.work(&mut finished_rx, &mut answer_rx).await;
        let tasks = std::mem::take(&mut session.tasks);
        let carried_out = std::mem::take(&mut session.carried_out);
        // Whatever still runs is stopped when the session (and its switches) is dropped.
        drop(session);
        if result.is_ok() {
            // Every action has reported: what is left is removing workspaces, which ends
            // before the execution is handed back. Now that something waits for them, those
            // still queued are done at the ordinary priority (`crate::remover`).
            self.backend.providers.remover.hurry().await;
            for task in tasks {
                let _ = task.await;
            }
            // While this worker is still the registered one, so no other can be making an
            // attempt's directory under it (a retry's worker registers after this one).
            let providers = &self.backend.providers;
            providers::remove_execution_dirs(&providers.work_root, &self.execution_id, providers.keep_workspaces).await;
        }
        if !matches!(result, Err(WorkerError::Displaced(_) | WorkerError::StateGone(_))) {
            // A worker that stops for another reason may have claimed what it did not carry
            // out: released, for the next worker, in the same write.
            let finished = self.backend.store.finish_worker(&self.execution_id, &self.owner, &carried_out).await;
            // After an execution that ended, a failure to write is what the caller hears of.
            if let Err(error) = finished
                && result.is_ok()
            {
                return Err(error.into());
            }
        }
        result
    }

    async fn read(&self) -> Result<Execution, WorkerError> {
        Ok(self
            .backend
            .store
            .get_execution(&self.execution_id)
            .await?
            .ok_or_else(|| WorkerError::NoSuchExecution(self.execution_id.clone()))?
            .value)
    }

    /// Starts this worker's execution, registered before it exists: the start's commit also
    /// writes `options` (`store::with_run_options_of_start`) and claims what the start sets
    /// off, so that the worker carries it out without a write of its own.
    pub async fn start(&self, event: &Event, options: &RunOptions) -> Result<(), ServiceError> {
        let body = run_options_body(options)?;
        store::with_run_options_of_start(&self.execution_id, body, self.submit(event, &[])).await
    }

    /// Submits `event` for this worker's execution from its own process (a retry before it
    /// is followed): what it sets off is claimed by its commit, as for the worker's results.
    pub async fn submit_own(&self, event: &Event) -> Result<(), ServiceError> {
        self.submit(event, &[]).await
    }

    async fn submit(&self, event: &Event, completed: &[String]) -> Result<(), ServiceError> {
        let submitted = self.backend.submit(&self.pipeline, event, completed, Some(&self.execution_id));
        self.claiming_own_effects(submitted).await.map(|_| ())
    }

    /// Runs `work` (a submission) so that its commits claim the effects they record for this
    /// execution; they are carried out at the start of the next round.
    async fn claiming_own_effects<T>(&self, work: impl Future<Output = T>) -> T {
        let (output, claimed) = own_effects::claiming_own_effects(&self.execution_id, &self.owner, work).await;
        self.claimed_by_commits.lock().unwrap_or_else(PoisonError::into_inner).extend(claimed);
        output
    }

    fn has_claimed_by_commits(&self) -> bool {
        !self.claimed_by_commits.lock().unwrap_or_else(PoisonError::into_inner).is_empty()
    }

    /// Takes the entries claimed by this worker's commits, to carry them out.
    fn take_claimed_by_commits(&self) -> Vec<OutboxEntry> {
        std::mem::take(&mut *self.claimed_by_commits.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

impl Session<'_, '_> {
    /// `StateGone` when the state file was removed: an open connection keeps working on a
    /// deleted file, so the path is what tells.
    fn state_gone(&self) -> Option<WorkerError> {
        let backend = &self.worker.backend;
        (!backend.store.is_still_on_disk())
            .then(|| WorkerError::StateGone(backend.state_dir.join("state.db").display().to_string()))
    }

    async fn work(
        &mut self,
        finished_rx: &mut mpsc::UnboundedReceiver<Finished>,
        answer_rx: &mut mpsc::UnboundedReceiver<Event>,
    ) -> Result<Execution, WorkerError> {
        let worker = self.worker;
        let store = &worker.backend.store;
        let mut last_heartbeat = Instant::now();
        // The state first: every effect committed with it is claimed below, so an execution
        // read as finished here has no effect left once the claim is done. A read from the end
        // of the last round serves as well as a new one: it was also made before the claim.
        let mut execution = worker.read().await?;
        loop {
            // What this worker's last commits claimed first, then whatever others committed.
            let mut claimed = worker.take_claimed_by_commits();
            claimed.extend(store.claim_effects(&worker.execution_id, &worker.owner).await?);
            self.carry_out(claimed, &execution).await;

            while let Ok(finished) = finished_rx.try_recv() {
                self.finished.push(finished);
            }
            while let Ok(answer) = answer_rx.try_recv() {
                self.answers.push(answer);
            }
            // A result or an answer commits new effects: claim them at once, without waiting.
            let progressed = !self.finished.is_empty() || !self.answers.is_empty();
            self.deliver().await?;

            // Read again: a dispatch claimed above may be newer than the first read, which
            // must not make its action look finished.
            let current = worker.read().await?;
            self.stop_moved_past(&current);
            let claimed_after = std::mem::replace(&mut execution, current);
            let due = next_due(&execution);
            if due.is_some_and(|due| due <= now()) {
                worker.submit(&Event::Tick(Tick { execution_id: worker.execution_id.clone() }), &[]).await?;
                continue;
            }
            if claimed_after.status.is_finished() && self.running.is_empty() && !worker.has_claimed_by_commits() {
                // Finished in a state directory removed meanwhile, nobody can see the result.
                if let Some(gone) = self.state_gone() {
                    return Err(gone);
                }
                // What it carried out leaves the outbox with the worker's last write.
                return Ok(claimed_after);
            }
            if last_heartbeat.elapsed() >= HEARTBEAT {
                if let Some(gone) = self.state_gone() {
                    return Err(gone);
                }
                // While the actions run, no results commit to carry the entries carried out
                // along: the heartbeat removes them, in its own write.
                let carried_out = std::mem::take(&mut self.carried_out);
                if !store.heartbeat(&worker.execution_id, &worker.owner, now(), &carried_out).await? {
                    return Err(WorkerError::Displaced(worker.execution_id.clone()));
                }
                last_heartbeat = Instant::now();
            }
            if progressed {
                continue;
            }
            let longest = idle_wait(due, now(), HEARTBEAT.saturating_sub(last_heartbeat.elapsed()));
            tokio::select! {
                Some(finished) = finished_rx.recv() => self.finished.push(finished),
                Some(answer) = answer_rx.recv() => self.answers.push(answer),
                () = worker.wake.wait(longest) => {}
            }
        }
    }

    /// Carries out claimed effects. A dispatch stays in the outbox until its result commits;
    /// the others until the next results commit ([`Session::carried_out`]).
    async fn carry_out(&mut self, claimed: Vec<OutboxEntry>, execution: &Execution) {
        let worker = self.worker;
        let backend = worker.backend;
        for entry in claimed {
            match entry.effect {
                Effect::Publish(change) => {
                    backend.providers.reporter.state_change(&change);
                    self.carried_out.push(entry.id);
                }
                // Deadlines are read from the state instead, and a rule's process that is no
                // longer waited for is stopped by `stop_moved_past`, as an action's is.
                Effect::WakeAt(_) | Effect::StopWork(_) => self.carried_out.push(entry.id),
                Effect::RequestApproval(request) => {
                    worker.notify(&request);
                    self.carried_out.push(entry.id);
                    self.ask(*request);
                }
                Effect::Dispatch(dispatch) => self.start(entry.id, *dispatch, execution).await,
            }
        }
    }

    /// Gets an answer to an approval: at once with `--auto-approve`, or from the terminal.
    fn ask(&mut self, request: ApprovalRequest) {
        if self.options.auto_approve {
            self.answers.push(approval(&request, ApprovalStatus::Approved, "Approved by --auto-approve"));
        } else if self.options.interactive {
            let reporter = self.worker.backend.providers.reporter.clone();
            let answer_tx = self.answer_tx.clone();
            tokio::task::spawn_blocking(move || {
                if let Some((status, summary)) = reporter.prompt_approval(&request) {
                    let _ = answer_tx.send(approval(&request, status, &summary));
                }
            });
        }
    }

    /// Runs a dispatched action of `execution` in its own task.
    async fn start(&mut self, id: String, dispatch: Dispatch, execution: &Execution) {
        if self.running.contains_key(&id) {
            return;
        }
        let backend = self.worker.backend;
        let pipeline = backend.cache.pinned(backend.store.as_ref(), execution).await.ok();
        let kind = providers::kind_of(pipeline.as_deref(), &dispatch);
        let regional_store = match dispatch.condition {
            Some(_) => None,
            None => pipeline.as_ref().and_then(|p| pipewright_core::deploy::regional_store(p, &dispatch)),
        };
        let (cancel, cancelled) = watch::channel(false);
        let context = backend.providers.clone();
        let finished_tx = self.finished_tx.clone();
        let job = dispatch.clone();
        let entry = id.clone();
        let credentials = local_credentials(&execution.seed, &dispatch.job_id);
        let task = tokio::spawn(async move {
            let ran = providers::run(&job, kind, &context, regional_store, cancelled, &credentials).await;
            // Queued before the result is handed on, so that once the session has every result,
            // every removal is queued for `Remover::hurry`; carried out off the next action's path.
            let removing = ran.workspace.map(|workspace| context.remover.remove(workspace));
            let _ = finished_tx.send((entry, job, ran.outcome, ran.details));
            if let Some(removing) = removing {
                removing.wait().await;
            }
        });
        self.tasks.retain(|task| !task.is_finished());
        self.tasks.push(task);
        self.running.insert(id, (dispatch, cancel));
    }

    /// Submits the results of finished actions and the answers to approvals.
    async fn deliver(&mut self) -> Result<(), WorkerError> {
        let finished = std::mem::take(&mut self.finished);
        for (id, ..) in &finished {
            self.running.remove(id);
        }
        if !finished.is_empty() {
            // The entries carried out leave the outbox with the first commit of results.
            let mut carried_out = std::mem::take(&mut self.carried_out);
            if !self.worker.report_together(&finished, &carried_out).await? {
                for (id, dispatch, outcome, details) in finished {
                    let also = std::mem::take(&mut carried_out);
                    self.worker.report(&id, &dispatch, outcome, details, also).await?;
                }
            }
        }
        for answer in std::mem::take(&mut self.answers) {
            match self.worker.submit(&answer, &[]).await {
                Ok(()) => {}
                // Answered from another shell first, or expired: nothing to do.
                Err(ServiceError::Rejected(rejection)) => {
                    self.worker.backend.providers.reporter.info(&format!("approval not applied: {rejection}"))
                }
                Err(error) => return Err(error.into()),
            }
        }
        Ok(())
    }

    /// Stops the actions the engine has moved past (abandoned, timed out).
    fn stop_moved_past(&self, execution: &Execution) {
        for (dispatch, cancel) in self.running.values() {
            if !is_in_progress(execution, dispatch) {
                let _ = cancel.send(true);
            }
        }
    }
}

impl Worker<'_> {
    /// Reports a provider's outcome; the dispatch leaves the outbox in the same commit, with
    /// the entries `also` names.
    async fn report(
        &self,
        id: &str,
        dispatch: &Dispatch,
        outcome: Outcome,
        details: Option<ActionDetails>,
        also: Vec<String>,
    ) -> Result<(), WorkerError> {
        let backend = self.backend;
        let mut completed = also;
        completed.push(id.to_string());
        let Some(event) = outcome.into_event_with(dispatch, details) else {
            backend.store.complete_effects(&self.execution_id, &completed).await?;
            return Ok(());
        };
        match self.submit(&event, &completed).await {
            Ok(()) => Ok(()),
            Err(ServiceError::Rejected(Rejection::OutputVariablesSizeExceeded { size, limit })) => {
                let failure = Event::ActionFailed(ActionFailed {
                    job: dispatch.job_ref(),
                    failure: FailureDetails {
                        kind: FailureType::JobFailed,
                        message: format!("output variables of {size} bytes exceed the limit of {limit} bytes"),
                        external_execution_id: Some(dispatch.action_execution_id.clone()),
                    },
                    details: None,
                });
                Ok(self.submit(&failure, &completed).await?)
            }
            Err(ServiceError::Rejected(rejection)) => {
                let message = format!("result of {}/{} refused: {rejection}", dispatch.stage, dispatch.action);
                backend.providers.reporter.info(&message);
                backend.store.complete_effects(&self.execution_id, &completed).await?;
                Ok(())
            }
            Err(error) => Err(error.into()),
        }
    }

    /// Reports the outcomes of actions that ended together in one commit, each dispatch
    /// leaving the outbox with it (and the entries `also` names with the first); false
    /// (nothing reported) when they must be reported one by one: a single one, a job handed
    /// off, or what `service::handle_together` leaves to the handler of one event (a refusal
    /// is then reported as [`Worker::report`] does).
    async fn report_together(&self, finished: &[Finished], also: &[String]) -> Result<bool, WorkerError> {
        if finished.len() < 2 {
            return Ok(false);
        }
        let mut events = Vec::with_capacity(finished.len());
        for (id, dispatch, outcome, details) in finished {
            let Some(event) = outcome.clone().into_event_with(dispatch, details.clone()) else { return Ok(false) };
            let completed = match events.is_empty() {
                true => also.iter().cloned().chain([id.clone()]).collect(),
                false => vec![id.clone()],
            };
            events.push((event, completed));
        }
        let submitted = self.backend.submit_together(&self.pipeline, &events, &self.execution_id);
        match self.claiming_own_effects(submitted).await {
            Ok(Together::Applied { .. }) => Ok(true),
            Ok(Together::OneByOne) | Err(ServiceError::Rejected(_)) => Ok(false),
            Err(error) => Err(error.into()),
        }
    }

    /// Prints the request and writes the SNS message body CodePipeline would send.
    fn notify(&self, request: &ApprovalRequest) {
        let backend = self.backend;
        let console = format!("{}/pipelines/{}", backend.console_url, request.pipeline);
        let review = format!("{console}/approve/{}/{}?token={}", request.stage, request.action, request.token);
        let message = approval_message(request, LOCAL_REGION, &console, &review);
        let file = providers::notification_file(
            &backend.notifications_dir(),
            &request.execution_id,
            &request.stage,
            &request.action,
            request.attempt,
        );
        let written = file
            .parent()
            .map_or(Ok(()), fs::create_dir_all)
            .and_then(|()| fs::write(&file, serde_json::to_string_pretty(&message.body).unwrap_or_default()));
        if let Err(error) = written {
            backend
                .providers
                .reporter
                .info(&format!("could not write the approval message to {}: {error}", file.display()));
        }
        backend.providers.reporter.approval_requested(request, &message, &file);
    }
}

fn approval(request: &ApprovalRequest, status: ApprovalStatus, summary: &str) -> Event {
    Event::ApprovalResult(ApprovalResult {
        execution_id: request.execution_id.clone(),
        stage: request.stage.clone(),
        action: request.action.clone(),
        token: request.token.clone(),
        status,
        summary: (!summary.is_empty()).then(|| summary.to_string()),
        by: Some(whoami()),
    })
}

/// Who answers from this machine.
pub fn whoami() -> String {
    let user = std::env::var("USER").or_else(|_| std::env::var("USERNAME")).unwrap_or_else(|_| "local".to_string());
    format!("{user}@pipewright-local")
}

fn is_in_progress(execution: &Execution, dispatch: &Dispatch) -> bool {
    pipewright_core::engine::job_is_live(execution, &dispatch.job_ref())
}

/// How long an idle worker waits for a wake-up before it looks on its own: until its
/// execution's next deadline (`due`) or its next heartbeat, whichever comes first. Commits
/// for the execution wake it; a look on its own is only for a commit whose wake-up was lost
/// (its sender died in between), which so waits one heartbeat at most. Looking every second
/// instead was most of what a long action cost `serve` (docs/benchmarks.md, "stop 32").
fn idle_wait(due: Option<Timestamp>, now: Timestamp, until_heartbeat: Duration) -> Duration {
    let until_due = due.map(|due| Duration::from_millis(u64::try_from(due.millis() - now.millis()).unwrap_or(0)));
    until_due.map_or(until_heartbeat, |until_due| until_due.min(until_heartbeat))
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: Timestamp = Timestamp(1_700_000_000_000);

    #[test]
    fn an_idle_worker_waits_until_its_next_heartbeat_when_no_deadline_comes_first() {
        let until_heartbeat = Duration::from_millis(1_500);
        assert_eq!(idle_wait(None, NOW, until_heartbeat), until_heartbeat);
        assert_eq!(idle_wait(Some(Timestamp(NOW.0 + 60_000)), NOW, until_heartbeat), until_heartbeat);
        assert_eq!(idle_wait(None, NOW, Duration::ZERO), Duration::ZERO, "a heartbeat due: at once");
    }

    #[test]
    fn a_deadline_before_the_heartbeat_is_looked_at_when_it_passes() {
        assert_eq!(idle_wait(Some(Timestamp(NOW.0 + 300)), NOW, HEARTBEAT), Duration::from_millis(300));
        assert_eq!(idle_wait(Some(Timestamp(NOW.0 - 5)), NOW, HEARTBEAT), Duration::ZERO, "passed: at once");
    }
}
