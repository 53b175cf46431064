//! Bloom-filter pruning hints from line filters.

use strata_logql::{LineFilterOp, Stage};
use strata_model::tokens::guaranteed_tokens;

/// For each positive substring filter (`|= "lit"` or `|= "a" or "b"`), the
/// tokens a matching line must contain: one clause per filter, one
/// alternative per `or` value, each alternative the tokens that value
/// guarantees. A chunk can be skipped when, for some clause, no alternative
/// has all its tokens in the chunk's bloom filter. An alternative without
/// guaranteed tokens makes its clause useless, so the clause is left out.
/// Only filters before the first stage that rewrites the line (line_format,
/// decolorize, unpack) count, since later ones see a different line.
pub fn line_token_hints(stages: &[Stage]) -> Vec<Vec<Vec<String>>> {
    let mut clauses = Vec::new();
    for stage in stages {
        match stage {
            Stage::LineFormat(_) | Stage::Decolorize | Stage::Unpack => break,
            Stage::LineFilter(filter) if filter.op == LineFilterOp::Contains => {
                let mut clause = Vec::with_capacity(filter.values.len());
                for value in &filter.values {
                    let tokens: Vec<String> = guaranteed_tokens(value)
                        .into_iter()
                        .map(str::to_string)
                        .collect();
                    if tokens.is_empty() {
                        clause.clear();
                        break;
                    }
                    clause.push(tokens);
                }
                if !clause.is_empty() {
                    clauses.push(clause);
                }
            }
            _ => {}
        }
    }
    clauses
}
