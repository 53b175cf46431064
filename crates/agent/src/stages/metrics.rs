//! `metrics`: counters, gauges and histograms from records, served on the
//! agent's `/metrics` (Promtail's metrics stage; the lecture's
//! `training_loss` and `training_accuracy` gauges):
//!
//! ```yaml
//! - metrics:
//!     training_loss:
//!       type: gauge
//!       description: Training loss
//!       source: loss               # the field (default: the metric's name)
//!       config: {action: set}      # gauge: set, inc, dec, add, sub
//!     log_lines:
//!       type: counter
//!       config: {match_all: true}  # counter: inc when source is present, add its value, or match_all
//!     latency_ms:
//!       type: histogram
//!       config: {buckets: [5, 10, 50, 100, 500]}
//! ```
//!
//! Names get `prefix` (default `strata_agent_custom_`, as Promtail's
//! `promtail_custom_`); each series is labelled with the record's stream
//! labels. `config.value` restricts a metric to records whose source equals
//! it. A series not updated for `max_idle_duration` (default 5m) is removed,
//! so a stream that ends does not keep its series forever; at most 10,000
//! series per metric are kept (past that, new series are not created and
//! `strata_agent_custom_metrics_dropped_total` counts the updates lost).

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Deserialize;
use strata_model::Labels;

use super::{Reads, Record, Stage, Verdict};

