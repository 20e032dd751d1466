//! The console's pages, rendered with maud from the typed read models of
//! `pipewright_core::queries` (what GetPipelineState, ListActionExecutions, … answer): a page
//! shows what the aws CLI would print. Pure functions of their data, so that every page can be
//! rendered with hostile text in tests.
//!
//! maud escapes every `(value)`. Text from outside (summaries, messages, logs, variables) also
//! goes through [`Shown`], which makes control characters visible, and only `http(s)` URLs
//! become links ([`safe_link`]).

use std::collections::BTreeMap;

use maud::{DOCTYPE, Markup, PreEscaped, Render, html};
use serde::Serialize;

use pipewright_core::declaration::{ActionDeclaration, ConditionResult, PipelineDeclaration, StageDeclaration};
use pipewright_core::engine::ConditionKind;
use pipewright_core::queries::{
    ActionExecutionDetailView, ActionStateView, ExecutionSummaryView, ExecutionTriggerView, ExecutionView,
    PipelineStateView, PipelineSummaryView, RollbackMetadataView, StageConditionStateView, StageStateView,
    TransitionStateView,
};

use crate::protocol::{ApiError, percent_encode as url};

const STYLE: &str = include_str!("style.css");

/// Text as a page shows it: escaped (by maud), with control characters, which HTML cannot
/// carry and terminals act on, shown as their Unicode control pictures (ESC as ␛) and
/// direction overrides (which can make text read backwards) replaced. Tabs and line breaks
/// stay.
pub struct Shown<'a>(pub &'a str);

fn visible(c: char) -> char {
    match c {
        '\t' | '\n' | '\r' => c,
        '\u{0}'..='\u{1f}' => char::from_u32(0x2400 + u32::from(c)).unwrap_or(char::REPLACEMENT_CHARACTER),
        '\u{7f}' => '\u{2421}',
        '\u{80}'..='\u{9f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' => char::REPLACEMENT_CHARACTER,
        c => c,
    }
}

impl Render for Shown<'_> {
    fn render_to(&self, buffer: &mut String) {
        let text: String = self.0.chars().map(visible).collect();
        text.as_str().render_to(buffer);
    }
}

/// `link` when it may be a link on a page: an absolute `http` or `https` URL with no
/// whitespace or control character anywhere (browsers drop those, so `java\tscript:` would
/// become `javascript:`). Anything else is shown as text.
pub fn safe_link(link: &str) -> Option<&str> {
    let lower = link.get(..8).unwrap_or(link).to_ascii_lowercase();
    let web = lower.starts_with("http://") || lower.starts_with("https://");
    (web && !link.chars().any(|c| c.is_whitespace() || c.is_control())).then_some(link)
}

/// An enumeration as the wire names it (its serde name).
fn wire_name(value: &impl Serialize) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(name)) => name,
        _ => String::new(),
    }
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

fn trigger(trigger: &ExecutionTriggerView) -> String {
    format!("{} {}", wire_name(&trigger.trigger_type), trigger.trigger_detail.as_deref().unwrap_or_default())
}

/// `/pipelines/<name>`.
fn base(name: &str) -> String {
    format!("/pipelines/{}", url(name))
}

/// How a page is framed: the console's, with its stylesheet, script and navigation; or a page
/// standing alone (the approval-callback function's), its style inline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Frame {
    Console,
    Standalone,
}

fn layout(frame: Frame, title: &str, body: Markup) -> String {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (Shown(title)) " · Pipewright" }
                @match frame {
                    Frame::Console => {
                        link rel="stylesheet" href="/static/console.css";
                        script src="/static/console.js" defer {}
                    }
                    Frame::Standalone => style { (PreEscaped(STYLE)) }
                }
            }
            body {
                @if frame == Frame::Console {
                    header class="top" {
                        a class="brand" href="/" { "Pipewright" }
                        nav aria-label="Main" { a href="/" { "Pipelines" } }
                    }
                }
                div class="page" { (body) }
            }
        }
    }
    .into_string()
}

fn status_badge(status: &str) -> Markup {
    let shown = if status.is_empty() { "Idle" } else { status };
    html! { span class="status" data-status=(shown) { (shown) } }
}

