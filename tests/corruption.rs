//! A corrupt part file is reported and set aside; the server still starts and
//! answers from the rest of the data.

mod common;

use common::{Server, lines, now_ns};
use serde_json::json;
use std::path::{Path, PathBuf};

fn part_files(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(current) = stack.pop() {
        for entry in std::fs::read_dir(&current).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                if !path.ends_with("quarantine") && !path.ends_with("wal") {
                    stack.push(path);
                }
            } else if path.extension().is_some_and(|ext| ext == "part") {
                found.push(path);
            }
        }
    }
    found.sort();
    found
}

#[test]
fn corrupt_part_is_set_aside_and_the_rest_answers() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let server = Server::start(&data_dir, None);
    let base = now_ns() - 60_000_000_000;
    for (batch, job) in ["first", "second"].iter().enumerate() {
        let values: Vec<serde_json::Value> = (0..50)
            .map(|i| {
                json!([
                    (base + batch as i64 * 1000 + i).to_string(),
                    format!("{job} line {i}")
                ])
            })
            .collect();
        let (status, body) = server.push_json(
            &json!({"streams": [{"stream": {"job": job}, "values": values}]}).to_string(),
        );
        assert_eq!(status, 204, "{body}");
        server.flush();
    }
    server.stop();
    let parts = part_files(&data_dir);
    assert!(parts.len() >= 2, "expected two parts, found {parts:?}");
    // Flip bytes in the middle of the first part.
    let victim = &parts[0];
    let mut bytes = std::fs::read(victim).unwrap();
    let middle = bytes.len() / 2;
    for byte in &mut bytes[middle..middle + 16] {
        *byte ^= 0x5a;
    }
    std::fs::write(victim, &bytes).unwrap();

    let server = Server::start(&data_dir, None);
    let start = (base - 1).to_string();
    let end = (base + 10_000).to_string();
    let first = lines(&server.query_range(&[
        ("query", r#"{job="first"}"#),
        ("start", &start),
        ("end", &end),
        ("limit", "1000"),
    ]));
    let second = lines(&server.query_range(&[
        ("query", r#"{job="second"}"#),
        ("start", &start),
        ("end", &end),
        ("limit", "1000"),
    ]));
    // Exactly one of the two parts was damaged; the other answers in full.
    assert!(
        (first.len() == 50) ^ (second.len() == 50),
        "first {} second {}",
        first.len(),
        second.len()
    );
    assert!(data_dir.join("quarantine").exists() || first.len() + second.len() < 100);
    let (_, metrics) = server.get("/metrics");
    assert!(
        !metrics.contains("strata_corrupt_files_total 0"),
        "corruption must be counted"
    );
}
