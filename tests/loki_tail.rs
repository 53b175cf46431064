//! End-to-end: live tail over a real WebSocket (`/loki/api/v1/tail`), with a
//! tungstenite client and with the `strata tail` command.

mod common;

use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{BIN, Server, now_ns};
use serde_json::{Value, json};
use tungstenite::Message;

fn push(server: &Server, stream: Value, values: &[(i64, &str)]) {
    let values: Vec<Value> = values
        .iter()
        .map(|(ts, line)| json!([ts.to_string(), line]))
        .collect();
    let body = json!({ "streams": [{ "stream": stream, "values": values }] });
    let (status, text) = server.push_json(&body.to_string());
    assert_eq!(status, 204, "{text}");
}

type Socket = tungstenite::WebSocket<TcpStream>;

fn connect(server: &Server, params: &str) -> Result<Socket, (u16, String)> {
    let address = server.url.trim_start_matches("http://").to_string();
    let url = format!("ws://{address}/loki/api/v1/tail?{params}");
    let stream = TcpStream::connect(&address).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    match tungstenite::client(url.as_str(), stream) {
        Ok((socket, _)) => Ok(socket),
        Err(tungstenite::HandshakeError::Failure(tungstenite::Error::Http(response))) => Err((
            response.status().as_u16(),
            String::from_utf8_lossy(response.body().as_deref().unwrap_or_default()).to_string(),
        )),
        Err(err) => panic!("handshake failed: {err}"),
    }
}

/// (labels as text, ts, line) of one tail message, in message order.
fn entries(message: &Value) -> Vec<(String, i64, String)> {
    let mut out = Vec::new();
    for stream in message["streams"].as_array().unwrap() {
        let labels = stream["stream"].to_string();
        for value in stream["values"].as_array().unwrap() {
            out.push((
                labels.clone(),
                value[0].as_str().unwrap().parse().unwrap(),
                value[1].as_str().unwrap().to_string(),
            ));
        }
    }
    out
}

fn next_message(socket: &mut Socket) -> Value {
    loop {
        match socket.read().expect("tail message") {
            Message::Text(text) => return serde_json::from_str(&text).unwrap(),
            Message::Close(frame) => panic!("tail closed: {frame:?}"),
            _ => {}
        }
    }
}

/// Reads messages until `count` entries arrived (or 10 s passed).
fn read_entries(socket: &mut Socket, count: usize) -> Vec<(String, i64, String)> {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut got = Vec::new();
    while got.len() < count && Instant::now() < deadline {
        let message = next_message(socket);
        assert!(message["dropped_entries"].is_null(), "{message}");
        got.extend(entries(&message));
    }
    got
}

fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

