//! `artifactCredentials`: what a job worker reads its input artifacts and writes its output
//! artifacts with (docs/reference/codepipeline.md §3.2, §5). They reach exactly the job's
//! artifacts: reading its inputs, writing its outputs, nothing else.
//!
//! Locally the credentials are derived from the execution's secret seed and the job id, and
//! `pipewright serve`'s S3 endpoint recomputes them to check a request; on AWS they are STS
//! credentials whose session policy ([`session_policy`]) grants the same.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::engine::{ArtifactLocation, Dispatch};
use crate::mac::hmac_sha256;

/// `artifactCredentials` of a job, as the job event carries them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ArtifactCredentials {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: String,
}

impl ArtifactCredentials {
    /// Credentials that reach nothing: what a job carries when none could be made.
    pub fn none() -> ArtifactCredentials {
        ArtifactCredentials {
            access_key_id: String::new(),
            secret_access_key: String::new(),
            session_token: String::new(),
        }
    }
}

/// The objects a job may touch.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ArtifactScope {
    /// Input artifacts: read only.
    pub reads: Vec<ArtifactLocation>,
    /// Output artifacts: written (and read back).
    pub writes: Vec<ArtifactLocation>,
}

/// What a request to the artifact store does to an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ObjectAccess {
    Read,
    Write,
}

impl ArtifactScope {
    pub fn of(dispatch: &Dispatch) -> ArtifactScope {
        ArtifactScope {
            reads: dispatch.input_artifacts.iter().map(|a| a.location.clone()).collect(),
            writes: dispatch.output_artifacts.iter().map(|a| a.location.clone()).collect(),
        }
    }

    /// Whether the job may do `access` to `bucket`/`key`: read an input or an output, write an
    /// output.
    pub fn allows(&self, access: ObjectAccess, bucket: &str, key: &str) -> bool {
        let is = |l: &ArtifactLocation| l.bucket == bucket && l.key == key;
        match access {
            ObjectAccess::Read => self.reads.iter().chain(&self.writes).any(is),
            ObjectAccess::Write => self.writes.iter().any(is),
        }
    }
}

/// What a local session token starts with; the job id follows.
const LOCAL_TOKEN_PREFIX: &str = "pipewright-job:";

/// `ASIA` and 16 characters of `A–Z 2–7`, as STS access key ids look.
fn access_key_id(mac: &[u8; 32]) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let tail: String = mac.iter().take(16).map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()] as char).collect();
    format!("ASIA{tail}")
}

