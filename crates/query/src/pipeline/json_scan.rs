//! A one-pass extractor for `| json` without parameters.
//!
//! It walks the line once, without building a tree: the values of labels
//! nobody wants are skipped (strings by searching for their closing quote,
//! containers by recursion) but still validated, so that a line the tree
//! parser ([`super::json::parse_json`]) rejects is rejected here too, and a
//! line it accepts is accepted. Names and values borrow the line; only values
//! with escapes, and names of nested members, are built. Nothing is applied
//! to the entry until the whole line is known to be valid.

use std::borrow::Cow;
use std::collections::HashSet;
use std::sync::Arc;

use super::entry::{LabelSet, sanitize_label_name};
use super::json::MAX_DEPTH;

/// The line is not valid JSON (or not an object): the tree parser says why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Invalid;

/// The label names a query observes; the extractor keeps only those.
#[derive(Debug)]
pub(crate) struct Wanted {
    /// The names, scanned linearly when there are few.
    names: Vec<String>,
    set: Arc<HashSet<String>>,
    /// Bit `n` set when a name is `n` bytes long (bit 63: 63 or more).
    lengths: u64,
}

/// Up to this many names, a linear scan beats hashing.
const LINEAR_NAMES: usize = 16;

impl Wanted {
    pub fn new(set: Arc<HashSet<String>>) -> Wanted {
        let lengths = set
            .iter()
            .fold(0, |bits, name| bits | length_bit(name.len()));
        Wanted {
            names: set.iter().cloned().collect(),
            set,
            lengths,
        }
    }

    pub fn set(&self) -> &HashSet<String> {
        &self.set
    }

    #[inline]
    fn contains(&self, name: &str) -> bool {
        if self.lengths & length_bit(name.len()) == 0 {
            return false;
        }
        if self.names.len() <= LINEAR_NAMES {
            self.names.iter().any(|wanted| wanted == name)
        } else {
            self.set.contains(name)
        }
    }

    /// The label name of top-level key `key` when it is wanted.
    #[inline(always)]
    fn keeps<'a>(&self, key: Key<'a>) -> Option<Cow<'a, str>> {
        // Sanitizing a plain ASCII key keeps its length or adds a leading
        // `_`: most keys differ in length from every wanted name.
        let len = key.raw.len();
        if self.lengths & (length_bit(len) | length_bit(len + 1)) == 0 && key.ascii && !key.escaped
        {
            return None;
        }
        self.keeps_candidate(key)
    }

    #[inline(never)]
    fn keeps_candidate<'a>(&self, key: Key<'a>) -> Option<Cow<'a, str>> {
        let raw = key.raw.as_bytes();
        if key.escaped || !key.ascii || self.names.len() > LINEAR_NAMES {
            let name = key.label()?;
            return self.contains(&name).then_some(name);
        }
        let name = self
            .names
            .iter()
            .find(|name| sanitizes_to(raw, name.as_bytes()))?;
        Some(if name.as_bytes() == raw {
            Cow::Borrowed(key.raw)
        } else {
            Cow::Owned(name.clone())
        })
    }

    /// True when a wanted name lies under the flattened object `prefix`
    /// (starts with `prefix_`).
    fn under(&self, prefix: &str) -> bool {
        self.names.iter().any(|wanted| {
            wanted.len() > prefix.len()
                && wanted.starts_with(prefix)
                && wanted.as_bytes()[prefix.len()] == b'_'
        })
    }
}

#[inline]
fn length_bit(len: usize) -> u64 {
    1 << len.min(63)
}

/// Labels found in a line, applied once the line is known to be valid.
/// While they all borrow the line and are few (the common case), they live
/// inline; else all of them, in order, in `spilled`.
#[derive(Default)]
pub(crate) struct Pending<'a> {
    borrowed: [(&'a str, &'a str); 4],
    len: usize,
    spilled: Vec<(Cow<'a, str>, Cow<'a, str>)>,
}

impl<'a> Pending<'a> {
    #[inline]
    fn push(&mut self, name: Cow<'a, str>, value: Cow<'a, str>) {
        if let (Cow::Borrowed(name), Cow::Borrowed(value)) = (&name, &value)
            && self.spilled.is_empty()
            && let Some(slot) = self.borrowed.get_mut(self.len)
        {
            *slot = (name, value);
            self.len += 1;
            return;
        }
        self.spill();
        self.spilled.push((name, value));
    }

    /// Moves the inline labels to `spilled`.
    fn spill(&mut self) {
        if self.spilled.capacity() == 0 {
            self.spilled.reserve(16);
        }
        let borrowed = &self.borrowed[..self.len];
        self.spilled.extend(
            borrowed
                .iter()
                .map(|&(name, value)| (Cow::Borrowed(name), Cow::Borrowed(value))),
        );
        self.len = 0;
    }

