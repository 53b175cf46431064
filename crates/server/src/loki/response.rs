//! Loki's JSON response shapes.

use serde_json::{Map, Value, json};
use strata_model::Labels;
use strata_query::engine::{LogQueryResult, QueryStats};

pub(crate) fn now_ns() -> i64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(now.as_nanos()).unwrap_or(i64::MAX)
}

pub(crate) fn labels_object(labels: &Labels) -> Value {
    let mut object = Map::new();
    for (name, value) in labels.iter() {
        object.insert(name.to_string(), Value::String(value.to_string()));
    }
    Value::Object(object)
}

fn pairs_object(pairs: &[(String, String)]) -> Value {
    Value::Object(
        pairs
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect(),
    )
}

/// `{"status":"success","data":{"resultType":"streams","result":[...],"stats":{...}}}`.
///
/// Plain: one result stream per full label set. With `categorize`, Loki's
/// `categorize-labels` encoding: results grouped by the stored stream's
/// labels, each value carrying `{"structuredMetadata":{..},"parsed":{..}}`.
/// With `categorize`, entries of one stored stream come from several result
/// streams, so they are merged back into the query's time order (`backward`:
/// newest first).
pub(crate) fn log_query_response(
    result: &LogQueryResult,
    categorize: bool,
    backward: bool,
) -> Value {
    let mut entries_returned = 0usize;
    let mut streams: Vec<Value> = Vec::new();
    if categorize {
        let mut grouped: std::collections::BTreeMap<&Labels, Vec<(i64, Value)>> =
            std::collections::BTreeMap::new();
        for stream in &result.streams {
            let values = grouped.entry(&stream.stream_labels).or_default();
            for entry in &stream.entries {
                entries_returned += 1;
                let mut categories = Map::new();
                if !entry.structured_metadata.is_empty() {
                    categories.insert(
                        "structuredMetadata".to_string(),
                        pairs_object(&entry.structured_metadata),
                    );
                }
                if !entry.parsed.is_empty() {
                    categories.insert("parsed".to_string(), pairs_object(&entry.parsed));
                }
                let value = if categories.is_empty() {
                    json!([entry.ts_ns.to_string(), entry.line])
                } else {
                    json!([entry.ts_ns.to_string(), entry.line, categories])
                };
                values.push((entry.ts_ns, value));
            }
        }
        for (labels, mut values) in grouped {
            if backward {
                values.sort_by_key(|value| std::cmp::Reverse(value.0));
            } else {
                values.sort_by_key(|value| value.0);
            }
            let values: Vec<Value> = values.into_iter().map(|(_, value)| value).collect();
            streams.push(json!({ "stream": labels_object(labels), "values": values }));
        }
    } else {
        for stream in &result.streams {
            let values: Vec<Value> = stream
                .entries
                .iter()
                .map(|entry| json!([entry.ts_ns.to_string(), entry.line]))
                .collect();
            entries_returned += values.len();
            streams.push(json!({ "stream": labels_object(&stream.labels), "values": values }));
        }
    }
    let mut data = json!({
        "resultType": "streams",
        "result": streams,
        "stats": stats_object(&result.stats, entries_returned),
    });
    if categorize {
        data["encodingFlags"] = json!(["categorize-labels"]);
    }
    json!({ "status": "success", "data": data })
}

/// Loki's `stats` object, with the summary filled from what the query did.
pub(crate) fn stats_object(stats: &QueryStats, entries_returned: usize) -> Value {
    let seconds = stats.exec_time_secs.max(1e-9);
    json!({
        "summary": {
            "bytesProcessedPerSecond": (stats.bytes_scanned as f64 / seconds) as u64,
            "linesProcessedPerSecond": (stats.lines_scanned as f64 / seconds) as u64,
            "totalBytesProcessed": stats.bytes_scanned,
            "totalLinesProcessed": stats.lines_scanned,
            "totalEntriesReturned": entries_returned,
            "totalPostFilterLines": stats.lines_matched,
            "totalStructuredMetadataBytesProcessed": 0,
            "execTime": stats.exec_time_secs,
            "queueTime": 0,
            "subqueries": 0,
            "splits": 0,
            "shards": 0,
        },
        "querier": {
            "store": {
                "totalChunksRef": stats.blocks_total,
                "totalChunksDownloaded": stats.blocks_scanned,
                "chunksDownloadTime": 0,
                "chunk": {
                    "decompressedBytes": stats.bytes_decompressed,
                    "decompressedLines": stats.lines_scanned,
                    "totalDuplicates": 0,
                },
            },
        },
        "ingester": {
            "totalReached": 0,
            "totalChunksMatched": 0,
            "totalBatches": 0,
            "totalLinesSent": 0,
        },
        "cache": {},
    })
}
