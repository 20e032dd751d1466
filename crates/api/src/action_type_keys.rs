//! Keys for the job workers of one action type: a custom action's (a Jenkins server, a
//! build farm) or a partner's. Such a worker must poll, and polling hands out any waiting job
//! of the type it names, with write credentials for the job's outputs. With the API key it
//! could also read every pipeline's state (where an approval's token is) and change pipelines;
//! with its type's key it polls, acknowledges, reads and reports jobs of that type and nothing
//! else, as an IAM policy of `codepipeline:PollForJobs` on one action type's ARN allows.
//!
//! A key is derived, not stored: its id names the type (a hash of it) and its secret is an
//! HMAC of the id under the API key's secret. Whoever holds the API key makes one offline
//! (`pipewright worker-key`); the server recomputes the secret to verify a signature, and
//! compares the id with the type of what the request touches. Rotating the API key retires
//! every key made from it, and is the only way to retire one. A worker key lets its holder
//! test guesses of the API key's secret offline, so keys are made only from a secret of
//! [`MIN_API_SECRET`] characters or more (the stack generates 40 random ones).

use pipewright_core::declaration::{ActionOwner, ActionTypeId};
use pipewright_core::mac::hmac_sha256;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::Caller;
use crate::action_types::TypeIdInput;
use crate::protocol::ApiError;

/// What an action type's key id starts with: access key ids of AWS start `AKIA`/`ASIA`.
pub const PREFIX: &str = "PWAT";

/// The shortest API key secret keys are made from (and taken for).
pub const MIN_API_SECRET: usize = 20;

/// Hex digits of the type's hash in a key id: 128 bits, so that no other type's id can be
/// found for a given one.
const HASH_DIGITS: usize = 32;

/// The operations an action type's key may call: the job protocol, custom and partner.
pub const OPERATIONS: &[&str] = &[
    "PollForJobs",
    "AcknowledgeJob",
    "GetJobDetails",
    "PutJobSuccessResult",
    "PutJobFailureResult",
    "PollForThirdPartyJobs",
    "AcknowledgeThirdPartyJob",
    "GetThirdPartyJobDetails",
    "PutThirdPartyJobSuccessResult",
    "PutThirdPartyJobFailureResult",
];

/// The access key id of `action_type`'s job workers.
pub fn key_id(action_type: &ActionTypeId) -> String {
    let digest = Sha256::digest(format!("pipewright action type key\n{action_type}").as_bytes());
    let hash: String = hex::encode_upper(digest).chars().take(HASH_DIGITS).collect();
    format!("{PREFIX}{hash}")
}

/// Whether `access_key` has the shape of an action type's key id.
pub fn is_key_id(access_key: &str) -> bool {
    access_key.strip_prefix(PREFIX).is_some_and(|hash| {
        hash.len() == HASH_DIGITS && hash.bytes().all(|b| b.is_ascii_digit() || (b'A'..=b'F').contains(&b))
    })
}

/// The secret of key `key_id`, derived from `api_secret` (the API key's secret).
pub fn secret(api_secret: &str, key_id: &str) -> String {
    hex::encode(hmac_sha256(api_secret.as_bytes(), format!("pipewright action type secret\n{key_id}").as_bytes()))
}

/// Refuses a caller signed with an action type's key when `action_type`, the type it polls,
/// is another's.
pub(crate) fn check(caller: &Caller, action_type: &ActionTypeId) -> Result<(), ApiError> {
    match &caller.action_type_key {
        Some(key) if *key != key_id(action_type) => Err(ApiError::client(
            "AccessDeniedException",
            format!("{key} is the job workers' key of another action type: it may not poll for {action_type}"),
        )),
        _ => Ok(()),
    }
}

/// Refuses a caller signed with an action type's key when a job of `job_type` is another
/// type's, or is reached through the other job protocol than its owner's (`protocol`: Custom
/// for GetJobDetails and the rest, ThirdParty for the partner operations, which a client
/// token guards). The refusal names neither the job's type nor anything else of it.
pub(crate) fn check_job(caller: &Caller, job_type: &ActionTypeId, protocol: ActionOwner) -> Result<(), ApiError> {
    match &caller.action_type_key {
        Some(key) if *key != key_id(job_type) || job_type.owner != protocol => Err(ApiError::client(
            "AccessDeniedException",
            format!(
                "{key} may not work on this job: it is the job workers' key of another action type, or of the other job protocol"
            ),
        )),
        _ => Ok(()),
    }
}

/// An action type identifier as the aws CLI takes one: its shorthand
/// (`category=Build,owner=Custom,provider=Jenkins,version=1`) or JSON. The owner must be
/// Custom or ThirdParty: AWS-owned actions have no workers of their own (a Lambda function an
/// invoke action calls reports with the job workers' key).
pub fn parse_action_type_id(text: &str, field: &str) -> Result<ActionTypeId, ApiError> {
    let object: Value = if text.trim_start().starts_with('{') {
        serde_json::from_str(text).map_err(|e| ApiError::validation(format!("{field}: not a JSON object: {e}")))?
    } else {
        let mut object = Map::new();
        for pair in text.split(',') {
            let Some((name, value)) = pair.split_once('=') else {
                return Err(ApiError::validation(format!(
                    "{field}: '{pair}' is not NAME=VALUE (category=Build,owner=Custom,provider=NAME,version=1)"
                )));
            };
            object.insert(name.trim().to_string(), Value::String(value.trim().to_string()));
        }
        Value::Object(object)
    };
    let input: TypeIdInput =
        serde_json::from_value(object).map_err(|e| ApiError::validation(format!("{field}: {e}")))?;
    input.checked(&format!("{field}."), &["Custom", "ThirdParty"])
}

