//! Lambda invoke actions on this machine: the `CodePipeline.job` event goes to the Lambda
//! Invoke API that `cargo lambda watch` serves (`--lambda-endpoint`), and the function
//! reports its result through the job protocol of `pipewright serve`, as on AWS.

use pipewright_core::engine::{Dispatch, FailureType};
use pipewright_core::jobs::lambda_job_event;
use pipewright_providers::{ActionError, Outcome};

/// The account id local jobs carry.
pub const LOCAL_ACCOUNT: &str = "000000000000";

fn failed(kind: FailureType, message: String) -> Outcome {
    Outcome::Failed(ActionError { kind, message })
}

/// Invokes the action's function with its job. cargo-lambda runs the function before it
/// answers (it ignores the Event invocation type) and answers 500 for a function error,
/// which fails the action at once rather than after CodePipeline's 20-minute wait; a result
/// the function reported first wins, as this one is then stale.
pub async fn invoke(dispatch: &Dispatch, endpoint: Option<&str>) -> Outcome {
    let Some(endpoint) = endpoint else {
        return failed(
            FailureType::ConfigurationError,
            "Lambda invoke actions run here against `cargo lambda watch`: start it, then pass --lambda-endpoint http://127.0.0.1:9000 (or set AWS_ENDPOINT_URL_LAMBDA), with the function's AWS_ENDPOINT_URL_CODEPIPELINE pointing at `pipewright serve`".to_string(),
        );
    };
    let Some(function) = dispatch.configuration.get("FunctionName") else {
        return failed(FailureType::ConfigurationError, "the action has no FunctionName".to_string());
    };
    let event = lambda_job_event(dispatch, LOCAL_ACCOUNT);
    let url = format!("{}/2015-03-31/functions/{function}/invocations", endpoint.trim_end_matches('/'));
    let request = pipewright_http::Request::new("POST", &url)
        .header("content-type", "application/json")
        .header("x-amz-invocation-type", "Event")
        .body(event.to_string());
    match pipewright_http::send(request).await {
        Ok(response) if response.is_success() => Outcome::HandedOff,
        Ok(response) => failed(
            FailureType::JobFailed,
            format!(
                "function {function} failed (HTTP {} from {endpoint}): {}",
                response.status,
                response.text().chars().take(500).collect::<String>()
            ),
        ),
        Err(error) => failed(
            FailureType::SystemUnavailable,
            format!("cannot invoke {function} at {endpoint} (is `cargo lambda watch` running?): {error}"),
        ),
    }
}
