//! The deploy providers' contract (docs/providers.md §1): a provider that acts on AWS takes
//! two steps, `start` and `poll`, and each answers [`Progress`] — finished with an
//! [`Outcome`], or waiting with a small serialisable state, the id the service knows the work
//! by, and when to look again. A long wait is a job that reports back, never a function
//! that sleeps: locally the worker polls at the interval asked, on AWS a watch is recorded
//! for the tick and the services' events.
//!
//! The trait is an object ([`Deployer`]), so that `pipewright-local` hosts the AWS providers
//! without linking the SDKs: the CLI hands it `pipewright-aws-providers`' implementation.

pub mod inputs;
pub mod memory;
pub mod plan;

use std::future::Future;
use std::io::{Read, Seek, Write};
use std::pin::Pin;

use serde::{Deserialize, Serialize};

use pipewright_core::engine::{ArtifactLocation, Dispatch, FailureType};
use pipewright_core::ports::ArtifactError;

use crate::artifacts::ArtifactDir;
use crate::{ActionError, ActionOutput, Outcome};

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A provider waiting for a service.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Waiting {
    /// What the provider needs to look again (a stack id and the operation, a deployment id…).
    pub state: serde_json::Value,
    /// The id the service knows the work by: its state-change events name it.
    pub external_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// What it waits for, for people: `stack app UPDATE_IN_PROGRESS`.
    pub status: String,
    /// Seconds until the next look.
    pub poll_after_seconds: u32,
    /// Looks so far, for the back-off.
    #[serde(default)]
    pub polls: u32,
}

/// Where a provider's step left the action.
#[derive(Debug, Clone, PartialEq)]
pub enum Progress {
    Finished(Outcome),
    Waiting(Waiting),
    /// Nothing started and nothing to report: a start met what may pass (a throttled or
    /// unavailable call, a build another delivery of its job is starting) and is taken again
    /// later, whole. Only a build's start answers so, rather than fail its action: another
    /// delivery of the start may be recording the build at that moment (docs/providers.md
    /// §14). A look answers `Waiting` for what may pass.
    Retry(String),
}

impl Progress {
    pub fn failed(kind: FailureType, message: impl Into<String>) -> Progress {
        Progress::Finished(Outcome::Failed(ActionError { kind, message: message.into() }))
    }
}

/// One job for a deploy provider.
#[derive(Debug, Clone, PartialEq)]
pub struct DeployJob {
    pub dispatch: Dispatch,
    /// The artifact store of the action's region, when some of its inputs were written in
    /// another region's store (`core::deploy::regional_store`): those inputs are copied there.
    /// Its outputs are written there too, where the engine put them (docs/providers.md §11).
    pub regional_store: Option<String>,
}

/// A host for the providers that act on AWS.
pub trait Deployer: Send + Sync {
    fn start<'a>(&'a self, job: &'a DeployJob, output: &'a dyn ActionOutput) -> BoxFuture<'a, Progress>;
    fn poll<'a>(
        &'a self,
        job: &'a DeployJob,
        waiting: &'a Waiting,
        output: &'a dyn ActionOutput,
    ) -> BoxFuture<'a, Progress>;
    /// Whether the work `waiting` waits for has ended, read without acting on it (nothing
    /// copied, nothing reported): `None` where the provider cannot tell that cheaply, or the
    /// read failed. [`Deployer::poll`] then gives its result.
    fn has_ended<'a>(&'a self, job: &'a DeployJob, waiting: &'a Waiting) -> BoxFuture<'a, Option<bool>> {
        let _ = (job, waiting);
        Box::pin(async { None })
    }
}

/// Artifacts as bytes, wherever they live (a directory, S3).
pub trait ArtifactBytes: Send + Sync {
    fn read<'a>(&'a self, location: &'a ArtifactLocation) -> BoxFuture<'a, Result<Vec<u8>, ArtifactError>>;
    /// Stores a zip, encrypted with `kms_key` where the store declares one.
    fn write<'a>(
        &'a self,
        location: &'a ArtifactLocation,
        zip: Vec<u8>,
        kms_key: Option<&'a str>,
    ) -> BoxFuture<'a, Result<(), ArtifactError>>;
    /// True when locations are S3 objects a service can read (a bucket and key in S3).
    fn in_s3(&self) -> bool;
    /// Writes the artifact into `file`, streamed: never held whole in memory (the S3 deploy
    /// unpacks it from there).
    fn to_file<'a>(
        &'a self,
        location: &'a ArtifactLocation,
        file: &'a std::path::Path,
    ) -> BoxFuture<'a, Result<(), ArtifactError>>;
}

/// A stored artifact's file that cannot be read: `Missing` when it is not there.
fn file_error(location: &ArtifactLocation) -> impl Fn(std::io::Error) -> ArtifactError + '_ {
    move |e| match e.kind() {
        std::io::ErrorKind::NotFound => ArtifactError::Missing(format!("{}/{}", location.bucket, location.key)),
        _ => ArtifactError::Unavailable(e.to_string()),
    }
}

