//! Durability: SIGKILL the server again and again in the middle of a
//! concurrent push loop (with flushes in between); after each restart every
//! acknowledged line must be there exactly once.

mod common;

use common::{Server, client, now_ns};
use serde_json::json;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const KILLS: usize = 24;
const WORKERS: usize = 4;

/// A tiny deterministic generator, enough to pick kill times.
struct XorShift(u64);
impl XorShift {
    fn next(&mut self, bound: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % bound
    }
}

#[test]
fn sigkill_never_loses_an_acknowledged_line() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let config = "limits:\n  max_entries_per_query: 1000000\n";
    let acknowledged: Arc<Mutex<HashSet<String>>> = Arc::default();
    let base = now_ns() - 3_600_000_000_000;
    let mut random = XorShift(now_ns() as u64 | 1);
    let mut sequence = 0u64;
    for round in 0..KILLS {
        let server = Server::start(&data_dir, Some(config));
        let stop = Arc::new(AtomicBool::new(false));
        let mut threads = Vec::new();
        for worker in 0..WORKERS {
            let url = server.url.clone();
            let stop = stop.clone();
            let acknowledged = acknowledged.clone();
            let first = sequence + (worker as u64) * 1_000_000;
            threads.push(std::thread::spawn(move || {
                let client = client();
                let mut seq = first;
                while !stop.load(Ordering::Relaxed) {
                    let ids: Vec<String> = (0..25).map(|i| format!("r{round}-w{worker}-{}", seq + i)).collect();
                    let values: Vec<serde_json::Value> = ids.iter().enumerate().map(|(i, id)| json!([(base + (seq as i64 + i as i64) * 1000 + worker as i64).to_string(), format!("line {id} payload")])).collect();
                    seq += 25;
                    let body = json!({"streams": [{"stream": {"job": "crash", "worker": worker.to_string()}, "values": values}]}).to_string();
                    match client.post(format!("{url}/loki/api/v1/push")).header("Content-Type", "application/json").body(body).send() {
                        Ok(response) if response.status().as_u16() == 204 => acknowledged.lock().unwrap().extend(ids),
                        Ok(response) => panic!("push refused: {}", response.status()),
                        Err(_) => return, // the server was killed
                    }
                }
            }));
        }
        // Some rounds flush mid-stream so that kills also land during and after flushes.
        if round % 3 == 1 {
            std::thread::sleep(Duration::from_millis(random.next(100)));
            let _ = client().post(format!("{}/flush", server.url)).send();
        }
        std::thread::sleep(Duration::from_millis(50 + random.next(250)));
        server.kill();
        stop.store(true, Ordering::Relaxed);
        for thread in threads {
            thread.join().unwrap();
        }
        sequence += 100_000_000;
    }

    let server = Server::start(&data_dir, Some(config));
    let acknowledged = acknowledged.lock().unwrap().clone();
    assert!(
        acknowledged.len() > 1000,
        "too few acknowledged lines to mean anything: {}",
        acknowledged.len()
    );
    let mut seen: HashMap<String, usize> = HashMap::new();
    let start = (base - 1).to_string();
    let end = (now_ns()).to_string();
    for worker in 0..WORKERS {
        let query = format!(r#"{{job="crash", worker="{worker}"}}"#);
        let result = server.query_range(&[
            ("query", query.as_str()),
            ("start", &start),
            ("end", &end),
            ("limit", "1000000"),
            ("direction", "forward"),
        ]);
        for (_, _, line) in common::entries(&result) {
            let id = line.split(' ').nth(1).unwrap().to_string();
            *seen.entry(id).or_default() += 1;
        }
    }
    let missing: Vec<&String> = acknowledged
        .iter()
        .filter(|id| !seen.contains_key(*id))
        .take(10)
        .collect();
    assert!(
        missing.is_empty(),
        "{} acknowledged lines lost, e.g. {missing:?}",
        acknowledged
            .iter()
            .filter(|id| !seen.contains_key(*id))
            .count()
    );
    let doubled: Vec<(&String, &usize)> = seen
        .iter()
        .filter(|(_, count)| **count > 1)
        .take(10)
        .collect();
    assert!(
        doubled.is_empty(),
        "lines returned more than once: {doubled:?}"
    );
    println!(
        "{} kills, {} acknowledged lines, {} lines stored, none lost or doubled",
        KILLS,
        acknowledged.len(),
        seen.len()
    );
}
