//! A small HTTP/1.1 client for the dev loop: the router invokes functions that
//! `cargo lambda watch` serves, and the tests fetch the approval page it serves.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper_util::rt::TokioIo;

use super::DevstackError;

/// A response: its status and body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub status: u16,
    pub body: String,
}

fn fail(error: impl std::fmt::Display) -> DevstackError {
    DevstackError::Aws(format!("HTTP: {error}"))
}

/// Sends `method url` with `body` (of `content_type`) to an `http://host:port/...` URL.
pub async fn send(method: &str, url: &str, content_type: &str, body: String) -> Result<Answer, DevstackError> {
    let uri: hyper::Uri = url.parse().map_err(fail)?;
    let host = uri.host().ok_or_else(|| fail(format!("{url} has no host")))?.to_string();
    let port = uri.port_u16().unwrap_or(80);
    let stream = tokio::net::TcpStream::connect((host.as_str(), port)).await.map_err(fail)?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.map_err(fail)?;
    tokio::spawn(connection);
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    let request = Request::builder()
        .method(method)
        .uri(path)
        .header("host", format!("{host}:{port}"))
        .header("content-type", content_type)
        .body(Full::new(Bytes::from(body)))
        .map_err(fail)?;
    let response = sender.send_request(request).await.map_err(fail)?;
    let status = response.status().as_u16();
    let bytes = response.into_body().collect().await.map_err(fail)?.to_bytes();
    Ok(Answer { status, body: String::from_utf8_lossy(&bytes).into_owned() })
}
