//! Decoders for pushed logs (Loki push JSON and protobuf)
