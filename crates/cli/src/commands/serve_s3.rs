//! The artifact directory as S3 objects: GetObject, HeadObject and PutObject, path-style
//! (`/<bucket>/<key>`), so that a Lambda job worker written for CodePipeline reads its input
//! artifacts and writes its outputs with aws-sdk-s3 (`AWS_ENDPOINT_URL_S3` = this server).
//! Objects stream to and from their files: an artifact is never held whole in memory, and
//! an upload may be as large as S3 takes in one PUT, not the API's 1 MiB.

use std::path::{Path, PathBuf};

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};

use pipewright_api::protocol::{header_value, percent_decode};
use pipewright_api::sigv4::{Payload, content_sha256_mismatch, verify_payload};
use pipewright_api::{ApiError, Authenticator, ControlPlane, HttpRequest, job_artifact_access};
use pipewright_core::artifact_access::{ArtifactScope, ObjectAccess, job_of_local_token};
use pipewright_core::engine::ArtifactLocation;
use pipewright_local::backend::{Backend, now};

/// An S3 error document.
fn error(status: StatusCode, code: &str, message: &str) -> Response {
    // The message may quote the request (a job id from a header): escaped as XML text.
    let message = message.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;");
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>{message}</Message></Error>"
    );
    (status, [(header::CONTENT_TYPE, "application/xml")], body).into_response()
}

/// An authentication refusal, under the error code S3 gives it (the API's names differ).
fn refused(refusal: ApiError) -> Response {
    let status = StatusCode::from_u16(refusal.status).unwrap_or(StatusCode::FORBIDDEN);
    let code = match refusal.exception {
        "InvalidSignatureException" if refusal.message.starts_with("Signature expired") => "RequestTimeTooSkewed",
        "InvalidSignatureException" => "SignatureDoesNotMatch",
        "UnrecognizedClientException" => "InvalidAccessKeyId",
        "IncompleteSignatureException" => "AuthorizationHeaderMalformed",
        "MissingAuthenticationTokenException" => "AccessDenied",
        other => other,
    };
    error(status, code, &refusal.message)
}

/// S3's limit for one PUT: an upload past it is refused while it streams.
pub const MAX_OBJECT_BYTES: u64 = 5 * 1024 * 1024 * 1024;

/// Who may do what: a request signed with a job's `artifactCredentials` reaches that job's
/// artifacts only (and only while the job runs); one signed with the server's API key (or
/// any, on an open server) reaches every object, and a worker's key none. `payload` is what
/// the signature's payload hash is checked against.
async fn authorize<C: ControlPlane>(
    plane: &C,
    authenticator: &Authenticator,
    request: &HttpRequest<'_>,
    payload: Payload<'_>,
) -> Result<Option<ArtifactScope>, ApiError> {
    let now_seconds = now().millis() / 1000;
    let token = header_value(request.headers, "x-amz-security-token");
    let Some(job_id) = token.and_then(job_of_local_token) else {
        let signed = authenticator.authenticate_payload(request, payload, now_seconds)?;
        if !authenticator.holds_everything(signed.as_ref()) {
            // A worker reaches a job's artifacts with that job's artifactCredentials only.
            return Err(ApiError {
                status: 403,
                exception: "AccessDenied",
                message: "a worker's key reaches no object: a job's artifactCredentials reach its artifacts".into(),
            });
        }
        return Ok(None);
    };
    let (credentials, scope) = job_artifact_access(plane, job_id).await.map_err(|_| ApiError {
        status: 403,
        exception: "InvalidToken",
        message: format!("the session token names job {job_id}, which is not in progress"),
    })?;
    let secret = |key: &str| (key == credentials.access_key_id).then(|| credentials.secret_access_key.clone());
    verify_payload(request, payload, secret, now_seconds)?;
    Ok(Some(scope))
}

/// The file of the object a request names, once the request is authorized for `access`; or
/// the S3 error that refuses it.
async fn object_path<C: ControlPlane>(
    plane: &C,
    backend: &Backend,
    authenticator: &Authenticator,
    request: &HttpRequest<'_>,
    payload: Payload<'_>,
) -> Result<PathBuf, Response> {
    let scope = authorize(plane, authenticator, request, payload).await.map_err(refused)?;
    let Some((bucket, key)) = request.path.trim_start_matches('/').split_once('/') else {
        return Err(error(StatusCode::BAD_REQUEST, "InvalidRequest", "expected /<bucket>/<key>"));
    };
    let (Ok(bucket), Ok(key)) = (percent_decode(bucket), percent_decode(key)) else {
        return Err(error(StatusCode::BAD_REQUEST, "InvalidURI", "the object key is not valid UTF-8"));
    };
    let access = if request.method == "PUT" { ObjectAccess::Write } else { ObjectAccess::Read };
    if scope.is_some_and(|scope| !scope.allows(access, &bucket, &key)) {
        return Err(error(
            StatusCode::FORBIDDEN,
            "AccessDenied",
            "the job's artifactCredentials reach its input artifacts (read) and output artifacts (write) only",
        ));
    }
    backend
        .providers
        .artifacts
        .path(&ArtifactLocation { bucket, key })
        .map_err(|_| error(StatusCode::BAD_REQUEST, "InvalidArgument", "the object key leaves the artifact store"))
}

