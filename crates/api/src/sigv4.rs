//! AWS Signature Version 4. Verifying, as CodePipeline's endpoint does: the aws CLI, boto3 and
//! the SDKs sign every request with an access key, and the server recomputes the signature
//! from the secret it holds for that key. Signing (the CLI's `--endpoint`) is `aws-sigv4`'s,
//! the SDKs' own signer.

use std::collections::BTreeMap;
use std::time::SystemTime;

use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use sha2::{Digest, Sha256};

use pipewright_core::mac::{hmac_sha256, verify_hmac_sha256};

use crate::protocol::{ApiError, HttpRequest, header_value as header};

/// How far a request's `X-Amz-Date` may be from the server's clock, as on AWS.
const MAX_SKEW_SECONDS: i64 = 15 * 60;

/// Who may call: anybody (a local server on loopback), or the holders of these keys.
#[derive(Debug, Clone, Default)]
pub enum Authenticator {
    /// Every request is accepted; the access key it names, if any, is taken as the caller.
    #[default]
    Open,
    /// Only requests signed with one of these keys.
    Keys(KeyRing),
}

/// The keys a server takes (access key id → secret access key): keys for every operation and
/// the console, keys that only report jobs, and keys derived for one action type's workers. A
/// Lambda function an invoke action calls is user code: it holds a job-worker key, with which
/// it cannot read a pipeline's state, approve its own gate or change a pipeline, as a role
/// with only `codepipeline:PutJob*Result` cannot on CodePipeline.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyRing {
    pub full: BTreeMap<String, String>,
    pub job_workers: BTreeMap<String, String>,
    /// The API key's secret, which action types' keys are derived from
    /// (`crate::action_type_keys`); none: no such key is taken.
    pub action_type_seed: Option<String>,
}

/// What a key may call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyScope {
    /// Every operation, and the console.
    Full,
    /// [`JOB_WORKER_OPERATIONS`], on jobs whose ids the worker was given.
    JobWorkers,
    /// [`crate::action_type_keys::OPERATIONS`], on jobs of one action type.
    ActionType,
}

impl KeyScope {
    /// The operations a key of this scope may call; `None`: all of them.
    pub fn operations(self) -> Option<&'static [&'static str]> {
        match self {
            KeyScope::Full => None,
            KeyScope::JobWorkers => Some(JOB_WORKER_OPERATIONS),
            KeyScope::ActionType => Some(crate::action_type_keys::OPERATIONS),
        }
    }

    /// What a key of this scope is, for a refusal.
    pub fn describe(self) -> &'static str {
        match self {
            KeyScope::Full => "the API key",
            KeyScope::JobWorkers => "a job worker's key",
            KeyScope::ActionType => "an action type's job workers' key",
        }
    }
}

/// What a job-worker key may call: the operations on a job whose id the worker was given (a
/// Lambda function is given its job in the invoke). Not PollForJobs nor AcknowledgeJob, which
/// hand out any waiting job of an action type, with write credentials for its outputs: a
/// custom action's worker polls with its action type's key.
pub const JOB_WORKER_OPERATIONS: &[&str] = &["GetJobDetails", "PutJobSuccessResult", "PutJobFailureResult"];

impl KeyRing {
    /// The ring of a deployment's API key: that key, and the action types' keys derived
    /// from it when its secret is long enough to make them from
    /// ([`crate::action_type_keys::MIN_API_SECRET`]).
    pub fn of_api_key(access_key: String, secret: String) -> KeyRing {
        let seed = (secret.chars().count() >= crate::action_type_keys::MIN_API_SECRET).then(|| secret.clone());
        let full = BTreeMap::from([(access_key, secret)]);
        KeyRing { full, job_workers: BTreeMap::new(), action_type_seed: seed }
    }

    /// The secret of `access_key`, whichever its scope.
    pub fn secret(&self, access_key: &str) -> Option<String> {
        self.full.get(access_key).or_else(|| self.job_workers.get(access_key)).cloned().or_else(|| {
            let seed = self.action_type_seed.as_deref()?;
            crate::action_type_keys::is_key_id(access_key).then(|| crate::action_type_keys::secret(seed, access_key))
        })
    }