    /// Sets the labels, in document order, borrowing what they borrow.
    pub fn apply(mut self, labels: &mut LabelSet<'a>) {
        labels.reserve(self.len + self.spilled.len());
        for &(name, value) in &self.borrowed[..self.len] {
            labels.set_parsed_text(Cow::Borrowed(name), Cow::Borrowed(value));
        }
        for (name, value) in self.spilled.drain(..) {
            labels.set_parsed_text(name, value);
        }
    }

    /// Sets the labels, in document order, as copies (the line does not
    /// outlive the label set).
    pub fn apply_owned(mut self, labels: &mut LabelSet<'_>) {
        labels.reserve(self.len + self.spilled.len());
        for &(name, value) in &self.borrowed[..self.len] {
            labels.set_parsed(name, value.to_string());
        }
        for (name, value) in self.spilled.drain(..) {
            labels.set_parsed(&name, value.into_owned());
        }
    }

    #[cfg(test)]
    pub fn into_vec(mut self) -> Vec<(String, String)> {
        self.spill();
        self.spilled
            .into_iter()
            .map(|(name, value)| (name.into_owned(), value.into_owned()))
            .collect()
    }
}

/// Finds the labels `| json` extracts from `line` (all of them, or only
/// `wanted`): every scalar member of the top-level object, nested objects
/// flattened with `_`, arrays and nulls skipped. Fails when the line is not
/// a valid JSON object.
pub(crate) fn extract<'a>(
    line: &'a str,
    wanted: Option<&Wanted>,
    out: &mut Pending<'a>,
) -> Result<(), Invalid> {
    let mut scan = Scan::new(line);
    scan.skip_space();
    if scan.peek() != Some(b'{') {
        return Err(Invalid);
    }
    let mut path = String::new();
    scan.members(0, &mut path, wanted, out)?;
    scan.skip_space();
    if scan.pos != scan.bytes.len() {
        return Err(Invalid);
    }
    Ok(())
}

/// True when `text` is one valid JSON value, as [`super::json::parse_json`]
/// decides (for tests).
#[cfg(test)]
pub(crate) fn is_valid(text: &str) -> bool {
    let mut scan = Scan::new(text);
    scan.skip_value(0).is_ok() && {
        scan.skip_space();
        scan.pos == text.len()
    }
}

