//! Real third-party clients against a real server: the Python package
//! python-logging-loki (installed by scripts/test from tests/python/requirements.txt).

mod common;

use common::{Server, lines, now_ns};
use std::process::Command;

#[test]
fn python_logging_loki_pushes_are_queryable() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), None);
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/python/push_logging_loki.py"
    );
    let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".to_string());
    let output = Command::new(&python)
        .arg(script)
        .arg(&server.url)
        .arg("20")
        .output()
        .expect("cannot run python3");
    assert!(
        output.status.success(),
        "python client failed (is python-logging-loki installed? pip install -r tests/python/requirements.txt): {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let start = (now_ns() - 600_000_000_000).to_string();
    let end = (now_ns() + 1_000_000_000).to_string();
    let result = server.query_range(&[
        (
            "query",
            r#"{application="pytest-client", service="trainer"}"#,
        ),
        ("start", &start),
        ("end", &end),
        ("limit", "1000"),
    ]);
    let found = lines(&result);
    assert_eq!(found.len(), 20, "{found:?}");
    assert!(found.contains(&"python record 7".to_string()));
    let errors = server.query_range(&[
        (
            "query",
            r#"{application="pytest-client", severity="error"}"#,
        ),
        ("start", &start),
        ("end", &end),
    ]);
    assert_eq!(lines(&errors), ["python failure record"]);
}
