//! Deploy and invoke actions, decided without I/O (docs/providers.md): which CloudFormation
//! call a mode makes given the stack's status, what counts as success, the failure message,
//! the task definition an ECS deploy registers, the placeholders CodeDeployToECS fills, the
//! names and tokens that make a repeated call harmless, and what `--plan` shows. The
//! adapters (`pipewright-aws-providers` over the AWS SDK, `pipewright-providers`' plan
//! provider) make the calls and read the files; these functions decide.

pub mod beanstalk;
pub mod cloudformation;
pub mod codebuild;
pub mod codedeploy;
pub mod codepipeline;
pub mod diff;
pub mod ecs;
pub mod ended_together;
pub mod events;
pub mod plan;
pub mod s3;
pub mod stepfunctions;

use std::collections::BTreeMap;

use crate::engine::Dispatch;
use crate::pipeline::Pipeline;
use crate::providers::ProviderKind;
use crate::time::Timestamp;

/// The providers that act on AWS resources: locally they need `--aws`, `--aws-endpoint` or
/// `--plan` (docs/providers.md, "Local runs").
pub fn acts_on_aws(kind: ProviderKind) -> bool {
    matches!(
        kind,
        ProviderKind::CloudFormation
            | ProviderKind::Ecs
            | ProviderKind::CodeDeploy
            | ProviderKind::CodeDeployToEcs
            | ProviderKind::ElasticBeanstalk
            | ProviderKind::StepFunctions
            | ProviderKind::S3Deploy
    )
}

/// The providers whose continuation is a wait for an AWS service that the tick (and the
/// service's state-change events) look at again, rather than a job sent at once: the deploy
/// providers, and on AWS the builds CodeBuild runs (CodeBuild and Commands actions,
/// docs/providers.md, "CodeBuild on AWS"). Locally those two never continue a job.
pub fn waits_on_service(kind: ProviderKind) -> bool {
    acts_on_aws(kind) || matches!(kind, ProviderKind::CodeBuild | ProviderKind::Commands)
}

/// What a local deploy action says when the run chose no way to deploy.
pub fn choose_a_target(provider: &str) -> String {
    format!(
        "{provider} actions deploy to AWS; choose how for this run: --aws (your credentials, with --profile/--region or the environment), --aws-endpoint URL (a local emulator such as moto, LocalStack or Floci), or --plan (no AWS: show what would be deployed and go on)"
    )
}

/// `ArtifactName::path/in/artifact`, split.
pub fn artifact_path(value: &str) -> Option<(&str, &str)> {
    let (artifact, path) = value.split_once("::")?;
    (!artifact.is_empty() && !path.is_empty()).then_some((artifact, path.trim_start_matches("./")))
}

/// A configuration value, when it is given and not empty.
pub fn config<'a>(configuration: &'a BTreeMap<String, String>, key: &str) -> Option<&'a str> {
    configuration.get(key).map(String::as_str).filter(|v| !v.trim().is_empty())
}

/// A token that makes a call idempotent (CloudFormation's `ClientRequestToken`, CodePipeline's
/// `clientRequestToken`): the same job and step always give the same token, so a call repeated
/// after a crash is recognised by the service. Letters, digits and `-`, at most 64 characters.
pub fn client_token(job_id: &str, step: &str) -> String {
    let clean: String = format!("pw-{step}-{job_id}")
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '-' })
        .collect();
    clean.chars().take(64).collect()
}

/// How long to wait before looking again, after `polls` looks: 2 s, 4 s, 8 s, 16 s, then
/// every 30 s. On AWS the minute tick is the finest grain; the services' events come sooner.
pub fn next_poll_seconds(polls: u32) -> u32 {
    2u32.saturating_pow(polls.saturating_add(1)).min(30)
}

/// How long after its `polls`-th look the tick looks again at work whose end its service
/// announces: 1, 2, 4 and 8 minutes, then every 10. The service's event (a build's, a
/// stack's, a deployment's, an execution's state change, routed by template.yaml) makes the
/// look at once; the tick's looks only recover an event that was lost. Each look costs a
/// dispatch event, an invocation and a commit (about $0.000003), so work looked at every
/// minute cost more in looks than the rest of its action: they thin out instead, and a lost
/// event delays the action by 10 minutes at most (docs/providers.md §13, "Early looks").
pub fn backstop_look_seconds(polls: u32) -> u32 {
    60u32.saturating_mul(1 << polls.min(4)).min(600)
}

/// What makes a wait's next look: the decision each provider takes for each of its waits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NextLook {
    /// The service announces the end of the work by an event the stack routes to a look at
    /// once: the tick's looks are a backstop and thin out (`backstop_look_seconds`).
    Announced,
    /// Nothing announces it (a call that failed for a moment, a change set being made, a busy
    /// stack, Beanstalk): looked at on the ordinary schedule (`next_poll_seconds`).
    Polled,
}

