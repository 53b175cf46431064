//! `strata tail`: follows a LogQL log query live over the server's tail
//! WebSocket (`/loki/api/v1/tail`), printing entries as they arrive, like
//! `logcli query --tail`. Reconnects after a dropped connection, resuming
//! after the last entry printed.

use std::io::ErrorKind;
use std::net::TcpStream;
use std::time::Duration;

use anyhow::{Context, bail};
use tungstenite::client::IntoClientRequest;
use tungstenite::{Message, WebSocket};

use super::query::{now_ns, print_entries};

#[derive(clap::Args)]
pub struct TailArgs {
    /// The LogQL log query (a metric query cannot be tailed).
    query: String,
    /// Server URL [default: $STRATA_ADDR or http://127.0.0.1:3100].
    #[arg(long)]
    server: Option<String>,
    /// How far back the first entries go.
    #[arg(long, default_value = "1h")]
    since: String,
    /// Most entries printed from before the tail started.
    #[arg(long, default_value_t = 30)]
    limit: usize,
    /// Seconds (0-5) the server holds entries back to send them in order.
    #[arg(long, default_value_t = 0)]
    delay_for: u64,
    /// Output: text (timestamp, labels, line) or jsonl (one JSON object per entry).
    #[arg(long, short, default_value = "text")]
    output: String,
    /// Tenant (X-Scope-OrgID).
    #[arg(long)]
    org_id: Option<String>,
    /// Stop after printing this many entries (default: follow until interrupted).
    #[arg(long)]
    max_entries: Option<usize>,
}

pub fn run(args: TailArgs) -> anyhow::Result<()> {
    if args.output != "text" && args.output != "jsonl" {
        bail!("invalid --output {:?}: use text or jsonl", args.output);
    }
    let server = super::server_url(args.server.clone());
    let since = strata_server::parse_duration(&args.since)
        .map_err(|err| anyhow::anyhow!("invalid --since: {err}"))?;
    let mut start = now_ns() - since;
    let mut printed = 0usize;
    let mut failures = 0u32;
    loop {
        match follow(&server, &args, start, &mut printed) {
            Ok(Some(last_ts)) => {
                // The server closed the connection: resume after the last entry.
                start = last_ts.saturating_add(1);
                failures = 0;
            }
            Ok(None) => return Ok(()),
            Err(err) if failures < 5 && printed > 0 => {
                failures += 1;
                eprintln!("tail: {err:#}; reconnecting");
                std::thread::sleep(Duration::from_secs(1 << failures.min(4)));
            }
            Err(err) => return Err(err),
        }
    }
}

/// One connection: prints entries until the server closes it (returns the
/// last timestamp printed, to resume from) or the tail is over (None).
fn follow(
    server: &str,
    args: &TailArgs,
    start: i64,
    printed: &mut usize,
) -> anyhow::Result<Option<i64>> {
    let ws_url = match server.strip_prefix("http://") {
        Some(rest) => format!("ws://{rest}"),
        None if server.starts_with("https://") => {
            bail!("{server}: strata tail speaks plain HTTP only (no TLS)")
        }
        None => format!("ws://{server}"),
    };
    let url = reqwest::Url::parse_with_params(
        &format!("{ws_url}/loki/api/v1/tail"),
        [
            ("query", args.query.as_str()),
            ("start", &start.to_string()),
            ("limit", &args.limit.to_string()),
            ("delay_for", &args.delay_for.to_string()),
        ],
    )
    .with_context(|| format!("invalid server URL {server:?}"))?;
    let mut request = url
        .as_str()
        .into_client_request()
        .with_context(|| format!("invalid server URL {server:?}"))?;
    if let Some(org) = &args.org_id {
        request
            .headers_mut()
            .insert("X-Scope-OrgID", org.parse().context("invalid --org-id")?);
    }
    let authority = request
        .uri()
        .authority()
        .map(|a| a.to_string())
        .unwrap_or_default();
    let address = if authority.contains(':') {
        authority
    } else {
        format!("{authority}:80")
    };
    let stream = TcpStream::connect(&address).with_context(|| format!("cannot reach {server}"))?;
    let (mut socket, _) = tungstenite::client(request, stream).map_err(|err| match err {
        tungstenite::HandshakeError::Failure(tungstenite::Error::Http(response)) => {
            let body = response
                .body()
                .as_ref()
                .map(|body| String::from_utf8_lossy(body).trim().to_string())
                .unwrap_or_default();
            anyhow::anyhow!("tail refused ({}): {body}", response.status())
        }
        other => anyhow::anyhow!("cannot open the tail WebSocket: {other}"),
    })?;
    let mut last_ts = start.saturating_sub(1);
    loop {
        match read(&mut socket)? {
            None => return Ok(Some(last_ts)),
            Some(text) => {
                let json: serde_json::Value =
                    serde_json::from_str(&text).context("cannot parse a tail message")?;
                let mut streams = json["streams"].as_array().cloned().unwrap_or_default();
                if let Some(max) = args.max_entries {
                    truncate_entries(&mut streams, max.saturating_sub(*printed));
                }
                for stream in &streams {
                    for value in stream["values"].as_array().into_iter().flatten() {
                        let ts = value[0].as_str().and_then(|t| t.parse().ok()).unwrap_or(0);
                        last_ts = last_ts.max(ts);
                        *printed += 1;
                    }
                }
                if !print_entries(&streams, &args.output, true) {
                    return Ok(None);
                }
                if args.max_entries.is_some_and(|max| *printed >= max) {
                    let _ = socket.close(None);
                    return Ok(None);
                }
            }
        }
    }
}

/// The next text message; None when the server closed the connection.
fn read(socket: &mut WebSocket<TcpStream>) -> anyhow::Result<Option<String>> {
    loop {
        match socket.read() {
            Ok(Message::Text(text)) => return Ok(Some(text.to_string())),
            Ok(Message::Close(frame)) => {
                if let Some(frame) = frame
                    && u16::from(frame.code) != 1000
                {
                    bail!("the server ended the tail: {}", frame.reason);
                }
                return Ok(None);
            }
            Ok(_) => {}
            Err(tungstenite::Error::ConnectionClosed) => return Ok(None),
            Err(tungstenite::Error::Io(err)) if err.kind() == ErrorKind::UnexpectedEof => {
                return Ok(None);
            }
            Err(err) => return Err(err).context("tail connection failed"),
        }
    }
}

/// Keeps at most `left` entries of `streams`, the oldest.
fn truncate_entries(streams: &mut [serde_json::Value], left: usize) {
    let mut all: Vec<i64> = streams
        .iter()
        .flat_map(|stream| stream["values"].as_array().into_iter().flatten())
        .map(|value| value[0].as_str().and_then(|t| t.parse().ok()).unwrap_or(0))
        .collect();
    if all.len() <= left {
        return;
    }
    all.sort_unstable();
    let cutoff = if left == 0 { i64::MIN } else { all[left - 1] };
    let mut kept = 0;
    for stream in streams.iter_mut() {
        if let Some(values) = stream["values"].as_array_mut() {
            values.retain(|value| {
                let ts = value[0].as_str().and_then(|t| t.parse().ok()).unwrap_or(0);
                let keep = left > 0 && ts <= cutoff && kept < left;
                kept += usize::from(keep);
                keep
            });
        }
    }
}