struct Scan<'a> {
    text: &'a str,
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Scan<'a> {
    fn new(text: &'a str) -> Scan<'a> {
        Scan {
            text,
            bytes: text.as_bytes(),
            pos: 0,
        }
    }

    #[inline(always)]
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    #[inline(always)]
    fn skip_space(&mut self) {
        while let Some(&byte) = self.bytes.get(self.pos) {
            if byte > b' ' || !matches!(byte, b' ' | b'\t' | b'\n' | b'\r') {
                break;
            }
            self.pos += 1;
        }
    }

    /// Expects `byte` after optional whitespace, and moves past it.
    #[inline(always)]
    fn expect(&mut self, byte: u8) -> Result<(), Invalid> {
        if self.peek() != Some(byte) {
            self.skip_space();
        }
        if self.peek() == Some(byte) {
            self.pos += 1;
            Ok(())
        } else {
            Err(Invalid)
        }
    }

    /// The members of the object at `self.pos` (its `{`), which sits at
    /// `depth`; `path` is its flattened name (empty for the top level).
    fn members(
        &mut self,
        depth: usize,
        path: &mut String,
        wanted: Option<&Wanted>,
        out: &mut Pending<'a>,
    ) -> Result<(), Invalid> {
        self.pos += 1;
        self.skip_space();
        if self.peek() == Some(b'}') {
            self.pos += 1;
            return Ok(());
        }
        let depth = depth + 1;
        if depth > MAX_DEPTH {
            return Err(Invalid);
        }
        loop {
            self.skip_space();
            if self.peek() != Some(b'"') {
                return Err(Invalid);
            }
            let key = self.key()?;
            self.expect(b':')?;
            self.skip_space();
            match self.peek() {
                Some(b'{') => match key.label() {
                    Some(key) => {
                        let len = path.len();
                        if len > 0 {
                            path.push('_');
                        }
                        path.push_str(&key);
                        if wanted.is_none_or(|wanted| wanted.under(path)) {
                            self.members(depth, path, wanted, out)?;
                        } else {
                            self.skip_value(depth)?;
                        }
                        path.truncate(len);
                    }
                    None => self.skip_value(depth)?,
                },
                Some(b'[') => self.skip_value(depth)?,
                Some(b'n') => self.keyword(b"null")?,
                Some(b'"') => {
                    let (raw, escaped) = self.string()?;
                    if let Some(name) = kept_name(key, path, wanted) {
                        let value = if escaped {
                            Cow::Owned(unescape(raw))
                        } else {
                            Cow::Borrowed(raw)
                        };
                        out.push(name, value);
                    }
                }
                Some(b't' | b'f' | b'-' | b'0'..=b'9') => {
                    let raw = self.scalar()?;
                    if let Some(name) = kept_name(key, path, wanted) {
                        out.push(name, Cow::Borrowed(raw));
                    }
                }
                _ => return Err(Invalid),
            }
            self.skip_space();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b'}') => {
                    self.pos += 1;
                    return Ok(());
                }
                _ => return Err(Invalid),
            }
        }
    }

    /// Moves past one value at `depth`, validating it.
    fn skip_value(&mut self, depth: usize) -> Result<(), Invalid> {
        if depth > MAX_DEPTH {
            return Err(Invalid);
        }
        self.skip_space();
        match self.peek() {
            Some(b'{') => {
                self.pos += 1;
                self.skip_space();
                if self.peek() == Some(b'}') {
                    self.pos += 1;
                    return Ok(());
                }
                loop {
                    self.skip_space();
                    if self.peek() != Some(b'"') {
                        return Err(Invalid);
                    }
                    self.string()?;
                    self.expect(b':')?;
                    self.skip_value(depth + 1)?;
                    self.skip_space();
                    match self.peek() {
                        Some(b',') => self.pos += 1,
                        Some(b'}') => {
                            self.pos += 1;
                            return Ok(());
                        }
                        _ => return Err(Invalid),
                    }
                }
            }
            Some(b'[') => {
                self.pos += 1;
                self.skip_space();
                if self.peek() == Some(b']') {
                    self.pos += 1;
                    return Ok(());
                }
                loop {
                    self.skip_value(depth + 1)?;
                    self.skip_space();
                    match self.peek() {
                        Some(b',') => self.pos += 1,
                        Some(b']') => {
                            self.pos += 1;
                            return Ok(());
                        }
                        _ => return Err(Invalid),
                    }
                }
            }
            Some(b'"') => self.string().map(|_| ()),
            Some(b'n') => self.keyword(b"null"),
            Some(b't' | b'f' | b'-' | b'0'..=b'9') => self.scalar().map(|_| ()),
            _ => Err(Invalid),
        }
    }

    fn keyword(&mut self, word: &[u8]) -> Result<(), Invalid> {
        if self.bytes[self.pos..].starts_with(word) {
            self.pos += word.len();
            Ok(())
        } else {
            Err(Invalid)
        }
    }

    /// `true`, `false` or a number, as written.
    fn scalar(&mut self) -> Result<&'a str, Invalid> {
        let start = self.pos;
        match self.bytes[start] {
            b't' => self.keyword(b"true")?,
            b'f' => self.keyword(b"false")?,
            _ => self.pos = number_end(self.text, start).ok_or(Invalid)?,
        }
        Ok(&self.text[start..self.pos])
    }

    /// The object key at `self.pos` (its opening quote).
    #[inline(always)]
    fn key(&mut self) -> Result<Key<'a>, Invalid> {
        let start = self.pos + 1;
        let stop = find_string_stop(self.bytes, start).ok_or(Invalid)?;
        if stop.quote {
            self.pos = stop.at + 1;
            return Ok(Key {
                raw: &self.text[start..stop.at],
                escaped: false,
                ascii: stop.ascii,
            });
        }
        let (raw, _) = self.escaped_string(start, stop.at)?;
        Ok(Key {
            raw,
            escaped: true,
            ascii: false,
        })
    }

    /// The string at `self.pos` (its opening quote): its raw text between the
    /// quotes, and whether that holds escapes (which are validated).
    #[inline(always)]
    fn string(&mut self) -> Result<(&'a str, bool), Invalid> {
        let start = self.pos + 1;
        let stop = find_string_stop(self.bytes, start).ok_or(Invalid)?;
        if stop.quote {
            self.pos = stop.at + 1;
            return Ok((&self.text[start..stop.at], false));
        }
        self.escaped_string(start, stop.at)
    }

    /// The rest of a string from its first escape at `at`.
    #[cold]
    #[inline(never)]
    fn escaped_string(&mut self, start: usize, at: usize) -> Result<(&'a str, bool), Invalid> {
        let mut pos = escape_end(self.bytes, at).ok_or(Invalid)?;
        loop {
            let stop = find_string_stop(self.bytes, pos).ok_or(Invalid)?;
            if stop.quote {
                self.pos = stop.at + 1;
                return Ok((&self.text[start..stop.at], true));
            }
            pos = escape_end(self.bytes, stop.at).ok_or(Invalid)?;
        }
    }
}

