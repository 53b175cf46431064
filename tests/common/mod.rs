//! Helpers shared by the end-to-end tests: a real `strata serve` process on
//! 127.0.0.1 with a temporary data directory, and small HTTP helpers.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_strata");

/// A running server. Killed (SIGKILL) when dropped.
pub struct Server {
    pub child: Child,
    pub url: String,
    pub data_dir: PathBuf,
}

impl Server {
    /// Starts `strata serve` on 127.0.0.1:0 over `data_dir`, with an optional
    /// YAML config, and waits until it answers /ready.
    pub fn start(data_dir: &Path, config_yaml: Option<&str>) -> Server {
        Server::start_at(data_dir, config_yaml, "127.0.0.1:0")
    }

    /// [`Server::start`] on a given address (to restart on the same port).
    pub fn start_at(data_dir: &Path, config_yaml: Option<&str>, listen: &str) -> Server {
        let mut command = Command::new(BIN);
        command
            .arg("serve")
            .arg("--data-dir")
            .arg(data_dir)
            .arg("--listen")
            .arg(listen);
        if let Some(yaml) = config_yaml {
            let path = data_dir.with_extension("yaml");
            std::fs::write(&path, yaml).unwrap();
            command.arg("--config").arg(path);
        }
        command
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        let mut child = command.spawn().expect("cannot start strata serve");
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        let url = loop {
            let line = lines
                .next()
                .expect("server exited before listening")
                .unwrap();
            if let Some(rest) = line.strip_prefix("listening on ") {
                break rest.trim().to_string();
            }
        };
        // Keep draining stdout so the server never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        let server = Server {
            child,
            url,
            data_dir: data_dir.to_path_buf(),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(response) = client().get(format!("{}/ready", server.url)).send()
                && response.status().is_success()
            {
                return server;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("server did not become ready");
    }

    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Stops with SIGTERM (graceful: flushes) and waits.
    pub fn stop(mut self) {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").arg("-TERM").arg(&pid).status();
        let _ = self.child.wait();
    }

    pub fn push_json(&self, body: &str) -> (u16, String) {
        let response = client()
            .post(format!("{}/loki/api/v1/push", self.url))
            .header("Content-Type", "application/json")
            .body(body.to_string())
            .send()
            .unwrap();
        let status = response.status().as_u16();
        (status, response.text().unwrap())
    }

    /// GET `path` with query parameters: (status, body).
    pub fn get_params(&self, path: &str, params: &[(&str, &str)]) -> (u16, String) {
        let response = client()
            .get(format!("{}{path}", self.url))
            .query(params)
            .send()
            .unwrap();
        (response.status().as_u16(), response.text().unwrap())
    }

    /// [`Server::get_params`] that must answer 200 with JSON.
    pub fn get_json(&self, path: &str, params: &[(&str, &str)]) -> serde_json::Value {
        let (status, text) = self.get_params(path, params);
        assert_eq!(status, 200, "{path} {params:?}: {text}");
        serde_json::from_str(&text).unwrap()
    }

    pub fn get(&self, path_and_query: &str) -> (u16, String) {
        let response = client()
            .get(format!("{}{}", self.url, path_and_query))
            .send()
            .unwrap();
        let status = response.status().as_u16();
        (status, response.text().unwrap())
    }

    /// query_range with the given parameters; panics unless 200.
    pub fn query_range(&self, params: &[(&str, &str)]) -> serde_json::Value {
        let response = client()
            .get(format!("{}/loki/api/v1/query_range", self.url))
            .query(params)
            .send()
            .unwrap();
        let status = response.status();
        let text = response.text().unwrap();
        assert!(
            status.is_success(),
            "query_range {params:?} -> {status}: {text}"
        );
        serde_json::from_str(&text).unwrap()
    }

    pub fn flush(&self) {
        let response = client().post(format!("{}/flush", self.url)).send().unwrap();
        assert_eq!(response.status().as_u16(), 204);
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap()
}

/// All (ts, line) values of a streams result, with each stream's labels.
pub fn entries(result: &serde_json::Value) -> Vec<(serde_json::Value, i64, String)> {
    let mut out = Vec::new();
    for stream in result["data"]["result"].as_array().expect("data.result") {
        for value in stream["values"].as_array().unwrap() {
            out.push((
                stream["stream"].clone(),
                value[0].as_str().unwrap().parse().unwrap(),
                value[1].as_str().unwrap().to_string(),
            ));
        }
    }
    out
}

pub fn lines(result: &serde_json::Value) -> Vec<String> {
    entries(result)
        .into_iter()
        .map(|(_, _, line)| line)
        .collect()
}

pub fn now_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as i64
}
