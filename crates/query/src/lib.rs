//! LogQL runtime: the per-line [`pipeline`] of a log query's stages, and the
//! [`engine`] that evaluates queries over the storage.

pub mod engine;
pub mod pipeline;

pub use pipeline::{Pipeline, PipelineError, Processed, line_token_hints};
