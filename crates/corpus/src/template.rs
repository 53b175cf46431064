//! A Loghub sample line turned into a template: literal text, the system's
//! own timestamp fields, IP addresses, id-like values drawn from pools, and
//! other digit runs that get fresh digits each time the line is replayed.
//!
//! A template is parsed once at start-up; rendering one is a loop over its
//! segments, appending to the caller's buffer.

use crate::clock::Civil;
use crate::rng::Rng;
use crate::text::{push_hex, push_padded, push_random_digits, push_u64};

/// One timestamp field of a system's format, strftime-like.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeField {
    /// `%Y` 2026
    Year4,
    /// `%y` 26
    Year2,
    /// `%m` 01..12
    Month2,
    /// `%d` 01..31
    Day2,
    /// `%e` space-padded day, " 1".."31"
    DaySpace,
    /// `%-d` unpadded day
    DayVar,
    /// `%H`
    Hour2,
    /// `%-H`
    HourVar,
    /// `%M`
    Minute2,
    /// `%-M`
    MinuteVar,
    /// `%S`
    Second2,
    /// `%-S`
    SecondVar,
    /// `%3f` milliseconds, zero-padded
    Milli3,
    /// `%L` milliseconds, unpadded (HealthApp)
    MilliVar,
    /// `%6f` microseconds
    Micro6,
    /// `%b` Jan..Dec
    MonthAbbr,
    /// `%a` Sun..Sat
    WeekdayAbbr,
    /// `%s` Unix seconds
    Unix,
}

/// What a value pool holds, and so how its values are drawn and printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PoolKind {
    /// Decimal digits (block numbers, long ids, process ids).
    Decimal,
    /// Lower-case hex digits (object hashes, request ids).
    Hex,
    /// An 8-4-4-4-12 UUID.
    Uuid,
}

/// A piece of a template.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Segment {
    /// Bytes `start..start + len` of the template set's arena.
    Literal {
        start: u32,
        len: u32,
    },
    Time(TimeField),
    /// An IPv4 address from the stream's cluster.
    Ip,
    /// Fresh random digits.
    Digits {
        len: u8,
        nonzero_first: bool,
    },
    /// A value from the instance's pool `slot` (see [`TemplateSet::pool_keys`]).
    Pooled {
        slot: u16,
    },
}

/// One element of a timestamp format string.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FormatItem {
    Byte(u8),
    Time(TimeField),
    /// `%W`: a run of letters, `_` and `-`, kept as it is.
    Word,
    /// `%*`: any run of non-space bytes, kept as it is.
    Any,
    /// `%N`: a run of digits, replaced by fresh digits.
    Number,
}

/// A template: a range of [`TemplateSet::segments`].
#[derive(Debug, Clone, Copy)]
pub struct Template {
    pub first: u32,
    pub end: u32,
}

/// The templates of one system, sharing one arena of literal bytes and one
/// table of pool keys.
#[derive(Debug, Default)]
pub struct TemplateSet {
    arena: Vec<u8>,
    segments: Vec<Segment>,
    /// Slot -> (kind, printed length, context); each instance keeps one pool
    /// per slot. The context is the text just before the value (`blk_`,
    /// `[req-`, `child`), so a user id and a tenant id of the same shape do
    /// not share values, while a block id does across all lines naming it.
    pub pool_keys: Vec<PoolKey>,
    /// First segment of the template being added: literals never merge
    /// across templates.
    current_first: usize,
    /// Lines whose start did not match the system's timestamp format (their
    /// digits are replaced like any others).
    pub unmatched: usize,
}

/// What one pool holds: values of a kind and length, after a context.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolKey {
    pub kind: PoolKind,
    pub len: u8,
    pub context: Vec<u8>,
}

/// Longest decimal run kept in a pool (two u64 halves of 19 digits).
const MAX_POOLED_DECIMAL: usize = 38;

