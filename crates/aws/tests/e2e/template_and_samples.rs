//! template.yaml and the code agree: every event the code puts on the bus matches the rule of
//! exactly the function that takes it, the AWS events match source-change's rules, and every
//! sample in infra/events decodes as its function reads it. (No network.)

use std::path::Path;

use serde_json::{Value, json};

use pipewright_aws::bus::{self, ApprovalMessage, DispatchMessage, EngineMessage, Envelope};
use pipewright_aws::devstack::{FUNCTIONS, Parameters, Rule, function_memory, template_rules};
use pipewright_aws::handlers::source_change::{self, SourceEvent};
use pipewright_aws::webhook_secret;
use pipewright_core::deploy::events::service_change;
use pipewright_core::source_events::SourceChange;

const TEMPLATE: &str = include_str!("../../../../template.yaml");

fn samples_dir() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../../infra/events"))
}

fn sample(name: &str) -> Value {
    let path = samples_dir().join(name);
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))).unwrap()
}

/// EventBridge matching for the pattern forms the template uses: lists of exact values,
/// wildcards, `anything-but` and `exists`, nested objects, `$or` of patterns at one level,
/// arrays in the event.
fn pattern_matches(pattern: &Value, event: &Value) -> bool {
    match pattern {
        Value::Object(fields) => fields.iter().all(|(name, wanted)| match (name.as_str(), wanted) {
            ("$or", Value::Array(alternatives)) => alternatives.iter().any(|one| pattern_matches(one, event)),
            // A field the event lacks matches only `{"exists": false}`.
            (_, Value::Array(values)) if event.get(name.as_str()).is_none() => {
                values.iter().any(|value| value.get("exists") == Some(&json!(false)))
            }
            _ => pattern_matches(wanted, &event[name.as_str()]),
        }),
        // An array in the event (`resources`) matches when one of its elements does.
        Value::Array(_) if event.is_array() => {
            event.as_array().is_some_and(|items| items.iter().any(|item| pattern_matches(pattern, item)))
        }
        Value::Array(values) => values.iter().any(|value| match (value, event) {
            (Value::Object(filter), Value::String(text)) if filter.contains_key("wildcard") => {
                filter["wildcard"].as_str().is_some_and(|wildcard| wildcard_matches(wildcard, text))
            }
            (Value::Object(filter), _) if filter.contains_key("exists") => filter["exists"] == json!(true),
            // A value present and none of those listed.
            (Value::Object(filter), Value::String(text)) if filter.contains_key("anything-but") => {
                filter["anything-but"].as_array().is_some_and(|listed| listed.iter().all(|v| v.as_str() != Some(text)))
            }
            _ => value == event,
        }),
        _ => false,
    }
}

