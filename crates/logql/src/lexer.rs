//! Splits a LogQL query into tokens. Comments (`#` to end of line) and
//! whitespace are skipped; every token keeps its byte offset for errors.

use crate::error::ParseError;

/// The kind of a token, with its decoded text where it has one.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Tok {
    /// `[a-zA-Z_][a-zA-Z0-9_]*`, keywords included (the parser decides).
    Ident(String),
    /// A double-quoted (escapes decoded) or backtick (raw) string.
    Str(String),
    /// A run starting with a digit: a number, a duration or a byte size;
    /// the parser classifies it by what it expects.
    NumLike(String),
    /// `--name`, a parser flag such as logfmt's `--strict`.
    Flag(String),
    /// Punctuation and operators, as written.
    Sym(&'static str),
    /// End of input.
    Eof,
}

/// A token and the byte offset where it starts.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Token {
    pub tok: Tok,
    pub offset: usize,
}

impl Tok {
    /// How an error message names this token.
    pub(crate) fn describe(&self) -> String {
        match self {
            Tok::Ident(name) => format!("identifier {name:?}"),
            Tok::Str(text) => format!("string {text:?}"),
            Tok::NumLike(text) => format!("number {text}"),
            Tok::Flag(name) => format!("flag --{name}"),
            Tok::Sym(sym) => format!("{sym:?}"),
            Tok::Eof => "end of input".to_string(),
        }
    }
}

/// Operators, longest first so that `!=` wins over `!`.
const SYMBOLS: &[&str] = &[
    "|=", "|~", "|>", "!=", "!~", "!>", "=~", "==", ">=", "<=", "{", "}", "(", ")", "[", "]", ",",
    "=", "|", ">", "<", "+", "-", "*", "/", "%", "^",
];

pub(crate) fn tokenize(input: &str) -> Result<Vec<Token>, ParseError> {
    let bytes = input.as_bytes();
    let mut tokens = Vec::new();
    let mut pos = 0;
    while pos < bytes.len() {
        let byte = bytes[pos];
        if byte.is_ascii_whitespace() {
            pos += 1;
            continue;
        }
        if byte == b'#' {
            while pos < bytes.len() && bytes[pos] != b'\n' {
                pos += 1;
            }
            continue;
        }
        let start = pos;
        let tok = if byte.is_ascii_alphabetic() || byte == b'_' {
            while pos < bytes.len() && (bytes[pos].is_ascii_alphanumeric() || bytes[pos] == b'_') {
                pos += 1;
            }
            Tok::Ident(input[start..pos].to_string())
        } else if byte.is_ascii_digit()
            || (byte == b'.' && bytes.get(pos + 1).is_some_and(u8::is_ascii_digit))
        {
            pos = scan_number_like(bytes, pos);
            Tok::NumLike(input[start..pos].to_string())
        } else if byte == b'"' {
            let (text, end) = scan_quoted(input, pos)?;
            pos = end;
            Tok::Str(text)
        } else if byte == b'`' {
            let Some(len) = input[pos + 1..].find('`') else {
                return Err(ParseError::at(
                    input,
                    start,
                    false,
                    "syntax error: unterminated raw string",
                ));
            };
            pos += len + 2;
            Tok::Str(input[start + 1..pos - 1].to_string())
        } else if byte == b'-'
            && bytes.get(pos + 1) == Some(&b'-')
            && bytes.get(pos + 2).is_some_and(u8::is_ascii_alphabetic)
        {
            pos += 2;
            while pos < bytes.len()
                && (bytes[pos].is_ascii_alphanumeric() || bytes[pos] == b'_' || bytes[pos] == b'-')
            {
                pos += 1;
            }
            Tok::Flag(input[start + 2..pos].to_string())
        } else {
            let Some(sym) = SYMBOLS.iter().find(|sym| input[pos..].starts_with(**sym)) else {
                let c = input[pos..].chars().next().unwrap_or('?');
                return Err(ParseError::at(
                    input,
                    start,
                    false,
                    format!("syntax error: unexpected character {c:?}"),
                ));
            };
            pos += sym.len();
            Tok::Sym(sym)
        };
        tokens.push(Token { tok, offset: start });
    }
    tokens.push(Token {
        tok: Tok::Eof,
        offset: input.len(),
    });
    Ok(tokens)
}

/// Scans digits, dots, letters and exponent signs: `0.99`, `1e-3`, `1h30m`,
/// `20MB`, `1KiB`, `250µs`.
fn scan_number_like(bytes: &[u8], mut pos: usize) -> usize {
    while pos < bytes.len() {
        let byte = bytes[pos];
        let plain = byte.is_ascii_alphanumeric() || byte == b'.' || byte == b'_';
        let exponent_sign = (byte == b'-' || byte == b'+')
            && matches!(bytes[pos - 1], b'e' | b'E')
            && bytes.get(pos + 1).is_some_and(u8::is_ascii_digit);
        if plain || exponent_sign {
            pos += 1;
        } else if byte == 0xc2 && bytes.get(pos + 1) == Some(&0xb5) {
            // 'µ' as in 250µs.
            pos += 2;
        } else {
            break;
        }
    }
    pos
}

