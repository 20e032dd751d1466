//! The job a Lambda invoke action sends (docs/reference/codepipeline.md §5):
//! `{"CodePipeline.job": {…}}`, the `JobDetails` of GetJobDetails less `actionTypeId` and
//! `pipelineContext`.

use serde_json::{Value, json};

use crate::artifact_access::ArtifactCredentials;
use crate::engine::{ArtifactRef, Dispatch, OutputArtifactRef};

fn artifact(name: &str, bucket: &str, key: &str) -> Value {
    json!({
        "name": name,
        "revision": null,
        "location": {"type": "S3", "s3Location": {"bucketName": bucket, "objectKey": key}}
    })
}

fn inputs(refs: &[ArtifactRef]) -> Vec<Value> {
    refs.iter().map(|a| artifact(&a.name, &a.location.bucket, &a.location.key)).collect()
}

fn outputs(refs: &[OutputArtifactRef]) -> Vec<Value> {
    refs.iter().map(|a| artifact(&a.name, &a.location.bucket, &a.location.key)).collect()
}

/// The event a Lambda function receives for `dispatch`, with the `credentials` that reach
/// its artifacts (`crate::artifact_access`).
pub fn lambda_job_event(dispatch: &Dispatch, account: &str, credentials: &ArtifactCredentials) -> Value {
    let mut data = json!({
        "actionConfiguration": {"configuration": dispatch.configuration},
        "inputArtifacts": inputs(&dispatch.input_artifacts),
        "outputArtifacts": outputs(&dispatch.output_artifacts),
        "artifactCredentials": credentials,
    });
    if let Some(token) = &dispatch.continuation_token {
        data["continuationToken"] = json!(token);
    }
    if let Some(key) = &dispatch.encryption_key {
        data["encryptionKey"] = json!({"id": key.id, "type": key.key_type.as_str()});
    }
    json!({"CodePipeline.job": {"id": dispatch.job_id, "accountId": account, "data": data}})
}
