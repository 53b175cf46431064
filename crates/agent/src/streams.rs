//! Sources that are not files: stdin, and the systemd journal (through
//! `journalctl -o json --follow`, resumed from a saved cursor).
//!
//! Both keep what they read in memory until every output has acknowledged
//! it ([`LineReader::acknowledge`]), as the tailer keeps a file's position:
//! `read` hands out the unacknowledged lines again until then. The journal's
//! cursor is saved with the file positions only once the lines before it are
//! delivered, so a crash re-reads from the last delivered entry (at least
//! once; entries keep their journal timestamps, so the server drops the
//! copies). Stdin has no position: lines read but not delivered when the
//! agent is killed are lost, as with any pipe.

use std::collections::VecDeque;
use std::io::BufRead;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, SyncSender, TryRecvError, sync_channel};
use std::time::Duration;

use crate::tail::{Line, MAX_LINE_BYTES};

/// Lines buffered between a reader thread and the agent's loop.
const CHANNEL_LINES: usize = 256;
/// Most bytes of lines read and not yet delivered, per source.
const MAX_PENDING_BYTES: usize = 16 << 20;

/// A source of lines other than files.
pub trait LineReader: Send {
    /// Unacknowledged lines, oldest first, up to about `budget` bytes
    /// (at least one line).
    fn read(&mut self, budget: usize) -> Vec<Line>;
    /// Forgets lines up to those delivered.
    fn acknowledge(&mut self, lines: &[Line]);
    /// True once the input has ended and everything read was delivered.
    fn finished(&self) -> bool;
    /// The position to save (the journal's cursor), with the source index.
    fn cursor(&self) -> Option<(usize, String)>;
}

/// What a reader thread sends: a line with its fields and cursor, or the end.
enum Message {
    Line {
        text: String,
        ts: Option<i64>,
        fields: Vec<(String, String)>,
        cursor: Option<String>,
    },
    End,
}

/// The shared part of stdin and journal readers: the channel from the
/// reading thread and the lines not yet delivered.
struct Buffered {
    source: usize,
    name: PathBuf,
    receiver: Receiver<Message>,
    /// (line, its cursor) in order; `Line::end` is a sequence number.
    pending: VecDeque<(Line, Option<String>)>,
    pending_bytes: usize,
    next_seq: u64,
    ended: bool,
    last_ts: i64,
    delivered_cursor: Option<String>,
}

impl Buffered {
    fn new(source: usize, name: &str, receiver: Receiver<Message>) -> Buffered {
        Buffered {
            source,
            name: PathBuf::from(name),
            receiver,
            pending: VecDeque::new(),
            pending_bytes: 0,
            next_seq: 1,
            ended: false,
            last_ts: i64::MIN,
            delivered_cursor: None,
        }
    }

    fn read(&mut self, budget: usize) -> Vec<Line> {
        // Take what the thread has read, up to a bound in bytes.
        while self.pending_bytes < MAX_PENDING_BYTES {
            match self.receiver.try_recv() {
                Ok(Message::Line {
                    text,
                    ts,
                    fields,
                    cursor,
                }) => {
                    // Read time when the input has none, unique within the stream.
                    let ts = ts.unwrap_or_else(|| crate::now_ns().max(self.last_ts + 1));
                    self.last_ts = self.last_ts.max(ts);
                    let line = Line {
                        path: self.name.clone(),
                        source: self.source,
                        text,
                        file: (u64::MAX, self.source as u64),
                        end: self.next_seq,
                        ts,
                        stream: None,
                        fields,
                    };
                    self.next_seq += 1;
                    self.pending_bytes += line.text.len();
                    self.pending.push_back((line, cursor));
                }
                Ok(Message::End) | Err(TryRecvError::Disconnected) => {
                    self.ended = true;
                    break;
                }
                Err(TryRecvError::Empty) => break,
            }
        }
        let mut out = Vec::new();
        let mut used = 0;
        for (line, _) in &self.pending {
            if used >= budget && !out.is_empty() {
                break;
            }
            used += line.text.len();
            out.push(line.clone());
        }
        out
    }

    fn acknowledge(&mut self, lines: &[Line]) {
        let Some(last) = lines
            .iter()
            .filter(|line| line.file == (u64::MAX, self.source as u64))
            .map(|line| line.end)
            .max()
        else {
            return;
        };
        while self
            .pending
            .front()
            .is_some_and(|(line, _)| line.end <= last)
        {
            let Some((line, cursor)) = self.pending.pop_front() else {
                break;
            };
            self.pending_bytes -= line.text.len();
            if cursor.is_some() {
                self.delivered_cursor = cursor;
            }
        }
    }
}

