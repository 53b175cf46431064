//! `strata query`: runs a LogQL query against a server, like logcli. Log
//! queries print entries; metric queries print a table of series labels,
//! evaluation times and values.

use anyhow::{Context, bail};
use std::io::Write;

#[derive(clap::Args)]
pub struct QueryArgs {
    /// The LogQL query.
    query: String,
    /// Server URL [default: $STRATA_ADDR or http://127.0.0.1:3100].
    #[arg(long)]
    server: Option<String>,
    /// How far back to look, when --from is not given.
    #[arg(long, default_value = "1h")]
    since: String,
    /// Start of the range: RFC3339, Unix seconds or nanoseconds.
    #[arg(long)]
    from: Option<String>,
    /// End of the range [default: now].
    #[arg(long)]
    to: Option<String>,
    /// Most entries to return.
    #[arg(long, default_value_t = 30)]
    limit: usize,
    /// Oldest first instead of newest first.
    #[arg(long)]
    forward: bool,
    /// Metric queries: the step between evaluations (`30s`, `5m` or seconds)
    /// [default: the server's, (to - from) / 250].
    #[arg(long)]
    step: Option<String>,
    /// Metric queries: evaluate once, at --to (an instant query).
    #[arg(long)]
    instant: bool,
    /// Output: text (timestamp, labels, line) or jsonl (one JSON object per entry).
    #[arg(long, short, default_value = "text")]
    output: String,
    /// Tenant (X-Scope-OrgID).
    #[arg(long)]
    org_id: Option<String>,
}

pub fn run(args: QueryArgs) -> anyhow::Result<()> {
    if args.output != "text" && args.output != "jsonl" {
        bail!("invalid --output {:?}: use text or jsonl", args.output);
    }
    let server = super::server_url(args.server.clone());
    let end = match &args.to {
        Some(text) => strata_server::parse_loki_time(text)
            .map_err(|err| anyhow::anyhow!("invalid --to: {err}"))?,
        None => now_ns(),
    };
    let start = match &args.from {
        Some(text) => strata_server::parse_loki_time(text)
            .map_err(|err| anyhow::anyhow!("invalid --from: {err}"))?,
        None => {
            end - strata_server::parse_duration(&args.since)
                .map_err(|err| anyhow::anyhow!("invalid --since: {err}"))?
        }
    };
    let client = reqwest::blocking::Client::new();
    let mut request = if args.instant {
        client
            .get(format!("{server}/loki/api/v1/query"))
            .query(&[("query", args.query.as_str()), ("time", &end.to_string())])
    } else {
        client
            .get(format!("{server}/loki/api/v1/query_range"))
            .query(&[
                ("query", args.query.as_str()),
                ("start", &start.to_string()),
                ("end", &end.to_string()),
                ("limit", &args.limit.to_string()),
                (
                    "direction",
                    if args.forward { "forward" } else { "backward" },
                ),
            ])
    };
    if let Some(step) = &args.step {
        request = request.query(&[("step", step.as_str())]);
    }
    if let Some(org) = &args.org_id {
        request = request.header("X-Scope-OrgID", org);
    }
    let response = request
        .send()
        .with_context(|| format!("cannot reach {server}"))?;
    let status = response.status();
    let body = response.text().context("cannot read the response")?;
    if !status.is_success() {
        bail!("query failed ({status}): {}", body.trim());
    }
    let json: serde_json::Value =
        serde_json::from_str(&body).context("cannot parse the response")?;
    match json["data"]["resultType"].as_str() {
        Some("matrix" | "vector" | "scalar") => print_samples(&json, &args.output),
        _ => print_streams(&json, &args.output, args.forward),
    }
}

