//! Query evaluation over the storage engine.
//!
//! [`run_log_query`] answers a LogQL log query: it asks the storage for the
//! blocks of the selected streams (pruned by time, stream and bloom filter
//! before anything is decompressed), runs the per-line [`crate::pipeline`]
//! over them in parallel, and keeps the `limit` entries nearest to the
//! direction's end, deduplicated as Loki does.

mod collector;
pub(crate) mod hints;
mod log_query;

pub use log_query::{
    Direction, LogQuery, LogQueryResult, QueryError, QueryStats, ResultEntry, ResultStream,
    run_log_query,
};

#[cfg(test)]
mod tests;
