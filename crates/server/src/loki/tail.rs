//! `GET /loki/api/v1/tail`: live tailing over a WebSocket, as Loki's.
//!
//! A tail first sends the newest `limit` entries since `start` (a log query),
//! then every entry pushed afterwards that the query selects, as pushes are
//! acknowledged (every push is offered to the tails through a broadcast
//! channel; nothing is polled). `delay_for` (0-5 s) holds entries back that
//! long and sends each batch sorted by time. Pushes carry to the tails only
//! the streams an open tail selects. A client too slow to keep up loses
//! pushes (more than 256 behind): they are counted in
//! `strata_tail_dropped_pushes_total` and logged; `dropped_entries` stays
//! null, as strata cannot name the lost entries the way Loki does.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use axum::extract::State;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::response::Response;
use serde_json::{Value, json};
use strata_logql::{Expr, LogExpr};
use strata_model::{Labels, PushStream};
use strata_query::Pipeline;
use strata_query::engine::{Direction, LogQuery, run_log_query};
use tokio::sync::broadcast;

use super::LokiRequest;
use super::response::{labels_object, now_ns};
use crate::{ApiError, AppState};

/// Longest `delay_for` Loki accepts, in seconds.
const MAX_DELAY_FOR_SECS: u64 = 5;
/// How long live entries are gathered into one message when `delay_for` is 0.
const BATCH_WINDOW: Duration = Duration::from_millis(100);
/// How often a tail pings its client.
const PING_EVERY: Duration = Duration::from_secs(5);
/// Pushes the broadcast channel holds for a slow tail before it loses some.
/// Only the streams some open tail selects are offered, which bounds the
/// memory a slow tail can hold to what tails asked for.
pub const TAIL_CHANNEL_PUSHES: usize = 256;

/// One acknowledged push, as tails receive it.
pub struct TailBatch {
    pub tenant: String,
    pub streams: Vec<PushStream>,
}

/// The broadcast every push is offered to.
pub fn channel() -> broadcast::Sender<Arc<TailBatch>> {
    broadcast::channel(TAIL_CHANNEL_PUSHES).0
}

/// The stream selectors of the open tails: a push offers the tails only the
/// streams one of them selects.
#[derive(Debug, Default)]
pub struct TailSelectors {
    next_id: std::sync::atomic::AtomicU64,
    open: std::sync::RwLock<Vec<(u64, String, Vec<strata_model::LabelMatcher>)>>,
}

impl TailSelectors {
    fn add(&self, tenant: &str, matchers: Vec<strata_model::LabelMatcher>) -> u64 {
        let id = self.next_id.fetch_add(1, Relaxed);
        if let Ok(mut open) = self.open.write() {
            open.push((id, tenant.to_string(), matchers));
        }
        id
    }

    fn remove(&self, id: u64) {
        if let Ok(mut open) = self.open.write() {
            open.retain(|(open_id, ..)| *open_id != id);
        }
    }

    /// The streams of a push that some open tail of `tenant` selects.
    pub fn wanted(&self, tenant: &str, streams: Vec<PushStream>) -> Vec<PushStream> {
        let Ok(open) = self.open.read() else {
            return streams;
        };
        streams
            .into_iter()
            .filter(|stream| {
                open.iter().any(|(_, tail_tenant, matchers)| {
                    tail_tenant == tenant
                        && matchers
                            .iter()
                            .all(|m| m.matches(stream.labels.get(&m.name)))
                })
            })
            .collect()
    }
}

struct TailParams {
    tenant: String,
    expr: LogExpr,
    delay: Duration,
    limit: usize,
    start: i64,
}

