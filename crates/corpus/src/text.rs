//! Byte-level writers shared by every line renderer and output file: integers,
//! fixed-point decimals, hex, random digits, and the TSV and JSON escapes.
//! Each appends to a caller's buffer, so nothing allocates per entry.

use crate::rng::Rng;

/// Appends `value` in decimal.
pub fn push_u64(out: &mut Vec<u8>, mut value: u64) {
    let mut digits = [0u8; 20];
    let mut start = digits.len();
    loop {
        start -= 1;
        digits[start] = b'0' + (value % 10) as u8;
        value /= 10;
        if value == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[start..]);
}

/// Appends `value` in decimal, with a sign when negative.
pub fn push_i64(out: &mut Vec<u8>, value: i64) {
    if value < 0 {
        out.push(b'-');
    }
    push_u64(out, value.unsigned_abs());
}

/// Appends `value` zero-padded to `width` digits.
pub fn push_padded(out: &mut Vec<u8>, value: u64, width: usize) {
    let mut digits = [b'0'; 20];
    let mut rest = value;
    let mut index = digits.len();
    while rest > 0 && index > 0 {
        index -= 1;
        digits[index] = b'0' + (rest % 10) as u8;
        rest /= 10;
    }
    let used = digits.len() - index;
    let width = width.min(20);
    let start = digits.len() - used.max(width);
    out.extend_from_slice(&digits[start..]);
}

