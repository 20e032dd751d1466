//! The S3 deploy action over the SDK: the input artifact, extracted or not, into `BucketName`,
//! in the action's region and as the action's role. It finishes within its start.

use std::io::Read;

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{ObjectCannedAcl, ServerSideEncryption};

use pipewright_core::deploy::s3::{self as decide, Target};
use pipewright_core::engine::FailureType;
use pipewright_providers::Outcome;
use pipewright_providers::deploy::{Progress, configuration_error, inputs::Inputs};

use crate::Step;
use crate::errors::CallError;

pub async fn run(step: &Step<'_>) -> Progress {
    let dispatch = &step.job.dispatch;
    let target = match decide::target(&dispatch.configuration) {
        Ok(target) => target,
        Err(message) => return Progress::Finished(Outcome::Failed(configuration_error(message))),
    };
    let mut inputs = Inputs::new(dispatch, step.artifacts);
    let zip = match inputs.first() {
        Ok(first) => match inputs.zip(first).await {
            Ok(zip) => zip.to_vec(),
            Err(error) => return Progress::Finished(Outcome::Failed(error)),
        },
        Err(error) => return Progress::Finished(Outcome::Failed(error)),
    };
    match deploy(step, &target, zip).await {
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
        Err(progress) => *progress,
    }
}

async fn deploy(step: &Step<'_>, target: &Target, zip: Vec<u8>) -> Result<usize, Box<Progress>> {
    if !target.extract {
        put(step, target, target.object_key.as_deref().unwrap_or_default(), zip, None).await?;
        return Ok(1);
    }
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(zip)).map_err(|e| {
        Box::new(Progress::failed(FailureType::JobFailed, format!("the input artifact is not a zip: {e}")))
    })?;
    let mut count = 0;
    for index in 0..archive.len() {
        let mut file = archive.by_index(index).map_err(|e| {
            Box::new(Progress::failed(FailureType::JobFailed, format!("the input artifact is not a zip: {e}")))
        })?;
        if file.is_dir() {
            continue;
        }
        // Names come from the artifact; a path leaving the prefix is refused.
        let Some(name) = file.enclosed_name() else {
            return Err(Box::new(Progress::failed(
                FailureType::JobFailed,
                "the artifact holds a path that leaves its root",
            )));
        };
        let relative = name.to_string_lossy().replace('\\', "/");
        let mut content = Vec::new();
        file.read_to_end(&mut content)
            .map_err(|e| Box::new(Progress::failed(FailureType::JobFailed, format!("cannot read {relative}: {e}"))))?;
        put(step, target, &decide::key_of(target, &relative), content, decide::content_type(&relative)).await?;
        count += 1;
    }
    Ok(count)
}

async fn put(
    step: &Step<'_>,
    target: &Target,
    key: &str,
    body: Vec<u8>,
    content_type: Option<&str>,
) -> Result<(), Box<Progress>> {
    let mut request = step.clients.s3.put_object().bucket(&target.bucket).key(key).body(ByteStream::from(body));
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
    request.send().await.map_err(|e| Box::new(CallError::of("PutObject", &e).failed()))?;
    Ok(())
}
