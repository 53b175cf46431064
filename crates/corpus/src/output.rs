//! The three views of the corpus written side by side: corpus.tsv,
//! corpus.jsonl and one plain-text file per stream.

use crate::stream::Stream;
use crate::text::{push_i64, push_json_escaped, push_json_string, push_tsv_escaped, push_u64};
use anyhow::Context;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

const BIG_BUFFER: usize = 1 << 20;
const STREAM_BUFFER: usize = 64 << 10;

pub struct Outputs {
    tsv: BufWriter<File>,
    jsonl: BufWriter<File>,
    /// One writer per stream id.
    streams: Vec<BufWriter<File>>,
    /// Per stream: `\t<id>\t<cluster>\t...\t<level>\t`, the TSV columns after the timestamp.
    tsv_columns: Vec<Vec<u8>>,
    /// Per stream: `,"stream":<id>,"labels":{...},"line":"`.
    json_columns: Vec<Vec<u8>>,
    /// The record being assembled (reused).
    record: Vec<u8>,
    dir: PathBuf,
}

impl Outputs {
    /// Creates `dir`, `dir/streams` and the files (replacing old ones).
    pub fn create(dir: &Path, streams: &[Stream]) -> anyhow::Result<Outputs> {
        let streams_dir = dir.join("streams");
        std::fs::create_dir_all(&streams_dir)
            .with_context(|| format!("cannot create {}", streams_dir.display()))?;
        remove_old_stream_files(&streams_dir)?;
        let open = |path: PathBuf, capacity: usize| -> anyhow::Result<BufWriter<File>> {
            let file =
                File::create(&path).with_context(|| format!("cannot create {}", path.display()))?;
            Ok(BufWriter::with_capacity(capacity, file))
        };
        let mut stream_writers = Vec::with_capacity(streams.len());
        let mut tsv_columns = Vec::with_capacity(streams.len());
        let mut json_columns = Vec::with_capacity(streams.len());
        for (id, stream) in streams.iter().enumerate() {
            stream_writers.push(open(streams_dir.join(format!("{id}.log")), STREAM_BUFFER)?);
            let mut tsv = b"\t".to_vec();
            push_u64(&mut tsv, id as u64);
            for value in stream.labels.values() {
                tsv.push(b'\t');
                push_tsv_escaped(&mut tsv, value.as_bytes());
            }
            tsv.push(b'\t');
            tsv_columns.push(tsv);
            let mut json = b",\"stream\":".to_vec();
            push_u64(&mut json, id as u64);
            json.extend_from_slice(b",\"labels\":{");
            for (index, (name, value)) in stream.labels.non_empty_pairs().iter().enumerate() {
                if index > 0 {
                    json.push(b',');
                }
                push_json_string(&mut json, name.as_bytes());
                json.push(b':');
                push_json_string(&mut json, value.as_bytes());
            }
            json.extend_from_slice(b"},\"line\":\"");
            json_columns.push(json);
        }
        Ok(Outputs {
            tsv: open(dir.join("corpus.tsv"), BIG_BUFFER)?,
            jsonl: open(dir.join("corpus.jsonl"), BIG_BUFFER)?,
            streams: stream_writers,
            tsv_columns,
            json_columns,
            record: Vec::with_capacity(64 << 10),
            dir: dir.to_path_buf(),
        })
    }

    pub fn write(&mut self, ts_ns: i64, stream: usize, line: &[u8]) -> anyhow::Result<()> {
        let record = &mut self.record;
        record.clear();
        push_i64(record, ts_ns);
        record.extend_from_slice(&self.tsv_columns[stream]);
        push_tsv_escaped(record, line);
        record.push(b'\n');
        self.tsv
            .write_all(record)
            .context("cannot write corpus.tsv")?;

        record.clear();
        record.extend_from_slice(b"{\"ts\":");
        push_i64(record, ts_ns);
        record.extend_from_slice(&self.json_columns[stream]);
        push_json_escaped(record, line);
        record.extend_from_slice(b"\"}\n");
        self.jsonl
            .write_all(record)
            .context("cannot write corpus.jsonl")?;

        let writer = &mut self.streams[stream];
        writer
            .write_all(line)
            .and_then(|()| writer.write_all(b"\n"))
            .with_context(|| format!("cannot write streams/{stream}.log"))
    }

    /// Flushes every file.
    pub fn finish(mut self) -> anyhow::Result<()> {
        self.tsv.flush().context("cannot write corpus.tsv")?;
        self.jsonl.flush().context("cannot write corpus.jsonl")?;
        for (id, writer) in self.streams.iter_mut().enumerate() {
            writer
                .flush()
                .with_context(|| format!("cannot write {}/streams/{id}.log", self.dir.display()))?;
        }
        Ok(())
    }
}

/// Removes `<number>.log` files a previous, larger corpus may have left.
fn remove_old_stream_files(dir: &Path) -> anyhow::Result<()> {
    let entries =
        std::fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))?;
    for entry in entries {
        let entry = entry.with_context(|| format!("cannot read {}", dir.display()))?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if let Some(stem) = name.strip_suffix(".log")
            && !stem.is_empty()
            && stem.bytes().all(|b| b.is_ascii_digit())
        {
            std::fs::remove_file(entry.path())
                .with_context(|| format!("cannot remove {}", entry.path().display()))?;
        }
    }
    Ok(())
}
