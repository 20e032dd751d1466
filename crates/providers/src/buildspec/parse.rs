//! Reading a buildspec (YAML, or the JSON that CDK writes inline) into [`Buildspec`], with
//! CodeBuild's rules: a closed set of keys and phase names, commands that must be strings,
//! `yes`/`no` booleans. Every error names the field (docs/codebuild.md "Parse errors").

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_yaml_ng::{Mapping, Value};

use super::model::*;

/// Why a buildspec cannot be used: CodeBuild's `YAML_FILE_ERROR`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BuildspecError {
    #[error("the buildspec is not valid YAML: {0}")]
    Yaml(String),
    #[error("{field}: {message}")]
    Field { field: String, message: String },
}

fn error(field: impl Into<String>, message: impl Into<String>) -> BuildspecError {
    BuildspecError::Field { field: field.into(), message: message.into() }
}

/// `eb_codebuild_settings` is Elastic Beanstalk's section of a buildspec (its CodeBuild
/// image, role and timeout for `eb deploy`); CodeBuild runs such a file unchanged.
const TOP_LEVEL_V2: &[&str] =
    &["version", "run-as", "env", "proxy", "batch", "phases", "reports", "artifacts", "cache", "eb_codebuild_settings"];
const TOP_LEVEL_V1: &[&str] = &["version", "environment_variables", "phases", "artifacts", "eb_codebuild_settings"];

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "nothing",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Sequence(_) => "a list",
        Value::Mapping(_) => "a mapping",
        Value::Tagged(_) => "a tagged value",
    }
}

/// A scalar as the text CodeBuild would see (numbers and booleans become their text).
fn scalar(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn string(value: &Value, field: &str) -> Result<String, BuildspecError> {
    scalar(value).ok_or_else(|| error(field, format!("expected a string, found {}", kind(value))))
}

fn mapping<'a>(value: &'a Value, field: &str) -> Result<Option<&'a Mapping>, BuildspecError> {
    match value {
        Value::Mapping(m) => Ok(Some(m)),
        Value::Null => Ok(None),
        other => Err(error(field, format!("expected a mapping, found {}", kind(other)))),
    }
}

/// The keys of a mapping, as strings, checked against `allowed`: refused at the top level
/// (`buildspec: unsupported field "steps"`, as CodeBuild refuses it); inside a section set
/// aside in `unknown`, since CodeBuild warns of those and passes over them.
fn entries<'a>(
    map: &'a Mapping,
    field: &str,
    allowed: Option<&[&str]>,
    unknown: &mut Unknown,
) -> Result<Vec<(String, &'a Value)>, BuildspecError> {
    let mut out = Vec::new();
    for (key, value) in map {
        let Some(name) = scalar(key) else {
            return Err(error(field, format!("keys must be strings, found {}", kind(key))));
        };
        // YAML's merge key is not applied by the reader: passed over, the merged keys would
        // be lost without a word.
        if name == "<<" {
            let at = if field.is_empty() { "buildspec" } else { field };
            return Err(error(at, "YAML merge keys (<<) are not read in buildspecs here; write the keys out"));
        }
        if let Some(allowed) = allowed
            && !allowed.contains(&name.as_str())
        {
            if field.is_empty() {
                let choices = allowed.join(", ");
                return Err(error("buildspec", format!("unsupported field \"{name}\" (expected one of: {choices})")));
            }
            unknown.push((field.to_string(), name));
            continue;
        }
        out.push((name, value));
    }
    Ok(out)
}

/// Keys a section does not know: (the section's path, the key).
type Unknown = Vec<(String, String)>;

/// CodeBuild's warning for each section's unknown keys (its section names are a phase's in
/// capitals, `BUILD`, or the section's own).
fn unidentified(unknown: &Unknown) -> Vec<String> {
    let mut sections: Vec<(String, Vec<&str>)> = Vec::new();
    for (field, key) in unknown {
        let section = match field.strip_prefix("phases.") {
            Some(phase) => phase.to_ascii_uppercase(),
            None => field.clone(),
        };
        match sections.iter_mut().find(|(name, _)| *name == section) {
            Some((_, keys)) => keys.push(key),
            None => sections.push((section, vec![key])),
        }
    }
    sections
        .into_iter()
        .map(|(section, keys)| {
            format!(
                "Found possible syntax errors in buildspec: In the section {section} The following keys cannot be identified: {}",
                keys.join(", ")
            )
        })
        .collect()
}