/// GetObject and HeadObject; the object is streamed from its file, never held whole.
pub async fn object<C: ControlPlane>(
    plane: &C,
    backend: &Backend,
    authenticator: &Authenticator,
    request: &HttpRequest<'_>,
) -> Response {
    let path = match object_path(plane, backend, authenticator, request, Payload::Body(request.body)).await {
        Ok(path) => path,
        Err(refusal) => return refusal,
    };
    let (file, tag) = match open_with_etag(&path).await {
        Ok(opened) => opened,
        Err(_) => return error(StatusCode::NOT_FOUND, "NoSuchKey", "The specified key does not exist."),
    };
    let length = match file.metadata().await {
        Ok(metadata) => metadata.len(),
        Err(e) => return error(StatusCode::INTERNAL_SERVER_ERROR, "InternalError", &e.to_string()),
    };
    let headers = [
        (header::ETAG, tag),
        (header::CONTENT_TYPE, "application/zip".to_string()),
        (header::CONTENT_LENGTH, length.to_string()),
    ];
    if request.method == "HEAD" {
        return (StatusCode::OK, headers).into_response();
    }
    let body = axum::body::Body::from_stream(tokio_util::io::ReaderStream::with_capacity(file, BUFFER));
    (StatusCode::OK, headers, body).into_response()
}

/// The ETag of a stored object: the first half of its SHA-256, read in bounded buffers.
async fn open_with_etag(path: &Path) -> std::io::Result<(tokio::fs::File, String)> {
    let mut file = tokio::fs::File::open(path).await?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; BUFFER];
    loop {
        let read = file.read(&mut buffer).await?;
        if read == 0 {
            break;
        }
        hasher.update(&buffer[..read]);
    }
    file.seek(std::io::SeekFrom::Start(0)).await?;
    Ok((file, etag(&hasher.finalize())))
}

const BUFFER: usize = 256 * 1024;

fn etag(sha256: &[u8]) -> String {
    format!("\"{}\"", hex::encode(&sha256[..16]))
}

/// PutObject, streamed: the body goes to a staging file beside the object, at most
/// [`MAX_OBJECT_BYTES`], hashed on the way; it becomes the object only when all of it arrived
/// and its SHA-256 is the one the signature covers. A refused or broken upload leaves nothing.
pub async fn put<C: ControlPlane>(
    plane: &C,
    backend: &Backend,
    authenticator: &Authenticator,
    request: &HttpRequest<'_>,
    body: axum::body::Body,
) -> Response {
    let header = |name: &str| header_value(request.headers, name);
    let chunked = header("content-encoding").is_some_and(|v| v.contains("aws-chunked"))
        || header("x-amz-content-sha256").is_some_and(|v| v.starts_with("STREAMING"));
    if chunked {
        return error(
            StatusCode::NOT_IMPLEMENTED,
            "NotImplemented",
            "aws-chunked uploads are not served here: upload a sized body, with the client's request checksum calculation set to WhenRequired",
        );
    }
    let path = match object_path(plane, backend, authenticator, request, Payload::Declared).await {
        Ok(path) => path,
        Err(refusal) => return refusal,
    };
    let declared = header("x-amz-content-sha256").filter(|v| v.len() == 64).map(str::to_ascii_lowercase);
    match receive(body, &path, MAX_OBJECT_BYTES, declared.as_deref()).await {
        Err(Upload::Mismatch) => refused(content_sha256_mismatch()),
        Ok(sha256) => (StatusCode::OK, [(header::ETAG, etag(&sha256))]).into_response(),
        Err(Upload::TooLarge) => error(
            StatusCode::BAD_REQUEST,
            "EntityTooLarge",
            &format!("Your proposed upload exceeds the maximum allowed size of {MAX_OBJECT_BYTES} bytes"),
        ),
        Err(Upload::Broken(reason)) => error(StatusCode::BAD_REQUEST, "IncompleteBody", &reason),
        Err(Upload::Io(e)) => error(StatusCode::INTERNAL_SERVER_ERROR, "InternalError", &e.to_string()),
    }
}

enum Upload {
    TooLarge,
    /// Not the body whose SHA-256 was declared (and signed).
    Mismatch,
    /// The client's body ended in an error.
    Broken(String),
    Io(std::io::Error),
}

/// Streams `body` into the file at `path` through a staging file, within `limit` bytes and
/// only when its SHA-256 is `expected` (hex) if one is; the SHA-256 of what was written. The
/// staging file never outlives a failure.
async fn receive(body: axum::body::Body, path: &Path, limit: u64, expected: Option<&str>) -> Result<[u8; 32], Upload> {
    let parent = path.parent().ok_or_else(|| Upload::Io(std::io::Error::other("no parent directory")))?;
    tokio::fs::create_dir_all(parent).await.map_err(Upload::Io)?;
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let staging = parent.join(format!(".{name}.upload-{}", uuid::Uuid::new_v4().simple()));
    let received = write_staging(body, &staging, limit).await;
    let renamed = match received {
        Ok(sha256) if expected.is_some_and(|expected| expected != hex::encode(sha256)) => Err(Upload::Mismatch),
        Ok(sha256) => tokio::fs::rename(&staging, path).await.map(|()| sha256).map_err(Upload::Io),
        Err(failure) => Err(failure),
    };
    if renamed.is_err() {
        let _ = tokio::fs::remove_file(&staging).await;
    }
    renamed
}

async fn write_staging(mut body: axum::body::Body, staging: &Path, limit: u64) -> Result<[u8; 32], Upload> {
    use http_body_util::BodyExt;
    let mut file = tokio::fs::File::create(staging).await.map_err(Upload::Io)?;
    let mut hasher = Sha256::new();
    let mut written = 0u64;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| Upload::Broken(format!("the request body broke off: {e}")))?;
        let Ok(data) = frame.into_data() else { continue };
        written += data.len() as u64;
        if written > limit {
            return Err(Upload::TooLarge);
        }
        hasher.update(&data);
        file.write_all(&data).await.map_err(Upload::Io)?;
    }
    file.sync_all().await.map_err(Upload::Io)?;
    Ok(hasher.finalize().into())
}
