//! Timestamp parsing: text → Unix nanoseconds (`i64`).
//!
//! A [`TimeFormat`] is built once from the format *spec* a user writes in a
//! pipeline config ([`TimeFormat::parse_spec`]) and then applied to many
//! values ([`TimeFormat::parse`]). Parsing is done with `jiff`: its RFC 3339
//! / ISO 8601 parsers for the standard formats and `jiff::fmt::strtime` for
//! layouts.
//!
//! # Spec detection rule
//!
//! [`TimeFormat::parse_spec`] decides in this order:
//!
//! 1. **A format name**, compared ASCII case-insensitively with `_` ignored
//!    (so `UnixMs`, `UNIX_MS` and `unix_ms` are the same):
//!    * `RFC3339`, `RFC3339Nano` → [`TimeFormat::Rfc3339`];
//!    * `ISO8601` → [`TimeFormat::Iso8601`];
//!    * `RFC2822`, `RFC5322` → [`TimeFormat::Rfc2822`];
//!    * `Unix`, `UnixMs`, `UnixUs`, `UnixNs` (Promtail; Logstash's `UNIX`,
//!      `UNIX_MS` are the same names) → the Unix variants;
//!    * Go's layout constants `ANSIC`, `UnixDate`, `RubyDate`, `RFC822`,
//!      `RFC822Z`, `RFC850`, `RFC1123`, `RFC1123Z` (the Promtail list) and
//!      also `Kitchen`, `Stamp`, `StampMilli`, `StampMicro`, `StampNano`,
//!      `DateTime`, `DateOnly`, `TimeOnly` → their Go layout, converted as
//!      in 3.
//! 2. **A spec containing `%`** is a strftime layout in jiff's dialect
//!    (`"%Y-%m-%dT%H:%M:%S%.fZ"`), kept as [`TimeFormat::Strftime`] and
//!    checked for unknown directives.
//! 3. **A spec containing an ASCII digit** is a Go reference-time layout
//!    (`"2006-01-02 15:04:05.000"`): Go layouts are written with the digits
//!    of the reference time, Joda layouts with letters. Tokens: `2006` `06`
//!    `01` `1` `Jan` `January` `02` `2` `_2` `002` `__2` `15` `03` `3` `04`
//!    `4` `05` `5` `PM` `pm` `Mon` `Monday` `MST` `-0700` `-07:00` `-07`
//!    `-070000` `-07:00:00` and the `Z…` forms of those, `.000…`/`.999…`
//!    and `,000…`/`,999…` fractions. As in Go, `Jan`/`Mon` followed by a
//!    lowercase letter are literal text, and fractional seconds are accepted
//!    after the seconds even when the layout has no fraction.
//! 4. **Anything else** is a Joda/Logstash layout (`"yyyy-MM-dd HH:mm:ss,SSS"`,
//!    `"dd/MMM/yyyy:HH:mm:ss Z"`): `yyyy` `yy` `M` `MM` `MMM` `MMMM` `d` `dd`
//!    `D` `H` `HH` `k` `h` `hh` `K` `m` `mm` `s` `ss` `S…` `a` `E`…`EEE`
//!    `EEEE` `e` `Z` `ZZ` `ZZZ` `z` `X` `XX` `XXX`, `'quoted text'` and `''`;
//!    any other letter is an error. (If a digit-free spec is not valid Joda
//!    but is a valid Go layout, e.g. `"Jan _2"` without digits is not, but
//!    `"Monday"` is, the Go reading is used.)
//!
//! Go and Joda layouts are converted to strftime text and stored as
//! [`TimeFormat::Strftime`]; `parse_spec` reports a layout it cannot use.
//!
//! # Parsing rules
//!
//! * Surrounding whitespace of the value is ignored.
//! * Strftime layouts are parsed with jiff's strptime, with three zone
//!   directives handled here (jiff does not parse `%Z`): `%z`, `%:z`,
//!   `%::z`, `%:::z` all accept `Z`/`z` or an offset `±HH`, `±HHMM`,
//!   `±HH:MM` (optionally with seconds); `%Z` accepts an offset, an IANA
//!   name containing `/` (`Europe/Paris`), or an abbreviation from a fixed
//!   table (`UTC`, `GMT`, `Z`, US zones per RFC 822, `CET`, `CEST`, `IST` =
//!   India, `JST`, `AEST` …; `UTC+02:00` style too). An unknown abbreviation
//!   is skipped and the default zone is used. In jiff's strptime a space in
//!   the layout matches any run of whitespace and numbers may be
//!   space-padded, so `"%b %d"` also reads syslog's `"Jan  2"`.
//! * Zone precedence: an offset or zone in the text, else `default_tz`, else
//!   UTC. Local times that fall in a DST gap or fold resolve with jiff's
//!   "compatible" rule (gap → later, fold → earlier).
//! * No year in the layout (syslog `"Jan  2 15:04:05"`): the year comes from
//!   `now_ns` (in the value's zone). It is the current year unless that puts
//!   the instant more than [`MAX_FUTURE_NS`] (2 days) after `now`: logs are
//!   read after they are written, so then the previous year is used (a
//!   `Dec 31 23:59:59` line read on Jan 1, or a `Dec 10` line read in June,
//!   is from last year). Symmetrically, next year is used when that instant
//!   is within those 2 days (a `Jan  1 00:00:01` line read at
//!   `Dec 31 23:59:59` because of clock skew). In other words: the latest of
//!   next, current and previous year that is at most 2 days in the future
//!   and forms a valid date (`Feb 29` skips non-leap years, a weekday must
//!   match). No date at all (`Kitchen`, `TimeOnly`): the date of `now` in
//!   the value's zone (a parsed weekday is then ignored).
//! * `ISO8601` accepts `T`, `t` or a space between date and time, `.` or `,`
//!   before the fraction, basic (`20240115T103000Z`) and extended forms, an
//!   optional offset (`Z`, `±HH`, `±HHMM`, `±HH:MM`) or `[Area/City]`
//!   annotation, and a date alone (midnight); no offset → `default_tz`.
//! * `RFC3339` requires a date, a time and an offset (`Z` or `±HH:MM`) and
//!   accepts any fraction up to nanoseconds (so it is also `RFC3339Nano`);
//!   jiff's parser also takes a few RFC 9557 extensions (space separator,
//!   `[zone]` annotation).
//! * `RFC2822`: jiff's RFC 2822 parser (optional weekday, obsolete zone
//!   names such as `GMT`/`EST`).
//! * Unix formats take an integer or a decimal with a fraction (`"1700000000"`,
//!   `"1700000000.123"`, `"-1.5"`, also `"1.7e9"`); the fraction is applied
//!   exactly (truncated below 1 ns) except for exponent forms, which go
//!   through `f64`.
//! * The result must fit `i64` nanoseconds (years 1677–2262).
//! * Errors read `cannot parse "<text>" as <format>: <reason>`, e.g.
//!   `cannot parse "xyz" as RFC3339: ...`.

use std::fmt;

use anyhow::{Result, anyhow, bail};
use jiff::Timestamp;
use jiff::civil::Time;
use jiff::fmt::strtime::{self, BrokenDownTime};
use jiff::fmt::temporal::Pieces;
use jiff::tz::{Offset, TimeZone};

