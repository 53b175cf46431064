//! Conformance corpus: the LogQL example queries of Grafana Loki's
//! documentation (`docs/sources/query/`), kept in `data/loki_doc_queries.txt`
//! (the file's header describes its format and provenance).
//!
//! Every valid example must parse, and print to text that parses back to an
//! equal AST; every example the docs show as an error must fail to parse.

use strata_logql::{Expr, parse_expr};

mod doc_corpus;

use doc_corpus::{Section, corpus, in_section};

/// Prints `expr` and parses the text again; describes any difference.
fn round_trip_problem(expr: &Expr) -> Option<String> {
    let printed = expr.to_string();
    match parse_expr(&printed) {
        Ok(again) if again == *expr => None,
        Ok(again) => Some(format!(
            "printed as {printed}\n    which parses to a different AST:\n    before: {expr:?}\n    after:  {again:?}"
        )),
        Err(err) => Some(format!(
            "printed as {printed}\n    which does not parse: {err}"
        )),
    }
}

fn report(what: &str, failures: &[String], total: usize) {
    assert!(
        failures.is_empty(),
        "{} of {total} {what}:\n\n{}\n",
        failures.len(),
        failures.join("\n\n")
    );
}

#[test]
fn corpus_is_well_formed() {
    let entries = corpus();
    let count = |section| entries.iter().filter(|e| e.section == section).count();
    assert!(
        count(Section::Valid) > 200,
        "valid: {}",
        count(Section::Valid)
    );
    assert!(
        count(Section::Invalid) > 5,
        "invalid: {}",
        count(Section::Invalid)
    );
    for entry in &entries {
        assert_eq!(
            entry.query.trim_end(),
            entry.query,
            "line {}: trailing whitespace",
            entry.line
        );
    }
}

#[test]
fn valid_doc_queries_parse() {
    let mut failures = Vec::new();
    let mut total = 0;
    for entry in in_section(Section::Valid) {
        total += 1;
        if let Err(err) = parse_expr(&entry.query) {
            failures.push(format!("line {}: {}\n    {err}", entry.line, entry.query));
        }
    }
    report("valid doc queries fail to parse", &failures, total);
}

#[test]
fn valid_doc_queries_round_trip() {
    let mut failures = Vec::new();
    let mut total = 0;
    for entry in in_section(Section::Valid).chain(in_section(Section::RejectedAfterParsing)) {
        let Ok(expr) = parse_expr(&entry.query) else {
            continue; // reported by valid_doc_queries_parse
        };
        total += 1;
        if let Some(problem) = round_trip_problem(&expr) {
            failures.push(format!(
                "line {}: {}\n    {problem}",
                entry.line, entry.query
            ));
        }
    }
    report("parsed doc queries do not round-trip", &failures, total);
}

#[test]
fn invalid_doc_queries_are_rejected() {
    let mut failures = Vec::new();
    let mut total = 0;
    for entry in in_section(Section::Invalid) {
        total += 1;
        if let Ok(expr) = parse_expr(&entry.query) {
            failures.push(format!(
                "line {}: {}\n    parsed as {expr}",
                entry.line, entry.query
            ));
        }
    }
    report("invalid doc queries parse", &failures, total);
}
