//! The console's pages, rendered from the API's own answers (GetPipelineState,
//! ListActionExecutions, …): what a page shows is what the aws CLI would print.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use serde_json::{Value, json};

use crate::protocol::ApiError;
use crate::{Caller, ControlPlane, call};

/// HTML-escapes text for element content and attribute values.
pub fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Percent-encodes a path segment or query value.
pub fn url(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn s<'a>(value: &'a Value, key: &str) -> &'a str {
    value[key].as_str().unwrap_or_default()
}

fn short(id: &str) -> &str {
    id.get(..8).unwrap_or(id)
}

fn when(seconds: f64) -> String {
    chrono::DateTime::from_timestamp_millis((seconds * 1000.0) as i64)
        .map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
        .unwrap_or_default()
}

fn duration(seconds: f64) -> String {
    if seconds < 0.0 {
        String::new()
    } else if seconds < 60.0 {
        format!("{seconds:.1}s")
    } else if seconds < 3600.0 {
        format!("{}m {:02}s", (seconds / 60.0) as u64, (seconds % 60.0) as u64)
    } else {
        format!("{}h {:02}m", (seconds / 3600.0) as u64, ((seconds % 3600.0) / 60.0) as u64)
    }
}

fn layout(title: &str, body: &str) -> String {
    format!(
        r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} · Pipewright</title>
<link rel="stylesheet" href="/static/console.css">
<script src="/static/console.js" defer></script>
</head>
<body>
<header class="top"><a class="brand" href="/">Pipewright</a><nav aria-label="Main"><a href="/">Pipelines</a></nav></header>
<div class="page">
{body}
</div>
</body>
</html>
"#,
        title = esc(title)
    )
}

