//! An example job worker for a Lambda invoke action, written as for AWS CodePipeline: it
//! takes the `CodePipeline.job` event, reads its first input artifact from S3, writes a
//! report into its first output artifact, and reports with PutJobSuccessResult (output
//! variables `FileCount` and `Message`) or PutJobFailureResult.
//!
//! `UserParameters` is JSON: `{"message": "…", "steps": N}`. With `steps` above 1 the job is
//! done in N invocations: each but the last answers with a continuation token
//! (`step-<k>`), and CodePipeline invokes the function again with it.
//!
//! It reads and writes artifacts with the job's `artifactCredentials`, not its own role.
//! Nothing in it is Pipewright's: against Pipewright, `AWS_ENDPOINT_URL_CODEPIPELINE` and
//! `AWS_ENDPOINT_URL_S3` point at the Pipewright API (`pipewright serve` locally).

use std::io::{Cursor, Read, Write};

use aws_lambda_events::event::codepipeline_job::{CodePipelineArtifactCredentials, CodePipelineJobEvent};
use aws_sdk_codepipeline::types::{ExecutionDetails, FailureDetails, FailureType};
use aws_sdk_s3::config::{Credentials, RequestChecksumCalculation};
use aws_sdk_s3::primitives::ByteStream;
use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::Value;

struct Clients {
    /// The S3 settings; each job's client signs with the job's own `artifactCredentials`.
    s3: aws_sdk_s3::Config,
    codepipeline: aws_sdk_codepipeline::Client,
}

/// An S3 client with the job's `artifactCredentials`, as CodePipeline's job workers read and
/// write artifacts: the credentials reach exactly this job's input and output artifacts.
fn artifact_client(
    clients: &Clients,
    credentials: &CodePipelineArtifactCredentials,
) -> Result<aws_sdk_s3::Client, String> {
    let (Some(key), Some(secret)) = (&credentials.access_key_id, &credentials.secret_access_key) else {
        return Err("the job carries no artifactCredentials".to_string());
    };
    let credentials = Credentials::new(key, secret, credentials.session_token.clone(), None, "artifactCredentials");
    Ok(aws_sdk_s3::Client::from_conf(clients.s3.to_builder().credentials_provider(credentials).build()))
}

/// What the job asks for, from `UserParameters`.
struct Parameters {
    message: String,
    steps: u32,
}

fn parameters(text: Option<&str>) -> Result<Parameters, String> {
    let Some(text) = text.filter(|t| !t.trim().is_empty()) else {
        return Ok(Parameters { message: String::new(), steps: 1 });
    };
    let value: Value = serde_json::from_str(text).map_err(|e| format!("UserParameters is not JSON: {e}"))?;
    Ok(Parameters {
        message: value["message"].as_str().unwrap_or_default().to_string(),
        steps: value["steps"].as_u64().map_or(1, |n| n.clamp(1, 100) as u32),
    })
}

/// The step a continuation token names (`step-<k>`): the number of steps done so far.
fn steps_done(token: Option<&str>) -> u32 {
    token.and_then(|t| t.strip_prefix("step-")).and_then(|k| k.parse().ok()).unwrap_or(0)
}

/// The file names in a zip.
fn zip_entries(bytes: Vec<u8>) -> Result<Vec<String>, String> {
    let mut archive = zip::ZipArchive::new(Cursor::new(bytes)).map_err(|e| format!("the input is not a zip: {e}"))?;
    let mut names = Vec::new();
    for i in 0..archive.len() {
        let mut file = archive.by_index(i).map_err(|e| e.to_string())?;
        if file.is_file() {
            let mut sink = Vec::new();
            file.read_to_end(&mut sink).map_err(|e| e.to_string())?;
            names.push(file.name().map_err(|e| e.to_string())?.to_string());
        }
    }
    Ok(names)
}

fn report_zip(report: &str) -> Result<Vec<u8>, String> {
    let mut writer = zip::ZipWriter::new(Cursor::new(Vec::new()));
    writer.start_file("report.txt", zip::write::SimpleFileOptions::default()).map_err(|e| e.to_string())?;
    writer.write_all(report.as_bytes()).map_err(|e| e.to_string())?;
    Ok(writer.finish().map_err(|e| e.to_string())?.into_inner())
}

