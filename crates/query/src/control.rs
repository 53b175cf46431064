//! Stopping a running query: a deadline (the server's query timeout) and a
//! cancellation flag (set when the client goes away). Scans check it once
//! per block, so a query stops within one block's work.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::engine::QueryError;

/// Shared by a query's handler and the blocking task that runs it.
#[derive(Debug, Clone, Default)]
pub struct QueryControl {
    deadline: Option<(Instant, Duration)>,
    cancelled: Arc<AtomicBool>,
}

impl QueryControl {
    /// A query that may run `timeout` from now (None: no limit).
    pub fn new(timeout: Option<Duration>) -> QueryControl {
        QueryControl {
            deadline: timeout.map(|timeout| (Instant::now() + timeout, timeout)),
            cancelled: Arc::new(AtomicBool::new(false)),
        }
    }

    /// No deadline and never cancelled.
    pub fn unlimited() -> QueryControl {
        QueryControl::default()
    }

    /// Stops the query at its next check.
    pub fn cancel(&self) {
        self.cancelled.store(true, Ordering::Relaxed);
    }

    /// A guard that cancels the query when dropped, e.g. with the request
    /// handler's future when the client disconnects. `disarm` it once the
    /// answer is ready.
    pub fn cancel_on_drop(&self) -> CancelOnDrop {
        CancelOnDrop {
            control: Some(self.clone()),
        }
    }

    /// Err when the query must stop: cancelled, or past its deadline.
    pub fn check(&self) -> Result<(), QueryError> {
        if self.cancelled.load(Ordering::Relaxed) {
            return Err(QueryError::Cancelled);
        }
        if let Some((deadline, timeout)) = self.deadline
            && Instant::now() >= deadline
        {
            return Err(QueryError::Limit(format!(
                "the query ran longer than the query timeout ({}s, limits.query_timeout); narrow its time range or selector",
                timeout.as_secs_f64()
            )));
        }
        Ok(())
    }

    /// True when the query must stop (see [`QueryControl::check`]).
    pub fn stopped(&self) -> bool {
        self.check().is_err()
    }
}

/// Cancels its query when dropped, unless disarmed.
pub struct CancelOnDrop {
    control: Option<QueryControl>,
}

impl CancelOnDrop {
    pub fn disarm(mut self) {
        self.control = None;
    }
}

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        if let Some(control) = &self.control {
            control.cancel();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadline_and_cancellation_stop_a_query() {
        assert!(QueryControl::unlimited().check().is_ok());
        let expired = QueryControl::new(Some(Duration::ZERO));
        let err = expired.check().unwrap_err().to_string();
        assert!(err.contains("query_timeout"), "{err}");

        let control = QueryControl::new(Some(Duration::from_secs(60)));
        assert!(!control.stopped());
        drop(control.cancel_on_drop());
        assert!(matches!(control.check(), Err(QueryError::Cancelled)));

        let control = QueryControl::new(None);
        control.cancel_on_drop().disarm();
        assert!(control.check().is_ok());
    }
}
