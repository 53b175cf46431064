//! LogQL conformance, end to end through the HTTP API: answers worked out by
//! hand from Loki's documented semantics (docs/api.md) for step placement,
//! rate over gaps, unwrap errors, topk ties and vector matching.

mod common;

use common::Server;
use serde_json::{Value, json};

/// A minute boundary, in seconds.
const BASE: i64 = 1_700_000_040;
const S: i64 = 1_000_000_000;

fn ns(offset_s: i64) -> String {
    ((BASE + offset_s) * S).to_string()
}

fn push(server: &Server) {
    let v = |s: i64, line: &str| json!([ns(s), line]);
    let body = json!({ "streams": [
        { "stream": { "app": "api", "code": "200" }, "values": [v(10, "a"), v(20, "b"), v(70, "c"), v(200, "d")] },
        { "stream": { "app": "api", "code": "500" }, "values": [v(15, "e"), v(75, "f")] },
        { "stream": { "app": "web", "code": "200" }, "values": [v(30, "g"), v(90, "h")] },
        { "stream": { "app": "db" }, "values": [v(5, r#"{"ms":"12"}"#), v(65, r#"{"ms":"abc"}"#), v(125, r#"{"ms":"30"}"#)] },
    ]});
    let (status, text) = server.push_json(&body.to_string());
    assert_eq!(status, 204, "{text}");
}

fn get(server: &Server, path: &str, params: &[(&str, &str)]) -> (u16, Value) {
    let (status, text) = server.get_params(path, params);
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

/// (labels, [(offset s, value)]) of a matrix answer.
fn matrix(
    server: &Server,
    query: &str,
    start: i64,
    end: i64,
    step: &str,
) -> Vec<(String, Vec<(i64, f64)>)> {
    let (status, answer) = get(
        server,
        "/loki/api/v1/query_range",
        &[
            ("query", query),
            ("start", &ns(start)),
            ("end", &ns(end)),
            ("step", step),
        ],
    );
    assert_eq!(status, 200, "{query}: {answer}");
    assert_eq!(answer["data"]["resultType"], "matrix", "{answer}");
    answer["data"]["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|series| {
            let points = series["values"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| {
                    (
                        p[0].as_i64().unwrap() - BASE,
                        p[1].as_str().unwrap().parse().unwrap(),
                    )
                })
                .collect();
            (series["metric"].to_string(), points)
        })
        .collect()
}

/// (labels, value) of an instant vector, in answer order.
fn vector(server: &Server, query: &str, at: i64) -> Result<Vec<(String, f64)>, String> {
    let (status, answer) = get(
        server,
        "/loki/api/v1/query",
        &[("query", query), ("time", &ns(at))],
    );
    if status != 200 {
        return Err(format!("{status} {}", answer.as_str().unwrap_or_default()));
    }
    Ok(answer["data"]["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["metric"].to_string(),
                s["value"][1].as_str().unwrap().parse().unwrap(),
            )
        })
        .collect())
}

#[test]
fn conformance() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), None);
    push(&server);
    for flushed in [false, true] {
        if flushed {
            server.flush();
        }
        // Steps sit at start + k * step (start is not rounded to the step);
        // each point counts (t - range, t]; a window without entries has no point.
        let counts = matrix(
            &server,
            r#"count_over_time({app="api"}[1m])"#,
            5,
            245,
            "60s",
        );
        assert_eq!(
            counts,
            [
                (
                    r#"{"app":"api","code":"200"}"#.to_string(),
                    vec![(65, 2.0), (125, 1.0), (245, 1.0)]
                ),
                (
                    r#"{"app":"api","code":"500"}"#.to_string(),
                    vec![(65, 1.0), (125, 1.0)]
                ),
            ]
        );
        // rate over a gap: no point where the window is empty, never a zero.
        let rates = matrix(
            &server,
            r#"rate({app="api", code="200"}[1m])"#,
            5,
            245,
            "60s",
        );
        assert_eq!(
            rates[0].1,
            [(65, 2.0 / 60.0), (125, 1.0 / 60.0), (245, 1.0 / 60.0)]
        );
        // The same range with a step that does not divide it: the last step is before end.
        let odd = matrix(
            &server,
            r#"count_over_time({app="web"}[1m])"#,
            0,
            100,
            "45s",
        );
        // Points at 0, 45, 90: (-60, 0] is empty, (-15, 45] holds 30, (30, 90] holds 90.
        assert_eq!(odd[0].1, [(45, 1.0), (90, 1.0)]);

        // unwrap: a value that is not a number fails the query, as in Loki...
        let err = vector(
            &server,
            r#"sum_over_time({app="db"} | json | unwrap ms [5m])"#,
            300,
        )
        .unwrap_err();
        assert!(
            err.starts_with("400") && err.contains("SampleExtractionErr"),
            "{err}"
        );
        // ...unless __error__ filters it out, after unwrap or before.
        assert_eq!(
            vector(
                &server,
                r#"sum_over_time({app="db"} | json | unwrap ms | __error__="" [5m])"#,
                300
            )
            .unwrap(),
            [(r#"{"app":"db"}"#.to_string(), 42.0)]
        );
        assert_eq!(
            vector(
                &server,
                r#"max_over_time({app="db"} | json | ms != "abc" | unwrap ms [5m]) by (app)"#,
                300
            )
            .unwrap(),
            [(r#"{"app":"db"}"#.to_string(), 30.0)]
        );

        // topk: ties go to the smaller label set; the answer is sorted by labels.
        assert_eq!(
            vector(
                &server,
                r#"topk(2, count_over_time({app=~"api|web"}[5m]))"#,
                300
            )
            .unwrap(),
            [
                (r#"{"app":"api","code":"200"}"#.to_string(), 4.0),
                (r#"{"app":"api","code":"500"}"#.to_string(), 2.0),
            ]
        );
        assert_eq!(
            vector(
                &server,
                r#"sort_desc(bottomk(2, count_over_time({app=~"api|web"}[5m])))"#,
                300
            )
            .unwrap(),
            [
                (r#"{"app":"api","code":"500"}"#.to_string(), 2.0),
                (r#"{"app":"web","code":"200"}"#.to_string(), 2.0),
            ]
        );

        // Vector matching: each code's share of its app, many-to-one with group_left.
        let share = r#"sum by (app, code) (count_over_time({app="api"}[5m])) / ignoring(code) group_left sum by (app) (count_over_time({app="api"}[5m]))"#;
        assert_eq!(
            vector(&server, share, 300).unwrap(),
            [
                (r#"{"app":"api","code":"200"}"#.to_string(), 4.0 / 6.0),
                (r#"{"app":"api","code":"500"}"#.to_string(), 2.0 / 6.0),
            ]
        );
        // on(app): one-to-one, labels of the left side reduced to `app`.
        let per_app = r#"sum by (app) (count_over_time({code="200"}[5m])) - on(app) sum by (app) (count_over_time({code="500"}[5m]))"#;
        assert_eq!(
            vector(&server, per_app, 300).unwrap(),
            [(r#"{"app":"api"}"#.to_string(), 2.0)]
        );
        // Without group_left, many-to-one is a 400.
        let many = r#"sum by (app, code) (count_over_time({app="api"}[5m])) / ignoring(code) sum by (app) (count_over_time({app="api"}[5m]))"#;
        let err = vector(&server, many, 300).unwrap_err();
        assert!(
            err.starts_with("400") && err.contains("group_left"),
            "{err}"
        );
        // Comparisons filter, or give 0/1 with bool; `unless` removes matches.
        assert_eq!(
            vector(
                &server,
                r#"count_over_time({app=~"api|web"}[5m]) > bool 2"#,
                300
            )
            .unwrap(),
            [
                (r#"{"app":"api","code":"200"}"#.to_string(), 1.0),
                (r#"{"app":"api","code":"500"}"#.to_string(), 0.0),
                (r#"{"app":"web","code":"200"}"#.to_string(), 0.0),
            ]
        );
        assert_eq!(
            vector(&server, r#"count_over_time({app=~".+"}[5m]) unless on(app) count_over_time({code="500"}[5m])"#, 300).unwrap(),
            [
                (r#"{"app":"db"}"#.to_string(), 3.0),
                (r#"{"app":"web","code":"200"}"#.to_string(), 2.0),
            ]
        );
    }
}
