#![no_main]
//! What the agent reads from outside: container log lines (CRI, Docker,
//! partial lines, multi-line joining), journalctl JSON, timestamps and
//! config files. Never a panic; entries come in order within the input.
use libfuzzer_sys::fuzz_target;
use strata_agent::reading::{Format, Multiline, MultilineConfig, Reading};

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else { return };
    let text = String::from_utf8_lossy(rest);
    match selector % 4 {
        0 => {
            let mut end = 0u64;
            let lines: Vec<(&[u8], u64)> = rest
                .split(|b| *b == b'\n')
                .map(|line| {
                    end += line.len() as u64 + 1;
                    (line, end)
                })
                .collect();
            let multiline = (selector & 4 != 0).then(|| {
                Multiline::new(&MultilineConfig {
                    first_line: None,
                    continue_line: None,
                    preset: Some("python".to_string()),
                    max_wait_time: None,
                    max_lines: Some(5),
                })
                .unwrap()
            });
            let reading = Reading { format: Format::Auto, multiline };
            let mut last = 0;
            for piece in reading.assemble(&lines, 0, selector & 8 != 0) {
                assert!(piece.end > last && piece.end <= end);
                last = piece.end;
            }
        }
        1 => {
            let _ = strata_agent::streams::parse_journal_line(&text);
        }
        2 => {
            for spec in ["RFC3339", "ISO8601", "UnixMs", "2006-01-02 15:04:05.000", "%d/%b/%Y:%H:%M:%S %z"] {
                let format = strata_agent::timefmt::TimeFormat::parse_spec(spec).unwrap();
                let _ = format.parse(&text, None, 1_700_000_000_000_000_000);
            }
        }
        _ => {
            let _ = strata_agent::config::parse(&text, |_| None);
        }
    }
});
