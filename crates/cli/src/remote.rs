//! A client of a remote Pipewright (`--endpoint`): the AWS deployment's api function or
//! `pipewright serve`, in CodePipeline's wire protocol, signed with SigV4 as the aws CLI
//! signs (credentials from `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`, or a profile of the
//! shared credentials file).

use std::path::PathBuf;

use anyhow::{Result, anyhow};
use serde_json::Value;

use pipewright_api::protocol::{CONTENT_TYPE, TARGET_PREFIX};
use pipewright_api::sigv4::{Credentials, Signer};
use pipewright_http::{Client, Request};

use crate::failure::usage;

/// An error the remote API answered with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{exception}: {message}")]
pub struct RemoteError {
    pub exception: String,
    pub message: String,
}

impl RemoteError {
    /// The caller's mistake (a missing pipeline, a bad argument), not a failure of the run.
    pub fn is_usage(&self) -> bool {
        self.exception.ends_with("NotFoundException") || self.exception == "ValidationException"
    }
}

pub struct Remote {
    /// `scheme://authority/`: the API is served at `POST /`.
    url: String,
    /// The `host` header, as the request is signed with it.
    host: String,
    /// `None` without credentials: requests go unsigned (an open `pipewright serve`).
    signer: Option<Signer>,
    client: Client,
}

/// `[profile]` of an INI credentials file: (access key, secret, session token).
fn profile_credentials(text: &str, profile: &str) -> Option<Credentials> {
    let mut in_profile = false;
    let (mut key, mut secret, mut token) = (None, None, None);
    for line in text.lines().map(str::trim) {
        if let Some(section) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            in_profile = section.trim() == profile;
            continue;
        }
        let Some((name, value)) = line.split_once('=').filter(|_| in_profile) else { continue };
        let value = Some(value.trim().to_string());
        match name.trim() {
            "aws_access_key_id" => key = value,
            "aws_secret_access_key" => secret = value,
            "aws_session_token" => token = value,
            _ => {}
        }
    }
    Some(Credentials { access_key: key?, secret_key: secret?, session_token: token })
}

pub fn credentials(profile: Option<&str>) -> Result<Option<Credentials>> {
    if profile.is_none()
        && let (Ok(key), Ok(secret)) = (std::env::var("AWS_ACCESS_KEY_ID"), std::env::var("AWS_SECRET_ACCESS_KEY"))
    {
        return Ok(Some(Credentials {
            access_key: key,
            secret_key: secret,
            session_token: std::env::var("AWS_SESSION_TOKEN").ok(),
        }));
    }
    let name = profile.map(str::to_string).or_else(|| std::env::var("AWS_PROFILE").ok());
    let file = std::env::var_os("AWS_SHARED_CREDENTIALS_FILE")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".aws/credentials")));
    let text = file.as_ref().and_then(|f| std::fs::read_to_string(f).ok());
    match (text, name) {
        (Some(text), Some(name)) => profile_credentials(&text, &name).map(Some).ok_or_else(|| {
            usage(format!(
                "--profile {name}: no aws_access_key_id and aws_secret_access_key for it in the credentials file"
            ))
        }),
        (None, Some(name)) if profile.is_some() => Err(usage(format!("--profile {name}: no credentials file"))),
        (text, _) => Ok(text.and_then(|t| profile_credentials(&t, "default"))),
    }
}

impl Remote {
    /// True when the endpoint is this machine (a `pipewright serve`), not a deployment whose
    /// actions reach AWS.
    pub fn is_loopback(&self) -> bool {
        let name = match self.host.rsplit_once(':') {
            Some((name, port)) if !name.ends_with(':') && port.chars().all(|c| c.is_ascii_digit()) => name,
            _ => self.host.as_str(),
        };
        matches!(name, "127.0.0.1" | "localhost" | "[::1]") || name.starts_with("127.")
    }

    pub fn new(endpoint: &str, profile: Option<&str>, region: Option<&str>) -> Result<Remote> {
        let parsed: pipewright_http::Uri =
            endpoint.parse().map_err(|e| usage(format!("--endpoint {endpoint}: not a URL: {e}")))?;
        let (Some(scheme @ ("http" | "https")), Some(host), Some(authority)) =
            (parsed.scheme_str(), parsed.host(), parsed.authority())
        else {
            return Err(usage(format!("--endpoint {endpoint}: expected http://host[:port] or https://host")));
        };
        let region = region
            .map(str::to_string)
            .or_else(|| std::env::var("AWS_REGION").ok())
            .or_else(|| std::env::var("AWS_DEFAULT_REGION").ok())
            .unwrap_or_else(|| "us-east-1".to_string());
        let signer = credentials(profile)?.map(|credentials| Signer {
            credentials,
            region,
            service: "codepipeline".to_string(),
        });
        let host = match parsed.port_u16() {
            Some(port) => format!("{host}:{port}"),
            None => host.to_string(),
        };
        Ok(Remote { url: format!("{scheme}://{authority}/"), host, signer, client: Client::new() })
    }

    /// Calls `operation` with `input`; an API error comes back as a [`RemoteError`].
    pub async fn call(&self, operation: &str, input: Value) -> Result<Value> {
        let body = serde_json::to_vec(&input)?;
        let mut headers = vec![
            ("host".to_string(), self.host.clone()),
            ("content-type".to_string(), CONTENT_TYPE.to_string()),
            ("x-amz-target".to_string(), format!("{TARGET_PREFIX}{operation}")),
        ];
        if let Some(signer) = &self.signer {
            signer.sign("POST", &self.url, &mut headers, &body, std::time::SystemTime::now())?;
        }
        let request = Request { method: "POST".to_string(), url: self.url.clone(), headers, body };
        let response = self.client.send(request).await?;
        let value: Value = if response.body.is_empty() {
            Value::Object(Default::default())
        } else {
            serde_json::from_slice(&response.body)
                .map_err(|_| anyhow!("{} answered HTTP {} with a body that is not JSON", self.url, response.status))?
        };
        if response.is_success() {
            return Ok(value);
        }
        let exception = value["__type"].as_str().unwrap_or("UnknownError");
        // `__type` may carry a namespace prefix (`com.amazonaws…#Name`).
        let exception = exception.rsplit('#').next().unwrap_or(exception).to_string();
        let message = value["message"].as_str().or(value["Message"].as_str()).unwrap_or_default().to_string();
        Err(RemoteError { exception, message }.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profiles_are_read_from_the_credentials_file() {
        let text = "[default]\naws_access_key_id = A\naws_secret_access_key = B\n\n[ci]\naws_access_key_id=C\naws_secret_access_key=D\naws_session_token=T\n";
        let ci = profile_credentials(text, "ci").unwrap();
        assert_eq!(
            (ci.access_key.as_str(), ci.secret_key.as_str(), ci.session_token.as_deref()),
            ("C", "D", Some("T"))
        );
        assert_eq!(profile_credentials(text, "default").unwrap().access_key, "A");
        assert!(profile_credentials(text, "missing").is_none());
    }
}