/// Where a string's body stops: at a `"` or at a `\\`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stop {
    at: usize,
    /// A `"` (else a `\\`).
    quote: bool,
    /// The bytes before it (from where the search began) are ASCII; false
    /// is also possible for a long ASCII run.
    ascii: bool,
}

/// The first `"` or `\\` at or after `from`. Most strings of a log line are
/// short: eight bytes at a time, then `memchr` past 64 bytes. Which byte
/// was found comes from the masks, not from reading it again: the next
/// search starts after it, so the scan of a line is one chain of such steps.
#[inline(always)]
fn find_string_stop(bytes: &[u8], from: usize) -> Option<Stop> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    const QUOTES: u64 = ONES * b'"' as u64;
    const BACKSLASHES: u64 = ONES * b'\\' as u64;
    /// The flags of `"` (and of `"` or `\\`) in a word. This classic test
    /// may flag bytes above a true match, never below: the lowest flag is a
    /// true match, and a quote when the quote flags have it.
    #[inline(always)]
    fn flags(word: u64) -> (u64, u64) {
        let quotes = word ^ QUOTES;
        let backslashes = word ^ BACKSLASHES;
        let quotes = quotes.wrapping_sub(ONES) & !quotes & HIGHS;
        (
            quotes,
            quotes | (backslashes.wrapping_sub(ONES) & !backslashes & HIGHS),
        )
    }
    /// The stop in `word` (at `pos`), whose flags `found` are not zero.
    #[inline(always)]
    fn stop(pos: usize, word: u64, quotes: u64, found: u64, seen: u64) -> Stop {
        let lowest = found & found.wrapping_neg();
        // With the bytes below the lowest flagged one.
        let seen = seen | (word & ((lowest >> 7) - 1));
        Stop {
            at: pos + (found.trailing_zeros() / 8) as usize,
            quote: quotes & lowest != 0,
            ascii: seen & HIGHS == 0,
        }
    }
    let mut pos = from;
    let limit = from + 64;
    // The OR of the bytes passed.
    let mut seen = 0;
    // Two words at a time: their tests are independent, so a string of up
    // to 16 bytes costs one step of latency.
    while let Some(chunk) = bytes.get(pos..).and_then(<[u8]>::first_chunk::<16>) {
        let (low, high) = chunk.split_at(8);
        let low = u64::from_le_bytes(low.try_into().unwrap_or_default());
        let high = u64::from_le_bytes(high.try_into().unwrap_or_default());
        let (low_quotes, low_found) = flags(low);
        let (high_quotes, high_found) = flags(high);
        if low_found != 0 {
            return Some(stop(pos, low, low_quotes, low_found, seen));
        }
        if high_found != 0 {
            return Some(stop(pos + 8, high, high_quotes, high_found, seen | low));
        }
        seen |= low | high;
        pos += 16;
        if pos >= limit {
            let found = memchr::memchr2(b'"', b'\\', &bytes[pos..])?;
            return Some(Stop {
                at: pos + found,
                quote: bytes[pos + found] == b'"',
                ascii: false,
            });
        }
    }
    if let Some(chunk) = bytes.get(pos..).and_then(<[u8]>::first_chunk::<8>) {
        let word = u64::from_le_bytes(*chunk);
        let (quotes, found) = flags(word);
        if found != 0 {
            return Some(stop(pos, word, quotes, found, seen));
        }
        seen |= word;
        pos += 8;
    }
    let mut ascii = seen & HIGHS == 0;
    for (at, &byte) in bytes.iter().enumerate().skip(pos) {
        if byte == b'"' || byte == b'\\' {
            return Some(Stop {
                at,
                quote: byte == b'"',
                ascii,
            });
        }
        ascii &= byte.is_ascii();
    }
    None
}

/// The label name of a scalar member with key `key` under the flattened
/// object `path`, when it is kept.
#[inline(always)]
fn kept_name<'a>(key: Key<'a>, path: &mut String, wanted: Option<&Wanted>) -> Option<Cow<'a, str>> {
    match wanted {
        None => {
            let key = key.label()?;
            if path.is_empty() {
                return Some(key);
            }
            Some(Cow::Owned(format!("{path}_{key}")))
        }
        Some(wanted) if path.is_empty() => wanted.keeps(key),
        Some(wanted) => {
            let key = key.label()?;
            let len = path.len();
            path.push('_');
            path.push_str(&key);
            let name = wanted.contains(path).then(|| Cow::Owned(path.clone()));
            path.truncate(len);
            name
        }
    }
}

