//! Values that stand in for what is not known offline (docs/import.md, "Placeholders"):
//! parameters without a value, SSM-typed parameters, `Fn::ImportValue`, `{{resolve:…}}`,
//! `AWS::Include`, other stacks' outputs, and resources' physical ids. Each placeholder is
//! deterministic, has the shape the field expects (an IAM role ARN with a 12-digit account, a
//! bucket name, …), and is recorded with where the template uses it, so that `run` can ask
//! for what it needs and a deploy to AWS can refuse it by name.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// What a placeholder stands in for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum PlaceholderKind {
    /// A template parameter with no default and no `--parameter`.
    Parameter,
    /// An `AWS::SSM::Parameter::Value<…>` parameter (resolved from Parameter Store at deploy).
    SsmParameter,
    /// `Fn::ImportValue` of another stack's export.
    ImportValue,
    /// A `{{resolve:ssm|ssm-secure|secretsmanager:…}}` dynamic reference.
    DynamicReference,
    /// `Fn::GetStackOutput`, or `GetAtt` of a nested stack's output.
    StackOutput,
    /// An `AWS::Include` / `Fn::Transform` snippet.
    Include,
    /// The physical id or an attribute of a resource the template creates.
    Resource,
    /// A value the template gives for an account nobody named (`Fn::FindInMap` keyed by
    /// `AWS::AccountId` with the placeholder account): right for some account, maybe not yours.
    AccountValue,
}

impl PlaceholderKind {
    /// How to give a real value on the command line.
    pub fn flag(self) -> &'static str {
        match self {
            PlaceholderKind::Parameter => "--parameter",
            _ => "--value",
        }
    }

    pub fn describe(self) -> &'static str {
        match self {
            PlaceholderKind::Parameter => "parameter",
            PlaceholderKind::SsmParameter => "SSM parameter",
            PlaceholderKind::ImportValue => "import",
            PlaceholderKind::DynamicReference => "dynamic reference",
            PlaceholderKind::StackOutput => "stack output",
            PlaceholderKind::Include => "include",
            PlaceholderKind::Resource => "resource",
            PlaceholderKind::AccountValue => "value for the account",
        }
    }
}

/// One placeholder and where it is used.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Placeholder {
    /// What to name to give a value: the parameter, the export, the `{{resolve:…}}`
    /// reference, or `LogicalId` / `LogicalId.Attribute` for a resource.
    pub name: String,
    pub kind: PlaceholderKind,
    pub value: String,
    /// Where the template uses it: `LogicalId.Property.Path` (`Pipeline.Stages[0].Actions[0].Configuration.BranchName`).
    pub used_at: Vec<String>,
}

impl Placeholder {
    /// `the placeholder for parameter AppName; give it with --parameter AppName=…`.
    pub fn how_to_give(&self) -> String {
        format!(
            "the placeholder for {} {}; give it with {} {}=…",
            self.kind.describe(),
            self.name,
            self.kind.flag(),
            self.name
        )
    }

    /// True when a local run reads or executes the value: commands, buildspecs, environment
    /// variables, Lambda function names and user parameters. Other fields (role ARNs, bucket
    /// names, connection ARNs) are only checked, never used, by a local run.
    pub fn needed_for_local_run(&self) -> bool {
        self.kind != PlaceholderKind::Resource && self.used_at.iter().any(|path| path_is_run_input(path))
    }
}

/// The property paths whose values a local run executes or reads.
pub fn path_is_run_input(path: &str) -> bool {
    const INPUTS: &[&str] = &[
        ".Commands",
        ".EnvironmentVariables",
        ".BuildSpec",
        ".Configuration.UserParameters",
        ".Configuration.FunctionName",
        ".Configuration.PrimarySource",
    ];
    INPUTS.iter().any(|input| path.contains(input))
}

/// Placeholders by name, with their uses, in the order they were first used.
#[derive(Debug, Clone, Default)]
pub struct Registry {
    entries: BTreeMap<(PlaceholderKind, String), (usize, Placeholder)>,
}

impl Registry {
    pub fn record(&mut self, kind: PlaceholderKind, name: &str, value: &str, path: &str) {
        let order = self.entries.len();
        // One name may stand for several values (an account's entries in several mappings).
        let key = match kind {
            PlaceholderKind::AccountValue => (kind, format!("{name}\u{0}{value}")),
            _ => (kind, name.to_string()),
        };
        let (_, entry) = self.entries.entry(key).or_insert_with(|| {
            (order, Placeholder { name: name.to_string(), kind, value: value.to_string(), used_at: Vec::new() })
        });
        if !path.is_empty() && !entry.used_at.iter().any(|p| p == path) {
            entry.used_at.push(path.to_string());
        }
    }