fn tail_params(state: &AppState, request: LokiRequest) -> Result<TailParams, ApiError> {
    let LokiRequest { tenant, params, .. } = request;
    let text = params
        .get("query")
        .ok_or_else(|| ApiError::bad_request("missing parameter \"query\""))?;
    let expr = match strata_logql::parse_expr(text)
        .map_err(|err| ApiError::bad_request(err.to_string()))?
    {
        Expr::Log(expr) => expr,
        Expr::Metric(_) => {
            return Err(ApiError::bad_request(
                "tail requires a log query, not a metric query",
            ));
        }
    };
    let delay_secs = match params.get("delay_for") {
        Some(text) => text.parse::<u64>().map_err(|_| {
            ApiError::bad_request(format!(
                "invalid parameter \"delay_for\": {text:?} is not a whole number of seconds"
            ))
        })?,
        None => 0,
    };
    if delay_secs > MAX_DELAY_FOR_SECS {
        return Err(ApiError::bad_request(format!(
            "delay_for can't be greater than {MAX_DELAY_FOR_SECS}"
        )));
    }
    // `limit` as the query endpoints read it (default 100, max entries).
    let limit = super::query::common_params(&params, state)?.limit;
    let start = params.time("start", now_ns().saturating_sub(3_600_000_000_000))?;
    Pipeline::new(&expr.stages).map_err(|err| ApiError::bad_request(err.to_string()))?;
    Ok(TailParams {
        tenant,
        expr,
        delay: Duration::from_secs(delay_secs),
        limit,
        start,
    })
}

/// The upgrade: parameters are checked before it, so mistakes get a 400.
pub async fn tail(
    State(state): State<AppState>,
    upgrade: WebSocketUpgrade,
    request: LokiRequest,
) -> Result<Response, ApiError> {
    let params = tail_params(&state, request)?;
    let limit = state.limits.query.max_tails as u64;
    if let Err(open) = state
        .metrics
        .tails
        .fetch_update(Relaxed, Relaxed, |open| (open < limit).then_some(open + 1))
    {
        return Err(ApiError::bad_request(format!(
            "max concurrent tail requests limit exceeded, count > limit ({} > {limit}, limits.max_concurrent_tail_requests)",
            open + 1
        )));
    }
    // Gives the place back however the tail ends, even if the upgrade fails.
    let id = state
        .tail_selectors
        .add(&params.tenant, params.expr.matchers.clone());
    let slot = TailSlot(state.metrics.clone(), state.tail_selectors.clone(), id);
    // Subscribe before the history is read, so no push falls between them.
    let live = state.tail.subscribe();
    Ok(upgrade.on_upgrade(move |socket| async move {
        run_tail(&state, socket, params, live).await;
        drop(slot);
    }))
}

/// One open tail, counted in `Metrics::tails` while it lives.
struct TailSlot(Arc<crate::Metrics>, Arc<TailSelectors>, u64);

impl Drop for TailSlot {
    fn drop(&mut self) {
        self.1.remove(self.2);
        self.0.tails.fetch_sub(1, Relaxed);
    }
}

/// Entries of one message, grouped by label set.
#[derive(Default)]
struct Outgoing {
    streams: BTreeMap<Labels, Vec<(i64, String)>>,
    entries: usize,
}

impl Outgoing {
    fn push(&mut self, labels: Labels, ts: i64, line: String) {
        self.streams.entry(labels).or_default().push((ts, line));
        self.entries += 1;
    }

    fn message(&mut self) -> String {
        let streams: Vec<Value> = std::mem::take(&mut self.streams)
            .into_iter()
            .map(|(labels, mut values)| {
                values.sort_by_key(|(ts, _)| *ts);
                let values: Vec<Value> = values
                    .into_iter()
                    .map(|(ts, line)| json!([ts.to_string(), line]))
                    .collect();
                json!({ "stream": labels_object(&labels), "values": values })
            })
            .collect();
        self.entries = 0;
        json!({ "streams": streams, "dropped_entries": Value::Null }).to_string()
    }
}

