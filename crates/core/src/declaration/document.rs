//! Reading a declaration from text: JSON or YAML, a bare pipeline object, the
//! `{"pipeline": …, "metadata": …}` output of `aws codepipeline get-pipeline`, or
//! CreatePipeline's `{"pipeline": …, "tags": …}` input.
//!
//! Syntax errors carry the line and column; shape errors (a wrong type, an unknown field)
//! carry the path of the field relative to the pipeline object, and the position too.

use serde::{Deserialize, Serialize};
use std::fmt;

use super::model::{PipelineDeclaration, PipelineMetadata};

/// The text format of a declaration file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Json,
    Yaml,
}

impl Format {
    /// By file extension when it says; otherwise JSON when the text starts like JSON.
    pub fn detect(file_name: Option<&str>, text: &str) -> Format {
        let extension = file_name.and_then(|name| name.rsplit_once('.')).map(|(_, ext)| ext.to_ascii_lowercase());
        match extension.as_deref() {
            Some("json") => Format::Json,
            Some("yaml" | "yml") => Format::Yaml,
            _ if text.trim_start().starts_with(['{', '[']) => Format::Json,
            _ => Format::Yaml,
        }
    }
}

/// A parsed declaration file.
#[derive(Debug, Clone, PartialEq)]
pub struct PipelineDocument {
    pub pipeline: PipelineDeclaration,
    pub metadata: Option<PipelineMetadata>,
    /// CreatePipeline's `tags`, when the file is its input (`create-pipeline
    /// --cli-input-json`, what `pipewright export` prints).
    pub tags: Vec<DocumentTag>,
    /// True when the file had the `get-pipeline` shape (`{"pipeline": …}`).
    pub wrapped: bool,
}

/// A tag of CreatePipeline's input.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DocumentTag {
    pub key: String,
    pub value: String,
}

/// `get-pipeline`'s output (`pipeline`, `metadata`) or CreatePipeline's input (`pipeline`,
/// `tags`).
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Wrapped {
    pipeline: PipelineDeclaration,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    metadata: Option<PipelineMetadata>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    tags: Vec<DocumentTag>,
}

impl PipelineDocument {
    /// Parses `text` in `format`.
    pub fn parse(text: &str, format: Format) -> Result<PipelineDocument, ParseError> {
        if text.trim().is_empty() {
            return Err(ParseError::whole("the file is empty; expected a pipeline declaration"));
        }
        let tree: serde_json::Value = match format {
            Format::Json => serde_json::from_str(text).map_err(|e| ParseError::json(None, &e))?,
            Format::Yaml => {
                within_depth(text)?;
                serde_yaml_ng::from_str(text).map_err(|e| ParseError::yaml(None, &e))?
            }
        };
        let Some(object) = tree.as_object() else {
            return Err(ParseError::whole(
                "expected a pipeline object, or the {\"pipeline\": …} output of get-pipeline",
            ));
        };
        let wrapped = object.get("pipeline").is_some_and(serde_json::Value::is_object);
        // Shape errors come from a second, typed pass over the text, so that they keep
        // their position; the path is made relative to the pipeline object.
        let document = match (format, wrapped) {
            (Format::Json, true) => {
                let mut de = serde_json::Deserializer::from_str(text);
                let doc: Wrapped = serde_path_to_error::deserialize(&mut de)
                    .map_err(|e| ParseError::json(Some(e.path().to_string()), e.inner()))?;
                PipelineDocument { pipeline: doc.pipeline, metadata: doc.metadata, tags: doc.tags, wrapped }
            }
            (Format::Json, false) => {
                let mut de = serde_json::Deserializer::from_str(text);
                let pipeline = serde_path_to_error::deserialize(&mut de)
                    .map_err(|e| ParseError::json(Some(e.path().to_string()), e.inner()))?;
                PipelineDocument { pipeline, metadata: None, tags: Vec::new(), wrapped }
            }
            (Format::Yaml, true) => {
                let de = serde_yaml_ng::Deserializer::from_str(text);
                let doc: Wrapped = serde_path_to_error::deserialize(de)
                    .map_err(|e| ParseError::yaml(Some(e.path().to_string()), e.inner()))?;
                PipelineDocument { pipeline: doc.pipeline, metadata: doc.metadata, tags: doc.tags, wrapped }
            }
            (Format::Yaml, false) => {
                let de = serde_yaml_ng::Deserializer::from_str(text);
                let pipeline = serde_path_to_error::deserialize(de)
                    .map_err(|e| ParseError::yaml(Some(e.path().to_string()), e.inner()))?;
                PipelineDocument { pipeline, metadata: None, tags: Vec::new(), wrapped }
            }
        };
        Ok(document)
    }

