//! `strata-corpus generate`: the main loop. Entries are produced in one
//! global time order: each picks a stream (a category by its byte share,
//! then a stream by weight, unless a needle or a burst claims it), gets a
//! timestamp from the bytes written so far, is rendered, counted and written.

use crate::needles::{self, NeedlePlan};
use crate::output::Outputs;
use crate::rng::Rng;
use crate::stream::{Category, Stream};
use crate::topology::{self, Special};
use crate::truth::{Manifest, Truth};
use anyhow::Context;
use std::collections::VecDeque;
use std::path::PathBuf;

#[derive(Debug, Clone)]
pub struct GenerateOptions {
    pub out: PathBuf,
    /// Raw bytes to write (sum of line lengths + 1 per entry); generation
    /// stops at the first entry that reaches it.
    pub size: u64,
    pub seed: u64,
    pub start_ns: i64,
    pub span_ns: i64,
    /// The directory of the Loghub `*_2k.log` samples.
    pub loghub_dir: PathBuf,
}

/// Share of the entries inside a burst window that go to the burst.
const BURST_SHARE: f64 = 0.3;
/// Timestamp jitter, in bytes' worth of time.
const JITTER_BYTES: f64 = 16.0;

/// Generates the corpus and returns its manifest (also written to manifest.json).
pub fn generate(options: &GenerateOptions) -> anyhow::Result<Manifest> {
    let loghub = crate::loghub::Loghub::load(&options.loghub_dir)?;
    let mut root = Rng::new(options.seed);
    let mut setup_rng = root.fork(1);
    let mut rng = root.fork(2);
    let (topology, mut workloads) =
        topology::build(&mut setup_rng, loghub, options.start_ns, options.span_ns);
    let plan = NeedlePlan::new(&mut setup_rng, &topology, options.size);
    let mut scheduler = Scheduler::new(&topology.streams);
    let mut outputs = Outputs::create(&options.out, &topology.streams)?;
    let mut truth = Truth::new(&topology.streams, &plan.trace_ids);

    let nanos_per_byte = options.span_ns as f64 / options.size as f64;
    let mut last_ts = options.start_ns - 1;
    let mut next_plan = 0;
    let mut forced: VecDeque<(usize, Special)> = VecDeque::new();
    let mut line = Vec::with_capacity(64 << 10);
    loop {
        let written = truth.bytes();
        while forced.is_empty()
            && next_plan < plan.plans.len()
            && plan.plans[next_plan].at_bytes <= written
        {
            forced.extend(plan.plans[next_plan].entries.iter().copied());
            next_plan += 1;
        }
        if written >= options.size && forced.is_empty() && next_plan >= plan.plans.len() {
            break;
        }
        let (stream_id, special) = match forced.pop_front() {
            Some(entry) => entry,
            None => match plan.burst_at(written) {
                Some(burst) if rng.chance(BURST_SHARE) => {
                    let ranks = &topology.training_errors[burst.job];
                    (*rng.pick(ranks), Special::Burst)
                }
                _ => (scheduler.pick(&mut rng), Special::None),
            },
        };
        let offset = (written as f64 + rng.unit() * JITTER_BYTES) * nanos_per_byte;
        let ts_ns = (options.start_ns + offset as i64).max(last_ts + 1);
        last_ts = ts_ns;

        let stream = &topology.streams[stream_id];
        line.clear();
        workloads.render(
            stream,
            special,
            ts_ns,
            &topology.addresses[stream.cluster],
            &mut rng,
            &mut line,
        );
        needles::plant(special, &mut line, &mut rng);
        truth.observe(stream_id, ts_ns, &line);
        scheduler.observe(stream.category, line.len() as u64 + 1);
        outputs.write(ts_ns, stream_id, &line)?;
    }
    outputs.finish()?;
    let manifest = truth.into_manifest(
        &topology.streams,
        &plan.trace_ids,
        options.seed,
        options.size,
        options.start_ns,
    );
    let path = options.out.join("manifest.json");
    let text = serde_json::to_vec_pretty(&manifest).context("cannot encode manifest.json")?;
    std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(manifest)
}

/// Picks the next stream: first a category, with odds that keep each
/// category's bytes at its share (share / mean line length so far), then a
/// stream of the category by weight.
struct Scheduler {
    /// Per category: (cumulative weight, stream id).
    cumulative: [Vec<(f64, usize)>; 4],
    bytes: [u64; 4],
    entries: [u64; 4],
}

/// A prior on each category's mean line length, as (bytes, entries).
const PRIOR: (u64, u64) = (200 * 64, 64);

impl Scheduler {
    fn new(streams: &[Stream]) -> Scheduler {
        let mut cumulative: [Vec<(f64, usize)>; 4] = Default::default();
        for (id, stream) in streams.iter().enumerate() {
            let list = &mut cumulative[stream.category.index()];
            let total = list.last().map_or(0.0, |(sum, _)| *sum);
            list.push((total + stream.weight, id));
        }
        Scheduler {
            cumulative,
            bytes: [0; 4],
            entries: [0; 4],
        }
    }

    fn pick(&self, rng: &mut Rng) -> usize {
        let mut odds = [0.0; 4];
        for category in Category::ALL {
            let index = category.index();
            if self.cumulative[index].is_empty() {
                continue;
            }
            let mean =
                (self.bytes[index] + PRIOR.0) as f64 / (self.entries[index] + PRIOR.1) as f64;
            odds[index] = category.byte_share() / mean;
        }
        let total: f64 = odds.iter().sum();
        let mut roll = rng.unit() * total;
        let mut chosen = 0;
        for (index, odd) in odds.iter().enumerate() {
            if *odd > 0.0 {
                chosen = index;
                if roll < *odd {
                    break;
                }
                roll -= odd;
            }
        }
        let list = &self.cumulative[chosen];
        let total = list.last().map_or(0.0, |(sum, _)| *sum);
        let target = rng.unit() * total;
        let position = list.partition_point(|(sum, _)| *sum <= target);
        list[position.min(list.len() - 1)].1
    }

    fn observe(&mut self, category: Category, bytes: u64) {
        self.bytes[category.index()] += bytes;
        self.entries[category.index()] += 1;
    }
}
