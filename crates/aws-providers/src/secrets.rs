//! Parameter Store and Secrets Manager values for CodeBuild builds run by `pipewright run
//! --aws` / `--aws-endpoint` (docs/codebuild.md "Secrets"): SSM GetParameters with
//! decryption, Secrets Manager GetSecretValue with the reference's `version-stage` and
//! `version-id`, and its `json-key` taken from the secret's JSON.

use aws_config::SdkConfig;

use pipewright_providers::buildspec::environment::{
    FindFuture, SecretKind, SecretReference, SecretRequest, SecretStore, json_key,
};

use crate::errors::CallError;

/// SSM and Secrets Manager in the run's region, as the run's identity.
pub struct AwsSecrets {
    ssm: aws_sdk_ssm::Client,
    secretsmanager: aws_sdk_secretsmanager::Client,
    region: String,
}

impl AwsSecrets {
    pub fn new(sdk: &SdkConfig) -> AwsSecrets {
        AwsSecrets {
            ssm: aws_sdk_ssm::Client::new(sdk),
            secretsmanager: aws_sdk_secretsmanager::Client::new(sdk),
            region: sdk.region().map(|r| r.to_string()).unwrap_or_else(|| "us-east-1".to_string()),
        }
    }

    async fn parameter(&self, name: &str) -> Result<Option<String>, String> {
        let response = self
            .ssm
            .get_parameters()
            .names(name)
            .with_decryption(true)
            .send()
            .await
            .map_err(|e| CallError::of("SSM GetParameters", &e).message)?;
        Ok(response.parameters().iter().find_map(|p| p.value().map(str::to_string)))
    }

    async fn secret(&self, text: &str) -> Result<Option<String>, String> {
        let reference = SecretReference::parse(text);
        let sent = self
            .secretsmanager
            .get_secret_value()
            .secret_id(&reference.secret_id)
            .set_version_stage(reference.version_stage.clone())
            .set_version_id(reference.version_id.clone())
            .send()
            .await;
        let response = match sent {
            Ok(response) => response,
            Err(e) => {
                let error = CallError::of("Secrets Manager GetSecretValue", &e);
                return if error.is("ResourceNotFoundException") { Ok(None) } else { Err(error.message) };
            }
        };
        let Some(document) = response.secret_string() else {
            return Err(format!(
                "secret {} has no string value (a binary secret cannot be a variable)",
                reference.secret_id
            ));
        };
        match &reference.json_key {
            None => Ok(Some(document.to_string())),
            Some(key) => {
                json_key(document, key).map(Some).map_err(|why| format!("secret {} {why}", reference.secret_id))
            }
        }
    }
}

impl SecretStore for AwsSecrets {
    fn find<'a>(&'a self, request: &'a SecretRequest) -> FindFuture<'a> {
        Box::pin(async move {
            match request.kind {
                SecretKind::ParameterStore => self.parameter(&request.reference).await,
                SecretKind::SecretsManager => self.secret(&request.reference).await,
            }
        })
    }

    fn describe(&self, kind: SecretKind) -> String {
        match kind {
            SecretKind::ParameterStore => format!("AWS Systems Manager Parameter Store ({})", self.region),
            SecretKind::SecretsManager => format!("AWS Secrets Manager ({})", self.region),
        }
    }
}
