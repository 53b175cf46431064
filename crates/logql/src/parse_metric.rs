//! The metric-query grammar: precedence climbing over binary operators,
//! aggregations and literals as primaries.

use crate::ast::{LogExpr, Stage};
use crate::error::ParseError;
use crate::lexer::Tok;
use crate::metric::{
    BinOp, BinaryExpr, GroupModifier, Grouping, LabelReplace, MetricExpr, RangeAggregation,
    RangeOp, VectorAggregation, VectorMatching, VectorOp,
};
use crate::parser::Parser;

impl Parser<'_> {
    /// Parses a metric expression whose binary operators bind at least `min_precedence`.
    pub fn metric_expr(&mut self, min_precedence: u8) -> Result<MetricExpr, ParseError> {
        let mut lhs = self.metric_primary()?;
        loop {
            let Some(op) = self.peek_binop() else {
                return Ok(lhs);
            };
            if op.precedence() < min_precedence {
                return Ok(lhs);
            }
            let op_index = self.pos;
            self.advance();
            let return_bool = self.is_ident("bool");
            if return_bool {
                if !op.is_comparison() {
                    return Err(
                        self.error_here("bool modifier can only be used on comparison operators")
                    );
                }
                self.advance();
            }
            let matching = self.vector_matching()?;
            if let Some(VectorMatching { group: Some(_), .. }) = &matching
                && op.is_set_op()
            {
                return Err(self.error_at(
                    op_index,
                    format!("no grouping allowed for \"{}\" operation", op.as_str()),
                ));
            }
            let next_min = if op.right_associative() {
                op.precedence()
            } else {
                op.precedence() + 1
            };
            let rhs = self.metric_expr(next_min)?;
            lhs = MetricExpr::Binary(Box::new(BinaryExpr {
                op,
                lhs,
                rhs,
                return_bool,
                matching,
            }));
        }
    }

    fn peek_binop(&self) -> Option<BinOp> {
        let op = match self.peek() {
            Tok::Sym("+") => BinOp::Add,
            Tok::Sym("-") => BinOp::Sub,
            Tok::Sym("*") => BinOp::Mul,
            Tok::Sym("/") => BinOp::Div,
            Tok::Sym("%") => BinOp::Mod,
            Tok::Sym("^") => BinOp::Pow,
            Tok::Sym("==") => BinOp::Eq,
            Tok::Sym("!=") => BinOp::Neq,
            Tok::Sym(">") => BinOp::Gt,
            Tok::Sym(">=") => BinOp::Gte,
            Tok::Sym("<") => BinOp::Lt,
            Tok::Sym("<=") => BinOp::Lte,
            Tok::Ident(name) if name == "and" => BinOp::And,
            Tok::Ident(name) if name == "or" => BinOp::Or,
            Tok::Ident(name) if name == "unless" => BinOp::Unless,
            _ => return None,
        };
        Some(op)
    }

    /// `on(...)`/`ignoring(...)` and `group_left(...)`/`group_right(...)`, if present.
    fn vector_matching(&mut self) -> Result<Option<VectorMatching>, ParseError> {
        let on = match self.peek() {
            Tok::Ident(name) if name == "on" => true,
            Tok::Ident(name) if name == "ignoring" => false,
            _ => return Ok(None),
        };
        self.advance();
        let labels = self.label_list()?;
        let left = match self.peek() {
            Tok::Ident(name) if name == "group_left" => Some(true),
            Tok::Ident(name) if name == "group_right" => Some(false),
            _ => None,
        };
        let group = match left {
            Some(left) => {
                self.advance();
                let labels = if self.is_sym("(") {
                    self.label_list()?
                } else {
                    Vec::new()
                };
                Some(GroupModifier { left, labels })
            }
            None => None,
        };
        Ok(Some(VectorMatching { on, labels, group }))
    }

    fn metric_primary(&mut self) -> Result<MetricExpr, ParseError> {
        match self.peek().clone() {
            Tok::Sym("(") => {
                self.advance();
                let inner = self.metric_expr(0)?;
                self.expect_sym(")")?;
                Ok(inner)
            }
            Tok::NumLike(_) => Ok(MetricExpr::Number(self.expect_number()?)),
            Tok::Sym(sign @ ("-" | "+")) => {
                // Unary sign: binds looser than `^`, tighter than the rest, as in PromQL.
                self.advance();
                let operand = self.metric_expr(BinOp::Pow.precedence())?;
                Ok(match (sign, operand) {
                    ("+", operand) => operand,
                    (_, MetricExpr::Number(value)) => MetricExpr::Number(-value),
                    (_, operand) => MetricExpr::Neg(Box::new(operand)),
                })
            }
            Tok::Ident(name) => {
                if let Some(op) = RangeOp::from_name(&name) {
                    return self.range_aggregation(op);
                }
                if let Some(op) = VectorOp::from_name(&name) {
                    return self.vector_aggregation(op);
                }
                match name.as_str() {
                    "label_replace" => self.label_replace(),
                    "vector" => {
                        self.advance();
                        self.expect_sym("(")?;
                        let value = self.expect_number()?;
                        self.expect_sym(")")?;
                        Ok(MetricExpr::VectorLiteral(value))
                    }
                    "inf" | "Inf" | "nan" | "NaN" => Ok(MetricExpr::Number(self.expect_number()?)),
                    _ => Err(self.unexpected("aggregation, number or \"(\"")),
                }
            }
            Tok::Sym("{") => Err(self.error_here(
                "syntax error: a log query cannot be used here, expected a metric query",
            )),
            _ => Err(self.unexpected("metric query")),
        }
    }

    fn grouping(&mut self) -> Result<Option<Grouping>, ParseError> {
        let without = match self.peek() {
            Tok::Ident(name) if name == "by" => false,
            Tok::Ident(name) if name == "without" => true,
            _ => return Ok(None),
        };
        self.advance();
        Ok(Some(Grouping {
            without,
            labels: self.label_list()?,
        }))
    }

    fn range_aggregation(&mut self, op: RangeOp) -> Result<MetricExpr, ParseError> {
        let op_index = self.pos;
        self.advance();
        self.expect_sym("(")?;
        let param = if op == RangeOp::QuantileOverTime {
            let value = self.expect_number()?;
            self.expect_sym(",")?;
            Some(value)
        } else {
            None
        };
        let (log, range_ns, offset_ns) = self.log_range()?;
        self.expect_sym(")")?;
        let grouping = self.grouping()?;
        let unwrap = log.unwrap_stage().is_some();
        if op.requires_unwrap() && !unwrap {
            return Err(self.error_at(
                op_index,
                format!("invalid aggregation {} without unwrap", op.as_str()),
            ));
        }
        if op.forbids_unwrap() && unwrap {
            return Err(self.error_at(
                op_index,
                format!("invalid aggregation {} with unwrap", op.as_str()),
            ));
        }
        if grouping.is_some() && op.forbids_unwrap() {
            return Err(self.error_at(
                op_index,
                format!("grouping not allowed for {} aggregation", op.as_str()),
            ));
        }
        Ok(MetricExpr::Range(RangeAggregation {
            op,
            param,
            log,
            range_ns,
            offset_ns,
            grouping,
        }))
    }

    /// `{sel} stages [range] [offset d]`, `{sel}[range] [offset d] stages` or `(log_expr)[range] [offset d]`.
    fn log_range(&mut self) -> Result<(LogExpr, i64, i64), ParseError> {
        let start = self.pos;
        let (log, range_ns, offset_ns) = if self.eat_sym("(") {
            let log = self.log_expr()?;
            self.expect_sym(")")?;
            let (range, offset) = self.range_and_offset()?;
            (log, range, offset)
        } else {
            let matchers = self.selector()?;
            if self.is_sym("[") {
                let (range, offset) = self.range_and_offset()?;
                let stages = self.stages()?;
                (LogExpr { matchers, stages }, range, offset)
            } else {
                let stages = self.stages()?;
                let (range, offset) = self.range_and_offset()?;
                (LogExpr { matchers, stages }, range, offset)
            }
        };
        check_unwrap_position(&log).map_err(|message| self.error_at(start, message))?;
        Ok((log, range_ns, offset_ns))
    }

    fn range_and_offset(&mut self) -> Result<(i64, i64), ParseError> {
        self.expect_sym("[")?;
        let range_index = self.pos;
        let range = self.expect_duration()?;
        if range <= 0 {
            return Err(self.error_at(range_index, "range must be positive"));
        }
        self.expect_sym("]")?;
        let mut offset = 0;
        if self.is_ident("offset") {
            self.advance();
            let negative = self.eat_sym("-");
            offset = self.expect_duration()?;
            if negative {
                offset = -offset;
            }
        }
        Ok((range, offset))
    }

    fn vector_aggregation(&mut self, op: VectorOp) -> Result<MetricExpr, ParseError> {
        self.advance();
        let mut grouping = self.grouping()?;
        self.expect_sym("(")?;
        let param = if op.takes_param() {
            let index = self.pos;
            let value = self.expect_number()?;
            if value.fract() != 0.0 || value < 1.0 {
                return Err(self.error_at(
                    index,
                    format!(
                        "invalid parameter for {}: k must be a positive integer",
                        op.as_str()
                    ),
                ));
            }
            self.expect_sym(",")?;
            Some(value)
        } else {
            None
        };
        let expr = self.metric_expr(0)?;
        self.expect_sym(")")?;
        if grouping.is_none() {
            grouping = self.grouping()?;
        }
        Ok(MetricExpr::Vector(VectorAggregation {
            op,
            param,
            expr: Box::new(expr),
            grouping,
        }))
    }

    fn label_replace(&mut self) -> Result<MetricExpr, ParseError> {
        self.advance();
        self.expect_sym("(")?;
        let expr = self.metric_expr(0)?;
        self.expect_sym(",")?;
        let dst = self.expect_string()?;
        self.expect_sym(",")?;
        let replacement = self.expect_string()?;
        self.expect_sym(",")?;
        let src = self.expect_string()?;
        self.expect_sym(",")?;
        let regex_index = self.pos;
        let regex = self.expect_string()?;
        if let Err(err) = regex::Regex::new(&format!("^(?s:{regex})$")) {
            let reason = strata_model::regex_error_reason(&err);
            return Err(self.error_at(regex_index, format!("invalid regex {regex:?}: {reason}")));
        }
        self.expect_sym(")")?;
        Ok(MetricExpr::LabelReplace(Box::new(LabelReplace {
            expr,
            dst,
            replacement,
            src,
            regex,
        })))
    }
}

/// An unwrap stage must be unique and followed only by label filters.
pub(crate) fn check_unwrap_position(log: &LogExpr) -> Result<(), String> {
    let Some(index) = log
        .stages
        .iter()
        .position(|stage| matches!(stage, Stage::Unwrap(_)))
    else {
        return Ok(());
    };
    let rest_ok = log.stages[index + 1..]
        .iter()
        .all(|stage| matches!(stage, Stage::LabelFilter(_)));
    if rest_ok {
        Ok(())
    } else {
        Err("unwrap can only be followed by label filters".to_string())
    }
}
