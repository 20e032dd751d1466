//! The commands of local mode against a remote Pipewright (`--endpoint`): each becomes the
//! CodePipeline API call the aws CLI would make, and `--wait` follows the execution by
//! polling GetPipelineState, printing one line per change.

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Result, anyhow};
use serde_json::{Value, json};

use pipewright_core::engine::ApprovalStatus;

use crate::commands::control::{ApprovalArgs, RetryArgs, StopArgs, TransitionsCommand};
use crate::commands::run::{RunArgs, StartArgs, StartOptions};
use crate::commands::status::{HistoryArgs, StatusArgs};
use crate::failure::{self, usage};
use crate::output::short;
use crate::pipeline_file;
use crate::remote::{Remote, RemoteError};

/// An API error as the person should read it; a missing thing or a bad argument exits 2.
fn explain(error: anyhow::Error) -> anyhow::Error {
    match error.downcast_ref::<RemoteError>() {
        Some(remote) if remote.is_usage() => usage(remote.to_string()),
        _ => error,
    }
}

fn refuse_local_only(options: &StartOptions) -> Result<()> {
    if !options.sources.is_empty() {
        return Err(usage(
            "--source applies to this machine; with --endpoint, sources come from the deployment (give `pipewright serve` its --source)",
        ));
    }
    if options.action_timeout.is_some() {
        return Err(usage("--action-timeout applies to this machine only, not with --endpoint"));
    }
    if options.auto_approve {
        return Err(usage("--auto-approve applies to this machine; give it to `pipewright serve` instead"));
    }
    Ok(())
}

fn variables(options: &StartOptions) -> Value {
    json!(options.vars.iter().map(|(name, value)| json!({ "name": name, "value": value })).collect::<Vec<_>>())
}

fn print_json(value: &Value) {
    say_raw!("{}", serde_json::to_string_pretty(value).unwrap_or_default());
}

/// Exit code for a final status string.
fn exit_for(status: &str) -> ExitCode {
    ExitCode::from(match status {
        "Succeeded" => failure::SUCCEEDED,
        "Stopped" | "Superseded" | "Cancelled" => failure::STOPPED,
        _ => failure::FAILED,
    })
}

pub async fn run(remote: &Remote, args: &RunArgs, region: Option<&str>) -> Result<ExitCode> {
    refuse_local_only(&args.options)?;
    use std::io::IsTerminal;
    let asks = !args.options.json && std::io::stdin().is_terminal();
    let candidate = pipeline_file::prepare(&args.file, &args.import, region, asks, true)?;
    let mut declaration = serde_json::to_value(&candidate.declaration)?;
    declaration.as_object_mut().map(|o| o.remove("version"));
    // A deployment on AWS acts for real: no placeholder may reach it.
    if let Some(imported) = candidate.imported.as_ref().filter(|_| !remote.is_loopback()) {
        pipewright_core::import::placeholders::refuse(&imported.placeholders, &declaration.to_string())
            .map_err(|why| usage(format!("{}: {why}", args.file)))?;
    }
    let name = candidate.declaration.name.clone();
    let exists = match remote.call("GetPipeline", json!({ "name": name })).await {
        Ok(_) => true,
        Err(error)
            if error.downcast_ref::<RemoteError>().is_some_and(|e| e.exception == "PipelineNotFoundException") =>
        {
            false
        }
        Err(error) => return Err(explain(error)),
    };
    let operation = if exists { "UpdatePipeline" } else { "CreatePipeline" };
    let mut input = json!({ "pipeline": declaration });
    if !candidate.tags.is_empty() && !exists {
        input["tags"] = json!(candidate.tags);
    }
    let stored = remote.call(operation, input).await.map_err(explain)?;
    say!("{operation} {name}: version {}", stored["pipeline"]["version"]);
    for transition in candidate.imported.iter().flat_map(|i| &i.disabled_transitions) {
        let request = json!({
            "pipelineName": name, "stageName": transition.stage_name,
            "transitionType": "Inbound", "reason": transition.reason,
        });
        remote.call("DisableStageTransition", request).await.map_err(explain)?;
        say!("DisableStageTransition {name} {}: {}", transition.stage_name, transition.reason);
    }
    // CreatePipeline started an execution already (as CodePipeline does). Without variables
    // that is the run asked for; with them, it is stopped, and one with them is started.
    let first = if exists { None } else { first_execution(remote, &name).await? };
    let id = match first {
        Some(id) if args.options.vars.is_empty() => id,
        first => {
            if let Some(id) = first {
                stop_first_execution(remote, &name, &id).await?;
            }
            let started = remote
                .call("StartPipelineExecution", json!({ "name": name, "variables": variables(&args.options) }))
                .await;
            started.map_err(explain)?["pipelineExecutionId"].as_str().unwrap_or_default().to_string()
        }
    };
    follow(remote, &name, &id, args.options.json).await
}

