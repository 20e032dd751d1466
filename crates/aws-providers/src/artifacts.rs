//! Artifacts for the AWS providers: the S3 artifact store as bytes, the S3 object a service
//! reads an input from (copied into the action region's store for a cross-region action,
//! uploaded from a local run's directory), and the output artifact a provider writes
//! (docs/providers.md §11).

use std::sync::Arc;

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::ServerSideEncryption;
use tokio::io::AsyncWriteExt;

use pipewright_core::engine::{ArtifactLocation, FailureType};
use pipewright_core::ports::ArtifactError;
use pipewright_providers::ActionError;
use pipewright_providers::deploy::{ArtifactBytes, BoxFuture, zip_of};

use crate::Step;
use crate::bucket_regions::BucketClients;
use crate::errors::CallError;

/// The S3 artifact store, as bytes, in whichever region each store's bucket is.
#[derive(Clone)]
pub struct S3ArtifactBytes {
    buckets: Arc<BucketClients>,
}

impl S3ArtifactBytes {
    pub fn new(client: aws_sdk_s3::Client) -> S3ArtifactBytes {
        S3ArtifactBytes { buckets: Arc::new(BucketClients::new(client)) }
    }

    /// GetObject of an artifact; a missing one is `Missing`, any other failure transient.
    async fn get(
        &self,
        location: &ArtifactLocation,
    ) -> Result<aws_sdk_s3::operation::get_object::GetObjectOutput, ArtifactError> {
        let get = |client: aws_sdk_s3::Client| client.get_object().bucket(&location.bucket).key(&location.key).send();
        self.buckets.send(&location.bucket, get).await.map_err(|e| match e.as_service_error() {
            Some(service) if service.is_no_such_key() => {
                ArtifactError::Missing(format!("s3://{}/{}", location.bucket, location.key))
            }
            _ => ArtifactError::Unavailable(CallError::of("GetObject", &e).message),
        })
    }
}

/// How an artifact object is encrypted: with the store's KMS key when it declares one, else
/// SSE-S3. Every write of an artifact (a put, a copy) says so explicitly.
pub(crate) fn encryption(kms_key: Option<&str>) -> (ServerSideEncryption, Option<String>) {
    match kms_key {
        Some(key) => (ServerSideEncryption::AwsKms, Some(key.to_string())),
        None => (ServerSideEncryption::Aes256, None),
    }
}

/// A put of `body`, encrypted as [`encryption`] says.
fn encrypted_put(
    client: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    body: Vec<u8>,
    kms_key: Option<&str>,
) -> aws_sdk_s3::operation::put_object::builders::PutObjectFluentBuilder {
    let (sse, kms_key) = encryption(kms_key);
    client
        .put_object()
        .bucket(bucket)
        .key(key)
        .body(ByteStream::from(body))
        .server_side_encryption(sse)
        .set_ssekms_key_id(kms_key)
}

impl ArtifactBytes for S3ArtifactBytes {
    fn read<'a>(&'a self, location: &'a ArtifactLocation) -> BoxFuture<'a, Result<Vec<u8>, ArtifactError>> {
        Box::pin(async move {
            let output = self.get(location).await?;
            let bytes = output.body.collect().await.map_err(|e| ArtifactError::Unavailable(e.to_string()))?;
            Ok(bytes.into_bytes().to_vec())
        })
    }

    fn write<'a>(
        &'a self,
        location: &'a ArtifactLocation,
        zip: Vec<u8>,
        kms_key: Option<&'a str>,
    ) -> BoxFuture<'a, Result<(), ArtifactError>> {
        Box::pin(async move {
            let put = |client: aws_sdk_s3::Client| {
                encrypted_put(&client, &location.bucket, &location.key, zip.clone(), kms_key).send()
            };
            self.buckets
                .send(&location.bucket, put)
                .await
                .map_err(|e| ArtifactError::Unavailable(CallError::of("PutObject", &e).message))?;
            Ok(())
        })
    }

    fn in_s3(&self) -> bool {
        true
    }

    /// Streams the object into `file`, in the SDK's chunks.
    fn to_file<'a>(
        &'a self,
        location: &'a ArtifactLocation,
        file: &'a std::path::Path,
    ) -> BoxFuture<'a, Result<(), ArtifactError>> {
        Box::pin(async move {
            let output = self.get(location).await?;
            let unavailable = |e: std::io::Error| ArtifactError::Unavailable(e.to_string());
            let mut body = output.body;
            let mut out = tokio::fs::File::create(file).await.map_err(unavailable)?;
            while let Some(chunk) = body.next().await {
                let chunk = chunk.map_err(|e| ArtifactError::Unavailable(e.to_string()))?;
                out.write_all(&chunk).await.map_err(unavailable)?;
            }
            out.flush().await.map_err(unavailable)
        })
    }
}

