//! How a file's lines become entries: container log formats (CRI and
//! Docker's json-file, with partial lines joined) and multi-line joining
//! (Python tracebacks and Java stack traces become one entry).
//!
//! The tailer reads from a file's acknowledged position each time, so an
//! entry still being assembled (a partial container line, a stack trace
//! whose end has not been written) is simply not emitted: its lines are
//! read again next time, and its position never moves past them. An entry
//! is emitted once the line after it shows it is complete, or when the
//! file has not grown for `max_wait` (the last trace of a quiet file), or
//! when it fills the read buffer or `max_lines`.

use std::time::Duration;

use serde::Deserialize;

/// A file's line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    /// One line, one entry.
    #[default]
    Raw,
    /// CRI (containerd, CRI-O): `2024-01-15T10:30:00.123456789Z stdout F text`.
    Cri,
    /// Docker's json-file: `{"log":"text\n","stream":"stdout","time":"..."}`.
    Docker,
    /// CRI or Docker, decided per line (a line in neither is kept raw).
    Auto,
}

impl Format {
    pub fn parse(text: &str) -> anyhow::Result<Format> {
        Ok(match text {
            "raw" | "none" => Format::Raw,
            "cri" => Format::Cri,
            "docker" => Format::Docker,
            "auto" | "container" => Format::Auto,
            other => anyhow::bail!("{other:?} is not raw, cri, docker or auto"),
        })
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MultilineConfig {
    /// A line matching this starts a new entry (`^\d{4}-\d{2}-\d{2}`, `^\S`);
    /// other lines join the entry before them.
    #[serde(default, rename = "firstline")]
    pub first_line: Option<String>,
    /// A line matching this joins the entry before it (`^\s`,
    /// `^(\s+at |Caused by:|\s+\.\.\. )`); other lines start new entries.
    #[serde(default, rename = "continue")]
    pub continue_line: Option<String>,
    /// `python` or `java`: the patterns for tracebacks and stack traces.
    #[serde(default)]
    pub preset: Option<String>,
    /// How long the last entry of a quiet file waits for more lines (3s).
    #[serde(default)]
    pub max_wait_time: Option<String>,
    /// Most lines in one entry (128); more start a new entry.
    #[serde(default)]
    pub max_lines: Option<usize>,
}

/// Compiled multi-line rules.
#[derive(Debug, Clone)]
pub struct Multiline {
    rule: Rule,
    pub max_wait: Duration,
    max_lines: usize,
}

#[derive(Debug, Clone)]
enum Rule {
    FirstLine(regex::Regex),
    Continue(regex::Regex),
}

/// A Python traceback continues with indented lines, the `Traceback` header
/// itself, and the final `Error: message` line after the frames; a Java
/// stack trace with `\tat`, `Caused by:` and `... N more`.
const PYTHON_CONTINUE: &str = r"^(\s|Traceback \(most recent call last\):|During handling of the above exception|The above exception was the direct cause|[A-Za-z_][\w.]*(Error|Exception|Interrupt|Exit|Warning)\b(:|$))";
const JAVA_CONTINUE: &str =
    r"^(\s+at |\s+\.\.\. \d+ (more|common frames omitted)|Caused by: |Suppressed: |\s+Caused by: )";

impl Multiline {
    pub fn new(config: &MultilineConfig) -> anyhow::Result<Multiline> {
        let compile = |name: &str, text: &str| {
            regex::Regex::new(text).map_err(|err| {
                anyhow::anyhow!(
                    "{name}: invalid regex {text:?}: {}",
                    strata_model::regex_error_reason(&err)
                )
            })
        };
        let rule = match (
            &config.first_line,
            &config.continue_line,
            config.preset.as_deref(),
        ) {
            (Some(first), None, None) => Rule::FirstLine(compile("firstline", first)?),
            (None, Some(more), None) => Rule::Continue(compile("continue", more)?),
            (None, None, Some("python")) => Rule::Continue(compile("preset", PYTHON_CONTINUE)?),
            (None, None, Some("java")) => Rule::Continue(compile("preset", JAVA_CONTINUE)?),
            (None, None, Some(other)) => anyhow::bail!("preset: {other:?} is not python or java"),
            (None, None, None) => anyhow::bail!("give firstline, continue or preset"),
            _ => anyhow::bail!("give only one of firstline, continue and preset"),
        };
        let max_wait = match &config.max_wait_time {
            None => Duration::from_secs(3),
            Some(text) => crate::stages::parse_duration(text)
                .map_err(|err| anyhow::anyhow!("max_wait_time: {err}"))?,
        };
        let max_lines = config.max_lines.unwrap_or(128);
        if max_lines == 0 {
            anyhow::bail!("max_lines: must be at least 1");
        }
        Ok(Multiline {
            rule,
            max_wait,
            max_lines,
        })
    }

    /// Whether `line` starts a new entry.
    fn starts(&self, line: &str) -> bool {
        match &self.rule {
            Rule::FirstLine(regex) => regex.is_match(line),
            Rule::Continue(regex) => !regex.is_match(line),
        }
    }
}

/// How a source's files are read.
#[derive(Debug, Clone, Default)]
pub struct Reading {
    pub format: Format,
    pub multiline: Option<Multiline>,
}

/// One entry assembled from a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Piece {
    pub text: String,
    /// The position after its last line.
    pub end: u64,
    /// The container runtime's timestamp, for CRI and Docker lines.
    pub ts: Option<i64>,
    /// `stdout` or `stderr`, for CRI and Docker lines.
    pub stream: Option<&'static str>,
}

/// A line decoded from a container log format.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Decoded {
    text: String,
    ts: Option<i64>,
    stream: Option<&'static str>,
    /// The runtime split a long line: the next line continues it.
    partial: bool,
}

