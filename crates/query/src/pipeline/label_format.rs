//! `| label_format dst=src, dst="template"`. Every assignment reads the
//! labels as they were before the stage; `dst=src` renames (removing `src`),
//! a template sets `dst` to its rendering. A label may be assigned once per
//! stage. A failing template sets `__error__="TemplateFormatErr"`.

use strata_logql::LabelFormatOp;

use super::PipelineError;
use super::entry::{EntryState, Origin, StageProcessor};
use super::template::{Context, Template};

#[derive(Debug)]
enum Compiled {
    Rename { dst: String, src: String },
    Template { dst: String, template: Template },
}

#[derive(Debug)]
pub(crate) struct LabelFormatStage {
    ops: Vec<Compiled>,
}

impl LabelFormatStage {
    pub fn new(ops: &[LabelFormatOp]) -> Result<LabelFormatStage, PipelineError> {
        let mut compiled = Vec::with_capacity(ops.len());
        let mut seen: Vec<&str> = Vec::new();
        for op in ops {
            let dst = match op {
                LabelFormatOp::Rename { dst, .. } | LabelFormatOp::Template { dst, .. } => {
                    dst.as_str()
                }
            };
            if seen.contains(&dst) {
                return Err(PipelineError::LabelFormat(format!(
                    "multiple label name '{dst}' not allowed in a single format operation"
                )));
            }
            seen.push(dst);
            compiled.push(match op {
                LabelFormatOp::Rename { dst, src } => Compiled::Rename {
                    dst: dst.clone(),
                    src: src.clone(),
                },
                LabelFormatOp::Template { dst, template } => {
                    let parsed =
                        Template::parse(template).map_err(|reason| PipelineError::Template {
                            template: template.clone(),
                            reason,
                        })?;
                    Compiled::Template {
                        dst: dst.clone(),
                        template: parsed,
                    }
                }
            });
        }
        Ok(LabelFormatStage { ops: compiled })
    }
}

impl StageProcessor for LabelFormatStage {
    fn process(&self, entry: &mut EntryState<'_>) -> bool {
        let before = entry.labels.clone();
        let mut error = None;
        for op in &self.ops {
            match op {
                Compiled::Rename { dst, src } => {
                    let value = before.get(src).unwrap_or("").to_string();
                    let origin = before.origin(src).unwrap_or(Origin::Parsed);
                    if src != dst {
                        entry.labels.remove(src);
                    }
                    entry.labels.set(
                        dst,
                        value,
                        if origin == Origin::Stream {
                            Origin::Parsed
                        } else {
                            origin
                        },
                    );
                }
                Compiled::Template { dst, template } => {
                    let mut out = String::new();
                    let context = Context {
                        labels: &before,
                        line: &entry.line,
                        ts_ns: entry.ts_ns,
                    };
                    match template.render(&context, &mut out) {
                        Ok(()) => entry.labels.set(dst, out, Origin::Parsed),
                        Err(details) => error = Some(details),
                    }
                }
            }
        }
        if let Some(details) = error {
            entry.labels.set_error("TemplateFormatErr", &details);
        }
        true
    }
}