/// An object key as written (between the quotes).
#[derive(Clone, Copy)]
struct Key<'a> {
    raw: &'a str,
    escaped: bool,
    /// No byte above 0x7f (when false, there may be).
    ascii: bool,
}

impl<'a> Key<'a> {
    /// The key as a label name (sanitized); None when empty.
    fn label(self) -> Option<Cow<'a, str>> {
        if self.escaped {
            return sanitize_label_name(&unescape(self.raw))
                .map(|key| Cow::Owned(key.into_owned()));
        }
        if is_label_name(self.raw.as_bytes()) {
            return Some(Cow::Borrowed(self.raw));
        }
        sanitize_label_name(self.raw)
    }
}

/// Bytes of label names.
static NAME_BYTES: [bool; 256] = {
    let mut table = [false; 256];
    let mut byte = 0;
    while byte < 256 {
        let b = byte as u8;
        table[byte] = b.is_ascii_alphanumeric() || b == b'_';
        byte += 1;
    }
    table
};

/// True when `sanitize_label_name` turns the ASCII key `key` into `name`.
#[inline]
fn sanitizes_to(key: &[u8], name: &[u8]) -> bool {
    let Some(first) = key.first() else {
        return false;
    };
    let shift = usize::from(first.is_ascii_digit());
    if name.len() != key.len() + shift || (shift == 1 && name[0] != b'_') {
        return false;
    }
    key.iter().zip(&name[shift..]).all(|(&k, &n)| {
        if NAME_BYTES[usize::from(k)] {
            k == n
        } else {
            n == b'_'
        }
    })
}

/// `[a-zA-Z_][a-zA-Z0-9_]*`, as `strata_model::is_valid_label_name`.
#[inline]
fn is_label_name(bytes: &[u8]) -> bool {
    bytes.first().is_some_and(|first| !first.is_ascii_digit())
        && bytes.iter().all(|&byte| NAME_BYTES[usize::from(byte)])
}

fn is_number_byte(byte: Option<&u8>) -> bool {
    matches!(byte, Some(b'0'..=b'9' | b'.' | b'e' | b'E' | b'+' | b'-'))
}

/// Where the number starting at `start` (`-` or a digit) ends, or None when
/// it is invalid. As the tree parser: the number is the run of `[-+.eE0-9]`
/// there, valid when `str::parse::<f64>` accepts it.
#[inline]
fn number_end(text: &str, start: usize) -> Option<usize> {
    let bytes = text.as_bytes();
    // The common forms, `-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?`, all of
    // which f64 parses, in one pass.
    let digits = |pos: &mut usize| {
        let first = *pos;
        while bytes.get(*pos).is_some_and(u8::is_ascii_digit) {
            *pos += 1;
        }
        *pos > first
    };
    let mut pos = start + usize::from(bytes[start] == b'-');
    let mut plain = digits(&mut pos);
    if plain && bytes.get(pos) == Some(&b'.') {
        pos += 1;
        plain = digits(&mut pos);
    }
    if plain && matches!(bytes.get(pos), Some(b'e' | b'E')) {
        pos += 1;
        if matches!(bytes.get(pos), Some(b'+' | b'-')) {
            pos += 1;
        }
        plain = digits(&mut pos);
    }
    if plain && !is_number_byte(bytes.get(pos)) {
        return Some(pos);
    }
    let mut end = start + 1;
    while is_number_byte(bytes.get(end)) {
        end += 1;
    }
    text[start..end].parse::<f64>().is_ok().then_some(end)
}

/// Four hex digits at `at`.
fn hex4(bytes: &[u8], at: usize) -> Option<u32> {
    let digits = bytes.get(at..at + 4)?;
    digits.iter().try_fold(0, |code, &digit| {
        Some(code * 16 + char::from(digit).to_digit(16)?)
    })
}

