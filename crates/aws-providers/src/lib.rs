//! pipewright-aws-providers: the providers that act on AWS — CloudFormation, ECS, CodeDeploy
//! and CodeDeployToECS, Elastic Beanstalk, Step Functions and the S3 deploy — over the AWS
//! SDK, written once. The invoke-action function hosts them on AWS, `pipewright run --aws` /
//! `--aws-endpoint` on a laptop; both through [`pipewright_providers::deploy::Deployer`], two
//! steps that never sleep (docs/providers.md §1–§3).

pub mod artifacts;
pub mod beanstalk;
pub mod bucket_regions;
pub mod clients;
pub mod cloudformation;
pub mod codebuild;
pub mod codedeploy;
pub mod ecs;
pub mod errors;
pub mod s3_deploy;
pub mod secrets;
pub mod stepfunctions;

use std::sync::Arc;

use aws_config::SdkConfig;
use aws_smithy_runtime_api::client::interceptors::SharedInterceptor;
use serde_json::Value;

use pipewright_core::deploy::{NextLook, RoutedEvents};
use pipewright_core::engine::FailureType;
use pipewright_core::providers::ProviderKind;
use pipewright_providers::ActionOutput;
use pipewright_providers::deploy::{ArtifactBytes, BoxFuture, DeployJob, Deployer, Progress, Waiting};

use crate::clients::{Clients, ClientsCache};

/// The providers over the AWS SDK, with the artifact store they read and write.
pub struct AwsDeployer {
    clients: ClientsCache,
    artifacts: Arc<dyn ArtifactBytes>,
    /// The stack's CodeBuild project that runs Commands actions (docs/security.md).
    commands_project: Option<String>,
    /// Where the services' state-change events reach a look at once from (invoke-action's
    /// stack routes them); none for a local run, which looks on the ordinary schedule.
    events_routed: Option<RoutedEvents>,
}

impl AwsDeployer {
    /// `sdk` says where and as whom (the environment, a profile, an endpoint for every
    /// service); `interceptors` see every call (the tests count them).
    pub fn new(sdk: SdkConfig, artifacts: Arc<dyn ArtifactBytes>, interceptors: Vec<SharedInterceptor>) -> AwsDeployer {
        AwsDeployer {
            clients: ClientsCache::new(sdk, interceptors),
            artifacts,
            commands_project: None,
            events_routed: None,
        }
    }

    /// The services' state-change events reach a look at once, as template.yaml routes them:
    /// the tick's looks at announced work thin out (`core::deploy::NextLook`).
    pub fn with_events_routed(mut self, from: RoutedEvents) -> AwsDeployer {
        self.events_routed = Some(from);
        self
    }

    /// Commands actions run as builds of `project` (the stack's Commands project).
    pub fn with_commands_project(mut self, project: Option<String>) -> AwsDeployer {
        self.commands_project = project.filter(|p| !p.is_empty());
        self
    }

    /// Stops the build an abandoned CodeBuild or Commands action waits for, in the action's
    /// region and as its role.
    pub async fn stop_build(&self, region: Option<&str>, role: Option<&str>, build_id: &str) -> Result<(), String> {
        let clients = self.clients.get(region, role).await?;
        codebuild::stop(&clients, build_id).await
    }

    /// The clients for a job: its region, as its role when it names one.
    async fn clients_for(&self, job: &DeployJob) -> Result<Arc<Clients>, Progress> {
        let dispatch = &job.dispatch;
        self.clients.get(dispatch.region.as_deref(), dispatch.role_arn.as_deref()).await.map_err(|e| {
            Progress::failed(
                FailureType::PermissionError,
                format!("cannot act as {}: {e}", dispatch.role_arn.as_deref().unwrap_or("the pipeline's role")),
            )
        })
    }

    /// The step's context: clients, artifacts, output.
    async fn context<'a>(&'a self, job: &'a DeployJob, output: &'a dyn ActionOutput) -> Result<Step<'a>, Progress> {
        let clients = self.clients_for(job).await?;
        let home = self.clients.home().await;
        let regional = self.clients.get(job.dispatch.region.as_deref(), None).await.unwrap_or_else(|_| home.clone());
        let events_routed = self.events_routed.as_ref();
        Ok(Step { job, clients, home, regional, artifacts: self.artifacts.as_ref(), output, events_routed })
    }
}

/// What one step of a provider works with.
pub struct Step<'a> {
    pub job: &'a DeployJob,
    /// The action's region, as the action's role.
    pub clients: Arc<Clients>,
    /// The pipeline's region, as the orchestrator (the artifact store).
    pub home: Arc<Clients>,
    /// The action's region, as the orchestrator (the region's artifact store).
    pub regional: Arc<Clients>,
    pub artifacts: &'a dyn ArtifactBytes,
    pub output: &'a dyn ActionOutput,
    /// Where the services' events reach a look at once from (`AwsDeployer::with_events_routed`).
    pub events_routed: Option<&'a RoutedEvents>,
}

