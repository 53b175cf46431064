//! strata's storage engine: WAL, head, parts, blocks, bloom filters, stream
//! index, merges.
//!
//! [`Storage`] is the entry point. [`Storage::append`] writes a record to the
//! WAL (group commit) and adds the rows to the in-memory head
//! [`Storage::flush`] writes the head out as immutable parts
//! (one per tenant and UTC day) of column-compressed blocks with
//! bloom filters; [`Storage::merge`] rewrites small
//! parts into bigger ones. [`Storage::scan`] selects streams through the
//! per-tenant stream index, prunes blocks by time and blooms and
//! hands [`RowBlock`]s to a visitor, in parallel. docs/format.md describes
//! every file byte by byte.
//!
//! ```
//! use std::ops::ControlFlow;
//! use strata_model::{Entry, Labels, PushStream};
//! use strata_storage::{ScanRequest, Storage, StorageConfig};
//!
//! let dir = tempfile::tempdir().unwrap();
//! let storage = Storage::open(StorageConfig { data_dir: dir.path().into(), ..StorageConfig::default() }).unwrap();
//! let labels = Labels::parse(r#"{job="api"}"#).unwrap();
//! storage.append("fake", &[PushStream { labels, entries: vec![Entry::new(10, "hello")] }]).unwrap();
//! let request = ScanRequest { tenant: "fake", matchers: &[], start_ns: 0, end_ns: 100, line_tokens: &[], field_values: &[] };
//! let rows = std::sync::atomic::AtomicUsize::new(0);
//! storage.scan(&request, &|block| { rows.fetch_add(block.len(), std::sync::atomic::Ordering::Relaxed); ControlFlow::Continue(()) }).unwrap();
//! assert_eq!(rows.into_inner(), 1);
//! ```

mod background;
mod block;
mod bloom;
mod config;
mod encoding;
mod error;
mod flush;
mod fs_util;
mod head;
mod index;
mod merge;
mod part;
mod part_writer;
mod partition;
mod row_block;
mod scan;
mod stats;
mod storage;
mod stream_merger;
mod wal;
mod wal_record;

pub use background::BackgroundTasks;
pub use config::{FsyncPolicy, StorageConfig};
pub use error::StorageError;
pub use row_block::RowBlock;
pub use scan::{FieldClause, ScanRequest, ScanStats, TokenClause};
pub use stats::StorageStats;
pub use storage::Storage;
