//! The store contract suite (`pipewright_core::contract`) against the DynamoDB store, in a
//! fresh table of moto per check: here rather than among the crate's unit tests, which need
//! no moto.

use pipewright_aws::dynamo::{DynamoStore, create_table};
use pipewright_aws::testing;

async fn fresh() -> DynamoStore {
    let config = testing::sdk_config().await;
    let client = aws_sdk_dynamodb::Client::new(&config);
    let table = testing::unique("contract");
    create_table(&client, &table).await.expect("create the table in moto");
    DynamoStore::new(client, table)
}

pipewright_core::store_contract_tests!(fresh());