async fn run_tail(
    state: &AppState,
    mut socket: WebSocket,
    params: TailParams,
    mut live: broadcast::Receiver<Arc<TailBatch>>,
) {
    let TailParams {
        tenant,
        expr,
        delay,
        limit,
        start,
    } = params;
    let Ok(pipeline) = Pipeline::new(&expr.stages) else {
        return;
    };
    // History: the newest `limit` entries since `start`.
    let storage = state.storage.clone();
    let (history_tenant, history_expr) = (tenant.clone(), expr.clone());
    let now = now_ns();
    let control = strata_query::QueryControl::new(state.limits.query.timeout);
    let history = tokio::task::spawn_blocking(move || {
        run_log_query(
            &storage,
            &LogQuery {
                tenant: &history_tenant,
                expr: &history_expr,
                start_ns: start,
                end_ns: now.saturating_add(1),
                limit,
                direction: Direction::Backward,
                control: &control,
            },
        )
    })
    .await;
    let mut sent: HashSet<(Labels, i64, String)> = HashSet::new();
    let mut outgoing = Outgoing::default();
    match history {
        Ok(Ok(result)) => {
            for stream in result.streams {
                for entry in stream.entries {
                    sent.insert((
                        stream.stream_labels.clone(),
                        entry.ts_ns,
                        entry.line.clone(),
                    ));
                    outgoing.push(stream.labels.clone(), entry.ts_ns, entry.line);
                }
            }
        }
        Ok(Err(err)) => {
            let _ = socket
                .send(Message::Close(Some(close_frame(&err.to_string()))))
                .await;
            return;
        }
        Err(_) => return,
    }
    if socket
        .send(Message::Text(outgoing.message().into()))
        .await
        .is_err()
    {
        return;
    }
    let window = delay.max(BATCH_WINDOW);
    let mut deadline: Option<tokio::time::Instant> = None;
    // Pings find clients that vanished without closing (their tail slot is
    // then given back); Loki pings every second.
    let mut ping = tokio::time::interval(PING_EVERY);
    ping.tick().await;
    let mut last_heard = tokio::time::Instant::now();
    loop {
        let flush_at = deadline;
        tokio::select! {
            _ = ping.tick() => {
                // WebSocket clients answer pings by themselves: silence for
                // three rounds means the client is gone.
                if last_heard.elapsed() > PING_EVERY * 3
                    || socket.send(Message::Ping(Vec::new().into())).await.is_err()
                {
                    return;
                }
            }
            incoming = socket.recv() => match incoming {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return,
                Some(Ok(_)) => last_heard = tokio::time::Instant::now(),
            },
            batch = live.recv() => match batch {
                Ok(batch) => {
                    if batch.tenant != tenant {
                        continue;
                    }
                    select(&expr, &pipeline, &batch.streams, &mut sent, &mut outgoing);
                    if outgoing.entries > 0 && deadline.is_none() {
                        deadline = Some(tokio::time::Instant::now() + window);
                    }
                }
                Err(broadcast::error::RecvError::Lagged(pushes)) => {
                    tracing::warn!(pushes, "a tail fell behind and lost pushes");
                    state.metrics.tail_dropped_pushes.fetch_add(pushes, Relaxed);
                }
                Err(broadcast::error::RecvError::Closed) => return,
            },
            _ = sleep_until(flush_at) => {
                deadline = None;
                // History duplicates can only come from pushes acknowledged
                // before the tail started; once live entries flow, forget them.
                sent.clear();
                if socket.send(Message::Text(outgoing.message().into())).await.is_err() {
                    return;
                }
            }
        }
    }
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

fn close_frame(reason: &str) -> axum::extract::ws::CloseFrame {
    let mut reason = reason.to_string();
    // A close frame's reason is at most 123 bytes.
    while reason.len() > 123 {
        reason.pop();
    }
    axum::extract::ws::CloseFrame {
        code: 1011,
        reason: reason.into(),
    }
}

/// Adds the entries of `streams` that the query selects to `outgoing`,
/// skipping those the history already sent.
fn select(
    expr: &LogExpr,
    pipeline: &Pipeline,
    streams: &[PushStream],
    sent: &mut HashSet<(Labels, i64, String)>,
    outgoing: &mut Outgoing,
) {
    for stream in streams {
        if !expr
            .matchers
            .iter()
            .all(|matcher| matcher.matches(stream.labels.get(&matcher.name)))
        {
            continue;
        }
        for entry in &stream.entries {
            if !sent.is_empty()
                && sent.remove(&(stream.labels.clone(), entry.ts_ns, entry.line.clone()))
            {
                continue;
            }
            let metadata: Vec<(&str, &str)> = entry
                .metadata
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            if let Some(processed) =
                pipeline.process(entry.ts_ns, &entry.line, &stream.labels, &metadata)
            {
                outgoing.push(processed.labels, entry.ts_ns, processed.line);
            }
        }
    }
}
