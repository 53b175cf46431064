//! The model test: whatever mix of appends, flushes, merges and reopens, a
//! scan (after dedup and the real predicate) equals a naive filter over
//! everything appended; bloom pruning never drops a matching row.

use std::collections::BTreeSet;

use proptest::prelude::*;
use strata_model::tokens::for_each_token;
use strata_model::{Entry, LabelMatcher, MatchOp, PushStream};
use strata_storage::{FieldClause, Storage, TokenClause};

use crate::common::*;

const STREAMS: [&str; 4] = [
    r#"{app="a", env="prod"}"#,
    r#"{app="b", env="prod"}"#,
    r#"{app="c", env="dev"}"#,
    r#"{app="a", env="dev", pod="p1"}"#,
];
const WORDS: [&str; 6] = ["GET", "error", "ok", "user", "42", "timeout"];
const TRACES: [&str; 3] = ["t1", "t2", "t3"];

#[derive(Debug, Clone)]
enum Op {
    Append(Vec<(usize, i64, String)>),
    Flush,
    Merge,
    Reopen,
}

#[derive(Debug, Clone)]
struct Query {
    matchers: usize,
    start: i64,
    len: i64,
    /// Alternatives of word indices; empty = no token clause.
    tokens: Vec<Vec<usize>>,
    trace: Option<usize>,
}

fn arb_line() -> impl Strategy<Value = String> {
    proptest::collection::vec(
        (0..WORDS.len(), prop_oneof![Just(" "), Just("="), Just("/")]),
        1..4,
    )
    .prop_map(|words| {
        let mut line = String::new();
        for (word, separator) in words {
            line.push_str(WORDS[word]);
            line.push_str(separator);
        }
        line
    })
}

fn arb_op() -> impl Strategy<Value = Op> {
    let entry = (0..STREAMS.len(), 0..12i64, 0..4i64, arb_line()).prop_map(
        |(stream, quarter, offset, line)| (stream, BASE + quarter * DAY / 4 + offset, line),
    );
    prop_oneof![
        6 => proptest::collection::vec(entry, 1..12).prop_map(Op::Append),
        2 => Just(Op::Flush),
        1 => Just(Op::Merge),
        1 => Just(Op::Reopen),
    ]
}

fn arb_query() -> impl Strategy<Value = Query> {
    let tokens = proptest::collection::vec(proptest::collection::vec(0..WORDS.len(), 0..3), 0..3);
    (
        0..6usize,
        -1..13i64,
        1..14i64,
        tokens,
        proptest::option::of(0..TRACES.len()),
    )
        .prop_map(|(matchers, start, len, tokens, trace)| Query {
            matchers,
            start: BASE + start * DAY / 4,
            len: len * DAY / 4,
            tokens,
            trace,
        })
}

/// Metadata is a function of (ts, line) so that merge dedup keeps equal rows.
fn metadata(ts: i64, line: &str) -> Vec<(String, String)> {
    match (ts as usize + line.len()) % 4 {
        3 => Vec::new(),
        index => vec![("trace_id".to_string(), TRACES[index].to_string())],
    }
}

fn matchers(choice: usize) -> Vec<LabelMatcher> {
    let m = |name: &str, op: MatchOp, value: &str| LabelMatcher::new(name, op, value).unwrap();
    match choice {
        0 => vec![],
        1 => vec![m("app", MatchOp::Eq, "a")],
        2 => vec![m("env", MatchOp::Re, "pr.*")],
        3 => vec![m("app", MatchOp::Neq, "b")],
        4 => vec![m("pod", MatchOp::Eq, "")],
        _ => vec![m("env", MatchOp::Eq, "prod"), m("app", MatchOp::Re, "a|b")],
    }
}

fn line_has_tokens(line: &str, alternatives: &[Vec<usize>]) -> bool {
    if alternatives.is_empty() {
        return true;
    }
    let mut tokens = BTreeSet::new();
    for_each_token(line, |token| {
        tokens.insert(token.to_string());
    });
    alternatives
        .iter()
        .any(|alternative| alternative.iter().all(|&word| tokens.contains(WORDS[word])))
}

