//! Following files: discovery by glob, identity by device and inode checked
//! against the file's first bytes, and both kinds of rotation.
//!
//! - **rename + create**: the renamed file keeps its inode, so the open
//!   handle keeps reading it to its end (it is found again at its new name
//!   when the glob matches it, or read as an orphan until it stops growing);
//!   the new file at the old name is a new inode, read from its start.
//! - **copytruncate**: the file shrinks below the position (or its first
//!   bytes change), so it is read again from 0; the copy is a new inode whose
//!   first bytes equal what the file held, so it continues from the position
//!   reached in the original instead of being sent twice.
//!
//! In doubt, a file is read again from its start: a duplicate is better than
//! a lost line.

use std::collections::HashSet;
use std::fs::{self, File, Metadata};
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::positions::Position;

/// Bytes at the start of a file that identify its content.
const HEAD_BYTES: u64 = 1024;
/// A file's first bytes must be at least this long to match a copy of it.
const MIN_COPY_MATCH: u64 = 64;
/// A file no glob path leads to any more is closed once it has not grown for this long.
const ORPHAN_GRACE: Duration = Duration::from_secs(5);
/// How long the first bytes of truncated content are remembered, to recognise its copy.
const RETIRED_FOR: Duration = Duration::from_secs(600);
/// Longest line sent whole; a longer one is cut into pieces of this size.
pub const MAX_LINE_BYTES: usize = 256 << 10;

/// The first bytes of a file: their length and xxh3.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Head {
    len: u64,
    hash: u64,
}

fn read_head(file: &File, size: u64, len: u64) -> std::io::Result<Head> {
    let len = len.min(size);
    let mut bytes = vec![0u8; len as usize];
    file.read_exact_at(&mut bytes, 0)?;
    Ok(Head {
        len,
        hash: xxhash_rust::xxh3::xxh3_64(&bytes),
    })
}

/// Whether `file`'s first `head.len` bytes are still those of `head`.
fn head_matches(file: &File, size: u64, head: Head) -> bool {
    head.len <= size && read_head(file, size, head.len).is_ok_and(|now| now == head)
}

/// One followed file.
#[derive(Debug)]
struct Tracked {
    path: PathBuf,
    /// Its `filename` label: where it was first found (see `Position::name`).
    name: PathBuf,
    /// The source whose glob found it.
    source: usize,
    dev: u64,
    ino: u64,
    file: File,
    /// Start of the first line not yet acknowledged.
    offset: u64,
    head: Head,
    /// Since when no glob path leads to this file.
    orphan_since: Option<Instant>,
    /// When it last grew, or was found.
    last_growth: Instant,
    size: u64,
    /// The timestamp of the first line past `offset` (see `Position::replay_ts`).
    segment_ts: Option<i64>,
    /// The bytes just before `offset` (up to 256): with the first bytes,
    /// what a copy of this file must also hold to continue from `offset`.
    before: Head,
}

/// Bytes before a position that a copy must match.
const BEFORE_BYTES: u64 = 256;

/// The hash of the (up to 256) bytes just before `offset`.
fn read_before(file: &File, offset: u64) -> Head {
    let len = offset.min(BEFORE_BYTES);
    let mut bytes = vec![0u8; len as usize];
    match file.read_exact_at(&mut bytes, offset - len) {
        Ok(()) => Head {
            len,
            hash: xxhash_rust::xxh3::xxh3_64(&bytes),
        },
        Err(_) => Head { len: 0, hash: 0 },
    }
}

/// Whether `file` holds, just before `offset`, the bytes `before` hashes.
fn before_matches(file: &File, size: u64, offset: u64, before: Head) -> bool {
    offset <= size && read_before(file, offset) == before
}

/// A line read from a file, with where the file's position goes once it is delivered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// The file's `filename` label: the path it was first found at.
    pub path: PathBuf,
    /// The source whose glob found the file.
    pub source: usize,
    pub text: String,
    /// (dev, ino) of the file.
    pub file: (u64, u64),
    /// The position after this line.
    pub end: u64,
    /// Its timestamp: the container runtime's (CRI, Docker), else the
    /// file's segment timestamp plus its index past the position.
    pub ts: i64,
    /// `stdout` or `stderr` for container logs.
    pub stream: Option<&'static str>,
    /// Fields the source read with the line (the journal's unit, priority...).
    pub fields: Vec<(String, String)>,
}

