//! `| drop a, b="v"` and `| keep a, b="v"`. A bare name selects the label; a
//! matcher selects it only when its value matches. `keep` never removes
//! `__error__` and `__error_details__`, so failures stay visible.

use strata_logql::LabelSelection;

use super::entry::{ERROR_DETAILS_LABEL, ERROR_LABEL, EntryState, StageProcessor};

fn selects(selection: &LabelSelection, name: &str, value: &str) -> bool {
    match selection {
        LabelSelection::Name(selected) => selected == name,
        LabelSelection::Matcher(matcher) => matcher.name == name && matcher.matches(Some(value)),
    }
}

#[derive(Debug)]
pub(crate) struct DropStage {
    selections: Vec<LabelSelection>,
}

impl DropStage {
    pub fn new(selections: &[LabelSelection]) -> DropStage {
        DropStage {
            selections: selections.to_vec(),
        }
    }
}

impl StageProcessor for DropStage {
    fn process(&self, entry: &mut EntryState<'_>) -> bool {
        entry.labels.retain(|name, value| {
            !self
                .selections
                .iter()
                .any(|selection| selects(selection, name, value))
        });
        true
    }
}

#[derive(Debug)]
pub(crate) struct KeepStage {
    selections: Vec<LabelSelection>,
}

impl KeepStage {
    pub fn new(selections: &[LabelSelection]) -> KeepStage {
        KeepStage {
            selections: selections.to_vec(),
        }
    }
}

impl StageProcessor for KeepStage {
    fn process(&self, entry: &mut EntryState<'_>) -> bool {
        entry.labels.retain(|name, value| {
            name == ERROR_LABEL
                || name == ERROR_DETAILS_LABEL
                || self
                    .selections
                    .iter()
                    .any(|selection| selects(selection, name, value))
        });
        true
    }
}
