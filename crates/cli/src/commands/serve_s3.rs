//! The artifact directory as S3 objects: GetObject, HeadObject and PutObject, path-style
//! (`/<bucket>/<key>`), so that a Lambda job worker written for CodePipeline reads its input
//! artifacts and writes its outputs with aws-sdk-s3 (`AWS_ENDPOINT_URL_S3` = this server).

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

use pipewright_api::protocol::{header_value, percent_decode};
use pipewright_api::sigv4::verify;
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

fn etag(bytes: &[u8]) -> String {
    format!("\"{}\"", hex::encode(&Sha256::digest(bytes)[..16]))
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

/// Who may do what: a request signed with a job's `artifactCredentials` reaches that job's
/// artifacts only (and only while the job runs); one signed with the server's keys (or any,
/// on an open server) reaches every object.
async fn authorize<C: ControlPlane>(
    plane: &C,
    authenticator: &Authenticator,
    request: &HttpRequest<'_>,
) -> Result<Option<ArtifactScope>, ApiError> {
    let now_seconds = now().millis() / 1000;
    let token = header_value(request.headers, "x-amz-security-token");
    let Some(job_id) = token.and_then(job_of_local_token) else {
        authenticator.authenticate(request, now_seconds)?;
        return Ok(None);
    };
    let (credentials, scope) = job_artifact_access(plane, job_id).await.map_err(|_| ApiError {
        status: 403,
        exception: "InvalidToken",
        message: format!("the session token names job {job_id}, which is not in progress"),
    })?;
    let secret = |key: &str| (key == credentials.access_key_id).then(|| credentials.secret_access_key.clone());
    verify(request, secret, now_seconds)?;
    Ok(Some(scope))
}

pub async fn object<C: ControlPlane>(
    plane: &C,
    backend: &Backend,
    authenticator: &Authenticator,
    request: &HttpRequest<'_>,
) -> Response {
    let scope = match authorize(plane, authenticator, request).await {
        Ok(scope) => scope,
        Err(refusal) => return refused(refusal),
    };
    let Some((bucket, key)) = request.path.trim_start_matches('/').split_once('/') else {
        return error(StatusCode::BAD_REQUEST, "InvalidRequest", "expected /<bucket>/<key>");
    };
    let (Ok(bucket), Ok(key)) = (percent_decode(bucket), percent_decode(key)) else {
        return error(StatusCode::BAD_REQUEST, "InvalidURI", "the object key is not valid UTF-8");
    };
    let access = if request.method == "PUT" { ObjectAccess::Write } else { ObjectAccess::Read };
    if scope.is_some_and(|scope| !scope.allows(access, &bucket, &key)) {
        return error(
            StatusCode::FORBIDDEN,
            "AccessDenied",
            "the job's artifactCredentials reach its input artifacts (read) and output artifacts (write) only",
        );
    }
    let location = ArtifactLocation { bucket, key };
    let Ok(path) = backend.providers.artifacts.path(&location) else {
        return error(StatusCode::BAD_REQUEST, "InvalidArgument", "the object key leaves the artifact store");
    };
    let header = |name: &str| header_value(request.headers, name);
    let body = request.body;
    match request.method {
        "PUT" => {
            let chunked = header("content-encoding").is_some_and(|v| v.contains("aws-chunked"))
                || header("x-amz-content-sha256").is_some_and(|v| v.starts_with("STREAMING"));
            if chunked {
                return error(
                    StatusCode::NOT_IMPLEMENTED,
                    "NotImplemented",
                    "aws-chunked uploads are not served here: upload a sized body, with the client's request checksum calculation set to WhenRequired",
                );
            }
            let written = match path.parent() {
                Some(parent) => std::fs::create_dir_all(parent).and_then(|()| std::fs::write(&path, body)),
                None => Err(std::io::Error::other("no parent directory")),
            };
            match written {
                Ok(()) => (StatusCode::OK, [(header::ETAG, etag(body))]).into_response(),
                Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, "InternalError", &e.to_string()),
            }
        }
        _ => match std::fs::read(&path) {
            Ok(bytes) => {
                let headers = [
                    (header::ETAG, etag(&bytes)),
                    (header::CONTENT_TYPE, "application/zip".to_string()),
                    (header::CONTENT_LENGTH, bytes.len().to_string()),
                ];
                if request.method == "HEAD" {
                    (StatusCode::OK, headers).into_response()
                } else {
                    (StatusCode::OK, headers, bytes).into_response()
                }
            }
            Err(_) => error(StatusCode::NOT_FOUND, "NoSuchKey", "The specified key does not exist."),
        },
    }
}
