//! Display for every AST node: canonical LogQL that parses back to an equal AST.

use std::fmt::{self, Display, Formatter, Write};

use strata_model::LabelMatcher;

use crate::ast::{
    Expr, Extraction, LabelFilterExpr, LabelFormatOp, LabelSelection, LineFilter, LogExpr, Stage,
    Unwrap, UnwrapConversion,
};
use crate::lexer::quote;
use crate::metric::{
    BinOp, BinaryExpr, Grouping, MetricExpr, RangeAggregation, VectorAggregation, VectorMatching,
};
use crate::units::{format_bytes, format_duration, format_number};

/// Writes `name op "value"` with Go quoting (LabelMatcher's own Display uses Rust's).
fn write_matcher(f: &mut Formatter<'_>, matcher: &LabelMatcher) -> fmt::Result {
    write!(
        f,
        "{}{}{}",
        matcher.name,
        matcher.op.as_str(),
        quote(&matcher.value)
    )
}

impl Display for Expr {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Expr::Log(log) => log.fmt(f),
            Expr::Metric(metric) => metric.fmt(f),
        }
    }
}

impl Display for LogExpr {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_char('{')?;
        for (index, matcher) in self.matchers.iter().enumerate() {
            if index > 0 {
                f.write_str(", ")?;
            }
            write_matcher(f, matcher)?;
        }
        f.write_char('}')?;
        for stage in &self.stages {
            write!(f, " {stage}")?;
        }
        Ok(())
    }
}

fn write_list<T>(
    f: &mut Formatter<'_>,
    items: &[T],
    mut item: impl FnMut(&mut Formatter<'_>, &T) -> fmt::Result,
) -> fmt::Result {
    for (index, value) in items.iter().enumerate() {
        f.write_str(if index == 0 { " " } else { ", " })?;
        item(f, value)?;
    }
    Ok(())
}

fn write_extraction(f: &mut Formatter<'_>, extraction: &Extraction) -> fmt::Result {
    write!(f, "{}={}", extraction.label, quote(&extraction.expression))
}

impl Display for Stage {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Stage::LineFilter(filter) => filter.fmt(f),
            Stage::Json(params) => {
                f.write_str("| json")?;
                write_list(f, params, write_extraction)
            }
            Stage::Logfmt {
                strict,
                keep_empty,
                params,
            } => {
                f.write_str("| logfmt")?;
                if *strict {
                    f.write_str(" --strict")?;
                }
                if *keep_empty {
                    f.write_str(" --keep-empty")?;
                }
                write_list(f, params, write_extraction)
            }
            Stage::Regexp(pattern) => write!(f, "| regexp {}", quote(pattern)),
            Stage::Pattern(pattern) => write!(f, "| pattern {}", quote(pattern)),
            Stage::Unpack => f.write_str("| unpack"),
            Stage::LabelFilter(filter) => write!(f, "| {filter}"),
            Stage::LineFormat(template) => write!(f, "| line_format {}", quote(template)),
            Stage::LabelFormat(ops) => {
                f.write_str("| label_format")?;
                write_list(f, ops, |f, op| match op {
                    LabelFormatOp::Rename { dst, src } => write!(f, "{dst}={src}"),
                    LabelFormatOp::Template { dst, template } => {
                        write!(f, "{dst}={}", quote(template))
                    }
                })
            }
            Stage::Drop(selections) => {
                f.write_str("| drop")?;
                write_list(f, selections, write_selection)
            }
            Stage::Keep(selections) => {
                f.write_str("| keep")?;
                write_list(f, selections, write_selection)
            }
            Stage::Decolorize => f.write_str("| decolorize"),
            Stage::Unwrap(unwrap) => unwrap.fmt(f),
        }
    }
}

fn write_selection(f: &mut Formatter<'_>, selection: &LabelSelection) -> fmt::Result {
    match selection {
        LabelSelection::Name(name) => f.write_str(name),
        LabelSelection::Matcher(matcher) => write_matcher(f, matcher),
    }
}

impl Display for LineFilter {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_str(self.op.as_str())?;
        for (index, value) in self.values.iter().enumerate() {
            if index > 0 {
                f.write_str(" or")?;
            }
            if self.op.is_ip() {
                write!(f, " ip({})", quote(value))?;
            } else {
                write!(f, " {}", quote(value))?;
            }
        }
        Ok(())
    }
}

impl Display for Unwrap {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self.conversion {
            UnwrapConversion::None => write!(f, "| unwrap {}", self.label),
            UnwrapConversion::Duration => write!(f, "| unwrap duration({})", self.label),
            UnwrapConversion::DurationSeconds => {
                write!(f, "| unwrap duration_seconds({})", self.label)
            }
            UnwrapConversion::Bytes => write!(f, "| unwrap bytes({})", self.label),
        }
    }
}

impl LabelFilterExpr {
    /// 1 for `or`, 2 for `and`, 3 for a single predicate.
    fn precedence(&self) -> u8 {
        match self {
            LabelFilterExpr::Or(..) => 1,
            LabelFilterExpr::And(..) => 2,
            _ => 3,
        }
    }
}

