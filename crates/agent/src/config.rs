//! `strata agent --config agent.yaml`: the YAML configuration. Unknown keys
//! are refused with their name and place; `${VAR}` and `${VAR:default}` are
//! replaced from the environment before parsing (a variable that is unset
//! and has no default is an error naming it; `$${` writes a literal `${`).
//!
//! ```yaml
//! positions: /var/lib/strata/positions.json
//! sources:
//!   - type: file
//!     paths: ["/var/log/app/*.log*"]
//!     labels: {job: app, cluster: "${CLUSTER:dev}"}
//! output:
//!   type: loki
//!   url: http://127.0.0.1:3100
//!   tenant: team-a
//!   dead_letter: /var/lib/strata/dead-letter.jsonl
//! start_at: beginning
//! poll: 250ms
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use strata_model::Labels;

use crate::output::OutputConfig;
use crate::reading::{Format, Multiline, MultilineConfig, Reading};
use crate::stages::StageConfig;
use crate::{AgentOptions, FileSource};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    positions: PathBuf,
    sources: Vec<SourceConfig>,
    /// One output (the short form of `outputs`).
    #[serde(default)]
    output: Option<OutputConfig>,
    /// Several outputs, each with a `name` sources and `route` stages use.
    #[serde(default)]
    outputs: Vec<OutputConfig>,
    /// `beginning` (default) or `end`: where files found at the first start begin.
    #[serde(default)]
    start_at: Option<String>,
    /// How often files are scanned (`250ms`, `1s`).
    #[serde(default)]
    poll: Option<String>,
    /// Most line bytes per push.
    #[serde(default)]
    batch_bytes: Option<usize>,
    /// How long a batch waits to fill (`1s`; default 0: sent at once).
    #[serde(default)]
    batch_wait: Option<String>,
}

/// What every kind of file source takes.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSourceConfig {
    /// Globs; a `kubernetes` source defaults to `/var/log/pods/*/*/*.log`.
    #[serde(default)]
    paths: Vec<String>,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    /// `raw` (default for files), `cri`, `docker` or `auto` (default for kubernetes).
    #[serde(default)]
    format: Option<String>,
    #[serde(default)]
    multiline: Option<MultilineConfig>,
    /// The stages each line goes through, in order.
    #[serde(default)]
    stages: Vec<StageConfig>,
    /// Short form: LogQL stages run first (`| json | level!="debug"`).
    #[serde(default)]
    pipeline: Option<String>,
    /// Short form: extracted fields that become stream labels (run last).
    #[serde(default)]
    promote: Vec<String>,
    /// Short form: extracted fields sent as structured metadata (run last).
    #[serde(default)]
    metadata: Vec<String>,
    /// The outputs (by name) its records go to; default every output.
    #[serde(default)]
    outputs: Option<Vec<String>>,
    /// kubernetes: pod labels from the Kubernetes API.
    #[serde(default)]
    api: Option<crate::kubernetes::ApiConfig>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, tag = "type", rename_all = "snake_case")]
enum SourceConfig {
    File(FileSourceConfig),
    /// Container logs under /var/log/pods (or /var/log/containers): CRI or
    /// Docker lines, with namespace, pod and container labels from the path.
    Kubernetes(FileSourceConfig),
    /// The agent's standard input.
    Stdin(StreamSourceConfig),
    /// The systemd journal, through `journalctl`.
    Journald(StreamSourceConfig),
}

/// What stdin and journald sources take.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StreamSourceConfig {
    #[serde(default)]
    labels: BTreeMap<String, String>,
    #[serde(default)]
    stages: Vec<StageConfig>,
    #[serde(default)]
    outputs: Option<Vec<String>>,
    /// journald: a journal directory (`journalctl --directory`).
    #[serde(default)]
    path: Option<PathBuf>,
    /// journald: on a first start, entries at most this old (default 7h).
    #[serde(default)]
    max_age: Option<String>,
    /// journald: journalctl matches (`_SYSTEMD_UNIT=kubelet.service`).
    #[serde(default)]
    matches: Vec<String>,
}

/// Replaces `${VAR}` and `${VAR:default}` with the environment's values,
/// except in comment lines (those starting with `#`).
pub fn expand_env(text: &str, lookup: impl Fn(&str) -> Option<String>) -> anyhow::Result<String> {
    let mut out = String::with_capacity(text.len());
    for line in text.split_inclusive('\n') {
        if line.trim_start().starts_with('#') {
            out.push_str(line);
        } else {
            out.push_str(&expand_line(line, &lookup)?);
        }
    }
    Ok(out)
}