/// Content that was truncated away: its first bytes, the position reached
/// in it and the bytes before that position, its name, and when.
#[derive(Debug)]
struct Retired {
    head: Head,
    offset: u64,
    before: Head,
    name: PathBuf,
    at: Instant,
}

/// Follows the files some globs match.
#[derive(Debug)]
pub struct Tailer {
    /// (glob, the source it belongs to).
    globs: Vec<(String, usize)>,
    files: Vec<Tracked>,
    /// First bytes, position and name of contents that were truncated away.
    retired: Vec<Retired>,
    /// Positions loaded at start, not yet matched to a file.
    saved: Vec<Position>,
    /// Files found on the first scan start at their end (when nothing was saved).
    start_at_end: bool,
    first_scan: bool,
    /// The file `read` starts with (rotates, for fairness).
    next_first: usize,
    /// Per `filename` label, the newest timestamp given to a line.
    last_ts: std::collections::HashMap<PathBuf, i64>,
    /// Per source: its line format and multi-line rules.
    readings: Vec<crate::reading::Reading>,
    /// The read buffer, reused.
    buffer: Vec<u8>,
}

fn identity(meta: &Metadata) -> (u64, u64) {
    (meta.dev(), meta.ino())
}

impl Tailer {
    /// `globs`: (glob, source index); a file a glob of several sources
    /// matches belongs to the first.
    pub fn new(globs: Vec<(String, usize)>, saved: Vec<Position>, start_at_end: bool) -> Tailer {
        Tailer {
            globs,
            files: Vec::new(),
            retired: Vec::new(),
            // Only a first start (nothing saved) begins files at their end.
            start_at_end: start_at_end && saved.is_empty(),
            saved,
            first_scan: true,
            next_first: 0,
            last_ts: std::collections::HashMap::new(),
            readings: Vec::new(),
            buffer: Vec::new(),
        }
    }

    /// Sets each source's line format and multi-line rules (by source index).
    pub fn with_readings(mut self, readings: Vec<crate::reading::Reading>) -> Tailer {
        self.readings = readings;
        self
    }

    /// Finds new files, notices rotations and truncations.
    pub fn scan(&mut self) {
        let now = Instant::now();
        let mut seen: HashSet<(u64, u64)> = HashSet::new();
        let paths: Vec<(PathBuf, usize)> = self
            .globs
            .iter()
            .flat_map(|(glob, source)| expand(glob).into_iter().map(|path| (path, *source)))
            .collect();
        for (path, source) in paths {
            let Ok(meta) = fs::metadata(&path) else {
                continue;
            };
            if !meta.is_file() {
                continue;
            }
            let id = identity(&meta);
            if !seen.insert(id) {
                continue;
            }
            if let Some(tracked) = self.files.iter_mut().find(|f| (f.dev, f.ino) == id) {
                tracked.path = path;
                tracked.orphan_since = None;
                continue;
            }
            self.open(path, source, now);
        }
        if self.first_scan {
            // Saved files no glob path leads to (rotated away while the agent
            // was down): find them by inode beside their old path, read them out.
            // Saved positions matched by neither are kept (and persisted):
            // their files may appear later (a directory mounted late).
            let mut unmatched = Vec::new();
            for position in std::mem::take(&mut self.saved) {
                if seen.contains(&(position.dev, position.ino)) {
                    continue;
                }
                if let Some(path) = find_by_inode(&position)
                    && let Ok(file) = File::open(&path)
                    && let Ok(meta) = file.metadata()
                {
                    let head = Head {
                        len: position.head_len,
                        hash: position.head_hash,
                    };
                    if head_matches(&file, meta.len(), head) && position.offset <= meta.len() {
                        let before = read_before(&file, position.offset);
                        self.files.push(Tracked {
                            source: position.source,
                            name: position
                                .name
                                .clone()
                                .unwrap_or_else(|| position.path.clone()),
                            path,
                            dev: position.dev,
                            ino: position.ino,
                            file,
                            offset: position.offset,
                            head,
                            orphan_since: Some(now),
                            last_growth: now,
                            size: meta.len(),
                            segment_ts: position.replay_ts,
                            before,
                        });
                        continue;
                    }
                }
                unmatched.push(position);
            }
            self.saved = unmatched;
        }
        self.first_scan = false;
        let mut retired = Vec::new();
        for tracked in &mut self.files {
            if !seen.contains(&(tracked.dev, tracked.ino)) && tracked.orphan_since.is_none() {
                tracked.orphan_since = Some(now);
            }
            let Ok(meta) = tracked.file.metadata() else {
                continue;
            };
            let size = meta.len();
            if size > tracked.size {
                tracked.last_growth = now;
            }
            tracked.size = size;
            let rewritten =
                size < tracked.offset || !head_matches(&tracked.file, size, tracked.head);
            if rewritten {
                // copytruncate (or a rewrite): remember what it held, start over.
                tracing::info!(path = %tracked.path.display(), "file truncated; reading it again from its start");
                retired.push(Retired {
                    head: tracked.head,
                    offset: tracked.offset,
                    before: tracked.before,
                    name: tracked.name.clone(),
                    at: now,
                });
                tracked.offset = 0;
                tracked.before = Head { len: 0, hash: 0 };
                tracked.segment_ts = None;
                tracked.head =
                    read_head(&tracked.file, size, HEAD_BYTES).unwrap_or(Head { len: 0, hash: 0 });
                tracked.last_growth = now;
            } else if tracked.head.len < HEAD_BYTES
                && size > tracked.head.len
                && let Ok(head) = read_head(&tracked.file, size, HEAD_BYTES)
            {
                tracked.head = head;
            }
        }
        self.retired.extend(retired);
        self.retired
            .retain(|retired| now.duration_since(retired.at) < RETIRED_FOR);
        if self.retired.len() > 1000 {
            let excess = self.retired.len() - 1000;
            self.retired.drain(..excess);
        }
        // Orphans that were read out and stopped growing are done.
        self.files.retain(|tracked| {
            let done = tracked.orphan_since.is_some()
                && tracked.offset >= tracked.size
                && now.duration_since(tracked.last_growth) >= ORPHAN_GRACE;
            if done {
                tracing::debug!(path = %tracked.path.display(), "finished a rotated file");
            }
            !done
        });
    }