impl TemplateSet {
    /// Parses `line` into a template, its leading timestamp read with `format`.
    pub fn add(&mut self, line: &str, format: &str) -> Template {
        let first = self.segments.len() as u32;
        self.current_first = self.segments.len();
        let bytes = line.as_bytes();
        let items = parse_format(format);
        let rest_start = match self.match_prefix(bytes, &items) {
            Some(end) => end,
            None => {
                self.segments.truncate(first as usize);
                self.unmatched += 1;
                0
            }
        };
        self.tokenize(bytes, rest_start);
        Template {
            first,
            end: self.segments.len() as u32,
        }
    }

    /// Renders `template` for the instant `civil`.
    pub fn render(
        &self,
        template: Template,
        civil: &Civil,
        ips: &[u32],
        pools: &mut [Vec<u128>],
        rng: &mut Rng,
        out: &mut Vec<u8>,
    ) {
        for segment in &self.segments[template.first as usize..template.end as usize] {
            match *segment {
                Segment::Literal { start, len } => {
                    out.extend_from_slice(&self.arena[start as usize..(start + len) as usize]);
                }
                Segment::Time(field) => push_time_field(out, field, civil),
                Segment::Ip => push_ip(out, *rng.pick(ips)),
                Segment::Digits { len, nonzero_first } => {
                    push_random_digits(out, rng, usize::from(len), nonzero_first);
                }
                Segment::Pooled { slot } => {
                    let PoolKey { kind, len, .. } = self.pool_keys[usize::from(slot)];
                    let value = draw_pooled(&mut pools[usize::from(slot)], kind, len, rng);
                    push_pooled(out, kind, len, value);
                }
            }
        }
    }

    fn literal(&mut self, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        if self.segments.len() > self.current_first
            && let Some(Segment::Literal { start, len }) = self.segments.last_mut()
            && (*start + *len) as usize == self.arena.len()
        {
            *len += bytes.len() as u32;
            self.arena.extend_from_slice(bytes);
            return;
        }
        self.segments.push(Segment::Literal {
            start: self.arena.len() as u32,
            len: bytes.len() as u32,
        });
        self.arena.extend_from_slice(bytes);
    }

    /// Adds a pooled value of `line[pos..pos + len]`.
    fn pooled(&mut self, kind: PoolKind, line: &[u8], pos: usize, len: usize) {
        let key = PoolKey {
            kind,
            len: len as u8,
            context: pool_context(&line[..pos]),
        };
        let slot = match self.pool_keys.iter().position(|k| *k == key) {
            Some(slot) => slot,
            None => {
                self.pool_keys.push(key);
                self.pool_keys.len() - 1
            }
        };
        self.segments.push(Segment::Pooled { slot: slot as u16 });
    }

    /// Matches the timestamp format at the start of `line`, pushing its
    /// segments; returns where the rest of the line starts.
    fn match_prefix(&mut self, line: &[u8], items: &[FormatItem]) -> Option<usize> {
        let mut pos = 0;
        for item in items {
            match *item {
                FormatItem::Byte(byte) => {
                    if line.get(pos) != Some(&byte) {
                        return None;
                    }
                    self.literal(&line[pos..pos + 1]);
                    pos += 1;
                }
                FormatItem::Time(field) => {
                    pos += time_field_width(field, &line[pos..])?;
                    self.segments.push(Segment::Time(field));
                }
                FormatItem::Word => {
                    let len = run_len(&line[pos..], |b| {
                        b.is_ascii_alphabetic() || b == b'_' || b == b'-'
                    });
                    if len == 0 {
                        return None;
                    }
                    self.literal(&line[pos..pos + len]);
                    pos += len;
                }
                FormatItem::Any => {
                    let len = run_len(&line[pos..], |b| b != b' ');
                    if len == 0 {
                        return None;
                    }
                    self.literal(&line[pos..pos + len]);
                    pos += len;
                }
                FormatItem::Number => {
                    let len = run_len(&line[pos..], |b| b.is_ascii_digit());
                    if len == 0 || len > 255 {
                        return None;
                    }
                    self.segments.push(Segment::Digits {
                        len: len as u8,
                        nonzero_first: line[pos] != b'0',
                    });
                    pos += len;
                }
            }
        }
        Some(pos)
    }

