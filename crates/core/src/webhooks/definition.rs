//! Webhooks of PutWebhook (GitHub version 1 sources, trigger `Webhook`): the definition in
//! botocore's shape, its checks, how a delivery is authenticated (`GITHUB_HMAC`, `IP`,
//! `UNAUTHENTICATED`) and filtered (`jsonPath` / `matchEquals`, every rule must pass), and the
//! execution it starts (docs/sources.md, "Webhooks of PutWebhook").

use std::collections::BTreeMap;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::cidr::Cidr;
use super::json_path;
use super::plan::PlannedStart;
use super::signature;
use crate::declaration::PipelineDeclaration;
use crate::engine::{RevisionType, SourceRevisionOverride, Trigger, TriggerType};
use crate::ids;
use crate::providers::{self, ProviderKind};

/// `WebhookDefinition`, field for field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WebhookDefinition {
    pub name: String,
    pub target_pipeline: String,
    pub target_action: String,
    pub filters: Vec<WebhookFilterRule>,
    pub authentication: String,
    pub authentication_configuration: WebhookAuthConfiguration,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WebhookFilterRule {
    pub json_path: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub match_equals: Option<String>,
}

/// Its members are capitalised on the wire.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookAuthConfiguration {
    #[serde(rename = "AllowedIPRange", default, skip_serializing_if = "Option::is_none")]
    pub allowed_ip_range: Option<String>,
    #[serde(rename = "SecretToken", default, skip_serializing_if = "Option::is_none")]
    pub secret_token: Option<String>,
}

/// A refused definition: botocore's exception name and a message naming the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{exception}: {message}")]
pub struct DefinitionError {
    pub exception: &'static str,
    pub message: String,
}

fn refuse(exception: &'static str, message: impl Into<String>) -> DefinitionError {
    DefinitionError { exception, message: message.into() }
}

/// At most 5 filter rules (model).
pub const MAX_FILTERS: usize = 5;

fn name_ok(value: &str) -> bool {
    (1..=100).contains(&value.chars().count())
        && value.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '@' | '-' | '_'))
}

impl WebhookDefinition {
    /// The model's constraints, the authentication's required properties and the filters'
    /// paths. The target pipeline is looked at by [`WebhookDefinition::check_target`].
    pub fn check(&self) -> Result<(), DefinitionError> {
        for (field, value) in [
            ("webhook.name", &self.name),
            ("webhook.targetPipeline", &self.target_pipeline),
            ("webhook.targetAction", &self.target_action),
        ] {
            if !name_ok(value) {
                return Err(refuse(
                    "ValidationException",
                    format!("{field}: {value:?} must be 1 to 100 of A-Z a-z 0-9 . @ - _"),
                ));
            }
        }
        if self.filters.len() > MAX_FILTERS {
            return Err(refuse(
                "ValidationException",
                format!("webhook.filters: {} rules given; at most {MAX_FILTERS} are allowed", self.filters.len()),
            ));
        }
        for (i, rule) in self.filters.iter().enumerate() {
            if !(1..=150).contains(&rule.json_path.chars().count()) {
                return Err(refuse(
                    "ValidationException",
                    format!("webhook.filters[{i}].jsonPath: must be 1 to 150 characters"),
                ));
            }
            if rule.match_equals.as_ref().is_some_and(|m| !(1..=150).contains(&m.chars().count())) {
                return Err(refuse(
                    "ValidationException",
                    format!("webhook.filters[{i}].matchEquals: must be 1 to 150 characters"),
                ));
            }
            json_path::parse(&rule.json_path).map_err(|e| {
                refuse("InvalidWebhookFilterPatternException", format!("webhook.filters[{i}].jsonPath: {e}"))
            })?;
        }
        let config = &self.authentication_configuration;
        let invalid = |message: String| refuse("InvalidWebhookAuthenticationParametersException", message);
        for (field, value) in [("AllowedIPRange", &config.allowed_ip_range), ("SecretToken", &config.secret_token)] {
            if value.as_ref().is_some_and(|v| !(1..=100).contains(&v.chars().count())) {
                return Err(refuse(
                    "ValidationException",
                    format!("webhook.authenticationConfiguration.{field}: must be 1 to 100 characters"),
                ));
            }
        }
        match self.authentication.as_str() {
            "GITHUB_HMAC" => match (&config.secret_token, &config.allowed_ip_range) {
                (Some(_), None) => Ok(()),
                _ => Err(invalid("GITHUB_HMAC takes a SecretToken, and only that".to_string())),
            },
            "IP" => match (&config.allowed_ip_range, &config.secret_token) {
                (Some(range), None) => {
                    Cidr::parse(range).map(|_| ()).map_err(|e| invalid(format!("AllowedIPRange: {e}")))
                }
                _ => Err(invalid("IP takes an AllowedIPRange (a CIDR range), and only that".to_string())),
            },
            "UNAUTHENTICATED" => match (&config.allowed_ip_range, &config.secret_token) {
                (None, None) => Ok(()),
                _ => Err(invalid("UNAUTHENTICATED takes no authenticationConfiguration properties".to_string())),
            },
            other => Err(refuse(
                "ValidationException",
                format!("webhook.authentication: {other:?} is not one of GITHUB_HMAC, IP, UNAUTHENTICATED"),
            )),
        }
    }

