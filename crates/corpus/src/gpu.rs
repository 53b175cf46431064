//! The GPU monitor daemonset (`app=gpu-monitor`): one pod per node reporting
//! `GPU 3: Utilization: 87%, Memory: 61.2GB, Temp: 71C, Power: 301W`, the
//! lecture's grok shape, plus thermal and ECC warnings and Xid errors.
//! Each GPU's readings drift as a mean-reverting random walk.

use crate::level::Level;
use crate::rng::Rng;
use crate::text::{push_fixed, push_u64};

pub const GPUS_PER_NODE: usize = 8;

/// One GPU's current readings.
#[derive(Debug, Clone, Copy)]
struct GpuState {
    /// Percent, 0..=100.
    utilization: f64,
    /// GB in use of 80.
    memory_gb: f64,
    /// Where utilization drifts back to (the job on it).
    target: f64,
}

#[derive(Debug)]
pub struct Fleet {
    /// `gpus[node][gpu]`
    gpus: Vec<[GpuState; GPUS_PER_NODE]>,
    /// Per node: correctable ECC errors seen so far (only grows).
    ecc_counts: Vec<u64>,
}

impl Fleet {
    pub fn new(rng: &mut Rng, nodes: usize) -> Fleet {
        let gpus = (0..nodes)
            .map(|_| {
                std::array::from_fn(|_| {
                    let target = rng.uniform(35.0, 98.0);
                    GpuState {
                        utilization: target,
                        memory_gb: rng.uniform(20.0, 75.0),
                        target,
                    }
                })
            })
            .collect();
        Fleet {
            gpus,
            ecc_counts: vec![0; nodes],
        }
    }

    pub fn render(&mut self, node: usize, level: Level, rng: &mut Rng, out: &mut Vec<u8>) {
        let gpu = rng.index(GPUS_PER_NODE);
        match level {
            Level::Warn => self.warning(node, gpu, rng, out),
            Level::Error | Level::Fatal => xid_error(gpu, rng, out),
            _ => self.reading(node, gpu, rng, out),
        }
    }

    fn reading(&mut self, node: usize, gpu: usize, rng: &mut Rng, out: &mut Vec<u8>) {
        let state = &mut self.gpus[node][gpu];
        state.utilization += 0.2 * (state.target - state.utilization) + 6.0 * rng.normal();
        state.utilization = state.utilization.clamp(0.0, 100.0);
        state.memory_gb = (state.memory_gb + 0.8 * rng.normal()).clamp(1.0, 79.9);
        if rng.chance(0.002) {
            // A new job landed on the GPU.
            state.target = rng.uniform(0.0, 99.0);
        }
        let utilization = state.utilization.round();
        let temperature = 34.0 + utilization * 0.45 + rng.uniform(0.0, 4.0);
        let power = 62.0 + utilization * 3.1 + rng.uniform(-8.0, 8.0);
        out.extend_from_slice(b"GPU ");
        push_u64(out, gpu as u64);
        out.extend_from_slice(b": Utilization: ");
        push_fixed(out, utilization, 0);
        out.extend_from_slice(b"%, Memory: ");
        push_fixed(out, state.memory_gb, 1);
        out.extend_from_slice(b"GB, Temp: ");
        push_fixed(out, temperature, 0);
        out.extend_from_slice(b"C, Power: ");
        push_fixed(out, power.max(0.0), 0);
        out.push(b'W');
        if rng.chance(0.25) {
            out.extend_from_slice(b", SM Clock: ");
            push_u64(out, 1410 - rng.below(4) * 105);
            out.extend_from_slice(b"MHz, PCIe RX: ");
            push_fixed(out, rng.uniform(0.1, 24.0), 1);
            out.extend_from_slice(b"GB/s");
        }
    }

    fn warning(&mut self, node: usize, gpu: usize, rng: &mut Rng, out: &mut Vec<u8>) {
        out.extend_from_slice(b"GPU ");
        push_u64(out, gpu as u64);
        let roll = rng.unit();
        if roll < 0.5 {
            out.extend_from_slice(b": Temperature ");
            push_u64(out, rng.range(86, 92));
            out.extend_from_slice(b"C exceeds slowdown threshold 85C, clocks throttled to ");
            push_u64(out, 1410 - rng.range(2, 6) * 105);
            out.extend_from_slice(b"MHz");
        } else if roll < 0.8 {
            self.ecc_counts[node] += rng.range(1, 3);
            out.extend_from_slice(b": Correctable ECC errors increased to ");
            push_u64(out, self.ecc_counts[node]);
            out.extend_from_slice(b" (volatile)");
        } else {
            out.extend_from_slice(b": NVLink link ");
            push_u64(out, rng.below(12));
            out.extend_from_slice(b" CRC error count ");
            push_u64(out, rng.range(1, 400));
        }
    }
}

fn xid_error(gpu: usize, rng: &mut Rng, out: &mut Vec<u8>) {
    out.extend_from_slice(b"GPU ");
    push_u64(out, gpu as u64);
    out.extend_from_slice(match rng.below(4) {
        0 => &b": Xid 79: GPU has fallen off the bus"[..],
        1 => b": Xid 48: Double Bit ECC Error, a GPU reset is required",
        2 => b": Xid 31: MMU Fault: ENGINE GRAPHICS GPCCLIENT_T1_0 FAULT_PDE ACCESS_TYPE_READ",
        _ => b": Xid 13: Graphics Engine Exception, check the application for out of range memory access",
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readings_match_the_lecture_pattern() {
        let pattern = regex::Regex::new(
            r"^GPU (\d+): Utilization: ([\d.]+)%, Memory: ([\d.]+)GB, Temp: \d+C, Power: \d+W",
        )
        .expect("regex");
        let mut rng = Rng::new(3);
        let mut fleet = Fleet::new(&mut rng, 2);
        for _ in 0..1000 {
            let mut out = Vec::new();
            fleet.render(1, Level::Info, &mut rng, &mut out);
            let line = String::from_utf8(out).expect("utf-8");
            let captures = pattern.captures(&line).expect(&line);
            let utilization: f64 = captures[2].parse().expect("number");
            assert!((0.0..=100.0).contains(&utilization));
        }
    }
}