    /// Splits the rest of a line into literals, IPs, pooled ids and digit runs.
    fn tokenize(&mut self, line: &[u8], start: usize) {
        let mut pos = start;
        let mut literal_from = start;
        while pos < line.len() {
            let prev = if pos == 0 { b' ' } else { line[pos - 1] };
            if prev.is_ascii_alphanumeric() || !line[pos].is_ascii_alphanumeric() {
                pos += 1;
                continue;
            }
            let (token, span) = classify(line, pos);
            if token != Token::Keep {
                self.literal(&line[literal_from..pos]);
                self.emit(token, line, pos, span);
                literal_from = pos + span;
            }
            pos += span;
        }
        self.literal(&line[literal_from..]);
    }

    /// Pushes the segments of a token `line[pos..pos + span]`.
    fn emit(&mut self, token: Token, line: &[u8], pos: usize, span: usize) {
        match token {
            Token::Keep => self.literal(&line[pos..pos + span]),
            Token::Ip => self.segments.push(Segment::Ip),
            Token::Clock => {
                self.segments.push(Segment::Time(TimeField::Hour2));
                self.literal(b":");
                self.segments.push(Segment::Time(TimeField::Minute2));
                self.literal(b":");
                self.segments.push(Segment::Time(TimeField::Second2));
            }
            Token::Pooled { kind, prefix } => {
                self.literal(&line[pos..pos + prefix]);
                self.pooled(kind, line, pos + prefix, span - prefix);
            }
            Token::Digits => {
                for chunk_start in (pos..pos + span).step_by(255) {
                    let chunk = (pos + span - chunk_start).min(255);
                    self.segments.push(Segment::Digits {
                        len: chunk as u8,
                        nonzero_first: line[chunk_start] != b'0',
                    });
                }
            }
        }
    }
}

/// What a token of a sample line becomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Token {
    /// Copied as it is: words ("v2", "log4j"), versions ("HTTP/1.1"), HTTP
    /// statuses, a lone zero (uid=0, "0.25").
    Keep,
    Ip,
    /// An embedded HH:MM:SS, which follows the entry's time too.
    Clock,
    /// A value from a pool, after `prefix` bytes kept as they are ("0x").
    Pooled {
        kind: PoolKind,
        prefix: usize,
    },
    /// Fresh digits.
    Digits,
}

/// Classifies the token starting at `pos` (at a word boundary) and returns
/// how many bytes it spans.
fn classify(line: &[u8], pos: usize) -> (Token, usize) {
    let byte = line[pos];
    if byte == b'0' && line.get(pos + 1) == Some(&b'x') {
        let hex = &line[pos + 2..];
        let hex_len = run_len(hex, |b| b.is_ascii_hexdigit());
        let after = hex.get(hex_len).copied().unwrap_or(b' ');
        if hex_len >= 6 && !after.is_ascii_alphanumeric() && is_lower_hex(&hex[..hex_len]) {
            let token = Token::Pooled {
                kind: PoolKind::Hex,
                prefix: 2,
            };
            return (token, 2 + hex_len);
        }
    }
    if is_uuid_at(line, pos) {
        let token = Token::Pooled {
            kind: PoolKind::Uuid,
            prefix: 0,
        };
        return (token, 36);
    }
    if let Some(len) = ipv4_len_at(line, pos) {
        return (Token::Ip, len);
    }
    if is_clock_at(line, pos) {
        return (Token::Clock, 8);
    }
    let word_len = run_len(&line[pos..], |b| b.is_ascii_alphanumeric());
    let word = &line[pos..pos + word_len];
    let digits = word.iter().filter(|b| b.is_ascii_digit()).count();
    let pooled = |kind| Token::Pooled { kind, prefix: 0 };
    if digits == word_len {
        if let Some(len) = short_dotted_len(line, pos) {
            return (Token::Keep, len);
        }
        if word == b"0" || line[..pos].ends_with(b"status: ") {
            return (Token::Keep, word_len);
        }
        let in_brackets =
            pos > 0 && line[pos - 1] == b'[' && line.get(pos + word_len) == Some(&b']');
        if (word_len >= 6 || in_brackets) && word_len <= MAX_POOLED_DECIMAL {
            return (pooled(PoolKind::Decimal), word_len);
        }
        return (Token::Digits, word_len);
    }
    if (6..=32).contains(&word_len) && digits > 0 && is_lower_hex(word) {
        return (pooled(PoolKind::Hex), word_len);
    }
    if byte.is_ascii_digit() {
        // A number with a unit ("250ms", "64MB"): new digits, same unit.
        return (Token::Digits, run_len(word, |b| b.is_ascii_digit()));
    }
    (Token::Keep, word_len)
}

