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

use crate::{AgentOptions, FileSource};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    positions: PathBuf,
    sources: Vec<SourceConfig>,
    output: OutputConfig,
    /// `beginning` (default) or `end`: where files found at the first start begin.
    #[serde(default)]
    start_at: Option<String>,
    /// How often files are scanned (`250ms`, `1s`).
    #[serde(default)]
    poll: Option<String>,
    /// Most line bytes per push.
    #[serde(default)]
    batch_bytes: Option<usize>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, tag = "type", rename_all = "snake_case")]
enum SourceConfig {
    File {
        paths: Vec<String>,
        #[serde(default)]
        labels: BTreeMap<String, String>,
        /// LogQL pipeline stages run on each line: `| json | level!="debug"`.
        #[serde(default)]
        pipeline: Option<String>,
        /// Extracted labels that become stream labels.
        #[serde(default)]
        promote: Vec<String>,
        /// Extracted labels sent as structured metadata.
        #[serde(default)]
        metadata: Vec<String>,
    },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, tag = "type", rename_all = "snake_case")]
enum OutputConfig {
    Loki {
        url: String,
        #[serde(default)]
        tenant: Option<String>,
        #[serde(default)]
        dead_letter: Option<PathBuf>,
    },
}

/// Replaces `${VAR}` and `${VAR:default}` with the environment's values.
pub fn expand_env(text: &str, lookup: impl Fn(&str) -> Option<String>) -> anyhow::Result<String> {
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
        let SourceConfig::File {
            paths,
            labels,
            pipeline,
            promote,
            metadata,
        } = source;
        if paths.is_empty() {
            anyhow::bail!("sources[{index}].paths: at least one glob is needed");
        }
        let labels = Labels::from_pairs(labels);
        // Checked as the streams will be: with the `filename` every file adds.
        let mut with_filename = labels.pairs().to_vec();
        with_filename.push(("filename".to_string(), "/x".to_string()));
        Labels::from_pairs(with_filename)
            .validate(&strata_model::LabelLimits::default())
            .map_err(|err| anyhow::anyhow!("sources[{index}].labels: {err}"))?;
        let kept: Vec<String> = promote.iter().chain(&metadata).cloned().collect();
        let pipeline = match pipeline {
            None => None,
            Some(text) => Some(std::sync::Arc::new(
                compile_pipeline(&text, kept)
                    .map_err(|err| anyhow::anyhow!("sources[{index}].pipeline: {err}"))?,
            )),
        };
        for name in promote.iter().chain(&metadata) {
            if !strata_model::is_valid_label_name(name) {
                anyhow::bail!("sources[{index}]: {name:?} is not a valid label name");
            }
        }
        sources.push(FileSource {
            paths,
            labels,
            pipeline,
            promote,
            metadata,
        });
    }
    let OutputConfig::Loki {
        url,
        tenant,
        dead_letter,
    } = file.output;
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        anyhow::bail!("output.url: {url:?} is not an http:// or https:// URL");
    }
    let mut options = AgentOptions::new(Vec::new(), url, Labels::default(), file.positions);
    options.sources = sources;
    options.tenant = tenant;
    options.dead_letter = dead_letter;
    options.start_at_end = match file.start_at.as_deref() {
        None | Some("beginning") => false,
        Some("end") => true,
        Some(other) => anyhow::bail!("start_at: {other:?} is not beginning or end"),
    };
    if let Some(poll) = file.poll {
        options.poll = parse_duration(&poll).map_err(|err| anyhow::anyhow!("poll: {err}"))?;
    }
    if let Some(bytes) = file.batch_bytes {
        // Well under the server's default request limit (64 MiB).
        options.batch_bytes = bytes.clamp(1024, 16 << 20);
    }
    Ok(options)
}

/// Compiles LogQL pipeline stages (`| json | level="error"`) with the
/// server's own parser and pipeline.
/// The parsers extract only the labels the later stages, `promote` and
/// `metadata` read, when that is known (no template reads the rest).
fn compile_pipeline(text: &str, kept: Vec<String>) -> anyhow::Result<strata_query::Pipeline> {
    let text = text.trim();
    if !text.starts_with('|') {
        anyhow::bail!("{text:?} does not start with a stage such as `| json`");
    }
    let expr = strata_logql::parse_log_expr(&format!("{{source=\"agent\"}} {text}"))
        .map_err(|err| anyhow::anyhow!("{err}"))?;
    let wanted = strata_query::metric::labels_read_by(&expr.stages, kept);
    strata_query::Pipeline::with_wanted_labels(&expr.stages, wanted)
        .map_err(|err| anyhow::anyhow!("{err}"))
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
        assert_eq!(options.tenant.as_deref(), Some("t1"));
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
        assert!(url.contains("output.url"), "{url}");
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
        let source = &options.sources[0];
        let pipeline = source.pipeline.as_ref().unwrap();
        let labels = Labels::parse(r#"{job="x"}"#).unwrap();
        let kept = pipeline
            .process(1, r#"{"level":"info","trace_id":"t1"}"#, &labels, &[])
            .unwrap();
        assert_eq!(kept.labels.get("trace_id"), Some("t1"));
        assert!(
            pipeline
                .process(1, r#"{"level":"debug"}"#, &labels, &[])
                .is_none()
        );
        for bad in ["| jsn", "json", r#"| line_format "{{.x""#] {
            let err = parse(&text(bad), env).unwrap_err().to_string();
            assert!(err.contains("sources[0].pipeline"), "{bad}: {err}");
        }
    }
}