/// The escape at `at` (a backslash) decoded, and where it ends; None when it
/// is invalid. A high surrogate must be followed by an escaped low one; a
/// lone low surrogate decodes to U+FFFD.
fn escape(bytes: &[u8], at: usize) -> Option<(char, usize)> {
    let c = match bytes.get(at + 1)? {
        b'"' => '"',
        b'\\' => '\\',
        b'/' => '/',
        b'b' => '\x08',
        b'f' => '\x0c',
        b'n' => '\n',
        b'r' => '\r',
        b't' => '\t',
        b'u' => {
            let code = hex4(bytes, at + 2)?;
            if !(0xd800..0xdc00).contains(&code) {
                return Some((char::from_u32(code).unwrap_or('\u{fffd}'), at + 6));
            }
            if bytes.get(at + 6..at + 8) != Some(b"\\u") {
                return None;
            }
            let low = hex4(bytes, at + 8).filter(|low| (0xdc00..0xe000).contains(low))?;
            let code = 0x10000 + ((code - 0xd800) << 10) + (low - 0xdc00);
            return Some((char::from_u32(code).unwrap_or('\u{fffd}'), at + 12));
        }
        _ => return None,
    };
    Some((c, at + 2))
}

fn escape_end(bytes: &[u8], at: usize) -> Option<usize> {
    escape(bytes, at).map(|(_, end)| end)
}