/// Does the job's work; `Ok(Some(token))` asks for another invocation.
async fn work(
    clients: &Clients,
    event: &CodePipelineJobEvent,
) -> Result<(Option<String>, Vec<(String, String)>, String), String> {
    let data = &event.code_pipeline_job.data;
    let parameters = parameters(data.action_configuration.configuration.user_parameters.as_deref())?;
    let done = steps_done(data.continuation_token.as_deref()) + 1;
    if done < parameters.steps {
        return Ok((Some(format!("step-{done}")), Vec::new(), format!("step {done} of {}", parameters.steps)));
    }
    let s3 = artifact_client(clients, &data.artifact_credentials)?;
    let input = data.input_artifacts.first().ok_or("the action has no input artifact")?;
    let bucket = input.location.s3_location.bucket_name.as_deref().ok_or("the input artifact has no bucket")?;
    let key = input.location.s3_location.object_key.as_deref().ok_or("the input artifact has no key")?;
    let object = s3
        .get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .map_err(|e| format!("cannot read s3://{bucket}/{key}: {}", aws_sdk_s3::error::DisplayErrorContext(&e)))?;
    let bytes = object.body.collect().await.map_err(|e| e.to_string())?.into_bytes().to_vec();
    let files = zip_entries(bytes)?;
    let report = format!("files: {}\nmessage: {}\nsteps: {}\n", files.len(), parameters.message, parameters.steps);
    if let Some(output) = data.out_put_artifacts.first() {
        let bucket = output.location.s3_location.bucket_name.as_deref().ok_or("the output artifact has no bucket")?;
        let key = output.location.s3_location.object_key.as_deref().ok_or("the output artifact has no key")?;
        s3.put_object()
            .bucket(bucket)
            .key(key)
            .body(ByteStream::from(report_zip(&report)?))
            .send()
            .await
            .map_err(|e| format!("cannot write s3://{bucket}/{key}: {}", aws_sdk_s3::error::DisplayErrorContext(&e)))?;
    }
    let variables = vec![
        ("FileCount".to_string(), files.len().to_string()),
        ("Message".to_string(), parameters.message.clone()),
        ("Steps".to_string(), parameters.steps.to_string()),
    ];
    Ok((None, variables, format!("counted {} files", files.len())))
}

async fn handle(clients: &Clients, event: LambdaEvent<CodePipelineJobEvent>) -> Result<Value, Error> {
    let job_id = event.payload.code_pipeline_job.id.clone().ok_or("the event has no job id")?;
    match work(clients, &event.payload).await {
        Ok((continuation, variables, summary)) => {
            let mut request = clients
                .codepipeline
                .put_job_success_result()
                .job_id(&job_id)
                .execution_details(ExecutionDetails::builder().summary(&summary).build())
                .set_continuation_token(continuation.clone());
            for (name, value) in variables {
                request = request.output_variables(name, value);
            }
            request.send().await.map_err(|e| aws_sdk_codepipeline::error::DisplayErrorContext(&e).to_string())?;
            Ok(serde_json::json!({ "job": job_id, "summary": summary, "continuation": continuation }))
        }
        Err(message) => {
            clients
                .codepipeline
                .put_job_failure_result()
                .job_id(&job_id)
                .failure_details(FailureDetails::builder().r#type(FailureType::JobFailed).message(&message).build()?)
                .send()
                .await
                .map_err(|e| aws_sdk_codepipeline::error::DisplayErrorContext(&e).to_string())?;
            Ok(serde_json::json!({ "job": job_id, "failed": message }))
        }
    }
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let custom_s3 = std::env::var_os("AWS_ENDPOINT_URL_S3").is_some() || std::env::var_os("AWS_ENDPOINT_URL").is_some();
    let s3 = aws_sdk_s3::config::Builder::from(&sdk)
        // S3 stand-ins serve buckets by path and take sized uploads.
        .force_path_style(custom_s3)
        .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
        .build();
    let clients = &Clients { s3, codepipeline: aws_sdk_codepipeline::Client::new(&sdk) };
    lambda_runtime::run(service_fn(move |event| handle(clients, event))).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_and_continuation_tokens() {
        let p = parameters(Some(r#"{"message": "hi", "steps": 3}"#)).unwrap();
        assert_eq!((p.message.as_str(), p.steps), ("hi", 3));
        assert_eq!(parameters(None).unwrap().steps, 1);
        assert!(parameters(Some("not json")).is_err());
        assert_eq!(steps_done(None), 0);
        assert_eq!(steps_done(Some("step-2")), 2);
    }

    #[test]
    fn the_report_is_a_zip_with_one_file() {
        let zip = report_zip("files: 1\n").unwrap();
        assert_eq!(zip_entries(zip).unwrap(), ["report.txt"]);
    }
}