impl NextLook {
    /// Seconds until the look after the `polls`-th.
    pub fn after_seconds(self, polls: u32) -> u32 {
        match self {
            NextLook::Announced => backstop_look_seconds(polls),
            NextLook::Polled => next_poll_seconds(polls),
        }
    }
}

/// Where the stack's rules take services' state-change events from: the default bus of its
/// own region and account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoutedEvents {
    pub region: String,
    pub account: String,
}

impl RoutedEvents {
    /// Whether the end of work an action does in `region`, as `role_arn` when it names one,
    /// is announced where the stack routes it. A service announces on the default bus of the
    /// region and account the work runs in: another region's, or another account's role's
    /// (`arn:aws:iam::ACCOUNT:role/…`), reaches no rule of the stack, and its wait is looked at
    /// on the ordinary schedule (docs/providers.md §11).
    pub fn reach_from(&self, region: &str, role_arn: Option<&str>) -> bool {
        region == self.region && role_arn.is_none_or(|arn| arn.split(':').nth(4) == Some(self.account.as_str()))
    }
}

/// The wait a job carries when it is a deploy provider's next look (its continuation token):
/// such a job is sent by the tick when the look is due, not at once (docs/providers.md §13).
pub fn deploy_wait(dispatch: &Dispatch) -> Option<&str> {
    let kind = crate::rule_types::RuleProvider::kind_of(dispatch)?;
    let token = dispatch.continuation_token.as_deref()?;
    waits_on_service(kind).then_some(token)
}

/// Whether the next look of a deploy provider's wait is due at `now` (docs/providers.md §13):
/// the wait, recorded at `since` as the attempt's continuation token, asks for its next look
/// `pollAfterSeconds` later. A token without that field is due at once.
pub fn wait_is_due(continuation_token: &str, since: Timestamp, now: Timestamp) -> bool {
    let after = serde_json::from_str::<serde_json::Value>(continuation_token)
        .ok()
        .and_then(|token| token.get("pollAfterSeconds").and_then(serde_json::Value::as_i64))
        .unwrap_or(0);
    since.millis().saturating_add(after.saturating_mul(1000)) <= now.millis()
}

/// The artifact bucket of the action's region, when the action runs in a region whose store
/// is not the one some of its inputs are in (an input written by an action of another region,
/// or the home store's for an action elsewhere): those inputs are copied there, since a
/// service reads S3 in its own region (docs/providers.md §11).
pub fn regional_store(pipeline: &Pipeline, dispatch: &Dispatch) -> Option<String> {
    let action_region = dispatch.region.as_deref()?;
    let regional = pipeline.artifact_store(Some(action_region))?;
    let declared = pipeline.declaration.artifact_stores.as_ref().is_some_and(|s| s.contains_key(action_region));
    let elsewhere = dispatch.input_artifacts.iter().any(|input| input.location.bucket != regional.location);
    (declared && elsewhere).then(|| regional.location.clone())
}

/// A value that stands in for what a planned action would have produced: clearly marked, so
/// that a later action that uses it shows where it came from.
pub fn planned_value(what: &str) -> String {
    format!("pipewright-planned:{what}")
}

