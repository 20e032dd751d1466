//! A build's environment variables (docs/codebuild.md "Environment"): CodeBuild's
//! precedence (the action's `EnvironmentVariables` over the project's over the buildspec's,
//! and within the buildspec `variables` < `parameter-store` < `secrets-manager`), values
//! taken literally, secrets resolved through a [`SecretLookup`] before INSTALL, and the
//! `CODEBUILD_*` variables a build expects on top. The decisions are pure functions.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use pipewright_core::build_project::{BuildVariable, VariableType};

use super::model::Env;

/// Where a variable was defined, lowest precedence first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Layer {
    Buildspec,
    Project,
    /// The CodeBuild action's `EnvironmentVariables` (StartBuild's override on AWS).
    Action,
}

impl Layer {
    fn describe(self) -> &'static str {
        match self {
            Layer::Buildspec => "the buildspec",
            Layer::Project => "the project",
            Layer::Action => "the action's EnvironmentVariables",
        }
    }
}

/// The value of a variable before secrets are looked up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Plain(String),
    /// A Parameter Store parameter name.
    Parameter(String),
    /// A Secrets Manager reference (`secret-id:json-key:version-stage:version-id`).
    Secret(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Definition {
    pub name: String,
    pub value: Value,
    pub layer: Layer,
}

fn from_build_variables(variables: &[BuildVariable], layer: Layer) -> impl Iterator<Item = Definition> + '_ {
    variables.iter().map(move |v| Definition {
        name: v.name.clone(),
        value: match v.kind {
            VariableType::Plaintext => Value::Plain(v.value.clone()),
            VariableType::ParameterStore => Value::Parameter(v.value.clone()),
            VariableType::SecretsManager => Value::Secret(v.value.clone()),
        },
        layer,
    })
}

/// Every definition, in increasing precedence.
pub fn definitions(buildspec: &Env, project: &[BuildVariable], action: &[BuildVariable]) -> Vec<Definition> {
    let spec = |pairs: &[(String, String)], make: fn(String) -> Value| -> Vec<Definition> {
        pairs
            .iter()
            .map(|(name, value)| Definition { name: name.clone(), value: make(value.clone()), layer: Layer::Buildspec })
            .collect()
    };
    let mut all = spec(&buildspec.variables, Value::Plain);
    all.extend(spec(&buildspec.parameter_store, Value::Parameter));
    all.extend(spec(&buildspec.secrets_manager, Value::Secret));
    all.extend(from_build_variables(project, Layer::Project));
    all.extend(from_build_variables(action, Layer::Action));
    all
}

/// The winning definition of each name (the later of two in `definitions`' order), and a
/// warning for each name defined twice within one layer.
pub fn resolve_precedence(definitions: &[Definition]) -> (BTreeMap<String, Definition>, Vec<String>) {
    let mut winners: BTreeMap<String, Definition> = BTreeMap::new();
    let mut warnings = Vec::new();
    for definition in definitions {
        if let Some(previous) = winners.get(&definition.name)
            && previous.layer == definition.layer
        {
            warnings.push(format!(
                "environment variable {} is defined twice in {}; the later definition wins",
                definition.name,
                definition.layer.describe()
            ));
        }
        winners.insert(definition.name.clone(), definition.clone());
    }
    (winners, warnings)
}

/// A Secrets Manager reference, split (docs/codebuild.md "Secrets").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretReference {
    pub secret_id: String,
    pub json_key: Option<String>,
    pub version_stage: Option<String>,
    pub version_id: Option<String>,
}

impl SecretReference {
    /// `secret-id[:json-key[:version-stage[:version-id]]]`; an ARN's own seven `:`-fields
    /// form the id. Empty fields are unset.
    pub fn parse(text: &str) -> SecretReference {
        let fields: Vec<&str> = text.split(':').collect();
        let id_fields = if text.starts_with("arn:") { 7.min(fields.len()) } else { 1 };
        let qualifier = |i: usize| fields.get(id_fields + i).filter(|f| !f.is_empty()).map(|f| f.to_string());
        SecretReference {
            secret_id: fields[..id_fields].join(":"),
            json_key: qualifier(0),
            version_stage: qualifier(1),
            version_id: qualifier(2),
        }
    }
}

