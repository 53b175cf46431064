//! The recursive-descent parser: token helpers and the log-query grammar.
//! The metric grammar is in `parse_metric.rs`.

use strata_model::{LabelMatcher, MatchOp};

use crate::ast::{
    CmpOp, Extraction, LabelFilterExpr, LabelFormatOp, LabelSelection, LineFilter, LineFilterOp,
    LogExpr, Stage, Unwrap, UnwrapConversion,
};
use crate::error::ParseError;
use crate::lexer::{Tok, Token, tokenize};
use crate::units::{parse_bytes, parse_duration, parse_number};

/// Loki's message for selectors that would match every stream.
pub(crate) const EMPTY_COMPATIBLE: &str = "queries require at least one regexp or equality matcher that does not have an empty-compatible value. For instance, app=~\".*\" does not meet this requirement, but app=~\".+\" will";

pub(crate) struct Parser<'a> {
    /// The query text, for error positions.
    pub input: &'a str,
    /// All tokens, ending with `Tok::Eof`.
    pub tokens: Vec<Token>,
    /// Index of the next token.
    pub pos: usize,
}

impl<'a> Parser<'a> {
    pub fn new(input: &'a str) -> Result<Parser<'a>, ParseError> {
        let tokens = tokenize(input)?;
        check_complexity(input, &tokens)?;
        Ok(Parser {
            input,
            tokens,
            pos: 0,
        })
    }

    pub fn peek(&self) -> &Tok {
        &self.tokens[self.pos].tok
    }

    pub fn peek_at(&self, ahead: usize) -> &Tok {
        let index = (self.pos + ahead).min(self.tokens.len() - 1);
        &self.tokens[index].tok
    }

    pub fn advance(&mut self) -> Token {
        let token = self.tokens[self.pos].clone();
        if self.pos + 1 < self.tokens.len() {
            self.pos += 1;
        }
        token
    }

    /// An error located at the next token.
    pub fn error_here(&self, message: impl Into<String>) -> ParseError {
        self.error_at(self.pos, message)
    }

    /// An error located at token `index`.
    pub fn error_at(&self, index: usize, message: impl Into<String>) -> ParseError {
        let token = &self.tokens[index];
        ParseError::at(self.input, token.offset, token.tok == Tok::Eof, message)
    }

    /// `syntax error: unexpected <next token>, expected <what>`.
    pub fn unexpected(&self, expected: &str) -> ParseError {
        self.error_here(format!(
            "syntax error: unexpected {}, expected {expected}",
            self.peek().describe()
        ))
    }

    pub fn is_sym(&self, sym: &str) -> bool {
        matches!(self.peek(), Tok::Sym(s) if *s == sym)
    }

    pub fn is_ident(&self, name: &str) -> bool {
        matches!(self.peek(), Tok::Ident(s) if s == name)
    }

    pub fn eat_sym(&mut self, sym: &str) -> bool {
        let found = self.is_sym(sym);
        if found {
            self.advance();
        }
        found
    }

    pub fn expect_sym(&mut self, sym: &str) -> Result<(), ParseError> {
        if self.eat_sym(sym) {
            Ok(())
        } else {
            Err(self.unexpected(&format!("{sym:?}")))
        }
    }

    pub fn expect_ident(&mut self, what: &str) -> Result<String, ParseError> {
        match self.peek().clone() {
            Tok::Ident(name) => {
                self.advance();
                Ok(name)
            }
            _ => Err(self.unexpected(what)),
        }
    }

    pub fn expect_string(&mut self) -> Result<String, ParseError> {
        match self.peek().clone() {
            Tok::Str(text) => {
                self.advance();
                Ok(text)
            }
            _ => Err(self.unexpected("string")),
        }
    }

    pub fn expect_eof(&self) -> Result<(), ParseError> {
        if *self.peek() == Tok::Eof {
            Ok(())
        } else {
            Err(self.unexpected("end of input"))
        }
    }

    /// Parses a number literal, with an optional sign.
    pub fn expect_number(&mut self) -> Result<f64, ParseError> {
        let negative = if self.eat_sym("-") {
            true
        } else {
            self.eat_sym("+");
            false
        };
        let value = match self.peek() {
            Tok::NumLike(text) => parse_number(text),
            Tok::Ident(name) if name.eq_ignore_ascii_case("inf") => Some(f64::INFINITY),
            Tok::Ident(name) if name.eq_ignore_ascii_case("nan") => Some(f64::NAN),
            _ => None,
        };
        let Some(value) = value else {
            return Err(self.unexpected("number"));
        };
        self.advance();
        Ok(if negative { -value } else { value })
    }

    /// Parses a duration such as `5m` or `1h30m`, in nanoseconds.
    pub fn expect_duration(&mut self) -> Result<i64, ParseError> {
        let value = match self.peek() {
            Tok::NumLike(text) => parse_duration(text),
            _ => None,
        };
        let Some(value) = value else {
            return Err(self.unexpected("duration"));
        };
        self.advance();
        Ok(value)
    }

    /// Parses a `(a, b, c)` list of label names; may be empty.
    pub fn label_list(&mut self) -> Result<Vec<String>, ParseError> {
        self.expect_sym("(")?;
        let mut labels = Vec::new();
        if self.eat_sym(")") {
            return Ok(labels);
        }
        loop {
            labels.push(self.expect_ident("label name")?);
            if self.eat_sym(")") {
                return Ok(labels);
            }
            if !self.eat_sym(",") {
                return Err(self.unexpected("\",\" or \")\""));
            }
        }
    }

    /// Parses `{matchers} stages`.
    pub fn log_expr(&mut self) -> Result<LogExpr, ParseError> {
        let matchers = self.selector()?;
        let stages = self.stages()?;
        Ok(LogExpr { matchers, stages })
    }

    /// Parses `{name op "value", ...}`.
    pub fn selector(&mut self) -> Result<Vec<LabelMatcher>, ParseError> {
        let start = self.pos;
        self.expect_sym("{")?;
        let mut matchers = Vec::new();
        loop {
            let name = self.expect_ident("label name")?;
            let op = self.match_op()?;
            let value_index = self.pos;
            let value = self.expect_string()?;
            let matcher = LabelMatcher::new(name, op, value)
                .map_err(|err| self.error_at(value_index, err.to_string()))?;
            matchers.push(matcher);
            if self.eat_sym("}") {
                break;
            }
            if !self.eat_sym(",") {
                return Err(self.unexpected("\",\" or \"}\""));
            }
        }
        if matchers.iter().all(LabelMatcher::matches_empty) {
            return Err(self.error_at(start, EMPTY_COMPATIBLE));
        }
        Ok(matchers)
    }

    fn match_op(&mut self) -> Result<MatchOp, ParseError> {
        let op = match self.peek() {
            Tok::Sym("=") => MatchOp::Eq,
            Tok::Sym("!=") => MatchOp::Neq,
            Tok::Sym("=~") => MatchOp::Re,
            Tok::Sym("!~") => MatchOp::Nre,
            _ => return Err(self.unexpected("one of \"=\", \"!=\", \"=~\", \"!~\"")),
        };
        self.advance();
        Ok(op)
    }

    /// Parses stages until a token that cannot continue a pipeline.
    pub fn stages(&mut self) -> Result<Vec<Stage>, ParseError> {
        let mut stages = Vec::new();
        loop {
            let filter_op = match self.peek() {
                Tok::Sym("|=") => Some(LineFilterOp::Contains),
                Tok::Sym("!=") => Some(LineFilterOp::NotContains),
                Tok::Sym("|~") => Some(LineFilterOp::Match),
                Tok::Sym("!~") => Some(LineFilterOp::NotMatch),
                Tok::Sym("|>") => Some(LineFilterOp::Pattern),
                Tok::Sym("!>") => Some(LineFilterOp::NotPattern),
                _ => None,
            };
            if let Some(op) = filter_op {
                self.advance();
                stages.push(Stage::LineFilter(self.line_filter(op)?));
            } else if self.eat_sym("|") {
                stages.push(self.stage()?);
            } else {
                return Ok(stages);
            }
        }
    }

    fn line_filter(&mut self, mut op: LineFilterOp) -> Result<LineFilter, ParseError> {
        let mut values = Vec::new();
        let ip =
            matches!(op, LineFilterOp::Contains | LineFilterOp::NotContains) && self.is_ip_call();
        if ip {
            op = if op == LineFilterOp::Contains {
                LineFilterOp::ContainsIp
            } else {
                LineFilterOp::NotContainsIp
            };
        }
        loop {
            let index = self.pos;
            let value = if ip {
                self.ip_call()?
            } else {
                self.expect_string()?
            };
            if matches!(op, LineFilterOp::Match | LineFilterOp::NotMatch) {
                check_regex(self, index, &value)?;
            }
            values.push(value);
            let next_is_value = if ip {
                matches!(self.peek_at(1), Tok::Ident(name) if name == "ip")
                    && matches!(self.peek_at(2), Tok::Sym("("))
            } else {
                matches!(self.peek_at(1), Tok::Str(_))
            };
            if self.is_ident("or") && next_is_value {
                self.advance();
            } else {
                return Ok(LineFilter { op, values });
            }
        }
    }

    fn is_ip_call(&self) -> bool {
        self.is_ident("ip") && matches!(self.peek_at(1), Tok::Sym("("))
    }

    /// Parses `ip("range")`.
    fn ip_call(&mut self) -> Result<String, ParseError> {
        if !self.is_ident("ip") {
            return Err(self.unexpected("ip(...)"));
        }
        self.advance();
        self.expect_sym("(")?;
        let range = self.expect_string()?;
        self.expect_sym(")")?;
        Ok(range)
    }

    /// Parses what follows a `|`.
    fn stage(&mut self) -> Result<Stage, ParseError> {
        let Tok::Ident(name) = self.peek().clone() else {
            if self.is_sym("(") {
                return Ok(Stage::LabelFilter(self.label_filter_or()?));
            }
            return Err(self.unexpected("parser, formatter or label filter"));
        };
        // Parsers without arguments are keywords, as in Loki: `| json != "x"` is
        // json followed by a line filter.
        let keyword = matches!(name.as_str(), "json" | "logfmt" | "unpack" | "decolorize");
        let is_filter = !keyword
            && matches!(
                self.peek_at(1),
                Tok::Sym("=" | "!=" | "=~" | "!~" | ">" | ">=" | "<" | "<=" | "==")
            );
        if is_filter {
            return Ok(Stage::LabelFilter(self.label_filter_or()?));
        }
        self.advance();
        let stage = match name.as_str() {
            "json" => Stage::Json(self.extractions()?),
            "logfmt" => {
                let mut strict = false;
                let mut keep_empty = false;
                while let Tok::Flag(flag) = self.peek().clone() {
                    match flag.as_str() {
                        "strict" => strict = true,
                        "keep-empty" => keep_empty = true,
                        _ => {
                            return Err(self.error_here(format!(
                                "syntax error: unknown logfmt flag --{flag}"
                            )));
                        }
                    }
                    self.advance();
                }
                Stage::Logfmt {
                    strict,
                    keep_empty,
                    params: self.extractions()?,
                }
            }
            "regexp" => {
                let index = self.pos;
                let pattern = self.expect_string()?;
                check_regex(self, index, &pattern)?;
                Stage::Regexp(pattern)
            }
            "pattern" => Stage::Pattern(self.expect_string()?),
            "unpack" => Stage::Unpack,
            "decolorize" => Stage::Decolorize,
            "line_format" => Stage::LineFormat(self.expect_string()?),
            "label_format" => Stage::LabelFormat(self.label_format_ops()?),
            "drop" => Stage::Drop(self.label_selections()?),
            "keep" => Stage::Keep(self.label_selections()?),
            "unwrap" => Stage::Unwrap(self.unwrap()?),
            _ => {
                self.pos -= 1;
                return Err(self.unexpected("parser, formatter or label filter"));
            }
        };
        Ok(stage)
    }

    /// `label="expression", label, ...` after json or logfmt; possibly none.
    fn extractions(&mut self) -> Result<Vec<Extraction>, ParseError> {
        let mut params = Vec::new();
        while let Tok::Ident(label) = self.peek().clone() {
            self.advance();
            let expression = if self.eat_sym("=") {
                self.expect_string()?
            } else {
                label.clone()
            };
            params.push(Extraction { label, expression });
            if !self.eat_sym(",") {
                break;
            }
            if !matches!(self.peek(), Tok::Ident(_)) {
                return Err(self.unexpected("label name"));
            }
        }
        Ok(params)
    }

    fn label_format_ops(&mut self) -> Result<Vec<LabelFormatOp>, ParseError> {
        let mut ops = Vec::new();
        loop {
            let dst = self.expect_ident("label name")?;
            self.expect_sym("=")?;
            let op = match self.peek().clone() {
                Tok::Ident(src) => {
                    self.advance();
                    LabelFormatOp::Rename { dst, src }
                }
                Tok::Str(template) => {
                    self.advance();
                    LabelFormatOp::Template { dst, template }
                }
                _ => return Err(self.unexpected("label name or template string")),
            };
            ops.push(op);
            if !self.eat_sym(",") {
                return Ok(ops);
            }
        }
    }

    fn label_selections(&mut self) -> Result<Vec<LabelSelection>, ParseError> {
        let mut selections = Vec::new();
        loop {
            let name = self.expect_ident("label name")?;
            if matches!(self.peek(), Tok::Sym("=" | "!=" | "=~" | "!~")) {
                let op = self.match_op()?;
                let value_index = self.pos;
                let value = self.expect_string()?;
                let matcher = LabelMatcher::new(name, op, value)
                    .map_err(|err| self.error_at(value_index, err.to_string()))?;
                selections.push(LabelSelection::Matcher(matcher));
            } else {
                selections.push(LabelSelection::Name(name));
            }
            if !self.eat_sym(",") {
                return Ok(selections);
            }
        }
    }

    fn unwrap(&mut self) -> Result<Unwrap, ParseError> {
        let name = self.expect_ident("label name")?;
        if !self.is_sym("(") {
            return Ok(Unwrap {
                label: name,
                conversion: UnwrapConversion::None,
            });
        }
        let conversion = match name.as_str() {
            "duration" => UnwrapConversion::Duration,
            "duration_seconds" => UnwrapConversion::DurationSeconds,
            "bytes" => UnwrapConversion::Bytes,
            _ => {
                return Err(self.error_at(
                    self.pos - 1,
                    format!("syntax error: unknown unwrap conversion {name:?}"),
                ));
            }
        };
        self.advance();
        let label = self.expect_ident("label name")?;
        self.expect_sym(")")?;
        Ok(Unwrap { label, conversion })
    }

    /// `and_expr (or and_expr)*`.
    fn label_filter_or(&mut self) -> Result<LabelFilterExpr, ParseError> {
        let mut left = self.label_filter_and()?;
        while self.is_ident("or") {
            self.advance();
            let right = self.label_filter_and()?;
            left = LabelFilterExpr::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    /// `primary ((and | , | nothing) primary)*`.
    fn label_filter_and(&mut self) -> Result<LabelFilterExpr, ParseError> {
        let mut left = self.label_filter_primary()?;
        loop {
            let starts_primary = |tok: &Tok, next: &Tok| {
                matches!(tok, Tok::Sym("("))
                    || (matches!(tok, Tok::Ident(name) if name != "or" && name != "and")
                        && matches!(
                            next,
                            Tok::Sym("=" | "!=" | "=~" | "!~" | ">" | ">=" | "<" | "<=" | "==")
                        ))
            };
            if self.is_ident("and")
                || (self.is_sym(",") && starts_primary(self.peek_at(1), self.peek_at(2)))
            {
                self.advance();
            } else if !starts_primary(self.peek(), self.peek_at(1)) {
                return Ok(left);
            }
            let right = self.label_filter_primary()?;
            left = LabelFilterExpr::And(Box::new(left), Box::new(right));
        }
    }

    fn label_filter_primary(&mut self) -> Result<LabelFilterExpr, ParseError> {
        if self.eat_sym("(") {
            let inner = self.label_filter_or()?;
            self.expect_sym(")")?;
            return Ok(inner);
        }
        let name = self.expect_ident("label name")?;
        let op_index = self.pos;
        let op_sym = match self.peek() {
            Tok::Sym(sym @ ("=" | "!=" | "=~" | "!~" | ">" | ">=" | "<" | "<=" | "==")) => *sym,
            _ => return Err(self.unexpected("label filter operator")),
        };
        self.advance();
        if matches!(op_sym, "=" | "!=") && self.is_ip_call() {
            let range = self.ip_call()?;
            return Ok(LabelFilterExpr::Ip {
                name,
                negated: op_sym == "!=",
                range,
            });
        }
        if let Tok::Str(value) = self.peek().clone() {
            let op = match op_sym {
                "=" | "==" => MatchOp::Eq,
                "!=" => MatchOp::Neq,
                "=~" => MatchOp::Re,
                "!~" => MatchOp::Nre,
                _ => return Err(self.error_at(
                    op_index,
                    format!(
                        "syntax error: operator {op_sym:?} needs a number, duration or byte size"
                    ),
                )),
            };
            let value_index = self.pos;
            self.advance();
            let matcher = LabelMatcher::new(name, op, value)
                .map_err(|err| self.error_at(value_index, err.to_string()))?;
            return Ok(LabelFilterExpr::String(matcher));
        }
        let op = match op_sym {
            "=" | "==" => CmpOp::Eq,
            "!=" => CmpOp::Neq,
            ">" => CmpOp::Gt,
            ">=" => CmpOp::Gte,
            "<" => CmpOp::Lt,
            "<=" => CmpOp::Lte,
            _ => return Err(self.unexpected("string")),
        };
        let negative = self.eat_sym("-");
        let Tok::NumLike(text) = self.peek().clone() else {
            return Err(self.unexpected("string, number, duration or byte size"));
        };
        let sign = if negative { "-" } else { "" };
        let filter = if let Some(value) = parse_number(&text) {
            LabelFilterExpr::Number {
                name,
                op,
                value: if negative { -value } else { value },
            }
        } else if let Some(value) = parse_duration(&format!("{sign}{text}")) {
            LabelFilterExpr::Duration { name, op, value }
        } else if let (Some(value), false) = (parse_bytes(&text), negative) {
            LabelFilterExpr::Bytes { name, op, value }
        } else {
            return Err(self.error_here(format!(
                "syntax error: cannot parse {text:?} as a number, duration or byte size"
            )));
        };
        self.advance();
        Ok(filter)
    }
}

/// Deepest bracket nesting accepted; the parser recurses once per level.
const MAX_NESTING: usize = 64;
/// Most operators (binary, comparisons and matchers, `and`, `or`, `,`)
/// accepted: each may add a level to the AST (label filters side by side are
/// an implicit `and`), which is dropped, printed and evaluated recursively.
const MAX_OPERATORS: usize = 512;

/// Rejects queries deep enough to exhaust the stack of a recursive parser.
fn check_complexity(input: &str, tokens: &[Token]) -> Result<(), ParseError> {
    let mut depth = 0usize;
    let mut operators = 0usize;
    for token in tokens {
        match &token.tok {
            Tok::Sym("(" | "[" | "{") => depth += 1,
            Tok::Sym(")" | "]" | "}") => depth = depth.saturating_sub(1),
            Tok::Sym(
                "+" | "-" | "*" | "/" | "%" | "^" | "==" | "!=" | ">" | ">=" | "<" | "<=" | ","
                | "=" | "=~" | "!~",
            ) => operators += 1,
            Tok::Ident(word) if matches!(word.as_str(), "and" | "or" | "unless") => operators += 1,
            _ => {}
        }
        if depth > MAX_NESTING {
            return Err(ParseError::at(
                input,
                token.offset,
                false,
                format!("syntax error: nesting deeper than {MAX_NESTING}"),
            ));
        }
        if operators > MAX_OPERATORS {
            return Err(ParseError::at(
                input,
                token.offset,
                false,
                format!("syntax error: more than {MAX_OPERATORS} operators"),
            ));
        }
    }
    Ok(())
}

/// Checks that `pattern` compiles as a regex, reporting at token `index`.
fn check_regex(parser: &Parser<'_>, index: usize, pattern: &str) -> Result<(), ParseError> {
    match regex::Regex::new(pattern) {
        Ok(_) => Ok(()),
        Err(err) => {
            let reason = strata_model::regex_error_reason(&err);
            Err(parser.error_at(index, format!("invalid regex {pattern:?}: {reason}")))
        }
    }
}
