//! What `Ref` and `Fn::GetAtt` of a resource give offline (docs/import.md, "Resources"):
//! each resource's physical name is its name property when the template sets one, else the
//! deterministic `<StackName>-<LogicalId>`; the value is then shaped as AWS shapes it (a
//! role's `Arn` is an IAM ARN, a topic's `Ref` is its ARN, a repository's `Ref` is an id).

use sha2::{Digest, Sha256};

use super::placeholders::Account;

/// The property that names a resource of `resource_type`, when there is one.
pub fn name_property(resource_type: &str) -> Option<&'static str> {
    Some(match resource_type {
        "AWS::IAM::Role" => "RoleName",
        "AWS::IAM::User" => "UserName",
        "AWS::IAM::ManagedPolicy" => "ManagedPolicyName",
        "AWS::IAM::InstanceProfile" => "InstanceProfileName",
        "AWS::S3::Bucket" => "BucketName",
        "AWS::CodeBuild::Project" | "AWS::CodePipeline::Pipeline" | "AWS::Events::Rule" => "Name",
        "AWS::SecretsManager::Secret" => "Name",
        "AWS::KMS::Key" => return None,
        "AWS::SNS::Topic" => "TopicName",
        "AWS::SQS::Queue" => "QueueName",
        "AWS::CodeStarConnections::Connection" | "AWS::CodeConnections::Connection" => "ConnectionName",
        "AWS::CodeCommit::Repository" | "AWS::ECR::Repository" => "RepositoryName",
        "AWS::ECS::Cluster" => "ClusterName",
        "AWS::ECS::Service" => "ServiceName",
        "AWS::CodeDeploy::Application" => "ApplicationName",
        "AWS::CodeDeploy::DeploymentGroup" => "DeploymentGroupName",
        "AWS::Lambda::Function" | "AWS::Serverless::Function" => "FunctionName",
        "AWS::StepFunctions::StateMachine" => "StateMachineName",
        "AWS::DynamoDB::Table" => "TableName",
        "AWS::Logs::LogGroup" => "LogGroupName",
        "AWS::SSM::Parameter" => "Name",
        "AWS::ElasticBeanstalk::Application" => "ApplicationName",
        "AWS::ElasticBeanstalk::Environment" => "EnvironmentName",
        _ => return None,
    })
}

/// `<StackName>-<LogicalId>`, within the type's name limits (docs/import.md, "Names").
pub fn generated_name(stack: &str, logical_id: &str, resource_type: &str) -> String {
    let name = format!("{stack}-{logical_id}");
    let (limit, lower) = match resource_type {
        "AWS::S3::Bucket" => (63, true),
        "AWS::IAM::Role" | "AWS::IAM::User" => (64, false),
        "AWS::CodePipeline::Pipeline" => (100, false),
        "AWS::CodeBuild::Project" => (255, false),
        "AWS::Lambda::Function" | "AWS::SQS::Queue" | "AWS::SNS::Topic" => (64, false),
        _ => (128, false),
    };
    let mut name: String =
        name.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '-' }).collect();
    if lower {
        name = name.to_ascii_lowercase().replace('_', "-");
    }
    name.truncate(limit);
    name.trim_end_matches('-').to_string()
}

/// A UUID-shaped id derived from the logical id: stable across imports.
pub fn stable_uuid(seed: &str) -> String {
    let digest = Sha256::digest(seed.as_bytes());
    let hex: String = digest.iter().take(16).map(|b| format!("{b:02x}")).collect();
    format!("{}-{}-4{}-8{}-{}", &hex[0..8], &hex[8..12], &hex[13..16], &hex[17..20], &hex[20..32])
}

/// The resource's own description for `Ref` and `GetAtt`.
pub struct Described<'a> {
    pub logical_id: &'a str,
    pub resource_type: &'a str,
    pub name: &'a str,
    /// `Path` of an IAM role (`/` when absent).
    pub path: &'a str,
}

