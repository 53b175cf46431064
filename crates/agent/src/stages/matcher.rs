//! `match`: runs sub-stages, or drops, only for the records a LogQL selector
//! picks (Promtail's match stage; Fluentd's `<filter tag>` and Logstash's
//! `if [field] == ...` conditionals):
//!
//! ```yaml
//! - match:
//!     selector: '{job_type="training"} |= "Epoch"'
//!     stages:
//!       - regex: {expression: 'Epoch: (?P<epoch>\d+)'}
//! - match: {selector: '{app="nginx"} |~ "GET /health"', action: drop}
//! ```
//!
//! The matchers see the stream labels and the fields extracted so far (a
//! field shadows a label of the same name); a selector may end with line
//! filters (`|=`, `!=`, `|~`, `!~`), which test the line.

use serde::Deserialize;
use strata_model::{LabelMatcher, Labels};

use super::{Reads, Record, Stage, StageConfig, Verdict};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MatchConfig {
    pub selector: String,
    /// Stages run on the records the selector picks (not with `action: drop`).
    #[serde(default)]
    pub stages: Vec<StageConfig>,
    /// `keep` (default: run the stages) or `drop` (drop the picked records).
    #[serde(default)]
    pub action: Option<String>,
    /// The reason dropped records are counted under (default `match`).
    #[serde(default)]
    pub drop_counter_reason: Option<String>,
}

#[derive(Debug)]
pub struct MatchStage {
    matchers: Vec<LabelMatcher>,
    line_filters: Option<strata_query::Pipeline>,
    stages: Vec<Box<dyn Stage>>,
    drop: Option<String>,
}

impl MatchStage {
    pub fn new(config: &MatchConfig, stages: Vec<Box<dyn Stage>>) -> anyhow::Result<MatchStage> {
        let expr = strata_logql::parse_log_expr(&config.selector)
            .map_err(|err| anyhow::anyhow!("selector: {err}"))?;
        if let Some(stage) = expr
            .stages
            .iter()
            .find(|stage| !matches!(stage, strata_logql::Stage::LineFilter(_)))
        {
            anyhow::bail!(
                "selector: only line filters may follow the selector, not {}",
                strata_logql::Stage::to_string(stage)
            );
        }
        let line_filters = if expr.stages.is_empty() {
            None
        } else {
            Some(strata_query::Pipeline::new(&expr.stages)?)
        };
        let drop = match config.action.as_deref() {
            None | Some("keep") => None,
            Some("drop") => Some(
                config
                    .drop_counter_reason
                    .clone()
                    .unwrap_or_else(|| "match".to_string()),
            ),
            Some(other) => anyhow::bail!("action: {other:?} is not keep or drop"),
        };
        if drop.is_some() && !config.stages.is_empty() {
            anyhow::bail!("a match with action: drop takes no stages");
        }
        if drop.is_none() && config.stages.is_empty() {
            anyhow::bail!("stages: a match needs stages to run (or action: drop)");
        }
        Ok(MatchStage {
            matchers: expr.matchers,
            line_filters,
            stages,
            drop,
        })
    }

    fn picks(&self, record: &Record, base: &Labels) -> bool {
        self.matchers
            .iter()
            .all(|matcher| matcher.matches(record.lookup(base, &matcher.name)))
            && self
                .line_filters
                .as_ref()
                .is_none_or(|filters| filters.matches_line(&record.line))
    }
}

impl Stage for MatchStage {
    fn process(&mut self, record: &mut Record, base: &Labels) -> Verdict {
        if !self.picks(record, base) {
            return Verdict::Keep;
        }
        if let Some(reason) = &self.drop {
            return Verdict::Drop(reason.clone().into());
        }
        super::run(&mut self.stages, record, base)
    }

    fn reads(&self) -> Reads {
        let mut names: Vec<String> = self.matchers.iter().map(|m| m.name.clone()).collect();
        for stage in &self.stages {
            match stage.reads() {
                Reads::All => return Reads::All,
                Reads::Names(more) => names.extend(more),
            }
        }
        Reads::Names(names)
    }

    fn set_wanted(&mut self, wanted: Option<&std::collections::HashSet<String>>) {
        // The sub-stages feed the same later stages.
        let after = match wanted {
            None => Reads::All,
            Some(names) => Reads::of(names.iter().cloned()),
        };
        super::propagate_wanted(&mut self.stages, after);
    }
}