/// How far after `now` a timestamp without a year may land (2 days) before
/// the previous year is assumed; see the module documentation.
pub const MAX_FUTURE_NS: i64 = 2 * 86_400 * 1_000_000_000;

/// A timestamp format; see the module documentation for the accepted specs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TimeFormat {
    /// RFC 3339 (and Go's `RFC3339Nano`): date, time and offset required.
    Rfc3339,
    /// Lenient ISO 8601 (Logstash `ISO8601`); no offset → default zone.
    Iso8601,
    /// RFC 2822 / RFC 5322 e-mail dates.
    Rfc2822,
    /// Seconds since the Unix epoch, integer or fractional.
    Unix,
    /// Milliseconds since the Unix epoch.
    UnixMs,
    /// Microseconds since the Unix epoch.
    UnixUs,
    /// Nanoseconds since the Unix epoch.
    UnixNs,
    /// A strftime layout in jiff's dialect plus this module's zone handling;
    /// Go and Joda layouts are converted to this.
    Strftime(String),
}

impl fmt::Display for TimeFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TimeFormat::Rfc3339 => f.write_str("RFC3339"),
            TimeFormat::Iso8601 => f.write_str("ISO8601"),
            TimeFormat::Rfc2822 => f.write_str("RFC2822"),
            TimeFormat::Unix => f.write_str("UNIX"),
            TimeFormat::UnixMs => f.write_str("UNIX_MS"),
            TimeFormat::UnixUs => f.write_str("UNIX_US"),
            TimeFormat::UnixNs => f.write_str("UNIX_NS"),
            TimeFormat::Strftime(layout) => write!(f, "layout {layout:?}"),
        }
    }
}

/// Go's named layouts (the reference time written in each style).
const GO_NAMED: &[(&str, &str)] = &[
    ("ANSIC", "Mon Jan _2 15:04:05 2006"),
    ("UNIXDATE", "Mon Jan _2 15:04:05 MST 2006"),
    ("RUBYDATE", "Mon Jan 02 15:04:05 -0700 2006"),
    ("RFC822", "02 Jan 06 15:04 MST"),
    ("RFC822Z", "02 Jan 06 15:04 -0700"),
    ("RFC850", "Monday, 02-Jan-06 15:04:05 MST"),
    ("RFC1123", "Mon, 02 Jan 2006 15:04:05 MST"),
    ("RFC1123Z", "Mon, 02 Jan 2006 15:04:05 -0700"),
    ("KITCHEN", "3:04PM"),
    ("STAMP", "Jan _2 15:04:05"),
    ("STAMPMILLI", "Jan _2 15:04:05.000"),
    ("STAMPMICRO", "Jan _2 15:04:05.000000"),
    ("STAMPNANO", "Jan _2 15:04:05.000000000"),
    ("DATETIME", "2006-01-02 15:04:05"),
    ("DATEONLY", "2006-01-02"),
    ("TIMEONLY", "15:04:05"),
];

impl TimeFormat {
    /// Parses a format spec as users write it; see the module documentation
    /// for the detection rule.
    ///
    /// # Errors
    ///
    /// An empty spec, an invalid strftime layout (unknown directive, trailing
    /// `%`), a Go layout without any reference-time element, or a Joda layout
    /// with an unsupported letter or an unterminated quote.
    pub fn parse_spec(spec: &str) -> Result<TimeFormat> {
        if spec.trim().is_empty() {
            bail!("empty time format");
        }
        let name: String = spec
            .trim()
            .chars()
            .filter(|&c| c != '_')
            .map(|c| c.to_ascii_uppercase())
            .collect();
        let named = match name.as_str() {
            "RFC3339" | "RFC3339NANO" => Some(TimeFormat::Rfc3339),
            "ISO8601" => Some(TimeFormat::Iso8601),
            "RFC2822" | "RFC5322" => Some(TimeFormat::Rfc2822),
            "UNIX" => Some(TimeFormat::Unix),
            "UNIXMS" => Some(TimeFormat::UnixMs),
            "UNIXUS" => Some(TimeFormat::UnixUs),
            "UNIXNS" => Some(TimeFormat::UnixNs),
            _ => None,
        };
        if let Some(format) = named {
            return Ok(format);
        }
        if let Some((_, layout)) = GO_NAMED.iter().find(|(n, _)| *n == name) {
            return Ok(TimeFormat::Strftime(go_to_strftime(layout)?));
        }
        if spec.contains('%') {
            validate_strftime(spec)?;
            return Ok(TimeFormat::Strftime(spec.to_string()));
        }
        if spec.bytes().any(|b| b.is_ascii_digit()) {
            return Ok(TimeFormat::Strftime(go_to_strftime(spec)?));
        }
        match joda_to_strftime(spec) {
            Ok(layout) => Ok(TimeFormat::Strftime(layout)),
            Err(joda_err) => match go_to_strftime(spec) {
                Ok(layout) => Ok(TimeFormat::Strftime(layout)),
                Err(_) => Err(joda_err),
            },
        }
    }

    /// Parses `text` into Unix nanoseconds.
    ///
    /// `default_tz` is the zone for values without an offset or zone (UTC
    /// when `None`); `now_ns` (Unix nanoseconds) supplies the year or date
    /// a layout lacks (see the module documentation).
    ///
    /// # Errors
    ///
    /// `cannot parse "<text>" as <format>: <reason>` when the text does not
    /// match the format, names an unknown IANA zone, or is outside the `i64`
    /// nanosecond range.
    pub fn parse(
        &self,
        text: &str,
        default_tz: Option<&TimeZone>,
        now_ns: i64,
    ) -> Result<i64, String> {
        let input = text.trim();
        let result = match self {
            TimeFormat::Rfc3339 => input
                .parse::<Timestamp>()
                .map_err(|e| e.to_string())
                .and_then(timestamp_ns),
            TimeFormat::Iso8601 => parse_iso8601(input, default_tz),
            TimeFormat::Rfc2822 => jiff::fmt::rfc2822::DateTimeParser::new()
                .parse_timestamp(input)
                .map_err(|e| e.to_string())
                .and_then(timestamp_ns),
            TimeFormat::Unix => parse_unix(input, 1_000_000_000),
            TimeFormat::UnixMs => parse_unix(input, 1_000_000),
            TimeFormat::UnixUs => parse_unix(input, 1_000),
            TimeFormat::UnixNs => parse_unix(input, 1),
            TimeFormat::Strftime(layout) => parse_layout(layout, input, default_tz, now_ns),
        };
        result.map_err(|e| format!("cannot parse {text:?} as {self}: {e}"))
    }
}

fn timestamp_ns(ts: Timestamp) -> Result<i64, String> {
    i64::try_from(ts.as_nanosecond())
        .map_err(|_| format!("{ts} is outside the i64 nanosecond range (years 1677-2262)"))
}

fn parse_iso8601(input: &str, default_tz: Option<&TimeZone>) -> Result<i64, String> {
    let pieces = Pieces::parse(input).map_err(|e| e.to_string())?;
    let dt = pieces
        .date()
        .to_datetime(pieces.time().unwrap_or(Time::midnight()));
    let ts = if let Some(offset) = pieces.to_numeric_offset() {
        offset.to_timestamp(dt)
    } else if let Some(tz) = pieces.to_time_zone().map_err(|e| e.to_string())? {
        tz.to_timestamp(dt)
    } else {
        default_tz.unwrap_or(&TimeZone::UTC).to_timestamp(dt)
    };
    timestamp_ns(ts.map_err(|e| e.to_string())?)
}

