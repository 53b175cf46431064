//! `| json` and `| json label="expression", ...`.
//!
//! Without parameters, every field of the top-level object becomes a label:
//! nested objects are flattened with `_` (`{"a":{"b":1}}` gives `a_b="1"`),
//! arrays are skipped, numbers and booleans keep their JSON text, null is
//! empty (so no label), keys are sanitized to label names. With parameters,
//! only the addressed values are extracted; an object or array value gives
//! its JSON text. Invalid JSON sets `__error__="JSONParserErr"`.
//!
//! Without parameters the line is read in one pass by `json_scan`, without
//! building a tree; the tree parser here serves parameters, `| unpack`, and
//! the error details of a line the scan rejects.

use std::borrow::Cow;
use std::collections::HashSet;
use std::sync::Arc;

use strata_logql::Extraction;

use super::PipelineError;
use super::entry::{EntryState, LabelSet, StageProcessor, sanitize_label_name};
use super::json_scan::{self, Pending, Wanted};

/// Most nesting accepted before a document is called invalid.
pub(crate) const MAX_DEPTH: usize = 128;

/// A parsed JSON value borrowing from the line.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum JsonValue<'a> {
    String(Cow<'a, str>),
    /// A number, `true` or `false`, as written.
    Scalar(&'a str),
    Null,
    /// Members in document order, and the raw text.
    Object(Vec<(Cow<'a, str>, JsonValue<'a>)>, &'a str),
    /// Elements, and the raw text.
    Array(Vec<JsonValue<'a>>, &'a str),
}

impl<'a> JsonValue<'a> {
    /// The label value of this JSON value.
    pub fn to_label_value(&self) -> String {
        match self {
            JsonValue::String(text) => text.to_string(),
            JsonValue::Scalar(raw) | JsonValue::Object(_, raw) | JsonValue::Array(_, raw) => {
                raw.to_string()
            }
            JsonValue::Null => String::new(),
        }
    }
}

/// Parses `line` as a JSON object; otherwise sets `__error__="JSONParserErr"`
/// (with details) on the entry and returns None, as Loki's json and unpack do.
pub(crate) fn parse_object_or_flag<'a>(
    line: &'a str,
    entry: &mut EntryState<'_>,
) -> Option<JsonValue<'a>> {
    parse_object_or_flag_labels(line, &mut entry.labels)
}

/// [`parse_object_or_flag`] on the label set alone.
fn parse_object_or_flag_labels<'a>(line: &'a str, labels: &mut LabelSet) -> Option<JsonValue<'a>> {
    match parse_json(line) {
        Ok(root @ JsonValue::Object(..)) => Some(root),
        Ok(_) => {
            labels.set_error(
                "JSONParserErr",
                "cannot parse JSON: the line is not an object",
            );
            None
        }
        Err(details) => {
            labels.set_error("JSONParserErr", &details);
            None
        }
    }
}

/// Parses one JSON document; the error says what went wrong and where.
pub(crate) fn parse_json(text: &str) -> Result<JsonValue<'_>, String> {
    let mut reader = Reader { text, pos: 0 };
    let value = reader.value(0)?;
    reader.skip_space();
    if reader.pos != text.len() {
        return Err(reader.error("unexpected text after the JSON value"));
    }
    Ok(value)
}

struct Reader<'a> {
    text: &'a str,
    pos: usize,
}

impl<'a> Reader<'a> {
    fn error(&self, reason: &str) -> String {
        format!("cannot parse JSON at byte {}: {reason}", self.pos)
    }