fn join(parent: &str, key: &str) -> String {
    if parent.is_empty() { key.to_string() } else { format!("{parent}.{key}") }
}

/// `yes`/`no`/`true`/`false`, any case.
fn boolean(value: &Value, field: &str) -> Result<bool, BuildspecError> {
    match value {
        Value::Bool(b) => Ok(*b),
        Value::String(s) => match s.to_ascii_lowercase().as_str() {
            "yes" | "true" => Ok(true),
            "no" | "false" => Ok(false),
            _ => Err(error(field, format!("expected yes or no, found \"{s}\""))),
        },
        other => Err(error(field, format!("expected yes or no, found {}", kind(other)))),
    }
}

/// A list of strings; a single string counts as a list of one.
fn strings(value: &Value, field: &str, what: &str) -> Result<Vec<String>, BuildspecError> {
    match value {
        Value::Null => Ok(Vec::new()),
        Value::Sequence(items) => items
            .iter()
            .enumerate()
            .map(|(i, item)| {
                scalar(item).ok_or_else(|| {
                    let hint = if matches!(item, Value::Mapping(_)) {
                        "; YAML reads an unquoted \": \" as a mapping, so quote the whole item"
                    } else {
                        ""
                    };
                    error(
                        format!("{field}[{i}]"),
                        format!("expected {what} of string type, found {}{hint}", kind(item)),
                    )
                })
            })
            .collect(),
        other => scalar(other)
            .map(|s| vec![s])
            .ok_or_else(|| error(field, format!("expected a list of {what}s, found {}", kind(other)))),
    }
}

/// `NAME: value` pairs with literal values.
fn pairs(value: &Value, field: &str) -> Result<Vec<(String, String)>, BuildspecError> {
    let Some(map) = mapping(value, field)? else { return Ok(Vec::new()) };
    entries(map, field, None, &mut Vec::new())?
        .into_iter()
        .map(|(name, value)| {
            let path = join(field, &name);
            match value {
                Value::Null => Ok((name, String::new())),
                other => Ok((name, string(other, &path)?)),
            }
        })
        .collect()
}

fn version(value: Option<&Value>) -> Result<Version, BuildspecError> {
    let Some(value) = value else {
        return Err(error("version", "is required (0.2)"));
    };
    match scalar(value).as_deref() {
        Some("0.2") => Ok(Version::V0_2),
        Some("0.1") => Ok(Version::V0_1),
        Some(other) => Err(error("version", format!("unsupported buildspec version {other}; use 0.2 (or 0.1)"))),
        None => Err(error("version", format!("expected 0.1 or 0.2, found {}", kind(value)))),
    }
}

/// `ABORT`, `CONTINUE`, `RETRY`, `RETRY-<count>`, `RETRY-<regex>`, `RETRY-<count>-<regex>`.
pub fn on_failure(text: &str) -> Option<OnFailure> {
    match text {
        "ABORT" => return Some(OnFailure::Abort),
        "CONTINUE" => return Some(OnFailure::Continue),
        "RETRY" => return Some(OnFailure::Retry { count: 3, pattern: None }),
        _ => {}
    }
    let rest = text.strip_prefix("RETRY-")?;
    let (count, pattern) = match rest.split_once('-') {
        Some((count, pattern)) if count.parse::<u32>().is_ok() => (count.parse::<u32>().ok()?, Some(pattern)),
        _ => match rest.parse::<u32>() {
            Ok(count) => (count, None),
            Err(_) => (3, Some(rest)),
        },
    };
    if count > 100 || pattern.is_some_and(str::is_empty) {
        return None;
    }
    Some(OnFailure::Retry { count, pattern: pattern.map(String::from) })
}

fn phase(name: PhaseName, value: &Value, field: &str, unknown: &mut Unknown) -> Result<Phase, BuildspecError> {
    let Some(map) = mapping(value, field)? else { return Ok(Phase::default()) };
    let allowed: &[&str] = if name == PhaseName::Install {
        &["run-as", "on-failure", "runtime-versions", "commands", "finally"]
    } else {
        &["run-as", "on-failure", "commands", "finally"]
    };
    let mut phase = Phase::default();
    for (key, value) in entries(map, field, Some(allowed), unknown)? {
        let path = join(field, &key);
        match key.as_str() {
            "run-as" => phase.run_as = Some(string(value, &path)?),
            "on-failure" => {
                let text = string(value, &path)?;
                phase.on_failure = Some(on_failure(&text).ok_or_else(|| {
                    error(
                        &path,
                        format!(
                            "\"{text}\" is not ABORT, CONTINUE, RETRY, RETRY-<count 0-100>, RETRY-<regex> or RETRY-<count>-<regex>"
                        ),
                    )
                })?);
            }
            "runtime-versions" => phase.runtime_versions = pairs(value, &path)?,
            "commands" => phase.commands = strings(value, &path, "a command")?,
            "finally" => phase.finally = strings(value, &path, "a command")?,
            _ => {}
        }
    }
    Ok(phase)
}

