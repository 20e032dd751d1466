//! The artifact directory as S3 objects: GetObject, HeadObject and PutObject, path-style
//! (`/<bucket>/<key>`), so that a Lambda job worker written for CodePipeline reads its input
//! artifacts and writes its outputs with aws-sdk-s3 (`AWS_ENDPOINT_URL_S3` = this server).

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

use pipewright_api::Authenticator;
use pipewright_api::HttpRequest;
use pipewright_api::protocol::{header_value, percent_decode};
use pipewright_core::engine::ArtifactLocation;
use pipewright_local::backend::{Backend, now};

/// An S3 error document.
fn error(status: StatusCode, code: &str, message: &str) -> Response {
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>{message}</Message></Error>"
    );
    (status, [(header::CONTENT_TYPE, "application/xml")], body).into_response()
}

fn etag(bytes: &[u8]) -> String {
    format!("\"{}\"", hex::encode(&Sha256::digest(bytes)[..16]))
}

pub async fn object(backend: &Backend, authenticator: &Authenticator, request: &HttpRequest<'_>) -> Response {
    if let Err(refused) = authenticator.authenticate(request, now().millis() / 1000) {
        let status = StatusCode::from_u16(refused.status).unwrap_or(StatusCode::FORBIDDEN);
        return error(status, refused.exception, &refused.message);
    }
    let Some((bucket, key)) = request.path.trim_start_matches('/').split_once('/') else {
        return error(StatusCode::BAD_REQUEST, "InvalidRequest", "expected /<bucket>/<key>");
    };
    let (Ok(bucket), Ok(key)) = (percent_decode(bucket), percent_decode(key)) else {
        return error(StatusCode::BAD_REQUEST, "InvalidURI", "the object key is not valid UTF-8");
    };
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
