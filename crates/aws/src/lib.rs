//! pipewright-aws: the core's ports over AWS — the DynamoDB store, the EventBridge bus, the S3
//! artifact store, the SNS notifier and the Lambda invoker — with clients built once from the
//! environment, so `AWS_ENDPOINT_URL` points them at moto. The function handlers live here
//! too, so that each function's `main` is a few lines and the tests run them in-process.

pub mod artifact_access;
pub mod artifacts;
pub mod bus;
pub mod codecommit_source;
pub mod counting;
#[cfg(feature = "devstack")]
pub mod devstack;
pub mod dynamo;
pub mod ecr_source;
pub mod handlers;
pub mod invoker;
pub mod notifier;
pub mod relay;
pub mod repository_sources;
pub mod settings;
pub mod telemetry;
pub mod webhook_secret;

#[cfg(any(test, feature = "testing"))]
pub mod testing;