/// The text of a validated string body with escapes.
fn unescape(raw: &str) -> String {
    let bytes = raw.as_bytes();
    let mut out = String::with_capacity(raw.len());
    let mut done = 0;
    while let Some(found) = memchr::memchr(b'\\', &bytes[done..]) {
        let at = done + found;
        out.push_str(&raw[done..at]);
        match escape(bytes, at) {
            Some((c, end)) => {
                out.push(c);
                done = end;
            }
            None => {
                // Not reached: the string was validated.
                done = at;
                break;
            }
        }
    }
    out.push_str(&raw[done..]);
    out
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::super::json::{JsonValue, parse_json};
    use super::*;

    /// The labels the tree parser's flattening gives (the reference).
    fn reference(line: &str, wanted: Option<&HashSet<String>>) -> Option<Vec<(String, String)>> {
        fn walk(
            prefix: &str,
            members: &[(Cow<'_, str>, JsonValue<'_>)],
            wanted: Option<&HashSet<String>>,
            out: &mut Vec<(String, String)>,
        ) {
            for (key, value) in members {
                let Some(key) = sanitize_label_name(key) else {
                    continue;
                };
                let name = if prefix.is_empty() {
                    key.into_owned()
                } else {
                    format!("{prefix}_{key}")
                };
                match value {
                    JsonValue::Object(nested, _) => walk(&name, nested, wanted, out),
                    JsonValue::Array(..) | JsonValue::Null => {}
                    JsonValue::String(_) | JsonValue::Scalar(_) => {
                        if wanted.is_none_or(|wanted| wanted.contains(&name)) {
                            out.push((name, value.to_label_value()));
                        }
                    }
                }
            }
        }
        match parse_json(line).ok()? {
            JsonValue::Object(members, _) => {
                let mut out = Vec::new();
                walk("", &members, wanted, &mut out);
                Some(out)
            }
            _ => None,
        }
    }

    fn scanned(line: &str, wanted: Option<&HashSet<String>>) -> Option<Vec<(String, String)>> {
        let wanted = wanted.map(|set| Wanted::new(Arc::new(set.clone())));
        let mut out = Pending::default();
        extract(line, wanted.as_ref(), &mut out).ok()?;
        Some(out.into_vec())
    }

    fn check(line: &str, wanted: &[&str]) {
        let set: HashSet<String> = wanted.iter().map(|name| name.to_string()).collect();
        assert_eq!(scanned(line, None), reference(line, None), "{line:?}");
        assert_eq!(
            scanned(line, Some(&set)),
            reference(line, Some(&set)),
            "{line:?} wanting {wanted:?}"
        );
        assert_eq!(is_valid(line), parse_json(line).is_ok(), "{line:?}");
    }

    #[test]
    fn agrees_with_the_tree_parser() {
        let wanted = ["level", "a_b", "a_b_c", "x_y_z", "_1st", "s", "e", "n"];
        for line in [
            r#"{"level":"info","n":1.50,"ok":true,"nil":null}"#,
            r#"{"a":{"b":{"c":"deep"}},"list":[1,2]}"#,
            r#"{"a":{"b":"x"},"a_b":"y","a":{"b":"z"}}"#,
            r#"{"app":"other","x-y.z":"v","1st":"w","":"empty","é":1}"#,
            r#"{"s":"q\"uote\u00e9\ud83d\ude00\udc00","e\u0073":"k"}"#,
            r#" { "level" : "warn" , "x" : [ { "y" : 1 } ] } "#,
            r#"{"n":-0.5e+10,"m":1E5,"k":-1.,"j":.5}"#,
            r#"{"n":01,"m":1.e3,"k":-.5}"#,
            r#"{"n":1e,"m":2}"#,
            r#"{"n":--1}"#,
            r#"{"n":1+2}"#,
            r#"{"n":-}"#,
            r#"{"t":tru}"#,
            r#"{"t":truex}"#,
            r#"{"t":nul}"#,
            r#"{"a":{}}"#,
            r#"{"a":{"":{"b":1}}}"#,
            r#"{}"#,
            r#"{"a":1,}"#,
            r#"{"a" 1}"#,
            r#"{"a":1} x"#,
            r#"{"a":"\x"}"#,
            r#"{"a":"\ud800"}"#,
            r#"{"a":"\ud800\u0041"}"#,
            r#"{"a":"\u12"}"#,
            r#"{"a":"unterminated}"#,
            r#"{"a":"\"#,
            r#"[1,2]"#,
            r#""text""#,
            "not json",
            "",
            "{",
            "{\"a\":\"tab\tinside\"}",
        ] {
            check(line, &wanted);
        }
    }

    #[test]
    fn nesting_limit() {
        for depth in [MAX_DEPTH - 1, MAX_DEPTH, MAX_DEPTH + 1, MAX_DEPTH + 2] {
            for inner in ["", "1", "{}", "[]", r#"{"x":1}"#] {
                let mut line = String::new();
                for _ in 0..depth {
                    line.push_str(r#"{"a":"#);
                }
                line.push_str(if inner.is_empty() { "{}" } else { inner });
                line.push_str(&"}".repeat(depth));
                check(&line, &["a_a_a"]);
                let array = format!(
                    r#"{{"a":{}{}{}}}"#,
                    "[".repeat(depth),
                    inner,
                    "]".repeat(depth)
                );
                check(&array, &["a"]);
            }
        }
    }

    #[test]
    fn finds_string_stops() {
        for len in [0, 1, 7, 8, 63, 64, 65, 127, 128, 129, 200] {
            for seed in 0..200u64 {
                // A pseudo-random mix of plain, stop and non-ASCII bytes.
                let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
                let mut text = String::new();
                while text.len() < len {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    text.push(match state % 13 {
                        0 => '"',
                        1 => '\\',
                        2 => 'é',
                        // Bytes one above `"` and `\\`: false flags of the
                        // classic zero-byte test.
                        3 => '#',
                        4 => ']',
                        _ => 'a',
                    });
                }
                let bytes = text.as_bytes();
                for from in 0..=bytes.len() + 1 {
                    let expected = bytes
                        .iter()
                        .enumerate()
                        .skip(from)
                        .find(|(_, b)| **b == b'"' || **b == b'\\')
                        .map(|(at, _)| at);
                    let found = find_string_stop(bytes, from);
                    assert_eq!(found.map(|stop| stop.at), expected, "{text:?} from {from}");
                    if let Some(stop) = found {
                        assert_eq!(stop.quote, bytes[stop.at] == b'"', "{text:?} from {from}");
                        if stop.ascii {
                            assert!(bytes[from..stop.at].is_ascii(), "{text:?} from {from}");
                        }
                        if stop.at - from < 64 {
                            assert_eq!(stop.ascii, bytes[from..stop.at].is_ascii());
                        }
                    }
                }
            }
        }
    }

    /// A JSON value for the random documents.
    #[derive(Debug, Clone)]
    enum Json {
        Null,
        Bool(bool),
        /// Written as is.
        Number(String),
        /// Written as is, between quotes.
        Text(String),
        Array(Vec<Json>),
        Object(Vec<(String, Json)>),
    }

    fn json_value() -> impl Strategy<Value = Json> {
        let leaf = prop_oneof![
            Just(Json::Null),
            any::<bool>().prop_map(Json::Bool),
            r"-?(0|[1-9][0-9]{0,3})(\.[0-9]{1,3})?([eE][-+]?[0-9]{1,2})?".prop_map(Json::Number),
            r#"([a-z é]|\\["\\/bfnrt]|\\u00e9|\\ud83d\\ude00){0,6}"#.prop_map(Json::Text),
        ];
        leaf.prop_recursive(4, 24, 4, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(Json::Array),
                proptest::collection::vec((json_key(), inner), 0..4).prop_map(Json::Object),
            ]
        })
    }

    fn json_key() -> impl Strategy<Value = String> {
        r#"[ab1_.é]{0,3}|a\\u0062"#
    }

    fn json_object() -> impl Strategy<Value = Json> {
        proptest::collection::vec((json_key(), json_value()), 0..6).prop_map(Json::Object)
    }

    fn write_json(value: &Json, spaced: bool, out: &mut String) {
        let (comma, colon) = if spaced { (", ", ": ") } else { (",", ":") };
        match value {
            Json::Null => out.push_str("null"),
            Json::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Json::Number(n) => out.push_str(n),
            Json::Text(t) => {
                out.push('"');
                out.push_str(t);
                out.push('"');
            }
            Json::Array(items) => {
                out.push('[');
                for (index, item) in items.iter().enumerate() {
                    if index > 0 {
                        out.push_str(comma);
                    }
                    write_json(item, spaced, out);
                }
                out.push(']');
            }
            Json::Object(members) => {
                out.push('{');
                for (index, (key, item)) in members.iter().enumerate() {
                    if index > 0 {
                        out.push_str(comma);
                    }
                    out.push('"');
                    out.push_str(key);
                    out.push('"');
                    out.push_str(colon);
                    write_json(item, spaced, out);
                }
                out.push('}');
            }
        }
    }

    fn valid_number(raw: &str) -> bool {
        number_end(raw, 0) == Some(raw.len())
    }

    #[test]
    fn sanitizing_ascii_keys() {
        let names = ["a", "_1", "_1a", "a_b", "_", "__", "a_1", "ab", "_a"];
        for key in [
            "", "a", "1", "1a", "a.b", "a-b", "a_b", "a b", ".", "..", "a1", "ab", "_a", "!a",
            "1.", "_1", "a.1",
        ] {
            for name in names {
                assert_eq!(
                    sanitizes_to(key.as_bytes(), name.as_bytes()),
                    sanitize_label_name(key).as_deref() == Some(name),
                    "{key:?} {name:?}"
                );
            }
        }
    }

    #[test]
    fn numbers_match_f64_parsing() {
        for raw in [
            "0", "-0", "1.5", "1e5", "1E-5", "1.", ".5", "-.5", "1e", "1e+", "-", "1-2", "1..2",
            "1.2.3", "00", "1e5.5", "-+1", "1ee5", "1e-", "-0.0e-0",
        ] {
            assert_eq!(valid_number(raw), raw.parse::<f64>().is_ok(), "{raw}");
        }
    }

    proptest! {
        #[test]
        fn number_grammar(raw in "[-0-9][-+.eE0-9]{0,8}") {
            prop_assert_eq!(valid_number(&raw), raw.parse::<f64>().is_ok(), "{}", raw);
        }

        /// Any line: the same validity and the same labels as the tree parser.
        #[test]
        fn same_as_tree(line in r#"[{}\[\]":, ab_.0-9\-+eEtrufalsn\\/u]{0,40}"#) {
            check(&line, &["a", "b", "a_b", "ab"]);
        }

        /// Random JSON objects, nested, then maybe one byte changed.
        #[test]
        fn same_as_tree_on_random_documents(
            document in json_object(),
            spaced in any::<bool>(),
            change in proptest::option::of((any::<prop::sample::Index>(), prop::sample::select(
                vec![b'"', b'\\', b'{', b'}', b'[', b']', b':', b',', b' ', b'1', b'e', b'-', b'.', b'n', b'x'],
            ))),
        ) {
            let mut line = String::new();
            write_json(&document, spaced, &mut line);
            if let Some((at, byte)) = change {
                let mut bytes = line.into_bytes();
                let at = at.index(bytes.len());
                if bytes[at].is_ascii() {
                    bytes[at] = byte;
                }
                line = String::from_utf8(bytes).unwrap();
            }
            check(&line, &["a", "b", "a_b", "a_b_c", "b_a", "_1", "a_1", "ab", "_"]);
        }

        /// Objects built from valid pieces, sometimes spoiled.
        #[test]
        fn same_as_tree_on_objects(
            members in proptest::collection::vec(
                (
                    r#"[ab1_.\-é]{0,3}|a\\u0062"#,
                    prop_oneof![
                        Just("1".to_string()),
                        Just("-2.5e3".to_string()),
                        Just("true".to_string()),
                        Just("null".to_string()),
                        Just(r#""s\"\u00e9""#.to_string()),
                        Just("[1,{\"a\":2}]".to_string()),
                        Just("{\"b\":\"x\",\"c\":{\"d\":false}}".to_string()),
                        Just("{\"b\":[}".to_string()),
                        Just("01".to_string()),
                        Just("\"\\ud800\"".to_string()),
                    ],
                ),
                0..6,
            ),
            spaced in any::<bool>(),
        ) {
            let sep = if spaced { ", " } else { "," };
            let body = members
                .iter()
                .map(|(key, value)| format!("\"{key}\":{value}"))
                .collect::<Vec<_>>()
                .join(sep);
            let line = format!("{{{body}}}");
            check(
                &line,
                &["a", "b", "a_b", "a_c_d", "b_c_d", "_", "__b", "ab", "_1", "_1a", "a_1", "__"],
            );
        }
    }
}
