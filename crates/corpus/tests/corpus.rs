//! End-to-end checks of `generate`: determinism, and a manifest that matches
//! an independent re-count over the files written.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use strata_corpus::generate::{GenerateOptions, generate};
use strata_corpus::text::push_tsv_unescaped;
use strata_corpus::truth::Manifest;

const SIZE: u64 = 3_000_000;

fn options(dir: &Path, seed: u64, size: u64) -> GenerateOptions {
    GenerateOptions {
        out: dir.to_path_buf(),
        size,
        seed,
        start_ns: 1_795_132_800_000_000_000,
        span_ns: 86_400_000_000_000,
        loghub_dir: strata_corpus::default_loghub_dir(),
    }
}

/// Every file under `dir`, by relative path.
fn read_tree(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut files = BTreeMap::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(current) = pending.pop() {
        for entry in std::fs::read_dir(&current).expect("read dir") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                pending.push(path);
            } else {
                let name = path
                    .strip_prefix(dir)
                    .expect("prefix")
                    .display()
                    .to_string();
                files.insert(name, std::fs::read(&path).expect("read file"));
            }
        }
    }
    files
}

#[test]
fn same_seed_same_bytes_other_seed_other_bytes() {
    let first = tempfile::tempdir().expect("tempdir");
    let second = tempfile::tempdir().expect("tempdir");
    let other = tempfile::tempdir().expect("tempdir");
    // Smaller than SIZE: three corpora are generated here.
    let size = 1_000_000;
    generate(&options(first.path(), 42, size)).expect("generate");
    generate(&options(second.path(), 42, size)).expect("generate");
    generate(&options(other.path(), 43, size)).expect("generate");
    let first_files = read_tree(first.path());
    assert!(first_files.len() > 250, "{} files", first_files.len());
    assert!(
        first_files == read_tree(second.path()),
        "same seed, different bytes"
    );
    let other_files = read_tree(other.path());
    assert_ne!(first_files["corpus.tsv"], other_files["corpus.tsv"]);
    assert_ne!(first_files["manifest.json"], other_files["manifest.json"]);
}

/// One entry as read back from corpus.tsv.
struct Entry {
    ts_ns: i64,
    stream: usize,
    labels: Vec<String>,
    line: Vec<u8>,
}

fn read_tsv(path: &Path) -> Vec<Entry> {
    let text = std::fs::read(path).expect("corpus.tsv");
    let mut entries = Vec::new();
    for record in text.split(|b| *b == b'\n').filter(|r| !r.is_empty()) {
        let fields: Vec<&[u8]> = record.split(|b| *b == b'\t').collect();
        assert_eq!(fields.len(), 10, "{}", String::from_utf8_lossy(record));
        let number = |field: &[u8]| -> i64 {
            std::str::from_utf8(field)
                .expect("utf-8")
                .parse()
                .expect("number")
        };
        let mut line = Vec::new();
        push_tsv_unescaped(&mut line, fields[9]);
        entries.push(Entry {
            ts_ns: number(fields[0]),
            stream: number(fields[1]) as usize,
            labels: fields[2..9]
                .iter()
                .map(|f| String::from_utf8(f.to_vec()).expect("utf-8"))
                .collect(),
            line,
        });
    }
    entries
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    memchr::memmem::find(haystack, needle.as_bytes()).is_some()
}

