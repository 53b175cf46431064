//! End-to-end: the requests Grafana's Loki data source makes, in order, when
//! a user saves the data source, opens Explore and the label browser, runs a
//! log query with its volume histogram and starts live tail; each answer is
//! checked for the shape and content Grafana reads. The request list follows
//! the data source's code (grafana-loki-datasource: datasource.ts,
//! LanguageProvider.ts, pkg/loki/api.go, healthcheck.go, LiveStreams.ts).

mod common;

use std::net::TcpStream;
use std::time::Duration;

use common::{Server, client, now_ns};
use serde_json::{Value, json};
use tungstenite::Message;

const MS: i64 = 1_000_000;

struct Grafana<'a> {
    server: &'a Server,
    /// The dashboard time range, in ns, as Grafana sends it.
    start: String,
    end: String,
}

impl Grafana<'_> {
    fn get(&self, path: &str, params: &[(&str, &str)], headers: &[(&str, &str)]) -> Value {
        let mut request = client()
            .get(format!("{}/loki/api/v1/{path}", self.server.url))
            .query(params);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = request.send().unwrap();
        let status = response.status().as_u16();
        let text = response.text().unwrap();
        assert_eq!(status, 200, "{path} {params:?}: {text}");
        serde_json::from_str(&text).unwrap()
    }

    fn range(&self) -> Vec<(&str, &str)> {
        vec![("start", self.start.as_str()), ("end", self.end.as_str())]
    }
}

fn push_fixture(server: &Server, t0: i64) {
    let line = |step: i64, loss: f64| {
        format!(
            r#"{{"level":"INFO","message":"Batch completed","job_id":"job-1","step":{step},"loss":{loss}}}"#
        )
    };
    let body = json!({ "streams": [
        { "stream": { "namespace": "ml-training", "app": "trainer", "level": "info" },
          "values": [
            [(t0 + 1_000 * MS).to_string(), line(1, 2.5), { "trace_id": "a1" }],
            [(t0 + 61_000 * MS).to_string(), line(2, 2.0)],
            [(t0 + 121_000 * MS).to_string(), line(3, 1.5)],
          ] },
        { "stream": { "namespace": "ml-training", "app": "trainer", "level": "error" },
          "values": [[(t0 + 62_000 * MS).to_string(), "CUDA error: out of memory"]] },
        { "stream": { "namespace": "ml-serving", "app": "gateway", "level": "info" },
          "values": [[(t0 + 30_000 * MS).to_string(), "GET /v1/models 200"]] },
    ]});
    let (status, text) = server.push_json(&body.to_string());
    assert_eq!(status, 204, "{text}");
}

