//! The agent's own endpoints, on `--metrics-listen` (Promtail's 9080 by
//! convention): `GET /metrics` (Prometheus text) and `GET /health`.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;

use crate::AgentStats;

/// Serves the endpoints from a thread; returns the bound address.
pub fn serve(address: &str, stats: Arc<AgentStats>) -> anyhow::Result<std::net::SocketAddr> {
    let listener = TcpListener::bind(address)
        .map_err(|err| anyhow::anyhow!("cannot listen on {address}: {err}"))?;
    let bound = listener.local_addr()?;
    std::thread::Builder::new()
        .name("agent-metrics".into())
        .spawn(move || {
            for stream in listener.incoming().flatten() {
                // One thread per connection: an idle client cannot hold up /health.
                let stats = stats.clone();
                let _ = std::thread::Builder::new()
                    .name("agent-metrics-conn".into())
                    .spawn(move || answer(stream, &stats));
            }
        })?;
    Ok(bound)
}

fn answer(mut stream: TcpStream, stats: &AgentStats) -> std::io::Result<()> {
    stream.set_read_timeout(Some(std::time::Duration::from_secs(2)))?;
    let mut request_line = String::new();
    BufReader::new(Read::take(&stream, 8192)).read_line(&mut request_line)?;
    let path = request_line.split_whitespace().nth(1).unwrap_or("/");
    let (status, content_type, body) = match path {
        "/metrics" => ("200 OK", "text/plain; version=0.0.4", metrics(stats)),
        "/health" | "/ready" => {
            let ok = stats.last_push_ok.load(Relaxed) == 1 || stats.batches.load(Relaxed) == 0;
            let body = format!(
                "{{\"status\":\"{}\",\"last_push_ok\":{}}}\n",
                if ok { "ok" } else { "degraded" },
                ok
            );
            ("200 OK", "application/json", body)
        }
        _ => ("404 Not Found", "text/plain", "not found\n".to_string()),
    };
    write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}

