//! `strata agent`: follows log files and ships their lines to a strata (or
//! Loki) server, at least once.
//!
//! The loop: scan the globs ([`tail::Tailer`]), read complete lines past each
//! file's position, push them ([`ship::LokiOutput`], retried until the server
//! answers), and only then move the positions and persist them
//! ([`positions`]). A crash anywhere re-sends what was not acknowledged; a
//! line is never skipped.

pub mod config;
pub mod monitor;
pub mod positions;
pub mod ship;
pub mod tail;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use strata_model::Labels;

use crate::ship::{Batch, Delivery, LokiOutput};
use crate::tail::{Line, Tailer};
use strata_model::Entry;

/// Files to follow, the labels of their streams, and what is done to each
/// line before it is sent.
#[derive(Debug, Clone)]
pub struct FileSource {
    /// Globs (`*` and `?` within path components).
    pub paths: Vec<String>,
    /// Labels of the source's streams; each file's stream adds `filename`.
    pub labels: Labels,
    /// LogQL pipeline stages run on each line (`| json | level!="debug"`):
    /// the server's own parsers, filters and formatters. A line they filter
    /// out is not sent (its position still moves).
    pub pipeline: Option<std::sync::Arc<strata_query::Pipeline>>,
    /// Labels the pipeline extracted that become stream labels.
    pub promote: Vec<String>,
    /// Labels the pipeline extracted that are sent as structured metadata.
    pub metadata: Vec<String>,
}

impl FileSource {
    pub fn new(paths: Vec<String>, labels: Labels) -> FileSource {
        FileSource {
            paths,
            labels,
            pipeline: None,
            promote: Vec::new(),
            metadata: Vec::new(),
        }
    }
}

/// What `strata agent` runs with.
#[derive(Debug, Clone)]
pub struct AgentOptions {
    /// The files to follow.
    pub sources: Vec<FileSource>,
    /// The server: a base URL or its push URL.
    pub push_url: String,
    /// Where positions are kept.
    pub positions: PathBuf,
    /// Tenant (X-Scope-OrgID).
    pub tenant: Option<String>,
    /// Files found at the first start (no saved position) are read from
    /// their end, not their start.
    pub start_at_end: bool,
    /// Most line bytes per push.
    pub batch_bytes: usize,
    /// How often the files are scanned when there is nothing to read.
    pub poll: Duration,
    /// Where refused batches go (with the reason).
    pub dead_letter: Option<PathBuf>,
}

impl AgentOptions {
    pub fn new(
        paths: Vec<String>,
        push_url: String,
        labels: Labels,
        positions: PathBuf,
    ) -> AgentOptions {
        AgentOptions {
            sources: vec![FileSource::new(paths, labels)],
            push_url,
            positions,
            tenant: None,
            start_at_end: false,
            batch_bytes: 1 << 20,
            poll: Duration::from_millis(250),
            dead_letter: None,
        }
    }
}

/// Counters of a running agent.
#[derive(Debug, Default)]
pub struct AgentStats {
    pub lines_read: AtomicU64,
    pub lines_sent: AtomicU64,
    pub bytes_sent: AtomicU64,
    pub batches: AtomicU64,
    /// Push attempts that failed and were retried.
    pub retries: AtomicU64,
    /// Lines the server refused for good (dead-lettered).
    pub refused_lines: AtomicU64,
    /// Lines a source's pipeline filtered out.
    pub filtered_lines: AtomicU64,
    /// Whether the last push attempt succeeded (1) or not (0).
    pub last_push_ok: AtomicU64,
    /// Per followed file: bytes not yet delivered.
    pub lag: std::sync::Mutex<Vec<(PathBuf, u64)>>,
}

