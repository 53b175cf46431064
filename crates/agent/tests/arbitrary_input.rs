//! Outside bytes the agent parses (container log lines, journal entries,
//! timestamps, config files, grok patterns) never make it panic.

use proptest::prelude::*;
use strata_agent::reading::{Format, Multiline, MultilineConfig, Reading};

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        proptest::collection::vec(proptest::num::u8::ANY, 0..300)
            .prop_map(|bytes| String::from_utf8_lossy(&bytes).into_owned()),
        "[ -~\\n\\t{}\":,\\[\\]PF]{0,200}",
        "(2024-01-15T10:30:00(\\.[0-9]{1,9})?Z|[0-9]{1,20}) (stdout|stderr|x) (P|F|P:x)? ?[ -~]{0,40}",
        "\\{\"log\":\"[ -~]{0,30}(\\\\n)?\",\"stream\":\"(stdout|stderr)\",\"time\":\"[ -~]{0,30}\"\\}",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn container_lines_and_multiline_never_panic(lines in proptest::collection::vec(text(), 0..12), flush: bool) {
        let mut end = 0u64;
        let raw: Vec<(&[u8], u64)> = lines
            .iter()
            .map(|line| {
                end += line.len() as u64 + 1;
                (line.as_bytes(), end)
            })
            .collect();
        for format in [Format::Raw, Format::Cri, Format::Docker, Format::Auto] {
            for preset in [None, Some("python"), Some("java")] {
                let multiline = preset.map(|preset| {
                    Multiline::new(&MultilineConfig {
                        first_line: None,
                        continue_line: None,
                        preset: Some(preset.to_string()),
                        max_wait_time: None,
                        max_lines: Some(3),
                    })
                    .unwrap()
                });
                let reading = Reading { format, multiline };
                let pieces = reading.assemble(&raw, 0, flush);
                // Entries come in order and never end past the input.
                let mut last = 0;
                for piece in &pieces {
                    prop_assert!(piece.end > last && piece.end <= end);
                    last = piece.end;
                }
            }
        }
    }

    #[test]
    fn journal_lines_never_panic(line in text()) {
        let _ = strata_agent::streams::parse_journal_line(&line);
    }

    #[test]
    fn timestamps_never_panic(value in text(), spec in prop_oneof![
        Just("RFC3339".to_string()), Just("ISO8601".to_string()), Just("UnixMs".to_string()),
        Just("2006-01-02 15:04:05.000".to_string()), Just("%d/%b/%Y:%H:%M:%S %z".to_string()),
        Just("yyyy-MM-dd HH:mm:ss,SSS".to_string()), Just("Jan _2 15:04:05".to_string()),
        "[ -~]{0,20}",
    ]) {
        if let Ok(format) = strata_agent::timefmt::TimeFormat::parse_spec(&spec) {
            let _ = format.parse(&value, None, 1_700_000_000_000_000_000);
        }
    }

    #[test]
    fn configs_and_grok_patterns_never_panic(config in text(), pattern in "[ -~]{0,60}") {
        let _ = strata_agent::config::parse(&config, |_| None);
        if let Ok(grok) = strata_agent::grok::Grok::compile(&pattern, &[]) {
            let _ = grok.captures(&config);
        }
    }
}
