//! The SNS notifier: the approval message exactly as CodePipeline publishes it
//! (docs/reference/codepipeline.md §4), with approve and reject links to the approval-callback
//! function as message attributes.

use aws_sdk_sns::Client;
use aws_sdk_sns::types::MessageAttributeValue;

use pipewright_core::notifications::ApprovalMessage;

#[derive(Clone)]
pub struct SnsNotifier {
    client: Client,
}

/// The links of one approval.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApprovalLinks {
    /// The confirmation page (`approvalReviewLink`).
    pub review: String,
    pub approve: String,
    pub reject: String,
}

impl SnsNotifier {
    pub fn new(client: Client) -> SnsNotifier {
        SnsNotifier { client }
    }

    /// Publishes `message` to `topic_arn`, with the approve and reject links as message
    /// attributes when there are links.
    pub async fn publish(
        &self,
        topic_arn: &str,
        message: &ApprovalMessage,
        links: Option<&ApprovalLinks>,
    ) -> Result<String, String> {
        let attribute = |value: &str| MessageAttributeValue::builder().data_type("String").string_value(value).build();
        let mut request =
            self.client.publish().topic_arn(topic_arn).subject(&message.subject).message(message.body.to_string());
        if let Some(links) = links {
            request = request
                .message_attributes("approveLink", attribute(&links.approve).map_err(|e| e.to_string())?)
                .message_attributes("rejectLink", attribute(&links.reject).map_err(|e| e.to_string())?);
        }
        let output =
            request.send().await.map_err(|e| aws_smithy_types::error::display::DisplayErrorContext(&e).to_string())?;
        Ok(output.message_id().unwrap_or_default().to_string())
    }
}
