//! The value tree of a template: JSON's data model, with scalars typed the way CloudFormation
//! reads them (docs/import.md, "Reading the file"). YAML and JSON templates both become a
//! `Node`; short-form tags are already long-form maps (`{"Fn::Sub": …}`).

use indexmap::IndexMap;

/// Keys in the order the template wrote them.
pub type Map = IndexMap<String, Node>;

/// A template value.
#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    Null,
    Bool(bool),
    /// A number, kept as its source text: `1.0`, `0755` and `60` stay as written, so that a
    /// string-typed field gets what the author typed.
    Number(String),
    String(String),
    List(Vec<Node>),
    Map(Map),
}

/// The deepest nesting a template may have; deeper input is refused before anything walks it.
pub const MAX_DEPTH: usize = 100;

impl Node {
    pub fn as_map(&self) -> Option<&Map> {
        match self {
            Node::Map(map) => Some(map),
            _ => None,
        }
    }

    pub fn as_list(&self) -> Option<&[Node]> {
        match self {
            Node::List(items) => Some(items),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Node::String(text) => Some(text),
            _ => None,
        }
    }

    /// The text of a scalar: strings as they are, numbers as written, booleans as
    /// `true`/`false` (how CloudFormation passes them to string-typed properties).
    pub fn scalar_text(&self) -> Option<String> {
        match self {
            Node::String(text) | Node::Number(text) => Some(text.clone()),
            Node::Bool(flag) => Some(flag.to_string()),
            _ => None,
        }
    }

    pub fn get(&self, key: &str) -> Option<&Node> {
        self.as_map()?.get(key)
    }

    /// `(function, argument)` when this is an intrinsic function call: a map with one key,
    /// `Ref`, `Condition` or `Fn::…`.
    pub fn intrinsic(&self) -> Option<(&str, &Node)> {
        let map = self.as_map()?;
        if map.len() != 1 {
            return None;
        }
        let (key, value) = map.iter().next()?;
        (key == "Ref" || key == "Condition" || key.starts_with("Fn::")).then_some((key.as_str(), value))
    }

    /// A short name for the kind of value, for messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Node::Null => "null",
            Node::Bool(_) => "a boolean",
            Node::Number(_) => "a number",
            Node::String(_) => "a string",
            Node::List(_) => "a list",
            Node::Map(_) => "a map",
        }
    }

    /// JSON for this value; numbers that JSON cannot hold as written stay strings.
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value;
        match self {
            Node::Null => Value::Null,
            Node::Bool(flag) => Value::Bool(*flag),
            Node::Number(text) => serde_json::from_str::<serde_json::Number>(text)
                .map_or_else(|_| Value::String(text.clone()), Value::Number),
            Node::String(text) => Value::String(text.clone()),
            Node::List(items) => Value::Array(items.iter().map(Node::to_json).collect()),
            Node::Map(map) => Value::Object(map.iter().map(|(k, v)| (k.clone(), v.to_json())).collect()),
        }
    }

    /// The node for a JSON value (used for JSON templates and CDK manifests).
    pub fn from_json(value: &serde_json::Value) -> Node {
        use serde_json::Value;
        match value {
            Value::Null => Node::Null,
            Value::Bool(flag) => Node::Bool(*flag),
            Value::Number(number) => Node::Number(number.to_string()),
            Value::String(text) => Node::String(text.clone()),
            Value::Array(items) => Node::List(items.iter().map(Node::from_json).collect()),
            Value::Object(map) => Node::Map(map.iter().map(|(k, v)| (k.clone(), Node::from_json(v))).collect()),
        }
    }
}

/// Reads a JSON template into a `Node`, keeping the key order; serde_json refuses nesting
/// deeper than 128 levels. A key given twice in one object takes its last value, as
/// CloudFormation takes it.
pub fn from_json_text(text: &str) -> Result<Node, serde_json::Error> {
    from_json_text_noting(text).map(|(node, _)| node)
}