/// The execution CreatePipeline started, if the pipeline has one (a pipeline whose variables
/// lack defaults is created without).
async fn first_execution(remote: &Remote, name: &str) -> Result<Option<String>> {
    let listed = remote.call("ListPipelineExecutions", json!({ "pipelineName": name })).await.map_err(explain)?;
    let summaries = listed["pipelineExecutionSummaries"].as_array().cloned().unwrap_or_default();
    Ok(summaries
        .iter()
        .find(|s| s["trigger"]["triggerType"] == "CreatePipeline")
        .and_then(|s| s["pipelineExecutionId"].as_str())
        .map(str::to_string))
}

/// Stops (abandoning its actions) the execution CreatePipeline started without the run's
/// variables; one that ended already is left as it is.
async fn stop_first_execution(remote: &Remote, name: &str, id: &str) -> Result<()> {
    let request = json!({
        "pipelineName": name, "pipelineExecutionId": id, "abandon": true,
        "reason": "pipewright run starts its own execution, with its variables",
    });
    match remote.call("StopPipelineExecution", request).await {
        Ok(_) => {
            say!("StopPipelineExecution {name} {id}: CreatePipeline's execution, which lacks the variables");
            Ok(())
        }
        Err(error)
            if error
                .downcast_ref::<RemoteError>()
                .is_some_and(|e| e.exception == "PipelineExecutionNotStoppableException") =>
        {
            Ok(())
        }
        Err(error) => Err(explain(error)),
    }
}

pub async fn start(remote: &Remote, args: &StartArgs) -> Result<ExitCode> {
    refuse_local_only(&args.options)?;
    let started = remote
        .call("StartPipelineExecution", json!({ "name": args.name, "variables": variables(&args.options) }))
        .await
        .map_err(explain)?;
    let id = started["pipelineExecutionId"].as_str().unwrap_or_default().to_string();
    if !args.wait {
        say_raw!("{}", json!({ "pipelineExecutionId": id }));
        return Ok(ExitCode::SUCCESS);
    }
    follow(remote, &args.name, &id, args.options.json).await
}

/// Every action's latest status line in a GetPipelineState answer, by stage/action.
fn action_lines(state: &Value, execution: &str) -> BTreeMap<String, String> {
    let mut lines = BTreeMap::new();
    for stage in state["stageStates"].as_array().into_iter().flatten() {
        let stage_name = stage["stageName"].as_str().unwrap_or_default();
        if stage["latestExecution"]["pipelineExecutionId"] != execution {
            continue;
        }
        for action in stage["actionStates"].as_array().into_iter().flatten() {
            let latest = &action["latestExecution"];
            let Some(status) = latest["status"].as_str() else { continue };
            let detail = latest["summary"]
                .as_str()
                .or(latest["errorDetails"]["message"].as_str())
                .map(|d| format!("  {d}"))
                .unwrap_or_default();
            let key = format!("{stage_name}/{}", action["actionName"].as_str().unwrap_or_default());
            lines.insert(key.clone(), format!("{key} {}{detail}", status.to_uppercase()));
        }
    }
    lines
}

