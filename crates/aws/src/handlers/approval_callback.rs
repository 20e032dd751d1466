//! approval-callback: the page behind the links of an approval e-mail (docs/design.md §8).
//!
//! * GET shows what is being approved and a form; it never changes state, because mail
//!   scanners and link previewers follow links.
//! * POST approves or rejects, with a summary.
//!
//! The link token is HMAC-signed, expiring, and bound to one execution, stage, action and
//! attempt; it is single-use because the engine takes one answer per attempt.

use pipewright_api::console::views::{self, ApprovalForm, ApprovalReview, Frame};
use pipewright_api::protocol::form_pairs;
use std::collections::BTreeMap;

use pipewright_core::engine::{ActionAttempt, ActionStatus, ApprovalResult, ApprovalStatus, Event, Execution};
use pipewright_core::links::{self, LinkClaims, LinkError};
use pipewright_core::ports::StateStore;
use pipewright_core::service::Handled;

use super::{HandlerError, apply, now};
use crate::settings::Services;

/// Summaries are at most 512 characters, as in PutApprovalResult.
const MAX_SUMMARY: usize = 512;

/// An HTTP request, as the function URL passes it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Request {
    pub method: String,
    /// Query parameters, decoded.
    pub query: BTreeMap<String, String>,
    /// The body (`application/x-www-form-urlencoded` for the form).
    pub body: String,
    /// Who answered, as far as the request tells (the caller's address).
    pub caller: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: String,
}

/// A page of the console's views, with the headers a page holding a token in its URL needs.
fn page(status: u16, body: String) -> Response {
    Response {
        status,
        headers: vec![
            ("content-type", "text/html; charset=utf-8".to_string()),
            // The token is in the URL: keep it out of caches and referrers, and the page out of frames.
            ("cache-control", "no-store".to_string()),
            ("referrer-policy", "no-referrer".to_string()),
            ("x-frame-options", "DENY".to_string()),
            ("x-content-type-options", "nosniff".to_string()),
            (
                "content-security-policy",
                "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'".to_string(),
            ),
        ],
        body,
    }
}

fn refused(status: u16, message: &str) -> Response {
    page(status, views::notice("This approval link cannot be used", message))
}

/// The approval a valid token points at, still waiting for its answer.
struct Pending {
    claims: LinkClaims,
    execution: Execution,
    attempt: ActionAttempt,
}

/// Checks the token and that its attempt is still the one waiting; a refusal otherwise.
async fn pending(services: &Services, token: Option<&String>) -> Result<Pending, Response> {
    let Some(key) = services.link_key.as_deref() else {
        return Err(refused(503, "Approval links are not configured on this stack (no key)."));
    };
    let Some(token) = token.filter(|t| !t.is_empty()) else {
        return Err(refused(400, "The link has no token."));
    };
    let claims = links::verify(key, token, now()).map_err(|error| match error {
        LinkError::Malformed => refused(400, "The link is malformed."),
        LinkError::BadSignature => refused(403, "The link's signature is not valid."),
        LinkError::Expired(at) => refused(410, &format!("The link expired at {}.", at.to_rfc3339_seconds())),
    })?;
    let execution = match services.store.get_execution(&claims.execution_id).await {
        Ok(Some(found)) if found.value.pipeline_name == claims.pipeline => found.value,
        Ok(_) => return Err(refused(404, "The pipeline execution of this link no longer exists.")),
        Err(error) if error.is_permanent() => {
            tracing::error!(%error, "the execution cannot be read");
            return Err(refused(500, "The approval's execution cannot be read: its stored state is damaged."));
        }
        Err(error) => {
            tracing::error!(%error, "cannot read the execution");
            return Err(refused(503, "The approval cannot be read right now; try again in a moment."));
        }
    };
    let attempt = execution
        .stages
        .iter()
        .find(|stage| stage.name == claims.stage)
        .and_then(|stage| stage.actions.iter().find(|action| action.name == claims.action))
        .and_then(|action| action.attempts.last())
        .cloned();
    let Some(attempt) = attempt else {
        return Err(refused(404, "The approval of this link does not exist."));
    };
    if attempt.number != claims.attempt {
        return Err(refused(
            410,
            "This link is for an earlier attempt of the approval; use the link of the latest request.",
        ));
    }
    if attempt.status != ActionStatus::InProgress {
        return Err(refused(409, &format!("This approval is no longer waiting: it is {}.", attempt.status.as_str())));
    }
    Ok(Pending { claims, execution, attempt })
}

