//! The per-line runtime of LogQL log pipelines.
//!
//! [`Pipeline::new`] compiles a [`LogExpr`](strata_logql::LogExpr)'s stages
//! once (regexes, literal finders, templates, patterns); [`Pipeline::process`]
//! then runs one entry through them and returns a [`Processed`] entry, or None
//! when a filter drops it. A `Pipeline` is immutable, `Send + Sync`, and can
//! be shared by every thread of a query.
//!
//! Each stage lives in its own file and implements `StageProcessor` over an
//! `EntryState` (the line, the working label set, the unwrapped value).
//! Per-line failures never fail the query: they set `__error__` (and
//! `__error_details__`) as Loki does: `JSONParserErr`, `LogfmtParserErr`,
//! `LabelFilterErr`, `TemplateFormatErr`, `SampleExtractionErr`.
//!
//! When a pipeline has only line filters, [`Pipeline::matches_line`] decides
//! without building labels or allocating; [`line_token_hints`] gives the
//! tokens a bloom filter can use to skip chunks.
//!
//! ```
//! use strata_model::Labels;
//! use strata_query::pipeline::Pipeline;
//! let log = strata_logql::parse_log_expr(r#"{app="x"} |= "err" | logfmt | level="error""#).unwrap();
//! let pipeline = Pipeline::new(&log.stages).unwrap();
//! let stream = Labels::parse(r#"{app="x"}"#).unwrap();
//! let out = pipeline.process(0, "level=error msg=err", &stream, &[]).unwrap();
//! assert_eq!(out.labels.to_string(), r#"{app="x", level="error", msg="err"}"#);
//! assert!(pipeline.process(0, "level=info msg=err", &stream, &[]).is_none());
//! ```

mod decolorize;
mod drop_keep;
mod entry;
mod hints;
mod ip;
mod json;
mod json_scan;
mod label_filter;
mod label_format;
mod line_filter;
mod line_format;
mod logfmt;
mod pattern;
mod regexp;
mod template;
mod template_funcs;
mod unpack;
mod unwrap;

use std::borrow::Cow;
use std::collections::HashSet;
use std::sync::Arc;

use strata_logql::Stage;
use strata_model::Labels;

use entry::{EntryState, LabelSet, Origin, StageProcessor};
pub use hints::line_token_hints;
use line_filter::CompiledLineFilter;

/// A stage that cannot be compiled: the query is invalid (HTTP 400).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PipelineError {
    #[error("invalid regex {pattern:?}: {reason}")]
    Regex { pattern: String, reason: String },
    #[error("invalid pattern {pattern:?}: {reason}")]
    Pattern { pattern: String, reason: String },
    #[error("invalid template {template:?}: {reason}")]
    Template { template: String, reason: String },
    #[error("invalid ip range {range:?}: {reason}")]
    Ip { range: String, reason: String },
    #[error("invalid json expression {0:?}")]
    JsonExpression(String),
    #[error("invalid label_format: {0}")]
    LabelFormat(String),
}

impl PipelineError {
    pub(crate) fn regex(pattern: &str, err: &regex::Error) -> PipelineError {
        let reason = strata_model::regex_error_reason(err);
        PipelineError::Regex {
            pattern: pattern.to_string(),
            reason,
        }
    }
}

/// A compiled log pipeline.
#[derive(Debug)]
pub struct Pipeline {
    /// The stages in query order.
    stages: Vec<Box<dyn StageProcessor>>,
    /// The line filters before the first other stage, in order: they run on
    /// the raw line before any label is built.
    line_filters: Vec<CompiledLineFilter>,
    /// True when the pipeline has only line filters.
    line_filter_only: bool,
}

/// An entry that went through the pipeline.
#[derive(Debug, Clone, PartialEq)]
pub struct Processed {
    /// The line, possibly rewritten by line_format, decolorize or unpack.
    pub line: String,
    /// Stream labels, structured metadata and extracted labels (with
    /// `__error__`/`__error_details__` when set), after label_format, drop and
    /// keep; labels with empty values are left out, as Loki groups results.
    pub labels: Labels,
    /// The members of `labels` that came from structured metadata.
    pub structured_metadata: Vec<(String, String)>,
    /// The members of `labels` that stages extracted or set.
    pub parsed: Vec<(String, String)>,
    /// The sample value of an unwrap stage; None without one or on conversion failure.
    pub value: Option<f64>,
}

/// What [`Pipeline::extract`] gives: the line if a stage rewrote it, and
/// the labels that are not stream labels (structured metadata given, and
/// what stages extracted or set), non-empty, in no particular order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Extracted {
    pub line: Option<String>,
    pub fields: Vec<(String, String)>,
}

impl Pipeline {
    /// Compiles the stages; fails on an invalid regex, pattern or template.
    pub fn new(stages: &[Stage]) -> Result<Pipeline, PipelineError> {
        Pipeline::with_wanted_labels(stages, None)
    }

