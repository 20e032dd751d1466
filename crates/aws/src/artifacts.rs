//! The S3 artifact store: zip objects at `<pipeline>/<artifact≤10>/<id>` in the pipeline's
//! artifact bucket, which must be versioned (CodePipeline requires it). Also the two S3
//! providers: the S3 source (a copy of the object version) and the S3 deploy.

use std::collections::HashSet;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use aws_sdk_s3::Client;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{BucketVersioningStatus, ObjectCannedAcl, ServerSideEncryption};

use pipewright_core::engine::ArtifactLocation;
use pipewright_core::ports::{ArtifactError, ArtifactStore};
use pipewright_providers::artifacts::{unzip, zip_directory};

fn unavailable(error: impl std::fmt::Display) -> ArtifactError {
    ArtifactError::Unavailable(error.to_string())
}

fn describe<E: std::error::Error + 'static, R: std::fmt::Debug>(error: &aws_sdk_s3::error::SdkError<E, R>) -> String {
    aws_smithy_types::error::display::DisplayErrorContext(error).to_string()
}

pub struct S3Artifacts {
    client: Client,
    /// Buckets already seen versioned (checked once per function instance).
    versioned: Mutex<HashSet<String>>,
}

/// The object an S3 source fetched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopiedSource {
    pub etag: String,
    pub version_id: Option<String>,
}

impl S3Artifacts {
    pub fn new(client: Client) -> S3Artifacts {
        S3Artifacts { client, versioned: Mutex::new(HashSet::new()) }
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Refuses a bucket without versioning: CodePipeline keeps every artifact version.
    pub async fn require_versioning(&self, bucket: &str) -> Result<(), ArtifactError> {
        if self.versioned.lock().is_ok_and(|seen| seen.contains(bucket)) {
            return Ok(());
        }
        let output = self.client.get_bucket_versioning().bucket(bucket).send().await.map_err(|e| {
            let message = format!("cannot read the versioning of artifact bucket {bucket}: {}", describe(&e));
            // The bucket's own answer (no such bucket, access denied) is final; a network error is not.
            match e {
                aws_sdk_s3::error::SdkError::ServiceError(_) => ArtifactError::Refused(message),
                _ => ArtifactError::Unavailable(message),
            }
        })?;
        if output.status() != Some(&BucketVersioningStatus::Enabled) {
            return Err(ArtifactError::Refused(format!(
                "artifact bucket {bucket} is not versioned; CodePipeline (and Pipewright) require versioning on the artifact store"
            )));
        }
        if let Ok(mut seen) = self.versioned.lock() {
            seen.insert(bucket.to_string());
        }
        Ok(())
    }

    async fn download(&self, location: &ArtifactLocation) -> Result<Vec<u8>, ArtifactError> {
        let output =
            self.client.get_object().bucket(&location.bucket).key(&location.key).send().await.map_err(|e| {
                match e.as_service_error() {
                    Some(service) if service.is_no_such_key() => {
                        ArtifactError::Missing(format!("s3://{}/{}", location.bucket, location.key))
                    }
                    _ => unavailable(describe(&e)),
                }
            })?;
        let bytes = output.body.collect().await.map_err(unavailable)?;
        Ok(bytes.into_bytes().to_vec())
    }

    async fn upload(&self, location: &ArtifactLocation, body: Vec<u8>) -> Result<(), ArtifactError> {
        self.client
            .put_object()
            .bucket(&location.bucket)
            .key(&location.key)
            .body(ByteStream::from(body))
            .server_side_encryption(ServerSideEncryption::Aes256)
            .send()
            .await
            .map_err(|e| unavailable(describe(&e)))?;
        Ok(())
    }

    /// The S3 source: copies `s3://bucket/key` (the given version, or the latest) to the
    /// artifact location.
    pub async fn copy_source(
        &self,
        bucket: &str,
        key: &str,
        version_id: Option<&str>,
        target: &ArtifactLocation,
    ) -> Result<CopiedSource, ArtifactError> {
        let mut request = self.client.get_object().bucket(bucket).key(key);
        if let Some(version) = version_id {
            request = request.version_id(version);
        }
        let output = request.send().await.map_err(|e| match e.as_service_error() {
            Some(service) if service.is_no_such_key() => ArtifactError::Missing(format!("s3://{bucket}/{key}")),
            _ => unavailable(describe(&e)),
        })?;
        let etag = output.e_tag().unwrap_or_default().trim_matches('"').to_string();
        let version_id = output.version_id().map(String::from);
        let body = output.body.collect().await.map_err(unavailable)?.into_bytes().to_vec();
        self.upload(target, body).await?;
        Ok(CopiedSource { etag, version_id })
    }

    /// The S3 deploy action: the input artifact unzipped into `bucket` (under `object_key` as
    /// a prefix, when given), or the zip itself at `object_key`.
    pub async fn deploy(&self, input: &ArtifactLocation, target: &DeployTarget) -> Result<usize, ArtifactError> {
        let zip = self.download(input).await?;
        if !target.extract {
            let key = target
                .object_key
                .clone()
                .ok_or_else(|| ArtifactError::BadLocation("ObjectKey is required when Extract is false".into()))?;
            self.put_deployed(target, &key, zip, None).await?;
            return Ok(1);
        }
        let mut archive = zip::ZipArchive::new(std::io::Cursor::new(zip)).map_err(unavailable)?;
        let mut count = 0;
        for index in 0..archive.len() {
            let mut file = archive.by_index(index).map_err(unavailable)?;
            if file.is_dir() {
                continue;
            }
            // Names come from the artifact; a path leaving the prefix is refused.
            let Some(name) = file.enclosed_name() else {
                return Err(ArtifactError::BadLocation(format!("the artifact holds an unsafe path {:?}", file.name())));
            };
            let relative = name.to_string_lossy().replace('\\', "/");
            let mut content = Vec::new();
            file.read_to_end(&mut content).map_err(unavailable)?;
            let key = match &target.object_key {
                Some(prefix) if !prefix.is_empty() => format!("{}/{relative}", prefix.trim_end_matches('/')),
                _ => relative.clone(),
            };
            self.put_deployed(target, &key, content, content_type(&relative)).await?;
            count += 1;
        }
        Ok(count)
    }

    async fn put_deployed(
        &self,
        target: &DeployTarget,
        key: &str,
        body: Vec<u8>,
        content_type: Option<&str>,
    ) -> Result<(), ArtifactError> {
        let mut request = self.client.put_object().bucket(&target.bucket).key(key).body(ByteStream::from(body));
        if let Some(cache_control) = &target.cache_control {
            request = request.cache_control(cache_control);
        }
        if let Some(acl) = &target.canned_acl {
            request = request.acl(ObjectCannedAcl::from(acl.as_str()));
        }
        if let Some(kms) = &target.kms_key {
            request = request.server_side_encryption(ServerSideEncryption::AwsKms).ssekms_key_id(kms);
        }
        if let Some(content_type) = content_type {
            request = request.content_type(content_type);
        }
        request.send().await.map_err(|e| unavailable(describe(&e)))?;
        Ok(())
    }
}

/// Where and how an S3 deploy action writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeployTarget {
    pub bucket: String,
    pub extract: bool,
    pub object_key: Option<String>,
    pub cache_control: Option<String>,
    pub canned_acl: Option<String>,
    pub kms_key: Option<String>,
}