fn stream_name(text: &str) -> Option<&'static str> {
    match text {
        "stdout" => Some("stdout"),
        "stderr" => Some("stderr"),
        _ => None,
    }
}

fn parse_rfc3339(text: &str) -> Option<i64> {
    let ts: jiff::Timestamp = text.parse().ok()?;
    i64::try_from(ts.as_nanosecond()).ok()
}

/// `<time> <stream> <P|F> <text>`.
fn decode_cri(line: &str) -> Option<Decoded> {
    let mut parts = line.splitn(4, ' ');
    let ts = parse_rfc3339(parts.next()?)?;
    let stream = stream_name(parts.next()?)?;
    let tag = parts.next()?;
    let text = parts.next().unwrap_or("");
    // Tags are `F` or `P`, possibly with more flags after a colon.
    let partial = match tag.split(':').next()? {
        "P" => true,
        "F" => false,
        _ => return None,
    };
    Some(Decoded {
        text: text.to_string(),
        ts: Some(ts),
        stream: Some(stream),
        partial,
    })
}

/// `{"log":"text\n","stream":"stdout","time":"..."}`; a `log` without its
/// final newline is a part of a longer line.
fn decode_docker(line: &str) -> Option<Decoded> {
    #[derive(Deserialize)]
    struct DockerLine {
        log: String,
        #[serde(default)]
        stream: Option<String>,
        #[serde(default)]
        time: Option<String>,
    }
    if !line.starts_with('{') {
        return None;
    }
    let parsed: DockerLine = serde_json::from_str(line).ok()?;
    let (text, partial) = match parsed.log.strip_suffix('\n') {
        Some(text) => (text.strip_suffix('\r').unwrap_or(text).to_string(), false),
        None => (parsed.log, true),
    };
    Some(Decoded {
        text,
        ts: parsed.time.as_deref().and_then(parse_rfc3339),
        stream: parsed.stream.as_deref().and_then(stream_name),
        partial,
    })
}

/// The bytes as text: valid UTF-8 is checked quickly and copied once;
/// invalid bytes are replaced.
pub fn to_text(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(text) => text.to_owned(),
        Err(_) => String::from_utf8_lossy(bytes).into_owned(),
    }
}