    /// A placeholder that stands for something a person can give, used at `path` or at what
    /// holds it: what to name when a value at `path` cannot be mapped.
    pub fn used_at(&self, path: &str) -> Option<&Placeholder> {
        let holds = |used: &String| {
            path.strip_prefix(used.as_str()).is_some_and(|rest| rest.is_empty() || rest.starts_with(['.', '[']))
        };
        self.entries
            .values()
            .map(|(_, placeholder)| placeholder)
            .find(|p| p.kind != PlaceholderKind::Resource && p.used_at.iter().any(holds))
    }

    /// Every placeholder, in first-use order.
    pub fn into_list(self) -> Vec<Placeholder> {
        let mut list: Vec<(usize, Placeholder)> = self.entries.into_values().collect();
        list.sort_by_key(|(order, _)| *order);
        list.into_iter().map(|(_, p)| p).collect()
    }
}

/// Where the placeholders go.
#[derive(Debug, Clone, Copy)]
pub struct Account<'a> {
    pub account: &'a str,
    pub region: &'a str,
    pub partition: &'a str,
}

/// A value shaped for a field named `name` (a parameter, an export, a secret), marked with
/// `pipewright-placeholder` where the shape leaves room for it.
pub fn shaped(name: &str, at: Account<'_>) -> String {
    let lower = name.to_ascii_lowercase();
    let slug = slug(name);
    let Account { account, region, partition } = at;
    let has = |words: &[&str]| words.iter().any(|w| lower.contains(w));
    if has(&["connection"]) && has(&["arn", "connection"]) {
        return format!(
            "arn:{partition}:codestar-connections:{region}:{account}:connection/00000000-0000-4000-8000-000000000000"
        );
    }
    if has(&["role"]) {
        return format!("arn:{partition}:iam::{account}:role/pipewright-placeholder-{slug}");
    }
    if has(&["topic", "sns"]) {
        return format!("arn:{partition}:sns:{region}:{account}:pipewright-placeholder-{slug}");
    }
    if has(&["kms", "encryptionkey", "cmk"]) {
        return format!("arn:{partition}:kms:{region}:{account}:key/00000000-0000-4000-8000-000000000000");
    }
    if has(&["lambda", "function"]) && has(&["arn"]) {
        return format!("arn:{partition}:lambda:{region}:{account}:function:pipewright-placeholder-{slug}");
    }
    if has(&["statemachine"]) {
        return format!("arn:{partition}:states:{region}:{account}:stateMachine:pipewright-placeholder-{slug}");
    }
    if has(&["secret"]) && has(&["arn"]) {
        return format!("arn:{partition}:secretsmanager:{region}:{account}:secret:pipewright-placeholder-{slug}");
    }
    if has(&["arn"]) {
        return format!("arn:{partition}:iam::{account}:role/pipewright-placeholder-{slug}");
    }
    if has(&["bucket"]) {
        let mut bucket = format!("pipewright-placeholder-{slug}");
        bucket.truncate(63);
        return bucket.trim_end_matches('-').to_string();
    }
    if has(&["branch"]) {
        return "main".to_string();
    }
    // `owner/repository` only for what names the whole of it (`FullRepositoryId`,
    // `RepoFullName`, `RepositoryId`): `GitHubRepoName` or `GitHubRepo` is the repository's
    // own name, which templates put into artifact and resource names, where `/` is refused.
    if has(&["repo"]) && (has(&["full"]) || lower.ends_with("id")) {
        return "pipewright-placeholder/repository".to_string();
    }
    if has(&["vpc"]) {
        return "vpc-00000000000000000".to_string();
    }
    if has(&["subnet"]) {
        return "subnet-00000000000000000".to_string();
    }
    if has(&["securitygroup"]) {
        return "sg-00000000000000000".to_string();
    }
    if has(&["accountid", "account"]) {
        return account.to_string();
    }
    if has(&["region"]) {
        return region.to_string();
    }
    if has(&["email"]) {
        return "pipewright-placeholder@example.com".to_string();
    }
    if has(&["url", "endpoint"]) {
        return format!("https://pipewright-placeholder.invalid/{slug}");
    }
    format!("pipewright-placeholder-{slug}")
}

/// `GitHubRepoName` → `githubreponame`, keeping `[a-z0-9-]` only: safe in names, buckets
/// and ARNs alike.
pub fn slug(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    // A name built from another placeholder (`${Stack}-Bucket` imported before `Stack` has a
    // value) is not marked twice.
    let mut out = out.trim_end_matches('-');
    while let Some(rest) = out.strip_prefix("pipewright-placeholder-") {
        out = rest;
    }
    if out.is_empty() { "value".to_string() } else { out.to_string() }
}

