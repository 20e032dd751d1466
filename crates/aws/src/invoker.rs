//! The Lambda invoke action: an asynchronous Invoke (InvocationType Event) with the
//! `CodePipeline.job` payload. The function reports through PutJobSuccessResult or
//! PutJobFailureResult (the job-result path), not through this call.

use aws_sdk_lambda::Client;
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::InvocationType;

use pipewright_core::artifact_access::ArtifactCredentials;
use pipewright_core::engine::Dispatch;
use pipewright_core::jobs::lambda_job_event;

#[derive(Clone)]
pub struct LambdaInvoker {
    client: Client,
}

impl LambdaInvoker {
    pub fn new(client: Client) -> LambdaInvoker {
        LambdaInvoker { client }
    }

    /// Sends the job, with its `credentials`, to `FunctionName`; the status code Lambda
    /// answered with.
    pub async fn invoke(
        &self,
        dispatch: &Dispatch,
        account: &str,
        credentials: &ArtifactCredentials,
    ) -> Result<i32, String> {
        let function = dispatch.configuration.get("FunctionName").ok_or("FunctionName is not set")?;
        let payload = lambda_job_event(dispatch, account, credentials).to_string();
        let output = self
            .client
            .invoke()
            .function_name(function)
            .invocation_type(InvocationType::Event)
            .payload(Blob::new(payload.into_bytes()))
            .send()
            .await
            .map_err(|e| aws_smithy_types::error::display::DisplayErrorContext(&e).to_string())?;
        if let Some(error) = output.function_error() {
            return Err(format!("the function reported {error}"));
        }
        Ok(output.status_code())
    }
}