    /// The scope of `access_key`, if the ring takes it.
    pub fn scope(&self, access_key: &str) -> Option<KeyScope> {
        if self.full.contains_key(access_key) {
            Some(KeyScope::Full)
        } else if self.job_workers.contains_key(access_key) {
            Some(KeyScope::JobWorkers)
        } else if self.action_type_seed.is_some() && crate::action_type_keys::is_key_id(access_key) {
            Some(KeyScope::ActionType)
        } else {
            None
        }
    }

    /// Whether `access_key` may call `operation`: a full key anything, the others their
    /// scope's operations.
    pub fn may_call(&self, access_key: &str, operation: &str) -> bool {
        self.scope(access_key)
            .is_some_and(|scope| scope.operations().is_none_or(|allowed| allowed.contains(&operation)))
    }
}

impl From<BTreeMap<String, String>> for KeyRing {
    /// Full keys only.
    fn from(full: BTreeMap<String, String>) -> KeyRing {
        KeyRing { full, ..KeyRing::default() }
    }
}

impl<const N: usize> From<[(String, String); N]> for KeyRing {
    /// Full keys only.
    fn from(full: [(String, String); N]) -> KeyRing {
        KeyRing::from(BTreeMap::from(full))
    }
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

/// What a signature's payload hash is checked against.
#[derive(Debug, Clone, Copy)]
pub enum Payload<'a> {
    /// The body, all of it at hand.
    Body(&'a [u8]),
    /// A body still to come (an upload streamed to disk): the signature is checked over the
    /// declared `x-amz-content-sha256`, which must then be a SHA-256, and the caller compares
    /// it with the hash of what arrives before keeping any of it, as S3 does.
    Declared,
}

/// The payload hash that goes into the canonical request: always the hash of the body that
/// arrived. A declared `x-amz-content-sha256` must agree with it, signed or not, so that a
/// captured signature never covers another body (AWS compares the two the same way).
/// `UNSIGNED-PAYLOAD` is taken only for a request without a body; streamed (aws-chunked)
/// payloads are not served.
fn payload_hash(request: &HttpRequest<'_>, payload: Payload<'_>) -> Result<String, ApiError> {
    let declared = header(request.headers, "x-amz-content-sha256");
    let body = match payload {
        Payload::Body(body) => body,
        Payload::Declared => {
            return match declared {
                Some(hash) if is_sha256_hex(hash) => Ok(hash.to_ascii_lowercase()),
                _ => Err(payload_mismatch(
                    "an upload must declare its payload's SHA-256 in x-amz-content-sha256, and sign it",
                )),
            };
        }
    };
    let actual = hex::encode(Sha256::digest(body));
    match declared {
        None => Ok(actual),
        Some(declared) if declared.eq_ignore_ascii_case(&actual) => Ok(declared.to_string()),
        Some(UNSIGNED_PAYLOAD) if body.is_empty() => Ok(UNSIGNED_PAYLOAD.to_string()),
        Some(UNSIGNED_PAYLOAD) => Err(payload_mismatch(
            "x-amz-content-sha256 is UNSIGNED-PAYLOAD but the request has a body: sign the payload's SHA-256",
        )),
        Some(declared) if declared.starts_with("STREAMING-") => Err(payload_mismatch(format!(
            "x-amz-content-sha256 {declared}: streamed (aws-chunked) payloads are not accepted; sign the payload's SHA-256"
        ))),
        Some(_) => Err(content_sha256_mismatch()),
    }
}

/// S3's answer to a body whose hash is not the one declared.
pub fn content_sha256_mismatch() -> ApiError {
    payload_mismatch("The provided 'x-amz-content-sha256' header does not match what was computed.")
}

fn is_sha256_hex(value: &str) -> bool {
    value.len() == 64 && value.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The canonical request's string to sign, for the scope in `authorization`, with the
/// payload hash `payload` (see [`payload_hash`]).
fn string_to_sign(
    request: &HttpRequest<'_>,
    authorization: &Authorization<'_>,
    amz_date: &str,
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
    format!("AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}", hex::encode(Sha256::digest(canonical_request.as_bytes())))
}

/// The key that signs for `authorization`'s scope: the secret, HMAC'd with each part of it.
fn signing_key(secret: &str, authorization: &Authorization<'_>) -> Vec<u8> {
    [authorization.date, authorization.region, authorization.service, "aws4_request"]
        .iter()
        .fold(format!("AWS4{secret}").into_bytes(), |key, part| hmac_sha256(&key, part.as_bytes()).to_vec())
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

/// A request could not be signed (a URL aws-sigv4 cannot read, or no host to sign).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot sign the request: {0}")]
pub struct SignError(String);

/// Signs requests as the AWS SDKs do, with `aws-sigv4`: the client side of `--endpoint`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signer {
    pub credentials: Credentials,
    pub region: String,
    pub service: String,
}

impl Signer {
    /// Adds `x-amz-date` (and `x-amz-security-token`) and an `authorization` header that
    /// covers every header and the body to `headers`. `url` is the full URL, already encoded.
    pub fn sign(
        &self,
        method: &str,
        url: &str,
        headers: &mut Vec<(String, String)>,
        body: &[u8],
        at: SystemTime,
    ) -> Result<(), SignError> {
        let failed = |e: &dyn std::fmt::Display| SignError(e.to_string());
        let Credentials { access_key, secret_key, session_token } = &self.credentials;
        let identity: Identity =
            aws_credential_types::Credentials::new(access_key, secret_key, session_token.clone(), None, "pipewright")
                .into();
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name(&self.service)
            .time(at)
            .settings(SigningSettings::default())
            .build()
            .map_err(|e| failed(&e))?
            .into();
        let signable = SignableRequest::new(
            method,
            url,
            headers.iter().map(|(name, value)| (name.as_str(), value.as_str())),
            SignableBody::Bytes(body),
        )
        .map_err(|e| failed(&e))?;
        let (instructions, _signature) =
            aws_sigv4::http_request::sign(signable, &params).map_err(|e| failed(&e))?.into_parts();
        let (added, _query) = instructions.into_parts();
        for header in added {
            headers.retain(|(name, _)| !name.eq_ignore_ascii_case(header.name()));
            headers.push((header.name().to_string(), header.value().to_string()));
        }
        Ok(())
    }
}

/// Who signed a request, and for which region (the credential scope's): ARNs the answer
/// holds name that region.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signed {
    pub access_key: String,
    pub region: String,
}

impl Authenticator {
    /// The signer, once the request is found to be signed by one of the keys (or, when open,
    /// whoever the request names, unchecked); `None` for an unsigned request to an open server.
    pub fn authenticate(&self, request: &HttpRequest<'_>, now_seconds: i64) -> Result<Option<Signed>, ApiError> {
        self.authenticate_payload(request, Payload::Body(request.body), now_seconds)
    }

