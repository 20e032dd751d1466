//! The action providers Pipewright knows: what CodePipeline allows for each (artifact counts,
//! configuration keys, output variables) and how long an action may run
//! (docs/reference/codepipeline.md §2, §1.4, §9.1).

use crate::declaration::{ActionCategory, ActionOwner, ActionTypeId};

/// Which known provider an action is, for the rules and the runtime that depend on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProviderKind {
    S3Source,
    CodeCommit,
    CodeStarSourceConnection,
    GitHubV1,
    Ecr,
    CodeBuild,
    ManualApproval,
    Lambda,
    S3Deploy,
    CloudFormation,
    StepFunctions,
    Commands,
    CodeDeploy,
    Ecs,
    ElasticBeanstalk,
    CodeDeployToEcs,
    EcrBuildAndPublish,
    InspectorScan,
    Eks,
    Ec2,
    LambdaDeploy,
    CodePipelineInvoke,
    CloudFormationStackSet,
    CloudFormationStackInstances,
    ServiceCatalog,
    AppConfig,
    DeviceFarm,
    OpsWorks,
    AlexaSkillsKit,
    Snyk,
}

/// What CodePipeline allows for one provider.
#[derive(Debug)]
pub struct ProviderSpec {
    pub kind: ProviderKind,
    pub owner: &'static str,
    pub provider: &'static str,
    pub categories: &'static [&'static str],
    /// Inclusive bounds on the number of input artifacts.
    pub inputs: (usize, usize),
    /// Inclusive bounds on the number of output artifacts.
    pub outputs: (usize, usize),
    pub required_keys: &'static [&'static str],
    pub optional_keys: &'static [&'static str],
    /// The output variables the provider sets, when that set is fixed.
    pub output_variables: Option<&'static [&'static str]>,
    /// How long the action may run before it fails (docs/reference/codepipeline.md §9.1).
    pub timeout_minutes: u32,
    /// The configuration keys are not documented (a partner action configured through its
    /// own console): any key is accepted without a warning.
    pub open_keys: bool,
}

const HOUR: u32 = 60;
const DAY: u32 = 24 * HOUR;

/// Default timeout of an action whose provider is not in the catalogue: "all other actions 1 h".
pub const DEFAULT_TIMEOUT_MINUTES: u32 = HOUR;
/// Custom actions: 24 hours (UG23 limits).
pub const CUSTOM_TIMEOUT_MINUTES: u32 = DAY;
/// Manual approval default: 7 days; `timeoutInMinutes` overrides it.
pub const APPROVAL_TIMEOUT_MINUTES: u32 = 7 * DAY;
/// A Lambda action with no reply for 20 minutes times out; each reply restarts the timer.
pub const LAMBDA_HEARTBEAT_MINUTES: u32 = 20;

const SOURCE_GIT_VARIABLES: &[&str] =
    &["CommitId", "CommitMessage", "RepositoryName", "BranchName", "AuthorDate", "CommitterDate"];