/// What a secret lookup is asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretRequest {
    /// The environment variable being set.
    pub variable: String,
    pub kind: SecretKind,
    /// The parameter name, or the Secrets Manager reference as written.
    pub reference: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretKind {
    ParameterStore,
    SecretsManager,
}

impl SecretKind {
    /// CodeBuild's phase context code for a failed lookup.
    pub fn error_code(self) -> &'static str {
        match self {
            SecretKind::ParameterStore => "Decrypted Variables Error",
            SecretKind::SecretsManager => "Secrets Manager Error",
        }
    }
}

pub type LookupFuture<'a> = Pin<Box<dyn Future<Output = Result<String, String>> + Send + 'a>>;

/// Where Parameter Store and Secrets Manager values come from: [`LocalSecrets`] (`--secret`,
/// AWS when the run has access, the environment).
pub trait SecretLookup: Send + Sync {
    /// The value, or why there is none (CodeBuild's message, naming the variable).
    fn lookup<'a>(&'a self, request: &'a SecretRequest) -> LookupFuture<'a>;
}

pub type FindFuture<'a> = Pin<Box<dyn Future<Output = Result<Option<String>, String>> + Send + 'a>>;

/// A remote store of parameters and secrets (SSM and Secrets Manager over the SDK).
pub trait SecretStore: Send + Sync {
    /// The value; `None` when the store has no such parameter or secret (the next place is
    /// tried); an error for anything else (no access, a missing `json-key`), which fails
    /// the build.
    fn find<'a>(&'a self, request: &'a SecretRequest) -> FindFuture<'a>;
    /// Where it looked, for the message when nothing has the value.
    fn describe(&self, kind: SecretKind) -> String;
}

/// Where a build's secrets come from, in this order (docs/codebuild.md "Secrets"): given by
/// name (`--secret NAME=VALUE`, where NAME is the variable, the parameter name or the secret
/// id), then AWS when the run has access (`--aws`, `--aws-endpoint`), then the variable
/// from the environment.
#[derive(Clone, Default)]
pub struct LocalSecrets {
    pub given: BTreeMap<String, String>,
    pub aws: Option<Arc<dyn SecretStore>>,
    pub environment: BTreeMap<String, String>,
}

impl LocalSecrets {
    /// The value given with `--secret` for `request`, if any. A Secrets Manager value given
    /// by its secret id is a JSON document when the reference names a `json-key`.
    pub fn given(&self, request: &SecretRequest) -> Result<Option<String>, String> {
        if let Some(value) = self.given.get(&request.reference).or_else(|| self.given.get(&request.variable)) {
            return Ok(Some(value.clone()));
        }
        if request.kind == SecretKind::SecretsManager {
            let reference = SecretReference::parse(&request.reference);
            if let Some(document) = self.given.get(&reference.secret_id) {
                return match &reference.json_key {
                    None => Ok(Some(document.clone())),
                    Some(key) => json_key(document, key)
                        .map(Some)
                        .map_err(|why| format!("secret {} given by --secret: {why}", reference.secret_id)),
                };
            }
        }
        Ok(None)
    }

    /// The value from wherever it is first found; `None` when nowhere has it.
    pub async fn find(&self, request: &SecretRequest) -> Result<Option<String>, String> {
        if let Some(value) = self.given(request)? {
            return Ok(Some(value));
        }
        if let Some(aws) = &self.aws
            && let Some(value) = aws.find(request).await?
        {
            return Ok(Some(value));
        }
        Ok(self.environment.get(&request.variable).cloned())
    }

    fn places(&self, kind: SecretKind) -> String {
        match &self.aws {
            Some(aws) => format!("--secret, {} and pipewright's environment", aws.describe(kind)),
            None => "--secret and pipewright's environment".to_string(),
        }
    }
}

/// The value of `key` in a Secrets Manager JSON document (a string as it is, anything else
/// as JSON).
pub fn json_key(document: &str, key: &str) -> Result<String, String> {
    let value: serde_json::Value =
        serde_json::from_str(document).map_err(|_| format!("is not JSON, so it has no key \"{key}\""))?;
    match value.get(key) {
        Some(serde_json::Value::String(s)) => Ok(s.clone()),
        Some(other) => Ok(other.to_string()),
        None => Err(format!("has no key \"{key}\"")),
    }
}

