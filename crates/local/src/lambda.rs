//! Lambda invoke actions on this machine: the `CodePipeline.job` event goes to the Lambda
//! Invoke API that `cargo lambda watch` serves (`--lambda-endpoint`), and the function
//! reports its result through the job protocol of `pipewright serve`, as on AWS.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;

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
    match post(&url, event.to_string()).await {
        Ok((status, _)) if (200..300).contains(&status) => Outcome::HandedOff,
        Ok((status, body)) => failed(
            FailureType::JobFailed,
            format!(
                "function {function} failed (HTTP {status} from {endpoint}): {}",
                body.chars().take(500).collect::<String>()
            ),
        ),
        Err(error) => failed(
            FailureType::SystemUnavailable,
            format!("cannot invoke {function} at {endpoint} (is `cargo lambda watch` running?): {error}"),
        ),
    }
}

/// One POST over HTTP/1.1 to an `http://host:port/…` URL: (status, body).
async fn post(url: &str, body: String) -> Result<(u16, String), String> {
    let uri: hyper::Uri = url.parse().map_err(|e| format!("{url}: {e}"))?;
    let host = uri.host().ok_or_else(|| format!("{url} has no host"))?.to_string();
    let port = uri.port_u16().unwrap_or(80);
    let stream = tokio::net::TcpStream::connect((host.as_str(), port)).await.map_err(|e| e.to_string())?;
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.map_err(|e| e.to_string())?;
    tokio::spawn(connection);
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    let request = hyper::Request::builder()
        .method("POST")
        .uri(path)
        .header("host", format!("{host}:{port}"))
        .header("content-type", "application/json")
        .header("x-amz-invocation-type", "Event")
        .body(Full::new(Bytes::from(body)))
        .map_err(|e| e.to_string())?;
    let response = sender.send_request(request).await.map_err(|e| e.to_string())?;
    let status = response.status().as_u16();
    let bytes = response.into_body().collect().await.map_err(|e| e.to_string())?.to_bytes();
    Ok((status, String::from_utf8_lossy(&bytes).into_owned()))
}
