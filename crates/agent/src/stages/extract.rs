//! `regex` and `grok`: named captures of the line (or of a field) become
//! fields, with optional types.
//!
//! ```yaml
//! - regex:                       # Promtail's and Fluentd's regexp parser
//!     expression: '^Epoch: (?<epoch>\d+), Loss: (?<loss>[\d.]+)'
//!     types: {epoch: int, loss: float}
//! - grok:                        # Logstash's grok filter
//!     match: 'Epoch: %{NUMBER:epoch:int}, Loss: %{NUMBER:loss:float}'
//! ```
//!
//! The regex is searched (not anchored: write `^` to anchor), in the Rust
//! regex syntax, which takes both `(?P<name>...)` (Go, Python) and
//! `(?<name>...)` (Ruby, Oniguruma). A line that does not match is left
//! unchanged. A typed capture whose text is not of its type (`int`, `float`,
//! `bool`) is not set, and `__error__="TypeConversionErr"` is, so a later
//! `drop` can act on it. Grok's `match` may list several patterns: the
//! first that matches is used, as Logstash's `break_on_match` does.

use std::collections::BTreeMap;

use serde::Deserialize;
use strata_model::Labels;

use super::{FieldType, Reads, Record, Stage, Verdict};
use crate::grok::Grok;

/// Most compiled size of one regex (the `regex` crate's own default is 10 MiB).
const REGEX_SIZE_LIMIT: usize = 8 << 20;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegexConfig {
    pub expression: String,
    /// The field to match instead of the line.
    #[serde(default)]
    pub source: Option<String>,
    /// Capture name -> `int`, `float`, `bool` or `string`.
    #[serde(default)]
    pub types: BTreeMap<String, String>,
}

#[derive(Debug)]
pub struct RegexStage {
    regex: regex::Regex,
    /// (group index, field name, type).
    groups: Vec<(usize, String, FieldType)>,
    source: Option<String>,
}

impl RegexStage {
    pub fn new(config: &RegexConfig) -> anyhow::Result<RegexStage> {
        let regex = regex::RegexBuilder::new(&config.expression)
            .size_limit(REGEX_SIZE_LIMIT)
            .build()
            .map_err(|err| {
                anyhow::anyhow!(
                    "invalid regex {:?}: {}",
                    config.expression,
                    strata_model::regex_error_reason(&err)
                )
            })?;
        let mut groups = Vec::new();
        for (index, name) in regex.capture_names().enumerate() {
            let Some(name) = name else { continue };
            let kind = match config.types.get(name) {
                Some(kind) => {
                    FieldType::parse(kind).map_err(|err| anyhow::anyhow!("types.{name}: {err}"))?
                }
                None => FieldType::String,
            };
            groups.push((index, name.to_string(), kind));
        }
        if groups.is_empty() {
            anyhow::bail!(
                "{:?} has no named capture such as (?P<name>...)",
                config.expression
            );
        }
        for name in config.types.keys() {
            if !groups.iter().any(|(_, group, _)| group == name) {
                anyhow::bail!("types.{name}: the expression has no capture named {name:?}");
            }
        }
        Ok(RegexStage {
            regex,
            groups,
            source: config.source.clone(),
        })
    }
}

impl Stage for RegexStage {
    fn process(&mut self, record: &mut Record, base: &Labels) -> Verdict {
        let Some(text) = record.source(base, self.source.as_deref()) else {
            return Verdict::Keep;
        };
        let Some(captures) = self.regex.captures(text) else {
            return Verdict::Keep;
        };
        let mut found = Vec::with_capacity(self.groups.len());
        let mut failed = false;
        for (index, name, kind) in &self.groups {
            let Some(value) = captures.get(*index) else {
                continue;
            };
            match kind.convert(value.as_str()) {
                Some(value) => found.push((name.as_str(), value, *kind)),
                None => failed = true,
            }
        }
        drop(captures);
        for (name, value, kind) in found {
            record.set_typed_field(name, value, kind);
        }
        if failed {
            record.set_field("__error__", "TypeConversionErr".to_string());
        }
        Verdict::Keep
    }

    fn reads(&self) -> Reads {
        Reads::of(self.source.clone())
    }
}

/// A captured field: name, value, type.
type TypedField = (String, String, FieldType);

/// One pattern or several.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum Patterns {
    One(String),
    Many(Vec<String>),
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GrokConfig {
    /// A grok pattern, or several tried in order.
    #[serde(rename = "match")]
    pub patterns: Patterns,
    /// The field to match instead of the line.
    #[serde(default)]
    pub source: Option<String>,
    /// Extra pattern definitions: `NAME: 'regex or %{OTHER}'`.
    #[serde(default)]
    pub pattern_definitions: BTreeMap<String, String>,
}

#[derive(Debug)]
pub struct GrokStage {
    groks: Vec<Grok>,
    source: Option<String>,
}

impl GrokStage {
    pub fn new(config: &GrokConfig) -> anyhow::Result<GrokStage> {
        let custom: Vec<(String, String)> = config
            .pattern_definitions
            .iter()
            .map(|(name, text)| (name.clone(), text.clone()))
            .collect();
        let patterns = match &config.patterns {
            Patterns::One(pattern) => vec![pattern.clone()],
            Patterns::Many(patterns) => patterns.clone(),
        };
        if patterns.is_empty() {
            anyhow::bail!("match: at least one pattern is needed");
        }
        let groks = patterns
            .iter()
            .map(|pattern| Grok::compile(pattern, &custom))
            .collect::<anyhow::Result<Vec<Grok>>>()?;
        Ok(GrokStage {
            groks,
            source: config.source.clone(),
        })
    }
}

impl Stage for GrokStage {
    fn process(&mut self, record: &mut Record, base: &Labels) -> Verdict {
        let Some(text) = record.source(base, self.source.as_deref()) else {
            return Verdict::Keep;
        };
        let mut found: Option<Result<Vec<TypedField>, String>> = None;
        for grok in &self.groks {
            if let Some(result) = grok.captures(text) {
                found = Some(result.map(|fields| {
                    fields
                        .into_iter()
                        .map(|(name, value)| {
                            let kind = grok
                                .fields()
                                .iter()
                                .find(|field| field.name == name)
                                .map_or(FieldType::String, |field| match field.kind {
                                    crate::grok::FieldType::String => FieldType::String,
                                    crate::grok::FieldType::Int => FieldType::Int,
                                    crate::grok::FieldType::Float => FieldType::Float,
                                });
                            (name.to_string(), value, kind)
                        })
                        .collect()
                }));
                break;
            }
        }
        match found {
            None => {}
            Some(Ok(fields)) => {
                for (name, value, kind) in fields {
                    record.set_typed_field(&name, value, kind);
                }
            }
            Some(Err(_)) => record.set_field("__error__", "TypeConversionErr".to_string()),
        }
        Verdict::Keep
    }

    fn reads(&self) -> Reads {
        Reads::of(self.source.clone())
    }
}
