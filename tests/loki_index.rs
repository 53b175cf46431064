//! End-to-end: Loki's index endpoints (`index/stats`, `index/volume`,
//! `index/volume_range`), `format_query` and `patterns` on a real server,
//! with hand-counted answers, in the head and after a flush to parts.

mod common;

use common::Server;
use serde_json::{Value, json};

const BASE: i64 = 1_699_999_980;
const S: i64 = 1_000_000_000;

fn ns(offset_s: i64) -> String {
    ((BASE + offset_s) * S).to_string()
}

/// api/prod: 3 lines of 10 bytes; api/dev: 1 line of 5 bytes; web/prod: 2
/// lines of 5 and 4 bytes; solo (no env label): 1 line of 1 byte.
fn push(server: &Server) {
    let body = json!({ "streams": [
        { "stream": { "app": "api", "env": "prod" },
          "values": [[ns(10), "0123456789"], [ns(70), "abcdefghij"], [ns(130), "ABCDEFGHIJ"]] },
        { "stream": { "app": "api", "env": "dev" }, "values": [[ns(20), "hello"]] },
        { "stream": { "app": "web", "env": "prod" }, "values": [[ns(30), "GET /"], [ns(90), "POST"]] },
        { "stream": { "app": "solo" }, "values": [[ns(40), "x"]] },
    ]});
    let (status, text) = server.push_json(&body.to_string());
    assert_eq!(status, 204, "{text}");
}

