//! The CodePipeline pipeline declaration: its serde model and how it is read from text.

mod config_value;
mod document;
mod model;
mod string_enum;

pub use document::{Format, ParseError, PipelineDocument};
pub use model::*;
