//! The agent configs in examples/ (the lecture's Promtail, Fluentd, Fluent
//! Bit and Logstash pipelines, its cost section, journald, stdin) run on
//! sample lines against a real strata server, and the labels, fields and
//! metrics they produce are checked. Elasticsearch cannot run here, so the
//! Elasticsearch outputs write to a `_bulk` endpoint in this test that
//! records the documents and answers as Elasticsearch does.

mod common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{BIN, Server, client, now_ns};

fn example(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples")
        .join(name)
}

/// A free port on 127.0.0.1.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

struct Agent {
    child: Child,
    metrics: String,
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Agent {
    fn start(config: &Path, env: &[(&str, String)]) -> Agent {
        let port = free_port();
        let mut command = Command::new(BIN);
        command
            .args(["agent", "--config"])
            .arg(config)
            .args(["--metrics-listen", &format!("127.0.0.1:{port}")])
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit());
        for (name, value) in env {
            command.env(name, value);
        }
        Agent {
            child: command.spawn().expect("cannot start strata agent"),
            metrics: format!("http://127.0.0.1:{port}/metrics"),
        }
    }

    fn metrics(&self) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(response) = client().get(&self.metrics).send() {
                return response.text().unwrap();
            }
            assert!(Instant::now() < deadline, "no /metrics");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits until /metrics has a line starting with `prefix`; returns it.
    fn wait_metric(&self, prefix: &str, value: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let text = self.metrics();
            if let Some(line) = text
                .lines()
                .find(|line| line.starts_with(prefix) && line.ends_with(value))
            {
                return line.to_string();
            }
            assert!(
                Instant::now() < deadline,
                "no {prefix}... {value} in\n{text}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// RFC 3339 of `ts_ns` (UTC, nanoseconds).
fn rfc3339(ts_ns: i64) -> String {
    jiff::Timestamp::from_nanosecond(i128::from(ts_ns))
        .unwrap()
        .to_string()
}

/// The entries of `query` over the last hour, with their labels
/// (categorize-labels: stream, structured metadata and parsed merged).
fn query(
    server: &Server,
    tenant: Option<&str>,
    query: &str,
) -> Vec<(BTreeMap<String, String>, String)> {
    let mut request = client()
        .get(format!("{}/loki/api/v1/query_range", server.url))
        .query(&[
            ("query", query),
            ("start", &(now_ns() - 3_600_000_000_000).to_string()),
            ("end", &(now_ns() + 60_000_000_000).to_string()),
            ("direction", "forward"),
            ("limit", "5000"),
        ]);
    if let Some(tenant) = tenant {
        request = request.header("X-Scope-OrgID", tenant);
    }
    let text = request.send().unwrap().text().unwrap();
    let body: serde_json::Value =
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("{query}: {text}"));
    assert_eq!(body["status"], "success", "{query}: {body}");
    let mut out = Vec::new();
    for stream in body["data"]["result"].as_array().unwrap() {
        let labels: BTreeMap<String, String> = stream["stream"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
            .collect();
        for value in stream["values"].as_array().unwrap() {
            out.push((labels.clone(), value[1].as_str().unwrap().to_string()));
        }
    }
    out
}

fn wait_query(
    server: &Server,
    tenant: Option<&str>,
    logql: &str,
    entries: usize,
) -> Vec<(BTreeMap<String, String>, String)> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let found = query(server, tenant, logql);
        if found.len() >= entries || Instant::now() > deadline {
            return found;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// An HTTP endpoint that answers Elasticsearch's `_bulk` as Elasticsearch
/// does (201 per created item, `errors: false`) and keeps the documents.
struct Bulk {
    url: String,
    docs: Arc<Mutex<Vec<(serde_json::Value, serde_json::Value)>>>,
}

impl Bulk {
    fn start() -> Bulk {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let docs = Arc::new(Mutex::new(Vec::new()));
        let kept = docs.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let kept = kept.clone();
                std::thread::spawn(move || serve_bulk(stream, &kept));
            }
        });
        Bulk { url, docs }
    }

    fn wait(&self, count: usize) -> Vec<(serde_json::Value, serde_json::Value)> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let docs = self.docs.lock().unwrap().clone();
            if docs.len() >= count || Instant::now() > deadline {
                return docs;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

fn serve_bulk(stream: TcpStream, kept: &Mutex<Vec<(serde_json::Value, serde_json::Value)>>) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut writer = stream;
    loop {
        let mut request_line = String::new();
        if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
            return;
        }
        let mut length = 0usize;
        loop {
            let mut header = String::new();
            reader.read_line(&mut header).unwrap();
            let header = header.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':')
                && name.eq_ignore_ascii_case("content-length")
            {
                length = value.trim().parse().unwrap();
            }
        }
        let mut body = vec![0u8; length];
        reader.read_exact(&mut body).unwrap();
        assert!(request_line.starts_with("POST /_bulk "), "{request_line}");
        let text = String::from_utf8(body).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        let mut items = Vec::new();
        for pair in lines.chunks(2) {
            let action: serde_json::Value = serde_json::from_str(pair[0]).unwrap();
            let doc: serde_json::Value = serde_json::from_str(pair[1]).unwrap();
            items.push(serde_json::json!({"create": {"_index": action["create"]["_index"], "status": 201}}));
            kept.lock().unwrap().push((action, doc));
        }
        let answer = serde_json::json!({"took": 1, "errors": false, "items": items}).to_string();
        write!(
            writer,
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{answer}",
            answer.len()
        )
        .unwrap();
    }
}