    /// [`Authenticator::authenticate`], with the payload hash checked against `payload`.
    pub fn authenticate_payload(
        &self,
        request: &HttpRequest<'_>,
        payload: Payload<'_>,
        now_seconds: i64,
    ) -> Result<Option<Signed>, ApiError> {
        let keys = match self {
            Authenticator::Open => {
                let named = header(request.headers, "authorization").and_then(|a| parse_authorization(a).ok());
                return Ok(named.map(|a| Signed { access_key: a.access_key.to_string(), region: a.region.to_string() }));
            }
            Authenticator::Keys(keys) => keys,
        };
        verify_payload(request, payload, |key| keys.secret(key), now_seconds).map(Some)
    }

    /// Whether `signed` (what [`Authenticator::authenticate`] gave) holds the whole API: a
    /// full key, or anybody on an open server; not a job worker's nor an action type's key.
    pub fn holds_everything(&self, signed: Option<&Signed>) -> bool {
        match self {
            Authenticator::Open => true,
            Authenticator::Keys(keys) => signed.is_some_and(|s| keys.scope(&s.access_key) == Some(KeyScope::Full)),
        }
    }
}

/// Verifies a request's SigV4 signature with the secret `secret_of` gives for the access key
/// it names (`None`: a key nobody issued). The same check for the API's keys and for the
/// artifact credentials of a job.
pub fn verify(
    request: &HttpRequest<'_>,
    secret_of: impl Fn(&str) -> Option<String>,
    now_seconds: i64,
) -> Result<Signed, ApiError> {
    verify_payload(request, Payload::Body(request.body), secret_of, now_seconds)
}

/// [`verify`], with the payload hash checked against `payload`.
pub fn verify_payload(
    request: &HttpRequest<'_>,
    payload: Payload<'_>,
    secret_of: impl Fn(&str) -> Option<String>,
    now_seconds: i64,
) -> Result<Signed, ApiError> {
    let Some(authorization) = header(request.headers, "authorization") else {
        return Err(ApiError {
            status: 403,
            exception: "MissingAuthenticationTokenException",
            message: "Missing Authentication Token: sign the request with SigV4".to_string(),
        });
    };
    let parsed = parse_authorization(authorization)?;
    let Some(secret) = secret_of(parsed.access_key) else {
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
    let payload = payload_hash(request, payload)?;
    let signed = string_to_sign(request, &parsed, amz_date, &payload);
    // In constant time: a timing difference must not reveal how much of a guess was right.
    let genuine = hex::decode(parsed.signature)
        .is_ok_and(|provided| verify_hmac_sha256(&signing_key(&secret, &parsed), signed.as_bytes(), &provided));
    if !genuine {
        return Err(ApiError {
            status: 403,
            exception: "InvalidSignatureException",
            message: "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method.".to_string(),
        });
    }
    Ok(Signed { access_key: parsed.access_key.to_string(), region: parsed.region.to_string() })
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
        (headers, Authenticator::Keys(keys.into()))
    }

    fn signed_by(region: &str) -> Signed {
        Signed { access_key: "AKIDEXAMPLE".to_string(), region: region.to_string() }
    }

    const SIGNATURE: &str = "5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7";
    const SIGNED_AT: i64 = 1_440_938_160; // 2015-08-30T12:36:00Z

    fn request(headers: &[(String, String)]) -> HttpRequest<'_> {
        HttpRequest { method: "GET", path: "/", query: "Version=2010-05-08&Action=ListUsers", headers, body: b"" }
    }

