//! End-to-end: metric queries through a real server's Loki API, with
//! hand-computed answers, before and after the head is flushed to parts.

mod common;

use common::{BIN, Server};
use serde_json::{Value, json};

/// A minute boundary, in seconds.
const BASE: i64 = 1_699_999_980;
const S: i64 = 1_000_000_000;

fn ns(offset_s: i64) -> String {
    ((BASE + offset_s) * S).to_string()
}

/// Training logs of two models (JSON lines with a loss, plus plain-text
/// ERROR lines that the json parser rejects) and a serving stream.
fn push_training_logs(server: &Server) {
    let value = |offset: i64, line: &str| json!([ns(offset), line]);
    let loss = |offset: i64, loss: f64| {
        value(
            offset,
            &format!(r#"{{"level":"INFO","step":{offset},"loss":{loss}}}"#),
        )
    };
    let body = json!({ "streams": [
        { "stream": { "job_type": "training", "model_name": "bert", "pod": "p1" },
          "values": [loss(10, 2.0), loss(70, 1.5), value(100, "ERROR CUDA out of memory"), loss(130, 1.0), loss(190, 0.5)] },
        { "stream": { "job_type": "training", "model_name": "gpt", "pod": "p2" },
          "values": [loss(20, 3.0), loss(80, 3.0), value(200, "ERROR NaN loss detected"), value(250, "ERROR NaN loss detected")] },
        { "stream": { "job_type": "serving", "model_name": "bert", "pod": "s1" },
          "values": [value(30, "GET /predict 200"), value(40, "GET /predict 500 ERROR")] },
    ]});
    let (status, text) = server.push_json(&body.to_string());
    assert_eq!(status, 204, "{text}");
}

fn instant(server: &Server, query: &str, at_s: i64) -> Value {
    let (status, text) = server.get_params(
        "/loki/api/v1/query",
        &[("query", query), ("time", &ns(at_s))],
    );
    assert_eq!(status, 200, "{query}: {text}");
    serde_json::from_str(&text).unwrap()
}

fn range(server: &Server, query: &str, start_s: i64, end_s: i64, step: &str) -> Value {
    server.query_range(&[
        ("query", query),
        ("start", &ns(start_s)),
        ("end", &ns(end_s)),
        ("step", step),
    ])
}

/// A vector answer as (label values joined by ",", value).
fn samples(answer: &Value) -> Vec<(String, f64)> {
    assert_eq!(answer["status"], "success");
    assert_eq!(answer["data"]["resultType"], "vector", "{answer}");
    answer["data"]["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|sample| {
            assert!(sample["value"][0].is_number(), "{sample}");
            (
                metric_text(&sample["metric"]),
                sample["value"][1].as_str().unwrap().parse().unwrap(),
            )
        })
        .collect()
}

fn metric_text(metric: &Value) -> String {
    let object = metric.as_object().unwrap();
    let pairs: Vec<String> = object
        .iter()
        .map(|(k, v)| format!("{k}={}", v.as_str().unwrap()))
        .collect();
    pairs.join(",")
}

/// A matrix answer as (labels, [(seconds after BASE, value)]).
fn series(answer: &Value) -> Vec<(String, Vec<(i64, f64)>)> {
    assert_eq!(answer["data"]["resultType"], "matrix", "{answer}");
    answer["data"]["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|one| {
            let points = one["values"]
                .as_array()
                .unwrap()
                .iter()
                .map(|pair| {
                    // Whole seconds come as JSON integers, as Prometheus writes them.
                    let seconds = pair[0].as_i64().expect("integer seconds");
                    (seconds - BASE, pair[1].as_str().unwrap().parse().unwrap())
                })
                .collect();
            (metric_text(&one["metric"]), points)
        })
        .collect()
}

fn assert_close(got: &[(String, f64)], expected: &[(&str, f64)]) {
    assert_eq!(got.len(), expected.len(), "{got:?}");
    for ((labels, value), (want_labels, want)) in got.iter().zip(expected) {
        assert_eq!(labels, want_labels);
        assert!((value - want).abs() < 1e-12, "{labels}: {value} != {want}");
    }
}