impl SecretLookup for LocalSecrets {
    fn lookup<'a>(&'a self, request: &'a SecretRequest) -> LookupFuture<'a> {
        Box::pin(async move {
            match self.find(request).await? {
                Some(value) => Ok(value),
                None => {
                    let what = match request.kind {
                        SecretKind::ParameterStore => format!("parameter does not exist: {}", request.reference),
                        SecretKind::SecretsManager => {
                            format!("secret does not exist: {}", SecretReference::parse(&request.reference).secret_id)
                        }
                    };
                    Err(format!(
                        "{what} (environment variable {var}; looked in {places}; give --secret {var}=VALUE or set {var} in pipewright's environment)",
                        var = request.variable,
                        places = self.places(request.kind),
                    ))
                }
            }
        })
    }
}

/// The resolved user variables and the values to mask in logs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Resolved {
    pub variables: BTreeMap<String, String>,
    pub secret_values: Vec<String>,
    /// Names whose values came from a project or action secret: never exported.
    pub secret_names: BTreeSet<String>,
}

/// A failed lookup: the build fails in DOWNLOAD_SOURCE with this context.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LookupFailure {
    pub code: &'static str,
    pub message: String,
}

/// Looks up every secret of `winners`, in name order; the first failure stops.
pub async fn resolve(
    winners: &BTreeMap<String, Definition>,
    secrets: &dyn SecretLookup,
) -> Result<Resolved, LookupFailure> {
    let mut resolved = Resolved::default();
    for (name, definition) in winners {
        let (kind, reference) = match &definition.value {
            Value::Plain(value) => {
                resolved.variables.insert(name.clone(), value.clone());
                continue;
            }
            Value::Parameter(reference) => (SecretKind::ParameterStore, reference),
            Value::Secret(reference) => (SecretKind::SecretsManager, reference),
        };
        let request = SecretRequest { variable: name.clone(), kind, reference: reference.clone() };
        let value =
            secrets.lookup(&request).await.map_err(|message| LookupFailure { code: kind.error_code(), message })?;
        if !value.is_empty() {
            resolved.secret_values.push(value.clone());
        }
        if definition.layer != Layer::Buildspec {
            resolved.secret_names.insert(name.clone());
        }
        resolved.variables.insert(name.clone(), value);
    }
    Ok(resolved)
}

/// What a build knows about itself, for the `CODEBUILD_*` variables.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BuildIdentity {
    pub project: String,
    /// The uuid part of the build id.
    pub uuid: String,
    pub number: u64,
    pub region: String,
    pub account: String,
    pub initiator: String,
    pub image: Option<String>,
    pub src_dir: String,
    /// Secondary inputs: artifact name → directory.
    pub secondary_dirs: Vec<(String, String)>,
    pub resolved_source_version: Option<String>,
    pub start_millis: i64,
    pub kms_key: Option<String>,
}

impl BuildIdentity {
    pub fn build_id(&self) -> String {
        format!("{}:{}", self.project, self.uuid)
    }

    pub fn build_arn(&self) -> String {
        format!("arn:aws:codebuild:{}:{}:build/{}", self.region, self.account, self.build_id())
    }
}

/// The variables CodeBuild sets in every build.
pub fn codebuild_variables(identity: &BuildIdentity) -> Vec<(String, String)> {
    let mut vars = vec![
        ("AWS_REGION".to_string(), identity.region.clone()),
        ("AWS_DEFAULT_REGION".to_string(), identity.region.clone()),
        ("CODEBUILD_BUILD_ID".to_string(), identity.build_id()),
        ("CODEBUILD_BUILD_ARN".to_string(), identity.build_arn()),
        ("CODEBUILD_BUILD_NUMBER".to_string(), identity.number.to_string()),
        ("CODEBUILD_BUILD_SUCCEEDING".to_string(), "1".to_string()),
        ("CODEBUILD_INITIATOR".to_string(), identity.initiator.clone()),
        ("CODEBUILD_LOG_PATH".to_string(), identity.uuid.clone()),
        (
            "CODEBUILD_PROJECT_ARN".to_string(),
            format!("arn:aws:codebuild:{}:{}:project/{}", identity.region, identity.account, identity.project),
        ),
        ("CODEBUILD_SRC_DIR".to_string(), identity.src_dir.clone()),
        ("CODEBUILD_START_TIME".to_string(), identity.start_millis.to_string()),
    ];
    if let Some(image) = &identity.image {
        vars.push(("CODEBUILD_BUILD_IMAGE".to_string(), image.clone()));
    }
    if let Some(version) = &identity.resolved_source_version {
        vars.push(("CODEBUILD_RESOLVED_SOURCE_VERSION".to_string(), version.clone()));
    }
    if let Some(key) = &identity.kms_key {
        vars.push(("CODEBUILD_KMS_KEY_ID".to_string(), key.clone()));
    }
    for (name, dir) in &identity.secondary_dirs {
        vars.push((format!("CODEBUILD_SRC_DIR_{name}"), dir.clone()));
    }
    vars
}