    fn skip_space(&mut self) {
        let bytes = self.text.as_bytes();
        while self.pos < bytes.len() && matches!(bytes[self.pos], b' ' | b'\t' | b'\n' | b'\r') {
            self.pos += 1;
        }
    }

    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.pos).copied()
    }

    fn value(&mut self, depth: usize) -> Result<JsonValue<'a>, String> {
        if depth > MAX_DEPTH {
            return Err(self.error("nesting too deep"));
        }
        self.skip_space();
        let start = self.pos;
        match self.peek() {
            Some(b'{') => {
                self.pos += 1;
                let mut members = Vec::new();
                self.skip_space();
                if self.peek() == Some(b'}') {
                    self.pos += 1;
                    return Ok(JsonValue::Object(members, &self.text[start..self.pos]));
                }
                loop {
                    self.skip_space();
                    if self.peek() != Some(b'"') {
                        return Err(self.error("missing object key"));
                    }
                    let key = self.string()?;
                    self.skip_space();
                    if self.peek() != Some(b':') {
                        return Err(self.error("missing ':' after object key"));
                    }
                    self.pos += 1;
                    let value = self.value(depth + 1)?;
                    members.push((key, value));
                    self.skip_space();
                    match self.peek() {
                        Some(b',') => self.pos += 1,
                        Some(b'}') => {
                            self.pos += 1;
                            return Ok(JsonValue::Object(members, &self.text[start..self.pos]));
                        }
                        _ => return Err(self.error("missing ',' or '}' in object")),
                    }
                }
            }
            Some(b'[') => {
                self.pos += 1;
                let mut elements = Vec::new();
                self.skip_space();
                if self.peek() == Some(b']') {
                    self.pos += 1;
                    return Ok(JsonValue::Array(elements, &self.text[start..self.pos]));
                }
                loop {
                    elements.push(self.value(depth + 1)?);
                    self.skip_space();
                    match self.peek() {
                        Some(b',') => self.pos += 1,
                        Some(b']') => {
                            self.pos += 1;
                            return Ok(JsonValue::Array(elements, &self.text[start..self.pos]));
                        }
                        _ => return Err(self.error("missing ',' or ']' in array")),
                    }
                }
            }
            Some(b'"') => Ok(JsonValue::String(self.string()?)),
            Some(b't') => self.keyword("true").map(JsonValue::Scalar),
            Some(b'f') => self.keyword("false").map(JsonValue::Scalar),
            Some(b'n') => self.keyword("null").map(|_| JsonValue::Null),
            Some(b'-' | b'0'..=b'9') => {
                let bytes = self.text.as_bytes();
                self.pos += 1;
                while self.pos < bytes.len()
                    && matches!(
                        bytes[self.pos],
                        b'0'..=b'9' | b'.' | b'e' | b'E' | b'+' | b'-'
                    )
                {
                    self.pos += 1;
                }
                let raw = &self.text[start..self.pos];
                if raw.parse::<f64>().is_err() {
                    return Err(self.error("invalid number"));
                }
                Ok(JsonValue::Scalar(raw))
            }
            Some(_) => Err(self.error("unexpected character")),
            None => Err(self.error("unexpected end of input")),
        }
    }

    fn keyword(&mut self, word: &'static str) -> Result<&'a str, String> {
        if self.text[self.pos..].starts_with(word) {
            self.pos += word.len();
            Ok(&self.text[self.pos - word.len()..self.pos])
        } else {
            Err(self.error("unexpected character"))
        }
    }

    /// Reads a string starting at the opening quote.
    fn string(&mut self) -> Result<Cow<'a, str>, String> {
        let bytes = self.text.as_bytes();
        let start = self.pos + 1;
        let mut pos = start;
        while pos < bytes.len() && bytes[pos] != b'"' && bytes[pos] != b'\\' {
            pos += 1;
        }
        if pos < bytes.len() && bytes[pos] == b'"' {
            self.pos = pos + 1;
            return Ok(Cow::Borrowed(&self.text[start..pos]));
        }
        let mut out = String::from(&self.text[start..pos]);
        let mut chars = self.text[pos..].char_indices();
        while let Some((offset, c)) = chars.next() {
            match c {
                '"' => {
                    self.pos = pos + offset + 1;
                    return Ok(Cow::Owned(out));
                }
                '\\' => {
                    let Some((_, escaped)) = chars.next() else {
                        break;
                    };
                    match escaped {
                        '"' | '\\' | '/' => out.push(escaped),
                        'b' => out.push('\x08'),
                        'f' => out.push('\x0c'),
                        'n' => out.push('\n'),
                        'r' => out.push('\r'),
                        't' => out.push('\t'),
                        'u' => {
                            let mut code =
                                hex4(&mut chars).ok_or_else(|| self.error("invalid \\u escape"))?;
                            if (0xd800..0xdc00).contains(&code) {
                                let low = match (chars.next(), chars.next()) {
                                    (Some((_, '\\')), Some((_, 'u'))) => hex4(&mut chars),
                                    _ => None,
                                };
                                let Some(low) = low.filter(|low| (0xdc00..0xe000).contains(low))
                                else {
                                    return Err(self.error("invalid surrogate pair"));
                                };
                                code = 0x10000 + ((code - 0xd800) << 10) + (low - 0xdc00);
                            }
                            out.push(char::from_u32(code).unwrap_or('\u{fffd}'));
                        }
                        _ => return Err(self.error("invalid escape")),
                    }
                }
                c => out.push(c),
            }
        }
        self.pos = bytes.len();
        Err(self.error("unterminated string"))
    }
}

