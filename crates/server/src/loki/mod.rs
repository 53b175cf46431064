//! Loki's HTTP API: push, queries, labels and series, with Loki's parameters,
//! defaults and JSON shapes.

pub mod detected;
pub mod index;
pub mod labels;
pub mod meta;
pub mod push;
pub mod query;
mod response;
pub mod tail;

use crate::ApiError;
use crate::params::Params;
use axum::extract::{FromRequest, Request};
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

/// Largest form body a query request may carry.
const MAX_FORM_BYTES: usize = 8 << 20;

/// What every Loki read endpoint starts from: the tenant, the parameters
/// (query string, plus the form body of a POST) and the headers.
pub struct LokiRequest {
    pub tenant: String,
    pub params: Params,
    pub headers: HeaderMap,
}

impl<S: Send + Sync> FromRequest<S> for LokiRequest {
    type Rejection = ApiError;

    async fn from_request(request: Request, _state: &S) -> Result<LokiRequest, ApiError> {
        let (parts, body) = request.into_parts();
        let tenant = tenant(&parts.headers)?;
        let body = axum::body::to_bytes(body, MAX_FORM_BYTES)
            .await
            .map_err(|_| {
                ApiError::with_status(
                    413,
                    format!("request body is larger than {MAX_FORM_BYTES} bytes"),
                )
            })?;
        let params = Params::from_request(&parts.method, &parts.headers, parts.uri.query(), &body)?;
        Ok(LokiRequest {
            tenant,
            params,
            headers: parts.headers,
        })
    }
}
