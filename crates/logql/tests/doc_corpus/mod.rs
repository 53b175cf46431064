//! The corpus of LogQL examples from Loki's documentation
//! (`../data/loki_doc_queries.txt`), read by this crate's parse test and by
//! the workspace's end-to-end test that runs every example on a server.

#![allow(dead_code)]

const CORPUS: &str = include_str!("../data/loki_doc_queries.txt");

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    /// Must parse and round-trip.
    Valid,
    /// The docs show it as an error: must not parse.
    Invalid,
    /// The docs say it is not allowed, but Loki's parser accepts it (the
    /// error comes when the pipeline is built): only the round trip is checked.
    RejectedAfterParsing,
    /// A mistake in the doc example itself: skipped.
    DocTypos,
}

pub struct Entry {
    /// 1-based line of the corpus file where the query starts.
    pub line: usize,
    pub section: Section,
    pub query: String,
}

fn section_header(line: &str) -> Option<Section> {
    match line.trim() {
        "# valid:" => Some(Section::Valid),
        "# invalid:" => Some(Section::Invalid),
        "# rejected after parsing:" => Some(Section::RejectedAfterParsing),
        "# doc typos:" => Some(Section::DocTypos),
        _ => None,
    }
}

/// Reads the corpus: one query a line; `#` lines are comments or section
/// headers; a line ending in `\` continues on the next one, joined by a newline.
pub fn corpus() -> Vec<Entry> {
    let mut entries = Vec::new();
    let mut section = Section::Valid;
    let mut pending: Option<(usize, String)> = None;
    for (index, raw) in CORPUS.lines().enumerate() {
        let line = index + 1;
        if let Some((start, mut query)) = pending.take() {
            query.push('\n');
            match raw.strip_suffix('\\') {
                Some(head) => {
                    query.push_str(head);
                    pending = Some((start, query));
                }
                None => {
                    query.push_str(raw);
                    entries.push(Entry {
                        line: start,
                        section,
                        query,
                    });
                }
            }
            continue;
        }
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            continue;
        }
        if trimmed.starts_with('#') {
            if let Some(next) = section_header(trimmed) {
                section = next;
            }
            continue;
        }
        match raw.strip_suffix('\\') {
            Some(head) => pending = Some((line, head.to_string())),
            None => entries.push(Entry {
                line,
                section,
                query: raw.to_string(),
            }),
        }
    }
    assert!(
        pending.is_none(),
        "corpus ends inside a continued query: {pending:?}"
    );
    entries
}

pub fn in_section(section: Section) -> impl Iterator<Item = Entry> {
    corpus().into_iter().filter(move |e| e.section == section)
}
