//! `| logfmt [--strict] [--keep-empty] [label="key", ...]`.
//!
//! `key=value key="quoted \"value\"" flag` pairs separated by whitespace.
//! Without `--strict`, malformed pairs are skipped; with it, the first one
//! sets `__error__="LogfmtParserErr"` and stops parsing. A standalone key has
//! an empty value and is kept only with `--keep-empty`. With parameters only
//! the named keys are extracted, under the parameter's label.

use std::borrow::Cow;
use std::collections::HashSet;
use std::sync::Arc;

use strata_logql::Extraction;

use super::entry::{EntryState, StageProcessor, sanitize_label_name};

#[derive(Debug)]
pub(crate) struct LogfmtStage {
    strict: bool,
    keep_empty: bool,
    /// (label, key) pairs; empty to extract every key.
    params: Vec<(String, String)>,
    /// Without params: only these labels are extracted (the ones the rest of
    /// a query can observe); None for all.
    wanted: Option<Arc<HashSet<String>>>,
}

impl LogfmtStage {
    pub fn new(
        strict: bool,
        keep_empty: bool,
        params: &[Extraction],
        wanted: Option<Arc<HashSet<String>>>,
    ) -> LogfmtStage {
        let params = params
            .iter()
            .map(|param| (param.label.clone(), param.expression.clone()))
            .collect();
        LogfmtStage {
            strict,
            keep_empty,
            params,
            wanted,
        }
    }
}

/// One pair of a logfmt line; `value` is None for a standalone key.
#[derive(Debug, PartialEq)]
pub(crate) struct Pair<'a> {
    pub key: &'a str,
    pub value: Option<Cow<'a, str>>,
}

/// Calls `visit` for every pair; on a malformed pair calls `on_error` and
/// stops if it returns false, else skips to the next whitespace.
pub(crate) fn scan_logfmt<'a>(
    line: &'a str,
    mut visit: impl FnMut(Pair<'a>),
    mut on_error: impl FnMut(usize, &str) -> bool,
) {
    let bytes = line.as_bytes();
    let mut pos = 0;
    while pos < bytes.len() {
        while pos < bytes.len() && bytes[pos].is_ascii_whitespace() {
            pos += 1;
        }
        if pos >= bytes.len() {
            return;
        }
        let key_start = pos;
        while pos < bytes.len()
            && !bytes[pos].is_ascii_whitespace()
            && bytes[pos] != b'='
            && bytes[pos] != b'"'
        {
            pos += 1;
        }
        let key = &line[key_start..pos];
        let failure = if key.is_empty() {
            Some("unexpected '=' or '\"' without a key")
        } else if pos >= bytes.len() || bytes[pos].is_ascii_whitespace() {
            visit(Pair { key, value: None });
            None
        } else if bytes[pos] == b'"' {
            Some("unexpected '\"' in key")
        } else {
            pos += 1;
            if pos < bytes.len() && bytes[pos] == b'"' {
                match unquote(line, pos) {
                    Some((value, end)) => {
                        pos = end;
                        visit(Pair {
                            key,
                            value: Some(value),
                        });
                        None
                    }
                    None => Some("unterminated quoted value"),
                }
            } else {
                let value_start = pos;
                while pos < bytes.len() && !bytes[pos].is_ascii_whitespace() {
                    pos += 1;
                }
                visit(Pair {
                    key,
                    value: Some(Cow::Borrowed(&line[value_start..pos])),
                });
                None
            }
        };
        if let Some(reason) = failure {
            if !on_error(pos, reason) {
                return;
            }
            while pos < bytes.len() && !bytes[pos].is_ascii_whitespace() {
                pos += 1;
            }
        }
    }
}

/// Decodes a quoted value starting at the quote at `start`; returns it and the offset after the closing quote.
fn unquote(line: &str, start: usize) -> Option<(Cow<'_, str>, usize)> {
    let rest = &line[start + 1..];
    let end = rest.find(['"', '\\'])?;
    if rest.as_bytes()[end] == b'"' {
        return Some((Cow::Borrowed(&rest[..end]), start + 1 + end + 1));
    }
    let mut out = String::from(&rest[..end]);
    let mut chars = rest[end..].char_indices();
    while let Some((offset, c)) = chars.next() {
        match c {
            '"' => return Some((Cow::Owned(out), start + 1 + end + offset + 1)),
            '\\' => match chars.next()?.1 {
                'n' => out.push('\n'),
                't' => out.push('\t'),
                'r' => out.push('\r'),
                'u' => {
                    let mut code = 0;
                    for _ in 0..4 {
                        code = code * 16 + chars.next()?.1.to_digit(16)?;
                    }
                    out.push(char::from_u32(code).unwrap_or('\u{fffd}'));
                }
                other => out.push(other),
            },
            c => out.push(c),
        }
    }
    None
}

impl StageProcessor for LogfmtStage {
    fn process(&self, entry: &mut EntryState<'_>) -> bool {
        // Cheap when the line is borrowed; lets the labels be updated while scanning.
        let line = entry.line.clone();
        let labels = &mut entry.labels;
        let mut error = None;
        scan_logfmt(
            &line,
            |pair| {
                let value = |pair_value: Option<Cow<'_, str>>| match pair_value {
                    Some(value) => Some(value.into_owned()),
                    None if self.keep_empty => Some(String::new()),
                    None => None,
                };
                if self.params.is_empty() {
                    let Some(name) = sanitize_label_name(pair.key) else {
                        return;
                    };
                    if self
                        .wanted
                        .as_ref()
                        .is_some_and(|wanted| !wanted.contains(name.as_ref()))
                    {
                        return;
                    }
                    if let Some(value) = value(pair.value) {
                        labels.set_parsed(&name, value);
                    }
                } else {
                    let Some(value) = value(pair.value) else {
                        return;
                    };
                    for (label, key) in &self.params {
                        if key == pair.key {
                            labels.set_parsed(label, value.clone());
                        }
                    }
                }
            },
            |pos, reason| {
                if self.strict {
                    error = Some(format!("logfmt syntax error at pos {pos}: {reason}"));
                }
                !self.strict
            },
        );
        if let Some(details) = error {
            entry.labels.set_error("LogfmtParserErr", &details);
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scanning() {
        let case = |line: &str, expected: &[(&str, Option<&str>)], errors: usize| {
            let mut pairs = Vec::new();
            let mut error_count = 0;
            scan_logfmt(
                line,
                |pair| pairs.push((pair.key.to_string(), pair.value.map(|v| v.into_owned()))),
                |_, _| {
                    error_count += 1;
                    true
                },
            );
            let pairs: Vec<(&str, Option<&str>)> = pairs
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_deref()))
                .collect();
            assert_eq!(pairs, expected, "{line}");
            assert_eq!(error_count, errors, "{line}");
        };
        case("a=1 b=two", &[("a", Some("1")), ("b", Some("two"))], 0);
        case(
            r#"msg="hello \"world\"" x="""#,
            &[("msg", Some("hello \"world\"")), ("x", Some(""))],
            0,
        );
        case(
            "flag a= b",
            &[("flag", None), ("a", Some("")), ("b", None)],
            0,
        );
        case("=oops a=1", &[("a", Some("1"))], 1);
        case(r#"a="unterminated b=1"#, &[("b", Some("1"))], 1);
        case("  ", &[], 0);
        case("k=v=w", &[("k", Some("v=w"))], 0);
    }
}
