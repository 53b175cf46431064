use regex::Regex;

/// The operator of a label matcher.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MatchOp {
    /// `=`
    Eq,
    /// `!=`
    Neq,
    /// `=~` (fully anchored RE2 syntax)
    Re,
    /// `!~`
    Nre,
}

impl MatchOp {
    pub fn as_str(self) -> &'static str {
        match self {
            MatchOp::Eq => "=",
            MatchOp::Neq => "!=",
            MatchOp::Re => "=~",
            MatchOp::Nre => "!~",
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("invalid regex {pattern:?} for label {name:?}: {reason}")]
pub struct MatcherError {
    pub name: String,
    pub pattern: String,
    pub reason: String,
}

/// The last line of a regex compile error: the reason without the echo of
/// the pattern, fit for a one-line message.
pub fn regex_error_reason(err: &regex::Error) -> String {
    err.to_string()
        .lines()
        .last()
        .unwrap_or("")
        .trim()
        .to_string()
}

/// `name op "value"` as in a stream selector. A missing label matches as the
/// empty string, as in Prometheus and Loki.
#[derive(Debug, Clone)]
pub struct LabelMatcher {
    pub name: String,
    pub op: MatchOp,
    pub value: String,
    /// The anchored regex for `=~` and `!~`.
    regex: Option<Regex>,
}

impl PartialEq for LabelMatcher {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name && self.op == other.op && self.value == other.value
    }
}

impl LabelMatcher {
    pub fn new(
        name: impl Into<String>,
        op: MatchOp,
        value: impl Into<String>,
    ) -> Result<LabelMatcher, MatcherError> {
        let name = name.into();
        let value = value.into();
        let regex = match op {
            MatchOp::Re | MatchOp::Nre => {
                let anchored = format!("^(?s:{value})$");
                let regex = Regex::new(&anchored).map_err(|err| MatcherError {
                    name: name.clone(),
                    pattern: value.clone(),
                    reason: regex_error_reason(&err),
                })?;
                Some(regex)
            }
            MatchOp::Eq | MatchOp::Neq => None,
        };
        Ok(LabelMatcher {
            name,
            op,
            value,
            regex,
        })
    }

    /// Whether a label value (None when the label is absent) satisfies this matcher.
    pub fn matches(&self, value: Option<&str>) -> bool {
        let value = value.unwrap_or("");
        match self.op {
            MatchOp::Eq => value == self.value,
            MatchOp::Neq => value != self.value,
            MatchOp::Re => self.regex.as_ref().is_some_and(|re| re.is_match(value)),
            MatchOp::Nre => !self.regex.as_ref().is_some_and(|re| re.is_match(value)),
        }
    }

    /// True when the matcher also matches a stream that lacks the label.
    pub fn matches_empty(&self) -> bool {
        self.matches(None)
    }
}

impl std::fmt::Display for LabelMatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}{}{:?}", self.name, self.op.as_str(), self.value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn semantics() {
        let case = |op: MatchOp, pattern: &str, value: Option<&str>, expected: bool| {
            let matcher = LabelMatcher::new("l", op, pattern).unwrap();
            assert_eq!(matcher.matches(value), expected, "{matcher} on {value:?}");
        };
        case(MatchOp::Eq, "a", Some("a"), true);
        case(MatchOp::Eq, "a", None, false);
        case(MatchOp::Eq, "", None, true);
        case(MatchOp::Neq, "a", None, true);
        case(MatchOp::Re, "a.*", Some("abc"), true);
        case(MatchOp::Re, "b", Some("abc"), false);
        case(MatchOp::Re, "a|b", Some("b"), true);
        case(MatchOp::Nre, "a.*", Some("abc"), false);
        case(MatchOp::Nre, "a.*", None, true);
        case(MatchOp::Re, ".*", None, true);
    }

    #[test]
    fn bad_regex_is_an_error() {
        let err = LabelMatcher::new("job", MatchOp::Re, "(").unwrap_err();
        assert!(err.to_string().contains("job"));
    }
}