fn parse_format(format: &str) -> Vec<FormatItem> {
    let bytes = format.as_bytes();
    let mut items = Vec::new();
    let mut pos = 0;
    while pos < bytes.len() {
        if bytes[pos] != b'%' || pos + 1 >= bytes.len() {
            items.push(FormatItem::Byte(bytes[pos]));
            pos += 1;
            continue;
        }
        let spec = &bytes[pos + 1..];
        let (item, used) = match spec {
            [b'-', b'd', ..] => (FormatItem::Time(TimeField::DayVar), 2),
            [b'-', b'H', ..] => (FormatItem::Time(TimeField::HourVar), 2),
            [b'-', b'M', ..] => (FormatItem::Time(TimeField::MinuteVar), 2),
            [b'-', b'S', ..] => (FormatItem::Time(TimeField::SecondVar), 2),
            [b'3', b'f', ..] => (FormatItem::Time(TimeField::Milli3), 2),
            [b'6', b'f', ..] => (FormatItem::Time(TimeField::Micro6), 2),
            [b'Y', ..] => (FormatItem::Time(TimeField::Year4), 1),
            [b'y', ..] => (FormatItem::Time(TimeField::Year2), 1),
            [b'm', ..] => (FormatItem::Time(TimeField::Month2), 1),
            [b'd', ..] => (FormatItem::Time(TimeField::Day2), 1),
            [b'e', ..] => (FormatItem::Time(TimeField::DaySpace), 1),
            [b'H', ..] => (FormatItem::Time(TimeField::Hour2), 1),
            [b'M', ..] => (FormatItem::Time(TimeField::Minute2), 1),
            [b'S', ..] => (FormatItem::Time(TimeField::Second2), 1),
            [b'L', ..] => (FormatItem::Time(TimeField::MilliVar), 1),
            [b'b', ..] => (FormatItem::Time(TimeField::MonthAbbr), 1),
            [b'a', ..] => (FormatItem::Time(TimeField::WeekdayAbbr), 1),
            [b's', ..] => (FormatItem::Time(TimeField::Unix), 1),
            [b'W', ..] => (FormatItem::Word, 1),
            [b'*', ..] => (FormatItem::Any, 1),
            [b'N', ..] => (FormatItem::Number, 1),
            _ => (FormatItem::Byte(b'%'), 0),
        };
        items.push(item);
        pos += 1 + used;
    }
    items
}

/// How many bytes at the start of `text` the field spans, if they fit its shape.
fn time_field_width(field: TimeField, text: &[u8]) -> Option<usize> {
    let digits = run_len(text, |b| b.is_ascii_digit());
    let fixed = |width: usize| (digits >= width).then_some(width);
    let variable = |most: usize| (1..=most).contains(&digits).then_some(digits);
    match field {
        TimeField::Year4 => fixed(4),
        TimeField::Year2
        | TimeField::Month2
        | TimeField::Day2
        | TimeField::Hour2
        | TimeField::Minute2
        | TimeField::Second2 => fixed(2),
        TimeField::Milli3 => fixed(3),
        TimeField::Micro6 => fixed(6),
        TimeField::Unix => fixed(10),
        TimeField::DayVar | TimeField::HourVar | TimeField::MinuteVar | TimeField::SecondVar => {
            variable(2)
        }
        TimeField::MilliVar => variable(3),
        TimeField::DaySpace => match text {
            [b' ', second, ..] if second.is_ascii_digit() => Some(2),
            [first, second, ..] if first.is_ascii_digit() && second.is_ascii_digit() => Some(2),
            _ => None,
        },
        TimeField::MonthAbbr | TimeField::WeekdayAbbr => {
            (text.len() >= 3 && text[..3].iter().all(u8::is_ascii_alphabetic)).then_some(3)
        }
    }
}

