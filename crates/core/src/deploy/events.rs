//! The services' state-change events, read for what a waiting deploy action may be waiting
//! for (docs/providers.md §13, "Early looks"): a CloudFormation stack's status, an ECS
//! service's deployment, a CodeDeploy deployment, a Step Functions execution. An event only
//! says *which* work changed; the provider's next look reads where it stands, so a duplicate,
//! stale or out-of-order event costs one look and changes nothing.

use serde_json::Value;

use crate::engine::Dispatch;
use crate::providers::{ProviderKind, spec_of};

/// What one service event concerns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceChange {
    /// The providers whose waits it may end.
    pub kinds: Vec<ProviderKind>,
    /// The ids the service knows the work by, as a wait's `externalId` holds them: a stack
    /// id, a service ARN, a deployment id, an execution ARN.
    pub ids: Vec<String>,
    /// Names a wait may hold instead of an ARN (a stack's name, before its id is known).
    pub names: Vec<String>,
    /// For the log: `stack app UPDATE_COMPLETE`.
    pub summary: String,
}

pub const CLOUDFORMATION_STACK: (&str, &str) = ("aws.cloudformation", "CloudFormation Stack Status Change");
pub const ECS_DEPLOYMENT: (&str, &str) = ("aws.ecs", "ECS Deployment State Change");
pub const ECS_SERVICE: (&str, &str) = ("aws.ecs", "ECS Service Action");
pub const CODEDEPLOY_DEPLOYMENT: (&str, &str) = ("aws.codedeploy", "CodeDeploy Deployment State-change Notification");
pub const STEP_FUNCTIONS_EXECUTION: (&str, &str) = ("aws.states", "Step Functions Execution Status Change");

fn text<'a>(detail: &'a Value, path: &[&str]) -> Option<&'a str> {
    path.iter().try_fold(detail, |value, key| value.get(key))?.as_str().filter(|s| !s.is_empty())
}

/// The stack's name in its id, `arn:…:stack/NAME/UUID`.
fn stack_name(stack_id: &str) -> Option<&str> {
    let (_, path) = stack_id.split_once(":stack/")?;
    path.split('/').next().filter(|name| !name.is_empty())
}

/// What a service event concerns; `None` for an event that is not one of the four or names
/// nothing.
pub fn service_change(source: &str, detail_type: &str, resources: &[String], detail: &Value) -> Option<ServiceChange> {
    let event = (source, detail_type);
    if event == CLOUDFORMATION_STACK {
        let stack_id = text(detail, &["stack-id"]).or_else(|| resources.first().map(String::as_str))?;
        let status = text(detail, &["status-details", "status"]).unwrap_or("?");
        let name = stack_name(stack_id);
        Some(ServiceChange {
            kinds: vec![ProviderKind::CloudFormation],
            ids: vec![stack_id.to_string()],
            names: name.map(String::from).into_iter().collect(),
            summary: format!("stack {} {status}", name.unwrap_or(stack_id)),
        })
    } else if event == ECS_DEPLOYMENT || event == ECS_SERVICE {
        // The service's ARN is the event's resource.
        let services: Vec<String> = resources.iter().filter(|r| r.contains(":service/")).cloned().collect();
        let first = services.first()?.clone();
        let what = text(detail, &["eventName"]).unwrap_or("?");
        Some(ServiceChange {
            kinds: vec![ProviderKind::Ecs],
            ids: services,
            names: Vec::new(),
            summary: format!("service {first} {what}"),
        })
    } else if event == CODEDEPLOY_DEPLOYMENT {
        let deployment = text(detail, &["deploymentId"])?;
        let state = text(detail, &["state"]).unwrap_or("?");
        Some(ServiceChange {
            kinds: vec![ProviderKind::CodeDeploy, ProviderKind::CodeDeployToEcs],
            ids: vec![deployment.to_string()],
            names: Vec::new(),
            summary: format!("deployment {deployment} {state}"),
        })
    } else if event == STEP_FUNCTIONS_EXECUTION {
        let execution = text(detail, &["executionArn"]).or_else(|| resources.first().map(String::as_str))?;
        let status = text(detail, &["status"]).unwrap_or("?");
        Some(ServiceChange {
            kinds: vec![ProviderKind::StepFunctions],
            ids: vec![execution.to_string()],
            names: Vec::new(),
            summary: format!("execution {execution} {status}"),
        })
    } else {
        None
    }
}

/// The id a deploy wait says the service knows its work by (its token's `externalId`).
pub fn wait_external_id(continuation_token: &str) -> Option<String> {
    let token: Value = serde_json::from_str(continuation_token).ok()?;
    token.get("externalId")?.as_str().filter(|id| !id.is_empty()).map(String::from)
}

