//! Action configuration values are strings on CodePipeline's wire, including booleans
//! (`"true"`) and embedded JSON. YAML authors naturally write `Extract: true` or
//! `ParameterOverrides: {Env: prod}`; those are accepted and turned into the string
//! CodePipeline expects, so serialising always gives CodePipeline's JSON.

use indexmap::IndexMap;
use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde_json::Value;
use std::fmt;

pub fn deserialize_optional_map<'de, D>(deserializer: D) -> Result<Option<IndexMap<String, String>>, D::Error>
where
    D: Deserializer<'de>,
{
    Option::<StringMap>::deserialize(deserializer).map(|map| map.map(|m| m.0))
}

struct StringMap(IndexMap<String, String>);

impl<'de> Deserialize<'de> for StringMap {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(StringMapVisitor)
    }
}

struct StringMapVisitor;

impl<'de> Visitor<'de> for StringMapVisitor {
    type Value = StringMap;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a map of configuration keys to string values")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<StringMap, A::Error> {
        let mut map = IndexMap::new();
        while let Some(key) = access.next_key::<String>()? {
            let value: Value = access.next_value()?;
            let text = to_config_string(value)
                .ok_or_else(|| de::Error::custom(format!("configuration value of \"{key}\" is null; give a string")))?;
            if map.insert(key.clone(), text).is_some() {
                return Err(de::Error::custom(format!("configuration key \"{key}\" is given twice")));
            }
        }
        Ok(StringMap(map))
    }
}

/// The string CodePipeline would hold for a configuration value; `None` for null.
fn to_config_string(value: Value) -> Option<String> {
    match value {
        Value::Null => None,
        Value::String(text) => Some(text),
        Value::Bool(flag) => Some(flag.to_string()),
        Value::Number(number) => Some(number.to_string()),
        structured @ (Value::Array(_) | Value::Object(_)) => Some(structured.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scalars_and_structures_become_strings() {
        assert_eq!(to_config_string(Value::Bool(true)).as_deref(), Some("true"));
        assert_eq!(to_config_string(serde_json::json!(42)).as_deref(), Some("42"));
        assert_eq!(to_config_string(serde_json::json!({"Env": "prod"})).as_deref(), Some(r#"{"Env":"prod"}"#));
        assert_eq!(to_config_string(Value::Null), None);
    }
}
