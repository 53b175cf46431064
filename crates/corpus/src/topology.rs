//! The simulated GPU cluster: which streams exist, with which labels and pick
//! weights, and the workload state that writes them.
//!
//! About 300 streams: training jobs (8 ranks x 3-4 levels each), the GPU
//! monitor daemonset, model servers and their gateway, and the Loghub systems.

use crate::clock::Civil;
use crate::gpu::Fleet;
use crate::level::Level;
use crate::loghub::Loghub;
use crate::rng::Rng;
use crate::serving::{SERVED_MODELS, Serving};
use crate::stream::{Category, Source, Stream, StreamLabels};
use crate::text::push_random_alnum;
use crate::training::{Mode, Training};

pub const CLUSTERS: [&str; 2] = ["gpu-east-1", "gpu-west-2"];
const TRAINING_JOBS: usize = 4;
const GPU_NODES: usize = 16;
const SERVING_PODS_PER_MODEL: usize = 6;
const GATEWAY_PODS: usize = 3;
/// Node addresses per cluster, the pool every replayed IP comes from.
const ADDRESSES_PER_CLUSTER: usize = 48;

/// The streams, with the indexes the needle planner needs.
#[derive(Debug)]
pub struct Topology {
    /// Every stream; a stream's id is its index here.
    pub streams: Vec<Stream>,
    /// Per cluster, its node addresses (IPv4 as big-endian u32).
    pub addresses: Vec<Vec<u32>>,
    /// `training_errors[job][rank]`: the error stream of each rank.
    pub training_errors: Vec<Vec<usize>>,
    /// `serving_info[model]`: the info streams of the model's pods.
    pub serving_info: Vec<Vec<usize>>,
    /// The gateway pods' info streams.
    pub gateway_info: Vec<usize>,
    /// Plain-text streams that may carry a planted needle word.
    pub needle_hosts: Vec<usize>,
}

/// The state of every workload.
#[derive(Debug)]
pub struct Workloads {
    pub training: Training,
    pub gpu: Fleet,
    pub serving: Serving,
    pub loghub: Loghub,
}

/// What a picked entry is for, besides ordinary traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Special {
    None,
    /// A training error inside an error burst.
    Burst,
    /// Gets the rare token inserted as a word.
    RareToken,
    /// Gets a word containing the rare substring (variant picks the word).
    Substring(usize),
    /// A request carrying a planted trace id.
    Trace {
        trace: u128,
        model: usize,
    },
}

pub fn build(rng: &mut Rng, loghub: Loghub, start_ns: i64, span_ns: i64) -> (Topology, Workloads) {
    let mut builder = Builder {
        streams: Vec::new(),
        rng,
    };
    let addresses = (0..CLUSTERS.len())
        .map(|cluster| {
            (0..ADDRESSES_PER_CLUSTER)
                .map(|_| {
                    let rng = &mut builder.rng;
                    u32::from_be_bytes([
                        10,
                        (16 * cluster as u64 + rng.range(1, 4)) as u8,
                        rng.below(256) as u8,
                        rng.range(2, 254) as u8,
                    ])
                })
                .collect()
        })
        .collect();
    let training = Training::new(builder.rng, TRAINING_JOBS, start_ns, span_ns);
    let training_errors = builder.training_streams(&training);
    let gpu = Fleet::new(builder.rng, GPU_NODES);
    let gpu_info = builder.gpu_streams();
    let serving = Serving::new(builder.rng);
    let (serving_info, gateway_info) = builder.serving_streams();
    let loghub_streams = builder.loghub_streams(&loghub);
    let mut needle_hosts = loghub_streams;
    needle_hosts.extend(&gpu_info);
    needle_hosts.extend(&gateway_info);
    let topology = Topology {
        streams: builder.streams,
        addresses,
        training_errors,
        serving_info,
        gateway_info,
        needle_hosts,
    };
    let workloads = Workloads {
        training,
        gpu,
        serving,
        loghub,
    };
    (topology, workloads)
}