/// A form's hidden field. Its values are tokens and names, which hold no control character;
/// one that did would be shown, not carried.
fn hidden(name: &str, value: &str) -> Markup {
    html! { input type="hidden" name=(name) value=(Shown(value)); }
}

pub fn error(error: &ApiError) -> String {
    layout(
        Frame::Console,
        "Error",
        html! {
            h1 { "Something is not right" }
            p class="flash" role="alert" { (error.exception) ": " (Shown(&error.message)) }
            p { a href="/" { "All pipelines" } }
        },
    )
}

pub fn login(problem: Option<&str>) -> String {
    layout(
        Frame::Console,
        "Sign in",
        html! {
            h1 { "Sign in" }
            @if let Some(problem) = problem { p class="flash" role="alert" { (problem) } }
            p class="muted" { "Use the control API's access key (the stack's ApiKeysSecret)." }
            form method="post" action="/login" {
                label for="key" { "Access key id" } " "
                input type="text" id="key" name="accessKeyId" autocomplete="username" required;
                label for="secret" { "Secret access key" } " "
                input type="password" id="secret" name="secretAccessKey" autocomplete="current-password" required;
                button class="primary" { "Sign in" }
            }
        },
    )
}

/// The list of pipelines, each with its latest execution.
pub fn pipelines(pipelines: &[(PipelineSummaryView, Option<ExecutionSummaryView>)]) -> String {
    layout(
        Frame::Console,
        "Pipelines",
        html! {
            h1 { "Pipelines" }
            table class="pipelines" {
                caption class="sr-only" { "Pipelines and their latest execution" }
                thead { tr {
                    th scope="col" { "Pipeline" } th scope="col" { "Latest execution" } th scope="col" { "Execution" }
                    th scope="col" { "Last change" } th scope="col" { "Type" }
                } }
                tbody {
                    @for (pipeline, latest) in pipelines {
                        tr {
                            td { a class="pipeline-link" href=(base(&pipeline.name)) { (pipeline.name) } }
                            td { (status_badge(latest.as_ref().map_or("", |l| l.status.as_str()))) }
                            td { (latest.as_ref().map_or("—", |l| short(&l.pipeline_execution_id))) }
                            td { (when(latest.as_ref().map_or(pipeline.updated, |l| l.last_update_time))) }
                            td { (pipeline.pipeline_type) " " (pipeline.execution_mode) }
                        }
                    }
                    @if pipelines.is_empty() {
                        tr { td colspan="5" class="muted" {
                            "No pipelines yet: create one with " code { "aws codepipeline create-pipeline" }
                            " or " code { "pipewright run FILE" } "."
                        } }
                    }
                }
            }
        },
    )
}

/// What the pipeline view shows: the declaration, its state, the latest execution, and the
/// latest attempt of each action of the executions the stages show.
pub struct PipelineData {
    pub declaration: PipelineDeclaration,
    pub state: PipelineStateView,
    pub latest: Option<ExecutionSummaryView>,
    /// By (execution id, stage, action).
    pub details: BTreeMap<(String, String, String), ActionExecutionDetailView>,
    /// By stage: the execution its Rollback button returns to, where RollbackStage would
    /// accept one.
    pub rollback_targets: BTreeMap<String, String>,
    /// Epoch seconds.
    pub now: f64,
}

/// The pipeline view's page.
pub fn pipeline(data: &PipelineData, csrf: &str, flash: Option<&str>) -> String {
    let name = &data.declaration.name;
    layout(
        Frame::Console,
        name,
        html! {
            nav aria-label="Pipeline" { a href={ (base(name)) "/executions" } { "Execution history" } }
            main id="pipeline" data-pipeline=(name) aria-live="polite" { (pipeline_main_markup(data, csrf, flash)) }
        },
    )
}

/// The live part of the pipeline view (what the page's JS fetches again and again).
pub fn pipeline_main(data: &PipelineData, csrf: &str, flash: Option<&str>) -> String {
    pipeline_main_markup(data, csrf, flash).into_string()
}

