//! `strata-corpus`: generate the benchmark corpus, or push it to a server.

use anyhow::Context;
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use strata_corpus::{generate, push, units};

#[derive(Parser)]
#[command(
    name = "strata-corpus",
    version,
    about = "Deterministic benchmark corpus generator and Loki push client"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Write corpus.tsv, corpus.jsonl, streams/<id>.log and manifest.json.
    Generate {
        /// Output directory (created if missing; files in it are replaced).
        #[arg(long)]
        out: PathBuf,
        /// Raw text size: 20MB, 2GB, 1.5GB (decimal units; KiB/MiB/GiB binary).
        #[arg(long, value_parser = units::parse_size)]
        size: u64,
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// First timestamp, RFC 3339.
        #[arg(long, default_value = "2026-11-20T00:00:00Z", value_parser = units::parse_instant)]
        start: i64,
        /// Time the corpus spans: 24h, 90m, 1h30m, 7d.
        #[arg(long, default_value = "24h", value_parser = units::parse_span)]
        span: i64,
        /// Directory of the Loghub *_2k.log samples [default: crates/corpus/loghub, or $STRATA_LOGHUB].
        #[arg(long)]
        loghub: Option<PathBuf>,
    },
    /// Push DIR/corpus.tsv to a Loki-compatible server (protobuf + snappy).
    Push {
        /// Server base URL.
        #[arg(long, default_value = "http://127.0.0.1:3100")]
        url: String,
        /// Concurrent client threads.
        #[arg(long, default_value_t = 8)]
        clients: usize,
        /// Entries per request.
        #[arg(long, default_value_t = 2000)]
        batch: usize,
        /// Tenant, sent as X-Scope-OrgID.
        #[arg(long)]
        tenant: Option<String>,
        /// Send each line's trace id (JSON `"trace_id":"…"` or `trace_id=…`)
        /// as structured metadata `trace_id`, as a collector pipeline would.
        #[arg(long)]
        trace_metadata: bool,
        /// The corpus directory.
        dir: PathBuf,
    },
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Generate {
            out,
            size,
            seed,
            start,
            span,
            loghub,
        } => {
            let options = generate::GenerateOptions {
                out,
                size,
                seed,
                start_ns: start,
                span_ns: span,
                loghub_dir: loghub.unwrap_or_else(strata_corpus::default_loghub_dir),
            };
            let started = std::time::Instant::now();
            let manifest = generate::generate(&options)?;
            let seconds = started.elapsed().as_secs_f64();
            let summary = serde_json::json!({
                "out": options.out,
                "entries": manifest.entries,
                "bytes": manifest.bytes,
                "streams": manifest.streams.len(),
                "seconds": (seconds * 100.0).round() / 100.0,
            });
            println!("{summary}");
        }
        Command::Push {
            url,
            clients,
            batch,
            tenant,
            trace_metadata,
            dir,
        } => {
            let options = push::PushOptions {
                url,
                clients,
                batch,
                tenant,
                dir,
                trace_metadata,
            };
            let summary = push::push(&options)?;
            println!(
                "{}",
                serde_json::to_string(&summary).context("cannot encode the summary")?
            );
        }
    }
    Ok(())
}