impl ArtifactBytes for ArtifactDir {
    fn read<'a>(&'a self, location: &'a ArtifactLocation) -> BoxFuture<'a, Result<Vec<u8>, ArtifactError>> {
        Box::pin(async move {
            let path = self.path(location)?;
            tokio::fs::read(&path).await.map_err(file_error(location))
        })
    }

    fn write<'a>(
        &'a self,
        location: &'a ArtifactLocation,
        zip: Vec<u8>,
        _kms_key: Option<&'a str>,
    ) -> BoxFuture<'a, Result<(), ArtifactError>> {
        Box::pin(async move {
            let path = self.path(location)?;
            let unavailable = |e: std::io::Error| ArtifactError::Unavailable(e.to_string());
            if let Some(parent) = path.parent() {
                tokio::fs::create_dir_all(parent).await.map_err(unavailable)?;
            }
            let staging = path.with_extension(format!("part-{}", std::process::id()));
            tokio::fs::write(&staging, zip).await.map_err(unavailable)?;
            tokio::fs::rename(&staging, &path).await.map_err(unavailable)
        })
    }

    fn in_s3(&self) -> bool {
        false
    }

    fn to_file<'a>(
        &'a self,
        location: &'a ArtifactLocation,
        file: &'a std::path::Path,
    ) -> BoxFuture<'a, Result<(), ArtifactError>> {
        Box::pin(async move {
            let path = self.path(location)?;
            tokio::fs::copy(&path, file).await.map(drop).map_err(file_error(location))
        })
    }
}

/// The most a deploy action reads of one file of its inputs: a template, parameters, image
/// definitions, a task definition, an execution's input. Each is far smaller in CodePipeline
/// (a template at most 1 MB); the bound keeps a file that inflates without end (a zip bomb)
/// from filling the function's memory.
pub const MAX_INPUT_FILE_BYTES: u64 = 64 * 1024 * 1024;

/// A file of a zip artifact; the error names the artifact's files when it is not there. The
/// zip is read where it lies (a file, bytes): only the central directory and that file's
/// entry, never the whole.
pub fn zip_file<R: Read + Seek>(zip: R, artifact: &str, path: &str) -> Result<Vec<u8>, String> {
    let mut archive = zip::ZipArchive::new(zip).map_err(|e| format!("artifact {artifact} is not a zip: {e}"))?;
    let wanted = path.trim_start_matches("./");
    let found = match archive.by_name(wanted) {
        Ok(file) => {
            let mut content = Vec::new();
            file.take(MAX_INPUT_FILE_BYTES + 1)
                .read_to_end(&mut content)
                .map_err(|e| format!("cannot read {artifact}::{wanted}: {e}"))?;
            if content.len() as u64 > MAX_INPUT_FILE_BYTES {
                return Err(format!(
                    "{artifact}::{wanted} is larger than {MAX_INPUT_FILE_BYTES} bytes, the most a deploy action reads of a file"
                ));
            }
            Some(content)
        }
        Err(_) => None,
    };
    found.ok_or_else(|| {
        let mut names = archive_names(&mut archive);
        names.truncate(20);
        format!("artifact {artifact} has no file {wanted} (it holds: {})", names.join(", "))
    })
}

/// The files of a zip artifact, without directories.
pub fn zip_names<R: Read + Seek>(zip: R) -> Vec<String> {
    let Ok(mut archive) = zip::ZipArchive::new(zip) else { return Vec::new() };
    archive_names(&mut archive)
}

fn archive_names<R: Read + Seek>(archive: &mut zip::ZipArchive<R>) -> Vec<String> {
    (0..archive.len())
        .filter_map(|index| {
            archive.by_index(index).ok().filter(|f| !f.is_dir()).and_then(|f| f.name().ok().map(|n| n.to_string()))
        })
        .collect()
}

/// A zip of `files` (name, content).
pub fn zip_of(files: &[(String, String)]) -> Result<Vec<u8>, String> {
    let mut buffer = std::io::Cursor::new(Vec::new());
    {
        let mut writer = zip::ZipWriter::new(&mut buffer);
        let options = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
        for (name, content) in files {
            writer.start_file(name.as_str(), options).map_err(|e| e.to_string())?;
            writer.write_all(content.as_bytes()).map_err(|e| e.to_string())?;
        }
        writer.finish().map_err(|e| e.to_string())?;
    }
    Ok(buffer.into_inner())
}

/// A configuration failure.
pub fn configuration_error(message: impl Into<String>) -> ActionError {
    ActionError { kind: FailureType::ConfigurationError, message: message.into() }
}

/// A failure of the action's work.
pub fn job_failed(message: impl Into<String>) -> ActionError {
    ActionError { kind: FailureType::JobFailed, message: message.into() }
}