/// Follows an execution until it ends: one line per action change (or the API's JSON with
/// --json), then the exit code of its final status.
async fn follow(remote: &Remote, pipeline: &str, id: &str, json_lines: bool) -> Result<ExitCode> {
    let mut seen: BTreeMap<String, String> = BTreeMap::new();
    say!("execution {id} of {pipeline}");
    loop {
        let state = remote.call("GetPipelineState", json!({ "name": pipeline })).await.map_err(explain)?;
        for (key, line) in action_lines(&state, id) {
            if seen.get(&key) != Some(&line) {
                if json_lines {
                    say_raw!("{}", json!({ "action": key, "line": line }));
                } else {
                    say!("{} {line}", chrono::Local::now().format("%H:%M:%S%.3f"));
                }
                seen.insert(key, line);
            }
        }
        let execution = remote
            .call("GetPipelineExecution", json!({ "pipelineName": pipeline, "pipelineExecutionId": id }))
            .await
            .map_err(explain)?;
        let status = execution["pipelineExecution"]["status"].as_str().unwrap_or("InProgress").to_string();
        if !matches!(status.as_str(), "InProgress" | "Stopping") {
            say!("Execution {} {status}", short(id));
            return Ok(exit_for(&status));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

pub async fn status(remote: &Remote, args: &StatusArgs) -> Result<ExitCode> {
    let state = remote.call("GetPipelineState", json!({ "name": args.name })).await.map_err(explain)?;
    if args.json {
        print_json(&state);
        return Ok(ExitCode::SUCCESS);
    }
    say!("{} (version {})", args.name, state["pipelineVersion"]);
    for stage in state["stageStates"].as_array().into_iter().flatten() {
        let latest = &stage["latestExecution"];
        let transition = if stage["inboundTransitionState"]["enabled"] == false {
            format!(
                "  [transition disabled: {}]",
                stage["inboundTransitionState"]["disabledReason"].as_str().unwrap_or("")
            )
        } else {
            String::new()
        };
        say!(
            "  {} {} {}{transition}",
            stage["stageName"].as_str().unwrap_or_default(),
            latest["status"].as_str().unwrap_or("-"),
            latest["pipelineExecutionId"].as_str().map(short).unwrap_or_default()
        );
        for action in stage["actionStates"].as_array().into_iter().flatten() {
            let latest = &action["latestExecution"];
            say!(
                "    {} {} {}",
                action["actionName"].as_str().unwrap_or_default(),
                latest["status"].as_str().unwrap_or("-"),
                latest["summary"].as_str().or(latest["errorDetails"]["message"].as_str()).unwrap_or_default()
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn history(remote: &Remote, args: &HistoryArgs) -> Result<ExitCode> {
    let listed = remote
        .call("ListPipelineExecutions", json!({ "pipelineName": args.name, "maxResults": args.limit.min(100) }))
        .await
        .map_err(explain)?;
    if args.json {
        print_json(&listed);
        return Ok(ExitCode::SUCCESS);
    }
    for summary in listed["pipelineExecutionSummaries"].as_array().into_iter().flatten() {
        say!(
            "{} {} {}",
            summary["pipelineExecutionId"].as_str().unwrap_or_default(),
            summary["status"].as_str().unwrap_or_default(),
            summary["trigger"]["triggerType"].as_str().unwrap_or_default()
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// The stage's latest execution, from GetPipelineState.
async fn latest_in_stage(remote: &Remote, pipeline: &str, stage: &str) -> Result<Value> {
    let state = remote.call("GetPipelineState", json!({ "name": pipeline })).await.map_err(explain)?;
    state["stageStates"]
        .as_array()
        .and_then(|stages| stages.iter().find(|s| s["stageName"] == stage).cloned())
        .ok_or_else(|| usage(format!("StageNotFoundException: stage \"{stage}\" does not exist in {pipeline}")))
}

pub async fn answer(remote: &Remote, args: &ApprovalArgs, status: ApprovalStatus) -> Result<ExitCode> {
    let stage = latest_in_stage(remote, &args.name, &args.stage).await?;
    let action = stage["actionStates"]
        .as_array()
        .and_then(|actions| actions.iter().find(|a| a["actionName"] == args.action.as_str()).cloned())
        .ok_or_else(|| usage(format!("ActionNotFoundException: {}/{} does not exist", args.stage, args.action)))?;
    let token = action["latestExecution"]["token"].as_str().ok_or_else(|| {
        anyhow!("no execution of {} waits for an answer at {}/{}", args.name, args.stage, args.action)
    })?;
    let word = if status == ApprovalStatus::Approved { "Approved" } else { "Rejected" };
    remote
        .call(
            "PutApprovalResult",
            json!({ "pipelineName": args.name, "stageName": args.stage, "actionName": args.action,
                    "token": token, "result": { "status": word, "summary": args.summary } }),
        )
        .await
        .map_err(explain)?;
    say!("{word} {}/{}", args.stage, args.action);
    Ok(ExitCode::SUCCESS)
}

pub async fn retry(remote: &Remote, args: &RetryArgs) -> Result<ExitCode> {
    let id = match &args.execution {
        Some(id) => id.clone(),
        None => latest_in_stage(remote, &args.name, &args.stage).await?["latestExecution"]["pipelineExecutionId"]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| usage(format!("no execution has entered stage {} yet", args.stage)))?,
    };
    let mode = if args.all_actions { "ALL_ACTIONS" } else { "FAILED_ACTIONS" };
    remote
        .call(
            "RetryStageExecution",
            json!({ "pipelineName": args.name, "stageName": args.stage, "pipelineExecutionId": id, "retryMode": mode }),
        )
        .await
        .map_err(explain)?;
    if args.wait {
        return follow(remote, &args.name, &id, args.json).await;
    }
    say_raw!("{}", json!({ "pipelineExecutionId": id }));
    Ok(ExitCode::SUCCESS)
}

pub async fn stop(remote: &Remote, args: &StopArgs) -> Result<ExitCode> {
    let pipeline = args.pipeline.as_deref().ok_or_else(|| {
        usage("with --endpoint, `stop` needs --pipeline NAME (StopPipelineExecution names the pipeline)")
    })?;
    let mut input = json!({ "pipelineName": pipeline, "pipelineExecutionId": args.execution, "abandon": args.abandon });
    if let Some(reason) = &args.reason {
        input["reason"] = json!(reason);
    }
    remote.call("StopPipelineExecution", input).await.map_err(explain)?;
    say!("{} execution {}", if args.abandon { "Stopping and abandoning" } else { "Stopping" }, short(&args.execution));
    Ok(ExitCode::SUCCESS)
}

pub async fn transitions(remote: &Remote, command: &TransitionsCommand) -> Result<ExitCode> {
    let (args, enabled) = command.parts();
    let mut input = json!({ "pipelineName": args.name, "stageName": args.stage, "transitionType": "Inbound" });
    if !enabled {
        let reason = args.reason.as_ref().ok_or_else(|| usage("transitions disable needs --reason"))?;
        input["reason"] = json!(reason);
    }
    let operation = if enabled { "EnableStageTransition" } else { "DisableStageTransition" };
    remote.call(operation, input).await.map_err(explain)?;
    say!("Transition into {} {}", args.stage, if enabled { "enabled" } else { "disabled" });
    Ok(ExitCode::SUCCESS)
}