    fn open(&mut self, path: PathBuf, source: usize, now: Instant) {
        let Ok(file) = File::open(&path) else {
            return;
        };
        let Ok(meta) = file.metadata() else {
            return;
        };
        let (dev, ino) = identity(&meta);
        let size = meta.len();
        let head = read_head(&file, size, HEAD_BYTES).unwrap_or(Head { len: 0, hash: 0 });
        let saved = self
            .saved
            .iter()
            .position(|p| (p.dev, p.ino) == (dev, ino))
            .map(|index| self.saved.swap_remove(index))
            .filter(|p| {
                p.offset <= size
                    && head_matches(
                        &file,
                        size,
                        Head {
                            len: p.head_len,
                            hash: p.head_hash,
                        },
                    )
            });
        // A copy of a file being followed, or of content truncated away:
        // its position and name.
        let copy_of = || -> Option<(u64, PathBuf)> {
            let known = self
                .files
                .iter()
                .map(|f| (f.head, f.offset, f.before, &f.name))
                .chain(
                    self.retired
                        .iter()
                        .map(|r| (r.head, r.offset, r.before, &r.name)),
                );
            known
                .filter(|(head, ..)| head.len >= MIN_COPY_MATCH)
                .find(|(head, offset, before, _)| {
                    head_matches(&file, size, *head)
                        && (*offset == 0 || before_matches(&file, size, *offset, *before))
                })
                .map(|(_, offset, _, name)| (offset, name.clone()))
        };
        let replay_ts = saved.as_ref().and_then(|saved| saved.replay_ts);
        let mut name = path.clone();
        let offset = if let Some(saved) = saved {
            name = saved.name.unwrap_or(saved.path);
            saved.offset
        } else if let Some((offset, original)) = copy_of() {
            tracing::info!(path = %path.display(), offset, "a copy of a followed file: continuing from its position");
            name = original;
            offset.min(size)
        } else if self.first_scan && self.start_at_end {
            size
        } else {
            0
        };
        tracing::info!(path = %path.display(), offset, "following");
        let before = read_before(&file, offset);
        self.files.push(Tracked {
            source,
            name,
            path,
            dev,
            ino,
            file,
            offset,
            head,
            orphan_since: None,
            last_growth: now,
            size,
            segment_ts: replay_ts,
            before,
        });
    }

