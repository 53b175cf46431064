//! Model serving (`app=model-serving`) and its gateway (`app=gateway`).
//!
//! Servers log compact JSON request lines with a log-normal latency (and a
//! slow tail), a status and a fresh trace id, plus some plain
//! `Prediction request - Model: ..., Latency: ...ms` lines. The gateway writes
//! nginx access lines; most predict requests it logs are ones a server
//! logged just before, carrying the same trace id, as a real proxy would.

use crate::clock::Civil;
use crate::json::JsonLine;
use crate::level::Level;
use crate::math;
use crate::rng::Rng;
use crate::template::push_ip;
use crate::text::{push_fixed, push_hex, push_u64};
use std::collections::VecDeque;

/// A served model.
#[derive(Debug, Clone, Copy)]
pub struct ServedModel {
    pub name: &'static str,
    pub version: &'static str,
    /// Median latency in ms, and the log-normal spread around it.
    median_ms: f64,
    sigma: f64,
}

pub const SERVED_MODELS: [ServedModel; 3] = [
    ServedModel {
        name: "resnet50",
        version: "v3",
        median_ms: 22.0,
        sigma: 0.45,
    },
    ServedModel {
        name: "bert-large",
        version: "v7",
        median_ms: 48.0,
        sigma: 0.55,
    },
    ServedModel {
        name: "llama-7b",
        version: "v2",
        median_ms: 190.0,
        sigma: 0.5,
    },
];

/// A request a server logged, waiting for the gateway's access line.
#[derive(Debug, Clone, Copy)]
struct Request {
    trace: u128,
    model: usize,
    status: u16,
    latency_ms: f64,
    client_ip: u32,
}

/// Requests remembered for the gateway.
const RECENT_REQUESTS: usize = 256;

#[derive(Debug, Default)]
pub struct Serving {
    recent: VecDeque<Request>,
    /// nginx's connection serial (`*1234567`).
    connection_serial: u64,
}

impl Serving {
    pub fn new(rng: &mut Rng) -> Serving {
        Serving {
            recent: VecDeque::with_capacity(RECENT_REQUESTS),
            connection_serial: rng.range(1_000_000, 9_000_000),
        }
    }

    /// A model server's entry; `trace` forces the trace id (a planted needle).
    #[allow(clippy::too_many_arguments)]
    pub fn render_server(
        &mut self,
        model: usize,
        level: Level,
        trace: Option<u128>,
        civil: &Civil,
        clients: &[u32],
        rng: &mut Rng,
        out: &mut Vec<u8>,
    ) {
        let served = SERVED_MODELS[model];
        let roll = rng.unit();
        if trace.is_none() && level == Level::Info && roll < 0.2 {
            out.extend_from_slice(b"Prediction request - Model: ");
            out.extend_from_slice(served.name.as_bytes());
            out.extend_from_slice(b", Version: ");
            out.extend_from_slice(served.version.as_bytes());
            out.extend_from_slice(b", Latency: ");
            push_fixed(out, latency(&served, rng), 1);
            out.extend_from_slice(b"ms");
            return;
        }
        if trace.is_none() && level == Level::Warn && roll < 0.3 {
            out.extend_from_slice(b"Request queue depth ");
            push_u64(out, rng.range(49, 128));
            out.extend_from_slice(b" exceeds soft limit 48 for model ");
            out.extend_from_slice(served.name.as_bytes());
            return;
        }
        if trace.is_none() && level >= Level::Error && roll < 0.2 {
            out.extend_from_slice(b"Inference failed for model ");
            out.extend_from_slice(served.name.as_bytes());
            out.extend_from_slice(b": CUDA error: an illegal memory access was encountered");
            return;
        }
        let (level_word, status, error, latency_ms): (&str, u16, Option<&str>, f64) = match level {
            Level::Info | Level::Debug | Level::Trace => ("info", 200, None, latency(&served, rng)),
            Level::Warn => (
                "warn",
                429,
                Some("rate limit exceeded: 200 requests/s per client"),
                rng.uniform(0.3, 3.0),
            ),
            Level::Error | Level::Fatal => {
                if rng.chance(0.5) {
                    (
                        "error",
                        503,
                        Some(
                            "upstream connect error or disconnect/reset before headers. reset reason: connection reset",
                        ),
                        rng.uniform(1.0, 30.0),
                    )
                } else {
                    (
                        "error",
                        500,
                        Some("model inference timed out after 30000ms"),
                        30_000.0 + rng.uniform(0.0, 40.0),
                    )
                }
            }
        };
        let trace_id = trace.unwrap_or_else(|| rng.next_u128());
        let span_id = rng.next_u64();
        let client_ip = *rng.pick(clients);
        let mut json = JsonLine::begin(out, false);
        json.str_with("timestamp", |out| civil.push_iso_millis(out))
            .str("level", level_word)
            .str("message", "Prediction request")
            .str("model_name", served.name)
            .str("model_version", served.version)
            .fixed("latency_ms", latency_ms, 2)
            .uint("status", u64::from(status))
            .str_with("trace_id", |out| push_hex(out, trace_id, 32))
            .str_with("span_id", |out| push_hex(out, u128::from(span_id), 16))
            .str("method", "POST")
            .str_with("path", |out| predict_path(out, served.name))
            .str_with("client_ip", |out| push_ip(out, client_ip));
        if let Some(error) = error {
            json.str("error", error);
        }
        json.end();
        if trace.is_none() {
            if self.recent.len() == RECENT_REQUESTS {
                self.recent.pop_front();
            }
            self.recent.push_back(Request {
                trace: trace_id,
                model,
                status,
                latency_ms,
                client_ip,
            });
        }
    }