    /// The target action must be a source action of the pipeline (its first stage).
    pub fn check_target(&self, declaration: &PipelineDeclaration) -> Result<(), DefinitionError> {
        let sources = declaration.stages.first().map(|s| s.actions.as_slice()).unwrap_or_default();
        if sources.iter().any(|a| a.name == self.target_action) {
            Ok(())
        } else {
            Err(refuse(
                "ValidationException",
                format!(
                    "webhook.targetAction: pipeline {} has no source action named {:?}",
                    self.target_pipeline, self.target_action
                ),
            ))
        }
    }

    /// The definition as the API answers it: the secret token redacted.
    pub fn redacted(&self) -> WebhookDefinition {
        let mut shown = self.clone();
        if shown.authentication_configuration.secret_token.is_some() {
            shown.authentication_configuration.secret_token = Some("****".to_string());
        }
        shown
    }

    /// Whether a delivery passes the webhook's authentication. `source` is the caller's
    /// address as the transport saw it.
    pub fn authenticate(
        &self,
        headers: &[(String, String)],
        body: &[u8],
        source: Option<IpAddr>,
    ) -> Result<(), String> {
        let config = &self.authentication_configuration;
        match self.authentication.as_str() {
            "GITHUB_HMAC" => {
                let secret = config.secret_token.as_deref().unwrap_or_default();
                let name = signature::header_name(super::GitHost::GitHub);
                let given =
                    super::header(headers, name).ok_or_else(|| format!("the delivery carries no {name} header"))?;
                signature::hmac_sha256_hex(name, secret.as_bytes(), given, body).map_err(|e| e.to_string())
            }
            "IP" => {
                let range = Cidr::parse(config.allowed_ip_range.as_deref().unwrap_or_default())?;
                match source {
                    Some(address) if range.contains(address) => Ok(()),
                    Some(address) => Err(format!("{address} is outside the allowed range")),
                    None => Err("the caller's address is unknown".to_string()),
                }
            }
            "UNAUTHENTICATED" => Ok(()),
            other => Err(format!("authentication {other:?} is not known")),
        }
    }

    /// Whether a delivery's body is signed (`GITHUB_HMAC`): then it, not an unsigned header,
    /// tells one delivery from another.
    pub fn signs_its_body(&self) -> bool {
        self.authentication == "GITHUB_HMAC"
    }

