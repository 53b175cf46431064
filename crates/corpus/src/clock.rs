//! UTC calendar arithmetic and timestamp rendering, without a date crate:
//! the generator renders a dozen timestamp shapes per second of output, and
//! each is a few integer divisions here.

use crate::text::{push_padded, push_u64};

const NANOS_PER_SECOND: i64 = 1_000_000_000;
const MONTHS: [&[u8; 3]; 12] = [
    b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov", b"Dec",
];
const WEEKDAYS: [&[u8; 3]; 7] = [b"Sun", b"Mon", b"Tue", b"Wed", b"Thu", b"Fri", b"Sat"];

/// A UTC instant broken into calendar fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Civil {
    /// Seconds since the Unix epoch.
    pub unix_seconds: i64,
    pub year: i64,
    /// 1..=12
    pub month: u32,
    /// 1..=31
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
    pub second: u32,
    /// Nanoseconds within the second.
    pub nanos: u32,
    /// 0 = Sunday.
    pub weekday: u32,
}

impl Civil {
    pub fn from_unix_nanos(ts_ns: i64) -> Civil {
        let unix_seconds = ts_ns.div_euclid(NANOS_PER_SECOND);
        let nanos = ts_ns.rem_euclid(NANOS_PER_SECOND) as u32;
        let days = unix_seconds.div_euclid(86_400);
        let second_of_day = unix_seconds.rem_euclid(86_400) as u32;
        let (year, month, day) = civil_from_days(days);
        Civil {
            unix_seconds,
            year,
            month,
            day,
            hour: second_of_day / 3600,
            minute: second_of_day / 60 % 60,
            second: second_of_day % 60,
            nanos,
            // 1970-01-01 was a Thursday.
            weekday: (days + 4).rem_euclid(7) as u32,
        }
    }

    pub fn month_abbr(&self) -> &'static [u8; 3] {
        MONTHS[(self.month - 1) as usize]
    }

    pub fn weekday_abbr(&self) -> &'static [u8; 3] {
        WEEKDAYS[self.weekday as usize]
    }

    /// `2026-11-20`
    pub fn push_date(&self, out: &mut Vec<u8>, separator: u8) {
        push_padded(out, self.year as u64, 4);
        out.push(separator);
        push_padded(out, u64::from(self.month), 2);
        out.push(separator);
        push_padded(out, u64::from(self.day), 2);
    }

    /// `13:05:09`
    pub fn push_time(&self, out: &mut Vec<u8>) {
        push_padded(out, u64::from(self.hour), 2);
        out.push(b':');
        push_padded(out, u64::from(self.minute), 2);
        out.push(b':');
        push_padded(out, u64::from(self.second), 2);
    }

    /// `2026-11-20T13:05:09.123456Z`: Python's isoformat with micros, in UTC.
    pub fn push_iso_micros(&self, out: &mut Vec<u8>) {
        self.push_date(out, b'-');
        out.push(b'T');
        self.push_time(out);
        out.push(b'.');
        push_padded(out, u64::from(self.nanos / 1000), 6);
        out.push(b'Z');
    }

    /// `2026-11-20T13:05:09.123Z`
    pub fn push_iso_millis(&self, out: &mut Vec<u8>) {
        self.push_date(out, b'-');
        out.push(b'T');
        self.push_time(out);
        out.push(b'.');
        push_padded(out, u64::from(self.nanos / 1_000_000), 3);
        out.push(b'Z');
    }

    /// nginx's `$time_local` in UTC: `20/Nov/2026:13:05:09 +0000`.
    pub fn push_nginx_access(&self, out: &mut Vec<u8>) {
        push_padded(out, u64::from(self.day), 2);
        out.push(b'/');
        out.extend_from_slice(self.month_abbr());
        out.push(b'/');
        push_u64(out, self.year as u64);
        out.push(b':');
        self.push_time(out);
        out.extend_from_slice(b" +0000");
    }
}

/// (year, month, day) of a day count since 1970-01-01 (Howard Hinnant's algorithm).
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let mp = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Days since 1970-01-01 of a calendar date.
pub fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year.rem_euclid(400);
    let month = i64::from(month);
    let day_of_year =
        (153 * (if month > 2 { month - 3 } else { month + 9 }) + 2) / 5 + i64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
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
    fn known_instants() {
        // 2026-11-20T13:05:09.123456789Z, a Friday.
        let ts = 1_795_179_909_123_456_789;
        let civil = Civil::from_unix_nanos(ts);
        assert_eq!(
            (
                civil.year,
                civil.month,
                civil.day,
                civil.hour,
                civil.minute,
                civil.second
            ),
            (2026, 11, 20, 13, 5, 9)
        );
        assert_eq!(civil.weekday_abbr(), b"Fri");
        assert_eq!(
            render(|out| civil.push_iso_micros(out)),
            "2026-11-20T13:05:09.123456Z"
        );
        assert_eq!(
            render(|out| civil.push_nginx_access(out)),
            "20/Nov/2026:13:05:09 +0000"
        );
        let epoch = Civil::from_unix_nanos(0);
        assert_eq!(
            (epoch.year, epoch.month, epoch.day, epoch.weekday),
            (1970, 1, 1, 4)
        );
    }

    #[test]
    fn days_round_trip() {
        for days in (-800_000..800_000).step_by(997) {
            let (year, month, day) = civil_from_days(days);
            assert_eq!(days_from_civil(year, month, day), days);
        }
    }
}
