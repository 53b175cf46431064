//! The log-query AST: a stream selector and a pipeline of stages.

use strata_model::LabelMatcher;

use crate::metric::MetricExpr;

/// Any LogQL query.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// A query returning log lines: `{app="x"} |= "err" | json`.
    Log(LogExpr),
    /// A query returning samples: `rate({app="x"}[5m])`.
    Metric(MetricExpr),
}

/// `{matchers} stage stage ...`.
#[derive(Debug, Clone, PartialEq)]
pub struct LogExpr {
    /// The stream selector; never empty, and never only empty-compatible matchers.
    pub matchers: Vec<LabelMatcher>,
    /// The pipeline, in query order.
    pub stages: Vec<Stage>,
}

/// One stage of a log pipeline.
#[derive(Debug, Clone, PartialEq)]
pub enum Stage {
    /// `|= "a" or "b"`, `!~ "re"`, `|> "<_> pattern"`.
    LineFilter(LineFilter),
    /// `| json` (no params: every field) or `| json label="expression", ...`.
    Json(Vec<Extraction>),
    /// `| logfmt [--strict] [--keep-empty] [label="key", ...]`.
    Logfmt {
        strict: bool,
        keep_empty: bool,
        params: Vec<Extraction>,
    },
    /// `| regexp "(?P<name>re)"`: named captures become labels.
    Regexp(String),
    /// `| pattern "<ip> - <_> ..."`.
    Pattern(String),
    /// `| unpack`: JSON whose `_entry` key replaces the line.
    Unpack,
    /// `| name op value [and|or|, ...]`.
    LabelFilter(LabelFilterExpr),
    /// `| line_format "template"`.
    LineFormat(String),
    /// `| label_format dst=src, dst="template"`.
    LabelFormat(Vec<LabelFormatOp>),
    /// `| drop name, name="value"`. As in Loki, `| drop a != "x"` is the
    /// matcher `a!="x"`, not `drop a` followed by a line filter.
    Drop(Vec<LabelSelection>),
    /// `| keep name, name="value"`.
    Keep(Vec<LabelSelection>),
    /// `| decolorize`: strips ANSI escape sequences from the line.
    Decolorize,
    /// `| unwrap [conversion(]label[)]`: only inside range aggregations.
    Unwrap(Unwrap),
}

/// A line filter: the line passes when it matches any of `values` (for the
/// positive operators) or none of them (for the negative ones).
#[derive(Debug, Clone, PartialEq)]
pub struct LineFilter {
    pub op: LineFilterOp,
    /// The alternatives of an `or` chain; at least one.
    pub values: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LineFilterOp {
    /// `|=`: substring.
    Contains,
    /// `!=`
    NotContains,
    /// `|~`: unanchored RE2 match.
    Match,
    /// `!~`
    NotMatch,
    /// `|>`: pattern match, `<_>` matches anything.
    Pattern,
    /// `!>`
    NotPattern,
    /// `|= ip("...")`: the line holds an IP address in the range.
    ContainsIp,
    /// `!= ip("...")`
    NotContainsIp,
}

impl LineFilterOp {
    pub fn as_str(self) -> &'static str {
        match self {
            LineFilterOp::Contains => "|=",
            LineFilterOp::NotContains => "!=",
            LineFilterOp::Match => "|~",
            LineFilterOp::NotMatch => "!~",
            LineFilterOp::Pattern => "|>",
            LineFilterOp::NotPattern => "!>",
            LineFilterOp::ContainsIp => "|=",
            LineFilterOp::NotContainsIp => "!=",
        }
    }

    /// True for the operators that keep lines matching none of the values.
    pub fn is_negative(self) -> bool {
        matches!(
            self,
            LineFilterOp::NotContains
                | LineFilterOp::NotMatch
                | LineFilterOp::NotPattern
                | LineFilterOp::NotContainsIp
        )
    }

    /// True for `|= ip(...)` and `!= ip(...)`, whose values are IP ranges.
    pub fn is_ip(self) -> bool {
        matches!(self, LineFilterOp::ContainsIp | LineFilterOp::NotContainsIp)
    }
}

/// `label="expression"` of a json or logfmt parser; a bare `label` has the label as expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Extraction {
    pub label: String,
    /// For json, a path such as `a.b[0]` or `a["b c"]`; for logfmt, a key.
    pub expression: String,
}

/// A label filter expression; `and` binds tighter than `or`.
#[derive(Debug, Clone, PartialEq)]
pub enum LabelFilterExpr {
    And(Box<LabelFilterExpr>, Box<LabelFilterExpr>),
    Or(Box<LabelFilterExpr>, Box<LabelFilterExpr>),
    /// `name = "v"`, `!=`, `=~`, `!~` (regexes fully anchored).
    String(LabelMatcher),
    /// `name > 1.5`: the label value is parsed as a float.
    Number {
        name: String,
        op: CmpOp,
        value: f64,
    },
    /// `name > 10s`: the label value is parsed as a Go duration; nanoseconds.
    Duration {
        name: String,
        op: CmpOp,
        value: i64,
    },
    /// `name > 20MB`: the label value is parsed as a humanized byte size.
    /// `name = ip("range")` or `name != ip("range")`: the value is an IP
    /// address in the range (a single address, a CIDR, or `a-b`).
    Ip {
        name: String,
        negated: bool,
        range: String,
    },
    Bytes {
        name: String,
        op: CmpOp,
        value: u64,
    },
}

/// A numeric comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CmpOp {
    Eq,
    Neq,
    Gt,
    Gte,
    Lt,
    Lte,
}

impl CmpOp {
    pub fn as_str(self) -> &'static str {
        match self {
            CmpOp::Eq => "==",
            CmpOp::Neq => "!=",
            CmpOp::Gt => ">",
            CmpOp::Gte => ">=",
            CmpOp::Lt => "<",
            CmpOp::Lte => "<=",
        }
    }

    /// Applies the comparison `left op right`.
    pub fn compare<T: PartialOrd>(self, left: T, right: T) -> bool {
        match self {
            CmpOp::Eq => left == right,
            CmpOp::Neq => left != right,
            CmpOp::Gt => left > right,
            CmpOp::Gte => left >= right,
            CmpOp::Lt => left < right,
            CmpOp::Lte => left <= right,
        }
    }
}

/// One assignment of `label_format`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LabelFormatOp {
    /// `dst=src`: renames `src` to `dst`.
    Rename { dst: String, src: String },
    /// `dst="{{.x}}"`: sets `dst` to the rendered template.
    Template { dst: String, template: String },
}

/// A label named by `drop` or `keep`, optionally only when its value matches.
#[derive(Debug, Clone, PartialEq)]
pub enum LabelSelection {
    Name(String),
    Matcher(LabelMatcher),
}

/// `unwrap label`, `unwrap duration(label)`, `unwrap bytes(label)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unwrap {
    pub label: String,
    pub conversion: UnwrapConversion,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UnwrapConversion {
    /// The value is a float.
    None,
    /// `duration(x)` or `duration_seconds(x)`: a Go duration, as seconds.
    Duration,
    /// `duration_seconds(x)`, kept apart to print as written.
    DurationSeconds,
    /// `bytes(x)`: a humanized byte size.
    Bytes,
}

impl LogExpr {
    /// The unwrap stage, if the pipeline has one.
    pub fn unwrap_stage(&self) -> Option<&Unwrap> {
        self.stages.iter().find_map(|stage| match stage {
            Stage::Unwrap(unwrap) => Some(unwrap),
            _ => None,
        })
    }
}