fn hex4(chars: &mut std::str::CharIndices<'_>) -> Option<u32> {
    let mut code = 0;
    for _ in 0..4 {
        code = code * 16 + chars.next()?.1.to_digit(16)?;
    }
    Some(code)
}

/// One step of a json expression.
#[derive(Debug, Clone, PartialEq)]
enum PathStep {
    Key(String),
    Index(usize),
}

/// Parses `a.b[0]["c d"]`.
fn parse_path(expression: &str) -> Option<Vec<PathStep>> {
    let mut steps = Vec::new();
    let mut rest = expression.trim();
    let mut first = true;
    while !rest.is_empty() {
        if let Some(inner) = rest.strip_prefix('[') {
            let end = inner.find(']')?;
            let content = inner[..end].trim();
            if let Some(quoted) = content.strip_prefix('"').and_then(|c| c.strip_suffix('"')) {
                steps.push(PathStep::Key(quoted.replace("\\\"", "\"")));
            } else {
                steps.push(PathStep::Index(content.parse().ok()?));
            }
            if content.starts_with('"') && !content.ends_with('"') {
                return None;
            }
            rest = &inner[end + 1..];
        } else {
            if !first {
                rest = rest.strip_prefix('.')?;
            }
            let end = rest.find(['.', '[']).unwrap_or(rest.len());
            if end == 0 {
                return None;
            }
            steps.push(PathStep::Key(rest[..end].to_string()));
            rest = &rest[end..];
        }
        first = false;
    }
    if steps.is_empty() { None } else { Some(steps) }
}

fn lookup<'v, 'a>(root: &'v JsonValue<'a>, path: &[PathStep]) -> Option<&'v JsonValue<'a>> {
    let mut current = root;
    for step in path {
        current = match (step, current) {
            (PathStep::Key(key), JsonValue::Object(members, _)) => {
                &members.iter().find(|(name, _)| name == key)?.1
            }
            (PathStep::Index(index), JsonValue::Array(elements, _)) => elements.get(*index)?,
            _ => return None,
        };
    }
    Some(current)
}

/// Adds every scalar member of `object` as a label, flattening nested
/// objects; with `wanted`, only the labels named there.
fn flatten(
    labels: &mut LabelSet,
    prefix: &str,
    members: &[(Cow<'_, str>, JsonValue<'_>)],
    wanted: Option<&HashSet<String>>,
) {
    for (key, value) in members {
        let Some(key) = sanitize_label_name(key) else {
            continue;
        };
        if prefix.is_empty()
            && !matches!(value, JsonValue::Object(..))
            && wanted.is_some_and(|wanted| !wanted.contains(key.as_ref()))
        {
            continue;
        }
        let name = if prefix.is_empty() {
            key.into_owned()
        } else {
            format!("{prefix}_{key}")
        };
        match value {
            JsonValue::Object(nested, _) => flatten(labels, &name, nested, wanted),
            JsonValue::Array(..) | JsonValue::Null => {}
            JsonValue::String(_) | JsonValue::Scalar(_) => {
                if wanted.is_none_or(|wanted| wanted.contains(&name)) {
                    labels.set_parsed(&name, value.to_label_value())
                }
            }
        }
    }
}