/// Lines from the agent's standard input (`type: stdin`): the agent stops
/// once stdin ends and every line is delivered, when it has no other source.
pub struct StdinReader {
    buffered: Buffered,
}

impl StdinReader {
    pub fn spawn(source: usize) -> anyhow::Result<StdinReader> {
        let (sender, receiver) = sync_channel(CHANNEL_LINES);
        std::thread::Builder::new()
            .name("agent-stdin".into())
            .spawn(move || read_lines(std::io::stdin().lock(), &sender))?;
        Ok(StdinReader {
            buffered: Buffered::new(source, "-", receiver),
        })
    }
}

/// Sends each line of `input` (a line longer than the server takes is cut
/// into pieces on character boundaries), then the end.
fn read_lines(mut input: impl BufRead, sender: &SyncSender<Message>) {
    let mut bytes: Vec<u8> = Vec::new();
    let mut carry: Vec<u8> = Vec::new();
    loop {
        bytes.clear();
        bytes.append(&mut carry);
        let room = (MAX_LINE_BYTES - bytes.len()) as u64;
        match std::io::Read::take(&mut input, room).read_until(b'\n', &mut bytes) {
            Ok(0) if bytes.is_empty() => break,
            Ok(_) => {}
            Err(_) => break,
        }
        if !bytes.ends_with(b"\n") && bytes.len() >= MAX_LINE_BYTES {
            // The limit fell inside a line: cut before a character it
            // splits, which starts the next piece.
            let cut = utf8_floor(&bytes);
            carry = bytes.split_off(cut);
        }
        let text = bytes.strip_suffix(b"\n").unwrap_or(&bytes);
        let text = text.strip_suffix(b"\r").unwrap_or(text);
        let message = Message::Line {
            text: crate::reading::to_text(text),
            ts: None,
            fields: Vec::new(),
            cursor: None,
        };
        if sender.send(message).is_err() {
            return;
        }
    }
    let _ = sender.send(Message::End);
}

/// The length of `bytes` without a UTF-8 character cut at its end.
fn utf8_floor(bytes: &[u8]) -> usize {
    // The start of the last character: at most 3 continuation bytes back.
    let mut start = bytes.len();
    while start > 0 && bytes.len() - start < 4 && (bytes[start - 1] & 0xC0) == 0x80 {
        start -= 1;
    }
    if start == 0 || start == bytes.len() && bytes[start - 1] < 0x80 {
        return bytes.len();
    }
    let lead = bytes[start - 1];
    let width = match lead {
        0xC0..=0xDF => 2,
        0xE0..=0xEF => 3,
        0xF0..=0xF7 => 4,
        _ => return bytes.len(),
    };
    if bytes.len() - (start - 1) < width {
        start - 1
    } else {
        bytes.len()
    }
}

impl LineReader for StdinReader {
    fn read(&mut self, budget: usize) -> Vec<Line> {
        self.buffered.read(budget)
    }
    fn acknowledge(&mut self, lines: &[Line]) {
        self.buffered.acknowledge(lines);
    }
    fn finished(&self) -> bool {
        self.buffered.ended && self.buffered.pending.is_empty()
    }
    fn cursor(&self) -> Option<(usize, String)> {
        None
    }
}

/// Where a journal source reads from and since when.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct JournalOptions {
    /// A journal directory (`journalctl -D`); default: the system journal.
    pub directory: Option<PathBuf>,
    /// On a first start: entries at most this old (default 7h, as Promtail).
    pub max_age: Option<Duration>,
    /// journalctl matches: `_SYSTEMD_UNIT=kubelet.service`.
    pub matches: Vec<String>,
    /// The journalctl to run (default `journalctl`).
    pub command: Option<PathBuf>,
}

/// Journal entries (`type: journald`), through `journalctl -o json --follow`.
/// The line is `MESSAGE`; the entry's time is `__REALTIME_TIMESTAMP`; the
/// fields `unit`, `hostname`, `identifier`, `pid`, `priority`, `level`
/// (priority's name), `transport`, `boot_id` (and `container_name`,
/// `image_name` when set) are fields the stages can promote to labels.
pub struct JournalReader {
    buffered: Buffered,
    child: Child,
    options: JournalOptions,
    start_at_end: bool,
    started: std::time::Instant,
}