/// EventBridge's `wildcard` filter: `*` stands for any characters.
fn wildcard_matches(wildcard: &str, text: &str) -> bool {
    let parts: Vec<&str> = wildcard.split('*').collect();
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if parts.len() == 1 {
        return text == first;
    }
    if !text.starts_with(first) || text.len() < first.len() + last.len() || !text.ends_with(last) {
        return false;
    }
    let mut rest = &text[first.len()..text.len() - last.len()];
    for part in &parts[1..parts.len() - 1] {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    true
}

/// The functions (logical ids) whose rules take `event`, on `bus` (true: the stack's bus):
/// each once, however many of its rules match; two functions of one binary are two.
fn routed(rules: &[Rule], event: &Value, custom_bus: bool) -> Vec<String> {
    let mut functions: Vec<String> = rules
        .iter()
        .filter(|rule| {
            rule.custom_bus == custom_bus && rule.pattern.as_ref().is_some_and(|p| pattern_matches(p, event))
        })
        .map(|rule| rule.resource.clone())
        .collect();
    functions.sort();
    functions.dedup();
    functions
}

fn as_event(entry: &bus::Entry) -> Value {
    json!({"source": entry.source, "detail-type": entry.detail_type, "detail": entry.detail})
}

#[test]
fn the_template_declares_the_functions_and_the_tick() {
    let rules = template_rules(TEMPLATE, &Parameters::new()).unwrap();
    for function in FUNCTIONS.iter().filter(|f| **f != "approval-callback") {
        assert!(rules.iter().any(|r| r.function == *function), "{function} has a rule");
    }
    let ticks: Vec<&Rule> = rules.iter().filter(|r| r.schedule.is_some()).collect();
    assert_eq!(ticks.len(), 1);
    assert_eq!(
        (ticks[0].function.as_str(), ticks[0].schedule.as_deref()),
        ("stage-transition", Some("rate(1 minute)"))
    );
    for needle in [
        "BuildMethod: rust-cargolambda",
        "provided.al2023",
        "arm64",
        "PAY_PER_REQUEST",
        "PointInTimeRecoveryEnabled: true",
        "expires_at",
        "IndexName: listing",
        "deadlines",
        "outbox",
        "AuthType: NONE",
        "GenerateSecretString",
        "BlockPublicAcls: true",
        "NoncurrentVersionExpiration",
        "DeadLetter",
    ] {
        assert!(TEMPLATE.contains(needle), "template.yaml declares {needle}");
    }
    assert!(TEMPLATE.contains("Status: Enabled"), "the artifact bucket is versioned");
    // The listing index projects what the code reads from it, no more.
    let listed = format!("NonKeyAttributes: [{}]", pipewright_aws::dynamo::LISTING_ATTRIBUTES.join(", "));
    assert!(TEMPLATE.contains(&listed), "template.yaml's listing index: {listed}");
    // Every function the template builds is a crate of functions/, and the other way round.
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut built: Vec<&str> =
        TEMPLATE.lines().filter_map(|l| l.trim().strip_prefix("Binary: ")).map(str::trim).collect();
    built.sort();
    // Two functions run invoke-action, at two memory sizes.
    built.dedup();
    let mut crates: Vec<String> = std::fs::read_dir(root.join("functions"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    crates.sort();
    assert_eq!(built, crates, "template.yaml builds exactly the crates of functions/");
    // The control API verifies signatures against the stack's generated key.
    assert!(TEMPLATE.contains("PIPEWRIGHT_API_KEYS_SECRET_ARN: !Ref ApiKeysSecret"));
    // …and job workers sign with a key of their own, which the function reads too.
    assert!(TEMPLATE.contains("PIPEWRIGHT_JOB_WORKER_KEY_SECRET_ARN: !Ref JobWorkerKeySecret"));
    assert!(TEMPLATE.contains("- !Ref JobWorkerKeySecret"));
    assert!(TEMPLATE.contains("GenerateStringKey: secretAccessKey"));
    // Repository webhooks are verified with the secret the stack names, and only it is readable.
    assert!(TEMPLATE.contains(&format!("{}: !Ref WebhookSecretName", webhook_secret::SECRET_NAME_VARIABLE)));
    assert!(TEMPLATE.contains(":secret:${WebhookSecretName}-??????\""));
}

#[test]
fn each_function_has_the_memory_the_cost_test_prices_it_at() {
    let memory = function_memory(TEMPLATE).unwrap();
    assert_eq!(memory[HEAVY], 1024, "its own MemorySize");
    assert_eq!(memory[LIGHT], 256, "Globals.Function");
    assert_eq!(memory["StageTransitionFunction"], 256, "Globals.Function");
    let rules = template_rules(TEMPLATE, &Parameters::new()).unwrap();
    assert!(rules.iter().all(|rule| memory.contains_key(&rule.resource)), "{memory:?}");
    let without_globals = TEMPLATE.replace("\n    MemorySize: 256\n", "\n");
    assert_eq!(function_memory(&without_globals).unwrap()["StageTransitionFunction"], 128, "Lambda's default");
}

/// The two functions of invoke-action: the one that moves artifact bytes (1024 MB) and the
/// one of builds, Lambda invokes and approvals (256 MB).
const HEAVY: &str = "InvokeActionFunction";
const LIGHT: &str = "InvokeActionLightFunction";

/// Every job and every start reaches exactly one of invoke-action's two functions, chosen by
/// its category and provider: the light one only for actions that move no artifact bytes
/// through it (the S3 source is a copy S3 makes, CodeDeploy and Elastic Beanstalk take their
/// bundle from S3; the S3 deploy unzips through the function, CloudFormation, ECS,
/// CodeDeployToECS and Step Functions read files of their inputs).
#[test]
fn each_job_reaches_one_invoke_action_function_by_its_provider() {
    let rules = template_rules(TEMPLATE, &Parameters::new()).unwrap();
    let light = [
        ("Build", "CodeBuild"),
        ("Test", "CodeBuild"),
        ("Compute", "Commands"),
        ("Invoke", "Lambda"),
        ("Source", "S3"),
        ("Deploy", "CodeDeploy"),
        ("Deploy", "ElasticBeanstalk"),
    ];
    let heavy = [
        ("Deploy", "S3"),
        ("Source", "CodeCommit"),
        ("Source", "CodeStarSourceConnection"),
        ("Source", "GitHub"),
        ("Source", "ECR"),
        ("Deploy", "CloudFormation"),
        ("Deploy", "ECS"),
        ("Deploy", "CodeDeployToECS"),
        ("Invoke", "StepFunctions"),
        ("Build", "MyCustomProvider"),
        ("Source", "MyCustomProvider"),
    ];
    for (category, provider) in light.iter().chain(&heavy) {
        let expected = if light.contains(&(category, provider)) { LIGHT } else { HEAVY };
        let mut dispatched = sample("action-dispatched.json");
        dispatched["detail"]["dispatch"]["actionType"]["category"] = json!(category);
        dispatched["detail"]["dispatch"]["actionType"]["provider"] = json!(provider);
        assert_eq!(routed(&rules, &dispatched, true), [expected], "{category} {provider}'s job");
        let mut started = sample("action-started.json");
        started["detail"]["type"]["category"] = json!(category);
        started["detail"]["type"]["provider"] = json!(provider);
        assert_eq!(routed(&rules, &started, true), [expected], "{category} {provider}'s start");
        // An approval's start carries no job, to neither function.
        started["detail"]["type"]["category"] = json!("Approval");
        assert!(routed(&rules, &started, true).is_empty(), "{provider}'s start as an approval");
        // Every look at a wait runs in the light function; a dispatch put on the bus by an
        // earlier version has no `look` and goes by its provider.
        let mut look = dispatched.clone();
        look["detail"]["dispatch"]["continuationToken"] = json!("{\"stackId\":\"s\"}");
        look["detail"]["look"] = json!(true);
        assert_eq!(routed(&rules, &look, true), [LIGHT], "{category} {provider}'s look");
        look["detail"]["look"] = json!(false);
        assert_eq!(routed(&rules, &look, true), [expected], "{category} {provider}'s job, not a look");
        look["detail"].as_object_mut().unwrap().remove("look");
        assert_eq!(routed(&rules, &look, true), [expected], "{category} {provider}'s job of an earlier version");
    }
}

/// What the relay puts on the bus for a look at a wait says so, and reaches the light
/// function whatever the provider; a first job does not.
#[test]
fn a_look_at_a_wait_says_so_on_the_bus_and_reaches_the_light_function() {
    let rules = template_rules(TEMPLATE, &Parameters::new()).unwrap();
    let mut detail = sample("action-dispatched.json")["detail"].clone();
    detail["dispatch"]["actionType"] =
        json!({"category": "Deploy", "owner": "AWS", "provider": "CloudFormation", "version": "1"});
    let mut dispatch = serde_json::from_value::<DispatchMessage>(detail).unwrap().dispatch;
    let entry = |dispatch: &pipewright_core::engine::Dispatch| {
        let effect = pipewright_core::engine::Effect::Dispatch(Box::new(dispatch.clone()));
        as_event(&bus::effect_entry(&effect, "hello-service", "123456789012", "us-east-1").unwrap())
    };
    let first = entry(&dispatch);
    assert_eq!(first["detail"]["look"], json!(false));
    assert_eq!(routed(&rules, &first, true), [HEAVY], "a deploy's start reads its inputs");
    dispatch.continuation_token = Some("{\"stackId\":\"s\"}".into());
    let look = entry(&dispatch);
    assert_eq!(look["detail"]["look"], json!(true));
    assert_eq!(routed(&rules, &look, true), [LIGHT], "a look calls CloudFormation alone");
    // An earlier version's dispatch, without the field, still decodes.
    let mut earlier = look["detail"].clone();
    earlier.as_object_mut().unwrap().remove("look");
    assert!(!serde_json::from_value::<DispatchMessage>(earlier).unwrap().look);
}

/// Every rule whose dead letters go to RuleDeadLetterQueue is one its policy lets send there
/// (SAM names a function's rule `<function><event>`): a rule left out loses its dead letters.
#[test]
fn every_rule_may_dead_letter_to_the_rule_queue() {
    let rules = template_rules(TEMPLATE, &Parameters::new()).unwrap();
    let policy_start = TEMPLATE.find("  RuleDeadLetterQueuePolicy:").unwrap();
    let policy = &TEMPLATE[policy_start..policy_start + TEMPLATE[policy_start..].find("\n\n").unwrap()];
    for rule in &rules {
        let arn = format!("!GetAtt {}{}.Arn", rule.resource, rule.event);
        assert!(policy.contains(&arn), "RuleDeadLetterQueuePolicy names {arn}");
    }
    assert_eq!(policy.matches("!GetAtt ").count(), rules.len() + 1, "the rules and the queue itself");
}

#[test]
fn every_bus_event_reaches_exactly_its_function() {
    let rules = template_rules(TEMPLATE, &Parameters::new()).unwrap();
    let engine = sample("engine-action-succeeded.json");
    let dispatched = sample("action-dispatched.json");
    let approval = sample("approval-requested.json");
    let start = sample("start-pipeline-execution.json");
    assert_eq!(routed(&rules, &engine, true), ["StageTransitionFunction"]);
    assert_eq!(routed(&rules, &dispatched, true), [LIGHT], "a Commands action's job");
    assert_eq!(routed(&rules, &approval, true), [LIGHT]);
    assert_eq!(routed(&rules, &start, true), ["SourceChangeFunction"]);
    for aws in ["s3-object-created.json", "codecommit-reference-updated.json", "ecr-image-push.json"] {
        assert_eq!(routed(&rules, &sample(aws), false), ["SourceChangeFunction"], "{aws}");
        assert!(routed(&rules, &sample(aws), true).is_empty(), "{aws} comes on the default bus");
    }
    // CodeBuild's events come on the default bus, for builds of the allowed projects only.
    let build = sample("codebuild-build-state-change.json");
    assert_eq!(routed(&rules, &build, false), [LIGHT]);
    let mut other_project = build.clone();
    other_project["detail"]["project-name"] = json!("someone-elses");
    assert!(routed(&rules, &other_project, false).is_empty());
    let mut commands = build.clone();
    commands["detail"]["project-name"] = json!("pipewright-commands-pipewright");
    assert_eq!(routed(&rules, &commands, false), [LIGHT], "the stack's own Commands project");
    let mut running = build;
    running["detail"]["build-status"] = json!("IN_PROGRESS");
    assert!(routed(&rules, &running, false).is_empty(), "only a build that ended");
    // An abandoned or failed (timed out) build action stops its build; other action changes
    // are for users' rules.
    let abandoned = json!({"source": "pipewright", "detail-type": "CodePipeline Action Execution State Change",
        "detail": {"state": "ABANDONED", "type": {"owner": "AWS", "provider": "CodeBuild", "category": "Build", "version": "1"}}});
    assert_eq!(routed(&rules, &abandoned, true), [LIGHT]);
    let mut timed_out = abandoned.clone();
    timed_out["detail"]["state"] = json!("FAILED");
    timed_out["detail"]["type"]["provider"] = json!("Commands");
    assert_eq!(routed(&rules, &timed_out, true), [LIGHT]);
    let mut deploy = timed_out.clone();
    deploy["detail"]["type"]["provider"] = json!("CloudFormation");
    assert!(routed(&rules, &deploy, true).is_empty());
    let mut succeeded = abandoned.clone();
    succeeded["detail"]["state"] = json!("SUCCEEDED");
    assert!(routed(&rules, &succeeded, true).is_empty());
    // A rule's build to stop (the engine's StopWork) goes to the function that stops builds.
    let work = sample("work-abandoned.json");
    assert_eq!(routed(&rules, &work, true), [LIGHT]);
    assert!(routed(&rules, &work, false).is_empty(), "the stack's own bus only");
    // An action's start carries its first job to invoke-action; an approval's carries none
    // (its notification is an Approval Requested), nor does a start without a type.
    let started = sample("action-started.json");
    assert_eq!(routed(&rules, &started, true), [LIGHT], "a Commands action's start");
    assert!(routed(&rules, &started, false).is_empty(), "the stack's own bus only");
    let mut approval_start = started.clone();
    approval_start["detail"]["type"]["category"] = json!("Approval");
    assert!(routed(&rules, &approval_start, true).is_empty());
    let mut untyped = started.clone();
    untyped["detail"].as_object_mut().unwrap().remove("type");
    assert!(routed(&rules, &untyped, true).is_empty());
    // The state-change events are for users' rules, not for the functions.
    let engine_message: EngineMessage = serde_json::from_value(engine["detail"].clone()).unwrap();
    let entry = bus::engine_entry("p", &engine_message.event);
    assert_eq!(routed(&rules, &as_event(&entry), true), ["StageTransitionFunction"], "what invoke-action publishes");
    let published =
        json!({"source": "pipewright", "detail-type": "CodePipeline Pipeline Execution State Change", "detail": {}});
    assert!(routed(&rules, &published, true).is_empty());
    // A deleted branch or a failed push starts nothing (filtered by the rule already).
    let mut deleted = sample("codecommit-reference-updated.json");
    deleted["detail"]["event"] = json!("referenceDeleted");
    assert!(routed(&rules, &deleted, false).is_empty());
    let mut failed = sample("ecr-image-push.json");
    failed["detail"]["result"] = json!("FAILURE");
    assert!(routed(&rules, &failed, false).is_empty());
}

#[test]
fn only_uploads_to_the_source_buckets_invoke_source_change() {
    let upload = |bucket: &str| {
        let mut event = sample("s3-object-created.json");
        event["detail"]["bucket"]["name"] = json!(bucket);
        event
    };
    let defaults = template_rules(TEMPLATE, &Parameters::new()).unwrap();
    assert_eq!(routed(&defaults, &upload("pipewright-source-demo"), false), ["SourceChangeFunction"]);
    assert!(routed(&defaults, &upload("team-logs"), false).is_empty(), "another bucket of the account");
    assert!(routed(&defaults, &upload("my-pipewright-source-x"), false).is_empty(), "the pattern is anchored");

    let parameters = Parameters::from([("SourceBucketPattern".to_string(), "acme-*-sources".to_string())]);
    let overridden = template_rules(TEMPLATE, &parameters).unwrap();
    assert_eq!(routed(&overridden, &upload("acme-web-sources"), false), ["SourceChangeFunction"]);
    assert!(routed(&overridden, &upload("pipewright-source-demo"), false).is_empty());
    assert!(routed(&overridden, &upload("acme-web-sources-old"), false).is_empty());
}

/// The services' state-change events for deploy waits (docs/providers.md §13, "Early
/// looks"): each reaches stage-transition from the default bus, for the resources of the
/// deploy patterns only, and only where an operation ends.
#[test]
fn service_events_for_deploy_resources_reach_stage_transition() {
    let rules = template_rules(TEMPLATE, &Parameters::new()).unwrap();
    for name in [
        "cloudformation-stack-status-change.json",
        "ecs-deployment-state-change.json",
        "codedeploy-deployment-state-change.json",
        "stepfunctions-execution-status-change.json",
    ] {
        let event = sample(name);
        assert_eq!(routed(&rules, &event, false), ["StageTransitionFunction"], "{name}");
        assert!(routed(&rules, &event, true).is_empty(), "{name} comes on the default bus");
    }
    let edit = |name: &str, change: &dyn Fn(&mut Value)| {
        let mut event = sample(name);
        change(&mut event);
        routed(&rules, &event, false)
    };
    let foreign = "arn:aws:cloudformation:us-east-1:123456789012:stack/team-db/1b3c9f70";
    assert!(edit("cloudformation-stack-status-change.json", &|e| e["detail"]["stack-id"] = json!(foreign)).is_empty());
    let busy = |e: &mut Value| e["detail"]["status-details"]["status"] = json!("UPDATE_IN_PROGRESS");
    assert!(edit("cloudformation-stack-status-change.json", &busy).is_empty(), "a status in progress");
    let rolled_back = |e: &mut Value| e["detail"]["status-details"]["status"] = json!("UPDATE_ROLLBACK_COMPLETE");
    assert_eq!(edit("cloudformation-stack-status-change.json", &rolled_back), ["StageTransitionFunction"]);
    let other_service = |e: &mut Value| e["resources"] = json!(["arn:aws:ecs:us-east-1:123456789012:service/team/api"]);
    assert!(edit("ecs-deployment-state-change.json", &other_service).is_empty());
    let steady = |e: &mut Value| {
        e["detail-type"] = json!("ECS Service Action");
        e["detail"]["eventName"] = json!("SERVICE_STEADY_STATE");
    };
    assert_eq!(edit("ecs-deployment-state-change.json", &steady), ["StageTransitionFunction"]);
    let other_application = |e: &mut Value| e["detail"]["application"] = json!("team-fleet");
    assert!(edit("codedeploy-deployment-state-change.json", &other_application).is_empty());
    let started = |e: &mut Value| e["detail"]["state"] = json!("START");
    assert!(edit("codedeploy-deployment-state-change.json", &started).is_empty());
    let running = |e: &mut Value| e["detail"]["status"] = json!("RUNNING");
    assert!(edit("stepfunctions-execution-status-change.json", &running).is_empty());

    let parameters = Parameters::from([("DeployStackPrefix".to_string(), "team-".to_string())]);
    let overridden = template_rules(TEMPLATE, &parameters).unwrap();
    let mut event = sample("cloudformation-stack-status-change.json");
    assert!(routed(&overridden, &event, false).is_empty());
    event["detail"]["stack-id"] = json!(foreign);
    assert_eq!(routed(&overridden, &event, false), ["StageTransitionFunction"]);
}

#[test]
fn only_pushes_to_the_source_repositories_invoke_source_change() {
    let push = |sample_name: &str, field: &str, repository: &str| {
        let mut event = sample(sample_name);
        event["detail"][field] = json!(repository);
        event
    };
    let codecommit = |repository: &str| push("codecommit-reference-updated.json", "repositoryName", repository);
    let ecr = |repository: &str| push("ecr-image-push.json", "repository-name", repository);
    let defaults = template_rules(TEMPLATE, &Parameters::new()).unwrap();
    assert_eq!(
        routed(&defaults, &codecommit("anything"), false),
        ["SourceChangeFunction"],
        "every repository by default"
    );
    assert_eq!(routed(&defaults, &ecr("team/web"), false), ["SourceChangeFunction"]);

    let parameters = Parameters::from([
        ("CodeCommitRepositoryPattern".to_string(), "acme-*".to_string()),
        ("EcrRepositoryPattern".to_string(), "acme/*".to_string()),
    ]);
    let scoped = template_rules(TEMPLATE, &parameters).unwrap();
    assert_eq!(routed(&scoped, &codecommit("acme-web"), false), ["SourceChangeFunction"]);
    assert!(routed(&scoped, &codecommit("other-web"), false).is_empty());
    assert_eq!(routed(&scoped, &ecr("acme/web"), false), ["SourceChangeFunction"]);
    assert!(routed(&scoped, &ecr("other/web"), false).is_empty());
}

#[test]
fn a_pattern_that_refers_to_an_unknown_parameter_is_an_error() {
    let template = TEMPLATE.replace("!Ref SourceBucketPattern }", "!Ref NoSuchParameter }");
    let error = template_rules(&template, &Parameters::new()).unwrap_err().to_string();
    assert!(error.contains("NoSuchParameter"), "{error}");
    let template = TEMPLATE.replace("stack/${DeployStackPrefix}*", "stack/${NoSuchPrefix}*");
    let error = template_rules(&template, &Parameters::new()).unwrap_err().to_string();
    assert!(error.contains("NoSuchPrefix"), "{error}");
}

#[test]
fn every_sample_decodes_as_its_function_reads_it() {
    let mut names: Vec<String> = std::fs::read_dir(samples_dir())
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names.len(), 17, "{names:?}");
    for name in &names {
        let value = sample(name);
        if name.starts_with("approval-callback") {
            // A Function URL request (payload format 2.0), as lambda_http reads it.
            let request: lambda_http::aws_lambda_events::apigw::ApiGatewayV2httpRequest =
                serde_json::from_value(value).unwrap_or_else(|e| panic!("{name}: {e}"));
            let method = request.request_context.http.method.to_string();
            assert_eq!(method, if name.ends_with("get.json") { "GET" } else { "POST" });
            continue;
        }
        let envelope: Envelope = serde_json::from_value(value).unwrap_or_else(|e| panic!("{name}: {e}"));
        // A service's state change, read by stage-transition for the deploy waits it concerns.
        if let Some(change) =
            service_change(&envelope.source, &envelope.detail_type, &envelope.resources, &envelope.detail)
        {
            assert!(!change.ids.is_empty(), "{name} names the work it concerns");
            continue;
        }
        match envelope.detail_type.as_str() {
            "Pipewright Engine Event" => drop(serde_json::from_value::<EngineMessage>(envelope.detail).unwrap()),
            "Pipewright Action Dispatched" => drop(serde_json::from_value::<DispatchMessage>(envelope.detail).unwrap()),
            "Pipewright Approval Requested" => {
                drop(serde_json::from_value::<ApprovalMessage>(envelope.detail).unwrap())
            }
            "Pipewright Work Abandoned" => {
                let stop: pipewright_core::engine::StopWork = serde_json::from_value(envelope.detail).unwrap();
                assert_eq!((stop.stage.as_str(), stop.rule.as_str()), ("Deploy", "SmokeTest"));
            }
            "Scheduled Event" => assert_eq!(envelope.source, "aws.events"),
            // An action's start, which carries its first job to invoke-action.
            "CodePipeline Action Execution State Change" => {
                let detail: pipewright_core::engine::StateChangeDetail =
                    serde_json::from_value(envelope.detail).unwrap_or_else(|e| panic!("{name}: {e}"));
                assert_eq!((envelope.source.as_str(), detail.state.as_str()), ("pipewright", "STARTED"));
                assert!(detail.stage.is_some() && detail.action.is_some(), "{name} names its action");
            }
            "CodeBuild Build State Change" => {
                let event = pipewright_core::deploy::codebuild::build_event(&envelope.detail).unwrap();
                assert_eq!((event.pipeline.as_str(), event.status.as_str()), ("hello-service", "FAILED"));
            }
            _ => match source_change::decode(&envelope).unwrap_or_else(|e| panic!("{name}: {e}")) {
                SourceEvent::Change(SourceChange::S3Object { bucket, key, version_id, .. }) => {
                    assert_eq!((bucket.as_str(), key.as_str()), ("pipewright-source-demo", "site.zip"));
                    assert!(version_id.is_some());
                }
                SourceEvent::Change(SourceChange::CodeCommit { branch, .. }) => assert_eq!(branch, "main"),
                SourceEvent::Change(SourceChange::EcrImage { tag, .. }) => assert_eq!(tag.as_deref(), Some("latest")),
                SourceEvent::Start(command) => assert_eq!(command.pipeline_name, "hello-service"),
                other => panic!("{name}: {other:?}"),
            },
        }
    }
}
