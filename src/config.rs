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
        set(
            &mut limits.query.max_tails,
            section.max_concurrent_tail_requests,
        );
        Ok(limits)
    }
}

/// What the server runs with, every key filled in: the answer of `GET /config`.
pub struct Effective<'a> {
    pub data_dir: &'a Path,
    pub listen: &'a str,
    pub log_level: &'a str,
    pub storage: &'a strata_storage::StorageConfig,
    pub limits: &'a strata_server::ServerLimits,
}

/// A duration as the config file writes them (`90s`, `1h`; `0` for none).
fn duration_text(duration: Option<std::time::Duration>) -> String {
    match duration {
        None => "0".to_string(),
        Some(duration) if duration.as_secs() % 3600 == 0 && duration.as_secs() > 0 => {
            format!("{}h", duration.as_secs() / 3600)
        }
        Some(duration) if duration.subsec_nanos() == 0 => format!("{}s", duration.as_secs()),
        Some(duration) => format!("{}ns", duration.as_nanos()),
    }
}

impl Effective<'_> {
    /// (section, key, value) for every setting; section "" for top-level keys.
    fn entries(&self) -> Vec<(&'static str, &'static str, String)> {
        let storage = self.storage;
        let ingest = &self.limits.ingest;
        let query = &self.limits.query;
        let quote = |text: &str| format!("{text:?}");
        vec![
            ("", "data_dir", quote(&self.data_dir.display().to_string())),
            ("", "listen", quote(self.listen)),
            ("", "log_level", quote(self.log_level)),
            (
                "storage",
                "fsync",
                match storage.fsync {
                    strata_storage::FsyncPolicy::Always => "always".into(),
                    strata_storage::FsyncPolicy::Never => "never".into(),
                },
            ),
            (
                "storage",
                "wal_segment_bytes",
                storage.wal_segment_bytes.to_string(),
            ),
            (
                "storage",
                "flush_max_head_bytes",
                storage.flush_max_head_bytes.to_string(),
            ),
            (
                "storage",
                "flush_max_age",
                duration_text(Some(storage.flush_max_age)),
            ),
            (
                "storage",
                "block_max_rows",
                storage.block_max_rows.to_string(),
            ),
            (
                "storage",
                "block_max_bytes",
                storage.block_max_bytes.to_string(),
            ),
            (
                "storage",
                "merge_min_parts",
                storage.merge_min_parts.to_string(),
            ),
            ("storage", "zstd_level", storage.zstd_level.to_string()),
            (
                "limits",
                "max_request_bytes",
                ingest.max_request_bytes.to_string(),
            ),
            (
                "limits",
                "max_line_bytes",
                ingest.max_line_bytes.to_string(),
            ),
            (
                "limits",
                "max_metadata_bytes",
                ingest.max_metadata_bytes.to_string(),
            ),
            (
                "limits",
                "max_metadata_entries",
                ingest.max_metadata_entries.to_string(),
            ),
            (
                "limits",
                "max_labels_per_stream",
                ingest.labels.max_labels.to_string(),
            ),
            (
                "limits",
                "max_label_name_length",
                ingest.labels.max_name_len.to_string(),
            ),
            (
                "limits",
                "max_label_value_length",
                ingest.labels.max_value_len.to_string(),
            ),
            (
                "limits",
                "max_entries_per_query",
                query.max_entries.to_string(),
            ),
            (
                "limits",
                "max_query_length",
                duration_text(
                    (query.max_query_length_ns > 0)
                        .then(|| std::time::Duration::from_nanos(query.max_query_length_ns as u64)),
                ),
            ),
            ("limits", "max_query_series", query.max_series.to_string()),
            ("limits", "query_timeout", duration_text(query.timeout)),
            (
                "limits",
                "max_query_bytes_read",
                query.max_bytes_read.to_string(),
            ),
            (
                "limits",
                "max_concurrent_tail_requests",
                query.max_tails.to_string(),
            ),
        ]
    }

    /// The settings as a config file (it reads back to the same settings).
    /// With `defaults`, only those that differ from them (Loki's `mode=diff`).
    pub fn yaml(&self, defaults: Option<&Effective<'_>>) -> String {
        let skip: Vec<(&str, &str, String)> = defaults.map(|d| d.entries()).unwrap_or_default();
        let mut out = String::new();
        let mut section = "";
        for entry in self.entries() {
            if skip.contains(&entry) {
                continue;
            }
            let (entry_section, key, value) = entry;
            if entry_section != section {
                out.push_str(entry_section);
                out.push_str(":\n");
                section = entry_section;
            }
            let indent = if section.is_empty() { "" } else { "  " };
            out.push_str(&format!("{indent}{key}: {value}\n"));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_effective_config_reads_back_to_itself() {
        let file: Config = serde_saphyr::from_str(
            "storage:\n  fsync: never\n  flush_max_age: 90s\nlimits:\n  query_timeout: 0\n  max_query_series: 7\n",
        )
        .unwrap();
        let storage = file.storage_config(PathBuf::from("/srv/strata")).unwrap();
        let limits = file.server_limits().unwrap();
        let effective = Effective {
            data_dir: Path::new("/srv/strata"),
            listen: "0.0.0.0:3100",
            log_level: "info",
            storage: &storage,
            limits: &limits,
        };
        let yaml = effective.yaml(None);
        let again: Config = serde_saphyr::from_str(&yaml).unwrap();
        assert_eq!(again.data_dir.as_deref(), Some(Path::new("/srv/strata")));
        let again_storage = again.storage_config(PathBuf::from("/srv/strata")).unwrap();
        assert_eq!(again_storage.fsync, storage.fsync);
        assert_eq!(again_storage.flush_max_age, storage.flush_max_age);
        assert_eq!(again_storage.block_max_bytes, storage.block_max_bytes);
        assert_eq!(again.server_limits().unwrap(), limits);

        let default_storage = Config::default()
            .storage_config(PathBuf::from("./data"))
            .unwrap();
        let default_limits = Config::default().server_limits().unwrap();
        let defaults = Effective {
            data_dir: Path::new("./data"),
            listen: "127.0.0.1:3100",
            log_level: "info",
            storage: &default_storage,
            limits: &default_limits,
        };
        assert_eq!(
            effective.yaml(Some(&defaults)),
            "data_dir: \"/srv/strata\"\nlisten: \"0.0.0.0:3100\"\nstorage:\n  fsync: never\n  flush_max_age: 90s\nlimits:\n  max_query_series: 7\n  query_timeout: 0\n"
        );
    }

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
