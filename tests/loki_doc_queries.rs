//! Every LogQL example of Loki's documentation (crates/logql/tests/data)
//! runs on a real server holding logs shaped like the examples': a log query
//! through `query_range`, a metric query through `query` and `query_range`.
//! An answer is a 200, or a 400 that Loki gives too for that data (a pipeline
//! error on lines a parser rejects, a label_format naming a label twice).

mod common;

#[path = "../crates/logql/tests/doc_corpus/mod.rs"]
mod doc_corpus;

use common::{Server, client, now_ns};
use doc_corpus::{Section, in_section};
use serde_json::json;

/// Streams with the labels and line shapes the examples use.
fn push(server: &Server) {
    let t = now_ns() - 30_000_000_000;
    let v = |i: i64, line: &str| json!([(t + i * 1_000_000).to_string(), line]);
    let body = json!({ "streams": [
        { "stream": { "job": "mysql", "name": "mysql-backup", "container": "query-frontend", "namespace": "loki-dev", "cluster": "us-central1" },
          "values": [v(1, "level=error msg=\"timeout\" duration=10s status=500 method=GET"), v(2, "level=info msg=ok duration=1.5s status=200")] },
        { "stream": { "app": "foo", "env": "prod", "job": "nginx", "filename": "/var/log/nginx/access.log" },
          "values": [v(3, r#"{"level":"error","status":502,"request":{"method":"GET","time":"12ms"},"remote_addr":"10.0.0.1","bytes":"1.5KB"}"#),
                     v(4, r#"192.168.0.1 - - [21/Nov/2026:10:00:00 +0000] "GET /api HTTP/1.1" 200 932 "-" "curl/8""#)] },
        { "stream": { "job": "loki-ops/query-frontend", "namespace": "loki-ops", "container": "query-frontend", "instance": "i-1" },
          "values": [v(5, "level=debug ts=2026-11-21T10:00:00Z caller=metrics.go:92 org_id=29 latency=fast query_type=filter duration=1.2s status=200 throughput=1MB total_bytes=20MB")] },
    ]});
    let (status, text) = server.push_json(&body.to_string());
    assert_eq!(status, 204, "{text}");
}

/// Runtime errors Loki also answers for these examples on such data.
fn loki_would_refuse(message: &str) -> bool {
    message.starts_with("pipeline error")
        // `1 >= 1`: PromQL's and Loki's rule for literals.
        || message.contains("comparisons between scalars must use BOOL modifier")
        || message.contains("multiple label_format")
        || message.contains("maximum of series")
}

#[test]
fn every_documented_example_runs() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), None);
    push(&server);
    let (start, end) = (
        (now_ns() - 3_600_000_000_000).to_string(),
        (now_ns() + 1_000_000_000).to_string(),
    );
    let mut failures = Vec::new();
    let mut ran = 0;
    for entry in in_section(Section::Valid) {
        let metric = matches!(
            strata_logql::parse_expr(&entry.query),
            Ok(strata_logql::Expr::Metric(_))
        );
        let mut requests = vec![(
            "/loki/api/v1/query_range",
            vec![
                ("query", entry.query.as_str()),
                ("start", start.as_str()),
                ("end", end.as_str()),
                ("step", "60"),
            ],
        )];
        if metric {
            requests.push((
                "/loki/api/v1/query",
                vec![("query", entry.query.as_str()), ("time", end.as_str())],
            ));
        }
        for (path, params) in requests {
            ran += 1;
            let response = client()
                .get(format!("{}{path}", server.url))
                .query(&params)
                .send()
                .unwrap();
            let status = response.status().as_u16();
            let text = response.text().unwrap();
            let refused_like_loki = status == 400 && loki_would_refuse(text.trim());
            if status != 200 && !refused_like_loki {
                failures.push(format!(
                    "line {}: {} {path}: {status} {}",
                    entry.line,
                    entry.query,
                    text.trim()
                ));
            }
        }
    }
    assert!(ran > 250, "only {ran} requests");
    assert!(
        failures.is_empty(),
        "{} of {ran} requests failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
