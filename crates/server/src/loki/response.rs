//! Loki's JSON response shapes.

use serde_json::{Map, Number, Value, json};
use strata_model::Labels;
use strata_query::engine::{LogQueryResult, QueryStats};
use strata_query::metric::{MetricData, MetricQueryResult};

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

pub(crate) fn pairs_object(pairs: &[(String, String)]) -> Value {
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
/// labels, each value carrying `{"structuredMetadata":{..},"parsed":{..}}`
/// (`{}` when it has neither; the keys sort `encodingFlags` before `result`,
/// which Grafana's parser needs).
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
                // Always three elements: Grafana's parser of this encoding
                // requires the object, empty or not.
                let value = json!([entry.ts_ns.to_string(), entry.line, categories]);
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

/// A sample time as Prometheus writes it: Unix seconds, a JSON number with
/// millisecond precision (`1700000000`, `1700000000.5`).
pub(crate) fn sample_time(ts_ns: i64) -> Value {
    let millis = ts_ns.div_euclid(1_000_000);
    if millis % 1000 == 0 {
        return Value::Number(Number::from(millis / 1000));
    }
    Number::from_f64(millis as f64 / 1000.0)
        .map(Value::Number)
        .unwrap_or(Value::Null)
}

/// A sample value as Prometheus writes it: the shortest decimal that reads
/// back exactly, never an exponent; `NaN`, `+Inf`, `-Inf`.
pub(crate) fn sample_value(value: f64) -> String {
    if value.is_nan() {
        "NaN".to_string()
    } else if value == f64::INFINITY {
        "+Inf".to_string()
    } else if value == f64::NEG_INFINITY {
        "-Inf".to_string()
    } else {
        value.to_string()
    }
}

fn sample(ts_ns: i64, value: f64) -> Value {
    json!([sample_time(ts_ns), sample_value(value)])
}

/// `{"status":"success","data":{"resultType":"matrix"|"vector"|"scalar","result":...,"stats":{...}}}`.
pub(crate) fn metric_response(result: &MetricQueryResult) -> Value {
    let (result_type, body, returned) = match &result.data {
        MetricData::Matrix(series) => {
            let body: Vec<Value> = series
                .iter()
                .map(|one| {
                    let values: Vec<Value> = one
                        .points
                        .iter()
                        .map(|(ts, value)| sample(*ts, *value))
                        .collect();
                    json!({ "metric": labels_object(&one.labels), "values": values })
                })
                .collect();
            let returned = body.len();
            ("matrix", Value::Array(body), returned)
        }
        MetricData::Vector { ts_ns, samples } => {
            let body: Vec<Value> = samples
                .iter()
                .map(|(labels, value)| {
                    json!({ "metric": labels_object(labels), "value": sample(*ts_ns, *value) })
                })
                .collect();
            let returned = body.len();
            ("vector", Value::Array(body), returned)
        }
        MetricData::Scalar { ts_ns, value } => ("scalar", sample(*ts_ns, *value), 1),
    };
    json!({
        "status": "success",
        "data": {
            "resultType": result_type,
            "result": body,
            "stats": stats_object(&result.stats, returned),
        },
    })
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sample_times_and_values_like_prometheus() {
        assert_eq!(
            sample_time(1_700_000_000_000_000_000).to_string(),
            "1700000000"
        );
        assert_eq!(
            sample_time(1_700_000_000_500_000_000).to_string(),
            "1700000000.5"
        );
        assert_eq!(
            sample_time(1_700_000_000_123_999_999).to_string(),
            "1700000000.123"
        );
        assert_eq!(sample_time(-1_500_000_000).to_string(), "-1.5");
        let case = |value: f64, text: &str| assert_eq!(sample_value(value), text);
        case(1.0, "1");
        case(0.5, "0.5");
        case(-0.0, "-0");
        case(0.1 + 0.2, "0.30000000000000004");
        case(1e21, "1000000000000000000000");
        case(1.5e-7, "0.00000015");
        case(f64::NAN, "NaN");
        case(f64::INFINITY, "+Inf");
        case(f64::NEG_INFINITY, "-Inf");
    }

    #[test]
    fn metric_shapes() {
        let labels = Labels::parse(r#"{app="a"}"#).unwrap();
        let stats = QueryStats::default();
        let vector = MetricQueryResult {
            data: MetricData::Vector {
                ts_ns: 2_000_000_000,
                samples: vec![(labels.clone(), 3.0)],
            },
            stats: stats.clone(),
        };
        let json = metric_response(&vector);
        assert_eq!(json["data"]["resultType"], "vector");
        assert_eq!(
            json["data"]["result"],
            json!([{ "metric": {"app": "a"}, "value": [2, "3"] }])
        );
        let scalar = MetricQueryResult {
            data: MetricData::Scalar {
                ts_ns: 2_500_000_000,
                value: f64::NAN,
            },
            stats: stats.clone(),
        };
        assert_eq!(
            metric_response(&scalar)["data"]["result"],
            json!([2.5, "NaN"])
        );
        let matrix = MetricQueryResult {
            data: MetricData::Matrix(vec![strata_query::metric::MatrixSeries {
                labels,
                points: vec![(1_000_000_000, 1.0), (2_000_000_000, 0.25)],
            }]),
            stats,
        };
        let json = metric_response(&matrix);
        assert_eq!(json["data"]["resultType"], "matrix");
        assert_eq!(
            json["data"]["result"],
            json!([{ "metric": {"app": "a"}, "values": [[1, "1"], [2, "0.25"]] }])
        );
        assert!(json["data"]["stats"]["summary"].is_object());
    }
}