/// [`from_json_text`], with the keys given twice in an object, in the order they were met.
pub fn from_json_text_noting(text: &str) -> Result<(Node, Vec<String>), serde_json::Error> {
    use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
    use std::cell::RefCell;
    use std::fmt;

    /// Builds a `Node`, noting each key an object gives twice.
    #[derive(Clone, Copy)]
    struct Ordered<'a>(&'a RefCell<Vec<String>>);

    impl<'de> DeserializeSeed<'de> for Ordered<'_> {
        type Value = Node;
        fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Node, D::Error> {
            deserializer.deserialize_any(self)
        }
    }

    impl<'de> Visitor<'de> for Ordered<'_> {
        type Value = Node;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a JSON value")
        }
        fn visit_unit<E>(self) -> Result<Node, E> {
            Ok(Node::Null)
        }
        fn visit_bool<E>(self, v: bool) -> Result<Node, E> {
            Ok(Node::Bool(v))
        }
        fn visit_i64<E>(self, v: i64) -> Result<Node, E> {
            Ok(Node::Number(v.to_string()))
        }
        fn visit_u64<E>(self, v: u64) -> Result<Node, E> {
            Ok(Node::Number(v.to_string()))
        }
        fn visit_f64<E>(self, v: f64) -> Result<Node, E> {
            let text = serde_json::Number::from_f64(v).map_or_else(|| v.to_string(), |n| n.to_string());
            Ok(Node::Number(text))
        }
        fn visit_str<E>(self, v: &str) -> Result<Node, E> {
            Ok(Node::String(v.to_string()))
        }
        fn visit_string<E>(self, v: String) -> Result<Node, E> {
            Ok(Node::String(v))
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
            let mut items = Vec::new();
            while let Some(item) = seq.next_element_seed(self)? {
                items.push(item);
            }
            Ok(Node::List(items))
        }
        fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Node, A::Error> {
            let mut map = Map::new();
            while let Some(key) = access.next_key::<String>()? {
                let value = access.next_value_seed(self)?;
                if map.insert(key.clone(), value).is_some() {
                    self.0.borrow_mut().push(key);
                }
            }
            Ok(Node::Map(map))
        }
    }

    let duplicates = RefCell::new(Vec::new());
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let node = Ordered(&duplicates).deserialize(&mut deserializer)?;
    deserializer.end()?;
    Ok((node, duplicates.into_inner()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_keeps_order_and_number_text() {
        let node = from_json_text(r#"{"b": 1, "a": [1.5, true, null, "x"]}"#).unwrap();
        let keys: Vec<&String> = node.as_map().unwrap().keys().collect();
        assert_eq!(keys, ["b", "a"]);
        assert_eq!(node.get("a").unwrap().as_list().unwrap()[0], Node::Number("1.5".into()));
        let (node, duplicates) = from_json_text_noting(r#"{"a": 1, "b": {"c": 1, "c": 3}, "a": 2}"#).unwrap();
        assert_eq!(node.get("a"), Some(&Node::Number("2".into())), "the last value counts");
        assert_eq!(node.get("b").unwrap().get("c"), Some(&Node::Number("3".into())));
        assert_eq!(duplicates, ["c", "a"]);
        assert!(from_json_text(r#"{"a": 1} trailing"#).is_err());
    }

    #[test]
    fn intrinsics_are_single_key_maps() {
        let node = from_json_text(r#"{"Fn::Sub": "x"}"#).unwrap();
        assert_eq!(node.intrinsic().map(|(f, _)| f), Some("Fn::Sub"));
        let not = from_json_text(r#"{"Fn::Sub": "x", "Other": 1}"#).unwrap();
        assert!(not.intrinsic().is_none());
    }

    #[test]
    fn deep_json_is_refused_by_the_parser() {
        let text = format!("{}{}", "[".repeat(5000), "]".repeat(5000));
        assert!(from_json_text(&text).is_err());
    }
}