/// The content type of a deployed file, by extension.
fn content_type(name: &str) -> Option<&'static str> {
    let extension = name.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase())?;
    Some(match extension.as_str() {
        "html" | "htm" => "text/html",
        "css" => "text/css",
        "js" | "mjs" => "text/javascript",
        "json" => "application/json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "txt" => "text/plain",
        "xml" => "application/xml",
        "wasm" => "application/wasm",
        _ => return None,
    })
}

/// Runs file work off the async runtime's threads.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, ArtifactError> + Send + 'static,
) -> Result<T, ArtifactError> {
    tokio::task::spawn_blocking(work).await.map_err(unavailable)?
}

fn scratch_file() -> Result<PathBuf, ArtifactError> {
    let dir = std::env::temp_dir().join("pipewright-artifacts");
    std::fs::create_dir_all(&dir).map_err(unavailable)?;
    Ok(dir.join(format!(
        "{}.zip",
        pipewright_core::ids::uuid_from(&[
            &format!("{:?}", std::time::SystemTime::now()),
            &std::process::id().to_string()
        ])
    )))
}

impl ArtifactStore for S3Artifacts {
    async fn unpack(&self, location: &ArtifactLocation, directory: &Path) -> Result<(), ArtifactError> {
        let zip = self.download(location).await?;
        let file = scratch_file()?;
        let directory = directory.to_path_buf();
        blocking(move || {
            std::fs::write(&file, zip).map_err(unavailable)?;
            let result = unzip(&file, &directory).map_err(ArtifactError::from);
            let _ = std::fs::remove_file(&file);
            result
        })
        .await
    }

    async fn pack(
        &self,
        location: &ArtifactLocation,
        directory: &Path,
        patterns: &[String],
        exclude: &[PathBuf],
    ) -> Result<usize, ArtifactError> {
        let file = scratch_file()?;
        let (directory, patterns, exclude, zip_path) =
            (directory.to_path_buf(), patterns.to_vec(), exclude.to_vec(), file.clone());
        let count = blocking(move || Ok(zip_directory(&directory, &patterns, &exclude, &zip_path)?)).await?;
        let body = std::fs::read(&file).map_err(unavailable)?;
        let _ = std::fs::remove_file(&file);
        self.upload(location, body).await?;
        Ok(count)
    }

    async fn put_zip(&self, location: &ArtifactLocation, zip: &Path) -> Result<(), ArtifactError> {
        let body = std::fs::read(zip).map_err(unavailable)?;
        self.upload(location, body).await
    }
}