fn pipeline_main_markup(data: &PipelineData, csrf: &str, flash: Option<&str>) -> Markup {
    let name = &data.declaration.name;
    let base = base(name);
    html! {
        h1 { (name) }
        @if let Some(flash) = flash { p class="flash" role="alert" { (Shown(flash)) } }
        div class="bar" {
            @if let Some(latest) = &data.latest {
                @let id = &latest.pipeline_execution_id;
                @let status = latest.status.as_str();
                p class="execution-status" data-status=(status) data-execution=(id) {
                    "Latest execution " a href={ (base) "/executions/" (url(id)) } { (short(id)) } " " (status_badge(status))
                }
                @if status == "InProgress" {
                    form class="stop" method="post" action={ (base) "/stop" } {
                        (hidden("csrf", csrf)) (hidden("execution", id))
                        button name="abandon" value="false" { "Stop" }
                        button class="danger" name="abandon" value="true" { "Stop and abandon" }
                    }
                }
            }
            form class="release" method="post" action={ (base) "/start" } {
                (hidden("csrf", csrf)) button class="primary" { "Release change" }
            }
        }
        div class="stages" {
            @for (index, stage) in data.declaration.stages.iter().enumerate() {
                @let state = data.state.stage_states.iter().find(|s| s.stage_name == stage.name);
                @if index > 0 {
                    (transition(&base, csrf, &stage.name, state.and_then(|s| s.inbound_transition_state.as_ref())))
                }
                (stage_section(&Forms { base: &base, csrf, now: data.now }, data, index, stage, state))
            }
        }
    }
}

/// What every form of the pipeline view needs: where it posts, its token, and the time.
struct Forms<'a> {
    base: &'a str,
    csrf: &'a str,
    now: f64,
}

fn stage_section(
    forms: &Forms<'_>,
    data: &PipelineData,
    index: usize,
    declaration: &StageDeclaration,
    state: Option<&StageStateView>,
) -> Markup {
    let Forms { base, csrf, .. } = *forms;
    let (stage, actions) = (declaration.name.as_str(), &declaration.actions);
    let execution = state.and_then(|s| s.latest_execution.as_ref());
    let execution_id = execution.map_or("", |e| e.pipeline_execution_id.as_str());
    let status = execution.map_or("", |e| e.status.as_str());
    let waiting: Vec<&str> = state
        .map(|s| {
            if s.inbound_executions.is_empty() {
                s.inbound_execution.iter().map(|e| e.pipeline_execution_id.as_str()).collect()
            } else {
                s.inbound_executions.iter().map(|e| e.pipeline_execution_id.as_str()).collect()
            }
        })
        .unwrap_or_default();
    // runOrder rows.
    let mut rows: BTreeMap<i64, Vec<&ActionDeclaration>> = BTreeMap::new();
    for action in actions {
        rows.entry(action.effective_run_order()).or_default().push(action);
    }
    html! {
        section class="stage" data-stage=(stage) aria-labelledby={ "stage-" (index) } {
            header { h2 id={ "stage-" (index) } { (stage) } (status_badge(status)) }
            @if !execution_id.is_empty() {
                p class="inbound" { "execution " a href={ (base) "/executions/" (url(execution_id)) } { (short(execution_id)) } }
            }
            @for inbound in waiting { p class="inbound" { "waiting to enter: " (short(inbound)) } }
            @if let Some(state) = state {
                (condition(forms, declaration, state, ConditionKind::BeforeEntry, state.before_entry_condition_state.as_ref()))
            }
            @for (order, actions) in rows {
                div class="row" {
                    span class="order" { "runOrder " (order) }
                    @for action in actions {
                        @let action_state = state.and_then(|s| s.action_states.iter().find(|a| a.action_name == action.name));
                        @let detail = data.details.get(&(execution_id.to_string(), stage.to_string(), action.name.clone()));
                        (action_card(forms, stage, action, action_state, detail, execution_id))
                    }
                }
            }
            @if matches!(status, "Failed" | "Stopped") && !execution_id.is_empty() {
                form class="retry" method="post" action={ (base) "/retry" } data-stage=(stage) {
                    (hidden("csrf", csrf)) (hidden("stage", stage)) (hidden("execution", execution_id))
                    label class="sr-only" for={ "mode-" (index) } { "Retry mode" }
                    select id={ "mode-" (index) } name="retryMode" {
                        option value="FAILED_ACTIONS" { "Failed actions" }
                        option value="ALL_ACTIONS" { "All actions" }
                    }
                    button { "Retry stage" }
                }
            }
            @if let Some(state) = state {
                (condition(forms, declaration, state, ConditionKind::OnSuccess, state.on_success_condition_state.as_ref()))
                (condition(forms, declaration, state, ConditionKind::OnFailure, state.on_failure_condition_state.as_ref()))
            }
            @if let Some(target) = data.rollback_targets.get(stage) {
                form class="rollback" method="post" action={ (base) "/rollback" } data-stage=(stage) {
                    (hidden("csrf", csrf)) (hidden("stage", stage)) (hidden("target", target))
                    button title={ "Run this stage again with the artifacts and variables of execution " (target) } {
                        "Roll back to " (short(target))
                    }
                }
            }
        }
    }
}