pub fn push_time_field(out: &mut Vec<u8>, field: TimeField, civil: &Civil) {
    let millis = u64::from(civil.nanos / 1_000_000);
    match field {
        TimeField::Year4 => push_padded(out, civil.year as u64, 4),
        TimeField::Year2 => push_padded(out, civil.year.rem_euclid(100) as u64, 2),
        TimeField::Month2 => push_padded(out, u64::from(civil.month), 2),
        TimeField::Day2 => push_padded(out, u64::from(civil.day), 2),
        TimeField::DaySpace => {
            if civil.day < 10 {
                out.push(b' ');
            }
            push_u64(out, u64::from(civil.day));
        }
        TimeField::DayVar => push_u64(out, u64::from(civil.day)),
        TimeField::Hour2 => push_padded(out, u64::from(civil.hour), 2),
        TimeField::HourVar => push_u64(out, u64::from(civil.hour)),
        TimeField::Minute2 => push_padded(out, u64::from(civil.minute), 2),
        TimeField::MinuteVar => push_u64(out, u64::from(civil.minute)),
        TimeField::Second2 => push_padded(out, u64::from(civil.second), 2),
        TimeField::SecondVar => push_u64(out, u64::from(civil.second)),
        TimeField::Milli3 => push_padded(out, millis, 3),
        TimeField::MilliVar => push_u64(out, millis),
        TimeField::Micro6 => push_padded(out, u64::from(civil.nanos / 1000), 6),
        TimeField::MonthAbbr => out.extend_from_slice(civil.month_abbr()),
        TimeField::WeekdayAbbr => out.extend_from_slice(civil.weekday_abbr()),
        TimeField::Unix => push_u64(out, civil.unix_seconds.max(0) as u64),
    }
}

/// Appends an IPv4 address given as a big-endian u32.
pub fn push_ip(out: &mut Vec<u8>, ip: u32) {
    for (index, octet) in ip.to_be_bytes().iter().enumerate() {
        if index > 0 {
            out.push(b'.');
        }
        push_u64(out, u64::from(*octet));
    }
}

/// Share of draws that mint a new value (the rest repeat a recent one, as
/// real logs repeat block and request ids).
const NEW_VALUE_SHARE: f64 = 0.2;
/// Values a pool keeps; a new value past this replaces a random old one.
const POOL_CAPACITY: usize = 32;

fn draw_pooled(pool: &mut Vec<u128>, kind: PoolKind, len: u8, rng: &mut Rng) -> u128 {
    if !pool.is_empty() && !rng.chance(NEW_VALUE_SHARE) {
        return pool[rng.index(pool.len())];
    }
    let value = match kind {
        PoolKind::Decimal => {
            let len = usize::from(len);
            if len <= 19 {
                u128::from(random_decimal(rng, len))
            } else {
                let high = random_decimal(rng, len - 19);
                let low = rng.below(10u64.pow(19));
                (u128::from(high) << 64) | u128::from(low)
            }
        }
        PoolKind::Hex | PoolKind::Uuid => rng.next_u128(),
    };
    if pool.len() < POOL_CAPACITY {
        pool.push(value);
    } else {
        let slot = rng.index(pool.len());
        pool[slot] = value;
    }
    value
}

/// A number of exactly `len` digits (1..=19), no leading zero.
fn random_decimal(rng: &mut Rng, len: usize) -> u64 {
    if len <= 1 {
        return rng.below(10);
    }
    let low = 10u64.pow(len as u32 - 1);
    low + rng.below(low * 9)
}