/// Appends `value` rounded to `decimals` places (at most 9), without float
/// formatting: the digits come from one integer, so they are the same on
/// every machine.
pub fn push_fixed(out: &mut Vec<u8>, value: f64, decimals: u32) {
    let scale = 10u64.pow(decimals.min(9));
    let scaled = (value.abs() * scale as f64).round() as u64;
    if value < 0.0 && scaled != 0 {
        out.push(b'-');
    }
    push_u64(out, scaled / scale);
    if decimals > 0 {
        out.push(b'.');
        push_padded(out, scaled % scale, decimals as usize);
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Appends the low `width` hex digits of `value`, lower case, zero-padded.
pub fn push_hex(out: &mut Vec<u8>, value: u128, width: usize) {
    for shift in (0..width.min(32)).rev() {
        out.push(HEX[((value >> (shift * 4)) & 0xf) as usize]);
    }
}

/// Appends `len` random decimal digits; the first is non-zero when
/// `nonzero_first` (so "8080" stays a four-digit number, not "0417").
pub fn push_random_digits(out: &mut Vec<u8>, rng: &mut Rng, len: usize, nonzero_first: bool) {
    let mut remaining = len;
    let mut first = true;
    while remaining > 0 {
        // 19 decimal digits fit one draw.
        let mut word = rng.next_u64();
        let take = remaining.min(19);
        for _ in 0..take {
            let mut digit = (word % 10) as u8;
            word /= 10;
            if first && nonzero_first && len > 1 && digit == 0 {
                digit = 1 + (word % 9) as u8;
            }
            first = false;
            out.push(b'0' + digit);
        }
        remaining -= take;
    }
}

/// Appends `len` random lower-case letters and digits (pod-name suffixes).
pub fn push_random_alnum(out: &mut Vec<u8>, rng: &mut Rng, len: usize) {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    for _ in 0..len {
        out.push(*rng.pick(ALPHABET));
    }
}

/// Appends `line` escaped for a ClickHouse TabSeparated field: backslash,
/// tab and newline become `\\`, `\t` and `\n`; nothing else is escaped.
pub fn push_tsv_escaped(out: &mut Vec<u8>, line: &[u8]) {
    let mut rest = line;
    while let Some(found) = memchr::memchr3(b'\\', b'\t', b'\n', rest) {
        out.extend_from_slice(&rest[..found]);
        out.extend_from_slice(match rest[found] {
            b'\\' => b"\\\\",
            b'\t' => b"\\t",
            _ => b"\\n",
        });
        rest = &rest[found + 1..];
    }
    out.extend_from_slice(rest);
}

/// Reverses [`push_tsv_escaped`], appending to `out`. Also accepts the other
/// escapes ClickHouse writes (`\r`, `\0`, `\'`...), so a file it exported
/// reads back too.
pub fn push_tsv_unescaped(out: &mut Vec<u8>, field: &[u8]) {
    let mut rest = field;
    while let Some(found) = memchr::memchr(b'\\', rest) {
        out.extend_from_slice(&rest[..found]);
        match rest.get(found + 1) {
            Some(&next) => {
                out.push(match next {
                    b't' => b'\t',
                    b'n' => b'\n',
                    b'r' => b'\r',
                    b'0' => 0,
                    b'b' => 0x08,
                    b'f' => 0x0c,
                    other => other,
                });
                rest = &rest[found + 2..];
            }
            None => {
                out.push(b'\\');
                rest = &[];
            }
        }
    }
    out.extend_from_slice(rest);
}

/// Appends the JSON string body of `text` (without the quotes).
pub fn push_json_escaped(out: &mut Vec<u8>, text: &[u8]) {
    let mut start = 0;
    for (index, &byte) in text.iter().enumerate() {
        let escape: &[u8] = match byte {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\t' => b"\\t",
            b'\r' => b"\\r",
            0..=0x1f => b"",
            _ => continue,
        };
        out.extend_from_slice(&text[start..index]);
        if escape.is_empty() {
            out.extend_from_slice(b"\\u00");
            push_hex(out, u128::from(byte), 2);
        } else {
            out.extend_from_slice(escape);
        }
        start = index + 1;
    }
    out.extend_from_slice(&text[start..]);
}

/// Appends `"text"` as a JSON string.
pub fn push_json_string(out: &mut Vec<u8>, text: &[u8]) {
    out.push(b'"');
    push_json_escaped(out, text);
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(write: impl FnOnce(&mut Vec<u8>)) -> String {
        let mut out = Vec::new();
        write(&mut out);
        String::from_utf8(out).expect("utf-8")
    }

    #[test]
    fn numbers() {
        let cases: &[(f64, u32, &str)] = &[
            (0.2340, 4, "0.2340"),
            (12.0, 1, "12.0"),
            (-1.25, 1, "-1.3"),
            (-0.00001, 2, "0.00"),
            (3.999_99, 2, "4.00"),
            (7.0, 0, "7"),
        ];
        for &(value, decimals, expected) in cases {
            assert_eq!(render(|out| push_fixed(out, value, decimals)), expected);
        }
        assert_eq!(render(|out| push_u64(out, 0)), "0");
        assert_eq!(render(|out| push_i64(out, -42)), "-42");
        assert_eq!(render(|out| push_padded(out, 7, 3)), "007");
        assert_eq!(render(|out| push_padded(out, 12345, 3)), "12345");
        assert_eq!(render(|out| push_hex(out, 0xab, 4)), "00ab");
    }

    #[test]
    fn random_digits_have_the_length_asked() {
        let mut rng = Rng::new(1);
        for len in 1..45 {
            let text = render(|out| push_random_digits(out, &mut rng, len, true));
            assert_eq!(text.len(), len);
            assert!(text.bytes().all(|b| b.is_ascii_digit()));
            assert!(len == 1 || !text.starts_with('0'));
        }
    }

    #[test]
    fn tsv_round_trip() {
        let line = b"a\tb\\c\nd \\t literal\\n end\\";
        let mut escaped = Vec::new();
        push_tsv_escaped(&mut escaped, line);
        assert!(!escaped.contains(&b'\t') && !escaped.contains(&b'\n'));
        assert_eq!(
            escaped,
            b"a\\tb\\\\c\\nd \\\\t literal\\\\n end\\\\".to_vec()
        );
        let mut back = Vec::new();
        push_tsv_unescaped(&mut back, &escaped);
        assert_eq!(back, line.to_vec());
    }

    #[test]
    fn json_strings_parse_back() {
        let text = "quote \" back \\ nl \n tab \t bell \u{7} é";
        let rendered = render(|out| push_json_string(out, text.as_bytes()));
        let parsed: String = serde_json::from_str(&rendered).expect("valid json");
        assert_eq!(parsed, text);
    }
}
