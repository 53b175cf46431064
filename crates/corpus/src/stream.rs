//! A stream of the corpus: its labels, which workload writes it, and how
//! often it is picked.

use crate::level::Level;

/// Label names in TSV column order (`level` last, as in corpus.tsv).
pub const LABEL_NAMES: [&str; 7] = [
    "cluster",
    "namespace",
    "app",
    "pod",
    "container",
    "job_type",
    "level",
];

/// The label set every stream has; `job_type` may be empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamLabels {
    pub cluster: String,
    pub namespace: String,
    pub app: String,
    pub pod: String,
    pub container: String,
    pub job_type: String,
    pub level: Level,
}

impl StreamLabels {
    /// Values in [`LABEL_NAMES`] order.
    pub fn values(&self) -> [&str; 7] {
        [
            &self.cluster,
            &self.namespace,
            &self.app,
            &self.pod,
            &self.container,
            &self.job_type,
            self.level.as_str(),
        ]
    }

    /// (name, value) pairs with a non-empty value, sorted by name.
    pub fn non_empty_pairs(&self) -> Vec<(&'static str, &str)> {
        let mut pairs: Vec<(&'static str, &str)> = LABEL_NAMES
            .iter()
            .copied()
            .zip(self.values())
            .filter(|(_, value)| !value.is_empty())
            .collect();
        pairs.sort();
        pairs
    }
}

/// The four workload families, which share the corpus bytes in fixed parts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Category {
    Training,
    Gpu,
    Serving,
    Loghub,
}

impl Category {
    pub const ALL: [Category; 4] = [
        Category::Training,
        Category::Gpu,
        Category::Serving,
        Category::Loghub,
    ];

    /// Share of the corpus bytes.
    pub fn byte_share(self) -> f64 {
        match self {
            Category::Training => 0.30,
            Category::Gpu => 0.10,
            Category::Serving => 0.30,
            Category::Loghub => 0.30,
        }
    }

    pub fn index(self) -> usize {
        self as usize
    }
}

/// Which workload writes a stream, with its indexes into that workload's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Training { job: usize, rank: usize },
    Gpu { node: usize },
    Serving { model: usize, pod: usize },
    Gateway { pod: usize },
    Loghub { system: usize, instance: usize },
}

/// One stream of the corpus.
#[derive(Debug, Clone)]
pub struct Stream {
    pub labels: StreamLabels,
    pub source: Source,
    pub category: Category,
    /// Relative pick weight within the category.
    pub weight: f64,
    /// Index of the stream's cluster in the IP pools.
    pub cluster: usize,
}