fn push_pooled(out: &mut Vec<u8>, kind: PoolKind, len: u8, value: u128) {
    let len = usize::from(len);
    match kind {
        PoolKind::Decimal if len <= 19 => push_padded(out, value as u64, len),
        PoolKind::Decimal => {
            push_padded(out, (value >> 64) as u64, len - 19);
            push_padded(out, value as u64, 19);
        }
        PoolKind::Hex => push_hex(out, value, len),
        PoolKind::Uuid => {
            for (index, width) in [8usize, 4, 4, 4, 12].iter().enumerate() {
                if index > 0 {
                    out.push(b'-');
                }
                let shift = match index {
                    0 => 96,
                    1 => 80,
                    2 => 64,
                    3 => 48,
                    _ => 0,
                };
                push_hex(out, value >> shift, *width);
            }
        }
    }
}

/// The pool context of a value preceded by `before`: the start of the value's
/// own word (`blk_`, `req-`), or else the previous word, at most 16 bytes.
fn pool_context(before: &[u8]) -> Vec<u8> {
    let word_start = before
        .iter()
        .rposition(|b| *b == b' ')
        .map_or(0, |space| space + 1);
    let mut context = &before[word_start..];
    if context.is_empty() {
        let trimmed =
            &before[..before.len() - before.iter().rev().take_while(|b| **b == b' ').count()];
        let previous_start = trimmed
            .iter()
            .rposition(|b| *b == b' ')
            .map_or(0, |space| space + 1);
        context = &trimmed[previous_start..];
    }
    context[context.len().saturating_sub(16)..].to_vec()
}

/// `HH:MM:SS` (a clock time inside a line) at `pos`.
fn is_clock_at(line: &[u8], pos: usize) -> bool {
    let Some(candidate) = line.get(pos..pos + 8) else {
        return false;
    };
    let after = line.get(pos + 8).copied().unwrap_or(b' ');
    let shape = candidate.iter().enumerate().all(|(index, b)| match index {
        2 | 5 => *b == b':',
        _ => b.is_ascii_digit(),
    });
    shape
        && !after.is_ascii_alphanumeric()
        && after != b':'
        && &candidate[..2] < b"24".as_slice()
        && candidate[3] < b'6'
        && candidate[6] < b'6'
}

/// Length of a dotted run of short numbers ("1.1", "4.6.2", not "0.295472")
/// whose first number starts at `pos`.
fn short_dotted_len(line: &[u8], pos: usize) -> Option<usize> {
    let mut parts = 0;
    let mut at = pos;
    loop {
        let digits = run_len(&line[at..], |b| b.is_ascii_digit());
        if digits == 0 || digits > 2 {
            return None;
        }
        parts += 1;
        at += digits;
        if line.get(at) == Some(&b'.') && line.get(at + 1).is_some_and(u8::is_ascii_digit) {
            at += 1;
            continue;
        }
        break;
    }
    let after = line.get(at).copied().unwrap_or(b' ');
    (parts >= 2 && !after.is_ascii_alphanumeric()).then_some(at - pos)
}

fn run_len(text: &[u8], accept: impl Fn(u8) -> bool) -> usize {
    text.iter().take_while(|b| accept(**b)).count()
}

fn is_lower_hex(text: &[u8]) -> bool {
    text.iter()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(b))
}

fn is_uuid_at(line: &[u8], pos: usize) -> bool {
    let Some(candidate) = line.get(pos..pos + 36) else {
        return false;
    };
    let after = line.get(pos + 36).copied().unwrap_or(b' ');
    if after.is_ascii_alphanumeric() {
        return false;
    }
    candidate.iter().enumerate().all(|(index, b)| match index {
        8 | 13 | 18 | 23 => *b == b'-',
        _ => b.is_ascii_digit() || (b'a'..=b'f').contains(b),
    })
}

