//! `| line_format "template"`: the rendered template replaces the line. A
//! failing template sets `__error__="TemplateFormatErr"` and keeps the line.

use std::borrow::Cow;

use super::PipelineError;
use super::entry::{EntryState, StageProcessor};
use super::template::{Context, Template};

#[derive(Debug)]
pub(crate) struct LineFormatStage {
    template: Template,
}

impl LineFormatStage {
    pub fn new(source: &str) -> Result<LineFormatStage, PipelineError> {
        let template = Template::parse(source).map_err(|reason| PipelineError::Template {
            template: source.to_string(),
            reason,
        })?;
        Ok(LineFormatStage { template })
    }
}

impl StageProcessor for LineFormatStage {
    fn process(&self, entry: &mut EntryState<'_>) -> bool {
        let mut out = String::new();
        let context = Context {
            labels: &entry.labels,
            line: &entry.line,
            ts_ns: entry.ts_ns,
        };
        match self.template.render(&context, &mut out) {
            Ok(()) => entry.line = Cow::Owned(out),
            Err(details) => entry.labels.set_error("TemplateFormatErr", &details),
        }
        true
    }
}
