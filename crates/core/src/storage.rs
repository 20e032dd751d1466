//! What every [`StateStore`](crate::ports::StateStore) adapter shares, so that the SQLite and
//! DynamoDB stores read, write and page alike: the JSON codec of stored values (an unreadable
//! value is [`StoreError::Corrupt`]), declarations as stored (stamped with their version; a
//! new version only when the structure changes), and the pages of execution listings.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::declaration::PipelineDeclaration;
use crate::ports::{Page, StoreError};

/// A value as stored JSON. Failing to encode one of the core's own types is a defect, and
/// the same value fails again: the store refuses it.
pub fn to_json<T: Serialize + ?Sized>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| StoreError::Refused(format!("cannot encode as JSON: {e}")))
}

/// [`to_json`], as bytes.
pub fn to_json_bytes<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec(value).map_err(|e| StoreError::Refused(format!("cannot encode as JSON: {e}")))
}

/// A stored value read back; `what` names it in the error.
pub fn from_json<T: DeserializeOwned>(text: &str, what: &str) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(format!("stored {what} is unreadable: {e}")))
}

/// [`from_json`], from bytes.
pub fn from_json_bytes<T: DeserializeOwned>(bytes: &[u8], what: &str) -> Result<T, StoreError> {
    serde_json::from_slice(bytes).map_err(|e| StoreError::Corrupt(format!("stored {what} is unreadable: {e}")))
}

/// The declaration as stored for `version`: it carries its version, as `get-pipeline` shows.
pub fn stamped(declaration: &PipelineDeclaration, version: u32) -> PipelineDeclaration {
    let mut stored = declaration.clone();
    stored.version = Some(i64::from(version));
    stored
}

/// Whether two declarations describe the same pipeline, whatever version each carries:
/// storing the same structure again makes no new version.
pub fn same_structure(a: &PipelineDeclaration, b: &PipelineDeclaration) -> bool {
    let unversioned = |declaration: &PipelineDeclaration| PipelineDeclaration { version: None, ..declaration.clone() };
    unversioned(a) == unversioned(b)
}

/// The most executions one page holds; a request for more (or for none) gets this many (or one).
pub const MAX_PAGE: usize = 1000;

/// The page size a store serves for a requested `limit`.
pub fn page_size(limit: usize) -> usize {
    limit.clamp(1, MAX_PAGE)
}

/// Where a listing of executions (newest first) stopped: the last execution given, by its
/// start time and the key the store orders equal start times by. Its token is what a client
/// passes back for the next page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    pub started_at: i64,
    pub key: String,
}

impl Cursor {
    pub fn token(&self) -> String {
        format!("{}.{}", self.started_at, self.key)
    }

    /// The cursor a token names, or `InvalidNextToken` for one no store gave out.
    pub fn from_token(token: &str) -> Result<Cursor, StoreError> {
        let (started_at, key) = token.split_once('.').ok_or(StoreError::InvalidNextToken)?;
        let started_at = started_at.parse().map_err(|_| StoreError::InvalidNextToken)?;
        if key.is_empty() {
            return Err(StoreError::InvalidNextToken);
        }
        Ok(Cursor { started_at, key: key.to_string() })
    }
}

/// A page of at most `size` items from rows read newest first, each with its cursor. A store
/// reads `size + 1` rows: one more than the page says that a next page exists, so the last
/// page never points at an empty one.
pub fn page<T>(mut rows: Vec<(T, Cursor)>, size: usize) -> Page<T> {
    let next_token = if rows.len() > size {
        rows.truncate(size);
        rows.last().map(|(_, cursor)| cursor.token())
    } else {
        None
    };
    Page { items: rows.into_iter().map(|(item, _)| item).collect(), next_token }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::declaration::{Format, PipelineDocument};

    #[test]
    fn a_page_says_whether_another_follows() {
        let rows = |n: i64| (0..n).map(|i| (i, Cursor { started_at: 100 - i, key: format!("e{i}") })).collect();
        let full: Page<i64> = page(rows(3), 2);
        assert_eq!(full.items, [0, 1]);
        let token = full.next_token.expect("a third row exists");
        assert_eq!(Cursor::from_token(&token), Ok(Cursor { started_at: 99, key: "e1".into() }));
        assert_eq!(page(rows(2), 2), Page { items: vec![0, 1], next_token: None }, "no empty page after the last");
        assert_eq!(page(rows(0), 2), Page { items: Vec::<i64>::new(), next_token: None });
        assert_eq!(Cursor::from_token("5.a.b"), Ok(Cursor { started_at: 5, key: "a.b".into() }));
        for bad in ["", "5", "x.e1", "5.", ".e1"] {
            assert_eq!(Cursor::from_token(bad), Err(StoreError::InvalidNextToken), "{bad:?}");
        }
        assert_eq!((page_size(0), page_size(20), page_size(5000)), (1, 20, MAX_PAGE));
    }

    #[test]
    fn stored_values_that_do_not_read_back_are_corrupt() {
        let error = from_json::<Vec<u32>>("[1, 2", "execution").unwrap_err();
        assert!(error.is_permanent());
        assert!(error.to_string().contains("stored execution is unreadable"), "{error}");
        assert_eq!(from_json_bytes::<Vec<u32>>(&to_json_bytes(&[1, 2]).unwrap(), "x"), Ok(vec![1, 2]));
        let non_string_keys = std::collections::BTreeMap::from([((1, 2), "pair")]);
        assert!(matches!(to_json(&non_string_keys), Err(StoreError::Refused(_))));
    }

    #[test]
    fn the_version_a_declaration_carries_is_not_its_structure() {
        let text = r#"{"name": "p", "roleArn": "arn:aws:iam::1:role/r", "artifactStore": {"type": "S3", "location": "b"},
            "stages": [{"name": "S", "actions": []}]}"#;
        let declaration = PipelineDocument::parse(text, Format::Json).unwrap().pipeline;
        let stored = stamped(&declaration, 4);
        assert_eq!(stored.version, Some(4));
        assert!(same_structure(&stored, &declaration));
        let mut renamed = declaration.clone();
        renamed.stages[0].name = "T".into();
        assert!(!same_structure(&stored, &renamed));
    }
}
