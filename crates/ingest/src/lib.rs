//! Decoders for pushed logs.
//!
//! [`decode_loki_push`] turns the body of a `POST /loki/api/v1/push` request
//! (JSON or snappy-compressed protobuf, optionally gzip-encoded) into validated
//! [`strata_model::PushStream`]s. Limits ([`IngestLimits`]) bound every size an
//! outside client controls; errors name the stream, the entry and the reason.
//!
//! Partly bad requests are handled as Loki's distributor does: a stream with
//! invalid labels is dropped whole, an invalid entry is dropped alone, the
//! valid rest is kept and stored, and the caller answers 400 with the first
//! error and the count of the others ([`DecodedPush::rejected`]).

mod limits;
mod loki_json;
mod loki_proto;
mod push;

pub use limits::IngestLimits;
pub use loki_proto::{
    EntryAdapter, LabelPairAdapter, PushRequest, StreamAdapter, Timestamp, encode_push,
};
pub use push::{DecodedPush, PushError, PushFormat, decode_body, decode_loki_push};
