//! Micro-benchmarks of the `| json` stage through `Pipeline::process` (so
//! with the label set and `finish`), over lines shaped like the corpus
//! generator's (`strata-corpus`): model-serving request lines (compact JSON,
//! ~300 bytes, some plain-text lines among them), training lines (Python
//! `json.dumps` spacing, mostly numbers) and nested objects with escapes.
//!
//! `wanted` runs the pipeline the agent builds for `| json` with
//! `promote: [level]`, `metadata: [trace_id]` (only those two extracted);
//! `all` extracts every field; `validate` wants a label no line has (the
//! scan alone); `filter` is `| json | level="error"`, which drops most
//! lines. `no_parser` is the floor: the label set and `finish` alone.
//!
//! `cargo bench -p strata-query --bench json_stage`

use std::hint::black_box;

use divan::Bencher;
use divan::counter::{BytesCount, ItemsCount};
use strata_model::Labels;
use strata_query::Pipeline;

fn main() {
    divan::main();
}

const LINES: usize = 1000;

/// A small deterministic generator (splitmix64).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

const MODELS: [(&str, &str); 3] = [("resnet50", "v3"), ("bert-large", "v7"), ("llama-7b", "v2")];

/// Model-serving lines as `strata-corpus` writes them: mostly compact JSON
/// request lines, some plain `Prediction request - Model: ...` lines.
fn serving_lines() -> Vec<String> {
    let mut rng = Rng(7);
    (0..LINES)
        .map(|i| {
            let (model, version) = MODELS[rng.below(3) as usize];
            let latency = 10.0 + rng.below(40_000) as f64 / 100.0;
            if rng.below(100) < 8 {
                return format!(
                    "Prediction request - Model: {model}, Version: {version}, Latency: {latency:.1}ms"
                );
            }
            let (level, status, error) = match rng.below(100) {
                0..=2 => (
                    "error",
                    503,
                    Some(
                        "upstream connect error or disconnect/reset before headers. reset reason: connection reset",
                    ),
                ),
                3..=6 => (
                    "warn",
                    429,
                    Some("rate limit exceeded: 200 requests/s per client"),
                ),
                _ => ("info", 200, None),
            };
            let mut line = format!(
                concat!(
                    r#"{{"timestamp":"2026-11-20T00:{:02}:{:02}.{:03}Z","level":"{}","#,
                    r#""message":"Prediction request","model_name":"{}","model_version":"{}","#,
                    r#""latency_ms":{:.2},"status":{},"trace_id":"{:016x}{:016x}","#,
                    r#""span_id":"{:016x}","method":"POST","path":"/v1/models/{}:predict","#,
                    r#""client_ip":"10.{}.{}.{}""#
                ),
                (i / 60) % 60,
                i % 60,
                rng.below(1000),
                level,
                model,
                version,
                latency,
                status,
                rng.next(),
                rng.next(),
                rng.next(),
                model,
                rng.below(8),
                rng.below(256),
                rng.below(256),
            );
            if let Some(error) = error {
                line.push_str(&format!(r#","error":"{error}""#));
            }
            line.push('}');
            line
        })
        .collect()
}

/// Training lines: Python spacing, many numeric fields.
fn training_lines() -> Vec<String> {
    let mut rng = Rng(11);
    (0..LINES)
        .map(|i| {
            format!(
                concat!(
                    r#"{{"timestamp": "2026-11-20T00:00:{:02}.{:06}Z", "level": "INFO", "#,
                    r#""logger": "ml.training", "message": "Batch completed", "job_id": "job-a609f0", "#,
                    r#""model_name": "vit-b16", "rank": {}, "epoch": 13, "step": {}, "batch": {}, "#,
                    r#""loss": {:.6}, "accuracy": {:.4}, "learning_rate": 0.00091519, "#,
                    r#""samples_processed": {}, "gpu_memory_allocated": {:.6}, "#,
                    r#""gpu_memory_reserved": {:.6}}}"#
                ),
                i % 60,
                rng.below(1_000_000),
                rng.below(8),
                75_800 + i,
                rng.below(4096),
                rng.below(5_000_000) as f64 / 1e6,
                rng.below(10_000) as f64 / 1e4,
                274_560 + i * 128,
                rng.below(48_000_000) as f64 / 1e6,
                rng.below(50_000_000) as f64 / 1e6,
            )
        })
        .collect()
}

/// Nested objects, arrays, escapes and unicode.
fn nested_lines() -> Vec<String> {
    let mut rng = Rng(13);
    (0..LINES)
        .map(|_| {
            format!(
                concat!(
                    r#"{{"ts":"2026-11-20T00:00:00Z","level":"info","#,
                    r#""msg":"GET /api/v1/items?id={} \"ok\" \u00e9t\u00e9","#,
                    r#""http":{{"method":"GET","status":{},"headers":{{"user-agent":"curl/8.5.0","x-request-id":"{:016x}"}}}},"#,
                    r#""tags":["a","b",{{"c":[1,2,3]}}],"trace_id":"{:016x}{:016x}","#,
                    r#""k8s":{{"pod":"api-7f9c-{}","namespace":"prod","labels":{{"app":"api","tier":"web"}}}},"#,
                    r#""duration":{}.{},"cached":false,"parent":null}}"#
                ),
                rng.below(100_000),
                200 + rng.below(4) * 100,
                rng.next(),
                rng.next(),
                rng.next(),
                rng.below(100),
                rng.below(1000),
                rng.below(1000),
            )
        })
        .collect()
}

fn corpus(name: &str) -> Vec<String> {
    match name {
        "serving" => serving_lines(),
        "training" => training_lines(),
        "nested" => nested_lines(),
        _ => unreachable!("{name}"),
    }
}

fn pipeline(stages: &str, wanted: Option<&[&str]>) -> Pipeline {
    let expr =
        strata_logql::parse_log_expr(&format!(r#"{{job="bench"}} {stages}"#)).expect("valid query");
    let wanted = wanted.map(|names| names.iter().map(|name| name.to_string()).collect());
    Pipeline::with_wanted_labels(&expr.stages, wanted).expect("compiles")
}

fn run(bencher: Bencher, lines: &[String], pipeline: &Pipeline) {
    let stream = Labels::parse(r#"{filename="/var/log/model-serving/app.log", job="bench"}"#)
        .expect("labels");
    let bytes: usize = lines.iter().map(String::len).sum();
    bencher
        .counter(BytesCount::new(bytes))
        .counter(ItemsCount::new(lines.len()))
        .bench(|| {
            for (i, line) in lines.iter().enumerate() {
                black_box(pipeline.process(i as i64, black_box(line), &stream, &[]));
            }
        });
}

const CORPORA: [&str; 3] = ["serving", "training", "nested"];

/// `| json` extracting only `level` and `trace_id`, as the agent runs it.
#[divan::bench(args = CORPORA)]
fn wanted(bencher: Bencher, corpus_name: &str) {
    let lines = corpus(corpus_name);
    run(
        bencher,
        &lines,
        &pipeline("| json", Some(&["level", "trace_id"])),
    );
}

/// `| json` wanting a label no line has: validation and scanning alone.
#[divan::bench(args = CORPORA)]
fn validate(bencher: Bencher, corpus_name: &str) {
    let lines = corpus(corpus_name);
    run(bencher, &lines, &pipeline("| json", Some(&["absent"])));
}

/// `| json` extracting every field.
#[divan::bench(args = CORPORA)]
fn all(bencher: Bencher, corpus_name: &str) {
    let lines = corpus(corpus_name);
    run(bencher, &lines, &pipeline("| json", None));
}

/// `| json | level="error"` as the server runs it (only `level` extracted):
/// most lines are dropped.
#[divan::bench(args = ["serving"])]
fn filter(bencher: Bencher, corpus_name: &str) {
    let lines = corpus(corpus_name);
    run(
        bencher,
        &lines,
        &pipeline(r#"| json | level="error""#, Some(&["level"])),
    );
}

/// `| json level="level", trace="trace_id"`: with parameters.
#[divan::bench(args = ["serving"])]
fn params(bencher: Bencher, corpus_name: &str) {
    let lines = corpus(corpus_name);
    run(
        bencher,
        &lines,
        &pipeline(r#"| json level="level", trace="trace_id""#, None),
    );
}

/// No parser: the label set and `finish` alone.
#[divan::bench(args = ["serving"])]
fn no_parser(bencher: Bencher, corpus_name: &str) {
    let lines = corpus(corpus_name);
    run(bencher, &lines, &pipeline("| drop nothing", None));
}
