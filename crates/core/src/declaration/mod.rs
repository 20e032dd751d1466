//! The CodePipeline pipeline declaration: its serde model and how it is read from text.

mod config_value;
mod document;
mod model;
mod normalize;
mod string_enum;

pub use document::{DocumentTag, Format, ParseError, PipelineDocument};
pub use model::*;
pub use normalize::{
    MaskWithoutSecret, SECRET_MASK, SecretKeys, masked, normalized, with_home_region, with_kept_secrets,
    without_home_region,
};
