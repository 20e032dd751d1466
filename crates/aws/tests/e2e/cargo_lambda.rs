//! The real function binaries, under `cargo lambda watch`: the router takes the stand-in's
//! queues and invokes the functions through the Lambda Invoke API that cargo-lambda serves,
//! and the approval page is fetched from the Function URL it emulates. One pipeline runs from
//! the S3 upload's event to the deployed site, with nothing of Pipewright in this process but
//! the router.

use crate::common;

use pipewright_aws::devstack::function_environment;
use pipewright_aws::devstack::router::{Router, Target};
use pipewright_aws::testing;
use pipewright_aws::testing::watch::{Watch, free_port};
use pipewright_core::engine::{ActionStatus, ExecutionStatus};
use pipewright_core::ports::StateStore;
use pipewright_http::Request;

use common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_function_binaries_run_a_pipeline_under_cargo_lambda_watch() {
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let approval_url = format!("{base}/lambda-url/approval-callback");
    let stack = stack_with_approval_url(&approval_url).await;
    let watch = Watch::start(port, &function_environment(&stack.stack, testing::endpoint())).unwrap();
    let router =
        Router::new(&stack.sdk, &stack.stack, Target::Watch(base.clone())).with_retry_delays(RETRY_DELAYS.to_vec());

    stack.put_pipeline(&site_pipeline(&stack, "watched", "QUEUED", true)).await;
    let (version, etag) = stack.upload_source("site.zip", &[("index.html", "<p>watched</p>")]).await;
    stack.put_default_bus(&stack.object_created("site.zip", &version, &etag)).await;

    // The first invocation of each function builds it: the rounds are generous.
    let started = router
        .run_until(3000, || async {
            let listed = stack.services.store.list_executions("watched", 10, None).await.unwrap().items;
            listed.first().is_some_and(|e| {
                e.stages.iter().any(|s| {
                    s.name == "Gate"
                        && s.actions[0].attempts.last().is_some_and(|a| a.status == ActionStatus::InProgress)
                })
            })
        })
        .await;
    if let Err(error) = started {
        panic!("the run did not reach the approval: {error}\ncargo lambda watch:\n{}", watch.log_tail());
    }
    let id = stack.services.store.list_executions("watched", 10, None).await.unwrap().items[0].id.clone();

    // The approval mail went out with links to the Function URL.
    router
        .run_until(200, || async {
            let attributes = stack
                .sqs
                .get_queue_attributes()
                .queue_url(&stack.inbox)
                .attribute_names(aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages)
                .send()
                .await
                .unwrap();
            attributes
                .attributes()
                .and_then(|a| a.get(&aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages))
                .is_some_and(|n| n != "0")
        })
        .await
        .unwrap_or_else(|e| panic!("no approval mail: {e}\n{}", watch.log_tail()));
    let mail = stack.drain(&stack.inbox).await;
    assert_eq!(mail.len(), 1, "one approval message: {mail:?}\n{}", watch.log_tail());
    let approve_link = mail[0]["MessageAttributes"]["approveLink"]["Value"].as_str().unwrap().to_string();
    assert!(approve_link.starts_with(&approval_url), "{approve_link}");

    // GET through the Function URL shows the page and decides nothing.
    let page = pipewright_http::send(Request::new("GET", &approve_link)).await.unwrap();
    let text = page.text();
    assert_eq!(page.status, 200, "{text}\n{}", watch.log_tail());
    assert!(text.contains("watched") && text.contains("Gate") && text.contains(&version), "{text}");
    let gate = |execution: &pipewright_core::engine::Execution| {
        execution.stages.iter().find(|s| s.name == "Gate").unwrap().actions[0].attempts[0].status
    };
    assert_eq!(gate(&stack.execution(&id).await), ActionStatus::InProgress, "GET never decides");

    // POST approves.
    let token = approve_link.split("token=").nth(1).unwrap().split('&').next().unwrap().to_string();
    let answer = pipewright_http::send(
        Request::new("POST", &format!("{approval_url}/"))
            .header("content-type", "application/x-www-form-urlencoded")
            // A header the caller writes is not who decided.
            .header("x-forwarded-for", "the-security-team, 10.0.0.1")
            .body(format!("token={token}&decision=Approved&summary=watched+and+approved")),
    )
    .await
    .unwrap();
    assert_eq!(answer.status, 200, "{}\n{}", answer.text(), watch.log_tail());
    assert_eq!(gate(&stack.execution(&id).await), ActionStatus::Succeeded);
    let execution = stack.execution(&id).await;
    let decided = &execution.stages.iter().find(|s| s.name == "Gate").unwrap().actions[0].attempts[0];
    let by = decided.last_updated_by.as_deref().unwrap_or_default();
    assert!(by.starts_with("approval link") && !by.contains("security-team"), "{by}");

    let finished = router.run_until(1000, || async { stack.status(&id).await.is_some_and(|s| s.is_finished()) }).await;
    if let Err(error) = finished {
        panic!("the run did not finish: {error}\ncargo lambda watch:\n{}", watch.log_tail());
    }
    assert_eq!(stack.status(&id).await, Some(ExecutionStatus::Succeeded), "{}", watch.log_tail());
    let deployed = stack.objects(&stack.deploy_bucket).await;
    assert_eq!(deployed.get("live/dist/index.html").map(String::as_str), Some("<p>watched</p>"));
    assert_eq!(deployed.get("live/dist/version.txt").map(|v| v.trim()), Some(version.as_str()));
}