fn status_badge(status: &str) -> String {
    let shown = if status.is_empty() { "Idle" } else { status };
    format!(r#"<span class="status" data-status="{0}">{0}</span>"#, esc(shown))
}

fn hidden(name: &str, value: &str) -> String {
    format!(r#"<input type="hidden" name="{}" value="{}">"#, esc(name), esc(value))
}

pub fn error(error: &ApiError) -> String {
    layout(
        "Error",
        &format!(
            r#"<h1>Something is not right</h1><p class="flash" role="alert">{}: {}</p><p><a href="/">All pipelines</a></p>"#,
            esc(error.exception),
            esc(&error.message)
        ),
    )
}

pub fn login(problem: Option<&str>) -> String {
    let problem = problem.map(|p| format!(r#"<p class="flash" role="alert">{}</p>"#, esc(p))).unwrap_or_default();
    layout(
        "Sign in",
        &format!(
            r#"<h1>Sign in</h1>{problem}
<p class="muted">Use the control API's access key (the stack's ApiKeysSecret).</p>
<form method="post" action="/login">
<label for="key">Access key id</label> <input type="text" id="key" name="accessKeyId" autocomplete="username" required>
<label for="secret">Secret access key</label> <input type="password" id="secret" name="secretAccessKey" autocomplete="current-password" required>
<button class="primary">Sign in</button>
</form>"#
        ),
    )
}

pub async fn pipelines<C: ControlPlane>(plane: &C, caller: &Caller) -> Result<String, ApiError> {
    let listed = call(plane, caller, "ListPipelines", json!({})).await?;
    let mut rows = String::new();
    for pipeline in listed["pipelines"].as_array().into_iter().flatten() {
        let name = s(pipeline, "name");
        let latest =
            call(plane, caller, "ListPipelineExecutions", json!({ "pipelineName": name, "maxResults": 1 })).await?;
        let latest = &latest["pipelineExecutionSummaries"][0];
        let (status, changed) = if latest.is_null() {
            (String::new(), pipeline["updated"].as_f64().unwrap_or_default())
        } else {
            (s(latest, "status").to_string(), latest["lastUpdateTime"].as_f64().unwrap_or_default())
        };
        let _ = write!(
            rows,
            r#"<tr><td><a class="pipeline-link" href="/pipelines/{}">{}</a></td><td>{}</td><td>{}</td><td>{}</td><td>{} {}</td></tr>"#,
            url(name),
            esc(name),
            status_badge(&status),
            latest["pipelineExecutionId"].as_str().map(short).unwrap_or("—"),
            esc(&when(changed)),
            esc(s(pipeline, "pipelineType")),
            esc(s(pipeline, "executionMode")),
        );
    }
    if rows.is_empty() {
        rows = r#"<tr><td colspan="5" class="muted">No pipelines yet: create one with <code>aws codepipeline create-pipeline</code> or <code>pipewright run FILE</code>.</td></tr>"#.into();
    }
    Ok(layout(
        "Pipelines",
        &format!(
            r#"<h1>Pipelines</h1>
<table class="pipelines"><caption class="sr-only">Pipelines and their latest execution</caption>
<thead><tr><th scope="col">Pipeline</th><th scope="col">Latest execution</th><th scope="col">Execution</th><th scope="col">Last change</th><th scope="col">Type</th></tr></thead>
<tbody>{rows}</tbody></table>"#
        ),
    ))
}

/// Every action execution of one pipeline execution, newest first.
async fn action_executions<C: ControlPlane>(
    plane: &C,
    caller: &Caller,
    pipeline: &str,
    id: &str,
) -> Result<Vec<Value>, ApiError> {
    let input = json!({ "pipelineName": pipeline, "filter": { "pipelineExecutionId": id } });
    let listed = call(plane, caller, "ListActionExecutions", input).await?;
    Ok(listed["actionExecutionDetails"].as_array().cloned().unwrap_or_default())
}

/// The element of the array `list` whose `key` is `name`.
fn named<'a>(list: &'a Value, key: &str, name: &str) -> Option<&'a Value> {
    list.as_array()?.iter().find(|item| item[key] == name)
}

/// The latest action execution of each (execution, stage, action) among `executions`.
async fn action_details<C: ControlPlane>(
    plane: &C,
    caller: &Caller,
    pipeline: &str,
    executions: &BTreeSet<String>,
) -> Result<BTreeMap<(String, String, String), Value>, ApiError> {
    let mut details = BTreeMap::new();
    for id in executions {
        // Newest first: the first seen of each action is its latest attempt.
        for detail in action_executions(plane, caller, pipeline, id).await? {
            let key = (id.clone(), s(&detail, "stageName").to_string(), s(&detail, "actionName").to_string());
            details.entry(key).or_insert(detail);
        }
    }
    Ok(details)
}

/// The pipeline view's page.
pub async fn pipeline<C: ControlPlane>(
    plane: &C,
    caller: &Caller,
    name: &str,
    csrf: &str,
    flash: Option<&str>,
) -> Result<String, ApiError> {
    let main = pipeline_main(plane, caller, name, csrf, flash).await?;
    Ok(layout(
        name,
        &format!(
            r#"<nav aria-label="Pipeline"><a href="/pipelines/{0}/executions">Execution history</a></nav>
<main id="pipeline" data-pipeline="{1}" aria-live="polite">{main}</main>"#,
            url(name),
            esc(name)
        ),
    ))
}

/// The live part of the pipeline view (what the page's JS fetches again and again).
pub async fn pipeline_main<C: ControlPlane>(
    plane: &C,
    caller: &Caller,
    name: &str,
    csrf: &str,
    flash: Option<&str>,
) -> Result<String, ApiError> {
    let declaration = call(plane, caller, "GetPipeline", json!({ "name": name })).await?;
    let state = call(plane, caller, "GetPipelineState", json!({ "name": name })).await?;
    let latest =
        call(plane, caller, "ListPipelineExecutions", json!({ "pipelineName": name, "maxResults": 1 })).await?;
    let latest = latest["pipelineExecutionSummaries"][0].clone();
    let now = plane.now().epoch_seconds();
    let stage_states: Vec<Value> = state["stageStates"].as_array().cloned().unwrap_or_default();
    let executions: BTreeSet<String> = stage_states
        .iter()
        .filter_map(|s| s["latestExecution"]["pipelineExecutionId"].as_str().map(str::to_string))
        .collect();
    let details = action_details(plane, caller, name, &executions).await?;
    let base = format!("/pipelines/{}", url(name));

    let mut html = String::new();
    let _ = write!(html, r#"<h1>{}</h1>"#, esc(name));
    if let Some(flash) = flash {
        let _ = write!(html, r#"<p class="flash" role="alert">{}</p>"#, esc(flash));
    }
    html.push_str(r#"<div class="bar">"#);
    if !latest.is_null() {
        let id = s(&latest, "pipelineExecutionId");
        let status = s(&latest, "status");
        let _ = write!(
            html,
            r#"<p class="execution-status" data-status="{}" data-execution="{}">Latest execution <a href="{base}/executions/{}">{}</a> {}</p>"#,
            esc(status),
            esc(id),
            url(id),
            esc(short(id)),
            status_badge(status)
        );
        if status == "InProgress" {
            let _ = write!(
                html,
                r#"<form class="stop" method="post" action="{base}/stop">{}{}<button name="abandon" value="false">Stop</button><button class="danger" name="abandon" value="true">Stop and abandon</button></form>"#,
                hidden("csrf", csrf),
                hidden("execution", id)
            );
        }
    }
    let _ = write!(
        html,
        r#"<form class="release" method="post" action="{base}/start">{}<button class="primary">Release change</button></form></div>"#,
        hidden("csrf", csrf)
    );

    html.push_str(r#"<div class="stages">"#);
    let stages = declaration["pipeline"]["stages"].as_array().cloned().unwrap_or_default();
    for (index, stage) in stages.iter().enumerate() {
        let stage_name = s(stage, "name");
        let stage_state = named(&state["stageStates"], "stageName", stage_name).cloned().unwrap_or(Value::Null);
        if index > 0 {
            html.push_str(&transition(&base, csrf, stage_name, &stage_state["inboundTransitionState"]));
        }
        let execution = stage_state["latestExecution"].clone();
        let execution_id = s(&execution, "pipelineExecutionId");
        let stage_status = s(&execution, "status");
        let _ = write!(
            html,
            r#"<section class="stage" data-stage="{0}" aria-labelledby="stage-{index}"><header><h2 id="stage-{index}">{0}</h2>{1}</header>"#,
            esc(stage_name),
            status_badge(stage_status)
        );
        if !execution_id.is_empty() {
            let _ = write!(
                html,
                r#"<p class="inbound">execution <a href="{base}/executions/{}">{}</a></p>"#,
                url(execution_id),
                esc(short(execution_id))
            );
        }
        let mut waiting: Vec<&Value> =
            stage_state["inboundExecutions"].as_array().map(|v| v.iter().collect()).unwrap_or_default();
        if waiting.is_empty() && stage_state["inboundExecution"].is_object() {
            waiting.push(&stage_state["inboundExecution"]);
        }
        for inbound in waiting {
            let _ = write!(
                html,
                r#"<p class="inbound">waiting to enter: {}</p>"#,
                esc(short(s(inbound, "pipelineExecutionId")))
            );
        }
        // runOrder rows.
        let mut rows: BTreeMap<i64, Vec<&Value>> = BTreeMap::new();
        for action in stage["actions"].as_array().into_iter().flatten() {
            rows.entry(action["runOrder"].as_i64().unwrap_or(1)).or_default().push(action);
        }
        for (order, actions) in rows {
            let _ = write!(html, r#"<div class="row"><span class="order">runOrder {order}</span>"#);
            for action in actions {
                let action_name = s(action, "name");
                let action_state =
                    named(&stage_state["actionStates"], "actionName", action_name).cloned().unwrap_or(Value::Null);
                let detail = details.get(&(execution_id.to_string(), stage_name.to_string(), action_name.to_string()));
                html.push_str(&action_card(&base, csrf, stage_name, action, &action_state, detail, execution_id, now));
            }
            html.push_str("</div>");
        }
        if matches!(stage_status, "Failed" | "Stopped") && !execution_id.is_empty() {
            let _ = write!(
                html,
                r#"<form class="retry" method="post" action="{base}/retry" data-stage="{0}">{1}{2}{3}<label class="sr-only" for="mode-{index}">Retry mode</label><select id="mode-{index}" name="retryMode"><option value="FAILED_ACTIONS">Failed actions</option><option value="ALL_ACTIONS">All actions</option></select><button>Retry stage</button></form>"#,
                esc(stage_name),
                hidden("csrf", csrf),
                hidden("stage", stage_name),
                hidden("execution", execution_id)
            );
        }
        html.push_str("</section>");
    }
    html.push_str("</div>");
    Ok(html)
}

fn transition(base: &str, csrf: &str, stage: &str, transition: &Value) -> String {
    let enabled = transition["enabled"].as_bool().unwrap_or(true);
    let form = if enabled {
        format!(
            r#"<form method="post" action="{base}/transition">{}{}<label class="sr-only" for="reason-{id}">Reason</label><input type="text" id="reason-{id}" name="reason" placeholder="reason" size="8"><button>Disable transition</button></form>"#,
            hidden("csrf", csrf),
            hidden("stage", stage),
            id = url(stage)
        )
    } else {
        format!(
            r#"<span class="reason">{}</span><form method="post" action="{base}/transition">{}{}{}<button>Enable transition</button></form>"#,
            esc(s(transition, "disabledReason")),
            hidden("csrf", csrf),
            hidden("stage", stage),
            hidden("enabled", "true")
        )
    };
    format!(
        r#"<div class="transition" data-stage="{}" data-enabled="{enabled}"><span class="arrow" aria-hidden="true">→</span><span>{}</span>{form}</div>"#,
        esc(stage),
        if enabled { "transition enabled" } else { "transition disabled" }
    )
}

#[allow(clippy::too_many_arguments)]
fn action_card(
    base: &str,
    csrf: &str,
    stage: &str,
    action: &Value,
    state: &Value,
    detail: Option<&Value>,
    execution_id: &str,
    now: f64,
) -> String {
    let name = s(action, "name");
    let type_id = &action["actionTypeId"];
    let latest = &state["latestExecution"];
    let status = if latest.is_object() { s(latest, "status") } else { "Idle" };
    let mut html = format!(
        r#"<article class="action" data-action="{0}/{1}" data-status="{2}"><h3>{1}</h3><div class="meta"><span class="provider">{3}</span>{4}"#,
        esc(stage),
        esc(name),
        esc(status),
        esc(&format!("{} · {}", s(type_id, "provider"), s(type_id, "category"))),
        status_badge(if status == "Idle" { "" } else { status })
    );
    if let Some(detail) = detail {
        let start = detail["startTime"].as_f64().unwrap_or(now);
        let end = if status == "InProgress" { now } else { detail["lastUpdateTime"].as_f64().unwrap_or(now) };
        let _ = write!(html, r#"<span class="duration">{}</span>"#, esc(&duration(end - start)));
    }
    html.push_str("</div>");
    if let Some(revision) = state["currentRevision"]["revisionId"].as_str() {
        let _ = write!(html, r#"<p class="detail">revision {}</p>"#, esc(short(revision)));
    }
    if let Some(summary) = latest["summary"].as_str() {
        let _ = write!(html, r#"<p class="detail">{}</p>"#, esc(summary));
    }
    if status == "Failed" {
        let _ = write!(html, r#"<p class="error">{}</p>"#, esc(s(&latest["errorDetails"], "message")));
    }
    if status == "InProgress"
        && let Some(token) = latest["token"].as_str()
    {
        let configuration = detail
            .map(|d| &d["input"]["resolvedConfiguration"])
            .filter(|c| c.is_object())
            .unwrap_or(&action["configuration"]);
        if let Some(custom) = configuration["CustomData"].as_str() {
            let _ = write!(html, r#"<p class="custom-data">{}</p>"#, esc(custom));
        }
        if let Some(link) = configuration["ExternalEntityLink"].as_str().filter(|l| l.starts_with("http")) {
            let _ = write!(
                html,
                r#"<p><a class="external-link" href="{0}" rel="noopener noreferrer">{0}</a></p>"#,
                esc(link)
            );
        }
        let field_id = format!("summary-{}-{}", url(stage), url(name));
        let _ = write!(
            html,
            r#"<form class="approval" method="post" action="{base}/approve">{}{}{}{}{}<label for="{field_id}">Summary</label><textarea id="{field_id}" name="summary" rows="2" maxlength="512"></textarea><div><button class="primary" name="status" value="Approved">Approve</button> <button class="danger" name="status" value="Rejected">Reject</button></div></form>"#,
            hidden("csrf", csrf),
            hidden("stage", stage),
            hidden("action", name),
            hidden("token", token),
            hidden("execution", execution_id)
        );
    }
    html.push_str("</article>");
    html
}

pub async fn history<C: ControlPlane>(plane: &C, caller: &Caller, name: &str) -> Result<String, ApiError> {
    let listed =
        call(plane, caller, "ListPipelineExecutions", json!({ "pipelineName": name, "maxResults": 50 })).await?;
    let base = format!("/pipelines/{}", url(name));
    let mut rows = String::new();
    for summary in listed["pipelineExecutionSummaries"].as_array().into_iter().flatten() {
        let id = s(summary, "pipelineExecutionId");
        let start = summary["startTime"].as_f64().unwrap_or_default();
        let end = summary["lastUpdateTime"].as_f64().unwrap_or(start);
        let revisions: Vec<String> = summary["sourceRevisions"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|r| {
                format!(
                    "{}: {} {}",
                    esc(s(r, "actionName")),
                    esc(short(s(r, "revisionId"))),
                    esc(r["revisionSummary"].as_str().unwrap_or_default())
                )
            })
            .collect();
        let _ = write!(
            rows,
            r#"<tr class="execution" data-execution="{0}" data-status="{1}"><td><a href="{base}/executions/{2}">{3}</a></td><td>{4}</td><td>{5}</td><td>{6}</td><td>{7}</td><td>{8}</td></tr>"#,
            esc(id),
            esc(s(summary, "status")),
            url(id),
            esc(short(id)),
            status_badge(s(summary, "status")),
            esc(&format!("{} {}", s(&summary["trigger"], "triggerType"), s(&summary["trigger"], "triggerDetail"))),
            revisions.join("<br>"),
            esc(&when(start)),
            esc(&duration(end - start)),
        );
    }
    Ok(layout(
        &format!("{name} history"),
        &format!(
            r#"<nav aria-label="Pipeline"><a href="{base}">{0}</a></nav><h1>Execution history of {0}</h1>
<table class="history"><caption class="sr-only">Executions, newest first</caption>
<thead><tr><th scope="col">Execution</th><th scope="col">Status</th><th scope="col">Trigger</th><th scope="col">Source revisions</th><th scope="col">Started</th><th scope="col">Duration</th></tr></thead>
<tbody>{rows}</tbody></table>"#,
            esc(name)
        ),
    ))
}

pub async fn execution<C: ControlPlane>(plane: &C, caller: &Caller, name: &str, id: &str) -> Result<String, ApiError> {
    let execution =
        call(plane, caller, "GetPipelineExecution", json!({ "pipelineName": name, "pipelineExecutionId": id })).await?;
    let execution = &execution["pipelineExecution"];
    let mut details = action_executions(plane, caller, name, id).await?;
    details.sort_by(|a, b| a["startTime"].as_f64().unwrap_or(0.0).total_cmp(&b["startTime"].as_f64().unwrap_or(0.0)));
    let base = format!("/pipelines/{}", url(name));
    let mut attempts: BTreeMap<(String, String), u32> = BTreeMap::new();
    let mut rows = String::new();
    for detail in &details {
        let stage = s(detail, "stageName");
        let action = s(detail, "actionName");
        let attempt = attempts.entry((stage.to_string(), action.to_string())).or_insert(0);
        *attempt += 1;
        let start = detail["startTime"].as_f64().unwrap_or_default();
        let end = detail["lastUpdateTime"].as_f64().unwrap_or(start);
        let input = &detail["input"];
        let output = &detail["output"];
        let provider = s(&input["actionTypeId"], "provider");
        let log = if provider == "Commands" || provider == "CodeBuild" {
            format!(
                r#"<a class="log-link" href="{base}/executions/{}/logs/{}/{}/{attempt}">log</a>"#,
                url(id),
                url(stage),
                url(action)
            )
        } else {
            String::new()
        };
        let variables: String = output["outputVariables"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(k, v)| format!("{} = {}\n", esc(k), esc(v.as_str().unwrap_or_default())))
            .collect();
        let error = output["executionResult"]["errorDetails"]["message"]
            .as_str()
            .map(|m| format!(r#"<p class="error">{}</p>"#, esc(m)))
            .unwrap_or_default();
        // A build's phases and report counts are in its summary.
        let error = match output["executionResult"]["externalExecutionSummary"].as_str() {
            Some(summary) if summary.contains("Phases ") => format!(r#"{error}<p class="detail">{}</p>"#, esc(summary)),
            _ => error,
        };
        let _ = write!(
            rows,
            r#"<tr class="action-execution" data-action="{0}/{1}" data-status="{2}"><td>{0} / {1} <span class="muted">#{attempt}</span></td><td>{3}</td><td>{4}</td><td>{5}</td><td><details><summary>configuration</summary><pre>{6}</pre></details></td><td><pre>{7}</pre>{8}</td><td>{9}</td></tr>"#,
            esc(stage),
            esc(action),
            esc(s(detail, "status")),
            status_badge(s(detail, "status")),
            esc(&when(start)),
            esc(&duration(end - start)),
            esc(&serde_json::to_string_pretty(&input["resolvedConfiguration"]).unwrap_or_default()),
            variables,
            error,
            log,
        );
    }
    let status = s(execution, "status");
    Ok(layout(
        &format!("{name} {}", short(id)),
        &format!(
            r#"<nav aria-label="Pipeline"><a href="{base}">{0}</a> · <a href="{base}/executions">history</a></nav>
<h1>Execution {1} of {0}</h1>
<p class="execution-status" data-status="{2}" data-execution="{3}">{4} · {5}</p>
<table class="timeline"><caption class="sr-only">Action executions, oldest first</caption>
<thead><tr><th scope="col">Action</th><th scope="col">Status</th><th scope="col">Started</th><th scope="col">Duration</th><th scope="col">Resolved configuration</th><th scope="col">Output variables</th><th scope="col">Log</th></tr></thead>
<tbody>{rows}</tbody></table>"#,
            esc(name),
            esc(short(id)),
            esc(status),
            esc(id),
            status_badge(status),
            esc(&format!("{} {}", s(&execution["trigger"], "triggerType"), s(&execution["trigger"], "triggerDetail"))),
        ),
    ))
}

/// The page an approval link opens: what is being approved, and the decision's form. A GET
/// never decides (mail scanners follow links); only the form's POST does.
pub async fn approval<C: ControlPlane>(
    plane: &C,
    caller: &Caller,
    name: &str,
    stage: &str,
    action: &str,
    token: &str,
    csrf: &str,
) -> Result<String, ApiError> {
    let state = call(plane, caller, "GetPipelineState", json!({ "name": name })).await?;
    let stage_state = named(&state["stageStates"], "stageName", stage)
        .cloned()
        .ok_or_else(|| ApiError::client("StageNotFoundException", format!("stage {stage} does not exist")))?;
    let latest = named(&stage_state["actionStates"], "actionName", action)
        .map(|a| a["latestExecution"].clone())
        .unwrap_or(Value::Null);
    let base = format!("/pipelines/{}", url(name));
    let waiting = s(&latest, "status") == "InProgress" && s(&latest, "token") == token;
    let body = if waiting {
        format!(
            r#"<form class="approval" method="post" action="{base}/approve">{}{}{}{}<label for="summary">Summary</label><textarea id="summary" name="summary" rows="3" maxlength="512"></textarea><div><button class="primary" name="status" value="Approved">Approve</button> <button class="danger" name="status" value="Rejected">Reject</button></div></form>"#,
            hidden("csrf", csrf),
            hidden("stage", stage),
            hidden("action", action),
            hidden("token", token)
        )
    } else {
        r#"<p class="flash" role="alert">This approval is no longer waiting: it was answered, it expired, or the link is for an older attempt.</p>"#.to_string()
    };
    Ok(layout(
        "Approval",
        &format!(
            r#"<nav aria-label="Pipeline"><a href="{base}">{0}</a></nav><h1>Approve {1} / {2} of {0}?</h1>
<p>Execution {3}</p>{body}"#,
            esc(name),
            esc(stage),
            esc(action),
            esc(short(s(&stage_state["latestExecution"], "pipelineExecutionId")))
        ),
    ))
}