    /// Complete lines past each file's position, up to about `budget` bytes
    /// in all. Positions do not move until [`Tailer::acknowledge`].
    pub fn read(&mut self, budget: usize) -> Vec<Line> {
        let mut lines = Vec::new();
        let mut used = 0usize;
        let now = Instant::now();
        let now_ns = crate::now_ns();
        // Start with a different file each time, so one file's backlog does
        // not starve the others.
        let count = self.files.len();
        if count > 0 {
            self.next_first = (self.next_first + 1) % count;
        }
        for step in 0..count {
            if used >= budget {
                break;
            }
            let tracked = &mut self.files[(self.next_first + step) % count];
            let size = tracked
                .file
                .metadata()
                .map(|m| m.len())
                .unwrap_or(tracked.size);
            // Truncated or rewritten since the last scan: the scan restarts it.
            if size <= tracked.offset || !head_matches(&tracked.file, size, tracked.head) {
                continue;
            }
            let want = ((size - tracked.offset) as usize).min((budget - used).max(MAX_LINE_BYTES));
            // One read buffer, kept across reads (no zeroing, no page faults).
            let mut buf = std::mem::take(&mut self.buffer);
            buf.resize(want, 0);
            let Ok(got) = read_fully_at(&tracked.file, &mut buf, tracked.offset) else {
                self.buffer = buf;
                continue;
            };
            buf.truncate(got);
            let first = lines.len();
            let mut position = tracked.offset;
            let mut start = 0usize;
            let mut pieces: Vec<(&[u8], u64)> = Vec::new();
            while let Some(newline) = memchr::memchr(b'\n', &buf[start..]) {
                let end = start + newline;
                let text = &buf[start..end];
                let text = text.strip_suffix(b"\r").unwrap_or(text);
                split_line(text, position, end + 1 - start, &mut pieces);
                position += (end + 1 - start) as u64;
                start = end + 1;
            }
            let rest = &buf[start..];
            // A line longer than the limit is cut; the last unfinished line of
            // an orphan that stopped growing is sent as it is.
            let finished_orphan = tracked.orphan_since.is_some()
                && now.duration_since(tracked.last_growth) >= ORPHAN_GRACE
                && tracked.offset + buf.len() as u64 >= size;
            if rest.len() >= MAX_LINE_BYTES {
                let whole = rest.len() - rest.len() % MAX_LINE_BYTES;
                let cut = utf8_floor(rest, whole);
                split_line(&rest[..cut], position, cut, &mut pieces);
                position += cut as u64;
            } else if !rest.is_empty() && finished_orphan {
                split_line(rest, position, rest.len(), &mut pieces);
                position += rest.len() as u64;
            }
            if pieces.is_empty() {
                continue;
            }
            let reading = self.readings.get(tracked.source);
            let entries = match reading {
                None => crate::reading::Reading::default().assemble(&pieces, tracked.offset, true),
                Some(reading) => {
                    // An entry that may still grow (a partial container
                    // line, a multi-line entry) is held back unless the file
                    // has been quiet for the wait or the entry fills the
                    // read buffer.
                    let wait = reading.hold_for();
                    let quiet = now.duration_since(tracked.last_growth) >= wait
                        && tracked.offset + buf.len() as u64 >= size;
                    let full = got == want && position < size;
                    let entries =
                        reading.assemble(&pieces, tracked.offset, quiet || finished_orphan);
                    if entries.is_empty() && full {
                        reading.assemble(&pieces, tracked.offset, true)
                    } else {
                        entries
                    }
                }
            };
            if entries.is_empty() {
                continue;
            }
            let position = entries.last().map_or(tracked.offset, |entry| entry.end);
            // Timestamps: the segment's base, kept while its lines are in
            // flight, unique within the file's stream (files sharing a name
            // after a rotation never reuse one another's).
            let last = self.last_ts.get(&tracked.name).copied().unwrap_or(i64::MIN);
            let base = *tracked
                .segment_ts
                .get_or_insert(now_ns.max(last.saturating_add(1)));
            for (index, entry) in entries.into_iter().enumerate() {
                lines.push(Line {
                    source: tracked.source,
                    path: tracked.name.clone(),
                    text: entry.text,
                    file: (tracked.dev, tracked.ino),
                    end: entry.end,
                    ts: entry.ts.unwrap_or(base + index as i64),
                    stream: entry.stream,
                    fields: Vec::new(),
                });
            }
            let newest = base + (lines.len() - first) as i64 - 1;
            let entry = self.last_ts.entry(tracked.name.clone()).or_insert(newest);
            *entry = (*entry).max(newest);
            used += (position - tracked.offset) as usize;
            self.buffer = buf;
        }
        lines
    }

