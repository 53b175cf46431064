//! `strata serve`'s YAML configuration. Every key is optional; unknown keys
//! are refused with their path. Command-line flags win over the file.

use serde::Deserialize;
use std::path::{Path, PathBuf};
use strata_model::LabelLimits;

/// Largest `limits.max_request_bytes` accepted: a push becomes one WAL
/// record, and the WAL refuses records over 1 GiB.
const MAX_REQUEST_BYTES_CEILING: usize = 512 << 20;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Where data lives (default ./data).
    pub data_dir: Option<PathBuf>,
    /// Address to listen on (default 127.0.0.1:3100).
    pub listen: Option<String>,
    /// Log level filter for the server's own logs (default info), as RUST_LOG.
    pub log_level: Option<String>,
    #[serde(default)]
    pub storage: StorageSection,
    #[serde(default)]
    pub limits: LimitsSection,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StorageSection {
    /// `always` (fsync before acknowledging, with group commit) or `never`.
    pub fsync: Option<String>,
    pub wal_segment_bytes: Option<u64>,
    pub flush_max_head_bytes: Option<u64>,
    /// A duration such as `60s` or `5m`.
    pub flush_max_age: Option<String>,
    pub block_max_rows: Option<usize>,
    pub block_max_bytes: Option<usize>,
    pub merge_min_parts: Option<usize>,
    pub zstd_level: Option<i32>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsSection {
    pub max_request_bytes: Option<usize>,
    pub max_line_bytes: Option<usize>,
    pub max_metadata_bytes: Option<usize>,
    pub max_metadata_entries: Option<usize>,
    pub max_labels_per_stream: Option<usize>,
    pub max_label_name_length: Option<usize>,
    pub max_label_value_length: Option<usize>,
    pub max_entries_per_query: Option<usize>,
    /// A duration such as `721h`; `0` disables the limit.
    pub max_query_length: Option<String>,
    /// Most series a metric query may answer with.
    pub max_query_series: Option<usize>,
    /// A duration such as `1m`; `0` disables the limit.
    pub query_timeout: Option<String>,
    /// Most uncompressed line bytes a query may select; `0` disables the limit.
    pub max_query_bytes_read: Option<u64>,
    /// Most live tails open at once.
    pub max_concurrent_tail_requests: Option<usize>,
}

impl Config {
    pub fn load(path: &Path) -> anyhow::Result<Config> {
        let text = std::fs::read_to_string(path)
            .map_err(|err| anyhow::anyhow!("cannot read config file {}: {err}", path.display()))?;
        serde_saphyr::from_str(&text)
            .map_err(|err| anyhow::anyhow!("invalid config file {}: {err}", path.display()))
    }

    pub fn storage_config(
        &self,
        data_dir: PathBuf,
    ) -> anyhow::Result<strata_storage::StorageConfig> {
        let mut config = strata_storage::StorageConfig {
            data_dir,
            ..Default::default()
        };
        let section = &self.storage;
        if let Some(fsync) = &section.fsync {
            config.fsync = match fsync.as_str() {
                "always" => strata_storage::FsyncPolicy::Always,
                "never" => strata_storage::FsyncPolicy::Never,
                other => anyhow::bail!("invalid storage.fsync {other:?}: use always or never"),
            };
        }
        if let Some(value) = section.wal_segment_bytes {
            config.wal_segment_bytes = value;
        }
        if let Some(value) = section.flush_max_head_bytes {
            config.flush_max_head_bytes = value;
        }
        if let Some(text) = &section.flush_max_age {
            let nanos = strata_server::parse_duration(text)
                .map_err(|err| anyhow::anyhow!("invalid storage.flush_max_age: {err}"))?;
            config.flush_max_age = std::time::Duration::from_nanos(nanos as u64);
        }
        if let Some(value) = section.block_max_rows {
            config.block_max_rows = value.max(1);
        }
        if let Some(value) = section.block_max_bytes {
            config.block_max_bytes = value.max(1);
        }
        if let Some(value) = section.merge_min_parts {
            config.merge_min_parts = value.max(2);
        }
        if let Some(value) = section.zstd_level {
            config.zstd_level = value;
        }
        Ok(config)
    }

    pub fn server_limits(&self) -> anyhow::Result<strata_server::ServerLimits> {
        let mut limits = strata_server::ServerLimits::default();
        let section = &self.limits;
        let ingest = &mut limits.ingest;
        let set = |target: &mut usize, value: Option<usize>| {
            if let Some(value) = value {
                *target = value;
            }
        };
        if let Some(bytes) = section.max_request_bytes
            && bytes > MAX_REQUEST_BYTES_CEILING
        {
            anyhow::bail!(
                "invalid limits.max_request_bytes {bytes}: at most {MAX_REQUEST_BYTES_CEILING} (one push is one WAL record)"
            );
        }
        set(&mut ingest.max_request_bytes, section.max_request_bytes);
        set(&mut ingest.max_line_bytes, section.max_line_bytes);
        set(&mut ingest.max_metadata_bytes, section.max_metadata_bytes);
        set(
            &mut ingest.max_metadata_entries,
            section.max_metadata_entries,
        );
        let labels: &mut LabelLimits = &mut ingest.labels;
        set(&mut labels.max_labels, section.max_labels_per_stream);
        set(&mut labels.max_name_len, section.max_label_name_length);
        set(&mut labels.max_value_len, section.max_label_value_length);
        set(&mut limits.query.max_entries, section.max_entries_per_query);
        if let Some(text) = &section.max_query_length {
            limits.query.max_query_length_ns = strata_server::parse_duration(text)
                .map_err(|err| anyhow::anyhow!("invalid limits.max_query_length: {err}"))?;
        }
        if let Some(series) = section.max_query_series {
            limits.query.max_series = series.max(1);
        }
        if let Some(text) = &section.query_timeout {
            let nanos = strata_server::parse_duration(text)
                .map_err(|err| anyhow::anyhow!("invalid limits.query_timeout: {err}"))?;
            limits.query.timeout =
                (nanos > 0).then(|| std::time::Duration::from_nanos(nanos as u64));
        }
        if let Some(bytes) = section.max_query_bytes_read {
            limits.query.max_bytes_read = bytes;
        }
        set(&mut limits.query.max_tails, section.max_concurrent_tail_requests);
        Ok(limits)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_full_file_and_refuses_unknown_keys() {
        let config: Config = serde_saphyr::from_str("data_dir: /tmp/x\nstorage:\n  fsync: never\n  flush_max_age: 5m\nlimits:\n  max_line_bytes: 1000\n  max_query_length: 24h\n").unwrap();
        let storage = config.storage_config(PathBuf::from("/tmp/x")).unwrap();
        assert_eq!(storage.flush_max_age, std::time::Duration::from_secs(300));
        assert_eq!(config.server_limits().unwrap().ingest.max_line_bytes, 1000);
        let err = serde_saphyr::from_str::<Config>("storage:\n  fsnc: never\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("fsnc"), "{err}");
        assert!(
            Config {
                storage: StorageSection {
                    fsync: Some("sometimes".into()),
                    ..Default::default()
                },
                ..Default::default()
            }
            .storage_config(PathBuf::new())
            .is_err()
        );
    }
}