/// Groups lines into streams (the source's labels, `filename`, and promoted
/// labels) with their timestamps (see `Position::replay_ts`), after the
/// source's pipeline. Returns the batch and the number of lines filtered out.
fn batch_of(lines: &mut [Line], sources: &[FileSource]) -> (Batch, u64) {
    let mut streams: BTreeMap<String, Vec<Entry>> = BTreeMap::new();
    let mut filtered = 0;
    // Lines come file by file: the labels of the current file, and the
    // stream name of the current promoted labels, are built once per run.
    let mut file: Option<(usize, PathBuf, Labels)> = None;
    let mut stream: Option<(Vec<(String, String)>, String)> = None;
    for line in lines {
        let Some(source) = sources.get(line.source) else {
            continue;
        };
        if file
            .as_ref()
            .is_none_or(|(index, path, _)| *index != line.source || *path != line.path)
        {
            let mut pairs = source.labels.pairs().to_vec();
            pairs.retain(|(name, _)| name != "filename");
            pairs.push(("filename".to_string(), line.path.display().to_string()));
            file = Some((line.source, line.path.clone(), Labels::from_pairs(pairs)));
            stream = None;
        }
        let Some((_, _, labels)) = &file else {
            continue;
        };
        let text = std::mem::take(&mut line.text);
        let (promoted, entry) = match &source.pipeline {
            None => (
                Vec::new(),
                Entry {
                    ts_ns: line.ts,
                    line: text,
                    metadata: Vec::new(),
                },
            ),
            Some(pipeline) => {
                let Some(processed) = pipeline.process(line.ts, &text, labels, &[]) else {
                    filtered += 1;
                    continue;
                };
                let pick = |names: &[String]| -> Vec<(String, String)> {
                    names
                        .iter()
                        .filter_map(|name| {
                            processed
                                .labels
                                .get(name)
                                .filter(|value| !value.is_empty())
                                .map(|value| (name.clone(), value.to_string()))
                        })
                        .collect()
                };
                (
                    pick(&source.promote),
                    Entry {
                        ts_ns: line.ts,
                        line: processed.line,
                        metadata: pick(&source.metadata),
                    },
                )
            }
        };
        if stream
            .as_ref()
            .is_none_or(|(current, _)| *current != promoted)
        {
            let mut pairs = labels.pairs().to_vec();
            for (name, value) in &promoted {
                pairs.retain(|(existing, _)| existing != name);
                pairs.push((name.clone(), value.clone()));
            }
            stream = Some((promoted, Labels::from_pairs(pairs).to_string()));
        }
        let Some((_, name)) = &stream else {
            continue;
        };
        match streams.get_mut(name) {
            Some(entries) => entries.push(entry),
            None => {
                streams.insert(name.clone(), vec![entry]);
            }
        }
    }
    (streams.into_iter().collect(), filtered)
}

/// Runs until `stop` is set: follows, ships, acknowledges, persists.
pub fn run(options: &AgentOptions, stop: &AtomicBool, stats: &AgentStats) -> anyhow::Result<()> {
    let saved = positions::load(&options.positions)?;
    let output = LokiOutput::new(
        &options.push_url,
        options.tenant.clone(),
        options.dead_letter.clone(),
    )?;
    let globs = options
        .sources
        .iter()
        .enumerate()
        .flat_map(|(index, source)| source.paths.iter().map(move |glob| (glob.clone(), index)))
        .collect();
    let mut tailer = Tailer::new(globs, saved, options.start_at_end);
    let mut last_scan = Instant::now() - options.poll;
    let mut persisted = tailer.positions();
    while !stop.load(Ordering::Relaxed) {
        if last_scan.elapsed() >= options.poll {
            tailer.scan();
            last_scan = Instant::now();
            if let Ok(mut lag) = stats.lag.lock() {
                *lag = tailer.lag();
            }
        }
        let mut lines = tailer.read(options.batch_bytes);
        if lines.is_empty() {
            let positions = tailer.positions();
            if positions != persisted {
                positions::save(&options.positions, &positions)?;
                persisted = positions;
            }
            std::thread::sleep(options.poll.min(Duration::from_millis(100)));
            continue;
        }
        stats
            .lines_read
            .fetch_add(lines.len() as u64, Ordering::Relaxed);
        let line_bytes: u64 = lines.iter().map(|l| l.text.len() as u64).sum();
        let (batch, filtered) = batch_of(&mut lines, &options.sources);
        stats.filtered_lines.fetch_add(filtered, Ordering::Relaxed);
        // The batch's timestamps are saved before it leaves: sent again after
        // a crash, its lines are the same entries and the server drops them.
        let in_flight = tailer.positions();
        if in_flight != persisted {
            positions::save(&options.positions, &in_flight)?;
        }
        let sent = output.send(&batch, stop);
        stats.retries.store(
            output.stats.retries.load(Ordering::Relaxed),
            Ordering::Relaxed,
        );
        stats.refused_lines.store(
            output.stats.refused_lines.load(Ordering::Relaxed),
            Ordering::Relaxed,
        );
        stats
            .last_push_ok
            .store(u64::from(sent == Delivery::Accepted), Ordering::Relaxed);
        match sent {
            Delivery::Stopped => break,
            Delivery::Accepted | Delivery::Refused(_) => {}
        }
        stats
            .lines_sent
            .fetch_add(lines.len() as u64, Ordering::Relaxed);
        stats.bytes_sent.fetch_add(line_bytes, Ordering::Relaxed);
        stats.batches.fetch_add(1, Ordering::Relaxed);
        tailer.acknowledge(&lines);
        let positions = tailer.positions();
        positions::save(&options.positions, &positions)?;
        persisted = positions;
    }
    Ok(())
}