/// How the pipeline view names a kind of condition.
fn condition_label(kind: ConditionKind) -> &'static str {
    match kind {
        ConditionKind::BeforeEntry => "Entry condition",
        ConditionKind::OnSuccess => "Success condition",
        ConditionKind::OnFailure => "Failure condition",
    }
}

/// Whether OverrideStageCondition would release the stage's `kind` condition now (the rules of
/// `crates/core/src/engine/overrides.rs`, docs/conditions.md): an entry or success condition
/// under evaluation, without the SKIP result, in an execution that is not a rollback. The
/// operation decides; the button is only offered where it would be accepted.
fn overridable(declaration: &StageDeclaration, state: &StageStateView, kind: ConditionKind) -> bool {
    let conditions = match kind {
        ConditionKind::BeforeEntry => declaration.before_entry.as_ref().map(|c| c.conditions.as_slice()),
        ConditionKind::OnSuccess => declaration.on_success.as_ref().map(|c| c.conditions.as_slice()),
        ConditionKind::OnFailure => None,
    };
    let skips = conditions.is_some_and(|c| c.iter().any(|c| c.result == Some(ConditionResult::Skip)));
    let execution = state.latest_execution.as_ref();
    conditions.is_some()
        && !skips
        && execution.is_some_and(|e| e.execution_type != "ROLLBACK" && e.status == "InProgress")
}

/// One kind of a stage's condition: the latest evaluation's status and summary, each rule's
/// latest run, and the Override button while it may be overridden.
fn condition(
    forms: &Forms<'_>,
    declaration: &StageDeclaration,
    state: &StageStateView,
    kind: ConditionKind,
    condition: Option<&StageConditionStateView>,
) -> Markup {
    let Some(condition) = condition else { return html! {} };
    let Forms { base, csrf, .. } = *forms;
    let evaluation = condition.latest_execution.as_ref();
    let status = evaluation.map_or("", |e| e.status.as_str());
    let execution_id = state.latest_execution.as_ref().map_or("", |e| e.pipeline_execution_id.as_str());
    let rules = condition.condition_states.iter().flat_map(|c| &c.rule_states);
    html! {
        div class="condition" data-condition=(kind.as_str()) data-status=(if status.is_empty() { "Idle" } else { status }) {
            div class="meta" { span class="condition-kind" { (condition_label(kind)) } (status_badge(status)) }
            @if let Some(summary) = evaluation.and_then(|e| e.summary.as_deref()) {
                p class="detail" { (Shown(summary)) }
            }
            ul class="rules" {
                @for rule in rules {
                    @let run = rule.latest_execution.as_ref();
                    li class="rule" data-rule=(rule.rule_name) data-status=(run.map_or("Idle", |r| r.status.as_str())) {
                        span class="rule-name" { (rule.rule_name) } " " (status_badge(run.map_or("", |r| r.status.as_str())))
                        @if let Some(summary) = run.and_then(|r| r.summary.as_deref()) {
                            span class="detail" { " " (Shown(summary)) }
                        }
                        @if let Some(link) = run.and_then(|r| r.external_execution_url.as_deref()) {
                            " " (external_link(link))
                        }
                    }
                }
            }
            @if status == "InProgress" && !execution_id.is_empty() && overridable(declaration, state, kind) {
                form class="override" method="post" action={ (base) "/override" } data-stage=(declaration.name) {
                    (hidden("csrf", csrf)) (hidden("stage", &declaration.name)) (hidden("execution", execution_id))
                    (hidden("condition", kind.as_str()))
                    button title="Release the condition: the stage goes on as if it had been met" { "Override" }
                }
            }
        }
    }
}

