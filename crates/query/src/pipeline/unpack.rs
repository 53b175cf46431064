//! `| unpack`: the line is a JSON object written by Promtail's `pack` stage;
//! its `_entry` string replaces the line and its other string members become
//! labels. Invalid JSON sets `__error__="JSONParserErr"`.

use std::borrow::Cow;

use super::entry::{EntryState, StageProcessor, sanitize_label_name};
use super::json::{JsonValue, parse_object_or_flag};

#[derive(Debug)]
pub(crate) struct UnpackStage;

impl StageProcessor for UnpackStage {
    fn process(&self, entry: &mut EntryState<'_>) -> bool {
        let line = entry.line.clone();
        let Some(JsonValue::Object(members, _)) = parse_object_or_flag(&line, entry) else {
            return true;
        };
        let mut new_line = None;
        for (key, value) in members {
            let JsonValue::String(text) = value else {
                continue;
            };
            if key == "_entry" {
                new_line = Some(text.into_owned());
            } else if let Some(name) = sanitize_label_name(&key) {
                entry.labels.set_parsed(&name, text.into_owned());
            }
        }
        if let Some(new_line) = new_line {
            entry.line = Cow::Owned(new_line);
        }
        true
    }
}