    #[test]
    fn the_published_example_verifies() {
        let (headers, keys) = example(SIGNATURE);
        assert_eq!(keys.authenticate(&request(&headers), SIGNED_AT + 60), Ok(Some(signed_by("us-east-1"))));
    }

    #[test]
    fn a_wrong_signature_an_unknown_key_or_an_old_date_is_refused() {
        let (headers, keys) = example(&SIGNATURE.replace('5', "6"));
        assert_eq!(
            keys.authenticate(&request(&headers), SIGNED_AT).unwrap_err().exception,
            "InvalidSignatureException"
        );
        let (headers, _) = example(SIGNATURE);
        let other = Authenticator::Keys(BTreeMap::from([("AKIDOTHER".to_string(), "x".to_string())]).into());
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

    /// A request as a client sends it, and as the server reads it back.
    #[derive(Clone)]
    struct Sent {
        method: &'static str,
        path: &'static str,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    }

    impl Sent {
        fn view(&self) -> HttpRequest<'_> {
            HttpRequest { method: self.method, path: self.path, query: "", headers: &self.headers, body: &self.body }
        }
    }

    /// `method path` to 127.0.0.1:8080 with `headers` and `body`, signed by aws-sigv4 at
    /// SIGNED_AT for `service`.
    fn signed(method: &'static str, path: &'static str, service: &str, headers: &[(&str, &str)], body: &[u8]) -> Sent {
        let signer = Signer {
            credentials: Credentials {
                access_key: "AKIDEXAMPLE".into(),
                secret_key: "secret".into(),
                session_token: None,
            },
            region: "us-east-1".into(),
            service: service.into(),
        };
        let mut headers: Vec<(String, String)> =
            headers.iter().map(|(name, value)| (name.to_string(), value.to_string())).collect();
        headers.push(("host".into(), "127.0.0.1:8080".into()));
        let at = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(SIGNED_AT as u64);
        signer.sign(method, &format!("http://127.0.0.1:8080{path}"), &mut headers, body, at).unwrap();
        Sent { method, path, headers, body: body.to_vec() }
    }

    fn signed_create(body: &[u8]) -> Sent {
        signed("POST", "/", "codepipeline", &[("x-amz-target", "CodePipeline_20150709.CreatePipeline")], body)
    }

    fn keys() -> Authenticator {
        Authenticator::Keys(BTreeMap::from([("AKIDEXAMPLE".to_string(), "secret".to_string())]).into())
    }

    #[test]
    fn what_aws_sigv4_signs_verifies() {
        let request = signed(
            "POST",
            "/",
            "codepipeline",
            &[("content-type", "application/x-amz-json-1.1"), ("x-amz-target", "CodePipeline_20150709.ListPipelines")],
            b"{}",
        );
        assert_eq!(
            keys().authenticate(&request.view(), SIGNED_AT).map(|s| s.map(|s| s.access_key)),
            Ok(Some("AKIDEXAMPLE".to_string()))
        );
        let authorization = header(&request.headers, "authorization").unwrap();
        assert!(authorization.contains("SignedHeaders=content-type;host;x-amz-date;x-amz-target"), "{authorization}");
        let mut tampered = request.clone();
        tampered.body = b"{\"maxResults\": 1}".to_vec();
        assert!(keys().authenticate(&tampered.view(), SIGNED_AT).is_err(), "the body is signed");
    }

    #[test]
    fn a_session_token_is_sent_and_signed() {
        let signer = Signer {
            credentials: Credentials {
                access_key: "AKIDEXAMPLE".into(),
                secret_key: "secret".into(),
                session_token: Some("session".into()),
            },
            region: "eu-west-1".into(),
            service: "codepipeline".into(),
        };
        let mut headers = vec![("host".to_string(), "example.com".to_string())];
        signer.sign("POST", "https://example.com/", &mut headers, b"{}", SystemTime::now()).unwrap();
        assert_eq!(header(&headers, "x-amz-security-token"), Some("session"));
        let authorization = header(&headers, "authorization").unwrap();
        assert!(authorization.contains("/eu-west-1/codepipeline/aws4_request"), "{authorization}");
        assert!(authorization.contains("x-amz-security-token"), "{authorization}");
        assert!(signer.sign("POST", "not a url", &mut headers, b"", SystemTime::now()).is_err());
    }

    #[test]
    fn a_captured_signature_with_an_unsigned_payload_hash_does_not_cover_another_body() {
        let original = br#"{"pipeline":{"name":"a"}}"#;
        let captured = signed_create(original);
        assert!(keys().authenticate(&captured.view(), SIGNED_AT).is_ok());
        // The attack: the original body's hash declared in an unsigned header, another body sent.
        let mut replayed = captured.clone();
        replayed.headers.push(("x-amz-content-sha256".into(), hex::encode(Sha256::digest(original))));
        replayed.body = br#"{"pipeline":{"name":"evil"}}"#.to_vec();
        let refused = keys().authenticate(&replayed.view(), SIGNED_AT).unwrap_err();
        assert_eq!((refused.status, refused.exception), (400, "XAmzContentSHA256Mismatch"));
        // Declaring the new body's hash does not help: the signature covers the old one.
        let mut redeclared = replayed.clone();
        redeclared.headers.pop();
        redeclared.headers.push(("x-amz-content-sha256".into(), hex::encode(Sha256::digest(&replayed.body))));
        assert_eq!(
            keys().authenticate(&redeclared.view(), SIGNED_AT).unwrap_err().exception,
            "InvalidSignatureException"
        );
        // Neither do UNSIGNED-PAYLOAD nor a streamed payload with a body.
        for declared in ["UNSIGNED-PAYLOAD", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"] {
            let mut unsigned = replayed.clone();
            unsigned.headers.pop();
            unsigned.headers.push(("x-amz-content-sha256".into(), declared.into()));
            assert_eq!(
                keys().authenticate(&unsigned.view(), SIGNED_AT).unwrap_err().exception,
                "XAmzContentSHA256Mismatch",
                "{declared}"
            );
        }
    }

    #[test]
    fn a_declared_payload_hash_that_matches_the_body_verifies() {
        let body = b"zip bytes";
        let hash = hex::encode(Sha256::digest(body));
        let put = signed("PUT", "/bucket/key", "s3", &[("x-amz-content-sha256", &hash)], body);
        assert_eq!(
            keys().authenticate(&put.view(), SIGNED_AT).map(|s| s.map(|s| s.access_key)),
            Ok(Some("AKIDEXAMPLE".to_string()))
        );
        let swapped = HttpRequest { body: b"other bytes", ..put.view() };
        assert_eq!(keys().authenticate(&swapped, SIGNED_AT).unwrap_err().exception, "XAmzContentSHA256Mismatch");
    }

    /// A streamed upload is verified before its body arrives, over the declared SHA-256,
    /// which must then be one (the caller compares it with what arrives).
    #[test]
    fn an_upload_still_to_come_is_verified_over_its_declared_hash() {
        let body = b"zip bytes";
        let hash = hex::encode(Sha256::digest(body));
        let put = signed("PUT", "/bucket/key", "s3", &[("x-amz-content-sha256", &hash)], body);
        let head = HttpRequest { body: b"", ..put.view() };
        let verified = keys().authenticate_payload(&head, Payload::Declared, SIGNED_AT);
        assert_eq!(verified.map(|s| s.map(|s| s.access_key)), Ok(Some("AKIDEXAMPLE".to_string())));
        let unsigned = signed("PUT", "/bucket/key", "s3", &[("x-amz-content-sha256", UNSIGNED_PAYLOAD)], body);
        let head = HttpRequest { body: b"", ..unsigned.view() };
        let refused = keys().authenticate_payload(&head, Payload::Declared, SIGNED_AT).unwrap_err();
        assert_eq!(refused.exception, "XAmzContentSHA256Mismatch");
        let mut other = put.clone();
        other.headers.retain(|(name, _)| name != "x-amz-content-sha256");
        other.headers.push(("x-amz-content-sha256".into(), hex::encode(Sha256::digest(b"other"))));
        let head = HttpRequest { body: b"", ..other.view() };
        let forged = keys().authenticate_payload(&head, Payload::Declared, SIGNED_AT).unwrap_err();
        assert_eq!(forged.exception, "InvalidSignatureException", "the declared hash is signed");
    }

    #[test]
    fn a_signature_that_is_not_hex_is_refused() {
        let mut request = signed_create(b"{}");
        let authorization = header(&request.headers, "authorization").unwrap().to_string();
        let (scope, _) = authorization.split_once("Signature=").unwrap();
        request.headers.retain(|(name, _)| name != "authorization");
        request.headers.push(("authorization".into(), format!("{scope}Signature=not-hex")));
        assert_eq!(keys().authenticate(&request.view(), SIGNED_AT).unwrap_err().exception, "InvalidSignatureException");
    }

    #[test]
    fn an_open_server_takes_the_named_key_as_the_caller() {
        let (headers, _) = example("anything");
        assert_eq!(Authenticator::Open.authenticate(&request(&headers), 0), Ok(Some(signed_by("us-east-1"))));
        assert_eq!(Authenticator::Open.authenticate(&request(&[]), 0), Ok(None));
    }
}