/// A rollback execution's mark: its type, and the execution it returns to.
fn rollback_mark(base: &str, execution_type: &str, metadata: Option<&RollbackMetadataView>) -> Markup {
    html! {
        @if execution_type == "ROLLBACK" {
            span class="tag rollback" { "Rollback" }
            @if let Some(target) = metadata.map(|m| m.rollback_target_pipeline_execution_id.as_str()) {
                " to " a class="rollback-target" href={ (base) "/executions/" (url(target)) } { (short(target)) }
            }
        }
    }
}

fn transition(base: &str, csrf: &str, stage: &str, transition: Option<&TransitionStateView>) -> Markup {
    let enabled = transition.is_none_or(|t| t.enabled);
    html! {
        div class="transition" data-stage=(stage) data-enabled=(enabled) {
            span class="arrow" aria-hidden="true" { "→" }
            span { @if enabled { "transition enabled" } @else { "transition disabled" } }
            @if enabled {
                form method="post" action={ (base) "/transition" } {
                    (hidden("csrf", csrf)) (hidden("stage", stage))
                    label class="sr-only" for={ "reason-" (url(stage)) } { "Reason" }
                    input type="text" id={ "reason-" (url(stage)) } name="reason" placeholder="reason" size="8";
                    button { "Disable transition" }
                }
            } @else {
                span class="reason" { (Shown(transition.and_then(|t| t.disabled_reason.as_deref()).unwrap_or_default())) }
                form method="post" action={ (base) "/transition" } {
                    (hidden("csrf", csrf)) (hidden("stage", stage)) (hidden("enabled", "true"))
                    button { "Enable transition" }
                }
            }
        }
    }
}

fn action_card(
    forms: &Forms<'_>,
    stage: &str,
    action: &ActionDeclaration,
    state: Option<&ActionStateView>,
    detail: Option<&ActionExecutionDetailView>,
    execution_id: &str,
) -> Markup {
    let Forms { base, csrf, now } = *forms;
    let name = &action.name;
    let latest = state.and_then(|s| s.latest_execution.as_ref());
    let status = latest.map_or("Idle", |l| l.status.as_str());
    let type_id = &action.action_type_id;
    // What the approval was asked with: the attempt's resolved configuration, else the declared.
    let configuration = |key: &str| -> Option<String> {
        detail
            .and_then(|d| d.input.resolved_configuration.get(key).cloned())
            .or_else(|| action.config(key).map(str::to_string))
    };
    html! {
        article class="action" data-action={ (stage) "/" (name) } data-status=(status) {
            h3 { (name) }
            div class="meta" {
                span class="provider" { (type_id.provider) " · " (type_id.category) }
                (status_badge(if status == "Idle" { "" } else { status }))
                @if let Some(detail) = detail {
                    @let end = if status == "InProgress" { now } else { detail.last_update_time };
                    span class="duration" { (duration(end - detail.start_time)) }
                }
            }
            @if let Some(revision) = state.and_then(|s| s.current_revision.as_ref()) {
                p class="detail" { "revision " (Shown(short(&revision.revision_id))) }
            }
            @if let Some(summary) = latest.and_then(|l| l.summary.as_deref()) {
                p class="detail" { (Shown(summary)) }
            }
            @if status == "Failed" {
                p class="error" { (Shown(latest.and_then(|l| l.error_details.as_ref()).map_or("", |e| e.message.as_str()))) }
            }
            @if let (true, Some(token)) = (status == "InProgress", latest.and_then(|l| l.token.as_deref())) {
                @if let Some(custom) = configuration("CustomData") { p class="custom-data" { (Shown(&custom)) } }
                @if let Some(link) = configuration("ExternalEntityLink") { p { (external_link(&link)) } }
                @let field_id = format!("summary-{}-{}", url(stage), url(name));
                form class="approval" method="post" action={ (base) "/approve" } {
                    (hidden("csrf", csrf)) (hidden("stage", stage)) (hidden("action", name))
                    (hidden("token", token)) (hidden("execution", execution_id))
                    label for=(field_id) { "Summary" }
                    textarea id=(field_id) name="summary" rows="2" maxlength="512" {}
                    div {
                        button class="primary" name="status" value="Approved" { "Approve" } " "
                        button class="danger" name="status" value="Rejected" { "Reject" }
                    }
                }
            }
        }
    }
}

