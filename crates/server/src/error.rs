use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

/// An error answered to the client as Loki does: a status code and a plain
/// one-line text body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
}

impl ApiError {
    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            message: message.into(),
        }
    }

    pub fn internal(message: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            message: message.into(),
        }
    }

    pub fn with_status(status: u16, message: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST),
            message: message.into(),
        }
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.status.as_u16(), self.message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.status.is_server_error() {
            tracing::error!(status = self.status.as_u16(), message = %self.message, "request failed");
        }
        let mut body = self.message;
        body.push('\n');
        (
            self.status,
            [(
                axum::http::header::CONTENT_TYPE,
                "text/plain; charset=utf-8",
            )],
            body,
        )
            .into_response()
    }
}

impl From<strata_query::engine::QueryError> for ApiError {
    fn from(err: strata_query::engine::QueryError) -> ApiError {
        match err {
            strata_query::engine::QueryError::BadQuery(message)
            | strata_query::engine::QueryError::Limit(message) => ApiError::bad_request(message),
            // Nginx's "client closed request": nobody reads it, the logs do.
            strata_query::engine::QueryError::Cancelled => {
                ApiError::with_status(499, "the client closed the request")
            }
            other => ApiError::internal(other.to_string()),
        }
    }
}

impl From<strata_storage::StorageError> for ApiError {
    fn from(err: strata_storage::StorageError) -> ApiError {
        ApiError::internal(err.to_string())
    }
}

impl From<tokio::task::JoinError> for ApiError {
    fn from(err: tokio::task::JoinError) -> ApiError {
        ApiError::internal(format!("BUG: task failed: {err}"))
    }
}