/// True when `value` is (or holds) a planned stand-in.
pub fn is_planned(value: &str) -> bool {
    value.contains("pipewright-planned:")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn artifact_paths_split_at_the_first_separator() {
        assert_eq!(artifact_path("Build::infra/template.yaml"), Some(("Build", "infra/template.yaml")));
        assert_eq!(artifact_path("Build::./t.json"), Some(("Build", "t.json")));
        assert_eq!(artifact_path("Build"), None);
        assert_eq!(artifact_path("::t.json"), None);
    }

    #[test]
    fn a_wait_is_due_once_the_interval_it_asked_for_has_passed() {
        let since = Timestamp::from_millis(1_000_000);
        let token = r#"{"state":{},"externalId":"x","status":"s","pollAfterSeconds":30,"polls":3}"#;
        assert!(!wait_is_due(token, since, Timestamp::from_millis(1_029_999)));
        assert!(wait_is_due(token, since, Timestamp::from_millis(1_030_000)));
        assert!(wait_is_due("not json", since, since), "an unreadable token is looked at at once");
    }

    #[test]
    fn tokens_are_stable_and_fit_the_services_patterns() {
        let job = "0f8e2c1a-1111-4222-8333-444455556666";
        assert_eq!(client_token(job, "update"), client_token(job, "update"));
        assert_ne!(client_token(job, "update"), client_token(job, "create"));
        let token = client_token(job, "delete_then/create");
        assert!(token.len() <= 64 && token.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'), "{token}");
    }

    #[test]
    fn polls_back_off_to_thirty_seconds() {
        let waits: Vec<u32> = (0..6).map(next_poll_seconds).collect();
        assert_eq!(waits, vec![2, 4, 8, 16, 30, 30]);
        assert_eq!(next_poll_seconds(u32::MAX), 30);
    }

    #[test]
    fn the_ticks_looks_at_announced_work_thin_out_to_one_in_ten_minutes() {
        let minutes: Vec<u32> = (0..7).map(|polls| NextLook::Announced.after_seconds(polls) / 60).collect();
        assert_eq!(minutes, [1, 2, 4, 8, 10, 10, 10]);
        assert_eq!(backstop_look_seconds(u32::MAX), 600);
        assert_eq!(NextLook::Polled.after_seconds(0), 2);
        assert_eq!(NextLook::Polled.after_seconds(9), 30);
    }

    #[test]
    fn an_action_reads_in_its_regions_store_every_input_written_elsewhere() {
        let declaration: crate::declaration::PipelineDeclaration = serde_json::from_value(serde_json::json!({
            "name": "shop", "roleArn": "arn:aws:iam::111111111111:role/r",
            "artifactStores": {"us-east-1": {"type": "S3", "location": "home"}, "us-west-2": {"type": "S3", "location": "west"}},
            "stages": [
                {"name": "Source", "actions": [{"name": "Code", "region": "us-east-1",
                    "actionTypeId": {"category": "Source", "owner": "AWS", "provider": "S3", "version": "1"},
                    "configuration": {"S3Bucket": "b", "S3ObjectKey": "k"}, "outputArtifacts": [{"name": "Code"}]}]},
                {"name": "Build", "actions": [{"name": "Compile", "region": "us-west-2", "runOrder": 1,
                    "actionTypeId": {"category": "Build", "owner": "AWS", "provider": "CodeBuild", "version": "1"},
                    "configuration": {"ProjectName": "p"}, "inputArtifacts": [{"name": "Code"}],
                    "outputArtifacts": [{"name": "Built"}]}]}
            ]
        }))
        .unwrap();
        let pipeline =
            Pipeline::compile(declaration, crate::pipeline::Environment { region: Some("us-east-1".into()) }).unwrap();
        let input = |name: &str, bucket: &str| crate::engine::ArtifactRef {
            name: name.into(),
            location: crate::engine::ArtifactLocation { bucket: bucket.into(), key: format!("shop/{name}/k") },
        };
        let mut dispatch: Dispatch = serde_json::from_value(serde_json::json!({
            "id": "d", "pipeline": "shop", "pipelineVersion": 1, "executionId": "e-1", "stage": "Deploy",
            "action": "Publish", "attempt": 1, "actionExecutionId": "a-1", "jobId": "job-1", "jobSequence": 1,
            "actionType": {"category": "Deploy", "owner": "AWS", "provider": "S3", "version": "1"},
            "region": "us-east-1", "roleArn": null, "namespace": null, "configuration": {}, "commands": [],
            "environmentVariables": [], "outputVariables": [], "inputArtifacts": [], "outputArtifacts": [],
            "encryptionKey": null, "continuationToken": null, "sourceRevision": null, "deadline": 0
        }))
        .unwrap();
        dispatch.input_artifacts = vec![input("Code", "home")];
        assert_eq!(regional_store(&pipeline, &dispatch), None, "everything at home");
        dispatch.input_artifacts.push(input("Built", "west"));
        assert_eq!(regional_store(&pipeline, &dispatch).as_deref(), Some("home"), "not only the first input");
        dispatch.region = Some("us-west-2".into());
        assert_eq!(regional_store(&pipeline, &dispatch).as_deref(), Some("west"));
        dispatch.input_artifacts.remove(0);
        assert_eq!(regional_store(&pipeline, &dispatch), None, "already in the action's region");
        dispatch.region = None;
        assert_eq!(regional_store(&pipeline, &dispatch), None);
    }

    #[test]
    fn a_services_event_reaches_the_stack_from_its_own_region_and_account_only() {
        let routed = RoutedEvents { region: "us-east-1".into(), account: "111111111111".into() };
        assert!(routed.reach_from("us-east-1", None));
        assert!(
            routed.reach_from("us-east-1", Some("arn:aws:iam::111111111111:role/cdk-build-role")),
            "a CDK action role"
        );
        assert!(!routed.reach_from("us-east-1", Some("arn:aws:iam::222222222222:role/deployer")), "another account");
        assert!(!routed.reach_from("us-west-2", None), "another region");
        assert!(!routed.reach_from("us-east-1", Some("not an arn")));
    }

    #[test]
    fn the_message_names_the_three_choices() {
        let message = choose_a_target("CloudFormation");
        for choice in ["--aws", "--aws-endpoint", "--plan"] {
            assert!(message.contains(choice), "{message}");
        }
        assert!(!message.contains("needs the AWS backend"));
    }
}