impl Workloads {
    /// Writes one entry of `stream` at `ts_ns`.
    pub fn render(
        &mut self,
        stream: &Stream,
        special: Special,
        ts_ns: i64,
        addresses: &[u32],
        rng: &mut Rng,
        out: &mut Vec<u8>,
    ) {
        let civil = Civil::from_unix_nanos(ts_ns);
        let level = stream.labels.level;
        let trace = match special {
            Special::Trace { trace, model } => Some((trace, model)),
            _ => None,
        };
        match stream.source {
            Source::Training { job, rank } => {
                let mode = if special == Special::Burst {
                    Mode::Burst
                } else {
                    Mode::Normal
                };
                self.training
                    .render(job, rank, level, mode, ts_ns, &civil, rng, out);
            }
            Source::Gpu { node } => self.gpu.render(node, level, rng, out),
            Source::Serving { model, .. } => {
                let trace = trace.map(|(trace, _)| trace);
                self.serving
                    .render_server(model, level, trace, &civil, addresses, rng, out);
            }
            Source::Gateway { .. } => {
                self.serving
                    .render_gateway(level, trace, &civil, addresses, rng, out);
            }
            Source::Loghub { system, instance } => {
                self.loghub
                    .render(system, instance, level, &civil, addresses, rng, out);
            }
        }
    }
}

struct Builder<'a> {
    streams: Vec<Stream>,
    rng: &'a mut Rng,
}

/// The labels common to one pod's streams.
struct Pod<'a> {
    cluster: usize,
    namespace: &'a str,
    app: &'a str,
    name: String,
    container: &'a str,
    job_type: &'a str,
}

