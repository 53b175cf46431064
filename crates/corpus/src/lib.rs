//! A deterministic benchmark corpus for strata and its peers, and a client
//! that pushes it into a Loki-compatible server.
//!
//! [`generate::generate`] simulates a GPU cluster's logs (training jobs, GPU
//! monitors, model serving behind a gateway, and the sixteen Loghub systems
//! replayed with fresh values) over a few hundred labelled streams, plants
//! needles, and writes the same entries three ways (corpus.tsv, corpus.jsonl,
//! streams/<id>.log) plus manifest.json, the truth every benchmark query is
//! checked against. A seed and a size give the same bytes on every machine:
//! all randomness comes from [`rng::Rng`] and all curves from [`math`].
//!
//! [`push::push`] reads corpus.tsv back and replays it through
//! `POST /loki/api/v1/push` from several client threads.
//!
//! ```no_run
//! let options = strata_corpus::generate::GenerateOptions {
//!     out: "/tmp/corpus".into(),
//!     size: 20_000_000,
//!     seed: 42,
//!     start_ns: 1_795_132_800_000_000_000,
//!     span_ns: 86_400_000_000_000,
//!     loghub_dir: strata_corpus::default_loghub_dir(),
//! };
//! let manifest = strata_corpus::generate::generate(&options)?;
//! println!("{} entries", manifest.entries);
//! # Ok::<(), anyhow::Error>(())
//! ```

pub mod clock;
pub mod generate;
pub mod gpu;
pub mod json;
pub mod level;
pub mod loghub;
pub mod math;
pub mod needles;
pub mod output;
pub mod proto;
pub mod push;
pub mod rng;
pub mod serving;
pub mod stream;
pub mod template;
pub mod text;
pub mod topology;
pub mod training;
pub mod truth;
pub mod units;

/// The Loghub samples shipped in this crate (`crates/corpus/loghub`, with
/// their licence notice), or `$STRATA_LOGHUB` when set.
pub fn default_loghub_dir() -> std::path::PathBuf {
    if let Some(dir) = std::env::var_os("STRATA_LOGHUB") {
        return dir.into();
    }
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("loghub")
}