/// Length of a dotted-quad IPv4 address starting at `pos`, if there is one.
fn ipv4_len_at(line: &[u8], pos: usize) -> Option<usize> {
    let mut len = 0;
    for part in 0..4 {
        if part > 0 {
            if line.get(pos + len) != Some(&b'.') {
                return None;
            }
            len += 1;
        }
        let digits = run_len(&line[pos + len..], |b| b.is_ascii_digit());
        if !(1..=3).contains(&digits) {
            return None;
        }
        len += digits;
    }
    let after = line.get(pos + len).copied().unwrap_or(b' ');
    let after_next = line.get(pos + len + 1).copied().unwrap_or(b' ');
    if after.is_ascii_alphanumeric() || (after == b'.' && after_next.is_ascii_digit()) {
        return None;
    }
    Some(len)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn segments_of(line: &str, format: &str) -> (TemplateSet, Template) {
        let mut set = TemplateSet::default();
        let template = set.add(line, format);
        (set, template)
    }

    fn render(set: &TemplateSet, template: Template, seed: u64) -> String {
        let civil = Civil::from_unix_nanos(1_795_179_909_123_456_789);
        let mut pools = vec![Vec::new(); set.pool_keys.len()];
        let mut out = Vec::new();
        let ips = [u32::from_be_bytes([10, 1, 2, 3])];
        set.render(
            template,
            &civil,
            &ips,
            &mut pools,
            &mut Rng::new(seed),
            &mut out,
        );
        String::from_utf8(out).expect("utf-8")
    }

    #[test]
    fn timestamps_are_rendered_in_the_systems_format() {
        let cases = [
            (
                "081109 203615 148 INFO dfs.DataNode$PacketResponder: PacketResponder 1 for block blk_38865049064139660 terminating",
                "%y%m%d %H%M%S ",
                "261120 130509 ",
            ),
            (
                "2015-10-18 18:01:47,978 INFO [main] org.apache.hadoop.mapreduce.v2.app.MRAppMaster: Executing with tokens:",
                "%Y-%m-%d %H:%M:%S,%3f ",
                "2026-11-20 13:05:09,123 INFO [main] org.apache.hadoop.mapreduce.v2.app.MRAppMaster: Executing with tokens:",
            ),
            (
                "[Sun Dec 04 04:47:44 2005] [notice] workerEnv.init() ok /etc/httpd/conf/workers2.properties",
                "[%a %b %d %H:%M:%S %Y] ",
                "[Fri Nov 20 13:05:09 2026] [notice] workerEnv.init() ok /etc/httpd/conf/workers2.properties",
            ),
            (
                "Jun  4 15:16:01 combo sshd(pam_unix)[19939]: check pass; user unknown",
                "%b %e %H:%M:%S ",
                "Nov 20 13:05:09 combo sshd(pam_unix)[",
            ),
            (
                "20171223-22:15:35:11|Step_SPUtils|30002312| x",
                "%Y%m%d-%-H:%-M:%-S:%L|",
                "20261120-13:5:9:123|Step_SPUtils|",
            ),
        ];
        for (line, format, expected_prefix) in cases {
            let (set, template) = segments_of(line, format);
            assert_eq!(set.unmatched, 0, "{line}");
            let rendered = render(&set, template, 1);
            assert!(rendered.starts_with(expected_prefix), "{rendered}");
        }
    }

    #[test]
    fn values_are_replaced_and_words_kept() {
        let line = "Received block blk_-1608999687919862906 of size 91178 from /10.250.10.6 via v2 req-38101a0b-2096-447d-96ea-a692162415ae at 0x7fed806eb5d ok";
        let (set, template) = segments_of(line, "");
        let rendered = render(&set, template, 3);
        assert_eq!(
            rendered.len(),
            line.len() - "10.250.10.6".len() + "10.1.2.3".len()
        );
        assert!(rendered.starts_with("Received block blk_-"));
        assert!(rendered.contains(" from /10.1.2.3 via v2 req-"));
        assert!(!rendered.contains("1608999687919862906"));
        assert!(!rendered.contains("38101a0b"));
        assert!(rendered.ends_with(" ok"));
        assert_ne!(rendered, render(&set, template, 4));
    }

    #[test]
    fn unmatched_format_falls_back_to_digits() {
        let (set, template) = segments_of("no timestamp here 12", "%Y-%m-%d ");
        assert_eq!(set.unmatched, 1);
        let rendered = render(&set, template, 5);
        assert!(rendered.starts_with("no timestamp here "));
        assert_eq!(rendered.len(), "no timestamp here 12".len());
    }
}