    /// Moves positions past delivered lines.
    pub fn acknowledge(&mut self, lines: &[Line]) {
        for line in lines {
            if let Some(tracked) = self.files.iter_mut().find(|f| (f.dev, f.ino) == line.file)
                && line.end > tracked.offset
            {
                tracked.offset = line.end;
                // The next lines of this file start a new segment.
                tracked.segment_ts = None;
            }
        }
        let moved: HashSet<(u64, u64)> = lines.iter().map(|line| line.file).collect();
        for tracked in &mut self.files {
            if moved.contains(&(tracked.dev, tracked.ino)) {
                tracked.before = read_before(&tracked.file, tracked.offset);
            }
        }
    }

    /// What to persist: every followed file, and saved positions not yet
    /// matched (their files may appear later).
    pub fn positions(&self) -> Vec<Position> {
        self.files
            .iter()
            .map(|f| Position {
                path: f.path.clone(),
                name: (f.name != f.path).then(|| f.name.clone()),
                source: f.source,
                dev: f.dev,
                ino: f.ino,
                offset: f.offset,
                head_len: f.head.len,
                head_hash: f.head.hash,
                replay_ts: f.segment_ts,
            })
            .chain(self.saved.iter().cloned())
            .collect()
    }

    /// Bytes not yet delivered, per file path (the lag).
    pub fn lag(&self) -> Vec<(PathBuf, u64)> {
        self.files
            .iter()
            .map(|f| (f.path.clone(), f.size.saturating_sub(f.offset)))
            .collect()
    }
}

/// The largest index <= `at` that starts a UTF-8 character of `bytes` (or `at` when none is found nearby).
fn utf8_floor(bytes: &[u8], at: usize) -> usize {
    let mut cut = at.min(bytes.len());
    while cut > 0 && cut < bytes.len() && (bytes[cut] & 0xC0) == 0x80 && at - cut < 4 {
        cut -= 1;
    }
    if cut == 0 { at.min(bytes.len()) } else { cut }
}

/// Cuts one line (its text, starting at file position `start`, spanning
/// `span` bytes with its newline) into pieces of at most `MAX_LINE_BYTES`,
/// on character boundaries; each piece with the position after it.
fn split_line<'a>(text: &'a [u8], start: u64, span: usize, pieces: &mut Vec<(&'a [u8], u64)>) {
    let mut from = 0usize;
    loop {
        if text.len() - from <= MAX_LINE_BYTES {
            pieces.push((&text[from..], start + span as u64));
            return;
        }
        let cut = utf8_floor(text, from + MAX_LINE_BYTES).max(from + 1);
        pieces.push((&text[from..cut], start + cut as u64));
        from = cut;
    }
}

fn read_fully_at(file: &File, buf: &mut [u8], offset: u64) -> std::io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match file.read_at(&mut buf[got..], offset + got as u64) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(err) if err.kind() == std::io::ErrorKind::Interrupted => {}
            Err(err) => return Err(err),
        }
    }
    Ok(got)
}

/// A saved file that is no longer at its path: looked for by inode among its
/// old directory's files (rotation renames within a directory).
fn find_by_inode(position: &Position) -> Option<PathBuf> {
    let dir = position.path.parent()?;
    fs::read_dir(dir).ok()?.flatten().find_map(|entry| {
        let meta = entry.metadata().ok()?;
        (meta.is_file() && identity(&meta) == (position.dev, position.ino)).then(|| entry.path())
    })
}

/// The files a glob matches: `*` and `?` within a path component, `**` as
/// a whole component for any number of directories (at most 16 deep, not
/// following symbolic links to directories), `[...]` not supported
/// (matched literally).
pub fn expand(glob: &str) -> Vec<PathBuf> {
    let path = Path::new(glob);
    let mut current: Vec<PathBuf> = vec![if path.is_absolute() {
        PathBuf::from("/")
    } else {
        PathBuf::from(".")
    }];
    for component in path.components() {
        let part = component.as_os_str().to_string_lossy();
        if matches!(component, std::path::Component::RootDir) {
            continue;
        }
        if part == "**" {
            // This directory and every directory under it.
            let mut next = Vec::new();
            for dir in &current {
                descend(dir, 0, &mut next);
            }
            current = next;
            continue;
        }
        if !part.contains(['*', '?']) {
            for dir in &mut current {
                dir.push(&*part);
            }
            continue;
        }
        let mut next = Vec::new();
        for dir in &current {
            let Ok(entries) = fs::read_dir(dir) else {
                continue;
            };
            let mut names: Vec<String> = entries
                .flatten()
                .map(|entry| entry.file_name().to_string_lossy().into_owned())
                .filter(|name| wildcard_match(&part, name))
                .collect();
            names.sort();
            next.extend(names.into_iter().map(|name| dir.join(name)));
        }
        current = next;
    }
    current.retain(|path| path.is_file());
    current.sort();
    current.dedup();
    current
}

