//! Parsers for the command line's sizes (`2GB`), durations (`24h`) and
//! instants (`2026-11-20T00:00:00Z`).

use crate::clock::days_from_civil;

/// Bytes of a size: a number (decimals allowed) and an optional unit,
/// decimal (`KB`, `MB`, `GB`, `TB`) or binary (`KiB`, `MiB`, `GiB`).
pub fn parse_size(text: &str) -> Result<u64, String> {
    let trimmed = text.trim();
    let split = trimmed
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(trimmed.len());
    let (number, unit) = trimmed.split_at(split);
    let value: f64 = number
        .parse()
        .map_err(|_| format!("cannot parse size {text:?}: expected e.g. 20MB or 2GB"))?;
    let multiplier: f64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "k" | "kb" => 1e3,
        "m" | "mb" => 1e6,
        "g" | "gb" => 1e9,
        "t" | "tb" => 1e12,
        "kib" => 1024.0,
        "mib" => 1024.0 * 1024.0,
        "gib" => 1024.0 * 1024.0 * 1024.0,
        _ => {
            return Err(format!(
                "unexpected size unit in {text:?}: use B, KB, MB, GB or TB"
            ));
        }
    };
    let bytes = (value * multiplier).round();
    if !(1.0..=1e15).contains(&bytes) {
        return Err(format!("size {text:?} is out of range"));
    }
    Ok(bytes as u64)
}

/// Nanoseconds of a duration such as `24h`, `90m`, `1h30m`, `2d`, `45s`, `500ms`.
pub fn parse_span(text: &str) -> Result<i64, String> {
    let error = || format!("cannot parse duration {text:?}: expected e.g. 24h, 90m or 1h30m");
    let mut rest = text.trim();
    if rest.is_empty() {
        return Err(error());
    }
    let mut total: i64 = 0;
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit()).ok_or_else(error)?;
        if digits == 0 {
            return Err(error());
        }
        let value: i64 = rest[..digits].parse().map_err(|_| error())?;
        let after = &rest[digits..];
        let unit_len = after
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(after.len());
        let unit_nanos: i64 = match &after[..unit_len] {
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            "d" => 86_400_000_000_000,
            _ => return Err(error()),
        };
        total = value
            .checked_mul(unit_nanos)
            .and_then(|nanos| total.checked_add(nanos))
            .ok_or_else(error)?;
        rest = &after[unit_len..];
    }
    if total <= 0 {
        return Err(error());
    }
    Ok(total)
}

/// Unix nanoseconds of an RFC 3339 instant: `YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)`.
pub fn parse_instant(text: &str) -> Result<i64, String> {
    let error = || format!("cannot parse time {text:?}: expected e.g. 2026-11-20T00:00:00Z");
    let bytes = text.trim().as_bytes();
    if bytes.len() < 20 {
        return Err(error());
    }
    let number = |range: std::ops::Range<usize>| -> Result<i64, String> {
        let part = bytes.get(range).ok_or_else(error)?;
        if !part.iter().all(u8::is_ascii_digit) {
            return Err(error());
        }
        Ok(part
            .iter()
            .fold(0i64, |acc, &b| acc * 10 + i64::from(b - b'0')))
    };
    let shape_ok = bytes[4] == b'-'
        && bytes[7] == b'-'
        && (bytes[10] == b'T' || bytes[10] == b't' || bytes[10] == b' ')
        && bytes[13] == b':'
        && bytes[16] == b':';
    if !shape_ok {
        return Err(error());
    }
    let (year, month, day) = (number(0..4)?, number(5..7)?, number(8..10)?);
    let (hour, minute, second) = (number(11..13)?, number(14..16)?, number(17..19)?);
    if !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return Err(error());
    }
    let mut pos = 19;
    let mut nanos: i64 = 0;
    if bytes[pos] == b'.' {
        pos += 1;
        let mut scale = 100_000_000;
        while pos < bytes.len() && bytes[pos].is_ascii_digit() {
            nanos += i64::from(bytes[pos] - b'0') * scale;
            scale /= 10;
            pos += 1;
        }
    }
    let offset_seconds = match bytes.get(pos) {
        Some(b'Z' | b'z') if pos + 1 == bytes.len() => 0,
        Some(&sign @ (b'+' | b'-')) if pos + 6 == bytes.len() && bytes[pos + 3] == b':' => {
            let seconds = number(pos + 1..pos + 3)? * 3600 + number(pos + 4..pos + 6)? * 60;
            if sign == b'+' { seconds } else { -seconds }
        }
        _ => return Err(error()),
    };
    let days = days_from_civil(year, month as u32, day as u32);
    let seconds = days * 86_400 + hour * 3600 + minute * 60 + second - offset_seconds;
    seconds
        .checked_mul(1_000_000_000)
        .and_then(|ns| ns.checked_add(nanos))
        .ok_or_else(error)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        let cases: &[(&str, Option<u64>)] = &[
            ("20MB", Some(20_000_000)),
            ("2GB", Some(2_000_000_000)),
            ("1.5GB", Some(1_500_000_000)),
            ("3mb", Some(3_000_000)),
            ("1000", Some(1000)),
            ("1MiB", Some(1_048_576)),
            ("2XB", None),
            ("GB", None),
            ("0", None),
        ];
        for &(text, expected) in cases {
            assert_eq!(parse_size(text).ok(), expected, "{text}");
        }
    }

    #[test]
    fn spans() {
        let hour = 3_600_000_000_000;
        let cases: &[(&str, Option<i64>)] = &[
            ("24h", Some(24 * hour)),
            ("1h30m", Some(hour * 3 / 2)),
            ("2d", Some(48 * hour)),
            ("500ms", Some(500_000_000)),
            ("h", None),
            ("10", None),
            ("5y", None),
            ("", None),
        ];
        for &(text, expected) in cases {
            assert_eq!(parse_span(text).ok(), expected, "{text}");
        }
    }

    #[test]
    fn instants() {
        let base = 1_795_132_800_000_000_000;
        let cases: &[(&str, Option<i64>)] = &[
            ("2026-11-20T00:00:00Z", Some(base)),
            ("2026-11-20T00:00:00.5Z", Some(base + 500_000_000)),
            ("2026-11-20T01:00:00+01:00", Some(base)),
            ("1970-01-01T00:00:00Z", Some(0)),
            ("2026-11-20", None),
            ("2026-13-20T00:00:00Z", None),
            ("2026-11-20T00:00:00", None),
        ];
        for &(text, expected) in cases {
            assert_eq!(parse_instant(text).ok(), expected, "{text}");
        }
    }
}
