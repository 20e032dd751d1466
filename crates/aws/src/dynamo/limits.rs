//! DynamoDB's limits, checked before a transaction is sent (docs/security.md, "Limits of
//! AWS"): what DynamoDB would refuse is refused here, by name, and nothing is written.
//!
//! * an item holds at most 400 KB, measured as DynamoDB measures it: attribute names and
//!   strings by their UTF-8 bytes, binaries by their bytes, a number 1 byte plus 1 per two
//!   significant digits, a boolean or null 1 byte, a list or map 3 bytes plus 1 per element;
//! * a transaction holds at most 100 actions and 4 MB;
//! * an expression is at most 4 KB, with at most 300 operators.
//!
//! An update's resulting item depends on what is stored; here it is bounded below by its key
//! and the values it sets (the execution items it concerns keep their body whole in one
//! value, so that bound is most of the item).

use aws_sdk_dynamodb::types::{AttributeValue, TransactWriteItem};

use pipewright_core::ports::StoreError;

use super::codec::Item;

/// 400 KB: one item.
pub const ITEM_BYTES: usize = 400 * 1024;
/// 4 MB: every item of one transaction.
pub const TRANSACTION_BYTES: usize = 4 * 1024 * 1024;
/// 100 actions in one transaction.
pub const TRANSACTION_ITEMS: usize = 100;
/// 4 KB: one expression string.
pub const EXPRESSION_BYTES: usize = 4 * 1024;
/// 300 operators or functions in one expression.
pub const EXPRESSION_OPERATORS: usize = 300;

fn number_size(text: &str) -> usize {
    let digits = text.trim_start_matches(['-', '+']).split(['e', 'E']).next().unwrap_or_default();
    let significant = digits.replace('.', "");
    let significant = significant.trim_start_matches('0').trim_end_matches('0');
    1 + significant.len().div_ceil(2)
}

/// One attribute value's size.
pub fn value_size(value: &AttributeValue) -> usize {
    match value {
        AttributeValue::S(text) => text.len(),
        AttributeValue::N(number) => number_size(number),
        AttributeValue::B(blob) => blob.as_ref().len(),
        AttributeValue::Bool(_) | AttributeValue::Null(_) => 1,
        AttributeValue::Ss(texts) => texts.iter().map(String::len).sum(),
        AttributeValue::Ns(numbers) => numbers.iter().map(|n| number_size(n)).sum(),
        AttributeValue::Bs(blobs) => blobs.iter().map(|b| b.as_ref().len()).sum(),
        AttributeValue::L(values) => 3 + values.iter().map(|v| 1 + value_size(v)).sum::<usize>(),
        AttributeValue::M(map) => 3 + map.iter().map(|(k, v)| 1 + k.len() + value_size(v)).sum::<usize>(),
        _ => 0,
    }
}

/// An item's size: its attribute names and values.
pub fn item_size(item: &Item) -> usize {
    item.iter().map(|(name, value)| name.len() + value_size(value)).sum()
}

/// The operators and functions of an expression, as DynamoDB counts them: in an update,
/// arithmetic (`SET a = :x + :y` has one) and functions — a `SET`'s `=` assigns and is not
/// one; in a condition, comparisons, `AND`/`OR`/`NOT`/`BETWEEN`/`IN`, arithmetic and
/// functions.
fn operators(expression: &str, update: bool) -> usize {
    let arithmetic = expression.chars().filter(|c| matches!(c, '+' | '-')).count();
    let functions = expression.matches('(').count();
    if update {
        return arithmetic + functions;
    }
    let two = ["<>", "<=", ">="].iter().map(|op| expression.matches(op).count()).sum::<usize>();
    let one = expression.chars().filter(|c| matches!(c, '=' | '<' | '>')).count();
    // Each two-character comparison holds two of the single characters counted in `one`.
    let comparisons = one - two;
    let words = expression
        .split(|c: char| c.is_whitespace() || c == '(' || c == ')')
        .filter(|w| matches!(*w, "AND" | "OR" | "NOT" | "BETWEEN" | "IN"))
        .count();
    arithmetic + functions + comparisons + words
}

const UPDATE: &str = "update expression";

