//! Durations, byte sizes and numbers as LogQL writes them.

const NS_PER_UNIT: &[(&str, f64)] = &[
    ("ns", 1.0),
    ("us", 1e3),
    ("µs", 1e3),
    ("ms", 1e6),
    ("s", 1e9),
    ("m", 60e9),
    ("h", 3600e9),
    ("d", 86400e9),
    ("w", 7.0 * 86400e9),
    ("y", 365.0 * 86400e9),
];

/// Parses a duration such as `5m`, `1h30m`, `250ms`, `1.5s`, `1d`, `1w`, `1y`
/// (Go and Prometheus units together) into nanoseconds. A leading `-` is allowed.
pub fn parse_duration(text: &str) -> Option<i64> {
    let (negative, mut rest) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    if rest.is_empty() {
        return None;
    }
    if rest == "0" {
        return Some(0);
    }
    let mut total = 0f64;
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if number_len == 0 {
            return None;
        }
        let number: f64 = rest[..number_len].parse().ok()?;
        rest = &rest[number_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        let (_, scale) = NS_PER_UNIT.iter().find(|(name, _)| *name == unit)?;
        total += number * scale;
        rest = &rest[unit_len..];
    }
    if total > i64::MAX as f64 {
        return None;
    }
    let nanos = total.round() as i64;
    Some(if negative { -nanos } else { nanos })
}

/// Formats nanoseconds so that [`parse_duration`] reads them back exactly:
/// `1h30m`, `250ms`, `1m30s500ms`, `0s`.
pub fn format_duration(nanos: i64) -> String {
    if nanos == 0 {
        return "0s".to_string();
    }
    let mut out = String::new();
    if nanos < 0 {
        out.push('-');
    }
    let mut rest = nanos.unsigned_abs();
    for (unit, scale) in [
        ("h", 3_600_000_000_000u64),
        ("m", 60_000_000_000),
        ("s", 1_000_000_000),
        ("ms", 1_000_000),
        ("us", 1_000),
        ("ns", 1),
    ] {
        let count = rest / scale;
        if count > 0 {
            out.push_str(&format!("{count}{unit}"));
            rest -= count * scale;
        }
    }
    out
}

const BYTE_UNITS: &[(&str, u64)] = &[
    ("eib", 1 << 60),
    ("pib", 1 << 50),
    ("tib", 1 << 40),
    ("gib", 1 << 30),
    ("mib", 1 << 20),
    ("kib", 1 << 10),
    ("eb", 1_000_000_000_000_000_000),
    ("pb", 1_000_000_000_000_000),
    ("tb", 1_000_000_000_000),
    ("gb", 1_000_000_000),
    ("mb", 1_000_000),
    ("kb", 1_000),
    ("ei", 1 << 60),
    ("pi", 1 << 50),
    ("ti", 1 << 40),
    ("gi", 1 << 30),
    ("mi", 1 << 20),
    ("ki", 1 << 10),
    ("e", 1_000_000_000_000_000_000),
    ("p", 1_000_000_000_000_000),
    ("t", 1_000_000_000_000),
    ("g", 1_000_000_000),
    ("m", 1_000_000),
    ("k", 1_000),
    ("b", 1),
    ("", 1),
];

/// Parses a humanized byte size (`20MB`, `1KiB`, `1.5kb`, `42`), case-insensitively.
pub fn parse_bytes(text: &str) -> Option<u64> {
    let text = text.trim();
    let number_len = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    if number_len == 0 {
        return None;
    }
    let number: f64 = text[..number_len].parse().ok()?;
    let unit = text[number_len..].trim().to_ascii_lowercase();
    let (_, scale) = BYTE_UNITS.iter().find(|(name, _)| *name == unit)?;
    let value = number * *scale as f64;
    if value > u64::MAX as f64 {
        return None;
    }
    Some(value.round() as u64)
}

/// Formats a byte size with the largest unit that divides it exactly (`20MB`, `1KiB`, `7B`).
pub fn format_bytes(bytes: u64) -> String {
    for (unit, scale) in [
        ("EiB", 1u64 << 60),
        ("EB", 1_000_000_000_000_000_000),
        ("PiB", 1 << 50),
        ("PB", 1_000_000_000_000_000),
        ("TiB", 1 << 40),
        ("TB", 1_000_000_000_000),
        ("GiB", 1 << 30),
        ("GB", 1_000_000_000),
        ("MiB", 1 << 20),
        ("MB", 1_000_000),
        ("KiB", 1 << 10),
        ("KB", 1_000),
    ] {
        if bytes != 0 && bytes.is_multiple_of(scale) {
            return format!("{}{unit}", bytes / scale);
        }
    }
    format!("{bytes}B")
}

/// Parses a LogQL number: decimal, scientific, hexadecimal (`0x1f`), `Inf`, `NaN`.
pub fn parse_number(text: &str) -> Option<f64> {
    if let Some(hex) = text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        return u64::from_str_radix(hex, 16).ok().map(|value| value as f64);
    }
    let first = text.chars().next()?;
    if !(first.is_ascii_digit() || first == '.') {
        return None;
    }
    text.parse::<f64>().ok()
}

/// Formats a number so that [`parse_number`] (plus a leading `-`) reads it back exactly.
pub fn format_number(value: f64) -> String {
    if value.is_nan() {
        return "NaN".to_string();
    }
    if value.is_infinite() {
        return if value > 0.0 {
            "Inf".to_string()
        } else {
            "-Inf".to_string()
        };
    }
    format!("{value}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        let case =
            |text: &str, nanos: Option<i64>| assert_eq!(parse_duration(text), nanos, "{text}");
        case("5m", Some(300_000_000_000));
        case("1h30m", Some(5_400_000_000_000));
        case("250ms", Some(250_000_000));
        case("1.5s", Some(1_500_000_000));
        case("1d", Some(86_400_000_000_000));
        case("1w", Some(7 * 86_400_000_000_000));
        case("10µs", Some(10_000));
        case("-1m", Some(-60_000_000_000));
        case("5", None);
        case("5x", None);
        case("m", None);
        for nanos in [
            1,
            999,
            1_500_000_000,
            90_000_000_000,
            86_400_000_000_000,
            -5,
        ] {
            assert_eq!(parse_duration(&format_duration(nanos)), Some(nanos));
        }
    }

    #[test]
    fn bytes() {
        let case = |text: &str, bytes: Option<u64>| assert_eq!(parse_bytes(text), bytes, "{text}");
        case("20MB", Some(20_000_000));
        case("1KiB", Some(1024));
        case("1.5kb", Some(1500));
        case("42", Some(42));
        case("7B", Some(7));
        case("1XB", None);
        for bytes in [0, 7, 1000, 1024, 20_000_000, 3 << 30] {
            assert_eq!(parse_bytes(&format_bytes(bytes)), Some(bytes));
        }
    }
}
