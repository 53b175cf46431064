//! The tokenizer behind bloom filters.
//!
//! A token is a maximal run of ASCII letters, digits, `_` and non-ASCII bytes
//! (so UTF-8 words stay whole); every other byte separates tokens. Matching is
//! case-sensitive, like LogQL's `|=`.

/// Calls `visit` for every token of `text`, in order, repeats included.
pub fn for_each_token<'a>(text: &'a str, mut visit: impl FnMut(&'a str)) {
    let bytes = text.as_bytes();
    let mut index = 0;
    while index < bytes.len() {
        // Skip separators, then take the run of token bytes.
        while index < bytes.len() && !TOKEN_BYTES[bytes[index] as usize] {
            index += 1;
        }
        let start = index;
        while index < bytes.len() && TOKEN_BYTES[bytes[index] as usize] {
            index += 1;
        }
        if index > start {
            // Token runs start and end at ASCII separators or the ends of
            // the text, so they are whole UTF-8 sequences.
            visit(&text[start..index]);
        }
    }
}

/// `is_token_byte` for every byte value.
static TOKEN_BYTES: [bool; 256] = {
    let mut table = [false; 256];
    let mut byte = 0;
    while byte < 256 {
        table[byte] = is_token_byte(byte as u8);
        byte += 1;
    }
    table
};

/// Longest all-digit token left out of bloom filters.
pub const MAX_UNINDEXED_NUMBER_LEN: usize = 4;

/// True for the tokens that go into bloom filters: all but numbers of at
/// most [`MAX_UNINDEXED_NUMBER_LEN`] digits, which nearly every block holds
/// (so they cannot prune) and which would take a fifth of a filter's bits.
/// A probe must skip the same tokens.
#[inline]
pub fn is_indexed_token(token: &str) -> bool {
    token.len() > MAX_UNINDEXED_NUMBER_LEN || !token.bytes().all(|byte| byte.is_ascii_digit())
}

/// True for the bytes that make up tokens.
#[inline]
pub const fn is_token_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || byte == b'_' || byte >= 0x80
}

/// The tokens that every line containing `literal` as a substring is sure to
/// contain as whole tokens: those with a separator on both sides inside the
/// literal. A token touching either end of the literal may be part of a
/// longer token in the line, so it cannot be used to prune.
pub fn guaranteed_tokens(literal: &str) -> Vec<&str> {
    let bytes = literal.as_bytes();
    let mut tokens = Vec::new();
    let mut start = None;
    for (index, &byte) in bytes.iter().enumerate() {
        if is_token_byte(byte) {
            if start.is_none() {
                start = Some(index);
            }
        } else if let Some(begin) = start.take()
            && begin > 0
        {
            tokens.push(&literal[begin..index]);
        }
    }
    tokens
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(text: &str) -> Vec<&str> {
        let mut out = Vec::new();
        for_each_token(text, |token| out.push(token));
        out
    }

    #[test]
    fn splits_on_separators() {
        assert_eq!(
            tokens("GET /api/v1?x=1 200"),
            ["GET", "api", "v1", "x", "1", "200"]
        );
        assert_eq!(
            tokens("trace_id=ab-12 héllo wörld"),
            ["trace_id", "ab", "12", "héllo", "wörld"]
        );
        assert!(tokens(" -- ").is_empty());
    }

    #[test]
    fn guaranteed_tokens_are_interior_only() {
        assert_eq!(guaranteed_tokens("abc123"), Vec::<&str>::new());
        assert_eq!(guaranteed_tokens("trace_id=abc123"), Vec::<&str>::new());
        assert_eq!(guaranteed_tokens(" abc123 "), ["abc123"]);
        assert_eq!(
            guaranteed_tokens("user=bob status=500 "),
            ["bob", "status", "500"]
        );
    }

    proptest::proptest! {
        #[test]
        fn tokens_are_the_maximal_runs_of_token_bytes(text in "[a-zA-Z0-9_ =./:é\u{1F600}-]{0,40}") {
            // Reference: split on every byte that is not a token byte.
            let mut expected = Vec::new();
            let mut current = String::new();
            for ch in text.chars() {
                let mut buf = [0u8; 4];
                if ch.encode_utf8(&mut buf).bytes().all(is_token_byte) {
                    current.push(ch);
                } else if !current.is_empty() {
                    expected.push(std::mem::take(&mut current));
                }
            }
            if !current.is_empty() {
                expected.push(current);
            }
            proptest::prop_assert_eq!(tokens(&text), expected);
        }

        /// A guaranteed token of a literal is a token of every text holding that literal.
        #[test]
        fn guaranteed_tokens_hold_in_any_container(prefix in "[a-z =_]{0,6}", literal in "[a-z0-9 =_]{0,12}", suffix in "[a-z =_]{0,6}") {
            let line = format!("{prefix}{literal}{suffix}");
            let line_tokens = tokens(&line);
            for token in guaranteed_tokens(&literal) {
                proptest::prop_assert!(line_tokens.contains(&token), "{token:?} not in {line:?}");
            }
        }
    }
}
