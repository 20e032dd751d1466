//! One small HTTP/1.1 client, for every place Pipewright calls out over HTTP: the CLI's
//! `--endpoint` calls, Lambda invoke actions sent to `cargo lambda watch`, the repository
//! hosts' APIs and archives (docs/sources.md), and the dev stack's router and tests.
//! hyper-util's client; `https://` URLs use rustls with this machine's root certificates,
//! loaded on first use (so plain `http://` calls work on a machine without any).
//!
//! [`Client::send`] is one exchange, any status an answer. [`Client::fetch`] and
//! [`Client::download`] follow redirects and turn a status other than a success into an
//! [`HttpError`] that says whether to retry.

mod error;
mod fetch;
mod redirects;
#[cfg(test)]
mod test_server;

use std::sync::OnceLock;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client as Pool;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

pub use error::HttpError;
pub use redirects::MAX_REDIRECTS;

/// URLs as the client reads them.
pub use hyper::Uri;

/// A request to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub method: String,
    /// An absolute `http://` or `https://` URL.
    pub url: String,
    /// Sent as given; a `host` among them replaces the one derived from the URL.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Request {
    pub fn new(method: &str, url: &str) -> Request {
        Request { method: method.to_string(), url: url.to_string(), headers: Vec::new(), body: Vec::new() }
    }

    pub fn header(mut self, name: &str, value: &str) -> Request {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Request {
        self.body = body.into();
        self
    }
}

/// A response: its status and whole body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub body: Vec<u8>,
}

impl Response {
    /// The body as text (invalid UTF-8 replaced).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

type Body = Full<Bytes>;

/// A client. Connections are kept for reuse while it lives; it belongs to the Tokio runtime
/// it is first used on, so make one per runtime (they are cheap).
pub struct Client {
    plain: Pool<HttpConnector, Body>,
    tls: OnceLock<Result<Pool<HttpsConnector<HttpConnector>, Body>, String>>,
}

impl Default for Client {
    fn default() -> Client {
        Client::new()
    }
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client").finish_non_exhaustive()
    }
}

impl Client {
    pub fn new() -> Client {
        Client { plain: Pool::builder(TokioExecutor::new()).build_http(), tls: OnceLock::new() }
    }

    fn tls(&self) -> Result<&Pool<HttpsConnector<HttpConnector>, Body>, String> {
        let built = self.tls.get_or_init(|| {
            let connector = hyper_rustls::HttpsConnectorBuilder::new()
                .with_native_roots()
                .map_err(|e| error::chain(&e))?
                .https_or_http()
                .enable_http1()
                .build();
            Ok(Pool::builder(TokioExecutor::new()).build(connector))
        });
        built.as_ref().map_err(Clone::clone)
    }

    /// Sends `request` and reads the whole response. Any status is a response; an error is a
    /// request that could not be sent or answered.
    pub async fn send(&self, request: Request) -> Result<Response, HttpError> {
        let response = self.exchange(&request).await?;
        let status = response.status().as_u16();
        let body = read_body(&request.url, response).await?;
        Ok(Response { status, body })
    }

    /// Sends `request`; the response with its body unread.
    async fn exchange(&self, request: &Request) -> Result<hyper::Response<Incoming>, HttpError> {
        let Request { method, url, headers, body } = request;
        let invalid = |reason: String| HttpError::Invalid { url: url.clone(), reason };
        let uri: hyper::Uri = url.parse().map_err(|e| invalid(format!("not a URL: {e}")))?;
        let mut builder = hyper::Request::builder().method(method.as_str()).uri(uri.clone());
        for (name, value) in headers {
            builder = builder.header(name, value);
        }
        let outgoing = builder.body(Full::new(Bytes::from(body.clone()))).map_err(|e| invalid(error::chain(&e)))?;
        let transport = |e: &dyn std::error::Error| HttpError::Transport { url: url.clone(), reason: error::chain(e) };
        match uri.scheme_str() {
            Some("http") => self.plain.request(outgoing).await.map_err(|e| transport(&e)),
            Some("https") => {
                let tls = self.tls().map_err(|reason| HttpError::Roots { url: url.clone(), reason })?;
                tls.request(outgoing).await.map_err(|e| transport(&e))
            }
            _ => Err(invalid("expected an http:// or https:// URL".to_string())),
        }
    }
}

/// The whole body of a response to `url`.
async fn read_body(url: &str, response: hyper::Response<Incoming>) -> Result<Vec<u8>, HttpError> {
    let collected = response.into_body().collect().await;
    let body = collected.map_err(|e| HttpError::Transport { url: url.to_string(), reason: error::chain(&e) })?;
    Ok(body.to_bytes().to_vec())
}

/// Sends one request with a client of its own.
pub async fn send(request: Request) -> Result<Response, HttpError> {
    Client::new().send(request).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_server::one_shot;

    #[tokio::test]
    async fn a_request_goes_out_with_its_headers_and_body_and_any_status_comes_back() {
        let (url, received) =
            one_shot("HTTP/1.1 418 I'm a teapot\r\ncontent-length: 5\r\nconnection: close\r\n\r\nshort").await;
        let response = send(
            Request::new("POST", &format!("{url}/2015-03-31/functions/f/invocations?x=1"))
                .header("content-type", "application/json")
                .header("host", "rebound.example")
                .body("{\"a\":1}"),
        )
        .await
        .unwrap();
        assert_eq!((response.status, response.text().as_str(), response.is_success()), (418, "short", false));
        let seen = received.await.unwrap().to_ascii_lowercase();
        assert!(seen.starts_with("post /2015-03-31/functions/f/invocations?x=1 http/1.1\r\n"), "{seen}");
        assert!(seen.contains("host: rebound.example\r\n"), "a given host wins: {seen}");
        assert!(seen.contains("content-type: application/json\r\n") && seen.ends_with("{\"a\":1}"), "{seen}");
    }

    #[tokio::test]
    async fn bad_urls_and_unreachable_servers_are_errors_that_say_so() {
        assert!(matches!(send(Request::new("GET", "not a url")).await, Err(HttpError::Invalid { .. })));
        assert!(matches!(send(Request::new("GET", "ftp://example.com/")).await, Err(HttpError::Invalid { .. })));
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let refused = send(Request::new("GET", &format!("http://127.0.0.1:{port}/"))).await.unwrap_err();
        assert!(matches!(refused, HttpError::Transport { .. }), "{refused}");
        assert!(refused.to_string().contains("refused"), "the cause is named: {refused}");
    }
}
