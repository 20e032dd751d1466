//! Requests that follow redirects and want a success: the repository hosts' API answers and
//! archives (docs/sources.md). A final status other than 2xx is an [`HttpError`] that says
//! whether it is worth a retry; a download streams its body into a file, within a size limit.

use std::path::Path;

use http_body_util::BodyExt;
use hyper::body::Incoming;
use tokio::io::AsyncWriteExt;

use crate::redirects::{MAX_REDIRECTS, is_redirect, next_request};
use crate::{Client, HttpError, Request, Response, read_body};

impl Client {
    /// Sends `request`, following up to [`MAX_REDIRECTS`] redirects, and reads the whole answer,
    /// which must be a success. `Response::status` is the final answer's.
    pub async fn fetch(&self, request: Request) -> Result<Response, HttpError> {
        let (url, response) = self.follow(request).await?;
        let status = response.status().as_u16();
        Ok(Response { status, body: read_body(&url, response).await? })
    }

    /// Like [`Client::fetch`], but streams the answer into the file at `path` (created or
    /// truncated) and returns its size. A body over `limit` bytes is refused, and a file
    /// left half-written by any failure is removed.
    pub async fn download(&self, request: Request, path: &Path, limit: u64) -> Result<u64, HttpError> {
        let (url, response) = self.follow(request).await?;
        let written = write_body(&url, response, path, limit).await;
        if written.is_err() {
            let _ = tokio::fs::remove_file(path).await;
        }
        written
    }

    /// The final, successful response with its body unread, and the URL that gave it.
    async fn follow(&self, request: Request) -> Result<(String, hyper::Response<Incoming>), HttpError> {
        let first = request.url.clone();
        let mut request = request;
        for _ in 0..=MAX_REDIRECTS {
            let response = self.exchange(&request).await?;
            let status = response.status().as_u16();
            if response.status().is_success() {
                return Ok((request.url, response));
            }
            if !is_redirect(status) {
                let body = read_body(&request.url, response).await.unwrap_or_default();
                return Err(HttpError::from_status(&request.url, status, &body));
            }
            let location = response.headers().get(hyper::header::LOCATION).and_then(|l| l.to_str().ok());
            request = next_request(&request, status, location)
                .map_err(|reason| HttpError::Redirects { url: request.url.clone(), reason })?;
        }
        Err(HttpError::Redirects { url: first, reason: format!("redirected more than {MAX_REDIRECTS} times") })
    }
}

/// Streams `response`'s body into `path`; its size.
async fn write_body(url: &str, response: hyper::Response<Incoming>, path: &Path, limit: u64) -> Result<u64, HttpError> {
    let file_error = |e: std::io::Error| HttpError::File { path: path.display().to_string(), reason: e.to_string() };
    let mut file = tokio::fs::File::create(path).await.map_err(file_error)?;
    let mut body = response.into_body();
    let mut written = 0u64;
    while let Some(frame) = body.frame().await {
        let frame =
            frame.map_err(|e| HttpError::Transport { url: url.to_string(), reason: crate::error::chain(&e) })?;
        if let Ok(data) = frame.into_data() {
            written += data.len() as u64;
            if written > limit {
                return Err(HttpError::TooLarge { url: url.to_string(), limit });
            }
            file.write_all(&data).await.map_err(file_error)?;
        }
    }
    file.flush().await.map_err(file_error)?;
    Ok(written)
}

#[cfg(test)]
mod tests {
    use crate::test_server::{answer, bind, serve};
    use crate::{Client, HttpError, MAX_REDIRECTS, Request};

    fn redirect_to(location: &str) -> Vec<u8> {
        answer("302 Found", &format!("location: {location}\r\n"), b"")
    }