    /// What the filters (and the start) need of a delivery's body: small enough to travel on
    /// a bus when the body would not.
    pub fn select(&self, body: &Value) -> Selected {
        let values = self
            .filters
            .iter()
            .map(|rule| {
                let steps = json_path::parse(&rule.json_path).ok()?;
                json_path::select(body, &steps).map(json_path::as_text)
            })
            .collect();
        Selected {
            values,
            after: body["after"].as_str().map(String::from),
            reference: body["ref"].as_str().map(String::from),
        }
    }

    /// Whether every filter rule passes; `configuration` is the target action's, for the
    /// `{Key}` placeholders of `matchEquals`.
    pub fn filters_pass(&self, selected: &Selected, configuration: &BTreeMap<String, String>) -> Result<(), String> {
        for (i, rule) in self.filters.iter().enumerate() {
            let Some(actual) = selected.values.get(i).cloned().flatten() else {
                return Err(format!("filters[{i}]: {} selects nothing", rule.json_path));
            };
            if let Some(expected) = &rule.match_equals {
                let expected = placeholders(expected, configuration);
                if actual != expected {
                    return Err(format!("filters[{i}]: {} is {actual:?}, not {expected:?}", rule.json_path));
                }
            }
        }
        Ok(())
    }
}

/// The values a delivery's body gives a webhook: what each filter rule selects (in order),
/// and GitHub's pushed commit and ref.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Selected {
    pub values: Vec<Option<String>>,
    pub after: Option<String>,
    pub reference: Option<String>,
}

