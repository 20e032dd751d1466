//! pipewright-aws: the core's ports over AWS — the DynamoDB store, the EventBridge bus, the S3
//! artifact store, the SNS notifier and the Lambda invoker — with clients built once from the
//! environment, so `AWS_ENDPOINT_URL` points them at moto. The function handlers live here
//! too, so that each function's `main` is a few lines and the tests run them in-process.

pub mod artifacts;
pub mod bus;
pub mod counting;
#[cfg(feature = "devstack")]
pub mod devstack;
pub mod dynamo;
pub mod handlers;
pub mod invoker;
pub mod notifier;
pub mod relay;
pub mod settings;
pub mod telemetry;

#[cfg(any(test, feature = "testing"))]
pub mod testing;

#[cfg(test)]
mod contract_tests {
    use super::dynamo::{DynamoStore, create_table};
    use super::testing;

    async fn fresh() -> DynamoStore {
        let config = testing::sdk_config().await;
        let client = aws_sdk_dynamodb::Client::new(&config);
        let table = testing::unique("contract");
        create_table(&client, &table).await.expect("create the table in moto");
        DynamoStore::new(client, table)
    }

    pipewright_core::store_contract_tests!(fresh());
}