/// Parses integer or decimal epoch text in units of `unit_ns` nanoseconds.
fn parse_unix(input: &str, unit_ns: i64) -> Result<i64, String> {
    let out_of_range = || "value is outside the i64 nanosecond range".to_string();
    if input.contains(['e', 'E']) {
        let v: f64 = input
            .parse()
            .map_err(|_| "expected a number of seconds or (milli/micro/nano)seconds".to_string())?;
        let ns = v * unit_ns as f64;
        // `i64::MAX as f64` rounds up to 2^63, so `<` keeps the cast exact-safe.
        if !ns.is_finite() || ns < i64::MIN as f64 || ns >= i64::MAX as f64 {
            return Err(out_of_range());
        }
        return Ok(ns as i64);
    }
    let (negative, unsigned) = match input.as_bytes().first() {
        Some(b'-') => (true, &input[1..]),
        Some(b'+') => (false, &input[1..]),
        _ => (false, input),
    };
    let (int_part, frac_part) = unsigned.split_once('.').unwrap_or((unsigned, ""));
    let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if (int_part.is_empty() && frac_part.is_empty())
        || !all_digits(int_part)
        || !all_digits(frac_part)
    {
        return Err("expected an integer or decimal number".to_string());
    }
    let int_part = int_part.trim_start_matches('0');
    if int_part.len() > 20 {
        return Err(out_of_range());
    }
    let whole: i128 = if int_part.is_empty() {
        0
    } else {
        int_part.parse().map_err(|_| out_of_range())?
    };
    // Up to 18 fraction digits: more are below 1 ns for every unit.
    let frac_digits = &frac_part[..frac_part.len().min(18)];
    let frac_ns: i128 = if frac_digits.is_empty() {
        0
    } else {
        let value: i128 = frac_digits.parse().map_err(|_| out_of_range())?;
        value * i128::from(unit_ns) / 10i128.pow(frac_digits.len() as u32)
    };
    let total = whole * i128::from(unit_ns) + frac_ns;
    let total = if negative { -total } else { total };
    i64::try_from(total).map_err(|_| out_of_range())
}

// ---------------------------------------------------------------------------
// Strftime layouts with zone directives handled here
// ---------------------------------------------------------------------------

/// A piece of a strftime layout: text for jiff, or a zone directive.
enum Piece<'a> {
    Jiff(&'a str),
    /// `%z`, `%:z`, `%::z`, `%:::z`: `Z` or a numeric offset.
    Offset,
    /// `%Z`: offset, IANA name or abbreviation.
    Zone,
}

/// Splits a layout at its `%z`/`%Z` directives (no allocation).
struct LayoutPieces<'a> {
    layout: &'a str,
    pos: usize,
}

/// Index just past the directive starting at `bytes[i] == b'%'`, and the
/// directive byte (`None` if the layout ends first).
fn scan_directive(bytes: &[u8], i: usize) -> (usize, Option<u8>) {
    let mut j = i + 1;
    if bytes.get(j) == Some(&b'%') {
        return (j + 1, Some(b'%'));
    }
    if bytes.get(j).is_some_and(|b| b"_-0^#".contains(b)) {
        j += 1;
    }
    while bytes
        .get(j)
        .is_some_and(|b| b.is_ascii_digit() || *b == b':')
    {
        j += 1;
    }
    if bytes.get(j) == Some(&b'.') {
        j += 1;
        while bytes.get(j).is_some_and(u8::is_ascii_digit) {
            j += 1;
        }
    }
    match bytes.get(j) {
        Some(&d) => (j + 1, Some(d)),
        None => (bytes.len(), None),
    }
}

impl<'a> Iterator for LayoutPieces<'a> {
    type Item = Piece<'a>;

    fn next(&mut self) -> Option<Piece<'a>> {
        let bytes = self.layout.as_bytes();
        let start = self.pos;
        if start >= bytes.len() {
            return None;
        }
        let mut i = start;
        while i < bytes.len() {
            if bytes[i] != b'%' {
                i += 1;
                continue;
            }
            let (end, directive) = scan_directive(bytes, i);
            if let Some(d @ (b'z' | b'Z')) = directive {
                if i > start {
                    self.pos = i;
                    return Some(Piece::Jiff(&self.layout[start..i]));
                }
                self.pos = end;
                return Some(if d == b'z' {
                    Piece::Offset
                } else {
                    Piece::Zone
                });
            }
            i = end;
        }
        self.pos = bytes.len();
        Some(Piece::Jiff(&self.layout[start..]))
    }
}

fn pieces(layout: &str) -> LayoutPieces<'_> {
    LayoutPieces { layout, pos: 0 }
}

/// Rejects strftime layouts jiff cannot use (unknown directives, trailing `%`).
fn validate_strftime(layout: &str) -> Result<()> {
    let sample = Timestamp::UNIX_EPOCH.to_zoned_datetime(TimeZone::UTC);
    for piece in pieces(layout) {
        if let Piece::Jiff(text) = piece {
            strtime::format(text, &sample)
                .map_err(|e| anyhow!("invalid strftime layout {layout:?}: {e}"))?;
        }
    }
    Ok(())
}

fn jiff_err(e: jiff::Error) -> String {
    e.to_string()
}

/// Copies the fields set in `src` into `dst`.
fn merge(dst: &mut BrokenDownTime, src: &BrokenDownTime) -> Result<(), jiff::Error> {
    if src.year().is_some() {
        dst.set_year(src.year())?;
    }
    if src.month().is_some() {
        dst.set_month(src.month())?;
    }
    if src.day().is_some() {
        dst.set_day(src.day())?;
    }
    if src.day_of_year().is_some() {
        dst.set_day_of_year(src.day_of_year())?;
    }
    if src.iso_week_year().is_some() {
        dst.set_iso_week_year(src.iso_week_year())?;
    }
    if src.iso_week().is_some() {
        dst.set_iso_week(src.iso_week())?;
    }
    if src.sunday_based_week().is_some() {
        dst.set_sunday_based_week(src.sunday_based_week())?;
    }
    if src.monday_based_week().is_some() {
        dst.set_monday_based_week(src.monday_based_week())?;
    }
    if src.hour().is_some() {
        dst.set_hour(src.hour())?;
    }
    if src.minute().is_some() {
        dst.set_minute(src.minute())?;
    }
    if src.second().is_some() {
        dst.set_second(src.second())?;
    }
    if src.subsec_nanosecond().is_some() {
        dst.set_subsec_nanosecond(src.subsec_nanosecond())?;
    }
    if src.offset().is_some() {
        dst.set_offset(src.offset());
    }
    if let Some(name) = src.iana_time_zone() {
        dst.set_iana_time_zone(Some(name.to_string()));
    }
    if src.weekday().is_some() {
        dst.set_weekday(src.weekday());
    }
    if src.meridiem().is_some() {
        dst.set_meridiem(src.meridiem());
    }
    if src.timestamp().is_some() {
        dst.set_timestamp(src.timestamp());
    }
    Ok(())
}

