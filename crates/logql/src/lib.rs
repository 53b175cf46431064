//! LogQL, the language only: lexer, recursive-descent parser, AST and printer.
//!
//! [`parse_expr`] turns a query into an [`Expr`]: either a [`LogExpr`] (a
//! stream selector and a pipeline of [`Stage`]s) or a [`MetricExpr`] (range
//! and vector aggregations, binary operators, literals). Every node implements
//! `Display`, printing canonical LogQL that parses back to an equal AST.
//! Errors are [`ParseError`]s located by line and column, worded like Loki's.
//! Evaluation lives in `strata-query`.
//!
//! ```
//! use strata_logql::{parse_expr, Expr, Stage};
//! let expr = parse_expr(r#"{job="x"} |= "ERROR" | json | level="error""#).unwrap();
//! let Expr::Log(log) = &expr else { panic!() };
//! assert!(matches!(log.stages[1], Stage::Json(_)));
//! assert_eq!(expr.to_string(), r#"{job="x"} |= "ERROR" | json | level="error""#);
//! let err = parse_expr(r#"{job="x"} |= "#).unwrap_err();
//! assert_eq!(err.to_string(), "parse error at line 1, col 13: syntax error: unexpected end of input, expected string");
//! ```

mod ast;
mod error;
mod lexer;
mod metric;
mod parse_metric;
mod parser;
mod print;
pub mod units;

pub use ast::{
    CmpOp, Expr, Extraction, LabelFilterExpr, LabelFormatOp, LabelSelection, LineFilter,
    LineFilterOp, LogExpr, Stage, Unwrap, UnwrapConversion,
};
pub use error::ParseError;
pub use lexer::quote;
pub use metric::{
    BinOp, BinaryExpr, GroupModifier, Grouping, LabelReplace, MetricExpr, RangeAggregation,
    RangeOp, VectorAggregation, VectorMatching, VectorOp,
};

use lexer::Tok;
use parser::Parser;

/// Parses any LogQL query.
pub fn parse_expr(input: &str) -> Result<Expr, ParseError> {
    let mut parser = Parser::new(input)?;
    if parser.is_sym("{") {
        let log = parse_log_body(&mut parser)?;
        return Ok(Expr::Log(log));
    }
    if *parser.peek() == Tok::Eof {
        return Err(parser.unexpected("query"));
    }
    let metric = parser.metric_expr(0)?;
    parser.expect_eof()?;
    Ok(Expr::Metric(metric))
}

/// Parses a log query; a metric query is an error.
pub fn parse_log_expr(input: &str) -> Result<LogExpr, ParseError> {
    let mut parser = Parser::new(input)?;
    if !parser.is_sym("{") {
        if *parser.peek() != Tok::Eof && parse_expr(input).is_ok() {
            return Err(
                parser.error_here("a metric query is not allowed here, expected a log query")
            );
        }
        return Err(parser.unexpected("\"{\""));
    }
    parse_log_body(&mut parser)
}

fn parse_log_body(parser: &mut Parser<'_>) -> Result<LogExpr, ParseError> {
    let start = parser.pos;
    let log = parser.log_expr()?;
    parser.expect_eof()?;
    if log.unwrap_stage().is_some() {
        return Err(parser.error_at(
            start,
            "unwrap is only allowed inside a range aggregation of a metric query",
        ));
    }
    Ok(log)
}
