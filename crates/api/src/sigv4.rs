//! Verifying AWS Signature Version 4, as CodePipeline's endpoint does: the aws CLI, boto3 and
//! the SDKs sign every request with an access key, and the server recomputes the signature
//! from the secret it holds for that key.

use std::collections::BTreeMap;

use sha2::{Digest, Sha256};

use pipewright_core::mac::{hex, hmac_sha256, same};

use crate::protocol::{ApiError, HttpRequest, header_value as header};

/// How far a request's `X-Amz-Date` may be from the server's clock, as on AWS.
const MAX_SKEW_SECONDS: i64 = 15 * 60;

/// Who may call: anybody (a local server on loopback), or the holders of these keys.
#[derive(Debug, Clone, Default)]
pub enum Authenticator {
    /// Every request is accepted; the access key it names, if any, is taken as the caller.
    #[default]
    Open,
    /// Only requests signed with one of these keys (access key id → secret access key).
    Keys(BTreeMap<String, String>),
}

/// The `Authorization` header's parts.
struct Authorization<'a> {
    access_key: &'a str,
    date: &'a str,
    region: &'a str,
    service: &'a str,
    signed_headers: Vec<&'a str>,
    signature: &'a str,
}

fn incomplete(message: impl Into<String>) -> ApiError {
    ApiError::client("IncompleteSignatureException", message)
}

fn parse_authorization(value: &str) -> Result<Authorization<'_>, ApiError> {
    let rest = value
        .strip_prefix("AWS4-HMAC-SHA256 ")
        .ok_or_else(|| incomplete("the Authorization header must use AWS4-HMAC-SHA256"))?;
    let mut credential = None;
    let mut signed_headers = None;
    let mut signature = None;
    for part in rest.split(',') {
        let part = part.trim();
        if let Some(v) = part.strip_prefix("Credential=") {
            credential = Some(v);
        } else if let Some(v) = part.strip_prefix("SignedHeaders=") {
            signed_headers = Some(v);
        } else if let Some(v) = part.strip_prefix("Signature=") {
            signature = Some(v);
        }
    }
    let credential = credential.ok_or_else(|| incomplete("the Authorization header has no Credential"))?;
    let scope: Vec<&str> = credential.split('/').collect();
    let [access_key, date, region, service, "aws4_request"] = scope[..] else {
        return Err(incomplete(format!(
            "Credential {credential:?} is not <key>/<date>/<region>/<service>/aws4_request"
        )));
    };
    Ok(Authorization {
        access_key,
        date,
        region,
        service,
        signed_headers: signed_headers
            .ok_or_else(|| incomplete("the Authorization header has no SignedHeaders"))?
            .split(';')
            .collect(),
        signature: signature.ok_or_else(|| incomplete("the Authorization header has no Signature"))?,
    })
}

