//! The in-process bus for one execution: it claims the execution's effects from the outbox and
//! carries them out — state changes to the reporter, dispatches to the providers, approval
//! requests to the notifier — and feeds the results back through the shared handler, until
//! the execution ends. Deadlines are level-triggered: the worker reads them from the state.
//!
//! One worker per execution at a time, across every process on the state directory.

use std::collections::HashMap;
use std::fs;
use std::time::Duration;

use tokio::sync::{mpsc, watch};

use pipewright_core::engine::{
    ActionFailed, ActionStatus, ApprovalRequest, ApprovalResult, ApprovalStatus, Dispatch, Effect, Event, Execution,
    FailureDetails, FailureType, JobRef, Rejection, Tick,
};
use pipewright_core::notifications::approval_message;
use pipewright_core::ports::StateStore;
use pipewright_core::service::{Handled, ServiceError};

use crate::backend::{Backend, LOCAL_REGION, is_alive, now};
use crate::providers::{self, Outcome};

/// How often the worker looks for work others committed (approvals, stops, transitions).
const POLL: Duration = Duration::from_millis(25);
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
    #[error("execution {0} does not exist")]
    NoSuchExecution(String),
    #[error(transparent)]
    Store(#[from] pipewright_core::ports::StoreError),
    #[error(transparent)]
    Service(#[from] ServiceError),
}

struct Running {
    dispatch: Dispatch,
    cancel: watch::Sender<bool>,
}

/// A registered worker, not yet running: register before starting an execution, so that no
/// other process starts a second worker for it.
pub struct Worker<'a> {
    backend: &'a Backend,
    pipeline: String,
    execution_id: String,
    owner: String,
}