fn key_name(key: &Item) -> String {
    let part = |name: &str| key.get(name).and_then(|v| v.as_s().ok()).cloned().unwrap_or_default();
    format!("{} {}", part("pk"), part("sk"))
}

fn check_expression(what: &str, item: &str, expression: Option<&str>) -> Result<(), StoreError> {
    let update = what == UPDATE;
    let Some(expression) = expression else { return Ok(()) };
    if expression.len() > EXPRESSION_BYTES {
        return Err(StoreError::Refused(format!(
            "the {what} of item {item} is {} bytes, over DynamoDB's {EXPRESSION_BYTES}-byte limit",
            expression.len()
        )));
    }
    let count = operators(expression, update);
    if count > EXPRESSION_OPERATORS {
        return Err(StoreError::Refused(format!(
            "the {what} of item {item} has {count} operators, over DynamoDB's {EXPRESSION_OPERATORS}"
        )));
    }
    Ok(())
}

/// What one action of a transaction writes, at least: a put's item, an update's key and
/// values. Its name (pk and sk), for the refusal.
fn written(action: &TransactWriteItem) -> Result<(String, usize), StoreError> {
    let values = |values: Option<&std::collections::HashMap<String, AttributeValue>>| {
        values.map_or(0, |v| v.values().map(value_size).sum::<usize>())
    };
    if let Some(put) = action.put() {
        let name = key_name(put.item());
        check_expression("condition expression", &name, put.condition_expression())?;
        return Ok((name, item_size(put.item())));
    }
    if let Some(update) = action.update() {
        let name = key_name(update.key());
        check_expression(UPDATE, &name, Some(update.update_expression()))?;
        check_expression("condition expression", &name, update.condition_expression())?;
        return Ok((name, item_size(update.key()) + values(update.expression_attribute_values())));
    }
    if let Some(check) = action.condition_check() {
        let name = key_name(check.key());
        check_expression("condition expression", &name, Some(check.condition_expression()))?;
        return Ok((name, item_size(check.key())));
    }
    if let Some(delete) = action.delete() {
        let name = key_name(delete.key());
        check_expression("condition expression", &name, delete.condition_expression())?;
        return Ok((name, item_size(delete.key())));
    }
    Ok((String::new(), 0))
}

/// What the actions of a transaction write, at least ([`written`]): what a commit costs.
pub fn bytes(actions: &[TransactWriteItem]) -> usize {
    actions.iter().filter_map(|action| written(action).ok()).map(|(_, size)| size).sum()
}