/// Whether `dispatch`, a deploy provider's next look (docs/providers.md §13), waits for the
/// work `change` concerns: its provider is one the event is about, and its wait's
/// `externalId` is an id the event names (or, while a stack's id is not known yet, its name).
pub fn concerns(change: &ServiceChange, dispatch: &Dispatch) -> bool {
    let Some(kind) = spec_of(&dispatch.action_type).map(|spec| spec.kind) else { return false };
    if !change.kinds.contains(&kind) {
        return false;
    }
    let Some(token) = super::deploy_wait(dispatch) else { return false };
    let Some(id) = wait_external_id(token) else { return false };
    change.ids.contains(&id) || (!id.starts_with("arn:") && change.names.contains(&id))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const STACK: &str = "arn:aws:cloudformation:us-east-1:111122223333:stack/pipewright-app/6a7e8feb-b491";

    fn dispatch(provider: &str, category: &str, external_id: Option<&str>) -> Dispatch {
        let token = external_id.map(|id| {
            json!({"state": {}, "externalId": id, "status": "s", "pollAfterSeconds": 30, "polls": 1}).to_string()
        });
        serde_json::from_value(json!({
            "id": "d", "pipeline": "p", "pipelineVersion": 1, "executionId": "e", "stage": "Deploy",
            "action": "A", "attempt": 1, "actionExecutionId": "x", "jobId": "j", "jobSequence": 2,
            "actionType": {"category": category, "owner": "AWS", "provider": provider, "version": "1"},
            "region": null, "roleArn": null, "namespace": null, "configuration": {}, "commands": [],
            "environmentVariables": [], "outputVariables": [], "inputArtifacts": [], "outputArtifacts": [],
            "encryptionKey": null, "continuationToken": token, "sourceRevision": null, "deadline": 0,
        }))
        .unwrap()
    }

    fn stack_event(stack_id: &str, status: &str) -> Option<ServiceChange> {
        service_change(
            "aws.cloudformation",
            "CloudFormation Stack Status Change",
            &[stack_id.to_string()],
            &json!({"stack-id": stack_id, "status-details": {"status": status, "status-reason": ""},
                    "client-request-token": ""}),
        )
    }

    #[test]
    fn a_stack_event_concerns_the_cloudformation_wait_on_that_stack_by_id_or_name() {
        let change = stack_event(STACK, "UPDATE_COMPLETE").unwrap();
        assert_eq!(change.summary, "stack pipewright-app UPDATE_COMPLETE");
        assert!(concerns(&change, &dispatch("CloudFormation", "Deploy", Some(STACK))));
        assert!(
            concerns(&change, &dispatch("CloudFormation", "Deploy", Some("pipewright-app"))),
            "a wait that knows only the stack's name"
        );
        let other = STACK.replace("pipewright-app", "pipewright-other");
        assert!(!concerns(&change, &dispatch("CloudFormation", "Deploy", Some(&other))));
        let replaced = STACK.replace("6a7e8feb", "00000000");
        assert!(
            !concerns(&change, &dispatch("CloudFormation", "Deploy", Some(&replaced))),
            "a stack of the same name, deleted and created again, is another stack"
        );
        assert!(!concerns(&change, &dispatch("StepFunctions", "Invoke", Some(STACK))), "only CloudFormation waits");
        assert!(
            !concerns(&change, &dispatch("CloudFormation", "Deploy", None)),
            "a first job (no wait yet) is not sent early"
        );
    }

    #[test]
    fn ecs_events_name_the_service_in_their_resources() {
        let service = "arn:aws:ecs:us-west-2:111122223333:service/pipewright-prod/web";
        for detail_type in ["ECS Deployment State Change", "ECS Service Action"] {
            let change = service_change(
                "aws.ecs",
                detail_type,
                &[service.to_string()],
                &json!({"eventType": "INFO", "eventName": "SERVICE_DEPLOYMENT_COMPLETED", "deploymentId": "ecs-svc/1"}),
            )
            .unwrap();
            assert!(concerns(&change, &dispatch("ECS", "Deploy", Some(service))));
            assert!(!concerns(&change, &dispatch("ECS", "Deploy", Some(&format!("{service}2")))));
        }
        assert_eq!(service_change("aws.ecs", "ECS Service Action", &[], &json!({})), None, "names no service");
    }

    #[test]
    fn a_codedeploy_event_concerns_both_codedeploy_providers_by_deployment_id() {
        let change = service_change(
            "aws.codedeploy",
            "CodeDeploy Deployment State-change Notification",
            &["arn:aws:codedeploy:us-east-1:111122223333:application:pipewright-app".to_string()],
            &json!({"deploymentId": "d-456EXAMPLE", "state": "SUCCESS", "application": "pipewright-app",
                    "deploymentGroup": "fleet"}),
        )
        .unwrap();
        assert!(concerns(&change, &dispatch("CodeDeploy", "Deploy", Some("d-456EXAMPLE"))));
        assert!(concerns(&change, &dispatch("CodeDeployToECS", "Deploy", Some("d-456EXAMPLE"))));
        assert!(!concerns(&change, &dispatch("CodeDeploy", "Deploy", Some("d-OTHER"))));
    }

    #[test]
    fn a_step_functions_event_concerns_the_execution_it_names() {
        let execution = "arn:aws:states:us-east-1:111122223333:execution:pipewright-flow:release-1";
        let change = service_change(
            "aws.states",
            "Step Functions Execution Status Change",
            &[execution.to_string()],
            &json!({"executionArn": execution, "status": "SUCCEEDED",
                    "stateMachineArn": "arn:aws:states:us-east-1:111122223333:stateMachine:pipewright-flow"}),
        )
        .unwrap();
        assert!(concerns(&change, &dispatch("StepFunctions", "Invoke", Some(execution))));
        assert!(!concerns(&change, &dispatch("StepFunctions", "Invoke", Some("release-1"))));
    }

    #[test]
    fn other_events_concern_nothing() {
        assert_eq!(service_change("aws.s3", "Object Created", &[], &json!({})), None);
        assert_eq!(
            service_change("aws.cloudformation", "CloudFormation Resource Status Change", &[], &json!({})),
            None
        );
        assert_eq!(service_change("aws.codedeploy", CODEDEPLOY_DEPLOYMENT.1, &[], &json!({"state": "SUCCESS"})), None);
        assert_eq!(wait_external_id("not json"), None);
    }
}