fn parse_layout(
    layout: &str,
    input: &str,
    default_tz: Option<&TimeZone>,
    now_ns: i64,
) -> Result<i64, String> {
    let mut tm: Option<BrokenDownTime> = None;
    let mut zone: Option<TimeZone> = None;
    let mut rest = input;
    for piece in pieces(layout) {
        match piece {
            Piece::Jiff(fmt) => {
                let (parsed, used) = BrokenDownTime::parse_prefix(fmt, rest).map_err(jiff_err)?;
                rest = rest
                    .get(used..)
                    .ok_or_else(|| "input split inside a character".to_string())?;
                match tm.as_mut() {
                    None => tm = Some(parsed),
                    Some(acc) => merge(acc, &parsed).map_err(jiff_err)?,
                }
            }
            Piece::Offset => {
                let (offset, used) = parse_offset(rest)?;
                tm.get_or_insert_default().set_offset(Some(offset));
                rest = &rest[used..];
            }
            Piece::Zone => {
                let (found, used) = parse_zone(rest)?;
                match found {
                    Zone::Offset(offset) => tm.get_or_insert_default().set_offset(Some(offset)),
                    Zone::Named(tz) => zone = Some(tz),
                    Zone::Unknown => {}
                }
                rest = &rest[used..];
            }
        }
    }
    if !rest.is_empty() {
        return Err(format!("unexpected trailing text {rest:?}"));
    }
    resolve(tm.unwrap_or_default(), zone, default_tz, now_ns)
}

/// Turns parsed fields into an instant (zone precedence, missing year/date).
fn resolve(
    mut tm: BrokenDownTime,
    zone: Option<TimeZone>,
    default_tz: Option<&TimeZone>,
    now_ns: i64,
) -> Result<i64, String> {
    if let Some(ts) = tm.timestamp() {
        return timestamp_ns(ts);
    }
    let tz = if let Some(offset) = tm.offset() {
        TimeZone::fixed(offset)
    } else if let Some(tz) = zone {
        tz
    } else if let Some(name) = tm.iana_time_zone() {
        TimeZone::get(name).map_err(jiff_err)?
    } else {
        default_tz.cloned().unwrap_or(TimeZone::UTC)
    };
    let to_ns = |tm: &BrokenDownTime| -> Result<i128, jiff::Error> {
        let dt = tm.to_datetime()?;
        Ok(tz.to_timestamp(dt)?.as_nanosecond())
    };
    if tm.year().is_some() || tm.iso_week_year().is_some() {
        let ns = to_ns(&tm).map_err(jiff_err)?;
        return i64::try_from(ns).map_err(|_| "outside the i64 nanosecond range".to_string());
    }
    let now = Timestamp::from_nanosecond(i128::from(now_ns))
        .map_err(jiff_err)?
        .to_zoned_datetime(tz.clone());
    let has_day = tm.month().is_some()
        || tm.day().is_some()
        || tm.day_of_year().is_some()
        || tm.iso_week().is_some()
        || tm.sunday_based_week().is_some()
        || tm.monday_based_week().is_some();
    let ns = if !has_day {
        // Time of day only: today's date in the value's zone.
        tm.set_year(Some(now.year())).map_err(jiff_err)?;
        tm.set_month(Some(now.month())).map_err(jiff_err)?;
        tm.set_day(Some(now.day())).map_err(jiff_err)?;
        tm.set_weekday(None);
        to_ns(&tm).map_err(jiff_err)?
    } else {
        // No year: the latest of next, this and last year that is not more
        // than MAX_FUTURE_NS ahead of now.
        let limit = i128::from(now_ns) + i128::from(MAX_FUTURE_NS);
        let mut last_err = None;
        let mut found = None;
        for year in [now.year() + 1, now.year(), now.year() - 1] {
            tm.set_year(Some(year)).map_err(jiff_err)?;
            match to_ns(&tm) {
                Ok(ns) if ns <= limit => {
                    found = Some(ns);
                    break;
                }
                Ok(_) => {}
                Err(e) => last_err = Some(e),
            }
        }
        match (found, last_err) {
            (Some(ns), _) => ns,
            (None, Some(e)) => return Err(jiff_err(e)),
            (None, None) => return Err("no year near now gives a valid date".to_string()),
        }
    };
    i64::try_from(ns).map_err(|_| "outside the i64 nanosecond range".to_string())
}

/// Parses `Z`/`z` or `±HH`, `±HHMM`, `±HH:MM`, `±HHMMSS`, `±HH:MM:SS`.
fn parse_offset(s: &str) -> Result<(Offset, usize), String> {
    let b = s.as_bytes();
    let expected = || format!("expected a UTC offset (Z, ±HH, ±HHMM or ±HH:MM) at {s:?}");
    let negative = match b.first() {
        Some(b'Z' | b'z') => return Ok((Offset::UTC, 1)),
        Some(b'+') => false,
        Some(b'-') => true,
        _ => return Err(expected()),
    };
    let two = |at: usize| -> Option<i32> {
        let d = b.get(at..at + 2)?;
        d.iter()
            .all(u8::is_ascii_digit)
            .then(|| i32::from(d[0] - b'0') * 10 + i32::from(d[1] - b'0'))
    };
    let hours = two(1).ok_or_else(expected)?;
    let mut seconds = hours * 3600;
    let mut pos = 3;
    for unit in [60, 1] {
        let at = pos + usize::from(b.get(pos) == Some(&b':'));
        match two(at) {
            Some(v) if v < 60 => {
                seconds += v * unit;
                pos = at + 2;
            }
            Some(_) => return Err(format!("invalid UTC offset at {s:?}")),
            None => break,
        }
    }
    let offset = Offset::from_seconds(if negative { -seconds } else { seconds })
        .map_err(|e| format!("invalid UTC offset at {s:?}: {e}"))?;
    Ok((offset, pos))
}

enum Zone {
    Offset(Offset),
    Named(TimeZone),
    Unknown,
}

/// Zone abbreviations accepted by `%Z` (and Go's `MST`), offset in minutes.
/// Ambiguous ones take the most common meaning: `CST` = US Central,
/// `IST` = India, `BST` = British Summer Time.
const ABBREVIATIONS: &[(&str, i32)] = &[
    ("UTC", 0),
    ("UT", 0),
    ("GMT", 0),
    ("Z", 0),
    ("EST", -300),
    ("EDT", -240),
    ("CST", -360),
    ("CDT", -300),
    ("MST", -420),
    ("MDT", -360),
    ("PST", -480),
    ("PDT", -420),
    ("AKST", -540),
    ("AKDT", -480),
    ("HST", -600),
    ("AST", -240),
    ("ADT", -180),
    ("NST", -210),
    ("NDT", -150),
    ("BRT", -180),
    ("ART", -180),
    ("WET", 0),
    ("WEST", 60),
    ("BST", 60),
    ("IST", 330),
    ("CET", 60),
    ("CEST", 120),
    ("MET", 60),
    ("MEST", 120),
    ("EET", 120),
    ("EEST", 180),
    ("MSK", 180),
    ("SAST", 120),
    ("WAT", 60),
    ("CAT", 120),
    ("EAT", 180),
    ("PKT", 300),
    ("ICT", 420),
    ("WIB", 420),
    ("HKT", 480),
    ("SGT", 480),
    ("AWST", 480),
    ("JST", 540),
    ("KST", 540),
    ("ACST", 570),
    ("ACDT", 630),
    ("AEST", 600),
    ("AEDT", 660),
    ("NZST", 720),
    ("NZDT", 780),
];

