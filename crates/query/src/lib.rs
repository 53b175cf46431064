//! LogQL runtime: the per-line [`pipeline`] of a log query's stages, the
//! [`engine`] that evaluates log queries over the storage, and [`metric`],
//! which evaluates metric queries (range and vector aggregations, binary
//! operators) on top of the same scans.

pub mod control;
pub mod engine;
pub mod metric;
pub mod pipeline;
pub mod volume;

pub use control::QueryControl;
pub use pipeline::{Extracted, Pipeline, PipelineError, Processed, line_token_hints};
