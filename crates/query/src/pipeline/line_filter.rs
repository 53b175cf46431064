//! Line filters: `|=`, `!=` (substring), `|~`, `!~` (unanchored RE2),
//! `|>`, `!>` (pattern), with `or` alternatives. A negative filter keeps the
//! lines that match none of its alternatives.

use memchr::memmem::Finder;
use regex::Regex;
use strata_logql::{LineFilter, LineFilterOp};

use super::PipelineError;
use super::entry::{EntryState, StageProcessor};
use super::ip::IpRange;
use super::pattern::PatternMatcher;

#[derive(Debug, Clone)]
enum Alternative {
    /// A literal, with its prebuilt finder; an empty literal matches every line.
    Literal(Box<Finder<'static>>),
    Regex(Regex),
    Pattern(PatternMatcher),
    Ip(IpRange),
}

/// A compiled line filter.
#[derive(Debug, Clone)]
pub(crate) struct CompiledLineFilter {
    /// True for `!=`, `!~`, `!>`.
    negative: bool,
    alternatives: Vec<Alternative>,
}

impl CompiledLineFilter {
    pub fn new(filter: &LineFilter) -> Result<CompiledLineFilter, PipelineError> {
        let mut alternatives = Vec::with_capacity(filter.values.len());
        for value in &filter.values {
            let alternative = match filter.op {
                LineFilterOp::Contains | LineFilterOp::NotContains => {
                    Alternative::Literal(Box::new(Finder::new(value.as_bytes()).into_owned()))
                }
                LineFilterOp::Match | LineFilterOp::NotMatch => Alternative::Regex(
                    Regex::new(value).map_err(|err| PipelineError::regex(value, &err))?,
                ),
                LineFilterOp::ContainsIp | LineFilterOp::NotContainsIp => {
                    Alternative::Ip(IpRange::parse(value)?)
                }
                LineFilterOp::Pattern | LineFilterOp::NotPattern => {
                    Alternative::Pattern(PatternMatcher::new(value)?)
                }
            };
            alternatives.push(alternative);
        }
        Ok(CompiledLineFilter {
            negative: filter.op.is_negative(),
            alternatives,
        })
    }

    /// The finders of a positive filter made only of non-empty literals
    /// (`|= "a" or "b"`): a line passes if and only if one of them occurs in
    /// it. None for any other filter.
    pub fn positive_literals(&self) -> Option<Vec<&Finder<'static>>> {
        if self.negative {
            return None;
        }
        self.alternatives
            .iter()
            .map(|alternative| match alternative {
                Alternative::Literal(finder) if !finder.needle().is_empty() => Some(&**finder),
                _ => None,
            })
            .collect()
    }

    /// True when the line passes the filter.
    #[inline]
    pub fn matches(&self, line: &str) -> bool {
        let any = self
            .alternatives
            .iter()
            .any(|alternative| match alternative {
                Alternative::Literal(finder) => finder.find(line.as_bytes()).is_some(),
                Alternative::Regex(regex) => regex.is_match(line),
                Alternative::Pattern(pattern) => pattern.matches(line, |_, _| {}),
                Alternative::Ip(range) => range.matches_line(line),
            });
        any != self.negative
    }
}

impl StageProcessor for CompiledLineFilter {
    fn process(&self, entry: &mut EntryState<'_>) -> bool {
        self.matches(&entry.line)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn semantics() {
        let case = |op: LineFilterOp, values: &[&str], line: &str, expected: bool| {
            let filter = LineFilter {
                op,
                values: values.iter().map(|v| v.to_string()).collect(),
            };
            let compiled = CompiledLineFilter::new(&filter).unwrap();
            assert_eq!(compiled.matches(line), expected, "{filter} on {line:?}");
        };
        case(LineFilterOp::Contains, &["err"], "an error", true);
        case(LineFilterOp::Contains, &["ERR"], "an error", false);
        case(LineFilterOp::Contains, &[""], "anything", true);
        case(LineFilterOp::Contains, &["x", "err"], "an error", true);
        case(LineFilterOp::NotContains, &["err"], "an error", false);
        case(LineFilterOp::NotContains, &["x", "y"], "an error", true);
        case(LineFilterOp::NotContains, &["x", "err"], "an error", false);
        case(LineFilterOp::Match, &["e.r"], "an error", true);
        case(LineFilterOp::Match, &["^error"], "an error", false);
        case(LineFilterOp::Match, &["(?i)ERROR"], "an error", true);
        case(LineFilterOp::NotMatch, &["\\d+"], "no digits", true);
        case(LineFilterOp::NotMatch, &["\\d+"], "4 digits", false);
        case(
            LineFilterOp::Pattern,
            &["<_> error <_>"],
            "an error here",
            true,
        );
        case(LineFilterOp::Pattern, &["<_> error <_>"], "all fine", false);
        case(
            LineFilterOp::NotPattern,
            &["<_> error <_>"],
            "all fine",
            true,
        );
    }

    #[test]
    fn invalid_regex_is_an_error() {
        let filter = LineFilter {
            op: LineFilterOp::Match,
            values: vec!["(".to_string()],
        };
        assert!(matches!(
            CompiledLineFilter::new(&filter),
            Err(PipelineError::Regex { .. })
        ));
    }
}