#[derive(Debug)]
pub(crate) struct JsonStage {
    /// (label, path) pairs; empty to extract everything.
    params: Vec<(String, Vec<PathStep>)>,
    /// Without params: only these labels are extracted (the ones the rest of
    /// a query can observe); None for all.
    wanted: Option<Wanted>,
}

impl JsonStage {
    pub fn new(
        params: &[Extraction],
        wanted: Option<Arc<HashSet<String>>>,
    ) -> Result<JsonStage, PipelineError> {
        let mut compiled = Vec::with_capacity(params.len());
        for param in params {
            let Some(path) = parse_path(&param.expression) else {
                return Err(PipelineError::JsonExpression(param.expression.clone()));
            };
            compiled.push((param.label.clone(), path));
        }
        Ok(JsonStage {
            params: compiled,
            wanted: wanted.map(Wanted::new),
        })
    }
}

impl StageProcessor for JsonStage {
    fn process(&self, entry: &mut EntryState<'_>) -> bool {
        if self.params.is_empty() {
            let EntryState { line, labels, .. } = entry;
            let wanted = self.wanted.as_ref();
            let valid = match &*line {
                // Labels can borrow a borrowed line.
                Cow::Borrowed(text) => {
                    let mut found = Pending::default();
                    json_scan::extract(text, wanted, &mut found).map(|()| found.apply(labels))
                }
                Cow::Owned(text) => {
                    let mut found = Pending::default();
                    json_scan::extract(text, wanted, &mut found).map(|()| found.apply_owned(labels))
                }
            };
            // The tree parser says why (and, should it accept the line after
            // all, extracts its labels).
            if valid.is_err()
                && let Some(JsonValue::Object(members, _)) =
                    parse_object_or_flag_labels(line, labels)
            {
                flatten(labels, "", &members, wanted.map(Wanted::set));
            }
            return true;
        }
        let line = entry.line.clone();
        let Some(root) = parse_object_or_flag(&line, entry) else {
            return true;
        };
        for (label, path) in &self.params {
            if let Some(value) = lookup(&root, path) {
                entry.labels.set_parsed(label, value.to_label_value());
            }
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_documents() {
        fn ok(text: &str) -> JsonValue<'_> {
            parse_json(text).unwrap_or_else(|err| panic!("{text}: {err}"))
        }
        assert_eq!(
            ok(r#""a\"b\u00e9\ud83d\ude00""#),
            JsonValue::String(Cow::Owned("a\"bé😀".to_string()))
        );
        assert_eq!(ok(" 1.5e3 "), JsonValue::Scalar("1.5e3"));
        assert!(
            matches!(ok(r#"{"a":[1,{"b":null}],"c":{}}"#), JsonValue::Object(members, _) if members.len() == 2)
        );
        for bad in [
            "",
            "{",
            r#"{"a"}"#,
            r#"{"a":1,}"#,
            "[1 2]",
            "tru",
            r#""\x""#,
            "{} x",
            "1.2.3",
        ] {
            assert!(parse_json(bad).is_err(), "{bad}");
        }
        assert!(parse_json(&"[".repeat(1000)).is_err());
    }

    #[test]
    fn paths() {
        let case = |expression: &str, expected: Option<Vec<PathStep>>| {
            assert_eq!(parse_path(expression), expected, "{expression}")
        };
        let key = |k: &str| PathStep::Key(k.to_string());
        case("a", Some(vec![key("a")]));
        case("a.b[0]", Some(vec![key("a"), key("b"), PathStep::Index(0)]));
        case(
            r#"request.headers["User-Agent"]"#,
            Some(vec![key("request"), key("headers"), key("User-Agent")]),
        );
        case(r#"["a b"].c"#, Some(vec![key("a b"), key("c")]));
        case("a..b", None);
        case("a[x]", None);
        case("", None);
    }
}