impl<'a> Worker<'a> {
    pub async fn register(backend: &'a Backend, pipeline: &str, execution_id: &str) -> Result<Worker<'a>, WorkerError> {
        let owner = format!("{}-{}", std::process::id(), uuid::Uuid::new_v4());
        let registered = backend
            .store
            .register_worker(execution_id, &owner, std::process::id(), now(), |record| is_alive(record, now()))?;
        let previous = match registered {
            Ok(previous) => previous,
            Err(record) => {
                return Err(WorkerError::AlreadyWorked { execution: execution_id.to_string(), pid: record.pid });
            }
        };
        let worker = Worker { backend, pipeline: pipeline.to_string(), execution_id: execution_id.to_string(), owner };
        if let Some(previous) = previous {
            // The previous worker died holding effects: they are ours now.
            backend.store.release_effects(&previous).await?;
        }
        Ok(worker)
    }

    pub fn execution_id(&self) -> &str {
        &self.execution_id
    }

    /// Carries out the execution's effects until it ends; returns it as it ended.
    pub async fn run(self, options: &WorkerOptions) -> Result<Execution, WorkerError> {
        let result = self.work(options).await;
        let _ = self.backend.store.release_effects(&self.owner).await;
        let _ = self.backend.store.unregister_worker(&self.execution_id, &self.owner);
        result
    }

    async fn work(&self, options: &WorkerOptions) -> Result<Execution, WorkerError> {
        let backend = self.backend;
        let mut running: HashMap<String, Running> = HashMap::new();
        let (done_tx, mut done_rx) = mpsc::unbounded_channel::<(String, Dispatch, Outcome)>();
        let (answer_tx, mut answer_rx) = mpsc::unbounded_channel::<Event>();
        let mut last_heartbeat = std::time::Instant::now();
        let mut results: Vec<(String, Dispatch, Outcome)> = Vec::new();
        let mut answers: Vec<Event> = Vec::new();
        loop {
            // The state first: every effect committed with it is claimed below, so an execution
            // read as finished here has no effect left once the claim is done.
            let execution = backend
                .store
                .get_execution(&self.execution_id)
                .await?
                .ok_or_else(|| WorkerError::NoSuchExecution(self.execution_id.clone()))?
                .value;

            let mut completed = Vec::new();
            for entry in backend.store.claim_effects(&self.execution_id, &self.owner).await? {
                match entry.effect {
                    Effect::Publish(change) => {
                        backend.providers.reporter.state_change(&change);
                        completed.push(entry.id);
                    }
                    // Deadlines are read from the state below.
                    Effect::WakeAt(_) => completed.push(entry.id),
                    Effect::RequestApproval(request) => {
                        self.notify(&request);
                        completed.push(entry.id);
                        if options.auto_approve {
                            answers.push(approval(&request, ApprovalStatus::Approved, "Approved by --auto-approve"));
                        } else if options.interactive {
                            let reporter = backend.providers.reporter.clone();
                            let answer_tx = answer_tx.clone();
                            let request = *request;
                            tokio::task::spawn_blocking(move || {
                                if let Some((status, summary)) = reporter.prompt_approval(&request) {
                                    let _ = answer_tx.send(approval(&request, status, &summary));
                                }
                            });
                        }
                    }
                    Effect::Dispatch(dispatch) => {
                        if running.contains_key(&entry.id) {
                            continue;
                        }
                        let (cancel, cancelled) = watch::channel(false);
                        let context = backend.providers.clone();
                        let done_tx = done_tx.clone();
                        let id = entry.id.clone();
                        let kind = backend
                            .cache
                            .get(backend.store.as_ref(), &self.pipeline, Some(dispatch.pipeline_version))
                            .await
                            .ok()
                            .and_then(|p| {
                                let stage = p.stage_index(&dispatch.stage)?;
                                p.stages[stage].action_index(&dispatch.action).map(|a| p.stages[stage].actions[a].kind)
                            })
                            .flatten();
                        let job = (*dispatch).clone();
                        tokio::spawn(async move {
                            let outcome = providers::run(&job, kind, &context, cancelled).await;
                            let _ = done_tx.send((id, job, outcome));
                        });
                        running.insert(entry.id, Running { dispatch: *dispatch, cancel });
                    }
                }
            }
            if !completed.is_empty() {
                backend.store.complete_effects(&completed).await?;
            }

            while let Ok(result) = done_rx.try_recv() {
                results.push(result);
            }
            // A result or an answer commits new effects: claim them at once, without waiting.
            let mut progressed = !results.is_empty() || !answers.is_empty();
            for (id, dispatch, outcome) in results.drain(..) {
                running.remove(&id);
                self.report(&id, &dispatch, outcome).await?;
            }
            while let Ok(answer) = answer_rx.try_recv() {
                answers.push(answer);
                progressed = true;
            }
            for answer in answers.drain(..) {
                match backend.submit(&self.pipeline, &answer, &[], Some(&self.execution_id)).await {
                    Ok(_) => {}
                    // Answered from another shell first, or expired: nothing to do.
                    Err(ServiceError::Rejected(rejection)) => {
                        backend.providers.reporter.info(&format!("approval not applied: {rejection}"))
                    }
                    Err(error) => return Err(error.into()),
                }
            }

            // Read again: a dispatch claimed above may be newer than the first read, which
            // must not make its action look finished.
            let current = backend
                .store
                .get_execution(&self.execution_id)
                .await?
                .ok_or_else(|| WorkerError::NoSuchExecution(self.execution_id.clone()))?
                .value;
            // Actions the engine has moved past (abandoned, timed out) are stopped here.
            for run in running.values() {
                if !is_in_progress(&current, &run.dispatch) {
                    let _ = run.cancel.send(true);
                }
            }
            if has_passed_deadline(&current) {
                let tick = Event::Tick(Tick { execution_id: self.execution_id.clone() });
                backend.submit(&self.pipeline, &tick, &[], Some(&self.execution_id)).await?;
                continue;
            }
            if execution.status.is_finished() && running.is_empty() {
                return Ok(execution);
            }
            if last_heartbeat.elapsed() >= HEARTBEAT {
                backend.store.heartbeat(&self.execution_id, &self.owner, now())?;
                last_heartbeat = std::time::Instant::now();
            }
            if progressed {
                continue;
            }
            tokio::select! {
                Some(result) = done_rx.recv() => results.push(result),
                Some(answer) = answer_rx.recv() => answers.push(answer),
                _ = tokio::time::sleep(POLL) => {}
            }
        }
    }

    /// Reports a provider's outcome; the dispatch leaves the outbox in the same commit.
    async fn report(&self, id: &str, dispatch: &Dispatch, outcome: Outcome) -> Result<(), WorkerError> {
        let backend = self.backend;
        let completed = [id.to_string()];
        let Some(event) = outcome.into_event(dispatch) else {
            backend.store.complete_effects(&completed).await?;
            return Ok(());
        };
        match backend.submit(&self.pipeline, &event, &completed, Some(&self.execution_id)).await {
            Ok(Handled::Applied { .. } | Handled::Stale(_)) => Ok(()),
            Err(ServiceError::Rejected(Rejection::OutputVariablesSizeExceeded { size, limit })) => {
                let failure = Event::ActionFailed(ActionFailed {
                    job: job_ref(dispatch),
                    failure: FailureDetails {
                        kind: FailureType::JobFailed,
                        message: format!("output variables of {size} bytes exceed the limit of {limit} bytes"),
                        external_execution_id: Some(dispatch.action_execution_id.clone()),
                    },
                });
                backend.submit(&self.pipeline, &failure, &completed, Some(&self.execution_id)).await?;
                Ok(())
            }
            Err(ServiceError::Rejected(rejection)) => {
                backend
                    .providers
                    .reporter
                    .info(&format!("result of {}/{} refused: {rejection}", dispatch.stage, dispatch.action));
                backend.store.complete_effects(&completed).await?;
                Ok(())
            }
            Err(error) => Err(error.into()),
        }
    }

    /// Prints the request and writes the SNS message body CodePipeline would send.
    fn notify(&self, request: &ApprovalRequest) {
        let backend = self.backend;
        let console = format!("{}/pipelines/{}", backend.console_url, request.pipeline);
        let review = format!("{console}/approve/{}/{}?token={}", request.stage, request.action, request.token);
        let message = approval_message(request, LOCAL_REGION, &console, &review);
        let dir = backend.notifications_dir().join(&request.execution_id);
        let file = dir.join(format!("{}.{}.{}.json", request.stage, request.action, request.attempt));
        let written = fs::create_dir_all(&dir)
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

fn job_ref(dispatch: &Dispatch) -> JobRef {
    JobRef {
        execution_id: dispatch.execution_id.clone(),
        stage: dispatch.stage.clone(),
        action: dispatch.action.clone(),
        attempt: dispatch.attempt,
        job: dispatch.job_sequence,
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
    let Some(stage) = execution.stage_index(&dispatch.stage) else { return false };
    let run = &execution.stages[stage];
    let Some(action) = run.action_index(&dispatch.action) else { return false };
    run.actions[action]
        .attempts
        .last()
        .is_some_and(|a| a.number == dispatch.attempt && a.status == ActionStatus::InProgress)
}

fn has_passed_deadline(execution: &Execution) -> bool {
    let now = now();
    execution.stages.iter().flat_map(|s| s.actions.iter()).filter_map(|a| a.attempts.last()).any(|attempt| {
        attempt.status == ActionStatus::InProgress && pipewright_core::engine::next_deadline(attempt).0 <= now
    })
}