/// Parses what `%Z` accepts; see the module documentation.
fn parse_zone(s: &str) -> Result<(Zone, usize), String> {
    let b = s.as_bytes();
    if matches!(b.first(), Some(b'+' | b'-')) {
        let (offset, used) = parse_offset(s)?;
        return Ok((Zone::Offset(offset), used));
    }
    let mut n = b.iter().take_while(|c| c.is_ascii_alphabetic()).count();
    if n == 0 {
        return Err(format!(
            "expected a time zone name or abbreviation at {s:?}"
        ));
    }
    if b.get(n) == Some(&b'/') {
        n += b[n..]
            .iter()
            .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, b'/' | b'_' | b'-' | b'+'))
            .count();
        let tz = TimeZone::get(&s[..n]).map_err(jiff_err)?;
        return Ok((Zone::Named(tz), n));
    }
    let abbr = &s[..n];
    let Some(&(_, minutes)) = ABBREVIATIONS
        .iter()
        .find(|(a, _)| a.eq_ignore_ascii_case(abbr))
    else {
        return Ok((Zone::Unknown, n));
    };
    if minutes == 0 && matches!(b.get(n), Some(b'+' | b'-')) {
        // `UTC+02:00`, `GMT-0500`
        if let Ok((offset, used)) = parse_offset(&s[n..]) {
            return Ok((Zone::Offset(offset), n + used));
        }
    }
    let offset = Offset::from_seconds(minutes * 60).map_err(jiff_err)?;
    Ok((Zone::Offset(offset), n))
}

// ---------------------------------------------------------------------------
// Layout conversion
// ---------------------------------------------------------------------------

fn push_literal(out: &mut String, c: char) {
    if c == '%' {
        out.push_str("%%");
    } else {
        out.push(c);
    }
}

/// Go reference-time tokens, longest first within each shared prefix.
const GO_TOKENS: &[(&str, &str)] = &[
    ("January", "%B"),
    ("Monday", "%A"),
    ("MST", "%Z"),
    ("Z07:00:00", "%::z"),
    ("-07:00:00", "%::z"),
    ("Z070000", "%z"),
    ("-070000", "%z"),
    ("Z07:00", "%:z"),
    ("-07:00", "%:z"),
    ("Z0700", "%z"),
    ("-0700", "%z"),
    ("Z07", "%:::z"),
    ("-07", "%:::z"),
    ("2006", "%Y"),
    ("002", "%j"),
    ("__2", "%j"),
    ("_2", "%e"),
    ("01", "%m"),
    ("02", "%d"),
    ("03", "%I"),
    ("04", "%M"),
    ("05", "%S"),
    ("06", "%y"),
    ("15", "%H"),
    ("PM", "%p"),
    ("pm", "%P"),
    ("1", "%m"),
    ("2", "%d"),
    ("3", "%I"),
    ("4", "%M"),
    ("5", "%S"),
];

/// The Go token at the start of `s`: (length, strftime directive).
fn go_token(s: &str) -> Option<(usize, &'static str)> {
    let b = s.as_bytes();
    let first = *b.first()?;
    if matches!(first, b'.' | b',') && matches!(b.get(1), Some(b'0' | b'9')) {
        let digit = b[1];
        let len = 1 + b[1..].iter().take_while(|&&c| c == digit).count();
        if !b.get(len).is_some_and(u8::is_ascii_digit) {
            return Some((len, if first == b'.' { "%.f" } else { ",%f" }));
        }
    }
    if let Some(&(token, directive)) = GO_TOKENS.iter().find(|(t, _)| s.starts_with(t)) {
        return Some((token.len(), directive));
    }
    let word_ends = !b.get(3).is_some_and(u8::is_ascii_lowercase);
    if s.starts_with("Jan") && word_ends {
        return Some((3, "%b"));
    }
    if s.starts_with("Mon") && word_ends {
        return Some((3, "%a"));
    }
    None
}

/// Converts a Go reference-time layout to a strftime layout.
fn go_to_strftime(layout: &str) -> Result<String> {
    let mut out = String::with_capacity(layout.len() * 2);
    let mut tokens = 0;
    let mut rest = layout;
    while let Some(c) = rest.chars().next() {
        if let Some((len, directive)) = go_token(rest) {
            out.push_str(directive);
            tokens += 1;
            rest = &rest[len..];
            // Go accepts a fraction after the seconds even if not in the layout.
            if directive == "%S" && !rest.starts_with(['.', ',']) {
                out.push_str("%.f");
            }
            continue;
        }
        push_literal(&mut out, c);
        rest = &rest[c.len_utf8()..];
    }
    if tokens == 0 {
        bail!(
            "Go layout {layout:?} contains no reference-time element \
             (2006, 01, 02, 15, 04, 05, Jan, Mon, MST, -0700, ...)"
        );
    }
    Ok(out)
}