/// An external link (an approval's URL for review): a link when it is a web URL, else text.
fn external_link(link: &str) -> Markup {
    html! {
        @match safe_link(link) {
            Some(href) => a class="external-link" href=(href) rel="noopener noreferrer" { (Shown(link)) },
            None => span class="external-link" { (Shown(link)) },
        }
    }
}

fn revisions(summary: &ExecutionSummaryView) -> Markup {
    html! {
        @for (i, r) in summary.source_revisions.iter().enumerate() {
            @if i > 0 { br; }
            (r.action_name) ": " (Shown(short(&r.revision_id))) " " (Shown(r.revision_summary.as_deref().unwrap_or_default()))
        }
    }
}

pub fn history(name: &str, executions: &[ExecutionSummaryView]) -> String {
    let base = base(name);
    layout(
        Frame::Console,
        &format!("{name} history"),
        html! {
            nav aria-label="Pipeline" { a href=(base) { (name) } }
            h1 { "Execution history of " (name) }
            table class="history" {
                caption class="sr-only" { "Executions, newest first" }
                thead { tr {
                    th scope="col" { "Execution" } th scope="col" { "Status" } th scope="col" { "Trigger" }
                    th scope="col" { "Source revisions" } th scope="col" { "Started" } th scope="col" { "Duration" }
                } }
                tbody {
                    @for summary in executions {
                        @let id = &summary.pipeline_execution_id;
                        tr class="execution" data-execution=(id) data-status=(summary.status.as_str()) data-type=(summary.execution_type) {
                            td {
                                a href={ (base) "/executions/" (url(id)) } { (short(id)) } " "
                                (rollback_mark(&base, summary.execution_type, summary.rollback_metadata.as_ref()))
                            }
                            td { (status_badge(summary.status.as_str())) }
                            td { (Shown(&trigger(&summary.trigger))) }
                            td { (revisions(summary)) }
                            td { (when(summary.start_time)) }
                            td { (duration(summary.last_update_time - summary.start_time)) }
                        }
                    }
                }
            }
        },
    )
}

/// One execution's timeline; `details` oldest first.
pub fn execution(name: &str, execution: &ExecutionView, details: &[ActionExecutionDetailView]) -> String {
    let base = base(name);
    let id = &execution.pipeline_execution_id;
    let status = execution.status.as_str();
    let mut attempts: BTreeMap<(&str, &str), u32> = BTreeMap::new();
    let rows: Vec<(u32, &ActionExecutionDetailView)> = details
        .iter()
        .map(|detail| {
            let attempt = attempts.entry((&detail.stage_name, &detail.action_name)).or_insert(0);
            *attempt += 1;
            (*attempt, detail)
        })
        .collect();
    layout(
        Frame::Console,
        &format!("{name} {}", short(id)),
        html! {
            nav aria-label="Pipeline" { a href=(base) { (name) } " · " a href={ (base) "/executions" } { "history" } }
            h1 { "Execution " (short(id)) " of " (name) }
            p class="execution-status" data-status=(status) data-execution=(id) data-type=(execution.execution_type) {
                (status_badge(status)) " · " (Shown(&trigger(&execution.trigger))) " "
                (rollback_mark(&base, execution.execution_type, execution.rollback_metadata.as_ref()))
            }
            table class="timeline" {
                caption class="sr-only" { "Action executions, oldest first" }
                thead { tr {
                    th scope="col" { "Action" } th scope="col" { "Status" } th scope="col" { "Started" }
                    th scope="col" { "Duration" } th scope="col" { "Resolved configuration" }
                    th scope="col" { "Output variables" } th scope="col" { "Log" }
                } }
                tbody {
                    @for (attempt, detail) in rows {
                        @let (stage, action) = (&detail.stage_name, &detail.action_name);
                        @let configuration = serde_json::to_string_pretty(&detail.input.resolved_configuration).unwrap_or_default();
                        tr class="action-execution" data-action={ (stage) "/" (action) } data-status=(detail.status) {
                            td { (stage) " / " (action) " " span class="muted" { "#" (attempt) } }
                            td { (status_badge(&detail.status)) }
                            td { (when(detail.start_time)) }
                            td { (duration(detail.last_update_time - detail.start_time)) }
                            td { details { summary { "configuration" } pre { (Shown(&configuration)) } } }
                            td {
                                pre { @for (k, v) in &detail.output.output_variables { (Shown(k)) " = " (Shown(v)) "\n" } }
                                @if let Some(error) = &detail.output.execution_result.error_details {
                                    p class="error" { (Shown(&error.message)) }
                                }
                                // A build's phases and report counts are in its summary.
                                @if let Some(summary) = detail.output.execution_result.external_execution_summary.as_deref().filter(|s| s.contains("Phases ")) {
                                    p class="detail" { (Shown(summary)) }
                                }
                            }
                            td {
                                @if matches!(detail.input.action_type_id.provider.as_str(), "Commands" | "CodeBuild") {
                                    a class="log-link" href={ (base) "/executions/" (url(id)) "/logs/" (url(stage)) "/" (url(action)) "/" (attempt) } { "log" }
                                }
                            }
                        }
                    }
                }
            }
        },
    )
}

