//! Repository webhooks: `POST /webhooks/github`, `/webhooks/bitbucket` and `/webhooks/gitlab`
//! (docs/sources.md, "Verifying deliveries" and "Repository webhooks on AWS"), the same for
//! `pipewright serve` and the api function. A delivery is verified with the secret the caller
//! holds, read into typed events, planned against every pipeline of the store
//! (`pipewright_core::webhooks::plan`), and each match starts through the API's own start path
//! with trigger `WebhookV2`, once per delivery (`webhooks::payload::read` says what it is known by): a redelivery, even one racing the first,
//! answers the execution with `"new": false`.

use serde_json::{Value, json};

use pipewright_core::ports::StateStore;
use pipewright_core::webhooks::payload::{self, Delivery, RepositoryEvent};
use pipewright_core::webhooks::plan::{self, Verdict};
use pipewright_core::webhooks::{GitHost, signature};

use crate::ControlPlane;
use crate::executions::start_execution;
use crate::webhook_delivery::{self, Refused};

/// Repository hosts send up to 25 MB.
pub const MAX_DELIVERY_BYTES: usize = 25 * 1024 * 1024;

const PREFIX: &str = "/webhooks/";

/// What a request to `path` is: a repository delivery for the host it names, a refusal for
/// another path under `/webhooks/` (PutWebhook's URLs excepted), or `None` for any other path.
pub fn route(path: &str) -> Option<Result<GitHost, Refused>> {
    if path.starts_with(webhook_delivery::PATH_PREFIX) {
        return None;
    }
    let segment = path.strip_prefix(PREFIX)?;
    Some(GitHost::from_segment(segment.trim_end_matches('/')).ok_or_else(|| Refused {
        status: 404,
        message: "repository webhooks are at /webhooks/github, /webhooks/bitbucket and /webhooks/gitlab".into(),
    }))
}

pub use pipewright_core::service::Started;

/// What one pipeline did with one event of the delivery.
struct Outcome<'a> {
    verdict: &'a Verdict,
    started: Option<Started>,
    /// Why a planned start failed (the store, the engine's refusal).
    error: Option<String>,
}

fn message(status: u16, text: &str) -> (u16, Value) {
    (status, json!({ "message": text }))
}

/// Serves one delivery of `host`, proven with `secret` (or the reason the caller has none).
/// The answer: its status and JSON body. 202 lists, per event and pipeline, what started or
/// why nothing did; a start that failed for a transient reason makes it 503, so that the host
/// shows the failure and a redelivery completes what is missing.
pub async fn deliver<C: ControlPlane>(
    plane: &C,
    host: GitHost,
    secret: Result<&[u8], Refused>,
    headers: &[(String, String)],
    body: &[u8],
) -> (u16, Value) {
    if body.len() > MAX_DELIVERY_BYTES {
        return message(413, &format!("a delivery is at most {MAX_DELIVERY_BYTES} bytes"));
    }
    let secret = match secret {
        Ok(secret) => secret,
        Err(refused) => return message(refused.status, &refused.message),
    };
    if let Err(error) = signature::verify(host, secret, headers, body) {
        return message(401, &error.to_string());
    }
    let delivery = match payload::read(host, headers, body) {
        Ok(delivery) => delivery,
        Err(error) => return message(400, &error.to_string()),
    };
    let pipelines = match plane.store().list_pipelines().await {
        Ok(pipelines) => pipelines,
        Err(error) => return message(503, &error.to_string()),
    };
    let planned: Vec<(&RepositoryEvent, Vec<Verdict>)> = delivery
        .events
        .iter()
        .map(|event| (event, pipelines.iter().map(|p| plan::plan(&p.declaration, event, &delivery.id)).collect()))
        .collect();
    let mut transient = false;
    let mut events = Vec::new();
    for (event, verdicts) in &planned {
        let mut outcomes = Vec::new();
        for verdict in verdicts {
            let mut outcome = Outcome { verdict, started: None, error: None };
            if let Some(start) = &verdict.start {
                let trigger = start.trigger.clone();
                let revisions = start.source_revisions.clone();
                let id = Some(start.execution_id.clone());
                match start_execution(plane, &verdict.pipeline, trigger, Vec::new(), revisions, id).await {
                    Ok(started) => {
                        outcome.started = Some(Started {
                            pipeline: verdict.pipeline.clone(),
                            execution_id: started.execution_id,
                            new: started.new,
                        })
                    }
                    Err(error) => {
                        let error = error.into_api();
                        transient |= error.status >= 500;
                        outcome.error = Some(error.message);
                    }
                }
            }
            outcomes.push(outcome);
        }
        events.push((*event, outcomes));
    }
    (if transient { 503 } else { 202 }, report(&delivery, &events))
}

/// What a delivery did, for the host's delivery log and for people.
fn report(delivery: &Delivery, events: &[(&RepositoryEvent, Vec<Outcome<'_>>)]) -> Value {
    let started: Vec<&Started> = events.iter().flat_map(|(_, o)| o.iter().filter_map(|o| o.started.as_ref())).collect();
    json!({
        "delivery": delivery.id,
        "ignored": delivery.ignored,
        "events": events.iter().map(|(event, outcomes)| json!({
            "event": event.describe(),
            "pipelines": outcomes.iter().map(|outcome| {
                let mut entry = json!({"pipeline": outcome.verdict.pipeline, "verdict": outcome.verdict.describe()});
                if let Some(started) = &outcome.started {
                    entry["executionId"] = json!(started.execution_id);
                    entry["new"] = json!(started.new);
                }
                if let Some(error) = &outcome.error {
                    entry["error"] = json!(error);
                }
                entry
            }).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
        "started": started,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_the_three_hosts_and_leaves_putwebhook_urls_alone() {
        assert_eq!(route("/webhooks/github"), Some(Ok(GitHost::GitHub)));
        assert_eq!(route("/webhooks/bitbucket"), Some(Ok(GitHost::Bitbucket)));
        assert_eq!(route("/webhooks/gitlab/"), Some(Ok(GitHost::GitLab)));
        assert_eq!(route("/webhooks/codepipeline/hook"), None);
        assert_eq!(route("/"), None);
        assert_eq!(route("/pipelines/x"), None);
        assert!(matches!(route("/webhooks/gitea"), Some(Err(Refused { status: 404, .. }))));
    }
}
