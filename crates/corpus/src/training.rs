//! Distributed training jobs (`app=trainer`): Python structured-logger JSON
//! lines, `Epoch: 5, Loss: 0.2340, Accuracy: 0.9450` progress lines,
//! warnings, NCCL and CUDA errors, and multi-line Python tracebacks.
//!
//! A job's progress is a function of time, so every rank reports the same
//! epoch and step at the same moment and the loss falls across the corpus.

use crate::clock::Civil;
use crate::json::JsonLine;
use crate::level::Level;
use crate::math;
use crate::rng::Rng;
use crate::text::{push_fixed, push_hex, push_u64};

/// What a model's training looks like.
#[derive(Debug, Clone, Copy)]
pub struct ModelProfile {
    pub name: &'static str,
    step_seconds: f64,
    batch_size: u64,
    base_lr: f64,
    initial_loss: f64,
    final_loss: f64,
    final_accuracy: f64,
    gpu_memory_gb: f64,
    /// The model source file and line shown in tracebacks.
    source_file: &'static str,
    source_line: u32,
    source_code: &'static str,
}

pub const MODELS: [ModelProfile; 4] = [
    ModelProfile {
        name: "resnet50",
        step_seconds: 0.28,
        batch_size: 256,
        base_lr: 0.1,
        initial_loss: 6.9,
        final_loss: 0.9,
        final_accuracy: 0.76,
        gpu_memory_gb: 31.5,
        source_file: "/opt/models/resnet.py",
        source_line: 88,
        source_code: "x = self.layer3(x)",
    },
    ModelProfile {
        name: "llama-7b",
        step_seconds: 2.6,
        batch_size: 8,
        base_lr: 0.0003,
        initial_loss: 10.4,
        final_loss: 1.9,
        final_accuracy: 0.58,
        gpu_memory_gb: 71.2,
        source_file: "/opt/models/llama.py",
        source_line: 341,
        source_code: "attn_output = self.self_attn(hidden_states, attention_mask)",
    },
    ModelProfile {
        name: "bert-large",
        step_seconds: 0.61,
        batch_size: 32,
        base_lr: 0.0001,
        initial_loss: 2.3,
        final_loss: 0.25,
        final_accuracy: 0.93,
        gpu_memory_gb: 38.7,
        source_file: "/opt/models/bert.py",
        source_line: 190,
        source_code: "attention_scores = torch.matmul(query, key.transpose(-1, -2))",
    },
    ModelProfile {
        name: "vit-b16",
        step_seconds: 0.43,
        batch_size: 128,
        base_lr: 0.001,
        initial_loss: 6.9,
        final_loss: 0.7,
        final_accuracy: 0.81,
        gpu_memory_gb: 44.9,
        source_file: "/opt/models/vit.py",
        source_line: 127,
        source_code: "x = self.blocks(x)",
    },
];

/// One training job.
#[derive(Debug, Clone)]
pub struct Job {
    /// `job-7f3a2c`
    pub id: String,
    pub model: ModelProfile,
    /// Worker pods (ranks).
    pub workers: usize,
    /// Whether the job logs at debug level (one more stream per pod).
    pub debug_logging: bool,
    /// When the job started (before the corpus begins) and how long it runs.
    start_ns: i64,
    duration_ns: i64,
    step_ns: i64,
    steps_per_epoch: u64,
}

/// Where a job is at one moment.
struct Progress {
    /// Share of the job done, 0..=1.
    fraction: f64,
    step: u64,
    /// 1-based.
    epoch: u64,
    batch: u64,
}

/// How an entry is asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Normal,
    /// Inside an error burst: NCCL timeouts and OOMs in quick succession.
    Burst,
}

#[derive(Debug)]
pub struct Training {
    pub jobs: Vec<Job>,
}

