//! approval-callback: the page behind the links of an approval e-mail (DESIGN §8).
//!
//! * GET shows what is being approved and a form; it never changes state, because mail
//!   scanners and link previewers follow links.
//! * POST approves or rejects, with a summary.
//!
//! The link token is HMAC-signed, expiring, and bound to one execution, stage, action and
//! attempt; it is single-use because the engine takes one answer per attempt.

use pipewright_api::console::escape;
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

fn page(status: u16, title: &str, content: &str) -> Response {
    let body = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" \
         content=\"width=device-width, initial-scale=1\"><title>{title}</title><style>{STYLE}</style></head>\
         <body><main><h1>{title}</h1>{content}</main></body></html>",
        title = escape(title)
    );
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
                "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'".to_string(),
            ),
        ],
        body,
    }
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:2rem;color:#16191f}main{max-width:40rem}\
dt{font-weight:600;margin-top:.6rem}dd{margin:0}textarea{width:100%;min-height:5rem}\
button{font-size:1rem;padding:.5rem 1.2rem;margin:.8rem .6rem 0 0}.approve{background:#1d8102;color:#fff}\
.reject{background:#d13212;color:#fff}.chosen{outline:3px solid #0073bb}";

fn refused(status: u16, message: &str) -> Response {
    page(status, "This approval link cannot be used", &format!("<p>{}</p>", escape(message)))
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
    let chosen = request.query.get("decision").map(String::as_str);
    let Pending { claims, execution, attempt } = &pending;
    let mut facts = vec![
        ("Pipeline", claims.pipeline.clone()),
        ("Execution", execution.id.clone()),
        ("Stage", claims.stage.clone()),
        ("Action", claims.action.clone()),
    ];
    for revision in &execution.artifact_revisions {
        let summary = revision.revision_summary.as_deref().map(|s| format!(" — {s}")).unwrap_or_default();
        facts.push((
            "Revision",
            format!("{} ({}): {}{summary}", revision.name, revision.action_name, revision.revision_id),
        ));
    }
    if let Some(data) = attempt.resolved_configuration.get("CustomData") {
        facts.push(("Comments", data.clone()));
    }
    if let Some(link) = attempt.resolved_configuration.get("ExternalEntityLink") {
        facts.push(("URL for review", link.clone()));
    }
    facts.push(("Expires", claims.expires.to_rfc3339_seconds()));
    let list: String = facts.iter().map(|(name, value)| format!("<dt>{name}</dt><dd>{}</dd>", escape(value))).collect();
    let class = |decision: &str| if chosen == Some(decision) { " chosen" } else { "" };
    let form = format!(
        "<form method=\"post\"><input type=\"hidden\" name=\"token\" value=\"{token}\">\
         <p><label for=\"summary\">Comments (optional)</label><textarea id=\"summary\" name=\"summary\" maxlength=\"{MAX_SUMMARY}\"></textarea></p>\
         <button class=\"approve{approve}\" name=\"decision\" value=\"Approved\">Approve</button>\
         <button class=\"reject{reject}\" name=\"decision\" value=\"Rejected\">Reject</button></form>",
        token = escape(token.map_or("", String::as_str)),
        approve = class("Approved"),
        reject = class("Rejected"),
    );
    page(200, "Review approval", &format!("<dl>{list}</dl>{form}"))
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
            word,
            &format!(
                "<p>{} of {} in pipeline {} is {}.</p>",
                escape(&claims.action),
                escape(&claims.stage),
                escape(&claims.pipeline),
                word.to_ascii_lowercase()
            ),
        ),
        Ok(Handled::Stale(stale)) => refused(409, &format!("This approval is no longer waiting ({stale}).")),
        Err(HandlerError::Rejected(message)) => refused(409, &message),
        Err(HandlerError::Retryable(message)) => {
            tracing::error!(message, "cannot record the approval");
            refused(503, "The answer could not be recorded; try again in a moment.")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_is_escaped() {
        assert_eq!(
            escape("<script>\"x\" & 'y'</script>"),
            "&lt;script&gt;&quot;x&quot; &amp; &#39;y&#39;&lt;/script&gt;"
        );
    }
}
