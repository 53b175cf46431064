//! strata's data model, shared by every other crate.
//!
//! A *tenant* (the `X-Scope-OrgID` header, [`DEFAULT_TENANT`] when absent) owns
//! *streams*; a stream is identified by its [`Labels`] (a sorted, validated label
//! set) and holds [`Entry`] values: a nanosecond timestamp, a line and structured
//! metadata (key/value pairs that stay off the label set). Queries choose streams
//! with [`LabelMatcher`]s.
//!
//! ```
//! use strata_model::{Labels, LabelMatcher, MatchOp};
//! let labels = Labels::parse(r#"{job="trainer", pod="p-1"}"#).unwrap();
//! let matcher = LabelMatcher::new("job", MatchOp::Re, "train.*").unwrap();
//! assert!(matcher.matches(labels.get("job")));
//! assert_eq!(labels.to_string(), r#"{job="trainer", pod="p-1"}"#);
//! ```

mod entry;
mod labels;
mod matcher;
mod tenant;
pub mod tokens;

pub use entry::{Entry, PushStream};
pub use labels::{LabelLimits, Labels, LabelsError, is_valid_label_name, stream_id};
pub use matcher::{LabelMatcher, MatchOp, MatcherError, regex_error_reason};
pub use tenant::{DEFAULT_TENANT, TenantError, validate_tenant};