fn phases(value: &Value, unknown: &mut Unknown) -> Result<Vec<(PhaseName, Phase)>, BuildspecError> {
    let Some(map) = mapping(value, "phases")? else { return Ok(Vec::new()) };
    let mut out: Vec<(PhaseName, Phase)> = Vec::new();
    for (key, value) in entries(map, "phases", None, unknown)? {
        let Some(name) = PhaseName::from_key(&key) else {
            return Err(error(
                "phases",
                format!("Invalid buildspec phase name: {key}. Expecting: build,install,post_build,pre_build"),
            ));
        };
        out.push((name, phase(name, value, &join("phases", &key), unknown)?));
    }
    out.sort_by_key(|(name, _)| *name);
    Ok(out)
}

fn env_v2(value: &Value, unknown: &mut Unknown) -> Result<Env, BuildspecError> {
    let Some(map) = mapping(value, "env")? else { return Ok(Env::default()) };
    let allowed =
        ["shell", "variables", "parameter-store", "exported-variables", "secrets-manager", "git-credential-helper"];
    let mut env = Env::default();
    for (key, value) in entries(map, "env", Some(&allowed), unknown)? {
        let path = join("env", &key);
        match key.as_str() {
            "shell" => env.shell = Some(string(value, &path)?),
            "variables" => env.variables = pairs(value, &path)?,
            "parameter-store" => env.parameter_store = pairs(value, &path)?,
            "secrets-manager" => env.secrets_manager = pairs(value, &path)?,
            "exported-variables" => env.exported_variables = strings(value, &path, "a variable name")?,
            "git-credential-helper" => env.git_credential_helper = boolean(value, &path)?,
            _ => {}
        }
    }
    Ok(env)
}

fn env_v1(value: &Value, unknown: &mut Unknown) -> Result<Env, BuildspecError> {
    let field = "environment_variables";
    let Some(map) = mapping(value, field)? else { return Ok(Env::default()) };
    let mut env = Env::default();
    for (key, value) in entries(map, field, Some(&["plaintext"]), unknown)? {
        env.variables = pairs(value, &join(field, &key))?;
    }
    Ok(env)
}

fn artifact_spec(
    map: &Mapping,
    field: &str,
    secondary_allowed: bool,
    unknown: &mut Unknown,
) -> Result<ArtifactSpec, BuildspecError> {
    let mut allowed =
        vec!["files", "name", "discard-paths", "base-directory", "exclude-paths", "enable-symlinks", "s3-prefix"];
    if secondary_allowed {
        allowed.push("secondary-artifacts");
    }
    let mut spec = ArtifactSpec::default();
    let mut has_files = false;
    for (key, value) in entries(map, field, Some(&allowed), unknown)? {
        let path = join(field, &key);
        match key.as_str() {
            "files" => {
                has_files = true;
                spec.files = strings(value, &path, "a file pattern")?;
            }
            "name" => spec.name = Some(string(value, &path)?),
            "discard-paths" => spec.discard_paths = boolean(value, &path)?,
            "base-directory" => spec.base_directory = Some(string(value, &path)?),
            "exclude-paths" => spec.exclude_paths = strings(value, &path, "a path pattern")?,
            "enable-symlinks" => spec.enable_symlinks = boolean(value, &path)?,
            "s3-prefix" => spec.s3_prefix = Some(string(value, &path)?),
            _ => {}
        }
    }
    if !has_files || spec.files.is_empty() {
        return Err(error(join(field, "files"), "is required: list the files to include (for example '**/*')"));
    }
    Ok(spec)
}

