//! A look at a build that has ended records, in the same commit, the other builds of its
//! execution that have ended too (`core::deploy::ended_together`): parallel builds that end
//! together take one commit instead of one each, and their looks do not race each other for
//! the execution item while the recording look commits within a later look's wait. The
//! build and the others are read first without acting on them (a `BatchGetBuilds` each);
//! only the look that records them then looks at them as their own looks would
//! (`codebuild::is_build_look`: a look runs the same twice over), which copies a Commands
//! build's outputs. A recording look slower than that wait (large outputs to copy) is raced,
//! correctly, at the cost of a refused write and a second copy. One still running, or that
//! cannot be looked at now, is left to its own look.

use std::collections::BTreeSet;

use pipewright_core::deploy::codebuild::is_build_look;
use pipewright_core::deploy::ended_together::{Together, WAIT_FOR_EARLIER, together};
use pipewright_core::engine::{Dispatch, Event, Execution, job_is_live};
use pipewright_core::ports::StateStore;
use pipewright_providers::deploy::{DeployJob, Deployer, Progress, Waiting};

use super::HandlerError;
use super::build_events::jobs_in_flight;
use super::invoke_action::{Invoked, ToLog, deploy_job, report_progress};
use crate::bus::DispatchMessage;
use crate::settings::Services;

/// The other builds a look asks about: a stage seldom runs more in parallel, and each is one
/// request before the commit.
const SIBLINGS_LOOKED_AT: usize = 10;

/// The look at the build `waiting` waits for, as `message` asks it, with `execution` as read
/// before it. When the build has ended with others of the execution, they are recorded in one
/// commit by the look at the earliest; a later look that finds its own recorded so stops
/// there, before its build's outputs are copied (a Commands build's: a PUT-class request).
pub(super) async fn look(
    services: &Services,
    message: &DispatchMessage,
    execution: &Execution,
    job: &DeployJob,
    waiting: &Waiting,
) -> Result<Invoked, HandlerError> {
    let dispatch = &message.dispatch;
    let siblings = sibling_looks(services, dispatch, execution).await;
    if siblings.is_empty() || services.deployer.has_ended(job, waiting).await != Some(true) {
        // Alone, still running, or not readable now: the look as any other.
        let progress = services.deployer.poll(job, waiting, &ToLog).await;
        return report_progress(services, message, progress).await;
    }
    let Some(with) = settle(services, dispatch, ended(services, siblings).await).await? else {
        return Ok(Invoked::Stale(format!(
            "job {} is no longer live: recorded with an earlier build's, or the execution moved on",
            dispatch.job_id
        )));
    };
    let progress = services.deployer.poll(job, waiting, &ToLog).await;
    let Progress::Finished(outcome) = progress else {
        return report_progress(services, message, progress).await;
    };
    let Some(own) = outcome.clone().into_event(dispatch) else { return Ok(Invoked::Finished(outcome)) };
    let mut events = vec![own];
    for (sibling, waiting) in &with {
        events.extend(result_of(services, sibling, waiting).await);
    }
    super::apply_together(services, &message.pipeline, &events).await?;
    Ok(Invoked::Finished(outcome))
}

/// The ended siblings the look at `dispatch` records with its own build (those it was given,
/// less any recorded meanwhile), after waiting for the look at an earlier one as
/// [`together`] says; `None` once its own job is no longer live (recorded with an earlier
/// build's, or the execution stopped or superseded: the look that committed relays what
/// follows, its delivery tried again if that fails, and the tick carries out any batch left a
/// minute on).
async fn settle(
    services: &Services,
    dispatch: &Dispatch,
    mut ended: Vec<(Dispatch, Waiting)>,
) -> Result<Option<Vec<(Dispatch, Waiting)>>, HandlerError> {
    let mut given_up = BTreeSet::new();
    let mut retry = 0;
    loop {
        let ids: Vec<String> = ended.iter().map(|(sibling, _)| sibling.job_id.clone()).collect();
        match together(&dispatch.job_id, &ids, &given_up) {
            Together::Record(with) => {
                ended.retain(|(sibling, _)| with.contains(&sibling.job_id));
                ended.sort_by(|a, b| a.0.job_id.cmp(&b.0.job_id));
                return Ok(Some(ended));
            }
            Together::WaitFor(earlier) if retry == WAIT_FOR_EARLIER.retries => {
                tracing::info!(earlier, "the look at the earlier build has not come: this look records it");
                given_up.insert(earlier);
                retry = 0;
            }
            Together::WaitFor(_) => {
                tokio::time::sleep(WAIT_FOR_EARLIER.ceiling(retry)).await;
                retry += 1;
                let Some(now) = services.store.get_execution(&dispatch.execution_id).await? else {
                    return Ok(None);
                };
                if !job_is_live(&now.value, &dispatch.job_ref()) {
                    return Ok(None);
                }
                // An earlier look that recorded its own build alone leaves this one to record.
                ended.retain(|(sibling, _)| job_is_live(&now.value, &sibling.job_ref()));
            }
        }
    }
}

/// The other build looks of `execution` (at most [`SIBLINGS_LOOKED_AT`]), each with its
/// wait; none when the jobs in flight cannot be read now (the look is then made alone, as
/// it would be without them).
async fn sibling_looks(services: &Services, dispatch: &Dispatch, execution: &Execution) -> Vec<(Dispatch, Waiting)> {
    let siblings = match jobs_in_flight(services, execution).await {
        Ok(siblings) => siblings,
        Err(error) => {
            tracing::warn!(%error, "the other builds of the execution are left to their own looks");
            return Vec::new();
        }
    };
    let siblings = siblings.into_iter().filter(|sibling| sibling.job_id != dispatch.job_id && is_build_look(sibling));
    siblings
        .filter_map(|sibling| {
            let waiting = serde_json::from_str::<Waiting>(sibling.continuation_token.as_deref()?).ok()?;
            Some((sibling, waiting))
        })
        .take(SIBLINGS_LOOKED_AT)
        .collect()
}

/// Those of `siblings` whose builds have ended, read without acting on them
/// ([`Deployer::has_ended`]: nothing copied for a look that may wait and leave them to
/// another).
async fn ended(services: &Services, siblings: Vec<(Dispatch, Waiting)>) -> Vec<(Dispatch, Waiting)> {
    let mut ended = Vec::new();
    for (sibling, waiting) in siblings {
        let Ok(job) = deploy_job(services, &sibling).await else { continue };
        if services.deployer.has_ended(&job, &waiting).await == Some(true) {
            ended.push((sibling, waiting));
        }
    }
    ended
}

/// The result of an ended sibling build, as its own look would report it (a Commands
/// build's outputs copied first); none when it cannot be had now, which leaves it to its
/// own look.
async fn result_of(services: &Services, sibling: &Dispatch, waiting: &Waiting) -> Option<Event> {
    let job = deploy_job(services, sibling).await.ok()?;
    match services.deployer.poll(&job, waiting, &ToLog).await {
        Progress::Finished(outcome) => outcome.into_event(sibling),
        Progress::Waiting(_) | Progress::Retry(_) => None,
    }
}
