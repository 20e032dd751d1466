//! `pipewright worker-key`: the key of one custom or partner action type's job workers,
//! derived offline from the API key (`pipewright_api::action_type_keys`). A worker given it
//! polls, acknowledges, reads and reports jobs of that type, and nothing else.

use std::process::ExitCode;

use anyhow::Result;
use clap::Args;
use serde_json::json;

use pipewright_api::action_type_keys;

use crate::failure::usage;

#[derive(Args)]
pub struct WorkerKeyArgs {
    /// The action type, as the aws CLI writes it:
    /// `category=Build,owner=Custom,provider=NAME,version=1` (or its JSON). Owner Custom or
    /// ThirdParty.
    #[arg(long = "action-type-id", value_name = "ID")]
    action_type_id: String,
}

/// Prints `{"ActionTypeId", "AccessKeyId", "SecretAccessKey", "MadeFrom"}` for the type
/// `args` names, from the API key in AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or `profile`:
/// the key of the deployment (its ApiKeysSecret) or of a `serve --access-key`, which take it.
pub fn worker_key(args: &WorkerKeyArgs, profile: Option<&str>) -> Result<ExitCode> {
    let action_type = action_type_keys::parse_action_type_id(&args.action_type_id, "--action-type-id")
        .map_err(|error| usage(error.message))?;
    let Some(api_key) = crate::remote::credentials(profile)? else {
        return Err(usage(
            "worker-key derives the key from the API key: give it in AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or --profile",
        ));
    };
    let not_an_api_key = if api_key.session_token.is_some() {
        Some("it has a session token")
    } else {
        action_type_keys::is_key_id(&api_key.access_key).then_some("it is an action type's key")
    };
    if let Some(why) = not_an_api_key {
        return Err(usage(format!(
            "{} is not an API key ({why}): a worker key is made from the API key",
            api_key.access_key
        )));
    }
    if api_key.secret_key.chars().count() < action_type_keys::MIN_API_SECRET {
        return Err(usage(format!(
            "the secret of {} is shorter than {} characters: a worker key lets its holder test guesses of it offline, so none is made from it (give serve a random --secret-key)",
            api_key.access_key,
            action_type_keys::MIN_API_SECRET
        )));
    }
    let key_id = action_type_keys::key_id(&action_type);
    let answer = json!({
        "ActionTypeId": action_type,
        "AccessKeyId": key_id,
        "SecretAccessKey": action_type_keys::secret(&api_key.secret_key, &key_id),
        "MadeFrom": api_key.access_key,
    });
    say_raw!("{}", serde_json::to_string_pretty(&answer)?);
    Ok(ExitCode::SUCCESS)
}