fn artifacts(value: &Value, unknown: &mut Unknown) -> Result<Option<Artifacts>, BuildspecError> {
    let Some(map) = mapping(value, "artifacts")? else { return Ok(None) };
    let primary = artifact_spec(map, "artifacts", true, unknown)?;
    let mut secondary = Vec::new();
    if let Some(value) = map.get("secondary-artifacts") {
        let field = "artifacts.secondary-artifacts";
        if let Some(map) = mapping(value, field)? {
            for (id, value) in entries(map, field, None, unknown)? {
                let path = join(field, &id);
                let Some(spec) = mapping(value, &path)? else {
                    return Err(error(path, "expected a mapping with files"));
                };
                secondary.push((id, artifact_spec(spec, &path, false, unknown)?));
            }
        }
    }
    Ok(Some(Artifacts { primary, secondary }))
}

fn reports(value: &Value, unknown: &mut Unknown) -> Result<Vec<ReportGroup>, BuildspecError> {
    let Some(map) = mapping(value, "reports")? else { return Ok(Vec::new()) };
    let mut groups = Vec::new();
    for (name, value) in entries(map, "reports", None, unknown)? {
        let field = join("reports", &name);
        let Some(spec) = mapping(value, &field)? else {
            return Err(error(field, "expected a mapping with files"));
        };
        let mut group = ReportGroup {
            name,
            files: Vec::new(),
            base_directory: None,
            discard_paths: false,
            format: ReportFormat::JunitXml,
        };
        let allowed = ["files", "base-directory", "discard-paths", "file-format"];
        for (key, value) in entries(spec, &field, Some(&allowed), unknown)? {
            let path = join(&field, &key);
            match key.as_str() {
                "files" => group.files = strings(value, &path, "a file pattern")?,
                "base-directory" => group.base_directory = Some(string(value, &path)?),
                "discard-paths" => group.discard_paths = boolean(value, &path)?,
                "file-format" => {
                    let text = string(value, &path)?.to_ascii_uppercase();
                    group.format = ReportFormat::NAMES
                        .iter()
                        .find(|(name, _)| *name == text)
                        .map(|(_, format)| *format)
                        .ok_or_else(|| {
                            let names: Vec<&str> = ReportFormat::NAMES.iter().map(|(n, _)| *n).collect();
                            error(&path, format!("\"{text}\" is not one of {}", names.join(", ")))
                        })?;
                }
                _ => {}
            }
        }
        if group.files.is_empty() {
            return Err(error(join(&field, "files"), "is required"));
        }
        groups.push(group);
    }
    Ok(groups)
}

fn cache(value: &Value, unknown: &mut Unknown) -> Result<Option<Cache>, BuildspecError> {
    let Some(map) = mapping(value, "cache")? else { return Ok(None) };
    let mut cache = Cache::default();
    for (key, value) in entries(map, "cache", Some(&["paths", "key", "fallback-keys", "action"]), unknown)? {
        let path = join("cache", &key);
        match key.as_str() {
            "paths" => cache.paths = strings(value, &path, "a path")?,
            "key" => cache.key = Some(string(value, &path)?),
            "fallback-keys" => cache.fallback_keys = strings(value, &path, "a key")?,
            "action" => {
                cache.action = match string(value, &path)?.as_str() {
                    "restore" => Some(CacheAction::Restore),
                    "save" => Some(CacheAction::Save),
                    other => return Err(error(path, format!("\"{other}\" is not restore or save"))),
                }
            }
            _ => {}
        }
    }
    Ok(Some(cache))
}

/// The variables of `env` (and 0.1's `environment_variables`) as they are written. YAML reads
/// `GO_VERSION: 1.10` as the number 1.1 and `0x1F` as 31, where CodeBuild's parser gives a
/// variable the text it was written as; a string read of the same document keeps that text.
#[derive(Deserialize, Default)]
struct WrittenDocument {
    #[serde(default)]
    env: Option<WrittenEnv>,
    #[serde(default)]
    environment_variables: Option<WrittenEnvV1>,
    /// `runtime-versions` too: `python: 3.10` is not Python 3.1.
    #[serde(default)]
    phases: Option<BTreeMap<String, Option<WrittenPhase>>>,
}

/// `NAME: value` pairs as written (`None` for a key without a value).
type WrittenPairs = BTreeMap<String, Option<String>>;

#[derive(Deserialize, Default)]
struct WrittenPhase {
    #[serde(default, rename = "runtime-versions")]
    runtime_versions: Option<WrittenPairs>,
}

