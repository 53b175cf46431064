//! strata's storage engine: WAL, head, parts, blocks, bloom filters, stream index, merges
