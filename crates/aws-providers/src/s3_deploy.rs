//! The S3 deploy action over the SDK: the input artifact, extracted or not, into `BucketName`,
//! in the action's region and as the action's role. It finishes within its start. The one
//! implementation for the invoke-action function and for `pipewright run --aws` /
//! `--aws-endpoint` (docs/providers.md §9): the artifact streams to a scratch file, is
//! unpacked on disk within the zip-bomb limits, and each file is uploaded from there, so no
//! artifact or file is ever held whole in memory; the scratch space is removed on every path
//! (a warm function keeps `/tmp`).

use std::path::{Path, PathBuf};

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{ObjectCannedAcl, ServerSideEncryption};

use pipewright_core::deploy::s3::{self as decide, Target};
use pipewright_core::engine::{ArtifactLocation, FailureType};
use pipewright_core::ports::ArtifactError;
use pipewright_providers::artifacts::unzip;
use pipewright_providers::deploy::{ArtifactBytes, Progress, configuration_error};
use pipewright_providers::{ActionError, Outcome};

use crate::Step;
use crate::errors::CallError;

pub async fn run(step: &Step<'_>) -> Progress {
    let dispatch = &step.job.dispatch;
    let target = match decide::target(&dispatch.configuration) {
        Ok(target) => target,
        Err(message) => return Progress::Finished(Outcome::Failed(configuration_error(message))),
    };
    let Some(input) = dispatch.input_artifacts.first() else {
        return Progress::Finished(Outcome::Failed(configuration_error("the S3 deploy action has no input artifact")));
    };
    match deploy(step.artifacts, &input.location, &step.clients.s3, &target).await {
        Ok(count) => {
            let summary = format!(
                "deployed {count} object{} to s3://{}/{}",
                if count == 1 { "" } else { "s" },
                target.bucket,
                target.object_key.as_deref().unwrap_or("")
            );
            step.say(&summary);
            Progress::Finished(Outcome::Succeeded {
                output_variables: Default::default(),
                summary,
                external_execution_url: None,
                revision: None,
            })
        }
        Err(error) => Progress::Finished(Outcome::Failed(error)),
    }
}

fn job_failed(message: String) -> ActionError {
    ActionError { kind: FailureType::JobFailed, message }
}

fn scratch_failed(error: impl std::fmt::Display) -> ActionError {
    ActionError { kind: FailureType::JobFailed, message: format!("scratch space: {error}") }
}

/// Deploys the zip artifact at `input` to `target` through `s3`; how many objects it wrote.
pub async fn deploy(
    artifacts: &dyn ArtifactBytes,
    input: &ArtifactLocation,
    s3: &aws_sdk_s3::Client,
    target: &Target,
) -> Result<usize, ActionError> {
    let scratch = tempfile::Builder::new().prefix("pipewright-s3-deploy-").tempdir().map_err(scratch_failed)?;
    let zip = scratch.path().join("artifact.zip");
    artifacts.to_file(input, &zip).await.map_err(|e| match e {
        ArtifactError::Missing(what) => job_failed(format!("the input artifact is missing: {what}")),
        other => ActionError {
            kind: FailureType::SystemUnavailable,
            message: format!("cannot read the input artifact: {other}"),
        },
    })?;
    if !target.extract {
        put(s3, target, target.object_key.as_deref().unwrap_or_default(), &zip, None).await?;
        return Ok(1);
    }
    let unpacked = scratch.path().join("unpacked");
    let files = {
        let (zip, unpacked) = (zip.clone(), unpacked.clone());
        tokio::task::spawn_blocking(move || -> Result<Vec<String>, String> {
            unzip(&zip, &unpacked).map_err(|e| format!("the input artifact cannot be unpacked: {e}"))?;
            regular_files(&unpacked)
        })
        .await
        .map_err(scratch_failed)?
        .map_err(job_failed)?
    };
    for relative in &files {
        put(s3, target, &decide::key_of(target, relative), &unpacked.join(relative), decide::content_type(relative))
            .await?;
    }
    Ok(files.len())
}

async fn put(
    s3: &aws_sdk_s3::Client,
    target: &Target,
    key: &str,
    file: &Path,
    content_type: Option<&str>,
) -> Result<(), ActionError> {
    let body = ByteStream::from_path(file).await.map_err(scratch_failed)?;
    let mut request = s3.put_object().bucket(&target.bucket).key(key).body(body);
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
    request.send().await.map_err(|e| {
        let error = CallError::of("PutObject", &e);
        let kind = if error.transient { FailureType::SystemUnavailable } else { FailureType::JobFailed };
        ActionError { kind, message: format!("s3://{}/{key}: {}", target.bucket, error.message) }
    })?;
    Ok(())
}

/// The regular files under `root` (links to files inside it included: `unzip` makes a link
/// only when it points inside), as `/`-separated paths relative to it, sorted.
fn regular_files(root: &Path) -> Result<Vec<String>, String> {
    let mut files = Vec::new();
    for entry in walkdir::WalkDir::new(root).follow_links(false).sort_by_file_name() {
        let entry = entry.map_err(|e| e.to_string())?;
        if std::fs::metadata(entry.path()).is_ok_and(|m| m.is_file()) {
            let relative: PathBuf = entry.path().strip_prefix(root).map_err(|e| e.to_string())?.to_path_buf();
            files.push(relative.to_string_lossy().replace('\\', "/"));
        }
    }
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regular_files_are_listed_relative_with_slashes() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join("site/css")).unwrap();
        std::fs::write(root.path().join("site/index.html"), "i").unwrap();
        std::fs::write(root.path().join("site/css/a.css"), "a").unwrap();
        std::os::unix::fs::symlink("index.html", root.path().join("site/home.html")).unwrap();
        let files = regular_files(root.path()).unwrap();
        assert_eq!(files, vec!["site/css/a.css", "site/home.html", "site/index.html"]);
    }
}