impl Display for LabelFilterExpr {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let (left, right, word) = match self {
            LabelFilterExpr::And(left, right) => (left, right, "and"),
            LabelFilterExpr::Or(left, right) => (left, right, "or"),
            LabelFilterExpr::String(matcher) => return write_matcher(f, matcher),
            LabelFilterExpr::Number { name, op, value } => {
                return write!(f, "{name}{}{}", op.as_str(), format_number(*value));
            }
            LabelFilterExpr::Duration { name, op, value } => {
                return write!(f, "{name}{}{}", op.as_str(), format_duration(*value));
            }
            LabelFilterExpr::Ip {
                name,
                negated,
                range,
            } => {
                let op = if *negated { "!=" } else { "=" };
                return write!(f, "{name}{op}ip({})", quote(range));
            }
            LabelFilterExpr::Bytes { name, op, value } => {
                return write!(f, "{name}{}{}", op.as_str(), format_bytes(*value));
            }
        };
        let own = self.precedence();
        if left.precedence() < own {
            write!(f, "({left})")?;
        } else {
            write!(f, "{left}")?;
        }
        if right.precedence() <= own {
            write!(f, " {word} ({right})")
        } else {
            write!(f, " {word} {right}")
        }
    }
}

impl Display for MetricExpr {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            MetricExpr::Range(range) => range.fmt(f),
            MetricExpr::Vector(vector) => vector.fmt(f),
            MetricExpr::Binary(binary) => binary.fmt(f),
            MetricExpr::Number(value) => f.write_str(&format_number(*value)),
            MetricExpr::Neg(operand) => {
                // The operand binds at `^` or tighter, or it needs brackets.
                // A negative operand is set off by a space (`- -x`), not by
                // brackets, so a chain of signs adds no nesting.
                let negative = matches!(**operand, MetricExpr::Neg(_))
                    || matches!(**operand, MetricExpr::Number(value) if value.is_sign_negative());
                if negative {
                    write!(f, "- {operand}")
                } else if operand_precedence(operand) < BinOp::Pow.precedence() {
                    write!(f, "-({operand})")
                } else {
                    write!(f, "-{operand}")
                }
            }
            MetricExpr::VectorLiteral(value) => write!(f, "vector({})", format_number(*value)),
            MetricExpr::LabelReplace(replace) => write!(
                f,
                "label_replace({}, {}, {}, {}, {})",
                replace.expr,
                quote(&replace.dst),
                quote(&replace.replacement),
                quote(&replace.src),
                quote(&replace.regex)
            ),
        }
    }
}

impl Display for Grouping {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} ({})",
            if self.without { "without" } else { "by" },
            self.labels.join(", ")
        )
    }
}

impl Display for RangeAggregation {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(f, "{}(", self.op.as_str())?;
        if let Some(param) = self.param {
            write!(f, "{}, ", format_number(param))?;
        }
        let space = if self.log.stages.is_empty() { "" } else { " " };
        write!(f, "{}{space}[{}]", self.log, format_duration(self.range_ns))?;
        if self.offset_ns != 0 {
            write!(f, " offset {}", format_duration(self.offset_ns))?;
        }
        f.write_char(')')?;
        if let Some(grouping) = &self.grouping {
            write!(f, " {grouping}")?;
        }
        Ok(())
    }
}

impl Display for VectorAggregation {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_str(self.op.as_str())?;
        if let Some(grouping) = &self.grouping {
            write!(f, " {grouping} ")?;
        }
        f.write_char('(')?;
        if let Some(param) = self.param {
            write!(f, "{}, ", format_number(param))?;
        }
        write!(f, "{})", self.expr)
    }
}

impl Display for VectorMatching {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} ({})",
            if self.on { "on" } else { "ignoring" },
            self.labels.join(", ")
        )?;
        if let Some(group) = &self.group {
            write!(
                f,
                " {} ({})",
                if group.left {
                    "group_left"
                } else {
                    "group_right"
                },
                group.labels.join(", ")
            )?;
        }
        Ok(())
    }
}

/// Binding strength of an operand: binary expressions by operator, the rest tighter than any.
fn operand_precedence(expr: &MetricExpr) -> u8 {
    match expr {
        MetricExpr::Binary(binary) => binary.op.precedence(),
        MetricExpr::Number(value) if value.is_sign_negative() => BinOp::Pow.precedence(),
        MetricExpr::Neg(_) => BinOp::Pow.precedence(),
        _ => u8::MAX,
    }
}

impl Display for BinaryExpr {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let own = self.op.precedence();
        let left_parens = if self.op.right_associative() {
            operand_precedence(&self.lhs) <= own
        } else {
            operand_precedence(&self.lhs) < own
        };
        let right_parens = if self.op.right_associative() {
            operand_precedence(&self.rhs) < own
        } else {
            operand_precedence(&self.rhs) <= own
        };
        if left_parens {
            write!(f, "({})", self.lhs)?;
        } else {
            write!(f, "{}", self.lhs)?;
        }
        write!(f, " {}", self.op.as_str())?;
        if self.return_bool {
            f.write_str(" bool")?;
        }
        if let Some(matching) = &self.matching {
            write!(f, " {matching}")?;
        }
        if right_parens {
            write!(f, " ({})", self.rhs)
        } else {
            write!(f, " {}", self.rhs)
        }
    }
}