    fn header<'a>(request: &'a str, name: &str) -> Option<&'a str> {
        request.lines().find_map(|line| {
            let (key, value) = line.split_once(": ")?;
            key.eq_ignore_ascii_case(name).then_some(value)
        })
    }

    #[tokio::test]
    async fn a_redirect_to_another_host_drops_the_authorization_that_the_same_host_keeps() {
        let (api, api_url) = bind().await;
        let (archives, archives_url) = bind().await;
        let api_seen = serve(
            api,
            vec![redirect_to("/zipball/abc/moved"), redirect_to(&format!("{archives_url}/archive/abc.zip"))],
        );
        let archives_seen = serve(archives, vec![answer("200 OK", "", b"zip bytes")]);
        let request = Request::new("GET", &format!("{api_url}/repos/o/r/zipball/abc"))
            .header("Authorization", "Bearer secret")
            .header("Accept", "application/vnd.github+json");
        let response = Client::new().fetch(request).await.unwrap();
        assert_eq!((response.status, response.text().as_str()), (200, "zip bytes"));
        let api_seen = api_seen.await.unwrap();
        assert!(api_seen[0].starts_with("GET /repos/o/r/zipball/abc HTTP/1.1\r\n"), "{}", api_seen[0]);
        assert!(api_seen[1].starts_with("GET /zipball/abc/moved HTTP/1.1\r\n"), "{}", api_seen[1]);
        for request in &api_seen {
            assert_eq!(header(request, "authorization"), Some("Bearer secret"), "the same host keeps it: {request}");
        }
        let archives_seen = archives_seen.await.unwrap();
        assert!(archives_seen[0].starts_with("GET /archive/abc.zip HTTP/1.1\r\n"), "{}", archives_seen[0]);
        assert_eq!(header(&archives_seen[0], "authorization"), None, "another host: {}", archives_seen[0]);
        assert_eq!(header(&archives_seen[0], "accept"), Some("application/vnd.github+json"));
    }

    #[tokio::test]
    async fn redirects_are_followed_up_to_a_bound() {
        let (listener, url) = bind().await;
        let loops = vec![redirect_to("/again"); MAX_REDIRECTS + 1];
        let seen = serve(listener, loops);
        let error = Client::new().fetch(Request::new("GET", &format!("{url}/start"))).await.unwrap_err();
        assert!(matches!(&error, HttpError::Redirects { .. }) && !error.is_transient(), "{error}");
        assert!(error.to_string().contains(&format!("more than {MAX_REDIRECTS} times")), "{error}");
        assert_eq!(seen.await.unwrap().len(), MAX_REDIRECTS + 1);

        let (listener, url) = bind().await;
        let _seen = serve(listener, vec![answer("302 Found", "", b"")]);
        let error = Client::new().fetch(Request::new("GET", &url)).await.unwrap_err();
        assert!(error.to_string().contains("without a Location"), "{error}");
    }

    #[tokio::test]
    async fn a_refusal_is_permanent_and_a_busy_server_transient_each_with_its_message() {
        let (listener, url) = bind().await;
        let _seen = serve(
            listener,
            vec![answer("404 Not Found", "", b"No commit found"), answer("503 Service Unavailable", "", b"later")],
        );
        let client = Client::new();
        let refused = client.fetch(Request::new("GET", &format!("{url}/a"))).await.unwrap_err();
        assert_eq!(
            refused,
            HttpError::Refused { url: format!("{url}/a"), status: 404, message: "No commit found".into() }
        );
        let busy = client.fetch(Request::new("GET", &format!("{url}/b"))).await.unwrap_err();
        assert!(matches!(busy, HttpError::Unavailable { status: 503, .. }) && busy.is_transient(), "{busy}");
        assert!(busy.to_string().contains("later"), "{busy}");
    }

    #[tokio::test]
    async fn a_download_streams_the_whole_body_into_its_file_after_a_redirect() {
        let body: Vec<u8> = (0..3 * 1024 * 1024).map(|i| (i % 251) as u8).collect();
        let (listener, url) = bind().await;
        let _seen = serve(listener, vec![redirect_to("/archive.zip"), answer("200 OK", "", &body)]);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("archive.zip");
        let size = Client::new().download(Request::new("GET", &format!("{url}/zipball")), &path, 4 << 20).await;
        assert_eq!(size, Ok(body.len() as u64));
        assert!(std::fs::read(&path).unwrap() == body, "the file holds the body exactly");
    }

    #[tokio::test]
    async fn a_download_over_its_limit_is_refused_and_leaves_no_file() {
        let (listener, url) = bind().await;
        let _seen = serve(listener, vec![answer("200 OK", "", &[7u8; 100_000])]);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("archive.zip");
        let error = Client::new().download(Request::new("GET", &url), &path, 1000).await.unwrap_err();
        assert_eq!(error, HttpError::TooLarge { url: url.clone(), limit: 1000 });
        assert!(!error.is_transient());
        assert!(!path.exists(), "no half-written file is left");
    }

    #[tokio::test]
    async fn a_download_that_cannot_write_its_file_says_which() {
        let (listener, url) = bind().await;
        let _seen = serve(listener, vec![answer("200 OK", "", b"bytes")]);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("missing").join("archive.zip");
        let error = Client::new().download(Request::new("GET", &url), &path, 1000).await.unwrap_err();
        assert!(matches!(&error, HttpError::File { path: p, .. } if p.ends_with("archive.zip")), "{error}");
    }
}
