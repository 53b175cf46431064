//! `strata agent`: follows files and ships their lines to a server (see
//! crates/agent). The simple form needs no config file:
//! `strata agent --path '/var/log/app/*.log' --push-url http://127.0.0.1:3100
//!  --labels '{job="app"}' --positions /var/lib/strata/positions.json`.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Context;

#[derive(clap::Args)]
pub struct AgentArgs {
    /// YAML configuration (docs/agent.md); the other options are then not used.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Check the configuration, say what it runs or what is wrong, and exit.
    #[arg(long, requires = "config")]
    check_config: bool,
    /// Files to follow: a glob (`*` and `?` within path components); repeatable.
    #[arg(long = "path", required_unless_present = "config")]
    paths: Vec<String>,
    /// The strata or Loki server (base URL or push URL).
    #[arg(long, default_value = "http://127.0.0.1:3100")]
    push_url: String,
    /// Labels of every stream (each file adds `filename`).
    #[arg(long, default_value = "{job=\"strata-agent\"}")]
    labels: String,
    /// Where read positions are kept across restarts.
    #[arg(long, default_value = "./strata-agent-positions.json")]
    positions: PathBuf,
    /// Tenant (X-Scope-OrgID).
    #[arg(long)]
    org_id: Option<String>,
    /// Files found at the first start begin at their end instead of their start.
    #[arg(long)]
    from_end: bool,
    /// Where batches the server refuses (4xx other than 429) are written, with the reason.
    #[arg(long)]
    dead_letter: Option<PathBuf>,
    /// How often files are scanned for new data (`250ms`, `1s`).
    #[arg(long, default_value = "250ms")]
    poll: String,
    /// Serve /metrics and /health here (e.g. 127.0.0.1:9080); off by default.
    #[arg(long)]
    metrics_listen: Option<String>,
    /// The agent's own logs on stderr: `text` or `json` (one object per line).
    #[arg(long, default_value = "text")]
    log_format: String,
}

static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn request_stop(_signal: libc::c_int) {
    STOP.store(true, Ordering::Relaxed);
}

pub fn run(args: AgentArgs) -> anyhow::Result<()> {
    let filter = tracing_subscriber::EnvFilter::new(
        std::env::var("RUST_LOG").unwrap_or_else(|_| "info".to_string()),
    );
    match args.log_format.as_str() {
        "json" => tracing_subscriber::fmt()
            .json()
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .init(),
        "text" => tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .init(),
        other => anyhow::bail!("--log-format: {other:?} is not text or json"),
    }
    let options = match &args.config {
        Some(path) => strata_agent::config::load(path)?,
        None => {
            let labels = strata_model::Labels::parse(&args.labels)
                .map_err(|err| anyhow::anyhow!("invalid --labels {:?}: {err}", args.labels))?;
            let poll = strata_server::parse_duration(&args.poll)
                .map_err(|err| anyhow::anyhow!("invalid --poll: {err}"))?;
            let mut options =
                strata_agent::AgentOptions::new(args.paths, args.push_url, labels, args.positions);
            if let Some(strata_agent::output::OutputConfig::Loki(loki)) =
                options.outputs.first_mut()
            {
                loki.tenant = args.org_id;
                loki.dead_letter = args.dead_letter;
            }
            options.start_at_end = args.from_end;
            options.poll = Duration::from_nanos(poll.max(1_000_000) as u64);
            strata_agent::check(&options)?;
            options
        }
    };
    if args.check_config {
        println!(
            "config ok: {} source(s), {} output(s), positions in {}",
            options.sources.len(),
            options.outputs.len(),
            options.positions.display()
        );
        for (index, source) in options.sources.iter().enumerate() {
            println!(
                "  sources[{index}]: {} with labels {}, {} stage(s)",
                source.paths.join(", "),
                source.labels,
                source.stages.len()
            );
        }
        for (index, output) in options.outputs.iter().enumerate() {
            println!("  outputs[{index}]: {}", output.name());
        }
        return Ok(());
    }
    #[allow(unsafe_code)]
    // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
    unsafe {
        libc::signal(
            libc::SIGTERM,
            request_stop as *const () as libc::sighandler_t,
        );
        libc::signal(
            libc::SIGINT,
            request_stop as *const () as libc::sighandler_t,
        );
    }
    let stats = std::sync::Arc::new(strata_agent::AgentStats::default());
    if let Some(address) = &args.metrics_listen {
        let bound = strata_agent::monitor::serve(address, stats.clone())?;
        tracing::info!(%bound, "serving /metrics and /health");
    }
    strata_agent::run(&options, &STOP, &stats).context("agent failed")?;
    tracing::info!(
        lines = stats.lines_sent.load(Ordering::Relaxed),
        "stopped; positions saved"
    );
    Ok(())
}