pub async fn handle(services: &Services, request: &Request) -> Response {
    match request.method.to_ascii_uppercase().as_str() {
        "GET" | "HEAD" => review(services, request).await,
        "POST" => decide(services, request).await,
        _ => {
            let mut response = refused(405, "Use GET to review and POST to answer.");
            response.headers.push(("allow", "GET, POST".to_string()));
            response
        }
    }
}

/// The confirmation page. Reads only.
async fn review(services: &Services, request: &Request) -> Response {
    let token = request.query.get("token");
    let pending = match pending(services, token).await {
        Ok(pending) => pending,
        Err(response) => return response,
    };
    let Pending { claims, execution, attempt } = pending;
    let mut facts: Vec<(&'static str, String)> = execution
        .artifact_revisions
        .iter()
        .map(|r| {
            let text = views::revision_text(&r.name, &r.action_name, &r.revision_id, r.revision_summary.as_deref());
            ("Revision", text)
        })
        .collect();
    if let Some(data) = attempt.resolved_configuration.get("CustomData") {
        facts.push(("Comments", data.clone()));
    }
    facts.push(("Expires", claims.expires.to_rfc3339_seconds()));
    let review = ApprovalReview {
        pipeline: claims.pipeline,
        stage: claims.stage,
        action: claims.action,
        execution_id: execution.id,
        facts,
        link: attempt.resolved_configuration.get("ExternalEntityLink").cloned(),
    };
    let form = ApprovalForm {
        action: None,
        hidden: vec![("token", token.cloned().unwrap_or_default())],
        decision_field: "decision",
        chosen: request.query.get("decision").cloned(),
    };
    page(200, views::approval(Frame::Standalone, &review, Some(&form)))
}

/// Approves or rejects.
async fn decide(services: &Services, request: &Request) -> Response {
    let form: BTreeMap<String, String> = form_pairs(request.body.as_bytes()).into_iter().collect();
    let token = form.get("token").or_else(|| request.query.get("token"));
    let pending = match pending(services, token).await {
        Ok(pending) => pending,
        Err(response) => return response,
    };
    let status = match form.get("decision").map(String::as_str) {
        Some("Approved") => ApprovalStatus::Approved,
        Some("Rejected") => ApprovalStatus::Rejected,
        _ => return refused(400, "The decision must be Approved or Rejected."),
    };
    let summary: String = form.get("summary").map(|s| s.trim().chars().take(MAX_SUMMARY).collect()).unwrap_or_default();
    let Pending { claims, attempt, .. } = pending;
    let event = Event::ApprovalResult(ApprovalResult {
        execution_id: claims.execution_id.clone(),
        stage: claims.stage.clone(),
        action: claims.action.clone(),
        token: attempt.token.clone().unwrap_or_default(),
        status,
        summary: (!summary.is_empty()).then_some(summary),
        by: Some(match &request.caller {
            Some(caller) => format!("approval link ({caller})"),
            None => "approval link".to_string(),
        }),
    });
    let word = if status == ApprovalStatus::Approved { "Approved" } else { "Rejected" };
    match apply(services, &claims.pipeline, &event).await {
        Ok(Handled::Applied { .. }) => page(
            200,
            views::notice(
                word,
                &format!(
                    "{} of {} in pipeline {} is {}.",
                    claims.action,
                    claims.stage,
                    claims.pipeline,
                    word.to_ascii_lowercase()
                ),
            ),
        ),
        Ok(Handled::Stale(stale)) => refused(409, &format!("This approval is no longer waiting ({stale}).")),
        Err(HandlerError::Rejected(message)) => refused(409, &message),
        Err(HandlerError::Retryable(message)) => {
            tracing::error!(message, "cannot record the approval");
            refused(503, "The answer could not be recorded; try again in a moment.")
        }
        Err(HandlerError::Permanent(message)) => {
            tracing::error!(message, "the approval cannot be recorded");
            refused(500, "The answer cannot be recorded: the execution's stored state is damaged.")
        }
    }
}
