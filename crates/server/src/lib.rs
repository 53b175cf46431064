//! strata's HTTP API (Loki-compatible)
