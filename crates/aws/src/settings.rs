//! What a function reads from its environment, and the clients it builds once at init.

use std::sync::Arc;

use aws_config::SdkConfig;
use aws_smithy_runtime_api::client::interceptors::SharedInterceptor;

use pipewright_aws_providers::AwsDeployer;
use pipewright_aws_providers::artifacts::S3ArtifactBytes;

use pipewright_core::deploy::RoutedEvents;
use pipewright_core::pipeline::Environment;
use pipewright_core::service::PipelineCache;

use crate::artifact_access::ArtifactAccess;
use crate::artifacts::S3Artifacts;
use crate::bus::EventBus;
use crate::counting::CallCounter;
use crate::dynamo::DynamoStore;
use crate::handlers::Faults;
use crate::invoker::LambdaInvoker;
use crate::notifier::SnsNotifier;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SettingsError {
    #[error("environment variable {0} is not set")]
    Missing(&'static str),
    #[error("cannot read the approval-link key from Secrets Manager: {0}")]
    Secret(String),
    #[error("cannot read the API keys from Secrets Manager: {0}")]
    ApiKeys(String),
}

/// The stack's resources, as template.yaml passes them to every function.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// `PIPEWRIGHT_TABLE`
    pub table: String,
    /// `PIPEWRIGHT_BUS`
    pub bus: String,
    /// `PIPEWRIGHT_APPROVAL_URL`: the approval-callback function's URL.
    pub approval_url: Option<String>,
    /// `PIPEWRIGHT_SECRET_ARN`: the Secrets Manager secret holding the approval-link key.
    pub secret_arn: Option<String>,
    /// `AWS_REGION` (set by Lambda)
    pub region: String,
    /// `PIPEWRIGHT_ACCOUNT`
    pub account: String,
    /// `PIPEWRIGHT_ARTIFACT_ROLE_ARN`: the role jobs' `artifactCredentials` are sessions of.
    pub artifact_role_arn: Option<String>,
    /// `PIPEWRIGHT_GITHUB_API_URL`: the API GitHub (version 1) sources read (GitHub
    /// Enterprise Server's `https://HOST/api/v3`); api.github.com when unset.
    pub github_api_url: Option<String>,
    /// `PIPEWRIGHT_COMMANDS_PROJECT`: the stack's CodeBuild project that runs Commands
    /// actions (docs/security.md, "Commands actions").
    pub commands_project: Option<String>,
}

impl Settings {
    pub fn from_env() -> Result<Settings, SettingsError> {
        let var = |name: &'static str| std::env::var(name).map_err(|_| SettingsError::Missing(name));
        Ok(Settings {
            table: var("PIPEWRIGHT_TABLE")?,
            bus: var("PIPEWRIGHT_BUS")?,
            approval_url: std::env::var("PIPEWRIGHT_APPROVAL_URL").ok().filter(|v| !v.is_empty()),
            secret_arn: std::env::var("PIPEWRIGHT_SECRET_ARN").ok().filter(|v| !v.is_empty()),
            region: std::env::var("AWS_REGION").unwrap_or_else(|_| "us-east-1".to_string()),
            account: std::env::var("PIPEWRIGHT_ACCOUNT").unwrap_or_else(|_| "000000000000".to_string()),
            artifact_role_arn: std::env::var("PIPEWRIGHT_ARTIFACT_ROLE_ARN").ok().filter(|v| !v.is_empty()),
            github_api_url: std::env::var("PIPEWRIGHT_GITHUB_API_URL").ok().filter(|v| !v.is_empty()),
            commands_project: std::env::var("PIPEWRIGHT_COMMANDS_PROJECT").ok().filter(|v| !v.is_empty()),
        })
    }
}

/// Every client and adapter a function may use, built once.
pub struct Services {
    pub settings: Settings,
    pub store: DynamoStore,
    pub bus: EventBus,
    pub artifacts: S3Artifacts,
    pub notifier: SnsNotifier,
    pub invoker: LambdaInvoker,
    /// The deploy providers (CloudFormation, ECS, CodeDeploy, Elastic Beanstalk, Step
    /// Functions) over the SDK, reading and writing the artifact store (docs/providers.md §13).
    pub deployer: AwsDeployer,
    /// Jobs' `artifactCredentials`, from STS.
    pub artifact_access: ArtifactAccess,
    /// Reads the secrets connection sources map to.
    pub secrets: aws_sdk_secretsmanager::Client,
    /// Reads CodeCommit sources (and their branches, when polled).
    pub codecommit: aws_sdk_codecommit::Client,
    /// Describes the images of ECR sources.
    pub ecr: aws_sdk_ecr::Client,
    pub cache: PipelineCache,
    /// The approval-link key, when the function signs or checks links.
    pub link_key: Option<Vec<u8>>,
    pub calls: CallCounter,
    /// Crashes the tests inject.
    pub faults: Faults,
}