#[cfg(test)]
mod tests {
    use std::io::Cursor;

    use super::*;

    #[test]
    fn files_are_read_from_zips_by_path() {
        let zip =
            zip_of(&[("infra/template.yaml".into(), "Resources: {}".into()), ("README".into(), "x".into())]).unwrap();
        assert_eq!(zip_file(Cursor::new(&zip), "Build", "./infra/template.yaml").unwrap(), b"Resources: {}");
        let error = zip_file(Cursor::new(&zip), "Build", "template.yaml").unwrap_err();
        assert!(error.contains("no file template.yaml") && error.contains("infra/template.yaml"), "{error}");
        assert_eq!(zip_names(Cursor::new(&zip)).len(), 2);
    }

    #[test]
    fn a_file_that_inflates_past_the_bound_is_refused_not_read_into_memory() {
        let mut buffer = Cursor::new(Vec::new());
        {
            let mut writer = zip::ZipWriter::new(&mut buffer);
            let options = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
            writer.start_file("template.yaml", options).unwrap();
            let zeros = vec![0u8; 1024 * 1024];
            for _ in 0..=MAX_INPUT_FILE_BYTES / zeros.len() as u64 {
                writer.write_all(&zeros).unwrap();
            }
            writer.finish().unwrap();
        }
        let zip = buffer.into_inner();
        assert!(zip.len() < 1024 * 1024, "the zip itself is small: {} B", zip.len());
        let refused = zip_file(Cursor::new(&zip), "Build", "template.yaml").unwrap_err();
        assert!(refused.contains("Build::template.yaml is larger than"), "{refused}");
    }

    /// A store that can only stream an artifact to a file, as every deploy input is read.
    struct StreamedOnly(ArtifactDir);

    impl ArtifactBytes for StreamedOnly {
        fn read<'a>(&'a self, _: &'a ArtifactLocation) -> BoxFuture<'a, Result<Vec<u8>, ArtifactError>> {
            Box::pin(async { Err(ArtifactError::Refused("read whole into memory".into())) })
        }
        fn write<'a>(
            &'a self,
            location: &'a ArtifactLocation,
            zip: Vec<u8>,
            kms_key: Option<&'a str>,
        ) -> BoxFuture<'a, Result<(), ArtifactError>> {
            self.0.write(location, zip, kms_key)
        }
        fn in_s3(&self) -> bool {
            false
        }
        fn to_file<'a>(
            &'a self,
            location: &'a ArtifactLocation,
            file: &'a std::path::Path,
        ) -> BoxFuture<'a, Result<(), ArtifactError>> {
            self.0.to_file(location, file)
        }
    }

    #[tokio::test]
    async fn a_deploys_inputs_are_read_from_a_scratch_file_never_whole_into_memory() {
        let root = tempfile::tempdir().unwrap();
        let store = StreamedOnly(ArtifactDir::new(root.path()));
        let location = ArtifactLocation { bucket: "b".into(), key: "p/Build/x".into() };
        let zip = zip_of(&[("infra/template.yaml".into(), "Resources: {}".into())]).unwrap();
        store.write(&location, zip, None).await.unwrap();
        let mut dispatch: pipewright_core::engine::Dispatch = serde_json::from_value(serde_json::json!({
            "id": "d", "pipeline": "p", "pipelineVersion": 1, "executionId": "e", "stage": "S", "action": "A",
            "attempt": 1, "actionExecutionId": "x", "jobId": "j", "jobSequence": 1,
            "actionType": {"category": "Deploy", "owner": "AWS", "provider": "CloudFormation", "version": "1"},
            "region": null, "roleArn": null, "namespace": null, "configuration": {}, "commands": [],
            "environmentVariables": [], "outputVariables": [], "inputArtifacts": [], "outputArtifacts": [],
            "encryptionKey": null, "continuationToken": null, "sourceRevision": null, "deadline": 0
        }))
        .unwrap();
        dispatch.input_artifacts =
            vec![pipewright_core::engine::ArtifactRef { name: "Build".into(), location: location.clone() }];
        let mut inputs = inputs::Inputs::new(&dispatch, &store);
        assert_eq!(inputs.text("Build", "infra/template.yaml").await.unwrap(), "Resources: {}");
        // Read again from the same scratch file, which goes with the inputs.
        assert_eq!(inputs.text("Build", "./infra/template.yaml").await.unwrap(), "Resources: {}");
    }

    #[tokio::test]
    async fn a_directory_store_reads_what_it_wrote() {
        let root = tempfile::tempdir().unwrap();
        let store = ArtifactDir::new(root.path());
        let location = ArtifactLocation { bucket: "b".into(), key: "p/Out/x".into() };
        assert!(matches!(store.read(&location).await, Err(ArtifactError::Missing(_))));
        store.write(&location, b"zip".to_vec(), None).await.unwrap();
        assert_eq!(store.read(&location).await.unwrap(), b"zip");
    }
}
