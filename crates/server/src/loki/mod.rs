//! Loki's HTTP API: push, queries, labels and series, with Loki's parameters,
//! defaults and JSON shapes.

pub mod labels;
pub mod push;
pub mod query;
mod response;

use crate::ApiError;
use axum::http::HeaderMap;
use strata_model::{DEFAULT_TENANT, validate_tenant};

/// The tenant of a request: `X-Scope-OrgID`, or the default tenant.
pub(crate) fn tenant(headers: &HeaderMap) -> Result<String, ApiError> {
    let Some(value) = headers.get("x-scope-orgid") else {
        return Ok(DEFAULT_TENANT.to_string());
    };
    let text = value
        .to_str()
        .map_err(|_| ApiError::bad_request("X-Scope-OrgID is not valid text"))?
        .trim();
    if text.contains('|') {
        return Err(ApiError::bad_request(
            "multi-tenant queries (X-Scope-OrgID with '|') are not supported",
        ));
    }
    validate_tenant(text)
        .map_err(|err| ApiError::bad_request(format!("invalid X-Scope-OrgID: {err}")))?;
    Ok(text.to_string())
}