impl Services {
    /// Builds the clients from `sdk` (so `AWS_ENDPOINT_URL` applies) and reads the link key
    /// when `with_link_key`.
    pub async fn new(sdk: &SdkConfig, settings: Settings, with_link_key: bool) -> Result<Services, SettingsError> {
        let calls = CallCounter::default();
        let dynamo = aws_sdk_dynamodb::config::Builder::from(sdk).interceptor(calls.clone()).build();
        let events = aws_sdk_eventbridge::config::Builder::from(sdk).interceptor(calls.clone()).build();
        // moto and other stand-ins serve buckets by path, not by virtual host.
        let s3 = aws_sdk_s3::config::Builder::from(sdk)
            .force_path_style(sdk.endpoint_url().is_some())
            .interceptor(calls.clone())
            .build();
        let sns = aws_sdk_sns::config::Builder::from(sdk).interceptor(calls.clone()).build();
        let lambda = aws_sdk_lambda::config::Builder::from(sdk).interceptor(calls.clone()).build();
        let sts = aws_sdk_sts::config::Builder::from(sdk).interceptor(calls.clone()).build();
        let s3_client = aws_sdk_s3::Client::from_conf(s3);
        let deployer = AwsDeployer::new(
            sdk.clone(),
            Arc::new(S3ArtifactBytes::new(s3_client.clone())),
            vec![SharedInterceptor::new(calls.clone())],
        )
        .with_commands_project(settings.commands_project.clone())
        // The stack routes the services' state-change events of its own region and account to
        // a look (template.yaml).
        .with_events_routed(RoutedEvents { region: settings.region.clone(), account: settings.account.clone() });
        let link_key = match (&settings.secret_arn, with_link_key) {
            (Some(arn), true) => Some(read_secret(sdk, arn).await?),
            _ => None,
        };
        Ok(Services {
            store: DynamoStore::new(aws_sdk_dynamodb::Client::from_conf(dynamo), &settings.table),
            bus: EventBus::new(aws_sdk_eventbridge::Client::from_conf(events), &settings.bus),
            artifacts: S3Artifacts::new(s3_client),
            deployer,
            notifier: SnsNotifier::new(aws_sdk_sns::Client::from_conf(sns)),
            invoker: LambdaInvoker::new(aws_sdk_lambda::Client::from_conf(lambda)),
            artifact_access: ArtifactAccess::new(
                aws_sdk_sts::Client::from_conf(sts),
                settings.artifact_role_arn.clone(),
                &settings.region,
            ),
            secrets: aws_sdk_secretsmanager::Client::from_conf(
                aws_sdk_secretsmanager::config::Builder::from(sdk).interceptor(calls.clone()).build(),
            ),
            codecommit: aws_sdk_codecommit::Client::from_conf(
                aws_sdk_codecommit::config::Builder::from(sdk).interceptor(calls.clone()).build(),
            ),
            ecr: aws_sdk_ecr::Client::from_conf(
                aws_sdk_ecr::config::Builder::from(sdk).interceptor(calls.clone()).build(),
            ),
            cache: PipelineCache::new(Environment { region: Some(settings.region.clone()) }),
            link_key,
            calls,
            faults: Faults::default(),
            settings,
        })
    }
}

impl Services {
    /// Everything a function needs, from the Lambda environment (`AWS_ENDPOINT_URL` included).
    pub async fn from_env(with_link_key: bool) -> Result<Services, SettingsError> {
        Services::new(&sdk_config().await, Settings::from_env()?, with_link_key).await
    }
}

/// The SDK configuration of the Lambda environment (`AWS_ENDPOINT_URL` included).
pub async fn sdk_config() -> SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest()).load().await
}

/// The api function's access keys: the secret `PIPEWRIGHT_API_KEYS_SECRET_ARN` names holds
/// `{"accessKeyId": …, "secretAccessKey": …}`, generated by the stack. Without it the function
/// refuses to start: no request is accepted unauthenticated on AWS. The secret
/// `PIPEWRIGHT_JOB_WORKER_KEY_SECRET_ARN` names, when set, holds the job workers' key, of the
/// same shape, which may call GetJobDetails and PutJob*Result only (`pipewright_api::KeyRing`).
pub async fn api_authenticator(sdk: &SdkConfig) -> Result<pipewright_api::Authenticator, SettingsError> {
    let arn = std::env::var("PIPEWRIGHT_API_KEYS_SECRET_ARN")
        .ok()
        .filter(|v| !v.is_empty())
        .ok_or(SettingsError::Missing("PIPEWRIGHT_API_KEYS_SECRET_ARN"))?;
    let client = aws_sdk_secretsmanager::Client::new(sdk);
    let read = |arn: String| {
        let client = client.clone();
        async move {
            let output = client.get_secret_value().secret_id(&arn).send().await.map_err(|e| {
                SettingsError::ApiKeys(aws_smithy_types::error::display::DisplayErrorContext(&e).to_string())
            })?;
            output
                .secret_string()
                .map(str::to_string)
                .ok_or_else(|| SettingsError::ApiKeys("the secret has no string value".into()))
        }
    };
    let full = read(arn).await?;
    let job_workers = match std::env::var("PIPEWRIGHT_JOB_WORKER_KEY_SECRET_ARN").ok().filter(|v| !v.is_empty()) {
        Some(arn) => Some(read(arn).await?),
        None => None,
    };
    api_key_ring(&full, job_workers.as_deref())
}