/// `Value` with leading and trailing spaces trimmed and inner runs of spaces collapsed.
fn canonical_value(value: &str) -> String {
    value.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The query string with its parameters sorted (they arrive encoded already).
fn canonical_query(query: &str) -> String {
    let mut pairs: Vec<(&str, &str)> =
        query.split('&').filter(|p| !p.is_empty()).map(|p| p.split_once('=').unwrap_or((p, ""))).collect();
    pairs.sort();
    pairs.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("&")
}

/// What a request's `x-amz-content-sha256` header may declare besides a hash: S3 clients
/// send it for requests without a body.
const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";

fn payload_mismatch(message: impl Into<String>) -> ApiError {
    ApiError::client("XAmzContentSHA256Mismatch", message)
}

/// The payload hash that goes into the canonical request: always the hash of the body that
/// arrived. A declared `x-amz-content-sha256` must agree with it, signed or not, so that a
/// captured signature never covers another body (AWS compares the two the same way).
/// `UNSIGNED-PAYLOAD` is taken only for a request without a body; streamed (aws-chunked)
/// payloads are not served.
fn payload_hash(request: &HttpRequest<'_>) -> Result<String, ApiError> {
    let actual = hex(&Sha256::digest(request.body));
    match header(request.headers, "x-amz-content-sha256") {
        None => Ok(actual),
        Some(declared) if declared.eq_ignore_ascii_case(&actual) => Ok(declared.to_string()),
        Some(UNSIGNED_PAYLOAD) if request.body.is_empty() => Ok(UNSIGNED_PAYLOAD.to_string()),
        Some(UNSIGNED_PAYLOAD) => Err(payload_mismatch(
            "x-amz-content-sha256 is UNSIGNED-PAYLOAD but the request has a body: sign the payload's SHA-256",
        )),
        Some(declared) if declared.starts_with("STREAMING-") => Err(payload_mismatch(format!(
            "x-amz-content-sha256 {declared}: streamed (aws-chunked) payloads are not accepted; sign the payload's SHA-256"
        ))),
        Some(_) => {
            Err(payload_mismatch("The provided 'x-amz-content-sha256' header does not match what was computed."))
        }
    }
}

/// The signature of `request` under `secret`, for the scope in `authorization`, with the
/// payload hash `payload` (see [`payload_hash`]).
fn signature(
    request: &HttpRequest<'_>,
    authorization: &Authorization<'_>,
    amz_date: &str,
    secret: &str,
    payload: &str,
) -> String {
    let canonical_headers: String = authorization
        .signed_headers
        .iter()
        .map(|name| format!("{name}:{}\n", canonical_value(header(request.headers, name).unwrap_or_default())))
        .collect();
    let canonical_request = format!(
        "{}\n{}\n{}\n{}\n{}\n{}",
        request.method,
        if request.path.is_empty() { "/" } else { request.path },
        canonical_query(request.query),
        canonical_headers,
        authorization.signed_headers.join(";"),
        payload
    );
    let scope = format!("{}/{}/{}/aws4_request", authorization.date, authorization.region, authorization.service);
    let string_to_sign =
        format!("AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}", hex(&Sha256::digest(canonical_request.as_bytes())));
    let key = [authorization.date, authorization.region, authorization.service, "aws4_request"]
        .iter()
        .fold(format!("AWS4{secret}").into_bytes(), |key, part| hmac_sha256(&key, part.as_bytes()).to_vec());
    hex(&hmac_sha256(&key, string_to_sign.as_bytes()))
}

/// Seconds since the epoch of an `X-Amz-Date` (`20150830T123600Z`).
fn epoch_seconds(amz_date: &str) -> Option<i64> {
    let parsed = chrono::NaiveDateTime::parse_from_str(amz_date, "%Y%m%dT%H%M%SZ").ok()?;
    Some(parsed.and_utc().timestamp())
}

/// The credentials a client signs with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    pub access_key: String,
    pub secret_key: String,
    pub session_token: Option<String>,
}

/// Signs a request as the AWS SDKs do: adds `X-Amz-Date` (and `X-Amz-Security-Token`) to
/// `headers`, then an `Authorization` header covering every header. `headers` must hold
/// `host`; `amz_date` is `YYYYMMDDTHHMMSSZ`.
pub fn sign(request: &mut SignedRequestParts, credentials: &Credentials, region: &str, service: &str, amz_date: &str) {
    request.headers.retain(|(name, _)| !name.eq_ignore_ascii_case("authorization"));
    request.headers.push(("x-amz-date".to_string(), amz_date.to_string()));
    if let Some(token) = &credentials.session_token {
        request.headers.push(("x-amz-security-token".to_string(), token.clone()));
    }
    let mut names: Vec<String> = request.headers.iter().map(|(n, _)| n.to_ascii_lowercase()).collect();
    names.sort();
    names.dedup();
    let date = &amz_date[..amz_date.len().min(8)];
    let authorization = Authorization {
        access_key: &credentials.access_key,
        date,
        region,
        service,
        signed_headers: names.iter().map(String::as_str).collect(),
        signature: "",
    };
    let signed = HttpRequest {
        method: &request.method,
        path: &request.path,
        query: &request.query,
        headers: &request.headers,
        body: &request.body,
    };
    let payload = hex(&Sha256::digest(&request.body));
    let signature = signature(&signed, &authorization, amz_date, &credentials.secret_key, &payload);
    let value = format!(
        "AWS4-HMAC-SHA256 Credential={}/{date}/{region}/{service}/aws4_request, SignedHeaders={}, Signature={signature}",
        credentials.access_key,
        names.join(";")
    );
    request.headers.push(("authorization".to_string(), value));
}