#[cfg(test)]
mod tests {
    use super::*;
    use pipewright_core::declaration::{ActionCategory, ActionOwner};

    fn build_type(provider: &str) -> ActionTypeId {
        ActionTypeId {
            category: ActionCategory::Build,
            owner: ActionOwner::Custom,
            provider: provider.into(),
            version: "1".into(),
        }
    }

    #[test]
    fn a_key_id_names_one_type_and_has_its_own_shape() {
        let id = key_id(&build_type("Jenkins"));
        assert_eq!(id, key_id(&build_type("Jenkins")));
        assert_eq!(id.len(), PREFIX.len() + HASH_DIGITS);
        assert!(is_key_id(&id), "{id}");
        let mut other = build_type("Jenkins");
        other.version = "2".into();
        assert_ne!(id, key_id(&other));
        assert_ne!(id, key_id(&build_type("jenkins")), "providers are case-sensitive");
        assert!(!is_key_id("AKIAIOSFODNN7EXAMPLE"));
        assert!(!is_key_id(&id.to_lowercase()));
        assert!(!is_key_id(&id[..id.len() - 1]));
    }

    #[test]
    fn the_secret_comes_from_the_api_keys() {
        let id = key_id(&build_type("Jenkins"));
        assert_eq!(secret("api-secret", &id), secret("api-secret", &id));
        assert_ne!(secret("api-secret", &id), secret("rotated-secret", &id));
        assert_ne!(secret("api-secret", &id), secret("api-secret", &key_id(&build_type("Other"))));
        assert_eq!(secret("api-secret", &id).len(), 64);
    }

    #[test]
    fn keys_are_taken_only_from_an_api_secret_too_long_to_guess() {
        let id = key_id(&build_type("Jenkins"));
        let short = crate::KeyRing::of_api_key("API".into(), "s".repeat(MIN_API_SECRET - 1));
        assert_eq!((short.scope(&id), short.secret(&id)), (None, None));
        let long = crate::KeyRing::of_api_key("API".into(), "s".repeat(MIN_API_SECRET));
        assert_eq!(long.scope(&id), Some(crate::KeyScope::ActionType));
        assert_eq!(long.secret(&id), Some(secret(&"s".repeat(MIN_API_SECRET), &id)));
    }

    #[test]
    fn a_caller_with_a_types_key_works_on_that_type_only() {
        let jenkins = build_type("Jenkins");
        let scoped = Caller { action_type_key: Some(key_id(&jenkins)), ..Caller::default() };
        assert!(check(&scoped, &jenkins).is_ok());
        let refused = check(&scoped, &build_type("Other")).unwrap_err();
        assert_eq!(refused.exception, "AccessDeniedException");
        assert!(refused.message.contains("Build/Custom/Other/1"), "the polled type: {}", refused.message);
        assert!(check(&Caller::named("admin"), &build_type("Other")).is_ok(), "other keys are not scoped here");
        assert!(check_job(&scoped, &jenkins, ActionOwner::Custom).is_ok());
        let refused = check_job(&scoped, &build_type("Other"), ActionOwner::Custom).unwrap_err();
        assert!(!refused.message.contains("Other"), "a job's type is not told: {}", refused.message);
        let partner = ActionTypeId { owner: ActionOwner::ThirdParty, ..build_type("Partner") };
        let partner_key = Caller { action_type_key: Some(key_id(&partner)), ..Caller::default() };
        assert!(check_job(&partner_key, &partner, ActionOwner::ThirdParty).is_ok());
        assert!(check_job(&partner_key, &partner, ActionOwner::Custom).is_err(), "no way around the client token");
        assert!(check_job(&Caller::named("admin"), &partner, ActionOwner::Custom).is_ok());
    }

    #[test]
    fn type_ids_are_read_as_the_aws_cli_writes_them() {
        let parsed = parse_action_type_id("category=Build,owner=Custom,provider=Jenkins,version=1", "--action-type-id");
        assert_eq!(parsed.unwrap(), build_type("Jenkins"));
        let json = r#"{"category": "Deploy", "owner": "ThirdParty", "provider": "Partner", "version": "2"}"#;
        assert_eq!(parse_action_type_id(json, "--action-type-id").unwrap().to_string(), "Deploy/ThirdParty/Partner/2");
        for (text, named) in [
            ("category=Build,owner=AWS,provider=Lambda,version=1", "--action-type-id.owner"),
            ("category=Built,owner=Custom,provider=X,version=1", "--action-type-id.category"),
            ("category=Build,owner=Custom,version=1", "--action-type-id.provider"),
            ("category=Build,owner=Custom,provider=a b,version=1", "--action-type-id.provider"),
            ("Build/Custom/X/1", "--action-type-id"),
        ] {
            let error = parse_action_type_id(text, "--action-type-id").unwrap_err();
            assert!(error.message.contains(named), "{text}: {}", error.message);
        }
    }
}