    /// A gateway entry; `trace` forces a predict request with that trace id.
    pub fn render_gateway(
        &mut self,
        level: Level,
        trace: Option<(u128, usize)>,
        civil: &Civil,
        clients: &[u32],
        rng: &mut Rng,
        out: &mut Vec<u8>,
    ) {
        if level >= Level::Error {
            self.error_line(civil, clients, rng, out);
            return;
        }
        let request = match trace {
            Some((trace, model)) => Some(Request {
                trace,
                model,
                status: 200,
                latency_ms: latency(&SERVED_MODELS[model], rng),
                client_ip: *rng.pick(clients),
            }),
            None if !self.recent.is_empty() && rng.chance(0.7) => self.recent.pop_front(),
            None => None,
        };
        let client_ip = request.map_or_else(|| *rng.pick(clients), |r| r.client_ip);
        push_ip(out, client_ip);
        out.extend_from_slice(b" - - [");
        civil.push_nginx_access(out);
        out.extend_from_slice(b"] \"");
        let (status, seconds, agent): (u16, f64, &[u8]) = match request {
            Some(request) => {
                out.extend_from_slice(b"POST ");
                predict_path(out, SERVED_MODELS[request.model].name);
                (
                    request.status,
                    request.latency_ms / 1000.0,
                    b"python-requests/2.31.0",
                )
            }
            None => {
                let (path, agent): (&[u8], &[u8]) = match rng.below(4) {
                    0 => (b"/healthz", b"kube-probe/1.29"),
                    1 => (b"/metrics", b"Prometheus/2.48.1"),
                    2 => (b"/v1/models/resnet50", b"curl/8.5.0"),
                    _ => (b"/v1/models/llama-7b/metadata", b"Go-http-client/1.1"),
                };
                out.extend_from_slice(b"GET ");
                out.extend_from_slice(path);
                (200, rng.uniform(0.0005, 0.004), agent)
            }
        };
        out.extend_from_slice(b" HTTP/1.1\" ");
        push_u64(out, u64::from(status));
        out.push(b' ');
        push_u64(out, rng.range(120, 4000));
        out.extend_from_slice(b" \"-\" \"");
        out.extend_from_slice(agent);
        out.extend_from_slice(b"\" rt=");
        let connect = rng.uniform(0.0, 0.002);
        push_fixed(out, seconds + connect + 0.001, 3);
        out.extend_from_slice(b" uct=");
        push_fixed(out, connect, 3);
        out.extend_from_slice(b" urt=");
        push_fixed(out, seconds, 3);
        out.extend_from_slice(b" trace_id=");
        match request {
            Some(request) => push_hex(out, request.trace, 32),
            None => out.push(b'-'),
        }
    }

