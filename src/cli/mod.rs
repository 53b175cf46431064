//! The client-side subcommands.

pub mod agent;
pub mod ingest;
pub mod query;
pub mod tail;

/// The server to talk to: `--server`, else $STRATA_ADDR, else the default.
pub fn server_url(flag: Option<String>) -> String {
    let url = flag
        .or_else(|| std::env::var("STRATA_ADDR").ok())
        .unwrap_or_else(|| "http://127.0.0.1:3100".to_string());
    url.trim_end_matches('/').to_string()
}