/// What `Ref` gives.
pub fn reference(r: &Described<'_>, at: Account<'_>) -> String {
    let Account { account, region, partition } = at;
    let name = r.name;
    match r.resource_type {
        "AWS::SNS::Topic" => format!("arn:{partition}:sns:{region}:{account}:{name}"),
        "AWS::ECS::Service" => format!("arn:{partition}:ecs:{region}:{account}:service/{name}"),
        "AWS::CodeStarConnections::Connection" | "AWS::CodeConnections::Connection" => {
            let service = if r.resource_type.contains("CodeStar") { "codestar-connections" } else { "codeconnections" };
            format!("arn:{partition}:{service}:{region}:{account}:connection/{}", stable_uuid(r.logical_id))
        }
        "AWS::SecretsManager::Secret" => {
            format!("arn:{partition}:secretsmanager:{region}:{account}:secret:{name}-AbCdEf")
        }
        "AWS::KMS::Key" | "AWS::CodeCommit::Repository" => stable_uuid(r.logical_id),
        "AWS::CloudFormation::Stack" => {
            format!("arn:{partition}:cloudformation:{region}:{account}:stack/{name}/{}", stable_uuid(r.logical_id))
        }
        "AWS::IAM::ManagedPolicy" => format!("arn:{partition}:iam::{account}:policy/{name}"),
        "AWS::StepFunctions::StateMachine" => format!("arn:{partition}:states:{region}:{account}:stateMachine:{name}"),
        "AWS::SQS::Queue" => format!("https://sqs.{region}.amazonaws.com/{account}/{name}"),
        _ => name.to_string(),
    }
}

