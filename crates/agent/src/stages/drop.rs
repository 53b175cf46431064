//! `drop`: drops records by content, level, age or size (Promtail's drop
//! stage, the lecture's "exclude" filters). Every condition given must hold:
//!
//! ```yaml
//! - drop: {expression: '^DEBUG:'}                 # the line matches
//! - drop: {source: path, value: /healthz}         # a field equals
//! - drop: {levels: [debug, trace]}                # field `level` (or `source`), any case
//! - drop: {older_than: 24h}                       # the timestamp is older
//! - drop: {longer_than: 8KiB}                     # the line is longer
//! ```
//!
//! Dropped records are counted in `strata_agent_dropped_lines_total` under
//! `drop_counter_reason` (default `drop_stage`).

use serde::Deserialize;
use strata_model::Labels;

use super::{Reads, Record, Stage, Verdict};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DropConfig {
    /// The field tested by `expression`, `value` and `levels` (default: the
    /// line; `level` for `levels`).
    #[serde(default)]
    pub source: Option<String>,
    /// A regex the value must contain a match of.
    #[serde(default)]
    pub expression: Option<String>,
    /// A value it must equal.
    #[serde(default)]
    pub value: Option<String>,
    /// Levels (case-insensitive) to drop.
    #[serde(default)]
    pub levels: Vec<String>,
    /// A duration: records with older timestamps are dropped.
    #[serde(default)]
    pub older_than: Option<String>,
    /// A size (`8KiB`, `1000`): longer lines are dropped.
    #[serde(default)]
    pub longer_than: Option<String>,
    #[serde(default)]
    pub drop_counter_reason: Option<String>,
}

#[derive(Debug)]
pub struct DropStage {
    source: Option<String>,
    expression: Option<regex::Regex>,
    value: Option<String>,
    levels: Vec<String>,
    older_than_ns: Option<i64>,
    longer_than: Option<usize>,
    reason: String,
}

impl DropStage {
    pub fn new(config: &DropConfig) -> anyhow::Result<DropStage> {
        let expression = match &config.expression {
            None => None,
            Some(text) => Some(regex::Regex::new(text).map_err(|err| {
                anyhow::anyhow!(
                    "expression: invalid regex {text:?}: {}",
                    strata_model::regex_error_reason(&err)
                )
            })?),
        };
        let older_than_ns = match &config.older_than {
            None => None,
            Some(text) => Some(
                super::parse_duration(text)
                    .map_err(|err| anyhow::anyhow!("older_than: {err}"))?
                    .as_nanos()
                    .min(i64::MAX as u128) as i64,
            ),
        };
        let longer_than = match &config.longer_than {
            None => None,
            Some(text) => Some(
                strata_logql::units::parse_bytes(text)
                    .map(|bytes| bytes.min(usize::MAX as u64) as usize)
                    .ok_or_else(|| {
                        anyhow::anyhow!("longer_than: {text:?} is not a size such as 8KiB")
                    })?,
            ),
        };
        let source = match (&config.source, config.levels.is_empty()) {
            (None, false) => Some("level".to_string()),
            (source, _) => source.clone(),
        };
        if expression.is_none()
            && config.value.is_none()
            && config.levels.is_empty()
            && older_than_ns.is_none()
            && longer_than.is_none()
            && config.source.is_none()
        {
            anyhow::bail!(
                "give at least one of expression, value, levels, older_than, longer_than or source"
            );
        }
        Ok(DropStage {
            source,
            expression,
            value: config.value.clone(),
            levels: config.levels.iter().map(|l| l.to_lowercase()).collect(),
            older_than_ns,
            longer_than,
            reason: config
                .drop_counter_reason
                .clone()
                .unwrap_or_else(|| "drop_stage".to_string()),
        })
    }

    fn applies(&self, record: &Record, base: &Labels) -> bool {
        if let Some(limit) = self.longer_than
            && record.line.len() <= limit
        {
            return false;
        }
        if let Some(age) = self.older_than_ns
            && record.ts_ns >= crate::now_ns().saturating_sub(age)
        {
            return false;
        }
        let tests_value =
            self.expression.is_some() || self.value.is_some() || !self.levels.is_empty();
        if !tests_value && self.source.is_none() {
            return true;
        }
        // With only `source`: the field is present.
        let Some(value) = record.source(base, self.source.as_deref()) else {
            return false;
        };
        if let Some(expected) = &self.value
            && value != expected
        {
            return false;
        }
        if let Some(regex) = &self.expression
            && !regex.is_match(value)
        {
            return false;
        }
        if !self.levels.is_empty() && !self.levels.iter().any(|l| l.eq_ignore_ascii_case(value)) {
            return false;
        }
        true
    }
}

impl Stage for DropStage {
    fn process(&mut self, record: &mut Record, base: &Labels) -> Verdict {
        if self.applies(record, base) {
            Verdict::Drop(self.reason.clone().into())
        } else {
            Verdict::Keep
        }
    }

    fn reads(&self) -> Reads {
        Reads::of(self.source.clone())
    }
}
