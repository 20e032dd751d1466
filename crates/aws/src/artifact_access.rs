//! `artifactCredentials` on AWS: temporary credentials from STS, assumed from the stack's
//! artifact-access role with a session policy that grants exactly one job's artifacts
//! (`pipewright_core::artifact_access::session_policy`), so a job worker reads its inputs and
//! writes its outputs and nothing else.

use aws_sdk_sts::Client;

use pipewright_core::artifact_access::{ArtifactCredentials, ArtifactScope, partition, session_policy};
use pipewright_core::engine::Dispatch;

/// How long the credentials last. GetJobDetails hands out fresh ones to a longer job.
const SESSION_SECONDS: i32 = 3600;

#[derive(Clone)]
pub struct ArtifactAccess {
    client: Client,
    /// `PIPEWRIGHT_ARTIFACT_ROLE_ARN`: the role the credentials are a session of.
    role_arn: Option<String>,
    region: String,
}

impl ArtifactAccess {
    pub fn new(client: Client, role_arn: Option<String>, region: &str) -> ArtifactAccess {
        ArtifactAccess { client, role_arn, region: region.to_string() }
    }

    /// Credentials for `dispatch`'s artifacts. Without a role to assume (a stack that predates
    /// it) the job carries empty credentials, as it did before.
    pub async fn credentials(&self, dispatch: &Dispatch) -> Result<ArtifactCredentials, String> {
        let Some(role_arn) = &self.role_arn else { return Ok(ArtifactCredentials::none()) };
        let kms_key = dispatch.encryption_key.as_ref().map(|k| k.id.as_str());
        let policy = session_policy(&ArtifactScope::of(dispatch), partition(&self.region), kms_key);
        // Session names allow `[\w+=,.@-]{2,64}`: the job id fits and names the job in CloudTrail.
        let session = format!("job-{}", dispatch.job_id);
        let output = self
            .client
            .assume_role()
            .role_arn(role_arn)
            .role_session_name(session)
            .policy(policy.to_string())
            .duration_seconds(SESSION_SECONDS)
            .send()
            .await
            .map_err(|e| aws_smithy_types::error::display::DisplayErrorContext(&e).to_string())?;
        let credentials = output.credentials.ok_or("STS answered without credentials")?;
        Ok(ArtifactCredentials {
            access_key_id: credentials.access_key_id,
            secret_access_key: credentials.secret_access_key,
            session_token: credentials.session_token,
        })
    }
}