/// Refuses a transaction DynamoDB would refuse: more than 100 actions, an item over 400 KB,
/// 4 MB in all, an expression over its limits. `what` names the change (a pipeline).
pub fn check(what: &str, actions: &[TransactWriteItem]) -> Result<(), StoreError> {
    if actions.len() > TRANSACTION_ITEMS {
        return Err(StoreError::Refused(format!(
            "{what}: a change of {} items exceeds DynamoDB's {TRANSACTION_ITEMS} per transaction",
            actions.len()
        )));
    }
    let mut total = 0;
    for action in actions {
        let (name, size) = written(action).map_err(|e| StoreError::Refused(format!("{what}: {e}")))?;
        if size > ITEM_BYTES {
            return Err(StoreError::Refused(format!(
                "{what}: item {name} would be {size} bytes, over DynamoDB's {ITEM_BYTES}-byte (400 KB) item limit"
            )));
        }
        total += size;
    }
    if total > TRANSACTION_BYTES {
        return Err(StoreError::Refused(format!(
            "{what}: the change is {total} bytes, over DynamoDB's {TRANSACTION_BYTES}-byte (4 MB) transaction limit"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use aws_sdk_dynamodb::types::{Put, Update};

    use super::*;
    use crate::dynamo::codec::{n, s};

    fn put(pk: &str, bytes: usize) -> TransactWriteItem {
        let item = HashMap::from([
            ("pk".to_string(), s(pk)),
            ("sk".to_string(), s("X")),
            ("b".to_string(), AttributeValue::B(aws_smithy_types::Blob::new(vec![7u8; bytes]))),
        ]);
        TransactWriteItem::builder().put(Put::builder().table_name("t").set_item(Some(item)).build().unwrap()).build()
    }

    /// The size of `put(pk, 0)`: the key and the empty binary's name.
    fn overhead(pk: &str) -> usize {
        "pk".len() + pk.len() + "sk".len() + 1 + "b".len()
    }

    #[test]
    fn sizes_are_measured_as_dynamodb_documents_them() {
        assert_eq!(value_size(&s("héllo")), 6, "UTF-8 bytes");
        assert_eq!(value_size(&n(12345)), 1 + 3, "1 byte plus 1 per two significant digits");
        assert_eq!(value_size(&n("-0.00120")), 1 + 1);
        assert_eq!(value_size(&AttributeValue::Bool(true)), 1);
        let map = AttributeValue::M(HashMap::from([("ab".to_string(), s("xyz"))]));
        assert_eq!(value_size(&map), 3 + 1 + 2 + 3);
        assert_eq!(value_size(&AttributeValue::L(vec![s("a"), s("bc")])), 3 + 2 + 3);
        let item =
            HashMap::from([("pk".to_string(), s("P")), ("b".to_string(), AttributeValue::B(vec![0; 10].into()))]);
        assert_eq!(item_size(&item), 2 + 1 + 1 + 10);
    }

    #[test]
    fn an_item_at_400_kb_passes_and_one_byte_more_is_refused_by_name() {
        let at = ITEM_BYTES - overhead("P#big");
        check("pipeline p", &[put("P#big", at)]).unwrap();
        let error = check("pipeline p", &[put("P#big", at + 1)]).unwrap_err();
        assert!(error.is_permanent(), "{error}");
        let message = error.to_string();
        assert!(
            message.contains("pipeline p") && message.contains("P#big X") && message.contains("400 KB"),
            "{message}"
        );
    }

    #[test]
    fn a_transaction_at_100_items_and_4_mb_passes_and_past_either_is_refused() {
        let hundred: Vec<_> = (0..TRANSACTION_ITEMS).map(|i| put(&format!("P#{i}"), 10)).collect();
        check("p", &hundred).unwrap();
        let mut crowded = hundred.clone();
        crowded.push(put("P#more", 10));
        assert!(check("p", &crowded).unwrap_err().to_string().contains("101 items"));

        // Eleven items of 381 KB, exactly 4 MB in all; one byte more is past it.
        let each = TRANSACTION_BYTES / 11;
        let heavy = |extra: usize| -> Vec<TransactWriteItem> {
            (0..11)
                .map(|i| {
                    let last = if i == 10 { TRANSACTION_BYTES - 11 * each + extra } else { 0 };
                    put(&format!("P#{i:02}"), each + last - overhead("P#00"))
                })
                .collect()
        };
        check("p", &heavy(0)).unwrap();
        let error = check("p", &heavy(1)).unwrap_err().to_string();
        assert!(error.contains("4 MB"), "{error}");
    }

    #[test]
    fn expressions_past_4_kb_or_300_operators_are_refused_naming_the_item() {
        let update = |expression: String| {
            TransactWriteItem::builder()
                .update(
                    Update::builder()
                        .table_name("t")
                        .set_key(Some(HashMap::from([("pk".to_string(), s("E#1")), ("sk".to_string(), s("E"))])))
                        .update_expression(expression)
                        .build()
                        .unwrap(),
                )
                .build()
        };
        // One `+` per added value, and `=` is no operator: 300 pass, 301 do not.
        let sum =
            |count: usize| format!("SET #a = :v0{}", (1..=count).map(|i| format!(" + :v{i}")).collect::<String>());
        check("p", &[update(sum(300))]).unwrap();
        let error = check("p", &[update(sum(301))]).unwrap_err().to_string();
        assert!(error.contains("E#1 E") && error.contains("301 operators"), "{error}");
        // Assignments alone are not operators: 150 of them pass.
        let sets = (0..150).map(|i| format!("#a{i} = :a{i}")).collect::<Vec<_>>().join(", ");
        check("p", &[update(format!("SET {sets}"))]).unwrap();
        assert_eq!(operators("rev = :expected AND attribute_not_exists(pk) OR #n <> :v", false), 5);
        let long = format!("SET #long = :{}", "v".repeat(EXPRESSION_BYTES));
        let error = check("p", &[update(long)]).unwrap_err().to_string();
        assert!(error.contains("update expression") && error.contains("4096-byte"), "{error}");
    }
}