pub static CATALOGUE: &[ProviderSpec] = &[
    ProviderSpec {
        kind: ProviderKind::S3Source,
        owner: "AWS",
        provider: "S3",
        categories: &["Source"],
        inputs: (0, 0),
        outputs: (1, 1),
        required_keys: &["S3Bucket", "S3ObjectKey"],
        optional_keys: &["PollForSourceChanges", "AllowOverrideForS3ObjectKey"],
        output_variables: Some(&["ETag", "VersionId"]),
        timeout_minutes: HOUR,
        open_keys: false,
    },
    ProviderSpec {
        kind: ProviderKind::CodeCommit,
        owner: "AWS",
        provider: "CodeCommit",
        categories: &["Source"],
        inputs: (0, 0),
        outputs: (1, 1),
        required_keys: &["RepositoryName", "BranchName"],
        optional_keys: &["PollForSourceChanges", "OutputArtifactFormat"],
        output_variables: Some(SOURCE_GIT_VARIABLES),
        timeout_minutes: HOUR,
        open_keys: false,
    },
    ProviderSpec {
        kind: ProviderKind::CodeStarSourceConnection,
        owner: "AWS",
        provider: "CodeStarSourceConnection",
        categories: &["Source"],
        inputs: (0, 0),
        outputs: (1, 1),
        required_keys: &["ConnectionArn", "FullRepositoryId", "BranchName"],
        optional_keys: &["OutputArtifactFormat", "DetectChanges"],
        output_variables: Some(&[
            "AuthorDate",
            "BranchName",
            "CommitId",
            "CommitMessage",
            "ConnectionArn",
            "FullRepositoryName",
            "ProviderType",
            // Set when a pull request started the execution (docs/sources.md).
            "PullRequestId",
            "PullRequestTitle",
            "SourceBranchName",
            "DestinationBranchName",
        ]),
        timeout_minutes: HOUR,
        open_keys: false,
    },
    ProviderSpec {
        kind: ProviderKind::GitHubV1,
        owner: "ThirdParty",
        provider: "GitHub",
        categories: &["Source"],
        inputs: (0, 0),
        outputs: (1, 1),
        required_keys: &["Owner", "Repo", "Branch", "OAuthToken"],
        optional_keys: &["PollForSourceChanges"],
        output_variables: Some(&[
            "AuthorDate",
            "BranchName",
            "CommitId",
            "CommitMessage",
            "CommitterDate",
            "CommitUrl",
            "RepositoryName",
        ]),
        timeout_minutes: HOUR,
        open_keys: false,
    },
    ProviderSpec {
        kind: ProviderKind::Ecr,
        owner: "AWS",
        provider: "ECR",
        categories: &["Source"],
        inputs: (0, 0),
        outputs: (1, 1),
        required_keys: &["RepositoryName"],
        optional_keys: &["ImageTag"],
        output_variables: Some(&["RegistryId", "RepositoryName", "ImageTag", "ImageDigest", "ImageURI"]),
        timeout_minutes: HOUR,
        open_keys: false,
    },
    ProviderSpec {
        kind: ProviderKind::CodeBuild,
        owner: "AWS",
        provider: "CodeBuild",
        categories: &["Build", "Test"],
        inputs: (1, 5),
        outputs: (0, 5),
        required_keys: &["ProjectName"],
        optional_keys: &["PrimarySource", "BatchEnabled", "CombineArtifacts", "EnvironmentVariables"],
        output_variables: None,
        timeout_minutes: 8 * HOUR,
        open_keys: false,
    },
    ProviderSpec {
        kind: ProviderKind::ManualApproval,
        owner: "AWS",
        provider: "Manual",
        categories: &["Approval"],
        inputs: (0, 0),
        outputs: (0, 0),
        required_keys: &[],
        optional_keys: &["NotificationArn", "CustomData", "ExternalEntityLink"],
        output_variables: Some(&[]),
        timeout_minutes: APPROVAL_TIMEOUT_MINUTES,
        open_keys: false,
    },
    ProviderSpec {
        kind: ProviderKind::Lambda,
        owner: "AWS",
        provider: "Lambda",
        categories: &["Invoke"],
        inputs: (0, 5),
        outputs: (0, 5),
        required_keys: &["FunctionName"],
        optional_keys: &["UserParameters"],
        output_variables: None,
        timeout_minutes: DAY,
        open_keys: false,
    },
    ProviderSpec {
        kind: ProviderKind::S3Deploy,
        owner: "AWS",
        provider: "S3",
        categories: &["Deploy"],
        inputs: (1, 1),
        outputs: (0, 0),
        required_keys: &["BucketName", "Extract"],
        optional_keys: &["ObjectKey", "KMSEncryptionKeyARN", "CannedACL", "CacheControl"],
        output_variables: Some(&[]),
        timeout_minutes: 90,
        open_keys: false,
    },
    ProviderSpec {
        kind: ProviderKind::CloudFormation,
        owner: "AWS",
        provider: "CloudFormation",
        categories: &["Deploy"],
        inputs: (0, 10),
        outputs: (0, 1),
        required_keys: &["ActionMode", "StackName"],
        optional_keys: &[
            "TemplatePath",
            "Capabilities",
            "ChangeSetName",
            "RoleArn",
            "ParameterOverrides",
            "TemplateConfiguration",
            "OutputFileName",
        ],
        output_variables: None,
        timeout_minutes: 3 * DAY,
        open_keys: false,
    },
    ProviderSpec {
        kind: ProviderKind::StepFunctions,
        owner: "AWS",
        provider: "StepFunctions",
        categories: &["Invoke"],
        inputs: (0, 1),
        outputs: (0, 1),
        required_keys: &["StateMachineArn"],
        optional_keys: &["ExecutionNamePrefix", "InputType", "Input"],
        output_variables: Some(&["StateMachineArn", "ExecutionArn"]),
        timeout_minutes: 7 * DAY,
        open_keys: false,
    },
    ProviderSpec {
        kind: ProviderKind::Commands,
        owner: "AWS",
        provider: "Commands",
        categories: &["Compute"],
        inputs: (1, 10),
        outputs: (0, 1),
        required_keys: &[],
        optional_keys: &[],
        output_variables: None,
        // "The timeout for builds with the Commands action is 55 minutes."
        timeout_minutes: 55,
        open_keys: false,
    },
    ProviderSpec {
        kind: ProviderKind::CodeDeploy,
        owner: "AWS",
        provider: "CodeDeploy",
        categories: &["Deploy"],
        inputs: (1, 1),
        outputs: (0, 0),
        required_keys: &["ApplicationName", "DeploymentGroupName"],
        optional_keys: &[],
        output_variables: None,
        timeout_minutes: 5 * DAY,
        open_keys: false,
    },
    ProviderSpec {
        kind: ProviderKind::Ecs,
        owner: "AWS",
        provider: "ECS",
        categories: &["Deploy"],
        inputs: (1, 1),
        outputs: (0, 0),
        required_keys: &["ClusterName", "ServiceName"],
        optional_keys: &["FileName", "DeploymentTimeout"],
        output_variables: None,
        timeout_minutes: HOUR,
        open_keys: false,
    },
    ProviderSpec {
        kind: ProviderKind::ElasticBeanstalk,
        owner: "AWS",
        provider: "ElasticBeanstalk",
        categories: &["Deploy"],
        inputs: (1, 1),
        outputs: (0, 0),
        required_keys: &["ApplicationName", "EnvironmentName"],
        optional_keys: &[],
        output_variables: None,
        timeout_minutes: HOUR,
        open_keys: false,
    },
    ProviderSpec {
        kind: ProviderKind::CodeDeployToEcs,
        owner: "AWS",
        provider: "CodeDeployToECS",
        categories: &["Deploy"],
        inputs: (1, 5),
        outputs: (0, 0),
        required_keys: &[
            "ApplicationName",
            "DeploymentGroupName",
            "TaskDefinitionTemplateArtifact",
            "AppSpecTemplateArtifact",
        ],
        optional_keys: &[
            "TaskDefinitionTemplatePath",
            "AppSpecTemplatePath",
            "Image1ArtifactName",
            "Image1ContainerName",
            "Image2ArtifactName",
            "Image2ContainerName",
            "Image3ArtifactName",
            "Image3ContainerName",
            "Image4ArtifactName",
            "Image4ContainerName",
        ],
        output_variables: Some(&[]),
        timeout_minutes: 5 * DAY,
        open_keys: false,
    },
    ProviderSpec {
        kind: ProviderKind::EcrBuildAndPublish,
        owner: "AWS",
        provider: "ECRBuildAndPublish",
        categories: &["Build"],
        inputs: (1, 1),
        outputs: (0, 0),
        required_keys: &["ECRRepositoryName"],
        optional_keys: &["DockerFilePath", "ImageTags", "RegistryType"],
        output_variables: Some(&["ECRImageDigestId", "ECRRepositoryName"]),
        timeout_minutes: HOUR,
        open_keys: false,
    },
    ProviderSpec {
        kind: ProviderKind::InspectorScan,
        owner: "AWS",
        provider: "InspectorScan",
        categories: &["Invoke"],
        inputs: (0, 1),
        outputs: (1, 1),
        required_keys: &["InspectorRunMode"],
        optional_keys: &[
            "ECRRepositoryName",
            "ImageTag",
            "CriticalThreshold",
            "HighThreshold",
            "MediumThreshold",
            "LowThreshold",
        ],
        output_variables: Some(&["HighestScannedSeverity"]),
        timeout_minutes: HOUR,
        open_keys: false,
    },
    ProviderSpec {
        kind: ProviderKind::Eks,
        owner: "AWS",
        provider: "EKS",
        categories: &["Deploy"],
        inputs: (1, 1),
        outputs: (0, 0),
        required_keys: &["ClusterName"],
        optional_keys: &[
            "HelmReleaseName",
            "HelmChartLocation",
            "HelmValuesFiles",
            "ManifestFiles",
            "Namespace",
            "SubnetIds",
            "SecurityGroupIds",
        ],
        output_variables: None,
        timeout_minutes: HOUR,
        open_keys: false,
    },
    ProviderSpec {
        kind: ProviderKind::Ec2,
        owner: "AWS",
        provider: "EC2",
        categories: &["Deploy"],
        inputs: (1, 1),
        outputs: (0, 0),
        required_keys: &["InstanceTagKey", "InstanceType"],
        optional_keys: &[
            "InstanceTagValue",
            "TargetDirectory",
            "DeploySpec",
            "MaxBatch",
            "MaxError",
            "TargetGroupNameList",
            "PreScript",
            "PostScript",
        ],
        output_variables: None,
        timeout_minutes: HOUR,
        open_keys: false,
    },
    ProviderSpec {
        kind: ProviderKind::LambdaDeploy,
        owner: "AWS",
        provider: "Lambda",
        categories: &["Deploy"],
        inputs: (0, 1),
        outputs: (0, 0),
        required_keys: &["FunctionName"],
        optional_keys: &["FunctionAlias", "PublishedTargetVersion", "DeployStrategy", "Alarms"],
        output_variables: None,
        timeout_minutes: HOUR,
        open_keys: false,
    },
    ProviderSpec {
        kind: ProviderKind::CodePipelineInvoke,
        owner: "AWS",
        provider: "CodePipeline",
        categories: &["Invoke"],
        inputs: (0, 0),
        outputs: (0, 0),
        required_keys: &["PipelineName"],
        optional_keys: &["SourceRevisions", "Variables"],
        output_variables: None,
        timeout_minutes: HOUR,
        open_keys: false,
    },
    ProviderSpec {
        kind: ProviderKind::CloudFormationStackSet,
        owner: "AWS",
        provider: "CloudFormationStackSet",
        categories: &["Deploy"],
        inputs: (0, 10),
        outputs: (0, 0),
        required_keys: &["StackSetName", "TemplatePath"],
        optional_keys: &[
            "Description",
            "Parameters",
            "Capabilities",
            "PermissionModel",
            "AdministrationRoleArn",
            "ExecutionRoleName",
            "OrganizationsAutoDeployment",
            "DeploymentTargets",
            "Regions",
            "FailureTolerancePercentage",
            "MaxConcurrentPercentage",
        ],
        output_variables: Some(&[]),
        timeout_minutes: 3 * DAY,
        open_keys: false,
    },
    ProviderSpec {
        kind: ProviderKind::CloudFormationStackInstances,
        owner: "AWS",
        provider: "CloudFormationStackInstances",
        categories: &["Deploy"],
        inputs: (0, 10),
        outputs: (0, 0),
        required_keys: &["StackSetName"],
        optional_keys: &[
            "DeploymentTargets",
            "Regions",
            "ParameterOverrides",
            "FailureTolerancePercentage",
            "MaxConcurrentPercentage",
        ],
        output_variables: Some(&[]),
        timeout_minutes: 3 * DAY,
        open_keys: false,
    },
    ProviderSpec {
        kind: ProviderKind::ServiceCatalog,
        owner: "AWS",
        provider: "ServiceCatalog",
        categories: &["Deploy"],
        inputs: (1, 1),
        outputs: (0, 0),
        required_keys: &["ProductId"],
        optional_keys: &[
            "TemplateFilePath",
            "ProductVersionName",
            "ProductType",
            "ProductVersionDescription",
            "ConfigurationFilePath",
        ],
        output_variables: Some(&[]),
        timeout_minutes: HOUR,
        open_keys: false,
    },
    ProviderSpec {
        kind: ProviderKind::AppConfig,
        owner: "AWS",
        provider: "AppConfig",
        categories: &["Deploy"],
        inputs: (1, 1),
        outputs: (0, 0),
        required_keys: &[
            "Application",
            "Environment",
            "ConfigurationProfile",
            "InputArtifactConfigurationPath",
            "DeploymentStrategy",
        ],
        optional_keys: &[],
        output_variables: Some(&[]),
        timeout_minutes: HOUR,
        open_keys: false,
    },
    ProviderSpec {
        kind: ProviderKind::DeviceFarm,
        owner: "AWS",
        provider: "DeviceFarm",
        categories: &["Test"],
        inputs: (1, 1),
        outputs: (0, 0),
        required_keys: &["ProjectId", "DevicePoolArn", "AppType", "TestType"],
        optional_keys: &[
            "App",
            "Test",
            "AppiumVersion",
            "RadioBluetoothEnabled",
            "RadioGpsEnabled",
            "RadioNfcEnabled",
            "RadioWifiEnabled",
            "RecordAppPerformanceData",
            "RecordVideo",
            "FuzzEventCount",
            "FuzzEventThrottle",
            "FuzzRandomizerSeed",
            "CustomHostMachineArtifacts",
            "CustomDeviceArtifacts",
            "UnmeteredDevicesOnly",
            "JobTimeoutMinutes",
            "Latitude",
            "Longitude",
        ],
        output_variables: Some(&[]),
        timeout_minutes: HOUR,
        open_keys: false,
    },
    ProviderSpec {
        kind: ProviderKind::OpsWorks,
        owner: "AWS",
        provider: "OpsWorks",
        categories: &["Deploy"],
        inputs: (1, 1),
        outputs: (0, 0),
        // StackId and AppId stand for Stack and App, as templates of the console's day name
        // them (validate::provider_rules, `alias_of`).
        required_keys: &["Stack", "App"],
        optional_keys: &["Layer", "StackId", "AppId", "LayerId", "DeploymentType"],
        output_variables: Some(&[]),
        timeout_minutes: HOUR,
        open_keys: false,
    },
    ProviderSpec {
        kind: ProviderKind::AlexaSkillsKit,
        owner: "ThirdParty",
        provider: "AlexaSkillsKit",
        categories: &["Deploy"],
        inputs: (1, 2),
        outputs: (0, 0),
        required_keys: &["ClientId", "ClientSecret", "RefreshToken", "SkillId"],
        optional_keys: &[],
        output_variables: Some(&[]),
        timeout_minutes: HOUR,
        open_keys: false,
    },
    ProviderSpec {
        kind: ProviderKind::Snyk,
        owner: "ThirdParty",
        provider: "Snyk",
        categories: &["Invoke"],
        inputs: (1, 1),
        outputs: (1, 1),
        required_keys: &[],
        optional_keys: &[],
        output_variables: None,
        timeout_minutes: HOUR,
        open_keys: true,
    },
];

