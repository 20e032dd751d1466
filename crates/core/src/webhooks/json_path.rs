//! The JSONPath of PutWebhook's filters, in the subset Pipewright evaluates: `$`, then
//! `.name`, `['name']` or `["name"]`, and `[index]` steps (docs/sources.md, "Webhooks of
//! PutWebhook"). Wildcards, slices, recursive descent and predicates are refused when the
//! webhook is defined, rather than ignored when a delivery comes.

use serde_json::Value;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    Field(String),
    Index(usize),
}

/// Parses a path; the error says what is not supported and where.
pub fn parse(path: &str) -> Result<Vec<Step>, String> {
    let rest = path.trim().strip_prefix('$').ok_or_else(|| format!("{path:?} does not start with $"))?;
    let chars: Vec<char> = rest.chars().collect();
    let mut steps = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '.' => {
                if chars.get(i + 1) == Some(&'.') {
                    return Err(format!("{path:?}: recursive descent (..) is not supported"));
                }
                let start = i + 1;
                let mut end = start;
                while end < chars.len() && chars[end] != '.' && chars[end] != '[' {
                    end += 1;
                }
                let name: String = chars[start..end].iter().collect();
                if name.is_empty() || name == "*" {
                    return Err(format!("{path:?}: an empty or wildcard field name is not supported"));
                }
                steps.push(Step::Field(name));
                i = end;
            }
            '[' => {
                let close = chars[i..].iter().position(|c| *c == ']').map(|p| p + i);
                let Some(close) = close else { return Err(format!("{path:?}: [ without ]")) };
                let inside: String = chars[i + 1..close].iter().collect();
                let quoted = ['\'', '"']
                    .iter()
                    .find_map(|q| inside.strip_prefix(*q).and_then(|s| s.strip_suffix(*q)).map(String::from));
                match (quoted, inside.parse::<usize>()) {
                    (Some(name), _) if !name.is_empty() => steps.push(Step::Field(name)),
                    (None, Ok(index)) => steps.push(Step::Index(index)),
                    _ => return Err(format!("{path:?}: [{inside}] is not a quoted name or an index")),
                }
                i = close + 1;
            }
            other => return Err(format!("{path:?}: unexpected {other:?} after a step")),
        }
    }
    Ok(steps)
}

/// The value `steps` select in `document`.
pub fn select<'a>(document: &'a Value, steps: &[Step]) -> Option<&'a Value> {
    steps.iter().try_fold(document, |value, step| match step {
        Step::Field(name) => value.get(name),
        Step::Index(index) => value.get(index),
    })
}

/// A selected value as the text `matchEquals` is compared with: a string as it is, anything
/// else as its JSON.
pub fn as_text(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn dotted_bracketed_and_indexed_paths_select_values() {
        let document = json!({"ref": "refs/heads/main", "repository": {"full name": "o/r", "owners": ["a", "b"]}});
        let text = |path: &str| select(&document, &parse(path).unwrap()).map(as_text);
        assert_eq!(text("$.ref").as_deref(), Some("refs/heads/main"));
        assert_eq!(text("$.repository['full name']").as_deref(), Some("o/r"));
        assert_eq!(text("$[\"repository\"].owners[1]").as_deref(), Some("b"));
        assert_eq!(text("$.missing"), None);
        assert_eq!(text("$").map(|t| t.starts_with('{')), Some(true));
    }

    #[test]
    fn what_is_not_supported_is_refused() {
        for path in ["ref", "$..ref", "$.*", "$.a[", "$.a[?(@.x)]", "$.a[1:2]"] {
            assert!(parse(path).is_err(), "{path}");
        }
    }
}
