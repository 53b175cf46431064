use super::tail::TailBatch;
use super::tenant;
use crate::{ApiError, AppState};
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use strata_ingest::{PushFormat, decode_body, decode_loki_push};

/// `POST /loki/api/v1/push`: JSON or snappy protobuf, optionally gzipped.
///
/// Answers 204 once every valid entry is durable. When some streams or
/// entries are invalid, the valid ones are still stored and the answer is
/// 400 naming the first problem and how many there were.
pub async fn push(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<StatusCode, ApiError> {
    state.metrics.push_requests.fetch_add(1, Relaxed);
    let result = match read_body(body, state.limits.ingest.max_request_bytes).await {
        Ok(body) => push_inner(&state, &headers, body).await,
        Err(err) => Err(err),
    };
    if result.is_err() {
        state.metrics.push_failures.fetch_add(1, Relaxed);
    }
    result
}

/// Reads the whole body, refusing with 413 and the limit's name past `limit` bytes.
async fn read_body(body: Body, limit: usize) -> Result<Bytes, ApiError> {
    axum::body::to_bytes(body, limit).await.map_err(|err| {
        let inner = err.into_inner();
        if inner.is::<http_body_util::LengthLimitError>() {
            ApiError::with_status(
                413,
                format!(
                    "request body is larger than the limit of {limit} bytes (max_request_bytes)"
                ),
            )
        } else {
            ApiError::bad_request(format!("cannot read request body: {inner}"))
        }
    })
}

async fn push_inner(
    state: &AppState,
    headers: &HeaderMap,
    body: Bytes,
) -> Result<StatusCode, ApiError> {
    let tenant = tenant(headers)?;
    let header_text = |name: header::HeaderName| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let content_type = header_text(header::CONTENT_TYPE);
    let content_encoding = header_text(header::CONTENT_ENCODING);
    let limits = state.limits.ingest;
    let storage = state.storage.clone();
    let tails = state.tail.clone();
    let selectors = state.tail_selectors.clone();
    let (entries, bytes, rejected) = tokio::task::spawn_blocking(move || -> Result<_, ApiError> {
        let format = PushFormat::from_content_type(content_type.as_deref())
            .map_err(|err| ApiError::with_status(err.status(), err.to_string()))?;
        let raw = decode_body(&body, content_encoding.as_deref(), &limits)
            .map_err(|err| ApiError::with_status(err.status(), err.to_string()))?;
        let decoded = decode_loki_push(&raw, format, &limits)
            .map_err(|err| ApiError::with_status(err.status(), err.to_string()))?;
        if !decoded.streams.is_empty() {
            storage.append(&tenant, &decoded.streams)?;
        }
        let result = (decoded.entries, decoded.bytes, decoded.rejected);
        // Durable now: offer the entries to the live tails, if any.
        if tails.receiver_count() > 0 && !decoded.streams.is_empty() {
            let streams = selectors.wanted(&tenant, decoded.streams);
            if !streams.is_empty() {
                let _ = tails.send(Arc::new(TailBatch { tenant, streams }));
            }
        }
        Ok(result)
    })
    .await??;
    state
        .metrics
        .ingested_lines
        .fetch_add(entries as u64, Relaxed);
    state
        .metrics
        .ingested_bytes
        .fetch_add(bytes as u64, Relaxed);
    if let Some(first) = rejected.first() {
        state
            .metrics
            .rejected_entries
            .fetch_add(rejected.len() as u64, Relaxed);
        let more = rejected.len() - 1;
        let suffix = if more > 0 {
            format!(" (and {more} more errors; {entries} valid entries were stored)")
        } else {
            format!(" ({entries} valid entries were stored)")
        };
        return Err(ApiError::bad_request(format!("{first}{suffix}")));
    }
    Ok(StatusCode::NO_CONTENT)
}