/// Decodes a double-quoted string with Go escapes; returns it and the offset after the closing quote.
fn scan_quoted(input: &str, start: usize) -> Result<(String, usize), ParseError> {
    let mut out = String::new();
    let mut chars = input[start + 1..].char_indices().peekable();
    let bad_escape = |offset: usize| {
        ParseError::at(
            input,
            start + 1 + offset,
            false,
            "syntax error: invalid escape sequence in string",
        )
    };
    while let Some((offset, c)) = chars.next() {
        match c {
            '"' => return Ok((out, start + 1 + offset + 1)),
            '\n' => break,
            '\\' => {
                let Some((_, escaped)) = chars.next() else {
                    break;
                };
                match escaped {
                    'a' => out.push('\x07'),
                    'b' => out.push('\x08'),
                    'f' => out.push('\x0c'),
                    'n' => out.push('\n'),
                    'r' => out.push('\r'),
                    't' => out.push('\t'),
                    'v' => out.push('\x0b'),
                    '\\' => out.push('\\'),
                    '"' => out.push('"'),
                    'x' | 'u' | 'U' => {
                        let digits = match escaped {
                            'x' => 2,
                            'u' => 4,
                            _ => 8,
                        };
                        let mut value = 0u32;
                        for _ in 0..digits {
                            let Some((_, digit)) = chars.next() else {
                                return Err(bad_escape(offset));
                            };
                            let Some(digit) = digit.to_digit(16) else {
                                return Err(bad_escape(offset));
                            };
                            value = value * 16 + digit;
                        }
                        let Some(decoded) = char::from_u32(value) else {
                            return Err(bad_escape(offset));
                        };
                        out.push(decoded);
                    }
                    '0'..='7' => {
                        let mut value = escaped.to_digit(8).unwrap_or(0);
                        for _ in 0..2 {
                            let Some((_, digit)) = chars.next() else {
                                return Err(bad_escape(offset));
                            };
                            let Some(digit) = digit.to_digit(8) else {
                                return Err(bad_escape(offset));
                            };
                            value = value * 8 + digit;
                        }
                        let Some(decoded) = char::from_u32(value).filter(|_| value < 256) else {
                            return Err(bad_escape(offset));
                        };
                        out.push(decoded);
                    }
                    _ => return Err(bad_escape(offset)),
                }
            }
            c => out.push(c),
        }
    }
    Err(ParseError::at(
        input,
        start,
        false,
        "syntax error: unterminated string",
    ))
}

/// Quotes `text` as a Go double-quoted string literal.
pub fn quote(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || c == '\x7f' => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens() {
        let case = |input: &str, expected: &[Tok]| {
            let got: Vec<Tok> = tokenize(input)
                .unwrap()
                .into_iter()
                .map(|token| token.tok)
                .collect();
            assert_eq!(&got[..got.len() - 1], expected, "{input}");
        };
        case(
            r#"{a="b"}"#,
            &[
                Tok::Sym("{"),
                Tok::Ident("a".into()),
                Tok::Sym("="),
                Tok::Str("b".into()),
                Tok::Sym("}"),
            ],
        );
        case(
            "|= != |~ !~ |> !>",
            &[
                Tok::Sym("|="),
                Tok::Sym("!="),
                Tok::Sym("|~"),
                Tok::Sym("!~"),
                Tok::Sym("|>"),
                Tok::Sym("!>"),
            ],
        );
        case(
            "[5m] 1h30m 0.99 1e-3 20MB",
            &[
                Tok::Sym("["),
                Tok::NumLike("5m".into()),
                Tok::Sym("]"),
                Tok::NumLike("1h30m".into()),
                Tok::NumLike("0.99".into()),
                Tok::NumLike("1e-3".into()),
                Tok::NumLike("20MB".into()),
            ],
        );
        case(
            "`a\\b` \"q\\\"\\n\\x41\\u00e9\"",
            &[Tok::Str("a\\b".into()), Tok::Str("q\"\nAé".into())],
        );
        case(
            "--strict # comment\n x",
            &[Tok::Flag("strict".into()), Tok::Ident("x".into())],
        );
    }

    #[test]
    fn quote_round_trips() {
        for text in ["plain", "q\"uote", "back\\slash", "tab\tnl\n", "\x01", "é"] {
            let quoted = quote(text);
            let tokens = tokenize(&quoted).unwrap();
            assert_eq!(tokens[0].tok, Tok::Str(text.to_string()));
        }
    }
}