#[derive(Deserialize, Default)]
struct WrittenEnv {
    #[serde(default)]
    variables: Option<WrittenPairs>,
    #[serde(default, rename = "parameter-store")]
    parameter_store: Option<WrittenPairs>,
    #[serde(default, rename = "secrets-manager")]
    secrets_manager: Option<WrittenPairs>,
}

#[derive(Deserialize, Default)]
struct WrittenEnvV1 {
    #[serde(default)]
    plaintext: Option<WrittenPairs>,
}

/// `pairs` with each value as written, where the document reads as text there.
fn as_written(pairs: &mut [(String, String)], written: Option<&WrittenPairs>) {
    let Some(written) = written else { return };
    for (name, value) in pairs {
        if let Some(Some(text)) = written.get(name.as_str()) {
            value.clone_from(text);
        }
    }
}

/// Parses buildspec text (YAML or JSON).
pub fn parse(text: &str) -> Result<Buildspec, BuildspecError> {
    let document: Value = serde_yaml_ng::from_str(text).map_err(|e| BuildspecError::Yaml(e.to_string()))?;
    let Value::Mapping(root) = &document else {
        return Err(error("buildspec", format!("expected a mapping at the top level, found {}", kind(&document))));
    };
    let version = version(root.get("version"))?;
    let allowed = if version == Version::V0_1 { TOP_LEVEL_V1 } else { TOP_LEVEL_V2 };
    let mut spec = Buildspec {
        version,
        run_as: None,
        env: Env::default(),
        phases: Vec::new(),
        reports: Vec::new(),
        artifacts: None,
        cache: None,
        has_proxy: false,
        has_batch: false,
        has_beanstalk_settings: false,
        unidentified: Vec::new(),
    };
    let mut unknown = Unknown::new();
    for (key, value) in entries(root, "", Some(allowed), &mut unknown).map_err(|e| match (version, e) {
        (Version::V0_1, BuildspecError::Field { field, message }) if message.contains("\"env\"") => {
            BuildspecError::Field {
                field,
                message: format!("{message}; version 0.1 names it environment_variables (or use version 0.2)"),
            }
        }
        (_, e) => e,
    })? {
        match key.as_str() {
            "run-as" => spec.run_as = Some(string(value, "run-as")?),
            "env" => spec.env = env_v2(value, &mut unknown)?,
            "environment_variables" => spec.env = env_v1(value, &mut unknown)?,
            "proxy" => spec.has_proxy = true,
            "batch" => spec.has_batch = true,
            "eb_codebuild_settings" => spec.has_beanstalk_settings = true,
            "phases" => spec.phases = phases(value, &mut unknown)?,
            "reports" => spec.reports = reports(value, &mut unknown)?,
            "artifacts" => spec.artifacts = artifacts(value, &mut unknown)?,
            "cache" => spec.cache = cache(value, &mut unknown)?,
            _ => {}
        }
    }
    spec.unidentified = unidentified(&unknown);
    // The variables' text as written, when the sections read as text (otherwise the value
    // pass has already said what is wrong, or there is nothing to keep).
    if let Ok(written) = serde_yaml_ng::from_str::<WrittenDocument>(text) {
        let env = written.env.unwrap_or_default();
        let v1 = written.environment_variables.unwrap_or_default();
        as_written(&mut spec.env.variables, env.variables.as_ref().or(v1.plaintext.as_ref()));
        as_written(&mut spec.env.parameter_store, env.parameter_store.as_ref());
        as_written(&mut spec.env.secrets_manager, env.secrets_manager.as_ref());
        let phases = written.phases.unwrap_or_default();
        for (name, phase) in &mut spec.phases {
            let runtimes = phases.get(name.key()).and_then(|p| p.as_ref()).and_then(|p| p.runtime_versions.as_ref());
            as_written(&mut phase.runtime_versions, runtimes);
        }
    }
    Ok(spec)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field_error(text: &str) -> (String, String) {
        match parse(text) {
            Err(BuildspecError::Field { field, message }) => (field, message),
            other => panic!("expected a field error, got {other:?}"),
        }
    }

    #[test]
    fn a_typical_buildspec_reads_completely() {
        let spec = parse(
            r#"
version: 0.2
env:
  shell: bash
  variables:
    JAVA_HOME: "/usr/lib/jvm/java-8-openjdk-amd64"
    PORT: 8080
    LITERAL: "$PATH:/x"
  parameter-store:
    LOGIN_PASSWORD: /CodeBuild/dockerLoginPassword
  secrets-manager:
    TOKEN: prod/app:token
  exported-variables: [IMAGE_TAG]
phases:
  build:
    on-failure: CONTINUE
    commands:
      - echo Build started on `date`
      - |
        set -e
        make
    finally:
      - echo done
  install:
    runtime-versions:
      nodejs: 18
    commands: npm ci
reports:
  unit:
    files: ["**/*.xml"]
    base-directory: reports
    file-format: junitxml
artifacts:
  files:
    - target/app.jar
  discard-paths: yes
  secondary-artifacts:
    Docs:
      files: '**/*'
      base-directory: site
cache:
  paths: ['node_modules/**/*']
"#,
        )
        .unwrap();
        assert_eq!(spec.version, Version::V0_2);
        assert_eq!(spec.env.shell.as_deref(), Some("bash"));
        assert_eq!(spec.env.variables[1], ("PORT".to_string(), "8080".to_string()));
        assert_eq!(spec.env.variables[2].1, "$PATH:/x", "values are literal");
        assert_eq!(spec.env.exported_variables, ["IMAGE_TAG"]);
        assert_eq!(spec.phases.iter().map(|(n, _)| *n).collect::<Vec<_>>(), [PhaseName::Install, PhaseName::Build]);
        let build = spec.phase(PhaseName::Build).unwrap();
        assert_eq!(build.on_failure, Some(OnFailure::Continue));
        assert_eq!(build.commands.len(), 2, "a block is one command");
        assert_eq!(build.commands[1], "set -e\nmake\n");
        assert_eq!(spec.phase(PhaseName::Install).unwrap().commands, ["npm ci"]);
        assert_eq!(spec.reports[0].format, ReportFormat::JunitXml);
        let artifacts = spec.artifacts.unwrap();
        assert!(artifacts.primary.discard_paths);
        assert_eq!(artifacts.secondary[0].0, "Docs");
        assert_eq!(spec.cache.unwrap().paths, ["node_modules/**/*"]);
    }

    #[test]
    fn cdk_json_and_version_as_string_are_accepted() {
        let spec = parse(r#"{"version":"0.2","phases":{"build":{"commands":["echo hi"]}}}"#).unwrap();
        assert_eq!(spec.phase(PhaseName::Build).unwrap().commands, ["echo hi"]);
    }

    #[test]
    fn version_01_uses_environment_variables_plaintext() {
        let spec = parse(
            "version: 0.1\nenvironment_variables:\n  plaintext:\n    A: b\nphases:\n  build:\n    commands: [x]\n",
        )
        .unwrap();
        assert_eq!(spec.version, Version::V0_1);
        assert_eq!(spec.env.variables, [("A".to_string(), "b".to_string())]);
        let (field, message) = field_error("version: 0.1\nenv:\n  variables: {A: b}\n");
        assert_eq!(field, "buildspec");
        assert!(message.contains("environment_variables"), "{message}");
    }

    #[test]
    fn variables_keep_the_text_they_are_written_as() {
        let spec = parse(
            "version: 0.2\nenv:\n  variables:\n    GO_VERSION: 1.10\n    MASK: 0x1F\n    DEBUG: yes\n    EMPTY:\n    NAME: app\n  parameter-store:\n    TOKEN: 1.20\n",
        )
        .unwrap();
        let variables: Vec<(&str, &str)> = spec.env.variables.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
        assert_eq!(
            variables,
            [("GO_VERSION", "1.10"), ("MASK", "0x1F"), ("DEBUG", "yes"), ("EMPTY", ""), ("NAME", "app")]
        );
        assert_eq!(spec.env.parameter_store, [("TOKEN".to_string(), "1.20".to_string())]);
        let runtimes =
            parse("version: 0.2\nphases:\n  install:\n    runtime-versions:\n      python: 3.10\n  build:\n").unwrap();
        assert_eq!(runtimes.phases[0].1.runtime_versions, [("python".to_string(), "3.10".to_string())]);
        let v1 = parse("version: 0.1\nenvironment_variables:\n  plaintext:\n    V: 1.10\n").unwrap();
        assert_eq!(v1.env.variables, [("V".to_string(), "1.10".to_string())]);
    }

    /// CodeBuild warns of a key a section does not know and passes over it (its own logs:
    /// `Found possible syntax errors in buildspec: In the section BUILD The following keys
    /// cannot be identified: env`); an unknown top-level key is refused.
    #[test]
    fn keys_a_section_does_not_know_are_warned_of_and_passed_over() {
        let spec = parse(
            "version: 0.2\nenv:\n  variable: {A: b}\n  variables: {C: d}\nphases:\n  build:\n    steps: [x]\n    env: y\n    commands: [make]\nartifacts:\n  type: zip\n  files: [out]\n",
        )
        .unwrap();
        assert_eq!(spec.env.variables, [("C".to_string(), "d".to_string())]);
        assert_eq!(spec.phases[0].1.commands, ["make"]);
        assert_eq!(spec.artifacts.unwrap().primary.files, ["out"]);
        // A merge key would drop what it merges: refused.
        let merged = parse("version: 0.2\nphases:\n  build:\n    <<: {commands: [make]}\n");
        assert!(
            matches!(merged, Err(BuildspecError::Field { ref field, .. }) if field == "phases.build"),
            "{merged:?}"
        );
        // `runtime-versions` is the install phase's only.
        let elsewhere = parse("version: 0.2\nphases:\n  pre_build:\n    runtime-versions: {a: 1}\n").unwrap();
        assert!(
            elsewhere.unidentified[0]
                .ends_with("In the section PRE_BUILD The following keys cannot be identified: runtime-versions")
        );
        assert_eq!(
            spec.unidentified,
            [
                "Found possible syntax errors in buildspec: In the section env The following keys cannot be identified: variable",
                "Found possible syntax errors in buildspec: In the section BUILD The following keys cannot be identified: steps, env",
                "Found possible syntax errors in buildspec: In the section artifacts The following keys cannot be identified: type",
            ]
        );
    }

    #[test]
    fn errors_name_the_field() {
        let (field, message) = field_error("version: 0.2\nphases:\n  build:\n    commands:\n      - echo a: b\n");
        assert_eq!(field, "phases.build.commands[0]");
        assert!(message.contains("found a mapping") && message.contains("quote"), "{message}");
        let (field, message) = field_error("version: 0.2\nphases:\n  artifacts:\n    commands: [x]\n");
        assert_eq!(field, "phases");
        assert_eq!(message, "Invalid buildspec phase name: artifacts. Expecting: build,install,post_build,pre_build");
        let (field, message) = field_error("version: 0.2\nsteps: []\n");
        assert_eq!((field.as_str(), message.starts_with("unsupported field \"steps\"")), ("buildspec", true));
        for version in ["0.1", "0.2"] {
            let beanstalk = parse(&format!("version: {version}\neb_codebuild_settings:\n  Timeout: 60\n")).unwrap();
            assert!(beanstalk.has_beanstalk_settings, "Elastic Beanstalk's section is known in {version}");
        }
        assert_eq!(field_error("phases: {}\n").0, "version");
        assert!(field_error("version: 1.0\n").1.contains("unsupported buildspec version 1.0"));
        assert_eq!(field_error("version: 0.2\nartifacts:\n  name: x\n").0, "artifacts.files");
        assert_eq!(
            field_error("version: 0.2\nphases:\n  build:\n    on-failure: IGNORE\n    commands: [x]\n").0,
            "phases.build.on-failure"
        );
        assert_eq!(
            field_error("version: 0.2\nartifacts:\n  files: x\n  discard-paths: maybe\n").0,
            "artifacts.discard-paths"
        );
        assert_eq!(
            field_error("version: 0.2\nreports:\n  r:\n    files: x\n    file-format: XUNIT\n").0,
            "reports.r.file-format"
        );
        assert!(matches!(parse("version: 0.2\nphases: [\n"), Err(BuildspecError::Yaml(_))));
    }

    #[test]
    fn on_failure_values() {
        assert_eq!(on_failure("ABORT"), Some(OnFailure::Abort));
        assert_eq!(on_failure("RETRY"), Some(OnFailure::Retry { count: 3, pattern: None }));
        assert_eq!(on_failure("RETRY-5"), Some(OnFailure::Retry { count: 5, pattern: None }));
        assert_eq!(
            on_failure("RETRY-timeout.*"),
            Some(OnFailure::Retry { count: 3, pattern: Some("timeout.*".into()) })
        );
        assert_eq!(
            on_failure("RETRY-2-exit status 2"),
            Some(OnFailure::Retry { count: 2, pattern: Some("exit status 2".into()) })
        );
        assert_eq!(on_failure("RETRY-101"), None);
        assert_eq!(on_failure("abort"), None);
    }
}
