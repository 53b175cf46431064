//! `strata agent`: follows log files and ships their lines to a strata (or
//! Loki) server, at least once.
//!
//! The loop: scan the globs ([`tail::Tailer`]), read complete entries past
//! each file's position ([`reading`]: container formats, multi-line), run
//! them through their source's [`stages`], send each output its records
//! ([`output`], retried until the destination answers), and only then move
//! the positions and persist them ([`positions`]). A crash anywhere re-sends
//! what was not acknowledged; a line is never skipped.

pub mod config;
pub mod grok;
pub mod kubernetes;
pub mod monitor;
pub mod output;
pub mod positions;
pub mod reading;
pub mod stages;
pub mod streams;
pub mod tail;
pub mod timefmt;

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use strata_model::{Entry, Labels};

use crate::output::{Batch, Delivery, Output, OutputConfig, Stream};
use crate::reading::Reading;
use crate::stages::{MetricRegistry, Reads, Record, StageConfig, Stages, Verdict};
use crate::tail::{Line, Tailer};

/// Where a source's lines come from.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum SourceKind {
    /// Files matching `paths`.
    #[default]
    Files,
    /// The agent's standard input.
    Stdin,
    /// The systemd journal.
    Journald(streams::JournalOptions),
}

/// Files (or stdin, or the journal) to follow, the labels of their streams,
/// and what is done to each line before it is sent.
#[derive(Debug, Clone)]
pub struct FileSource {
    pub kind: SourceKind,
    /// Globs (`*` and `?` within path components).
    pub paths: Vec<String>,
    /// Labels of the source's streams; each file's stream adds `filename`.
    pub labels: Labels,
    /// The stages each line goes through (see [`stages`]).
    pub stages: Vec<StageConfig>,
    /// Container log format and multi-line joining.
    pub reading: Reading,
    /// Add `namespace`, `pod`, `container` (and the pod uid or container
    /// id) labels from Kubernetes log paths.
    pub kubernetes: bool,
    /// The outputs its records go to (by name); None: every output.
    pub outputs: Option<Vec<String>>,
    /// Pod labels from the Kubernetes API (kubernetes sources).
    pub api: Option<kubernetes::ApiConfig>,
}

impl FileSource {
    pub fn new(paths: Vec<String>, labels: Labels) -> FileSource {
        FileSource {
            kind: SourceKind::Files,
            paths,
            labels,
            stages: Vec::new(),
            reading: Reading::default(),
            kubernetes: false,
            outputs: None,
            api: None,
        }
    }
}

/// What `strata agent` runs with.
#[derive(Debug, Clone)]
pub struct AgentOptions {
    /// The files to follow.
    pub sources: Vec<FileSource>,
    /// Where records go; names are unique.
    pub outputs: Vec<OutputConfig>,
    /// Where positions are kept.
    pub positions: PathBuf,
    /// Files found at the first start (no saved position) are read from
    /// their end, not their start.
    pub start_at_end: bool,
    /// Most line bytes per push.
    pub batch_bytes: usize,
    /// How long to wait for a batch to fill before sending it (0: send
    /// what each read finds).
    pub batch_wait: Duration,
    /// How often the files are scanned when there is nothing to read.
    pub poll: Duration,
}

