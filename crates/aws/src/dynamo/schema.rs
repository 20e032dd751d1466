//! The table, as template.yaml declares it: created in moto for the tests and the dev stack.

use aws_sdk_dynamodb::Client;

use pipewright_core::ports::StoreError;

use super::errors::{refused, sdk_error};
use super::keys::{DEADLINES, LISTING, LISTING_ATTRIBUTES, OUTBOX};

/// Creates the table as template.yaml declares it (for moto and the dev stack).
pub async fn create_table(client: &Client, table: &str) -> Result<(), StoreError> {
    use aws_sdk_dynamodb::types::{
        AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection, ProjectionType,
        ScalarAttributeType, TimeToLiveSpecification,
    };
    let attribute = |name: &str| {
        AttributeDefinition::builder()
            .attribute_name(name)
            .attribute_type(ScalarAttributeType::S)
            .build()
            .map_err(refused)
    };
    let schema = |hash: &str, range: &str| -> Result<Vec<KeySchemaElement>, StoreError> {
        Ok(vec![
            KeySchemaElement::builder().attribute_name(hash).key_type(KeyType::Hash).build().map_err(refused)?,
            KeySchemaElement::builder().attribute_name(range).key_type(KeyType::Range).build().map_err(refused)?,
        ])
    };
    // The tick needs the pipeline's name along with the execution's key.
    let projected = Projection::builder().projection_type(ProjectionType::Include).non_key_attributes("pipeline");
    client
        .create_table()
        .table_name(table)
        .billing_mode(BillingMode::PayPerRequest)
        .set_attribute_definitions(Some(
            ["pk", "sk", "gsi1pk", "gsi1sk", "deadline_pk", "deadline_sk", "outbox_pk", "outbox_sk"]
                .into_iter()
                .map(attribute)
                .collect::<Result<Vec<_>, _>>()?,
        ))
        .set_key_schema(Some(schema("pk", "sk")?))
        .global_secondary_indexes(
            GlobalSecondaryIndex::builder()
                .index_name(LISTING)
                .set_key_schema(Some(schema("gsi1pk", "gsi1sk")?))
                .projection(
                    Projection::builder()
                        .projection_type(ProjectionType::Include)
                        .set_non_key_attributes(Some(LISTING_ATTRIBUTES.map(String::from).to_vec()))
                        .build(),
                )
                .build()
                .map_err(refused)?,
        )
        .global_secondary_indexes(
            GlobalSecondaryIndex::builder()
                .index_name(DEADLINES)
                .set_key_schema(Some(schema("deadline_pk", "deadline_sk")?))
                .projection(projected.clone().build())
                .build()
                .map_err(refused)?,
        )
        .global_secondary_indexes(
            GlobalSecondaryIndex::builder()
                .index_name(OUTBOX)
                .set_key_schema(Some(schema("outbox_pk", "outbox_sk")?))
                .projection(projected.build())
                .build()
                .map_err(refused)?,
        )
        .send()
        .await
        .map_err(|e| sdk_error(&e))?;
    client
        .update_time_to_live()
        .table_name(table)
        .time_to_live_specification(
            TimeToLiveSpecification::builder().attribute_name("expires_at").enabled(true).build().map_err(refused)?,
        )
        .send()
        .await
        .map_err(|e| sdk_error(&e))?;
    Ok(())
}
