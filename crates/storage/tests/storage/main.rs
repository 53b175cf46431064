//! Integration tests of strata-storage, one binary split by intent.

mod api;
mod common;
mod corruption;
mod crash;
mod golden;
mod model;
mod reopen;