const MAX_SERIES: usize = 10_000;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricConfig {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub source: Option<String>,
    #[serde(default)]
    pub prefix: Option<String>,
    #[serde(default)]
    pub max_idle_duration: Option<String>,
    #[serde(default)]
    pub config: MetricAction,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricAction {
    #[serde(default)]
    pub action: Option<String>,
    #[serde(default)]
    pub value: Option<String>,
    #[serde(default)]
    pub match_all: bool,
    #[serde(default)]
    pub count_entry_bytes: bool,
    #[serde(default)]
    pub buckets: Vec<f64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Counter,
    Gauge,
    Histogram,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    Inc,
    Dec,
    Add,
    Sub,
    Set,
    Observe,
}

#[derive(Debug)]
struct Series {
    value: f64,
    /// Per bucket (not cumulative), histograms only.
    counts: Vec<u64>,
    count: u64,
    updated: Instant,
}

#[derive(Debug)]
struct Family {
    help: String,
    kind: Kind,
    buckets: Vec<f64>,
    idle: Duration,
    series: HashMap<String, Series>,
}

/// Every metrics stage's series, rendered on `/metrics`.
#[derive(Debug, Default)]
pub struct MetricRegistry {
    families: Mutex<BTreeMap<String, Family>>,
    dropped: std::sync::atomic::AtomicU64,
}

impl MetricRegistry {
    fn register(&self, name: &str, family: Family) -> anyhow::Result<()> {
        let mut families = self.families.lock().unwrap_or_else(|e| e.into_inner());
        match families.get(name) {
            Some(existing)
                if existing.kind != family.kind || existing.buckets != family.buckets =>
            {
                anyhow::bail!("metric {name} is already defined with another type or buckets")
            }
            Some(_) => Ok(()),
            None => {
                families.insert(name.to_string(), family);
                Ok(())
            }
        }
    }

    fn update(&self, name: &str, labels: &str, action: Action, value: f64) {
        let mut families = self.families.lock().unwrap_or_else(|e| e.into_inner());
        let Some(family) = families.get_mut(name) else {
            return;
        };
        let now = Instant::now();
        if !family.series.contains_key(labels) {
            if family.series.len() >= MAX_SERIES {
                let idle = family.idle;
                family
                    .series
                    .retain(|_, series| now.duration_since(series.updated) < idle);
            }
            if family.series.len() >= MAX_SERIES {
                self.dropped
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                return;
            }
            let buckets = family.buckets.len();
            family.series.insert(
                labels.to_string(),
                Series {
                    value: 0.0,
                    counts: vec![0; buckets],
                    count: 0,
                    updated: now,
                },
            );
        }
        let Some(series) = family.series.get_mut(labels) else {
            return;
        };
        series.updated = now;
        match action {
            Action::Inc => series.value += 1.0,
            Action::Dec => series.value -= 1.0,
            Action::Add => series.value += value,
            Action::Sub => series.value -= value,
            Action::Set => series.value = value,
            Action::Observe => {
                series.value += value;
                series.count += 1;
                if let Some(index) = family.buckets.iter().position(|bound| value <= *bound) {
                    series.counts[index] += 1;
                }
            }
        }
    }

    /// The series in Prometheus' text format (idle ones are removed first).
    pub fn render(&self) -> String {
        let mut out = String::new();
        let mut families = self.families.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        for (name, family) in families.iter_mut() {
            let idle = family.idle;
            family
                .series
                .retain(|_, series| now.duration_since(series.updated) < idle);
            let kind = match family.kind {
                Kind::Counter => "counter",
                Kind::Gauge => "gauge",
                Kind::Histogram => "histogram",
            };
            let _ = writeln!(out, "# HELP {name} {}", family.help.replace('\n', " "));
            let _ = writeln!(out, "# TYPE {name} {kind}");
            let mut series: Vec<(&String, &Series)> = family.series.iter().collect();
            series.sort_by(|a, b| a.0.cmp(b.0));
            for (labels, series) in series {
                if family.kind != Kind::Histogram {
                    let _ = writeln!(out, "{name}{{{labels}}} {}", number(series.value));
                    continue;
                }
                let separator = if labels.is_empty() { "" } else { "," };
                let mut cumulative = 0;
                for (bound, count) in family.buckets.iter().zip(&series.counts) {
                    cumulative += count;
                    let _ = writeln!(
                        out,
                        "{name}_bucket{{{labels}{separator}le=\"{}\"}} {cumulative}",
                        number(*bound)
                    );
                }
                let _ = writeln!(
                    out,
                    "{name}_bucket{{{labels}{separator}le=\"+Inf\"}} {}",
                    series.count
                );
                let _ = writeln!(out, "{name}_sum{{{labels}}} {}", number(series.value));
                let _ = writeln!(out, "{name}_count{{{labels}}} {}", series.count);
            }
        }
        let dropped = self.dropped.load(std::sync::atomic::Ordering::Relaxed);
        let _ = write!(
            out,
            "# HELP strata_agent_custom_metrics_dropped_total Metric updates lost to the series limit.\n# TYPE strata_agent_custom_metrics_dropped_total counter\nstrata_agent_custom_metrics_dropped_total {dropped}\n"
        );
        out
    }
}

fn number(value: f64) -> String {
    if value.is_nan() {
        "NaN".to_string()
    } else if value.is_infinite() {
        if value > 0.0 { "+Inf" } else { "-Inf" }.to_string()
    } else {
        format!("{value}")
    }
}

/// `a="1",b="x\"y"`: Prometheus' label text.
fn label_text(labels: &Labels) -> String {
    let mut out = String::new();
    for (index, (name, value)) in labels.iter().enumerate() {
        if index > 0 {
            out.push(',');
        }
        out.push_str(name);
        out.push_str("=\"");
        for c in value.chars() {
            match c {
                '\\' => out.push_str("\\\\"),
                '"' => out.push_str("\\\""),
                '\n' => out.push_str("\\n"),
                c => out.push(c),
            }
        }
        out.push('"');
    }
    out
}

#[derive(Debug)]
struct Metric {
    name: String,
    source: String,
    action: Action,
    value: Option<String>,
    match_all: bool,
    count_bytes: bool,
}

#[derive(Debug)]
pub struct MetricsStage {
    metrics: Vec<Metric>,
    registry: Arc<MetricRegistry>,
}

fn valid_metric_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

impl MetricsStage {
    pub fn new(
        configs: &BTreeMap<String, MetricConfig>,
        registry: &Arc<MetricRegistry>,
    ) -> anyhow::Result<MetricsStage> {
        let mut metrics = Vec::new();
        for (name, config) in configs {
            let full = format!(
                "{}{name}",
                config.prefix.as_deref().unwrap_or("strata_agent_custom_")
            );
            if !valid_metric_name(&full) {
                anyhow::bail!("{full:?} is not a valid metric name");
            }
            let kind = match config.kind.to_ascii_lowercase().as_str() {
                "counter" => Kind::Counter,
                "gauge" => Kind::Gauge,
                "histogram" => Kind::Histogram,
                other => anyhow::bail!("{name}.type: {other:?} is not counter, gauge or histogram"),
            };
            let action = config.config.action.as_deref().map(str::to_ascii_lowercase);
            let action = match (kind, action.as_deref()) {
                (Kind::Counter, None | Some("inc")) => Action::Inc,
                (Kind::Counter, Some("add")) => Action::Add,
                (Kind::Gauge, Some("set")) => Action::Set,
                (Kind::Gauge, Some("inc")) => Action::Inc,
                (Kind::Gauge, Some("dec")) => Action::Dec,
                (Kind::Gauge, Some("add")) => Action::Add,
                (Kind::Gauge, Some("sub")) => Action::Sub,
                (Kind::Gauge, None) => anyhow::bail!(
                    "{name}.config.action: a gauge needs an action (set, inc, dec, add or sub)"
                ),
                (Kind::Histogram, None) => Action::Observe,
                (_, Some(other)) => anyhow::bail!(
                    "{name}.config.action: {other:?} is not an action of a {}",
                    config.kind.to_ascii_lowercase()
                ),
            };
            let mut buckets = config.config.buckets.clone();
            if kind == Kind::Histogram {
                if buckets.is_empty() {
                    buckets = vec![
                        0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
                    ];
                }
                if buckets.windows(2).any(|pair| pair[0] >= pair[1])
                    || buckets.iter().any(|b| !b.is_finite())
                {
                    anyhow::bail!("{name}.config.buckets: bounds must be finite and increasing");
                }
            } else if !buckets.is_empty() {
                anyhow::bail!("{name}.config.buckets: only histograms have buckets");
            }
            if config.config.match_all && kind != Kind::Counter {
                anyhow::bail!("{name}.config.match_all: only counters count every line");
            }
            let idle = match &config.max_idle_duration {
                None => Duration::from_secs(300),
                Some(text) => super::parse_duration(text)
                    .map_err(|err| anyhow::anyhow!("{name}.max_idle_duration: {err}"))?,
            };
            registry.register(
                &full,
                Family {
                    help: config.description.clone().unwrap_or_else(|| name.clone()),
                    kind,
                    buckets,
                    idle,
                    series: HashMap::new(),
                },
            )?;
            metrics.push(Metric {
                name: full,
                source: config.source.clone().unwrap_or_else(|| name.clone()),
                action,
                value: config.config.value.clone(),
                match_all: config.config.match_all,
                count_bytes: config.config.count_entry_bytes,
            });
        }
        Ok(MetricsStage {
            metrics,
            registry: registry.clone(),
        })
    }
}

impl Stage for MetricsStage {
    fn process(&mut self, record: &mut Record, base: &Labels) -> Verdict {
        let mut labels: Option<String> = None;
        for metric in &self.metrics {
            let (action, amount) = if metric.match_all {
                if metric.count_bytes {
                    (Action::Add, record.line.len() as f64)
                } else {
                    (Action::Inc, 1.0)
                }
            } else {
                let Some(value) = record.lookup(base, &metric.source) else {
                    continue;
                };
                if metric
                    .value
                    .as_deref()
                    .is_some_and(|expected| expected != value)
                {
                    continue;
                }
                match metric.action {
                    Action::Inc | Action::Dec => (metric.action, 1.0),
                    _ => match value.trim().parse::<f64>() {
                        Ok(number) => (metric.action, number),
                        Err(_) => continue,
                    },
                }
            };
            let labels = labels.get_or_insert_with(|| label_text(&record.stream(base)));
            self.registry.update(&metric.name, labels, action, amount);
        }
        Verdict::Keep
    }

    fn reads(&self) -> Reads {
        Reads::of(self.metrics.iter().map(|m| m.source.clone()))
    }
}
