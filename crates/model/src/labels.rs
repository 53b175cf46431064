use std::fmt;

/// A stream's label set: pairs sorted by name, names unique.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Labels(Vec<(String, String)>);

/// Limits on label sets, checked by [`Labels::validate`]. The defaults are Loki's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LabelLimits {
    /// Most labels a stream may have (Loki: max_label_names_per_series).
    pub max_labels: usize,
    /// Longest label name in bytes (Loki: max_label_name_length).
    pub max_name_len: usize,
    /// Longest label value in bytes (Loki: max_label_value_length).
    pub max_value_len: usize,
}

impl Default for LabelLimits {
    fn default() -> Self {
        LabelLimits {
            max_labels: 15,
            max_name_len: 1024,
            max_value_len: 2048,
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum LabelsError {
    #[error("cannot parse labels at byte {pos}: {reason}")]
    Syntax { pos: usize, reason: &'static str },
    #[error("at least one label pair is required per stream")]
    Empty,
    #[error("invalid label name {0:?}: must match [a-zA-Z_][a-zA-Z0-9_]*")]
    BadName(String),
    #[error("duplicate label name {0:?}")]
    Duplicate(String),
    #[error(
        "stream has {count} labels, more than the limit of {limit} (max_label_names_per_series)"
    )]
    TooMany { count: usize, limit: usize },
    #[error(
        "label name {name:?} is {len} bytes, longer than the limit of {limit} (max_label_name_length)"
    )]
    NameTooLong {
        name: String,
        len: usize,
        limit: usize,
    },
    #[error(
        "value of label {name:?} is {len} bytes, longer than the limit of {limit} (max_label_value_length)"
    )]
    ValueTooLong {
        name: String,
        len: usize,
        limit: usize,
    },
    #[error("label {0:?} has an empty value")]
    EmptyValue(String),
}

/// True when `name` is a valid label (or structured-metadata) name.
pub fn is_valid_label_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    match bytes.next() {
        Some(b) if b.is_ascii_alphabetic() || b == b'_' => {}
        _ => return false,
    }
    bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

impl Labels {
    /// Builds a label set from pairs in any order. Duplicate names are kept so
    /// that [`Labels::validate`] can report them.
    pub fn from_pairs(pairs: impl IntoIterator<Item = (String, String)>) -> Labels {
        let mut pairs: Vec<(String, String)> = pairs.into_iter().collect();
        pairs.sort();
        Labels(pairs)
    }

    /// Parses Loki's label string `{name="value", ...}` (Prometheus syntax,
    /// values with Go string escapes).
    pub fn parse(text: &str) -> Result<Labels, LabelsError> {
        LabelParser {
            text: text.as_bytes(),
            pos: 0,
        }
        .parse()
    }

    /// Checks names, duplicates, emptiness and limits. Entries with an empty
    /// value are dropped beforehand by [`Labels::without_empty_values`], as
    /// Prometheus treats an empty value as an absent label.
    pub fn validate(&self, limits: &LabelLimits) -> Result<(), LabelsError> {
        if self.0.is_empty() {
            return Err(LabelsError::Empty);
        }
        if self.0.len() > limits.max_labels {
            return Err(LabelsError::TooMany {
                count: self.0.len(),
                limit: limits.max_labels,
            });
        }
        for (index, (name, value)) in self.0.iter().enumerate() {
            if name.len() > limits.max_name_len {
                return Err(LabelsError::NameTooLong {
                    name: truncate(name),
                    len: name.len(),
                    limit: limits.max_name_len,
                });
            }
            if !is_valid_label_name(name) {
                return Err(LabelsError::BadName(truncate(name)));
            }
            if value.len() > limits.max_value_len {
                return Err(LabelsError::ValueTooLong {
                    name: name.clone(),
                    len: value.len(),
                    limit: limits.max_value_len,
                });
            }
            if index > 0 && self.0[index - 1].0 == *name {
                return Err(LabelsError::Duplicate(name.clone()));
            }
        }
        Ok(())
    }

    /// The same set without pairs whose value is empty.
    pub fn without_empty_values(self) -> Labels {
        Labels(
            self.0
                .into_iter()
                .filter(|(_, value)| !value.is_empty())
                .collect(),
        )
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(n, v)| (n.as_str(), v.as_str()))
    }

    pub fn pairs(&self) -> &[(String, String)] {
        &self.0
    }

    pub fn into_pairs(self) -> Vec<(String, String)> {
        self.0
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

fn truncate(text: &str) -> String {
    let mut end = text.len().min(64);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_string()
}

/// The stream id of a label set: xxh3-64 over `name 0xff value 0xff ...`.
/// Labels are sorted, so equal sets give equal ids on every node.
pub fn stream_id(labels: &Labels) -> u64 {
    let mut hasher = xxhash_rust::xxh3::Xxh3::new();
    for (name, value) in labels.iter() {
        hasher.update(name.as_bytes());
        hasher.update(&[0xff]);
        hasher.update(value.as_bytes());
        hasher.update(&[0xff]);
    }
    hasher.digest()
}

impl fmt::Display for Labels {
    /// Formats as Loki does: `{a="1", b="x\"y"}`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("{")?;
        for (index, (name, value)) in self.0.iter().enumerate() {
            if index > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{name}=\"")?;
            for c in value.chars() {
                match c {
                    '"' => f.write_str("\\\"")?,
                    '\\' => f.write_str("\\\\")?,
                    '\n' => f.write_str("\\n")?,
                    c => write!(f, "{c}")?,
                }
            }
            f.write_str("\"")?;
        }
        f.write_str("}")
    }
}