/// What `GetAtt` gives, when the attribute is one AWS documents for the type; `None` for
/// attributes only AWS knows (they become placeholders).
pub fn attribute(r: &Described<'_>, attribute: &str, at: Account<'_>) -> Option<String> {
    let Account { account, region, partition } = at;
    let name = r.name;
    let uuid = || stable_uuid(r.logical_id);
    let value = match (r.resource_type, attribute) {
        ("AWS::IAM::Role", "Arn") => format!("arn:{partition}:iam::{account}:role{}{name}", r.path),
        ("AWS::IAM::Role", "RoleId") => format!("AROA{}", uuid().replace('-', "").to_uppercase().get(..17)?),
        ("AWS::IAM::User", "Arn") => format!("arn:{partition}:iam::{account}:user/{name}"),
        ("AWS::IAM::InstanceProfile", "Arn") => format!("arn:{partition}:iam::{account}:instance-profile/{name}"),
        ("AWS::S3::Bucket", "Arn") => format!("arn:{partition}:s3:::{name}"),
        ("AWS::S3::Bucket", "DomainName") => format!("{name}.s3.amazonaws.com"),
        ("AWS::S3::Bucket", "RegionalDomainName") => format!("{name}.s3.{region}.amazonaws.com"),
        ("AWS::S3::Bucket", "WebsiteURL") => format!("http://{name}.s3-website-{region}.amazonaws.com"),
        ("AWS::CodeBuild::Project", "Arn") => format!("arn:{partition}:codebuild:{region}:{account}:project/{name}"),
        ("AWS::KMS::Key", "Arn") => format!("arn:{partition}:kms:{region}:{account}:key/{}", uuid()),
        ("AWS::KMS::Key", "KeyId") => uuid(),
        ("AWS::SNS::Topic", "TopicArn") => reference(r, at),
        ("AWS::SNS::Topic", "TopicName") => name.to_string(),
        ("AWS::CodeStarConnections::Connection" | "AWS::CodeConnections::Connection", "ConnectionArn") => {
            reference(r, at)
        }
        ("AWS::CodeStarConnections::Connection" | "AWS::CodeConnections::Connection", "OwnerAccountId") => {
            account.to_string()
        }
        ("AWS::CodeCommit::Repository", "Arn") => format!("arn:{partition}:codecommit:{region}:{account}:{name}"),
        ("AWS::CodeCommit::Repository", "Name") => name.to_string(),
        ("AWS::CodeCommit::Repository", "CloneUrlHttp") => {
            format!("https://git-codecommit.{region}.amazonaws.com/v1/repos/{name}")
        }
        ("AWS::CodeCommit::Repository", "CloneUrlSsh") => {
            format!("ssh://git-codecommit.{region}.amazonaws.com/v1/repos/{name}")
        }
        ("AWS::ECR::Repository", "Arn") => format!("arn:{partition}:ecr:{region}:{account}:repository/{name}"),
        ("AWS::ECR::Repository", "RepositoryUri") => format!("{account}.dkr.ecr.{region}.amazonaws.com/{name}"),
        ("AWS::ECS::Cluster", "Arn") => format!("arn:{partition}:ecs:{region}:{account}:cluster/{name}"),
        ("AWS::ECS::Service", "Name") => name.to_string(),
        ("AWS::ECS::Service", "ServiceArn") => reference(r, at),
        ("AWS::Lambda::Function" | "AWS::Serverless::Function", "Arn") => {
            format!("arn:{partition}:lambda:{region}:{account}:function:{name}")
        }
        ("AWS::SecretsManager::Secret", "Id") => reference(r, at),
        ("AWS::Events::Rule", "Arn") => format!("arn:{partition}:events:{region}:{account}:rule/{name}"),
        ("AWS::CodePipeline::Pipeline", "Version") => "1".to_string(),
        ("AWS::StepFunctions::StateMachine", "Arn") => reference(r, at),
        ("AWS::StepFunctions::StateMachine", "Name") => name.to_string(),
        ("AWS::SQS::Queue", "Arn") => format!("arn:{partition}:sqs:{region}:{account}:{name}"),
        ("AWS::SQS::Queue", "QueueName") => name.to_string(),
        ("AWS::SQS::Queue", "QueueUrl") => reference(r, at),
        ("AWS::DynamoDB::Table", "Arn") => format!("arn:{partition}:dynamodb:{region}:{account}:table/{name}"),
        ("AWS::Logs::LogGroup", "Arn") => format!("arn:{partition}:logs:{region}:{account}:log-group:{name}:*"),
        ("AWS::IAM::ManagedPolicy", "PolicyArn") => reference(r, at),
        (_, "Arn") => {
            // Any other type: arn:<partition>:<service>:<region>:<account>:<name>.
            let service = r.resource_type.split("::").nth(1)?.to_ascii_lowercase();
            format!("arn:{partition}:{service}:{region}:{account}:{name}")
        }
        _ => return None,
    };
    Some(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    const AT: Account<'static> = Account { account: "123456789012", region: "us-east-1", partition: "aws" };

    fn described<'a>(resource_type: &'a str, name: &'a str) -> Described<'a> {
        Described { logical_id: "Thing", resource_type, name, path: "/" }
    }

    #[test]
    fn references_have_the_shape_aws_gives() {
        assert_eq!(reference(&described("AWS::S3::Bucket", "b"), AT), "b");
        assert_eq!(reference(&described("AWS::SNS::Topic", "t"), AT), "arn:aws:sns:us-east-1:123456789012:t");
        let repo = reference(&described("AWS::CodeCommit::Repository", "r"), AT);
        assert_eq!(repo.len(), 36);
        assert_eq!(repo, reference(&described("AWS::CodeCommit::Repository", "r"), AT));
        assert_eq!(
            attribute(&described("AWS::IAM::Role", "pipeline-role"), "Arn", AT).unwrap(),
            "arn:aws:iam::123456789012:role/pipeline-role"
        );
        assert_eq!(
            attribute(&described("AWS::CodeBuild::Project", "p"), "Arn", AT).unwrap(),
            "arn:aws:codebuild:us-east-1:123456789012:project/p"
        );
        assert!(attribute(&described("AWS::IAM::Role", "x"), "Unknown", AT).is_none());
    }

    #[test]
    fn generated_names_fit_the_type() {
        assert_eq!(generated_name("stack", "ArtifactsBucket", "AWS::S3::Bucket"), "stack-artifactsbucket");
        assert_eq!(generated_name("my_stack", "Pipeline", "AWS::CodePipeline::Pipeline"), "my_stack-Pipeline");
        assert!(generated_name(&"s".repeat(80), "Role", "AWS::IAM::Role").len() <= 64);
    }
}