impl Training {
    pub fn new(rng: &mut Rng, job_count: usize, corpus_start_ns: i64, span_ns: i64) -> Training {
        let mut jobs = Vec::new();
        for index in 0..job_count {
            let model = MODELS[index % MODELS.len()];
            let mut id = b"job-".to_vec();
            push_hex(&mut id, rng.next_u128(), 6);
            let duration_ns = (span_ns as f64 * rng.uniform(1.5, 3.0)) as i64;
            let start_ns = corpus_start_ns - (duration_ns as f64 * rng.uniform(0.05, 0.5)) as i64;
            let step_ns = ((model.step_seconds * rng.uniform(0.9, 1.1)) * 1e9) as i64;
            let total_steps = (duration_ns / step_ns.max(1)).max(1) as u64;
            let total_epochs = rng.range(20, 90);
            jobs.push(Job {
                id: String::from_utf8(id).unwrap_or_default(),
                model,
                workers: 8,
                debug_logging: index % 2 == 0,
                start_ns,
                duration_ns,
                step_ns: step_ns.max(1),
                steps_per_epoch: (total_steps / total_epochs).max(1),
            });
        }
        Training { jobs }
    }

    /// Writes one entry of `job`'s `rank` at `level`.
    #[allow(clippy::too_many_arguments)]
    pub fn render(
        &self,
        job: usize,
        rank: usize,
        level: Level,
        mode: Mode,
        ts_ns: i64,
        civil: &Civil,
        rng: &mut Rng,
        out: &mut Vec<u8>,
    ) {
        let job = &self.jobs[job];
        let progress = job.progress(ts_ns);
        let line = Line {
            job,
            rank,
            progress: &progress,
            civil,
        };
        match (level, mode) {
            (Level::Error, Mode::Burst) => line.burst_error(rng, out),
            (Level::Error | Level::Fatal, _) => line.error(rng, out),
            (Level::Warn, _) => line.warning(rng, out),
            (Level::Debug | Level::Trace, _) => line.debug(rng, out),
            (Level::Info, _) => line.info(rng, out),
        }
    }
}

impl Job {
    fn progress(&self, ts_ns: i64) -> Progress {
        let elapsed = (ts_ns - self.start_ns).max(0);
        let step = (elapsed / self.step_ns) as u64;
        Progress {
            fraction: (elapsed as f64 / self.duration_ns as f64).min(1.0),
            step,
            epoch: step / self.steps_per_epoch + 1,
            batch: step % self.steps_per_epoch,
        }
    }
}

/// The pieces one rendered line needs.
struct Line<'a> {
    job: &'a Job,
    rank: usize,
    progress: &'a Progress,
    civil: &'a Civil,
}