    /// CodePipeline's JSON for this document, in the shape it was read in.
    pub fn to_json(&self) -> serde_json::Value {
        let result = if self.wrapped {
            serde_json::to_value(Wrapped {
                pipeline: self.pipeline.clone(),
                metadata: self.metadata.clone(),
                tags: self.tags.clone(),
            })
        } else {
            serde_json::to_value(&self.pipeline)
        };
        // Serialising plain data structures with string keys cannot fail.
        result.unwrap_or(serde_json::Value::Null)
    }
}

/// How deep a YAML declaration may nest. A real one is about ten levels deep (pipeline,
/// stages, actions, configuration, a list in it); JSON is bounded at 128 by its parser.
pub const MAX_YAML_DEPTH: usize = 64;

/// Refuses YAML nested deeper than [`MAX_YAML_DEPTH`] before the full parse, whose time grows
/// with the square of the depth: `[[[[…` of 200 KiB would take it tens of seconds. The event
/// parser used here keeps no tree and stops at the first level too deep, so the check costs
/// one linear pass.
fn within_depth(text: &str) -> Result<(), ParseError> {
    let mut depth = 0usize;
    for event in saphyr_parser::Parser::new_from_str(text) {
        let too_deep = |line: usize, column: usize| ParseError {
            path: None,
            message: format!("the YAML is nested deeper than {MAX_YAML_DEPTH} levels"),
            line: Some(line),
            column: Some(column),
        };
        let (event, span) = match event {
            Ok(parsed) => parsed,
            // The scanner looks ahead, and refuses flow collections past its own limit before
            // it yields their events.
            Err(error) if error.info().contains("recursion limit") => {
                return Err(too_deep(error.marker().line(), error.marker().col() + 1));
            }
            // Any other syntax error is left for the full parse, which reports it in its own words.
            Err(_) => return Ok(()),
        };
        match event {
            saphyr_parser::Event::SequenceStart(..) | saphyr_parser::Event::MappingStart(..) => {
                depth += 1;
                if depth > MAX_YAML_DEPTH {
                    return Err(too_deep(span.start.line(), span.start.col() + 1));
                }
            }
            saphyr_parser::Event::SequenceEnd | saphyr_parser::Event::MappingEnd => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}

/// A declaration that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ParseError {
    /// Path of the offending field relative to the pipeline object, when known.
    pub path: Option<String>,
    pub message: String,
    pub line: Option<usize>,
    pub column: Option<usize>,
}

impl ParseError {
    fn whole(message: &str) -> ParseError {
        ParseError { path: None, message: message.to_string(), line: None, column: None }
    }

    fn json(path: Option<String>, error: &serde_json::Error) -> ParseError {
        let (line, column) = match error.line() {
            0 => (None, None),
            line => (Some(line), Some(error.column())),
        };
        ParseError::positioned(path, error.to_string(), line, column)
    }

    fn yaml(path: Option<String>, error: &serde_yaml_ng::Error) -> ParseError {
        let location = error.location();
        let (line, column) = (location.as_ref().map(|l| l.line()), location.as_ref().map(|l| l.column()));
        ParseError::positioned(path, error.to_string(), line, column)
    }

    /// serde's messages repeat the position ("… at line L column C") and, for YAML, start with
    /// the path; both are reported in their own fields instead.
    fn positioned(raw_path: Option<String>, message: String, line: Option<usize>, column: Option<usize>) -> ParseError {
        let mut message = message;
        if let Some(raw) = &raw_path
            && let Some(rest) = message.strip_prefix(&format!("{raw}: "))
        {
            message = rest.to_string();
        }
        if let (Some(line), Some(column)) = (line, column) {
            message = message.replacen(&format!(" at line {line} column {column}"), "", 1);
        }
        ParseError { path: raw_path.and_then(relative_path), message, line, column }
    }
}

/// `pipeline.stages[0].name` → `stages[0].name`; the root (`.`) has no path.
fn relative_path(path: String) -> Option<String> {
    let path = path.strip_prefix("pipeline.").map(str::to_string).unwrap_or(path);
    (path != "." && !path.is_empty()).then_some(path)
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(path) = &self.path {
            write!(f, "{path}: ")?;
        }
        write!(f, "{}", self.message)?;
        if let (Some(line), Some(column)) = (self.line, self.column) {
            write!(f, " (line {line}, column {column})")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BARE: &str = r#"{
  "name": "demo",
  "roleArn": "arn:aws:iam::111122223333:role/demo",
  "artifactStore": {"type": "S3", "location": "bucket-1"},
  "stages": [
    {"name": "Source", "actions": [{"name": "Src", "actionTypeId": {"category": "Source", "owner": "AWS", "provider": "S3", "version": "1"},
      "configuration": {"S3Bucket": "b", "S3ObjectKey": "k.zip", "PollForSourceChanges": "false"},
      "outputArtifacts": [{"name": "Out"}], "inputArtifacts": []}]},
    {"name": "Deploy", "actions": [{"name": "Put", "runOrder": 1, "actionTypeId": {"category": "Deploy", "owner": "AWS", "provider": "S3", "version": "1"},
      "configuration": {"BucketName": "site", "Extract": "true"}, "inputArtifacts": [{"name": "Out"}]}]}
  ],
  "version": 3
}"#;

    #[test]
    fn bare_json_round_trips_losslessly() {
        let doc = PipelineDocument::parse(BARE, Format::Json).unwrap();
        assert!(!doc.wrapped);
        let original: serde_json::Value = serde_json::from_str(BARE).unwrap();
        assert_eq!(doc.to_json(), original);
    }

    #[test]
    fn get_pipeline_output_round_trips_with_metadata() {
        let text = format!(
            r#"{{"pipeline": {BARE}, "metadata": {{"pipelineArn": "arn:aws:codepipeline:eu-west-1:111122223333:demo", "created": 1718000000.123, "updated": "2024-06-10T08:13:20.123000+00:00"}}}}"#
        );
        let doc = PipelineDocument::parse(&text, Format::Json).unwrap();
        assert!(doc.wrapped);
        assert_eq!(doc.pipeline.name, "demo");
        let original: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(doc.to_json(), original);
    }

    #[test]
    fn create_pipeline_input_with_tags_reads_and_round_trips() {
        // What `pipewright export` prints and `create-pipeline --cli-input-json` takes.
        let text = format!(r#"{{"pipeline": {BARE}, "tags": [{{"key": "team", "value": "web"}}]}}"#);
        let doc = PipelineDocument::parse(&text, Format::Json).unwrap();
        assert_eq!(doc.tags, [DocumentTag { key: "team".into(), value: "web".into() }]);
        let original: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(doc.to_json(), original);
        let bad = format!(r#"{{"pipeline": {BARE}, "tags": [{{"Key": "team"}}]}}"#);
        assert!(PipelineDocument::parse(&bad, Format::Json).is_err());
    }

    #[test]
    fn yaml_with_native_scalars_serialises_as_strings() {
        let yaml = r#"
name: demo
roleArn: arn:aws:iam::111122223333:role/demo
artifactStore: {type: S3, location: bucket-1}
stages:
  - name: Source
    actions:
      - name: Src
        actionTypeId: {category: Source, owner: AWS, provider: S3, version: "1"}
        configuration: {S3Bucket: b, S3ObjectKey: k.zip, PollForSourceChanges: false}
        outputArtifacts: [{name: Out}]
  - name: Deploy
    actions:
      - name: Put
        actionTypeId: {category: Deploy, owner: AWS, provider: S3, version: "1"}
        configuration: {BucketName: site, Extract: true, Parameters: {a: 1}}
        inputArtifacts: [{name: Out}]
"#;
        let doc = PipelineDocument::parse(yaml, Format::detect(Some("p.yaml"), yaml)).unwrap();
        let json = doc.to_json();
        assert_eq!(json["stages"][0]["actions"][0]["configuration"]["PollForSourceChanges"], "false");
        assert_eq!(json["stages"][1]["actions"][0]["configuration"]["Extract"], "true");
        assert_eq!(json["stages"][1]["actions"][0]["configuration"]["Parameters"], r#"{"a":1}"#);
        // And the JSON form reads back to the same model.
        let again = PipelineDocument::parse(&json.to_string(), Format::Json).unwrap();
        assert_eq!(again.pipeline, doc.pipeline);
    }

    #[test]
    fn malformed_json_reports_line_and_column() {
        let err = PipelineDocument::parse("{\n  \"name\": \"x\",\n  \"stages\": [,]\n}", Format::Json).unwrap_err();
        assert_eq!(err.line, Some(3));
        assert!(err.column.is_some());
        assert!(err.to_string().contains("line 3"), "{err}");
    }

    #[test]
    fn yaml_nested_past_the_bound_is_refused_with_its_position() {
        for deep in [format!("a: {}1{}", "[".repeat(200_000), "]".repeat(200_000)), {
            let mut text = String::new();
            for level in 0..(MAX_YAML_DEPTH + 1) {
                text.push_str(&format!("{}k{level}:\n", "  ".repeat(level)));
            }
            text
        }] {
            let error = PipelineDocument::parse(&deep, Format::Yaml).unwrap_err();
            assert!(error.message.contains("nested deeper than 64 levels"), "{error}");
            assert!(error.line.is_some(), "{error:?}");
        }
        // At the bound the depth check passes, and the declaration's own shape is what fails.
        let at_bound = format!("name: {}1{}", "[".repeat(MAX_YAML_DEPTH - 1), "]".repeat(MAX_YAML_DEPTH - 1));
        let error = PipelineDocument::parse(&at_bound, Format::Yaml).unwrap_err();
        assert!(!error.message.contains("nested deeper"), "{error}");
    }

    #[test]
    fn malformed_yaml_reports_line_and_column() {
        let err = PipelineDocument::parse("name: x\nstages:\n  - name: [unclosed\n", Format::Yaml).unwrap_err();
        assert!(err.line.is_some(), "{err}");
    }

    #[test]
    fn wrong_type_names_the_field_relative_to_the_pipeline() {
        let text = BARE.replace(r#""runOrder": 1"#, r#""runOrder": "one""#);
        let err = PipelineDocument::parse(&text, Format::Json).unwrap_err();
        assert_eq!(err.path.as_deref(), Some("stages[1].actions[0].runOrder"), "{err}");
        assert!(err.line.is_some());
        let wrapped = format!(r#"{{"pipeline": {text}}}"#);
        let err = PipelineDocument::parse(&wrapped, Format::Json).unwrap_err();
        assert_eq!(err.path.as_deref(), Some("stages[1].actions[0].runOrder"), "{err}");
    }

    #[test]
    fn unknown_field_is_refused_with_its_path() {
        let text = BARE.replace(r#""runOrder": 1"#, r#""runorder": 1"#);
        let err = PipelineDocument::parse(&text, Format::Json).unwrap_err();
        assert_eq!(err.path.as_deref(), Some("stages[1].actions[0].runorder"), "{err}");
        assert!(err.message.contains("unknown field"), "{err}");
    }

    #[test]
    fn format_is_detected_from_extension_then_content() {
        assert_eq!(Format::detect(Some("a.yml"), "{}"), Format::Yaml);
        assert_eq!(Format::detect(Some("a.JSON"), "name: x"), Format::Json);
        assert_eq!(Format::detect(None, "  {\"a\":1}"), Format::Json);
        assert_eq!(Format::detect(Some("pipeline"), "name: x"), Format::Yaml);
    }

    #[test]
    fn empty_and_non_object_documents_are_refused() {
        assert!(PipelineDocument::parse("  \n", Format::Json).is_err());
        assert!(PipelineDocument::parse("[1, 2]", Format::Json).is_err());
        assert!(PipelineDocument::parse("just text", Format::Yaml).is_err());
    }
}
