//! `timestamp`: sets the record's time from a field (Promtail's timestamp
//! stage, Logstash's `date` filter, Fluentd's `time_format`):
//!
//! ```yaml
//! - timestamp:
//!     source: ts
//!     format: RFC3339                 # or ISO8601, Unix, UnixMs, UnixUs, UnixNs,
//!                                     # a Go layout (2006-01-02 15:04:05.000),
//!                                     # strftime (%Y-%m-%dT%H:%M:%S.%NZ) or Joda (yyyy-MM-dd HH:mm:ss,SSS)
//!     fallback_formats: [UnixMs]
//!     location: Europe/Paris          # for layouts without a zone (default UTC)
//!     action_on_failure: skip         # keep the read time (default), fudge, or drop
//! ```
//!
//! Without this stage a line's time is when the agent read it. A parsed
//! time is a function of the line, so a line sent again after a crash
//! carries the same time and the server still drops the copy; two identical
//! lines with the same parsed time in one stream are one entry, as in Loki.
//! `fudge` gives a line whose time does not parse the last parsed time plus
//! 1 ns; `drop` drops it (reason `timestamp`).

use serde::Deserialize;
use strata_model::Labels;

use super::{Reads, Record, Stage, Verdict};
use crate::timefmt::TimeFormat;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimestampConfig {
    pub source: String,
    pub format: String,
    #[serde(default)]
    pub fallback_formats: Vec<String>,
    #[serde(default)]
    pub location: Option<String>,
    #[serde(default)]
    pub action_on_failure: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OnFailure {
    Skip,
    Fudge,
    Drop,
}

#[derive(Debug)]
pub struct TimestampStage {
    source: String,
    formats: Vec<TimeFormat>,
    zone: Option<jiff::tz::TimeZone>,
    on_failure: OnFailure,
    last: Option<i64>,
}

impl TimestampStage {
    pub fn new(config: &TimestampConfig) -> anyhow::Result<TimestampStage> {
        let mut formats = Vec::new();
        for spec in std::iter::once(&config.format).chain(&config.fallback_formats) {
            // Ruby's %N (Fluentd) and %L are fractional seconds.
            let spec = if spec.contains('%') {
                spec.replace("%N", "%f").replace("%L", "%f")
            } else {
                spec.clone()
            };
            formats.push(
                TimeFormat::parse_spec(&spec).map_err(|err| anyhow::anyhow!("format: {err}"))?,
            );
        }
        let zone =
            match &config.location {
                None => None,
                Some(name) => Some(jiff::tz::TimeZone::get(name).map_err(|err| {
                    anyhow::anyhow!("location: {name:?} is not a time zone: {err}")
                })?),
            };
        let on_failure = match config.action_on_failure.as_deref() {
            None | Some("skip") => OnFailure::Skip,
            Some("fudge") => OnFailure::Fudge,
            Some("drop") => OnFailure::Drop,
            Some(other) => anyhow::bail!("action_on_failure: {other:?} is not skip, fudge or drop"),
        };
        Ok(TimestampStage {
            source: config.source.clone(),
            formats,
            zone,
            on_failure,
            last: None,
        })
    }
}

impl Stage for TimestampStage {
    fn process(&mut self, record: &mut Record, base: &Labels) -> Verdict {
        let parsed = record.lookup(base, &self.source).and_then(|text| {
            let now = crate::now_ns();
            self.formats
                .iter()
                .find_map(|format| format.parse(text, self.zone.as_ref(), now).ok())
        });
        match (parsed, self.on_failure) {
            (Some(ts), _) => {
                record.ts_ns = ts;
                self.last = Some(ts);
            }
            (None, OnFailure::Skip) => {}
            (None, OnFailure::Fudge) => {
                if let Some(last) = self.last {
                    record.ts_ns = last + 1;
                    self.last = Some(last + 1);
                }
            }
            (None, OnFailure::Drop) => return Verdict::Drop("timestamp".into()),
        }
        Verdict::Keep
    }

    fn reads(&self) -> Reads {
        Reads::of([self.source.clone()])
    }
}