/// The local credentials of job `job_id` of the execution whose seed is `seed`: derived, so
/// that the S3 endpoint can recompute them from the stored execution, and unguessable without
/// the seed.
pub fn local_credentials(seed: &str, job_id: &str) -> ArtifactCredentials {
    let key_mac = hmac_sha256(seed.as_bytes(), format!("artifact-access-key:{job_id}").as_bytes());
    let secret_mac = hmac_sha256(seed.as_bytes(), format!("artifact-secret-key:{job_id}").as_bytes());
    ArtifactCredentials {
        access_key_id: access_key_id(&key_mac),
        secret_access_key: hex(&secret_mac),
        session_token: format!("{LOCAL_TOKEN_PREFIX}{job_id}"),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The job a local session token was issued for.
pub fn job_of_local_token(session_token: &str) -> Option<&str> {
    session_token.strip_prefix(LOCAL_TOKEN_PREFIX).filter(|id| !id.is_empty())
}

/// The partition of a region, what every ARN starts with: `aws`, `aws-cn` (cn-*) or
/// `aws-us-gov` (us-gov-*).
pub fn partition(region: &str) -> &'static str {
    if region.starts_with("cn-") {
        "aws-cn"
    } else if region.starts_with("us-gov-") {
        "aws-us-gov"
    } else {
        "aws"
    }
}

/// The session policy of STS credentials for `scope`: reading the inputs, writing the
/// outputs, and the artifact store's KMS key when there is one. With nothing in scope it
/// allows nothing.
pub fn session_policy(scope: &ArtifactScope, partition: &str, kms_key_arn: Option<&str>) -> Value {
    let arn = |l: &ArtifactLocation| format!("arn:{partition}:s3:::{}/{}", l.bucket, l.key);
    let mut statements = Vec::new();
    let readable: Vec<String> = scope.reads.iter().chain(&scope.writes).map(arn).collect();
    if !readable.is_empty() {
        statements.push(json!({
            "Effect": "Allow",
            "Action": ["s3:GetObject", "s3:GetObjectVersion"],
            "Resource": readable,
        }));
    }
    let writable: Vec<String> = scope.writes.iter().map(arn).collect();
    if !writable.is_empty() {
        statements.push(json!({ "Effect": "Allow", "Action": ["s3:PutObject"], "Resource": writable }));
    }
    if let Some(key) = kms_key_arn.filter(|k| k.starts_with("arn:")) {
        statements.push(json!({
            "Effect": "Allow",
            "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
            "Resource": key,
        }));
    }
    if statements.is_empty() {
        statements.push(json!({ "Effect": "Deny", "Action": "*", "Resource": "*" }));
    }
    json!({ "Version": "2012-10-17", "Statement": statements })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn location(bucket: &str, key: &str) -> ArtifactLocation {
        ArtifactLocation { bucket: bucket.to_string(), key: key.to_string() }
    }

    fn scope() -> ArtifactScope {
        ArtifactScope { reads: vec![location("b", "p/Code/in")], writes: vec![location("b", "p/Out/out")] }
    }

    #[test]
    fn a_job_reads_its_inputs_and_writes_its_outputs_only() {
        let scope = scope();
        assert!(scope.allows(ObjectAccess::Read, "b", "p/Code/in"));
        assert!(!scope.allows(ObjectAccess::Write, "b", "p/Code/in"), "inputs are read only");
        assert!(scope.allows(ObjectAccess::Write, "b", "p/Out/out"));
        assert!(scope.allows(ObjectAccess::Read, "b", "p/Out/out"));
        assert!(!scope.allows(ObjectAccess::Read, "b", "p/Other/x"));
        assert!(!scope.allows(ObjectAccess::Read, "other", "p/Code/in"), "the bucket counts");
    }

    #[test]
    fn local_credentials_are_derived_per_job_and_name_it() {
        let first = local_credentials("seed", "job-1");
        assert_eq!(first, local_credentials("seed", "job-1"));
        assert_ne!(first.secret_access_key, local_credentials("seed", "job-2").secret_access_key);
        assert_ne!(first.secret_access_key, local_credentials("other-seed", "job-1").secret_access_key);
        assert!(first.access_key_id.starts_with("ASIA") && first.access_key_id.len() == 20, "{first:?}");
        assert_eq!(job_of_local_token(&first.session_token), Some("job-1"));
        assert_eq!(job_of_local_token("something else"), None);
        assert_eq!(job_of_local_token("pipewright-job:"), None);
    }

    #[test]
    fn the_session_policy_grants_the_scope_and_no_more() {
        let policy = session_policy(&scope(), "aws", None);
        let statements = policy["Statement"].as_array().unwrap();
        assert_eq!(statements.len(), 2);
        assert_eq!(statements[0]["Resource"], json!(["arn:aws:s3:::b/p/Code/in", "arn:aws:s3:::b/p/Out/out"]));
        assert_eq!(statements[1]["Action"], json!(["s3:PutObject"]));
        assert_eq!(statements[1]["Resource"], json!(["arn:aws:s3:::b/p/Out/out"]));
        let with_key = session_policy(&scope(), "aws-cn", Some("arn:aws-cn:kms:cn-north-1:1:key/k"));
        assert_eq!(with_key["Statement"][2]["Resource"], "arn:aws-cn:kms:cn-north-1:1:key/k");
        let nothing = session_policy(&ArtifactScope::default(), "aws", Some("alias/not-an-arn"));
        assert_eq!(nothing["Statement"][0]["Effect"], "Deny");
        assert_eq!(partition("cn-north-1"), "aws-cn");
        assert_eq!(partition("us-gov-west-1"), "aws-us-gov");
        assert_eq!(partition("eu-west-1"), "aws");
    }
}