/// An HTTP endpoint answering `GET /api/v1/pods?fieldSelector=spec.nodeName=NODE`
/// with a pod list in the Kubernetes API's shape (a kube-apiserver cannot
/// run here).
fn kubernetes_api(node: &str, pods: serde_json::Value) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let expected = format!("GET /api/v1/pods?fieldSelector=spec.nodeName%3D{node} ");
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut writer = stream;
            let mut request_line = String::new();
            if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
                continue;
            }
            loop {
                let mut header = String::new();
                if reader.read_line(&mut header).unwrap_or(0) == 0 || header.trim().is_empty() {
                    break;
                }
            }
            let (status, body) = if request_line.starts_with(&expected) {
                (
                    "200 OK",
                    serde_json::json!({"kind": "PodList", "apiVersion": "v1", "items": pods})
                        .to_string(),
                )
            } else {
                (
                    "400 Bad Request",
                    format!("unexpected request {request_line}"),
                )
            };
            let _ = write!(
                writer,
                "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    url
}

fn write_file(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

#[test]
fn promtail_example_labels_metadata_and_training_gauges() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), None);
    let logs = dir.path().join("log");
    let t = now_ns() - 10_000_000_000;
    let cri = |offset: i64, tag: &str, text: &str| {
        format!("{} stdout {tag} {text}\n", rfc3339(t + offset))
    };
    let mut training = String::new();
    training.push_str(&cri(0, "F", "loading dataset"));
    training.push_str(&cri(1_000, "F", "Epoch: 1, Loss: 0.9000, Accuracy: 0.5000"));
    training.push_str(&cri(2_000, "P", "Epoch: 2, Loss: 0.4"));
    training.push_str(&cri(2_001, "F", "500, Accuracy: 0.8000"));
    training.push_str(&cri(3_000, "F", "Epoch: 3, Loss: 0.2500, Accuracy: 0.9100"));
    write_file(
        &logs.join("pods/ml-training_trainer-0_5f1c-aa/trainer/0.log"),
        &training,
    );
    write_file(
        &logs.join("pods/web_frontend-7_77e0-bb/nginx/0.log"),
        &cri(0, "F", "GET / 200"),
    );
    let api = kubernetes_api(
        "gpu-node-1",
        serde_json::json!([
            {"metadata": {"name": "trainer-0", "namespace": "ml-training",
                          "labels": {"app": "trainer", "job_type": "training", "model_name": "resnet50"}}},
            {"metadata": {"name": "frontend-7", "namespace": "web", "labels": {"app": "frontend"}}},
        ]),
    );
    let agent = Agent::start(
        &example("agent/promtail-ml-training.yaml"),
        &[
            ("KUBERNETES_API_URL", api),
            ("NODE_NAME", "gpu-node-1".to_string()),
            ("LOG_DIR", logs.display().to_string()),
            (
                "POSITIONS",
                dir.path().join("positions.json").display().to_string(),
            ),
            ("STRATA_URL", server.url.clone()),
            ("CLUSTER_NAME", "gpu-east-1".to_string()),
        ],
    );
    let entries = wait_query(&server, None, r#"{namespace="ml-training"}"#, 4);
    assert_eq!(entries.len(), 4, "{entries:?}");
    // Partial CRI lines are joined into one entry.
    let (labels, _) = entries
        .iter()
        .find(|(_, line)| line == "Epoch: 2, Loss: 0.4500, Accuracy: 0.8000")
        .unwrap_or_else(|| panic!("no joined line in {entries:?}"));
    for (name, value) in [
        ("namespace", "ml-training"),
        ("pod", "trainer-0"),
        ("pod_uid", "5f1c-aa"),
        ("container", "trainer"),
        ("stream", "stdout"),
        ("job_type", "training"),
        ("app", "trainer"),
        ("model_name", "resnet50"),
        ("cluster", "gpu-east-1"),
        ("epoch", "2"),
        ("loss", "0.4500"),
        ("accuracy", "0.8000"),
    ] {
        assert_eq!(
            labels.get(name).map(String::as_str),
            Some(value),
            "{name} in {labels:?}"
        );
    }
    // epoch, loss and accuracy are structured metadata, not stream labels.
    let (status, body) = server.get("/loki/api/v1/label/loss/values");
    assert_eq!(status, 200);
    assert!(!body.contains("0.45"), "{body}");
    let low = query(&server, None, r#"{job_type="training"} | loss < 0.5"#);
    assert_eq!(low.len(), 2, "{low:?}");
    // The other pod has no job_type and no metadata.
    let web = wait_query(&server, None, r#"{namespace="web", container="nginx"}"#, 1);
    assert_eq!(web.len(), 1);
    assert!(!web[0].0.contains_key("job_type"));
    assert_eq!(web[0].0["app"], "frontend");
    // The gauges hold the last values, per stream.
    let loss = agent.wait_metric("strata_agent_custom_training_loss{", " 0.25");
    assert!(loss.contains(r#"pod="trainer-0""#), "{loss}");
    agent.wait_metric("strata_agent_custom_training_accuracy{", " 0.91");
    let metrics = agent.metrics();
    assert!(metrics.contains("# TYPE strata_agent_custom_training_loss gauge"));
}

#[test]
fn fluentd_example_docker_lines_to_elasticsearch_with_types() {
    let dir = tempfile::tempdir().unwrap();
    let bulk = Bulk::start();
    let logs = dir.path().join("log");
    let time = "2026-03-14T09:26:53.589793238Z";
    let docker = |text: &str| {
        format!(
            "{}\n",
            serde_json::json!({"log": format!("{text}\n"), "stream": "stdout", "time": time})
        )
    };
    write_file(
        &logs.join("containers/trainer-0_ml-training_training-0a1b2c.log"),
        &(docker("Epoch: 12, Loss: 0.2345, Accuracy: 0.9512") + &docker("checkpoint saved")),
    );
    write_file(
        &logs.join("containers/dcgm-2_ml-infra_gpu-exporter-3d4e5f.log"),
        &docker("GPU 3: Utilization: 87.5%, Memory: 31.2GB"),
    );
    let _agent = Agent::start(
        &example("agent/fluentd-ml-containers.yaml"),
        &[
            ("LOG_DIR", logs.display().to_string()),
            (
                "POSITIONS",
                dir.path().join("positions.json").display().to_string(),
            ),
            ("ES_URL", bulk.url.clone()),
        ],
    );
    let docs = bulk.wait(3);
    assert_eq!(docs.len(), 3, "{docs:?}");
    let find = |message: &str| {
        docs.iter()
            .find(|(_, doc)| doc["message"] == message)
            .unwrap_or_else(|| panic!("no document {message:?} in {docs:?}"))
    };
    let (action, epoch) = find("Epoch: 12, Loss: 0.2345, Accuracy: 0.9512");
    assert_eq!(action["create"]["_index"], "ml-logs-2026.03.14");
    assert_eq!(epoch["@timestamp"], time);
    assert_eq!(epoch["epoch"], 12);
    assert_eq!(epoch["loss"], 0.2345);
    assert_eq!(epoch["accuracy"], 0.9512);
    assert_eq!(epoch["namespace"], "ml-training");
    assert_eq!(epoch["pod"], "trainer-0");
    assert_eq!(epoch["container"], "training");
    assert_eq!(epoch["stream"], "stdout");
    let (_, checkpoint) = find("checkpoint saved");
    assert!(checkpoint.get("epoch").is_none());
    let (_, gpu) = find("GPU 3: Utilization: 87.5%, Memory: 31.2GB");
    assert_eq!(gpu["gpu_id"], 3);
    assert_eq!(gpu["gpu_util"], 87.5);
    assert_eq!(gpu["gpu_mem"], 31.2);
    assert_eq!(gpu["container"], "gpu-exporter");
}

#[test]
fn logstash_example_json_grok_date_and_enrichment_to_elasticsearch() {
    let dir = tempfile::tempdir().unwrap();
    let bulk = Bulk::start();
    let logs = dir.path().join("log");
    write_file(
        &logs.join("training/job-abc123.log"),
        concat!(
            r#"{"timestamp":"2026-02-01T12:00:00.250Z","level":"INFO","message":"starting epoch"}"#,
            "\n",
            "Epoch: 12, Loss: 0.2345, Accuracy: 0.9512\n",
            "GPU 3: Utilization: 87.5%, Memory: 31.2GB\n",
        ),
    );
    write_file(
        &logs.join("serving/resnet.log"),
        "Prediction request - Model: resnet50, Version: v2, Latency: 12.5ms\n",
    );
    let _agent = Agent::start(
        &example("agent/logstash-ml-pipeline.yaml"),
        &[
            ("LOG_DIR", logs.display().to_string()),
            (
                "POSITIONS",
                dir.path().join("positions.json").display().to_string(),
            ),
            ("ES_URL", bulk.url.clone()),
            ("CLUSTER_NAME", "gpu-east-1".to_string()),
        ],
    );
    let docs = bulk.wait(4);
    assert_eq!(docs.len(), 4, "{docs:?}");
    let find = |key: &str| {
        docs.iter()
            .find(|(_, doc)| doc.get(key).is_some())
            .unwrap_or_else(|| panic!("no document with {key} in {docs:?}"))
    };
    let (action, json) = find("level");
    // As Logstash's json filter without a target: parsed keys at the root,
    // `message` replaced by the parsed one.
    assert_eq!(json["message"], "starting epoch");
    assert_eq!(json["@timestamp"], "2026-02-01T12:00:00.250000000Z");
    assert_eq!(action["create"]["_index"], "ml-logs-2026.02.01");
    assert_eq!(json["cluster"], "gpu-east-1");
    assert_eq!(json["environment"], "production");
    assert_eq!(json["job_type"], "training");
    let (_, epoch) = find("epoch");
    assert_eq!(epoch["epoch"], 12);
    assert_eq!(epoch["loss"], 0.2345);
    assert_eq!(epoch["accuracy"], 0.9512);
    let (_, gpu) = find("gpu_util");
    assert_eq!(gpu["gpu_id"], 3);
    assert_eq!(gpu["gpu_mem"], 31.2);
    let (_, prediction) = find("model_name");
    assert_eq!(prediction["model_name"], "resnet50");
    assert_eq!(prediction["model_version"], "v2");
    assert_eq!(prediction["latency_ms"], 12.5);
    assert_eq!(prediction["app"], "model-serving");
}

#[test]
fn cost_example_excludes_and_samples_by_level() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(
        &dir.path().join("data"),
        Some("limits:\n  max_entries_per_query: 100000\n"),
    );
    let logs = dir.path().join("log");
    let mut text = String::new();
    for i in 0..1000 {
        text.push_str(&format!("ERROR: request {i} failed\n"));
        text.push_str(&format!("INFO: request {i} served\n"));
        text.push_str(&format!("DEBUG: request {i} details\n"));
        if i % 10 == 0 {
            text.push_str(&format!("INFO: health check {i} ok\n"));
        }
    }
    write_file(&logs.join("app.log"), &text);
    let agent = Agent::start(
        &example("agent/cost-sampling.yaml"),
        &[
            ("LOG_DIR", logs.display().to_string()),
            (
                "POSITIONS",
                dir.path().join("positions.json").display().to_string(),
            ),
            ("STRATA_URL", server.url.clone()),
        ],
    );
    agent.wait_metric(
        "strata_agent_dropped_lines_total{reason=\"excluded\"}",
        " 1100",
    );
    let errors = wait_query(&server, None, r#"{job="app", level="ERROR"}"#, 1000);
    assert_eq!(errors.len(), 1000);
    let infos = query(&server, None, r#"{job="app", level="INFO"}"#);
    assert!(
        (60..=140).contains(&infos.len()),
        "{} INFO kept of 1000",
        infos.len()
    );
    assert!(query(&server, None, r#"{job="app"} |= "DEBUG""#).is_empty());
    assert!(query(&server, None, r#"{job="app"} |= "health check""#).is_empty());
    let sampled = agent.wait_metric("strata_agent_dropped_lines_total{reason=\"sampled\"}", "");
    let count: usize = sampled.rsplit(' ').next().unwrap().parse().unwrap();
    assert_eq!(count + infos.len(), 1000, "{sampled}");
}

#[test]
fn fluent_bit_example_joins_tracebacks_drops_health_checks_and_sets_the_tenant() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), None);
    let logs = dir.path().join("log");
    let t = now_ns() - 5_000_000_000;
    let lines = [
        "step 100 done",
        "Traceback (most recent call last):",
        "  File \"train.py\", line 42, in <module>",
        "    loss.backward()",
        "RuntimeError: CUDA out of memory",
        "GET /health 200",
        "step 101 done",
    ];
    let text: String = lines
        .iter()
        .enumerate()
        .map(|(i, line)| format!("{} stderr F {line}\n", rfc3339(t + i as i64 * 1000)))
        .collect();
    write_file(
        &logs.join("containers/trainer-1_ml-training_pytorch-99aa.log"),
        &text,
    );
    let _agent = Agent::start(
        &example("agent/fluent-bit-ml.yaml"),
        &[
            ("LOG_DIR", logs.display().to_string()),
            (
                "POSITIONS",
                dir.path().join("positions.json").display().to_string(),
            ),
            ("STRATA_URL", server.url.clone()),
            ("CLUSTER_NAME", "gpu-east-1".to_string()),
        ],
    );
    // The last entry waits for max_wait_time (1 s) of quiet before it is sent.
    let entries = wait_query(&server, Some("ml-platform"), r#"{job="fluent-bit"}"#, 2);
    let texts: Vec<&str> = entries.iter().map(|(_, line)| line.as_str()).collect();
    assert_eq!(
        texts,
        [
            "step 100 done\nTraceback (most recent call last):\n  File \"train.py\", line 42, in <module>\n    loss.backward()\nRuntimeError: CUDA out of memory",
            "step 101 done",
        ]
    );
    let labels = &entries[0].0;
    assert_eq!(labels["cluster"], "gpu-east-1");
    assert_eq!(labels["stream"], "stderr");
    assert_eq!(labels["namespace"], "ml-training");
    // Nothing under the default tenant.
    assert!(query(&server, None, r#"{job="fluent-bit"}"#).is_empty());
}

#[test]
fn kubernetes_manifests_hold_a_daemonset_a_statefulset_and_a_valid_agent_config() {
    let dir = tempfile::tempdir().unwrap();
    let mut kinds = Vec::new();
    for name in [
        "strata-agent-daemonset.yaml",
        "strata-server-statefulset.yaml",
    ] {
        let text = std::fs::read_to_string(example(&format!("kubernetes/{name}"))).unwrap();
        for document in text.split("\n---\n") {
            let value: serde_json::Value =
                serde_saphyr::from_str(document).unwrap_or_else(|err| panic!("{name}: {err}"));
            kinds.push(value["kind"].as_str().unwrap().to_string());
            if value["kind"] == "ConfigMap" {
                let config = value["data"]["agent.yaml"].as_str().unwrap();
                let path = dir.path().join("agent.yaml");
                std::fs::write(&path, config).unwrap();
                let output = Command::new(BIN)
                    .args(["agent", "--check-config", "--config"])
                    .arg(&path)
                    .output()
                    .unwrap();
                assert!(
                    output.status.success(),
                    "{}",
                    String::from_utf8_lossy(&output.stderr)
                );
            }
            if value["kind"] == "DaemonSet" {
                let args = &value["spec"]["template"]["spec"]["containers"][0]["args"];
                assert_eq!(args[0], "agent");
            }
        }
    }
    for kind in [
        "ConfigMap",
        "DaemonSet",
        "ServiceAccount",
        "StatefulSet",
        "Service",
    ] {
        assert!(kinds.iter().any(|k| k == kind), "{kind} missing: {kinds:?}");
    }
    // Every example config passes --check-config.
    for entry in std::fs::read_dir(example("agent")).unwrap() {
        let path = entry.unwrap().path();
        let output = Command::new(BIN)
            .args(["agent", "--check-config", "--config"])
            .arg(&path)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{}: {}",
            path.display(),
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

#[test]
fn stdin_source_ships_every_line_then_exits() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), None);
    let config = dir.path().join("stdin.yaml");
    std::fs::write(
        &config,
        format!(
            "positions: {}/positions.json\nsources:\n  - type: stdin\n    labels: {{job: piped}}\n    stages:\n      - logfmt: {{}}\n      - labels: {{level: }}\noutput: {{type: loki, url: '{}'}}\n",
            dir.path().display(),
            server.url
        ),
    )
    .unwrap();
    let mut child = Command::new(BIN)
        .args(["agent", "--log-format", "json", "--config"])
        .arg(&config)
        .env("RUST_LOG", "info")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let logs = std::thread::spawn(move || {
        BufReader::new(stderr)
            .lines()
            .map(Result::unwrap)
            .collect::<Vec<String>>()
    });
    {
        let mut stdin = child.stdin.take().unwrap();
        for i in 0..500 {
            writeln!(
                stdin,
                "level={} n={i}",
                if i % 5 == 0 { "error" } else { "info" }
            )
            .unwrap();
        }
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "the agent did not exit at the end of stdin"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success());
    // The agent's own logs are JSON objects, one per line.
    let logs = logs.join().unwrap();
    assert!(!logs.is_empty());
    for line in &logs {
        let log: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|_| panic!("not JSON: {line}"));
        assert!(
            log["level"].is_string() && log["fields"].is_object(),
            "{line}"
        );
    }
    assert!(
        logs.iter().any(|line| line.contains("positions saved")),
        "{logs:?}"
    );
    assert_eq!(
        query(&server, None, r#"{job="piped", level="error"}"#).len(),
        100
    );
    assert_eq!(
        query(&server, None, r#"{job="piped", level="info"}"#).len(),
        400
    );
}

/// A journal file made by systemd-journal-remote from journal export
/// format, read by the journald example through journalctl --directory.
#[test]
fn journald_example_reads_a_journal_and_resumes_from_its_cursor() {
    let remote = [
        "/usr/lib/systemd/systemd-journal-remote",
        "/lib/systemd/systemd-journal-remote",
    ]
    .into_iter()
    .find(|path| Path::new(path).exists())
    .expect("systemd-journal-remote is needed (apt-get install systemd-journal-remote)");
    let dir = tempfile::tempdir().unwrap();
    let journal = dir.path().join("journal");
    std::fs::create_dir_all(&journal).unwrap();
    let export = |from: usize, to: usize| -> Vec<u8> {
        let mut out = Vec::new();
        for i in from..to {
            let micros = (now_ns() / 1000) - 60_000_000 + i as i64 * 1000;
            write!(
                out,
                "__REALTIME_TIMESTAMP={micros}\n__MONOTONIC_TIMESTAMP={i}\n_BOOT_ID=0123456789abcdef0123456789abcdef\n_HOSTNAME=gpu-node-1\n_SYSTEMD_UNIT={}\nPRIORITY={}\n_PID=42\nMESSAGE=journal entry {i}\n\n",
                if i % 2 == 0 { "kubelet.service" } else { "containerd.service" },
                if i % 10 == 0 { 3 } else { 6 }
            )
            .unwrap();
        }
        out
    };
    let write_journal = |name: &str, bytes: Vec<u8>| {
        let mut child = Command::new(remote)
            .arg(format!("--output={}", journal.join(name).display()))
            .arg("-")
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(&bytes).unwrap();
        assert!(child.wait().unwrap().success());
    };
    write_journal("first.journal", export(0, 100));
    let server = Server::start(&dir.path().join("data"), None);
    let env = [
        ("JOURNAL_DIR", journal.display().to_string()),
        (
            "POSITIONS",
            dir.path().join("positions.json").display().to_string(),
        ),
        ("STRATA_URL", server.url.clone()),
        ("NODE_NAME", "gpu-node-1".to_string()),
    ];
    let agent = Agent::start(&example("agent/journald.yaml"), &env);
    let entries = wait_query(&server, None, r#"{job="systemd-journal"}"#, 100);
    assert_eq!(entries.len(), 100);
    let kubelet = query(
        &server,
        None,
        r#"{job="systemd-journal", unit="kubelet.service"}"#,
    );
    assert_eq!(kubelet.len(), 50);
    let errors = query(&server, None, r#"{job="systemd-journal", level="error"}"#);
    assert_eq!(errors.len(), 10);
    assert_eq!(errors[0].0["hostname"], "gpu-node-1");
    assert_eq!(errors[0].0["node"], "gpu-node-1");
    // Restarted: it resumes after the saved cursor, then reads new entries.
    drop(agent);
    let saved = std::fs::read_to_string(dir.path().join("positions.json")).unwrap();
    assert!(saved.contains("cursors"), "{saved}");
    write_journal("second.journal", export(100, 150));
    let _agent = Agent::start(&example("agent/journald.yaml"), &env);
    let entries = wait_query(&server, None, r#"{job="systemd-journal"}"#, 150);
    assert_eq!(entries.len(), 150, "each entry once");
}