struct LabelParser<'a> {
    text: &'a [u8],
    pos: usize,
}

impl LabelParser<'_> {
    fn error(&self, reason: &'static str) -> LabelsError {
        LabelsError::Syntax {
            pos: self.pos,
            reason,
        }
    }

    fn skip_space(&mut self) {
        while self.pos < self.text.len() && self.text[self.pos].is_ascii_whitespace() {
            self.pos += 1;
        }
    }

    fn expect(&mut self, byte: u8, reason: &'static str) -> Result<(), LabelsError> {
        self.skip_space();
        if self.text.get(self.pos) != Some(&byte) {
            return Err(self.error(reason));
        }
        self.pos += 1;
        Ok(())
    }

    fn parse(mut self) -> Result<Labels, LabelsError> {
        self.expect(b'{', "expected '{'")?;
        let mut pairs = Vec::new();
        self.skip_space();
        if self.text.get(self.pos) == Some(&b'}') {
            self.pos += 1;
        } else {
            loop {
                let name = self.name()?;
                self.expect(b'=', "expected '=' after label name")?;
                let value = self.string()?;
                pairs.push((name, value));
                self.skip_space();
                match self.text.get(self.pos) {
                    Some(b',') => self.pos += 1,
                    Some(b'}') => {
                        self.pos += 1;
                        break;
                    }
                    _ => return Err(self.error("expected ',' or '}'")),
                }
            }
        }
        self.skip_space();
        if self.pos != self.text.len() {
            return Err(self.error("unexpected text after '}'"));
        }
        Ok(Labels::from_pairs(pairs))
    }

    fn name(&mut self) -> Result<String, LabelsError> {
        self.skip_space();
        let start = self.pos;
        while self.pos < self.text.len()
            && (self.text[self.pos].is_ascii_alphanumeric() || self.text[self.pos] == b'_')
        {
            self.pos += 1;
        }
        if start == self.pos {
            return Err(self.error("expected a label name"));
        }
        let name = String::from_utf8_lossy(&self.text[start..self.pos]).into_owned();
        if !is_valid_label_name(&name) {
            return Err(LabelsError::BadName(name));
        }
        Ok(name)
    }

    fn string(&mut self) -> Result<String, LabelsError> {
        self.skip_space();
        let quote = match self.text.get(self.pos) {
            Some(&q @ (b'"' | b'`')) => q,
            _ => return Err(self.error("expected a quoted label value")),
        };
        self.pos += 1;
        let mut value = Vec::new();
        loop {
            let Some(&byte) = self.text.get(self.pos) else {
                return Err(self.error("unterminated label value"));
            };
            self.pos += 1;
            if byte == quote {
                break;
            }
            if byte == b'\\' && quote == b'"' {
                let Some(&escaped) = self.text.get(self.pos) else {
                    return Err(self.error("unterminated escape"));
                };
                self.pos += 1;
                match escaped {
                    b'n' => value.push(b'\n'),
                    b't' => value.push(b'\t'),
                    b'r' => value.push(b'\r'),
                    b'\\' | b'"' | b'\'' => value.push(escaped),
                    _ => return Err(self.error("unknown escape in label value")),
                }
            } else {
                value.push(byte);
            }
        }
        String::from_utf8(value).map_err(|_| self.error("label value is not UTF-8"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_print() {
        let case = |text: &str, printed: &str| {
            let labels = Labels::parse(text).unwrap();
            assert_eq!(labels.to_string(), printed, "{text}");
            assert_eq!(Labels::parse(printed).unwrap(), labels);
        };
        case(r#"{job="x"}"#, r#"{job="x"}"#);
        case(r#"{ pod = "b" , job="a" }"#, r#"{job="a", pod="b"}"#);
        case(r#"{a="q\"uote\\ \n"}"#, r#"{a="q\"uote\\ \n"}"#);
        case("{}", "{}");
    }

    #[test]
    fn parse_errors_name_the_position() {
        let err = |text: &str| Labels::parse(text).unwrap_err().to_string();
        assert!(err(r#"job="x"}"#).contains("byte 0"));
        assert!(err(r#"{job="x""#).contains("expected ',' or '}'"));
        assert!(err(r#"{job=x}"#).contains("quoted"));
        assert!(err(r#"{9job="x"}"#).contains("invalid label name"));
    }

    #[test]
    fn validation() {
        let limits = LabelLimits::default();
        let check = |text: &str| {
            Labels::parse(text)
                .unwrap()
                .validate(&limits)
                .map_err(|e| e.to_string())
        };
        assert!(check(r#"{job="x"}"#).is_ok());
        assert!(check("{}").unwrap_err().contains("at least one label"));
        assert!(
            check(r#"{a="1", a="2"}"#)
                .unwrap_err()
                .contains("duplicate")
        );
        let many: Vec<String> = (0..16).map(|i| format!("l{i}=\"v\"")).collect();
        assert!(
            check(&format!("{{{}}}", many.join(",")))
                .unwrap_err()
                .contains("max_label_names_per_series")
        );
        let long = format!("{{a=\"{}\"}}", "v".repeat(2049));
        assert!(check(&long).unwrap_err().contains("max_label_value_length"));
    }

    #[test]
    fn stream_id_ignores_order_but_not_content() {
        let a = Labels::parse(r#"{a="1", b="2"}"#).unwrap();
        let b = Labels::parse(r#"{b="2", a="1"}"#).unwrap();
        let c = Labels::parse(r#"{a="12"}"#).unwrap();
        assert_eq!(stream_id(&a), stream_id(&b));
        assert_ne!(stream_id(&a), stream_id(&c));
    }
}
