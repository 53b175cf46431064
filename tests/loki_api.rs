//! End-to-end: a real server on 127.0.0.1, real pushes (JSON, gzip JSON,
//! snappy protobuf), queries back through the Loki HTTP API.

mod common;

use common::{Server, client, entries, lines, now_ns};
use serde_json::json;

fn push_body(labels: serde_json::Value, values: Vec<serde_json::Value>) -> String {
    json!({ "streams": [{ "stream": labels, "values": values }] }).to_string()
}

#[test]
fn push_json_and_query_back_with_filters_and_parsers() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), None);
    let base = now_ns() - 60_000_000_000;
    let values: Vec<serde_json::Value> = (0..100)
        .map(|i| {
            let level = if i % 10 == 0 { "error" } else { "info" };
            json!([
                (base + i * 1_000_000).to_string(),
                format!(
                    r#"{{"level":"{level}","step":{i},"loss":{}}}"#,
                    1.0 / (i as f64 + 1.0)
                )
            ])
        })
        .collect();
    let (status, body) =
        server.push_json(&push_body(json!({"job": "trainer", "pod": "p-1"}), values));
    assert_eq!(status, 204, "{body}");
    let (status, body) = server.push_json(&push_body(json!({"job": "serving"}), vec![json!([(base + 5).to_string(), "GET /predict 200 trace_id=abc123 latency_ms=12", {"trace_id": "abc123"}])]));
    assert_eq!(status, 204, "{body}");

    let start = (base - 1).to_string();
    let end = (base + 1_000_000_000).to_string();
    let query = |q: &str| {
        server.query_range(&[
            ("query", q),
            ("start", &start),
            ("end", &end),
            ("limit", "1000"),
        ])
    };

    let all = query(r#"{job="trainer"}"#);
    assert_eq!(all["status"], "success");
    assert_eq!(all["data"]["resultType"], "streams");
    assert_eq!(entries(&all).len(), 100);
    // Backward by default: newest first.
    let ts: Vec<i64> = entries(&all).iter().map(|e| e.1).collect();
    assert!(ts.windows(2).all(|w| w[0] > w[1]));

    assert_eq!(
        lines(&query(r#"{job="trainer"} |= "\"level\":\"error\"""#)).len(),
        10
    );
    assert_eq!(
        lines(&query(r#"{job="trainer"} | json | level="error""#)).len(),
        10
    );
    assert_eq!(
        lines(&query(r#"{job="trainer"} | json | step >= 90"#)).len(),
        10
    );
    assert_eq!(
        lines(&query(r#"{job=~"train.*"} != "error" |~ "step\":9[0-9]""#)).len(),
        9
    );
    let formatted = lines(&query(
        r#"{job="trainer"} | json | step = 42 | line_format "{{.pod}}: step {{.step}}""#,
    ));
    assert_eq!(formatted, ["p-1: step 42"]);

    // Structured metadata comes back among the labels.
    let serving = query(r#"{job="serving"} |= "abc123""#);
    let found = entries(&serving);
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].0["trace_id"], "abc123");

    // limit and direction.
    let forward = server.query_range(&[
        ("query", r#"{job="trainer"}"#),
        ("start", &start),
        ("end", &end),
        ("limit", "3"),
        ("direction", "forward"),
    ]);
    let ts: Vec<i64> = entries(&forward).iter().map(|e| e.1).collect();
    assert_eq!(ts, [base, base + 1_000_000, base + 2_000_000]);

    // [start, end): an entry at `end` is excluded.
    let window = server.query_range(&[
        ("query", r#"{job="trainer"}"#),
        ("start", &base.to_string()),
        ("end", &(base + 2_000_000).to_string()),
    ]);
    assert_eq!(entries(&window).len(), 2);

    // Labels, label values, series.
    let (status, body) = server.get(&format!("/loki/api/v1/labels?start={start}&end={end}"));
    assert_eq!(status, 200, "{body}");
    let labels: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(labels["data"], json!(["job", "pod"]));
    let (_, body) = server.get(&format!(
        "/loki/api/v1/label/job/values?start={start}&end={end}"
    ));
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&body).unwrap()["data"],
        json!(["serving", "trainer"])
    );
    let response = client()
        .get(format!("{}/loki/api/v1/series", server.url))
        .query(&[
            ("match[]", r#"{job="trainer"}"#),
            ("start", &start),
            ("end", &end),
        ])
        .send()
        .unwrap();
    let series: serde_json::Value = response.json().unwrap();
    assert_eq!(series["data"], json!([{"job": "trainer", "pod": "p-1"}]));

    // Flushing to parts changes nothing in the answers; neither does a restart.
    server.flush();
    assert_eq!(entries(&query(r#"{job="trainer"}"#)).len(), 100);
    let data_dir = server.data_dir.clone();
    server.stop();
    let server = Server::start(&data_dir, None);
    let again = server.query_range(&[
        ("query", r#"{job="trainer"} |= "error""#),
        ("start", &start),
        ("end", &end),
        ("limit", "1000"),
    ]);
    assert_eq!(lines(&again).len(), 10);
}

#[test]
fn duplicates_are_returned_once_and_out_of_order_is_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), None);
    let base = now_ns() - 10_000_000_000;
    let values = vec![
        json!([(base + 3).to_string(), "c"]),
        json!([(base + 1).to_string(), "a"]),
        json!([(base + 2).to_string(), "b"]),
    ];
    let body = push_body(json!({"job": "dup"}), values);
    assert_eq!(server.push_json(&body).0, 204);
    server.flush();
    assert_eq!(server.push_json(&body).0, 204);
    let result = server.query_range(&[
        ("query", r#"{job="dup"}"#),
        ("start", &base.to_string()),
        ("end", &(base + 10).to_string()),
        ("direction", "forward"),
    ]);
    assert_eq!(lines(&result), ["a", "b", "c"]);
}

#[test]
fn protobuf_and_gzip_pushes() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), None);
    let base = now_ns() - 10_000_000_000;
    // Protobuf + snappy, as Promtail and the Loki clients send it.
    let request = strata_ingest::PushRequest {
        streams: vec![strata_ingest::StreamAdapter {
            labels: r#"{job="proto", env="dev"}"#.to_string(),
            entries: (0..10)
                .map(|i| strata_ingest::EntryAdapter {
                    timestamp: Some(strata_ingest::Timestamp {
                        seconds: (base + i) / 1_000_000_000,
                        nanos: ((base + i) % 1_000_000_000) as i32,
                    }),
                    line: format!("proto line {i}"),
                    structured_metadata: vec![strata_ingest::LabelPairAdapter {
                        name: "trace_id".into(),
                        value: format!("t{i}"),
                    }],
                })
                .collect(),
            hash: 0,
        }],
    };
    let body = snap::raw::Encoder::new()
        .compress_vec(&prost::Message::encode_to_vec(&request))
        .unwrap();
    let response = client()
        .post(format!("{}/loki/api/v1/push", server.url))
        .header("Content-Type", "application/x-protobuf")
        .body(body)
        .send()
        .unwrap();
    assert_eq!(response.status().as_u16(), 204);
    // gzip-encoded JSON.
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder
        .write_all(
            push_body(
                json!({"job": "gz"}),
                vec![json!([base.to_string(), "zipped"])],
            )
            .as_bytes(),
        )
        .unwrap();
    let response = client()
        .post(format!("{}/loki/api/v1/push", server.url))
        .header("Content-Type", "application/json")
        .header("Content-Encoding", "gzip")
        .body(encoder.finish().unwrap())
        .send()
        .unwrap();
    assert_eq!(response.status().as_u16(), 204);

    let start = (base - 1).to_string();
    let end = (base + 100).to_string();
    let proto = server.query_range(&[
        ("query", r#"{job="proto"} | trace_id="t3""#),
        ("start", &start),
        ("end", &end),
    ]);
    assert_eq!(lines(&proto), ["proto line 3"]);
    assert_eq!(
        lines(&server.query_range(&[("query", r#"{job="gz"}"#), ("start", &start), ("end", &end)])),
        ["zipped"]
    );

    // categorize-labels: structured metadata apart from the stream labels.
    let response = client()
        .get(format!("{}/loki/api/v1/query_range", server.url))
        .header("X-Loki-Response-Encoding-Flags", "categorize-labels")
        .query(&[
            ("query", r#"{job="proto"} |= "line 7""#),
            ("start", start.as_str()),
            ("end", end.as_str()),
        ])
        .send()
        .unwrap();
    let categorized: serde_json::Value = response.json().unwrap();
    let stream = &categorized["data"]["result"][0];
    assert_eq!(stream["stream"], json!({"env": "dev", "job": "proto"}));
    assert_eq!(
        stream["values"][0][2]["structuredMetadata"],
        json!({"trace_id": "t7"})
    );
    assert_eq!(
        categorized["data"]["encodingFlags"],
        json!(["categorize-labels"])
    );

    // Entries of one stream with different metadata still come back in time order.
    let values = (0..6).map(|i| json!([(base + 1000 + i).to_string(), format!("m{i}"), {"trace_id": format!("t{}", i % 2)}])).collect();
    assert_eq!(
        server
            .push_json(&push_body(json!({"job": "mixed"}), values))
            .0,
        204
    );
    let response = client()
        .get(format!("{}/loki/api/v1/query_range", server.url))
        .header("X-Loki-Response-Encoding-Flags", "categorize-labels")
        .query(&[
            ("query", r#"{job="mixed"}"#),
            ("start", start.as_str()),
            ("end", (base + 2000).to_string().as_str()),
        ])
        .send()
        .unwrap();
    let categorized: serde_json::Value = response.json().unwrap();
    let lines: Vec<&str> = categorized["data"]["result"][0]["values"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v[1].as_str().unwrap())
        .collect();
    assert_eq!(lines, ["m5", "m4", "m3", "m2", "m1", "m0"]);

    // What Grafana's parser of this encoding needs: every value a 3-tuple
    // (an empty object without metadata), encodingFlags before result.
    let text = client()
        .get(format!("{}/loki/api/v1/query_range", server.url))
        .header("X-Loki-Response-Encoding-Flags", "categorize-labels")
        .query(&[
            ("query", r#"{job="gz"}"#),
            ("start", start.as_str()),
            ("end", end.as_str()),
        ])
        .send()
        .unwrap()
        .text()
        .unwrap();
    let plain: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        plain["data"]["result"][0]["values"][0][2],
        json!({}),
        "{text}"
    );
    assert!(
        text.find("\"encodingFlags\"").unwrap() < text.find("\"result\"").unwrap(),
        "{text}"
    );
}

#[test]
fn tenants_are_separate() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), None);
    let base = now_ns() - 10_000_000_000;
    let body = push_body(
        json!({"job": "t"}),
        vec![json!([base.to_string(), "tenant a"])],
    );
    let response = client()
        .post(format!("{}/loki/api/v1/push", server.url))
        .header("X-Scope-OrgID", "team-a")
        .header("Content-Type", "application/json")
        .body(body)
        .send()
        .unwrap();
    assert_eq!(response.status().as_u16(), 204);
    let params = [
        ("query", r#"{job="t"}"#),
        ("start", &(base - 1).to_string()),
        ("end", &(base + 1).to_string()),
    ];
    assert!(lines(&server.query_range(&params)).is_empty());
    let response = client()
        .get(format!("{}/loki/api/v1/query_range", server.url))
        .header("X-Scope-OrgID", "team-a")
        .query(&params)
        .send()
        .unwrap();
    let result: serde_json::Value = response.json().unwrap();
    assert_eq!(lines(&result), ["tenant a"]);
    let response = client()
        .get(format!("{}/loki/api/v1/labels", server.url))
        .header("X-Scope-OrgID", "../etc")
        .send()
        .unwrap();
    assert_eq!(response.status().as_u16(), 400);
}

#[test]
fn bad_input_gets_a_clear_4xx() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(
        &dir.path().join("data"),
        Some("limits:\n  max_line_bytes: 100\n  max_request_bytes: 100000\n"),
    );
    let now = now_ns().to_string();
    let check = |status: u16, body: &str, expected_status: u16, needle: &str| {
        assert_eq!(status, expected_status, "{body}");
        assert!(body.contains(needle), "{body:?} lacks {needle:?}");
        assert_eq!(body.trim().lines().count(), 1, "one line: {body:?}");
    };
    let (status, body) = server.push_json("{not json");
    check(status, &body, 400, "cannot parse JSON push body");
    let (status, body) = server.push_json(&push_body(
        json!({"bad-name": "x"}),
        vec![json!([now, "l"])],
    ));
    check(status, &body, 400, "invalid label name");
    let (status, body) = server.push_json(&push_body(
        json!({"job": "x"}),
        vec![json!([now, "ok"]), json!([now, "y".repeat(200)])],
    ));
    check(status, &body, 400, "max_line_bytes");
    assert!(body.contains("1 valid entries were stored"), "{body}");
    let big = push_body(json!({"job": "x"}), vec![json!([now, "z".repeat(200_000)])]);
    let (status, body) = server.push_json(&big);
    check(status, &body, 413, "max_request_bytes");
    let response = client()
        .post(format!("{}/loki/api/v1/push", server.url))
        .header("Content-Type", "text/plain")
        .body("x")
        .send()
        .unwrap();
    assert_eq!(response.status().as_u16(), 415);

    let (status, body) = server.get("/loki/api/v1/query_range?query=%7Bjob%3D%22x%22%7D%20%7C%3D");
    check(status, &body, 400, "parse error at line 1, col");
    let (status, body) =
        server.get("/loki/api/v1/query_range?query=%7Bjob%3D%22x%22%7D&limit=100000");
    check(status, &body, 400, "max_entries_limit_per_query");
    let (status, body) = server.get("/loki/api/v1/query_range?query=%7Bjob%3D%22x%22%7D&start=abc");
    check(status, &body, 400, "invalid parameter \"start\"");
    let (status, body) =
        server.get("/loki/api/v1/query_range?query=%7Bjob%3D%22x%22%7D&start=1&end=2000000000");
    check(status, &body, 400, "max_query_length");
    let (status, body) = server.get("/loki/api/v1/query?query=%7Bjob%3D%22x%22%7D");
    check(
        status,
        &body,
        400,
        "log queries are not supported as an instant query type",
    );
    let (status, _) = server.get("/loki/api/v1/series");
    assert_eq!(status, 400);
    // Still healthy afterwards.
    assert_eq!(server.get("/ready").0, 200);
}

#[test]
fn metrics_and_buildinfo() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), None);
    assert_eq!(
        server
            .push_json(&push_body(
                json!({"job": "m"}),
                vec![json!([now_ns().to_string(), "hello"])]
            ))
            .0,
        204
    );
    let (status, text) = server.get("/metrics");
    assert_eq!(status, 200);
    assert!(text.contains("strata_ingested_lines_total 1"), "{text}");
    assert!(text.contains("strata_wal_fsyncs_total"));
    assert!(text.contains("strata_query_duration_seconds_count"));
    let (status, body) = server.get("/loki/api/v1/status/buildinfo");
    assert_eq!(status, 200);
    assert!(body.contains("\"version\""));
}

#[test]
fn config_endpoint_serves_the_running_settings() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(
        dir.path(),
        Some("storage:\n  fsync: never\nlimits:\n  max_query_series: 7\n"),
    );
    let (status, yaml) = server.get("/config");
    assert_eq!(status, 200);
    assert!(yaml.contains("storage:\n  fsync: never\n"), "{yaml}");
    assert!(
        yaml.contains("  max_query_series: 7\n") && yaml.contains("  query_timeout: 60s\n"),
        "{yaml}"
    );
    let (_, defaults) = server.get("/config?mode=defaults");
    assert!(
        defaults.contains("  fsync: always\n") && defaults.contains("  max_query_series: 500\n"),
        "{defaults}"
    );
    let (_, diff) = server.get("/config?mode=diff");
    assert!(
        diff.contains("  fsync: never\n") && diff.contains("  max_query_series: 7\n"),
        "{diff}"
    );
    assert!(
        !diff.contains("query_timeout") && !diff.contains("zstd_level"),
        "{diff}"
    );
    // The page is a config file: a server started with it runs the same settings.
    let again_dir = tempfile::tempdir().unwrap();
    let again = Server::start(
        again_dir.path(),
        Some(&yaml.replace(
            &dir.path().display().to_string(),
            &again_dir.path().display().to_string(),
        )),
    );
    let (_, again_yaml) = again.get("/config?mode=diff");
    assert!(
        again_yaml.contains("  max_query_series: 7\n"),
        "{again_yaml}"
    );
    let (status, _) = server.get("/config?mode=everything");
    assert_eq!(status, 400);
}
