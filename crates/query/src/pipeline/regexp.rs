//! `| regexp "(?P<name>re)"`: each named capture of the first match becomes a
//! label; a line that does not match gets no labels.

use regex::Regex;

use super::PipelineError;
use super::entry::{EntryState, StageProcessor};

#[derive(Debug)]
pub(crate) struct RegexpStage {
    regex: Regex,
    /// (capture index, label name) for the named captures.
    names: Vec<(usize, String)>,
}

impl RegexpStage {
    pub fn new(pattern: &str) -> Result<RegexpStage, PipelineError> {
        let regex = Regex::new(pattern).map_err(|err| PipelineError::regex(pattern, &err))?;
        let mut names = Vec::new();
        for (index, name) in regex.capture_names().enumerate() {
            if let Some(name) = name {
                if !strata_model::is_valid_label_name(name) {
                    return Err(PipelineError::Regex {
                        pattern: pattern.to_string(),
                        reason: format!("invalid label name {name:?}"),
                    });
                }
                names.push((index, name.to_string()));
            }
        }
        if names.is_empty() {
            return Err(PipelineError::Regex {
                pattern: pattern.to_string(),
                reason: "at least one named capture is required".to_string(),
            });
        }
        Ok(RegexpStage { regex, names })
    }
}

impl StageProcessor for RegexpStage {
    fn process(&self, entry: &mut EntryState<'_>) -> bool {
        let Some(captures) = self.regex.captures(&entry.line) else {
            return true;
        };
        let found: Vec<(&str, String)> = self
            .names
            .iter()
            .filter_map(|(index, name)| {
                captures
                    .get(*index)
                    .map(|m| (name.as_str(), m.as_str().to_string()))
            })
            .collect();
        for (name, value) in found {
            entry.labels.set_parsed(name, value);
        }
        true
    }
}