/// A value shaped for a parameter of CloudFormation type `type_name`.
pub fn for_type(type_name: &str, name: &str, at: Account<'_>) -> String {
    let inner = type_name.strip_prefix("List<").and_then(|t| t.strip_suffix('>')).unwrap_or(type_name);
    match inner {
        "Number" => "1".to_string(),
        "AWS::EC2::VPC::Id" => "vpc-00000000000000000".to_string(),
        "AWS::EC2::Subnet::Id" => "subnet-00000000000000000".to_string(),
        "AWS::EC2::SecurityGroup::Id" => "sg-00000000000000000".to_string(),
        "AWS::EC2::Image::Id" => "ami-00000000000000000".to_string(),
        "AWS::EC2::Instance::Id" => "i-00000000000000000".to_string(),
        "AWS::EC2::AvailabilityZone::Name" => format!("{}a", at.region),
        "AWS::EC2::KeyPair::KeyName" => format!("pipewright-placeholder-{}", slug(name)),
        "AWS::Route53::HostedZone::Id" => "Z0000000000000000000".to_string(),
        _ => shaped(name, at),
    }
}

/// The placeholders among `placeholders` that appear in `texts` (the strings an AWS call
/// would send), as `name (kind)` — what a deploy to AWS refuses.
pub fn found_in<'a>(placeholders: &'a [Placeholder], texts: &[&str]) -> Vec<&'a Placeholder> {
    placeholders
        .iter()
        .filter(|p| p.kind != PlaceholderKind::Resource || p.value.contains("123456789012"))
        .filter(|p| texts.iter().any(|text| text.contains(p.value.as_str())))
        .collect()
}

/// Refuses a declaration (as JSON text) that still holds placeholders: a deploy to AWS
/// must never send one. The error names each placeholder and how to give its value.
pub fn refuse(placeholders: &[Placeholder], declaration_json: &str) -> Result<(), String> {
    let found = found_in(placeholders, &[declaration_json]);
    if found.is_empty() {
        return Ok(());
    }
    let mut names: Vec<String> =
        found.iter().map(|p| format!("{} {} ({} {}=…)", p.kind.describe(), p.name, p.kind.flag(), p.name)).collect();
    names.dedup();
    Err(format!("the declaration still holds placeholders, which must not reach AWS: {}", names.join(", ")))
}

#[cfg(test)]
mod tests {
    use super::*;

    const AT: Account<'static> = Account { account: "123456789012", region: "eu-west-1", partition: "aws" };

    #[test]
    fn placeholders_have_the_shape_of_their_field() {
        assert_eq!(
            shaped("PipelineRoleArn", AT),
            "arn:aws:iam::123456789012:role/pipewright-placeholder-pipelinerolearn"
        );
        assert!(
            shaped("CodeStarConnectionArn", AT)
                .starts_with("arn:aws:codestar-connections:eu-west-1:123456789012:connection/")
        );
        assert_eq!(shaped("ArtifactsBucketName", AT), "pipewright-placeholder-artifactsbucketname");
        assert_eq!(shaped("MainGitBranch", AT), "main");
        assert_eq!(shaped("FullRepositoryId", AT), "pipewright-placeholder/repository");
        assert_eq!(shaped("RepoFullName", AT), "pipewright-placeholder/repository");
        assert_eq!(shaped("GitHubRepositoryId", AT), "pipewright-placeholder/repository");
        assert_eq!(shaped("GitHubRepoName", AT), "pipewright-placeholder-githubreponame");
        assert_eq!(shaped("GitHubRepo", AT), "pipewright-placeholder-githubrepo");
        assert_eq!(shaped("RepoOwner", AT), "pipewright-placeholder-repoowner");
        assert_eq!(for_type("AWS::EC2::VPC::Id", "Vpc", AT), "vpc-00000000000000000");
        assert_eq!(for_type("Number", "Count", AT), "1");
    }

    #[test]
    fn run_inputs_are_told_from_other_fields() {
        let used = |path: &str| Placeholder {
            name: "P".into(),
            kind: PlaceholderKind::Parameter,
            value: "v".into(),
            used_at: vec![path.into()],
        };
        assert!(used("BuildProject.Source.BuildSpec").needed_for_local_run());
        assert!(used("Pipeline.Stages[1].Actions[0].Configuration.EnvironmentVariables").needed_for_local_run());
        assert!(used("Pipeline.Stages[1].Actions[0].Commands[0]").needed_for_local_run());
        assert!(!used("Pipeline.RoleArn").needed_for_local_run());
        assert!(!used("Pipeline.Stages[0].Actions[0].Configuration.BranchName").needed_for_local_run());
    }

    #[test]
    fn a_declaration_with_placeholders_is_refused_by_name() {
        let placeholders = vec![Placeholder {
            name: "GitHubToken".into(),
            kind: PlaceholderKind::Parameter,
            value: "pipewright-placeholder-githubtoken".into(),
            used_at: vec![],
        }];
        let error = refuse(&placeholders, r#"{"OAuthToken":"pipewright-placeholder-githubtoken"}"#).unwrap_err();
        assert!(error.contains("parameter GitHubToken (--parameter GitHubToken=…)"), "{error}");
        assert!(refuse(&placeholders, r#"{"OAuthToken":"real"}"#).is_ok());
    }
}