#[test]
fn tail_sends_history_then_live_entries_through_the_pipeline() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), None);
    let t0 = now_ns() - 60_000_000_000;
    let api = json!({ "app": "api" });
    push(
        &server,
        api.clone(),
        &[
            (t0, "old ERROR one"),
            (t0 + 1, "old info"),
            (t0 + 2, "old ERROR two"),
            (t0 + 3, "old ERROR three"),
        ],
    );
    let query = encode(r#"{app="api"} |= "ERROR""#);
    let mut socket = connect(&server, &format!("query={query}&limit=2&start={}", t0 - 1)).unwrap();
    // History: the newest two matching entries, oldest first.
    let history = entries(&next_message(&mut socket));
    let lines: Vec<&str> = history.iter().map(|e| e.2.as_str()).collect();
    assert_eq!(lines, ["old ERROR two", "old ERROR three"]);

    // Live: only matching entries of matching streams, in any timestamp order.
    let now = now_ns();
    push(
        &server,
        json!({ "app": "web" }),
        &[(now, "ERROR elsewhere")],
    );
    push(
        &server,
        api.clone(),
        &[(now + 1, "info live"), (now + 2, "ERROR live")],
    );
    push(&server, api.clone(), &[(t0 - 10, "ERROR late but new")]);
    let live = read_entries(&mut socket, 2);
    let mut lines: Vec<&str> = live.iter().map(|e| e.2.as_str()).collect();
    lines.sort();
    assert_eq!(lines, ["ERROR late but new", "ERROR live"]);
    assert!(live.iter().all(|e| e.0 == r#"{"app":"api"}"#), "{live:?}");

    // A parser and label filter, with line_format: the labels it extracts are in the result.
    let query = encode(r#"{app="api"} | json | level="error" | line_format "{{.msg}}""#);
    let mut parsed = connect(&server, &format!("query={query}&limit=0")).unwrap();
    assert!(entries(&next_message(&mut parsed)).is_empty());
    push(
        &server,
        api.clone(),
        &[
            (now + 3, r#"{"level":"error","msg":"disk full"}"#),
            (now + 4, r#"{"level":"info","msg":"ok"}"#),
        ],
    );
    let got = read_entries(&mut parsed, 1);
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].2, "disk full");
    assert_eq!(
        got[0].0,
        r#"{"app":"api","level":"error","msg":"disk full"}"#
    );

    // The server counts open tails.
    let (_, metrics) = server.get("/metrics");
    assert!(metrics.contains("strata_tails 2"), "{metrics}");
    drop(socket);
    drop(parsed);
}

#[test]
fn tail_refuses_bad_requests_with_400() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), None);
    let selector = encode(r#"{app="api"}"#);
    for params in [
        String::new(),
        format!("query={}", encode(r#"rate({app="api"}[1m])"#)),
        format!("query={selector}&delay_for=6"),
        format!("query={selector}&limit=-1"),
        format!("query={selector}&limit=999999"),
        format!("query={}", encode(r#"{app="api"} |~ "(""#)),
    ] {
        let (status, body) = connect(&server, &params).expect_err("refused");
        assert_eq!(status, 400, "{params}: {body}");
        assert_eq!(body.trim().lines().count(), 1, "{body}");
    }
}

#[test]
fn tails_beyond_the_limit_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(
        dir.path(),
        Some("limits:\n  max_concurrent_tail_requests: 2\n"),
    );
    let selector = format!("query={}", encode(r#"{app="api"}"#));
    let mut open: Vec<Socket> = (0..2)
        .map(|_| connect(&server, &selector).unwrap())
        .collect();
    for socket in &mut open {
        next_message(socket);
    }
    let (status, body) = connect(&server, &selector).expect_err("a third tail");
    assert_eq!(status, 400);
    assert!(body.contains("max_concurrent_tail_requests"), "{body}");
    // Closing one frees its place.
    let mut closed = open.pop().unwrap();
    closed.close(None).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match connect(&server, &selector) {
            Ok(_) => break,
            Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            Err(err) => panic!("the freed place was not given back: {err:?}"),
        }
    }
}

#[test]
fn strata_tail_follows_like_tail_f() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), None);
    let t0 = now_ns() - 1_000_000_000;
    push(
        &server,
        json!({ "job": "train" }),
        &[(t0, "epoch 1 loss 2.0")],
    );
    let mut child = Command::new(BIN)
        .args([
            "tail",
            r#"{job="train"} |~ "loss""#,
            "--server",
            &server.url,
            "--max-entries",
            "3",
            "--since",
            "5m",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let first = lines.next().unwrap().unwrap();
    assert!(
        first.ends_with(r#"{job="train"} epoch 1 loss 2.0"#),
        "{first}"
    );
    let now = now_ns();
    push(
        &server,
        json!({ "job": "train" }),
        &[
            (now, "epoch 2 loss 1.5"),
            (now + 1, "checkpoint saved"),
            (now + 2, "epoch 3 loss 1.1"),
        ],
    );
    let rest: Vec<String> = lines.map(Result::unwrap).collect();
    assert_eq!(rest.len(), 2, "{rest:?}");
    assert!(
        rest[0].ends_with("epoch 2 loss 1.5") && rest[1].ends_with("epoch 3 loss 1.1"),
        "{rest:?}"
    );
    let status = child.wait().unwrap();
    assert!(status.success());

    // A refused query is a one-line error and a failing exit.
    let output = Command::new(BIN)
        .args([
            "tail",
            r#"count_over_time({job="train"}[1m])"#,
            "--server",
            &server.url,
        ])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("400") && stderr.contains("log query"),
        "{stderr}"
    );
}
