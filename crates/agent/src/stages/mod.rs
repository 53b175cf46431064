//! The agent's pipeline stages: what a source does to each line before it is
//! sent, configured as a YAML list in the order they run (Promtail's
//! `pipeline_stages` shape):
//!
//! ```yaml
//! stages:
//!   - regex: {expression: 'Epoch: (?P<epoch>\d+), Loss: (?P<loss>[\d.]+)', types: {epoch: int, loss: float}}
//!   - timestamp: {source: ts, format: RFC3339}
//!   - labels: {level: }
//!   - metrics: {training_loss: {type: gauge, source: loss, config: {action: set}}}
//! ```
//!
//! Each stage works on a [`Record`]: the line, its timestamp, the stream
//! labels set so far (on top of the source's labels and `filename`), the
//! fields extracted so far, the structured metadata to send, and the outputs
//! it goes to. A stage may drop the record ([`Verdict::Drop`], counted by
//! reason). Fields are not sent unless a `labels` or `structured_metadata`
//! stage picks them (or an Elasticsearch, file or stdout output writes whole
//! records). Each stage lives in its own file; stages whose meaning is the
//! server's (json, logfmt, pattern, line_format, label filters, templates)
//! run the server's own LogQL code ([`logql`]).

mod dedupe;
mod drop;
mod extract;
mod labels;
mod limit;
mod logql;
mod matcher;
pub mod metrics;
mod redact;
mod sample;
mod timestamp;

use std::borrow::Cow;
use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use serde::Deserialize;
use strata_model::Labels;

pub use metrics::MetricRegistry;

/// One line on its way through a source's stages.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Record {
    pub ts_ns: i64,
    pub line: String,
    /// Stream labels set by stages; they replace the source's labels of
    /// the same name.
    pub labels: Vec<(String, String)>,
    /// Fields extracted so far, in the order they were set (one per name).
    pub fields: Vec<(String, String)>,
    /// Structured metadata to send with the entry.
    pub metadata: Vec<(String, String)>,
    /// The outputs (by index) the record goes to, when a `route` stage chose.
    pub outputs: Option<Vec<usize>>,
    /// Fields a `types` setting made numbers or booleans: outputs that
    /// write whole records (Elasticsearch, file) write them as such.
    pub types: Vec<(String, FieldType)>,
}

impl Record {
    pub fn new(ts_ns: i64, line: String) -> Record {
        Record {
            ts_ns,
            line,
            ..Record::default()
        }
    }

    /// A field, else a label set by a stage, else structured metadata,
    /// else a source label.
    pub fn lookup<'a>(&'a self, base: &'a Labels, name: &str) -> Option<&'a str> {
        find(&self.fields, name)
            .or_else(|| find(&self.labels, name))
            .or_else(|| find(&self.metadata, name))
            .or_else(|| base.get(name))
    }

    /// Removes a field and gives it back.
    pub fn take_field(&mut self, name: &str) -> Option<(String, String)> {
        let at = self.fields.iter().rposition(|(n, _)| n == name)?;
        self.types.retain(|(n, _)| n != name);
        Some(self.fields.remove(at))
    }

    /// The value a stage with `source` reads: that field (or label), or the
    /// line when `source` is None.
    pub fn source<'a>(&'a self, base: &'a Labels, source: Option<&str>) -> Option<&'a str> {
        match source {
            None => Some(&self.line),
            Some(name) => self.lookup(base, name),
        }
    }

    pub fn set_field(&mut self, name: &str, value: String) {
        set(&mut self.fields, name, value);
    }

    /// Sets a field of a given type (see [`Record::types`]).
    pub fn set_typed_field(&mut self, name: &str, value: String, kind: FieldType) {
        self.set_field(name, value);
        match self.types.iter_mut().find(|(n, _)| n == name) {
            Some(entry) => entry.1 = kind,
            None if kind != FieldType::String => self.types.push((name.to_string(), kind)),
            None => {}
        }
    }

    /// The fields as a JSON object: typed ones as numbers and booleans.
    pub fn fields_json(&self) -> serde_json::Map<String, serde_json::Value> {
        self.fields
            .iter()
            .map(|(name, value)| {
                let kind = self
                    .types
                    .iter()
                    .find(|(n, _)| n == name)
                    .map_or(FieldType::String, |(_, kind)| *kind);
                (name.clone(), kind.to_json(value))
            })
            .collect()
    }

    pub fn set_label(&mut self, name: &str, value: String) {
        set(&mut self.labels, name, value);
    }

    pub fn set_metadata(&mut self, name: &str, value: String) {
        set(&mut self.metadata, name, value);
    }

