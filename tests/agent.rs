//! End-to-end: `strata agent` following files into a real server, through
//! rotations (rename + create, copytruncate), SIGKILLs of the agent and an
//! outage of the server; every line is checked on the server.

mod common;

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{BIN, Server, client, now_ns};

const CONFIG: &str = "limits:\n  max_entries_per_query: 1000000\n";

fn agent(server_url: &str, dir: &Path) -> Child {
    Command::new(BIN)
        .args([
            "agent",
            "--path",
            &format!("{}/app.log*", dir.display()),
            "--push-url",
            server_url,
            "--labels",
            r#"{job="agent-test"}"#,
            "--positions",
            &dir.join("positions.json").display().to_string(),
            "--poll",
            "20ms",
        ])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("cannot start strata agent")
}

/// `strata agent --config CONFIG`, quiet but for warnings on stderr.
fn agent_command(config: &Path) -> Command {
    let mut command = Command::new(BIN);
    command
        .args(["agent", "--config"])
        .arg(config)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit());
    command
}

fn line(seq: usize) -> String {
    format!("seq={seq:08} payload={}\n", "p".repeat(seq % 23 + 20))
}

/// Every line of job agent-test on the server: seq -> times received.
fn received(server: &Server) -> BTreeMap<usize, usize> {
    let response = client()
        .get(format!("{}/loki/api/v1/query_range", server.url))
        .query(&[
            ("query", r#"{job="agent-test"}"#),
            ("start", &(now_ns() - 3_600_000_000_000).to_string()),
            ("end", &(now_ns() + 60_000_000_000).to_string()),
            ("limit", "1000000"),
        ])
        .send()
        .unwrap();
    let body: serde_json::Value = response.json().unwrap();
    let mut counts = BTreeMap::new();
    for stream in body["data"]["result"].as_array().unwrap() {
        for value in stream["values"].as_array().unwrap() {
            let text = value[1].as_str().unwrap();
            let seq: usize = text[4..12]
                .parse()
                .unwrap_or_else(|_| panic!("bad line {text:?}"));
            *counts.entry(seq).or_insert(0) += 1;
        }
    }
    counts
}

/// Waits until the server holds every seq below `total`; returns the counts.
fn wait_for_all(server: &Server, total: usize, within: Duration) -> BTreeMap<usize, usize> {
    let deadline = Instant::now() + within;
    loop {
        let counts = received(server);
        if counts.len() >= total || Instant::now() > deadline {
            return counts;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Polls the last hour of `query` (with categorize-labels) until the server
/// returns at least `entries` entries or 30 s pass; returns the last answer.
fn wait_for_entries(server: &Server, query: &str, entries: usize) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let body: serde_json::Value = client()
            .get(format!("{}/loki/api/v1/query_range", server.url))
            .header("X-Loki-Response-Encoding-Flags", "categorize-labels")
            .query(&[
                ("query", query),
                ("start", &(now_ns() - 3_600_000_000_000).to_string()),
                ("end", &(now_ns() + 60_000_000_000).to_string()),
                ("direction", "forward"),
            ])
            .send()
            .unwrap()
            .json()
            .unwrap();
        let count: usize = body["data"]["result"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["values"].as_array().unwrap().len())
            .sum();
        if count >= entries || Instant::now() > deadline {
            return body;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn missing(counts: &BTreeMap<usize, usize>, total: usize) -> Vec<usize> {
    (0..total)
        .filter(|seq| !counts.contains_key(seq))
        .take(10)
        .collect()
}

struct Writer {
    dir: PathBuf,
    file: File,
    seq: usize,
    rotations: usize,
}

impl Writer {
    fn new(dir: &Path) -> Writer {
        Writer {
            dir: dir.to_path_buf(),
            file: OpenOptions::new()
                .create(true)
                .append(true)
                .open(dir.join("app.log"))
                .unwrap(),
            seq: 0,
            rotations: 0,
        }
    }

    fn write(&mut self, lines: usize) {
        let mut text = String::new();
        for _ in 0..lines {
            text.push_str(&line(self.seq));
            self.seq += 1;
        }
        self.file.write_all(text.as_bytes()).unwrap();
    }

    /// logrotate's default: rename, then the application opens a new file.
    fn rotate_by_rename(&mut self) {
        self.rotations += 1;
        fs::rename(
            self.dir.join("app.log"),
            self.dir.join(format!("app.log.{}", self.rotations)),
        )
        .unwrap();
        self.file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("app.log"))
            .unwrap();
    }

    /// logrotate's copytruncate: copy, then truncate in place (the writer keeps its handle).
    fn rotate_by_copytruncate(&mut self) {
        self.rotations += 1;
        fs::copy(
            self.dir.join("app.log"),
            self.dir.join(format!("app.log.c{}", self.rotations)),
        )
        .unwrap();
        OpenOptions::new()
            .write(true)
            .open(self.dir.join("app.log"))
            .unwrap()
            .set_len(0)
            .unwrap();
    }
}

#[test]
fn rotations_of_both_kinds_lose_and_repeat_nothing() {
    let server_dir = tempfile::tempdir().unwrap();
    let server = Server::start(server_dir.path(), Some(CONFIG));
    let dir = tempfile::tempdir().unwrap();
    let mut writer = Writer::new(dir.path());
    writer.write(10);
    let mut agent = agent(&server.url, dir.path());
    // 100 rotations of each kind, 200 lines between them, as fast as it goes.
    for round in 0..200 {
        writer.write(200);
        if round % 2 == 0 {
            writer.rotate_by_rename();
        } else {
            writer.rotate_by_copytruncate();
        }
        if round % 20 == 0 {
            std::thread::sleep(Duration::from_millis(30));
        }
    }
    writer.write(50);
    let total = writer.seq;
    let counts = wait_for_all(&server, total, Duration::from_secs(120));
    agent.kill().unwrap();
    agent.wait().unwrap();
    assert_eq!(
        missing(&counts, total),
        Vec::<usize>::new(),
        "lost lines ({} of {total} received)",
        counts.len()
    );
    let repeated: Vec<_> = counts.iter().filter(|(_, n)| **n > 1).take(10).collect();
    assert!(repeated.is_empty(), "duplicated lines: {repeated:?}");
}

#[test]
fn an_agent_killed_20_times_delivers_every_line() {
    let server_dir = tempfile::tempdir().unwrap();
    let server = Server::start(server_dir.path(), Some(CONFIG));
    let dir = tempfile::tempdir().unwrap();
    let mut writer = Writer::new(dir.path());
    let mut agent = agent(&server.url, dir.path());
    for kill in 0..20 {
        for _ in 0..10 {
            writer.write(100);
            std::thread::sleep(Duration::from_millis(10));
        }
        if kill % 5 == 4 {
            writer.rotate_by_rename();
        }
        agent.kill().unwrap(); // SIGKILL
        agent.wait().unwrap();
        agent = agent_restarted(&server.url, dir.path());
    }
    writer.write(100);
    let total = writer.seq;
    let counts = wait_for_all(&server, total, Duration::from_secs(120));
    agent.kill().unwrap();
    agent.wait().unwrap();
    assert_eq!(
        missing(&counts, total),
        Vec::<usize>::new(),
        "lost lines ({} of {total} received)",
        counts.len()
    );
    // Lines sent again after a kill carry the timestamps they were first sent
    // with, so the server keeps them once: exactly once after its dedupe.
    let repeated: Vec<_> = counts.iter().filter(|(_, n)| **n > 1).take(10).collect();
    assert!(repeated.is_empty(), "lines returned twice: {repeated:?}");
}

fn agent_restarted(url: &str, dir: &Path) -> Child {
    agent(url, dir)
}

#[test]
fn a_30_second_server_outage_loses_nothing() {
    let server_dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let listen = format!("127.0.0.1:{port}");
    let server = Server::start_at(server_dir.path(), Some(CONFIG), &listen);
    let dir = tempfile::tempdir().unwrap();
    let mut writer = Writer::new(dir.path());
    let mut agent = agent(&server.url, dir.path());
    writer.write(1000);
    assert_eq!(
        wait_for_all(&server, 1000, Duration::from_secs(60)).len(),
        1000
    );
    server.kill();
    // 30 s without a server; the writer goes on and rotates once.
    let outage = Instant::now();
    for round in 0..30 {
        writer.write(200);
        if round == 15 {
            writer.rotate_by_rename();
        }
        std::thread::sleep(Duration::from_millis(1000));
    }
    assert!(outage.elapsed() >= Duration::from_secs(30));
    let server = Server::start_at(server_dir.path(), Some(CONFIG), &listen);
    let total = writer.seq;
    let counts = wait_for_all(&server, total, Duration::from_secs(120));
    agent.kill().unwrap();
    agent.wait().unwrap();
    assert_eq!(
        missing(&counts, total),
        Vec::<usize>::new(),
        "lost lines ({} of {total} received)",
        counts.len()
    );
    assert!(
        counts.values().all(|&n| n == 1),
        "an outage alone must not duplicate lines"
    );
}

#[test]
fn agent_refuses_bad_arguments() {
    let output = Command::new(BIN)
        .args([
            "agent",
            "--path",
            "/tmp/x*.log",
            "--labels",
            "{job=",
            "--positions",
            "/tmp/p.json",
        ])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("invalid --labels"), "{stderr}");
}

#[test]
fn a_yaml_config_with_two_sources_and_environment_variables() {
    let server_dir = tempfile::tempdir().unwrap();
    let server = Server::start(server_dir.path(), Some(CONFIG));
    let dir = tempfile::tempdir().unwrap();
    fs::create_dir_all(dir.path().join("gpu")).unwrap();
    fs::write(
        dir.path().join("train.log"),
        "epoch 1 loss 2.5\nepoch 2 loss 1.5\n",
    )
    .unwrap();
    fs::write(
        dir.path().join("gpu/node1.log"),
        "GPU 0: Utilization: 91%\n",
    )
    .unwrap();
    let config = dir.path().join("agent.yaml");
    fs::write(
        &config,
        format!(
            "positions: {dir}/positions.json\nsources:\n  - type: file\n    paths: [\"{dir}/*.log\"]\n    labels: {{job: training, cluster: \"${{TEST_CLUSTER:dev}}\"}}\n  - type: file\n    paths: [\"{dir}/gpu/*.log\"]\n    labels: {{job: gpu}}\noutput:\n  type: loki\n  url: {url}\npoll: 20ms\n",
            dir = dir.path().display(),
            url = server.url
        ),
    )
    .unwrap();
    let check = Command::new(BIN)
        .args([
            "agent",
            "--config",
            &config.display().to_string(),
            "--check-config",
        ])
        .env("TEST_CLUSTER", "gpu-east-1")
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
    let said = String::from_utf8_lossy(&check.stdout);
    assert!(
        said.contains("2 source(s)") && said.contains(r#"cluster="gpu-east-1""#),
        "{said}"
    );

    let mut agent = agent_command(&config)
        .env("TEST_CLUSTER", "gpu-east-1")
        .spawn()
        .unwrap();
    let body = wait_for_entries(&server, r#"{job=~"training|gpu"}"#, 3);
    let streams: Vec<(String, usize)> = body["data"]["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["stream"].to_string(),
                s["values"].as_array().unwrap().len(),
            )
        })
        .collect();
    agent.kill().unwrap();
    agent.wait().unwrap();
    let gpu = format!(
        r#"{{"filename":"{}/gpu/node1.log","job":"gpu"}}"#,
        dir.path().display()
    );
    let training = format!(
        r#"{{"cluster":"gpu-east-1","filename":"{}/train.log","job":"training"}}"#,
        dir.path().display()
    );
    let mut streams = streams;
    streams.sort();
    let mut expected = vec![(gpu, 1), (training, 2)];
    expected.sort();
    assert_eq!(streams, expected);

    // A config mistake is named, with a failing exit.
    fs::write(&config, "positions: p\nsources: [{type: file, paths: [a], lables: {}}]\noutput: {type: loki, url: http://x}\n").unwrap();
    let bad = Command::new(BIN)
        .args([
            "agent",
            "--config",
            &config.display().to_string(),
            "--check-config",
        ])
        .output()
        .unwrap();
    assert!(!bad.status.success());
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert!(
        stderr.contains("lables") && stderr.contains("agent.yaml"),
        "{stderr}"
    );
}

#[test]
fn a_pipeline_parses_promotes_and_filters_before_shipping() {
    let server_dir = tempfile::tempdir().unwrap();
    let server = Server::start(server_dir.path(), Some(CONFIG));
    let dir = tempfile::tempdir().unwrap();
    fs::write(
        dir.path().join("train.log"),
        concat!(
            r#"{"level":"INFO","message":"Batch completed","job_id":"job-1","loss":2.5}"#,
            "\n",
            r#"{"level":"DEBUG","message":"prefetch","job_id":"job-1"}"#,
            "\n",
            r#"{"level":"ERROR","message":"CUDA out of memory","job_id":"job-2"}"#,
            "\n",
            "not json at all\n",
        ),
    )
    .unwrap();
    let config = dir.path().join("agent.yaml");
    fs::write(
        &config,
        format!(
            "positions: {dir}/positions.json\nsources:\n  - type: file\n    paths: [\"{dir}/*.log\"]\n    labels: {{job: training}}\n    pipeline: '| json | __error__=\"\" | level!=\"DEBUG\" | line_format \"{{{{.level}}}} {{{{.message}}}}\"'\n    promote: [level]\n    metadata: [job_id]\noutput:\n  type: loki\n  url: {url}\npoll: 20ms\n",
            dir = dir.path().display(),
            url = server.url
        ),
    )
    .unwrap();
    let mut agent = agent_command(&config).spawn().unwrap();
    let body = wait_for_entries(&server, r#"{job="training"}"#, 2);
    agent.kill().unwrap();
    agent.wait().unwrap();
    let mut got: Vec<(String, String, String)> = Vec::new();
    for stream in body["data"]["result"].as_array().unwrap() {
        for value in stream["values"].as_array().unwrap() {
            got.push((
                stream["stream"]["level"].as_str().unwrap_or("").to_string(),
                value[1].as_str().unwrap().to_string(),
                value[2]["structuredMetadata"]["job_id"]
                    .as_str()
                    .unwrap_or("")
                    .to_string(),
            ));
        }
    }
    got.sort();
    assert_eq!(
        got,
        [
            (
                "ERROR".to_string(),
                "ERROR CUDA out of memory".to_string(),
                "job-2".to_string()
            ),
            (
                "INFO".to_string(),
                "INFO Batch completed".to_string(),
                "job-1".to_string()
            ),
        ]
    );
}

/// `strata_agent_buffer_bytes{output=...}` from the agent's /metrics.
fn buffer_bytes(metrics_url: &str) -> Option<u64> {
    let text = client().get(metrics_url).send().ok()?.text().ok()?;
    text.lines()
        .find(|line| line.starts_with("strata_agent_buffer_bytes{"))?
        .rsplit(' ')
        .next()?
        .parse()
        .ok()
}

#[test]
fn a_disk_buffer_absorbs_an_outage_while_the_other_output_goes_on_and_survives_sigkill() {
    let server_dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let listen = format!("127.0.0.1:{port}");
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("archive.log");
    let metrics_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config = dir.path().join("agent.yaml");
    fs::write(
        &config,
        format!(
            "positions: {dir}/positions.json\nsources:\n  - type: file\n    paths: [\"{dir}/app.log*\"]\n    labels: {{job: agent-test}}\noutputs:\n  - type: loki\n    url: http://{listen}\n    buffer: {{path: {dir}/buffer, max_bytes: 64MiB}}\n  - type: file\n    name: archive\n    path: {archive}\n    codec: text\npoll: 20ms\n",
            dir = dir.path().display(),
            archive = archive.display(),
        ),
    )
    .unwrap();
    let start = || {
        agent_command(&config)
            .args(["--metrics-listen", &format!("127.0.0.1:{metrics_port}")])
            .env("RUST_LOG", "error")
            .spawn()
            .unwrap()
    };
    let metrics_url = format!("http://127.0.0.1:{metrics_port}/metrics");
    let mut writer = Writer::new(dir.path());
    let mut agent = start();
    // No server: the archive still gets every line, the buffer holds them.
    writer.write(3000);
    let deadline = Instant::now() + Duration::from_secs(60);
    while fs::read_to_string(&archive).map_or(0, |t| t.lines().count()) < 3000 {
        assert!(
            Instant::now() < deadline,
            "the file output waited for the down server"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while buffer_bytes(&metrics_url).unwrap_or(0) == 0 {
        assert!(Instant::now() < deadline, "nothing in the buffer");
        std::thread::sleep(Duration::from_millis(50));
    }
    // Killed while the server is down; the buffer keeps what it holds.
    agent.kill().unwrap();
    agent.wait().unwrap();
    writer.write(1000);
    let mut agent = start();
    let server = Server::start_at(server_dir.path(), Some(CONFIG), &listen);
    let total = writer.seq;
    let counts = wait_for_all(&server, total, Duration::from_secs(120));
    assert_eq!(
        missing(&counts, total),
        Vec::<usize>::new(),
        "lost lines ({} of {total} received)",
        counts.len()
    );
    assert!(
        counts.values().all(|&n| n == 1),
        "each line once after dedupe"
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while buffer_bytes(&metrics_url) != Some(0) {
        assert!(Instant::now() < deadline, "the buffer did not drain");
        std::thread::sleep(Duration::from_millis(50));
    }
    // Per-output counters: the buffered output delivered everything it held.
    let metrics = client().get(&metrics_url).send().unwrap().text().unwrap();
    let sent: u64 = metrics
        .lines()
        .find(|line| line.starts_with(r#"strata_agent_output_sent_lines_total{output="loki"}"#))
        .and_then(|line| line.rsplit(' ').next()?.parse().ok())
        .unwrap_or_else(|| panic!("no per-output counter in\n{metrics}"));
    assert!(sent >= total as u64, "{sent} sent of {total}");
    agent.kill().unwrap();
    agent.wait().unwrap();
    // The archive has every line at least once (the restart may repeat the
    // batch that was in flight when the agent was killed).
    let archived: std::collections::BTreeSet<String> = fs::read_to_string(&archive)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    assert_eq!(archived.len(), total);
}

/// A TLS terminator in front of a server (as an ingress would be): Python's
/// ssl module with a certificate made by the openssl command line.
struct TlsProxy {
    child: Child,
    url: String,
    ca: PathBuf,
}

impl Drop for TlsProxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const TLS_PROXY: &str = r#"
import socket, ssl, sys, threading
cert, key, target_port = sys.argv[1], sys.argv[2], int(sys.argv[3])
context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
context.load_cert_chain(cert, key)
listener = socket.socket()
listener.bind(("127.0.0.1", 0))
listener.listen(64)
print(listener.getsockname()[1], flush=True)
def pipe(a, b):
    try:
        while True:
            data = a.recv(65536)
            if not data:
                break
            b.sendall(data)
    except OSError:
        pass
    finally:
        for s in (a, b):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
def serve(raw):
    try:
        client = context.wrap_socket(raw, server_side=True)
    except (ssl.SSLError, OSError):
        raw.close()
        return
    upstream = socket.create_connection(("127.0.0.1", target_port))
    threading.Thread(target=pipe, args=(upstream, client), daemon=True).start()
    pipe(client, upstream)
while True:
    raw, _ = listener.accept()
    threading.Thread(target=serve, args=(raw,), daemon=True).start()
"#;

impl TlsProxy {
    fn start(dir: &Path, server_url: &str) -> TlsProxy {
        let cert = dir.join("cert.pem");
        let key = dir.join("key.pem");
        let status = Command::new("openssl")
            .args([
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            ])
            .args([
                "-subj",
                "/CN=localhost",
                "-addext",
                "subjectAltName=IP:127.0.0.1,DNS:localhost",
            ])
            .arg("-keyout")
            .arg(&key)
            .arg("-out")
            .arg(&cert)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("the openssl command line is needed");
        assert!(status.success());
        let port = server_url.rsplit(':').next().unwrap();
        let mut child = Command::new("python3")
            .args(["-c", TLS_PROXY])
            .arg(&cert)
            .arg(&key)
            .arg(port)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut first = String::new();
        std::io::BufRead::read_line(
            &mut std::io::BufReader::new(child.stdout.take().unwrap()),
            &mut first,
        )
        .unwrap();
        TlsProxy {
            child,
            url: format!("https://127.0.0.1:{}", first.trim()),
            ca: cert,
        }
    }
}

#[test]
fn an_https_output_trusts_its_private_ca_and_refuses_an_unknown_certificate() {
    let server_dir = tempfile::tempdir().unwrap();
    let server = Server::start(server_dir.path(), Some(CONFIG));
    let dir = tempfile::tempdir().unwrap();
    let proxy = TlsProxy::start(dir.path(), &server.url);
    let config = |job: &str, tls: &str| {
        let path = dir.path().join(format!("{job}.yaml"));
        fs::write(
            &path,
            format!(
                "positions: {dir}/{job}-positions.json\nsources:\n  - type: file\n    paths: [\"{dir}/app.log*\"]\n    labels: {{job: {job}}}\noutput:\n  type: loki\n  url: {url}\n{tls}poll: 20ms\n",
                dir = dir.path().display(),
                url = proxy.url,
            ),
        )
        .unwrap();
        agent_command(&path)
            .env("RUST_LOG", "error")
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    };
    let mut writer = Writer::new(dir.path());
    writer.write(500);
    let mut trusted = config(
        "agent-test",
        &format!("  tls: {{ca_file: {}}}\n", proxy.ca.display()),
    );
    let mut untrusted = config("untrusted", "");
    let counts = wait_for_all(&server, 500, Duration::from_secs(60));
    assert_eq!(missing(&counts, 500), Vec::<usize>::new());
    // Without the CA the certificate is refused: nothing is sent (it retries).
    std::thread::sleep(Duration::from_secs(1));
    let untrusted_lines = client()
        .get(format!("{}/loki/api/v1/query_range", server.url))
        .query(&[
            ("query", r#"{job="untrusted"}"#),
            ("start", &(now_ns() - 3_600_000_000_000).to_string()),
        ])
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(
        untrusted_lines.contains(r#""result":[]"#),
        "{untrusted_lines}"
    );
    for agent in [&mut trusted, &mut untrusted] {
        agent.kill().unwrap();
        agent.wait().unwrap();
    }
}

#[test]
fn records_are_routed_to_the_outputs_their_stages_choose() {
    let server_dir = tempfile::tempdir().unwrap();
    let server = Server::start(server_dir.path(), Some(CONFIG));
    let dir = tempfile::tempdir().unwrap();
    let errors = dir.path().join("errors.jsonl");
    let config = dir.path().join("agent.yaml");
    fs::write(
        &config,
        format!(
            "positions: {dir}/positions.json\nsources:\n  - type: file\n    paths: [\"{dir}/app.log*\"]\n    labels: {{job: agent-test}}\n    outputs: [strata]\n    stages:\n      - regex: {{expression: 'seq=(?P<seq>\\d+)', types: {{seq: int}}}}\n      - match:\n          selector: '{{job=\"agent-test\"}} |~ \"seq=\\\\d*[05] \"'\n          stages:\n            - route: [strata, errors]\noutputs:\n  - {{type: loki, name: strata, url: '{url}'}}\n  - {{type: file, name: errors, path: {errors}}}\npoll: 20ms\n",
            dir = dir.path().display(),
            url = server.url,
            errors = errors.display(),
        ),
    )
    .unwrap();
    let mut agent = agent_command(&config).spawn().unwrap();
    let mut writer = Writer::new(dir.path());
    writer.write(1000);
    let counts = wait_for_all(&server, 1000, Duration::from_secs(60));
    assert_eq!(missing(&counts, 1000), Vec::<usize>::new());
    let deadline = Instant::now() + Duration::from_secs(10);
    let routed = loop {
        let text = fs::read_to_string(&errors).unwrap_or_default();
        let records: Vec<serde_json::Value> = text
            .lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect();
        if records.len() >= 200 || Instant::now() > deadline {
            break records;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    agent.kill().unwrap();
    agent.wait().unwrap();
    // Only the lines whose seq ends in 0 or 5 went to the file, with the
    // typed field as a number.
    assert_eq!(routed.len(), 200);
    for record in &routed {
        let seq = record["fields"]["seq"].as_u64().unwrap();
        assert_eq!(seq % 5, 0, "{record}");
        assert_eq!(record["labels"]["job"], "agent-test");
    }
}