fn check_answers(server: &Server) {
    // The lecture's queries, at BASE + 300 s with 5 m windows (BASE, BASE + 300].
    let loss_rate = instant(
        server,
        r#"sum(rate({job_type="training"} | json | __error__="" | unwrap loss [5m])) by (model_name)"#,
        300,
    );
    assert_close(
        &samples(&loss_rate),
        &[
            ("model_name=bert", 5.0 / 300.0),
            ("model_name=gpt", 6.0 / 300.0),
        ],
    );
    let errors = instant(
        server,
        r#"rate({job_type="training"} |= "ERROR" [5m])"#,
        300,
    );
    assert_close(
        &samples(&errors),
        &[
            ("job_type=training,model_name=bert,pod=p1", 1.0 / 300.0),
            ("job_type=training,model_name=gpt,pod=p2", 2.0 / 300.0),
        ],
    );
    let counts = instant(server, r#"count_over_time({job_type=~".+"}[5m])"#, 300);
    assert_close(
        &samples(&counts),
        &[
            ("job_type=serving,model_name=bert,pod=s1", 2.0),
            ("job_type=training,model_name=bert,pod=p1", 5.0),
            ("job_type=training,model_name=gpt,pod=p2", 4.0),
        ],
    );
    let top = instant(
        server,
        r#"topk(1, count_over_time({job_type="training"}[5m]))"#,
        300,
    );
    assert_close(
        &samples(&top),
        &[("job_type=training,model_name=bert,pod=p1", 5.0)],
    );
    let avg = instant(
        server,
        r#"avg_over_time({job_type="training"} | json | __error__="" | unwrap loss [5m]) by (model_name)"#,
        300,
    );
    assert_close(
        &samples(&avg),
        &[("model_name=bert", 1.25), ("model_name=gpt", 3.0)],
    );

    // Steps at BASE+60 .. BASE+300 every minute; windows (t - 1m, t].
    let per_minute = range(
        server,
        r#"sum by (model_name) (count_over_time({job_type="training"}[1m]))"#,
        60,
        300,
        "60",
    );
    assert_eq!(
        series(&per_minute),
        [
            (
                "model_name=bert".to_string(),
                vec![(60, 1.0), (120, 2.0), (180, 1.0), (240, 1.0)]
            ),
            (
                "model_name=gpt".to_string(),
                vec![(60, 1.0), (120, 1.0), (240, 1.0), (300, 1.0)]
            ),
        ]
    );
    let error_rate = range(
        server,
        r#"sum(rate({job_type=~".+"} |= "ERROR" [2m]))"#,
        60,
        300,
        "2m",
    );
    // t = 60: (−60, 60] has the serving ERROR at 40; t = 180: (60, 180] has 100;
    // t = 300: (180, 300] has 200 and 250.
    assert_eq!(
        series(&error_rate),
        [(
            String::new(),
            vec![(60, 1.0 / 120.0), (180, 1.0 / 120.0), (300, 2.0 / 120.0)]
        )]
    );
}

#[test]
fn metric_queries_answer_before_and_after_flush() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), None);
    push_training_logs(&server);
    check_answers(&server);
    server.flush();
    check_answers(&server);
}

#[test]
fn scalars_vectors_and_default_step() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), None);
    let answer = instant(&server, "1 + 1", 0);
    assert_eq!(answer["data"]["resultType"], "scalar");
    assert_eq!(answer["data"]["result"], json!([BASE, "2"]));
    let answer = instant(&server, "vector(1) + 0.5", 0);
    assert_eq!(
        answer["data"]["result"],
        json!([{ "metric": {}, "value": [BASE, "1.5"] }])
    );
    let answer = instant(&server, "vector(1) / 0", 0);
    assert_eq!(answer["data"]["result"][0]["value"][1], "+Inf");
    // Without step: (end - start) / 250 in whole seconds, here 4 s.
    let answer = server.query_range(&[
        ("query", "vector(2)"),
        ("start", &ns(0)),
        ("end", &ns(1000)),
    ]);
    let values = answer["data"]["result"][0]["values"].as_array().unwrap();
    assert_eq!(values.len(), 251);
    assert_eq!(values[1][0], json!(BASE + 4));
    // A fractional step: half-second timestamps come as floats.
    let answer = server.query_range(&[
        ("query", "vector(2)"),
        ("start", &ns(0)),
        ("end", &ns(1)),
        ("step", "0.5"),
    ]);
    let times: Vec<f64> = answer["data"]["result"][0]["values"]
        .as_array()
        .unwrap()
        .iter()
        .map(|pair| pair[0].as_f64().unwrap())
        .collect();
    assert_eq!(times, [BASE as f64, BASE as f64 + 0.5, BASE as f64 + 1.0]);
}