/// `dir` and its subdirectories, down to 16 levels.
fn descend(dir: &Path, depth: usize, out: &mut Vec<PathBuf>) {
    out.push(dir.to_path_buf());
    if depth >= 16 {
        return;
    }
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    let mut subdirs: Vec<PathBuf> = entries
        .flatten()
        .filter(|entry| entry.file_type().is_ok_and(|kind| kind.is_dir()))
        .map(|entry| entry.path())
        .collect();
    subdirs.sort();
    for subdir in subdirs {
        descend(&subdir, depth + 1, out);
    }
}

/// `*` matches any run of characters, `?` one character (a leading `.` only explicitly).
pub fn wildcard_match(pattern: &str, name: &str) -> bool {
    if name.starts_with('.') && !pattern.starts_with('.') {
        return false;
    }
    let (p, n): (Vec<char>, Vec<char>) = (pattern.chars().collect(), name.chars().collect());
    let (mut pi, mut ni) = (0, 0);
    let (mut star, mut mark) = (None, 0);
    while ni < n.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == n[ni]) {
            pi += 1;
            ni += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ni;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ni = mark;
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == '*' {
        pi += 1;
    }
    pi == p.len()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn wildcards() {
        assert!(wildcard_match("*.log", "app.log"));
        assert!(wildcard_match("app.log*", "app.log"));
        assert!(wildcard_match("app.log*", "app.log.1"));
        assert!(wildcard_match("a?c", "abc"));
        assert!(!wildcard_match("*.log", "app.txt"));
        assert!(!wildcard_match("*", ".hidden"));
        assert!(wildcard_match("*a*b*c", "xaybzc"));
    }

    #[test]
    fn double_star_matches_any_depth() {
        let dir = tempfile::tempdir().unwrap();
        for path in ["a.log", "x/b.log", "x/y/c.log", "x/y/z/d.txt"] {
            let path = dir.path().join(path);
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(&path, "line\n").unwrap();
        }
        let found: Vec<String> = expand(&format!("{}/**/*.log", dir.path().display()))
            .into_iter()
            .map(|p| p.strip_prefix(dir.path()).unwrap().display().to_string())
            .collect();
        assert_eq!(found, ["a.log", "x/b.log", "x/y/c.log"]);
    }

    fn append(path: &Path, text: &str) {
        let mut file = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .unwrap();
        file.write_all(text.as_bytes()).unwrap();
    }

    fn texts(lines: &[Line]) -> Vec<&str> {
        lines.iter().map(|line| line.text.as_str()).collect()
    }

    fn step(tailer: &mut Tailer) -> Vec<Line> {
        tailer.scan();
        let lines = tailer.read(1 << 20);
        tailer.acknowledge(&lines);
        lines
    }

    #[test]
    fn rename_and_copytruncate_rotations_lose_and_repeat_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("app.log");
        let glob = format!("{}/app.log*", dir.path().display());
        let mut tailer = Tailer::new(vec![(glob, 0)], Vec::new(), false);
        let long = "x".repeat(80);
        append(&log, &format!("one {long}\ntwo {long}\npartial"));
        assert_eq!(
            texts(&step(&mut tailer)),
            [format!("one {long}"), format!("two {long}")]
        );
        append(&log, " done\n");
        assert_eq!(texts(&step(&mut tailer)), ["partial done"]);

        // rename + create, with a line written to the old file after the rename.
        fs::rename(&log, dir.path().join("app.log.1")).unwrap();
        append(&dir.path().join("app.log.1"), "late\n");
        append(&log, &format!("three {long}\n"));
        let mut got = texts(&step(&mut tailer))
            .into_iter()
            .map(String::from)
            .collect::<Vec<_>>();
        got.sort();
        assert_eq!(got, ["late".to_string(), format!("three {long}")]);

        // copytruncate: the copy continues from the position, the original restarts.
        append(&log, "four\n");
        fs::copy(&log, dir.path().join("app.log.2")).unwrap();
        let file = fs::OpenOptions::new().write(true).open(&log).unwrap();
        file.set_len(0).unwrap();
        append(&log, &format!("five {long}\n"));
        let mut got = texts(&step(&mut tailer))
            .into_iter()
            .map(String::from)
            .collect::<Vec<_>>();
        got.sort();
        assert_eq!(got, [format!("five {long}"), "four".to_string()]);
        assert!(step(&mut tailer).is_empty());
    }

    #[test]
    fn a_saved_position_resumes_and_a_rewritten_file_restarts() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("a.log");
        let glob = format!("{}/*.log", dir.path().display());
        append(&log, "first\nsecond\n");
        let mut tailer = Tailer::new(vec![(glob.clone(), 0)], Vec::new(), false);
        assert_eq!(texts(&step(&mut tailer)), ["first", "second"]);
        let saved = tailer.positions();
        append(&log, "third\n");
        let mut again = Tailer::new(vec![(glob.clone(), 0)], saved.clone(), false);
        assert_eq!(texts(&step(&mut again)), ["third"]);
        // Same inode, other content (rewritten in place): read from the start.
        fs::write(&log, "new content\n").unwrap();
        let mut rewritten = Tailer::new(vec![(glob.clone(), 0)], saved, false);
        assert_eq!(texts(&step(&mut rewritten)), ["new content"]);
        // start at end: only what comes after.
        let mut from_end = Tailer::new(vec![(glob, 0)], Vec::new(), true);
        assert!(step(&mut from_end).is_empty());
        append(&log, "after\n");
        assert_eq!(texts(&step(&mut from_end)), ["after"]);
    }

    #[test]
    fn long_lines_are_cut_on_character_boundaries() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("big.log");
        let long = "é".repeat(MAX_LINE_BYTES); // 2 bytes a character
        append(&log, &format!("{long}\nshort\n"));
        let mut tailer = Tailer::new(
            vec![(format!("{}/*.log", dir.path().display()), 0)],
            Vec::new(),
            false,
        );
        let lines = step(&mut tailer);
        assert_eq!(lines.len(), 3);
        assert!(
            lines
                .iter()
                .all(|line| line.text.len() <= MAX_LINE_BYTES && !line.text.contains('\u{FFFD}'))
        );
        assert_eq!(lines[0].text.len() + lines[1].text.len(), long.len());
        assert_eq!(lines[2].text, "short");
        assert_eq!(lines[2].end, (long.len() + 7) as u64);
    }

    #[test]
    fn files_sharing_a_name_never_share_timestamps() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("app.log");
        let glob = format!("{}/app.log*", dir.path().display());
        let mut tailer = Tailer::new(vec![(glob, 0)], Vec::new(), false);
        append(&log, "first\n");
        step(&mut tailer);
        // The renamed file (same name label) and the new one are read together.
        append(&log, "same\n");
        fs::rename(&log, dir.path().join("app.log.1")).unwrap();
        append(&log, "same\n");
        let lines = step(&mut tailer);
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0].path, lines[1].path);
        assert_ne!(lines[0].ts, lines[1].ts);
    }

    #[test]
    fn a_new_file_with_the_same_first_bytes_is_not_taken_for_a_copy() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("app.log");
        let glob = format!("{}/app.log*", dir.path().display());
        // A banner longer than the first bytes a file is known by.
        let banner = format!("{}\n", "=".repeat(1100));
        let banner = banner.as_str();
        let mut tailer = Tailer::new(vec![(glob, 0)], Vec::new(), false);
        let day_one: String = (0..40).map(|i| format!("day one line {i:03}\n")).collect();
        append(&log, &format!("{banner}{day_one}"));
        assert_eq!(step(&mut tailer).len(), 41);
        // Daily rotation: renamed away, and the new file starts with the same banner.
        fs::rename(&log, dir.path().join("app.log.1")).unwrap();
        append(&log, &format!("{banner}day two a\nday two b\n"));
        let lines = step(&mut tailer);
        assert_eq!(texts(&lines), [banner.trim_end(), "day two a", "day two b"]);
    }
}