    /// The stream labels: the source's, with the stages' on top.
    pub fn stream<'a>(&self, base: &'a Labels) -> Cow<'a, Labels> {
        if self.labels.is_empty() {
            return Cow::Borrowed(base);
        }
        let mut pairs: Vec<(String, String)> = base
            .pairs()
            .iter()
            .filter(|(name, _)| find(&self.labels, name).is_none())
            .cloned()
            .collect();
        pairs.extend(
            self.labels
                .iter()
                .filter(|(_, value)| !value.is_empty())
                .cloned(),
        );
        Cow::Owned(Labels::from_pairs(pairs))
    }
}

fn find<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .rev()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

/// Sets a pair, replacing one of the same name.
fn put(pairs: &mut Vec<(String, String)>, pair: (String, String)) {
    match pairs.iter_mut().find(|(n, _)| *n == pair.0) {
        Some(existing) => existing.1 = pair.1,
        None => pairs.push(pair),
    }
}

fn set(pairs: &mut Vec<(String, String)>, name: &str, value: String) {
    match pairs.iter_mut().find(|(n, _)| n == name) {
        Some(pair) => pair.1 = value,
        None => pairs.push((name.to_string(), value)),
    }
}

/// What a stage decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Keep,
    /// Drop the record; the reason labels `strata_agent_dropped_lines_total`.
    Drop(Cow<'static, str>),
}

/// Which fields a stage reads, so that the parsers before it extract only
/// those.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reads {
    /// These names.
    Names(Vec<String>),
    /// Any field (a template, an output writing whole records).
    All,
}

impl Reads {
    pub fn none() -> Reads {
        Reads::Names(Vec::new())
    }

    fn of(names: impl IntoIterator<Item = impl Into<String>>) -> Reads {
        Reads::Names(names.into_iter().map(Into::into).collect())
    }
}

/// A compiled stage.
pub trait Stage: Send + std::fmt::Debug {
    /// Runs on one record; `base` is the source's labels with `filename`.
    fn process(&mut self, record: &mut Record, base: &Labels) -> Verdict;
    /// The fields it reads.
    fn reads(&self) -> Reads;
    /// Tells the stage which fields the stages after it read (parsers use
    /// this to extract only those). Called once, after compiling.
    fn set_wanted(&mut self, _wanted: Option<&HashSet<String>>) {}
}

/// A source's compiled stages.
#[derive(Debug, Default)]
pub struct Stages {
    stages: Vec<Box<dyn Stage>>,
}

impl Stages {
    pub fn is_empty(&self) -> bool {
        self.stages.is_empty()
    }

    /// Runs the record through every stage, in order.
    pub fn process(&mut self, record: &mut Record, base: &Labels) -> Verdict {
        run(&mut self.stages, record, base)
    }

    /// The fields any stage reads.
    pub fn reads(&self) -> Reads {
        let mut names = Vec::new();
        for stage in &self.stages {
            match stage.reads() {
                Reads::All => return Reads::All,
                Reads::Names(more) => names.extend(more),
            }
        }
        Reads::Names(names)
    }

    /// Tells each stage what the stages after it (and `after`, what reads
    /// the records once the stages are done) read.
    pub fn set_wanted(&mut self, after: Reads) {
        propagate_wanted(&mut self.stages, after);
    }
}

/// Tells each of `stages` what the stages after it, then `after`, read.
fn propagate_wanted(stages: &mut [Box<dyn Stage>], after: Reads) {
    let mut wanted = after;
    for stage in stages.iter_mut().rev() {
        let set: Option<HashSet<String>> = match &wanted {
            Reads::All => None,
            Reads::Names(names) => Some(names.iter().cloned().collect()),
        };
        stage.set_wanted(set.as_ref());
        wanted = match (wanted, stage.reads()) {
            (Reads::Names(mut names), Reads::Names(more)) => {
                names.extend(more);
                Reads::Names(names)
            }
            _ => Reads::All,
        };
    }
}

fn run(stages: &mut [Box<dyn Stage>], record: &mut Record, base: &Labels) -> Verdict {
    for stage in stages {
        if let verdict @ Verdict::Drop(_) = stage.process(record, base) {
            return verdict;
        }
    }
    Verdict::Keep
}

