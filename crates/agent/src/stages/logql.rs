//! Stages whose meaning is the server's: `logql`, `json`, `logfmt`,
//! `pattern`, `line_format` and `template` compile to LogQL pipeline stages
//! and run on the server's own code (`strata_query::Pipeline`), so a line is
//! parsed the same way in the agent and in a query.
//!
//! The stage sees the stream labels as labels and the fields extracted so
//! far as structured metadata; what it extracts or sets becomes fields
//! (`__error__` included, so `drop: {source: __error__, expression: '.+'}`
//! drops lines that failed to parse). A filter in the stage drops the record
//! (reason `filtered`). With `source`, the stage parses that field instead
//! of the line and leaves the line as it was.

use std::collections::{BTreeMap, HashSet};

use serde::Deserialize;
use strata_model::Labels;

use super::{Reads, Record, Stage, Verdict};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JsonConfig {
    /// Field name -> JSON expression (`level`, `data.user`, `items[0]`);
    /// empty: every top-level field (nested objects flattened with `_`).
    #[serde(default)]
    pub expressions: BTreeMap<String, Option<String>>,
    /// The field to parse instead of the line.
    #[serde(default)]
    pub source: Option<String>,
    /// Drop lines that are not JSON objects (reason `malformed`).
    #[serde(default)]
    pub drop_malformed: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogfmtConfig {
    /// Field name -> logfmt key; empty: every key.
    #[serde(default)]
    pub mapping: BTreeMap<String, Option<String>>,
    #[serde(default)]
    pub source: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PatternConfig {
    /// LogQL pattern: `<ip> - <_> [<ts>] "<method> <path> <_>"`.
    pub pattern: String,
    #[serde(default)]
    pub source: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TemplateConfig {
    /// The field the template sets.
    pub source: String,
    /// A Go text/template over the fields and labels (`{{ .level | ToUpper }}`).
    pub template: String,
}

#[derive(Debug)]
pub struct LogqlStage {
    /// The parsed stages, kept to compile again once the wanted fields are known.
    stages: Vec<strata_logql::Stage>,
    pipeline: strata_query::Pipeline,
    /// The field parsed instead of the line.
    source: Option<String>,
    drop_malformed: bool,
    /// Fields the stages read themselves.
    reads: Reads,
}

/// Go string literal quoting for LogQL text.
fn quote(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn params(map: &BTreeMap<String, Option<String>>) -> anyhow::Result<String> {
    let mut parts = Vec::new();
    for (name, expression) in map {
        if !strata_model::is_valid_label_name(name) {
            anyhow::bail!("{name:?} is not a valid field name");
        }
        parts.push(format!(
            "{name}={}",
            quote(expression.as_deref().unwrap_or(name))
        ));
    }
    Ok(parts.join(", "))
}

impl LogqlStage {
    /// `| json | level!="debug"`: LogQL stages as a query writes them.
    pub fn from_text(text: &str, source: Option<String>) -> anyhow::Result<LogqlStage> {
        let text = text.trim();
        if !text.starts_with('|') {
            anyhow::bail!("{text:?} does not start with a stage such as `| json`");
        }
        let expr = strata_logql::parse_log_expr(&format!("{{source=\"agent\"}} {text}"))
            .map_err(|err| anyhow::anyhow!("{err}"))?;
        let pipeline = strata_query::Pipeline::new(&expr.stages)?;
        let reads = match strata_query::metric::labels_read_by(&expr.stages, Vec::new()) {
            Some(names) => Reads::of(names),
            None => Reads::All,
        };
        Ok(LogqlStage {
            stages: expr.stages,
            pipeline,
            source,
            drop_malformed: false,
            reads,
        })
    }

    pub fn json(config: &JsonConfig) -> anyhow::Result<LogqlStage> {
        let text = if config.expressions.is_empty() {
            "| json".to_string()
        } else {
            format!("| json {}", params(&config.expressions)?)
        };
        let mut stage = LogqlStage::from_text(&text, config.source.clone())?;
        stage.drop_malformed = config.drop_malformed;
        Ok(stage)
    }

    pub fn logfmt(config: &LogfmtConfig) -> anyhow::Result<LogqlStage> {
        let text = if config.mapping.is_empty() {
            "| logfmt".to_string()
        } else {
            format!("| logfmt {}", params(&config.mapping)?)
        };
        LogqlStage::from_text(&text, config.source.clone())
    }

    pub fn pattern(config: &PatternConfig) -> anyhow::Result<LogqlStage> {
        LogqlStage::from_text(
            &format!("| pattern {}", quote(&config.pattern)),
            config.source.clone(),
        )
    }

    pub fn line_format(template: &str) -> anyhow::Result<LogqlStage> {
        LogqlStage::from_text(&format!("| line_format {}", quote(template)), None)
    }

    pub fn template(config: &TemplateConfig) -> anyhow::Result<LogqlStage> {
        if !strata_model::is_valid_label_name(&config.source) {
            anyhow::bail!("{:?} is not a valid field name", config.source);
        }
        LogqlStage::from_text(
            &format!(
                "| label_format {}={}",
                config.source,
                quote(&config.template)
            ),
            None,
        )
    }
}

impl Stage for LogqlStage {
    fn process(&mut self, record: &mut Record, base: &Labels) -> Verdict {
        let stream = record.stream(base);
        let metadata: Vec<(&str, &str)> = record
            .fields
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_str()))
            .collect();
        let line = match &self.source {
            None => record.line.as_str(),
            Some(name) => match record.lookup(base, name) {
                Some(value) => value,
                // Nothing to parse: the record goes on unchanged.
                None => return Verdict::Keep,
            },
        };
        let Some(extracted) = self
            .pipeline
            .extract(record.ts_ns, line, &stream, &metadata)
        else {
            return Verdict::Drop("filtered".into());
        };
        if self.drop_malformed && extracted.fields.iter().any(|(name, _)| name == "__error__") {
            return Verdict::Drop("malformed".into());
        }
        drop(metadata);
        drop(stream);
        if self.source.is_none()
            && let Some(line) = extracted.line
        {
            record.line = line;
        }
        record.fields = extracted.fields;
        Verdict::Keep
    }

    fn reads(&self) -> Reads {
        let mut reads = self.reads.clone();
        if let (Reads::Names(names), Some(source)) = (&mut reads, &self.source) {
            names.push(source.clone());
        }
        reads
    }

    fn set_wanted(&mut self, wanted: Option<&HashSet<String>>) {
        let wanted = wanted.and_then(|names| {
            strata_query::metric::labels_read_by(&self.stages, names.iter().cloned())
        });
        if let Ok(pipeline) = strata_query::Pipeline::with_wanted_labels(&self.stages, wanted) {
            self.pipeline = pipeline;
        }
    }
}