/// What the catalogue says about an action type.
#[derive(Debug)]
pub enum Lookup {
    Known(&'static ProviderSpec),
    /// The provider exists for this owner, but not in the given category.
    WrongCategory {
        categories: Vec<&'static str>,
    },
    /// Not in the catalogue (Custom actions, partner actions, newer AWS providers).
    Unknown,
}

pub fn lookup(type_id: &ActionTypeId) -> Lookup {
    let owner = type_id.owner.as_str();
    let same_provider: Vec<&'static ProviderSpec> =
        CATALOGUE.iter().filter(|spec| spec.owner == owner && spec.provider == type_id.provider).collect();
    if let Some(spec) = same_provider.iter().find(|spec| spec.categories.contains(&type_id.category.as_str())) {
        return Lookup::Known(spec);
    }
    if same_provider.is_empty() {
        return Lookup::Unknown;
    }
    Lookup::WrongCategory {
        categories: same_provider.iter().flat_map(|spec| spec.categories.iter().copied()).collect(),
    }
}

/// The known provider of an action, if any.
pub fn spec_of(type_id: &ActionTypeId) -> Option<&'static ProviderSpec> {
    match lookup(type_id) {
        Lookup::Known(spec) => Some(spec),
        _ => None,
    }
}

/// How long an action of this type may run, in minutes, before it fails.
/// `timeout_in_minutes` is the declaration's own value (manual approvals only).
pub fn timeout_minutes(type_id: &ActionTypeId, timeout_in_minutes: Option<i64>) -> u32 {
    if let Some(spec) = spec_of(type_id) {
        if spec.kind == ProviderKind::ManualApproval
            && let Some(minutes) = timeout_in_minutes.and_then(|m| u32::try_from(m).ok())
        {
            return minutes;
        }
        return spec.timeout_minutes;
    }
    if type_id.owner == ActionOwner::Custom { CUSTOM_TIMEOUT_MINUTES } else { DEFAULT_TIMEOUT_MINUTES }
}