/// One stage as written in the YAML: a map with one key, the stage's kind.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum StageConfig {
    /// LogQL stages, run by the server's code: `'| json | level!="debug"'`.
    Logql(String),
    /// `json: {}` (every field) or `json: {expressions: {name: path}}`.
    Json(logql::JsonConfig),
    /// `logfmt: {}` or `logfmt: {mapping: {name: key}}`.
    Logfmt(logql::LogfmtConfig),
    /// `pattern: {pattern: '<ip> - <_> [<ts>] "<method> <path> <_>"'}`.
    Pattern(logql::PatternConfig),
    /// `line_format: '{{.level}} {{.msg}}'`: rewrites the line.
    LineFormat(String),
    /// `template: {source: name, template: '{{ .name | ToUpper }}'}`: sets a field.
    Template(logql::TemplateConfig),
    /// `regex: {expression: '(?P<name>...)', source: field, types: {name: int}}`.
    Regex(extract::RegexConfig),
    /// `grok: {match: '%{NUMBER:epoch:int}', patterns: {NAME: regex}}`.
    Grok(extract::GrokConfig),
    /// `timestamp: {source: ts, format: RFC3339}`.
    Timestamp(timestamp::TimestampConfig),
    /// `labels: {level: , kind: source_field}`: fields that become stream labels.
    Labels(BTreeMap<String, Option<String>>),
    /// `static_labels: {cluster: gpu-east}`.
    StaticLabels(BTreeMap<String, String>),
    /// `structured_metadata: {trace_id: }`: fields sent as structured metadata.
    #[serde(alias = "metadata")]
    StructuredMetadata(BTreeMap<String, Option<String>>),
    /// `output: {source: msg}`: the line becomes that field's value.
    Output(labels::OutputConfig),
    /// `match: {selector: '{app="x"} |= "y"', stages: [...]}` or `action: drop`.
    Match(matcher::MatchConfig),
    /// `drop: {source: level, value: debug}`, `expression`, `older_than`, `longer_than`.
    Drop(drop::DropConfig),
    /// `sample: {rates: {error: 1, info: 0.1}}`.
    Sample(sample::SampleConfig),
    /// `dedupe: {window: 10s}`.
    Dedupe(dedupe::DedupeConfig),
    /// `limit: {rate: 100, burst: 200, drop: true}`.
    Limit(limit::LimitConfig),
    /// `redact: {builtin: [email, ip, bearer, api_key, credit_card]}`.
    Redact(redact::RedactConfig),
    /// `metrics: {name: {type: counter|gauge|histogram, source: field, config: {...}}}`.
    Metrics(BTreeMap<String, metrics::MetricConfig>),
    /// `route: [archive, es]`: the outputs this record goes to.
    Route(Vec<String>),
}

/// What compiling stages needs from the rest of the config.
pub struct CompileContext<'a> {
    /// Output names, by index.
    pub outputs: &'a [String],
    /// Where metrics stages register their series.
    pub metrics: &'a Arc<MetricRegistry>,
    /// Set when the agent is stopping (a `limit` stage stops waiting).
    pub stop: Arc<std::sync::atomic::AtomicBool>,
}

/// Compiles the stages of one source; errors name the stage (`stages[2].regex: ...`).
pub fn compile(configs: &[StageConfig], context: &CompileContext<'_>) -> anyhow::Result<Stages> {
    compile_list(configs, context, "stages").map(|stages| Stages { stages })
}

fn compile_list(
    configs: &[StageConfig],
    context: &CompileContext<'_>,
    path: &str,
) -> anyhow::Result<Vec<Box<dyn Stage>>> {
    let mut stages = Vec::with_capacity(configs.len());
    for (index, config) in configs.iter().enumerate() {
        let here = format!("{path}[{index}].{}", kind(config));
        let stage = compile_one(config, context, &here).map_err(|err| {
            // A nested stage's error already names its whole path.
            let text = err.to_string();
            if text.starts_with(&here) {
                err
            } else {
                anyhow::anyhow!("{here}: {text}")
            }
        })?;
        stages.push(stage);
    }
    Ok(stages)
}

fn compile_one(
    config: &StageConfig,
    context: &CompileContext<'_>,
    path: &str,
) -> anyhow::Result<Box<dyn Stage>> {
    Ok(match config {
        StageConfig::Logql(text) => Box::new(logql::LogqlStage::from_text(text, None)?),
        StageConfig::Json(config) => Box::new(logql::LogqlStage::json(config)?),
        StageConfig::Logfmt(config) => Box::new(logql::LogqlStage::logfmt(config)?),
        StageConfig::Pattern(config) => Box::new(logql::LogqlStage::pattern(config)?),
        StageConfig::LineFormat(template) => Box::new(logql::LogqlStage::line_format(template)?),
        StageConfig::Template(config) => Box::new(logql::LogqlStage::template(config)?),
        StageConfig::Regex(config) => Box::new(extract::RegexStage::new(config)?),
        StageConfig::Grok(config) => Box::new(extract::GrokStage::new(config)?),
        StageConfig::Timestamp(config) => Box::new(timestamp::TimestampStage::new(config)?),
        StageConfig::Labels(map) => Box::new(labels::LabelsStage::labels(map)?),
        StageConfig::StaticLabels(map) => Box::new(labels::StaticLabelsStage::new(map)?),
        StageConfig::StructuredMetadata(map) => Box::new(labels::LabelsStage::metadata(map)?),
        StageConfig::Output(config) => Box::new(labels::OutputStage::new(config)),
        StageConfig::Match(config) => {
            let stages = compile_list(&config.stages, context, &format!("{path}.stages"))?;
            Box::new(matcher::MatchStage::new(config, stages)?)
        }
        StageConfig::Drop(config) => Box::new(drop::DropStage::new(config)?),
        StageConfig::Sample(config) => Box::new(sample::SampleStage::new(config)?),
        StageConfig::Dedupe(config) => Box::new(dedupe::DedupeStage::new(config)?),
        StageConfig::Limit(config) => {
            Box::new(limit::LimitStage::new(config, context.stop.clone())?)
        }
        StageConfig::Redact(config) => Box::new(redact::RedactStage::new(config)?),
        StageConfig::Metrics(map) => Box::new(metrics::MetricsStage::new(map, context.metrics)?),
        StageConfig::Route(names) => Box::new(labels::RouteStage::new(names, context.outputs)?),
    })
}

