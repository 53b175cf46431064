//! LogQL runtime: per-line pipeline stages and query evaluation