/// Prints a metric answer, one sample per row: labels, time, value (series
/// in the server's order, points in time order).
fn print_samples(json: &serde_json::Value, output: &str) -> anyhow::Result<()> {
    let data = &json["data"];
    let mut rows: Vec<(String, serde_json::Value, String, String)> = Vec::new();
    let mut add = |metric: &serde_json::Value, pair: &serde_json::Value| {
        let seconds = pair[0].as_f64().unwrap_or(0.0);
        let ts = (seconds * 1e9).round() as i64;
        let value = pair[1].as_str().unwrap_or("").to_string();
        rows.push((label_text(metric), metric.clone(), format_ts(ts), value));
    };
    match data["resultType"].as_str() {
        Some("scalar") => add(&serde_json::json!({}), &data["result"]),
        _ => {
            let series = data["result"]
                .as_array()
                .context("response has no data.result")?;
            for one in series {
                if let Some(values) = one["values"].as_array() {
                    for pair in values {
                        add(&one["metric"], pair);
                    }
                } else {
                    add(&one["metric"], &one["value"]);
                }
            }
        }
    }
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let width = rows.iter().map(|row| row.0.len()).max().unwrap_or(0);
    if output != "jsonl" && !rows.is_empty() {
        let _ = writeln!(out, "{:width$}  {:30}  VALUE", "LABELS", "TIME");
    }
    for (labels, metric, time, value) in rows {
        let result = if output == "jsonl" {
            writeln!(
                out,
                "{}",
                serde_json::json!({ "labels": metric, "timestamp": time, "value": value })
            )
        } else {
            writeln!(out, "{labels:width$}  {time:30}  {value}")
        };
        if result.is_err() {
            break; // stdout closed (e.g. piped into head)
        }
    }
    Ok(())
}

/// Prints the entries of every result stream merged in time order.
fn print_streams(json: &serde_json::Value, output: &str, forward: bool) -> anyhow::Result<()> {
    let streams = json["data"]["result"]
        .as_array()
        .context("response has no data.result")?;
    print_entries(streams, output, forward);
    Ok(())
}

/// Prints the entries of `streams` (Loki's `{"stream":..,"values":..}`
/// objects) merged in time order; false once stdout is closed.
pub(crate) fn print_entries(streams: &[serde_json::Value], output: &str, forward: bool) -> bool {
    let mut rows: Vec<(i64, String, &str)> = Vec::new();
    for stream in streams {
        let labels = label_text(&stream["stream"]);
        for value in stream["values"].as_array().into_iter().flatten() {
            let ts: i64 = value[0].as_str().and_then(|t| t.parse().ok()).unwrap_or(0);
            rows.push((ts, labels.clone(), value[1].as_str().unwrap_or("")));
        }
    }
    rows.sort_by_key(|row| row.0);
    if !forward {
        rows.reverse();
    }
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    for (ts, labels, line) in rows {
        let result = if output == "jsonl" {
            let stream: serde_json::Value =
                serde_json::from_str(&labels_json(&labels)).unwrap_or_default();
            writeln!(
                out,
                "{}",
                serde_json::json!({ "timestamp": format_ts(ts), "ts_ns": ts.to_string(), "labels": stream, "line": line })
            )
        } else {
            writeln!(out, "{} {} {}", format_ts(ts), labels, line)
        };
        if result.is_err() {
            return false; // stdout closed (e.g. piped into head)
        }
    }
    out.flush().is_ok()
}

fn label_text(stream: &serde_json::Value) -> String {
    let mut pairs: Vec<String> = Vec::new();
    if let Some(object) = stream.as_object() {
        for (name, value) in object {
            pairs.push(format!(
                "{name}={}",
                serde_json::Value::String(value.as_str().unwrap_or("").to_string())
            ));
        }
    }
    format!("{{{}}}", pairs.join(", "))
}

fn labels_json(text: &str) -> String {
    match strata_model::Labels::parse(text) {
        Ok(labels) => serde_json::Value::Object(
            labels
                .iter()
                .map(|(k, v)| (k.to_string(), serde_json::Value::String(v.to_string())))
                .collect(),
        )
        .to_string(),
        Err(_) => "{}".to_string(),
    }
}

fn format_ts(ts: i64) -> String {
    match jiff::Timestamp::from_nanosecond(i128::from(ts)) {
        Ok(timestamp) => timestamp.to_string(),
        Err(_) => ts.to_string(),
    }
}

pub fn now_ns() -> i64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(now.as_nanos()).unwrap_or(i64::MAX)
}