impl Drop for JournalReader {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const LEVELS: [&str; 8] = [
    "emerg", "alert", "crit", "error", "warning", "notice", "info", "debug",
];

/// The journal fields kept, and their names as fields.
const KEPT: [(&str, &str); 9] = [
    ("_SYSTEMD_UNIT", "unit"),
    ("_HOSTNAME", "hostname"),
    ("SYSLOG_IDENTIFIER", "identifier"),
    ("_PID", "pid"),
    ("PRIORITY", "priority"),
    ("_TRANSPORT", "transport"),
    ("_BOOT_ID", "boot_id"),
    ("CONTAINER_NAME", "container_name"),
    ("IMAGE_NAME", "image_name"),
];

/// A journal field's value: a string, or an array of bytes (binary data).
fn journal_text(value: &serde_json::Value) -> Option<String> {
    match value {
        serde_json::Value::String(text) => Some(text.clone()),
        serde_json::Value::Array(bytes) => {
            let bytes: Vec<u8> = bytes
                .iter()
                .filter_map(|b| b.as_u64().and_then(|b| u8::try_from(b).ok()))
                .collect();
            Some(String::from_utf8_lossy(&bytes).into_owned())
        }
        serde_json::Value::Number(number) => Some(number.to_string()),
        _ => None,
    }
}

/// A journal entry: its message, time (ns) and fields.
pub type JournalEntry = (String, Option<i64>, Vec<(String, String)>);

/// One `journalctl -o json` line: its message, time and fields (None when
/// the line is not a JSON object).
pub fn parse_journal_line(line: &str) -> Option<JournalEntry> {
    match journal_message(line)? {
        Message::Line {
            text, ts, fields, ..
        } => Some((text, ts, fields)),
        Message::End => None,
    }
}

/// One `journalctl -o json` line as a message.
fn journal_message(line: &str) -> Option<Message> {
    let entry: serde_json::Map<String, serde_json::Value> = serde_json::from_str(line).ok()?;
    let mut text = entry
        .get("MESSAGE")
        .and_then(journal_text)
        .unwrap_or_default();
    if text.len() > MAX_LINE_BYTES {
        let mut cut = MAX_LINE_BYTES;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
    }
    let ts = entry
        .get("__REALTIME_TIMESTAMP")
        .and_then(journal_text)
        .and_then(|micros| micros.parse::<i64>().ok())
        .map(|micros| micros.saturating_mul(1000));
    let cursor = entry.get("__CURSOR").and_then(journal_text);
    let mut fields = Vec::new();
    for (key, name) in KEPT {
        if let Some(value) = entry.get(key).and_then(journal_text) {
            if key == "PRIORITY"
                && let Some(level) = value.parse::<usize>().ok().and_then(|p| LEVELS.get(p))
            {
                fields.push(("level".to_string(), level.to_string()));
            }
            fields.push((name.to_string(), value));
        }
    }
    Some(Message::Line {
        text,
        ts,
        fields,
        cursor,
    })
}

impl JournalReader {
    /// Starts `journalctl`; after `cursor` when one was saved, else from
    /// `max_age` ago (or the end, with `start_at_end`).
    pub fn spawn(
        source: usize,
        options: &JournalOptions,
        cursor: Option<String>,
        start_at_end: bool,
    ) -> anyhow::Result<JournalReader> {
        let (child, receiver) = start_journalctl(options, cursor.as_deref(), start_at_end)?;
        let mut buffered = Buffered::new(source, "journald", receiver);
        buffered.delivered_cursor = cursor;
        Ok(JournalReader {
            buffered,
            child,
            options: options.clone(),
            start_at_end,
            started: std::time::Instant::now(),
        })
    }