fn unavailable(message: String) -> ActionError {
    ActionError { kind: FailureType::SystemUnavailable, message }
}

/// Why the S3 object of an input could not be had.
#[derive(Debug)]
pub enum InputError {
    /// A call to S3 that failed, with what it was for: whether another try may pass is the
    /// call's to say, and a build's start, which holds no claim, tries again on that.
    Call { doing: String, error: CallError },
    /// Anything else: the action's configuration, a local run's file.
    Action(ActionError),
}

impl InputError {
    /// The failed call, its message saying what it was for.
    pub fn call(doing: String, error: CallError) -> InputError {
        InputError::Call { doing, error }
    }
}

/// A deploy provider's failure: a failed call fails the action as the system's, as before a
/// build's start told calls apart.
impl From<InputError> for ActionError {
    fn from(error: InputError) -> ActionError {
        match error {
            InputError::Call { doing, error } => unavailable(format!("{doing}: {error}")),
            InputError::Action(error) => error,
        }
    }
}

/// The S3 object a service in the action's region reads input artifact `name` from: the
/// artifact itself when it is in S3 in the right store; otherwise a copy at the same key in
/// the action region's store (a cross-region action) or the pipeline's bucket (a local run).
pub async fn s3_object(step: &Step<'_>, name: &str) -> Result<(String, String), InputError> {
    let dispatch = &step.job.dispatch;
    let location = dispatch.input_artifacts.iter().find(|a| a.name == name).map(|a| &a.location).ok_or_else(|| {
        InputError::Action(pipewright_providers::deploy::configuration_error(format!(
            "{name} is not an input of this action"
        )))
    })?;
    let bucket = step.job.regional_store.clone().unwrap_or_else(|| location.bucket.clone());
    let kms = dispatch.encryption_key.as_ref().map(|k| k.id.as_str());
    if step.artifacts.in_s3() {
        if bucket != location.bucket {
            let to = ArtifactLocation { bucket: bucket.clone(), key: location.key.clone() };
            server_side_copy(&step.regional.s3, location, &to, kms).await.map_err(|e| {
                InputError::call(format!("cannot copy input artifact {name} to s3://{bucket}/{}", location.key), e)
            })?;
            step.say(&format!("input artifact {name} copied to s3://{bucket}/{}", location.key));
        }
        return Ok((bucket, location.key.clone()));
    }
    let bytes = step
        .artifacts
        .read(location)
        .await
        .map_err(|e| InputError::Action(unavailable(format!("cannot read input artifact {name}: {e}"))))?;
    encrypted_put(&step.regional.s3, &bucket, &location.key, bytes, kms).send().await.map_err(|e| {
        InputError::call(
            format!(
                "cannot put input artifact {name} where {} reads it, s3://{bucket}/{}",
                step.clients.region, location.key
            ),
            CallError::of("PutObject", &e),
        )
    })?;
    step.say(&format!("input artifact {name} copied to s3://{bucket}/{}", location.key));
    Ok((bucket, location.key.clone()))
}

/// An object copied by S3 itself (`client` is the destination region's): no byte of it
/// passes through the function, whatever its size (CopyObject takes up to 5 GB, above
/// CodePipeline's artifact limits), so the jobs that copy run in the function with little
/// memory. Encrypted with the store's KMS key when one is given.
pub(crate) async fn server_side_copy(
    client: &aws_sdk_s3::Client,
    from: &ArtifactLocation,
    to: &ArtifactLocation,
    kms_key: Option<&str>,
) -> Result<(), CallError> {
    let (sse, kms_key) = encryption(kms_key);
    client
        .copy_object()
        .copy_source(pipewright_core::s3_copy::copy_source(&from.bucket, &from.key, None))
        .bucket(&to.bucket)
        .key(&to.key)
        .server_side_encryption(sse)
        .set_ssekms_key_id(kms_key)
        .send()
        .await
        .map_err(|e| CallError::of("CopyObject", &e))?;
    Ok(())
}

/// Writes the action's output artifact: a zip of `files` (name, content).
pub async fn write_output(step: &Step<'_>, files: &[(String, String)]) -> Result<(), ActionError> {
    let dispatch = &step.job.dispatch;
    let Some(output) = dispatch.output_artifacts.first() else { return Ok(()) };
    let zip = zip_of(files).map_err(unavailable)?;
    let kms = dispatch.encryption_key.as_ref().map(|k| k.id.as_str());
    step.artifacts
        .write(&output.location, zip, kms)
        .await
        .map_err(|e| unavailable(format!("cannot write output artifact {}: {e}", output.name)))
}
