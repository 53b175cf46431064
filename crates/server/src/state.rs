use crate::Metrics;
use std::sync::Arc;
use strata_ingest::IngestLimits;
use strata_storage::Storage;

/// Limits on queries, so that no query can take the server down.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueryLimits {
    /// Most entries a log query may return (Loki: max_entries_limit_per_query).
    pub max_entries: usize,
    /// Longest time range of a query, in nanoseconds (Loki: max_query_length; 0 = none).
    pub max_query_length_ns: i64,
    /// Most series a metric query may answer with (Loki: max_query_series).
    pub max_series: usize,
    /// Longest a query may run (Loki: query_timeout); None: no limit.
    pub timeout: Option<std::time::Duration>,
    /// Most uncompressed line bytes a query may select, estimated from the
    /// block index before it runs (Loki: max_query_bytes_read; 0 = none).
    pub max_bytes_read: u64,
    /// Most live tails open at once (Loki: max_concurrent_tail_requests).
    pub max_tails: usize,
}

impl Default for QueryLimits {
    fn default() -> Self {
        QueryLimits {
            max_entries: 5000,
            max_query_length_ns: 30 * 24 * 3_600_000_000_000 + 3_600_000_000_000,
            max_series: 500,
            timeout: Some(std::time::Duration::from_secs(60)),
            max_bytes_read: 0,
            max_tails: 10,
        }
    }
}

/// Every limit the server enforces.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ServerLimits {
    pub ingest: IngestLimits,
    pub query: QueryLimits,
}

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    pub storage: Arc<Storage>,
    pub limits: ServerLimits,
    pub metrics: Arc<Metrics>,
    /// Every acknowledged push, offered to the live tails.
    pub tail: tokio::sync::broadcast::Sender<Arc<crate::loki::tail::TailBatch>>,
    /// What the open tails select.
    pub tail_selectors: Arc<crate::loki::tail::TailSelectors>,
    /// What `GET /config` answers.
    pub config: Arc<ConfigPages>,
}

/// The running configuration as YAML, rendered by the binary that knows the
/// file format: all settings, the defaults, and the settings that differ.
#[derive(Debug, Clone, Default)]
pub struct ConfigPages {
    pub effective: String,
    pub defaults: String,
    pub diff: String,
}

impl AppState {
    pub fn new(storage: Arc<Storage>, limits: ServerLimits) -> AppState {
        AppState {
            storage,
            limits,
            metrics: Arc::new(Metrics::default()),
            tail: crate::loki::tail::channel(),
            tail_selectors: Arc::default(),
            config: Arc::new(ConfigPages::default()),
        }
    }

    /// The pages `GET /config` serves.
    pub fn with_config(mut self, pages: ConfigPages) -> AppState {
        self.config = Arc::new(pages);
        self
    }
}