impl Line<'_> {
    fn loss(&self, rng: &mut Rng) -> f64 {
        let model = &self.job.model;
        let curve = model.final_loss
            + (model.initial_loss - model.final_loss) * math::exp(-4.0 * self.progress.fraction);
        (curve * (1.0 + 0.05 * rng.normal())).max(0.0001)
    }

    fn accuracy(&self, rng: &mut Rng) -> f64 {
        let model = &self.job.model;
        let curve = model.final_accuracy
            - (model.final_accuracy - 0.05) * math::exp(-5.0 * self.progress.fraction);
        (curve + 0.01 * rng.normal()).clamp(0.0, 0.9999)
    }

    /// Linear warm-up over the first 2%, then cosine decay to 5%.
    fn learning_rate(&self) -> f64 {
        let base = self.job.model.base_lr;
        let fraction = self.progress.fraction;
        if fraction < 0.02 {
            return base * (fraction / 0.02).max(0.001);
        }
        let decay = (fraction - 0.02) / 0.98;
        base * (0.05 + 0.95 * 0.5 * (1.0 + math::cos(std::f64::consts::PI * decay)))
    }

    /// `{"timestamp": ..., "level": ..., "logger": "ml.training", "message": ...,
    /// "job_id": ..., "model_name": ..., "rank": ...` (the caller adds fields and ends).
    fn json<'o>(&self, out: &'o mut Vec<u8>, level: &str, message: &str) -> JsonLine<'o> {
        let mut json = JsonLine::begin(out, true);
        json.str_with("timestamp", |out| self.civil.push_iso_micros(out))
            .str("level", level)
            .str("logger", "ml.training")
            .str("message", message)
            .str("job_id", &self.job.id)
            .str("model_name", self.job.model.name)
            .uint("rank", self.rank as u64);
        json
    }

    fn info(&self, rng: &mut Rng, out: &mut Vec<u8>) {
        let progress = self.progress;
        let roll = rng.unit();
        if roll < 0.60 {
            let loss = self.loss(rng);
            let accuracy = self.accuracy(rng);
            let allocated = self.job.model.gpu_memory_gb * rng.uniform(0.9, 0.97);
            let reserved = allocated + rng.uniform(1.0, 3.5);
            self.json(out, "INFO", "Batch completed")
                .uint("epoch", progress.epoch)
                .uint("step", progress.step)
                .uint("batch", progress.batch)
                .fixed("loss", loss, 6)
                .fixed("accuracy", accuracy, 4)
                .fixed("learning_rate", self.learning_rate(), 8)
                .uint(
                    "samples_processed",
                    (progress.batch + 1) * self.job.model.batch_size,
                )
                .fixed("gpu_memory_allocated", allocated, 6)
                .fixed("gpu_memory_reserved", reserved, 6)
                .end();
        } else if roll < 0.85 {
            // The lecture's grok pattern: "Epoch: %{NUMBER:epoch:int}, Loss: ..., Accuracy: ..."
            out.extend_from_slice(b"Epoch: ");
            push_u64(out, progress.epoch);
            out.extend_from_slice(b", Loss: ");
            push_fixed(out, self.loss(rng), 4);
            out.extend_from_slice(b", Accuracy: ");
            push_fixed(out, self.accuracy(rng), 4);
        } else if roll < 0.93 {
            let step_time = self.job.step_ns as f64 / 1e9 * rng.uniform(0.9, 1.2);
            out.extend_from_slice(b"[rank");
            push_u64(out, self.rank as u64);
            out.extend_from_slice(b"] step ");
            push_u64(out, progress.step);
            out.extend_from_slice(b" | throughput ");
            push_fixed(out, self.job.model.batch_size as f64 / step_time, 1);
            out.extend_from_slice(b" samples/s | step_time ");
            push_fixed(out, step_time, 3);
            out.extend_from_slice(b"s | data_time ");
            push_fixed(out, rng.uniform(0.002, 0.04), 3);
            out.push(b's');
        } else if roll < 0.96 {
            self.json(out, "INFO", "Starting training epoch")
                .uint("epoch", progress.epoch)
                .uint("batch_count", self.job.steps_per_epoch)
                .fixed("learning_rate", self.learning_rate(), 8)
                .end();
        } else if roll < 0.985 {
            let loss = self.loss(rng);
            let accuracy = self.accuracy(rng);
            self.json(out, "INFO", "Epoch completed")
                .uint("epoch", progress.epoch)
                .fixed("loss", loss, 6)
                .fixed("accuracy", accuracy, 4)
                .fixed(
                    "duration_s",
                    (self.job.steps_per_epoch * self.job.step_ns as u64) as f64 / 1e9,
                    1,
                )
                .end();
        } else if roll < 0.995 {
            let mut path = b"/checkpoints/".to_vec();
            path.extend_from_slice(self.job.id.as_bytes());
            path.extend_from_slice(b"/epoch_");
            push_u64(&mut path, progress.epoch);
            path.extend_from_slice(b"_step_");
            push_u64(&mut path, progress.step);
            path.extend_from_slice(b".pt");
            self.json(out, "INFO", "Checkpoint saved")
                .uint("epoch", progress.epoch)
                .uint("step", progress.step)
                .str("checkpoint_path", std::str::from_utf8(&path).unwrap_or(""))
                .fixed("size_mb", self.job.model.gpu_memory_gb * 41.3, 1)
                .end();
        } else {
            let val_loss = self.loss(rng) * 1.08;
            let val_accuracy = self.accuracy(rng) * 0.98;
            self.json(out, "INFO", "Validation completed")
                .uint("epoch", progress.epoch)
                .fixed("val_loss", val_loss, 6)
                .fixed("val_accuracy", val_accuracy, 4)
                .end();
        }
    }

    fn warning(&self, rng: &mut Rng, out: &mut Vec<u8>) {
        let roll = rng.unit();
        if roll < 0.4 {
            let grad_norm = rng.uniform(5.0, 80.0);
            self.json(out, "WARNING", "Gradient norm exceeded max_norm, clipping")
                .uint("step", self.progress.step)
                .fixed("grad_norm", grad_norm, 4)
                .fixed("max_norm", 1.0, 1)
                .end();
        } else if roll < 0.65 {
            self.json(out, "WARNING", "Data loading is slow")
                .uint("step", self.progress.step)
                .fixed("wait_ms", rng.uniform(200.0, 4000.0), 1)
                .uint("queue_depth", rng.below(2))
                .end();
        } else if roll < 0.85 {
            let scale = 1u64 << rng.range(10, 17);
            out.extend_from_slice(b"[deepspeed] OVERFLOW! Rank ");
            push_u64(out, self.rank as u64);
            out.extend_from_slice(b" Skipping step. Attempted loss scale: ");
            push_u64(out, scale * 2);
            out.extend_from_slice(b", reducing to ");
            push_u64(out, scale);
        } else {
            out.extend_from_slice(
                b"/opt/conda/lib/python3.10/site-packages/torch/utils/data/dataloader.py:560: \
UserWarning: This DataLoader will create 16 worker processes in total. Our suggested max number \
of worker in current system is 12, which is smaller than what this DataLoader is going to create.",
            );
        }
    }

    fn debug(&self, rng: &mut Rng, out: &mut Vec<u8>) {
        if rng.chance(0.6) {
            self.json(out, "DEBUG", "Prefetched batch")
                .uint("step", self.progress.step)
                .uint("queue_depth", rng.range(1, 8))
                .fixed("fetch_ms", rng.uniform(2.0, 60.0), 2)
                .end();
        } else {
            out.extend_from_slice(b"DEBUG:torch.distributed:[rank");
            push_u64(out, self.rank as u64);
            out.extend_from_slice(b"] allreduce bucket ");
            push_u64(out, rng.below(64));
            out.extend_from_slice(b" of ");
            push_u64(out, rng.range(1, 64) * 1_048_576);
            out.extend_from_slice(b" bytes finished in ");
            push_fixed(out, rng.uniform(0.5, 40.0), 2);
            out.extend_from_slice(b"ms");
        }
    }

    fn error(&self, rng: &mut Rng, out: &mut Vec<u8>) {
        let roll = rng.unit();
        if roll < 0.35 {
            self.traceback(rng, out);
        } else if roll < 0.6 {
            self.watchdog_timeout(rng, out);
        } else {
            self.json_error(rng, out);
        }
    }

    fn burst_error(&self, rng: &mut Rng, out: &mut Vec<u8>) {
        let roll = rng.unit();
        if roll < 0.5 {
            self.watchdog_timeout(rng, out);
        } else if roll < 0.8 {
            self.json_error(rng, out);
        } else if roll < 0.9 {
            out.extend_from_slice(b"[E ProcessGroupNCCL.cpp:1182] [Rank ");
            push_u64(out, self.rank as u64);
            out.extend_from_slice(
                b"] NCCL watchdog thread terminated with exception: NCCL error: remote process \
exited or there was a network error, NCCL version 2.18.1",
            );
        } else {
            self.traceback(rng, out);
        }
    }

    fn sequence_number(&self, rng: &mut Rng) -> u64 {
        self.progress.step * 3 + rng.below(3)
    }

    /// PyTorch's NCCL watchdog message.
    fn watchdog_timeout(&self, rng: &mut Rng, out: &mut Vec<u8>) {
        out.extend_from_slice(b"[E ProcessGroupNCCL.cpp:475] [Rank ");
        push_u64(out, self.rank as u64);
        out.extend_from_slice(b"] Watchdog caught collective operation timeout: WorkNCCL(SeqNum=");
        push_u64(out, self.sequence_number(rng));
        let numel = 1u64 << rng.range(16, 26);
        out.extend_from_slice(b", OpType=ALLREDUCE, NumelIn=");
        push_u64(out, numel);
        out.extend_from_slice(b", NumelOut=");
        push_u64(out, numel);
        out.extend_from_slice(b", Timeout(ms)=1800000) ran for ");
        push_u64(out, 1_800_000 + rng.below(900));
        out.extend_from_slice(b" milliseconds before timing out.");
    }

    fn json_error(&self, rng: &mut Rng, out: &mut Vec<u8>) {
        if rng.chance(0.7) {
            let sequence = self.sequence_number(rng);
            self.json(out, "ERROR", "Collective operation timed out")
                .uint("epoch", self.progress.epoch)
                .uint("step", self.progress.step)
                .str("op", "ALLREDUCE")
                .uint("seq_num", sequence)
                .uint("timeout_ms", 1_800_000)
                .end();
        } else {
            let requested = rng.uniform(0.5, 8.0);
            let free = rng.uniform(0.1, 1.5);
            self.json(out, "ERROR", "CUDA out of memory, skipping batch")
                .uint("epoch", self.progress.epoch)
                .uint("step", self.progress.step)
                .fixed("requested_gib", requested, 2)
                .fixed("free_gib", free, 2)
                .end();
        }
    }

    /// One entry spanning several lines, as Python prints an uncaught exception.
    fn traceback(&self, rng: &mut Rng, out: &mut Vec<u8>) {
        const TORCH: &[u8] = b"/opt/conda/lib/python3.10/site-packages/torch";
        out.extend_from_slice(b"Traceback (most recent call last):\n");
        let roll = rng.unit();
        if roll < 0.5 {
            let model = &self.job.model;
            out.extend_from_slice(
                b"  File \"/opt/train.py\", line 212, in train_step\n    outputs = model(inputs)\n",
            );
            out.extend_from_slice(b"  File \"");
            out.extend_from_slice(TORCH);
            out.extend_from_slice(b"/nn/modules/module.py\", line 1518, in _wrapped_call_impl\n    return self._call_impl(*args, **kwargs)\n");
            out.extend_from_slice(b"  File \"");
            out.extend_from_slice(TORCH);
            out.extend_from_slice(b"/nn/modules/module.py\", line 1527, in _call_impl\n    return forward_call(*args, **kwargs)\n");
            out.extend_from_slice(b"  File \"");
            out.extend_from_slice(model.source_file.as_bytes());
            out.extend_from_slice(b"\", line ");
            push_u64(out, u64::from(model.source_line));
            out.extend_from_slice(b", in forward\n    ");
            out.extend_from_slice(model.source_code.as_bytes());
            out.extend_from_slice(
                b"\ntorch.cuda.OutOfMemoryError: CUDA out of memory. Tried to allocate ",
            );
            push_fixed(out, rng.uniform(0.5, 8.0), 2);
            out.extend_from_slice(b" GiB (GPU ");
            push_u64(out, (self.rank % 8) as u64);
            out.extend_from_slice(b"; 79.15 GiB total capacity; ");
            push_fixed(out, rng.uniform(70.0, 77.0), 2);
            out.extend_from_slice(b" GiB already allocated; ");
            push_fixed(out, rng.uniform(0.1, 1.5), 2);
            out.extend_from_slice(b" GiB free; ");
            push_fixed(out, rng.uniform(77.0, 78.5), 2);
            out.extend_from_slice(b" GiB reserved in total by PyTorch) If reserved memory is >> allocated \
memory try setting max_split_size_mb to avoid fragmentation.  See documentation for Memory Management \
and PYTORCH_CUDA_ALLOC_CONF");
        } else if roll < 0.85 {
            out.extend_from_slice(b"  File \"/opt/train.py\", line 245, in <module>\n    main()\n");
            out.extend_from_slice(b"  File \"/opt/train.py\", line 231, in main\n    train_epoch(model, loader, optimizer, epoch, job_id)\n");
            out.extend_from_slice(
                b"  File \"/opt/train.py\", line 198, in train_epoch\n    loss.backward()\n",
            );
            out.extend_from_slice(b"  File \"");
            out.extend_from_slice(TORCH);
            out.extend_from_slice(
                b"/_tensor.py\", line 492, in backward\n    torch.autograd.backward(\n",
            );
            out.extend_from_slice(b"  File \"");
            out.extend_from_slice(TORCH);
            out.extend_from_slice(b"/autograd/__init__.py\", line 251, in backward\n    Variable._execution_engine.run_backward(  # Calls into the C++ engine to run the backward pass\n");
            out.extend_from_slice(b"RuntimeError: NCCL communicator was aborted on rank ");
            push_u64(out, self.rank as u64);
            out.extend_from_slice(b". Original reason for failure was: ");
            self.watchdog_timeout(rng, out);
        } else {
            out.extend_from_slice(b"  File \"/opt/train.py\", line 245, in <module>\n    main()\n");
            out.extend_from_slice(b"  File \"/opt/train.py\", line 215, in train_step\n    check_finite(loss, step)\n");
            out.extend_from_slice(b"  File \"/opt/utils/checks.py\", line 31, in check_finite\n    raise ValueError(f\"Expected loss to be finite at step {step}, got {loss.item()}\")\n");
            out.extend_from_slice(b"ValueError: Expected loss to be finite at step ");
            push_u64(out, self.progress.step);
            out.extend_from_slice(b", got nan");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loss_falls_and_lines_parse() {
        let start = 1_795_132_800_000_000_000;
        let span = 86_400_000_000_000;
        let mut rng = Rng::new(9);
        let training = Training::new(&mut rng, 4, start, span);
        let mut early_loss = 0.0;
        let mut late_loss = 0.0;
        for (when, total) in [(start, &mut early_loss), (start + span, &mut late_loss)] {
            let civil = Civil::from_unix_nanos(when);
            for _ in 0..400 {
                let mut out = Vec::new();
                training.render(
                    0,
                    1,
                    Level::Info,
                    Mode::Normal,
                    when,
                    &civil,
                    &mut rng,
                    &mut out,
                );
                if out.starts_with(b"{") {
                    let value: serde_json::Value = serde_json::from_slice(&out).expect("json");
                    if let Some(loss) = value.get("loss").and_then(|v| v.as_f64()) {
                        *total += loss;
                    }
                } else {
                    assert!(!out.contains(&b'\n'));
                }
            }
        }
        assert!(late_loss < early_loss, "{late_loss} < {early_loss}");
        let civil = Civil::from_unix_nanos(start);
        for level in [Level::Warn, Level::Error, Level::Debug] {
            for mode in [Mode::Normal, Mode::Burst] {
                for _ in 0..50 {
                    let mut out = Vec::new();
                    training.render(1, 2, level, mode, start, &civil, &mut rng, &mut out);
                    if out.starts_with(b"{") {
                        serde_json::from_slice::<serde_json::Value>(&out).expect("json");
                    }
                }
            }
        }
    }
}