fn decode(format: Format, line: &[u8]) -> Decoded {
    let text = match std::str::from_utf8(line) {
        Ok(text) => std::borrow::Cow::Borrowed(text),
        Err(_) => String::from_utf8_lossy(line),
    };
    let decoded = match format {
        Format::Raw => None,
        Format::Cri => decode_cri(&text),
        Format::Docker => decode_docker(&text),
        Format::Auto => decode_docker(&text).or_else(|| decode_cri(&text)),
    };
    decoded.unwrap_or_else(|| Decoded {
        text: text.into_owned(),
        ts: None,
        stream: None,
        partial: false,
    })
}

/// How long a partial container line waits for its end when no multi-line
/// wait is set (runtimes write the rest at once; this covers a slow disk).
const PARTIAL_WAIT: Duration = Duration::from_secs(3);

impl Reading {
    /// How long the last, possibly unfinished entry of a quiet file waits.
    pub fn hold_for(&self) -> Duration {
        match (&self.multiline, self.format) {
            (Some(multiline), _) => multiline.max_wait,
            (None, Format::Raw) => Duration::ZERO,
            (None, _) => PARTIAL_WAIT,
        }
    }

    /// Turns a file's complete lines (text, position after it) into
    /// entries. Lines of an entry that may not be complete yet are left out
    /// (they are read again next time) unless `flush`: the file has been
    /// quiet for `max_wait`, or the lines fill the read buffer.
    /// `start` is the position of the first line.
    pub fn assemble(&self, lines: &[(&[u8], u64)], start: u64, flush: bool) -> Vec<Piece> {
        if self.format == Format::Raw && self.multiline.is_none() {
            return lines
                .iter()
                .map(|(text, end)| Piece {
                    text: to_text(text),
                    end: *end,
                    ts: None,
                    stream: None,
                })
                .collect();
        }
        // An entry in the making, per container stream (stdout, stderr, or
        // none): a partial line waiting for its end, then a multi-line
        // entry waiting for its next line.
        #[derive(Default)]
        struct Open {
            partial: Option<(Piece, u64)>,
            entry: Option<(Piece, u64, usize)>,
        }
        let slot = |stream: Option<&str>| match stream {
            Some("stdout") => 0,
            Some("stderr") => 1,
            _ => 2,
        };
        let mut open: [Open; 3] = Default::default();
        // Finished entries with the position their first line starts at.
        let mut done: Vec<(Piece, u64)> = Vec::with_capacity(lines.len());
        let mut previous_end = start;
        for (text, end) in lines {
            let line_start = previous_end;
            previous_end = *end;
            let decoded = decode(self.format, text);
            let open = &mut open[slot(decoded.stream)];
            // Partial lines of one stream joined into a whole line.
            let (piece, piece_start) = match open.partial.take() {
                Some((mut started, first)) => {
                    started.text.push_str(&decoded.text);
                    started.end = *end;
                    (started, first)
                }
                None => (
                    Piece {
                        text: decoded.text,
                        end: *end,
                        ts: decoded.ts,
                        stream: decoded.stream,
                    },
                    line_start,
                ),
            };
            if decoded.partial && piece.text.len() < crate::tail::MAX_LINE_BYTES {
                open.partial = Some((piece, piece_start));
                continue;
            }
            let Some(multiline) = &self.multiline else {
                done.push((piece, piece_start));
                continue;
            };
            // Multi-line joining, within the stream.
            let joins = open.entry.as_ref().is_some_and(|(last, _, count)| {
                !multiline.starts(&piece.text)
                    && *count < multiline.max_lines
                    && last.text.len() + piece.text.len() < crate::tail::MAX_LINE_BYTES
            });
            match open.entry.as_mut() {
                Some((last, _, count)) if joins => {
                    last.text.push('\n');
                    last.text.push_str(&piece.text);
                    last.end = piece.end;
                    *count += 1;
                }
                _ => {
                    if let Some((last, first, _)) = open.entry.replace((piece, piece_start, 1)) {
                        done.push((last, first));
                    }
                }
            }
        }
        // What is still open may grow, unless the file is quiet (flush).
        let mut held_from = u64::MAX;
        for open in open {
            for (piece, first) in open
                .entry
                .into_iter()
                .map(|(p, f, _)| (p, f))
                .chain(open.partial)
            {
                if flush {
                    done.push((piece, first));
                } else {
                    held_from = held_from.min(first);
                }
            }
        }
        // An entry is released only if it ends before anything held starts:
        // the file's position then never passes a line still waiting.
        done.retain(|(piece, _)| piece.end <= held_from);
        done.sort_by_key(|(piece, _)| piece.end);
        done.into_iter().map(|(piece, _)| piece).collect()
    }
}

