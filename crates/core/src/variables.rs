//! Variable references: `#{Namespace.Variable}` inside configuration values, commands and
//! environment variables (docs/reference/codepipeline.md §1.6). Validation checks them before
//! anything runs; the engine resolves them when it dispatches an action.

use std::fmt;

/// The namespace of the variables every execution has.
pub const CODEPIPELINE_NAMESPACE: &str = "codepipeline";
/// The namespace of pipeline-level variables (V2).
pub const PIPELINE_VARIABLES_NAMESPACE: &str = "variables";
/// The variables of the `codepipeline` namespace.
pub const CODEPIPELINE_VARIABLES: &[&str] = &["PipelineExecutionId"];

/// One `#{namespace.key}` found in a text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference<'a> {
    pub namespace: &'a str,
    pub key: &'a str,
}

impl fmt::Display for Reference<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{{{}.{}}}", self.namespace, self.key)
    }
}

/// A `#{` that does not open a well-formed reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MalformedReference {
    /// Byte offset of the `#{`.
    pub offset: usize,
    pub text: String,
}

impl fmt::Display for MalformedReference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "malformed variable reference \"{}\"; the syntax is #{{namespace.variable}}", self.text)
    }
}

enum Piece<'a> {
    Text(&'a str),
    Reference(Reference<'a>),
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '@' | '-' | '_')
}

fn is_name(text: &str) -> bool {
    !text.is_empty() && text.chars().all(is_name_char)
}

/// Splits `text` into literal text and references.
fn pieces(text: &str) -> Result<Vec<Piece<'_>>, MalformedReference> {
    let mut out = Vec::new();
    let mut rest = text;
    let mut consumed = 0;
    while let Some(start) = rest.find("#{") {
        if start > 0 {
            out.push(Piece::Text(&rest[..start]));
        }
        let after = &rest[start + 2..];
        let malformed = |len: usize| MalformedReference {
            offset: consumed + start,
            // At a character's start: the cut may fall inside a character after `#{`.
            text: crate::text::head(&rest[start..], 2 + len).to_string(),
        };
        let Some(end) = after.find('}') else {
            return Err(malformed(after.len().min(40)));
        };
        let inner = &after[..end];
        let Some((namespace, key)) = inner.split_once('.') else {
            return Err(malformed(end + 1));
        };
        if !is_name(namespace) || !is_name(key) {
            return Err(malformed(end + 1));
        }
        out.push(Piece::Reference(Reference { namespace, key }));
        let advance = start + 2 + end + 1;
        consumed += advance;
        rest = &rest[advance..];
    }
    if !rest.is_empty() {
        out.push(Piece::Text(rest));
    }
    Ok(out)
}

/// Every reference in `text`, in order.
pub fn references(text: &str) -> Result<Vec<Reference<'_>>, MalformedReference> {
    Ok(pieces(text)?
        .into_iter()
        .filter_map(|piece| match piece {
            Piece::Reference(reference) => Some(reference),
            Piece::Text(_) => None,
        })
        .collect())
}

/// Why a text could not be resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResolveError {
    Malformed(MalformedReference),
    /// The reference names a variable that has no value in this execution.
    Unresolved(String),
}

impl fmt::Display for ResolveError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ResolveError::Malformed(m) => m.fmt(f),
            ResolveError::Unresolved(reference) => {
                write!(f, "variable {reference} has no value in this execution")
            }
        }
    }
}

/// Replaces every reference in `text` with its value from `lookup`.
pub fn resolve<'v>(text: &str, lookup: impl Fn(&str, &str) -> Option<&'v str>) -> Result<String, ResolveError> {
    if !text.contains("#{") {
        return Ok(text.to_string());
    }
    let mut out = String::with_capacity(text.len());
    for piece in pieces(text).map_err(ResolveError::Malformed)? {
        match piece {
            Piece::Text(literal) => out.push_str(literal),
            Piece::Reference(reference) => match lookup(reference.namespace, reference.key) {
                Some(value) => out.push_str(value),
                None => return Err(ResolveError::Unresolved(reference.to_string())),
            },
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_references_among_text() {
        let refs = references("https://x/#{Src.CommitId}?e=#{variables.Env}").unwrap();
        assert_eq!(
            refs,
            vec![Reference { namespace: "Src", key: "CommitId" }, Reference { namespace: "variables", key: "Env" }]
        );
        assert!(references("no references, ${SHELL} and # { are fine").unwrap().is_empty());
    }

    #[test]
    fn malformed_references_are_reported() {
        assert!(references("#{NoDot}").is_err());
        assert!(references("#{Open.Var").is_err());
        assert!(references("#{bad space.x}").is_err());
        assert!(references("#{.x}").is_err());
        // The excerpt of an unclosed reference is cut at a character's start.
        let unclosed = format!("#{{a{}", "é".repeat(30));
        let excerpt = references(&unclosed).unwrap_err().text;
        assert!(excerpt.starts_with("#{aé") && excerpt.len() <= 42, "{excerpt}");
    }

    #[test]
    fn resolves_every_reference_or_names_the_missing_one() {
        let lookup = |ns: &str, key: &str| match (ns, key) {
            ("codepipeline", "PipelineExecutionId") => Some("e-1"),
            ("B", "Out") => Some("v"),
            _ => None,
        };
        assert_eq!(resolve("id=#{codepipeline.PipelineExecutionId}/#{B.Out}", lookup).unwrap(), "id=e-1/v");
        assert_eq!(resolve("#{B.Missing}", lookup), Err(ResolveError::Unresolved("#{B.Missing}".into())));
        assert_eq!(resolve("plain", lookup).unwrap(), "plain");
    }
}