/// (metric as "name=value,...", value) of a vector answer, in answer order.
fn vector(answer: &Value) -> Vec<(String, String)> {
    assert_eq!(answer["status"], "success");
    assert_eq!(answer["data"]["resultType"], "vector", "{answer}");
    answer["data"]["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|sample| {
            (
                metric_text(&sample["metric"]),
                sample["value"][1].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn metric_text(metric: &Value) -> String {
    metric
        .as_object()
        .unwrap()
        .iter()
        .map(|(name, value)| format!("{name}={}", value.as_str().unwrap()))
        .collect::<Vec<_>>()
        .join(",")
}

fn whole_range() -> [(&'static str, String); 2] {
    [("start", ns(0)), ("end", ns(600))]
}

#[test]
fn stats_and_volume_before_and_after_flush() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), None);
    push(&server);
    let [start, end] = whole_range();
    for flushed in [false, true] {
        if flushed {
            server.flush();
        }
        let params = |query: &'static str| {
            vec![
                ("query", query),
                (start.0, start.1.as_str()),
                (end.0, end.1.as_str()),
            ]
        };
        let stats = server.get_json("/loki/api/v1/index/stats", &params(r#"{app="api"}"#));
        assert_eq!(stats["streams"], 2, "{stats}");
        assert_eq!(stats["entries"], 4, "{stats}");
        assert_eq!(stats["bytes"], 35, "{stats}");
        assert_eq!(stats["chunks"], 2, "{stats}");

        // Grouped by the selector's label names: app.
        let volume = server.get_json("/loki/api/v1/index/volume", &params(r#"{app=~".+"}"#));
        assert_eq!(
            vector(&volume),
            [
                ("app=api".into(), "35".into()),
                ("app=web".into(), "9".into()),
                ("app=solo".into(), "1".into())
            ]
        );
        assert_eq!(volume["data"]["result"][0]["value"][0], json!(BASE + 600));

        // `{}` selects every stream; without targetLabels, whole label sets.
        let volume = server.get_json("/loki/api/v1/index/volume", &params("{}"));
        assert_eq!(
            vector(&volume),
            [
                ("app=api,env=prod".into(), "30".into()),
                ("app=web,env=prod".into(), "9".into()),
                ("app=api,env=dev".into(), "5".into()),
                ("app=solo".into(), "1".into()),
            ]
        );

        let mut by_env = params(r#"{app=~".+"}"#);
        by_env.push(("targetLabels", "env"));
        let volume = server.get_json("/loki/api/v1/index/volume", &by_env);
        // solo has no env label: left out, as Loki adds env=~".+" to the selector.
        assert_eq!(
            vector(&volume),
            [
                ("env=prod".into(), "39".into()),
                ("env=dev".into(), "5".into())
            ]
        );

        let mut by_name = params(r#"{app=~".+"}"#);
        by_name.extend([("targetLabels", "app,env"), ("aggregateBy", "labels")]);
        let volume = server.get_json("/loki/api/v1/index/volume", &by_name);
        assert_eq!(
            vector(&volume),
            [("app=".into(), "44".into()), ("env=".into(), "44".into())]
        );

        let mut top_one = params(r#"{env="prod"}"#);
        top_one.extend([("targetLabels", "app"), ("limit", "1")]);
        let volume = server.get_json("/loki/api/v1/index/volume", &top_one);
        assert_eq!(vector(&volume), [("app=api".into(), "30".into())]);

        // Per minute: (t - 60s, t] buckets at t = 60, 120, ...
        let mut ranged = params(r#"{app="api"}"#);
        ranged.extend([("step", "60s"), ("targetLabels", "app")]);
        let matrix = server.get_json("/loki/api/v1/index/volume_range", &ranged);
        assert_eq!(matrix["data"]["resultType"], "matrix", "{matrix}");
        let series = &matrix["data"]["result"][0];
        assert_eq!(metric_text(&series["metric"]), "app=api");
        let points: Vec<(i64, String)> = series["values"]
            .as_array()
            .unwrap()
            .iter()
            .map(|point| {
                (
                    point[0].as_i64().unwrap() - BASE,
                    point[1].as_str().unwrap().to_string(),
                )
            })
            .collect();
        assert_eq!(
            points,
            [(60, "15".into()), (120, "10".into()), (180, "10".into())]
        );
    }
}

#[test]
fn index_requests_refuse_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), None);
    for (path, params) in [
        ("/loki/api/v1/index/stats", vec![]),
        (
            "/loki/api/v1/index/stats",
            vec![("query", r#"{app="x"} |= "y""#)],
        ),
        (
            "/loki/api/v1/index/volume",
            vec![("query", r#"{app="x"}"#), ("aggregateBy", "pods")],
        ),
        (
            "/loki/api/v1/index/volume",
            vec![("query", r#"{app="x"}"#), ("limit", "-1")],
        ),
        (
            "/loki/api/v1/index/volume_range",
            vec![("query", r#"{app="x"}"#), ("step", "-1s")],
        ),
        ("/loki/api/v1/format_query", vec![("query", "{app=")]),
        ("/loki/api/v1/patterns", vec![]),
        (
            "/loki/api/v1/patterns",
            vec![("query", r#"{app="x"} |= "y""#)],
        ),
    ] {
        let (status, text) = server.get_params(path, &params);
        assert_eq!(status, 400, "{path} {params:?}: {text}");
        assert_eq!(text.trim().lines().count(), 1, "{text}");
    }
}

#[test]
fn format_query_and_patterns() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), None);
    let formatted = server.get_json(
        "/loki/api/v1/format_query",
        &[("query", r#"sum  by(app)(rate({app = "api"}|="x"[5m]))"#)],
    );
    assert_eq!(formatted["status"], "success");
    assert_eq!(
        formatted["data"],
        r#"sum by (app) (rate({app="api"} |= "x" [5m]))"#
    );
    let (status, text) = server.get_params("/loki/api/v1/format_query", &[("query", "{app=")]);
    assert_eq!(status, 400);
    let invalid: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(invalid["status"], "invalid-query");
    assert!(
        invalid["error"].as_str().unwrap().contains("parse error"),
        "{invalid}"
    );
    let patterns = server.get_json("/loki/api/v1/patterns", &[("query", r#"{app="api"}"#)]);
    assert_eq!(patterns, json!({ "status": "success", "data": [] }));
}
