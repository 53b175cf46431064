//! `| pattern "<ip> - <_> ..."` and the pattern matcher shared with the `|>` line filter.
//!
//! A pattern is literal text and captures: `<name>` extracts a label, `<_>`
//! skips. Matching goes left to right: a leading literal must start the line,
//! each capture takes the text up to the first occurrence of the next
//! literal, and a trailing capture takes the rest of the line.

use memchr::memmem::Finder;

use super::PipelineError;
use super::entry::{EntryState, StageProcessor};

#[derive(Debug, Clone)]
enum Part {
    Literal(Box<Finder<'static>>),
    /// A capture; None for `<_>`.
    Capture(Option<String>),
}

/// A compiled pattern.
#[derive(Debug, Clone)]
pub(crate) struct PatternMatcher {
    parts: Vec<Part>,
}

impl PatternMatcher {
    pub fn new(pattern: &str) -> Result<PatternMatcher, PipelineError> {
        let error = |reason: &str| PipelineError::Pattern {
            pattern: pattern.to_string(),
            reason: reason.to_string(),
        };
        let mut parts = Vec::new();
        let mut literal = String::new();
        let mut rest = pattern;
        while !rest.is_empty() {
            if let Some(name) = capture_at(rest) {
                if !literal.is_empty() {
                    parts.push(Part::Literal(Box::new(
                        Finder::new(literal.as_bytes()).into_owned(),
                    )));
                    literal.clear();
                }
                if matches!(parts.last(), Some(Part::Capture(_))) {
                    return Err(error("found consecutive capture"));
                }
                let capture = if name == "_" {
                    None
                } else {
                    Some(name.to_string())
                };
                if let Some(name) = &capture
                    && parts.iter().any(
                        |part| matches!(part, Part::Capture(Some(existing)) if existing == name),
                    )
                {
                    return Err(error("duplicate capture name"));
                }
                parts.push(Part::Capture(capture));
                rest = &rest[name.len() + 2..];
            } else {
                let c = rest.chars().next().unwrap_or_default();
                literal.push(c);
                rest = &rest[c.len_utf8()..];
            }
        }
        if !literal.is_empty() {
            parts.push(Part::Literal(Box::new(
                Finder::new(literal.as_bytes()).into_owned(),
            )));
        }
        if parts.is_empty() {
            return Err(error("pattern is empty"));
        }
        Ok(PatternMatcher { parts })
    }

    /// The names of the named captures, in order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.parts.iter().filter_map(|part| match part {
            Part::Capture(Some(name)) => Some(name.as_str()),
            _ => None,
        })
    }

    /// Matches `line`, calling `visit` for each named capture; false when the line does not match.
    pub fn matches<'a>(&self, line: &'a str, mut visit: impl FnMut(&str, &'a str)) -> bool {
        let bytes = line.as_bytes();
        let mut pos = 0;
        let mut index = 0;
        if let Some(Part::Literal(finder)) = self.parts.first() {
            if !bytes.starts_with(finder.needle()) {
                return false;
            }
            pos = finder.needle().len();
            index = 1;
        }
        while index < self.parts.len() {
            let Part::Capture(name) = &self.parts[index] else {
                debug_assert!(false, "BUG: literals are always preceded by a capture");
                return false;
            };
            let (value, next) = match self.parts.get(index + 1) {
                Some(Part::Literal(finder)) => {
                    let Some(found) = finder.find(&bytes[pos..]) else {
                        return false;
                    };
                    (&line[pos..pos + found], pos + found + finder.needle().len())
                }
                _ => (&line[pos..], line.len()),
            };
            if let Some(name) = name {
                visit(name, value);
            }
            pos = next;
            index += 2;
        }
        true
    }
}

/// The name of a `<name>` capture at the start of `text`.
fn capture_at(text: &str) -> Option<&str> {
    let inner = text.strip_prefix('<')?;
    let end = inner.find('>')?;
    let name = &inner[..end];
    if name == "_" || strata_model::is_valid_label_name(name) {
        Some(name)
    } else {
        None
    }
}

/// `| pattern "..."`.
#[derive(Debug)]
pub(crate) struct PatternStage {
    matcher: PatternMatcher,
}

impl PatternStage {
    pub fn new(pattern: &str) -> Result<PatternStage, PipelineError> {
        let matcher = PatternMatcher::new(pattern)?;
        if matcher.names().next().is_none() {
            return Err(PipelineError::Pattern {
                pattern: pattern.to_string(),
                reason: "at least one capture is required".to_string(),
            });
        }
        Ok(PatternStage { matcher })
    }
}

impl StageProcessor for PatternStage {
    fn process(&self, entry: &mut EntryState<'_>) -> bool {
        let mut captures = Vec::new();
        let line: &str = &entry.line;
        if self.matcher.matches(line, |name, value| {
            captures.push((name.to_string(), value.to_string()))
        }) {
            for (name, value) in captures {
                entry.labels.set_parsed(&name, value);
            }
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matching() {
        let case = |pattern: &str, line: &str, expected: Option<&[(&str, &str)]>| {
            let matcher = PatternMatcher::new(pattern).unwrap();
            let mut got = Vec::new();
            let matched = matcher.matches(line, |name, value| {
                got.push((name.to_string(), value.to_string()))
            });
            let got: Vec<(&str, &str)> =
                got.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
            assert_eq!(
                matched.then_some(got.as_slice()),
                expected,
                "{pattern} on {line}"
            );
        };
        let access = r#"<ip> - - [<_>] "<method> <uri> <_>" <status> <size>"#;
        let line = r#"10.0.0.1 - - [01/Jan/2024:00:00:00 +0000] "GET /api/v1 HTTP/1.1" 200 512"#;
        case(
            access,
            line,
            Some(&[
                ("ip", "10.0.0.1"),
                ("method", "GET"),
                ("uri", "/api/v1"),
                ("status", "200"),
                ("size", "512"),
            ]),
        );
        case(
            "<_> level=<level> <_>",
            "ts=1 level=warn msg=x",
            Some(&[("level", "warn")]),
        );
        case("level=<level>", "ts=1 level=warn", None);
        case("<a> <b>", "one", None);
        case(
            "<a> <b>",
            "one two three",
            Some(&[("a", "one"), ("b", "two three")]),
        );
        case("<a>", "", Some(&[("a", "")]));
        case(
            "x <not a capture> <v>",
            "x <not a capture> 1",
            Some(&[("v", "1")]),
        );
    }

    #[test]
    fn invalid_patterns() {
        assert!(PatternMatcher::new("<a><b>").is_err());
        assert!(PatternMatcher::new("<a> <a>").is_err());
        assert!(PatternMatcher::new("").is_err());
        assert!(PatternStage::new("<_> x").is_err());
    }
}
