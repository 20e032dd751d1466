//! GitHub (version 1) and connection sources on AWS: which host API and token an action reads
//! with (docs/sources.md, "Fetching a commit on AWS").
//!
//! - GitHub version 1: the action's `OAuthToken`, against `PIPEWRIGHT_GITHUB_API_URL` (GitHub
//!   Enterprise Server) or api.github.com.
//! - A connection (`ConnectionArn`): the Secrets Manager secret
//!   `pipewright/connections/<connection id>`, which the team creates and the stack lets the
//!   invoke-action function read. It holds `{"providerType", "token", "baseUrl"?, "webUrl"?}`.

use pipewright_core::engine::{Dispatch, FailureType};
use pipewright_core::git_hosts::{HostApi, HostKind};
use pipewright_providers::ActionError;

/// Where the stack looks for a connection's secret.
pub const CONNECTION_SECRET_PREFIX: &str = "pipewright/connections/";

/// What a connection's secret holds.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ConnectionSecret {
    pub provider_type: String,
    pub token: String,
    #[serde(default)]
    pub base_url: Option<String>,
    #[serde(default)]
    pub web_url: Option<String>,
}

/// The repository an action reads, its branch, and how to reach its host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepositorySource {
    pub api: HostApi,
    pub repository: String,
    pub branch: String,
}

fn config_error(message: String) -> ActionError {
    ActionError { kind: FailureType::ConfigurationError, message }
}

fn config<'a>(dispatch: &'a Dispatch, key: &str) -> Result<&'a str, ActionError> {
    dispatch
        .configuration
        .get(key)
        .map(String::as_str)
        .filter(|v| !v.is_empty())
        .ok_or_else(|| config_error(format!("configuration {key} is required")))
}

/// The secret a connection maps to: its id (the ARN's last segment) under the prefix.
pub fn connection_secret_name(connection_arn: &str) -> Result<String, ActionError> {
    // arn:PARTITION:SERVICE:REGION:ACCOUNT:connection/ID
    let id = connection_arn
        .strip_prefix("arn:")
        .and_then(|rest| rest.splitn(5, ':').nth(4))
        .and_then(|resource| resource.strip_prefix("connection/"))
        .filter(|id| !id.is_empty() && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
        .ok_or_else(|| config_error(format!("ConnectionArn {connection_arn:?} is not a connection ARN")))?;
    Ok(format!("{CONNECTION_SECRET_PREFIX}{id}"))
}

/// A GitHub version 1 action: Owner, Repo, Branch and OAuthToken.
pub fn github_v1(dispatch: &Dispatch, api_url: Option<&str>) -> Result<RepositorySource, ActionError> {
    let repository = format!("{}/{}", config(dispatch, "Owner")?, config(dispatch, "Repo")?);
    let api = HostApi::new(HostKind::GitHub, api_url, None, config(dispatch, "OAuthToken")?).map_err(config_error)?;
    Ok(RepositorySource { api, repository, branch: config(dispatch, "Branch")?.to_string() })
}

/// A connection action: FullRepositoryId and BranchName, read with the connection's secret.
pub fn connection(dispatch: &Dispatch, secret: &str) -> Result<RepositorySource, ActionError> {
    let secret: ConnectionSecret = serde_json::from_str(secret).map_err(|e| {
        config_error(format!("the connection's secret is not {{\"providerType\", \"token\", \"baseUrl\"?}}: {e}"))
    })?;
    let kind = HostKind::parse(&secret.provider_type).map_err(config_error)?;
    let api = HostApi::new(kind, secret.base_url.as_deref(), secret.web_url.as_deref(), &secret.token)
        .map_err(config_error)?;
    Ok(RepositorySource {
        api,
        repository: config(dispatch, "FullRepositoryId")?.to_string(),
        branch: config(dispatch, "BranchName")?.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_connection_maps_to_the_secret_named_by_its_id() {
        let arn = "arn:aws:codeconnections:us-east-1:123456789012:connection/8f2b1c3d-aaaa-bbbb-cccc-0123456789ab";
        assert_eq!(connection_secret_name(arn).unwrap(), "pipewright/connections/8f2b1c3d-aaaa-bbbb-cccc-0123456789ab");
        let old = "arn:aws:codestar-connections:eu-west-1:123456789012:connection/abc-1";
        assert_eq!(connection_secret_name(old).unwrap(), "pipewright/connections/abc-1");
        for bad in ["", "connection/abc", "arn:aws:codeconnections:x:1:connection/../x", "arn:aws:x:y:1:connection/"] {
            let error = connection_secret_name(bad).unwrap_err();
            assert_eq!(error.kind, FailureType::ConfigurationError, "{bad}");
        }
    }

    #[test]
    fn a_connection_secret_names_its_host_and_token() {
        let text =
            r#"{"providerType": "GitHubEnterpriseServer", "token": "t", "baseUrl": "https://git.example.test/api/v3"}"#;
        let secret: ConnectionSecret = serde_json::from_str(text).unwrap();
        assert_eq!(secret.provider_type, "GitHubEnterpriseServer");
        assert!(serde_json::from_str::<ConnectionSecret>(r#"{"providerType": "GitHub"}"#).is_err(), "no token");
        assert!(
            serde_json::from_str::<ConnectionSecret>(r#"{"providerType": "GitHub", "token": "t", "x": 1}"#).is_err()
        );
    }
}