#[test]
fn manifest_matches_a_recount_of_the_files() {
    let dir = tempfile::tempdir().expect("tempdir");
    let returned = generate(&options(dir.path(), 42, SIZE)).expect("generate");
    let manifest: Manifest =
        serde_json::from_slice(&std::fs::read(dir.path().join("manifest.json")).expect("read"))
            .expect("manifest parses");
    assert_eq!(returned, manifest);
    let keys: Vec<String> = serde_json::from_slice::<serde_json::Value>(
        &std::fs::read(dir.path().join("manifest.json")).expect("read"),
    )
    .expect("json")
    .as_object()
    .expect("object")
    .keys()
    .cloned()
    .collect();
    let mut expected_keys = vec![
        "seed",
        "size_target",
        "entries",
        "bytes",
        "start_ns",
        "end_ns",
        "streams",
        "needles",
        "level_counts",
        "json_filter",
        "top_streams",
        "regex",
    ];
    expected_keys.sort();
    assert_eq!(keys, expected_keys);

    let entries = read_tsv(&dir.path().join("corpus.tsv"));
    assert_eq!(entries.len() as u64, manifest.entries);
    let bytes: u64 = entries.iter().map(|e| e.line.len() as u64 + 1).sum();
    assert_eq!(bytes, manifest.bytes);
    assert!(manifest.bytes >= SIZE && manifest.bytes < SIZE + 10_000);
    assert!((150..=260).contains(&(manifest.bytes / manifest.entries)));
    assert!(entries.windows(2).all(|pair| pair[0].ts_ns < pair[1].ts_ns));
    assert!(entries[0].ts_ns >= manifest.start_ns);
    assert_eq!(entries.last().expect("entries").ts_ns + 1, manifest.end_ns);
    assert!((250..=400).contains(&manifest.streams.len()));

    // Per stream: counts, bytes, labels, and its plain-text file.
    let names = [
        "cluster",
        "namespace",
        "app",
        "pod",
        "container",
        "job_type",
        "level",
    ];
    let mut per_stream: HashMap<usize, (u64, u64, Vec<u8>)> = HashMap::new();
    let mut levels: BTreeMap<String, u64> = BTreeMap::new();
    for entry in &entries {
        let truth = &manifest.streams[entry.stream];
        for (name, value) in names.iter().zip(&entry.labels) {
            assert_eq!(
                truth.labels.get(*name).map_or("", String::as_str),
                value.as_str()
            );
        }
        let counts = per_stream.entry(entry.stream).or_default();
        counts.0 += 1;
        counts.1 += entry.line.len() as u64 + 1;
        counts.2.extend_from_slice(&entry.line);
        counts.2.push(b'\n');
        *levels.entry(entry.labels[6].clone()).or_default() += 1;
    }
    assert_eq!(levels, manifest.level_counts);
    for truth in &manifest.streams {
        let (count, size, text) = per_stream.remove(&truth.id).unwrap_or_default();
        assert_eq!(
            (count, size),
            (truth.entries, truth.bytes),
            "stream {}",
            truth.id
        );
        let file = std::fs::read(dir.path().join(format!("streams/{}.log", truth.id)))
            .expect("stream file");
        assert!(
            file == text,
            "streams/{}.log differs from the TSV",
            truth.id
        );
    }
    let mut order: Vec<(u64, usize)> = manifest.streams.iter().map(|s| (s.entries, s.id)).collect();
    order.sort_by_key(|&(count, id)| (std::cmp::Reverse(count), id));
    let top: Vec<usize> = order.iter().take(10).map(|&(_, id)| id).collect();
    assert_eq!(top, manifest.top_streams);

    // Needles and the other counted texts.
    let count = |text: &str| entries.iter().filter(|e| contains(&e.line, text)).count() as u64;
    let needles = &manifest.needles;
    assert_eq!(needles.rare_token.entries, 7);
    assert_eq!(count(&needles.rare_token.text), 7);
    assert_eq!(needles.substring.entries, 5);
    assert_eq!(count(&needles.substring.text), 5);
    assert_eq!(needles.trace_ids.len(), 3);
    for trace in &needles.trace_ids {
        assert_eq!(trace.text.len(), 32);
        assert!((2..=6).contains(&trace.entries), "{trace:?}");
        assert_eq!(count(&trace.text), trace.entries);
    }
    assert_eq!(count("ERROR"), needles.common_token.entries);
    assert!(needles.common_token.entries > 100);
    let regex = regex::bytes::Regex::new(&manifest.regex.text).expect("regex");
    let regex_count = entries.iter().filter(|e| regex.is_match(&e.line)).count() as u64;
    assert_eq!(regex_count, manifest.regex.entries);
    assert!(regex_count > 0);
    for entry in &entries {
        let text = String::from_utf8(entry.line.clone()).expect("utf-8");
        if text.contains(&needles.rare_token.text) {
            assert!(
                text.split(' ').any(|word| word == needles.rare_token.text),
                "{text}"
            );
            assert!(!text.starts_with('{'));
        }
        if text.contains(&needles.substring.text) {
            let mut tokens = text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'));
            assert!(
                tokens.all(|token| token != needles.substring.text),
                "{text}"
            );
        }
    }
    let rare_streams: std::collections::HashSet<usize> = entries
        .iter()
        .filter(|e| contains(&e.line, &needles.rare_token.text))
        .map(|e| e.stream)
        .collect();
    assert!(
        rare_streams.len() >= 5,
        "rare token in {} streams",
        rare_streams.len()
    );

    // The JSON filter, re-counted by parsing the JSON lines.
    let mut slow = 0;
    for entry in &entries {
        if entry.labels[2] == manifest.json_filter.app && entry.line.starts_with(b"{") {
            let value: serde_json::Value = serde_json::from_slice(&entry.line).expect("json line");
            if value[&manifest.json_filter.field]
                .as_f64()
                .expect("latency")
                > manifest.json_filter.threshold as f64
            {
                slow += 1;
            }
        }
    }
    assert_eq!(slow, manifest.json_filter.entries);
    assert!(slow > 0);

    // corpus.jsonl: the same entries in the same order.
    let jsonl = std::fs::read_to_string(dir.path().join("corpus.jsonl")).expect("corpus.jsonl");
    let mut multi_line = 0;
    let mut json_lines = 0;
    for (line, entry) in jsonl.lines().zip(&entries) {
        json_lines += 1;
        let value: serde_json::Value = serde_json::from_str(line).expect("jsonl line parses");
        assert_eq!(value["ts"].as_i64(), Some(entry.ts_ns));
        assert_eq!(value["stream"].as_u64(), Some(entry.stream as u64));
        let text = value["line"].as_str().expect("line");
        assert_eq!(text.as_bytes(), entry.line.as_slice());
        multi_line += usize::from(text.contains('\n'));
        let labels = value["labels"].as_object().expect("labels");
        let expected = &manifest.streams[entry.stream].labels;
        assert_eq!(labels.len(), expected.len());
        for (name, label) in labels {
            assert_eq!(label.as_str(), expected.get(name).map(String::as_str));
        }
    }
    assert_eq!(json_lines, entries.len());
    assert!(
        multi_line > 0,
        "no multi-line entry (traceback) in the corpus"
    );
}