    /// journalctl ended (a vacuumed cursor, a crash): started again after
    /// the last entry read, at most every 5 s.
    fn restart_if_ended(&mut self) {
        if !self.buffered.ended || self.started.elapsed() < Duration::from_secs(5) {
            return;
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        let cursor = self
            .buffered
            .pending
            .iter()
            .rev()
            .find_map(|(_, cursor)| cursor.clone())
            .or_else(|| self.buffered.delivered_cursor.clone());
        tracing::error!(cursor = ?cursor, "journalctl stopped; starting it again");
        self.started = std::time::Instant::now();
        match start_journalctl(&self.options, cursor.as_deref(), self.start_at_end) {
            Ok((child, receiver)) => {
                self.child = child;
                self.buffered.receiver = receiver;
                self.buffered.ended = false;
            }
            Err(err) => tracing::error!(error = %err, "cannot start journalctl"),
        }
    }
}

/// Runs journalctl and a thread that turns its lines into messages.
fn start_journalctl(
    options: &JournalOptions,
    cursor: Option<&str>,
    start_at_end: bool,
) -> anyhow::Result<(Child, Receiver<Message>)> {
    let program = options
        .command
        .clone()
        .unwrap_or_else(|| PathBuf::from("journalctl"));
    let mut command = Command::new(&program);
    command.args(["--output=json", "--follow", "--all", "--no-pager"]);
    if let Some(directory) = &options.directory {
        command.arg(format!("--directory={}", directory.display()));
    }
    match (cursor, start_at_end) {
        // --follow alone shows only the last 10 entries: ask for all.
        (Some(cursor), _) => {
            command.arg(format!("--after-cursor={cursor}"));
            command.arg("--lines=all");
        }
        (None, true) => {
            command.arg("--lines=0");
        }
        (None, false) => {
            let age = options.max_age.unwrap_or(Duration::from_secs(7 * 3600));
            let since = (crate::now_ns() / 1_000_000_000) - age.as_secs() as i64;
            command.arg(format!("--since=@{since}"));
            command.arg("--lines=all");
        }
    }
    command.args(&options.matches);
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|err| anyhow::anyhow!("cannot run {}: {err}", program.display()))?;
    let stdout = child
        .stdout
        .take()
        .ok_or_else(|| anyhow::anyhow!("journalctl has no stdout"))?;
    let (sender, receiver) = sync_channel(CHANNEL_LINES);
    std::thread::Builder::new()
            .name("agent-journal".into())
            .spawn(move || {
                for line in std::io::BufReader::new(stdout).lines() {
                    let Ok(line) = line else { break };
                    let Some(message) = journal_message(&line) else {
                        tracing::warn!(line = %line.chars().take(200).collect::<String>(), "journalctl printed a line that is not a JSON entry");
                        continue;
                    };
                    if sender.send(message).is_err() {
                        return;
                    }
                }
                let _ = sender.send(Message::End);
            })?;
    Ok((child, receiver))
}

impl LineReader for JournalReader {
    fn read(&mut self, budget: usize) -> Vec<Line> {
        self.restart_if_ended();
        self.buffered.read(budget)
    }
    fn acknowledge(&mut self, lines: &[Line]) {
        self.buffered.acknowledge(lines);
    }
    fn finished(&self) -> bool {
        false
    }
    fn cursor(&self) -> Option<(usize, String)> {
        self.buffered
            .delivered_cursor
            .clone()
            .map(|cursor| (self.buffered.source, cursor))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn journal_entries_become_lines_with_fields() {
        let line = r#"{"__CURSOR":"s=abc;i=1","__REALTIME_TIMESTAMP":"1705314600123456","MESSAGE":"Started kubelet","_SYSTEMD_UNIT":"kubelet.service","PRIORITY":"6","_HOSTNAME":"gpu-node-1"}"#;
        let Some(Message::Line {
            text,
            ts,
            fields,
            cursor,
        }) = journal_message(line)
        else {
            panic!("not a line");
        };
        assert_eq!(text, "Started kubelet");
        assert_eq!(ts, Some(1_705_314_600_123_456_000));
        assert_eq!(cursor.as_deref(), Some("s=abc;i=1"));
        assert!(fields.contains(&("unit".to_string(), "kubelet.service".to_string())));
        assert!(fields.contains(&("level".to_string(), "info".to_string())));
        // Binary messages are arrays of bytes.
        let Some(Message::Line { text, .. }) = journal_message(r#"{"MESSAGE":[104,105]}"#) else {
            panic!("not a line");
        };
        assert_eq!(text, "hi");
        assert!(journal_message("not json").is_none());
    }

    #[test]
    fn long_stdin_lines_are_cut_on_character_boundaries() {
        let (sender, receiver) = sync_channel(16);
        let mut text = "é".repeat(MAX_LINE_BYTES / 2 + 10).into_bytes();
        text.insert(0, b'x');
        text.push(b'\n');
        read_lines(std::io::Cursor::new(text), &sender);
        let mut buffered = Buffered::new(0, "-", receiver);
        let pieces = buffered.read(usize::MAX);
        assert_eq!(pieces.len(), 2);
        assert!(pieces.iter().all(|p| p.text.len() <= MAX_LINE_BYTES));
        assert!(!pieces.iter().any(|p| p.text.contains('\u{FFFD}')));
        assert_eq!(
            pieces[0].text.len() + pieces[1].text.len(),
            1 + 2 * (MAX_LINE_BYTES / 2 + 10)
        );
    }

    #[test]
    fn stdin_lines_are_handed_out_until_acknowledged() {
        let (sender, receiver) = sync_channel(16);
        read_lines(std::io::Cursor::new(b"one\r\ntwo\nthree".to_vec()), &sender);
        let mut buffered = Buffered::new(0, "-", receiver);
        let first = buffered.read(1 << 20);
        assert_eq!(
            first.iter().map(|l| l.text.as_str()).collect::<Vec<_>>(),
            ["one", "two", "three"]
        );
        // Not acknowledged: handed out again.
        assert_eq!(buffered.read(1 << 20), first);
        buffered.acknowledge(&first[..2]);
        let rest = buffered.read(1 << 20);
        assert_eq!(rest.len(), 1);
        assert_eq!(rest[0].text, "three");
        assert!(buffered.ended);
    }
}