    /// nginx's error log: failed or reset upstream connections.
    fn error_line(&mut self, civil: &Civil, clients: &[u32], rng: &mut Rng, out: &mut Vec<u8>) {
        self.connection_serial += rng.range(1, 5000);
        civil.push_date(out, b'/');
        out.push(b' ');
        civil.push_time(out);
        out.extend_from_slice(b" [error] 31#31: *");
        push_u64(out, self.connection_serial);
        out.push(b' ');
        out.extend_from_slice(match rng.below(4) {
            0 => &b"connect() failed (111: Connection refused) while connecting to upstream"[..],
            1 => b"recv() failed (104: Connection reset by peer) while reading response header from upstream",
            2 => b"upstream timed out (110: Connection timed out) while reading response header from upstream",
            _ => b"no live upstreams while connecting to upstream",
        });
        let model = SERVED_MODELS[rng.index(SERVED_MODELS.len())].name;
        out.extend_from_slice(b", client: ");
        push_ip(out, *rng.pick(clients));
        out.extend_from_slice(b", server: inference.ml.internal, request: \"POST ");
        predict_path(out, model);
        out.extend_from_slice(b" HTTP/1.1\", upstream: \"http://");
        push_ip(out, *rng.pick(clients));
        out.extend_from_slice(b":8080");
        predict_path(out, model);
        out.extend_from_slice(b"\", host: \"inference.ml.internal\"");
    }
}

/// Log-normal around the model's median, with 1% of requests in a slow tail.
fn latency(model: &ServedModel, rng: &mut Rng) -> f64 {
    let base = model.median_ms * math::exp(model.sigma * rng.normal());
    if rng.chance(0.01) {
        base * rng.uniform(8.0, 40.0)
    } else {
        base
    }
}

fn predict_path(out: &mut Vec<u8>, model: &str) {
    out.extend_from_slice(b"/v1/models/");
    out.extend_from_slice(model.as_bytes());
    out.extend_from_slice(b":predict");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_json_and_gateway_share_trace_ids() {
        let mut rng = Rng::new(11);
        let mut serving = Serving::new(&mut rng);
        let civil = Civil::from_unix_nanos(1_795_132_800_000_000_000);
        let clients = [u32::from_be_bytes([10, 0, 0, 1])];
        let mut traces = Vec::new();
        for level in [Level::Info, Level::Warn, Level::Error] {
            for _ in 0..100 {
                let mut out = Vec::new();
                serving.render_server(2, level, None, &civil, &clients, &mut rng, &mut out);
                if out.starts_with(b"{") {
                    let value: serde_json::Value = serde_json::from_slice(&out).expect("json");
                    let trace = value["trace_id"].as_str().expect("trace").to_string();
                    assert_eq!(trace.len(), 32);
                    traces.push(trace);
                }
            }
        }
        let mut shared = 0;
        for _ in 0..100 {
            let mut out = Vec::new();
            serving.render_gateway(Level::Info, None, &civil, &clients, &mut rng, &mut out);
            let line = String::from_utf8(out).expect("utf-8");
            if traces.iter().any(|trace| line.contains(trace.as_str())) {
                shared += 1;
            }
        }
        assert!(shared > 20, "{shared}");
        let mut out = Vec::new();
        serving.render_gateway(
            Level::Info,
            Some((0xabc, 1)),
            &civil,
            &clients,
            &mut rng,
            &mut out,
        );
        assert!(
            String::from_utf8(out)
                .expect("utf-8")
                .ends_with("trace_id=00000000000000000000000000000abc")
        );
    }
}