/// Labels of a Kubernetes container log from its path:
/// `/var/log/pods/<namespace>_<pod>_<uid>/<container>/<restart>.log` or
/// `/var/log/containers/<pod>_<namespace>_<container>-<container id>.log`.
pub fn kubernetes_labels(path: &std::path::Path) -> Vec<(String, String)> {
    let parts: Vec<&str> = path.iter().filter_map(|part| part.to_str()).collect();
    let mut labels = Vec::new();
    if let Some(at) = parts.iter().rposition(|part| *part == "pods")
        && parts.len() >= at + 4
    {
        let mut pod = parts[at + 1].splitn(3, '_');
        if let (Some(namespace), Some(name), Some(uid)) = (pod.next(), pod.next(), pod.next()) {
            labels.push(("namespace".to_string(), namespace.to_string()));
            labels.push(("pod".to_string(), name.to_string()));
            labels.push(("pod_uid".to_string(), uid.to_string()));
            labels.push(("container".to_string(), parts[at + 2].to_string()));
        }
    } else if parts.contains(&"containers")
        && let Some(file) = parts.last().and_then(|f| f.strip_suffix(".log"))
    {
        // Pod names and namespaces hold no `_`; the container name and id
        // are split at the last `-`.
        let mut split = file.splitn(3, '_');
        if let (Some(pod), Some(namespace), Some(rest)) = (split.next(), split.next(), split.next())
            && let Some((container, id)) = rest.rsplit_once('-')
        {
            labels.push(("namespace".to_string(), namespace.to_string()));
            labels.push(("pod".to_string(), pod.to_string()));
            labels.push(("container".to_string(), container.to_string()));
            labels.push(("container_id".to_string(), id.to_string()));
        }
    }
    labels
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(text: &str) -> Vec<(&[u8], u64)> {
        let mut out = Vec::new();
        let mut end = 0u64;
        for line in text.split_inclusive('\n') {
            end += line.len() as u64;
            out.push((line.trim_end_matches('\n').as_bytes(), end));
        }
        out
    }

    #[test]
    fn cri_partial_lines_are_joined() {
        let reading = Reading {
            format: Format::Cri,
            multiline: None,
        };
        let text = "2024-01-15T10:30:00.000000001Z stdout P hello \n2024-01-15T10:30:00.000000002Z stdout F world\n2024-01-15T10:30:01Z stderr F boom\n2024-01-15T10:30:02Z stdout P open\n";
        let input = lines(text);
        let out = reading.assemble(&input, 0, false);
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].text, "hello world");
        assert_eq!(out[0].ts, Some(1_705_314_600_000_000_001));
        assert_eq!(out[0].stream, Some("stdout"));
        assert_eq!(out[0].end, input[1].1);
        assert_eq!(out[1].text, "boom");
        assert_eq!(out[1].stream, Some("stderr"));
        // The open partial line waits, unless flushed.
        assert_eq!(reading.assemble(&input, 0, true).len(), 3);
    }

    #[test]
    fn partial_lines_are_joined_per_stream_and_nothing_passes_an_open_one() {
        let reading = Reading {
            format: Format::Cri,
            multiline: None,
        };
        let text = "2024-01-15T10:30:00Z stdout P hello \n2024-01-15T10:30:01Z stderr F boom\n2024-01-15T10:30:02Z stdout F world\n2024-01-15T10:30:03Z stdout P open\n2024-01-15T10:30:04Z stderr F later\n";
        let input = lines(text);
        let out = reading.assemble(&input, 0, false);
        let texts: Vec<&str> = out.iter().map(|p| p.text.as_str()).collect();
        // "later" waits behind the open "open": releasing it would move the
        // position past a line still waiting for its end.
        assert_eq!(texts, ["boom", "hello world"]);
        assert_eq!(out[0].stream, Some("stderr"));
        assert_eq!(out[1].end, input[2].1);
        let all = reading.assemble(&input, 0, true);
        assert_eq!(all.len(), 4);
        assert_eq!(reading.hold_for(), PARTIAL_WAIT);
    }

    #[test]
    fn docker_lines_are_decoded_and_joined() {
        let reading = Reading {
            format: Format::Auto,
            multiline: None,
        };
        let text = "{\"log\":\"part one \",\"stream\":\"stdout\",\"time\":\"2024-01-15T10:30:00.5Z\"}\n{\"log\":\"and two\\n\",\"stream\":\"stdout\",\"time\":\"2024-01-15T10:30:00.6Z\"}\nplain line\n";
        let out = reading.assemble(&lines(text), 0, false);
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].text, "part one and two");
        assert_eq!(out[0].ts, Some(1_705_314_600_500_000_000));
        assert_eq!(out[1].text, "plain line");
        assert_eq!(out[1].ts, None);
    }

    #[test]
    fn python_tracebacks_and_java_traces_become_one_entry() {
        let python = Reading {
            format: Format::Raw,
            multiline: Some(
                Multiline::new(&MultilineConfig {
                    first_line: None,
                    continue_line: None,
                    preset: Some("python".into()),
                    max_wait_time: None,
                    max_lines: None,
                })
                .unwrap(),
            ),
        };
        let text = "INFO step 1\nTraceback (most recent call last):\n  File \"train.py\", line 3, in <module>\n    main()\nRuntimeError: CUDA out of memory\nINFO step 2\n";
        // The last entry is held until the file is quiet.
        assert_eq!(python.assemble(&lines(text), 0, false).len(), 1);
        let out = python.assemble(&lines(text), 0, true);
        assert_eq!(out.len(), 2, "{out:?}");
        assert_eq!(
            out[0].text,
            "INFO step 1\nTraceback (most recent call last):\n  File \"train.py\", line 3, in <module>\n    main()\nRuntimeError: CUDA out of memory"
        );
        assert_eq!(out[1].text, "INFO step 2");
        let java = Reading {
            format: Format::Raw,
            multiline: Some(
                Multiline::new(&MultilineConfig {
                    first_line: Some(r"^\d{4}-\d{2}-\d{2}".into()),
                    continue_line: None,
                    preset: None,
                    max_wait_time: None,
                    max_lines: None,
                })
                .unwrap(),
            ),
        };
        let text = "2024-01-15 10:00:00 ERROR failed\njava.lang.IllegalStateException: bad\n\tat com.x.A.run(A.java:10)\nCaused by: java.io.IOException: disk\n\t... 3 more\n2024-01-15 10:00:01 INFO ok\n";
        let out = java.assemble(&lines(text), 0, false);
        assert_eq!(out.len(), 1);
        assert!(out[0].text.ends_with("\t... 3 more"));
        assert_eq!(java.assemble(&lines(text), 0, true).len(), 2);
    }

    #[test]
    fn kubernetes_path_labels() {
        let labels = kubernetes_labels(std::path::Path::new(
            "/var/log/pods/ml-training_trainer-0_0f1e-22/pytorch/0.log",
        ));
        assert_eq!(
            labels,
            vec![
                ("namespace".into(), "ml-training".into()),
                ("pod".into(), "trainer-0".into()),
                ("pod_uid".into(), "0f1e-22".into()),
                ("container".into(), "pytorch".into()),
            ]
        );
        let labels = kubernetes_labels(std::path::Path::new(
            "/var/log/containers/trainer-0_ml-training_pytorch-0123abcd.log",
        ));
        assert_eq!(labels[0], ("namespace".into(), "ml-training".into()));
        assert_eq!(labels[2], ("container".into(), "pytorch".into()));
        assert!(kubernetes_labels(std::path::Path::new("/var/log/app.log")).is_empty());
    }
}
