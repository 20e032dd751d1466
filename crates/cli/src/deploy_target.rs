//! Where a local run's deploy actions go (docs/providers.md §2): the choice the flags make,
//! and, for `--aws` / `--aws-endpoint`, the AWS providers handed to the local backend (which
//! does not link the SDKs itself), with SSM and Secrets Manager for CodeBuild's secrets
//! (docs/codebuild.md "Secrets").

use std::sync::Arc;

use aws_config::meta::region::RegionProviderChain;
use aws_config::{BehaviorVersion, Region};

use pipewright_aws_providers::AwsDeployer;
use pipewright_aws_providers::secrets::AwsSecrets;
use pipewright_local::backend::Backend;
use pipewright_local::deploy::{DeployMode, DeployTarget};

/// Where deploy actions go, as `run`, `start` and `serve` take it.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct DeployFlags {
    /// Deploy actions (CloudFormation, ECS, CodeDeploy, Elastic Beanstalk, Step Functions, S3)
    /// deploy for real with your AWS credentials (--profile, --region, or the environment).
    #[arg(long, conflicts_with_all = ["aws_endpoint", "plan"])]
    pub(crate) aws: bool,
    /// Deploy actions go to this AWS emulator (moto, LocalStack, Floci), one endpoint for
    /// every service.
    #[arg(long, value_name = "URL", conflicts_with = "plan")]
    pub(crate) aws_endpoint: Option<String>,
    /// Deploy actions make no AWS call: each shows what it would deploy (for CloudFormation
    /// the template, its parameters and a diff against the last one) and succeeds as planned;
    /// later stages get clearly marked placeholder outputs.
    #[arg(long)]
    pub(crate) plan: bool,
}

impl DeployFlags {
    /// The target these flags choose, with the global `--profile` and `--region`.
    pub fn chosen(&self, profile: Option<&str>, region: Option<&str>) -> Option<DeployTarget> {
        chosen(self.aws, self.aws_endpoint.as_deref(), self.plan, profile, region)
    }
}

/// The target the flags choose; `--profile` and `--region` go with `--aws`, `--region` with
/// `--aws-endpoint`.
pub fn chosen(
    aws: bool,
    endpoint: Option<&str>,
    plan: bool,
    profile: Option<&str>,
    region: Option<&str>,
) -> Option<DeployTarget> {
    if plan {
        return Some(DeployTarget::Plan);
    }
    if let Some(url) = endpoint {
        return Some(DeployTarget::Endpoint { url: url.to_string(), region: region.map(str::to_string) });
    }
    aws.then(|| DeployTarget::Aws { profile: profile.map(str::to_string), region: region.map(str::to_string) })
}

/// Gives `backend` the AWS providers when the run deploys to AWS or an emulator; the plan and
/// the unchosen target need nothing more than [`Backend::configure`] set.
pub async fn install(backend: &mut Backend, target: Option<&DeployTarget>) {
    let (profile, region, endpoint) = match target {
        Some(DeployTarget::Aws { profile, region }) => (profile.as_deref(), region.as_deref(), None),
        Some(DeployTarget::Endpoint { url, region }) => (None, region.as_deref(), Some(url.as_str())),
        Some(DeployTarget::Plan) | None => return,
    };
    let regions = RegionProviderChain::first_try(region.map(|r| Region::new(r.to_string())))
        .or_default_provider()
        .or_else(Region::new("us-east-1"));
    let mut loader = aws_config::defaults(BehaviorVersion::latest()).region(regions);
    if let Some(profile) = profile {
        loader = loader.profile_name(profile);
    }
    if let Some(url) = endpoint {
        loader = loader.endpoint_url(url);
    }
    let sdk = loader.load().await;
    backend.providers.aws_secrets = Some(Arc::new(AwsSecrets::new(&sdk)));
    let artifacts = Arc::new(backend.providers.artifacts.clone());
    backend.providers.deploy = DeployMode::Aws(Arc::new(AwsDeployer::new(sdk, artifacts, Vec::new())));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_flags_choose_one_target() {
        assert_eq!(chosen(false, None, false, None, None), None);
        assert_eq!(chosen(false, None, true, None, None), Some(DeployTarget::Plan));
        assert_eq!(
            chosen(false, Some("http://127.0.0.1:5000"), false, None, Some("eu-west-1")),
            Some(DeployTarget::Endpoint { url: "http://127.0.0.1:5000".into(), region: Some("eu-west-1".into()) })
        );
        assert_eq!(
            chosen(true, None, false, Some("dev"), None),
            Some(DeployTarget::Aws { profile: Some("dev".into()), region: None })
        );
    }
}
