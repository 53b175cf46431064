//! `| unwrap label`, `| unwrap duration(label)`, `| unwrap bytes(label)`:
//! takes the entry's sample value from a label (durations as seconds) and
//! removes that label. A missing or unparsable value sets
//! `__error__="SampleExtractionErr"`.

use strata_logql::units::{parse_bytes, parse_duration};
use strata_logql::{Unwrap, UnwrapConversion};

use super::entry::{EntryState, StageProcessor};

#[derive(Debug)]
pub(crate) struct UnwrapStage {
    unwrap: Unwrap,
}

impl UnwrapStage {
    pub fn new(unwrap: &Unwrap) -> UnwrapStage {
        UnwrapStage {
            unwrap: unwrap.clone(),
        }
    }
}

/// Converts a label value as the conversion says.
pub(crate) fn convert(value: &str, conversion: UnwrapConversion) -> Option<f64> {
    let value = value.trim();
    match conversion {
        UnwrapConversion::None => value.parse::<f64>().ok(),
        UnwrapConversion::Duration | UnwrapConversion::DurationSeconds => {
            parse_duration(value).map(|nanos| nanos as f64 / 1e9)
        }
        UnwrapConversion::Bytes => parse_bytes(value).map(|bytes| bytes as f64),
    }
}

impl StageProcessor for UnwrapStage {
    fn process(&self, entry: &mut EntryState<'_>) -> bool {
        let value = entry
            .labels
            .get(&self.unwrap.label)
            .unwrap_or("")
            .to_string();
        match convert(&value, self.unwrap.conversion) {
            Some(number) => entry.value = Some(number),
            None => {
                let details = format!(
                    "cannot convert value {value:?} of label {:?} to a number",
                    self.unwrap.label
                );
                entry.labels.set_error("SampleExtractionErr", &details);
            }
        }
        entry.labels.remove(&self.unwrap.label);
        true
    }
}
