//! A whole pipeline through the functions, against moto: an S3 upload's event starts an
//! execution; parallel then sequential Commands actions run; the approval e-mail's link is
//! opened (GET) then answered (POST); the S3 deploy writes the site; the execution succeeds;
//! and the CodePipeline-format events arrive on an SQS target.

use crate::common;

use std::collections::BTreeMap;

use pipewright_aws::handlers::approval_callback::{self, Request};
use pipewright_core::engine::{ActionStatus, ExecutionStatus};
use pipewright_core::ports::StateStore;

use common::*;

/// The approval link (`?token=…&decision=…`) as query parameters.
fn query_of(link: &str) -> BTreeMap<String, String> {
    let query = link.split_once('?').map_or("", |(_, q)| q);
    pipewright_api::protocol::form_pairs(query.as_bytes()).into_iter().collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_upload_runs_the_pipeline_through_approval_to_deployment() {
    let stack = stack().await;
    stack.put_pipeline(&site_pipeline(&stack, "site", "SUPERSEDED", true)).await;
    let (version, etag) = stack.upload_source("site.zip", &[("index.html", "<h1>hello</h1>")]).await;

    // S3 tells EventBridge; the rule from template.yaml routes it to source-change.
    stack.put_default_bus(&stack.object_created("site.zip", &version, &etag)).await;
    let pumped = stack.router.pump().await.unwrap();
    assert_eq!(
        (pumped.messages, pumped.rejected.len(), pumped.failed.len()),
        (1, 0, 0),
        "the S3 event reached source-change through the template's rule: {pumped:?}"
    );
    let listed = stack.services.store.list_executions("site", 10, None).await.unwrap().items;
    assert_eq!(listed.len(), 1, "one execution started");
    let id = listed[0].id.clone();

    // Run until the approval waits.
    stack
        .router
        .run_until(300, || async {
            let execution = stack.execution(&id).await;
            execution.stages.iter().any(|s| {
                s.name == "Gate" && s.actions[0].attempts.last().is_some_and(|a| a.status == ActionStatus::InProgress)
            })
        })
        .await
        .unwrap();
    let execution = stack.execution(&id).await;
    let build = execution.stages.iter().find(|s| s.name == "Build").unwrap();
    let started = |name: &str| build.actions.iter().find(|a| a.name == name).unwrap().attempts[0].started_at;
    assert_eq!(started("Test"), started("Compile"), "runOrder 1 actions start together");
    assert!(started("Check") > started("Compile"), "runOrder 2 starts after runOrder 1");
    assert_eq!(
        execution.namespaces["SourceVariables"]["VersionId"], version,
        "the S3 source fetched the uploaded version"
    );

    // The approval notification, as SNS delivered it.
    stack.router.pump().await.unwrap();
    let mail = stack.drain(&stack.inbox).await;
    assert_eq!(mail.len(), 1, "one approval message: {mail:?}");
    let message: serde_json::Value = serde_json::from_str(mail[0]["Message"].as_str().unwrap()).unwrap();
    let approval = &message["approval"];
    assert_eq!(approval["pipelineName"], "site");
    assert_eq!(approval["stageName"], "Gate");
    assert_eq!(approval["actionName"], "Approve");
    assert_eq!(approval["customData"], format!("Ship version {version}?"));
    assert_eq!(approval["externalEntityLink"], "https://example.test/diff");
    assert_eq!(approval["token"].as_str().unwrap().len(), 36);
    assert_eq!(approval["expires"].as_str().unwrap().len(), "2026-11-28T10:00Z".len());
    let review = approval["approvalReviewLink"].as_str().unwrap();
    assert!(review.starts_with(APPROVAL_URL), "{review}");
    let approve_link = mail[0]["MessageAttributes"]["approveLink"]["Value"].as_str().unwrap();

    // GET (a mail scanner, then the approver) shows the page and changes nothing.
    for _ in 0..2 {
        let page = approval_callback::handle(
            &stack.services,
            &Request { method: "GET".into(), query: query_of(approve_link), ..Request::default() },
        )
        .await;
        assert_eq!(page.status, 200, "{}", page.body);
        for shown in ["site", "Gate", "Approve", &version, "Ship version"] {
            assert!(page.body.contains(shown), "the page shows {shown}: {}", page.body);
        }
        assert!(page.body.contains("method=\"post\""));
    }
    let waiting = stack.execution(&id).await;
    let gate = waiting.stages.iter().find(|s| s.name == "Gate").unwrap();
    assert_eq!(gate.actions[0].attempts[0].status, ActionStatus::InProgress, "GET never decides");

    // POST approves.
    let token = query_of(approve_link)["token"].clone();
    let answer = approval_callback::handle(
        &stack.services,
        &Request {
            method: "POST".into(),
            body: format!("token={token}&decision=Approved&summary=looks+good"),
            caller: Some("203.0.113.9".into()),
            ..Request::default()
        },
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.body);

    assert_eq!(stack.run_to_end(&id).await, ExecutionStatus::Succeeded);
    let done = stack.execution(&id).await;
    let approved = &done.stages.iter().find(|s| s.name == "Gate").unwrap().actions[0].attempts[0];
    assert_eq!(approved.summary.as_deref(), Some("looks good"));
    assert_eq!(approved.last_updated_by.as_deref(), Some("approval link (203.0.113.9)"));

    // The site is deployed, extracted under the ObjectKey prefix.
    let deployed = stack.objects(&stack.deploy_bucket).await;
    assert_eq!(deployed.get("live/dist/index.html").map(String::as_str), Some("<h1>hello</h1>"));
    assert_eq!(deployed.get("live/dist/version.txt").map(|v| v.trim()), Some(version.as_str()));
    let head = stack.s3.head_object().bucket(&stack.deploy_bucket).key("live/dist/index.html").send().await.unwrap();
    assert_eq!(head.cache_control(), Some("max-age=60"));
    assert_eq!(head.content_type(), Some("text/html"));

    // Artifacts live at <pipeline>/<artifact≤10>/<id> in the versioned artifact bucket.
    let artifacts = stack.objects(&stack.artifact_bucket()).await;
    assert!(artifacts.keys().any(|k| k.starts_with("site/Code/")), "{:?}", artifacts.keys());
    assert!(artifacts.keys().any(|k| k.starts_with("site/Site/")), "{:?}", artifacts.keys());

    // The CodePipeline-format events, on a rule's SQS target.
    stack.router.pump().await.unwrap();
    let events = stack.drain(&stack.observer).await;
    let states = |detail_type: &str| -> Vec<String> {
        events
            .iter()
            .filter(|e| e["detail-type"] == detail_type)
            .map(|e| {
                let d = &e["detail"];
                [d["stage"].as_str(), d["action"].as_str(), d["state"].as_str()]
                    .iter()
                    .flatten()
                    .copied()
                    .collect::<Vec<_>>()
                    .join("/")
            })
            .collect()
    };
    assert!(events.iter().all(|e| e["source"] == "pipewright"), "{events:?}");
    assert!(events.iter().all(|e| e["detail"]["execution-id"] == id.as_str()));
    assert_eq!(states("CodePipeline Pipeline Execution State Change"), ["STARTED", "SUCCEEDED"]);
    let stages = states("CodePipeline Stage Execution State Change");
    for expected in ["Source/STARTED", "Build/SUCCEEDED", "Gate/SUCCEEDED", "Deploy/SUCCEEDED"] {
        assert!(stages.contains(&expected.to_string()), "{expected} in {stages:?}");
    }
    let actions = states("CodePipeline Action Execution State Change");
    assert_eq!(actions.len(), 2 * 6, "STARTED and SUCCEEDED for each of the six actions: {actions:?}");
    assert!(events[0]["resources"][0].as_str().unwrap().ends_with(":site"));

    // A second POST with the same link is refused: single use.
    let replay = approval_callback::handle(
        &stack.services,
        &Request { method: "POST".into(), body: format!("token={token}&decision=Rejected"), ..Request::default() },
    )
    .await;
    assert_eq!(replay.status, 409, "{}", replay.body);
}
