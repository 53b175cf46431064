//! Request parameters as Loki reads them: from the query string and, for
//! POST, from a form body; times as nanoseconds, seconds or RFC3339.

use crate::ApiError;
use axum::http::{HeaderMap, Method, header};

/// The parameters of one request, repeated keys kept (`match[]`).
#[derive(Debug, Default)]
pub struct Params(Vec<(String, String)>);

impl Params {
    /// Reads the query string, plus the body when it is a POSTed form.
    pub fn from_request(
        method: &Method,
        headers: &HeaderMap,
        query: Option<&str>,
        body: &[u8],
    ) -> Result<Params, ApiError> {
        let mut pairs: Vec<(String, String)> = match query {
            Some(query) => serde_urlencoded::from_str(query).map_err(|err| {
                ApiError::bad_request(format!("cannot parse query string: {err}"))
            })?,
            None => Vec::new(),
        };
        let is_form = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
        if method == Method::POST && is_form && !body.is_empty() {
            let form: Vec<(String, String)> = serde_urlencoded::from_bytes(body)
                .map_err(|err| ApiError::bad_request(format!("cannot parse form body: {err}")))?;
            pairs.extend(form);
        }
        Ok(Params(pairs))
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    }

    pub fn get_all(&self, name: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// A time parameter, or `default` when absent.
    pub fn time(&self, name: &str, default: i64) -> Result<i64, ApiError> {
        match self.get(name) {
            Some(text) => parse_loki_time(text).map_err(|reason| {
                ApiError::bad_request(format!("invalid parameter {name:?}: {reason}"))
            }),
            None => Ok(default),
        }
    }

    /// A duration parameter in nanoseconds, or `default` when absent.
    pub fn duration(&self, name: &str, default: i64) -> Result<i64, ApiError> {
        match self.get(name) {
            Some(text) => parse_duration(text).map_err(|reason| {
                ApiError::bad_request(format!("invalid parameter {name:?}: {reason}"))
            }),
            None => Ok(default),
        }
    }
}

/// Parses a time as Loki does: a float with a '.' is seconds; an integer of
/// at most 10 digits is seconds, a longer one nanoseconds; otherwise RFC3339.
pub fn parse_loki_time(text: &str) -> Result<i64, String> {
    if text.contains('.')
        && let Ok(seconds) = text.parse::<f64>()
    {
        if !seconds.is_finite() || seconds.abs() > 9.2e9 {
            return Err(format!("time {text:?} is out of range"));
        }
        let whole = seconds.trunc();
        let fraction = ((seconds - whole) * 1000.0).round() / 1000.0;
        return Ok(whole as i64 * 1_000_000_000 + (fraction * 1e9).round() as i64);
    }
    if let Ok(integer) = text.parse::<i64>() {
        let digits = text.trim_start_matches('-').len();
        if digits <= 10 {
            return Ok(integer.saturating_mul(1_000_000_000));
        }
        return Ok(integer);
    }
    match text.parse::<jiff::Timestamp>() {
        Ok(ts) => {
            i64::try_from(ts.as_nanosecond()).map_err(|_| format!("time {text:?} is out of range"))
        }
        Err(_) => Err(format!(
            "cannot parse {text:?} as a timestamp: use Unix nanoseconds, seconds or RFC3339"
        )),
    }
}

/// Parses a duration: Prometheus units (`1h30m`, `5m`, `250ms`, `1d`, `1w`,
/// `1y`) or a plain number of seconds (`300`, `0.5`). Returns nanoseconds.
pub fn parse_duration(text: &str) -> Result<i64, String> {
    if let Ok(seconds) = text.parse::<f64>() {
        if !seconds.is_finite() || !(0.0..=9.2e9).contains(&seconds) {
            return Err(format!("duration {text:?} is out of range"));
        }
        return Ok((seconds * 1e9).round() as i64);
    }
    let bytes = text.as_bytes();
    let mut total: i64 = 0;
    let mut pos = 0;
    if bytes.is_empty() {
        return Err("empty duration".to_string());
    }
    while pos < bytes.len() {
        let start = pos;
        while pos < bytes.len() && bytes[pos].is_ascii_digit() {
            pos += 1;
        }
        if start == pos {
            return Err(format!(
                "cannot parse duration {text:?}: expected a number at byte {pos}"
            ));
        }
        let number: i64 = text[start..pos]
            .parse()
            .map_err(|_| format!("duration {text:?} is out of range"))?;
        let unit_start = pos;
        while pos < bytes.len() && bytes[pos].is_ascii_alphabetic() {
            pos += 1;
        }
        let unit: i64 = match &text[unit_start..pos] {
            "ns" => 1,
            "us" | "µs" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            "d" => 86_400_000_000_000,
            "w" => 7 * 86_400_000_000_000,
            "y" => 365 * 86_400_000_000_000,
            other => {
                return Err(format!(
                    "cannot parse duration {text:?}: unknown unit {other:?}"
                ));
            }
        };
        total = number
            .checked_mul(unit)
            .and_then(|n| total.checked_add(n))
            .ok_or_else(|| format!("duration {text:?} is out of range"))?;
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loki_times() {
        let case = |text: &str, expected: i64| {
            assert_eq!(parse_loki_time(text).unwrap(), expected, "{text}")
        };
        case("1700000000", 1_700_000_000_000_000_000);
        case("1700000000000000000", 1_700_000_000_000_000_000);
        case("1700000000.5", 1_700_000_000_500_000_000);
        case("2023-11-14T22:13:20Z", 1_700_000_000_000_000_000);
        case("2023-11-14T22:13:20.25+00:00", 1_700_000_000_250_000_000);
        assert!(parse_loki_time("yesterday").is_err());
    }

    #[test]
    fn durations() {
        let case = |text: &str, expected: i64| {
            assert_eq!(parse_duration(text).unwrap(), expected, "{text}")
        };
        case("1h", 3_600_000_000_000);
        case("1h30m", 5_400_000_000_000);
        case("250ms", 250_000_000);
        case("30", 30_000_000_000);
        case("0.5", 500_000_000);
        assert!(parse_duration("5x").is_err());
        assert!(parse_duration("").is_err());
        assert!(parse_duration("-1").is_err());
    }
}