#[test]
fn grafana_explore_session() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), None);
    let t0 = (now_ns() - 10 * 60_000 * MS) / (60_000 * MS) * (60_000 * MS);
    push_fixture(&server, t0);
    let grafana = Grafana {
        server: &server,
        start: t0.to_string(),
        end: (t0 + 5 * 60_000 * MS).to_string(),
    };

    // 1. "Save & test": vector(1)+vector(1) at 4 s must be one sample of 2.
    let health = grafana.get(
        "query",
        &[("query", "vector(1)+vector(1)"), ("time", "4000000000")],
        &[],
    );
    assert_eq!(health["data"]["resultType"], "vector");
    assert_eq!(health["data"]["result"][0]["value"][1], "2", "{health}");

    // 2. Explore opens: newer Grafana probes detected_labels, then label names.
    let detected = grafana.get("detected_labels", &grafana.range(), &[]);
    assert!(
        detected["detectedLabels"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l["label"] == "app"),
        "{detected}"
    );
    let names = grafana.get("labels", &grafana.range(), &[]);
    assert_eq!(
        names,
        json!({ "status": "success", "data": ["app", "level", "namespace"] })
    );

    // 3. Label browser: values of a label, then of another under a selector, then series.
    let mut params = grafana.range();
    let values = grafana.get("label/namespace/values", &params, &[]);
    assert_eq!(values["data"], json!(["ml-serving", "ml-training"]));
    params.push(("query", r#"{namespace="ml-training"}"#));
    let values = grafana.get("label/level/values", &params, &[]);
    assert_eq!(values["data"], json!(["error", "info"]));
    let mut params = grafana.range();
    params.push(("match[]", r#"{namespace="ml-training"}"#));
    let series = grafana.get("series", &params, &[]);
    assert_eq!(series["data"].as_array().unwrap().len(), 2, "{series}");

    // 4. The query editor's stats hint, per stream selector.
    let mut params = grafana.range();
    params.push(("query", r#"{namespace="ml-training"}"#));
    let stats = grafana.get("index/stats", &params, &[]);
    assert_eq!(
        (stats["streams"].as_u64(), stats["entries"].as_u64()),
        (Some(2), Some(4)),
        "{stats}"
    );

    // 5. Run the log query: categorize-labels, step in ms, limit 1000, backward.
    let expr = r#"{namespace="ml-training"} | json | __error__="""#;
    let mut params = grafana.range();
    params.extend([
        ("query", expr),
        ("direction", "backward"),
        ("limit", "1000"),
        ("step", "1200ms"),
    ]);
    let logs = grafana.get(
        "query_range",
        &params,
        &[("X-Loki-Response-Encoding-Flags", "categorize-labels")],
    );
    assert_eq!(logs["data"]["resultType"], "streams");
    assert_eq!(logs["data"]["encodingFlags"], json!(["categorize-labels"]));
    let mut lines = 0;
    for stream in logs["data"]["result"].as_array().unwrap() {
        // Only indexed labels in `stream`; parsed labels and metadata in the third element.
        assert!(stream["stream"].get("loss").is_none(), "{stream}");
        for value in stream["values"].as_array().unwrap() {
            assert_eq!(value.as_array().unwrap().len(), 3, "{value}");
            assert_eq!(value[0].as_str().unwrap().len(), 19, "{value}");
            assert!(value[2]["parsed"]["loss"].is_string(), "{value}");
            lines += 1;
        }
    }
    assert_eq!(
        lines, 3,
        "the plain-text CUDA line fails | json and is dropped: {logs}"
    );
    let first = &logs["data"]["result"][0]["values"];
    assert!(
        first
            .as_array()
            .unwrap()
            .iter()
            .any(|v| v[2]["structuredMetadata"]["trace_id"] == "a1"),
        "{logs}"
    );

    // 6. The logs volume histogram that Explore sends beside it.
    let volume_query = r#"sum by (level, detected_level) (count_over_time({namespace="ml-training"} | json | __error__="" | drop __error__[1m]))"#;
    let mut params = grafana.range();
    params.extend([
        ("query", volume_query),
        ("direction", "backward"),
        ("limit", "1000"),
        ("step", "60000ms"),
    ]);
    let histogram = grafana.get(
        "query_range",
        &params,
        &[
            ("X-Query-Tags", "Source=logvolhist"),
            ("X-Loki-Response-Encoding-Flags", "categorize-labels"),
        ],
    );
    assert_eq!(histogram["data"]["resultType"], "matrix", "{histogram}");
    let series = &histogram["data"]["result"][0];
    assert_eq!(series["metric"], json!({ "level": "info" }));
    let counts: Vec<(i64, String)> = series["values"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            (
                (v[0].as_f64().unwrap() * 1e3) as i64 * MS - t0,
                v[1].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        counts,
        [
            (60_000 * MS, "1".into()),
            (120_000 * MS, "1".into()),
            (180_000 * MS, "1".into())
        ]
    );

    // 7. Parser hints: a 10-line data sample.
    let mut params = grafana.range();
    params.extend([("query", r#"{namespace="ml-training"}"#), ("limit", "10")]);
    let sample = grafana.get(
        "query_range",
        &params,
        &[("X-Query-Tags", "Source=datasample")],
    );
    // Without categorize-labels, structured metadata is part of the label set:
    // the line with a trace id is a stream of its own.
    assert_eq!(
        sample["data"]["result"].as_array().unwrap().len(),
        3,
        "{sample}"
    );

    // 8. Live tail: Grafana sends only `query`.
    let address = server.url.trim_start_matches("http://").to_string();
    let stream = TcpStream::connect(&address).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let url = format!("ws://{address}/loki/api/v1/tail?query=%7Bnamespace%3D%22ml-training%22%7D");
    let (mut socket, _) = tungstenite::client(url.as_str(), stream).unwrap();
    let read = |socket: &mut tungstenite::WebSocket<TcpStream>| loop {
        if let Message::Text(text) = socket.read().unwrap() {
            break serde_json::from_str::<Value>(&text).unwrap();
        }
    };
    let history = read(&mut socket);
    let total: usize = history["streams"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["values"].as_array().unwrap().len())
        .sum();
    assert_eq!(total, 4, "{history}");
    let now = now_ns();
    let body = json!({ "streams": [{ "stream": { "namespace": "ml-training", "app": "trainer", "level": "info" },
        "values": [[now.to_string(), "live line"]] }] });
    assert_eq!(server.push_json(&body.to_string()).0, 204);
    let live = read(&mut socket);
    assert_eq!(live["streams"][0]["values"][0][1], "live line", "{live}");
    assert_eq!(
        live["streams"][0]["values"][0][0].as_str().unwrap().len(),
        19
    );
}
