//! The manual-approval notification, as CodePipeline publishes it to SNS
//! (docs/reference/codepipeline.md §4), so that existing subscribers (mail rules, chat bots) read
//! Pipewright's unchanged.

use serde_json::{Value, json};

use crate::engine::ApprovalRequest;

/// An SNS subject is at most 100 characters.
const MAX_SUBJECT: usize = 100;

#[derive(Debug, Clone, PartialEq)]
pub struct ApprovalMessage {
    /// `APPROVAL NEEDED: AWS CodePipeline <pipeline> for action <action>`.
    pub subject: String,
    /// The JSON body of docs/reference/codepipeline.md §4.
    pub body: Value,
}

/// The message for `request`. The links are where the adapter serves the pipeline view and
/// the approve/reject page.
pub fn approval_message(
    request: &ApprovalRequest,
    region: &str,
    console_link: &str,
    review_link: &str,
) -> ApprovalMessage {
    let body = json!({
        "region": region,
        "consoleLink": console_link,
        "approval": {
            "pipelineName": request.pipeline,
            "stageName": request.stage,
            "actionName": request.action,
            "token": request.token,
            "expires": request.expires.to_rfc3339_minutes(),
            "externalEntityLink": request.external_entity_link,
            "approvalReviewLink": review_link,
            "customData": request.custom_data,
        }
    });
    ApprovalMessage { subject: subject(&request.pipeline, &request.action), body }
}

fn subject(pipeline: &str, action: &str) -> String {
    let fixed = format!("APPROVAL NEEDED: AWS CodePipeline  for action {action}");
    let room = MAX_SUBJECT.saturating_sub(fixed.chars().count());
    let name = if pipeline.chars().count() <= room {
        pipeline.to_string()
    } else {
        let kept: String = pipeline.chars().take(room.saturating_sub(3)).collect();
        format!("{kept}...")
    };
    let subject = format!("APPROVAL NEEDED: AWS CodePipeline {name} for action {action}");
    subject.chars().take(MAX_SUBJECT).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::Timestamp;

    fn request(pipeline: &str) -> ApprovalRequest {
        ApprovalRequest {
            id: "approval/e/Gate/Approve/1".into(),
            pipeline: pipeline.into(),
            execution_id: "e".into(),
            stage: "Gate".into(),
            action: "Approve".into(),
            attempt: 1,
            action_execution_id: "a".into(),
            token: "1a2b3c4d-573f-4ea7-a67e-000000000000".into(),
            // 2022-08-30T11:09:30Z
            expires: Timestamp::from_millis(1_661_857_770_000),
            notification_arn: Some("arn:aws:sns:us-east-2:111122223333:approvals".into()),
            custom_data: Some("Review it".into()),
            external_entity_link: None,
        }
    }

    #[test]
    fn the_body_has_codepipeline_s_shape() {
        let message =
            approval_message(&request("MyFirstPipeline"), "us-east-2", "https://console/x", "https://review/y");
        assert_eq!(message.subject, "APPROVAL NEEDED: AWS CodePipeline MyFirstPipeline for action Approve");
        assert_eq!(
            message.body,
            json!({
                "region": "us-east-2",
                "consoleLink": "https://console/x",
                "approval": {
                    "pipelineName": "MyFirstPipeline", "stageName": "Gate", "actionName": "Approve",
                    "token": "1a2b3c4d-573f-4ea7-a67e-000000000000", "expires": "2022-08-30T11:09Z",
                    "externalEntityLink": null, "approvalReviewLink": "https://review/y", "customData": "Review it"
                }
            })
        );
    }

    #[test]
    fn a_long_pipeline_name_is_truncated_in_the_subject() {
        let message = approval_message(&request(&"p".repeat(100)), "r", "c", "l");
        assert!(message.subject.chars().count() <= MAX_SUBJECT);
        assert!(
            message.subject.contains("...") && message.subject.ends_with("for action Approve"),
            "{}",
            message.subject
        );
    }
}