impl AgentOptions {
    /// One source and one strata/Loki output: the command-line form.
    pub fn new(
        paths: Vec<String>,
        push_url: String,
        labels: Labels,
        positions: PathBuf,
    ) -> AgentOptions {
        AgentOptions {
            sources: vec![FileSource::new(paths, labels)],
            outputs: vec![OutputConfig::Loki(output::loki::LokiConfig {
                name: None,
                url: push_url,
                tenant: None,
                dead_letter: None,
                compression: None,
                username: None,
                password: None,
                timeout: None,
                tls: None,
                buffer: None,
            })],
            positions,
            start_at_end: false,
            batch_bytes: 1 << 20,
            batch_wait: Duration::ZERO,
            poll: Duration::from_millis(250),
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
    /// Send attempts that failed and were retried, all outputs.
    pub retries: AtomicU64,
    /// Lines an output refused for good (dead-lettered).
    pub refused_lines: AtomicU64,
    /// Lines the stages dropped, by reason.
    pub dropped: std::sync::Mutex<BTreeMap<String, u64>>,
    /// Whether the last send succeeded (1) or not (0).
    pub last_push_ok: AtomicU64,
    /// Per followed file: bytes not yet delivered.
    pub lag: std::sync::Mutex<Vec<(PathBuf, u64)>>,
    /// The series of metrics stages.
    pub custom: Arc<MetricRegistry>,
    /// Per buffered output (by name), its disk buffer's counters.
    pub buffers: std::sync::Mutex<Vec<(String, Arc<output::buffer::BufferStats>)>>,
    /// Per output (by name): lines delivered, retries, lines refused.
    pub outputs: std::sync::Mutex<Vec<(String, Arc<output::OutputStats>)>>,
}

/// A source ready to run: its compiled stages and default outputs.
struct Compiled {
    stages: Stages,
    outputs: Vec<usize>,
    /// Pod labels from the Kubernetes API, when the source asks for them.
    pods: Option<Arc<kubernetes::PodDirectory>>,
}

/// Compiles every source's stages and checks the outputs they name.
fn compile(
    options: &AgentOptions,
    metrics: &Arc<MetricRegistry>,
    stop: Arc<AtomicBool>,
) -> anyhow::Result<Vec<Compiled>> {
    let names: Vec<String> = options
        .outputs
        .iter()
        .map(|o| o.name().to_string())
        .collect();
    for (index, name) in names.iter().enumerate() {
        if names[..index].contains(name) {
            anyhow::bail!("outputs: two outputs are named {name:?}; give each a name");
        }
    }
    if names.is_empty() {
        anyhow::bail!("outputs: at least one output is needed");
    }
    let any_writes_fields = options.outputs.iter().any(OutputConfig::writes_fields);
    let context = stages::CompileContext {
        outputs: &names,
        metrics,
        stop,
    };
    let mut compiled = Vec::new();
    for (index, source) in options.sources.iter().enumerate() {
        let mut stages = stages::compile(&source.stages, &context)
            .map_err(|err| anyhow::anyhow!("sources[{index}].{err}"))?;
        stages.set_wanted(if any_writes_fields {
            Reads::All
        } else {
            Reads::none()
        });
        let outputs = match &source.outputs {
            None => (0..names.len()).collect(),
            Some(chosen) => {
                let mut outputs = Vec::new();
                for name in chosen {
                    let Some(at) = names.iter().position(|n| n == name) else {
                        anyhow::bail!(
                            "sources[{index}].outputs: no output is named {name:?} (outputs: {})",
                            names.join(", ")
                        );
                    };
                    outputs.push(at);
                }
                outputs
            }
        };
        compiled.push(Compiled {
            stages,
            outputs,
            pods: None,
        });
    }
    Ok(compiled)
}

/// Checks what [`run`] would check first: stages compile, outputs are
/// valid and named.
pub fn check(options: &AgentOptions) -> anyhow::Result<()> {
    compile(
        options,
        &Arc::new(MetricRegistry::default()),
        Arc::default(),
    )?;
    for (index, output) in options.outputs.iter().enumerate() {
        Output::new(output).map_err(|err| anyhow::anyhow!("outputs[{index}].{err}"))?;
    }
    Ok(())
}

pub(crate) fn now_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// The labels every line of a file (and container stream) starts with.
fn base_labels(
    source: &FileSource,
    path: &std::path::Path,
    stream: Option<&str>,
    pods: Option<&kubernetes::PodDirectory>,
) -> Labels {
    let mut pairs: Vec<(String, String)> = source
        .labels
        .pairs()
        .iter()
        .filter(|(name, _)| name != "filename")
        .cloned()
        .collect();
    if source.kind == SourceKind::Files {
        pairs.push(("filename".to_string(), path.display().to_string()));
    }
    let mut extra: Vec<(String, String)> = Vec::new();
    if source.kubernetes {
        let from_path = reading::kubernetes_labels(path);
        if let Some(pods) = pods {
            let get = |name: &str| {
                from_path
                    .iter()
                    .find(|(n, _)| n == name)
                    .map_or("", |(_, v)| v.as_str())
            };
            extra.extend(pods.labels(get("namespace"), get("pod")));
        }
        extra.extend(from_path);
    }
    if let Some(stream) = stream {
        extra.push(("stream".to_string(), stream.to_string()));
    }
    for (name, value) in extra {
        // The source's own labels win.
        if !pairs.iter().any(|(n, _)| *n == name) {
            pairs.push((name, value));
        }
    }
    Labels::from_pairs(pairs)
}

/// Labels set by stages, the stream they make, and its text form.
type StageLabels = (Vec<(String, String)>, Labels, String);

/// Runs each line through its source's stages and sorts the records into
/// one batch per output (streams by label set). Returns the batches.
fn route(
    lines: &mut [Line],
    sources: &[FileSource],
    compiled: &mut [Compiled],
    writes_fields: &[bool],
    stats: &AgentStats,
) -> Vec<Batch> {
    let mut batches: Vec<Batch> = vec![Vec::new(); writes_fields.len()];
    let mut index: Vec<HashMap<String, usize>> = vec![HashMap::new(); writes_fields.len()];
    let mut dropped: BTreeMap<String, u64> = BTreeMap::new();
    // Lines come file by file: the labels of the current file, and the
    // stream of the current stage-set labels, are built once per run.
    let mut file: Option<(usize, PathBuf, Option<&'static str>, Labels, String)> = None;
    let mut stream: Option<StageLabels> = None;
    for line in lines {
        let (Some(source), Some(compiled)) =
            (sources.get(line.source), compiled.get_mut(line.source))
        else {
            continue;
        };
        if file.as_ref().is_none_or(|(index, path, kind, _, _)| {
            *index != line.source || *path != line.path || *kind != line.stream
        }) {
            let labels = base_labels(source, &line.path, line.stream, compiled.pods.as_deref());
            let name = labels.to_string();
            file = Some((line.source, line.path.clone(), line.stream, labels, name));
            stream = None;
        }
        let Some((_, _, _, base, base_name)) = &file else {
            continue;
        };
        let mut record = Record::new(line.ts, std::mem::take(&mut line.text));
        record.fields = std::mem::take(&mut line.fields);
        if !compiled.stages.is_empty()
            && let Verdict::Drop(reason) = compiled.stages.process(&mut record, base)
        {
            *dropped.entry(reason.into_owned()).or_default() += 1;
            continue;
        }
        let (labels, name) = if record.labels.is_empty() {
            (base, base_name)
        } else {
            if stream
                .as_ref()
                .is_none_or(|(set, _, _)| *set != record.labels)
            {
                let labels = record.stream(base).into_owned();
                let name = labels.to_string();
                stream = Some((record.labels.clone(), labels, name));
            }
            match &stream {
                Some((_, labels, name)) => (labels, name),
                None => continue,
            }
        };
        let targets = record.outputs.as_ref().unwrap_or(&compiled.outputs);
        let fields = if targets
            .iter()
            .any(|&target| writes_fields.get(target) == Some(&true))
        {
            record.fields_json()
        } else {
            serde_json::Map::new()
        };
        let entry = Entry {
            ts_ns: record.ts_ns,
            line: record.line,
            metadata: record.metadata,
        };
        // The last target takes the entry; the others get copies.
        let mut entry = Some(entry);
        let mut fields = Some(fields);
        for (position, &target) in targets.iter().enumerate() {
            let last = position + 1 == targets.len();
            let (Some(batch), Some(streams)) = (batches.get_mut(target), index.get_mut(target))
            else {
                continue;
            };
            let at = match streams.get(name.as_str()) {
                Some(&at) => at,
                None => {
                    batch.push(Stream {
                        labels: labels.clone(),
                        name: name.clone(),
                        entries: Vec::new(),
                        fields: Vec::new(),
                    });
                    streams.insert(name.clone(), batch.len() - 1);
                    batch.len() - 1
                }
            };
            let (Some(this_entry), Some(these_fields)) = (if last {
                (entry.take(), fields.take())
            } else {
                (entry.clone(), fields.clone())
            }) else {
                continue;
            };
            batch[at].entries.push(this_entry);
            if writes_fields[target] {
                batch[at].fields.push(these_fields);
            }
        }
    }
    if !dropped.is_empty()
        && let Ok(mut totals) = stats.dropped.lock()
    {
        for (reason, count) in dropped {
            *totals.entry(reason).or_default() += count;
        }
    }
    batches
}

/// Runs until `stop` is set: follows, ships, acknowledges, persists.
pub fn run(options: &AgentOptions, stop: &AtomicBool, stats: &AgentStats) -> anyhow::Result<()> {
    // Stages that wait (limit) see `stop` through a shared flag.
    let stopping = Arc::new(AtomicBool::new(false));
    let finished = AtomicBool::new(false);
    std::thread::scope(|scope| {
        scope.spawn(|| {
            while !finished.load(Ordering::Relaxed) {
                if stop.load(Ordering::Relaxed) {
                    stopping.store(true, Ordering::Relaxed);
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        });
        let result = run_until_stopped(options, stop, stats, stopping.clone());
        finished.store(true, Ordering::Relaxed);
        result
    })
}

/// Saved positions and cursors whose source no longer is what they were
/// saved for (the config changed) are forgotten, with a warning: their
/// files are then read as new ones (from the start: duplicates, not loss).
fn sanitize_saved(
    options: &AgentOptions,
    saved: Vec<positions::Position>,
    cursors: positions::Cursors,
) -> (Vec<positions::Position>, positions::Cursors) {
    let is = |index: usize, files: bool| {
        options
            .sources
            .get(index)
            .is_some_and(|source| match source.kind {
                SourceKind::Files => files,
                SourceKind::Journald(_) => !files,
                SourceKind::Stdin => false,
            })
    };
    let (kept, dropped): (Vec<_>, Vec<_>) = saved.into_iter().partition(|p| is(p.source, true));
    for position in dropped {
        tracing::warn!(path = %position.path.display(), source = position.source, "a saved position belongs to a source the config no longer has; forgotten");
    }
    let cursors = cursors
        .into_iter()
        .filter(|(index, _)| {
            let keep = is(*index, false);
            if !keep {
                tracing::warn!(
                    source = index,
                    "a saved journal cursor belongs to a source the config no longer has; forgotten"
                );
            }
            keep
        })
        .collect();
    (kept, cursors)
}

fn run_until_stopped(
    options: &AgentOptions,
    stop: &AtomicBool,
    stats: &AgentStats,
    stopping: Arc<AtomicBool>,
) -> anyhow::Result<()> {
    let (saved, cursors) = positions::load_all(&options.positions)?;
    let (saved, cursors) = sanitize_saved(options, saved, cursors);
    let mut compiled = compile(options, &stats.custom, stopping)?;
    for (index, source) in options.sources.iter().enumerate() {
        if let (Some(api), Some(compiled)) = (&source.api, compiled.get_mut(index)) {
            let pods = kubernetes::PodDirectory::new(api)
                .map_err(|err| anyhow::anyhow!("sources[{index}].{err}"))?;
            pods.start()?;
            compiled.pods = Some(pods);
        }
    }
    let mut outputs = Vec::new();
    for (index, config) in options.outputs.iter().enumerate() {
        let buffer_stats = Arc::new(output::buffer::BufferStats::default());
        if config.buffer().is_some()
            && let Ok(mut buffers) = stats.buffers.lock()
        {
            buffers.push((config.name().to_string(), buffer_stats.clone()));
        }
        let output = Output::open(config, buffer_stats)
            .map_err(|err| anyhow::anyhow!("outputs[{index}].{err}"))?;
        if let Ok(mut registered) = stats.outputs.lock() {
            registered.push((config.name().to_string(), output.stats().clone()));
        }
        outputs.push(output);
    }
    let writes_fields: Vec<bool> = options
        .outputs
        .iter()
        .map(OutputConfig::writes_fields)
        .collect();
    let globs = options
        .sources
        .iter()
        .enumerate()
        .filter(|(_, source)| source.kind == SourceKind::Files)
        .flat_map(|(index, source)| source.paths.iter().map(move |glob| (glob.clone(), index)))
        .collect();
    let mut readers: Vec<Box<dyn streams::LineReader>> = Vec::new();
    for (index, source) in options.sources.iter().enumerate() {
        match &source.kind {
            SourceKind::Files => {}
            SourceKind::Stdin => readers.push(Box::new(streams::StdinReader::spawn(index)?)),
            SourceKind::Journald(journal) => readers.push(Box::new(streams::JournalReader::spawn(
                index,
                journal,
                cursors.get(&index).cloned(),
                options.start_at_end,
            )?)),
        }
    }
    let only_stdin = options
        .sources
        .iter()
        .all(|source| source.kind == SourceKind::Stdin);
    let cursors_of = |readers: &[Box<dyn streams::LineReader>]| -> positions::Cursors {
        let mut saved = cursors.clone();
        saved.extend(readers.iter().filter_map(|reader| reader.cursor()));
        saved
    };
    let readings = options.sources.iter().map(|s| s.reading.clone()).collect();
    let mut tailer = Tailer::new(globs, saved, options.start_at_end).with_readings(readings);
    let mut last_scan = Instant::now() - options.poll;
    let mut persisted = (tailer.positions(), cursors_of(&readers));
    let mut waiting_since: Option<Instant> = None;
    while !stop.load(Ordering::Relaxed) {
        if last_scan.elapsed() >= options.poll {
            tailer.scan();
            last_scan = Instant::now();
            if let Ok(mut lag) = stats.lag.lock() {
                *lag = tailer.lag();
            }
        }
        let mut lines = tailer.read(options.batch_bytes);
        for reader in &mut readers {
            let budget = options
                .batch_bytes
                .saturating_sub(lines.iter().map(|l| l.text.len()).sum());
            lines.extend(reader.read(budget.max(1)));
        }
        if lines.is_empty() {
            let now = (tailer.positions(), cursors_of(&readers));
            if now != persisted {
                positions::save_all(&options.positions, &now.0, &now.1)?;
                persisted = now;
            }
            if only_stdin && readers.iter().all(|reader| reader.finished()) {
                // Everything is acknowledged; what a disk buffer holds is
                // sent before the agent exits.
                while !stop.load(Ordering::Relaxed)
                    && outputs.iter().any(|output| output.held() > 0)
                {
                    std::thread::sleep(Duration::from_millis(50));
                }
                break;
            }
            std::thread::sleep(options.poll.min(Duration::from_millis(100)));
            continue;
        }
        let line_bytes: u64 = lines.iter().map(|l| l.text.len() as u64).sum();
        // A small batch waits (up to batch_wait) for more lines; the lines
        // are read again then, so nothing has been processed yet.
        if !options.batch_wait.is_zero() && (line_bytes as usize) < options.batch_bytes {
            let since = *waiting_since.get_or_insert_with(Instant::now);
            if since.elapsed() < options.batch_wait {
                let left = options.batch_wait.saturating_sub(since.elapsed());
                std::thread::sleep(options.poll.min(left));
                continue;
            }
        }
        waiting_since = None;
        stats
            .lines_read
            .fetch_add(lines.len() as u64, Ordering::Relaxed);
        let batches = route(
            &mut lines,
            &options.sources,
            &mut compiled,
            &writes_fields,
            stats,
        );
        if stop.load(Ordering::Relaxed) {
            // Stages may have given up on records (a waiting limit): send
            // and acknowledge nothing; they are read again next time.
            break;
        }
        // The batch's timestamps are saved before it leaves: sent again after
        // a crash, its lines are the same entries and the server drops them.
        let in_flight = (tailer.positions(), cursors_of(&readers));
        if in_flight != persisted {
            positions::save_all(&options.positions, &in_flight.0, &in_flight.1)?;
        }
        let mut all_ok = true;
        for (output, batch) in outputs.iter().zip(&batches) {
            if batch.is_empty() {
                continue;
            }
            match output.send(batch, stop) {
                Delivery::Stopped => return Ok(()),
                Delivery::Accepted => {}
                Delivery::Refused(_) => all_ok = false,
            }
        }
        let (retries, refused) = outputs.iter().fold((0, 0), |(r, f), output| {
            (
                r + output.stats().retries.load(Ordering::Relaxed),
                f + output.stats().refused_lines.load(Ordering::Relaxed),
            )
        });
        stats.retries.store(retries, Ordering::Relaxed);
        stats.refused_lines.store(refused, Ordering::Relaxed);
        stats
            .last_push_ok
            .store(u64::from(all_ok), Ordering::Relaxed);
        stats
            .lines_sent
            .fetch_add(lines.len() as u64, Ordering::Relaxed);
        stats.bytes_sent.fetch_add(line_bytes, Ordering::Relaxed);
        stats.batches.fetch_add(1, Ordering::Relaxed);
        tailer.acknowledge(&lines);
        for reader in &mut readers {
            reader.acknowledge(&lines);
        }
        let now = (tailer.positions(), cursors_of(&readers));
        positions::save_all(&options.positions, &now.0, &now.1)?;
        persisted = now;
    }
    Ok(())
}