/// `{Key}` replaced by the action's configuration value of `Key`; an unknown key stays.
fn placeholders(text: &str, configuration: &BTreeMap<String, String>) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        match rest[open..].find('}') {
            Some(close) => {
                let key = &rest[open + 1..open + close];
                match configuration.get(key) {
                    Some(value) => out.push_str(value),
                    None => out.push_str(&rest[open..=open + close]),
                }
                rest = &rest[open + close + 1..];
            }
            None => {
                out.push_str(&rest[open..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

/// The record kind webhooks are stored under (`StateStore` records, keyed by name).
pub const RECORD_KIND: &str = "webhook";

/// A webhook as the store keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StoredWebhook {
    pub definition: WebhookDefinition,
    /// The secret part of the webhook's URL: a new one each time the webhook is created, so a
    /// deleted and re-created webhook has a new URL.
    pub token: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<Tag>,
    /// When it was created (epoch milliseconds).
    #[serde(default)]
    pub created: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tag {
    pub key: String,
    pub value: String,
}

/// The path of a webhook's URL under the deployment's webhook endpoint.
pub fn url_path(name: &str, token: &str) -> String {
    format!("webhooks/codepipeline/{name}?t={token}")
}

/// The webhook's ARN.
pub fn webhook_arn(region: &str, account: &str, name: &str) -> String {
    format!("arn:aws:codepipeline:{region}:{account}:webhook:{name}")
}

/// The execution an accepted delivery starts: trigger `Webhook` with the webhook's ARN, and,
/// for a push GitHub describes, the pushed commit (the branch head is fetched otherwise).
pub fn plan_start(
    definition: &WebhookDefinition,
    declaration: &PipelineDeclaration,
    selected: &Selected,
    delivery_id: &str,
    arn: &str,
) -> Result<PlannedStart, String> {
    let sources = declaration.stages.first().map(|s| s.actions.as_slice()).unwrap_or_default();
    let action = sources
        .iter()
        .find(|a| a.name == definition.target_action)
        .ok_or_else(|| format!("pipeline {} has no source action {}", declaration.name, definition.target_action))?;
    let configuration: BTreeMap<String, String> =
        action.configuration.iter().flatten().map(|(k, v)| (k.clone(), v.clone())).collect();
    definition.filters_pass(selected, &configuration)?;
    let git_source = matches!(
        providers::spec_of(&action.action_type_id).map(|s| s.kind),
        Some(ProviderKind::GitHubV1 | ProviderKind::CodeStarSourceConnection | ProviderKind::CodeCommit)
    );
    // Only a commit id is taken: anything else (a ref, a value a git command line would read
    // as an option) starts the branch's head, as CodePipeline's webhooks always do.
    let commit = selected.after.as_deref().filter(|c| crate::engine::is_commit_id(c) && !c.bytes().all(|b| b == b'0'));
    let source_revisions = match (git_source, commit) {
        (true, Some(commit)) => {
            let mut variables = BTreeMap::new();
            if let Some(branch) = selected.reference.as_deref().and_then(|r| r.strip_prefix("refs/heads/")) {
                variables.insert("BranchName".to_string(), branch.to_string());
            }
            vec![SourceRevisionOverride {
                action_name: action.name.clone(),
                revision_type: RevisionType::CommitId,
                revision_value: commit.to_string(),
                variables,
            }]
        }
        _ => Vec::new(),
    };
    Ok(PlannedStart {
        execution_id: ids::uuid_from(&["webhook-v1", &declaration.name, &definition.name, delivery_id]),
        trigger: Trigger { trigger_type: TriggerType::Webhook, trigger_detail: Some(arn.to_string()) },
        source_revisions,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::declaration::{Format, PipelineDocument};
    use serde_json::json;

    fn definition(authentication: &str, config: WebhookAuthConfiguration) -> WebhookDefinition {
        WebhookDefinition {
            name: "app-push".into(),
            target_pipeline: "app".into(),
            target_action: "Source".into(),
            filters: vec![WebhookFilterRule {
                json_path: "$.ref".into(),
                match_equals: Some("refs/heads/{Branch}".into()),
            }],
            authentication: authentication.into(),
            authentication_configuration: config,
        }
    }

    fn hmac() -> WebhookDefinition {
        definition("GITHUB_HMAC", WebhookAuthConfiguration { secret_token: Some("tok".into()), allowed_ip_range: None })
    }

    fn github_v1() -> PipelineDeclaration {
        let json = json!({
            "name": "app", "roleArn": "arn:aws:iam::111122223333:role/r", "artifactStore": {"type": "S3", "location": "b-1"},
            "stages": [
                {"name": "Src", "actions": [{"name": "Source", "actionTypeId": {"category": "Source", "owner": "ThirdParty", "provider": "GitHub", "version": "1"},
                  "configuration": {"Owner": "octo", "Repo": "app", "Branch": "main", "OAuthToken": "t", "PollForSourceChanges": "false"},
                  "outputArtifacts": [{"name": "A"}]}]},
                {"name": "Build", "actions": [{"name": "B", "actionTypeId": {"category": "Build", "owner": "AWS", "provider": "CodeBuild", "version": "1"},
                  "configuration": {"ProjectName": "x"}, "inputArtifacts": [{"name": "A"}]}]}
            ]
        });
        PipelineDocument::parse(&json.to_string(), Format::Json).unwrap().pipeline
    }

    #[test]
    fn authentication_types_need_their_own_properties() {
        assert_eq!(hmac().check(), Ok(()));
        let none = WebhookAuthConfiguration::default();
        let ip = |range: &str| WebhookAuthConfiguration { allowed_ip_range: Some(range.into()), secret_token: None };
        let exception = |d: WebhookDefinition| d.check().unwrap_err().exception;
        assert_eq!(
            exception(definition("GITHUB_HMAC", none.clone())),
            "InvalidWebhookAuthenticationParametersException"
        );
        assert_eq!(definition("IP", ip("10.0.0.0/8")).check(), Ok(()));
        assert_eq!(exception(definition("IP", ip("10.0.0.0/99"))), "InvalidWebhookAuthenticationParametersException");
        assert_eq!(definition("UNAUTHENTICATED", none.clone()).check(), Ok(()));
        assert_eq!(
            exception(definition("UNAUTHENTICATED", ip("10.0.0.0/8"))),
            "InvalidWebhookAuthenticationParametersException"
        );
        assert_eq!(exception(definition("BASIC", none)), "ValidationException");
    }

    #[test]
    fn filters_and_names_are_checked() {
        let mut bad_path = hmac();
        bad_path.filters[0].json_path = "$..ref".into();
        assert_eq!(bad_path.check().unwrap_err().exception, "InvalidWebhookFilterPatternException");
        let mut many = hmac();
        many.filters = vec![many.filters[0].clone(); 6];
        assert_eq!(many.check().unwrap_err().exception, "ValidationException");
        let mut bad_name = hmac();
        bad_name.name = "no spaces".into();
        assert!(bad_name.check().unwrap_err().message.starts_with("webhook.name"));
        let mut wrong_action = hmac();
        wrong_action.target_action = "Build".into();
        assert!(wrong_action.check_target(&github_v1()).is_err());
        assert_eq!(hmac().check_target(&github_v1()), Ok(()));
    }

    #[test]
    fn deliveries_are_authenticated_as_the_webhook_says() {
        let body = br#"{"ref":"refs/heads/main"}"#;
        let signed = vec![signature::sign(super::super::GitHost::GitHub, b"tok", body)];
        assert_eq!(hmac().authenticate(&signed, body, None), Ok(()));
        let forged = vec![signature::sign(super::super::GitHost::GitHub, b"nope", body)];
        assert!(hmac().authenticate(&forged, body, None).is_err());
        assert!(hmac().authenticate(&[], body, None).is_err());
        let ip = definition(
            "IP",
            WebhookAuthConfiguration { allowed_ip_range: Some("192.30.252.0/22".into()), secret_token: None },
        );
        assert_eq!(ip.authenticate(&[], body, Some("192.30.253.7".parse().unwrap())), Ok(()));
        assert!(ip.authenticate(&[], body, Some("10.0.0.1".parse().unwrap())).is_err());
        assert!(ip.authenticate(&[], body, None).is_err());
        let open = definition("UNAUTHENTICATED", WebhookAuthConfiguration::default());
        assert_eq!(open.authenticate(&[], body, None), Ok(()));
    }

    #[test]
    fn filters_resolve_placeholders_and_start_the_pushed_commit() {
        let arn = webhook_arn("eu-west-1", "111122223333", "app-push");
        let push = json!({"ref": "refs/heads/main", "after": "abc123"});
        let plan =
            |body: &Value, delivery: &str| plan_start(&hmac(), &github_v1(), &hmac().select(body), delivery, &arn);
        let start = plan(&push, "d-1").unwrap();
        assert_eq!(start.trigger.trigger_type, TriggerType::Webhook);
        assert_eq!(
            start.trigger.trigger_detail.as_deref(),
            Some("arn:aws:codepipeline:eu-west-1:111122223333:webhook:app-push")
        );
        assert_eq!(start.source_revisions[0].revision_value, "abc123");
        assert_eq!(start.source_revisions[0].variables["BranchName"], "main");
        assert_eq!(start.execution_id, plan(&push, "d-1").unwrap().execution_id);
        let other = json!({"ref": "refs/heads/dev", "after": "abc123"});
        let refused = plan(&other, "d-2").unwrap_err();
        assert!(refused.contains("\"refs/heads/dev\", not \"refs/heads/main\""), "{refused}");
        assert!(plan(&json!({"zen": "x"}), "d-3").unwrap_err().contains("selects nothing"));
        // What is not a commit id is no override: the branch's head is started.
        let option = json!({"ref": "refs/heads/main", "after": "--upload-pack=touch /tmp/x"});
        assert!(plan(&option, "d-4").unwrap().source_revisions.is_empty());
        assert_eq!(placeholders("{A}-{B}-{", &BTreeMap::from([("A".into(), "1".into())])), "1-{B}-{");
    }

    #[test]
    fn the_secret_token_is_redacted_in_answers() {
        assert_eq!(hmac().redacted().authentication_configuration.secret_token.as_deref(), Some("****"));
        let wire = serde_json::to_value(hmac()).unwrap();
        assert_eq!(wire["authenticationConfiguration"]["SecretToken"], "tok");
        assert_eq!(wire["targetPipeline"], "app");
    }
}
