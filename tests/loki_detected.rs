//! End-to-end: Loki's detected_labels, detected_fields and
//! detected_field/<name>/values on a real server, with hand-made answers.

mod common;

use common::{Server, client, now_ns};
use serde_json::{Value, json};

fn push(server: &Server) {
    let t = now_ns() - 60_000_000_000;
    let v = |i: i64, line: &str| json!([(t + i).to_string(), line]);
    let body = json!({ "streams": [
        { "stream": { "app": "serving", "pid": "4121", "canary": "0", "pod": "7" },
          "values": [
            [ (t + 1).to_string(), r#"{"level":"info","latency_ms":12,"status":200,"user":{"id":"u1"}}"#, { "trace_id": "t1" } ],
            [ (t + 2).to_string(), r#"{"level":"error","latency_ms":950.5,"status":500,"user":{"id":"u2"}}"#, { "trace_id": "t2" } ],
          ] },
        { "stream": { "app": "trainer", "pid": "4122", "canary": "1", "pod": "8" },
          "values": [ v(3, "level=info epoch=1 loss=2.5 took=1.5s"), v(4, "level=warn epoch=2 loss=1.25 took=900ms") ] },
    ]});
    let (status, text) = server.push_json(&body.to_string());
    assert_eq!(status, 204, "{text}");
}

#[test]
fn detected_labels_fields_and_values() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), None);

    // Nothing yet: Loki's empty answers are empty objects.
    assert_eq!(
        server.get_json("/loki/api/v1/detected_labels", &[]),
        json!({})
    );
    assert_eq!(
        server.get_json(
            "/loki/api/v1/detected_fields",
            &[("query", r#"{app=~".+"}"#)]
        ),
        json!({})
    );
    push(&server);
    for flushed in [false, true] {
        if flushed {
            server.flush();
        }
        // pid is numbers only: left out; canary is a 0/1 flag and pod a topology label: kept.
        let labels = server.get_json("/loki/api/v1/detected_labels", &[]);
        assert_eq!(
            labels,
            json!({ "detectedLabels": [
                { "label": "app", "cardinality": 2 },
                { "label": "canary", "cardinality": 2 },
                { "label": "pod", "cardinality": 2 },
            ]})
        );
        let one = server.get_json(
            "/loki/api/v1/detected_labels",
            &[("query", r#"{app="trainer"}"#)],
        );
        assert_eq!(
            one["detectedLabels"][0],
            json!({ "label": "app", "cardinality": 1 })
        );

        let fields = server.get_json(
            "/loki/api/v1/detected_fields",
            &[("query", r#"{app=~".+"}"#)],
        );
        assert_eq!(fields["limit"], 1000);
        let by_name: std::collections::BTreeMap<String, Value> = fields["fields"]
            .as_array()
            .unwrap()
            .iter()
            .map(|field| (field["label"].as_str().unwrap().to_string(), field.clone()))
            .collect();
        let expect = |name: &str, kind: &str, cardinality: u64, parsers: Value| {
            let field = &by_name[name];
            assert_eq!(field["type"], kind, "{name}: {field}");
            assert_eq!(field["cardinality"], cardinality, "{name}: {field}");
            assert_eq!(field["parsers"], parsers, "{name}: {field}");
        };
        expect("level", "string", 3, json!(["json", "logfmt"]));
        expect("latency_ms", "float", 2, json!(["json"]));
        expect("status", "int", 2, json!(["json"]));
        expect("user_id", "string", 2, json!(["json"]));
        expect("loss", "float", 2, json!(["logfmt"]));
        expect("took", "duration", 2, json!(["logfmt"]));
        expect("trace_id", "string", 2, Value::Null);
        assert!(
            !by_name.contains_key("app") && !by_name.contains_key("__error__"),
            "{fields}"
        );

        let values = server.get_json(
            "/loki/api/v1/detected_field/level/values",
            &[("query", r#"{app=~".+"}"#)],
        );
        assert_eq!(
            values,
            json!({ "values": ["error", "info", "warn"], "limit": 1000 })
        );
        let values = server.get_json(
            "/loki/api/v1/detected_field/trace_id/values",
            &[("query", r#"{app="serving"}"#), ("limit", "1")],
        );
        assert_eq!(values, json!({ "values": ["t1"], "limit": 1 }));
        // A sample of one line (the newest).
        let newest = server.get_json(
            "/loki/api/v1/detected_field/epoch/values",
            &[("query", r#"{app="trainer"}"#), ("line_limit", "1")],
        );
        assert_eq!(newest, json!({ "values": ["2"], "limit": 1000 }));
    }
    // Mistakes are one-line 400s.
    for (path, params) in [
        ("/loki/api/v1/detected_fields", vec![]),
        (
            "/loki/api/v1/detected_fields",
            vec![("query", r#"rate({app="x"}[1m])"#)],
        ),
        (
            "/loki/api/v1/detected_fields",
            vec![("query", r#"{app="x"}"#), ("line_limit", "0")],
        ),
        (
            "/loki/api/v1/detected_fields",
            vec![("query", r#"{app="x"}"#), ("line_limit", "100000")],
        ),
        (
            "/loki/api/v1/detected_labels",
            vec![("query", r#"{app="x"} |= "y""#)],
        ),
    ] {
        let response = client()
            .get(format!("{}{path}", server.url))
            .query(&params)
            .send()
            .unwrap();
        assert_eq!(response.status().as_u16(), 400, "{path} {params:?}");
        assert_eq!(response.text().unwrap().trim().lines().count(), 1);
    }
}
