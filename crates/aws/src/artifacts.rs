//! The S3 artifact store: zip objects at `<pipeline>/<artifact≤10>/<id>` in the pipeline's
//! artifact bucket, which must be versioned (CodePipeline requires it). Also the S3 source (a
//! copy of the object version that S3 makes itself; the S3 deploy is `pipewright_aws_providers::s3_deploy`). Objects stream
//! between S3 and scratch files, removed after use: an artifact is never held whole in
//! memory, whatever its size, and nothing of it stays in a warm function's `/tmp`.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use aws_sdk_s3::Client;
use aws_sdk_s3::error::SdkError;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{BucketVersioningStatus, ServerSideEncryption, TaggingDirective};
use tokio::io::AsyncWriteExt;

use pipewright_aws_providers::bucket_regions::BucketClients;
use pipewright_core::engine::ArtifactLocation;
use pipewright_core::ports::{ArtifactError, ArtifactStore};
use pipewright_core::s3_copy;
use pipewright_core::unpacked::Unpacked;
use pipewright_providers::artifacts::{unpacked, unzip, zip_directory, zip_files};

fn unavailable(error: impl std::fmt::Display) -> ArtifactError {
    ArtifactError::Unavailable(error.to_string())
}

fn describe<E: std::error::Error + 'static, R: std::fmt::Debug>(error: &aws_sdk_s3::error::SdkError<E, R>) -> String {
    aws_smithy_types::error::display::DisplayErrorContext(error).to_string()
}

pub struct S3Artifacts {
    /// The home client, and those of the stores S3 said are in another region.
    buckets: BucketClients,
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
        S3Artifacts { buckets: BucketClients::new(client), versioned: Mutex::new(HashSet::new()) }
    }

    /// The client of the stack's own region.
    pub fn client(&self) -> &Client {
        self.buckets.home()
    }

    /// Refuses a bucket without versioning: CodePipeline keeps every artifact version.
    pub async fn require_versioning(&self, bucket: &str) -> Result<(), ArtifactError> {
        if self.versioned.lock().is_ok_and(|seen| seen.contains(bucket)) {
            return Ok(());
        }
        let versioning = |client: Client| client.get_bucket_versioning().bucket(bucket).send();
        let output = self.buckets.send(bucket, versioning).await.map_err(|e| {
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

    /// Streams an object into `file`, in the SDK's chunks: an artifact is never held whole.
    async fn download_to(&self, bucket: &str, key: &str, file: &Path) -> Result<(), ArtifactError> {
        let get = |client: Client| client.get_object().bucket(bucket).key(key).send();
        let output = self.buckets.send(bucket, get).await.map_err(|e| match e.as_service_error() {
            Some(service) if service.is_no_such_key() => ArtifactError::Missing(format!("s3://{bucket}/{key}")),
            _ => unavailable(describe(&e)),
        })?;
        let mut body = output.body;
        let mut out = tokio::fs::File::create(file).await.map_err(unavailable)?;
        while let Some(chunk) = body.next().await {
            out.write_all(&chunk.map_err(unavailable)?).await.map_err(unavailable)?;
        }
        out.flush().await.map_err(unavailable)?;
        Ok(())
    }

    /// Uploads `file` as the object at `location`, streamed from disk.
    async fn upload_file(&self, location: &ArtifactLocation, file: &Path) -> Result<(), ArtifactError> {
        // Read from the file again when S3 names another region for the bucket.
        let put = |client: Client| async move {
            let body = ByteStream::from_path(file).await.map_err(|e| SdkError::construction_failure(Box::new(e)))?;
            client
                .put_object()
                .bucket(&location.bucket)
                .key(&location.key)
                .body(body)
                .server_side_encryption(ServerSideEncryption::Aes256)
                .send()
                .await
        };
        self.buckets.send(&location.bucket, put).await.map_err(|e| unavailable(describe(&e)))?;
        Ok(())
    }

    /// The S3 source: S3 copies `s3://bucket/key` (the given version, or the latest) to the
    /// artifact location itself (CopyObject), so no byte of it passes through the function,
    /// whatever its size up to CodePipeline's 5 GiB (`core::s3_copy`). The object is looked at
    /// first for its size, ETag and version; the copy takes that version, or, in a bucket
    /// without versions, only an object of that ETag: one written again in between is looked
    /// at again, a few times.
    pub async fn copy_source(
        &self,
        bucket: &str,
        key: &str,
        version_id: Option<&str>,
        target: &ArtifactLocation,
    ) -> Result<CopiedSource, ArtifactError> {
        let mut tries = 1;
        loop {
            match self.copy_source_once(bucket, key, version_id, target).await {
                Err(SourceCopy::Changed(_)) if tries < SOURCE_COPY_TRIES => tries += 1,
                Err(SourceCopy::Changed(error) | SourceCopy::Failed(error)) => return Err(error),
                Ok(copied) => return Ok(copied),
            }
        }
    }

    async fn copy_source_once(
        &self,
        bucket: &str,
        key: &str,
        version_id: Option<&str>,
        target: &ArtifactLocation,
    ) -> Result<CopiedSource, SourceCopy> {
        let head = |client: Client| {
            client.head_object().bucket(bucket).key(key).set_version_id(version_id.map(String::from)).send()
        };
        let object = self.buckets.send(bucket, head).await.map_err(|e| {
            SourceCopy::Failed(match e.as_service_error() {
                Some(service) if service.is_not_found() => ArtifactError::Missing(format!("s3://{bucket}/{key}")),
                _ => unavailable(describe(&e)),
            })
        })?;
        s3_copy::s3_source_size(object.content_length().unwrap_or(0))
            .map_err(|refused| SourceCopy::Failed(ArtifactError::Refused(refused)))?;
        let quoted_etag = object.e_tag().unwrap_or_default().to_string();
        let copied = CopiedSource {
            etag: quoted_etag.trim_matches('"').to_string(),
            version_id: object.version_id().map(String::from),
        };
        let source = s3_copy::copy_source(bucket, key, copied.version_id.as_deref());
        let if_match = copied.version_id.is_none().then_some(quoted_etag);
        let copy = |client: Client| {
            client
                .copy_object()
                .copy_source(&source)
                .set_copy_source_if_match(if_match.clone())
                // No tags, as a put had none: copying them would need the tagging rights too.
                .tagging_directive(TaggingDirective::Replace)
                .bucket(&target.bucket)
                .key(&target.key)
                .server_side_encryption(ServerSideEncryption::Aes256)
                .send()
        };
        match self.buckets.send(&target.bucket, copy).await {
            Ok(_) => Ok(copied),
            // The ETag it was to match is gone: the key was written again since HeadObject.
            Err(e) if e.raw_response().is_some_and(|r| r.status().as_u16() == 412) => {
                Err(SourceCopy::Changed(unavailable(describe(&e))))
            }
            Err(e) => Err(SourceCopy::Failed(unavailable(describe(&e)))),
        }
    }
}

/// How many times the S3 source looks at an object that keeps changing under its copy.
const SOURCE_COPY_TRIES: u32 = 3;

/// Why one try of the S3 source's copy did not copy.
enum SourceCopy {
    /// An unversioned object changed between its look and its copy.
    Changed(ArtifactError),
    Failed(ArtifactError),
}

/// Runs file work off the async runtime's threads.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, ArtifactError> + Send + 'static,
) -> Result<T, ArtifactError> {
    tokio::task::spawn_blocking(work).await.map_err(unavailable)?
}

/// A file or directory of the function's scratch space (`/tmp`), removed when dropped on
/// every path, success or error: a warm Lambda keeps `/tmp` between invocations, and one
/// pipeline's artifact must not stay there for the next.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Result<Scratch, ArtifactError> {
        let dir = std::env::temp_dir().join("pipewright-artifacts");
        std::fs::create_dir_all(&dir).map_err(unavailable)?;
        Ok(Scratch(dir.join(uuid::Uuid::new_v4().simple().to_string())))
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if self.0.is_dir() {
            let _ = std::fs::remove_dir_all(&self.0);
        } else {
            let _ = std::fs::remove_file(&self.0);
        }
    }
}