/// The configuration keys of a catalogued provider whose values are secrets: CodePipeline
/// answers them as `****` (docs/reference/codepipeline.md §8).
pub fn secret_keys(type_id: &ActionTypeId) -> &'static [&'static str] {
    match spec_of(type_id).map(|spec| spec.kind) {
        Some(ProviderKind::GitHubV1) => &["OAuthToken"],
        Some(ProviderKind::AlexaSkillsKit) => &["ClientSecret", "RefreshToken"],
        _ => &[],
    }
}

/// True for the manual approval action type.
pub fn is_manual_approval(type_id: &ActionTypeId) -> bool {
    type_id.category == ActionCategory::Approval && type_id.owner == ActionOwner::Aws && type_id.provider == "Manual"
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::declaration::{ActionCategory, ActionOwner};

    fn type_id(category: &str, owner: &str, provider: &str) -> ActionTypeId {
        ActionTypeId {
            category: ActionCategory::parse(category),
            owner: ActionOwner::parse(owner),
            provider: provider.to_string(),
            version: "1".to_string(),
        }
    }

    #[test]
    fn s3_is_two_providers_told_apart_by_category() {
        assert!(
            matches!(lookup(&type_id("Source", "AWS", "S3")), Lookup::Known(s) if s.kind == ProviderKind::S3Source)
        );
        assert!(
            matches!(lookup(&type_id("Deploy", "AWS", "S3")), Lookup::Known(s) if s.kind == ProviderKind::S3Deploy)
        );
        assert!(matches!(lookup(&type_id("Build", "AWS", "S3")), Lookup::WrongCategory { .. }));
    }

    #[test]
    fn timeouts_follow_the_quota_table() {
        assert_eq!(timeout_minutes(&type_id("Deploy", "AWS", "CloudFormation"), None), 3 * DAY);
        assert_eq!(timeout_minutes(&type_id("Deploy", "AWS", "CodeDeploy"), None), 5 * DAY);
        assert_eq!(timeout_minutes(&type_id("Invoke", "AWS", "Lambda"), None), DAY);
        assert_eq!(timeout_minutes(&type_id("Deploy", "AWS", "S3"), None), 90);
        assert_eq!(timeout_minutes(&type_id("Approval", "AWS", "Manual"), None), 7 * DAY);
        assert_eq!(timeout_minutes(&type_id("Approval", "AWS", "Manual"), Some(30)), 30);
        assert_eq!(timeout_minutes(&type_id("Build", "AWS", "CodeBuild"), None), 8 * HOUR);
        assert_eq!(timeout_minutes(&type_id("Invoke", "AWS", "StepFunctions"), None), 7 * DAY);
        assert_eq!(timeout_minutes(&type_id("Build", "Custom", "Jenkins"), None), DAY);
        assert_eq!(timeout_minutes(&type_id("Test", "ThirdParty", "Snyk"), None), HOUR);
        assert_eq!(timeout_minutes(&type_id("Compute", "AWS", "Commands"), None), 55);
    }
}