/// An owned request for [`sign`].
#[derive(Debug, Clone, Default)]
pub struct SignedRequestParts {
    pub method: String,
    pub path: String,
    pub query: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Authenticator {
    /// The caller's access key id, once the request is found to be signed by it (or, when
    /// open, whatever key it names).
    pub fn authenticate(&self, request: &HttpRequest<'_>, now_seconds: i64) -> Result<Option<String>, ApiError> {
        let authorization = header(request.headers, "authorization");
        let keys = match self {
            Authenticator::Open => {
                return Ok(authorization.and_then(|a| parse_authorization(a).ok()).map(|a| a.access_key.to_string()));
            }
            Authenticator::Keys(keys) => keys,
        };
        let Some(authorization) = authorization else {
            return Err(ApiError {
                status: 403,
                exception: "MissingAuthenticationTokenException",
                message: "Missing Authentication Token: sign the request with SigV4".to_string(),
            });
        };
        let parsed = parse_authorization(authorization)?;
        let Some(secret) = keys.get(parsed.access_key) else {
            return Err(ApiError {
                status: 403,
                exception: "UnrecognizedClientException",
                message: "The security token included in the request is invalid.".to_string(),
            });
        };
        let amz_date =
            header(request.headers, "x-amz-date").ok_or_else(|| incomplete("the request has no X-Amz-Date header"))?;
        if !amz_date.starts_with(parsed.date) {
            return Err(incomplete("the Credential's date is not the X-Amz-Date's"));
        }
        let signed_at =
            epoch_seconds(amz_date).ok_or_else(|| incomplete(format!("X-Amz-Date {amz_date:?} is not valid")))?;
        if (now_seconds - signed_at).abs() > MAX_SKEW_SECONDS {
            return Err(ApiError {
                status: 403,
                exception: "InvalidSignatureException",
                message: format!("Signature expired: {amz_date} is more than 15 minutes from the server's time"),
            });
        }
        if !parsed.signed_headers.contains(&"host") {
            return Err(incomplete("SignedHeaders must include host"));
        }
        let payload = payload_hash(request)?;
        let expected = signature(request, &parsed, amz_date, secret, &payload);
        // Constant time: a timing difference must not reveal how much of a guess was right.
        if !same(expected.as_bytes(), parsed.signature.as_bytes()) {
            return Err(ApiError {
                status: 403,
                exception: "InvalidSignatureException",
                message: "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method.".to_string(),
            });
        }
        Ok(Some(parsed.access_key.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// AWS's published example (IAM ListUsers, "Create a signed AWS API request").
    fn example(signature: &str) -> (Vec<(String, String)>, Authenticator) {
        let headers = vec![
            ("Content-Type".to_string(), "application/x-www-form-urlencoded; charset=utf-8".to_string()),
            ("Host".to_string(), "iam.amazonaws.com".to_string()),
            ("X-Amz-Date".to_string(), "20150830T123600Z".to_string()),
            (
                "Authorization".to_string(),
                format!(
                    "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/iam/aws4_request, SignedHeaders=content-type;host;x-amz-date, Signature={signature}"
                ),
            ),
        ];
        let keys =
            BTreeMap::from([("AKIDEXAMPLE".to_string(), "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY".to_string())]);
        (headers, Authenticator::Keys(keys))
    }

    const SIGNATURE: &str = "5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7";
    const SIGNED_AT: i64 = 1_440_938_160; // 2015-08-30T12:36:00Z

    fn request(headers: &[(String, String)]) -> HttpRequest<'_> {
        HttpRequest { method: "GET", path: "/", query: "Version=2010-05-08&Action=ListUsers", headers, body: b"" }
    }

    #[test]
    fn the_published_example_verifies() {
        let (headers, keys) = example(SIGNATURE);
        assert_eq!(keys.authenticate(&request(&headers), SIGNED_AT + 60), Ok(Some("AKIDEXAMPLE".to_string())));
    }

    #[test]
    fn a_wrong_signature_an_unknown_key_or_an_old_date_is_refused() {
        let (headers, keys) = example(&SIGNATURE.replace('5', "6"));
        assert_eq!(
            keys.authenticate(&request(&headers), SIGNED_AT).unwrap_err().exception,
            "InvalidSignatureException"
        );
        let (headers, _) = example(SIGNATURE);
        let other = Authenticator::Keys(BTreeMap::from([("AKIDOTHER".to_string(), "x".to_string())]));
        assert_eq!(
            other.authenticate(&request(&headers), SIGNED_AT).unwrap_err().exception,
            "UnrecognizedClientException"
        );
        let (headers, keys) = example(SIGNATURE);
        let late = keys.authenticate(&request(&headers), SIGNED_AT + 16 * 60).unwrap_err();
        assert!(late.message.contains("expired"), "{}", late.message);
        let mut tampered = headers.clone();
        tampered[1].1 = "evil.example".to_string();
        assert!(keys.authenticate(&request(&tampered), SIGNED_AT).is_err(), "a signed header changed");
        let unsigned: Vec<(String, String)> = headers.iter().filter(|(n, _)| n != "Authorization").cloned().collect();
        assert_eq!(keys.authenticate(&request(&unsigned), SIGNED_AT).unwrap_err().status, 403);
    }

    #[test]
    fn what_sign_signs_verifies() {
        let credentials =
            Credentials { access_key: "AKIDEXAMPLE".into(), secret_key: "secret".into(), session_token: None };
        let mut request = SignedRequestParts {
            method: "POST".into(),
            path: "/".into(),
            headers: vec![
                ("Host".into(), "127.0.0.1:8080".into()),
                ("Content-Type".into(), "application/x-amz-json-1.1".into()),
                ("X-Amz-Target".into(), "CodePipeline_20150709.ListPipelines".into()),
            ],
            body: b"{}".to_vec(),
            ..Default::default()
        };
        sign(&mut request, &credentials, "us-east-1", "codepipeline", "20150830T123600Z");
        let keys = Authenticator::Keys(BTreeMap::from([("AKIDEXAMPLE".to_string(), "secret".to_string())]));
        fn view(r: &SignedRequestParts) -> HttpRequest<'_> {
            HttpRequest { method: "POST", path: "/", query: "", headers: &r.headers, body: &r.body }
        }
        assert_eq!(keys.authenticate(&view(&request), SIGNED_AT), Ok(Some("AKIDEXAMPLE".to_string())));
        let mut tampered = request.clone();
        tampered.body = b"{\"maxResults\": 1}".to_vec();
        assert!(keys.authenticate(&view(&tampered), SIGNED_AT).is_err(), "the body is signed");
    }

    fn signed_create(body: &[u8]) -> SignedRequestParts {
        let credentials =
            Credentials { access_key: "AKIDEXAMPLE".into(), secret_key: "secret".into(), session_token: None };
        let mut request = SignedRequestParts {
            method: "POST".into(),
            path: "/".into(),
            headers: vec![
                ("Host".into(), "127.0.0.1:8080".into()),
                ("X-Amz-Target".into(), "CodePipeline_20150709.CreatePipeline".into()),
            ],
            body: body.to_vec(),
            ..Default::default()
        };
        sign(&mut request, &credentials, "us-east-1", "codepipeline", "20150830T123600Z");
        request
    }

    fn keys() -> Authenticator {
        Authenticator::Keys(BTreeMap::from([("AKIDEXAMPLE".to_string(), "secret".to_string())]))
    }

    fn view(r: &SignedRequestParts) -> HttpRequest<'_> {
        HttpRequest { method: "POST", path: "/", query: "", headers: &r.headers, body: &r.body }
    }

    #[test]
    fn a_captured_signature_with_an_unsigned_payload_hash_does_not_cover_another_body() {
        let original = br#"{"pipeline":{"name":"a"}}"#;
        let captured = signed_create(original);
        assert!(keys().authenticate(&view(&captured), SIGNED_AT).is_ok());
        // The attack: the original body's hash declared in an unsigned header, another body sent.
        let mut replayed = captured.clone();
        replayed.headers.push(("x-amz-content-sha256".into(), hex(&Sha256::digest(original))));
        replayed.body = br#"{"pipeline":{"name":"evil"}}"#.to_vec();
        let refused = keys().authenticate(&view(&replayed), SIGNED_AT).unwrap_err();
        assert_eq!((refused.status, refused.exception), (400, "XAmzContentSHA256Mismatch"));
        // Declaring the new body's hash does not help: the signature covers the old one.
        let mut redeclared = replayed.clone();
        redeclared.headers.pop();
        redeclared.headers.push(("x-amz-content-sha256".into(), hex(&Sha256::digest(&replayed.body))));
        assert_eq!(
            keys().authenticate(&view(&redeclared), SIGNED_AT).unwrap_err().exception,
            "InvalidSignatureException"
        );
        // Neither do UNSIGNED-PAYLOAD nor a streamed payload with a body.
        for declared in ["UNSIGNED-PAYLOAD", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"] {
            let mut unsigned = replayed.clone();
            unsigned.headers.pop();
            unsigned.headers.push(("x-amz-content-sha256".into(), declared.into()));
            assert_eq!(
                keys().authenticate(&view(&unsigned), SIGNED_AT).unwrap_err().exception,
                "XAmzContentSHA256Mismatch",
                "{declared}"
            );
        }
    }

    #[test]
    fn a_declared_payload_hash_that_matches_the_body_verifies() {
        let body = b"zip bytes";
        let credentials =
            Credentials { access_key: "AKIDEXAMPLE".into(), secret_key: "secret".into(), session_token: None };
        let mut put = SignedRequestParts {
            method: "PUT".into(),
            path: "/bucket/key".into(),
            headers: vec![
                ("Host".into(), "127.0.0.1:8080".into()),
                ("x-amz-content-sha256".into(), hex(&Sha256::digest(body))),
            ],
            body: body.to_vec(),
            ..Default::default()
        };
        sign(&mut put, &credentials, "us-east-1", "s3", "20150830T123600Z");
        let request = HttpRequest { method: "PUT", path: "/bucket/key", query: "", headers: &put.headers, body };
        assert_eq!(keys().authenticate(&request, SIGNED_AT), Ok(Some("AKIDEXAMPLE".to_string())));
        let swapped = HttpRequest { body: b"other bytes", ..request };
        assert_eq!(keys().authenticate(&swapped, SIGNED_AT).unwrap_err().exception, "XAmzContentSHA256Mismatch");
    }

    #[test]
    fn an_open_server_takes_the_named_key_as_the_caller() {
        let (headers, _) = example("anything");
        assert_eq!(Authenticator::Open.authenticate(&request(&headers), 0), Ok(Some("AKIDEXAMPLE".to_string())));
        assert_eq!(Authenticator::Open.authenticate(&request(&[]), 0), Ok(None));
    }
}
