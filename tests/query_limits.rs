//! End-to-end: the query limits answer with a 400 that names the limit, and a
//! query whose client goes away is stopped.

mod common;

use std::time::{Duration, Instant};

use common::{Server, now_ns};
use serde_json::json;

fn push_lines(server: &Server, app: &str, count: usize, start_ns: i64) {
    let values: Vec<_> = (0..count)
        .map(|i| {
            json!([
                (start_ns + i as i64).to_string(),
                format!("request {i} served by worker {} in {} ms", i % 7, i % 900)
            ])
        })
        .collect();
    let body = json!({ "streams": [{ "stream": { "app": app }, "values": values }] });
    let (status, text) = server.push_json(&body.to_string());
    assert_eq!(status, 204, "{text}");
}

#[test]
fn limits_name_themselves() {
    let dir = tempfile::tempdir().unwrap();
    let yaml = "limits:\n  max_query_bytes_read: 2000\n  max_query_series: 1\n";
    let server = Server::start(dir.path(), Some(yaml));
    let t0 = now_ns() - 60_000_000_000;
    push_lines(&server, "big", 100, t0); // ~4 KB of lines
    push_lines(&server, "small", 10, t0);
    let (start, end) = ((t0 - 1).to_string(), (t0 + 1_000).to_string());
    let range = |q: &'static str| {
        vec![
            ("query", q),
            ("start", start.as_str()),
            ("end", end.as_str()),
        ]
    };
    for flushed in [false, true] {
        if flushed {
            server.flush();
        }
        let (status, text) =
            server.get_params("/loki/api/v1/query_range", &range(r#"{app="big"}"#));
        assert_eq!(status, 400, "{text}");
        assert!(
            text.contains("max_query_bytes_read") && text.trim().lines().count() == 1,
            "{text}"
        );
        let (status, text) =
            server.get_params("/loki/api/v1/query_range", &range(r#"{app="small"}"#));
        assert_eq!(status, 200, "{text}");
        let at = (t0 + 1_000_000_000).to_string();
        let instant = |q: &'static str| vec![("query", q), ("time", at.as_str())];
        let (status, text) = server.get_params(
            "/loki/api/v1/query",
            &instant(r#"count_over_time({app=~".+"}[1m])"#),
        );
        assert_eq!(status, 400, "{text}");
        assert!(text.contains("max_query_bytes_read"), "{text}");
        // Two series where one is allowed.
        let series =
            instant(r#"count_over_time({app="small"} | regexp "worker (?P<w>[0-9])" [1m])"#);
        let (status, text) = server.get_params("/loki/api/v1/query", &series);
        assert_eq!(status, 400, "{text}");
        assert!(text.contains("maximum of series (1)"), "{text}");
    }
}

#[test]
fn a_query_past_its_timeout_gets_a_400() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), Some("limits:\n  query_timeout: 1ns\n"));
    let t0 = now_ns() - 60_000_000_000;
    push_lines(&server, "api", 10, t0);
    let (start, end) = ((t0 - 1).to_string(), (t0 + 1_000).to_string());
    for q in [r#"{app="api"}"#, r#"count_over_time({app="api"}[1m])"#] {
        let (status, text) = server.get_params(
            "/loki/api/v1/query_range",
            &[
                ("query", q),
                ("start", &start),
                ("end", &end),
                ("step", "1"),
            ],
        );
        assert_eq!(status, 400, "{q}: {text}");
        assert!(text.contains("limits.query_timeout"), "{text}");
    }
}

#[test]
fn a_query_whose_client_leaves_is_stopped() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(
        dir.path(),
        Some("limits:\n  query_timeout: 0\n  max_entries_per_query: 100000\n"),
    );
    let t0 = now_ns() - 3_600_000_000_000;
    for batch in 0..20 {
        push_lines(&server, "api", 20_000, t0 + batch * 20_000);
    }
    server.flush();
    // A slow query (a regex over every line, debug build), abandoned after 50 ms.
    let slow = reqwest::blocking::Client::builder()
        .timeout(Duration::from_millis(50))
        .build()
        .unwrap();
    let started = Instant::now();
    let result = slow
        .get(format!("{}/loki/api/v1/query", server.url))
        .query(&[
            ("query", r#"sum(count_over_time({app="api"} |~ "(worker 3|worker 5).*in (1|2|3)[0-9]+ ms$" [2h]))"#),
            ("time", &(t0 + 1_000_000_000).to_string()),
        ])
        .send();
    assert!(
        result.is_err(),
        "the query answered within 50 ms: make it slower"
    );
    // The server notices the client left and stops the scan.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (_, metrics) = server.get("/metrics");
        if metrics.contains("strata_queries_cancelled_total 1") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the query was not cancelled:\n{metrics}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    eprintln!("cancelled after {:?}", started.elapsed());
}