#[test]
fn structured_metadata_is_part_of_a_series() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), None);
    let body = json!({ "streams": [{ "stream": { "app": "api" }, "values": [
        [ns(10), "GET /a", { "trace_id": "t1" }],
        [ns(11), "GET /b", { "trace_id": "t2" }],
        [ns(12), "GET /c"],
    ]}]});
    let (status, text) = server.push_json(&body.to_string());
    assert_eq!(status, 204, "{text}");
    for _ in 0..2 {
        let answer = instant(&server, r#"count_over_time({app="api"}[1m])"#, 60);
        assert_close(
            &samples(&answer),
            &[
                ("app=api", 1.0),
                ("app=api,trace_id=t1", 1.0),
                ("app=api,trace_id=t2", 1.0),
            ],
        );
        let answer = instant(
            &server,
            r#"sum by (app) (count_over_time({app="api"}[1m]))"#,
            60,
        );
        assert_close(&samples(&answer), &[("app=api", 3.0)]);
        server.flush();
    }
}

#[test]
fn invalid_metric_queries_get_a_one_line_400() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), None);
    push_training_logs(&server);
    let refused = |path: &str, params: &[(&str, &str)], expected: &str| {
        let (status, text) = server.get_params(path, params);
        assert_eq!(status, 400, "{params:?}: {text}");
        assert!(text.contains(expected), "{params:?}: {text}");
        assert_eq!(text.trim_end().lines().count(), 1, "{text}");
    };
    let at = ns(300);
    let refuse_instant = |query: &str, expected: &str| {
        refused(
            "/loki/api/v1/query",
            &[("query", query), ("time", &at)],
            expected,
        );
    };
    refuse_instant(
        r#"sum_over_time({job_type="training"}[5m])"#,
        "invalid aggregation sum_over_time without unwrap",
    );
    refuse_instant(
        r#"count_over_time({job_type="training"} | json | unwrap loss [5m])"#,
        "invalid aggregation count_over_time with unwrap",
    );
    refuse_instant(
        r#"count_over_time({job_type="training"}[5m]) by (pod)"#,
        "grouping not allowed for count_over_time aggregation",
    );
    refuse_instant(
        r#"sum_over_time({job_type="training"} | json | unwrap loss [5m])"#,
        "pipeline error: '",
    );
    refuse_instant(
        r#"{job_type="training"}"#,
        "log queries are not supported as an instant query type",
    );
    refuse_instant(
        "1 > 2",
        "comparisons between scalars must use BOOL modifier",
    );
    let (start, end) = (ns(0), ns(300));
    refused(
        "/loki/api/v1/query_range",
        &[
            ("query", "vector(1)"),
            ("start", &start),
            ("end", &end),
            ("step", "0"),
        ],
        "zero or negative query resolution step widths are not accepted",
    );
    refused(
        "/loki/api/v1/query_range",
        &[
            ("query", "vector(1)"),
            ("start", &start),
            ("end", &end),
            ("step", "0.01"),
        ],
        "exceeded maximum resolution of 11000 points per timeseries",
    );
    refused(
        "/loki/api/v1/query_range",
        &[
            ("query", "vector(1)"),
            ("start", &start),
            ("end", &end),
            ("step", "fast"),
        ],
        "invalid parameter \"step\"",
    );
}

#[test]
fn cli_prints_metric_tables() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), None);
    push_training_logs(&server);
    let output = std::process::Command::new(BIN)
        .args([
            "query",
            r#"sum by (model_name) (count_over_time({job_type="training"}[1m]))"#,
            "--server",
            &server.url,
            "--from",
            &ns(60),
            "--to",
            &ns(120),
            "--step",
            "1m",
        ])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let text = String::from_utf8(output.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 5, "{text}");
    assert!(lines[0].starts_with("LABELS"), "{text}");
    assert!(
        lines[1].starts_with(r#"{model_name="bert"}"#) && lines[1].ends_with(" 1"),
        "{text}"
    );
    assert!(
        lines[2].contains("2023-11-14T22:15:00Z") && lines[2].ends_with(" 2"),
        "{text}"
    );
    let output = std::process::Command::new(BIN)
        .args([
            "query",
            "vector(3)",
            "--server",
            &server.url,
            "--instant",
            "--to",
            &ns(0),
            "-o",
            "jsonl",
        ])
        .output()
        .unwrap();
    let text = String::from_utf8(output.stdout).unwrap();
    let row: Value = serde_json::from_str(text.trim()).unwrap();
    assert_eq!(row["value"], "3");
    assert_eq!(row["labels"], json!({}));
}
