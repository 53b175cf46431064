//! `| decolorize`: removes ANSI escape sequences (colors, cursor moves) from the line.

use std::borrow::Cow;

use super::entry::{EntryState, StageProcessor};

#[derive(Debug)]
pub(crate) struct DecolorizeStage;

/// The line without ANSI escape sequences; borrowed when it has none.
pub(crate) fn strip_ansi(line: &str) -> Cow<'_, str> {
    if !line.contains('\x1b') {
        return Cow::Borrowed(line);
    }
    let bytes = line.as_bytes();
    let mut out = String::with_capacity(line.len());
    let mut pos = 0;
    let mut copied = 0;
    while pos < bytes.len() {
        if bytes[pos] != 0x1b {
            pos += 1;
            continue;
        }
        out.push_str(&line[copied..pos]);
        let mut end = pos + 1;
        match bytes.get(end) {
            // CSI: ESC [ parameters intermediates final (0x40..=0x7e).
            Some(b'[') => {
                end += 1;
                while end < bytes.len() && !(0x40..=0x7e).contains(&bytes[end]) {
                    end += 1;
                }
                end = (end + 1).min(bytes.len());
            }
            // OSC: ESC ] ... BEL or ESC \.
            Some(b']') => {
                while end < bytes.len()
                    && bytes[end] != 0x07
                    && !(bytes[end] == 0x1b && bytes.get(end + 1) == Some(&b'\\'))
                {
                    end += 1;
                }
                end = if bytes.get(end) == Some(&0x07) {
                    end + 1
                } else {
                    (end + 2).min(bytes.len())
                };
            }
            // Two-byte sequences such as ESC c or ESC M.
            Some(byte) if (0x40..=0x7e).contains(byte) => end += 1,
            _ => {}
        }
        pos = end;
        copied = end;
    }
    out.push_str(&line[copied..]);
    Cow::Owned(out)
}

impl StageProcessor for DecolorizeStage {
    fn process(&self, entry: &mut EntryState<'_>) -> bool {
        if let Cow::Owned(stripped) = strip_ansi(&entry.line) {
            entry.line = Cow::Owned(stripped);
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_escapes() {
        let case = |line: &str, expected: &str| assert_eq!(strip_ansi(line), expected, "{line:?}");
        case("plain", "plain");
        case("\x1b[31mERROR\x1b[0m done", "ERROR done");
        case("\x1b[1;32;40mok\x1b[m", "ok");
        case("\x1b]0;title\x07text", "text");
        case("a\x1bcb", "ab");
        case("trailing \x1b[", "trailing ");
        case("é\x1b[2Kü", "éü");
    }
}
