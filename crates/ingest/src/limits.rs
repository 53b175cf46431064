use strata_model::LabelLimits;

/// Limits on what one push may carry. Defaults follow Loki's where Loki has one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IngestLimits {
    /// Largest request body after decompression, in bytes.
    pub max_request_bytes: usize,
    /// Longest line in bytes (Loki: max_line_size; 256 KiB here).
    pub max_line_bytes: usize,
    /// Largest structured metadata of one entry, names plus values (Loki: 64 KiB).
    pub max_metadata_bytes: usize,
    /// Most structured-metadata pairs per entry (Loki: 128).
    pub max_metadata_entries: usize,
    /// Label-set limits.
    pub labels: LabelLimits,
}

impl Default for IngestLimits {
    fn default() -> Self {
        IngestLimits {
            max_request_bytes: 64 << 20,
            max_line_bytes: 256 << 10,
            max_metadata_bytes: 64 << 10,
            max_metadata_entries: 128,
            labels: LabelLimits::default(),
        }
    }
}