/// Converts a Joda-Time / Logstash layout to a strftime layout.
fn joda_to_strftime(layout: &str) -> Result<String> {
    let chars: Vec<char> = layout.chars().collect();
    let mut out = String::with_capacity(layout.len() * 2);
    let mut fields = 0;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '\'' {
            if chars.get(i + 1) == Some(&'\'') {
                out.push('\'');
                i += 2;
                continue;
            }
            let mut j = i + 1;
            loop {
                match chars.get(j) {
                    None => bail!("unterminated quote in Joda layout {layout:?}"),
                    Some('\'') if chars.get(j + 1) == Some(&'\'') => {
                        out.push('\'');
                        j += 2;
                    }
                    Some('\'') => break,
                    Some(&q) => {
                        push_literal(&mut out, q);
                        j += 1;
                    }
                }
            }
            i = j + 1;
            continue;
        }
        if !c.is_ascii_alphabetic() {
            push_literal(&mut out, c);
            i += 1;
            continue;
        }
        let n = chars[i..].iter().take_while(|&&d| d == c).count();
        let directive = match (c, n) {
            ('y' | 'Y' | 'u', 2) => "%y",
            ('y' | 'Y' | 'u', _) => "%Y",
            ('M', 1 | 2) => "%m",
            ('M', 3) => "%b",
            ('M', _) => "%B",
            ('d', _) => "%d",
            ('D', _) => "%j",
            ('H' | 'k', _) => "%H",
            ('h' | 'K', _) => "%I",
            ('m', _) => "%M",
            ('s', _) => "%S",
            ('S', _) => "%f",
            ('a', _) => "%p",
            ('E', 1..=3) => "%a",
            ('E', _) => "%A",
            ('e', _) => "%u",
            ('Z', 1) => "%z",
            ('Z', 2) => "%:z",
            ('Z' | 'z', _) => "%Z",
            ('X', 1) => "%:::z",
            ('X', 2) => "%z",
            ('X', _) => "%:z",
            _ => bail!(
                "unsupported letter {:?} in Joda layout {layout:?} (quote literal text as '...')",
                c.to_string().repeat(n)
            ),
        };
        out.push_str(directive);
        fields += 1;
        i += n;
    }
    if fields == 0 {
        bail!("Joda layout {layout:?} contains no date or time field");
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    /// 2024-06-15T12:00:00Z, the "now" of most tests.
    const NOW: i64 = 1_718_452_800_000_000_000;

    fn ns(s: &str) -> i64 {
        let ts: Timestamp = s.parse().expect("test timestamp");
        i64::try_from(ts.as_nanosecond()).expect("in range")
    }

    fn fmt(spec: &str) -> TimeFormat {
        TimeFormat::parse_spec(spec).unwrap_or_else(|e| panic!("spec {spec:?}: {e:#}"))
    }

    fn parse(spec: &str, text: &str) -> i64 {
        parse_tz(spec, text, None)
    }

    fn parse_tz(spec: &str, text: &str, tz: Option<&TimeZone>) -> i64 {
        fmt(spec)
            .parse(text, tz, NOW)
            .unwrap_or_else(|e| panic!("{spec:?} on {text:?}: {e}"))
    }

    fn parse_err(spec: &str, text: &str) -> String {
        match fmt(spec).parse(text, None, NOW) {
            Ok(v) => panic!("{spec:?} on {text:?} parsed to {v}"),
            Err(e) => e,
        }
    }

    /// US Eastern with DST rules, from a POSIX TZ string (no tzdb needed).
    fn new_york() -> TimeZone {
        TimeZone::posix("EST5EDT,M3.2.0,M11.1.0").expect("posix tz")
    }

    #[test]
    fn spec_detection() {
        assert_eq!(fmt("RFC3339"), TimeFormat::Rfc3339);
        assert_eq!(fmt("RFC3339Nano"), TimeFormat::Rfc3339);
        assert_eq!(fmt("ISO8601"), TimeFormat::Iso8601);
        assert_eq!(fmt("rfc2822"), TimeFormat::Rfc2822);
        assert_eq!(fmt("Unix"), TimeFormat::Unix);
        assert_eq!(fmt("UNIX"), TimeFormat::Unix);
        assert_eq!(fmt("UnixMs"), TimeFormat::UnixMs);
        assert_eq!(fmt("UNIX_MS"), TimeFormat::UnixMs);
        assert_eq!(fmt("UnixUs"), TimeFormat::UnixUs);
        assert_eq!(fmt("UnixNs"), TimeFormat::UnixNs);
        let s = |x: &str| TimeFormat::Strftime(x.to_string());
        assert_eq!(fmt("RFC1123Z"), s("%a, %d %b %Y %H:%M:%S%.f %z"));
        assert_eq!(fmt("ANSIC"), s("%a %b %e %H:%M:%S%.f %Y"));
        assert_eq!(fmt("Kitchen"), s("%I:%M%p"));
        assert_eq!(fmt("%Y-%m-%dT%H:%M:%S%.fZ"), s("%Y-%m-%dT%H:%M:%S%.fZ"));
        assert_eq!(fmt("2006-01-02 15:04:05.000"), s("%Y-%m-%d %H:%M:%S%.f"));
        assert_eq!(
            fmt("02/Jan/2006:15:04:05 -0700"),
            s("%d/%b/%Y:%H:%M:%S%.f %z")
        );
        assert_eq!(
            fmt("2006-01-02T15:04:05Z07:00"),
            s("%Y-%m-%dT%H:%M:%S%.f%:z")
        );
        assert_eq!(
            fmt("Jan _2 3:04:05.999 PM MST"),
            s("%b %e %I:%M:%S%.f %p %Z")
        );
        assert_eq!(fmt("2006-01-02 15:04:05,000"), s("%Y-%m-%d %H:%M:%S,%f"));
        assert_eq!(fmt("yyyy-MM-dd HH:mm:ss,SSS"), s("%Y-%m-%d %H:%M:%S,%f"));
        assert_eq!(fmt("dd/MMM/yyyy:HH:mm:ss Z"), s("%d/%b/%Y:%H:%M:%S %z"));
        assert_eq!(
            fmt("yyyy-MM-dd'T'HH:mm:ss.SSSZZ"),
            s("%Y-%m-%dT%H:%M:%S.%f%:z")
        );
        assert_eq!(
            fmt("EEE, d MMMM yy h:mm a 'o''clock'"),
            s("%a, %d %B %y %I:%M %p o'clock")
        );
        // Digit-free but not Joda: read as Go.
        assert_eq!(fmt("Monday"), s("%A"));
    }

    #[test]
    fn spec_errors() {
        let e = |spec: &str| format!("{:#}", TimeFormat::parse_spec(spec).unwrap_err());
        assert!(e("").contains("empty"));
        assert!(e("%Y-%m-%d %K").contains("invalid strftime layout"));
        assert!(e("%Y-%").contains("invalid strftime layout"));
        assert!(e("yyyy-MM-dd GG").contains("unsupported letter \"GG\""));
        assert!(e("yyyy-MM-dd 'T").contains("unterminated quote"));
        assert!(e("7777").contains("no reference-time element"));
    }

    #[test]
    fn rfc3339() {
        assert_eq!(
            parse("RFC3339", "2024-01-15T10:30:00Z"),
            ns("2024-01-15T10:30:00Z")
        );
        assert_eq!(
            parse("RFC3339Nano", "2024-01-15T10:30:00.123456789+02:00"),
            ns("2024-01-15T08:30:00.123456789Z")
        );
        assert_eq!(
            parse("RFC3339", " 1970-01-01T00:00:01-00:00\n"),
            1_000_000_000
        );
        let e = parse_err("RFC3339", "xyz");
        assert!(e.starts_with("cannot parse \"xyz\" as RFC3339: "), "{e}");
        // An offset is required.
        assert!(parse_err("RFC3339", "2024-01-15T10:30:00").contains("offset"));
    }

    #[test]
    fn iso8601() {
        let utc = ns("2024-01-15T10:30:00Z");
        assert_eq!(parse("ISO8601", "2024-01-15T10:30:00Z"), utc);
        assert_eq!(
            parse("ISO8601", "2024-01-15T10:30:00.123456789+02:00"),
            ns("2024-01-15T08:30:00.123456789Z")
        );
        assert_eq!(
            parse("ISO8601", "2024-01-15 10:30:00,123"),
            utc + 123_000_000
        );
        assert_eq!(parse("ISO8601", "2024-01-15T10:30:00"), utc);
        assert_eq!(parse("ISO8601", "20240115T103000Z"), utc);
        assert_eq!(
            parse("ISO8601", "2024-01-15T10:30:00.5-0500"),
            ns("2024-01-15T15:30:00.5Z")
        );
        assert_eq!(parse("ISO8601", "2024-01-15"), ns("2024-01-15T00:00:00Z"));
        // No zone: the default zone applies (EST in January).
        let ny = new_york();
        assert_eq!(
            parse_tz("ISO8601", "2024-01-15 10:30:00,123", Some(&ny)),
            ns("2024-01-15T15:30:00.123Z")
        );
        // An explicit offset beats the default zone.
        assert_eq!(parse_tz("ISO8601", "2024-01-15T10:30:00Z", Some(&ny)), utc);
        assert!(
            parse_err("ISO8601", "15/01/2024")
                .starts_with("cannot parse \"15/01/2024\" as ISO8601: ")
        );
    }

    #[test]
    fn rfc2822_and_go_named_formats() {
        let t = ns("2024-01-15T10:30:00Z");
        assert_eq!(parse("RFC2822", "Mon, 15 Jan 2024 10:30:00 +0000"), t);
        assert_eq!(parse("RFC2822", "15 Jan 2024 05:30:00 EST"), t);
        assert_eq!(parse("RFC1123", "Mon, 15 Jan 2024 10:30:00 GMT"), t);
        assert_eq!(parse("RFC1123", "Mon, 15 Jan 2024 11:30:00 CET"), t);
        assert_eq!(parse("RFC1123Z", "Mon, 15 Jan 2024 12:30:00 +0200"), t);
        assert_eq!(parse("RFC822", "15 Jan 24 10:30 UTC"), t);
        assert_eq!(parse("RFC822Z", "15 Jan 24 02:30 -0800"), t);
        assert_eq!(parse("RFC850", "Monday, 15-Jan-24 10:30:00 UTC"), t);
        assert_eq!(parse("ANSIC", "Mon Jan 15 10:30:00 2024"), t);
        assert_eq!(parse("UnixDate", "Mon Jan 15 05:30:00 EST 2024"), t);
        assert_eq!(parse("RubyDate", "Mon Jan 15 05:30:00 -0500 2024"), t);
        assert_eq!(parse("DateTime", "2024-01-15 10:30:00"), t);
        assert_eq!(parse("DateOnly", "2024-01-15"), ns("2024-01-15T00:00:00Z"));
        // Wrong weekday is rejected.
        assert!(parse_err("ANSIC", "Tue Jan 15 10:30:00 2024").contains("weekday"));
        // Unknown abbreviation: skipped, default zone used.
        assert_eq!(parse("UnixDate", "Mon Jan 15 10:30:00 XYZT 2024"), t);
    }

    #[test]
    fn go_layouts() {
        assert_eq!(
            parse("2006-01-02 15:04:05.000", "2024-01-15 10:30:00.250"),
            ns("2024-01-15T10:30:00.25Z")
        );
        // Fraction accepted after seconds even if the layout has none (Go rule).
        assert_eq!(
            parse("2006-01-02 15:04:05", "2024-01-15 10:30:00.123456789"),
            ns("2024-01-15T10:30:00.123456789Z")
        );
        assert_eq!(
            parse("02/Jan/2006:15:04:05 -0700", "15/Jan/2024:03:30:00 -0700"),
            ns("2024-01-15T10:30:00Z")
        );
        let rfc3339ish = "2006-01-02T15:04:05.999999999Z07:00";
        assert_eq!(
            parse(rfc3339ish, "2024-01-15T10:30:00Z"),
            ns("2024-01-15T10:30:00Z")
        );
        assert_eq!(
            parse(rfc3339ish, "2024-01-15T12:30:00.5+02:00"),
            ns("2024-01-15T10:30:00.5Z")
        );
        assert_eq!(
            parse("Jan _2 3:04:05 PM 2006", "Jan  5 3:04:05 PM 2024"),
            ns("2024-01-05T15:04:05Z")
        );
        assert_eq!(
            parse("2006-01-02 15:04:05 MST", "2024-07-01 12:00:00 CEST"),
            ns("2024-07-01T10:00:00Z")
        );
        assert_eq!(
            parse("2006-01-02 15:04:05 MST", "2024-07-01 12:00:00 UTC+02:00"),
            ns("2024-07-01T10:00:00Z")
        );
        assert_eq!(
            parse("20060102150405", "20240115103000"),
            ns("2024-01-15T10:30:00Z")
        );
        let e = parse_err("2006-01-02", "2024/01/15");
        assert!(
            e.starts_with("cannot parse \"2024/01/15\" as layout \"%Y-%m-%d\": "),
            "{e}"
        );
        assert!(parse_err("2006-01-02", "2024-01-15 trailing").contains("trailing"));
    }

    #[test]
    fn joda_layouts() {
        assert_eq!(
            parse("yyyy-MM-dd HH:mm:ss,SSS", "2024-01-15 10:30:00,123"),
            ns("2024-01-15T10:30:00.123Z")
        );
        assert_eq!(
            parse("dd/MMM/yyyy:HH:mm:ss Z", "15/Jan/2024:11:30:00 +0100"),
            ns("2024-01-15T10:30:00Z")
        );
        let iso = "yyyy-MM-dd'T'HH:mm:ss.SSSZZ";
        assert_eq!(
            parse(iso, "2024-01-15T10:30:00.001Z"),
            ns("2024-01-15T10:30:00.001Z")
        );
        assert_eq!(
            parse(iso, "2024-01-15T05:30:00.001-05:00"),
            ns("2024-01-15T10:30:00.001Z")
        );
        assert_eq!(
            parse("EEE MMM dd HH:mm:ss yyyy", "Mon Jan 15 10:30:00 2024"),
            ns("2024-01-15T10:30:00Z")
        );
        assert_eq!(
            parse("yyyy-MM-dd hh:mm:ss a zzz", "2024-01-15 05:30:00 AM EST"),
            ns("2024-01-15T10:30:00Z")
        );
        assert_eq!(
            parse("yyyy-MM-dd hh:mm:ss a", "2024-01-15 12:30:00 am"),
            ns("2024-01-15T00:30:00Z")
        );
        assert_eq!(
            parse("yyyyMMddHHmmss", "20240115103000"),
            ns("2024-01-15T10:30:00Z")
        );
        assert!(
            parse_err("yyyy-MM-dd", "2024-13-01")
                .starts_with("cannot parse \"2024-13-01\" as layout")
        );
    }

    #[test]
    fn strftime_layouts() {
        let f = "%Y-%m-%dT%H:%M:%S%.fZ";
        assert_eq!(
            parse(f, "2024-01-15T10:30:00.5Z"),
            ns("2024-01-15T10:30:00.5Z")
        );
        assert_eq!(parse(f, "2024-01-15T10:30:00Z"), ns("2024-01-15T10:30:00Z"));
        // `%z` also accepts `Z`, `%:z` also accepts `+0100`.
        assert_eq!(
            parse("%Y-%m-%d %H:%M:%S %z", "2024-01-15 10:30:00 Z"),
            ns("2024-01-15T10:30:00Z")
        );
        assert_eq!(
            parse("%Y-%m-%d %H:%M:%S%:z", "2024-01-15 11:30:00+0100"),
            ns("2024-01-15T10:30:00Z")
        );
        assert_eq!(
            parse("%F %T %Z", "2024-01-15 05:30:00 EST"),
            ns("2024-01-15T10:30:00Z")
        );
        assert_eq!(
            parse("%F %T %Z", "2024-01-15 10:30:00 +00:00"),
            ns("2024-01-15T10:30:00Z")
        );
        assert_eq!(parse("%s", "1705314600"), ns("2024-01-15T10:30:00Z"));
        assert_eq!(
            parse("100%% %Y-%m-%d", "100% 2024-01-01"),
            ns("2024-01-01T00:00:00Z")
        );
        // Default zone for local times, with DST (EDT in July).
        let ny = new_york();
        assert_eq!(
            parse_tz("%F %T", "2024-07-01 06:00:00", Some(&ny)),
            ns("2024-07-01T10:00:00Z")
        );
        // DST gap (02:30 does not exist on 2024-03-10 in New York): compatible → later.
        assert_eq!(
            parse_tz("%F %T", "2024-03-10 02:30:00", Some(&ny)),
            ns("2024-03-10T07:30:00Z")
        );
        assert!(parse_err("%F %T %z", "2024-01-15 10:30:00 CET").contains("UTC offset"));
    }

    #[test]
    fn syslog_without_year() {
        // now = 2024-06-15T12:00Z: current year for past dates ...
        assert_eq!(
            parse("Stamp", "Jan  2 15:04:05"),
            ns("2024-01-02T15:04:05Z")
        );
        // ... and for up to 2 days ahead (clock skew, wrong zone) ...
        assert_eq!(
            parse("Stamp", "Jun 16 23:00:00"),
            ns("2024-06-16T23:00:00Z")
        );
        // ... later dates are from last year.
        assert_eq!(
            parse("MMM dd HH:mm:ss", "Dec 10 06:55:46"),
            ns("2023-12-10T06:55:46Z")
        );
        assert_eq!(
            parse("Stamp", "Jun 18 00:00:00"),
            ns("2023-06-18T00:00:00Z")
        );
        assert_eq!(
            parse("%b %e %H:%M:%S", "Jun 14 15:16:01"),
            ns("2024-06-14T15:16:01Z")
        );
        assert_eq!(
            parse("StampMilli", "Jun 14 15:16:01.250"),
            ns("2024-06-14T15:16:01.25Z")
        );
        // Around New Year the closest year wins.
        let jan1 = ns("2025-01-01T00:00:10Z");
        let f = fmt("Stamp");
        assert_eq!(
            f.parse("Dec 31 23:59:59", None, jan1),
            Ok(ns("2024-12-31T23:59:59Z"))
        );
        assert_eq!(
            f.parse("Jan  1 00:00:09", None, jan1),
            Ok(ns("2025-01-01T00:00:09Z"))
        );
        let dec31 = ns("2024-12-31T23:59:50Z");
        assert_eq!(
            f.parse("Jan  1 00:00:01", None, dec31),
            Ok(ns("2025-01-01T00:00:01Z"))
        );
        // The year is taken in the value's zone; default zone applies.
        let ny = new_york();
        assert_eq!(
            f.parse("Jun  4 12:00:00", Some(&ny), NOW),
            Ok(ns("2024-06-04T16:00:00Z"))
        );
        // Feb 29 picks a leap year.
        let now_2025 = ns("2025-03-01T00:00:00Z");
        assert_eq!(
            f.parse("Feb 29 10:00:00", None, now_2025),
            Ok(ns("2024-02-29T10:00:00Z"))
        );
        assert!(f.parse("Feb 30 10:00:00", None, NOW).is_err());
    }

    #[test]
    fn time_only_uses_todays_date() {
        assert_eq!(parse("Kitchen", "3:04PM"), ns("2024-06-15T15:04:00Z"));
        assert_eq!(parse("TimeOnly", "08:00:00"), ns("2024-06-15T08:00:00Z"));
        let tokyo = TimeZone::fixed(Offset::constant(9));
        // 2024-06-15T12:00Z is 21:00 on the 15th in Tokyo.
        assert_eq!(
            parse_tz("HH:mm", "23:30", Some(&tokyo)),
            ns("2024-06-15T14:30:00Z")
        );
    }

    #[test]
    fn unix_formats() {
        assert_eq!(parse("Unix", "1700000000"), 1_700_000_000_000_000_000);
        assert_eq!(parse("UNIX", "1700000000.123"), 1_700_000_000_123_000_000);
        assert_eq!(
            parse("Unix", "1700000000.123456789123"),
            1_700_000_000_123_456_789
        );
        assert_eq!(parse("Unix", "-1.5"), -1_500_000_000);
        assert_eq!(parse("Unix", ".5"), 500_000_000);
        assert_eq!(parse("Unix", "1.7e9"), 1_700_000_000_000_000_000);
        assert_eq!(parse("UNIX_MS", "1700000000123"), 1_700_000_000_123_000_000);
        assert_eq!(
            parse("UnixMs", "1700000000123.456"),
            1_700_000_000_123_456_000
        );
        assert_eq!(
            parse("UnixUs", "1700000000123456"),
            1_700_000_000_123_456_000
        );
        assert_eq!(
            parse("UnixNs", "1700000000123456789"),
            1_700_000_000_123_456_789
        );
        assert_eq!(parse("Unix", " 0 "), 0);
        for bad in ["", "abc", "1.2.3", "12a", "--1", "+", "."] {
            let e = parse_err("Unix", bad);
            assert!(
                e.starts_with(&format!("cannot parse {bad:?} as UNIX: ")),
                "{e}"
            );
        }
        assert!(parse_err("Unix", "99999999999").contains("range"));
        assert!(parse_err("UnixNs", "9223372036854775808").contains("range"));
        assert!(parse_err("Unix", "1e300").contains("range"));
    }

    #[test]
    fn zone_helpers() {
        assert_eq!(parse_offset("Z rest").unwrap(), (Offset::UTC, 1));
        assert_eq!(parse_offset("+05:30").unwrap().0.seconds(), 19_800);
        assert_eq!(parse_offset("-0800").unwrap(), (Offset::constant(-8), 5));
        assert_eq!(parse_offset("-07 2006").unwrap(), (Offset::constant(-7), 3));
        assert_eq!(parse_offset("+01:02:03").unwrap().0.seconds(), 3723);
        assert!(parse_offset("+1").is_err());
        assert!(parse_offset("+01:99").is_err());
        assert!(parse_offset("CET").is_err());
        assert!(matches!(parse_zone("QQQ x"), Ok((Zone::Unknown, 3))));
        assert!(matches!(parse_zone("cest"), Ok((Zone::Offset(o), 4)) if o == Offset::constant(2)));
        assert!(parse_zone("123").is_err());
    }

    /// IANA names need the system time zone database (/usr/share/zoneinfo).
    #[test]
    fn iana_zone_names() {
        if TimeZone::get("Europe/Paris").is_err() {
            eprintln!("skipped: no time zone database on this machine");
            return;
        }
        let dt = date(2024, 1, 15).at(10, 30, 0, 0);
        let (zone, used) = parse_zone("Europe/Paris!").unwrap();
        assert_eq!(used, 12);
        match zone {
            Zone::Named(tz) => assert_eq!(
                tz.to_timestamp(dt).unwrap().to_string(),
                "2024-01-15T09:30:00Z"
            ),
            _ => panic!("expected a named zone"),
        }
        assert!(parse_zone("Nowhere/Land").is_err());
        assert_eq!(
            parse(
                "yyyy-MM-dd HH:mm:ss ZZZ",
                "2024-07-01 12:00:00 America/New_York"
            ),
            ns("2024-07-01T16:00:00Z")
        );
        assert_eq!(
            parse("ISO8601", "2024-07-01T12:00:00[Europe/Paris]"),
            ns("2024-07-01T10:00:00Z")
        );
        let paris = TimeZone::get("Europe/Paris").unwrap();
        assert_eq!(
            parse_tz("Stamp", "Jun  1 12:00:00", Some(&paris)),
            ns("2024-06-01T10:00:00Z")
        );
    }
}