fn check(storage: &Storage, appended: &BTreeSet<Row>, query: &Query) -> Result<(), TestCaseError> {
    let matchers = matchers(query.matchers);
    let clauses: Vec<TokenClause> = if query.tokens.is_empty() {
        Vec::new()
    } else {
        vec![TokenClause {
            alternatives: query
                .tokens
                .iter()
                .map(|alt| alt.iter().map(|&w| WORDS[w].to_string()).collect())
                .collect(),
        }]
    };
    let fields: Vec<FieldClause> = query
        .trace
        .iter()
        .map(|&trace| FieldClause {
            key: "trace_id".into(),
            values: vec![TRACES[trace].into()],
        })
        .collect();
    let (start, end) = (query.start, query.start + query.len);
    let wanted = |row: &Row| {
        let labels = labels(&row.0);
        matchers.iter().all(|m| m.matches(labels.get(&m.name)))
            && row.1 >= start
            && row.1 < end
            && line_has_tokens(&row.2, &query.tokens)
            && query.trace.is_none_or(|trace| {
                row.3
                    .iter()
                    .any(|(k, v)| k == "trace_id" && v == TRACES[trace])
            })
    };
    let expected: BTreeSet<Row> = appended.iter().filter(|row| wanted(row)).cloned().collect();
    let (delivered, _) = scan_full(storage, "t", &matchers, start, end, &clauses, &fields);
    let request = strata_storage::ScanRequest {
        tenant: "t",
        matchers: &matchers,
        start_ns: start,
        end_ns: end,
        line_tokens: &clauses,
        field_values: &fields,
        timestamps_only: true,
    };
    let mut stamps: Vec<(String, i64)> =
        delivered.iter().map(|row| (row.0.clone(), row.1)).collect();
    stamps.sort();
    prop_assert_eq!(
        &scan_timestamps(storage, &request),
        &stamps,
        "timestamps-only scan differs"
    );
    let got: BTreeSet<Row> = delivered.into_iter().filter(|row| wanted(row)).collect();
    prop_assert_eq!(got, expected, "query {:?}", query);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(std::env::var("PROPTEST_CASES").ok().and_then(|cases| cases.parse().ok()).unwrap_or(48)))]
    #[test]
    fn scan_equals_naive_filter(ops in proptest::collection::vec(arb_op(), 1..14), queries in proptest::collection::vec(arb_query(), 1..8)) {
        let dir = tempfile::tempdir().unwrap();
        let mut storage = Storage::open(config(dir.path())).unwrap();
        let mut appended: BTreeSet<Row> = BTreeSet::new();
        for op in &ops {
            match op {
                Op::Append(entries) => {
                    let mut streams: Vec<PushStream> = Vec::new();
                    for (stream, ts, line) in entries {
                        let entry = Entry { ts_ns: *ts, line: line.clone(), metadata: metadata(*ts, line) };
                        let mut sorted = entry.metadata.clone();
                        sorted.sort();
                        appended.insert((labels(STREAMS[*stream]).to_string(), *ts, line.clone(), sorted));
                        streams.push(PushStream { labels: labels(STREAMS[*stream]), entries: vec![entry] });
                    }
                    storage.append("t", &streams).unwrap();
                }
                Op::Flush => storage.flush().unwrap(),
                Op::Merge => storage.merge().unwrap(),
                Op::Reopen => {
                    drop(storage);
                    storage = Storage::open(config(dir.path())).unwrap();
                }
            }
        }
        prop_assert_eq!(&scan_all(&storage, "t"), &appended);
        for query in &queries {
            check(&storage, &appended, query)?;
        }
        // The label APIs agree with the rows.
        let names: BTreeSet<String> = appended.iter().flat_map(|row| labels(&row.0).iter().map(|(n, _)| n.to_string()).collect::<Vec<_>>()).collect();
        prop_assert_eq!(storage.label_names("t", i64::MIN, i64::MAX).unwrap(), names.into_iter().collect::<Vec<_>>());
    }
}
