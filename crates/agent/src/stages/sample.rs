//! `sample`: keeps a share of records per level, as the lecture's cost
//! section does ("keep all ERROR, 10% of INFO"):
//!
//! ```yaml
//! - sample:
//!     source: level              # default
//!     rates: {error: 1, critical: 1, warning: 1, info: 0.1}
//!     default_rate: 0            # levels not listed (default 1: kept)
//! - sample: {rate: 0.05}         # 5 % of everything
//! ```
//!
//! Levels are compared without case. The choice is a hash of the line and
//! its timestamp, not a random draw: a line sent again after a crash is
//! kept or dropped as it was the first time, so sampling never turns
//! at-least-once delivery into duplicates or gaps. Dropped records count
//! under reason `sampled`.

use std::collections::BTreeMap;

use serde::Deserialize;
use strata_model::Labels;

use super::{Reads, Record, Stage, Verdict};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SampleConfig {
    #[serde(default)]
    pub source: Option<String>,
    /// Level -> share kept, from 0 to 1.
    #[serde(default)]
    pub rates: BTreeMap<String, f64>,
    /// The share kept of levels not in `rates` (and of records without the field).
    #[serde(default)]
    pub default_rate: Option<f64>,
    /// One share for every record (instead of `rates`).
    #[serde(default)]
    pub rate: Option<f64>,
}

#[derive(Debug)]
pub struct SampleStage {
    source: String,
    /// (lower-case level, threshold on the hash).
    rates: Vec<(String, u64)>,
    default: u64,
}

/// The hash threshold under which a record is kept.
fn threshold(rate: f64) -> u64 {
    if rate >= 1.0 {
        u64::MAX
    } else {
        (rate * u64::MAX as f64) as u64
    }
}

impl SampleStage {
    pub fn new(config: &SampleConfig) -> anyhow::Result<SampleStage> {
        let check = |name: &str, rate: f64| {
            if !(0.0..=1.0).contains(&rate) {
                anyhow::bail!("{name}: {rate} is not a share between 0 and 1");
            }
            Ok(threshold(rate))
        };
        if config.rate.is_some() && (!config.rates.is_empty() || config.default_rate.is_some()) {
            anyhow::bail!("give rate, or rates with default_rate, not both");
        }
        if config.rate.is_none() && config.rates.is_empty() {
            anyhow::bail!("give rate (a share of every record) or rates (per level)");
        }
        let mut rates = Vec::new();
        for (level, rate) in &config.rates {
            rates.push((
                level.to_lowercase(),
                check(&format!("rates.{level}"), *rate)?,
            ));
        }
        let default = match config.rate.or(config.default_rate) {
            None => u64::MAX,
            Some(rate) => check("rate", rate)?,
        };
        Ok(SampleStage {
            source: config.source.clone().unwrap_or_else(|| "level".to_string()),
            rates,
            default,
        })
    }
}

impl Stage for SampleStage {
    fn process(&mut self, record: &mut Record, base: &Labels) -> Verdict {
        let limit = match record.lookup(base, &self.source) {
            Some(level) => self
                .rates
                .iter()
                .find(|(name, _)| name.eq_ignore_ascii_case(level))
                .map_or(self.default, |(_, limit)| *limit),
            None => self.default,
        };
        if limit == u64::MAX {
            return Verdict::Keep;
        }
        // The time goes in as data, not as the seed: consecutive seeds
        // over similar lines do not spread as evenly.
        let mut hasher = xxhash_rust::xxh3::Xxh3::new();
        hasher.update(record.line.as_bytes());
        hasher.update(&record.ts_ns.to_le_bytes());
        let hash = hasher.digest();
        if hash < limit {
            Verdict::Keep
        } else {
            Verdict::Drop("sampled".into())
        }
    }

    fn reads(&self) -> Reads {
        Reads::of([self.source.clone()])
    }
}