impl Step<'_> {
    /// The next look at work whose end the service announces by an event: a backstop when
    /// the event reaches a look, the ordinary schedule where it cannot (a local run; work in
    /// another region or account, `RoutedEvents::reach_from`).
    pub fn announced(&self) -> NextLook {
        let role = self.job.dispatch.role_arn.as_deref();
        match self.events_routed {
            Some(routed) if routed.reach_from(&self.clients.region, role) => NextLook::Announced,
            _ => NextLook::Polled,
        }
    }

    /// A line for the action's log.
    pub fn say(&self, line: &str) {
        let dispatch = &self.job.dispatch;
        self.output.line(&dispatch.stage, &dispatch.action, line);
    }
}

/// The provider that runs `job`: its action's, or its rule's (a Commands rule is a build).
fn kind_of(job: &DeployJob) -> Option<ProviderKind> {
    pipewright_core::rule_types::RuleProvider::kind_of(&job.dispatch)
}

fn unsupported(job: &DeployJob) -> Progress {
    let t = &job.dispatch.action_type;
    Progress::failed(
        FailureType::ConfigurationError,
        format!("{}/{}/{} actions are not run by Pipewright's AWS providers", t.category, t.owner, t.provider),
    )
}

/// A waiting step: the state a provider keeps, the id the service knows, how long to wait.
/// The wall clock, as the engine counts time: what a wait's deadline or a URL's lifetime is
/// measured from.
pub(crate) fn now() -> pipewright_core::time::Timestamp {
    let millis = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis());
    pipewright_core::time::Timestamp::from_millis(i64::try_from(millis).unwrap_or(i64::MAX))
}

/// The next look `next` says (`core::deploy::NextLook`): sooner for work nothing announces.
pub fn waiting(
    state: Value,
    external_id: &str,
    status: String,
    polls: u32,
    url: Option<String>,
    next: NextLook,
) -> Progress {
    Progress::Waiting(Waiting {
        state,
        external_id: external_id.to_string(),
        url,
        status,
        poll_after_seconds: next.after_seconds(polls),
        polls,
    })
}

/// The output of a read that says nothing for the action's log.
struct Unsaid;

impl ActionOutput for Unsaid {
    fn line(&self, _stage: &str, _action: &str, _line: &str) {}
}

impl Deployer for AwsDeployer {
    fn start<'a>(&'a self, job: &'a DeployJob, output: &'a dyn ActionOutput) -> BoxFuture<'a, Progress> {
        Box::pin(async move {
            let step = match self.context(job, output).await {
                Ok(step) => step,
                Err(progress) => return progress,
            };
            match kind_of(job) {
                Some(ProviderKind::CloudFormation) => cloudformation::start(&step).await,
                Some(ProviderKind::Ecs) => ecs::start(&step).await,
                Some(ProviderKind::CodeDeploy) => codedeploy::start(&step).await,
                Some(ProviderKind::CodeDeployToEcs) => codedeploy::start_ecs(&step).await,
                Some(ProviderKind::ElasticBeanstalk) => beanstalk::start(&step).await,
                Some(ProviderKind::StepFunctions) => stepfunctions::start(&step).await,
                Some(ProviderKind::S3Deploy) => s3_deploy::run(&step).await,
                Some(kind @ (ProviderKind::CodeBuild | ProviderKind::Commands)) => {
                    codebuild::start(&step, kind, self.commands_project.as_deref()).await
                }
                _ => unsupported(job),
            }
        })
    }

    fn poll<'a>(
        &'a self,
        job: &'a DeployJob,
        waiting: &'a Waiting,
        output: &'a dyn ActionOutput,
    ) -> BoxFuture<'a, Progress> {
        Box::pin(async move {
            let step = match self.context(job, output).await {
                Ok(step) => step,
                Err(progress) => return progress,
            };
            match kind_of(job) {
                Some(ProviderKind::CloudFormation) => cloudformation::poll(&step, waiting).await,
                Some(ProviderKind::Ecs) => ecs::poll(&step, waiting).await,
                Some(ProviderKind::CodeDeploy | ProviderKind::CodeDeployToEcs) => {
                    codedeploy::poll(&step, waiting).await
                }
                Some(ProviderKind::ElasticBeanstalk) => beanstalk::poll(&step, waiting).await,
                Some(ProviderKind::StepFunctions) => stepfunctions::poll(&step, waiting).await,
                Some(ProviderKind::CodeBuild | ProviderKind::Commands) => codebuild::poll(&step, waiting).await,
                _ => unsupported(job),
            }
        })
    }

    fn has_ended<'a>(&'a self, job: &'a DeployJob, waiting: &'a Waiting) -> BoxFuture<'a, Option<bool>> {
        Box::pin(async move {
            let step = self.context(job, &Unsaid).await.ok()?;
            match kind_of(job) {
                Some(ProviderKind::CodeBuild | ProviderKind::Commands) => codebuild::has_ended(&step, waiting).await,
                _ => None,
            }
        })
    }
}