/// The counters in Prometheus' text format.
pub fn metrics(stats: &AgentStats) -> String {
    let mut out = String::new();
    let mut counter = |name: &str, help: &str, value: u64| {
        out.push_str(&format!(
            "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}\n"
        ));
    };
    counter(
        "strata_agent_lines_read_total",
        "Lines read from files.",
        stats.lines_read.load(Relaxed),
    );
    counter(
        "strata_agent_lines_sent_total",
        "Lines the server acknowledged or refused.",
        stats.lines_sent.load(Relaxed),
    );
    counter(
        "strata_agent_bytes_sent_total",
        "Line bytes sent.",
        stats.bytes_sent.load(Relaxed),
    );
    counter(
        "strata_agent_batches_total",
        "Pushes done.",
        stats.batches.load(Relaxed),
    );
    counter(
        "strata_agent_retries_total",
        "Push attempts retried (connection errors, 429, 5xx).",
        stats.retries.load(Relaxed),
    );
    out.push_str("# HELP strata_agent_dropped_lines_total Lines not delivered, by reason: refused by an output (dead-lettered), or dropped by a stage (filtered, sampled, duplicate, rate_limited, drop_stage...).\n# TYPE strata_agent_dropped_lines_total counter\n");
    out.push_str(&format!(
        "strata_agent_dropped_lines_total{{reason=\"refused\"}} {}\n",
        stats.refused_lines.load(Relaxed)
    ));
    let dropped = stats.dropped.lock().map(|d| d.clone()).unwrap_or_default();
    for (reason, count) in &dropped {
        if reason == "refused" {
            continue;
        }
        out.push_str(&format!(
            "strata_agent_dropped_lines_total{{reason=\"{}\"}} {count}\n",
            escape(reason)
        ));
    }
    out.push_str("# HELP strata_agent_file_lag_bytes Bytes of a followed file not yet delivered.\n# TYPE strata_agent_file_lag_bytes gauge\n");
    let lag = stats.lag.lock().map(|lag| lag.clone()).unwrap_or_default();
    for (path, bytes) in &lag {
        let path = escape(&path.display().to_string());
        out.push_str(&format!(
            "strata_agent_file_lag_bytes{{path=\"{path}\"}} {bytes}\n"
        ));
    }
    out.push_str(&format!(
        "# HELP strata_agent_files Files followed.\n# TYPE strata_agent_files gauge\nstrata_agent_files {}\n",
        lag.len()
    ));
    let outputs = stats.outputs.lock().map(|o| o.clone()).unwrap_or_default();
    for (name, help, read) in [
        (
            "strata_agent_output_sent_lines_total",
            "Lines an output delivered (for a buffered output: from its buffer).",
            (|s: &crate::output::OutputStats| s.sent_lines.load(Relaxed))
                as fn(&crate::output::OutputStats) -> u64,
        ),
        (
            "strata_agent_output_retries_total",
            "Send attempts of an output that failed and were retried.",
            |s| s.retries.load(Relaxed),
        ),
        (
            "strata_agent_output_refused_lines_total",
            "Lines an output's destination refused (dead-lettered).",
            |s| s.refused_lines.load(Relaxed),
        ),
    ] {
        if outputs.is_empty() {
            break;
        }
        out.push_str(&format!("# HELP {name} {help}\n# TYPE {name} counter\n"));
        for (output, counters) in &outputs {
            out.push_str(&format!(
                "{name}{{output=\"{}\"}} {}\n",
                escape(output),
                read(counters)
            ));
        }
    }
    let buffers = stats.buffers.lock().map(|b| b.clone()).unwrap_or_default();
    for (name, help, kind, read) in [
        (
            "strata_agent_buffer_bytes",
            "Bytes in an output's disk buffer not yet delivered.",
            "gauge",
            (|s: &crate::output::buffer::BufferStats| s.bytes.load(Relaxed))
                as fn(&crate::output::buffer::BufferStats) -> u64,
        ),
        (
            "strata_agent_buffer_dropped_lines_total",
            "Lines dropped because an output's disk buffer was full (when_full: drop_newest).",
            "counter",
            |s| s.dropped_lines.load(Relaxed),
        ),
        (
            "strata_agent_buffer_corrupt_records_total",
            "Damaged records found in a disk buffer (skipped).",
            "counter",
            |s| s.corrupt_records.load(Relaxed),
        ),
    ] {
        if buffers.is_empty() {
            break;
        }
        out.push_str(&format!("# HELP {name} {help}\n# TYPE {name} {kind}\n"));
        for (output, buffer) in &buffers {
            out.push_str(&format!(
                "{name}{{output=\"{}\"}} {}\n",
                escape(output),
                read(buffer)
            ));
        }
    }
    out.push_str(&stats.custom.render());
    out
}

/// A label value escaped for Prometheus' text format.
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serves_metrics_and_health() {
        let stats = Arc::new(AgentStats::default());
        stats.lines_sent.store(42, Relaxed);
        if let Ok(mut lag) = stats.lag.lock() {
            lag.push(("/var/log/a\"b.log".into(), 7));
        }
        let address = serve("127.0.0.1:0", stats).unwrap();
        let get = |path: &str| {
            let mut stream = TcpStream::connect(address).unwrap();
            write!(stream, "GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
            let mut text = String::new();
            std::io::Read::read_to_string(&mut stream, &mut text).unwrap();
            text
        };
        let metrics = get("/metrics");
        assert!(metrics.starts_with("HTTP/1.1 200"), "{metrics}");
        assert!(
            metrics.contains("strata_agent_lines_sent_total 42"),
            "{metrics}"
        );
        assert!(
            metrics.contains(r#"strata_agent_file_lag_bytes{path="/var/log/a\"b.log"} 7"#),
            "{metrics}"
        );
        assert!(get("/health").contains(r#""status":"ok""#));
        assert!(get("/nope").starts_with("HTTP/1.1 404"));
    }
}
