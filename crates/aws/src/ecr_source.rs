//! The ECR source on AWS (docs/sources.md, "ECR on AWS"): the image the start named (the
//! pushed digest) or else the image `ImageTag` (`latest` by default) names, described by
//! DescribeImages, becomes an `imageDetail.json` artifact, as CodePipeline writes it.

use std::collections::BTreeMap;
use std::path::Path;

use aws_sdk_ecr::Client;
use aws_sdk_ecr::types::{ImageDetail, ImageIdentifier};
use serde_json::json;

use pipewright_core::engine::{Dispatch, FailureType, Revision, RevisionType};
use pipewright_core::ports::ArtifactStore;
use pipewright_core::time::Timestamp;
use pipewright_providers::{ActionError, Outcome};

use crate::codecommit_source::{dns_suffix, sdk_failure};

/// The file the artifact holds.
pub const FILE_NAME: &str = "imageDetail.json";

fn failed(kind: FailureType, message: String) -> Outcome {
    Outcome::Failed(ActionError { kind, message })
}

/// The image's URI, pinned to its digest: `ACCOUNT.dkr.ecr.REGION.amazonaws.com/REPO@sha256:…`.
pub fn image_uri(registry: &str, region: &str, repository: &str, digest: &str) -> String {
    format!("{registry}.dkr.ecr.{region}.{}/{repository}@{digest}", dns_suffix(region))
}

/// What `imageDetail.json` holds: CodePipeline's keys (docs/sources.md, "ECR on AWS").
pub fn image_detail(detail: &ImageDetail, uri: &str) -> serde_json::Value {
    let pushed = detail.image_pushed_at().map(|t| Timestamp::from_millis(t.secs().saturating_mul(1000)).to_unix_date());
    json!({
        "ImageSizeInBytes": detail.image_size_in_bytes().map(|s| s.to_string()).unwrap_or_default(),
        "ImageDigest": detail.image_digest().unwrap_or_default(),
        "Version": "1.0",
        "ImagePushedAt": pushed.unwrap_or_default(),
        "RegistryId": detail.registry_id().unwrap_or_default(),
        "RepositoryName": detail.repository_name().unwrap_or_default(),
        "ImageURI": uri,
        "ImageTags": detail.image_tags(),
    })
}

/// Runs the ECR source action of `dispatch` under `scratch`, which the caller removes.
pub async fn fetch<A: ArtifactStore>(
    client: &Client,
    region: &str,
    dispatch: &Dispatch,
    artifacts: &A,
    scratch: &Path,
) -> Outcome {
    let config = |key: &str| dispatch.configuration.get(key).map(String::as_str).filter(|v| !v.is_empty());
    let Some(repository) = config("RepositoryName") else {
        return failed(FailureType::ConfigurationError, "RepositoryName is required".into());
    };
    let tag = config("ImageTag").unwrap_or("latest");
    let Some(output) = dispatch.output_artifacts.first() else {
        return failed(FailureType::ConfigurationError, "the ECR source has no output artifact".into());
    };
    let pinned = dispatch
        .source_revision
        .as_ref()
        .filter(|r| r.revision_type == RevisionType::ImageDigest)
        .map(|r| r.revision_value.clone());
    let (image, what) = match &pinned {
        Some(digest) => {
            (ImageIdentifier::builder().image_digest(digest).build(), format!("image {repository}@{digest}"))
        }
        None => (ImageIdentifier::builder().image_tag(tag).build(), format!("image {repository}:{tag}")),
    };
    let described = match client.describe_images().repository_name(repository).image_ids(image).send().await {
        Ok(output) => output,
        Err(error) => return sdk_failure(&what, &error),
    };
    let Some(detail) = described.image_details().first() else {
        return failed(FailureType::ConfigurationError, format!("{what} does not exist"));
    };
    let (Some(registry), Some(digest)) = (detail.registry_id(), detail.image_digest()) else {
        return failed(FailureType::JobFailed, format!("DescribeImages gave no registry or digest for {what}"));
    };
    let uri = image_uri(registry, region, repository, digest);
    let dir = scratch.join("image-detail");
    let text = serde_json::to_string_pretty(&image_detail(detail, &uri)).unwrap_or_default();
    let written = async {
        tokio::fs::create_dir_all(&dir).await?;
        tokio::fs::write(dir.join(FILE_NAME), text).await
    };
    if let Err(error) = written.await {
        return failed(FailureType::JobFailed, format!("cannot write {FILE_NAME}: {error}"));
    }
    if let Err(error) = artifacts.pack(&output.location, &dir, &[], &[]).await {
        return failed(FailureType::JobFailed, error.to_string());
    }
    // The tag the action follows, when the image carries it (a digest pushed under another
    // tag names that one).
    let tags = detail.image_tags();
    let image_tag = if tags.iter().any(|t| t == tag) { tag } else { tags.first().map_or(tag, String::as_str) };
    let variables = BTreeMap::from([
        ("RegistryId".to_string(), registry.to_string()),
        ("RepositoryName".to_string(), repository.to_string()),
        ("ImageTag".to_string(), image_tag.to_string()),
        ("ImageDigest".to_string(), digest.to_string()),
        ("ImageURI".to_string(), uri.clone()),
    ]);
    Outcome::Succeeded {
        output_variables: variables,
        summary: format!("{repository}:{image_tag} at {digest}"),
        external_execution_url: None,
        revision: Some(Revision {
            revision_id: digest.to_string(),
            change_identifier: Some(digest.to_string()),
            summary: Some(format!("Image tag: {image_tag}")),
            url: None,
            created: None,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_image_detail_has_codepipelines_keys() {
        let detail = ImageDetail::builder()
            .registry_id("123456789012")
            .repository_name("web")
            .image_digest("sha256:abc")
            .image_tags("latest")
            .image_tags("v2")
            .image_size_in_bytes(44_728_918)
            .image_pushed_at(aws_sdk_ecr::primitives::DateTime::from_secs(1_548_101_040))
            .build();
        let uri = image_uri("123456789012", "us-west-2", "web", "sha256:abc");
        assert_eq!(uri, "123456789012.dkr.ecr.us-west-2.amazonaws.com/web@sha256:abc");
        assert_eq!(
            image_detail(&detail, &uri),
            json!({
                "ImageSizeInBytes": "44728918", "ImageDigest": "sha256:abc", "Version": "1.0",
                "ImagePushedAt": "Mon Jan 21 20:04:00 UTC 2019", "RegistryId": "123456789012",
                "RepositoryName": "web", "ImageURI": uri, "ImageTags": ["latest", "v2"]
            })
        );
    }
}