    /// Like [`Pipeline::new`], but the json and logfmt parsers (without
    /// parameters) extract only the labels in `wanted`: for a query whose
    /// later stages and output observe no other label, this saves building
    /// labels nobody reads. None extracts everything.
    pub fn with_wanted_labels(
        stages: &[Stage],
        wanted: Option<HashSet<String>>,
    ) -> Result<Pipeline, PipelineError> {
        let wanted = wanted.map(Arc::new);
        let mut compiled: Vec<Box<dyn StageProcessor>> = Vec::with_capacity(stages.len());
        let mut line_filters = Vec::new();
        let line_filter_only = stages
            .iter()
            .all(|stage| matches!(stage, Stage::LineFilter(_)));
        for stage in stages {
            let processor: Box<dyn StageProcessor> = match stage {
                Stage::LineFilter(filter) => {
                    let filter = CompiledLineFilter::new(filter)?;
                    if compiled.is_empty() {
                        line_filters.push(filter);
                        continue;
                    }
                    Box::new(filter)
                }
                Stage::Json(params) => Box::new(json::JsonStage::new(params, wanted.clone())?),
                Stage::Logfmt {
                    strict,
                    keep_empty,
                    params,
                } => Box::new(logfmt::LogfmtStage::new(
                    *strict,
                    *keep_empty,
                    params,
                    wanted.clone(),
                )),
                Stage::Regexp(pattern) => Box::new(regexp::RegexpStage::new(pattern)?),
                Stage::Pattern(pattern) => Box::new(pattern::PatternStage::new(pattern)?),
                Stage::Unpack => Box::new(unpack::UnpackStage),
                Stage::LabelFilter(filter) => {
                    Box::new(label_filter::LabelFilterStage::new(filter)?)
                }
                Stage::LineFormat(template) => {
                    Box::new(line_format::LineFormatStage::new(template)?)
                }
                Stage::LabelFormat(ops) => Box::new(label_format::LabelFormatStage::new(ops)?),
                Stage::Drop(selections) => Box::new(drop_keep::DropStage::new(selections)),
                Stage::Keep(selections) => Box::new(drop_keep::KeepStage::new(selections)),
                Stage::Decolorize => Box::new(decolorize::DecolorizeStage),
                Stage::Unwrap(unwrap) => Box::new(unwrap::UnwrapStage::new(unwrap)),
            };
            compiled.push(processor);
        }
        Ok(Pipeline {
            stages: compiled,
            line_filters,
            line_filter_only,
        })
    }

    /// Runs one entry through the stages; None when it is filtered out.
    pub fn process(
        &self,
        ts_ns: i64,
        line: &str,
        stream: &Labels,
        metadata: &[(&str, &str)],
    ) -> Option<Processed> {
        if !self.matches_line(line) {
            return None;
        }
        if self.line_filter_only {
            return Some(passthrough(line, stream, metadata));
        }
        self.run_stages(ts_ns, line, stream, metadata).map(finish)
    }

    /// The entry after every stage (the leading line filters already
    /// passed); None when a stage drops it.
    fn run_stages<'a>(
        &self,
        ts_ns: i64,
        line: &'a str,
        stream: &'a Labels,
        metadata: &[(&'a str, &'a str)],
    ) -> Option<EntryState<'a>> {
        let mut entry = EntryState {
            ts_ns,
            line: Cow::Borrowed(line),
            labels: LabelSet::new(stream, metadata),
            value: None,
        };
        for stage in &self.stages {
            if !stage.process(&mut entry) {
                return None;
            }
        }
        Some(entry)
    }

    /// Like [`Pipeline::process`], for callers that keep the stream labels
    /// themselves (the agent): no sorted label set is built and the line is
    /// copied only when a stage rewrote it. None when it is filtered out.
    pub fn extract(
        &self,
        ts_ns: i64,
        line: &str,
        stream: &Labels,
        metadata: &[(&str, &str)],
    ) -> Option<Extracted> {
        if !self.matches_line(line) {
            return None;
        }
        if self.line_filter_only {
            return Some(Extracted {
                line: None,
                fields: metadata
                    .iter()
                    .filter(|(_, value)| !value.is_empty())
                    .map(|(name, value)| (name.to_string(), value.to_string()))
                    .collect(),
            });
        }
        let entry = self.run_stages(ts_ns, line, stream, metadata)?;
        let line = match entry.line {
            Cow::Owned(text) => Some(text),
            Cow::Borrowed(_) => None,
        };
        let fields = entry
            .labels
            .into_entries()
            .into_iter()
            .filter(|(_, value, origin)| *origin != Origin::Stream && !value.is_empty())
            .map(|(name, value, _)| (name.into_owned(), value.into_owned()))
            .collect();
        Some(Extracted { line, fields })
    }

    /// True when the pipeline has only line filters (or no stages): callers
    /// can use [`Pipeline::matches_line`] and skip label building.
    pub fn is_line_filter_only(&self) -> bool {
        self.line_filter_only
    }

    /// Which rows of a block can pass the leading line filters, found by
    /// searching the block's whole text once (`text` and `ends` as
    /// `RowBlock::lines_text` gives them) instead of line by line; None when
    /// the first filter is not a positive literal filter (then any row can).
    /// Rows marked true still go through [`Pipeline::process`].
    pub fn candidate_rows(&self, text: &str, ends: &[usize]) -> Option<Vec<bool>> {
        let finders = self.line_filters.first()?.positive_literals()?;
        let bytes = text.as_bytes();
        let mut marks = vec![false; ends.len()];
        for finder in finders {
            let needle_len = finder.needle().len();
            let mut position = 0;
            while position < bytes.len() {
                let Some(found) = finder.find(&bytes[position..]) else {
                    break;
                };
                let at = position + found;
                // The row holding byte `at`: the first whose end is past it.
                let row = ends.partition_point(|&end| end <= at);
                let Some(&end) = ends.get(row) else {
                    break;
                };
                if at + needle_len <= end {
                    marks[row] = true;
                    position = end;
                } else {
                    // The match spans two lines: look again one byte further.
                    position = at + 1;
                }
            }
        }
        Some(marks)
    }

    /// Applies the leading line filters (all of them when
    /// [`Pipeline::is_line_filter_only`]) to `line`, without allocating.
    /// False means [`Pipeline::process`] would drop the line.
    pub fn matches_line(&self, line: &str) -> bool {
        self.line_filters.iter().all(|filter| filter.matches(line))
    }
}

