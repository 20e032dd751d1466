//! A look at a build that has ended records, in the same commit, the other builds of its
//! execution that have ended too (`core::deploy::ended_together`): parallel builds that end
//! together take one commit instead of one each, and their looks do not race each other for
//! the execution item. The other builds are looked at as their own looks would (each a
//! `BatchGetBuilds`, which runs the same twice over: `codebuild::is_build_look`); one that is
//! still running, or cannot be looked at now, is left to its own look.

use pipewright_core::deploy::codebuild::is_build_look;
use pipewright_core::deploy::ended_together::{Together, WAIT_FOR_EARLIER, together};
use pipewright_core::engine::{Dispatch, Event, Execution, job_is_live};
use pipewright_core::ports::StateStore;
use pipewright_providers::deploy::{Deployer, Progress, Waiting};

use super::HandlerError;
use super::build_events::jobs_in_flight;
use super::invoke_action::{ToLog, deploy_job};
use crate::bus::DispatchMessage;
use crate::settings::Services;

/// The other builds a look asks about: a stage seldom runs more in parallel, and each is one
/// request before the commit.
const SIBLINGS_LOOKED_AT: usize = 10;

/// Records `own`, the result of the build `message` looked at, with those of the builds of
/// `execution` (as read before the look) that have ended too.
pub(super) async fn record(
    services: &Services,
    message: &DispatchMessage,
    own: Event,
    execution: &Execution,
) -> Result<(), HandlerError> {
    let dispatch = &message.dispatch;
    let mut ended = ended_siblings(services, dispatch, execution).await;
    let mut retry = 0;
    loop {
        let ids: Vec<String> = ended.iter().map(|(sibling, _)| sibling.job_id.clone()).collect();
        match together(&dispatch.job_id, &ids, retry < WAIT_FOR_EARLIER.retries) {
            Together::Record(with) => {
                let mut events = vec![own];
                for id in with {
                    if let Some(index) = ended.iter().position(|(sibling, _)| sibling.job_id == id) {
                        events.push(ended.swap_remove(index).1);
                    }
                }
                return super::apply_together(services, &message.pipeline, &events).await;
            }
            Together::WaitFor(earlier) => {
                tokio::time::sleep(WAIT_FOR_EARLIER.ceiling(retry)).await;
                retry += 1;
                let Some(now) = services.store.get_execution(&dispatch.execution_id).await? else {
                    return Ok(());
                };
                if !job_is_live(&now.value, &dispatch.job_ref()) {
                    // Recorded with the earlier build's (or the execution moved on): the look
                    // that committed it relays what the commit leads to.
                    tracing::info!(earlier, "the build's result is recorded with an earlier build's");
                    return Ok(());
                }
                // An earlier look that recorded its own build alone leaves this one to record.
                ended.retain(|(sibling, _)| job_is_live(&now.value, &sibling.job_ref()));
            }
        }
    }
}

/// The build looks of `execution` other than `dispatch` whose builds have ended, each with
/// the result its own look would report; none when the jobs in flight cannot be read now
/// (the look then records its own result alone, as it would without them).
async fn ended_siblings(services: &Services, dispatch: &Dispatch, execution: &Execution) -> Vec<(Dispatch, Event)> {
    let siblings = match jobs_in_flight(services, execution).await {
        Ok(siblings) => siblings.into_iter(),
        Err(error) => {
            tracing::warn!(%error, "the other builds of the execution are left to their own looks");
            return Vec::new();
        }
    };
    let siblings = siblings.filter(|sibling| sibling.job_id != dispatch.job_id && is_build_look(sibling));
    let mut ended = Vec::new();
    for sibling in siblings.take(SIBLINGS_LOOKED_AT) {
        let Some(Ok(waiting)) = sibling.continuation_token.as_deref().map(serde_json::from_str::<Waiting>) else {
            continue;
        };
        let Ok(job) = deploy_job(services, &sibling).await else { continue };
        if let Progress::Finished(outcome) = services.deployer.poll(&job, &waiting, &ToLog).await
            && let Some(event) = outcome.into_event(&sibling)
        {
            ended.push((sibling, event));
        }
    }
    ended
}
