/// A LogQL syntax or semantic error, located in the query text.
///
/// Displays as Loki does: `parse error at line 1, col 13: syntax error: ...`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("parse error at line {line}, col {col}: {message}")]
pub struct ParseError {
    /// 1-based line of the offending token.
    pub line: usize,
    /// 1-based column (in characters) of the offending token; at the end of
    /// input, the number of characters on the last line, as Go's scanner reports it.
    pub col: usize,
    /// What went wrong, without the position.
    pub message: String,
}

impl ParseError {
    /// Builds an error at byte offset `offset` of `input`. `at_end` selects
    /// the end-of-input convention for the column.
    pub(crate) fn at(
        input: &str,
        offset: usize,
        at_end: bool,
        message: impl Into<String>,
    ) -> ParseError {
        let offset = offset.min(input.len());
        let before = &input[..offset];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |index| index + 1);
        let chars = input[line_start..offset].chars().count();
        let col = if at_end { chars } else { chars + 1 };
        ParseError {
            line,
            col,
            message: message.into(),
        }
    }
}