/// The result of a pipeline with no label-changing stage.
fn passthrough(line: &str, stream: &Labels, metadata: &[(&str, &str)]) -> Processed {
    let mut structured_metadata = Vec::new();
    let mut pairs: Vec<(String, String)> = stream.pairs().to_vec();
    for (name, value) in metadata {
        if value.is_empty() {
            continue;
        }
        structured_metadata.push((name.to_string(), value.to_string()));
        match pairs.iter_mut().find(|(n, _)| n == name) {
            Some(pair) => pair.1 = value.to_string(),
            None => pairs.push((name.to_string(), value.to_string())),
        }
    }
    let labels = if structured_metadata.is_empty() {
        stream.clone()
    } else {
        Labels::from_pairs(pairs)
    };
    Processed {
        line: line.to_string(),
        labels,
        structured_metadata,
        parsed: Vec::new(),
        value: None,
    }
}

fn finish(entry: EntryState<'_>) -> Processed {
    let mut entries = entry.labels.into_entries();
    // In the order of their pairs, the entries give every list below sorted
    // (and `Labels::from_pairs` finds it so).
    sort_entries(&mut entries);
    let parsed_count = entries
        .iter()
        .filter(|(_, value, origin)| *origin == Origin::Parsed && !value.is_empty())
        .count();
    let mut pairs = Vec::with_capacity(entries.len());
    let mut structured_metadata = Vec::new();
    let mut parsed = Vec::with_capacity(parsed_count);
    for (name, value, origin) in entries {
        if value.is_empty() {
            continue;
        }
        match origin {
            Origin::Stream => {}
            Origin::Metadata => structured_metadata.push((name.to_string(), value.to_string())),
            Origin::Parsed => parsed.push((name.to_string(), value.to_string())),
        }
        pairs.push((name.into_owned(), value.into_owned()));
    }
    Processed {
        line: entry.line.into_owned(),
        labels: Labels::from_pairs(pairs),
        structured_metadata,
        parsed,
        value: entry.value,
    }
}

/// A label of the working set, as `finish` takes it.
type Entry<'a> = (Cow<'a, str>, Cow<'a, str>, Origin);

/// The order of two entries' (name, value) pairs.
fn pair_order(a: &Entry<'_>, b: &Entry<'_>) -> std::cmp::Ordering {
    (&a.0, &a.1).cmp(&(&b.0, &b.1))
}

/// Sorts label entries as their (name, value) pairs sort, comparing the
/// names' first eight bytes as integers first (cheaper than `memcmp`).
fn sort_entries(entries: &mut Vec<Entry<'_>>) {
    if entries.len() <= 8 {
        entries.sort_unstable_by(|a, b| {
            name_head(&a.0)
                .cmp(&name_head(&b.0))
                .then_with(|| pair_order(a, b))
        });
        return;
    }
    // More: sort small (head, index) keys instead of moving entries around.
    let mut keys: Vec<(u64, usize)> = entries
        .iter()
        .enumerate()
        .map(|(index, entry)| (name_head(&entry.0), index))
        .collect();
    keys.sort_unstable_by(|a, b| {
        a.0.cmp(&b.0)
            .then_with(|| pair_order(&entries[a.1], &entries[b.1]))
    });
    let mut sorted = Vec::with_capacity(entries.len());
    for (_, index) in keys {
        sorted.push(std::mem::replace(
            &mut entries[index],
            (Cow::Borrowed(""), Cow::Borrowed(""), Origin::Stream),
        ));
    }
    *entries = sorted;
}

/// The first eight bytes of a name as a big-endian integer, zero-padded:
/// where two names' heads differ, they order the names as their bytes do.
#[inline]
fn name_head(name: &str) -> u64 {
    let mut bytes = [0; 8];
    let len = name.len().min(8);
    bytes[..len].copy_from_slice(&name.as_bytes()[..len]);
    u64::from_be_bytes(bytes)
}

#[cfg(test)]
mod tests;