fn expand_line(text: &str, lookup: &impl Fn(&str) -> Option<String>) -> anyhow::Result<String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("${") {
        if rest[..at].ends_with('$') {
            // `$${` is a literal `${`.
            out.push_str(&rest[..at - 1]);
            out.push_str("${");
            rest = &rest[at + 2..];
            continue;
        }
        out.push_str(&rest[..at]);
        let after = &rest[at + 2..];
        let end = after.find('}').ok_or_else(|| {
            anyhow::anyhow!(
                "unclosed ${{ in the config: {:?}",
                &rest[at..rest.len().min(at + 40)]
            )
        })?;
        let inside = &after[..end];
        let (name, default) = match inside.split_once(':') {
            Some((name, default)) => (name, Some(default)),
            None => (inside, None),
        };
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            anyhow::bail!("invalid variable name {name:?} in ${{{inside}}}");
        }
        match (lookup(name), default) {
            (Some(value), _) => out.push_str(&value),
            (None, Some(default)) => out.push_str(default),
            (None, None) => anyhow::bail!(
                "environment variable {name} is not set (and ${{{name}}} has no default; write ${{{name}:default}})"
            ),
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Reads, expands and checks a config file.
pub fn load(path: &Path) -> anyhow::Result<AgentOptions> {
    let text = std::fs::read_to_string(path)
        .map_err(|err| anyhow::anyhow!("cannot read {}: {err}", path.display()))?;
    parse(&text, |name| std::env::var(name).ok())
        .map_err(|err| anyhow::anyhow!("{}: {err}", path.display()))
}

/// Parses a config text (after `${...}` expansion with `lookup`).
pub fn parse(text: &str, lookup: impl Fn(&str) -> Option<String>) -> anyhow::Result<AgentOptions> {
    let expanded = expand_env(text, lookup)?;
    let file: ConfigFile =
        serde_saphyr::from_str(&expanded).map_err(|err| anyhow::anyhow!("{err}"))?;
    if file.sources.is_empty() {
        anyhow::bail!("sources: at least one source is needed");
    }
    let mut sources = Vec::new();
    for (index, source) in file.sources.into_iter().enumerate() {
        let source = match source {
            SourceConfig::File(config) => file_source(config, false),
            SourceConfig::Kubernetes(config) => file_source(config, true),
            SourceConfig::Stdin(config) => stream_source(config, false),
            SourceConfig::Journald(config) => stream_source(config, true),
        };
        sources.push(source.map_err(|err| anyhow::anyhow!("sources[{index}].{err}"))?);
    }
    let mut outputs = file.outputs;
    if let Some(output) = file.output {
        if !outputs.is_empty() {
            anyhow::bail!("give output (one) or outputs (several), not both");
        }
        outputs.push(output);
    }
    if outputs.is_empty() {
        anyhow::bail!("outputs: at least one output is needed (output: {{type: loki, url: ...}})");
    }
    let mut options =
        AgentOptions::new(Vec::new(), String::new(), Labels::default(), file.positions);
    options.sources = sources;
    options.outputs = outputs;
    options.start_at_end = match file.start_at.as_deref() {
        None | Some("beginning") => false,
        Some("end") => true,
        Some(other) => anyhow::bail!("start_at: {other:?} is not beginning or end"),
    };
    if let Some(poll) = file.poll {
        options.poll = parse_duration(&poll).map_err(|err| anyhow::anyhow!("poll: {err}"))?;
    }
    if let Some(wait) = file.batch_wait {
        options.batch_wait = if wait == "0" || wait == "0s" {
            std::time::Duration::ZERO
        } else {
            parse_duration(&wait).map_err(|err| anyhow::anyhow!("batch_wait: {err}"))?
        };
    }
    if let Some(bytes) = file.batch_bytes {
        // Well under the server's default request limit (64 MiB).
        options.batch_bytes = bytes.clamp(1024, 16 << 20);
    }
    crate::check(&options)?;
    Ok(options)
}

fn file_source(config: FileSourceConfig, kubernetes: bool) -> anyhow::Result<FileSource> {
    let mut paths = config.paths;
    if paths.is_empty() {
        if !kubernetes {
            anyhow::bail!("paths: at least one glob is needed");
        }
        paths.push("/var/log/pods/*/*/*.log".to_string());
    }
    let labels = Labels::from_pairs(config.labels);
    // Checked as the streams will be: with the `filename` every file adds.
    let mut with_filename = labels.pairs().to_vec();
    with_filename.push(("filename".to_string(), "/x".to_string()));
    Labels::from_pairs(with_filename)
        .validate(&strata_model::LabelLimits::default())
        .map_err(|err| anyhow::anyhow!("labels: {err}"))?;
    let format = match config.format.as_deref() {
        None if kubernetes => Format::Auto,
        None => Format::Raw,
        Some(text) => Format::parse(text).map_err(|err| anyhow::anyhow!("format: {err}"))?,
    };
    let multiline = match &config.multiline {
        None => None,
        Some(multiline) => {
            Some(Multiline::new(multiline).map_err(|err| anyhow::anyhow!("multiline.{err}"))?)
        }
    };
    // The short form: pipeline first, promote and metadata last.
    let mut stages = Vec::new();
    if let Some(pipeline) = config.pipeline {
        stages.push(StageConfig::Logql(pipeline));
    }
    stages.extend(config.stages);
    for name in config.promote.iter().chain(&config.metadata) {
        if !strata_model::is_valid_label_name(name) {
            anyhow::bail!("{name:?} is not a valid label name");
        }
    }
    if !config.promote.is_empty() {
        stages.push(StageConfig::Labels(
            config
                .promote
                .into_iter()
                .map(|name| (name, None))
                .collect(),
        ));
    }
    if !config.metadata.is_empty() {
        stages.push(StageConfig::StructuredMetadata(
            config
                .metadata
                .into_iter()
                .map(|name| (name, None))
                .collect(),
        ));
    }
    if let Some(api) = &config.api {
        if !kubernetes {
            anyhow::bail!("api: pod labels are for kubernetes sources");
        }
        if api.pod_labels.is_empty() {
            anyhow::bail!("api.pod_labels: name the pod labels to copy (app, job_type...)");
        }
    }
    Ok(FileSource {
        kind: crate::SourceKind::Files,
        paths,
        labels,
        stages,
        reading: Reading { format, multiline },
        kubernetes,
        outputs: config.outputs,
        api: config.api,
    })
}

fn stream_source(config: StreamSourceConfig, journal: bool) -> anyhow::Result<FileSource> {
    let labels = Labels::from_pairs(config.labels);
    if !labels.is_empty() {
        labels
            .validate(&strata_model::LabelLimits::default())
            .map_err(|err| anyhow::anyhow!("labels: {err}"))?;
    }
    let kind = if journal {
        let max_age = match &config.max_age {
            None => None,
            Some(text) => {
                Some(parse_duration(text).map_err(|err| anyhow::anyhow!("max_age: {err}"))?)
            }
        };
        crate::SourceKind::Journald(crate::streams::JournalOptions {
            directory: config.path,
            max_age,
            matches: config.matches,
            command: None,
        })
    } else {
        if config.path.is_some() || config.max_age.is_some() || !config.matches.is_empty() {
            anyhow::bail!("path, max_age and matches are options of journald sources");
        }
        crate::SourceKind::Stdin
    };
    Ok(FileSource {
        kind,
        paths: Vec::new(),
        labels,
        stages: config.stages,
        reading: Reading::default(),
        kubernetes: false,
        outputs: config.outputs,
        api: None,
    })
}

/// A positive duration such as `250ms`, `1s` or `2m`.
fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    match strata_logql::units::parse_duration(text) {
        Some(nanos) if nanos > 0 => Ok(std::time::Duration::from_nanos(nanos as u64)),
        _ => Err(format!("{text:?} is not a duration such as 250ms or 1s")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        (name == "CLUSTER").then(|| "gpu-east-1".to_string())
    }

    #[test]
    fn expands_variables_with_defaults() {
        assert_eq!(
            expand_env("a ${CLUSTER} b ${ZONE:z1} $${LITERAL}", env).unwrap(),
            "a gpu-east-1 b z1 ${LITERAL}"
        );
        let err = expand_env("x: ${MISSING}", env).unwrap_err().to_string();
        assert!(err.contains("MISSING is not set"), "{err}");
        assert!(expand_env("x: ${OPEN", env).is_err());
        assert!(expand_env("x: ${bad-name}", env).is_err());
        assert_eq!(
            expand_env("# uses ${MISSING}\nx: ${CLUSTER}\n", env).unwrap(),
            "# uses ${MISSING}\nx: gpu-east-1\n"
        );
    }

    #[test]
    fn parses_a_config_and_names_what_is_wrong() {
        let text = "positions: /tmp/p.json\nsources:\n  - type: file\n    paths: [\"/var/log/*.log\"]\n    labels: {job: app, cluster: \"${CLUSTER}\"}\n  - type: file\n    paths: [/var/log/gpu/*.log]\noutput:\n  type: loki\n  url: http://127.0.0.1:3100\n  tenant: t1\nstart_at: end\npoll: 100ms\n";
        let options = parse(text, env).unwrap();
        assert_eq!(options.sources.len(), 2);
        assert_eq!(
            options.sources[0].labels.to_string(),
            r#"{cluster="gpu-east-1", job="app"}"#
        );
        match &options.outputs[0] {
            OutputConfig::Loki(loki) => assert_eq!(loki.tenant.as_deref(), Some("t1")),
            other => panic!("{other:?}"),
        }
        assert!(options.start_at_end);
        assert_eq!(options.poll, std::time::Duration::from_millis(100));

        let wrong = |text: &str| parse(text, env).unwrap_err().to_string();
        let unknown = wrong(
            "positions: p\nsources: [{type: file, paths: [a], lables: {}}]\noutput: {type: loki, url: http://x}\n",
        );
        assert!(unknown.contains("lables"), "{unknown}");
        let kind = wrong(
            "positions: p\nsources: [{type: kafka, paths: [a]}]\noutput: {type: loki, url: http://x}\n",
        );
        assert!(kind.contains("kafka"), "{kind}");
        let label = wrong(
            "positions: p\nsources: [{type: file, paths: [a], labels: {\"1bad\": x}}]\noutput: {type: loki, url: http://x}\n",
        );
        assert!(label.contains("sources[0].labels"), "{label}");
        let url = wrong(
            "positions: p\nsources: [{type: file, paths: [a]}]\noutput: {type: loki, url: ftp://x}\n",
        );
        assert!(url.contains("outputs[0].url"), "{url}");
        let start = wrong(
            "positions: p\nsources: [{type: file, paths: [a]}]\noutput: {type: loki, url: http://x}\nstart_at: middle\n",
        );
        assert!(start.contains("start_at"), "{start}");
    }

    #[test]
    fn a_pipeline_is_compiled_with_the_servers_stages() {
        let text = |pipeline: &str| {
            format!(
                "positions: p\nsources: [{{type: file, paths: [a], pipeline: '{pipeline}', promote: [level], metadata: [trace_id]}}]\noutput: {{type: loki, url: http://x}}\n"
            )
        };
        let options = parse(&text(r#"| json | level!="debug""#), env).unwrap();
        let registry = std::sync::Arc::new(crate::stages::MetricRegistry::default());
        let names = vec!["loki".to_string()];
        let context = crate::stages::CompileContext {
            outputs: &names,
            metrics: &registry,
            stop: Default::default(),
        };
        let mut stages = crate::stages::compile(&options.sources[0].stages, &context).unwrap();
        stages.set_wanted(crate::stages::Reads::none());
        let labels = Labels::parse(r#"{job="x"}"#).unwrap();
        let mut record =
            crate::stages::Record::new(1, r#"{"level":"info","trace_id":"t1","x":"y"}"#.into());
        assert_eq!(
            stages.process(&mut record, &labels),
            crate::stages::Verdict::Keep
        );
        assert_eq!(record.labels, [("level".to_string(), "info".to_string())]);
        assert_eq!(
            record.metadata,
            [("trace_id".to_string(), "t1".to_string())]
        );
        // Only what later stages read was extracted.
        assert!(
            record.fields.iter().all(|(name, _)| name != "x"),
            "{record:?}"
        );
        let mut debug = crate::stages::Record::new(1, r#"{"level":"debug"}"#.into());
        assert!(matches!(
            stages.process(&mut debug, &labels),
            crate::stages::Verdict::Drop(_)
        ));
        for bad in ["| jsn", "json", r#"| line_format "{{.x""#] {
            let err = parse(&text(bad), env).unwrap_err().to_string();
            assert!(err.contains("sources[0].stages[0].logql"), "{bad}: {err}");
        }
    }
}
