//! The command line: `strata ingest` into a data directory and into a server,
//! `strata query`, `strata version`, and config errors of `strata serve`.

mod common;

use common::{BIN, Server};
use std::process::Command;

fn run(args: &[&str]) -> (bool, String, String) {
    let output = Command::new(BIN).args(args).output().unwrap();
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn ingest_into_a_data_dir_then_serve_and_query() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let text = dir.path().join("app.log");
    let lines: Vec<String> = (0..50)
        .map(|i| format!("2023-11-14T22:13:{:02}Z INFO request {i} done", i % 60))
        .collect();
    std::fs::write(&text, lines.join("\n") + "\n").unwrap();
    let (ok, stdout, stderr) = run(&[
        "ingest",
        text.to_str().unwrap(),
        "--data-dir",
        data.to_str().unwrap(),
        "--labels",
        r#"{job="cli"}"#,
        "--timestamp-format",
        "rfc3339",
    ]);
    assert!(ok, "{stderr}");
    assert!(stdout.contains("ingested 50 lines"), "{stdout}");
    assert!(stdout.contains("on disk"), "{stdout}");

    let server = Server::start(&data, None);
    let range = [
        "--from",
        "2023-11-14T22:00:00Z",
        "--to",
        "2023-11-14T23:00:00Z",
    ];
    let mut args = vec![
        "query",
        r#"{job="cli"} |= "request 7 ""#,
        "--server",
        &server.url,
        "--output",
        "jsonl",
    ];
    args.extend(range);
    let (ok, stdout, stderr) = run(&args);
    assert!(ok, "{stderr}");
    let rows: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 1, "{stdout}");
    assert_eq!(rows[0]["line"], "2023-11-14T22:13:07Z INFO request 7 done");
    assert_eq!(rows[0]["labels"]["job"], "cli");
    assert_eq!(rows[0]["timestamp"], "2023-11-14T22:13:07Z");

    // JSON lines into the running server, timestamps from the "ts" key.
    let jsonl = dir.path().join("events.jsonl");
    std::fs::write(&jsonl, "{\"ts\":\"2023-11-14T22:30:00Z\",\"msg\":\"json one\"}\n{\"ts\":\"2023-11-14T22:31:00Z\",\"msg\":\"json two\"}\n").unwrap();
    let (ok, stdout, stderr) = run(&[
        "ingest",
        jsonl.to_str().unwrap(),
        "--server",
        &server.url,
        "--labels",
        r#"{job="events"}"#,
    ]);
    assert!(ok, "{stderr}");
    assert!(stdout.contains("ingested 2 lines"), "{stdout}");
    let mut args = vec![
        "query",
        r#"{job="events"} | json | msg="json two""#,
        "--server",
        &server.url,
    ];
    args.extend(range);
    let (ok, stdout, stderr) = run(&args);
    assert!(ok, "{stderr}");
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
    assert!(stdout.starts_with("2023-11-14T22:31:00Z {"), "{stdout}");

    // Errors are one clear line and a non-zero exit.
    let (ok, _, stderr) = run(&["query", r#"{job="events"} |="#, "--server", &server.url]);
    assert!(!ok);
    assert!(stderr.contains("parse error at line 1"), "{stderr}");
}

#[test]
fn version_and_config_errors() {
    let (ok, stdout, _) = run(&["version"]);
    assert!(ok);
    assert!(stdout.starts_with("strata "));
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("bad.yaml");
    std::fs::write(&config, "storage:\n  fsnyc: always\n").unwrap();
    let (ok, _, stderr) = run(&[
        "serve",
        "--config",
        config.to_str().unwrap(),
        "--listen",
        "127.0.0.1:0",
    ]);
    assert!(!ok);
    assert!(stderr.contains("fsnyc"), "{stderr}");
}