impl Builder<'_> {
    fn add(
        &mut self,
        pod: &Pod,
        level: Level,
        source: Source,
        category: Category,
        weight: f64,
    ) -> usize {
        self.streams.push(Stream {
            labels: StreamLabels {
                cluster: CLUSTERS[pod.cluster].to_string(),
                namespace: pod.namespace.to_string(),
                app: pod.app.to_string(),
                pod: pod.name.clone(),
                container: pod.container.to_string(),
                job_type: pod.job_type.to_string(),
                level,
            },
            source,
            category,
            weight,
            cluster: pod.cluster,
        });
        self.streams.len() - 1
    }

    /// `prefix-<hash>-<suffix>`, a Deployment's pod name.
    fn deployment_pod(&mut self, prefix: &str, hash: &str) -> String {
        let mut name = format!("{prefix}-{hash}-").into_bytes();
        push_random_alnum(&mut name, self.rng, 5);
        String::from_utf8(name).unwrap_or_default()
    }

    fn replica_set_hash(&mut self) -> String {
        let mut hash = Vec::new();
        push_random_alnum(&mut hash, self.rng, 9);
        String::from_utf8(hash).unwrap_or_default()
    }

    fn jitter(&mut self) -> f64 {
        self.rng.uniform(0.6, 1.4)
    }

    fn training_streams(&mut self, training: &Training) -> Vec<Vec<usize>> {
        let mut errors = Vec::new();
        for (job_index, job) in training.jobs.iter().enumerate() {
            let job_weight = self.jitter();
            let mut job_errors = Vec::new();
            for rank in 0..job.workers {
                let pod = Pod {
                    cluster: job_index % CLUSTERS.len(),
                    namespace: "ml-training",
                    app: "trainer",
                    name: format!("trainer-{}-worker-{rank}", job.id),
                    container: "pytorch",
                    job_type: "training",
                };
                let rank_weight = job_weight * self.jitter() * if rank == 0 { 1.3 } else { 1.0 };
                let source = Source::Training {
                    job: job_index,
                    rank,
                };
                let mut levels = vec![
                    (Level::Info, 1.0),
                    (Level::Warn, 0.03),
                    (Level::Error, 0.004),
                ];
                if job.debug_logging {
                    levels.push((Level::Debug, 0.25));
                }
                for (level, share) in levels {
                    let weight = rank_weight * share * self.jitter();
                    let id = self.add(&pod, level, source, Category::Training, weight);
                    if level == Level::Error {
                        job_errors.push(id);
                    }
                }
            }
            errors.push(job_errors);
        }
        errors
    }

    fn gpu_streams(&mut self) -> Vec<usize> {
        let mut info = Vec::new();
        for node in 0..GPU_NODES {
            let mut name = b"gpu-monitor-".to_vec();
            push_random_alnum(&mut name, self.rng, 5);
            let pod = Pod {
                cluster: node * CLUSTERS.len() / GPU_NODES,
                namespace: "ml-training",
                app: "gpu-monitor",
                name: String::from_utf8(name).unwrap_or_default(),
                container: "gpu-monitor",
                job_type: "",
            };
            let source = Source::Gpu { node };
            let weight = self.jitter();
            info.push(self.add(&pod, Level::Info, source, Category::Gpu, weight));
            if self.rng.chance(0.6) {
                let weight = 0.01 * self.jitter();
                self.add(&pod, Level::Warn, source, Category::Gpu, weight);
            }
            if self.rng.chance(0.25) {
                let weight = 0.001 * self.jitter();
                self.add(&pod, Level::Error, source, Category::Gpu, weight);
            }
        }
        info
    }

    fn serving_streams(&mut self) -> (Vec<Vec<usize>>, Vec<usize>) {
        let mut serving_info = Vec::new();
        for (model, served) in SERVED_MODELS.iter().enumerate() {
            let hash = self.replica_set_hash();
            let model_weight = self.jitter();
            let mut info = Vec::new();
            for pod_index in 0..SERVING_PODS_PER_MODEL {
                let pod = Pod {
                    cluster: usize::from(served.name == "llama-7b"),
                    namespace: "ml-serving",
                    app: "model-serving",
                    name: self.deployment_pod(&format!("model-serving-{}", served.name), &hash),
                    container: "server",
                    job_type: "serving",
                };
                let source = Source::Serving {
                    model,
                    pod: pod_index,
                };
                let pod_weight = model_weight * self.jitter();
                for (level, share) in [
                    (Level::Info, 1.0),
                    (Level::Warn, 0.02),
                    (Level::Error, 0.008),
                ] {
                    let weight = pod_weight * share * self.jitter();
                    let id = self.add(&pod, level, source, Category::Serving, weight);
                    if level == Level::Info {
                        info.push(id);
                    }
                }
            }
            serving_info.push(info);
        }
        let hash = self.replica_set_hash();
        let mut gateway_info = Vec::new();
        for pod_index in 0..GATEWAY_PODS {
            let pod = Pod {
                cluster: pod_index % CLUSTERS.len(),
                namespace: "ml-serving",
                app: "gateway",
                name: self.deployment_pod("gateway", &hash),
                container: "nginx",
                job_type: "",
            };
            let source = Source::Gateway { pod: pod_index };
            let weight = self.rng.uniform(3.5, 5.0);
            gateway_info.push(self.add(&pod, Level::Info, source, Category::Serving, weight));
            let weight = 0.004 * weight * self.jitter();
            self.add(&pod, Level::Error, source, Category::Serving, weight);
        }
        (serving_info, gateway_info)
    }

    fn loghub_streams(&mut self, loghub: &Loghub) -> Vec<usize> {
        let mut ids = Vec::new();
        for (system_index, system) in loghub.systems.iter().enumerate() {
            let app = system.app();
            let hash = self.replica_set_hash();
            for instance in 0..system.spec.instances {
                let name = if system.spec.namespace == "data-pipeline" {
                    format!("{app}-{instance}")
                } else {
                    self.deployment_pod(&app, &hash)
                };
                let pod = Pod {
                    cluster: (system_index + instance) % CLUSTERS.len(),
                    namespace: system.spec.namespace,
                    app: &app,
                    name,
                    container: system.spec.container,
                    job_type: system.spec.job_type,
                };
                let source = Source::Loghub {
                    system: system_index,
                    instance,
                };
                let instance_weight =
                    system.spec.weight / system.spec.instances as f64 * self.jitter();
                for (level, templates) in &system.by_level {
                    let share = templates.len() as f64 / system.lines.max(1) as f64;
                    let weight = instance_weight * share;
                    ids.push(self.add(&pod, *level, source, Category::Loghub, weight));
                }
            }
        }
        ids
    }
}