/// The build's starting environment: the host's, the user's variables over it, CodeBuild's
/// own on top (a user variable may not replace a `CODEBUILD_*` one; that is a warning).
pub fn compose(
    host: &BTreeMap<String, String>,
    user: &BTreeMap<String, String>,
    codebuild: &[(String, String)],
) -> (BTreeMap<String, String>, Vec<String>) {
    let mut environment = host.clone();
    let mut warnings = Vec::new();
    for (name, value) in user {
        environment.insert(name.clone(), value.clone());
    }
    for (name, value) in codebuild {
        if name.starts_with("CODEBUILD_") && user.get(name).is_some_and(|v| v != value) {
            warnings
                .push(format!("environment variable {name} is reserved by CodeBuild; the build's own value is used"));
        }
        // AWS_REGION is CodeBuild's, but a user's value for it stands, as on AWS.
        if !name.starts_with("CODEBUILD_") && user.contains_key(name) {
            continue;
        }
        environment.insert(name.clone(), value.clone());
    }
    (environment, warnings)
}

/// The exported variables' values at the end of POST_BUILD: a name never set is exported
/// empty (with a warning); names starting `AWS_` and the project's or action's secrets are
/// not exported (docs/codebuild.md "Exported variables").
pub fn exported_values(
    names: &[String],
    value_of: impl Fn(&str) -> Option<String>,
    secret_names: &BTreeSet<String>,
) -> (BTreeMap<String, String>, Vec<String>) {
    let mut values = BTreeMap::new();
    let mut warnings = Vec::new();
    for name in names {
        if name.starts_with("AWS_") {
            warnings.push(format!("exported variable {name} is not exported: names starting AWS_ are reserved"));
            continue;
        }
        if secret_names.contains(name) {
            warnings.push(format!("exported variable {name} is not exported: it holds a secret of the project"));
            continue;
        }
        let value = value_of(name).unwrap_or_else(|| {
            warnings.push(format!("exported variable {name} was never set; it is exported empty"));
            String::new()
        });
        values.insert(name.clone(), value);
    }
    (values, warnings)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn var(name: &str, value: &str, kind: VariableType) -> BuildVariable {
        BuildVariable { name: name.into(), value: value.into(), kind }
    }

    #[test]
    fn the_action_wins_over_the_project_over_the_buildspec() {
        let buildspec = Env {
            variables: vec![("STAGE".into(), "spec".into()), ("ONLY_SPEC".into(), "$HOME/x".into())],
            parameter_store: vec![("TOKEN".into(), "/ci/token".into())],
            ..Env::default()
        };
        let project =
            [var("STAGE", "project", VariableType::Plaintext), var("TOKEN", "plain", VariableType::Plaintext)];
        let action = [var("STAGE", "action", VariableType::Plaintext)];
        let (winners, warnings) = resolve_precedence(&definitions(&buildspec, &project, &action));
        assert_eq!(winners["STAGE"].value, Value::Plain("action".into()));
        assert_eq!(winners["TOKEN"].value, Value::Plain("plain".into()));
        assert_eq!(winners["ONLY_SPEC"].value, Value::Plain("$HOME/x".into()), "literal, not expanded");
        assert!(warnings.is_empty());
    }

    #[test]
    fn within_the_buildspec_secrets_come_last_with_a_warning() {
        let buildspec = Env {
            variables: vec![("DB".into(), "plain".into())],
            secrets_manager: vec![("DB".into(), "prod/db".into())],
            ..Env::default()
        };
        let (winners, warnings) = resolve_precedence(&definitions(&buildspec, &[], &[]));
        assert_eq!(winners["DB"].value, Value::Secret("prod/db".into()));
        assert_eq!(warnings.len(), 1);
    }

    #[test]
    fn secret_references_split_ids_arns_and_qualifiers() {
        assert_eq!(
            SecretReference::parse("prod/db:password::v1"),
            SecretReference {
                secret_id: "prod/db".into(),
                json_key: Some("password".into()),
                version_stage: None,
                version_id: Some("v1".into())
            }
        );
        let arn =
            SecretReference::parse("arn:aws:secretsmanager:eu-west-1:111122223333:secret:db-AbCd:user:AWSPREVIOUS");
        assert_eq!(arn.secret_id, "arn:aws:secretsmanager:eu-west-1:111122223333:secret:db-AbCd");
        assert_eq!(arn.json_key.as_deref(), Some("user"));
        assert_eq!(arn.version_stage.as_deref(), Some("AWSPREVIOUS"));
        assert_eq!(SecretReference::parse("token").json_key, None);
    }

    #[tokio::test]
    async fn local_secrets_by_variable_reference_or_secret_id_then_environment() {
        let secrets = LocalSecrets {
            given: BTreeMap::from([
                ("/ci/token".to_string(), "t0k3n".to_string()),
                ("prod/db".to_string(), r#"{"password":"hunter2","port":5432}"#.to_string()),
                ("API".to_string(), "by-name".to_string()),
            ]),
            environment: BTreeMap::from([("FROM_ENV".to_string(), "env-value".to_string())]),
            aws: None,
        };
        let ask = |variable: &str, kind, reference: &str| SecretRequest {
            variable: variable.into(),
            kind,
            reference: reference.into(),
        };
        let ps = SecretKind::ParameterStore;
        let sm = SecretKind::SecretsManager;
        assert_eq!(secrets.lookup(&ask("TOKEN", ps, "/ci/token")).await.unwrap(), "t0k3n");
        assert_eq!(secrets.lookup(&ask("API", ps, "/other")).await.unwrap(), "by-name");
        assert_eq!(secrets.lookup(&ask("PW", sm, "prod/db:password")).await.unwrap(), "hunter2");
        assert_eq!(secrets.lookup(&ask("PORT", sm, "prod/db:port")).await.unwrap(), "5432");
        assert!(secrets.lookup(&ask("X", sm, "prod/db:user")).await.unwrap_err().contains("no key \"user\""));
        assert_eq!(secrets.lookup(&ask("FROM_ENV", ps, "/x")).await.unwrap(), "env-value");
        let missing = secrets.lookup(&ask("DB_PASSWORD", ps, "/prod/db/password")).await.unwrap_err();
        assert!(missing.starts_with("parameter does not exist: /prod/db/password"), "{missing}");
        assert!(missing.contains("--secret DB_PASSWORD=VALUE"), "{missing}");
    }

    /// A remote store holding one parameter; a name starting `/denied` is refused.
    struct OneParameter;

    impl SecretStore for OneParameter {
        fn find<'a>(&'a self, request: &'a SecretRequest) -> FindFuture<'a> {
            Box::pin(async move {
                match request.reference.as_str() {
                    "/ci/token" => Ok(Some("from-aws".to_string())),
                    r if r.starts_with("/denied") => Err(format!("GetParameters: AccessDeniedException: {r}")),
                    _ => Ok(None),
                }
            })
        }

        fn describe(&self, _: SecretKind) -> String {
            "Parameter Store (eu-west-1)".to_string()
        }
    }

    #[tokio::test]
    async fn secrets_come_from_given_values_then_aws_then_the_environment() {
        let ask = |variable: &str, reference: &str| SecretRequest {
            variable: variable.into(),
            kind: SecretKind::ParameterStore,
            reference: reference.into(),
        };
        let secrets = LocalSecrets {
            given: BTreeMap::from([("GIVEN".to_string(), "explicit".to_string())]),
            aws: Some(Arc::new(OneParameter)),
            environment: BTreeMap::from([
                ("GIVEN".to_string(), "env".to_string()),
                ("TOKEN".to_string(), "env".to_string()),
                ("ONLY_ENV".to_string(), "env".to_string()),
            ]),
        };
        assert_eq!(secrets.lookup(&ask("GIVEN", "/ci/token")).await.unwrap(), "explicit", "--secret wins");
        assert_eq!(secrets.lookup(&ask("TOKEN", "/ci/token")).await.unwrap(), "from-aws", "AWS before the environment");
        assert_eq!(secrets.lookup(&ask("ONLY_ENV", "/absent")).await.unwrap(), "env");
        let denied = secrets.lookup(&ask("ONLY_ENV", "/denied/x")).await.unwrap_err();
        assert!(denied.contains("AccessDeniedException"), "an AWS error is not a miss: {denied}");
        let missing = secrets.lookup(&ask("NOWHERE", "/absent")).await.unwrap_err();
        assert!(
            missing.contains("looked in --secret, Parameter Store (eu-west-1) and pipewright's environment"),
            "{missing}"
        );
    }

    #[tokio::test]
    async fn resolution_stops_at_the_first_missing_secret_and_knows_what_to_mask() {
        let buildspec = Env { parameter_store: vec![("SPEC_SECRET".into(), "/a".into())], ..Env::default() };
        let project = [var("PROJECT_SECRET", "/b", VariableType::ParameterStore)];
        let (winners, _) = resolve_precedence(&definitions(&buildspec, &project, &[]));
        let secrets = LocalSecrets {
            given: BTreeMap::from([("/a".to_string(), "aaa".to_string()), ("/b".to_string(), "bbb".to_string())]),
            ..LocalSecrets::default()
        };
        let resolved = resolve(&winners, &secrets).await.unwrap();
        assert_eq!(resolved.secret_values, ["bbb", "aaa"]);
        assert_eq!(resolved.secret_names, BTreeSet::from(["PROJECT_SECRET".to_string()]));
        let failure = resolve(&winners, &LocalSecrets::default()).await.unwrap_err();
        assert_eq!(failure.code, "Decrypted Variables Error");
        assert!(failure.message.contains("PROJECT_SECRET"));
    }

    #[test]
    fn codebuild_variables_go_on_top_of_the_host_and_the_user() {
        let identity = BuildIdentity {
            project: "orders-build".into(),
            uuid: "0f0e".into(),
            number: 7,
            region: "eu-west-1".into(),
            account: "000000000000".into(),
            initiator: "codepipeline/orders".into(),
            src_dir: "/w/src".into(),
            secondary_dirs: vec![("Config".into(), "/w/in/Config".into())],
            resolved_source_version: Some("abc123".into()),
            ..BuildIdentity::default()
        };
        let codebuild = codebuild_variables(&identity);
        let host = BTreeMap::from([
            ("PATH".to_string(), "/usr/bin".to_string()),
            ("HOME".to_string(), "/home/me".to_string()),
        ]);
        let user = BTreeMap::from([
            ("CODEBUILD_BUILD_ID".to_string(), "mine".to_string()),
            ("AWS_REGION".to_string(), "us-east-2".to_string()),
            ("PATH".to_string(), "$PATH:/x".to_string()),
        ]);
        let (env, warnings) = compose(&host, &user, &codebuild);
        assert_eq!(env["CODEBUILD_BUILD_ID"], "orders-build:0f0e");
        assert_eq!(env["CODEBUILD_BUILD_ARN"], "arn:aws:codebuild:eu-west-1:000000000000:build/orders-build:0f0e");
        assert_eq!(env["CODEBUILD_INITIATOR"], "codepipeline/orders");
        assert_eq!(env["CODEBUILD_SRC_DIR_Config"], "/w/in/Config");
        assert_eq!(env["CODEBUILD_RESOLVED_SOURCE_VERSION"], "abc123");
        assert_eq!(env["AWS_REGION"], "us-east-2", "a user's region stands");
        assert_eq!(env["AWS_DEFAULT_REGION"], "eu-west-1");
        assert_eq!(env["PATH"], "$PATH:/x", "literal: replaces PATH");
        assert_eq!(env["HOME"], "/home/me");
        assert_eq!(warnings.len(), 1);
    }

    #[test]
    fn exports_skip_aws_names_and_project_secrets_and_default_to_empty() {
        let names = ["IMAGE_TAG".to_string(), "AWS_X".to_string(), "TOKEN".to_string(), "NEVER".to_string()];
        let secret_names = BTreeSet::from(["TOKEN".to_string()]);
        let (values, warnings) =
            exported_values(&names, |n| (n == "IMAGE_TAG" || n == "TOKEN").then(|| "v".to_string()), &secret_names);
        assert_eq!(
            values,
            BTreeMap::from([("IMAGE_TAG".to_string(), "v".to_string()), ("NEVER".to_string(), String::new())])
        );
        assert_eq!(warnings.len(), 3);
    }
}