fn kind(config: &StageConfig) -> &'static str {
    match config {
        StageConfig::Logql(_) => "logql",
        StageConfig::Json(_) => "json",
        StageConfig::Logfmt(_) => "logfmt",
        StageConfig::Pattern(_) => "pattern",
        StageConfig::LineFormat(_) => "line_format",
        StageConfig::Template(_) => "template",
        StageConfig::Regex(_) => "regex",
        StageConfig::Grok(_) => "grok",
        StageConfig::Timestamp(_) => "timestamp",
        StageConfig::Labels(_) => "labels",
        StageConfig::StaticLabels(_) => "static_labels",
        StageConfig::StructuredMetadata(_) => "structured_metadata",
        StageConfig::Output(_) => "output",
        StageConfig::Match(_) => "match",
        StageConfig::Drop(_) => "drop",
        StageConfig::Sample(_) => "sample",
        StageConfig::Dedupe(_) => "dedupe",
        StageConfig::Limit(_) => "limit",
        StageConfig::Redact(_) => "redact",
        StageConfig::Metrics(_) => "metrics",
        StageConfig::Route(_) => "route",
    }
}

/// A positive duration such as `250ms`, `10s` or `24h`.
pub(crate) fn parse_duration(text: &str) -> anyhow::Result<std::time::Duration> {
    match strata_logql::units::parse_duration(text) {
        Some(nanos) if nanos > 0 => Ok(std::time::Duration::from_nanos(nanos as u64)),
        _ => anyhow::bail!("{text:?} is not a duration such as 250ms, 10s or 24h"),
    }
}

/// A field's type, for the regex and grok stages' `types`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldType {
    String,
    Int,
    Float,
    Bool,
}

impl FieldType {
    pub(crate) fn parse(name: &str) -> anyhow::Result<FieldType> {
        Ok(match name.to_ascii_lowercase().as_str() {
            "string" | "str" => FieldType::String,
            "int" | "integer" | "long" => FieldType::Int,
            "float" | "double" | "number" => FieldType::Float,
            "bool" | "boolean" => FieldType::Bool,
            other => anyhow::bail!("{other:?} is not a type (string, int, float or bool)"),
        })
    }

    /// The value as JSON: a number, a boolean, or a string.
    pub fn to_json(self, value: &str) -> serde_json::Value {
        let number = match self {
            FieldType::String => None,
            FieldType::Int => value.parse::<i64>().ok().map(serde_json::Value::from),
            FieldType::Float => value.parse::<f64>().ok().map(serde_json::Value::from),
            FieldType::Bool => value.parse::<bool>().ok().map(serde_json::Value::from),
        };
        number.unwrap_or_else(|| serde_json::Value::String(value.to_string()))
    }

    /// The value in its normal text form, or None when it is not of this type.
    pub(crate) fn convert(self, value: &str) -> Option<String> {
        let text = value.trim();
        match self {
            FieldType::String => Some(value.to_string()),
            FieldType::Int => text
                .parse::<i64>()
                .ok()
                .or_else(|| {
                    // "12.0" is an integer; "12.5" is not.
                    let float = text.parse::<f64>().ok()?;
                    (float.fract() == 0.0 && float.abs() < 9.0e15).then_some(float as i64)
                })
                .map(|n| n.to_string()),
            FieldType::Float => text
                .parse::<f64>()
                .ok()
                .filter(|f| f.is_finite())
                .map(|_| text.to_string()),
            FieldType::Bool => match text.to_ascii_lowercase().as_str() {
                "true" | "yes" | "1" => Some("true".to_string()),
                "false" | "no" | "0" => Some("false".to_string()),
                _ => None,
            },
        }
    }
}

#[cfg(test)]
mod tests;