impl ArtifactStore for S3Artifacts {
    async fn unpack(&self, location: &ArtifactLocation, directory: &Path) -> Result<Unpacked, ArtifactError> {
        let zip = Scratch::new()?;
        self.download_to(&location.bucket, &location.key, zip.path()).await?;
        let (file, directory, at) = (zip.path().to_path_buf(), directory.to_path_buf(), location.clone());
        blocking(move || {
            let files = unzip(&file, &directory).map_err(ArtifactError::from)?;
            Ok(unpacked(at, directory, files))
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
        let zip = Scratch::new()?;
        let (directory, patterns, exclude, zip_path) =
            (directory.to_path_buf(), patterns.to_vec(), exclude.to_vec(), zip.path().to_path_buf());
        let zipped = blocking(move || Ok(zip_directory(&directory, &patterns, &exclude, &zip_path)?)).await?;
        self.upload_file(location, zip.path()).await?;
        Ok(zipped.count)
    }

    async fn pack_files(
        &self,
        location: &ArtifactLocation,
        entries: &[(PathBuf, String)],
        symlinks: bool,
        _inputs: &[Unpacked],
    ) -> Result<(), ArtifactError> {
        let zip = Scratch::new()?;
        let (entries, zip_path) = (entries.to_vec(), zip.path().to_path_buf());
        blocking(move || Ok(zip_files(&entries, symlinks, &zip_path).map(drop)?)).await?;
        self.upload_file(location, zip.path()).await
    }

    async fn put_zip(&self, location: &ArtifactLocation, zip: &Path) -> Result<(), ArtifactError> {
        self.upload_file(location, zip).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A warm function's `/tmp` keeps nothing of an artifact, whatever path the work took.
    #[test]
    fn scratch_space_is_removed_when_dropped_file_or_directory() {
        let file = Scratch::new().unwrap();
        std::fs::write(file.path(), b"zip").unwrap();
        let directory = Scratch::new().unwrap();
        std::fs::create_dir_all(directory.path().join("a/b")).unwrap();
        std::fs::write(directory.path().join("a/b/c.txt"), b"x").unwrap();
        let (file_path, directory_path) = (file.path().to_path_buf(), directory.path().to_path_buf());
        drop((file, directory));
        assert!(!file_path.exists() && !directory_path.exists());
    }
}
