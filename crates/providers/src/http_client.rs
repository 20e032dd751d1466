//! A small HTTPS client for the repository hosts' APIs (docs/sources.md): JSON answers,
//! archives streamed to a file, redirects followed. Failures are permanent (the host refused:
//! a 4xx) or transient (a 5xx, a 429, the network), so callers retry only the latter.

use std::path::Path;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::Value;
use tokio::io::AsyncWriteExt;

use pipewright_core::git_hosts::HttpRequest;

/// Redirects followed before giving up (GitHub's archive redirects once).
const MAX_REDIRECTS: usize = 5;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HttpError {
    /// The host answered and will answer the same again: a 4xx other than 429.
    #[error("{url} answered {status}: {message}")]
    Refused { url: String, status: u16, message: String },
    /// Worth another try: a 5xx, a 429, a lost connection.
    #[error("{0}")]
    Transient(String),
}

#[derive(Clone)]
pub struct HttpClient {
    client: Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>,
}

impl HttpClient {
    /// A client trusting the system's certificate authorities.
    pub fn new() -> Result<HttpClient, String> {
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_native_roots()
            .map_err(|e| format!("cannot read the system's certificates: {e}"))?
            .https_or_http()
            .enable_http1()
            .build();
        Ok(HttpClient { client: Client::builder(hyper_util::rt::TokioExecutor::new()).build(connector) })
    }

    /// Sends `request`, following redirects; the final response, body unread. Credentials go
    /// only to the host they were given for: a redirect elsewhere drops `Authorization`.
    async fn send(&self, request: &HttpRequest) -> Result<hyper::Response<hyper::body::Incoming>, HttpError> {
        let mut url = request.url.clone();
        let mut headers = request.headers.clone();
        for _ in 0..=MAX_REDIRECTS {
            let uri: hyper::Uri = url.parse().map_err(|e| HttpError::Refused {
                url: url.clone(),
                status: 0,
                message: format!("not a URL: {e}"),
            })?;
            let mut builder = hyper::Request::builder().method(request.method).uri(&uri);
            for (name, value) in &headers {
                builder = builder.header(name.as_str(), value.as_str());
            }
            let body = request.body.clone().map(Bytes::from).unwrap_or_default();
            if request.body.is_some() {
                builder = builder.header("Content-Type", "application/json");
            }
            let built = builder.body(Full::new(body)).map_err(|e| HttpError::Transient(e.to_string()))?;
            let response = self.client.request(built).await.map_err(|e| HttpError::Transient(format!("{url}: {e}")))?;
            let status = response.status();
            if status.is_redirection() {
                let location = response
                    .headers()
                    .get(hyper::header::LOCATION)
                    .and_then(|l| l.to_str().ok())
                    .ok_or_else(|| HttpError::Transient(format!("{url} redirected without a Location")))?;
                let next = resolve(&uri, location);
                let same_host =
                    next.parse::<hyper::Uri>().ok().and_then(|n| n.authority().cloned()) == uri.authority().cloned();
                if !same_host {
                    headers.retain(|(name, _)| {
                        !name.eq_ignore_ascii_case("authorization") && !name.eq_ignore_ascii_case("private-token")
                    });
                }
                url = next;
                continue;
            }
            if status.is_success() {
                return Ok(response);
            }
            let code = status.as_u16();
            let text = response.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
            let message = String::from_utf8_lossy(&text[..text.len().min(300)]).into_owned();
            return Err(if code == 429 || code >= 500 {
                HttpError::Transient(format!("{url} answered {code}: {message}"))
            } else {
                HttpError::Refused { url, status: code, message }
            });
        }
        Err(HttpError::Transient(format!("{} redirected more than {MAX_REDIRECTS} times", request.url)))
    }

    /// The answer as JSON (`null` for an empty body).
    pub async fn json(&self, request: &HttpRequest) -> Result<Value, HttpError> {
        let response = self.send(request).await?;
        let bytes = response
            .into_body()
            .collect()
            .await
            .map_err(|e| HttpError::Transient(format!("{}: {e}", request.url)))?
            .to_bytes();
        if bytes.is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_slice(&bytes)
            .map_err(|e| HttpError::Transient(format!("{} answered no JSON: {e}", request.url)))
    }

    /// Streams the answer into `path`; its size. More than `limit` bytes is refused.
    pub async fn download(&self, request: &HttpRequest, path: &Path, limit: u64) -> Result<u64, HttpError> {
        let response = self.send(request).await?;
        let io = |e: std::io::Error| HttpError::Transient(format!("cannot write {}: {e}", path.display()));
        let mut file = tokio::fs::File::create(path).await.map_err(io)?;
        let mut body = response.into_body();
        let mut written = 0u64;
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| HttpError::Transient(format!("{}: {e}", request.url)))?;
            if let Ok(data) = frame.into_data() {
                written += data.len() as u64;
                if written > limit {
                    return Err(HttpError::Refused {
                        url: request.url.clone(),
                        status: 413,
                        message: format!("the archive is larger than {limit} bytes"),
                    });
                }
                file.write_all(&data).await.map_err(io)?;
            }
        }
        file.flush().await.map_err(io)?;
        Ok(written)
    }
}

/// A `Location` against the URL it answered.
fn resolve(base: &hyper::Uri, location: &str) -> String {
    if location.contains("://") {
        return location.to_string();
    }
    let scheme = base.scheme_str().unwrap_or("https");
    let authority = base.authority().map(|a| a.as_str()).unwrap_or_default();
    if location.starts_with('/') {
        format!("{scheme}://{authority}{location}")
    } else {
        let path = base.path();
        let directory = &path[..path.rfind('/').map_or(0, |i| i + 1)];
        format!("{scheme}://{authority}{directory}{location}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_resolve_against_the_url_they_answered() {
        let base: hyper::Uri = "https://api.example.test/repos/o/r/zipball/c".parse().unwrap();
        assert_eq!(resolve(&base, "https://codeload.example.test/x.zip"), "https://codeload.example.test/x.zip");
        assert_eq!(resolve(&base, "/archive/c.zip"), "https://api.example.test/archive/c.zip");
        assert_eq!(resolve(&base, "d.zip"), "https://api.example.test/repos/o/r/zipball/d.zip");
    }
}