/// What an approval asks, for its review page: the console's (a local approval link) and the
/// approval-callback function's (a signed link of the approval mail).
pub struct ApprovalReview {
    pub pipeline: String,
    pub stage: String,
    pub action: String,
    pub execution_id: String,
    /// `(name, text)` lines: source revisions, the approval's comments, its expiry.
    pub facts: Vec<(&'static str, String)>,
    /// The approval's URL for review (`ExternalEntityLink`).
    pub link: Option<String>,
}

/// How the review page's form answers.
pub struct ApprovalForm {
    /// Where it posts; `None` for the page's own URL.
    pub action: Option<String>,
    pub hidden: Vec<(&'static str, String)>,
    /// The name of the buttons' field: `status` (the console) or `decision` (a mail link).
    pub decision_field: &'static str,
    /// The decision the link chose (an e-mail's Approve or Reject link), highlighted.
    pub chosen: Option<String>,
}

/// The page an approval link opens: what is being approved, and the decision's form, or why
/// it is no longer waiting. A GET never decides (mail scanners follow links); only the
/// form's POST does.
pub fn approval(frame: Frame, review: &ApprovalReview, form: Option<&ApprovalForm>) -> String {
    let chosen = |decision: &str| form.and_then(|f| f.chosen.as_deref()) == Some(decision);
    layout(
        frame,
        "Approval",
        html! {
            @if frame == Frame::Console { nav aria-label="Pipeline" { a href=(base(&review.pipeline)) { (review.pipeline) } } }
            h1 { "Approve " (Shown(&review.stage)) " / " (Shown(&review.action)) " of " (Shown(&review.pipeline)) "?" }
            dl class="facts" {
                dt { "Execution" } dd { (review.execution_id) }
                @for (name, text) in &review.facts { dt { (name) } dd { (Shown(text)) } }
                @if let Some(link) = &review.link { dt { "URL for review" } dd { (external_link(link)) } }
            }
            @match form {
                Some(form) => form class="approval" method="post" action=[form.action.as_deref()] {
                    @for (name, value) in &form.hidden { (hidden(name, value)) }
                    label for="summary" { "Summary" }
                    textarea id="summary" name="summary" rows="3" maxlength="512" {}
                    div {
                        button.primary.chosen[chosen("Approved")] name=(form.decision_field) value="Approved" { "Approve" } " "
                        button.danger.chosen[chosen("Rejected")] name=(form.decision_field) value="Rejected" { "Reject" }
                    }
                },
                None => p class="flash" role="alert" {
                    "This approval is no longer waiting: it was answered, it expired, or the link is for an older attempt."
                },
            }
        },
    )
}

/// A source revision as the review pages list it: `Artifact (Action): id — summary`.
pub fn revision_text(artifact: &str, action: &str, id: &str, summary: Option<&str>) -> String {
    let action = if action.is_empty() { String::new() } else { format!(" ({action})") };
    let summary = summary.map(|s| format!(" — {s}")).unwrap_or_default();
    format!("{artifact}{action}: {id}{summary}")
}

/// A page with one message (an approval link's refusal or its outcome), standing alone.
pub fn notice(title: &str, message: &str) -> String {
    layout(Frame::Standalone, title, html! { h1 { (Shown(title)) } p { (Shown(message)) } })
}
