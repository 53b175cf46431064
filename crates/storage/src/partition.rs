//! Day partitions and part ids.

use std::sync::atomic::{AtomicU64, Ordering};

pub const NANOS_PER_DAY: i64 = 86_400 * 1_000_000_000;

/// The UTC day (days since 1970-01-01) of a timestamp in ns.
pub fn day_of(ts_ns: i64) -> i64 {
    ts_ns.div_euclid(NANOS_PER_DAY)
}

/// `YYYY-MM-DD` of a day number (proleptic Gregorian, Howard Hinnant's algorithm).
pub fn day_name(day: i64) -> String {
    let z = day + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

/// Parses `YYYY-MM-DD` back to a day number; None for anything else.
pub fn parse_day_name(name: &str) -> Option<i64> {
    let bytes = name.as_bytes();
    if bytes.len() != 10 || bytes[4] != b'-' || bytes[7] != b'-' {
        return None;
    }
    let y: i64 = name.get(0..4)?.parse().ok()?;
    let m: i64 = name.get(5..7)?.parse().ok()?;
    let d: i64 = name.get(8..10)?.parse().ok()?;
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return None;
    }
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let day = era * 146_097 + doe - 719_468;
    (day_name(day) == name).then_some(day)
}

/// A new globally unique part id: 48 bits of ms since the epoch then 80
/// random bits, as 32 hex digits, so ids sort by creation time.
pub fn new_part_id() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let ms = now.as_millis() as u64 & 0xffff_ffff_ffff;
    let mut hasher = xxhash_rust::xxh3::Xxh3::new();
    hasher.update(&now.as_nanos().to_le_bytes());
    hasher.update(&std::process::id().to_le_bytes());
    hasher.update(&COUNTER.fetch_add(1, Ordering::Relaxed).to_le_bytes());
    hasher.update(format!("{:?}", std::thread::current().id()).as_bytes());
    let random = hasher.digest128() & ((1u128 << 80) - 1);
    format!("{ms:012x}{random:020x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn day_names() {
        assert_eq!(day_name(0), "1970-01-01");
        assert_eq!(day_of(-1), -1);
        assert_eq!(day_name(-1), "1969-12-31");
        assert_eq!(day_name(19_723), "2024-01-01");
        assert_eq!(day_name(day_of(i64::MAX)), "2262-04-11");
        assert_eq!(day_name(day_of(i64::MIN)), "1677-09-21");
        for day in [-106_752, -1, 0, 59, 60, 19_723, 106_751] {
            assert_eq!(parse_day_name(&day_name(day)), Some(day));
        }
        assert_eq!(parse_day_name("2024-02-30"), None);
        assert_eq!(parse_day_name("x"), None);
    }

    #[test]
    fn part_ids_are_unique() {
        let ids: std::collections::HashSet<String> = (0..1000).map(|_| new_part_id()).collect();
        assert_eq!(ids.len(), 1000);
        assert!(ids.iter().all(|id| id.len() == 32));
    }
}
