//! Fuzzing shim: the same sources as strata-storage, every module public so
//! the fuzz targets can call the on-disk decoders directly.
#![allow(dead_code, unused_imports, private_interfaces, private_bounds)]
#[path = "../../../crates/storage/src/background.rs"]
pub mod background;
#[path = "../../../crates/storage/src/block.rs"]
pub mod block;
#[path = "../../../crates/storage/src/bloom.rs"]
pub mod bloom;
#[path = "../../../crates/storage/src/config.rs"]
pub mod config;
#[path = "../../../crates/storage/src/encoding.rs"]
pub mod encoding;
#[path = "../../../crates/storage/src/error.rs"]
pub mod error;
#[path = "../../../crates/storage/src/flush.rs"]
pub mod flush;
#[path = "../../../crates/storage/src/fs_util.rs"]
pub mod fs_util;
#[path = "../../../crates/storage/src/head.rs"]
pub mod head;
#[path = "../../../crates/storage/src/index.rs"]
pub mod index;
#[path = "../../../crates/storage/src/merge.rs"]
pub mod merge;
#[path = "../../../crates/storage/src/part.rs"]
pub mod part;
#[path = "../../../crates/storage/src/part_writer.rs"]
pub mod part_writer;
#[path = "../../../crates/storage/src/partition.rs"]
pub mod partition;
#[path = "../../../crates/storage/src/row_block.rs"]
pub mod row_block;
#[path = "../../../crates/storage/src/scan.rs"]
pub mod scan;
#[path = "../../../crates/storage/src/stats.rs"]
pub mod stats;
#[path = "../../../crates/storage/src/storage.rs"]
pub mod storage;
#[path = "../../../crates/storage/src/stream_merger.rs"]
pub mod stream_merger;
#[path = "../../../crates/storage/src/wal.rs"]
pub mod wal;
#[path = "../../../crates/storage/src/wal_record.rs"]
pub mod wal_record;
pub use background::BackgroundTasks;
pub use config::{FsyncPolicy, StorageConfig};
pub use error::StorageError;
pub use row_block::RowBlock;
pub use scan::{FieldClause, ScanRequest, ScanStats, TokenClause};
pub use stats::StorageStats;
pub use storage::Storage;