/// Parses the API keys secret: one full key.
pub fn api_keys(text: &str) -> Result<pipewright_api::Authenticator, SettingsError> {
    api_key_ring(text, None)
}

/// Parses the API keys secret and, when given, the job workers' key secret. The two keys
/// must differ: a job worker's key must never be the full one. The action types' keys are
/// derived from the full one.
pub fn api_key_ring(full: &str, job_workers: Option<&str>) -> Result<pipewright_api::Authenticator, SettingsError> {
    let (key, secret) = access_key(full)?;
    let mut ring = pipewright_api::KeyRing::of_api_key(key, secret);
    if let Some(text) = job_workers {
        let (key, secret) = access_key(text)?;
        if ring.full.contains_key(&key) {
            return Err(SettingsError::ApiKeys(format!(
                "the job workers' key {key} is also the API's full key; give it another access key id"
            )));
        }
        ring.job_workers.insert(key, secret);
    }
    Ok(pipewright_api::Authenticator::Keys(ring))
}

fn access_key(text: &str) -> Result<(String, String), SettingsError> {
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Keys {
        access_key_id: String,
        secret_access_key: String,
    }
    let keys: Keys = serde_json::from_str(text)
        .map_err(|e| SettingsError::ApiKeys(format!("expected {{\"accessKeyId\", \"secretAccessKey\"}}: {e}")))?;
    if keys.access_key_id.is_empty() || keys.secret_access_key.len() < 20 {
        return Err(SettingsError::ApiKeys("the access key is empty or the secret shorter than 20 characters".into()));
    }
    Ok((keys.access_key_id, keys.secret_access_key))
}

async fn read_secret(sdk: &SdkConfig, arn: &str) -> Result<Vec<u8>, SettingsError> {
    let client = aws_sdk_secretsmanager::Client::new(sdk);
    let output =
        client.get_secret_value().secret_id(arn).send().await.map_err(|e| {
            SettingsError::Secret(aws_smithy_types::error::display::DisplayErrorContext(&e).to_string())
        })?;
    let secret =
        output.secret_string().ok_or_else(|| SettingsError::Secret("the secret has no string value".into()))?;
    if secret.len() < 32 {
        return Err(SettingsError::Secret("the key is shorter than 32 characters".into()));
    }
    Ok(secret.as_bytes().to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_job_workers_key_is_a_key_of_its_own_that_reaches_the_job_protocol_only() {
        let full = r#"{"accessKeyId": "PIPEWRIGHTAPI", "secretAccessKey": "0123456789abcdefghij"}"#;
        let jobs = r#"{"accessKeyId": "PIPEWRIGHTJOBS", "secretAccessKey": "klmnopqrstuvwxyz0123"}"#;
        let Ok(pipewright_api::Authenticator::Keys(ring)) = api_key_ring(full, Some(jobs)) else {
            panic!("both secrets parse");
        };
        assert!(ring.may_call("PIPEWRIGHTAPI", "GetPipelineState"));
        assert!(ring.may_call("PIPEWRIGHTJOBS", "PutJobSuccessResult"));
        assert!(!ring.may_call("PIPEWRIGHTJOBS", "PutApprovalResult"));
        assert!(!ring.may_call("PIPEWRIGHTJOBS", "PollForJobs"));
        // An action type's key is made from the full key's secret, and polls.
        let farm = pipewright_core::declaration::ActionTypeId {
            category: pipewright_core::declaration::ActionCategory::Build,
            owner: pipewright_core::declaration::ActionOwner::Custom,
            provider: "Farm".into(),
            version: "1".into(),
        };
        let farm_key = pipewright_api::action_type_keys::key_id(&farm);
        let farm_secret = pipewright_api::action_type_keys::secret("0123456789abcdefghij", &farm_key);
        assert_eq!(ring.secret(&farm_key), Some(farm_secret));
        assert!(ring.may_call(&farm_key, "PollForJobs"));
        assert!(!ring.may_call(&farm_key, "GetPipelineState"));
        // The same access key id in both would make the full key a job worker's.
        let same = r#"{"accessKeyId": "PIPEWRIGHTAPI", "secretAccessKey": "klmnopqrstuvwxyz0123"}"#;
        assert!(
            matches!(api_key_ring(full, Some(same)), Err(SettingsError::ApiKeys(m)) if m.contains("also the API's"))
        );
        assert!(api_key_ring(full, Some(r#"{"accessKeyId": "J"}"#)).is_err());
    }
}
