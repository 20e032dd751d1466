//! The SDK clients a job uses: in the action's region, as the action's role when it names one
//! (assumed through STS, how deploys reach another account; docs/providers.md §11). Built
//! once per region and role, and kept.

use std::collections::HashMap;
use std::sync::Arc;

use aws_config::{Region, SdkConfig};
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_smithy_runtime_api::client::interceptors::SharedInterceptor;
use tokio::sync::Mutex;

/// Every client a provider may call, for one region and identity.
pub struct Clients {
    pub region: String,
    /// False against an emulator's endpoint, where console links lead nowhere.
    pub on_aws: bool,
    pub cloudformation: aws_sdk_cloudformation::Client,
    pub codebuild: aws_sdk_codebuild::Client,
    pub ecs: aws_sdk_ecs::Client,
    pub codedeploy: aws_sdk_codedeploy::Client,
    pub elasticbeanstalk: aws_sdk_elasticbeanstalk::Client,
    pub sfn: aws_sdk_sfn::Client,
    pub s3: aws_sdk_s3::Client,
}

impl Clients {
    fn new(sdk: &SdkConfig, interceptors: &[SharedInterceptor]) -> Clients {
        macro_rules! client {
            ($service:ident) => {{
                let mut builder = $service::config::Builder::from(sdk);
                for interceptor in interceptors {
                    builder = builder.interceptor(interceptor.clone());
                }
                $service::Client::from_conf(builder.build())
            }};
        }
        let mut s3 = aws_sdk_s3::config::Builder::from(sdk).force_path_style(sdk.endpoint_url().is_some());
        for interceptor in interceptors {
            s3 = s3.interceptor(interceptor.clone());
        }
        Clients {
            region: sdk.region().map(|r| r.to_string()).unwrap_or_else(|| "us-east-1".to_string()),
            on_aws: sdk.endpoint_url().is_none(),
            cloudformation: client!(aws_sdk_cloudformation),
            codebuild: client!(aws_sdk_codebuild),
            ecs: client!(aws_sdk_ecs),
            codedeploy: client!(aws_sdk_codedeploy),
            elasticbeanstalk: client!(aws_sdk_elasticbeanstalk),
            sfn: client!(aws_sdk_sfn),
            s3: aws_sdk_s3::Client::from_conf(s3.build()),
        }
    }
}

/// Clients by (region, role).
pub struct ClientsCache {
    base: SdkConfig,
    interceptors: Vec<SharedInterceptor>,
    built: Mutex<HashMap<(String, String), Arc<Clients>>>,
}

impl ClientsCache {
    pub fn new(base: SdkConfig, interceptors: Vec<SharedInterceptor>) -> ClientsCache {
        ClientsCache { base, interceptors, built: Mutex::new(HashMap::new()) }
    }

    fn home_region(&self) -> String {
        self.base.region().map(|r| r.to_string()).unwrap_or_else(|| "us-east-1".to_string())
    }

    /// The pipeline's region, as the orchestrator.
    pub async fn home(&self) -> Arc<Clients> {
        let region = self.home_region();
        let mut built = self.built.lock().await;
        built
            .entry((region, String::new()))
            .or_insert_with(|| Arc::new(Clients::new(&self.base, &self.interceptors)))
            .clone()
    }

    /// The clients of `region` (the home region when `None`, or Pipewright's local stand-in
    /// name), acting as `role` when given.
    pub async fn get(&self, region: Option<&str>, role: Option<&str>) -> Result<Arc<Clients>, String> {
        let region = match region {
            Some(r) if !r.is_empty() && r != "local" => r.to_string(),
            _ => self.home_region(),
        };
        let key = (region.clone(), role.unwrap_or_default().to_string());
        let mut built = self.built.lock().await;
        if let Some(clients) = built.get(&key) {
            return Ok(clients.clone());
        }
        let mut config = self.base.to_builder().region(Region::new(region.clone()));
        if let Some(role) = role.filter(|r| !r.is_empty()) {
            if !role.starts_with("arn:") {
                return Err(format!("roleArn {role:?} is not an IAM role ARN"));
            }
            let provider = aws_config::sts::AssumeRoleProvider::builder(role)
                .session_name("pipewright")
                .region(Region::new(region.clone()))
                .configure(&self.base)
                .build()
                .await;
            config = config.credentials_provider(SharedCredentialsProvider::new(provider));
        }
        let clients = Arc::new(Clients::new(&config.build(), &self.interceptors));
        built.insert(key, clients.clone());
        Ok(clients)
    }
}
