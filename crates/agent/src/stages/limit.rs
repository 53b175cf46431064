//! `limit`: a token bucket on records per second (Promtail's limit stage):
//!
//! ```yaml
//! - limit: {rate: 100, burst: 200, drop: true}                  # drop past 100/s
//! - limit: {rate: 10, burst: 10, by_label_name: pod, drop: true} # per pod
//! ```
//!
//! With `drop: false` (the default) the stage waits for a token, slowing the
//! source down instead of losing lines (the file is read later; nothing is
//! lost; a stopping agent stops waiting and reads those lines again at its
//! next start). With `drop: true` records past the rate are dropped, counted
//! under reason `rate_limited`. `by_label_name` keeps one bucket per value
//! of that label or field, at most `max_distinct_labels` (10,000) of them;
//! records past that share one bucket.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use serde::Deserialize;
use strata_model::Labels;

use super::{Reads, Record, Stage, Verdict};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitConfig {
    /// Records per second.
    pub rate: f64,
    /// Most records at once (default: the rate, at least 1).
    #[serde(default)]
    pub burst: Option<f64>,
    #[serde(default)]
    pub drop: bool,
    #[serde(default)]
    pub by_label_name: Option<String>,
    #[serde(default)]
    pub max_distinct_labels: Option<usize>,
}

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

#[derive(Debug)]
pub struct LimitStage {
    rate: f64,
    burst: f64,
    drop: bool,
    by: Option<String>,
    max_keys: usize,
    buckets: HashMap<String, Bucket>,
    /// Set when the agent stops: a waiting stage gives up.
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl LimitStage {
    pub fn new(
        config: &LimitConfig,
        stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    ) -> anyhow::Result<LimitStage> {
        if !(config.rate > 0.0 && config.rate.is_finite()) {
            anyhow::bail!(
                "rate: {} is not a positive number of records per second",
                config.rate
            );
        }
        let burst = config.burst.unwrap_or(config.rate.max(1.0));
        if !(burst >= 1.0 && burst.is_finite()) {
            anyhow::bail!("burst: {burst} must be at least 1");
        }
        Ok(LimitStage {
            rate: config.rate,
            burst,
            drop: config.drop,
            by: config.by_label_name.clone(),
            max_keys: config.max_distinct_labels.unwrap_or(10_000).max(1),
            buckets: HashMap::new(),
            stop,
        })
    }
}

impl Stage for LimitStage {
    fn process(&mut self, record: &mut Record, base: &Labels) -> Verdict {
        let mut key = match &self.by {
            None => String::new(),
            Some(name) => record.lookup(base, name).unwrap_or("").to_string(),
        };
        if !self.buckets.contains_key(&key) && self.buckets.len() >= self.max_keys {
            key = "\u{0}overflow".to_string();
        }
        let burst = self.burst;
        let bucket = self.buckets.entry(key).or_insert_with(|| Bucket {
            tokens: burst,
            at: Instant::now(),
        });
        loop {
            let now = Instant::now();
            let elapsed = now.duration_since(bucket.at).as_secs_f64();
            bucket.tokens = (bucket.tokens + elapsed * self.rate).min(self.burst);
            bucket.at = now;
            if bucket.tokens >= 1.0 {
                bucket.tokens -= 1.0;
                return Verdict::Keep;
            }
            if self.drop {
                return Verdict::Drop("rate_limited".into());
            }
            if self.stop.load(std::sync::atomic::Ordering::Relaxed) {
                // The agent sends nothing more: this record is read again
                // at the next start.
                return Verdict::Drop("stopping".into());
            }
            let wait = (1.0 - bucket.tokens) / self.rate;
            std::thread::sleep(Duration::from_secs_f64(wait.min(0.1)));
        }
    }

    fn reads(&self) -> Reads {
        Reads::of(self.by.clone())
    }
}
