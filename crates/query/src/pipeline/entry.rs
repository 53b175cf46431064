//! The mutable state of one entry as it flows through the stages.

use std::borrow::Cow;

use strata_model::Labels;

/// Where a label of the working set came from; decides Loki's categorized encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Origin {
    Stream,
    Metadata,
    Parsed,
}

/// The label names a failing stage sets.
pub(crate) const ERROR_LABEL: &str = "__error__";
pub(crate) const ERROR_DETAILS_LABEL: &str = "__error_details__";

/// The entry's working label set: names unique, insertion order kept
/// (sets are small, so linear scans beat hashing). Names and values borrow
/// the stream labels, the metadata or the line while they can: a line a
/// filter drops costs no copies, and [`finish`](super::finish) copies only
/// what it returns.
#[derive(Debug, Clone, Default)]
pub(crate) struct LabelSet<'a> {
    /// (name, value, origin) triples.
    entries: Vec<(Cow<'a, str>, Cow<'a, str>, Origin)>,
}

impl<'a> LabelSet<'a> {
    /// Stream labels plus non-empty structured metadata.
    pub fn new(stream: &'a Labels, metadata: &[(&'a str, &'a str)]) -> LabelSet<'a> {
        let mut set = LabelSet {
            entries: Vec::with_capacity(stream.len() + metadata.len() + 4),
        };
        for (name, value) in stream.iter() {
            set.entries
                .push((Cow::Borrowed(name), Cow::Borrowed(value), Origin::Stream));
        }
        for &(name, value) in metadata {
            if !value.is_empty() {
                set.put(Cow::Borrowed(name), Cow::Borrowed(value), Origin::Metadata);
            }
        }
        set
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.entries
            .iter()
            .find(|(n, _, _)| n == name)
            .map(|(_, v, _)| v.as_ref())
    }

    pub fn origin(&self, name: &str) -> Option<Origin> {
        self.entries
            .iter()
            .find(|(n, _, _)| n == name)
            .map(|(_, _, origin)| *origin)
    }

    /// Sets `name` to `value`, replacing any previous value and origin.
    pub fn set(&mut self, name: &str, value: String, origin: Origin) {
        match self.entries.iter_mut().find(|(n, _, _)| n == name) {
            Some(entry) => {
                entry.1 = Cow::Owned(value);
                entry.2 = origin;
            }
            None => self
                .entries
                .push((Cow::Owned(name.to_string()), Cow::Owned(value), origin)),
        }
    }

    /// [`LabelSet::set`] with borrowed or owned text.
    fn put(&mut self, name: Cow<'a, str>, value: Cow<'a, str>, origin: Origin) {
        match self.entries.iter_mut().find(|(n, _, _)| *n == name) {
            Some(entry) => {
                entry.1 = value;
                entry.2 = origin;
            }
            None => self.entries.push((name, value, origin)),
        }
    }

    /// Adds a label extracted by a parser. A name taken by a stream label or
    /// structured metadata gets the `_extracted` suffix, as in Loki.
    pub fn set_parsed(&mut self, name: &str, value: String) {
        match self.entries.iter_mut().find(|(n, _, _)| n == name) {
            Some((_, _, Origin::Stream | Origin::Metadata)) => {
                let renamed = format!("{name}_extracted");
                self.put(Cow::Owned(renamed), Cow::Owned(value), Origin::Parsed);
            }
            Some(entry) => entry.1 = Cow::Owned(value),
            None => self.entries.push((
                Cow::Owned(name.to_string()),
                Cow::Owned(value),
                Origin::Parsed,
            )),
        }
    }

    /// [`LabelSet::set_parsed`] with borrowed or owned text.
    pub fn set_parsed_text(&mut self, name: Cow<'a, str>, value: Cow<'a, str>) {
        match self.entries.iter_mut().find(|(n, _, _)| *n == name) {
            Some((_, _, Origin::Stream | Origin::Metadata)) => {
                let renamed = format!("{name}_extracted");
                self.put(Cow::Owned(renamed), value, Origin::Parsed);
            }
            Some(entry) => entry.1 = value,
            None => self.entries.push((name, value, Origin::Parsed)),
        }
    }

    /// Room for `additional` more labels.
    pub fn reserve(&mut self, additional: usize) {
        self.entries.reserve(additional);
    }

    pub fn remove(&mut self, name: &str) {
        self.entries.retain(|(n, _, _)| n != name);
    }

    pub fn retain(&mut self, mut keep: impl FnMut(&str, &str) -> bool) {
        self.entries.retain(|(n, v, _)| keep(n, v));
    }

    /// Sets `__error__` (and `__error_details__` when `details` is not empty).
    pub fn set_error(&mut self, kind: &str, details: &str) {
        self.set(ERROR_LABEL, kind.to_string(), Origin::Parsed);
        if !details.is_empty() {
            self.set(ERROR_DETAILS_LABEL, details.to_string(), Origin::Parsed);
        }
    }

    pub fn has_error(&self) -> bool {
        self.get(ERROR_LABEL).is_some_and(|value| !value.is_empty())
    }

    #[cfg(test)]
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.entries
            .iter()
            .map(|(n, v, _)| (n.as_ref(), v.as_ref()))
    }

    pub fn into_entries(self) -> Vec<(Cow<'a, str>, Cow<'a, str>, Origin)> {
        self.entries
    }
}

/// One entry being processed.
pub(crate) struct EntryState<'a> {
    /// Nanoseconds since the epoch, for `__timestamp__`.
    pub ts_ns: i64,
    /// The line; owned once a stage rewrites it.
    pub line: Cow<'a, str>,
    pub labels: LabelSet<'a>,
    /// The value taken by an unwrap stage.
    pub value: Option<f64>,
}

/// A compiled stage. `process` returns false to drop the entry.
pub(crate) trait StageProcessor: Send + Sync + std::fmt::Debug {
    fn process(&self, entry: &mut EntryState<'_>) -> bool;
}

/// Turns a key into a valid label name: invalid characters become `_`, a
/// leading digit gets a `_` prefix. Returns None for an empty key.
pub(crate) fn sanitize_label_name(key: &str) -> Option<Cow<'_, str>> {
    if key.is_empty() {
        return None;
    }
    if strata_model::is_valid_label_name(key) {
        return Some(Cow::Borrowed(key));
    }
    let mut out = String::with_capacity(key.len() + 1);
    if key.as_bytes()[0].is_ascii_digit() {
        out.push('_');
    }
    for c in key.chars() {
        out.push(if c.is_ascii_alphanumeric() || c == '_' {
            c
        } else {
            '_'
        });
    }
    Some(Cow::Owned(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sanitize() {
        let case = |key: &str, expected: Option<&str>| {
            assert_eq!(sanitize_label_name(key).as_deref(), expected, "{key}")
        };
        case("ok_name", Some("ok_name"));
        case("a.b-c", Some("a_b_c"));
        case("1st", Some("_1st"));
        case("é", Some("_"));
        case("", None);
    }

    #[test]
    fn parsed_labels_avoid_stream_names() {
        let stream = Labels::parse(r#"{app="x"}"#).unwrap();
        let mut set = LabelSet::new(&stream, &[("trace", "t1"), ("empty", "")]);
        set.set_parsed("app", "y".to_string());
        set.set_parsed("trace", "t2".to_string());
        set.set_parsed("level", "info".to_string());
        let pairs: Vec<(&str, &str)> = set.iter().collect();
        assert_eq!(
            pairs,
            [
                ("app", "x"),
                ("trace", "t1"),
                ("app_extracted", "y"),
                ("trace_extracted", "t2"),
                ("level", "info")
            ]
        );
    }
}
